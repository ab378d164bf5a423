//! The task inbox's queries: one page of the caller's open tasks with their instances and
//! graduates, and the counts per flow and state. The handler builds the scope and filters
//! (`WHERE` text with `?` placeholders and their values); these run them on the read pool.

use sea_orm::{ConnectionTrait, QueryResult, Value};

use crate::error::{ApiError, ApiResult};
use crate::paging::Sort;
use crate::service::AppState;

/// The keys the inbox sorts by: when the task opened (the default, oldest first), the
/// graduate's name, the department.
pub const INBOX_SORT: [&str; 3] = ["opened_at", "name", "department"];

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
