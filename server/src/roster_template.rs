//! The roster's workbooks for people: the import template and an import's error report.
//!
//! The import template (学生名单导入模板) is an XLSX workbook: the first sheet has the
//! header row the importer reads (required columns marked `*` and bold), its text columns
//! formatted as text — so an ID number typed in stays text and keeps its last digits and its
//! `X` — frozen and sized for Chinese text; the second sheet lists every code table a column
//! takes (培养方式, 学历, 性别, 是/否 columns and the region codes of 生源所在地). Pure: built
//! from the column table and the code tables in force.

use gradflow_engine::form::CodeTables;
use rust_xlsxwriter::{Format, Workbook};

use crate::roster::{RowError, COLUMNS};

/// Columns typed as text in the template (digits that must not become numbers).
const TEXT_COLUMNS: [&str; 6] = [
    "candidate_no",
    "id_number",
    "school_code",
    "origin_region",
    "student_no",
    "mobile",
];

/// A column's width for `s`, with a margin ([`crate::export::display_width`]).
fn width(s: &str) -> f64 {
    crate::export::display_width(s) as f64 + 2.0
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

/// An import's error report (导入错误报告): one line per problem — the row as the user sees
/// it in their file, its candidate number, the column, the code and the message — frozen,
/// filtered and sized for Chinese text, so the school fixes the rows and uploads them again.
pub fn errors_xlsx(errors: &[RowError]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("导入错误")?;
    let head = ["行号", "考生号", "列", "错误代码", "问题"];
    let mut widths: Vec<f64> = head.iter().map(|h| width(h)).collect();
    for (col, h) in head.iter().enumerate() {
        ws.write_string_with_format(0, col as u16, *h, &bold)?;
    }
    for (i, e) in errors.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_number(row, 0, e.row as f64)?;
        let cells = [
            e.candidate_no.as_deref().unwrap_or(""),
            e.label.as_str(),
            e.code.as_str(),
            e.message.as_str(),
        ];
        for (j, v) in cells.iter().enumerate() {
            ws.write_string(row, j as u16 + 1, *v)?;
            widths[j + 1] = widths[j + 1].max(width(v));
        }
    }
    for (col, w) in widths.iter().enumerate() {
        ws.set_column_width(col as u16, w.min(80.0))?;
    }
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, errors.len() as u32, head.len() as u16 - 1)?;
    wb.save_to_buffer()
}

/// One column of a registration import template: its header, whether it is required, and the
/// codes it takes (a code field's table), if any.
pub struct ImportColumn {
    pub header: String,
    pub required: bool,
    pub codes: Vec<(String, String)>,
}

/// A flow's import template (档案/户口信息批量导入模板, seed 002 7): the first sheet's header row
/// is what the importer reads (required columns marked `*` and bold), every column formatted
/// as text (region codes, postal codes and phone numbers keep their leading zeros), frozen;
/// a note row says that reading stops at the first empty row; the second sheet lists the
/// codes of the code columns (the region codes are their own download, 下载地区代码表).
pub fn import_template_xlsx(
    sheet: &str,
    columns: &[ImportColumn],
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format_index(49);
    let data = wb.add_worksheet();
    data.set_name(sheet)?;
    for (col, c) in columns.iter().enumerate() {
        let col = col as u16;
        let header = if c.required {
            format!("{}*", c.header)
        } else {
            c.header.clone()
        };
        data.set_column_format(col, &text)?;
        data.set_column_width(col, width(&header).max(12.0))?;
        if c.required {
            data.write_string_with_format(0, col, &header, &bold)?;
        } else {
            data.write_string(0, col, &header)?;
        }
    }
    data.set_freeze_panes(1, 0)?;
    let notes = wb.add_worksheet();
    notes.set_name("代码表")?;
    for (col, h) in ["列", "代码", "名称"].iter().enumerate() {
        notes.write_string_with_format(0, col as u16, *h, &bold)?;
    }
    notes.set_column_width(0, 16.0)?;
    notes.set_column_width(1, 10.0)?;
    notes.set_column_width(2, 40.0)?;
    notes.set_column_format(1, &text)?;
    let mut row = 1u32;
    for c in columns {
        for (code, name) in &c.codes {
            notes.write_string(row, 0, &c.header)?;
            notes.write_string(row, 1, code)?;
            notes.write_string(row, 2, name)?;
            row += 1;
        }
    }
    row += 1;
    notes.write_string(
        row,
        0,
        "说明：数据表格中不能存在空行，否则空行下方的数据将无法读取；地区代码请下载地区代码表参考。",
    )?;
    wb.save_to_buffer()
}

/// The region code table (地区代码表) as XLSX: code and name of every region, codes as text.
pub fn regions_xlsx(
    regions: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format_index(49);
    let ws = wb.add_worksheet();
    ws.set_name("地区代码表")?;
    ws.write_string_with_format(0, 0, "地区代码", &bold)?;
    ws.write_string_with_format(0, 1, "地区名称", &bold)?;
    ws.set_column_format(0, &text)?;
    ws.set_column_width(0, 12.0)?;
    ws.set_column_width(1, 40.0)?;
    for (i, (code, name)) in regions.iter().enumerate() {
        ws.write_string(i as u32 + 1, 0, code)?;
        ws.write_string(i as u32 + 1, 1, name)?;
    }
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, regions.len() as u32, 1)?;
    wb.save_to_buffer()
}
