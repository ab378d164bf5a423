//! The pure transition: `start` and `apply` compute an [`Outcome`] and perform nothing.
//!
//! The server persists the outcome (state, history, tasks, timers, slots and outbox rows) in
//! one transaction and a worker carries the effects out afterwards.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::definition::{
    slot_name, Definition, EffectDef, ReviewDef, Role, SlotPart, StateDef, StateKind, APPROVE,
    PREVIOUS_STATE, REJECT, RETURN, STANDING_BEFORE_REACTION, STATE_BEFORE_REACTION,
};
use crate::duration::parse_duration;
use crate::form::{CodeLookup, Field, FieldError, FieldKind, Form};
use crate::script::{GuardVerdict, ScriptContext, ScriptError};

/// Who is acting, with the scope their account carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    pub role: Role,
    pub account_id: i64,
    #[serde(default)]
    pub province: Option<String>,
    #[serde(default)]
    pub school_id: Option<i64>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub graduate_id: Option<i64>,
    #[serde(default)]
    pub employer_id: Option<i64>,
}

impl Actor {
    /// The timer worker and event reactions.
    pub fn system() -> Actor {
        Actor {
            role: Role::System,
            account_id: 0,
            province: None,
            school_id: None,
            department: None,
            graduate_id: None,
            employer_id: None,
        }
    }

    /// The party this actor speaks for: initiator checks compare these.
    pub fn party(&self) -> String {
        match self.role {
            Role::Graduate => format!("graduate:{}", self.graduate_id.unwrap_or_default()),
            Role::Employer => format!("employer:{}", self.employer_id.unwrap_or_default()),
            Role::School => format!("school:{}", self.school_id.unwrap_or_default()),
            Role::Department => format!(
                "department:{}/{}",
                self.school_id.unwrap_or_default(),
                self.department.clone().unwrap_or_default()
            ),
            Role::Province => format!("province:{}", self.province.clone().unwrap_or_default()),
            Role::Initiator | Role::System => "system".to_string(),
        }
    }
}

/// The organisations and people an instance belongs to; they scope who may act on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Parties {
    pub province: String,
    pub school_id: i64,
    pub department: String,
    pub graduate_id: i64,
    #[serde(default)]
    pub employer_id: Option<i64>,
    /// [`Actor::party`] of whoever started the instance.
    pub initiator: String,
}

/// Whether `actor` may act in any of `roles` on an instance of `parties`.
pub fn any_role_matches(roles: &[Role], actor: &Actor, parties: &Parties) -> bool {
    roles.iter().any(|r| actor_matches(*r, actor, parties))
}

/// Whether `actor` may act in `role` on an instance of `parties`.
pub fn actor_matches(role: Role, actor: &Actor, parties: &Parties) -> bool {
    let same_province = actor.province.as_deref() == Some(parties.province.as_str());
    let same_school = actor.school_id == Some(parties.school_id);
    match role {
        Role::System => actor.role == Role::System,
        Role::Initiator => actor.role != Role::System && actor.party() == parties.initiator,
        Role::Province => actor.role == Role::Province && same_province,
        Role::School => actor.role == Role::School && same_school,
        Role::Department => {
            actor.role == Role::Department
                && same_school
                && actor.department.as_deref() == Some(parties.department.as_str())
        }
        Role::Graduate => {
            actor.role == Role::Graduate && actor.graduate_id == Some(parties.graduate_id)
        }
        Role::Employer => {
            actor.role == Role::Employer
                && actor.employer_id.is_some()
                && actor.employer_id == parties.employer_id
        }
    }
}

/// Where a review stands: the levels chosen on entry and the current one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReviewPos {
    pub levels: Vec<Role>,
    pub index: usize,
    /// A reviewer changed the data without deciding (修改去向): the item counts as handled,
    /// so the applicant can no longer withdraw or edit it (`until_reviewed`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub touched: bool,
}

impl ReviewPos {
    pub fn level(&self) -> Role {
        self.levels[self.index.min(self.levels.len() - 1)]
    }
}

/// What the engine needs to know of an instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Instance {
    pub state: String,
    #[serde(default)]
    pub review: Option<ReviewPos>,
    pub vars: Map<String, Value>,
    pub params: Map<String, Value>,
    pub parties: Parties,
    /// The timers the instance has open, where the caller read them (a reaction records
    /// what they had left, see [`STANDING_BEFORE_REACTION`]); empty otherwise.
    #[serde(default)]
    pub timers: Vec<TimerSpec>,
}

impl Instance {
    /// Whether a reviewer already decided at some level of the current review (after which
    /// `until_reviewed` actions such as withdraw and edit are gone).
    pub fn reviewed(&self) -> bool {
        self.review
            .as_ref()
            .is_some_and(|p| p.index > 0 || p.touched)
    }
}

/// A task to open for the new state: reviewers' inbox items, and the waiting party's to-do.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskSpec {
    pub role: Role,
    /// For department tasks: the department that must take it.
    pub department: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimerSpec {
    pub action: String,
    pub due: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlotClaim {
    /// The shared slot name (`agreement`).
    pub slot: String,
    /// The slot's key (`agreement:g42`), unique across all instances.
    pub key: String,
    /// The refusal shown when it is already held.
    pub message: String,
}

/// A review decision as recorded in history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    pub level: Role,
    pub decision: String,
    pub reason_category: Option<String>,
    pub reason: Option<String>,
}

