//! 违反“四不准”行为举报 (SPEC.md 4.9; seed 004 7): a graduate reports their school, anonymously,
//! to the authority above it — the province. A report names the school and the province and
//! never the reporter: the evidence uploads (whose rows name the uploader) are taken over by
//! the report and their rows removed, nothing is audited under the graduate, and no query a
//! school or department user can reach reads the table. The province lists its reports, opens
//! the evidence and marks a report handled (once: a second decision answers 409).

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit;
use crate::auth::{AccountRole, Caller};
use crate::entity::{report, school, upload};
use crate::error::{ApiError, ApiResult};
use crate::paging::{paged, PAGE_SIZE};
use crate::service::AppState;

/// The code table of the four categories.
pub const CATEGORIES: &str = "prohibition";
/// The longest content (举报内容).
pub const MAX_CONTENT: usize = 300;
/// The most evidence files one report carries.
pub const MAX_EVIDENCE: usize = 5;
/// The content types evidence may have (png, jpg, mp3, mp4, zip; checked by content when
/// uploaded with `purpose=evidence`).
const EVIDENCE_TYPES: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "audio/mpeg",
    "video/mp4",
    "application/zip",
];
/// What the form tells the graduate (seed 004 7).
pub const NOTICE: &str = "若填写此举报信息将匿名提供给上级部门";
pub const REMINDER: &str =
    "举报材料请去掉个人信息。举报信息将提供给相关部门进行处理，个人信息将被严格保密。";

/// A choice of a code table.
#[derive(Object, Debug)]
pub struct Choice {
    pub code: String,
    pub label: String,
}

/// What the report form asks (GET /reports/form).
#[derive(Object, Debug)]
pub struct ReportForm {
    /// 我要举报学校存在的以下问题: the four categories.
    pub categories: Vec<Choice>,
    /// 举报内容: at most this many characters.
    pub content_max: u32,
    /// 证明材料上传: the types accepted (upload them with `POST /uploads?purpose=evidence`).
    pub evidence_types: Vec<String>,
    /// The largest evidence file, in bytes.
    pub evidence_max_bytes: u64,
    /// The most files.
    pub evidence_max_files: u32,
    /// 若填写此举报信息将匿名提供给上级部门.
    pub notice: String,
    /// 举报材料请去掉个人信息 …
    pub reminder: String,
}

/// A report as filed.
#[derive(Object, Debug, Deserialize)]
#[oai(example)]
pub struct NewReport {
    /// The category's code (see `GET /reports/form`).
    pub category: String,
    /// 举报内容 (at most 300 characters).
    pub content: String,
    /// The evidence: ids of the caller's own uploads (`purpose=evidence`), at least one.
    pub evidence: Vec<String>,
}

impl poem_openapi::types::Example for NewReport {
    fn example() -> Self {
        NewReport {
            category: "2".into(),
            content: "辅导员要求先签就业协议才发毕业证书".into(),
            evidence: vec!["0b7e8c9a-5a52-4b44-9a43-1c2d3e4f5a6b".into()],
        }
    }
}

/// The receipt of a filed report: no reference that would tie the graduate to it.
#[derive(Object, Debug)]
pub struct ReportReceipt {
    pub submitted: bool,
    pub message: String,
}

/// One evidence file as kept with the report.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Evidence {
    path: String,
    content_type: String,
    size: i64,
    sha256: String,
}

/// An evidence file as the province sees it.
#[derive(Object, Debug)]
pub struct EvidenceView {
    /// Its number within the report (from 1), for `GET /reports/{id}/evidence/{n}`.
    pub n: u32,
    pub content_type: String,
    pub size: i64,
}

/// The school a report names.
#[derive(Object, Debug)]
pub struct ReportedSchool {
    pub id: i64,
    pub code: String,
    pub name: String,
}

/// A report, for the province.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct ReportView {
    pub id: i64,
    pub school: ReportedSchool,
    pub category: String,
    pub category_label: String,
    pub content: String,
    pub evidence: Vec<EvidenceView>,
    pub created_at: DateTime<Utc>,
    /// 未处理 or 已处理.
    pub status: String,
    pub handled_at: Option<DateTime<Utc>>,
    pub handling_note: Option<String>,
    /// The version to send as `expected_version` when marking it handled.
    pub row_version: i32,
}

/// A page of reports.
#[derive(Object, Debug)]
pub struct ReportPage {
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub items: Vec<ReportView>,
}

/// The form's contents.
pub fn form(state: &AppState) -> ReportForm {
    let snap = state.registry.snapshot();
    ReportForm {
        categories: snap
            .code_lookup()
            .table_entries(CATEGORIES)
            .into_iter()
            .map(|(code, label)| Choice { code, label })
            .collect(),
        content_max: MAX_CONTENT as u32,
        evidence_types: ["png", "jpg", "mp3", "mp4", "zip"]
            .map(String::from)
            .to_vec(),
        evidence_max_bytes: crate::uploads::MAX_BYTES as u64,
        evidence_max_files: MAX_EVIDENCE as u32,
        notice: NOTICE.into(),
        reminder: REMINDER.into(),
    }
}

