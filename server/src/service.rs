//! The service layer: starting instances, taking actions, firing timers and reacting to events.
//! It loads facts, asks the engine for an outcome and hands it to the store.

use std::collections::HashMap;
use std::sync::Arc;

use gradflow_engine::apply::{self, Actor, Ctx, Parties};
use gradflow_engine::definition::{Definition, Module};
use gradflow_engine::registry::{LoadedDefinition, Registry, Snapshot};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Map, Value};

use crate::auth::{AccountRole, Auth, Caller};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
pub use crate::definitions::{definition_unusable, pinned};
use crate::entity::{instance, province_param, slot, timer};
use crate::error::{ApiError, ApiResult};
use crate::facts::{load_facts, student_snapshot, Facts};
use crate::scope;
use crate::store::{self, Transition};

/// Everything a request handler or worker needs.
pub struct AppState {
    pub db: Db,
    pub registry: Registry,
    pub clock: Clock,
    pub config: Config,
    pub auth: Auth,
    /// Where guard scripts run (bounded, with a deadline).
    pub guards: crate::guards::GuardPool,
    /// Failed password logins per client address.
    pub login_failures: crate::login::AddressFailures,
    /// Public lookups (去向登记信息在线核验) per client address.
    pub lookups: crate::services::sheet::LookupLimiter,
    /// Set when the server is asked to stop: long work ends at its next safe point.
    pub shutdown: crate::lifecycle::Shutdown,
}

pub type State = Arc<AppState>;

/// Refuses a new 补登 or destination registration when the school switched it off (SPEC.md
/// 2.2: separate switches, on by default).
fn require_switch(f: &Facts, list: Option<&str>) -> ApiResult<()> {
    let (on, name) = match list {
        Some("supplement") => (f.school.supplement_enabled, "补登"),
        Some(crate::facts::DESTINATION_LIST) => (f.school.destination_enabled, "填报去向登记"),
        _ => return Ok(()),
    };
    if on {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "module_disabled",
            format!("学校尚未开启“{name}”功能，请联系学校就业部门"),
        ))
    }
}

/// Refuses when the province or the school has not switched the module on (SPEC.md 2).
fn require_enabled(f: &Facts, module: Module) -> ApiResult<()> {
    let (province_on, school_on) = match module {
        Module::Employment => (f.province.employment_enabled, f.school.signing_enabled),
        Module::Archive => (f.province.archive_enabled, f.school.archive_enabled),
        Module::Hukou => (f.province.hukou_enabled, f.school.hukou_enabled),
    };
    let name = crate::auth::module_title(module);
    if !province_on {
        return Err(ApiError::unprocessable(
            "module_disabled",
            format!("本省尚未开启“{name}”功能"),
        ));
    }
    if !school_on {
        return Err(ApiError::unprocessable(
            "module_disabled",
            format!("学校尚未开启“{name}”功能，请联系学校就业部门"),
        ));
    }
    if module == Module::Employment && !f.school.settings_saved {
        return Err(ApiError::unprocessable(
            "settings_not_saved",
            "学校尚未完成签约设置，毕业生暂不能使用该模块",
        ));
    }
    if module == Module::Hukou && !f.graduate.hukou_in_school {
        return Err(ApiError::unprocessable(
            "hukou_not_in_school",
            "该毕业生入学时户口未迁入学校，不能使用户口信息登记",
        ));
    }
    Ok(())
}

/// Refuses people's actions for a graduate who left the roster or whose cohort closed
/// (SPEC.md 3). System steps (timers, reactions) still run.
fn require_active(f: &Facts, now: chrono::DateTime<chrono::Utc>) -> ApiResult<()> {
    if f.graduate.removed {
        return Err(ApiError::unprocessable(
            "graduate_removed",
            "该毕业生已从学生名单中删除（见失效信息管理），不能再签约或登记",
        ));
    }
    if !scope::cohort_can_act(f.graduate.cohort, now) {
        return Err(scope::cohort_closed(f.graduate.cohort));
    }
    Ok(())
}

/// The form of `action` taken in `state` (`start` for a new instance), if it has one.
pub(crate) fn action_form<'d>(
    def: &'d gradflow_engine::definition::Definition,
    state: Option<&str>,
    action: &str,
) -> Option<&'d gradflow_engine::form::Form> {
    let name = match state {
        None => def.start.form.as_ref()?,
        Some(s) => def.state(s)?.actions.get(action)?.form.as_ref()?,
    };
    def.forms.get(name)
}