/// Everything a transition changes. The engine computes it; the server persists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub action: String,
    /// `None` when the instance is being started.
    pub from: Option<String>,
    pub to: String,
    /// Display label of the new state.
    pub label: String,
    /// A detail shown next to the label (`学校审核不通过`).
    pub status_detail: Option<String>,
    pub review: Option<ReviewPos>,
    pub vars: Map<String, Value>,
    /// The validated (normalised) input of the action.
    pub input: Map<String, Value>,
    pub warnings: Vec<FieldError>,
    pub decision: Option<Decision>,
    /// Close every open task of the instance and open these.
    pub tasks: Vec<TaskSpec>,
    /// Whether the state's timers are cancelled (the state changed).
    pub cancel_timers: bool,
    pub timers: Vec<TimerSpec>,
    pub acquire: Vec<SlotClaim>,
    pub release: Vec<String>,
    pub effects: Vec<EffectDef>,
    pub is_final: bool,
}

/// Why a transition was refused. Each variant maps to one HTTP status in the server.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EngineError {
    /// `action` is the action's Chinese title (or its name when the flow has no such action).
    #[error("当前状态（{label}）不能{action}")]
    NotAvailable { action: String, label: String },
    #[error("无权执行此操作：{0}")]
    Forbidden(String),
    /// The actor reviews another level of this item: it moved on (or is not there yet).
    #[error("该事项已发生变化：{0}，请刷新后重新操作")]
    Moved(String),
    #[error("提交的信息有误")]
    Invalid(Vec<FieldError>),
    /// A refusal with its machine code: the guard's own (`deny(code, reason)`), `guard_denied`
    /// for a guard that gave none, or a built-in one (`already_reviewed`).
    #[error("{message}")]
    Denied { code: String, message: String },
    #[error("流程定义错误：{0}")]
    Definition(String),
    #[error("脚本错误：{0}")]
    Script(#[from] ScriptError),
}

impl EngineError {
    /// A refusal with a built-in code.
    pub fn denied(code: &str, message: impl Into<String>) -> EngineError {
        EngineError::Denied {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A stable machine code.
    pub fn code(&self) -> &str {
        match self {
            EngineError::NotAvailable { .. } => "action_not_available",
            EngineError::Forbidden(_) => "forbidden",
            EngineError::Moved(_) => "state_changed",
            EngineError::Invalid(_) => "invalid_input",
            EngineError::Denied { code, .. } => code,
            EngineError::Definition(_) => "definition_error",
            EngineError::Script(_) => "script_error",
        }
    }
}

/// Runs a named guard. The registry snapshot implements it with its compiled scripts.
pub trait GuardRunner: Sync {
    fn run_guard(&self, name: &str, ctx: &ScriptContext<'_>) -> Result<GuardVerdict, ScriptError>;
}

/// The world as the server sees it at the moment of the transition.
pub struct Ctx<'a> {
    pub actor: &'a Actor,
    /// Facts loaded by the server: `graduate`, `school`, `review_mode`, `agreement_type`...
    pub facts: &'a Value,
    pub now: DateTime<Utc>,
    pub guards: &'a dyn GuardRunner,
    pub tables: &'a dyn CodeLookup,
}

/// China time (UTC+8), in which every date rule is evaluated.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

fn now_value(now: DateTime<Utc>) -> Value {
    let local = now.with_timezone(&china_offset());
    json!({
        "ts": now.timestamp(),
        "date": local.format("%Y-%m-%d").to_string(),
        "iso": local.to_rfc3339(),
        "year": local.format("%Y").to_string().parse::<i64>().unwrap_or_default(),
    })
}

/// The label of an approve/reject decision: 鉴证 for two-party agreements when the block asks.
pub fn decision_label(review: &ReviewDef, decision: &str, facts: &Value) -> String {
    let attest = review.attest_by_agreement_type
        && facts.get("agreement_type").and_then(Value::as_str) == Some("two_party");
    let verb = if attest { "鉴证" } else { "审核" };
    match decision {
        APPROVE => format!("{verb}通过"),
        REJECT => format!("{verb}不通过"),
        _ => "退回修改".to_string(),
    }
}

fn level_name(level: Role) -> &'static str {
    match level {
        Role::Department => "学院",
        Role::Province => "省级",
        _ => "学校",
    }
}

/// The form of a review decision: approve takes an optional comment; return and reject need
/// a reason category and a reason text.
pub fn review_form(review: &ReviewDef, decision: &str) -> Form {
    let comment = |name: &str, label: &str, required: bool| Field {
        name: name.to_string(),
        label: label.to_string(),
        kind: FieldKind::Text {
            max: Some(500),
            multiline: true,
        },
        required,
        required_unless: None,
        required_if: None,
        help: None,
        default: None,
    };
    if decision == APPROVE {
        return Form::plain(vec![comment("comment", "审核意见", false)]);
    }
    let (cat_label, text_label) = if decision == RETURN {
        ("退回原因", "退回说明")
    } else {
        ("不通过原因", "具体问题")
    };
    Form {
        fields: vec![
            Field {
                name: "reason_category".to_string(),
                label: cat_label.to_string(),
                kind: FieldKind::Choice {
                    options: review.reasons.clone(),
                },
                required: true,
                required_unless: None,
                required_if: None,
                help: None,
                default: None,
            },
            comment("reason", text_label, true),
        ],
        variants: None,
    }
}

fn empty_form() -> Form {
    Form::default()
}

fn form_of<'d>(
    def: &'d Definition,
    name: &Option<String>,
) -> Result<std::borrow::Cow<'d, Form>, EngineError> {
    match name {
        None => Ok(std::borrow::Cow::Owned(empty_form())),
        Some(n) => def
            .forms
            .get(n)
            .map(std::borrow::Cow::Borrowed)
            .ok_or_else(|| EngineError::Definition(format!("表单 {n} 未定义"))),
    }
}

