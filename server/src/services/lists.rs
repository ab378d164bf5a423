//! The reads behind the instance lists and views: the management lists' query (scope, school,
//! status, initiator, type and graduate filters) paged or exported, the generic instance list
//! in a caller's scope, the lookups an instance view needs (each province's agreement type,
//! the schools' names, the employers' warning marks) and an instance's history.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};

use crate::auth::{AccountRole, Caller};
use crate::entity::{graduate, history, instance, province, school};
use crate::error::{ApiError, ApiResult};
use crate::paging::{page_of, paged, Paged, Paging, Sort};
use crate::service::AppState;

/// The filters of a management list, as query parameters.
#[derive(Default)]
pub struct Filter {
    /// 院校: only this school's items (within the caller's scope: another school's id, for a
    /// school or department user, matches nothing).
    pub school_id: Option<i64>,
    pub initiator: Option<String>,
    /// The item types selected (codes of the list's `list_type`), already resolved from the
    /// `type` and `category` parameters; `None`: every type (`Some` of none matches nothing).
    pub types: Option<Vec<String>>,
    pub department: Option<String>,
    /// major, education level, candidate number, name, ID number (see [`GRADUATE_FILTERS`]).
    pub graduate: [Option<String>; 5],
}

impl Filter {
    pub fn new(
        initiator: Option<String>,
        department: Option<String>,
        major: Option<String>,
        education_level: Option<String>,
        candidate_no: Option<String>,
        name: Option<String>,
        id_number: Option<String>,
    ) -> Filter {
        Filter {
            school_id: None,
            initiator,
            types: None,
            department,
            graduate: [major, education_level, candidate_no, name, id_number],
        }
    }
}

/// The graduate columns the list filters by, in the order of [`Filter::graduate`].
const GRADUATE_FILTERS: [graduate::Column; 5] = [
    graduate::Column::Major,
    graduate::Column::EducationLevel,
    graduate::Column::CandidateNo,
    graduate::Column::Name,
    graduate::Column::IdNumber,
];

/// The keys a management list (and its export) sorts by: last change (the default, newest
/// first), creation, department.
pub const LIST_SORT: [&str; 3] = ["updated_at", "created_at", "department"];

/// The list's rows in the caller's scope, filtered, in the order `sort` asks (ties by id).
fn list_query(
    c: &Caller,
    list: &str,
    labels: &[String],
    f: &Filter,
    sort: Sort,
) -> ApiResult<Select<instance::Entity>> {
    let a = &c.actor;
    let mut q = instance::Entity::find().filter(instance::Column::List.eq(list.to_string()));
    q = match c.role {
        AccountRole::Admin => q,
        AccountRole::Province => q.filter(instance::Column::ProvinceCode.eq(a.province.clone())),
        AccountRole::School => q.filter(instance::Column::SchoolId.eq(a.school_id)),
        _ => q
            .filter(instance::Column::SchoolId.eq(a.school_id))
            .filter(instance::Column::Department.eq(a.department.clone())),
    };
    // Kept with the scope's filter above: it narrows, never widens.
    if let Some(s) = f.school_id {
        q = q.filter(instance::Column::SchoolId.eq(s));
    }
    if !labels.is_empty() {
        q = q.filter(instance::Column::Label.is_in(labels.to_vec()));
    }
    match f.initiator.as_deref() {
        None | Some("") => {}
        Some("单位") | Some("employer") => {
            q = q.filter(instance::Column::InitiatorRole.eq("employer"))
        }
        Some("学生") | Some("graduate") => {
            q = q.filter(instance::Column::InitiatorRole.eq("graduate"))
        }
        Some(other) => {
            return Err(ApiError::unprocessable(
                "invalid_initiator",
                format!("initiator：签约发起方只能是“单位”或“学生”，而不是“{other}”"),
            ))
        }
    }
    if let Some(types) = &f.types {
        q = q.filter(instance::Column::TypeCode.is_in(types.clone()));
    }
    if let Some(d) = f.department.as_ref().filter(|d| !d.is_empty()) {
        q = q.filter(instance::Column::Department.eq(d.clone()));
    }
    let mut cond = Condition::all();
    let mut by_graduate = false;
    for (col, v) in GRADUATE_FILTERS.into_iter().zip(&f.graduate) {
        if let Some(v) = v.as_ref().filter(|v| !v.trim().is_empty()) {
            cond = cond.add(col.eq(v.trim().to_string()));
            by_graduate = true;
        }
    }
    if by_graduate {
        let mut sub = graduate::Entity::find()
            .select_only()
            .column(graduate::Column::Id)
            .filter(cond);
        if let Some(s) = a.school_id.filter(|_| c.role != AccountRole::Admin) {
            sub = sub.filter(graduate::Column::SchoolId.eq(s));
        }
        q = q.filter(instance::Column::GraduateId.in_subquery(sub.into_query()));
    }
    let o = sort.order();
    q = match sort.key {
        "department" => q
            .order_by(instance::Column::Department, o.clone())
            .order_by(instance::Column::UpdatedAt, o.clone()),
        "created_at" => q,
        _ => q.order_by(instance::Column::UpdatedAt, o.clone()),
    };
    Ok(q.order_by(instance::Column::Id, o))
}

