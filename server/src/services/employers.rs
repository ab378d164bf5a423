//! Employers' storage: registering an employer with its login account (one transaction),
//! searching employers (own organisation, exact look-up, the name index), loading one, the
//! warning marks a viewer is shown, and a school's marking and unmarking of warning employers
//! (each with its audit record in the same transaction).

use std::collections::{BTreeMap, HashMap};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Set,
};
use serde_json::{json, Map, Value};

use gradflow_engine::ident::CreditCode;

use crate::auth::{AccountRole, Caller};
use crate::entity::{account, employer, employer_warning, graduate};
use crate::error::{ApiError, ApiResult};
use crate::paging::{paged, Paged, Paging, Sort};
use crate::service::AppState;
use crate::{audit, employer_index, warnings};

/// What showing employers' warnings to a caller needs: the employers' active marks, the
/// school whose marks the caller is warned about (their own), and whether they see every mark
/// (province users and the administrator).
pub struct WarningContext {
    /// Employer → (school → reason).
    pub marks: HashMap<i64, BTreeMap<i64, String>>,
    pub viewer_school: Option<i64>,
    pub sees_all: bool,
}

/// The school whose marks a caller is warned about (their own), and whether they see every
/// mark (province users and the administrator).
async fn viewer(state: &AppState, c: &Caller) -> ApiResult<(Option<i64>, bool)> {
    Ok(match c.role {
        AccountRole::School | AccountRole::Department => (c.actor.school_id, false),
        AccountRole::Graduate => {
            let school = match c.actor.graduate_id {
                Some(id) => graduate::Entity::find_by_id(id)
                    .one(&state.db.conn)
                    .await?
                    .map(|g| g.school_id),
                None => None,
            };
            (school.or(c.actor.school_id), false)
        }
        AccountRole::Admin | AccountRole::Province => (None, true),
        _ => (None, false),
    })
}

/// The warning marks of some employers and what the caller is shown of them (one query for
/// the marks of all of them).
pub async fn warning_context(
    state: &AppState,
    c: &Caller,
    employer_ids: &[i64],
) -> ApiResult<WarningContext> {
    let marks = warnings::active_marks(state, employer_ids).await?;
    let (viewer_school, sees_all) = viewer(state, c).await?;
    Ok(WarningContext {
        marks,
        viewer_school,
        sees_all,
    })
}

/// Registers an employer from its validated registration form `values` and its login
/// account (`username`, the password's hash), in one transaction; a taken credit code or
/// username is a 409.
pub async fn register_employer(
    state: &AppState,
    values: &Map<String, Value>,
    username: String,
    password_hash: String,
) -> ApiResult<(employer::Model, account::Model)> {
    let s = |k: &str| values.get(k).and_then(Value::as_str).map(str::to_string);
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let e = employer::ActiveModel {
        name: Set(s("name").unwrap_or_default()),
        credit_code: Set(s("credit_code").unwrap_or_default()),
        nature: Set(s("nature")),
        industry: Set(s("industry")),
        region: Set(s("region")),
        address: Set(s("address")),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match crate::db::is_unique_violation(&e) {
        true => ApiError::conflict(
            "credit_code_taken",
            "credit_code：该统一社会信用代码已注册，请使用已有账号登录",
        ),
        _ => ApiError::from(e),
    })?;
    let a = account::ActiveModel {
        username: Set(username),
        display_name: Set(s("contact_name").unwrap_or_else(|| e.name.clone())),
        role: Set("employer".into()),
        password_hash: Set(Some(password_hash)),
        employer_id: Set(Some(e.id)),
        perm_employment: Set("rw".into()),
        perm_archive: Set("none".into()),
        perm_hukou: Set("none".into()),
        active: Set(true),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match crate::db::is_unique_violation(&e) {
        true => ApiError::conflict("username_taken", "username：用户名已存在"),
        _ => ApiError::from(e),
    })?;
    txn.commit().await?;
    Ok((e, a))
}

/// Which employers a search looks among.
pub enum EmployerSearch {
    /// One employer only (an employer's own organisation).
    Own(i64),
    /// An exact look-up: by credit code when the text is one, otherwise by full name.
    Exact(String),
    /// The name (contains) or credit code search of the employer index.
    Text(String),
    /// Every employer, by name.
    All,
}

