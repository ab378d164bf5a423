//! The graduate roster file format (学生名单) and the validation of one roster row, shared by
//! the JSON batch API and file uploads (CSV in UTF-8 or GBK, XLSX). Pure: no database.
//!
//! Columns (header row = the first non-blank row; Chinese header or English key):
//! 考生号 candidate_no*, 姓名 name*, 身份证号 id_number*, 院校代码 school_code, 学历
//! education_level*, 性别 gender, 民族 ethnicity, 政治面貌 political_status, 培养方式
//! training_mode*, 生源所在地 origin_region, 入学日期 enrolment_date, 毕业日期 graduation_date,
//! 届别 cohort, 学号 student_no, 院系 department*, 专业 major*, 学制 schooling_length,
//! 档案是否转入学校 archive_in_school, 户口是否转入学校 hukou_in_school, 电子邮箱 email,
//! 手机号码 mobile, 定向/委培单位 directed_employer (required for training modes 21/41).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use gradflow_engine::form::CodeLookup;
use gradflow_engine::ident::{
    forbidden_char, forbidden_char_message, CandidateNo, Email, IdNumber, Mobile,
};
use serde::Serialize;
use serde_json::Value;

/// One roster column.
pub struct Column {
    pub key: &'static str,
    pub header: &'static str,
    pub required: bool,
}

pub const COLUMNS: &[Column] = &[
    Column {
        key: "candidate_no",
        header: "考生号",
        required: true,
    },
    Column {
        key: "name",
        header: "姓名",
        required: true,
    },
    Column {
        key: "id_number",
        header: "身份证号",
        required: true,
    },
    Column {
        key: "school_code",
        header: "院校代码",
        required: false,
    },
    Column {
        key: "education_level",
        header: "学历",
        required: true,
    },
    Column {
        key: "gender",
        header: "性别",
        required: false,
    },
    Column {
        key: "ethnicity",
        header: "民族",
        required: false,
    },
    Column {
        key: "political_status",
        header: "政治面貌",
        required: false,
    },
    Column {
        key: "training_mode",
        header: "培养方式",
        required: true,
    },
    Column {
        key: "origin_region",
        header: "生源所在地",
        required: false,
    },
    Column {
        key: "enrolment_date",
        header: "入学日期",
        required: false,
    },
    Column {
        key: "graduation_date",
        header: "毕业日期",
        required: false,
    },
    Column {
        key: "cohort",
        header: "届别",
        required: false,
    },
    Column {
        key: "student_no",
        header: "学号",
        required: false,
    },
    Column {
        key: "department",
        header: "院系",
        required: true,
    },
    Column {
        key: "major",
        header: "专业",
        required: true,
    },
    Column {
        key: "schooling_length",
        header: "学制",
        required: false,
    },
    Column {
        key: "archive_in_school",
        header: "档案是否转入学校",
        required: false,
    },
    Column {
        key: "hukou_in_school",
        header: "户口是否转入学校",
        required: false,
    },
    Column {
        key: "email",
        header: "电子邮箱",
        required: false,
    },
    Column {
        key: "mobile",
        header: "手机号码",
        required: false,
    },
    Column {
        key: "directed_employer",
        header: "定向/委培单位",
        required: false,
    },
];

fn column(key: &str) -> &'static Column {
    COLUMNS.iter().find(|c| c.key == key).unwrap_or(&COLUMNS[0])
}

/// A row as read: its row number as the user sees it, and its cells by column key.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    pub row: usize,
    pub cells: BTreeMap<String, String>,
    /// Columns whose workbook cell held a number too large to be exact (an 18-digit ID number
    /// typed into a number cell has lost its last digits): refused as such, not as a bad value.
    pub inexact: std::collections::BTreeSet<String>,
}

/// A problem with one row (a rejected row's error, or a warning about an imported one).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, poem_openapi::Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RowError {
    /// The row's number (the file's data rows from 2, under the header; a batch's from 1).
    pub row: usize,
    /// The row's candidate number (考生号), when it has one.
    pub candidate_no: Option<String>,
    /// The column's key (`id_number`, `mobile`, `school_code`, …).
    pub field: String,
    /// The column as users see it (身份证号, 手机号码, 院校代码, …).
    pub label: String,
    /// A stable machine code (`required`, `id_number_checksum`, `duplicate`,
    /// `id_number_taken`, `other_school`, `out_of_scope`, `unknown_school`,
    /// `gender_mismatch`, …).
    pub code: String,
    /// What is wrong, in Chinese, starting with the row and the column (第2行 身份证号：…).
    pub message: String,
}

