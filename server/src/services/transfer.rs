//! 转递编号 (SPEC.md 4.10; seed 000 6): school and department users generate, in batch, the
//! transfer numbers of their graduates with a reported destination — per kind, 档案信息转递 and
//! 户口信息转递 — for the receiving offices to verify with. A change of an important field of the
//! destination, archive or hukou marks the number stale (失效: the events the flows emit for
//! such changes, delivered through the outbox); the batch regenerates the stale ones. The
//! list filters generated/stale and the update time and downloads as XLSX with the graduate's
//! basic info, destination, archive/hukou data and number. Transfer numbers are never shown to
//! the graduate.

use chrono::{DateTime, Utc};
use gradflow_engine::definition::Module;
use poem_openapi::Object;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::auth::{AccountRole, Caller};
use crate::entity::{graduate, instance, school, slot, transfer_number};
use crate::error::{ApiError, ApiResult};
use crate::paging::{paged, PAGE_SIZE};
use crate::service::{self, AppState};
use crate::services::confirmation;

/// The two kinds: (kind, module, the list's title, the slot of its data).
pub const KINDS: [(&str, Module, &str, &str); 2] = [
    ("archive", Module::Archive, "档案信息转递", "archive"),
    ("hukou", Module::Hukou, "户口信息转递", "hukou"),
];

pub fn kind_of(kind: &str) -> ApiResult<(&'static str, Module, &'static str, &'static str)> {
    KINDS
        .iter()
        .find(|k| k.0 == kind)
        .copied()
        .ok_or_else(|| ApiError::not_found("转递类型只能是 archive（档案）或 hukou（户口）"))
}

/// The events after which a graduate's numbers are stale: a change of an important field of
/// the destination (both kinds), of the archive or of the hukou, and the destination ending or
/// replaced.
fn stale_after(event: &str) -> Option<&'static [&'static str]> {
    match event {
        "archive.changed" => Some(&["archive"]),
        "hukou.changed" => Some(&["hukou"]),
        "destination.changed"
        | "destination.reported"
        | "destination.withdrawn"
        | "agreement.signed"
        | "agreement.voided"
        | "agreement.ended" => Some(&["archive", "hukou"]),
        _ => None,
    }
}

/// Marks the graduate's numbers stale after `event` (see [`stale_after`]); how many.
pub async fn on_event(state: &AppState, graduate_id: i64, event: &str) -> ApiResult<u64> {
    let Some(kinds) = stale_after(event) else {
        return Ok(0);
    };
    let fresh = transfer_number::Entity::find()
        .filter(transfer_number::Column::GraduateId.eq(graduate_id))
        .filter(transfer_number::Column::Kind.is_in(kinds.iter().copied()))
        .filter(transfer_number::Column::Stale.eq(false))
        .count(&state.db.conn)
        .await?;
    if fresh == 0 {
        return Ok(0);
    }
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let done = transfer_number::Entity::update_many()
        .col_expr(transfer_number::Column::Stale, Expr::value(true))
        .col_expr(transfer_number::Column::UpdatedAt, Expr::value(now))
        .filter(transfer_number::Column::GraduateId.eq(graduate_id))
        .filter(transfer_number::Column::Kind.is_in(kinds.iter().copied()))
        .filter(transfer_number::Column::Stale.eq(false))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}

/// School and department users of the kind's module (`write`: 读写): who manages transfer
/// numbers, verification lists and sheet previews.
pub fn staff(c: &Caller, module: Module, write: bool) -> ApiResult<()> {
    if !matches!(c.role, AccountRole::School | AccountRole::Department) {
        return Err(ApiError::forbidden("只有学校和院系用户可以管理转递编号"));
    }
    if write {
        c.require_write(module)
    } else {
        c.require_view(module)
    }
}

