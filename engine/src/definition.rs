//! Workflow definitions: the YAML shape (deserialized with serde) and its static checks.
//!
//! A definition is immutable per `(key, version, province)`. Instances pin the definition
//! they started on, so a new version or a province overlay never changes a running instance.

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::parse_duration;
use crate::form::{CodeLookup, Form};

/// The module a flow belongs to; it picks the permission level and the school's review mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Module {
    /// 基本信息和就业信息 (destination & signing).
    Employment,
    /// 档案信息.
    Archive,
    /// 户口信息.
    Hukou,
}

impl Module {
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Employment => "employment",
            Module::Archive => "archive",
            Module::Hukou => "hukou",
        }
    }
}

/// Who may take an action. `initiator` is whoever started the instance; `system` is the
/// timer worker or a reaction to an event.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A province administrator.
    Province,
    /// A school reviewer.
    School,
    /// A department (学院) reviewer.
    Department,
    /// The graduate.
    Graduate,
    /// A registered employer.
    Employer,
    /// Whoever started the instance.
    Initiator,
    /// The timer worker or a reaction.
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Province => "province",
            Role::School => "school",
            Role::Department => "department",
            Role::Graduate => "graduate",
            Role::Employer => "employer",
            Role::Initiator => "initiator",
            Role::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "province" => Role::Province,
            "school" => Role::School,
            "department" => Role::Department,
            "graduate" => Role::Graduate,
            "employer" => Role::Employer,
            "initiator" => Role::Initiator,
            "system" => Role::System,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of one immutable definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DefId {
    pub key: String,
    pub version: u32,
    /// `None` for the national definition, `Some(code)` for a province overlay.
    pub province: Option<String>,
}

impl fmt::Display for DefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.province {
            None => write!(f, "{}@{}", self.key, self.version),
            Some(p) => write!(f, "{}@{}+{}", self.key, self.version, p),
        }
    }
}

impl DefId {
    /// Parses the `Display` form back (`key@version` or `key@version+province`).
    pub fn parse(s: &str) -> Option<DefId> {
        let (key, rest) = s.split_once('@')?;
        let (version, province) = match rest.split_once('+') {
            Some((v, p)) => (v, Some(p.to_string())),
            None => (rest, None),
        };
        Some(DefId {
            key: key.to_string(),
            version: version.parse().ok()?,
            province,
        })
    }
}

/// A parameter a province may tune.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    /// The Chinese name shown to the province.
    pub title: String,
    /// `int`, `bool`, `text`, `duration` or `list`.
    #[serde(rename = "type")]
    pub kind: ParamKind,
    /// The value until a province sets one; checked against the type and bounds.
    pub default: Value,
    /// The smallest value a province may set: an integer for `int`, a duration (`1d`) for
    /// `duration`.
    #[serde(default)]
    pub min: Option<Bound>,
    /// The largest value a province may set (as `min`). A text may be at most
    /// [`MAX_PARAM_TEXT`] characters and a list [`MAX_PARAM_LIST`] items whatever it says.
    #[serde(default)]
    pub max: Option<Bound>,
}

/// A bound of a parameter: an integer, or a duration written as in definitions (`30d`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Bound {
    Int(i64),
    Duration(String),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Int(n) => write!(f, "{n}"),
            Bound::Duration(d) => f.write_str(d),
        }
    }
}

/// The longest text parameter, in characters.
pub const MAX_PARAM_TEXT: usize = 1000;
/// The most items of a list parameter.
pub const MAX_PARAM_LIST: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// An integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// A text of at most 1000 characters.
    Text,
    /// `7d`, `12h`, `30m`.
    Duration,
    /// A list of strings.
    List,
}

impl ParamDef {
    /// Checks a value against the parameter's type and bounds; returns a Chinese message.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let title = &self.title;
        match self.kind {
            ParamKind::Int => {
                let n = value.as_i64().ok_or_else(|| format!("{title}：应为整数"))?;
                if let Some(Bound::Int(min)) = self.min {
                    if n < min {
                        return Err(format!("{title}：不能小于{min}"));
                    }
                }
                if let Some(Bound::Int(max)) = self.max {
                    if n > max {
                        return Err(format!("{title}：不能大于{max}"));
                    }
                }
                Ok(())
            }
            ParamKind::Bool => value
                .as_bool()
                .map(|_| ())
                .ok_or_else(|| format!("{title}：应为 true 或 false")),
            ParamKind::Text => match value.as_str() {
                Some(t) if t.chars().count() > MAX_PARAM_TEXT => {
                    Err(format!("{title}：不能超过 {MAX_PARAM_TEXT} 个字符"))
                }
                Some(_) => Ok(()),
                None => Err(format!("{title}：应为文本")),
            },
            ParamKind::Duration => {
                let s = value
                    .as_str()
                    .ok_or_else(|| format!("{title}：应为时长，如 7d"))?;
                let d = parse_duration(s).map_err(|e| format!("{title}：{e}"))?;
                let bound = |b: &Option<Bound>| match b {
                    Some(Bound::Duration(b)) => parse_duration(b).ok().map(|d| (b.clone(), d)),
                    _ => None,
                };
                if let Some((text, min)) = bound(&self.min) {
                    if d < min {
                        return Err(format!("{title}：不能短于 {text}"));
                    }
                }
                if let Some((text, max)) = bound(&self.max) {
                    if d > max {
                        return Err(format!("{title}：不能长于 {text}"));
                    }
                }
                Ok(())
            }
            ParamKind::List => match value.as_array() {
                Some(a) if a.len() > MAX_PARAM_LIST => {
                    Err(format!("{title}：最多 {MAX_PARAM_LIST} 项"))
                }
                Some(a)
                    if a.iter().all(|v| {
                        v.as_str()
                            .is_some_and(|s| s.chars().count() <= MAX_PARAM_TEXT)
                    }) =>
                {
                    Ok(())
                }
                _ => Err(format!("{title}：应为文本列表")),
            },
        }
    }

    /// Problems of the declaration itself: bounds of the wrong kind, a default outside them.
    fn check_declaration(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, b) in [("min", &self.min), ("max", &self.max)] {
            let ok = match (self.kind, b) {
                (_, None) => true,
                (ParamKind::Int, Some(Bound::Int(_))) => true,
                (ParamKind::Duration, Some(Bound::Duration(d))) => parse_duration(d).is_ok(),
                _ => false,
            };
            if !ok {
                out.push(format!(
                    "参数“{}”的 {name} 无效：整数参数写整数，时长参数写时长（如 30d），其他类型不能设置",
                    self.title
                ));
            }
        }
        if out.is_empty() {
            if let Err(e) = self.check(&self.default) {
                out.push(format!("参数默认值不符合要求：{e}"));
            }
        }
        out
    }
}