/// An action the actor may take now, with its input form.
#[derive(Debug, Clone)]
pub struct AvailableAction {
    pub name: String,
    pub label: String,
    pub form: Form,
}

/// The actions `actor` may take on `inst` now (by role and scope; guards run on `act`).
pub fn available_actions(
    def: &Definition,
    inst: &Instance,
    actor: &Actor,
    facts: &Value,
) -> Vec<AvailableAction> {
    let Some(st) = def.state(&inst.state) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let (Some(review), Some(pos)) = (&st.review, &inst.review) {
        if actor_matches(pos.level(), actor, &inst.parties) {
            for d in [APPROVE, RETURN, REJECT] {
                if d == RETURN && review.return_.is_none() {
                    continue;
                }
                out.push(AvailableAction {
                    name: d.to_string(),
                    label: decision_label(review, d, facts),
                    form: review_form(review, d),
                });
            }
        }
    }
    for (name, a) in &st.actions {
        if a.until_reviewed && inst.reviewed() {
            continue;
        }
        if a.roles
            .iter()
            .any(|r| *r != Role::System && actor_matches(*r, actor, &inst.parties))
        {
            let form = form_of(def, &a.form)
                .map(|f| f.into_owned())
                .unwrap_or_else(|_| empty_form());
            out.push(AvailableAction {
                name: name.clone(),
                label: a.label.clone(),
                form,
            });
        }
    }
    out
}

/// Runs a guard of `def` with the input of `form`. Every field the form may ask for and every
/// variable the definition declares is present (null when absent): a script reading one of
/// them reads null, a script reading anything else fails.
fn run_guard(
    ctx: &Ctx<'_>,
    def: &Definition,
    form: Option<&Form>,
    name: &Option<String>,
    input: &Value,
    vars: &Value,
    params: &Value,
) -> Result<(), EngineError> {
    let Some(name) = name else { return Ok(()) };
    let input = &crate::verify::form_shape(form).complete(input);
    let vars = &crate::contract::Shape::Object(crate::verify::vars_shape(def, &Default::default()))
        .complete(vars);
    let actor = serde_json::to_value(ctx.actor).unwrap_or(Value::Null);
    let now = now_value(ctx.now);
    let sc = ScriptContext {
        input,
        vars,
        actor: &actor,
        params,
        facts: ctx.facts,
        now: &now,
    };
    match ctx.guards.run_guard(name, &sc)? {
        GuardVerdict::Allow => Ok(()),
        GuardVerdict::Deny { code, reason } => Err(EngineError::Denied {
            code: code.unwrap_or_else(|| "guard_denied".into()),
            message: reason,
        }),
    }
}

fn validate(
    form: &Form,
    input: &Value,
    ctx: &Ctx<'_>,
    partial: bool,
) -> Result<(Map<String, Value>, Vec<FieldError>), EngineError> {
    let tables = ctx.tables;
    let input = if input.is_null() {
        Value::Object(Map::new())
    } else {
        form.with_defaults(input, ctx.facts)
    };
    let relaxed;
    let form = if partial {
        relaxed = form.without_presence_rules();
        &relaxed
    } else {
        form
    };
    match form.validate(&input, tables) {
        Ok(v) => Ok((v.values, v.warnings)),
        Err(errors) => Err(EngineError::Invalid(errors)),
    }
}

fn slot_claims(
    def: &Definition,
    st: &StateDef,
    parties: &Parties,
) -> Result<Vec<SlotClaim>, EngineError> {
    st.holds
        .iter()
        .map(|h| {
            let sd = def
                .slots
                .get(h)
                .ok_or_else(|| EngineError::Definition(format!("槽位 {h} 未定义")))?;
            let mut parts = Vec::new();
            for p in &sd.per {
                match p {
                    SlotPart::Graduate => parts.push(format!("g{}", parties.graduate_id)),
                    SlotPart::Employer => match parties.employer_id {
                        Some(e) => parts.push(format!("e{e}")),
                        None => {
                            return Err(EngineError::Definition(format!(
                                "槽位 {h} 需要用人单位，但该流程实例没有用人单位"
                            )))
                        }
                    },
                }
            }
            let name = slot_name(def, h).to_string();
            Ok(SlotClaim {
                key: format!("{}:{}", name, parts.join("/")),
                slot: name,
                message: sd.message.clone(),
            })
        })
        .collect()
}

/// What an instance holds where it stands ([`standing`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub tasks: Vec<TaskSpec>,
    pub timers: Vec<TimerSpec>,
    pub slots: Vec<SlotClaim>,
}

/// What an instance standing in `state` (at review position `review`, `None` outside a
/// review) holds, as a transition into it would have opened them: its open tasks, its timers
/// counted from `since`, and its slots. Used to write instances in bulk without replaying
/// their transitions (the season generator, `gradflow_server::season`).
pub fn standing(
    def: &Definition,
    state: &str,
    review: Option<&ReviewPos>,
    parties: &Parties,
    params: &Map<String, Value>,
    since: DateTime<Utc>,
) -> Result<Standing, EngineError> {
    let st = def
        .state(state)
        .ok_or_else(|| EngineError::Definition(format!("状态 {state} 未定义")))?;
    Ok(Standing {
        tasks: tasks_for(st, review, parties),
        timers: timer_specs(st, params, since)?,
        slots: slot_claims(def, st, parties)?,
    })
}