/// File fields must name uploads the acting account made, of an accepted type and size
/// (SPEC.md 6.3); the engine only sees ids. An upload belongs to the first instance that uses
/// it: it is refused for any other (`instance` is `None` when starting). Returns the ids to
/// bind in the transition.
async fn check_uploads(
    state: &AppState,
    form: Option<&gradflow_engine::form::Form>,
    input: &Value,
    actor: &Actor,
    instance: Option<i64>,
) -> ApiResult<Vec<String>> {
    use gradflow_engine::form::{FieldError, FieldKind};
    let Some(form) = form else {
        return Ok(Vec::new());
    };
    // The fields the input's variant asks for (a field name may stand in several variants,
    // each with its own label and rules).
    let chosen = match &form.variants {
        Some(v) => form.for_value(input.get(&v.by).and_then(Value::as_str)),
        None => form.clone(),
    };
    let named: Vec<_> = chosen
        .fields
        .iter()
        .filter_map(|f| match &f.kind {
            FieldKind::File { accept, max_kb } => input
                .get(&f.name)
                .and_then(Value::as_str)
                .map(|id| (f, accept, max_kb, id.trim().to_string())),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return Ok(Vec::new());
    }
    // Among those named, the caller's uploads, and those already part of this instance (a
    // reviewer changing an application keeps its proof), in one query.
    use crate::entity::upload::Column as U;
    let whose = match instance {
        Some(id) => sea_orm::Condition::any()
            .add(U::AccountId.eq(actor.account_id))
            .add(U::InstanceId.eq(id)),
        None => sea_orm::Condition::all().add(U::AccountId.eq(actor.account_id)),
    };
    let mine: HashMap<String, crate::entity::upload::Model> = crate::entity::upload::Entity::find()
        .filter(U::Id.is_in(named.iter().map(|n| n.3.clone())))
        .filter(whose)
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let mut errors = Vec::new();
    let mut used = Vec::new();
    for (f, accept, max_kb, id) in named {
        let err = |code: &str, problem: String| FieldError {
            field: f.name.clone(),
            label: f.label.clone(),
            code: code.into(),
            message: format!("{}：{problem}", f.label),
        };
        let Some(up) = mine.get(&id) else {
            errors.push(err(
                "upload_not_found",
                "文件不存在或不是你上传的，请重新上传".into(),
            ));
            continue;
        };
        let ext = up.path.rsplit('.').next().unwrap_or_default();
        let allowed = accept.is_empty()
            || accept
                .iter()
                .any(|a| crate::uploads::Kind::from_ext(a).map(|k| k.ext()) == Some(ext));
        if !allowed {
            errors.push(err(
                "upload_type",
                format!("只能上传 {} 格式的文件", accept.join("、")),
            ));
        } else if max_kb.is_some_and(|kb| up.size as u64 > kb * 1024) {
            errors.push(err(
                "upload_too_large",
                format!("文件不能超过 {} KB", max_kb.unwrap_or_default()),
            ));
        } else if up.instance_id.is_some() && up.instance_id != instance {
            errors.push(err(
                "upload_used",
                "该文件已用于另一项申请，请重新上传".into(),
            ));
        } else {
            used.push(id);
        }
    }
    if errors.is_empty() {
        Ok(used)
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// The flow's parameters in force in `province` (its defaults under the province's overrides).
async fn province_params(
    state: &AppState,
    def: &Definition,
    province: &str,
) -> ApiResult<Map<String, Value>> {
    let overrides = province_overrides(&state.db, province, &def.key).await?;
    def.resolve_params(&overrides).map_err(|errs| {
        ApiError::internal(format!(
            "province params of {} invalid: {}",
            def.key,
            errs.join("; ")
        ))
    })
}

/// Keeps the graduate's basic info as it was when the instance started (`vars.student`).
fn record_student(outcome: &mut apply::Outcome, facts: &Facts) {
    let training_label = facts.value["graduate"]["training_mode_label"].clone();
    outcome.vars.insert(
        store::STUDENT_VAR.into(),
        student_snapshot(&facts.graduate, &training_label),
    );
}

/// The province's parameter overrides for a definition key.
async fn province_overrides(db: &Db, province: &str, key: &str) -> ApiResult<Map<String, Value>> {
    let row = province_param::Entity::find_by_id((province.to_string(), key.to_string()))
        .one(&db.conn)
        .await?;
    Ok(match row {
        Some(r) => serde_json::from_str(&r.params).map_err(ApiError::internal)?,
        None => Map::new(),
    })
}

/// Instances are acted on by people; what a flow gives the system role (timers, reactions,
/// links) only the system itself does. The administrator's token acts as the system
/// elsewhere, so it is refused here.
fn require_person(caller: &Caller) -> ApiResult<()> {
    if caller.actor.role == gradflow_engine::definition::Role::System {
        return Err(ApiError::forbidden(
            "系统管理员和接口密钥不能办理事项（定时和自动操作只由系统执行）",
        ));
    }
    Ok(())
}

/// What a start needs before its input: the definition, the instance it acts on (`on:`),
/// the facts, the parameters and the parties.
struct Prepared<'s> {
    def: &'s LoadedDefinition,
    subject: Option<(&'s gradflow_engine::definition::StartOn, instance::Model)>,
    facts: Facts,
    params: Map<String, Value>,
    parties: Parties,
}

/// Everything up to the engine's start: the graduate in the caller's scope, the active
/// definition, the caller's module level, the instance a flow acting on a slot binds, the
/// facts, the switches and the parameters. Each refusal says why.
async fn prepare_start<'s>(
    state: &AppState,
    caller: &Caller,
    snap: &'s Snapshot,
    key: &str,
    graduate_id: Option<i64>,
    memo: &mut FactsMemo,
) -> ApiResult<Prepared<'s>> {
    let graduate_id = match caller.role {
        AccountRole::Graduate => caller
            .actor
            .graduate_id
            .ok_or_else(ApiError::unauthorized)?,
        _ => graduate_id.ok_or_else(|| {
            ApiError::unprocessable("graduate_required", "graduate_id：请指定毕业生")
        })?,
    };
    let g = crate::facts::graduate_row(&state.db, graduate_id)
        .await?
        .filter(|g| scope::sees_graduate(caller, g))
        .ok_or_else(|| ApiError::not_found("毕业生不存在"))?;
    if let Some((id, why)) = snap.unusable_active(key, Some(&g.province_code)) {
        return Err(definition_unusable(id, why));
    }
    let def = snap
        .active(key, Some(&g.province_code))
        .ok_or_else(|| ApiError::not_found(format!("流程 {key} 不存在")))?;
    caller.require_write(def.def.module)?;
    // A flow acting on a held slot (a termination on the valid agreement) binds its holder.
    let subject = match &def.def.start.on {
        Some(on) => {
            let holder = slot::Entity::find()
                .filter(slot::Column::SlotKey.eq(format!("{}:g{graduate_id}", on.slot)))
                .one(&state.db.conn)
                .await?;
            let holder = match holder {
                Some(h) => {
                    instance::Entity::find_by_id(h.instance_id)
                        .one(&state.db.conn)
                        .await?
                }
                None => None,
            };
            // An employer only learns of agreements it is party to.
            let holder = holder.filter(|h| {
                caller.role != AccountRole::Employer || h.employer_id == caller.actor.employer_id
            });
            Some((
                on,
                holder.ok_or_else(|| {
                    ApiError::unprocessable("nothing_to_act_on", on.missing.clone())
                })?,
            ))
        }
        None => None,
    };
    let employer_id = match &subject {
        Some((_, h)) => h.employer_id,
        None => caller
            .actor
            .employer_id
            .filter(|_| caller.role == AccountRole::Employer),
    };
    let memo_key = (
        def.def.module,
        def.def.facts.clone(),
        graduate_id,
        employer_id,
    );
    let mut facts = match memo.0.get(&memo_key) {
        Some(f) => f.clone(),
        None => {
            let f = load_facts(&state.db, snap, graduate_id, employer_id, &def.def).await?;
            memo.0.insert(memo_key, f.clone());
            f
        }
    };
    require_enabled(&facts, def.def.module)?;
    require_switch(&facts, def.def.list.as_deref())?;
    require_active(&facts, state.clock.now())?;
    if let Some((_, h)) = &subject {
        let hv: Map<String, Value> = serde_json::from_str(&h.vars).map_err(ApiError::internal)?;
        let text = |k: &str| hv.get(k).and_then(Value::as_str).map(str::to_string);
        facts.value["subject"] = serde_json::to_value(crate::contract::SubjectFacts {
            id: h.id,
            flow: h.def_key.clone(),
            state: h.state.clone(),
            employer_id: h.employer_id,
            agreement_no: text("agreement_no"),
            employer_name: text("employer_name"),
        })
        .map_err(ApiError::internal)?;
    }
    let params = province_params(state, &def.def, &g.province_code).await?;
    let parties = Parties {
        province: g.province_code.clone(),
        school_id: g.school_id,
        department: g.department.clone(),
        graduate_id,
        employer_id,
        initiator: caller.actor.party(),
    };
    Ok(Prepared {
        def,
        subject,
        facts,
        params,
        parties,
    })
}

/// Facts already loaded for this request, by what makes them differ (the flow's module and
/// optional facts, the graduate, the employer): `GET /flows` asks for every flow of one
/// graduate and loads them once.
#[derive(Default)]
pub struct FactsMemo(HashMap<(Module, Vec<String>, i64, Option<i64>), Facts>);

/// Whether the graduate caller may start flow `key` now, before any input (`GET /flows`):
/// everything a start checks first, then the flow's `available` guard. The refusal says why.
pub async fn available(
    state: &AppState,
    caller: &Caller,
    snap: &Snapshot,
    key: &str,
    memo: &mut FactsMemo,
) -> ApiResult<()> {
    require_person(caller)?;
    let p = prepare_start(state, caller, snap, key, None, memo).await?;
    let ctx = Ctx {
        actor: &caller.actor,
        facts: &p.facts.value,
        now: state.clock.now(),
        guards: snap,
        tables: snap.code_lookup(),
    };
    let check = || apply::available(&p.def.def, &ctx, &p.parties, &p.params);
    let checked = if p.def.def.start.available.is_some() {
        state.guards.run(check).await?
    } else {
        check()
    };
    checked.map_err(|e| engine_error(p.def, e))
}

/// Starts an instance of flow `key` for a graduate.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    key: &str,
    graduate_id: Option<i64>,
    input: &Value,
) -> ApiResult<instance::Model> {
    require_person(caller)?;
    let snap = state.registry.snapshot();
    let Prepared {
        def,
        subject,
        facts,
        params,
        parties,
    } = prepare_start(
        state,
        caller,
        &snap,
        key,
        graduate_id,
        &mut FactsMemo::default(),
    )
    .await?;
    // Uploads are checked for those who may start at all (the engine answers the others).
    let mut uploads = Vec::new();
    if apply::any_role_matches(&def.def.start.roles, &caller.actor, &parties) {
        uploads = check_uploads(
            state,
            action_form(&def.def, None, "start"),
            input,
            &caller.actor,
            None,
        )
        .await?;
    }
    let now = state.clock.now();
    let ctx = Ctx {
        actor: &caller.actor,
        facts: &facts.value,
        now,
        guards: &*snap,
        tables: snap.code_lookup(),
    };
    let start = || {
        let _span = tracing::info_span!("transition", flow = key, action = "start").entered();
        apply::start(&def.def, &ctx, &parties, &params, input)
    };
    let started = if def.def.start.guard.is_some() || def.def.start.available.is_some() {
        state.guards.run(start).await?
    } else {
        start()
    };
    let mut outcome = started.map_err(|e| engine_error(def, e))?;
    record_student(&mut outcome, &facts);
    if let Some((on, h)) = &subject {
        outcome.vars.insert(on.var.clone(), json!(h.id));
        outcome
            .vars
            .insert("subject_flow".into(), json!(h.def_key.clone()));
        for k in ["agreement_no", "employer_name"] {
            if let Some(v) = facts.value["subject"].get(k).filter(|v| !v.is_null()) {
                outcome.vars.entry(k.to_string()).or_insert(v.clone());
            }
        }
        if let Some(name) = facts
            .value
            .pointer("/employer/name")
            .filter(|v| !v.is_null())
        {
            outcome
                .vars
                .entry("employer_name".to_string())
                .or_insert(name.clone());
        }
    }
    store::persist(
        &state.db,
        Transition {
            snapshot: &snap,
            def,
            actor: &caller.actor,
            current: None,
            parties: &parties,
            params: &params,
            facts: &facts.value,
            outcome,
            now,
            link_base: &state.config.public_url,
            uploads: &uploads,
        },
    )
    .await
}