/// An exclusive slot: an invariant that spans instances, enforced by the store's unique index.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotDef {
    /// What the slot key is made of: `graduate`, `employer` (the instance's parties).
    pub per: Vec<SlotPart>,
    /// Shown when the slot is already held (409).
    pub message: String,
    /// Slots with the same `name` are shared across flows (e.g. `agreement` held by online,
    /// offline and paper signing alike). Defaults to the slot's key.
    #[serde(default)]
    pub name: Option<String>,
    /// Shown instead to a claimant of another flow while an instance of this flow holds the
    /// shared slot (a destination registration blocking a signing); absent: the claimant's
    /// own `message`.
    #[serde(default)]
    pub message_for_others: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotPart {
    /// The instance's graduate.
    Graduate,
    /// The instance's employer.
    Employer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// Waiting for a party (graduate, employer) or a timer.
    #[default]
    Wait,
    /// A review block: one or more review levels.
    Review,
    /// The instance is over; nothing more can happen (a slot may still be held, e.g. signed).
    Final,
}

impl StateKind {
    /// The kind as YAML writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Wait => "wait",
            StateKind::Review => "review",
            StateKind::Final => "final",
        }
    }
}

/// One effect declared in YAML, written as a one-key map (`- notify: {…}`); the engine
/// resolves it into a command when the transition is applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EffectDef {
    /// Send a notification from a template to one party.
    Notify {
        /// Whom: a party of the instance.
        to: Recipient,
        /// The template, under `workflows/templates/` without `.hbs` (`notify/review_result`).
        template: String,
        /// `wechat` (default) and/or `sms`.
        #[serde(default = "default_channels")]
        channels: Vec<String>,
    },
    /// Push data to the employment management system (`op`: upsert or clear).
    Sync {
        /// What is pushed (`employment`: the graduate's agreement).
        kind: String,
        /// `upsert` or `clear`.
        op: String,
    },
    /// Generate a number (agreement number...) into a variable, inside the transaction.
    Number {
        /// The number series (`agreement`).
        kind: String,
        /// The variable receiving it (`agreement_no`).
        var: String,
        /// The signing channel digit in the number (`1` online, `4` e-agreement, `6` paper).
        #[serde(default)]
        channel: Option<String>,
    },
    /// Render a document from a template and keep it with the instance.
    Render {
        /// The template (`documents/e_agreement`).
        template: String,
        /// The document's name on the instance (`e_agreement`).
        document: String,
    },
    /// Emit an event that other flows may react to. Without `to` it goes (through the outbox)
    /// to every instance of the graduate; with `to` (a variable holding an instance id, e.g.
    /// `agreement_id`) it is delivered to that instance in the same transaction.
    Emit {
        /// The event's name (`agreement.voided`).
        event: String,
        /// A variable holding the one instance to deliver to.
        #[serde(default)]
        to: Option<String>,
        /// Only when the action changes one of these variables (its important fields: a
        /// modification that changes none of them announces nothing). Empty: always.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        if_changed: Vec<String>,
    },
    /// Issue a single-use link with which someone without an account (an employer invited
    /// by SMS) takes `action` (a `system` action of the target state) within `ttl`. The link
    /// is shown to the notifications of the same transition as `{{link}}`.
    Link {
        /// The `system` action the link takes.
        action: String,
        /// How long it is valid (default `7d`).
        #[serde(default = "default_link_ttl")]
        ttl: String,
    },
}

fn default_link_ttl() -> String {
    "7d".to_string()
}

/// serde_norway reads externally tagged enums only from YAML tags (`!notify`); effects are
/// written as one-key maps (`- notify: {...}`), so they go through a JSON value.
fn de_effects<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EffectDef>, D::Error> {
    let raw = Vec::<Value>::deserialize(d)?;
    raw.into_iter()
        .map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom))
        .collect()
}

fn de_effects_by_role<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<Role, Vec<EffectDef>>, D::Error> {
    let raw = IndexMap::<Role, Vec<Value>>::deserialize(d)?;
    raw.into_iter()
        .map(|(role, effects)| {
            effects
                .into_iter()
                .map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom))
                .collect::<Result<Vec<_>, _>>()
                .map(|e| (role, e))
        })
        .collect()
}

