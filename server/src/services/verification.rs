//! 核验授权 (SPEC.md 4.10; seeds 003, 004 8): a graduate who confirmed their registration
//! (确认无误) and passed the real-person identity check authorizes the verification of their
//! archive or hukou data — each separately, only where it is registered — until a day they
//! choose (23:59:59 China time, at most the end of the service period: graduation + 6 months).
//! The authorization carries a verification number (核验编号: 2-digit year, 5-digit school code,
//! 8 random characters of 0-9A-Z) that only the graduate sees.
//!
//! Status: 生效中 while valid; 已过期 past the validity (the timer worker marks it, and every
//! read checks the clock); 未确认 before it is set, after the graduate closed it, and once the
//! data it covers changed. That last rule needs no write: an authorization remembers the
//! confirmation's `row_version` when it was given, and any change of the destination, archive
//! or hukou resets the confirmation (a new step, a new version) — the authorization no longer
//! matches and the graduate confirms and authorizes again.

use chrono::{DateTime, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use gradflow_engine::apply::china_offset;
use gradflow_engine::definition::{Module, RegistrationStatus};
use poem_openapi::Object;
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::{AccountRole, Caller};
use crate::definitions::pinned;
use crate::entity::{graduate, instance, school, verification};
use crate::error::{ApiError, ApiResult};
use crate::service::{self, AppState};
use crate::services::confirmation;

/// The two kinds: (kind, label, module, slot).
pub const KINDS: [(&str, &str, Module, &str); 2] = [
    ("archive", "档案信息核验", Module::Archive, "archive"),
    ("hukou", "户口信息核验", Module::Hukou, "hukou"),
];

/// The notes under the authorizations (seed 004 8).
pub const NOTES: [&str; 2] = [
    "对应模块需要有信息登记才能使用核验功能",
    "查询核验服务时间截止到毕业生的毕业时间加六个月",
];

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// One kind's authorization, for its graduate.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationView {
    /// `archive` or `hukou`.
    pub kind: String,
    /// 档案信息核验 / 户口信息核验.
    pub label: String,
    /// 未确认 / 生效中 / 已过期.
    pub status: String,
    /// `unset`, `active`, `expired`.
    pub status_code: String,
    /// 核验编号 (only in the graduate's own view; 暂未生成 while there is none).
    pub number: Option<String>,
    /// 有效期至.
    pub valid_until: Option<DateTime<Utc>>,
    /// Whether the graduate may set a validity now.
    pub available: bool,
    /// Why not, as a stable code (`identity_not_checked`, `not_confirmed`, `not_registered`).
    pub unavailable_code: Option<String>,
    /// Why not, in Chinese.
    pub unavailable_reason: Option<String>,
}

/// The graduate's verification authorizations.
#[derive(Object, Debug)]
pub struct MyVerifications {
    /// Whether the real-person identity check is done (实人认证).
    pub identity_checked: bool,
    /// The confirmation's status (确认无误 is required).
    pub confirmation_status: String,
    /// The last moment any authorization may reach: graduation + 6 months, 23:59:59 China time.
    pub service_ends_at: DateTime<Utc>,
    /// Archive, then hukou.
    pub items: Vec<VerificationView>,
    /// 1、对应模块需要有信息登记才能使用核验功能；2、查询核验服务时间截止到毕业生的毕业时间加六个月。
    pub notes: Vec<String>,
}

/// 23:59:59 China time of `day`.
pub fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    let t = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default();
    china_offset()
        .from_local_datetime(&day.and_time(t))
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The graduate's graduation day: the roster's 毕业时间, else 30 June of the cohort's year.
pub fn graduation_day(g: &graduate::Model) -> NaiveDate {
    g.graduation_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok())
        .or_else(|| NaiveDate::from_ymd_opt(g.cohort, 6, 30))
        .unwrap_or(NaiveDate::MAX)
}

/// The end of the service period: graduation + 6 months, 23:59:59 China time.
pub fn service_end(g: &graduate::Model) -> DateTime<Utc> {
    let day = graduation_day(g);
    end_of_day(day.checked_add_months(Months::new(6)).unwrap_or(day))
}

/// What an authorization row is now, given the graduate's confirmation: `None` when it no
/// longer counts (closed, or the data changed since), else `active` or `expired`.
pub fn effective(
    v: &verification::Model,
    conf: Option<&instance::Model>,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    let current = conf.is_some_and(|c| {
        c.id == v.instance_id && c.state == "correct" && c.row_version == v.confirmation_version
    });
    match v.status.as_str() {
        "closed" | "void" => None,
        _ if !current => None,
        "expired" => Some("expired"),
        _ if v.valid_until < now => Some("expired"),
        _ => Some("active"),
    }
}

