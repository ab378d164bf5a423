//! The generic flow API: definitions, start, act, withdraw, get, history, lists.

use chrono::{DateTime, Utc};
use gradflow_engine::apply::{available_actions, role_label};
use gradflow_engine::definition::Role;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Value};

use super::{answers, caller, page_of, Tag, Token};
use crate::auth::{AccountRole, Caller};
use crate::entity::instance;
use crate::error::ApiError;
use crate::paging::Sort;
use crate::service::{self, pinned, State};
use crate::services::lists::{self, InstanceScope};
use crate::warnings::WarningView;

/// What starting an instance takes.
#[derive(Object, Debug)]
#[oai(example)]
pub struct StartRequest {
    /// The graduate the instance is about (omit when the caller is the graduate).
    pub graduate_id: Option<i64>,
    /// The start form's input (see the flow's `start_schema`).
    #[oai(default)]
    pub input: Value,
}

/// What taking an action takes.
#[derive(Object, Debug)]
#[oai(example)]
pub struct ActRequest {
    /// The action's input (see `actions[].schema` of the instance).
    #[oai(default)]
    pub input: Value,
    /// The `row_version` the caller saw; a different current version answers 409.
    pub expected_version: Option<i32>,
}

impl poem_openapi::types::Example for StartRequest {
    fn example() -> Self {
        // An employer inviting a graduate to sign online.
        StartRequest {
            graduate_id: Some(1024),
            input: json!({"position": "软件开发工程师", "salary": 12000, "work_region": "410102"}),
        }
    }
}

impl poem_openapi::types::Example for ActRequest {
    fn example() -> Self {
        // A reviewer returning an agreement with a reason.
        ActRequest {
            input: json!({"reason": "协议书中的工作地点与单位信息不一致，请核实后重新提交"}),
            expected_version: Some(3),
        }
    }
}

/// An action the caller may take on an instance now.
#[derive(Object, Debug, Clone)]
pub struct ActionView {
    /// The action's name, as in `POST /instances/{id}/actions/{action}`.
    pub name: String,
    /// The action as users see it (接受, 审核通过, …).
    pub label: String,
    /// The JSON Schema of the action's input.
    pub schema: Value,
}

