//! The generic flow API: definitions, start, act, withdraw, get, history, lists.

use gradflow_engine::apply::{available_actions, role_label};
use gradflow_engine::definition::Role;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::entity::instance;
use crate::error::ApiError;
use crate::service::{self, pinned, State};
use crate::services::lists::{self, InstanceScope};

#[derive(Object, Debug)]
pub struct StartRequest {
    /// The graduate the instance is about (omit when the caller is the graduate).
    pub graduate_id: Option<i64>,
    /// The start form's input (see the flow's `start_schema`).
    #[oai(default)]
    pub input: Value,
}

#[derive(Object, Debug)]
pub struct ActRequest {
    /// The action's input (see `actions[].schema` of the instance).
    #[oai(default)]
    pub input: Value,
    /// The `row_version` the caller saw; a different current version answers 409.
    pub expected_version: Option<i32>,
}

#[derive(ApiResponse)]
pub enum Created {
    /// The instance was started.
    #[oai(status = 201)]
    Created(Json<Value>),
}

/// Views of several instances (one query for their provinces).
pub async fn instance_views(
    state: &crate::service::AppState,
    caller: &Caller,
    rows: &[instance::Model],
) -> poem::Result<Vec<Value>> {
    let lookups = lists::instance_view_lookups(state, rows).await?;
    let (types, marks) = (lookups.agreement_types, lookups.marks);
    let sees_all = matches!(caller.role, AccountRole::Admin | AccountRole::Province);
    rows.iter()
        .map(|r| {
            let t = types.get(&r.province_code).cloned().flatten();
            let mut v = instance_view(state, caller, r, t.as_deref())?;
            // The employer's warning, wherever it is shown (invitation, agreement, review).
            if caller.role != AccountRole::Employer {
                let m = r.employer_id.and_then(|e| marks.get(&e));
                v["employer_warning"] =
                    crate::warnings::warning_for(state, m, Some(r.school_id), sees_all)?
                        .unwrap_or(Value::Null);
            }
            Ok(v)
        })
        .collect()
}

async fn one_view(
    state: &crate::service::AppState,
    caller: &Caller,
    row: &instance::Model,
) -> poem::Result<Value> {
    Ok(instance_views(state, caller, std::slice::from_ref(row))
        .await?
        .remove(0))
}

pub(crate) use crate::services::lists::status_text;

/// The view of an instance for a caller, with the actions they may take now.
pub fn instance_view(
    state: &crate::service::AppState,
    caller: &Caller,
    row: &instance::Model,
    agreement_type: Option<&str>,
) -> poem::Result<Value> {
    let snap = state.registry.snapshot();
    let def = pinned(&snap, row)?;
    let inst = crate::store::to_engine(row)?;
    let mut vars = inst.vars.clone();
    vars.retain(|k, _| !k.starts_with('_'));
    let facts = json!({ "agreement_type": agreement_type });
    // Final states may still offer actions (a school's modify or void after approval).
    let actions: Vec<Value> = available_actions(&def.def, &inst, &caller.actor, &facts)
        .into_iter()
        .map(|a| {
            json!({
                "name": a.name,
                "label": a.label,
                "schema": a.form.json_schema(snap.code_lookup()),
            })
        })
        .collect();
    let display = status_text(row);
    Ok(json!({
        "id": row.id,
        "flow": row.def_key,
        "flow_title": def.def.title,
        "definition": row.def_id,
        "module": row.module,
        "list": row.list,
        "state": row.state,
        "label": row.label,
        "status_detail": row.status_detail,
        "display_status": display,
        "review_level": inst.review.as_ref().map(|r| r.level().as_str()),
        "review_level_label": inst.review.as_ref().map(|r| role_label(r.level())),
        "graduate_id": row.graduate_id,
        "employer_id": row.employer_id,
        "school_id": row.school_id,
        "department": row.department,
        "initiator_role": row.initiator_role,
        "is_final": row.is_final,
        "row_version": row.row_version,
        "vars": vars,
        "params": inst.params,
        "actions": actions,
        "created_at": row.created_at.to_rfc3339(),
        "updated_at": row.updated_at.to_rfc3339(),
    }))
}