fn default_channels() -> Vec<String> {
    vec!["wechat".to_string()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// The instance's graduate.
    Graduate,
    /// The instance's employer (its account).
    Employer,
    /// The graduate's school.
    School,
    /// The graduate's department.
    Department,
    /// Whoever started the instance.
    Initiator,
    /// The employer's contact person by SMS: the mobile in `helper_mobile`, else `contact_mobile`.
    EmployerContact,
    /// The other party of a two-party request: the employer when the graduate started the
    /// instance, else the graduate.
    Counterpart,
}

/// An action of a state.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionDef {
    /// The action's Chinese title (button and refusal messages).
    pub label: String,
    /// Who may take it.
    pub roles: Vec<Role>,
    /// Name of a form in the definition's `forms`.
    #[serde(default)]
    pub form: Option<String>,
    /// Name of a Rhai script under `scripts/` (without `.rhai`).
    #[serde(default)]
    pub guard: Option<String>,
    /// The state it leads to.
    pub target: String,
    /// Effects of the action.
    #[serde(default, deserialize_with = "de_effects")]
    pub effects: Vec<EffectDef>,
    /// In a review state: available only until the first reviewer decided (withdraw or edit
    /// "before any reviewer acted", SPEC.md 4).
    #[serde(default)]
    pub until_reviewed: bool,
    /// A draft save (暂存): the form's presence rules are not enforced, formats still are.
    #[serde(default)]
    pub partial: bool,
    /// Whether the roles of this action get an inbox task while the instance waits in the
    /// state. `false` for overrides (a school's forced termination) that are not a to-do.
    #[serde(default = "yes")]
    pub inbox: bool,
    /// Also write the audit log (an administrative act on data already in force, e.g. a
    /// school's modify or void after approval), in the same transaction.
    #[serde(default)]
    pub audit: bool,
    /// The input is a change applied only once it is approved (a 修改申请 of registered
    /// data): it is kept in `vars.staged` (merged into what is staged already), while the
    /// variables keep the data in force, until a review decision with `staged: apply` writes it
    /// over them; one with `staged: discard` drops it, so a rejected change leaves the
    /// registered data as it was.
    #[serde(default)]
    pub stage: bool,
}

/// What a review decision does with a staged change (`ActionDef::stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StagedChange {
    /// Write `vars.staged` over the variables and drop it (the change is approved).
    Apply,
    /// Drop `vars.staged`; the variables stay as they were (the change is rejected).
    Discard,
}

fn yes() -> bool {
    true
}

/// A timer of a state: when the state has lasted `after`, the system takes `action`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimerDef {
    /// A literal duration (`7d`) or `params.NAME` naming a duration parameter.
    pub after: String,
    /// The action the system takes (a `system` action of the state).
    pub action: String,
}

/// One outcome of a review decision.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionDef {
    /// The state the decision leads to.
    pub target: String,
    /// Effects of the decision.
    #[serde(default, deserialize_with = "de_effects")]
    pub effects: Vec<EffectDef>,
    /// What the decision does with a staged change (`stage` actions): `apply` or `discard`.
    #[serde(default)]
    pub staged: Option<StagedChange>,
}

/// A reusable review block: one school level, or department then school, chosen from the
/// school's review mode for the flow's module; overlays may add levels after the school.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDef {
    /// The final approval (after the last level).
    pub approve: DecisionDef,
    /// Sending it back to the graduate for changes (optional).
    #[serde(default, rename = "return")]
    pub return_: Option<DecisionDef>,
    /// The rejection, with a reason.
    pub reject: DecisionDef,
    /// Label approve/reject 鉴证/审核 by the province's agreement type (two-party ⇒ 鉴证).
    #[serde(default)]
    pub attest_by_agreement_type: bool,
    /// Levels appended after the school level (e.g. `province`).
    #[serde(default)]
    pub extra_levels: Vec<Role>,
    /// Reason categories offered on rejection and return.
    #[serde(default = "default_reject_reasons")]
    pub reasons: Vec<String>,
    /// 快速审核: a guard script (`scripts/NAME.rhai`) reading the item's `vars` and `facts`
    /// (never `input`); quick review approves every item waiting for the caller whose script
    /// passes and reports the others with the script's refusal.
    #[serde(default)]
    pub quick: Option<String>,
}

fn default_reject_reasons() -> Vec<String> {
    [
        "单位信息有误",
        "协议信息有误",
        "学生信息有误",
        "证明材料不符合要求",
        "其他",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateDef {
    /// The Chinese status text users see.
    pub label: String,
    /// `wait` (default), `review` or `final`.
    #[serde(default)]
    pub kind: StateKind,
    /// Slots held while the instance is in this state.
    #[serde(default)]
    pub holds: Vec<String>,
    /// What the roles may do in this state, by action name.
    #[serde(default)]
    pub actions: IndexMap<String, ActionDef>,
    /// What the system does when the state has lasted long enough.
    #[serde(default)]
    pub timers: Vec<TimerDef>,
    /// The review block of a `review` state: approve, return and reject.
    #[serde(default)]
    pub review: Option<ReviewDef>,
    /// Selected by default in the status filter of the flow's management list (SPEC.md 5).
    #[serde(default)]
    pub list_default: bool,
    /// The graduate's registration status in the flow's module while the instance is here
    /// (档案/户口信息: 审核中 or 已登记; a graduate with no instance in such a state is 未登记).
    #[serde(default)]
    pub registration: Option<RegistrationStatus>,
}

/// A graduate's registration status in a module (档案/户口信息, SPEC.md 4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// 审核中: an application waits for its review.
    Reviewing,
    /// 已登记: the data is registered (a change of it may be waiting).
    Registered,
}

impl RegistrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Reviewing => "reviewing",
            RegistrationStatus::Registered => "registered",
        }
    }

    /// As users see it.
    pub fn label(self) -> &'static str {
        match self {
            RegistrationStatus::Reviewing => "审核中",
            RegistrationStatus::Registered => "已登记",
        }
    }
}