/// A valid roster row, normalised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RosterRow {
    pub row: usize,
    pub candidate_no: String,
    pub id_number: String,
    pub name: String,
    pub school_code: Option<String>,
    pub education_level: String,
    pub gender: Option<String>,
    pub ethnicity: Option<String>,
    pub political_status: Option<String>,
    pub training_mode: String,
    pub origin_region: Option<String>,
    pub enrolment_date: Option<String>,
    pub graduation_date: Option<String>,
    pub cohort: i32,
    pub student_no: Option<String>,
    pub department: String,
    pub major: String,
    pub schooling_length: Option<String>,
    pub archive_in_school: bool,
    pub hukou_in_school: bool,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub directed_employer: Option<String>,
}

/// A whole-file problem.
#[derive(Debug, Clone)]
pub struct FileError {
    pub code: &'static str,
    pub message: String,
}

/// What reading a file found besides its rows.
#[derive(Debug)]
pub struct FileSummary {
    pub format: &'static str,
    pub rows: usize,
    pub blank_rows: usize,
    pub ignored_columns: Vec<String>,
    /// The line of the blank row reading stopped at ([`Layout::stop_at_blank`]).
    pub stopped_at: Option<usize>,
}

fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_end_matches('*')
        .trim()
        .replace('（', "(")
        .replace('）', ")")
        .replace(' ', "")
}

/// The columns a table is read by, and how it ends.
pub struct Layout {
    /// Each column's header as users see it (without `*`), its key, whether it is required.
    pub columns: Vec<(String, String, bool)>,
    /// Reading stops at the first blank row after the header (the archive/hukou import: seed
    /// 002 7, rows under an empty one are not read); else blank rows are skipped and counted.
    pub stop_at_blank: bool,
}

impl Layout {
    /// The roster's columns ([`COLUMNS`]); blank rows are skipped.
    pub fn roster() -> Layout {
        Layout {
            columns: COLUMNS
                .iter()
                .map(|c| (c.header.to_string(), c.key.to_string(), c.required))
                .collect(),
            stop_at_blank: false,
        }
    }

    fn key_of(&self, h: &str) -> Option<usize> {
        let h = normalise_header(h);
        self.columns
            .iter()
            .position(|(header, key, _)| normalise_header(header) == h || *key == h)
    }
}

/// Turns the records of a table (line number, cells) into raw rows, handing each to `on_row`
/// as soon as it is read: the header is the first non-blank record.
struct Rows<'f> {
    layout: &'f Layout,
    /// Set at the first blank row when the layout stops there: nothing more is read.
    stopped: bool,
    max_rows: usize,
    /// Blank records read after the header.
    blank_records: usize,
    /// Per cell of a record, the layout column it holds (by index).
    keys: Option<Vec<Option<usize>>>,
    summary: FileSummary,
    on_row: &'f mut dyn FnMut(RawRow),
}

impl Rows<'_> {
    /// Counts `n` rows a sheet leaves out between two rows as blank rows (after the header;
    /// before it they are not rows of the table). They cost nothing to skip.
    fn skipped(&mut self, first_line: usize, n: usize) {
        if n > 0 && self.keys.is_some() && self.layout.stop_at_blank {
            self.stopped = true;
            self.summary.stopped_at = Some(first_line);
        }
        if self.keys.is_some() {
            self.summary.blank_rows = self.summary.blank_rows.saturating_add(n);
        }
    }

    fn record(
        &mut self,
        line: usize,
        cells: Vec<String>,
        inexact: &[bool],
    ) -> Result<(), FileError> {
        if self.stopped {
            return Ok(());
        }
        let blank = cells.iter().all(|c| c.trim().is_empty());
        let Some(keys) = &self.keys else {
            if blank {
                return Ok(());
            }
            let keys: Vec<Option<usize>> = cells.iter().map(|h| self.layout.key_of(h)).collect();
            self.summary.ignored_columns = cells
                .iter()
                .zip(&keys)
                .filter(|(h, k)| k.is_none() && !h.trim().is_empty())
                .map(|(h, _)| h.trim().to_string())
                .collect();
            let missing: Vec<&str> = (0..self.layout.columns.len())
                .filter(|i| self.layout.columns[*i].2 && !keys.contains(&Some(*i)))
                .map(|i| self.layout.columns[i].0.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(FileError {
                    code: "missing_columns",
                    message: format!("缺少必填列：{}", missing.join("、")),
                });
            }
            self.keys = Some(keys);
            return Ok(());
        };
        if blank && self.layout.stop_at_blank {
            self.stopped = true;
            self.summary.stopped_at = Some(line);
            return Ok(());
        }
        if blank {
            // Blank records written out in the file cost reading them: bounded like rows.
            self.blank_records += 1;
            if self.blank_records > self.max_rows {
                return Err(FileError {
                    code: "too_many_rows",
                    message: format!(
                        "文件中空行过多（超过 {} 行），请删除空行后再上传",
                        self.max_rows
                    ),
                });
            }
            self.skipped(line, 1);
            return Ok(());
        }
        if self.summary.rows == self.max_rows {
            return Err(FileError {
                code: "too_many_rows",
                message: format!("一个文件最多 {} 行数据，请分批上传", self.max_rows),
            });
        }
        self.summary.rows += 1;
        let mut raw = RawRow {
            row: line,
            ..RawRow::default()
        };
        for (i, key) in keys.iter().enumerate() {
            if let (Some(k), Some(true)) = (key, inexact.get(i)) {
                raw.inexact.insert(self.layout.columns[*k].1.clone());
            }
        }
        for (k, v) in keys.iter().zip(cells) {
            if let Some(k) = k {
                let v = v.trim();
                if !v.is_empty() {
                    raw.cells
                        .insert(self.layout.columns[*k].1.clone(), v.to_string());
                }
            }
        }
        (self.on_row)(raw);
        Ok(())
    }
}