/// Loads an instance the caller may see, with its pinned definition.
pub async fn visible_instance(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<(instance::Model, Arc<Snapshot>)> {
    let row = instance::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|r| scope::sees_instance(caller, r))
        .ok_or_else(|| ApiError::not_found("事项不存在"))?;
    let module = module_of(&row)?;
    caller.require_view(module)?;
    Ok((row, state.registry.snapshot()))
}

pub fn module_of(row: &instance::Model) -> ApiResult<Module> {
    serde_json::from_value(Value::String(row.module.clone())).map_err(ApiError::internal)
}

/// Takes `action` on instance `id` as `caller`.
pub async fn act(
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: &str,
    input: &Value,
    expected_version: Option<i32>,
) -> ApiResult<instance::Model> {
    let (row, snap) = visible_instance(state, caller, id).await?;
    act_on(state, caller, &snap, &row, action, input, expected_version).await
}

/// [`act`] on an instance `row` the caller already read with [`visible_instance`].
pub async fn act_on(
    state: &AppState,
    caller: &Caller,
    snap: &Snapshot,
    row: &instance::Model,
    action: &str,
    input: &Value,
    expected_version: Option<i32>,
) -> ApiResult<instance::Model> {
    require_person(caller)?;
    let def = pinned(snap, row)?;
    caller.require_write(def.def.module)?;
    if let Some(v) = expected_version {
        if v != row.row_version {
            return Err(ApiError::stale());
        }
    }
    transition(state, snap, def, &caller.actor, row, action, input).await
}