fn timer_specs(
    st: &StateDef,
    params: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Vec<TimerSpec>, EngineError> {
    st.timers
        .iter()
        .map(|t| {
            let spec = match t.after.strip_prefix("params.") {
                Some(p) => params
                    .get(p)
                    .and_then(Value::as_str)
                    .ok_or_else(|| EngineError::Definition(format!("参数 {p} 缺失或不是时长")))?
                    .to_string(),
                None => t.after.clone(),
            };
            let d = parse_duration(&spec).map_err(EngineError::Definition)?;
            let due = now.checked_add_signed(d).ok_or_else(|| {
                EngineError::Definition(format!("定时 {spec} 超出可表示的时间范围"))
            })?;
            Ok(TimerSpec {
                action: t.action.clone(),
                due,
            })
        })
        .collect()
}

/// The review levels for a review state: department then school when the school chose
/// two-level review for the module (`facts.review_mode == "department_then_school"`),
/// else the school alone; then any extra levels the definition (or an overlay) adds.
pub fn review_levels(review: &ReviewDef, facts: &Value) -> Vec<Role> {
    let mut levels = Vec::new();
    if facts.get("review_mode").and_then(Value::as_str) == Some("department_then_school") {
        levels.push(Role::Department);
    }
    levels.push(Role::School);
    levels.extend(review.extra_levels.iter().copied());
    levels
}

fn tasks_for(st: &StateDef, review: Option<&ReviewPos>, parties: &Parties) -> Vec<TaskSpec> {
    if let Some(pos) = review {
        let level = pos.level();
        return vec![TaskSpec {
            role: level,
            department: (level == Role::Department).then(|| parties.department.clone()),
        }];
    }
    if st.kind == StateKind::Final {
        return Vec::new();
    }
    let mut roles: Vec<Role> = Vec::new();
    for a in st.actions.values().filter(|a| a.inbox) {
        for r in &a.roles {
            if matches!(r, Role::System | Role::Initiator) || roles.contains(r) {
                continue;
            }
            roles.push(*r);
        }
    }
    roles
        .into_iter()
        .map(|role| TaskSpec {
            role,
            department: (role == Role::Department).then(|| parties.department.clone()),
        })
        .collect()
}

struct Entry {
    to: String,
    review: Option<ReviewPos>,
}

/// What a transition changes; [`finish`] derives slots, tasks and timers of the target state.
struct Step<'d> {
    action: String,
    /// The state left, `None` when starting.
    from: Option<&'d StateDef>,
    entry: Entry,
    /// Moving between review levels of one state keeps its slots and timers.
    same_state: bool,
    vars: Map<String, Value>,
    input: Map<String, Value>,
    warnings: Vec<FieldError>,
    decision: Option<Decision>,
    status_detail: Option<String>,
    effects: Vec<EffectDef>,
}

fn finish(
    def: &Definition,
    ctx: &Ctx<'_>,
    parties: &Parties,
    params: &Map<String, Value>,
    step: Step<'_>,
) -> Result<Outcome, EngineError> {
    let Step {
        action,
        from,
        entry,
        same_state,
        vars,
        input,
        warnings,
        decision,
        status_detail,
        effects,
    } = step;
    let from_name = from.and_then(|f| {
        def.states
            .iter()
            .find(|(_, s)| std::ptr::eq(*s, f))
            .map(|(name, _)| name.clone())
    });
    let to_st = def
        .state(&entry.to)
        .ok_or_else(|| EngineError::Definition(format!("状态 {} 未定义", entry.to)))?;
    let (acquire, release, timers) = if same_state {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        let new_claims = slot_claims(def, to_st, parties)?;
        let old_claims = match from {
            Some(f) => slot_claims(def, f, parties)?,
            None => Vec::new(),
        };
        let acquire = new_claims
            .iter()
            .filter(|c| !old_claims.iter().any(|o| o.key == c.key))
            .cloned()
            .collect();
        let release = old_claims
            .iter()
            .filter(|o| !new_claims.iter().any(|c| c.key == o.key))
            .map(|o| o.key.clone())
            .collect();
        (acquire, release, timer_specs(to_st, params, ctx.now)?)
    };
    Ok(Outcome {
        action,
        from: from_name,
        label: to_st.label.clone(),
        to: entry.to,
        status_detail,
        tasks: tasks_for(to_st, entry.review.as_ref(), parties),
        review: entry.review,
        vars,
        input,
        warnings,
        decision,
        // Timers belong to the state that set them; only a state that had some cancels.
        cancel_timers: !same_state && from.is_some_and(|f| !f.timers.is_empty()),
        timers,
        acquire,
        release,
        effects,
        is_final: to_st.kind == StateKind::Final,
    })
}

fn enter(def: &Definition, target: &str, facts: &Value) -> Result<Entry, EngineError> {
    let st = def
        .state(target)
        .ok_or_else(|| EngineError::Definition(format!("状态 {target} 未定义")))?;
    let review = st.review.as_ref().map(|r| ReviewPos {
        levels: review_levels(r, facts),
        index: 0,
        touched: false,
    });
    Ok(Entry {
        to: target.to_string(),
        review,
    })
}

