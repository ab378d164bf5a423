//! Exports of management lists as XLSX with bounded memory: rows are streamed from the
//! database in chunks, written to a constant-memory worksheet (its rows go to a temporary
//! file, not to memory), and the finished workbook is a temporary file the response streams.
//! Two exports run at once; the rest wait their turn.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom};

use chrono::{Datelike, Timelike};
use futures::TryStreamExt;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Select};
use serde_json::{Map, Value};

use crate::entity::{employer, graduate, instance};
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;

/// At most this many rows go into one export.
pub const MAX_EXPORT: u64 = 100_000;
/// Rows read from the database and written per round.
const CHUNK: usize = 1000;

const HEAD: [&str; 12] = [
    "签约发起方",
    "姓名",
    "考生号",
    "身份证号",
    "院系",
    "专业",
    "学历",
    "当前协议编号",
    "签约单位",
    "签约状态",
    "原因",
    "更新时间",
];

/// The columns of a list whose items have a type (去向登记管理): category and type instead of
/// the initiator and the agreement number.
const TYPED_HEAD: [&str; 12] = [
    "姓名",
    "考生号",
    "身份证号",
    "院系",
    "专业",
    "学历",
    "去向类别",
    "毕业去向类型",
    "单位或学校名称",
    "登记状态",
    "原因",
    "更新时间",
];

/// The column a province's export has after 姓名: its list spans its schools.
const SCHOOL: &str = "院校";

/// The types of a typed list: code → (label, category).
pub type Types = HashMap<String, (String, Option<String>)>;

static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> ApiError {
    ApiError::internal(format!("xlsx: {e}"))
}

/// The instances of `q` (at most [`MAX_EXPORT`]) as an XLSX file, ready to be streamed; with
/// `with_school`, a 院校 column after 姓名.
pub async fn instances_xlsx(
    state: &AppState,
    title: &str,
    q: Select<instance::Entity>,
    types: Option<&Types>,
    with_school: bool,
) -> ApiResult<tokio::fs::File> {
    let cols = Columns { types, with_school };
    let _turn = EXPORTS.acquire().await.map_err(ApiError::internal)?;
    let total = q.clone().count(&state.db.conn).await?;
    if total > MAX_EXPORT {
        return Err(ApiError::unprocessable(
            "export_too_large",
            format!("当前查询共 {total} 条，一次最多导出 {MAX_EXPORT} 条，请增加筛选条件"),
        ));
    }
    let dir = state.config.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(ApiError::internal)?;
    let mut wb = Workbook::new();
    wb.set_tempdir(&dir).map_err(xlsx_err)?;
    {
        let ws = wb.add_worksheet_with_constant_memory().map_err(xlsx_err)?;
        ws.set_name(title).map_err(xlsx_err)?;
        let bold = Format::new().set_bold();
        for (col, h) in cols.head().iter().enumerate() {
            ws.write_with_format(0, col as u16, *h, &bold)
                .map_err(xlsx_err)?;
        }
        // The header stays in view while scrolling.
        ws.set_freeze_panes(1, 0).map_err(xlsx_err)?;
    }
    let mut rows = q.stream(&state.db.conn).await?;
    let mut chunk: Vec<instance::Model> = Vec::with_capacity(CHUNK);
    let mut next_row: u32 = 1;
    loop {
        let row = rows.try_next().await?;
        let done = row.is_none();
        chunk.extend(row);
        if chunk.len() == CHUNK || (done && !chunk.is_empty()) {
            let ws = wb.worksheet_from_index(0).map_err(xlsx_err)?;
            write_chunk(state, ws, next_row, &chunk, &cols, next_row == 1).await?;
            next_row += chunk.len() as u32;
            chunk.clear();
        }
        if done {
            break;
        }
    }
    drop(rows);
    {
        // A filter on every column, over the header and the rows written.
        let ws = wb.worksheet_from_index(0).map_err(xlsx_err)?;
        if next_row == 1 {
            // No rows: the header alone sets the widths.
            write_chunk(state, ws, 1, &[], &cols, true).await?;
        }
        let last_col = cols.head().len() as u16 - 1;
        ws.autofilter(0, 0, next_row.saturating_sub(1), last_col)
            .map_err(xlsx_err)?;
    }
    // Zipping the parts is CPU work: off the async workers, into an unnamed temporary file.
    let file = tokio::task::spawn_blocking(move || -> ApiResult<std::fs::File> {
        let mut file = tempfile::tempfile_in(&dir).map_err(ApiError::internal)?;
        wb.save_to_writer(&mut file).map_err(xlsx_err)?;
        file.seek(SeekFrom::Start(0)).map_err(ApiError::internal)?;
        Ok(file)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(tokio::fs::File::from_std(file))
}

/// The columns of a list's export: typed or not, with the 院校 column or not.
struct Columns<'a> {
    types: Option<&'a Types>,
    with_school: bool,
}

impl Columns<'_> {
    /// Where the 院校 column goes: right after 姓名.
    fn school_col(&self) -> Option<usize> {
        let name = match self.types {
            Some(_) => 0,
            None => 1,
        };
        self.with_school.then_some(name + 1)
    }

    /// The header.
    fn head(&self) -> Vec<&'static str> {
        let mut h = match self.types {
            Some(_) => TYPED_HEAD.to_vec(),
            None => HEAD.to_vec(),
        };
        if let Some(at) = self.school_col() {
            h.insert(at, SCHOOL);
        }
        h
    }
}