/// Reads a CSV or XLSX file (detected by content), handing each data row to `on_row` as it is
/// read, so a large file is never held as rows all at once.
pub fn read_file(
    bytes: &[u8],
    max_rows: usize,
    on_row: &mut dyn FnMut(RawRow),
) -> Result<FileSummary, FileError> {
    read_table(bytes, &Layout::roster(), max_rows, on_row)
}

/// Reads a CSV or XLSX file (detected by content) by `layout`'s columns, handing each data row
/// to `on_row` as it is read.
pub fn read_table(
    bytes: &[u8],
    layout: &Layout,
    max_rows: usize,
    on_row: &mut dyn FnMut(RawRow),
) -> Result<FileSummary, FileError> {
    let format = if bytes.starts_with(b"PK\x03\x04") {
        "xlsx"
    } else {
        "csv"
    };
    let mut rows = Rows {
        layout,
        stopped: false,
        max_rows,
        blank_records: 0,
        keys: None,
        summary: FileSummary {
            format,
            rows: 0,
            blank_rows: 0,
            ignored_columns: Vec::new(),
            stopped_at: None,
        },
        on_row,
    };
    if format == "xlsx" {
        read_xlsx(bytes, &mut rows)?;
    } else {
        read_csv(bytes, &mut rows)?;
    }
    if rows.keys.is_none() {
        return Err(FileError {
            code: "empty_file",
            message: "文件中没有内容".into(),
        });
    }
    Ok(rows.summary)
}

fn unsupported() -> FileError {
    FileError {
        code: "unsupported_file",
        message: "文件格式无法识别：只接受 CSV（UTF-8 或 GBK 编码）或 XLSX 文件".into(),
    }
}

fn read_csv(bytes: &[u8], rows: &mut Rows<'_>) -> Result<(), FileError> {
    if bytes.contains(&0) {
        return Err(unsupported());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text: std::borrow::Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(t) => t.into(),
        Err(_) => {
            let (t, _, bad) = encoding_rs::GBK.decode(bytes);
            if bad {
                return Err(unsupported());
            }
            t
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Err(unsupported());
    }
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) if rows.stopped => return Ok(()),
            Ok(true) => {
                // The line the record starts on, as an editor or Excel shows it (the reader
                // skips empty lines, so counting records would drift).
                let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
                rows.record(line, record.iter().map(str::to_string).collect(), &[])?;
            }
            Err(e) => {
                return Err(FileError {
                    code: "invalid_csv",
                    message: format!("CSV 文件格式错误：{e}"),
                })
            }
        }
    }
}

/// The most entries an XLSX package may have (a workbook has a dozen).
const XLSX_MAX_ENTRIES: usize = 1000;
/// The most bytes an XLSX package may inflate to, all parts together (a 200,000-row roster
/// is about 150 MB of sheet XML).
const XLSX_MAX_INFLATED: u64 = 512 << 20;
/// The most bytes of the shared strings, which are held in memory while reading.
const XLSX_MAX_SHARED_STRINGS: u64 = 64 << 20;
/// Cells beyond this column are ignored (the roster has 22 columns).
pub const MAX_COLUMNS: usize = 64;

fn too_complex(what: String) -> FileError {
    FileError {
        code: "file_too_complex",
        message: format!("XLSX 文件结构异常（{what}），请在 Excel 中另存为新文件后再上传"),
    }
}

/// Checks an XLSX package by its zip directory before anything is inflated: the number of
/// parts and what they declare to inflate to (the zip reader never inflates past a part's
/// declared size, so the declaration bounds the work).
fn check_package(bytes: &[u8]) -> Result<(), FileError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| unsupported())?;
    if zip.len() > XLSX_MAX_ENTRIES {
        return Err(too_complex(format!("包含 {} 个部件", zip.len())));
    }
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let part = zip.by_index_raw(i).map_err(|_| unsupported())?;
        let size = part.size();
        let shared = part.name().is_ok_and(|n| n.ends_with("sharedStrings.xml"));
        if shared && size > XLSX_MAX_SHARED_STRINGS {
            return Err(too_complex(format!("共享字符串解压后 {} MB", size >> 20)));
        }
        total = total.saturating_add(size);
    }
    if total > XLSX_MAX_INFLATED {
        return Err(too_complex(format!("解压后 {} MB", total >> 20)));
    }
    Ok(())
}