/// Whether the flow is offered to the caller now, before any input: the start roles, then
/// the `available` guard (SPEC.md 4: a graduate of training mode 21 is offered the directed
/// supplement, not the e-agreement). The refusal says why.
pub fn available(
    def: &Definition,
    ctx: &Ctx<'_>,
    parties: &Parties,
    params: &Map<String, Value>,
) -> Result<(), EngineError> {
    start_roles(def, ctx, parties)?;
    let params_v = Value::Object(params.clone());
    run_guard(
        ctx,
        def,
        None,
        &def.start.available,
        &json!({}),
        &json!({}),
        &params_v,
    )
}

fn start_roles(def: &Definition, ctx: &Ctx<'_>, parties: &Parties) -> Result<(), EngineError> {
    if !any_role_matches(&def.start.roles, ctx.actor, parties) {
        return Err(EngineError::Forbidden(format!(
            "只有{}可以发起{}",
            def.start
                .roles
                .iter()
                .map(|r| role_label(*r))
                .collect::<Vec<_>>()
                .join("、"),
            def.title
        )));
    }
    Ok(())
}

/// Whether quick review (快速审核) may approve an item in state `state` with `vars`: the state's
/// `quick` script passes (its refusal says why the item is left); a state without one refuses.
/// Where approval applies a staged change (修改申请), the script reads the data approval would
/// register: the staged change written over the variables.
pub fn quick_review(
    def: &Definition,
    ctx: &Ctx<'_>,
    state: &str,
    vars: &Map<String, Value>,
    params: &Map<String, Value>,
) -> Result<(), EngineError> {
    let review = def.state(state).and_then(|s| s.review.as_ref());
    let script = review
        .and_then(|r| r.quick.clone())
        .ok_or_else(|| EngineError::Denied {
            code: "no_quick_review".into(),
            message: format!("{}的当前状态不能快速审核", def.title),
        })?;
    let mut pending = vars.clone();
    if review.is_some_and(|r| r.approve.staged == Some(crate::definition::StagedChange::Apply)) {
        if let Some(Value::Object(staged)) = pending.remove(STAGED) {
            pending.extend(staged);
        }
    }
    run_guard(
        ctx,
        def,
        None,
        &Some(script),
        &json!({}),
        &Value::Object(pending),
        &Value::Object(params.clone()),
    )
}

/// An intake (来自签约, [`IntakeDef`]): the source's variables mapped into the start form,
/// validated and guarded like a start, entering the intake's target with its effects.
/// `Ok(None)` when the intake's `when` does not hold for the source.
pub fn intake(
    def: &Definition,
    ctx: &Ctx<'_>,
    parties: &Parties,
    params: &Map<String, Value>,
    intake: &crate::definition::IntakeDef,
    source_vars: &Map<String, Value>,
) -> Result<Option<Outcome>, EngineError> {
    let Some(input) = intake_input(def, intake, source_vars)? else {
        return Ok(None);
    };
    let form = form_of(def, &def.start.form)?;
    // Data from another system carries no files: the form without them (`without_files`).
    let form = match intake.without_files {
        true => std::borrow::Cow::Owned(form.without_files()),
        false => form,
    };
    let checked = checked_start(
        def,
        ctx,
        params,
        &form,
        &Value::Object(input),
        intake.partial,
    )?;
    let action = format!("intake:{}", intake.event);
    begin(
        def,
        ctx,
        parties,
        params,
        &action,
        &intake.target,
        checked,
        &intake.effects,
    )
    .map(Some)
}

/// A new instance entering `target` with the start form's checked `(values, warnings)` as
/// its variables (a start or an intake).
#[allow(clippy::too_many_arguments)]
fn begin(
    def: &Definition,
    ctx: &Ctx<'_>,
    parties: &Parties,
    params: &Map<String, Value>,
    action: &str,
    target: &str,
    (values, warnings): (Map<String, Value>, Vec<FieldError>),
    effects: &[EffectDef],
) -> Result<Outcome, EngineError> {
    let entry = enter(def, target, ctx.facts)?;
    finish(
        def,
        ctx,
        parties,
        params,
        Step {
            action: action.to_string(),
            from: None,
            entry,
            same_state: false,
            vars: values.clone(),
            input: values,
            warnings,
            decision: None,
            status_detail: None,
            effects: effects.to_vec(),
        },
    )
}

/// Where `vars.source` keeps the values an intake took from its source (what a follow
/// compares the instance's data with).
pub const TAKEN: &str = "taken";

/// A change of an intake's source carried into the instance the intake made from it
/// ([`crate::definition::FollowDef`]): the source's variables mapped as the intake maps them,
/// taken by the follow action, `vars.source.taken` updated. `Ok(None)` — nothing to do — when
/// the intake does not follow, the source's data no longer qualifies (`when`), the instance
/// came from another source (`source_id`) or its data changed since (someone else's change
/// stays), the state has no such action, or the mapped data is what the instance holds.
pub fn follow(
    def: &Definition,
    ctx: &Ctx<'_>,
    inst: &Instance,
    intake: &crate::definition::IntakeDef,
    source_id: i64,
    source_vars: &Map<String, Value>,
) -> Result<Option<Outcome>, EngineError> {
    let Some(action) = intake.follow.as_ref().and_then(|f| f.action.as_deref()) else {
        return Ok(None);
    };
    let source = inst.vars.get(SOURCE);
    if source
        .and_then(|s| s.get("instance_id"))
        .and_then(Value::as_i64)
        != Some(source_id)
    {
        return Ok(None);
    }
    let Some(taken) = source.and_then(|s| s.get(TAKEN)).and_then(Value::as_object) else {
        return Ok(None);
    };
    if taken.iter().any(|(k, v)| inst.vars.get(k) != Some(v)) {
        return Ok(None);
    }
    if !def
        .state(&inst.state)
        .is_some_and(|s| s.actions.contains_key(action))
    {
        return Ok(None);
    }
    let Some(input) = intake_input(def, intake, source_vars)? else {
        return Ok(None);
    };
    let mut o = apply(def, ctx, inst, action, &Value::Object(input))?;
    if o.input.iter().all(|(k, v)| inst.vars.get(k) == Some(v)) {
        return Ok(None);
    }
    if let Some(Value::Object(src)) = o.vars.get_mut(SOURCE) {
        src.insert(TAKEN.into(), Value::Object(o.input.clone()));
    }
    Ok(Some(o))
}