/// An instance of a flow as a caller sees it: its state, its variables and the actions the
/// caller may take now.
#[derive(Object, Debug, Clone)]
#[oai(skip_serializing_if_is_none)]
pub struct InstanceView {
    /// The instance's id.
    pub id: i64,
    /// The flow's key.
    pub flow: String,
    /// The flow's title.
    pub flow_title: String,
    /// The definition (`key@version`) the instance runs on.
    pub definition: String,
    /// The module (`employment`, `archive`, `hukou`).
    pub module: String,
    /// The management list it appears in (`signing`, `supplement`, `termination`, `destination`).
    pub list: Option<String>,
    /// The state's name.
    pub state: String,
    /// The state's label (the status users see).
    pub label: String,
    /// A detail of the status (who returned it, at which level).
    pub status_detail: Option<String>,
    /// The status as shown: the label with its detail.
    pub display_status: String,
    /// The review level it waits at (`department`, `school`, `province`), in review.
    pub review_level: Option<String>,
    /// That level as users see it (院系, 学校, 省级).
    pub review_level_label: Option<String>,
    /// The graduate it is about.
    pub graduate_id: i64,
    /// The employer of an online agreement.
    pub employer_id: Option<i64>,
    /// The graduate's school.
    pub school_id: i64,
    /// The school's name (院校).
    pub school_name: Option<String>,
    /// The graduate's department (院系).
    pub department: String,
    /// Who started it (`graduate`, `employer`, `school`, …).
    pub initiator_role: String,
    /// Whether it ended.
    pub is_final: bool,
    /// The version to send as `expected_version` when acting on it.
    pub row_version: i32,
    /// The instance's variables (the forms' data; per flow, see its definition).
    pub vars: Value,
    /// The flow's parameters in force for the instance's province.
    pub params: Value,
    /// What the caller may do now.
    pub actions: Vec<ActionView>,
    /// The employer's warning (预警单位), where one is shown to the caller.
    pub employer_warning: Option<WarningView>,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Views of several instances (one query each for their provinces, schools and employers'
/// warnings).
pub async fn instance_views(
    state: &crate::service::AppState,
    caller: &Caller,
    rows: &[instance::Model],
) -> poem::Result<Vec<InstanceView>> {
    let lookups = lists::instance_view_lookups(state, rows).await?;
    let (types, schools, marks) = (lookups.agreement_types, lookups.school_names, lookups.marks);
    let sees_all = matches!(caller.role, AccountRole::Admin | AccountRole::Province);
    rows.iter()
        .map(|r| {
            let t = types.get(&r.province_code).cloned().flatten();
            let mut v = instance_view(state, caller, r, t.as_deref())?;
            v.school_name = schools.get(&r.school_id).cloned();
            // The employer's warning, wherever it is shown (invitation, agreement, review).
            if caller.role != AccountRole::Employer {
                let m = r.employer_id.and_then(|e| marks.get(&e));
                v.employer_warning =
                    crate::warnings::warning_for(state, m, Some(r.school_id), sees_all)?;
            }
            Ok(v)
        })
        .collect()
}

async fn one_view(
    state: &crate::service::AppState,
    caller: &Caller,
    row: &instance::Model,
) -> poem::Result<InstanceView> {
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
) -> poem::Result<InstanceView> {
    let snap = state.registry.snapshot();
    let def = pinned(&snap, row)?;
    let inst = crate::store::to_engine(row)?;
    let mut vars = inst.vars.clone();
    vars.retain(|k, _| !k.starts_with('_'));
    let facts = json!({ "agreement_type": agreement_type });
    // Final states may still offer actions (a school's modify or void after approval).
    let actions = available_actions(&def.def, &inst, &caller.actor, &facts)
        .into_iter()
        .map(|a| ActionView {
            name: a.name.to_string(),
            label: a.label.to_string(),
            schema: a.form.json_schema(snap.code_lookup()),
        })
        .collect();
    Ok(InstanceView {
        id: row.id,
        flow: row.def_key.clone(),
        flow_title: def.def.title.clone(),
        definition: row.def_id.clone(),
        module: row.module.clone(),
        list: row.list.clone(),
        state: row.state.clone(),
        label: row.label.clone(),
        status_detail: row.status_detail.clone(),
        display_status: status_text(row),
        review_level: inst.review.as_ref().map(|r| r.level().as_str().to_string()),
        review_level_label: inst
            .review
            .as_ref()
            .map(|r| role_label(r.level()).to_string()),
        graduate_id: row.graduate_id,
        employer_id: row.employer_id,
        school_id: row.school_id,
        school_name: None,
        department: row.department.clone(),
        initiator_role: row.initiator_role.clone(),
        is_final: row.is_final,
        row_version: row.row_version,
        vars: Value::Object(vars),
        params: json!(inst.params),
        actions,
        employer_warning: None,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A state of a flow.
#[derive(Object)]
pub struct StateView {
    /// The state's name.
    pub name: String,
    /// Its label (the status users see).
    pub label: String,
    /// `wait`, `review` or `final`.
    pub kind: String,
}

/// A flow the caller can start (or read about).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FlowView {
    /// The flow's key.
    pub key: String,
    /// The active definition's version.
    pub version: u32,
    /// The active definition (`key@version`).
    pub definition: String,
    /// The flow's title.
    pub title: String,
    /// Its module (`employment`, `archive`, `hukou`).
    pub module: String,
    /// The management list its instances appear in.
    pub list: Option<String>,
    /// Who may start it (`graduate`, `employer`, `school`, …).
    pub start_roles: Vec<String>,
    /// The JSON Schema of the start form (one `oneOf` branch per type for a form with variants).
    pub start_schema: Option<Value>,
    /// Its states.
    pub states: Vec<StateView>,
    /// The parameters' defaults.
    pub params: Value,
}

/// A flow a graduate cannot start now, and why.
#[derive(Object)]
pub struct UnavailableFlow {
    /// The flow's key.
    pub key: String,
    /// The flow's title.
    pub title: String,
    /// Why not, as a stable code (`module_disabled`, `training_mode`, …).
    pub code: String,
    /// Why not, in Chinese.
    pub message: String,
}

/// The flows of `GET /flows`.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FlowList {
    /// What the caller can start (for a graduate: now).
    pub flows: Vec<FlowView>,
    /// For a graduate: the flows they cannot start now, with the reason.
    pub unavailable: Option<Vec<UnavailableFlow>>,
}

/// One step of an instance's history.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HistoryEntry {
    /// The step's number (from 1).
    pub seq: i32,
    /// The action taken.
    pub action: String,
    /// The role that took it.
    pub actor_role: String,
    /// That role as users see it.
    pub actor_role_label: Option<String>,
    /// The account that took it (0 for the system).
    pub actor_account_id: i64,
    /// The state before (absent for the start).
    pub from: Option<String>,
    /// The state after.
    pub to: String,
    /// The review level decided at.
    pub level: Option<String>,
    /// The decision (`approve`, `return`, `reject`).
    pub decision: Option<String>,
    /// The reason's category.
    pub reason_category: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
    /// The action's input.
    pub input: Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// An instance's history.
#[derive(Object)]
pub struct History {
    /// The steps, oldest first.
    pub items: Vec<HistoryEntry>,
}

page_of! {
    /// A page of instances.
    pub struct InstancePage(InstanceView);
}

answers! {
    /// The answers of `GET /flows`.
    pub enum FlowListAnswer {
        /// The flows.
        200 Ok(Json<FlowList>),
        errors:
        /// A query parameter the operation does not take (`unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
    }
}

answers! {
    /// The answers of `POST /flows/{key}/instances`.
    pub enum StartAnswer {
        /// The instance was started.
        201 Created(Json<InstanceView>),
        errors:
        /// The body is not the JSON the operation takes (`invalid_body`), or a path parameter
        /// does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// The caller may not start this flow or not for this graduate (`forbidden`).
        403 Forbidden,
        /// No such flow, or no such graduate in the caller's scope (`not_found`).
        404 NotFound,
        /// The graduate holds what the flow needs free, or the flow is closed to them now
        /// (`not_available`, `slot_taken`, `module_disabled`, `conflict`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The input breaks the form or a rule of the flow (`invalid_input` with per-field codes,
        /// `denied`, `invalid_type`, `guard_limit_exceeded`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /instances/{id}`.
    pub enum InstanceAnswer {
        /// The instance.
        200 Ok(Json<InstanceView>),
        errors:
        /// The id does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Outside the caller's module permissions (`forbidden`).
        403 Forbidden,
        /// No such instance in the caller's scope (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `POST /instances/{id}/actions/{action}` and `…/withdraw`.
    pub enum ActAnswer {
        /// The instance after the action.
        200 Ok(Json<InstanceView>),
        errors:
        /// The body is not the JSON the operation takes (`invalid_body`), or a path parameter
        /// does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// The caller may not take this action (`forbidden`).
        403 Forbidden,
        /// No such instance in the caller's scope (`not_found`).
        404 NotFound,
        /// The action is not available in the instance's state, or someone else decided first
        /// (`not_available`, `moved`, `conflict`, `slot_taken`).
        409 Conflict,
        /// Not JSON (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The input breaks the action's form or a rule of the flow (`invalid_input` with
        /// per-field codes, `denied`, `invalid_type`, `guard_limit_exceeded`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `GET /instances/{id}/history`.
    pub enum HistoryAnswer {
        /// The history.
        200 Ok(Json<History>),
        errors:
        /// The id does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Outside the caller's module permissions (`forbidden`).
        403 Forbidden,
        /// No such instance in the caller's scope (`not_found`).
        404 NotFound,
    }
}

answers! {
    /// The answers of `GET /instances`.
    pub enum InstanceListAnswer {
        /// A page of instances.
        200 Ok(Json<InstancePage>),
        errors:
        /// A parameter does not parse or is not one the list takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Integrator keys see no instances (`forbidden`).
        403 Forbidden,
        /// Paging or order out of bounds (`invalid_page`, `invalid_page_size`, `invalid_sort`).
        422 Invalid,
    }
}

pub struct FlowsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl FlowsApi {
    /// The flows with their start form's JSON Schema.
    ///
    /// The active flows of the caller's province, each with its start form's JSON Schema (a form
    /// with variants has one `oneOf` branch per type), states and parameter defaults. For a
    /// graduate, only what they can start now — the school's switches, their training mode, one
    /// destination at a time, the closing date — and under `unavailable` the others with the
    /// reason (`code`, `message`).
    #[oai(path = "/flows", method = "get", operation_id = "flows_list_flows")]
    async fn list_flows(&self, state: Data<&State>, auth: Token) -> poem::Result<FlowListAnswer> {
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
                    unavailable.push(UnavailableFlow {
                        key: d.def.key.clone(),
                        title: d.def.title.clone(),
                        code: e.body.code,
                        message: e.body.message,
                    });
                    continue;
                }
            }
            let form = d.def.start.form.as_ref().and_then(|f| d.def.forms.get(f));
            flows.push(FlowView {
                key: d.def.key.clone(),
                version: d.def.version,
                definition: d.def.id().to_string(),
                title: d.def.title.clone(),
                module: d.def.module.as_str().to_string(),
                list: d.def.list.clone(),
                start_roles: d
                    .def
                    .start
                    .roles
                    .iter()
                    .map(|r| r.as_str().to_string())
                    .collect(),
                start_schema: form.map(|f| f.json_schema(snap.code_lookup())),
                states: d
                    .def
                    .states
                    .iter()
                    .map(|(k, s)| StateView {
                        name: k.clone(),
                        label: s.label.clone(),
                        kind: s.kind.as_str().to_string(),
                    })
                    .collect(),
                params: Value::Object(d.def.default_params()),
            });
        }
        Ok(FlowListAnswer::Ok(Json(FlowList {
            flows,
            unavailable: (c.role == AccountRole::Graduate).then_some(unavailable),
        })))
    }

    /// Start an instance of a flow.
    ///
    /// The caller starts the flow `key` for themselves (a graduate) or for `graduate_id` (an
    /// employer inviting, a school registering), with the start form's input; the flow's guards
    /// decide whether it may start now.
    #[oai(
        path = "/flows/:key/instances",
        method = "post",
        operation_id = "flows_start"
    )]
    async fn start(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The flow's key (`online_signing`, `destination`, …; see `GET /flows`).
        key: Path<String>,
        body: Json<StartRequest>,
    ) -> poem::Result<StartAnswer> {
        let c = caller(&state, &auth).await?;
        let row = service::start(&state, &c, &key, body.graduate_id, &body.input).await?;
        Ok(StartAnswer::Created(Json(
            one_view(&state, &c, &row).await?,
        )))
    }

    /// An instance, with the actions the caller may take now and each action's input schema.
    ///
    /// Any party of the instance and the reviewers of its school, department or province (within
    /// their module permissions) may read it.
    #[oai(path = "/instances/:id", method = "get", operation_id = "flows_get")]
    async fn get(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
    ) -> poem::Result<InstanceAnswer> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        Ok(InstanceAnswer::Ok(Json(one_view(&state, &c, &row).await?)))
    }