/// A refusal naming the field (`label` as the form shows it) and the rule.
fn field_error(field: &str, code: &str, message: String) -> ApiError {
    let label = message.split('：').next().unwrap_or_default().to_string();
    ApiError::invalid(vec![gradflow_engine::form::FieldError {
        field: field.into(),
        label,
        code: code.into(),
        message,
    }])
}

/// Files a graduate's report against their school, to their school's province.
pub async fn file(state: &AppState, c: &Caller, r: NewReport) -> ApiResult<ReportReceipt> {
    let graduate_id = match (c.role, c.actor.graduate_id) {
        (AccountRole::Graduate, Some(id)) => id,
        _ => return Err(ApiError::forbidden("只有毕业生本人可以举报")),
    };
    let snap = state.registry.snapshot();
    if snap.code_lookup().label(CATEGORIES, &r.category).is_none() {
        return Err(field_error(
            "category",
            "invalid_code",
            "我要举报学校存在的以下问题：请选择列出的问题之一".into(),
        ));
    }
    let content = r.content.trim().to_string();
    if content.is_empty() {
        return Err(field_error(
            "content",
            "required",
            "举报内容：请具体说明学校违规行为".into(),
        ));
    }
    if content.chars().count() > MAX_CONTENT {
        return Err(field_error(
            "content",
            "too_long",
            format!("举报内容：不能超过{MAX_CONTENT}个字"),
        ));
    }
    let mut ids = r.evidence.clone();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(field_error(
            "evidence",
            "required",
            "证明材料上传：请上传证明材料".into(),
        ));
    }
    if ids.len() > MAX_EVIDENCE {
        return Err(field_error(
            "evidence",
            "too_many",
            format!("证明材料上传：最多上传{MAX_EVIDENCE}个文件"),
        ));
    }
    let g = crate::services::roster::own_graduate(state, graduate_id).await?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let ups = upload::Entity::find()
        .filter(upload::Column::Id.is_in(ids.clone()))
        .filter(upload::Column::AccountId.eq(c.account_id))
        .filter(upload::Column::InstanceId.is_null())
        .all(&txn)
        .await?;
    if ups.len() != ids.len() {
        return Err(field_error(
            "evidence",
            "unknown_upload",
            "证明材料上传：文件不存在或已被使用，请重新上传".into(),
        ));
    }
    if let Some(u) = ups
        .iter()
        .find(|u| !EVIDENCE_TYPES.contains(&u.content_type.as_str()))
    {
        return Err(field_error(
            "evidence",
            "unsupported_upload",
            format!(
                "证明材料上传：支持文件类型为图片（png、jpg）、录音（mp3）、视频（mp4）、压缩文件（zip），不支持 {}",
                u.content_type
            ),
        ));
    }
    let evidence: Vec<Evidence> = ups
        .iter()
        .map(|u| Evidence {
            path: u.path.clone(),
            content_type: u.content_type.clone(),
            size: u.size,
            sha256: u.sha256.clone(),
        })
        .collect();
    report::ActiveModel {
        province_code: Set(g.province_code.clone()),
        school_id: Set(g.school_id),
        category: Set(r.category.clone()),
        content: Set(content),
        evidence: Set(serde_json::to_string(&evidence).map_err(ApiError::internal)?),
        created_at: Set(now),
        handled_at: Set(None),
        handled_by: Set(None),
        handling_note: Set(None),
        row_version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    // The uploads' rows name the uploader: the report keeps the files, not the rows.
    upload::Entity::delete_many()
        .filter(upload::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(ReportReceipt {
        submitted: true,
        message: "举报信息已提交，将提供给相关部门进行处理，个人信息将被严格保密".into(),
    })
}

/// Refuses everyone but the province (its own reports) and the administrator.
fn province_only(c: &Caller) -> ApiResult<()> {
    match c.role {
        AccountRole::Province | AccountRole::Admin => Ok(()),
        _ => Err(ApiError::forbidden(
            "举报信息仅提供给学校的上级主管部门（省级），学校和院系用户无权查看",
        )),
    }
}

fn in_scope(c: &Caller) -> sea_orm::Select<report::Entity> {
    let q = report::Entity::find();
    match (c.role, c.actor.province.as_deref()) {
        (AccountRole::Admin, _) => q,
        (_, Some(p)) => q.filter(report::Column::ProvinceCode.eq(p.to_string())),
        // A province account always names its province; anything else sees nothing.
        _ => q.filter(report::Column::Id.eq(-1)),
    }
}

fn view(state: &AppState, r: report::Model, s: Option<&school::Model>) -> ApiResult<ReportView> {
    let evidence: Vec<Evidence> = serde_json::from_str(&r.evidence).map_err(ApiError::internal)?;
    let snap = state.registry.snapshot();
    Ok(ReportView {
        id: r.id,
        school: ReportedSchool {
            id: r.school_id,
            code: s.map(|s| s.code.clone()).unwrap_or_default(),
            name: s.map(|s| s.name.clone()).unwrap_or_default(),
        },
        category_label: snap
            .code_lookup()
            .label(CATEGORIES, &r.category)
            .unwrap_or_else(|| r.category.clone()),
        category: r.category,
        content: r.content,
        evidence: evidence
            .iter()
            .enumerate()
            .map(|(i, e)| EvidenceView {
                n: i as u32 + 1,
                content_type: e.content_type.clone(),
                size: e.size,
            })
            .collect(),
        created_at: r.created_at,
        status: if r.handled_at.is_some() {
            "已处理"
        } else {
            "未处理"
        }
        .into(),
        handled_at: r.handled_at,
        handling_note: r.handling_note,
        row_version: r.row_version,
    })
}

/// The province's reports, newest first; `handled` filters 已处理 / 未处理, `school_id` one school.
pub async fn list(
    state: &AppState,
    c: &Caller,
    handled: Option<bool>,
    school_id: Option<i64>,
    page: Option<u64>,
    size: Option<u64>,
) -> ApiResult<ReportPage> {
    province_only(c)?;
    let mut q = in_scope(c);
    match handled {
        Some(true) => q = q.filter(report::Column::HandledAt.is_not_null()),
        Some(false) => q = q.filter(report::Column::HandledAt.is_null()),
        None => {}
    }
    if let Some(s) = school_id {
        q = q.filter(report::Column::SchoolId.eq(s));
    }
    let p = paged(
        &state.db.conn,
        q.order_by_desc(report::Column::Id),
        page,
        size,
        &PAGE_SIZE,
    )
    .await?;
    let ids: Vec<i64> = p.rows.iter().map(|r| r.school_id).collect();
    let schools: std::collections::HashMap<i64, school::Model> = school::Entity::find()
        .filter(school::Column::Id.is_in(ids))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let items = p
        .rows
        .into_iter()
        .map(|r| {
            let s = schools.get(&r.school_id);
            view(state, r, s)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(ReportPage {
        total: p.total,
        page: p.page,
        page_size: p.size,
        items,
    })
}

async fn one(state: &AppState, c: &Caller, id: i64) -> ApiResult<report::Model> {
    province_only(c)?;
    in_scope(c)
        .filter(report::Column::Id.eq(id))
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("举报不存在"))
}

/// Evidence file `n` (from 1) of report `id`: its content type and bytes.
pub async fn evidence(
    state: &AppState,
    c: &Caller,
    id: i64,
    n: i64,
) -> ApiResult<(String, Vec<u8>)> {
    let r = one(state, c, id).await?;
    let files: Vec<Evidence> = serde_json::from_str(&r.evidence).map_err(ApiError::internal)?;
    let e = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| files.get(i))
        .ok_or_else(|| ApiError::not_found("证明材料不存在"))?;
    let bytes = tokio::fs::read(state.config.data_dir.join(&e.path))
        .await
        .map_err(ApiError::internal)?;
    Ok((e.content_type.clone(), bytes))
}

/// Marks report `id` handled with `note`, once: a report handled meanwhile, or changed since
/// `expected_version`, answers 409. Audited as `report.handle`.
pub async fn handle(
    state: &AppState,
    c: &Caller,
    id: i64,
    note: String,
    expected_version: i32,
) -> ApiResult<ReportView> {
    let r = one(state, c, id).await?;
    let note = note.trim().to_string();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(field_error(
            "note",
            "invalid_length",
            "处理意见：必填，不超过500个字".into(),
        ));
    }
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let done = report::Entity::update_many()
        .col_expr(report::Column::HandledAt, Expr::value(Some(now)))
        .col_expr(report::Column::HandledBy, Expr::value(Some(c.account_id)))
        .col_expr(
            report::Column::HandlingNote,
            Expr::value(Some(note.clone())),
        )
        .col_expr(
            report::Column::RowVersion,
            Expr::col(report::Column::RowVersion).add(1),
        )
        .filter(report::Column::Id.eq(r.id))
        .filter(report::Column::RowVersion.eq(expected_version))
        .filter(report::Column::HandledAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ApiError::conflict(
            "conflict",
            "该举报已被处理或已发生变化，请刷新后重试",
        ));
    }
    audit::commit(
        txn,
        c,
        now,
        "report.handle",
        ("report", r.id.to_string()),
        json!({"note": note}),
    )
    .await?;
    let fresh = one(state, c, id).await?;
    let s = school::Entity::find_by_id(fresh.school_id)
        .one(&state.db.conn)
        .await?;
    view(state, fresh, s.as_ref())
}