/// Integers from 2^53 on are not all representable in a number cell (an f64).
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// The text of one cell as a user typed it, and whether it was a number too large to have
/// been kept exactly.
fn cell_text(d: &calamine::DataRef<'_>) -> (String, bool) {
    use calamine::DataRef as D;
    let text = match d {
        D::Empty | D::Error(_) => String::new(),
        D::String(s) | D::DateTimeIso(s) | D::DurationIso(s) => s.clone(),
        D::SharedString(s) => s.to_string(),
        D::Float(f) if f.fract() == 0.0 && f.abs() < 1e19 => {
            return (format!("{}", *f as i64), f.abs() >= EXACT_LIMIT)
        }
        D::Float(f) => return (f.to_string(), f.abs() >= EXACT_LIMIT),
        D::Int(i) => i.to_string(),
        D::Bool(b) => if *b { "是" } else { "否" }.to_string(),
        // calamine reads the serial by the workbook's date system (1900, or 1904 for
        // workbooks made on a Mac); absurd serials read as nothing.
        D::DateTime(dt) => dt
            .as_datetime()
            .map(|d| d.date().format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
    };
    (text, false)
}

/// Reads the first sheet cell by cell, in the order of the sheet's XML, handing each row to
/// `rows` when the next begins: nothing the size of the sheet's declared dimensions is ever
/// built, so a workbook naming cell XFD1048576 costs what its few cells cost.
fn read_xlsx(bytes: &[u8], rows: &mut Rows<'_>) -> Result<(), FileError> {
    use calamine::{Reader, Xlsx};
    check_package(bytes)?;
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).map_err(|_| unsupported())?;
    let first = book
        .sheet_names()
        .into_iter()
        .next()
        .ok_or_else(|| FileError {
            code: "empty_file",
            message: "XLSX 文件中没有工作表".into(),
        })?;
    let mut cells = book
        .worksheet_cells_reader(&first)
        .map_err(|_| unsupported())?;
    // The row being gathered (0-based index) and its cells.
    let mut current: Option<u32> = None;
    let mut row: Vec<String> = Vec::new();
    let mut inexact: Vec<bool> = Vec::new();
    let flush = |at: u32, row: &mut Vec<String>, inexact: &mut Vec<bool>, rows: &mut Rows<'_>| {
        let flags = std::mem::take(inexact);
        rows.record(at as usize + 1, std::mem::take(row), &flags)
    };
    while let Some(cell) = cells.next_cell().map_err(|_| unsupported())? {
        if rows.stopped {
            return Ok(());
        }
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if let Some(at) = current {
                flush(at, &mut row, &mut inexact, rows)?;
                // Rows without any cell between two rows are blank rows.
                rows.skipped(
                    at as usize + 2,
                    r.saturating_sub(at).saturating_sub(1) as usize,
                );
            }
            current = Some(r);
        }
        let c = c as usize;
        if c < MAX_COLUMNS {
            if row.len() <= c {
                row.resize(c + 1, String::new());
                inexact.resize(c + 1, false);
            }
            (row[c], inexact[c]) = cell_text(cell.get_value());
        }
    }
    if let Some(at) = current {
        flush(at, &mut row, &mut inexact, rows)?;
    }
    Ok(())
}

/// A JSON batch item (English keys; strings, numbers or booleans) as a raw row.
pub fn raw_from_json(index: usize, obj: &Value) -> Result<RawRow, Box<RowError>> {
    let Some(map) = obj.as_object() else {
        return Err(Box::new(RowError {
            row: index + 1,
            candidate_no: None,
            field: String::new(),
            label: String::new(),
            code: "row_not_object".into(),
            message: format!("第{}行：应为 JSON 对象", index + 1),
        }));
    };
    let mut raw = RawRow {
        row: index + 1,
        ..RawRow::default()
    };
    for (k, v) in map {
        let s = match v {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => if *b { "是" } else { "否" }.to_string(),
            _ => String::new(),
        };
        if !s.is_empty() {
            raw.cells.insert(k.clone(), s);
        }
    }
    Ok(raw)
}

struct Check<'a> {
    raw: &'a RawRow,
    errors: Vec<RowError>,
}