fn status_label(code: &str) -> &'static str {
    match code {
        "active" => "生效中",
        "expired" => "已过期",
        _ => "未确认",
    }
}

/// The latest authorization of each kind of the graduate.
async fn latest(state: &AppState, graduate_id: i64) -> ApiResult<Vec<verification::Model>> {
    let rows = verification::Entity::find()
        .filter(verification::Column::GraduateId.eq(graduate_id))
        .order_by_desc(verification::Column::Id)
        .all(&state.db.conn)
        .await?;
    let mut out: Vec<verification::Model> = Vec::new();
    for r in rows {
        if !out.iter().any(|o| o.kind == r.kind) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Whether the graduate's data of `slot` is registered (已登记).
async fn registered(state: &AppState, slot: &str, graduate_id: i64) -> ApiResult<bool> {
    let Some(h) = service::slot_holder(state, slot, graduate_id).await? else {
        return Ok(false);
    };
    let snap = state.registry.snapshot();
    let def = &pinned(&snap, &h)?.def;
    Ok(def.state(&h.state).and_then(|s| s.registration) == Some(RegistrationStatus::Registered))
}

/// Why the graduate may not authorize `slot`'s data now, if they may not.
async fn blocked(
    state: &AppState,
    g: &graduate::Model,
    conf: Option<&instance::Model>,
    slot: &str,
) -> ApiResult<Option<(&'static str, &'static str)>> {
    if !registered(state, slot, g.id).await? {
        return Ok(Some((
            "not_registered",
            "对应模块需要有信息登记才能使用核验功能",
        )));
    }
    if conf.is_none_or(|c| c.state != "correct") {
        return Ok(Some((
            "not_confirmed",
            "请先完成去向登记确认（信息无误，确认登记去向）后再设置核验有效期",
        )));
    }
    if g.identity_checked_at.is_none() {
        return Ok(Some((
            "identity_not_checked",
            "请先完成实人认证后再设置核验有效期",
        )));
    }
    Ok(None)
}

fn graduate_of_caller(c: &Caller) -> ApiResult<i64> {
    match (c.role, c.actor.graduate_id) {
        (AccountRole::Graduate, Some(id)) => Ok(id),
        _ => Err(ApiError::forbidden("只有毕业生本人可以设置核验授权")),
    }
}

/// The graduate's own authorizations, with their numbers.
pub async fn mine(state: &AppState, c: &Caller) -> ApiResult<MyVerifications> {
    let id = graduate_of_caller(c)?;
    let g = crate::services::roster::own_graduate(state, id).await?;
    let conf = service::slot_holder(state, confirmation::SLOT, g.id).await?;
    let now = state.clock.now();
    let rows = latest(state, g.id).await?;
    let mut items = Vec::new();
    for (kind, label, _, slot) in KINDS {
        let row = rows.iter().find(|r| r.kind == kind);
        let code = row
            .and_then(|r| effective(r, conf.as_ref(), now))
            .unwrap_or("unset");
        let why = blocked(state, &g, conf.as_ref(), slot).await?;
        let counted = row.filter(|_| code != "unset");
        items.push(VerificationView {
            kind: kind.into(),
            label: label.into(),
            status: status_label(code).into(),
            status_code: code.into(),
            number: counted.map(|r| r.number.clone()),
            valid_until: counted.map(|r| r.valid_until),
            available: why.is_none(),
            unavailable_code: why.map(|w| w.0.to_string()),
            unavailable_reason: why.map(|w| w.1.to_string()),
        });
    }
    Ok(MyVerifications {
        identity_checked: g.identity_checked_at.is_some(),
        confirmation_status: confirmation::status_label(match conf.as_ref() {
            Some(c) => c.state.as_str(),
            None => "unreported",
        })
        .to_string(),
        service_ends_at: service_end(&g),
        items,
        notes: NOTES.iter().map(|n| n.to_string()).collect(),
    })
}

fn kind_of(kind: &str) -> ApiResult<(&'static str, Module, &'static str)> {
    KINDS
        .iter()
        .find(|k| k.0 == kind)
        .map(|k| (k.0, k.2, k.3))
        .ok_or_else(|| ApiError::not_found("核验类型只能是 archive（档案）或 hukou（户口）"))
}

/// A fresh number of a graduate of `cohort` at the school of `school_code`: the cohort's two
/// last digits, the 5-digit school code and 8 random characters of 0-9A-Z (the shape of the
/// guides' verification numbers; transfer numbers take it too).
pub fn new_number(cohort: i32, school_code: &str) -> String {
    let mut rng = rand::thread_rng();
    let tail: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    let code: String = school_code.chars().filter(char::is_ascii_digit).collect();
    format!("{:02}{:0>5}{tail}", cohort.rem_euclid(100), code)
}

/// Sets the validity of the graduate's `kind` authorization to the end of `day` (China time):
/// a new verification number when none is in force, else the same number with the new day.
pub async fn authorize(
    state: &AppState,
    c: &Caller,
    kind: &str,
    day: &str,
) -> ApiResult<MyVerifications> {
    let (kind, _, slot) = kind_of(kind)?;
    let id = graduate_of_caller(c)?;
    let g = crate::services::roster::own_graduate(state, id).await?;
    let conf = service::slot_holder(state, confirmation::SLOT, g.id).await?;
    if let Some((code, why)) = blocked(state, &g, conf.as_ref(), slot).await? {
        return Err(ApiError::conflict(code, why));
    }
    let Some(conf) = conf else {
        return Err(ApiError::internal("confirmation vanished"));
    };
    let invalid = |m: String| {
        ApiError::invalid(vec![gradflow_engine::form::FieldError {
            field: "valid_until".into(),
            label: "有效期至".into(),
            code: "invalid_validity".into(),
            message: m,
        }])
    };
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| invalid("有效期至：请选择日期（格式 YYYY-MM-DD）".into()))?;
    let until = end_of_day(date);
    let now = state.clock.now();
    let cap = service_end(&g);
    if until < now {
        return Err(invalid("有效期至：不能早于今天".into()));
    }
    if until > cap {
        return Err(invalid(format!(
            "有效期至：不能晚于核验服务截止日期 {}（毕业时间加六个月）",
            cap.with_timezone(&china_offset()).format("%Y-%m-%d")
        )));
    }
    let s = school::Entity::find_by_id(g.school_id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::internal("school of graduate missing"))?;
    let current = latest(state, g.id)
        .await?
        .into_iter()
        .find(|r| r.kind == kind && effective(r, Some(&conf), now) == Some("active"));
    match current {
        Some(r) => {
            let txn = state.db.begin_write().await?;
            let mut am: verification::ActiveModel = r.into();
            am.valid_until = Set(until);
            am.update(&txn).await?;
            txn.commit().await?;
        }
        None => {
            // A number already taken (1 in 36^8 per pair) is drawn again.
            let mut attempt = 0;
            loop {
                let am = verification::ActiveModel {
                    graduate_id: Set(g.id),
                    school_id: Set(g.school_id),
                    province_code: Set(g.province_code.clone()),
                    kind: Set(kind.into()),
                    number: Set(new_number(g.cohort, &s.code)),
                    valid_until: Set(until),
                    status: Set("active".into()),
                    instance_id: Set(conf.id),
                    confirmation_version: Set(conf.row_version),
                    created_at: Set(now),
                    ended_at: Set(None),
                    ..Default::default()
                };
                let txn = state.db.begin_write().await?;
                // An older authorization of the kind ends here (only the latest counts).
                verification::Entity::update_many()
                    .col_expr(verification::Column::Status, Expr::value("void"))
                    .col_expr(verification::Column::EndedAt, Expr::value(Some(now)))
                    .filter(verification::Column::GraduateId.eq(g.id))
                    .filter(verification::Column::Kind.eq(kind))
                    .filter(verification::Column::Status.eq("active"))
                    .exec(&txn)
                    .await?;
                match am.insert(&txn).await {
                    Ok(_) => {
                        txn.commit().await?;
                        break;
                    }
                    Err(e) if crate::db::is_unique_violation(&e) && attempt < 3 => attempt += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    mine(state, c).await
}

/// The graduate closes their `kind` authorization in force (409 when none is).
pub async fn close(state: &AppState, c: &Caller, kind: &str) -> ApiResult<MyVerifications> {
    let (kind, _, _) = kind_of(kind)?;
    let id = graduate_of_caller(c)?;
    let conf = service::slot_holder(state, confirmation::SLOT, id).await?;
    let now = state.clock.now();
    let current = latest(state, id)
        .await?
        .into_iter()
        .find(|r| r.kind == kind && effective(r, conf.as_ref(), now) == Some("active"))
        .ok_or_else(|| ApiError::conflict("not_active", "没有生效中的核验授权可以关闭"))?;
    let txn = state.db.begin_write().await?;
    let done = verification::Entity::update_many()
        .col_expr(verification::Column::Status, Expr::value("closed"))
        .col_expr(verification::Column::EndedAt, Expr::value(Some(now)))
        .filter(verification::Column::Id.eq(current.id))
        .filter(verification::Column::Status.eq("active"))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ApiError::stale());
    }
    txn.commit().await?;
    mine(state, c).await
}

/// Marks every authorization past its validity 已过期 (the timer worker's sweep); how many.
pub async fn expire_due(state: &AppState) -> ApiResult<u64> {
    let now = state.clock.now();
    // Read first (the index on status and validity): the writer is taken only when due.
    let due = verification::Entity::find()
        .filter(verification::Column::Status.eq("active"))
        .filter(verification::Column::ValidUntil.lt(now))
        .one(&state.db.conn)
        .await?;
    if due.is_none() {
        return Ok(0);
    }
    let txn = state.db.begin_write().await?;
    let done = verification::Entity::update_many()
        .col_expr(verification::Column::Status, Expr::value("expired"))
        .col_expr(verification::Column::EndedAt, Expr::value(Some(now)))
        .filter(verification::Column::Status.eq("active"))
        .filter(verification::Column::ValidUntil.lt(now))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}

/// The identity provider records the graduate's real-person identity check (实人认证).
pub async fn identity_checked(
    state: &AppState,
    c: &Caller,
    candidate_no: &str,
) -> ApiResult<DateTime<Utc>> {
    crate::scope::require_identity_key(c)?;
    let g = crate::services::roster::graduate_covered_by(
        state,
        c,
        candidate_no.trim(),
        crate::scope::covers_school,
    )
    .await?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    graduate::Entity::update_many()
        .col_expr(graduate::Column::IdentityCheckedAt, Expr::value(Some(now)))
        .filter(graduate::Column::Id.eq(g.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(now)
}

/// One graduate's authorization in the school's verification list (档案/户口信息核验列表):
/// the state and validity, never the number.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct VerificationRow {
    pub graduate_id: i64,
    pub candidate_no: String,
    pub name: String,
    pub department: String,
    /// 生效中 / 已过期 / 未确认 (closed, or voided by a change).
    pub status: String,
    pub valid_until: Option<DateTime<Utc>>,
    /// When the graduate authorized.
    pub authorized_at: DateTime<Utc>,
}

/// A page of the verification list.
#[derive(Object, Debug)]
pub struct VerificationPage {
    pub kind: String,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub items: Vec<VerificationRow>,
}

/// 档案/户口信息核验列表: the latest authorization of each graduate in the caller's scope
/// (school or department users of the kind's module), newest first — without numbers.
pub async fn school_list(
    state: &AppState,
    c: &Caller,
    kind: &str,
    page: Option<u64>,
    size: Option<u64>,
) -> ApiResult<VerificationPage> {
    let (kind, module, _) = kind_of(kind)?;
    crate::services::transfer::staff(c, module, false)?;
    let mut graduates = sea_orm::sea_query::Query::select()
        .column(graduate::Column::Id)
        .from(graduate::Entity)
        .and_where(graduate::Column::SchoolId.eq(c.actor.school_id.unwrap_or(-1)))
        .to_owned();
    if c.role == AccountRole::Department {
        graduates.and_where(graduate::Column::Department.eq(c.actor.department.clone()));
    }
    // The latest row per graduate: no later row of the same graduate and kind.
    let q = verification::Entity::find()
        .filter(verification::Column::SchoolId.eq(c.actor.school_id.unwrap_or(-1)))
        .filter(verification::Column::Kind.eq(kind))
        .filter(verification::Column::GraduateId.in_subquery(graduates))
        .filter(
            verification::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .expr(verification::Column::Id.max())
                    .from(verification::Entity)
                    .and_where(verification::Column::Kind.eq(kind))
                    .and_where(verification::Column::SchoolId.eq(c.actor.school_id.unwrap_or(-1)))
                    .group_by_col(verification::Column::GraduateId)
                    .to_owned(),
            ),
        )
        .order_by_desc(verification::Column::Id);
    let p = crate::paging::paged(&state.db.conn, q, page, size, &crate::paging::PAGE_SIZE).await?;
    let now = state.clock.now();
    let mut items = Vec::new();
    for v in p.rows {
        let Some(g) = graduate::Entity::find_by_id(v.graduate_id)
            .one(&state.db.conn)
            .await?
        else {
            continue;
        };
        let conf = service::slot_holder(state, confirmation::SLOT, g.id).await?;
        let code = effective(&v, conf.as_ref(), now).unwrap_or("unset");
        items.push(VerificationRow {
            graduate_id: g.id,
            candidate_no: g.candidate_no,
            name: g.name,
            department: g.department,
            status: status_label(code).into(),
            valid_until: (code != "unset").then_some(v.valid_until),
            authorized_at: v.created_at,
        });
    }
    Ok(VerificationPage {
        kind: kind.into(),
        total: p.total,
        page: p.page,
        page_size: p.size,
        items,
    })
}