/// The caller's graduates with a reported destination (the holder of their `agreement` slot
/// approved): (graduate id, department).
async fn reported(state: &AppState, c: &Caller) -> ApiResult<Vec<(i64, String)>> {
    let holders = Query::select()
        .column(slot::Column::InstanceId)
        .from(slot::Entity)
        .and_where(slot::Column::Slot.eq("agreement"))
        .to_owned();
    let mut q = instance::Entity::find()
        .select_only()
        .column(instance::Column::GraduateId)
        .column(instance::Column::Department)
        .filter(instance::Column::SchoolId.eq(c.actor.school_id.unwrap_or(-1)))
        .filter(instance::Column::IsFinal.eq(true))
        .filter(instance::Column::Id.in_subquery(holders));
    if c.role == AccountRole::Department {
        q = q.filter(instance::Column::Department.eq(c.actor.department.clone()));
    }
    Ok(q.into_tuple().all(&state.db.conn).await?)
}

/// What a batch did.
#[derive(Object, Debug)]
pub struct GenerateResult {
    /// Numbers generated for graduates who had none.
    pub generated: u64,
    /// Stale numbers generated anew.
    pub regenerated: u64,
    /// Numbers already current, left as they are.
    pub unchanged: u64,
}

/// 批量生成/重新生成转递编号: a number for every graduate in scope with a reported destination
/// who has none, a new one for every stale one.
pub async fn generate(state: &AppState, c: &Caller, kind: &str) -> ApiResult<GenerateResult> {
    let (kind, module, _, _) = kind_of(kind)?;
    staff(c, module, true)?;
    let school = school::Entity::find_by_id(c.actor.school_id.unwrap_or(-1))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::forbidden("账号没有所属学校"))?;
    let graduates = reported(state, c).await?;
    let ids: Vec<i64> = graduates.iter().map(|g| g.0).collect();
    let mut out = GenerateResult {
        generated: 0,
        regenerated: 0,
        unchanged: 0,
    };
    let now = state.clock.now();
    for chunk in graduates.chunks(500) {
        let chunk_ids: Vec<i64> = chunk.iter().map(|g| g.0).collect();
        let cohorts: std::collections::HashMap<i64, i32> = graduate::Entity::find()
            .select_only()
            .column(graduate::Column::Id)
            .column(graduate::Column::Cohort)
            .filter(graduate::Column::Id.is_in(chunk_ids.clone()))
            .into_tuple::<(i64, i32)>()
            .all(&state.db.conn)
            .await?
            .into_iter()
            .collect();
        let existing: std::collections::HashMap<i64, transfer_number::Model> =
            transfer_number::Entity::find()
                .filter(transfer_number::Column::GraduateId.is_in(chunk_ids))
                .filter(transfer_number::Column::Kind.eq(kind))
                .all(&state.db.conn)
                .await?
                .into_iter()
                .map(|t| (t.graduate_id, t))
                .collect();
        let txn = state.db.begin_write().await?;
        for (gid, dept) in chunk {
            let number = crate::services::verification::new_number(
                cohorts.get(gid).copied().unwrap_or(0),
                &school.code,
            );
            match existing.get(gid) {
                Some(t) if !t.stale => out.unchanged += 1,
                Some(t) => {
                    let mut am: transfer_number::ActiveModel = t.clone().into();
                    am.number = Set(number);
                    am.stale = Set(false);
                    am.department = Set(dept.clone());
                    am.updated_at = Set(now);
                    am.update(&txn).await?;
                    out.regenerated += 1;
                }
                None => {
                    transfer_number::ActiveModel {
                        graduate_id: Set(*gid),
                        kind: Set(kind.into()),
                        school_id: Set(school.id),
                        department: Set(dept.clone()),
                        number: Set(number),
                        stale: Set(false),
                        generated_at: Set(now),
                        updated_at: Set(now),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await
                    .map_err(|e| match crate::db::is_unique_violation(&e) {
                        // Another user's batch took the graduate meanwhile (or, once in 36^8, a
                        // number repeated): the batch runs again.
                        true => {
                            ApiError::conflict("conflict", "转递编号正在由其他用户生成，请稍后重试")
                        }
                        false => e.into(),
                    })?;
                    out.generated += 1;
                }
            }
        }
        txn.commit().await?;
    }
    tracing::info!(
        kind,
        graduates = ids.len(),
        generated = out.generated,
        regenerated = out.regenerated,
        "transfer numbers"
    );
    Ok(out)
}