pub struct FlowsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl FlowsApi {
    /// The flows with their start form's JSON Schema.
    ///
    /// The flows with their start form's JSON Schema (a form with variants: one `oneOf` branch per
    /// type).
    ///
    /// For a graduate, only what they can start now — the school's switches, their training mode,
    /// one destination at a time, the closing date — and under `unavailable` the others with the
    /// reason (`code`, `message`).
    #[oai(path = "/flows", method = "get", operation_id = "flows_list_flows")]
    async fn list_flows(&self, state: Data<&State>, auth: Token) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let snap = state.registry.snapshot();
        let province = c.actor.province.clone();
        let mut flows = Vec::new();
        let mut unavailable = Vec::new();
        let mut memo = service::FactsMemo::default();
        for d in snap
            .keys()
            .iter()
            .filter_map(|k| snap.active(k, province.as_deref()))
        {
            if c.role == AccountRole::Graduate {
                if !d.def.start.roles.contains(&Role::Graduate) {
                    continue;
                }
                if let Err(e) = service::available(&state, &c, &snap, &d.def.key, &mut memo).await {
                    unavailable.push(json!({
                        "key": d.def.key,
                        "title": d.def.title,
                        "code": e.body.code,
                        "message": e.body.message,
                    }));
                    continue;
                }
            }
            let form = d.def.start.form.as_ref().and_then(|f| d.def.forms.get(f));
            flows.push(json!({
                "key": d.def.key,
                "version": d.def.version,
                "definition": d.def.id().to_string(),
                "title": d.def.title,
                "module": d.def.module,
                "list": d.def.list,
                "start_roles": d.def.start.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "start_schema": form.map(|f| f.json_schema(snap.code_lookup())),
                "states": d.def.states.iter().map(|(k, s)| json!({"name": k, "label": s.label, "kind": s.kind})).collect::<Vec<_>>(),
                "params": d.def.default_params(),
            }));
        }
        let mut body = json!({ "flows": flows });
        if c.role == AccountRole::Graduate {
            body["unavailable"] = Value::Array(unavailable);
        }
        Ok(Json(body))
    }

    /// Start an instance of a flow.
    #[oai(
        path = "/flows/:key/instances",
        method = "post",
        operation_id = "flows_start"
    )]
    async fn start(
        &self,
        state: Data<&State>,
        auth: Token,
        key: Path<String>,
        body: Json<StartRequest>,
    ) -> poem::Result<Created> {
        let c = caller(&state, &auth).await?;
        let row = service::start(&state, &c, &key, body.graduate_id, &body.input).await?;
        Ok(Created::Created(Json(one_view(&state, &c, &row).await?)))
    }

    /// An instance, with the actions the caller may take now and each action's input schema.
    #[oai(path = "/instances/:id", method = "get", operation_id = "flows_get")]
    async fn get(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        Ok(Json(one_view(&state, &c, &row).await?))
    }

    /// Take an action (accept, decline, approve, return, reject...).
    #[oai(
        path = "/instances/:id/actions/:action",
        method = "post",
        operation_id = "flows_act"
    )]
    async fn act(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
        action: Path<String>,
        body: Json<ActRequest>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let row =
            service::act(&state, &c, *id, &action, &body.input, body.expected_version).await?;
        Ok(Json(one_view(&state, &c, &row).await?))
    }

    /// Withdraw an instance the caller started, before anyone else acted on it.
    #[oai(
        path = "/instances/:id/withdraw",
        method = "post",
        operation_id = "flows_withdraw"
    )]
    async fn withdraw(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let row = service::act(&state, &c, *id, "withdraw", &Value::Null, None).await?;
        Ok(Json(one_view(&state, &c, &row).await?))
    }

    /// The full history of an instance: who did what, when, with which decision and reason.
    #[oai(
        path = "/instances/:id/history",
        method = "get",
        operation_id = "flows_history"
    )]
    async fn history(
        &self,
        state: Data<&State>,
        auth: Token,
        id: Path<i64>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        let rows = lists::instance_history(&state, row.id).await?;
        let items: Vec<Value> = rows
            .into_iter()
            .map(|h| {
                json!({
                    "seq": h.seq,
                    "action": h.action,
                    "actor_role": h.actor_role,
                    "actor_role_label": Role::parse(&h.actor_role).map(role_label),
                    "actor_account_id": h.actor_account_id,
                    "from": h.from_state,
                    "to": h.to_state,
                    "level": h.level,
                    "decision": h.decision,
                    "reason_category": h.reason_category,
                    "reason": h.reason,
                    "input": serde_json::from_str::<Value>(&h.input).unwrap_or(Value::Null),
                    "at": h.at.to_rfc3339(),
                })
            })
            .collect();
        Ok(Json(json!({ "items": items })))
    }

    /// Instances in the caller's scope (a graduate's or employer's own; a school's...).
    #[oai(path = "/instances", method = "get", operation_id = "flows_list")]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        flow: Query<Option<String>>,
        state_name: Query<Option<String>>,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        let a = &c.actor;
        let scope = match c.role {
            AccountRole::Admin => InstanceScope::All,
            AccountRole::Integrator => {
                return Err(ApiError::forbidden("集成账号不能查看流程事项").into())
            }
            AccountRole::Province => InstanceScope::Province(a.province.clone()),
            AccountRole::School => InstanceScope::School(a.school_id),
            AccountRole::Department => InstanceScope::Department(a.school_id, a.department.clone()),
            AccountRole::Graduate => InstanceScope::Graduate(a.graduate_id),
            AccountRole::Employer => InstanceScope::Employer(a.employer_id),
        };
        let p = lists::instances_page(
            &state,
            scope,
            flow.0,
            state_name.0,
            page.0,
            page_size.0,
            &super::PAGE_SIZE,
        )
        .await?;
        let items = instance_views(&state, &c, &p.rows).await?;
        Ok(Json(
            json!({ "total": p.total, "page": p.page, "page_size": p.size, "items": items }),
        ))
    }
}