impl Check<'_> {
    fn err(&mut self, key: &str, code: &str, problem: impl std::fmt::Display) {
        let c = column(key);
        self.errors.push(RowError {
            row: self.raw.row,
            candidate_no: self.raw.cells.get("candidate_no").cloned(),
            field: key.to_string(),
            label: c.header.to_string(),
            code: code.to_string(),
            message: format!("第{}行 {}：{problem}", self.raw.row, c.header),
        });
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.raw.cells.get(key).map(String::as_str)
    }
    fn required(&mut self, key: &str) -> Option<String> {
        let v = self.get(key).map(str::to_string);
        if v.is_none() {
            self.err(key, "required", "不能为空");
        }
        v
    }
    fn max(&mut self, key: &str, max: usize) -> Option<String> {
        let v = self.get(key)?.to_string();
        if v.chars().count() > max {
            self.err(key, "too_long", format!("不能超过 {max} 个字"));
            return None;
        }
        Some(v)
    }
    fn date(&mut self, key: &str) -> Option<NaiveDate> {
        let v = self.get(key)?.to_string();
        let d = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(&v, f).ok());
        if d.is_none() {
            self.err(
                key,
                "invalid_date",
                format!("“{v}”不是有效日期，应为 YYYY-MM-DD"),
            );
        }
        d
    }
    fn yes_no(&mut self, key: &str) -> bool {
        match self.get(key).map(str::to_lowercase).as_deref() {
            None => false,
            Some("是" | "y" | "yes" | "1" | "true") => true,
            Some("否" | "n" | "no" | "0" | "false") => false,
            Some(v) => {
                let v = v.to_string();
                self.err(key, "invalid_choice", format!("“{v}”应为“是”或“否”"));
                false
            }
        }
    }
}

fn leading_digits(s: &str) -> &str {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    &s[..end]
}

/// What a school is told when a graduate's gender contradicts their ID number (the record is
/// kept as the management system sent it).
pub fn gender_conflict(id_number: &str, gender: Option<&str>) -> Option<String> {
    let given = gender?;
    let expected = IdNumber::parse(id_number).ok()?.gender();
    (given != expected).then(|| {
        format!("性别“{given}”与身份证号不符（身份证号显示为{expected}），请在就业管理系统中核对")
    })
}