/// 快速审核 of instance `id` as `caller`: the approval of its current review level, taken only when
/// the state's quick script passes (one transition, like an ordinary approval; a refusal of
/// the script answers its code and message).
pub async fn quick_approve(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<instance::Model> {
    let (row, snap) = visible_instance(state, caller, id).await?;
    require_person(caller)?;
    let def = pinned(&snap, &row)?;
    caller.require_write(def.def.module)?;
    let stored = step(
        state,
        &snap,
        def,
        &caller.actor,
        &row,
        gradflow_engine::definition::APPROVE,
        &[],
        true,
        |ctx, inst| {
            apply::quick_review(&def.def, ctx, &inst.state, &inst.vars, &inst.params)?;
            apply::apply(
                &def.def,
                ctx,
                inst,
                gradflow_engine::definition::APPROVE,
                &Value::Null,
            )
            .map(Some)
        },
    )
    .await?;
    stored.ok_or_else(|| ApiError::internal("apply returned no outcome"))
}

/// Takes a `system` action of instance `row` on behalf of an outside system (the management
/// system's flow-back): `actor` is the system role with the integrator key's account (so the
/// audit names who delivered it), `source` is recorded in `vars.source` in the same write.
/// The input carries no uploads (data from elsewhere has none).
pub async fn system_act(
    state: &AppState,
    actor: &Actor,
    row: &instance::Model,
    action: &str,
    input: &Value,
    source: Value,
) -> ApiResult<instance::Model> {
    let snap = state.registry.snapshot();
    let def = pinned(&snap, row)?;
    let stored = step(
        state,
        &snap,
        def,
        actor,
        row,
        action,
        &[],
        true,
        |ctx, inst| {
            let mut o = apply::apply(&def.def, ctx, inst, action, input)?;
            o.vars.insert(apply::SOURCE.into(), source);
            Ok(Some(o))
        },
    )
    .await?;
    stored.ok_or_else(|| ApiError::internal("apply returned no outcome"))
}

/// Runs one action on a loaded instance and persists it.
pub async fn transition(
    state: &AppState,
    snap: &Snapshot,
    def: &LoadedDefinition,
    actor: &Actor,
    row: &instance::Model,
    action: &str,
    input: &Value,
) -> ApiResult<instance::Model> {
    let parties = store::parties_of(row);
    let allowed = def
        .def
        .state(&row.state)
        .and_then(|s| s.actions.get(action))
        .is_some_and(|a| apply::any_role_matches(&a.roles, actor, &parties));
    let uploads = if allowed {
        check_uploads(
            state,
            action_form(&def.def, Some(&row.state), action),
            input,
            actor,
            Some(row.id),
        )
        .await?
    } else {
        Vec::new()
    };
    let scripted = def
        .def
        .state(&row.state)
        .and_then(|s| s.actions.get(action))
        .is_some_and(|a| a.guard.is_some());
    let stored = step(
        state,
        snap,
        def,
        actor,
        row,
        action,
        &uploads,
        scripted,
        |ctx, inst| apply::apply(&def.def, ctx, inst, action, input).map(Some),
    )
    .await?;
    stored.ok_or_else(|| ApiError::internal("apply returned no outcome"))
}

/// Loads the facts, computes the outcome with `compute` (inside a transition span; among the
/// guard pool's when it runs a guard script, `scripted`) and persists it; `None` when
/// `compute` decides nothing happens. A refusal computed from a row that changed meanwhile
/// is a conflict: the caller's view was stale, whatever the engine said of it.
#[allow(clippy::too_many_arguments)]
async fn step(
    state: &AppState,
    snap: &Snapshot,
    def: &LoadedDefinition,
    actor: &Actor,
    row: &instance::Model,
    action: &str,
    uploads: &[String],
    scripted: bool,
    compute: impl FnOnce(
        &Ctx<'_>,
        &apply::Instance,
    ) -> Result<Option<apply::Outcome>, apply::EngineError>,
) -> ApiResult<Option<instance::Model>> {
    let facts = load_facts(&state.db, snap, row.graduate_id, row.employer_id, &def.def).await?;
    let inst = store::to_engine(row)?;
    let now = state.clock.now();
    if actor.role != gradflow_engine::definition::Role::System {
        require_active(&facts, now)?;
    }
    let ctx = Ctx {
        actor,
        facts: &facts.value,
        now,
        guards: snap,
        tables: snap.code_lookup(),
    };
    let run = || {
        let _span =
            tracing::info_span!("transition", instance = row.id, flow = %def.def.key, action)
                .entered();
        compute(&ctx, &inst)
    };
    let computed = if scripted {
        state.guards.run(run).await?
    } else {
        run()
    };
    let outcome = match computed {
        Ok(o) => o,
        Err(e) => return Err(refusal(state, def, row, e).await),
    };
    let Some(outcome) = outcome else {
        return Ok(None);
    };
    store::persist(
        &state.db,
        Transition {
            snapshot: snap,
            def,
            actor,
            current: Some(row),
            parties: &inst.parties,
            params: &inst.params,
            facts: &facts.value,
            outcome,
            now,
            link_base: &state.config.public_url,
            uploads,
        },
    )
    .await
    .map(Some)
}

/// The answer to an engine refusal: a conflict when the instance changed since it was read
/// (a concurrent decision won; the engine judged a stale row), else the refusal itself.
async fn refusal(
    state: &AppState,
    def: &LoadedDefinition,
    row: &instance::Model,
    e: apply::EngineError,
) -> ApiError {
    use apply::EngineError as E;
    if matches!(
        e,
        E::Denied { .. } | E::Forbidden(_) | E::NotAvailable { .. } | E::Moved(_)
    ) {
        use sea_orm::QuerySelect;
        let now: Result<Option<i32>, _> = instance::Entity::find_by_id(row.id)
            .select_only()
            .column(instance::Column::RowVersion)
            .into_tuple()
            .one(&state.db.conn)
            .await;
        if matches!(now, Ok(Some(v)) if v != row.row_version) {
            return ApiError::stale();
        }
    }
    engine_error(def, e)
}

/// An engine refusal as the client gets it; a guard that failed or ran into a limit is logged
/// with the flow, its version and the script, for the administrator who must fix it.
fn engine_error(def: &LoadedDefinition, e: apply::EngineError) -> ApiError {
    if let apply::EngineError::Script(s) = &e {
        tracing::error!(
            definition = %def.def.id(),
            script = %s.script,
            limit = s.limit,
            error = %s.message,
            "guard failed"
        );
    }
    e.into()
}

/// How often a system step that lost a race (a timer, a reaction) is tried again on the
/// re-read row before giving up (the outbox or the timer worker then tries later).
pub const SYSTEM_RETRIES: usize = 20;

/// Whether an error is a lost race on the instance row (worth re-reading and trying again).
pub fn is_race(e: &ApiError) -> bool {
    e.status == poem::http::StatusCode::CONFLICT && e.body.code == "conflict"
}

/// Delivers an event (emitted by instance `source`, if any) to every instance of the graduate
/// whose definition reacts to it; how many reacted. An instance that changed meanwhile (a timer fired, a person acted) is read
/// again and the reaction retried: a system caller never sees an internal race.
pub async fn react_to_event(
    state: &AppState,
    graduate_id: i64,
    event: &str,
    source: Option<i64>,
) -> ApiResult<usize> {
    // 转递编号: an important change makes the graduate's numbers stale.
    crate::services::transfer::on_event(state, graduate_id, event).await?;
    let snap = state.registry.snapshot();
    let rows = instance::Entity::find()
        .filter(instance::Column::GraduateId.eq(graduate_id))
        .all(&state.db.conn)
        .await?;
    // The instance that emitted the event: what reactions and intakes take from it.
    let src = match source {
        Some(id) => match rows.iter().find(|r| r.id == id) {
            Some(r) => Some(r.clone()),
            None => instance::Entity::find_by_id(id).one(&state.db.conn).await?,
        },
        None => None,
    };
    let src_vars: Option<Map<String, Value>> = match &src {
        Some(s) => Some(serde_json::from_str(&s.vars).map_err(ApiError::internal)?),
        None => None,
    };
    let from = source.map(|id| apply::EventSource {
        id,
        vars: src_vars.as_ref(),
    });
    let actor = Actor::system();
    let action = format!("on:{event}");
    let mut n = 0;
    for row in rows {
        let def = pinned(&snap, &row)?;
        if !def.def.reactions.iter().any(|r| r.event == event) {
            continue;
        }
        // What its timers have left, kept by a reaction that suspends it (a roster removal);
        // read only where its state sets timers.
        let timed = def
            .def
            .state(&row.state)
            .is_some_and(|s| !s.timers.is_empty());
        let timers: Vec<apply::TimerSpec> = if timed {
            timer::Entity::find()
                .filter(timer::Column::InstanceId.eq(row.id))
                .filter(timer::Column::State.eq(row.state.clone()))
                .all(&state.db.conn)
                .await?
                .into_iter()
                .map(|t| apply::TimerSpec {
                    action: t.action,
                    due: t.due_at,
                })
                .collect()
        } else {
            Vec::new()
        };
        let reacted = system_step(
            state,
            &snap,
            def,
            &actor,
            row,
            &action,
            false,
            |ctx, inst| {
                let inst = apply::Instance {
                    timers: timers.clone(),
                    ..inst.clone()
                };
                apply::react(&def.def, ctx, &inst, event, from)
            },
        )
        .await?;
        n += usize::from(reacted.is_some());
    }
    if let (Some(src), Some(src_vars)) = (&src, &src_vars) {
        n += intake_event(state, &snap, graduate_id, event, src, src_vars).await?;
    }
    Ok(n)
}

/// One step of the system on `row` (a reaction, a follow; `scripted`: it runs guards): a lost
/// race is read again and tried again (up to [`SYSTEM_RETRIES`]); `None` when nothing was to
/// be done or the row is gone.
#[allow(clippy::too_many_arguments)]
async fn system_step(
    state: &AppState,
    snap: &Snapshot,
    def: &LoadedDefinition,
    actor: &Actor,
    mut row: instance::Model,
    action: &str,
    scripted: bool,
    compute: impl Fn(&Ctx<'_>, &apply::Instance) -> Result<Option<apply::Outcome>, apply::EngineError>,
) -> ApiResult<Option<instance::Model>> {
    let mut attempt = 0;
    loop {
        match step(
            state,
            snap,
            def,
            actor,
            &row,
            action,
            &[],
            scripted,
            &compute,
        )
        .await
        {
            Err(e) if is_race(&e) && attempt < SYSTEM_RETRIES => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(attempt as u64)).await;
                match instance::Entity::find_by_id(row.id)
                    .one(&state.db.conn)
                    .await?
                {
                    Some(fresh) => row = fresh,
                    None => return Ok(None),
                }
            }
            other => return other,
        }
    }
}