/// One graduate's transfer number, for the school.
#[derive(Object, Debug)]
pub struct TransferRow {
    pub graduate_id: i64,
    pub candidate_no: String,
    pub name: String,
    pub department: String,
    pub major: String,
    /// 转递编号.
    pub number: String,
    /// 已生成 or 已失效 (an important field changed: generate again).
    pub status: String,
    pub generated_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A page of transfer numbers.
#[derive(Object, Debug)]
pub struct TransferPage {
    pub kind: String,
    pub title: String,
    /// Graduates in scope with a reported destination (each should have a current number).
    pub reported: u64,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub items: Vec<TransferRow>,
}

/// The list's filters.
pub struct TransferFilter {
    /// `generated` (current) or `stale`; none: both.
    pub status: Option<String>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
}

fn list_query(
    c: &Caller,
    kind: &str,
    f: &TransferFilter,
) -> ApiResult<sea_orm::Select<transfer_number::Entity>> {
    let mut q = transfer_number::Entity::find()
        .filter(transfer_number::Column::SchoolId.eq(c.actor.school_id.unwrap_or(-1)))
        .filter(transfer_number::Column::Kind.eq(kind));
    if c.role == AccountRole::Department {
        q = q.filter(transfer_number::Column::Department.eq(c.actor.department.clone()));
    }
    match f.status.as_deref() {
        None | Some("") => {}
        Some("generated") | Some("已生成") => {
            q = q.filter(transfer_number::Column::Stale.eq(false))
        }
        Some("stale") | Some("已失效") => q = q.filter(transfer_number::Column::Stale.eq(true)),
        Some(other) => {
            return Err(ApiError::unprocessable(
                "invalid_status",
                format!("status：只能是 generated（已生成）或 stale（已失效），而不是“{other}”"),
            ))
        }
    }
    let mut cond = Condition::all();
    if let Some(t) = f.updated_from {
        cond = cond.add(transfer_number::Column::UpdatedAt.gte(t));
    }
    if let Some(t) = f.updated_to {
        cond = cond.add(transfer_number::Column::UpdatedAt.lte(t));
    }
    Ok(q.filter(cond)
        .order_by_desc(transfer_number::Column::UpdatedAt)
        .order_by_desc(transfer_number::Column::Id))
}

async fn rows_of(
    state: &AppState,
    rows: Vec<transfer_number::Model>,
) -> ApiResult<Vec<(transfer_number::Model, graduate::Model)>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.graduate_id).collect();
    let gs: std::collections::HashMap<i64, graduate::Model> = graduate::Entity::find()
        .filter(graduate::Column::Id.is_in(ids))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let g = gs.get(&r.graduate_id)?.clone();
            Some((r, g))
        })
        .collect())
}

fn row_view(t: &transfer_number::Model, g: &graduate::Model) -> TransferRow {
    TransferRow {
        graduate_id: g.id,
        candidate_no: g.candidate_no.clone(),
        name: g.name.clone(),
        department: t.department.clone(),
        major: g.major.clone(),
        number: t.number.clone(),
        status: if t.stale { "已失效" } else { "已生成" }.into(),
        generated_at: t.generated_at,
        updated_at: t.updated_at,
    }
}

/// 档案/户口信息转递列表: the numbers in scope, newest change first.
pub async fn list(
    state: &AppState,
    c: &Caller,
    kind: &str,
    f: &TransferFilter,
    page: Option<u64>,
    size: Option<u64>,
) -> ApiResult<TransferPage> {
    let (kind, module, title, _) = kind_of(kind)?;
    staff(c, module, false)?;
    let p = paged(
        &state.db.conn,
        list_query(c, kind, f)?,
        page,
        size,
        &PAGE_SIZE,
    )
    .await?;
    let items = rows_of(state, p.rows)
        .await?
        .iter()
        .map(|(t, g)| row_view(t, g))
        .collect();
    Ok(TransferPage {
        kind: kind.into(),
        title: title.into(),
        reported: reported(state, c).await?.len() as u64,
        total: p.total,
        page: p.page,
        page_size: p.size,
        items,
    })
}