/// Validates one row against the rules of the roster columns; all errors of the row at once.
pub fn validate(raw: &RawRow, codes: &dyn CodeLookup) -> Result<RosterRow, Vec<RowError>> {
    let mut c = Check {
        raw,
        errors: Vec::new(),
    };
    for (k, v) in &raw.cells {
        if let Some((at, ch)) = forbidden_char(v) {
            c.err(k, "control_character", forbidden_char_message(at, ch));
        } else if v.contains(['\n', '\r']) {
            c.err(k, "line_break", "不能换行");
        }
    }
    for key in &raw.inexact {
        c.err(
            key,
            "numeric_cell",
            format!(
                "单元格是数字格式，Excel 已把它改成“{}”（丢失了末几位）：请把此列设为“文本”格式后重新填写",
                raw.cells.get(key).map(String::as_str).unwrap_or_default()
            ),
        );
    }
    let candidate_no = c
        .required("candidate_no")
        .filter(|_| !raw.inexact.contains("candidate_no"))
        .and_then(|v| match CandidateNo::parse(&v) {
            Ok(n) => Some(n.as_str().to_string()),
            Err(e) => {
                c.err("candidate_no", e.code, e.detail());
                None
            }
        });
    let name = c.required("name").and_then(|_| c.max("name", 50));
    let id_number = c
        .required("id_number")
        .filter(|_| !raw.inexact.contains("id_number"))
        .and_then(|v| match IdNumber::parse(&v) {
            Ok(n) => Some(n.as_str().to_string()),
            Err(e) => {
                c.err("id_number", e.code, e.detail());
                None
            }
        });
    let school_code = c.get("school_code").map(str::to_string);
    if let Some(s) = &school_code {
        if s.len() != 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            c.err("school_code", "school_code_format", "应为5位数字");
        }
    }
    let education_level = c.required("education_level").and_then(|v| {
        let label = match v.as_str() {
            "01" | "博士研究生" | "博士" => "博士研究生",
            "11" | "硕士研究生" | "硕士" => "硕士研究生",
            "31" | "本科" => "本科",
            "41" | "专科" | "专科(高职)" | "专科（高职）" | "高职" => "专科",
            _ => {
                c.err(
                    "education_level",
                    "unknown_code",
                    format!("“{v}”不是有效学历，应为博士研究生、硕士研究生、本科或专科"),
                );
                return None;
            }
        };
        Some(label.to_string())
    });
    let gender = match c.get("gender") {
        None => None,
        Some("男" | "1") => Some("男".to_string()),
        Some("女" | "2") => Some("女".to_string()),
        Some(v) => {
            let v = v.to_string();
            c.err("gender", "invalid_choice", format!("“{v}”应为“男”或“女”"));
            None
        }
    };
    let ethnicity = c.max("ethnicity", 20);
    let political_status = c.max("political_status", 20);
    let training_mode = c.required("training_mode").and_then(|v| {
        let code = leading_digits(&v).to_string();
        if codes.label("training_mode", &code).is_none() {
            c.err(
                "training_mode",
                "unknown_code",
                format!("“{v}”不是有效的培养方式代码"),
            );
            return None;
        }
        Some(code)
    });
    let origin_region = c.get("origin_region").map(str::to_string).and_then(|v| {
        let code = leading_digits(&v).to_string();
        if code.len() != 6 || codes.region_known(&code) == Some(false) {
            c.err(
                "origin_region",
                "unknown_region",
                format!("“{v}”不是有效的行政区划代码（6位，GB/T 2260）"),
            );
            return None;
        }
        Some(code)
    });
    let enrolment = c.date("enrolment_date");
    let graduation = c.date("graduation_date");
    if let (Some(e), Some(g)) = (enrolment, graduation) {
        if g <= e {
            c.err("graduation_date", "out_of_range", "毕业日期应晚于入学日期");
        }
    }
    let cohort = match c.get("cohort").map(str::to_string) {
        Some(v) => {
            let y = leading_digits(&v)
                .parse::<i32>()
                .ok()
                .filter(|y| (2000..=2100).contains(y));
            if y.is_none() {
                c.err(
                    "cohort",
                    "invalid_int",
                    format!("“{v}”不是有效届别，应为4位年份"),
                );
            }
            y
        }
        None => match graduation {
            Some(g) => Some(g.year()),
            // An invalid graduation date was reported already.
            None if c.get("graduation_date").is_some() => None,
            None => {
                c.err("cohort", "required", "届别和毕业日期至少填写一项");
                None
            }
        },
    };
    let student_no = c.max("student_no", 30);
    let department = c
        .required("department")
        .and_then(|_| c.max("department", 50));
    let major = c.required("major").and_then(|_| c.max("major", 50));
    let schooling_length = c.max("schooling_length", 10);
    let archive_in_school = c.yes_no("archive_in_school");
    let hukou_in_school = c.yes_no("hukou_in_school");
    let email = c
        .get("email")
        .map(str::to_string)
        .and_then(|v| match Email::parse(&v) {
            Ok(e) => Some(e.as_str().to_string()),
            Err(e) => {
                c.err("email", e.code, e.detail());
                None
            }
        });
    let mobile = c
        .get("mobile")
        .map(str::to_string)
        .and_then(|v| match Mobile::parse(&v) {
            Ok(m) => Some(m.as_str().to_string()),
            Err(e) => {
                c.err("mobile", e.code, e.detail());
                None
            }
        });
    let directed_employer = c.max("directed_employer", 100);
    if matches!(training_mode.as_deref(), Some("21" | "41")) && directed_employer.is_none() {
        c.err(
            "directed_employer",
            "required",
            "培养方式为定向（不可网签）/委培（不可网签）时必须填写定向/委培单位",
        );
    }
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    Ok(RosterRow {
        row: raw.row,
        candidate_no: candidate_no.unwrap_or_default(),
        id_number: id_number.unwrap_or_default(),
        name: name.unwrap_or_default(),
        school_code,
        education_level: education_level.unwrap_or_default(),
        gender,
        ethnicity,
        political_status,
        training_mode: training_mode.unwrap_or_default(),
        origin_region,
        enrolment_date: enrolment.map(|d| d.to_string()),
        graduation_date: graduation.map(|d| d.to_string()),
        cohort: cohort.unwrap_or_default(),
        student_no,
        department: department.unwrap_or_default(),
        major: major.unwrap_or_default(),
        schooling_length,
        archive_in_school,
        hukou_in_school,
        email,
        mobile,
        directed_employer,
    })
}

/// Rows after validation: how many came in, the valid ones, and every error of the others.
#[derive(Debug, Default)]
pub struct Checked {
    pub received: usize,
    pub valid: Vec<RosterRow>,
    pub errors: Vec<RowError>,
}

/// Validates every row, consuming the raw rows one by one.
pub fn check_all(
    raws: impl IntoIterator<Item = Result<RawRow, Box<RowError>>>,
    codes: &dyn CodeLookup,
) -> Checked {
    let mut out = Checked::default();
    for raw in raws {
        out.push(raw, codes);
    }
    out
}

