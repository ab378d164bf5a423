//! The reviewers' task inbox: open tasks in the caller's scope, filtered and paged, and
//! counts per flow and state. One query for the page and one for the total: no N+1.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use sea_orm::Value as DbValue;
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::error::ApiError;
use crate::service::State;

/// The WHERE clause limiting tasks to those the caller must act on.
fn scope(c: &Caller) -> Result<(String, Vec<DbValue>), ApiError> {
    let a = &c.actor;
    Ok(match c.role {
        AccountRole::Admin => ("1 = 1".into(), vec![]),
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

pub struct TasksApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Tasks")]
impl TasksApi {
    /// The caller's open tasks (the reviewer's inbox).
    ///
    /// Filters: flow, state, initiator (`employer`/`graduate`, 签约发起方), department, and `q` =
    /// a graduate's name, ID number or candidate number.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/tasks", method = "get", operation_id = "tasks_inbox")]
    async fn inbox(
        &self,
        state: Data<&State>,
        auth: Token,
        flow: Query<Option<String>>,
        #[oai(name = "state")] state_name: Query<Option<String>>,
        initiator: Query<Option<String>>,
        department: Query<Option<String>>,
        q: Query<Option<String>>,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let (mut sql_where, mut values) = scope(&c)?;
        if let Some(f) = flow.0 {
            sql_where.push_str(" AND t.def_key = ?");
            values.push(f.into());
        }
        if let Some(s) = state_name.0 {
            sql_where.push_str(" AND t.state = ?");
            values.push(s.into());
        }
        if let Some(i) = initiator.0 {
            if i != "employer" && i != "graduate" {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    "initiator：签约发起方只能是 employer（单位）或 graduate（学生）",
                )
                .into());
            }
            sql_where.push_str(" AND i.initiator_role = ?");
            values.push(i.into());
        }
        if let Some(d) = department.0 {
            sql_where.push_str(" AND i.department = ?");
            values.push(d.into());
        }
        if let Some(q) = q.0.filter(|q| !q.trim().is_empty()) {
            let q = q.trim().to_string();
            sql_where.push_str(" AND (g.name = ? OR g.id_number = ? OR g.candidate_no = ?)");
            values.push(q.clone().into());
            values.push(q.to_uppercase().into());
            values.push(q.into());
        }
        let (page, size) = super::page_params(page.0, page_size.0, &super::PAGE_SIZE)?;
        let from = "FROM tasks t JOIN instances i ON i.id = t.instance_id JOIN graduates g ON g.id = t.graduate_id";
        let (total, rows) =
            crate::services::tasks::inbox_page(&state, from, &sql_where, values, page, size)
                .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let get_s = |c: &str| r.try_get::<String>("", c).ok();
            let status_detail: Option<String> = r.try_get("", "status_detail").ok().flatten();
            let label = get_s("label").unwrap_or_default();
            items.push(json!({
                "task_id": r.try_get::<i64>("", "task_id").map_err(ApiError::from)?,
                "role": get_s("task_role"),
                "opened_at": r.try_get::<DateTime<Utc>>("", "opened_at").map_err(ApiError::from)?.to_rfc3339(),
                "instance_id": r.try_get::<i64>("", "instance_id").map_err(ApiError::from)?,
                "flow": get_s("def_key"),
                "state": get_s("state"),
                "display_status": match &status_detail { Some(d) => format!("{label}（{d}）"), None => label.clone() },
                "label": label,
                "initiator_role": get_s("initiator_role"),
                "department": get_s("department"),
                "row_version": r.try_get::<i32>("", "row_version").map_err(ApiError::from)?,
                "employer_id": r.try_get::<Option<i64>>("", "employer_id").map_err(ApiError::from)?,
                "graduate": {
                    "id": r.try_get::<i64>("", "graduate_id").map_err(ApiError::from)?,
                    "name": get_s("graduate_name"),
                    "candidate_no": get_s("candidate_no"),
                    "major": get_s("major"),
                    "education_level": get_s("education_level"),
                },
            }));
        }
        Ok(Json(
            json!({"total": total, "page": page, "page_size": size, "items": items}),
        ))
    }

    /// Counts of the caller's open tasks per flow and state (the home page's pending figures).
    #[oai(path = "/tasks/counts", method = "get", operation_id = "tasks_counts")]
    async fn counts(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let (sql_where, values) = scope(&c)?;
        let rows = crate::services::tasks::open_task_counts(&state, &sql_where, values).await?;
        let mut items = Vec::new();
        let mut total = 0i64;
        for r in rows {
            let n: i64 = r.try_get("", "n").map_err(ApiError::from)?;
            total += n;
            items.push(json!({
                "flow": r.try_get::<String>("", "def_key").map_err(ApiError::from)?,
                "state": r.try_get::<String>("", "state").map_err(ApiError::from)?,
                "count": n,
            }));
        }
        Ok(Json(json!({"total": total, "items": items})))
    }
}
