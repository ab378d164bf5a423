//! The task inbox's queries: one page of the caller's open tasks with their instances and
//! graduates, and the counts per flow and state. The handler builds the scope and filters
//! (`WHERE` text with `?` placeholders and their values); these run them on the read pool.

use sea_orm::{ConnectionTrait, QueryResult, Value};

use crate::auth::{AccountRole, Caller, Level};

use crate::error::{ApiError, ApiResult};
use crate::paging::Sort;
use crate::service::AppState;

/// The keys the inbox sorts by: when the task opened (the default, oldest first), when it is
/// due (tasks with no due time last), the graduate's name, the department.
pub const INBOX_SORT: [&str; 4] = ["opened_at", "due_at", "name", "department"];

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

/// What the inbox reads: a task with its instance and graduate (`t`, `i`, `g` in its filters).
pub const INBOX_FROM: &str =
    "FROM tasks t JOIN instances i ON i.id = t.instance_id JOIN graduates g ON g.id = t.graduate_id";

/// The total of tasks matching `sql_where` (`joined`: it filters on `i` or `g` too), and the
/// rows of page `page` (of `size`) in the order `sort` asks (ties by task id).
pub async fn inbox_page(
    state: &AppState,
    joined: bool,
    sql_where: &str,
    values: Vec<Value>,
    sort: Sort,
    page: u64,
    size: u64,
) -> ApiResult<(i64, Vec<QueryResult>)> {
    let db = &state.db;
    // Every task has its instance and graduate: only filters on them need the joins to count
    // (the tasks alone are counted from `idx_tasks_school_counts`, migration 13).
    let count_from = if joined { INBOX_FROM } else { "FROM tasks t" };
    let total_row = db
        .conn
        .query_one(db.stmt(
            &format!("SELECT COUNT(*) AS n {count_from} WHERE {sql_where}"),
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
        // Nothing due sorts after everything due, either way.
        "due_at" => format!("(t.due_at IS NULL), t.due_at {dir}, t.id {dir}"),
        // Tasks are numbered as they open (a transition replaces an instance's tasks with new
        // rows), so the opening order is the id order every scope's index holds.
        _ => format!("t.id {dir}"),
    };
    let rows = db
        .conn
        .query_all(db.stmt(
            &format!(
                "SELECT t.id AS task_id, t.role AS task_role, t.opened_at, t.due_at, \
                 i.id AS instance_id, \
                 i.def_key, i.state, i.label, i.status_detail, i.initiator_role, i.department, \
                 i.row_version, i.employer_id, g.id AS graduate_id, g.name AS graduate_name, \
                 g.candidate_no, g.major, g.education_level \
                 {INBOX_FROM} WHERE {sql_where} ORDER BY {order} LIMIT ? OFFSET ?"
            ),
            page_values,
        ))
        .await
        .map_err(ApiError::from)?;
    Ok((total, rows))
}

/// Open tasks of one flow in one state, and how many of them are past their due time.
pub struct FlowCount {
    pub flow: String,
    pub state: String,
    pub n: i64,
    pub overdue: i64,
}

/// What waits: the caller's open tasks per flow and state, and for a school its items at
/// department level per flow.
pub struct Pending {
    pub open: Vec<FlowCount>,
    pub at_department: Vec<(String, i64)>,
}

/// The caller's pending work (the inbox's scope), counted — the home page's and
/// `/tasks/counts`' figures.
pub async fn pending(state: &AppState, c: &Caller) -> ApiResult<Pending> {
    let (sql_where, values) = task_scope(state, c)?;
    let db = &state.db;
    let mut all = vec![Value::from(state.clock.now())];
    all.extend(values);
    let rows = db
        .conn
        .query_all(db.stmt(
            &format!(
                "SELECT t.def_key, t.state, COUNT(*) AS n, \
                 CAST(SUM(CASE WHEN t.due_at < ? THEN 1 ELSE 0 END) AS BIGINT) AS overdue \
                 FROM tasks t WHERE {sql_where} \
                 GROUP BY t.def_key, t.state ORDER BY t.def_key, t.state"
            ),
            all,
        ))
        .await
        .map_err(ApiError::from)?;
    let mut open = Vec::with_capacity(rows.len());
    for r in rows {
        open.push(FlowCount {
            flow: r.try_get("", "def_key").map_err(ApiError::from)?,
            state: r.try_get("", "state").map_err(ApiError::from)?,
            n: r.try_get("", "n").map_err(ApiError::from)?,
            overdue: r
                .try_get::<Option<i64>>("", "overdue")
                .map_err(ApiError::from)?
                .unwrap_or(0),
        });
    }
    Ok(Pending {
        open,
        at_department: department_level_counts(state, c).await?,
    })
}

/// For a school user: the school's open department-level tasks per flow (先院系再校级审核: what
/// its departments still have to decide), without the modules the caller may not enter.
async fn department_level_counts(state: &AppState, c: &Caller) -> ApiResult<Vec<(String, i64)>> {
    if c.role != AccountRole::School {
        return Ok(Vec::new());
    }
    let snap = state.registry.snapshot();
    let db = &state.db;
    let rows = db
        .conn
        .query_all(db.stmt(
            "SELECT t.def_key, COUNT(*) AS n FROM tasks t \
             WHERE t.school_id = ? AND t.role = 'department' GROUP BY t.def_key",
            vec![c.actor.school_id.into()],
        ))
        .await
        .map_err(ApiError::from)?;
    let mut out = Vec::new();
    for r in rows {
        let key: String = r.try_get("", "def_key").map_err(ApiError::from)?;
        let visible = snap
            .definitions()
            .find(|d| d.def.key == key)
            .is_some_and(|d| c.level(d.def.module) != Level::None);
        if visible {
            out.push((key, r.try_get("", "n").map_err(ApiError::from)?));
        }
    }
    Ok(out)
}

/// One page of what the caller decided or did (办理记录, "done by me"), newest first: the
/// history rows of the caller's account with their instance and graduate.
pub async fn done_page(
    state: &AppState,
    c: &Caller,
    page: u64,
    size: u64,
) -> ApiResult<(i64, Vec<QueryResult>)> {
    let db = &state.db;
    let from = "FROM history h JOIN instances i ON i.id = h.instance_id \
                JOIN graduates g ON g.id = i.graduate_id \
                WHERE h.actor_account_id = ? AND h.actor_role = ?";
    let who: Vec<Value> = vec![c.account_id.into(), c.actor.role.as_str().into()];
    let total: i64 = db
        .conn
        .query_one(db.stmt(&format!("SELECT COUNT(*) AS n {from}"), who.clone()))
        .await
        .map_err(ApiError::from)?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()
        .map_err(ApiError::from)?
        .unwrap_or(0);
    let mut values = who;
    values.push((size as i64).into());
    values.push((((page - 1) * size) as i64).into());
    let rows = db
        .conn
        .query_all(db.stmt(
            &format!(
                "SELECT h.id AS history_id, h.action, h.level, h.decision, h.reason_category, \
                 h.reason, h.from_state, h.to_state, h.at, i.id AS instance_id, i.def_key, \
                 i.state, i.label, i.row_version, g.id AS graduate_id, g.name AS graduate_name, \
                 g.candidate_no, i.department {from} ORDER BY h.id DESC LIMIT ? OFFSET ?"
            ),
            values,
        ))
        .await
        .map_err(ApiError::from)?;
    Ok((total, rows))
}
