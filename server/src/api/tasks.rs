//! The reviewers' task inbox: open tasks in the caller's scope, filtered and paged, and
//! counts per flow and state. One query for the page and one for the total: no N+1.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{answers, caller, page_of, Tag, Token};

use crate::auth::Level;
use crate::error::ApiError;
use crate::paging::Sort;
use crate::service::State;
use crate::services::tasks::{task_scope, INBOX_SORT};
use gradflow_engine::definition::Module;

/// The graduate a task is about.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TaskGraduate {
    /// The graduate's id.
    pub id: i64,
    /// 姓名.
    pub name: Option<String>,
    /// 考生号.
    pub candidate_no: Option<String>,
    /// 专业.
    pub major: Option<String>,
    /// 学历层次 (code).
    pub education_level: Option<String>,
}

/// An open task of the caller's.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TaskItem {
    /// The task's id.
    pub task_id: i64,
    /// The role that must act (`school`, `department`, `graduate`, `employer`, `province`).
    pub role: Option<String>,
    /// When the task opened.
    pub opened_at: DateTime<Utc>,
    /// When the answer is due (an invitation's answer deadline); absent when nothing is due.
    #[oai(skip_serializing_if_is_none)]
    pub due_at: Option<DateTime<Utc>>,
    /// The due time has passed (逾期).
    pub overdue: bool,
    /// The instance to act on (`POST /instances/{id}/actions/{action}`).
    pub instance_id: i64,
    /// The instance's flow.
    pub flow: Option<String>,
    /// The instance's state.
    pub state: Option<String>,
    /// The status as shown: the label with its detail.
    pub display_status: String,
    /// The state's label.
    pub label: String,
    /// Who started the instance (签约发起方: `employer`, `graduate`, …).
    pub initiator_role: Option<String>,
    /// The graduate's department (院系).
    pub department: Option<String>,
    /// The instance's version, for `expected_version`.
    pub row_version: i32,
    /// The employer of an online agreement.
    pub employer_id: Option<i64>,
    /// The graduate.
    pub graduate: TaskGraduate,
}

page_of! {
    /// A page of the inbox.
    pub struct TaskPage(TaskItem);
}

/// A step the caller took (办理记录): the decision or action, and the item as it stands now.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DoneItem {
    /// The history row.
    pub history_id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The action taken (`approve`, `reject`, `return`, `modify`, …).
    pub action: String,
    /// The review decision, for a review step.
    pub decision: Option<String>,
    /// The review level decided at (`department`, `school`).
    pub level: Option<String>,
    /// 退回/不通过原因 category and text, as recorded for this item.
    pub reason_category: Option<String>,
    pub reason: Option<String>,
    /// The state before and after the step.
    pub from_state: Option<String>,
    pub to_state: String,
    /// The instance.
    pub instance_id: i64,
    pub flow: String,
    /// Its state now, and its status text.
    pub state: String,
    pub label: String,
    pub row_version: i32,
    /// The graduate's department.
    pub department: Option<String>,
    /// The graduate.
    pub graduate: TaskGraduate,
}

page_of! {
    /// A page of what the caller did.
    pub struct DonePage(DoneItem);
}

/// Open tasks of one flow in one state.
#[derive(Object)]
pub struct TaskCount {
    /// The flow's key.
    pub flow: String,
    /// The state's name.
    pub state: String,
    /// How many.
    pub count: i64,
}

/// Open tasks of one module (the home page's figure per module).
#[derive(Object)]
pub struct ModuleCount {
    /// The module (`employment` 就业信息管理, `archive` 档案信息管理, `hukou` 户口信息管理).
    pub module: String,
    /// How many wait for the caller.
    pub count: i64,
    /// Of them, past their due time.
    pub overdue: i64,
    /// For a school: how many of its items wait at department level (先院系再校级审核) — not
    /// the school's to decide yet, but in its hands next.
    pub at_department: i64,
}

/// The caller's open tasks, counted.
#[derive(Object)]
pub struct TaskCounts {
    /// All of them.
    pub total: i64,
    /// Of them, past their due time.
    pub overdue: i64,
    /// For a school: its items waiting at department level.
    pub at_department: i64,
    /// Per module the caller may enter (each listed, 0 when none waits).
    pub modules: Vec<ModuleCount>,
    /// Per flow and state.
    pub items: Vec<TaskCount>,
}