/// The start-form input an intake maps from its source's variables; `None` when the intake's
/// `when` does not hold for them.
fn intake_input(
    def: &Definition,
    intake: &crate::definition::IntakeDef,
    source_vars: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, EngineError> {
    if let Some(w) = &intake.when {
        if !source_vars
            .get(&w.field)
            .is_some_and(|v| w.values.contains(v))
        {
            return Ok(None);
        }
    }
    let mut input = Map::new();
    let form = form_of(def, &def.start.form)?;
    let same_name: indexmap::IndexMap<String, Vec<String>>;
    let mapping = if intake.input.is_empty() {
        // Files are uploads of this system: data from elsewhere carries none.
        same_name = form
            .all_fields()
            .into_iter()
            .filter(|f| !matches!(f.kind, FieldKind::File { .. }))
            .map(|f| (f.name.clone(), vec![f.name.clone()]))
            .collect();
        &same_name
    } else {
        &intake.input
    };
    for (field, from) in mapping {
        if let Some(v) = mapped(source_vars, from) {
            input.insert(field.clone(), v.clone());
        }
    }
    Ok(Some(input))
}

/// The first of the source variables `from` names that holds a value (not null, not empty);
/// `a.b` names field `b` of the object variable `a` (`source.channel`).
fn mapped<'a>(source_vars: &'a Map<String, Value>, from: &[String]) -> Option<&'a Value> {
    from.iter()
        .filter_map(|k| {
            let mut path = k.split('.');
            let first = source_vars.get(path.next()?);
            path.try_fold(first?, |v, p| v.get(p))
        })
        .find(|v| !v.is_null() && v.as_str() != Some(""))
}

/// The instance whose event a reaction answers: its id and, where the caller read them, its
/// variables (what a reaction's `input` takes).
#[derive(Debug, Clone, Copy)]
pub struct EventSource<'a> {
    pub id: i64,
    pub vars: Option<&'a Map<String, Value>>,
}

/// The start form's input, validated (with the fields' defaults; `partial`: presence rules
/// not enforced) and passed by the start guard: the values and the warnings.
fn start_input(
    def: &Definition,
    ctx: &Ctx<'_>,
    params: &Map<String, Value>,
    input: &Value,
    partial: bool,
) -> Result<(Map<String, Value>, Vec<FieldError>), EngineError> {
    let form = form_of(def, &def.start.form)?;
    checked_start(def, ctx, params, &form, input, partial)
}

/// [`start_input`] against `form` (the start form, or a form made from it).
fn checked_start(
    def: &Definition,
    ctx: &Ctx<'_>,
    params: &Map<String, Value>,
    form: &Form,
    input: &Value,
    partial: bool,
) -> Result<(Map<String, Value>, Vec<FieldError>), EngineError> {
    let (values, warnings) = validate(form, input, ctx, partial)?;
    let start_form = def.start.form.as_ref().and_then(|f| def.forms.get(f));
    run_guard(
        ctx,
        def,
        start_form,
        &def.start.guard,
        &Value::Object(values.clone()),
        &json!({}),
        &Value::Object(params.clone()),
    )?;
    Ok((values, warnings))
}

/// Starts an instance of `def` for `parties` with the resolved `params`: offered to the caller
/// ([`available`]), then the start form and its guard.
pub fn start(
    def: &Definition,
    ctx: &Ctx<'_>,
    parties: &Parties,
    params: &Map<String, Value>,
    input: &Value,
) -> Result<Outcome, EngineError> {
    available(def, ctx, parties, params)?;
    let checked = start_input(def, ctx, params, input, def.start.partial)?;
    let role = ctx.actor.role;
    let target = def.start.target_for(role);
    begin(
        def,
        ctx,
        parties,
        params,
        "start",
        target,
        checked,
        def.start.effects_for(role),
    )
}

/// How a refusal names an action: “执行‘接受签约’” by its Chinese title, as the flow declares it
/// in any state (a review decision by what it does), or by its name when the flow has none.
fn action_title(def: &Definition, action: &str) -> String {
    let title = match action {
        APPROVE => Some("审核通过".to_string()),
        RETURN => Some("退回修改".to_string()),
        REJECT => Some("审核不通过".to_string()),
        _ => def
            .states
            .values()
            .find_map(|s| s.actions.get(action))
            .map(|a| a.label.clone()),
    };
    match title {
        Some(t) => format!("执行“{t}”"),
        None => format!("执行操作“{action}”（该流程没有此操作）"),
    }
}

/// The Chinese name of a role, for messages.
pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::Province => "省级用户",
        Role::School => "学校用户",
        Role::Department => "院系用户",
        Role::Graduate => "毕业生",
        Role::Employer => "用人单位",
        Role::Initiator => "发起方",
        Role::System => "系统",
    }
}

