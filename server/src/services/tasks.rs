//! The task inbox's queries: one page of the caller's open tasks with their instances and
//! graduates, and the counts per flow and state. The handler builds the scope and filters
//! (`WHERE` text with `?` placeholders and their values); these run them on the read pool.

use sea_orm::{ConnectionTrait, QueryResult, Value};

use crate::auth::{AccountRole, Caller, Level};

use crate::error::{ApiError, ApiResult};
use crate::paging::Sort;
use crate::service::AppState;

/// The keys the inbox sorts by: when the task opened (the default, oldest first), the
/// graduate's name, the department.
pub const INBOX_SORT: [&str; 3] = ["opened_at", "name", "department"];

/// The WHERE clause limiting tasks to those the caller must act on: the caller's own tasks in
/// their scope, without the flows of modules the caller may not enter (无权限).
pub fn task_scope(state: &AppState, c: &Caller) -> ApiResult<(String, Vec<Value>)> {
    let (mut sql, mut values) = own_tasks(c)?;
    let snap = state.registry.snapshot();
    let mut hidden: Vec<String> = snap
        .definitions()
        .filter(|d| c.level(d.def.module) == Level::None)
        .map(|d| d.def.key.clone())
        .collect();
    hidden.sort();
    hidden.dedup();
    if !hidden.is_empty() {
        sql.push_str(&format!(
            " AND t.def_key NOT IN ({})",
            vec!["?"; hidden.len()].join(", ")
        ));
        values.extend(hidden.into_iter().map(Value::from));
    }
    Ok((sql, values))
}

fn own_tasks(c: &Caller) -> ApiResult<(String, Vec<Value>)> {
    let a = &c.actor;
    Ok(match c.role {
        AccountRole::Admin => {
            return Err(ApiError::forbidden(
                "系统管理员没有待办事项（系统管理员不办理实例）",
            ))
        }
        AccountRole::Integrator => return Err(ApiError::forbidden("集成账号没有待办事项")),
        AccountRole::Province => (
            "t.province_code = ? AND t.role = 'province'".into(),
            vec![a.province.clone().into()],
        ),
        AccountRole::School => (
            "t.school_id = ? AND t.role = 'school'".into(),
            vec![a.school_id.into()],
        ),
        AccountRole::Department => (
            "t.school_id = ? AND t.role = 'department' AND t.department = ?".into(),
            vec![a.school_id.into(), a.department.clone().into()],
        ),
        AccountRole::Graduate => (
            "t.graduate_id = ? AND t.role = 'graduate'".into(),
            vec![a.graduate_id.into()],
        ),
        AccountRole::Employer => (
            "t.employer_id = ? AND t.role = 'employer'".into(),
            vec![a.employer_id.into()],
        ),
    })
}

/// The total of tasks matching `sql_where` over `from`, and the rows of page `page` (of
/// `size`) in the order `sort` asks (ties by task id).
pub async fn inbox_page(
    state: &AppState,
    from: &str,
    sql_where: &str,
    values: Vec<Value>,
    sort: Sort,
    page: u64,
    size: u64,
) -> ApiResult<(i64, Vec<QueryResult>)> {
    let db = &state.db;
    let total_row = db
        .conn
        .query_one(db.stmt(
            &format!("SELECT COUNT(*) AS n {from} WHERE {sql_where}"),
            values.clone(),
        ))
        .await
        .map_err(ApiError::from)?;
    let total: i64 = total_row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()
        .map_err(ApiError::from)?
        .unwrap_or(0);
    let mut page_values = values;
    page_values.push((size as i64).into());
    page_values.push((((page - 1) * size) as i64).into());
    let dir = sort.sql();
    // Only the documented keys reach the SQL (`Sort::parse` checked them).
    let order = match sort.key {
        "name" => format!("g.name {dir}, t.id {dir}"),
        "department" => format!("t.department {dir}, t.id {dir}"),
        // Tasks are numbered as they open (a transition replaces an instance's tasks with new
        // rows), so the opening order is the id order every scope's index holds.
        _ => format!("t.id {dir}"),
    };
    let rows = db
        .conn
        .query_all(db.stmt(
            &format!(
                "SELECT t.id AS task_id, t.role AS task_role, t.opened_at, i.id AS instance_id, \
                 i.def_key, i.state, i.label, i.status_detail, i.initiator_role, i.department, \
                 i.row_version, i.employer_id, g.id AS graduate_id, g.name AS graduate_name, \
                 g.candidate_no, g.major, g.education_level \
                 {from} WHERE {sql_where} ORDER BY {order} LIMIT ? OFFSET ?"
            ),
            page_values,
        ))
        .await
        .map_err(ApiError::from)?;
    Ok((total, rows))
}

/// The open tasks matching `sql_where`, counted per flow and state.
pub async fn open_task_counts(
    state: &AppState,
    sql_where: &str,
    values: Vec<Value>,
) -> ApiResult<Vec<QueryResult>> {
    let db = &state.db;
    db.conn
        .query_all(db.stmt(
            &format!(
                "SELECT t.def_key, t.state, COUNT(*) AS n FROM tasks t WHERE {sql_where} \
                 GROUP BY t.def_key, t.state ORDER BY t.def_key, t.state"
            ),
            values,
        ))
        .await
        .map_err(ApiError::from)
}