/// 来自签约: starts, as the system, every flow whose `intake` takes `event` for a graduate who
/// holds none of its slots, from the variables of the instance that emitted it; and where the
/// event is the intake's `follow` event (an approved agreement modified), carries the change
/// into what the intake registered from that instance (or registers a graduate who holds
/// nothing). How many started or followed. Data the flow refuses (its form or guard, a module
/// not switched on, the hukou not in the school) is not taken — the graduate registers as
/// usual — and only logged by ids.
async fn intake_event(
    state: &AppState,
    snap: &Snapshot,
    graduate_id: i64,
    event: &str,
    src: &instance::Model,
    src_vars: &Map<String, Value>,
) -> ApiResult<usize> {
    let source = src.id;
    let src_title = pinned(snap, src)
        .map(|d| d.def.title.clone())
        .unwrap_or_else(|_| src.def_key.clone());
    let parties = Parties {
        province: src.province_code.clone(),
        school_id: src.school_id,
        department: src.department.clone(),
        graduate_id,
        employer_id: None,
        initiator: Actor::system().party(),
    };
    let mut n = 0;
    for key in snap.keys() {
        let Some(def) = snap.active(&key, Some(&src.province_code)) else {
            continue;
        };
        for intake in &def.def.intake {
            let follows = intake.follow.as_ref().is_some_and(|f| f.event == event);
            if intake.event != event && !follows {
                continue;
            }
            if let Some(held) = held_slot(state, &def.def, graduate_id).await? {
                if follows {
                    n += usize::from(follow(state, snap, held, intake, src, src_vars).await?);
                }
                continue;
            }
            let from = IntakeSource {
                vars: src_vars,
                source: json!({"flow": src.def_key, "title": src_title, "instance_id": src.id}),
                actor: Actor::system(),
            };
            match start_by_intake(state, snap, def, intake, &parties, from).await {
                Ok(Some(_)) => n += 1,
                Ok(None) => {}
                // The graduate registered meanwhile: what they registered stays.
                Err(e) if e.status == poem::http::StatusCode::CONFLICT => {
                    tracing::debug!(flow = %key, instance = source, "intake lost to a registration");
                }
                Err(e) if e.status.is_client_error() => {
                    tracing::info!(flow = %key, instance = source, code = %e.body.code, "intake not taken");
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(n)
}

/// Carries a change of `src` into `held` when the intake of `held`'s own definition version
/// with `intake`'s event follows it ([`apply::follow`]); whether it did. A refusal of the
/// changed data (form, guard) leaves the registration as it is and is logged by ids.
async fn follow(
    state: &AppState,
    snap: &Snapshot,
    held: instance::Model,
    intake: &gradflow_engine::definition::IntakeDef,
    src: &instance::Model,
    src_vars: &Map<String, Value>,
) -> ApiResult<bool> {
    let def = pinned(snap, &held)?;
    let Some(own) = def.def.intake.iter().find(|i| i.event == intake.event) else {
        return Ok(false);
    };
    let Some(action) = own.follow.as_ref().and_then(|f| f.action.as_deref()) else {
        return Ok(false);
    };
    let id = held.id;
    let followed = system_step(
        state,
        snap,
        def,
        &Actor::system(),
        held,
        action,
        true,
        |ctx, inst| apply::follow(&def.def, ctx, inst, own, src.id, src_vars),
    )
    .await;
    match followed {
        Ok(row) => Ok(row.is_some()),
        Err(e) if e.status.is_client_error() => {
            tracing::info!(instance = id, source = src.id, code = %e.body.code, "change not followed");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The instance holding one of `def`'s slots for the graduate, if any.
pub async fn held_slot(
    state: &AppState,
    def: &Definition,
    graduate_id: i64,
) -> ApiResult<Option<instance::Model>> {
    for slot_name in def.slots.keys() {
        if let Some(h) = slot_holder(state, slot_name, graduate_id).await? {
            return Ok(Some(h));
        }
    }
    Ok(None)
}

/// The instance holding the graduate's slot `slot_name` (`agreement`, `archive`…), if any.
pub async fn slot_holder(
    state: &AppState,
    slot_name: &str,
    graduate_id: i64,
) -> ApiResult<Option<instance::Model>> {
    let holder = sea_orm::sea_query::Query::select()
        .column(slot::Column::InstanceId)
        .from(slot::Entity)
        .and_where(slot::Column::SlotKey.eq(format!("{slot_name}:g{graduate_id}")))
        .to_owned();
    Ok(instance::Entity::find()
        .filter(instance::Column::Id.in_subquery(holder))
        .one(&state.db.conn)
        .await?)
}

/// Where an intake's data comes from: the variables it reads, what `vars.source` records, and
/// who delivers it (the system; its account, when an integrator key delivered it, is audited).
pub struct IntakeSource<'a> {
    pub vars: &'a Map<String, Value>,
    pub source: Value,
    pub actor: Actor,
}

/// Starts `def` for the graduate of `parties` by its `intake`, from `from`'s variables: the
/// stored instance, `None` when the intake's condition does not hold, or the refusal (module
/// not switched on, the form or guard refused, 409 when the graduate registered meanwhile).
pub async fn start_by_intake(
    state: &AppState,
    snap: &Snapshot,
    def: &LoadedDefinition,
    intake: &gradflow_engine::definition::IntakeDef,
    parties: &Parties,
    from: IntakeSource<'_>,
) -> ApiResult<Option<instance::Model>> {
    let facts = load_facts(&state.db, snap, parties.graduate_id, None, &def.def).await?;
    require_enabled(&facts, def.def.module)?;
    let params = province_params(state, &def.def, &parties.province).await?;
    let now = state.clock.now();
    let ctx = Ctx {
        actor: &from.actor,
        facts: &facts.value,
        now,
        guards: snap,
        tables: snap.code_lookup(),
    };
    let computed = state
        .guards
        .run(|| apply::intake(&def.def, &ctx, parties, &params, intake, from.vars))
        .await?;
    let mut outcome = match computed {
        Ok(Some(o)) => o,
        Ok(None) => return Ok(None),
        Err(e) => return Err(engine_error(def, e)),
    };
    record_student(&mut outcome, &facts);
    let mut source = from.source;
    if intake.follow.is_some() {
        source[apply::TAKEN] = Value::Object(outcome.input.clone());
    }
    outcome.vars.insert(apply::SOURCE.into(), source);
    store::persist(
        &state.db,
        Transition {
            snapshot: snap,
            def,
            actor: &from.actor,
            current: None,
            parties,
            params: &params,
            facts: &facts.value,
            outcome,
            now,
            link_base: &state.config.public_url,
            uploads: &[],
        },
    )
    .await
    .map(Some)
}