/// A flow that acts on an instance holding a slot (a termination acts on the graduate's
/// valid agreement): the holder's id goes into `var`, its employer becomes the employer party.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartOn {
    /// The slot the graduate must hold (`agreement`).
    pub slot: String,
    /// The variable receiving the holder's instance id.
    pub var: String,
    /// Shown when the graduate holds no such slot.
    pub missing: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDef {
    /// Who may start an instance.
    pub roles: Vec<Role>,
    /// The form the start submits (a name in `forms`).
    #[serde(default)]
    pub form: Option<String>,
    /// A guard script (`scripts/NAME.rhai`) deciding whether the flow is offered to the caller
    /// at all, before any input: it reads facts, actor, params and now, never `input`.
    /// `GET /flows` lists for a graduate only the flows whose `available` passes (with the
    /// refusal of the others); the start runs it before `guard`.
    #[serde(default)]
    pub available: Option<String>,
    /// A guard script (`scripts/NAME.rhai`) that may refuse the start, reading its input.
    #[serde(default)]
    pub guard: Option<String>,
    /// The first state.
    pub target: String,
    /// A different first state by the starter's role (e.g. who must answer next).
    #[serde(default)]
    pub target_by_role: IndexMap<Role, String>,
    /// The flow acts on an instance holding a slot (a termination on its agreement).
    #[serde(default)]
    pub on: Option<StartOn>,
    /// The start saves a draft: presence rules are not enforced.
    #[serde(default)]
    pub partial: bool,
    /// Effects of the start.
    #[serde(default, deserialize_with = "de_effects")]
    pub effects: Vec<EffectDef>,
    /// Different effects of the start by the starter's role, instead of `effects` (a school
    /// registering directly syncs at once; a graduate's application waits for its review).
    #[serde(default, deserialize_with = "de_effects_by_role")]
    pub effects_by_role: IndexMap<Role, Vec<EffectDef>>,
}

impl StartDef {
    /// The effects of a start by a starter of `role`.
    pub fn effects_for(&self, role: Role) -> &[EffectDef] {
        self.effects_by_role
            .get(&role)
            .map(Vec::as_slice)
            .unwrap_or(&self.effects)
    }

    /// The first state for a starter of `role`.
    pub fn target_for(&self, role: Role) -> &str {
        self.target_by_role
            .get(&role)
            .map(String::as_str)
            .unwrap_or(&self.target)
    }
}

/// 来自签约 (seed 002 7): data of this flow captured and approved in another flow registers here
/// by itself. When `event` arrives for a graduate holding none of this flow's slots, the
/// variables of the instance that emitted it fill the start form (`input`: per start-form
/// field, the source variables giving its value, the first one present), checked like a start
/// (form, guard); the instance enters `target` with `effects`, started by the system, its
/// source recorded in `vars.source`. Data the form refuses is not taken: the graduate
/// registers as usual.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeDef {
    /// The event (`agreement.signed`).
    pub event: String,
    /// Only when the source's variable `field` holds one of the values `in`.
    #[serde(default)]
    pub when: Option<crate::form::Condition>,
    /// Per start-form field, the source's variables giving its value (the first present;
    /// `a.b`: field `b` of the object variable `a`, e.g. `source.channel`).
    /// Omitted: each start-form field from the source variable of the same name (data that
    /// arrives in the flow's own shape, e.g. the management system's flow-back).
    #[serde(default)]
    pub input: IndexMap<String, Vec<String>>,
    /// The state the instance enters.
    pub target: String,
    /// Presence rules are not enforced: the source does not carry every field (an agreement
    /// names no postal code); the values it gives are still checked, and the school completes
    /// the rest (修改信息).
    #[serde(default)]
    pub partial: bool,
    /// The source carries no files (the management system's data): the start form's file
    /// fields are left out — not required, not taken — while every other rule holds.
    #[serde(default)]
    pub without_files: bool,
    /// Effects of the intake.
    #[serde(default, deserialize_with = "de_effects")]
    pub effects: Vec<EffectDef>,
    /// Record the intake in the audit log (who delivered the data, what it was).
    #[serde(default)]
    pub audit: bool,
    /// When the source changes afterwards (an approved agreement modified by the school), the
    /// instance this intake made from it follows.
    #[serde(default)]
    pub follow: Option<FollowDef>,
}

/// How an intake's instance follows a change of its source ([`IntakeDef::follow`]): on
/// `event` from the same source, the `system` action `action` writes the data mapped as the
/// intake maps it — only while the instance's data is still what the source gave
/// (`vars.source.taken`); data changed since by anyone else is left as it is. A graduate who
/// holds nothing is registered as by the intake (the changed source now qualifies).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowDef {
    /// The source's event announcing the change (`agreement.modified`).
    pub event: String,
    /// The action (roles `[system]`) taking the changed data, in the states where it applies.
    /// Omitted: what was registered is not changed (the source's change cannot touch the
    /// fields the intake takes); a graduate who holds nothing is still registered.
    #[serde(default)]
    pub action: Option<String>,
}