/// One page of a management list (the items with one of `labels`, or every status when
/// empty) in the caller's scope, newest change first.
#[allow(clippy::too_many_arguments)]
pub async fn management_list_page(
    state: &AppState,
    c: &Caller,
    list: &str,
    labels: &[String],
    f: &Filter,
    sort: Sort,
    page: Option<u64>,
    page_size: Option<u64>,
    paging: &Paging,
) -> ApiResult<Paged<instance::Model>> {
    let q = list_query(c, list, labels, f, sort)?;
    match counted_total(state, c, list, labels, f).await? {
        Some(total) => page_of(&state.db.conn, q, total, page, page_size, paging).await,
        None => paged(&state.db.conn, q, page, page_size, paging).await,
    }
}

/// A list's total from the statistics' counters (`stat_counts`, which count each instance
/// under its list and status label, `store::counters`), when the filter is one they count by:
/// a school's or a province's list, by school, statuses and types. At province scale this sums
/// a few hundred counters where counting the rows read up to 300,000 index entries. `None`:
/// the rows are counted (a department's list, the initiator and graduate filters).
async fn counted_total(
    state: &AppState,
    c: &Caller,
    list: &str,
    labels: &[String],
    f: &Filter,
) -> ApiResult<Option<u64>> {
    use sea_orm::{ConnectionTrait, Value};
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    if given(&f.initiator) || given(&f.department) || f.graduate.iter().any(given) {
        return Ok(None);
    }
    let a = &c.actor;
    let mut sql = String::from("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM stat_counts ");
    let mut values: Vec<Value> = Vec::new();
    match c.role {
        AccountRole::Province => {
            sql.push_str("WHERE province_code = ?");
            values.push(a.province.clone().unwrap_or_default().into());
        }
        AccountRole::School => {
            sql.push_str("WHERE school_id = ?");
            values.push(a.school_id.unwrap_or(-1).into());
        }
        _ => return Ok(None),
    }
    sql.push_str(" AND grain = 0 AND list = ?");
    values.push(list.into());
    if let Some(s) = f.school_id {
        sql.push_str(" AND school_id = ?");
        values.push(s.into());
    }
    let mut within = |col: &str, of: &[String]| {
        sql.push_str(&format!(
            " AND {col} IN ({})",
            vec!["?"; of.len()].join(", ")
        ));
        values.extend(of.iter().map(|v| Value::from(v.clone())));
    };
    if !labels.is_empty() {
        within("label", labels);
    }
    match &f.types {
        Some(types) if types.is_empty() => return Ok(Some(0)),
        Some(types) => within("type_code", types),
        None => {}
    }
    let db = &state.db;
    let row = db.conn.query_one(db.stmt(&sql, values)).await?;
    let n = match row {
        Some(r) => r.try_get::<i64>("", "n")?,
        None => 0,
    };
    Ok(Some(n.max(0) as u64))
}

/// The whole query of a management list (no paging) as an XLSX file titled `title`; a
/// province's has the 院校 column (its list spans its schools).
#[allow(clippy::too_many_arguments)]
pub async fn export_management_list(
    state: &AppState,
    c: &Caller,
    list: &str,
    labels: &[String],
    f: &Filter,
    sort: Sort,
    title: &str,
    types: Option<&crate::export::Types>,
) -> ApiResult<tokio::fs::File> {
    let q = list_query(c, list, labels, f, sort)?;
    let with_school = c.role == AccountRole::Province;
    crate::export::instances_xlsx(state, title, q, types, with_school).await
}

/// Whose instances a caller of the generic instance list sees.
pub enum InstanceScope {
    /// Every instance (the administrator).
    All,
    /// A province's.
    Province(Option<String>),
    /// A school's.
    School(Option<i64>),
    /// A department's of a school.
    Department(Option<i64>, Option<String>),
    /// A graduate's own.
    Graduate(Option<i64>),
    /// An employer's own.
    Employer(Option<i64>),
}