answers! {
    /// The answers of `GET /tasks`.
    pub enum InboxAnswer {
        /// A page of the caller's open tasks.
        200 Ok(Json<TaskPage>),
        errors:
        /// A filter does not parse, is not one the inbox takes, or names an unknown initiator
        /// (`invalid_parameter`, `unknown_parameter`, `invalid_filter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Integrator keys and the system administrator have no tasks (`forbidden`).
        403 Forbidden,
        /// Paging or order out of bounds, or a name prefix longer than 30 characters
        /// (`invalid_page`, `invalid_page_size`, `invalid_sort`, `invalid_name`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /tasks/done`.
    pub enum DoneAnswer {
        /// A page of the caller's steps, newest first.
        200 Ok(Json<DonePage>),
        errors:
        /// A parameter does not parse or is not one the operation takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Integrator keys and the system administrator have no tasks (`forbidden`).
        403 Forbidden,
        /// Paging out of bounds (`invalid_page`, `invalid_page_size`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /tasks/counts`.
    pub enum CountsAnswer {
        /// The counts.
        200 Ok(Json<TaskCounts>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Integrator keys and the system administrator have no tasks (`forbidden`).
        403 Forbidden,
    }
}

pub struct TasksApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Tasks")]
impl TasksApi {
    /// The caller's open tasks (the reviewer's inbox).
    ///
    /// The tasks waiting for the caller's role in the caller's scope (a department's, a
    /// school's, a province's; a graduate's or employer's own), oldest first by default, with
    /// the instance's status and the graduate.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/tasks", method = "get", operation_id = "tasks_inbox")]
    async fn inbox(
        &self,
        state: Data<&State>,
        auth: Token,
        /// Only tasks of this flow (its key).
        flow: Query<Option<String>>,
        /// Only tasks of instances in this state (its name).
        #[oai(name = "state")]
        state_name: Query<Option<String>>,
        /// Only agreements started by `employer` (单位) or `graduate` (学生) (签约发起方);
        /// empty for both.
        #[oai(validator(pattern = "^(employer|graduate)?$"))]
        initiator: Query<Option<String>>,
        /// Only graduates of this department (院系).
        department: Query<Option<String>>,
        /// A graduate's name, ID number or candidate number (exact).
        q: Query<Option<String>>,
        /// The graduate's name begins with this (姓名).
        #[oai(validator(min_length = 1, max_length = 30))]
        name: Query<Option<String>>,
        /// Only graduates of this major (专业).
        major: Query<Option<String>>,
        /// Only graduates of this education level (学历层次).
        education_level: Query<Option<String>>,
        /// Only tasks opened at or after (RFC 3339).
        opened_from: Query<Option<DateTime<Utc>>>,
        /// Only tasks opened before (RFC 3339).
        opened_to: Query<Option<DateTime<Utc>>>,
        /// Only tasks due at or before (RFC 3339).
        due_before: Query<Option<DateTime<Utc>>>,
        /// `true`: only tasks past their due time; `false`: only those not past it.
        overdue: Query<Option<bool>>,
        /// Order: `opened_at` (the default, oldest first), `due_at` (nothing due last), `name`
        /// (the graduate's), `department`; `-` before a key for descending.
        sort: Query<Option<String>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<InboxAnswer> {
        let c = caller(&state, &auth).await?;
        let (mut sql_where, mut values) = task_scope(&state, &c)?;
        // Whether a filter reads the instance or the graduate (else the tasks alone count).
        let mut joined = false;
        if let Some(f) = flow.0 {
            sql_where.push_str(" AND t.def_key = ?");
            values.push(f.into());
        }
        if let Some(s) = state_name.0 {
            sql_where.push_str(" AND t.state = ?");
            values.push(s.into());
        }
        if let Some(i) = initiator.0.filter(|i| !i.is_empty()) {
            if i != "employer" && i != "graduate" {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    "initiator：签约发起方只能是 employer（单位）或 graduate（学生）",
                )
                .into());
            }
            sql_where.push_str(" AND i.initiator_role = ?");
            joined = true;
            values.push(i.into());
        }
        if let Some(d) = department.0 {
            sql_where.push_str(" AND t.department = ?");
            values.push(d.into());
        }
        if let Some(q) = q.0.filter(|q| !q.trim().is_empty()) {
            let q = q.trim().to_string();
            sql_where.push_str(" AND (g.name = ? OR g.id_number = ? OR g.candidate_no = ?)");
            joined = true;
            values.push(q.clone().into());
            values.push(q.to_uppercase().into());
            values.push(q.into());
        }
        if let Some(n) = name.0.filter(|n| !n.trim().is_empty()) {
            // A prefix: `LIKE` with its wildcards escaped, served by `idx_graduates_school_name`.
            let escaped = n
                .trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            sql_where.push_str(" AND g.name LIKE ? ESCAPE '\\'");
            joined = true;
            values.push(format!("{escaped}%").into());
        }
        for (col, v) in [
            ("g.major", major.0),
            ("g.education_level", education_level.0),
        ] {
            if let Some(v) = v {
                sql_where.push_str(&format!(" AND {col} = ?"));
                values.push(v.into());
                joined = true;
            }
        }
        for (cond, v) in [
            ("t.opened_at >= ?", opened_from.0),
            ("t.opened_at < ?", opened_to.0),
            ("t.due_at <= ?", due_before.0),
        ] {
            if let Some(v) = v {
                sql_where.push_str(&format!(" AND {cond}"));
                values.push(v.into());
            }
        }
        let now = state.clock.now();
        match overdue.0 {
            Some(true) => {
                sql_where.push_str(" AND t.due_at < ?");
                values.push(now.into());
            }
            Some(false) => {
                sql_where.push_str(" AND (t.due_at IS NULL OR t.due_at >= ?)");
                values.push(now.into());
            }
            None => {}
        }
        let sort = Sort::parse(sort.0.as_deref(), &INBOX_SORT, "opened_at")?;
        let (page, size) = super::page_params(page.0, page_size.0, &super::PAGE_SIZE)?;
        let (total, rows) = crate::services::tasks::inbox_page(
            &state, joined, &sql_where, values, sort, page, size,
        )
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let get_s = |c: &str| r.try_get::<String>("", c).ok();
            let status_detail: Option<String> = r.try_get("", "status_detail").ok().flatten();
            let label = get_s("label").unwrap_or_default();
            let due_at: Option<DateTime<Utc>> = r.try_get("", "due_at").map_err(ApiError::from)?;
            items.push(TaskItem {
                task_id: r.try_get::<i64>("", "task_id").map_err(ApiError::from)?,
                role: get_s("task_role"),
                opened_at: r
                    .try_get::<DateTime<Utc>>("", "opened_at")
                    .map_err(ApiError::from)?,
                due_at,
                overdue: due_at.is_some_and(|d| d < now),
                instance_id: r
                    .try_get::<i64>("", "instance_id")
                    .map_err(ApiError::from)?,
                flow: get_s("def_key"),
                state: get_s("state"),
                display_status: match &status_detail {
                    Some(d) => format!("{label}（{d}）"),
                    None => label.clone(),
                },
                label,
                initiator_role: get_s("initiator_role"),
                department: get_s("department"),
                row_version: r
                    .try_get::<i32>("", "row_version")
                    .map_err(ApiError::from)?,
                employer_id: r
                    .try_get::<Option<i64>>("", "employer_id")
                    .map_err(ApiError::from)?,
                graduate: TaskGraduate {
                    id: r
                        .try_get::<i64>("", "graduate_id")
                        .map_err(ApiError::from)?,
                    name: get_s("graduate_name"),
                    candidate_no: get_s("candidate_no"),
                    major: get_s("major"),
                    education_level: get_s("education_level"),
                },
            });
        }
        Ok(InboxAnswer::Ok(Json(TaskPage {
            total: total as u64,
            page,
            page_size: size,
            items,
        })))
    }

    /// 办理记录: what the caller did ("done by me").
    ///
    /// Every step the caller's account took on an instance — review decisions with their
    /// level and the reason recorded for that item, and any other action — newest first,
    /// with the instance as it stands now and the graduate.
    #[oai(path = "/tasks/done", method = "get", operation_id = "tasks_done")]
    async fn done(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<DoneAnswer> {
        let c = caller(&state, &auth).await?;
        // The same callers as the inbox.
        task_scope(&state, &c)?;
        let (page, size) = super::page_params(page.0, page_size.0, &super::PAGE_SIZE)?;
        let (total, rows) = crate::services::tasks::done_page(&state, &c, page, size).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let s = |col: &str| -> Result<String, ApiError> {
                r.try_get::<String>("", col).map_err(ApiError::from)
            };
            let o = |col: &str| -> Result<Option<String>, ApiError> {
                r.try_get::<Option<String>>("", col).map_err(ApiError::from)
            };
            items.push(DoneItem {
                history_id: r.try_get("", "history_id").map_err(ApiError::from)?,
                at: r.try_get("", "at").map_err(ApiError::from)?,
                action: s("action")?,
                decision: o("decision")?,
                level: o("level")?,
                reason_category: o("reason_category")?,
                reason: o("reason")?,
                from_state: o("from_state")?,
                to_state: s("to_state")?,
                instance_id: r.try_get("", "instance_id").map_err(ApiError::from)?,
                flow: s("def_key")?,
                state: s("state")?,
                label: s("label")?,
                row_version: r.try_get("", "row_version").map_err(ApiError::from)?,
                department: o("department")?,
                graduate: TaskGraduate {
                    id: r.try_get("", "graduate_id").map_err(ApiError::from)?,
                    name: o("graduate_name")?,
                    candidate_no: o("candidate_no")?,
                    major: None,
                    education_level: None,
                },
            });
        }
        Ok(DoneAnswer::Ok(Json(DonePage {
            total: total as u64,
            page,
            page_size: size,
            items,
        })))
    }

    /// Counts of the caller's open tasks per flow and state (the home page's pending figures).
    ///
    /// The same scope as the inbox (without the modules the caller may not enter), counted per
    /// module (在线签约/补登/解约/去向登记 together as 就业信息管理; 档案、户口信息申请), per flow and
    /// state, with the total and how many are past their due time (逾期); for a school, also
    /// how many of its items wait at department level (先院系再校级审核).
    #[oai(path = "/tasks/counts", method = "get", operation_id = "tasks_counts")]
    async fn counts(&self, state: Data<&State>, auth: Token) -> poem::Result<CountsAnswer> {
        let c = caller(&state, &auth).await?;
        let pending = crate::services::tasks::pending(&state, &c).await?;
        let snap = state.registry.snapshot();
        let module_of = |key: &str| {
            snap.definitions()
                .find(|d| d.def.key == key)
                .map(|d| d.def.module)
        };
        let mut modules: Vec<ModuleCount> = [Module::Employment, Module::Archive, Module::Hukou]
            .into_iter()
            .filter(|m| c.level(*m) != Level::None)
            .map(|m| ModuleCount {
                module: m.as_str().to_string(),
                count: 0,
                overdue: 0,
                at_department: 0,
            })
            .collect();
        let mut items = Vec::new();
        let (mut total, mut overdue) = (0i64, 0i64);
        for f in pending.open {
            total += f.n;
            overdue += f.overdue;
            if let Some(m) = module_of(&f.flow) {
                if let Some(mc) = modules.iter_mut().find(|mc| mc.module == m.as_str()) {
                    mc.count += f.n;
                    mc.overdue += f.overdue;
                }
            }
            items.push(TaskCount {
                flow: f.flow,
                state: f.state,
                count: f.n,
            });
        }
        let mut department_total = 0;
        for (flow, n) in pending.at_department {
            department_total += n;
            if let Some(m) = module_of(&flow) {
                if let Some(mc) = modules.iter_mut().find(|mc| mc.module == m.as_str()) {
                    mc.at_department += n;
                }
            }
        }
        Ok(CountsAnswer::Ok(Json(TaskCounts {
            total,
            overdue,
            at_department: department_total,
            modules,
            items,
        })))
    }
}