/// A reaction to an event emitted by another flow (or by the roster: `graduate.removed`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionDef {
    /// The event (`agreement.voided`, `graduate.removed`, `graduate.restored`…).
    pub event: String,
    /// States in which the reaction applies; empty = every non-final state.
    #[serde(default)]
    pub states: Vec<String>,
    /// The state to move to, or `$previous`: back to the state the instance was in before the
    /// last reaction moved it (e.g. `graduate.restored` undoing `graduate.removed`).
    pub target: String,
    /// Effects of the reaction.
    #[serde(default, deserialize_with = "de_effects")]
    pub effects: Vec<EffectDef>,
    /// The effects apply only when the instance lands in one of these states (empty: always),
    /// e.g. re-sync a restored agreement only if it was approved.
    #[serde(default)]
    pub effects_in: Vec<String>,
    /// Only an event emitted by the instance whose id this variable holds: a termination
    /// (`from: agreement_id`) reacts to the voiding of its own agreement, not of another one
    /// voided earlier. Absent: the event of any instance of the graduate.
    #[serde(default)]
    pub from: Option<String>,
    /// Start-form fields the instance takes anew from the instance that emitted the event, as
    /// an intake's `input` maps them (`source.channel`: a field of an object variable): a new
    /// destination to confirm brings its own data source. A field the source gives no value
    /// is removed.
    #[serde(default)]
    pub input: IndexMap<String, Vec<String>>,
}

/// A workflow definition as written in YAML.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The flow's name in URLs and APIs (`online_signing`); letters, digits and `_`.
    pub key: String,
    /// Raised for every change: a stored version never changes, running instances keep theirs.
    pub version: u32,
    /// The flow's Chinese title, as users read it (「单位发起签约」).
    pub title: String,
    /// The module: its permission level and the school's review mode apply.
    pub module: Module,
    /// Whom an instance is about (`graduate`).
    #[serde(default = "default_subject")]
    pub subject: String,
    /// Province code when this is a province overlay; absent for the national definition.
    #[serde(default)]
    pub province: Option<String>,
    /// Which management list shows the instances (`signing`, `supplement`, `termination`, `destination`...).
    #[serde(default)]
    pub list: Option<String>,
    /// The start form's code field that types an item in its management list
    /// (`destination_type`): stored with the instance (indexed), so the list filters by type
    /// and by the category its catalogue gives the type.
    #[serde(default)]
    pub list_type: Option<String>,
    /// The start form's field the statistics' counters count an instance by, where that is not
    /// its `list_type` (去向登记确认 by the data source of the destination it confirms): stored
    /// with the instance as its type. Absent: `list_type`.
    #[serde(default)]
    pub count_by: Option<String>,
    /// Values a province may tune (`termination_cap`, `response_deadline`), read as `params.NAME`.
    #[serde(default)]
    pub params: IndexMap<String, ParamDef>,
    /// Exclusive slots: at most one instance per key holds each (one valid agreement per graduate).
    #[serde(default)]
    pub slots: IndexMap<String, SlotDef>,
    /// Named forms; actions name the one they submit. A form may be `{use: fragment}`.
    #[serde(default)]
    pub forms: IndexMap<String, Form>,
    /// Who starts an instance, with which form and guard, and where it goes.
    pub start: StartDef,
    /// The states by name, in order; each has a label, a kind, actions, timers, a review.
    pub states: IndexMap<String, StateDef>,
    /// Reactions to events emitted by other flows or by the roster.
    #[serde(default)]
    pub reactions: Vec<ReactionDef>,
    /// Instances the flow starts by itself from another flow's approved data (来自签约).
    #[serde(default)]
    pub intake: Vec<IntakeDef>,
    /// Optional facts the guards read, loaded only for flows that declare them
    /// (`termination_count`); every transition of other flows is spared the query.
    #[serde(default)]
    pub facts: Vec<String>,
}

/// The optional facts a server knows how to load: `termination_count` — the termination
/// applications the graduate submitted (online ones they started plus offline ones).
pub const OPTIONAL_FACTS: &[&str] = &["termination_count"];

fn default_subject() -> String {
    "graduate".to_string()
}

/// The reaction target meaning "the state before the last reaction".
pub const PREVIOUS_STATE: &str = "$previous";

/// The instance variable in which a reaction records the state it left.
pub const STATE_BEFORE_REACTION: &str = "_state_before_reaction";

/// The instance variable in which a reaction records where in that state the instance stood:
/// its review position (`review`: the level it waited at) and the seconds each of its timers
/// had left (`timers_left`: action → seconds), so that `$previous` returns it there — a
/// roster restore gives the school back the item the department approved, and an invitation
/// the days it had left, not a fresh deadline (SPEC.md 3: the states are restored).
pub const STANDING_BEFORE_REACTION: &str = "_standing_before_reaction";

/// The standard review decisions.
pub const APPROVE: &str = "approve";
pub const RETURN: &str = "return";
pub const REJECT: &str = "reject";

impl Definition {
    pub fn id(&self) -> DefId {
        DefId {
            key: self.key.clone(),
            version: self.version,
            province: self.province.clone(),
        }
    }

    pub fn state(&self, name: &str) -> Option<&StateDef> {
        self.states.get(name)
    }