/// `Content-Disposition` of a download named `name` (RFC 6266): an ASCII `filename` for old
/// clients and the real name, UTF-8 percent-encoded, in `filename*` (RFC 8187).
pub fn attachment(name: &str, ascii_fallback: &str) -> String {
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{encoded}")
}

/// How wide a text shows in Excel's units: a CJK (full-width) character takes two.
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if c.is_ascii() || (c as u32) < 0x1100 {
                1
            } else {
                2
            }
        })
        .sum()
}

/// The widest column Excel is given (longer texts wrap into view on selection).
const MAX_WIDTH: usize = 60;

/// A moment as an Excel date-time in China time (a real date cell: sortable, filterable).
fn excel_moment(t: chrono::DateTime<chrono::Utc>) -> ApiResult<ExcelDateTime> {
    let t = t.with_timezone(&gradflow_engine::apply::china_offset());
    ExcelDateTime::from_ymd(t.year() as u16, t.month() as u8, t.day() as u8)
        .and_then(|d| d.and_hms(t.hour() as u16, t.minute() as u8, t.second()))
        .map_err(xlsx_err)
}

/// Writes `rows` from sheet row `first` on: their graduates, employers (and schools) in one
/// query each. The first chunk also sets the column widths, from the header and its rows.
async fn write_chunk(
    state: &AppState,
    ws: &mut Worksheet,
    first: u32,
    rows: &[instance::Model],
    cols: &Columns<'_>,
    set_widths: bool,
) -> ApiResult<()> {
    let types = cols.types;
    let moment = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let mut widths: Vec<usize> = cols.head().iter().map(|h| display_width(h)).collect();
    // The date-time column: "2026-11-23 18:30".
    let time_col = widths.len() - 1;
    widths[time_col] = widths[time_col].max(16);
    let mut gids: Vec<i64> = rows.iter().map(|r| r.graduate_id).collect();
    gids.sort_unstable();
    gids.dedup();
    let grads: HashMap<i64, graduate::Model> = graduate::Entity::find()
        .filter(graduate::Column::Id.is_in(gids))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    let mut eids: Vec<i64> = rows.iter().filter_map(|r| r.employer_id).collect();
    eids.sort_unstable();
    eids.dedup();
    let emps: HashMap<i64, String> = employer::Entity::find()
        .filter(employer::Column::Id.is_in(eids))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|e| (e.id, e.name))
        .collect();
    let schools = if cols.with_school {
        let ids: Vec<i64> = rows.iter().map(|r| r.school_id).collect();
        crate::services::lists::school_names(state, &ids).await?
    } else {
        HashMap::new()
    };
    for (i, r) in rows.iter().enumerate() {
        let vars: Map<String, Value> = serde_json::from_str(&r.vars).unwrap_or_default();
        let g = grads.get(&r.graduate_id);
        let text = |k: &str| {
            vars.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let employer_name = r
            .employer_id
            .and_then(|e| emps.get(&e).cloned())
            .unwrap_or_else(|| text("employer_name"));
        let number = vars
            .get("agreement_no")
            .and_then(Value::as_str)
            .unwrap_or("签约信息生效后生成")
            .to_string();
        let reason = vars
            .get("last_decision")
            .and_then(|d| d.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let of = |f: fn(&graduate::Model) -> &String| g.map(|g| f(g).clone()).unwrap_or_default();
        let mut cells = match types {
            None => vec![
                if r.initiator_role == "employer" {
                    "单位".to_string()
                } else {
                    "学生".to_string()
                },
                of(|g| &g.name),
                of(|g| &g.candidate_no),
                of(|g| &g.id_number),
                r.department.clone(),
                of(|g| &g.major),
                of(|g| &g.education_level),
                number,
                employer_name,
                crate::services::lists::status_text(r),
                reason,
            ],
            Some(types) => {
                let (label, category) = r
                    .type_code
                    .as_ref()
                    .and_then(|c| types.get(c))
                    .cloned()
                    .unwrap_or_default();
                let place = [employer_name, text("school_name")]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .unwrap_or_default();
                vec![
                    of(|g| &g.name),
                    of(|g| &g.candidate_no),
                    of(|g| &g.id_number),
                    r.department.clone(),
                    of(|g| &g.major),
                    of(|g| &g.education_level),
                    category.unwrap_or_default(),
                    label,
                    place,
                    crate::services::lists::status_text(r),
                    reason,
                ]
            }
        };
        if let Some(at) = cols.school_col() {
            cells.insert(at, schools.get(&r.school_id).cloned().unwrap_or_default());
        }
        let row = first + i as u32;
        for (col, v) in cells.iter().enumerate() {
            ws.write_string(row, col as u16, v).map_err(xlsx_err)?;
            widths[col] = widths[col].max(display_width(v));
        }
        ws.write_datetime_with_format(row, time_col as u16, &excel_moment(r.updated_at)?, &moment)
            .map_err(xlsx_err)?;
    }
    if set_widths {
        for (col, w) in widths.iter().enumerate() {
            let w = (*w + 2).min(MAX_WIDTH) as f64;
            ws.set_column_width(col as u16, w).map_err(xlsx_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_for_content_disposition() {
        assert_eq!(
            attachment("补登 管理.xlsx", "export.xlsx"),
            "attachment; filename=\"export.xlsx\"; filename*=UTF-8''%E8%A1%A5%E7%99%BB%20%E7%AE%A1%E7%90%86.xlsx"
        );
        assert_eq!(display_width("院系a"), 5);
    }
}