/// One page of the employers a search finds, in `sort`'s order (keys `name`, `credit_code`,
/// `created_at` — by id, which grows with registration), ties broken by id.
pub async fn search_employers(
    state: &AppState,
    search: EmployerSearch,
    sort: Sort,
    page: Option<u64>,
    page_size: Option<u64>,
    paging: &Paging,
) -> ApiResult<Paged<employer::Model>> {
    let mut query = match search {
        EmployerSearch::Own(id) => employer::Entity::find().filter(employer::Column::Id.eq(id)),
        EmployerSearch::Exact(q) => match CreditCode::parse(&q) {
            Ok(code) => {
                employer::Entity::find().filter(employer::Column::CreditCode.eq(code.as_str()))
            }
            Err(_) => employer::Entity::find().filter(employer::Column::Name.eq(q)),
        },
        EmployerSearch::Text(q) => employer_index::search(&state.db.conn, &q).await?,
        EmployerSearch::All => employer::Entity::find(),
    };
    // The index search comes ordered by name: the order asked for replaces it.
    QueryTrait::query(&mut query).clear_order_by();
    let order = sort.order();
    query = match sort.key {
        "credit_code" => query.order_by(employer::Column::CreditCode, order.clone()),
        "created_at" => query,
        _ => query.order_by(employer::Column::Name, order.clone()),
    };
    let query = query.order_by(employer::Column::Id, order);
    paged(&state.db.conn, query, page, page_size, paging).await
}

/// The employer with this id.
pub async fn find_employer(state: &AppState, id: i64) -> ApiResult<employer::Model> {
    employer::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| ApiError::not_found("用人单位不存在"))
}

/// A school's warning employers: its active marks (newest first), the employers they mark,
/// and every school's active marks of those employers.
pub struct SchoolWarnings {
    pub marks: Vec<employer_warning::Model>,
    pub employers: BTreeMap<i64, employer::Model>,
    /// Employer → (school → reason), over all schools.
    pub all_marks: HashMap<i64, BTreeMap<i64, String>>,
}

/// The active warning marks of a school, with their employers and all schools' marks of them.
pub async fn school_warnings(state: &AppState, school_id: i64) -> ApiResult<SchoolWarnings> {
    let marks = employer_warning::Entity::find()
        .filter(employer_warning::Column::SchoolId.eq(school_id))
        .filter(employer_warning::Column::Active.eq(true))
        .order_by_desc(employer_warning::Column::MarkedAt)
        .all(&state.db.conn)
        .await?;
    let ids: Vec<i64> = marks.iter().map(|m| m.employer_id).collect();
    let employers: BTreeMap<i64, employer::Model> = employer::Entity::find()
        .filter(employer::Column::Id.is_in(ids.clone()))
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let all_marks = warnings::active_marks(state, &ids).await?;
    Ok(SchoolWarnings {
        marks,
        employers,
        all_marks,
    })
}

/// Marks an employer as a warning employer of `school_id` with `reason` (marking again
/// updates the reason), audited as `warning.mark` in the same transaction.
pub async fn mark_warning_employer(
    state: &AppState,
    c: &Caller,
    e: &employer::Model,
    school_id: i64,
    reason: String,
) -> ApiResult<()> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let existing = employer_warning::Entity::find()
        .filter(employer_warning::Column::EmployerId.eq(e.id))
        .filter(employer_warning::Column::SchoolId.eq(school_id))
        .one(&txn)
        .await?;
    let am = employer_warning::ActiveModel {
        employer_id: Set(e.id),
        school_id: Set(school_id),
        reason: Set(reason.clone()),
        active: Set(true),
        marked_by: Set(c.account_id),
        marked_at: Set(now),
        unmark_reason: Set(None),
        unmarked_by: Set(None),
        unmarked_at: Set(None),
        ..Default::default()
    };
    match existing {
        Some(x) => {
            let mut am = am;
            am.id = Set(x.id);
            am.update(&txn).await
        }
        None => am.insert(&txn).await,
    }
    .map_err(|e| match crate::db::is_unique_violation(&e) {
        // Two reviewers of one school marking at the same moment: one wins.
        true => ApiError::conflict("conflict", "该单位刚被本校其他用户标记，请刷新后重试"),
        _ => ApiError::from(e),
    })?;
    audit::commit(
        txn,
        c,
        now,
        "warning.mark",
        ("employer", e.id.to_string()),
        json!({"reason": reason}),
    )
    .await
}

/// Removes `school_id`'s active warning mark of an employer with `reason`, audited as
/// `warning.unmark` in the same transaction; 404 when the school has no such mark.
pub async fn unmark_warning_employer(
    state: &AppState,
    c: &Caller,
    e: &employer::Model,
    school_id: i64,
    reason: String,
) -> ApiResult<()> {
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let mark = employer_warning::Entity::find()
        .filter(employer_warning::Column::EmployerId.eq(e.id))
        .filter(employer_warning::Column::SchoolId.eq(school_id))
        .filter(employer_warning::Column::Active.eq(true))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("本校没有把该单位标记为预警单位"))?;
    let mut am: employer_warning::ActiveModel = mark.into();
    am.active = Set(false);
    am.unmark_reason = Set(Some(reason.clone()));
    am.unmarked_by = Set(Some(c.account_id));
    am.unmarked_at = Set(Some(now));
    am.update(&txn).await?;
    audit::commit(
        txn,
        c,
        now,
        "warning.unmark",
        ("employer", e.id.to_string()),
        json!({"reason": reason}),
    )
    .await
}