/// One page of the instances in `scope`, optionally of one flow and in one state, newest
/// first.
#[allow(clippy::too_many_arguments)]
pub async fn instances_page(
    state: &AppState,
    scope: InstanceScope,
    flow: Option<String>,
    state_name: Option<String>,
    sort: Sort,
    page: Option<u64>,
    page_size: Option<u64>,
    paging: &Paging,
) -> ApiResult<Paged<instance::Model>> {
    let mut q = instance::Entity::find();
    q = match scope {
        InstanceScope::All => q,
        InstanceScope::Province(p) => q.filter(instance::Column::ProvinceCode.eq(p)),
        InstanceScope::School(s) => q.filter(instance::Column::SchoolId.eq(s)),
        InstanceScope::Department(s, d) => q
            .filter(instance::Column::SchoolId.eq(s))
            .filter(instance::Column::Department.eq(d)),
        InstanceScope::Graduate(g) => q.filter(instance::Column::GraduateId.eq(g)),
        InstanceScope::Employer(e) => q.filter(instance::Column::EmployerId.eq(e)),
    };
    if let Some(f) = flow {
        q = q.filter(instance::Column::DefKey.eq(f));
    }
    if let Some(s) = state_name {
        q = q.filter(instance::Column::State.eq(s));
    }
    // Ids grow with creation: `created_at` orders by id (the scope indexes end in it).
    if sort.key == "updated_at" {
        q = q.order_by(instance::Column::UpdatedAt, sort.order());
    }
    paged(
        &state.db.conn,
        q.order_by(instance::Column::Id, sort.order()),
        page,
        page_size,
        paging,
    )
    .await
}

/// What views of several instances look up: the agreement type of each province (two-party
/// ⇒ 鉴证 labels), the names of their schools and the active warning marks of their employers.
pub struct ViewLookups {
    /// Province code → agreement type.
    pub agreement_types: HashMap<String, Option<String>>,
    /// School id → name (院校).
    pub school_names: HashMap<i64, String>,
    /// Employer → (school → reason), as [`crate::warnings::active_marks`] answers.
    pub marks: HashMap<i64, BTreeMap<i64, String>>,
}

/// The agreement type (two-party ⇒ 鉴证 labels) of each province, in one query.
async fn agreement_types(
    state: &AppState,
    rows: &[instance::Model],
) -> ApiResult<HashMap<String, Option<String>>> {
    let db = &state.db;
    let mut codes: Vec<String> = rows.iter().map(|r| r.province_code.clone()).collect();
    codes.sort();
    codes.dedup();
    // Provinces in process where current (`db::cache`), the others in one query.
    let provinces = db
        .rows
        .provinces
        .get_many(db, codes, |missing| async move {
            let found = province::Entity::find()
                .filter(province::Column::Code.is_in(missing))
                .all(&db.conn)
                .await?;
            Ok::<_, sea_orm::DbErr>(found.into_iter().map(|p| (p.code.clone(), p)).collect())
        })
        .await?;
    Ok(provinces
        .into_iter()
        .map(|(code, p)| (code, p.agreement_type))
        .collect())
}

/// The names of some schools, in one query (schools in process where current, `db::cache`).
pub async fn school_names(state: &AppState, ids: &[i64]) -> ApiResult<HashMap<i64, String>> {
    let db = &state.db;
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let schools = db
        .rows
        .schools
        .get_many(db, ids, |missing| async move {
            let found = school::Entity::find()
                .filter(school::Column::Id.is_in(missing))
                .all(&db.conn)
                .await?;
            Ok::<_, sea_orm::DbErr>(found.into_iter().map(|s| (s.id, s)).collect())
        })
        .await?;
    Ok(schools.into_iter().map(|(id, s)| (id, s.name)).collect())
}

/// The provinces' agreement types, the schools' names and the employers' warning marks of
/// some instances (one query each).
pub async fn instance_view_lookups(
    state: &AppState,
    rows: &[instance::Model],
) -> ApiResult<ViewLookups> {
    let agreement_types = agreement_types(state, rows).await?;
    let school_ids: Vec<i64> = rows.iter().map(|r| r.school_id).collect();
    let school_names = school_names(state, &school_ids).await?;
    let employer_ids: Vec<i64> = rows.iter().filter_map(|r| r.employer_id).collect();
    let marks = crate::warnings::active_marks(state, &employer_ids).await?;
    Ok(ViewLookups {
        agreement_types,
        school_names,
        marks,
    })
}

/// The history rows of an instance, in order.
pub async fn instance_history(
    state: &AppState,
    instance_id: i64,
) -> ApiResult<Vec<history::Model>> {
    Ok(history::Entity::find()
        .filter(history::Column::InstanceId.eq(instance_id))
        .order_by_asc(history::Column::Seq)
        .all(&state.db.conn)
        .await?)
}

/// The status as users read it: the label, with its detail in brackets when there is one.
pub fn status_text(row: &instance::Model) -> String {
    match &row.status_detail {
        Some(d) => format!("{}（{}）", row.label, d),
        None => row.label.clone(),
    }
}