    /// The default parameters as a JSON object.
    pub fn default_params(&self) -> serde_json::Map<String, Value> {
        self.params
            .iter()
            .map(|(k, p)| (k.clone(), p.default.clone()))
            .collect()
    }

    /// Defaults overridden by `overrides` (a province's settings); every override is checked.
    pub fn resolve_params(
        &self,
        overrides: &serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>, Vec<String>> {
        let mut out = self.default_params();
        let mut errors = Vec::new();
        for (k, v) in overrides {
            match self.params.get(k) {
                None => errors.push(format!("未知参数：{k}")),
                Some(p) => match p.check(v) {
                    Ok(()) => {
                        out.insert(k.clone(), v.clone());
                    }
                    Err(e) => errors.push(e),
                },
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The start-form field an instance is counted by ([`Definition::count_by`], else
    /// [`Definition::list_type`]).
    pub fn counted_by(&self) -> Option<&str> {
        self.count_by.as_deref().or(self.list_type.as_deref())
    }

    /// The code table of the [`Definition::list_type`] field (`destination_type`).
    pub fn list_type_table(&self) -> Option<&str> {
        let t = self.list_type.as_ref()?;
        let field = self.forms.get(self.start.form.as_ref()?)?.field(t)?;
        match &field.kind {
            crate::form::FieldKind::Code { table } => Some(table),
            _ => None,
        }
    }

    /// Every guard script the definition names.
    pub fn guards(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .start
            .available
            .iter()
            .chain(&self.start.guard)
            .map(String::as_str)
            .collect();
        for st in self.states.values() {
            for a in st.actions.values() {
                out.extend(a.guard.as_deref());
            }
            if let Some(r) = &st.review {
                out.extend(r.quick.as_deref());
            }
        }
        out
    }

    /// The states whose review offers quick review (快速审核), with its script.
    pub fn quick_review_states(&self) -> Vec<(&str, &str)> {
        self.states
            .iter()
            .filter_map(|(n, s)| Some((n.as_str(), s.review.as_ref()?.quick.as_deref()?)))
            .collect()
    }

    /// Every template the definition names (notifications and documents).
    pub fn templates(&self) -> Vec<&str> {
        self.all_effects()
            .into_iter()
            .filter_map(|e| match e {
                EffectDef::Notify { template, .. } | EffectDef::Render { template, .. } => {
                    Some(template.as_str())
                }
                _ => None,
            })
            .collect()
    }

    /// Every effect the definition declares: at start, on actions, review decisions and
    /// reactions.
    pub fn all_effects(&self) -> Vec<&EffectDef> {
        let mut out: Vec<&EffectDef> = self.start.effects.iter().collect();
        for effects in self.start.effects_by_role.values() {
            out.extend(effects);
        }
        for st in self.states.values() {
            for a in st.actions.values() {
                out.extend(&a.effects);
            }
            if let Some(r) = &st.review {
                out.extend(&r.approve.effects);
                out.extend(&r.reject.effects);
                if let Some(ret) = &r.return_ {
                    out.extend(&ret.effects);
                }
            }
        }
        for r in &self.reactions {
            out.extend(&r.effects);
        }
        for i in &self.intake {
            out.extend(&i.effects);
        }
        out
    }

    /// Static problems: unknown targets, forms, slots, params, timer actions, review shape.
    /// Returns `(message, needle)` pairs; the needle helps the loader find the line.
    pub fn check(&self, tables: &dyn CodeLookup) -> Vec<(String, String)> {
        let mut errs: Vec<(String, String)> = Vec::new();
        let mut err = |m: String, needle: &str| errs.push((m, needle.to_string()));
        if self.key.is_empty()
            || !self
                .key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            err(
                format!("key 只能由字母、数字和下划线组成：{:?}", self.key),
                "key:",
            );
        }
        if self.version == 0 {
            err("version 必须从 1 开始".into(), "version:");
        }
        for f in &self.facts {
            if !OPTIONAL_FACTS.contains(&f.as_str()) {
                err(
                    format!(
                        "facts：未知的可选事实 {f}，可选：{}",
                        OPTIONAL_FACTS.join("、")
                    ),
                    "facts:",
                );
            }
        }
        for (name, p) in &self.params {
            for problem in p.check_declaration() {
                err(format!("参数 {name}：{problem}"), name);
            }
        }
        for (name, form) in &self.forms {
            for problem in form.check(tables) {
                err(format!("表单 {name}：{problem}"), name);
            }
        }
        let check_form = |form: &Option<String>, at: &str, errs: &mut Vec<(String, String)>| {
            if let Some(f) = form {
                if !self.forms.contains_key(f) {
                    errs.push((
                        format!("{at}：引用了未定义的表单 {f}"),
                        format!("form: {f}"),
                    ));
                }
            }
        };
        let check_target = |t: &str, at: &str, errs: &mut Vec<(String, String)>| {
            if !self.states.contains_key(t) {
                errs.push((format!("{at}：目标状态 {t} 未定义"), format!("target: {t}")));
            }
        };
        let check_effects = |effects: &[EffectDef], at: &str, errs: &mut Vec<(String, String)>| {
            for e in effects {
                if let EffectDef::Sync { op, .. } = e {
                    if op != "upsert" && op != "clear" {
                        errs.push((
                            format!("{at}：sync 的 op 只能是 upsert 或 clear，而不是 {op}"),
                            format!("op: {op}"),
                        ));
                    }
                }
            }
        };
        if let Some(t) = &self.list_type {
            if self.list.is_none() {
                errs.push(("list_type 需要同时写 list".into(), "list_type:".into()));
            }
            if self.list_type_table().is_none() {
                errs.push((
                    format!("list_type：{t} 应为发起表单中 type: code 的字段"),
                    "list_type:".into(),
                ));
            }
        }
        let start_form = self.start.form.as_ref().and_then(|f| self.forms.get(f));
        if let Some(c) = &self.count_by {
            if start_form.and_then(|f| f.field(c)).is_none() {
                errs.push((
                    format!("count_by：{c} 应为发起表单中的字段"),
                    "count_by:".into(),
                ));
            }
        }
        // An intake's or a reaction's `input`: start-form fields, each from some variable.
        let check_input = |input: &IndexMap<String, Vec<String>>,
                           at: &str,
                           event: &str,
                           errs: &mut Vec<(String, String)>| {
            for (field, from) in input {
                if start_form.and_then(|f| f.field(field)).is_none() {
                    errs.push((format!("{at}：{field} 不是发起表单中的字段"), event.into()));
                }
                if from.is_empty() {
                    errs.push((format!("{at}：{field} 至少需要一个来源变量"), event.into()));
                }
            }
        };
        check_form(&self.start.form, "start", &mut errs);
        check_target(&self.start.target, "start", &mut errs);
        for (role, t) in &self.start.target_by_role {
            check_target(t, "start.target_by_role", &mut errs);
            if !self.start.roles.contains(role) {
                errs.push((
                    format!("start.target_by_role：角色 {role} 不在 start.roles 中"),
                    "target_by_role".into(),
                ));
            }
        }
        if let Some(on) = &self.start.on {
            if on.var.is_empty() || on.missing.is_empty() {
                errs.push(("start.on：var 和 missing 不能为空".into(), "on:".into()));
            }
        }
        check_effects(&self.start.effects, "start", &mut errs);
        for (role, effects) in &self.start.effects_by_role {
            check_effects(effects, "start.effects_by_role", &mut errs);
            if !self.start.roles.contains(role) {
                errs.push((
                    format!("start.effects_by_role：角色 {role} 不在 start.roles 中"),
                    "effects_by_role".into(),
                ));
            }
        }
        // A flow started only by events (its intakes) names no starting role.
        if self.start.roles.is_empty() && self.intake.is_empty() {
            errs.push(("start：至少需要一个可发起的角色".into(), "start:".into()));
        }
        if self.start.roles.contains(&Role::Initiator) || self.start.roles.contains(&Role::System) {
            errs.push((
                "start：发起角色不能是 initiator 或 system".into(),
                "start:".into(),
            ));
        }
        for (sname, st) in &self.states {
            for h in &st.holds {
                if !self.slots.contains_key(h) {
                    errs.push((format!("状态 {sname}：占用了未定义的槽位 {h}"), h.clone()));
                }
            }
            match (&st.kind, &st.review) {
                (StateKind::Review, None) => errs.push((
                    format!("状态 {sname}：kind 为 review 时必须有 review 块"),
                    format!("{sname}:"),
                )),
                (k, Some(_)) if *k != StateKind::Review => errs.push((
                    format!("状态 {sname}：只有 kind 为 review 的状态可以有 review 块"),
                    format!("{sname}:"),
                )),
                _ => {}
            }
            if st.kind == StateKind::Final && !st.timers.is_empty() {
                errs.push((
                    format!("状态 {sname}：终止状态不能有定时器"),
                    format!("{sname}:"),
                ));
            }
            if let Some(r) = &st.review {
                let at = format!("状态 {sname} 的审核块");
                check_target(&r.approve.target, &at, &mut errs);
                check_target(&r.reject.target, &at, &mut errs);
                check_effects(&r.approve.effects, &at, &mut errs);
                check_effects(&r.reject.effects, &at, &mut errs);
                if let Some(ret) = &r.return_ {
                    check_target(&ret.target, &at, &mut errs);
                    check_effects(&ret.effects, &at, &mut errs);
                }
                for l in &r.extra_levels {
                    if !matches!(l, Role::Province | Role::School) {
                        errs.push((
                            format!("{at}：附加审核级别只能是 province 或 school，而不是 {l}"),
                            "extra_levels".into(),
                        ));
                    }
                }
                if r.reasons.is_empty() {
                    errs.push((format!("{at}：reasons 不能为空"), "reasons".into()));
                }
                for reserved in [APPROVE, RETURN, REJECT] {
                    if st.actions.contains_key(reserved) {
                        errs.push((
                            format!("状态 {sname}：动作名 {reserved} 由审核块保留"),
                            format!("{reserved}:"),
                        ));
                    }
                }
            }
            for (aname, a) in &st.actions {
                let at = format!("状态 {sname} 的动作 {aname}");
                check_form(&a.form, &at, &mut errs);
                check_target(&a.target, &at, &mut errs);
                check_effects(&a.effects, &at, &mut errs);
                for e in &a.effects {
                    if let EffectDef::Link { action, ttl } = e {
                        let ok = self
                            .states
                            .get(&a.target)
                            .and_then(|t| t.actions.get(action))
                            .is_some_and(|la| la.roles.contains(&Role::System));
                        if !ok {
                            errs.push((
                                format!("{at}：link 的动作 {action} 必须是目标状态中允许 system 角色的动作"),
                                format!("action: {action}"),
                            ));
                        }
                        if let Err(e) = parse_duration(ttl) {
                            errs.push((format!("{at}：link 的 ttl {e}"), ttl.clone()));
                        }
                    }
                }
                if a.roles.is_empty() {
                    errs.push((format!("{at}：至少需要一个角色"), format!("{aname}:")));
                }
            }
            for t in &st.timers {
                let at = format!("状态 {sname} 的定时器");
                match st.actions.get(&t.action) {
                    None => errs.push((
                        format!("{at}：动作 {} 未定义", t.action),
                        format!("action: {}", t.action),
                    )),
                    Some(a) if !a.roles.contains(&Role::System) => errs.push((
                        format!("{at}：动作 {} 必须允许 system 角色", t.action),
                        format!("action: {}", t.action),
                    )),
                    _ => {}
                }
                if let Some(p) = t.after.strip_prefix("params.") {
                    match self.params.get(p) {
                        Some(pd) if pd.kind == ParamKind::Duration => {}
                        Some(_) => {
                            errs.push((format!("{at}：参数 {p} 不是时长类型"), t.after.clone()))
                        }
                        None => errs.push((format!("{at}：参数 {p} 未定义"), t.after.clone())),
                    }
                } else if let Err(e) = parse_duration(&t.after) {
                    errs.push((format!("{at}：{e}"), t.after.clone()));
                }
            }
        }
        for r in &self.reactions {
            let at = format!("事件 {} 的响应", r.event);
            if r.target == PREVIOUS_STATE {
                if r.states.is_empty() {
                    errs.push((
                        format!("{at}：target: $previous 需要用 states 指明从哪些状态恢复"),
                        r.event.clone(),
                    ));
                }
            } else {
                check_target(&r.target, &at, &mut errs);
            }
            check_effects(&r.effects, &at, &mut errs);
            check_input(&r.input, &at, &r.event, &mut errs);
            for s in r.states.iter().chain(&r.effects_in) {
                if !self.states.contains_key(s) {
                    errs.push((format!("{at}：状态 {s} 未定义"), r.event.clone()));
                }
            }
        }
        for i in &self.intake {
            let at = format!("事件 {} 的来源登记（intake）", i.event);
            check_target(&i.target, &at, &mut errs);
            check_effects(&i.effects, &at, &mut errs);
            check_input(&i.input, &at, &i.event, &mut errs);
            if let Some(action) = i.follow.as_ref().and_then(|f| f.action.as_ref()) {
                let by_system = self.states.values().any(|s| {
                    s.actions
                        .get(action)
                        .is_some_and(|a| a.roles.contains(&Role::System))
                });
                if !by_system {
                    errs.push((
                        format!(
                            "{at}：follow 的动作 {action} 须在某个状态中定义且 roles 含 system"
                        ),
                        action.clone(),
                    ));
                }
            }
        }
        // An event announcing important fields names fields of the flow's forms.
        for e in self.all_effects() {
            if let EffectDef::Emit {
                event, if_changed, ..
            } = e
            {
                for f in if_changed {
                    let known = self
                        .forms
                        .values()
                        .any(|form| form.all_fields().iter().any(|x| x.name == *f));
                    if !known {
                        errs.push((
                            format!("事件 {event} 的 if_changed：{f} 不是本流程表单中的字段"),
                            f.clone(),
                        ));
                    }
                }
            }
        }
        // Every state must be reachable from the start.
        let mut reached = std::collections::BTreeSet::new();
        let mut stack = vec![self.start.target.clone()];
        stack.extend(self.start.target_by_role.values().cloned());
        stack.extend(self.intake.iter().map(|i| i.target.clone()));
        while let Some(s) = stack.pop() {
            if !reached.insert(s.clone()) {
                continue;
            }
            if let Some(st) = self.states.get(&s) {
                stack.extend(st.actions.values().map(|a| a.target.clone()));
                if let Some(r) = &st.review {
                    stack.push(r.approve.target.clone());
                    stack.push(r.reject.target.clone());
                    stack.extend(r.return_.as_ref().map(|d| d.target.clone()));
                }
            }
        }
        for r in &self.reactions {
            reached.insert(r.target.clone());
        }
        for s in self.states.keys() {
            if !reached.contains(s) {
                errs.push((format!("状态 {s} 无法到达"), format!("{s}:")));
            }
        }
        errs
    }

    /// Each `(state, action)` pair the definition declares, including the review decisions;
    /// used by the coverage report of the tests.
    pub fn transitions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.start.roles.is_empty() {
            out.push(("".to_string(), "start".to_string()));
        }
        for i in &self.intake {
            out.push(("".to_string(), format!("intake:{}", i.event)));
        }
        for (s, st) in &self.states {
            for a in st.actions.keys() {
                out.push((s.clone(), a.clone()));
            }
            if let Some(r) = &st.review {
                out.push((s.clone(), APPROVE.into()));
                out.push((s.clone(), REJECT.into()));
                if r.return_.is_some() {
                    out.push((s.clone(), RETURN.into()));
                }
            }
        }
        for r in &self.reactions {
            out.push(("*".into(), format!("on:{}", r.event)));
        }
        out
    }
}

/// Slots map to shared names (see [`SlotDef::name`]).
pub fn slot_name<'a>(def: &'a Definition, slot: &'a str) -> &'a str {
    def.slots
        .get(slot)
        .and_then(|s| s.name.as_deref())
        .unwrap_or(slot)
}

/// Parameter values keyed by name, as stored on an instance.
pub type Params = serde_json::Map<String, Value>;

/// A province's parameter overrides per definition key.
pub type ParamOverrides = BTreeMap<String, Params>;