impl Checked {
    /// Validates one more row.
    pub fn push(&mut self, raw: Result<RawRow, Box<RowError>>, codes: &dyn CodeLookup) {
        self.received += 1;
        match raw.map(|r| validate(&r, codes)) {
            Err(e) => self.errors.push(*e),
            Ok(Err(es)) => self.errors.extend(es),
            Ok(Ok(v)) => self.valid.push(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradflow_engine::form::CodeTables;

    fn codes() -> CodeTables {
        let training = [
            ("10", "非定向"),
            ("21", "定向(不可网签)"),
            ("22", "定向(可签约)"),
            ("41", "委培(不可网签)"),
            ("42", "委培(可签约)"),
        ]
        .iter()
        .map(|(c, l)| (c.to_string(), l.to_string()))
        .collect();
        let regions = [
            ("320000", "江苏省"),
            ("320100", "南京市"),
            ("320106", "鼓楼区"),
        ]
        .iter()
        .map(|(c, l)| (c.to_string(), l.to_string()))
        .collect();
        CodeTables::new(
            BTreeMap::from([("training_mode".to_string(), training)]),
            Some(regions),
        )
    }

    fn read(bytes: &[u8]) -> Result<(Vec<RawRow>, FileSummary), FileError> {
        let mut rows = Vec::new();
        let summary = read_file(bytes, 10, &mut |r| rows.push(r))?;
        Ok((rows, summary))
    }

    const HEADER: &str = "考生号,姓名,身份证号,学历,培养方式,院系,专业,届别";

    #[test]
    fn gbk_csv_as_excel_saves_it() {
        let text = format!(
            "{HEADER}\n26320102150001,张三,11010519491231002X,本科,10,计算机系,软件工程,2027\n"
        );
        let (gbk, _, bad) = encoding_rs::GBK.encode(&text);
        assert!(!bad);
        assert!(std::str::from_utf8(&gbk).is_err(), "really GBK");
        let (rows, summary) = read(&gbk).unwrap();
        assert_eq!(summary.format, "csv");
        assert_eq!(rows[0].cells["name"], "张三");
        assert_eq!(rows[0].cells["department"], "计算机系");
        let v = validate(&rows[0], &codes()).unwrap();
        assert_eq!(
            (v.row, v.cohort, v.education_level.as_str()),
            (2, 2027, "本科")
        );
    }

    #[test]
    fn headers_blank_rows_and_row_numbers() {
        // Leading blank lines, a starred header with full-width parentheses, an English key,
        // an unknown column, blank rows between data rows.
        let text =
            ",,\n\n考生号*,姓名,身份证号,学历,培养方式,院系,专业,届别,定向（委培）单位,备注\n\
             26320102150001,张三,11010519491231002X,本科,10,计算机系,软件工程,2027,,x\n\
             ,,,,,,,,,\n\
             26320102150002,李四,320102200001011238,硕士,22,计算机系,软件工程,2027,,\n";
        let (rows, summary) = read(text.as_bytes()).unwrap();
        assert_eq!(summary.blank_rows, 1);
        assert_eq!(summary.ignored_columns, ["定向（委培）单位", "备注"]);
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [4, 6]);
        let header =
            "candidate_no,name,id_number,education_level,training_mode,department,major,cohort";
        let (rows, _) = read(
            format!("{header}\n26320102150001,张三,11010519491231002X,31,10,系,专业,2027")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            validate(&rows[0], &codes()).unwrap().education_level,
            "本科"
        );
    }

    #[test]
    fn file_level_refusals() {
        assert_eq!(read(b"").unwrap_err().code, "empty_file");
        assert_eq!(read(b"\n,,\n").unwrap_err().code, "empty_file");
        let e = read("姓名,院系\n张三,系\n".as_bytes()).unwrap_err();
        assert_eq!(e.code, "missing_columns");
        assert!(
            e.message.contains("考生号") && e.message.contains("专业"),
            "{}",
            e.message
        );
        assert_eq!(
            read(b"\x89PNG\r\n\x1a\n\0\0").unwrap_err().code,
            "unsupported_file"
        );
        assert_eq!(
            read(&[0x01, 0x02, 0x7f, 0x1b]).unwrap_err().code,
            "unsupported_file"
        );
        let many: String =
            std::iter::once(HEADER.to_string())
                .chain((0..11).map(|i| {
                    format!("2632010215{i:04},张三,11010519491231002X,本科,10,系,专业,2027")
                }))
                .collect::<Vec<_>>()
                .join("\n");
        assert_eq!(read(many.as_bytes()).unwrap_err().code, "too_many_rows");
        // A corrupt ZIP is not a workbook.
        assert_eq!(
            read(b"PK\x03\x04garbage").unwrap_err().code,
            "unsupported_file"
        );
    }

    fn raw(cells: &[(&str, &str)]) -> RawRow {
        let mut r = RawRow {
            row: 7,
            ..RawRow::default()
        };
        for (k, v) in [
            ("candidate_no", "26320102150001"),
            ("name", "张三"),
            ("id_number", "11010519491231002x"),
            ("education_level", "本科"),
            ("training_mode", "10"),
            ("department", "计算机系"),
            ("major", "软件工程"),
            ("cohort", "2027"),
        ]
        .iter()
        .chain(cells)
        {
            if v.is_empty() {
                r.cells.remove(*k);
            } else {
                r.cells.insert(k.to_string(), v.to_string());
            }
        }
        r
    }

    fn codes_of(cells: &[(&str, &str)]) -> Vec<(String, String)> {
        match validate(&raw(cells), &codes()) {
            Ok(_) => Vec::new(),
            Err(es) => es.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn every_rule_passes_and_fails() {
        let ok = validate(&raw(&[]), &codes()).unwrap();
        assert_eq!(ok.id_number, "11010519491231002X", "upper-cased");
        let pair = |f: &str, c: &str| vec![(f.to_string(), c.to_string())];
        assert_eq!(
            codes_of(&[("candidate_no", "2632010215000")]),
            pair("candidate_no", "candidate_no_format")
        );
        assert_eq!(
            codes_of(&[("id_number", "110105194912310021")]),
            pair("id_number", "id_number_checksum")
        );
        assert_eq!(codes_of(&[("name", "")]), pair("name", "required"));
        assert_eq!(
            codes_of(&[("name", &"名".repeat(51))]),
            pair("name", "too_long")
        );
        assert_eq!(
            codes_of(&[("school_code", "1028")]),
            pair("school_code", "school_code_format")
        );
        assert_eq!(
            codes_of(&[("education_level", "小学")]),
            pair("education_level", "unknown_code")
        );
        assert_eq!(
            codes_of(&[("gender", "未知")]),
            pair("gender", "invalid_choice")
        );
        assert!(codes_of(&[("gender", "2")]).is_empty());
        assert_eq!(
            codes_of(&[("training_mode", "99")]),
            pair("training_mode", "unknown_code")
        );
        assert!(codes_of(&[("training_mode", "22 定向(可签约)")]).is_empty());
        assert_eq!(
            codes_of(&[("origin_region", "329900")]),
            pair("origin_region", "unknown_region")
        );
        assert!(codes_of(&[("origin_region", "320106 鼓楼区")]).is_empty());
        assert_eq!(
            codes_of(&[("enrolment_date", "2023-02-30")]),
            pair("enrolment_date", "invalid_date")
        );
        assert_eq!(
            codes_of(&[
                ("enrolment_date", "2027.09.01"),
                ("graduation_date", "20270630")
            ]),
            pair("graduation_date", "out_of_range")
        );
        assert_eq!(codes_of(&[("cohort", "27")]), pair("cohort", "invalid_int"));
        assert_eq!(codes_of(&[("cohort", "")]), pair("cohort", "required"));
        let from_graduation = validate(
            &raw(&[("cohort", ""), ("graduation_date", "2028/06/30")]),
            &codes(),
        )
        .unwrap();
        assert_eq!(
            (
                from_graduation.cohort,
                from_graduation.graduation_date.as_deref()
            ),
            (2028, Some("2028-06-30"))
        );
        assert_eq!(
            codes_of(&[("archive_in_school", "也许")]),
            pair("archive_in_school", "invalid_choice")
        );
        assert!(
            validate(&raw(&[("hukou_in_school", "Y")]), &codes())
                .unwrap()
                .hukou_in_school
        );
        assert_eq!(codes_of(&[("email", "a@")]), pair("email", "email_format"));
        assert_eq!(
            codes_of(&[("mobile", "12800138000")]),
            pair("mobile", "mobile_format")
        );
        assert_eq!(
            codes_of(&[("training_mode", "41")]),
            pair("directed_employer", "required")
        );
        assert!(
            codes_of(&[("training_mode", "21"), ("directed_employer", "某县教育局")]).is_empty()
        );
        // Several errors of one row come together, each naming its row and field.
        let errs = validate(&raw(&[("mobile", "1"), ("email", "x")]), &codes()).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].message.starts_with("第7行 "), "{}", errs[0].message);
    }

    #[test]
    fn json_rows_accept_numbers_and_booleans() {
        let v = serde_json::json!({"candidate_no": 26320102150001u64, "name": "张三", "id_number": "11010519491231002X",
            "education_level": "本科", "training_mode": 10, "department": "系", "major": "专业", "cohort": 2027,
            "hukou_in_school": true, "archive_in_school": false});
        let r = raw_from_json(0, &v).unwrap();
        let row = validate(&r, &codes()).unwrap();
        assert_eq!(
            (
                row.row,
                row.candidate_no.as_str(),
                row.training_mode.as_str()
            ),
            (1, "26320102150001", "10")
        );
        assert!(row.hukou_in_school && !row.archive_in_school);
        assert_eq!(
            raw_from_json(4, &serde_json::json!([1])).unwrap_err().row,
            5
        );
    }
}
