//! The roster import template (学生名单导入模板) as an XLSX workbook: the first sheet has the
//! header row the importer reads (required columns marked `*` and bold), its text columns
//! formatted as text — so an ID number typed in stays text and keeps its last digits and its
//! `X` — frozen and sized for Chinese text; the second sheet lists every code table a column
//! takes (培养方式, 学历, 性别, 是/否 columns and the region codes of 生源所在地). Pure: built
//! from the column table and the code tables in force.

use gradflow_engine::form::CodeTables;
use rust_xlsxwriter::{Format, Workbook};

use crate::roster::COLUMNS;

/// Columns typed as text in the template (digits that must not become numbers).
const TEXT_COLUMNS: [&str; 6] = [
    "candidate_no",
    "id_number",
    "school_code",
    "origin_region",
    "student_no",
    "mobile",
];

/// How wide a text shows in Excel's units (a full-width character takes two).
fn width(s: &str) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 1.0 } else { 2.0 })
        .sum::<f64>()
        + 2.0
}

/// The template workbook's bytes.
pub fn template_xlsx(codes: &CodeTables) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    // Excel's built-in text format (49, "@").
    let text = Format::new().set_num_format_index(49);
    let roster = wb.add_worksheet();
    roster.set_name("学生名单")?;
    for (col, c) in COLUMNS.iter().enumerate() {
        let col = col as u16;
        let header = if c.required {
            format!("{}*", c.header)
        } else {
            c.header.to_string()
        };
        let w = width(&header).max(if c.key == "id_number" { 21.0 } else { 10.0 });
        if TEXT_COLUMNS.contains(&c.key) {
            roster.set_column_format(col, &text)?;
        }
        roster.set_column_width(col, w)?;
        if c.required {
            roster.write_string_with_format(0, col, &header, &bold)?;
        } else {
            roster.write_string(0, col, &header)?;
        }
    }
    roster.set_freeze_panes(1, 0)?;

    let tables = wb.add_worksheet();
    tables.set_name("代码表")?;
    for (col, h) in ["列", "代码", "名称"].iter().enumerate() {
        tables.write_string_with_format(0, col as u16, *h, &bold)?;
    }
    tables.set_column_width(0, 14.0)?;
    tables.set_column_width(1, 10.0)?;
    tables.set_column_width(2, 40.0)?;
    tables.set_column_format(1, &text)?;
    tables.set_freeze_panes(1, 0)?;
    let mut row = 1u32;
    let mut put =
        |column: &str, code: &str, name: &str| -> Result<(), rust_xlsxwriter::XlsxError> {
            tables.write_string(row, 0, column)?;
            tables.write_string(row, 1, code)?;
            tables.write_string(row, 2, name)?;
            row += 1;
            Ok(())
        };
    for (table, column) in [("training_mode", "培养方式"), ("education_level", "学历")] {
        for (code, name) in codes.tables.get(table).into_iter().flatten() {
            put(column, code, name)?;
        }
    }
    put("性别", "1", "男")?;
    put("性别", "2", "女")?;
    for column in ["档案是否转入学校", "户口是否转入学校"] {
        put(column, "是", "是")?;
        put(column, "否", "否")?;
    }
    for (code, name) in codes.regions.iter().flatten() {
        put("生源所在地", code, name)?;
    }
    tables.autofilter(0, 0, row.saturating_sub(1), 2)?;
    wb.save_to_buffer()
}