    /// Take an action (accept, decline, approve, return, reject...).
    ///
    /// The action must be one the instance's view lists for the caller now; its input follows
    /// the action's schema. With `expected_version` the action applies only if nobody changed
    /// the instance since (else 409): of two concurrent decisions exactly one wins.
    #[oai(
        path = "/instances/:id/actions/:action",
        method = "post",
        operation_id = "flows_act"
    )]
    async fn act(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
        /// The action's name (see `actions[].name` of the instance).
        action: Path<String>,
        body: Json<ActRequest>,
    ) -> poem::Result<ActAnswer> {
        let c = caller(&state, &auth).await?;
        let row =
            service::act(&state, &c, *id, &action, &body.input, body.expected_version).await?;
        Ok(ActAnswer::Ok(Json(one_view(&state, &c, &row).await?)))
    }

    /// Withdraw an instance the caller started, before anyone else acted on it.
    ///
    /// The same as the `withdraw` action: only the initiator, only while nobody else acted.
    #[oai(
        path = "/instances/:id/withdraw",
        method = "post",
        operation_id = "flows_withdraw"
    )]
    async fn withdraw(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
    ) -> poem::Result<ActAnswer> {
        let c = caller(&state, &auth).await?;
        let row = service::act(&state, &c, *id, "withdraw", &Value::Null, None).await?;
        Ok(ActAnswer::Ok(Json(one_view(&state, &c, &row).await?)))
    }

    /// The full history of an instance: who did what, when, with which decision and reason.
    ///
    /// Readable by whoever may read the instance.
    #[oai(
        path = "/instances/:id/history",
        method = "get",
        operation_id = "flows_history"
    )]
    async fn history(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The instance's id.
        id: Path<i64>,
    ) -> poem::Result<HistoryAnswer> {
        let c = caller(&state, &auth).await?;
        let (row, _) = service::visible_instance(&state, &c, *id).await?;
        let rows = lists::instance_history(&state, row.id).await?;
        let items = rows
            .into_iter()
            .map(|h| HistoryEntry {
                seq: h.seq,
                actor_role_label: Role::parse(&h.actor_role).map(|r| role_label(r).to_string()),
                action: h.action,
                actor_role: h.actor_role,
                actor_account_id: h.actor_account_id,
                from: h.from_state,
                to: h.to_state,
                level: h.level,
                decision: h.decision,
                reason_category: h.reason_category,
                reason: h.reason,
                input: serde_json::from_str::<Value>(&h.input).unwrap_or(Value::Null),
                at: h.at,
            })
            .collect();
        Ok(HistoryAnswer::Ok(Json(History { items })))
    }

    /// Instances in the caller's scope (a graduate's or employer's own; a school's...).
    ///
    /// A graduate or employer sees their own, a department its department's, a school its
    /// school's, a province its province's; filtered by flow and state, newest first by default.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/instances", method = "get", operation_id = "flows_list")]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        /// Only instances of this flow (its key).
        flow: Query<Option<String>>,
        /// Only instances in this state (its name).
        state_name: Query<Option<String>>,
        /// Order: `created_at` (the default, `-created_at`), `updated_at`; `-` before a key for
        /// descending.
        sort: Query<Option<String>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<InstanceListAnswer> {
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
        let sort = Sort::parse(sort.0.as_deref(), &INSTANCE_SORT, "-created_at")?;
        let p = lists::instances_page(
            &state,
            scope,
            flow.0,
            state_name.0,
            sort,
            page.0,
            page_size.0,
            &super::PAGE_SIZE,
        )
        .await?;
        let items = instance_views(&state, &c, &p.rows).await?;
        Ok(InstanceListAnswer::Ok(Json(InstancePage {
            total: p.total,
            page: p.page,
            page_size: p.size,
            items,
        })))
    }
}

/// The keys `GET /instances` sorts by.
pub const INSTANCE_SORT: [&str; 2] = ["created_at", "updated_at"];