/// The variable holding a change that waits for its review (`ActionDef::stage`).
pub const STAGED: &str = "staged";

/// The variable recording where an intake's data came from (`flow`, `title`, `instance_id`).
pub const SOURCE: &str = "source";

/// Applies `action` to `inst`.
pub fn apply(
    def: &Definition,
    ctx: &Ctx<'_>,
    inst: &Instance,
    action: &str,
    input: &Value,
) -> Result<Outcome, EngineError> {
    let mut o = take_action(def, ctx, inst, action, input)?;
    // An event announcing a change of important fields (`emit.if_changed`) is emitted only
    // when one of them changed.
    o.effects.retain(|e| match e {
        EffectDef::Emit { if_changed, .. } if !if_changed.is_empty() => {
            if_changed.iter().any(|k| inst.vars.get(k) != o.vars.get(k))
        }
        _ => true,
    });
    Ok(o)
}

fn take_action(
    def: &Definition,
    ctx: &Ctx<'_>,
    inst: &Instance,
    action: &str,
    input: &Value,
) -> Result<Outcome, EngineError> {
    let st = def
        .state(&inst.state)
        .ok_or_else(|| EngineError::Definition(format!("状态 {} 未定义", inst.state)))?;
    let not_available = || EngineError::NotAvailable {
        action: action_title(def, action),
        label: st.label.clone(),
    };
    if let (Some(review), true) = (&st.review, [APPROVE, RETURN, REJECT].contains(&action)) {
        let pos = inst.review.clone().ok_or_else(not_available)?;
        let level = pos.level();
        if !actor_matches(level, ctx.actor, &inst.parties) {
            let where_ = format!(
                "当前处于{}审核，需由{}处理",
                level_name(level),
                role_label(level)
            );
            let reviews_another_level = pos
                .levels
                .iter()
                .any(|l| *l != level && actor_matches(*l, ctx.actor, &inst.parties));
            return Err(if reviews_another_level {
                EngineError::Moved(where_)
            } else {
                EngineError::Forbidden(where_)
            });
        }
        let decision_def = match action {
            APPROVE => &review.approve,
            REJECT => &review.reject,
            _ => review.return_.as_ref().ok_or_else(not_available)?,
        };
        let form = review_form(review, action);
        let (values, warnings) = validate(&form, input, ctx, false)?;
        let decision = Decision {
            level,
            decision: action.to_string(),
            reason_category: values
                .get("reason_category")
                .and_then(Value::as_str)
                .map(str::to_string),
            reason: values
                .get("reason")
                .or_else(|| values.get("comment"))
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        let mut vars = inst.vars.clone();
        vars.insert(
            "last_decision".into(),
            serde_json::to_value(&decision).unwrap_or(Value::Null),
        );
        if action == APPROVE && pos.index + 1 < pos.levels.len() {
            let next = ReviewPos {
                levels: pos.levels.clone(),
                index: pos.index + 1,
                touched: pos.touched,
            };
            return finish(
                def,
                ctx,
                &inst.parties,
                &inst.params,
                Step {
                    action: action.to_string(),
                    from: Some(st),
                    entry: Entry {
                        to: inst.state.clone(),
                        review: Some(next),
                    },
                    same_state: true,
                    vars,
                    input: values,
                    warnings,
                    decision: Some(decision),
                    status_detail: None,
                    effects: Vec::new(),
                },
            );
        }
        match decision_def.staged {
            Some(crate::definition::StagedChange::Apply) => {
                if let Some(Value::Object(staged)) = vars.remove(STAGED) {
                    vars.extend(staged);
                }
            }
            Some(crate::definition::StagedChange::Discard) => {
                vars.remove(STAGED);
            }
            None => {}
        }
        let detail = (action == REJECT).then(|| format!("{}审核不通过", level_name(level)));
        let entry = enter(def, &decision_def.target, ctx.facts)?;
        return finish(
            def,
            ctx,
            &inst.parties,
            &inst.params,
            Step {
                action: action.to_string(),
                from: Some(st),
                entry,
                same_state: false,
                vars,
                input: values,
                warnings,
                decision: Some(decision),
                status_detail: detail,
                effects: decision_def.effects.clone(),
            },
        );
    }
    let a = st.actions.get(action).ok_or_else(not_available)?;
    if !any_role_matches(&a.roles, ctx.actor, &inst.parties) {
        return Err(EngineError::Forbidden(format!(
            "“{}”只能由{}操作",
            a.label,
            a.roles
                .iter()
                .map(|r| role_label(*r))
                .collect::<Vec<_>>()
                .join("、")
        )));
    }
    if a.until_reviewed && inst.reviewed() {
        return Err(EngineError::denied(
            "already_reviewed",
            format!("已有审核人员处理过该申请，不能再{}", a.label),
        ));
    }
    let form = form_of(def, &a.form)?;
    let (values, warnings) = validate(&form, input, ctx, a.partial)?;
    let vars_v = Value::Object(inst.vars.clone());
    run_guard(
        ctx,
        def,
        Some(&form),
        &a.guard,
        &Value::Object(values.clone()),
        &vars_v,
        &Value::Object(inst.params.clone()),
    )?;
    let mut vars = inst.vars.clone();
    // A staged change waits in `vars.staged`; anything else is written at once.
    let into = if a.stage {
        let staged = vars
            .entry(STAGED)
            .or_insert_with(|| Value::Object(Map::new()));
        if !staged.is_object() {
            *staged = Value::Object(Map::new());
        }
        staged.as_object_mut().expect("an object")
    } else {
        &mut vars
    };
    for (k, v) in &values {
        into.insert(k.clone(), v.clone());
    }
    // Staying in the state keeps its slots, timers and review position; a reviewer's action
    // there (修改去向) counts as handling the item.
    let same = a.target == inst.state;
    let entry = if same && st.review.is_some() {
        let reviewer = matches!(
            ctx.actor.role,
            Role::Department | Role::School | Role::Province
        );
        Entry {
            to: a.target.clone(),
            review: inst.review.clone().map(|mut p| {
                p.touched |= reviewer;
                p
            }),
        }
    } else {
        enter(def, &a.target, ctx.facts)?
    };
    finish(
        def,
        ctx,
        &inst.parties,
        &inst.params,
        Step {
            action: action.to_string(),
            from: Some(st),
            entry,
            same_state: same,
            vars,
            input: values,
            warnings,
            decision: None,
            status_detail: None,
            effects: a.effects.clone(),
        },
    )
}

/// Whether reaction `r` applies in state `state` (`st`): its listed states, or when it lists
/// none every unfinished state and the final ones that hold a slot (an approved agreement).
pub fn reacts_in(r: &crate::definition::ReactionDef, state: &str, st: &StateDef) -> bool {
    if r.states.is_empty() {
        st.kind != StateKind::Final || !st.holds.is_empty()
    } else {
        r.states.iter().any(|s| s == state)
    }
}

/// Reacts to an event emitted elsewhere (e.g. `graduate.removed`), by the instance `source`
/// (`None`: by no instance, e.g. the roster). `None` when the definition has no reaction for
/// the event in the instance's current state (or from that source).
pub fn react(
    def: &Definition,
    ctx: &Ctx<'_>,
    inst: &Instance,
    event: &str,
    source: Option<EventSource<'_>>,
) -> Result<Option<Outcome>, EngineError> {
    let source_id = source.map(|s| s.id);
    let st = def
        .state(&inst.state)
        .ok_or_else(|| EngineError::Definition(format!("状态 {} 未定义", inst.state)))?;
    let Some(r) = def.reactions.iter().find(|r| {
        r.event == event
            && reacts_in(r, &inst.state, st)
            && r.from.as_ref().is_none_or(|var| {
                source_id.is_some() && inst.vars.get(var).and_then(Value::as_i64) == source_id
            })
    }) else {
        return Ok(None);
    };
    let mut vars = inst.vars.clone();
    // The fields taken anew from the source, checked as the start form checks them.
    if let Some(from) = source.and_then(|s| s.vars).filter(|_| !r.input.is_empty()) {
        let taken: Map<String, Value> = r
            .input
            .iter()
            .filter_map(|(field, names)| Some((field.clone(), mapped(from, names)?.clone())))
            .collect();
        let form = form_of(def, &def.start.form)?;
        let (values, _) = validate(&form, &Value::Object(taken), ctx, true)?;
        for field in r.input.keys() {
            match values.get(field) {
                Some(v) => vars.insert(field.clone(), v.clone()),
                None => vars.remove(field),
            };
        }
    }
    let target = if r.target == PREVIOUS_STATE {
        match vars.get(STATE_BEFORE_REACTION).and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None => return Ok(None),
        }
    } else {
        vars.insert(
            STATE_BEFORE_REACTION.to_string(),
            Value::String(inst.state.clone()),
        );
        let left: Map<String, Value> = inst
            .timers
            .iter()
            .map(|t| {
                (
                    t.action.clone(),
                    json!((t.due - ctx.now).num_seconds().max(0)),
                )
            })
            .collect();
        vars.insert(
            STANDING_BEFORE_REACTION.to_string(),
            json!({"review": inst.review, "timers_left": left}),
        );
        r.target.clone()
    };
    if target == inst.state {
        return Ok(None);
    }
    // Back where it stood: the review level it waited at, its timers with what they had left.
    let mut standing = None;
    if r.target == PREVIOUS_STATE {
        vars.remove(STATE_BEFORE_REACTION);
        standing = vars.remove(STANDING_BEFORE_REACTION);
    }
    let effects = if r.effects_in.is_empty() || r.effects_in.contains(&target) {
        r.effects.clone()
    } else {
        Vec::new()
    };
    let mut entry = enter(def, &target, ctx.facts)?;
    let stood: Option<ReviewPos> = standing
        .as_ref()
        .and_then(|s| serde_json::from_value(s["review"].clone()).ok());
    if let (Some(pos), Some(stood)) = (entry.review.as_mut(), stood) {
        if stood.levels == pos.levels && stood.index < pos.levels.len() {
            *pos = stood;
        }
    }
    let mut o = finish(
        def,
        ctx,
        &inst.parties,
        &inst.params,
        Step {
            action: format!("on:{event}"),
            from: Some(st),
            entry,
            same_state: false,
            vars,
            input: Map::new(),
            warnings: Vec::new(),
            decision: None,
            status_detail: None,
            effects,
        },
    )?;
    if let Some(left) = standing.as_ref().and_then(|s| s["timers_left"].as_object()) {
        for t in &mut o.timers {
            if let Some(secs) = left.get(&t.action).and_then(Value::as_i64) {
                t.due = ctx.now + chrono::Duration::seconds(secs);
            }
        }
    }
    Ok(Some(o))
}