/// 下载: the list's rows (same filters) with basic info, destination and the kind's data, as
/// an XLSX file's bytes.
pub async fn export(
    state: &AppState,
    c: &Caller,
    kind: &str,
    f: &TransferFilter,
) -> ApiResult<(String, Vec<u8>)> {
    use rust_xlsxwriter::{Format, Workbook};
    let (kind, module, title, slot) = kind_of(kind)?;
    staff(c, module, false)?;
    let q = list_query(c, kind, f)?;
    let total = q.clone().count(&state.db.conn).await?;
    if total > crate::export::MAX_EXPORT {
        return Err(ApiError::unprocessable(
            "export_too_large",
            format!(
                "当前查询共 {total} 条，一次最多导出 {} 条，请增加筛选条件",
                crate::export::MAX_EXPORT
            ),
        ));
    }
    let rows = rows_of(state, q.all(&state.db.conn).await?).await?;
    let snap = state.registry.snapshot();
    // The kind's data columns: its registration flow's start form.
    let flow = format!("{kind}_registration");
    let data_fields: Vec<(String, String)> = snap
        .active(&flow, c.actor.province.as_deref())
        .and_then(|d| {
            d.def
                .start
                .form
                .as_ref()
                .and_then(|f| d.def.forms.get(f))
                .cloned()
        })
        .map(|form| {
            form.all_fields()
                .into_iter()
                .filter(|f| !matches!(f.kind, gradflow_engine::form::FieldKind::File { .. }))
                .map(|f| (f.name.clone(), f.label.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut head: Vec<String> = [
        "考生号",
        "姓名",
        "性别",
        "身份证号",
        "院系",
        "专业",
        "学历层次",
        "毕业时间",
        "毕业去向",
        "去向登记状态",
        "单位或学校名称",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    head.extend(data_fields.iter().map(|(_, l)| l.clone()));
    head.extend(["转递编号", "编号状态", "更新时间"].map(String::from));
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(title).map_err(ApiError::internal)?;
    let bold = Format::new().set_bold();
    for (i, h) in head.iter().enumerate() {
        ws.write_with_format(0, i as u16, h.as_str(), &bold)
            .map_err(ApiError::internal)?;
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    for (r, (t, g)) in rows.iter().enumerate() {
        let destination = match service::slot_holder(state, "agreement", g.id).await? {
            Some(h) if h.is_final => confirmation::held_data(state, &snap, h).await?,
            _ => None,
        };
        let data = match service::slot_holder(state, slot, g.id).await? {
            Some(h) => confirmation::registered_data(state, &snap, h).await?,
            None => None,
        };
        let field = |d: &Option<confirmation::HeldData>, name: &str| {
            d.as_ref()
                .and_then(|d| d.fields.iter().find(|f| f.name == name))
                .map(|f| text(&f.text))
                .unwrap_or_default()
        };
        let unit = ["employer_name", "school_name", "serving_unit"]
            .iter()
            .map(|n| field(&destination, n))
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        let mut cells: Vec<String> = vec![
            g.candidate_no.clone(),
            g.name.clone(),
            g.gender.clone().unwrap_or_default(),
            g.id_number.clone(),
            t.department.clone(),
            g.major.clone(),
            g.education_level.clone(),
            g.graduation_date.clone().unwrap_or_default(),
            destination
                .as_ref()
                .map(|d| d.type_label.clone().unwrap_or_else(|| d.title.clone()))
                .unwrap_or_default(),
            destination
                .as_ref()
                .map(|d| d.label.clone())
                .unwrap_or_default(),
            unit,
        ];
        cells.extend(data_fields.iter().map(|(n, _)| field(&data, n)));
        cells.push(t.number.clone());
        cells.push(if t.stale { "已失效" } else { "已生成" }.into());
        cells.push(
            t.updated_at
                .with_timezone(&gradflow_engine::apply::china_offset())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        );
        for (i, v) in cells.iter().enumerate() {
            ws.write(r as u32 + 1, i as u16, v.as_str())
                .map_err(ApiError::internal)?;
        }
    }
    ws.autofilter(0, 0, rows.len() as u32, head.len() as u16 - 1)
        .map_err(ApiError::internal)?;
    let bytes = wb.save_to_buffer().map_err(ApiError::internal)?;
    Ok((title.to_string(), bytes))
}
