//! Effects as commands: what a transition's effects ask for, resolved without touching the
//! database — the documents rendered from their templates, the messages (notifications to
//! resolved recipients, syncs to the employment management system, events) with their
//! idempotency keys and payloads, the action links with their tokens, and the events for a
//! target instance. The store writes the rows ([`crate::store`]); numbers are drawn before,
//! inside the transaction, because documents and messages show them.

use chrono::{DateTime, Utc};
use gradflow_engine::apply::{Outcome, Parties};
use gradflow_engine::definition::{EffectDef, Recipient};
use gradflow_engine::registry::{LoadedDefinition, Snapshot};
use serde_json::{json, Map, Value};

use crate::contract::{DecisionData, StudentSnapshot, TemplateData};
use crate::error::{ApiError, ApiResult};
use crate::store::{china_minute, token_hash, STUDENT_VAR};

/// A stored transition, as its effects need it.
pub struct Transition<'a> {
    /// The instance (inserted already when the transition started it) and its history seq.
    pub id: i64,
    pub seq: i32,
    pub snapshot: &'a Snapshot,
    pub def: &'a LoadedDefinition,
    pub outcome: &'a Outcome,
    pub facts: &'a Value,
    pub parties: &'a Parties,
    pub now: DateTime<Utc>,
    /// The public base URL of action links.
    pub link_base: &'a str,
}

/// A single-use action link to store (its token is in the messages, only its hash here).
pub struct LinkRequest {
    pub token_hash: String,
    pub action: String,
    pub expires_at: DateTime<Utc>,
}

/// A document to store under its name (it replaces the one of that name).
pub struct Document {
    pub name: String,
    pub content: String,
}

/// An outbox message: `notify`, `sync` or `event`, delivered once per idempotency key.
pub struct Message {
    pub key: String,
    pub kind: &'static str,
    pub channel: String,
    pub payload: Value,
}

/// Everything the effects of one transition ask the store to write.
pub struct Commands {
    pub links: Vec<LinkRequest>,
    pub documents: Vec<Document>,
    pub messages: Vec<Message>,
    /// Events to deliver to an instance in the same transaction: `(event, instance id)`.
    pub targeted: Vec<(String, i64)>,
}

/// Resolves the effects of a transition into commands.
pub fn resolve(t: Transition<'_>) -> ApiResult<Commands> {
    let Transition {
        id,
        seq,
        snapshot,
        def,
        outcome,
        facts,
        parties,
        now,
        link_base,
    } = t;
    // Documents and messages, rendered from templates with everything the transition knows.
    let deadline = outcome.timers.first().map(|t| china_minute(t.due));
    // Every field any flow's form declares is present (null when not filled) so that strict
    // templates (the e-agreement shows every agreement field) can show optional fields; the
    // graduate as shown on documents is the instance's snapshot.
    // Built only when a template is rendered.
    let rendered = outcome
        .effects
        .iter()
        .any(|e| matches!(e, EffectDef::Render { .. } | EffectDef::Notify { .. }));
    let mut data = if rendered {
        let mut shown_vars = outcome.vars.clone();
        for name in snapshot.form_fields() {
            shown_vars.entry(name.clone()).or_insert(Value::Null);
        }
        let data = template_data(id, def, outcome, shown_vars, facts, parties, deadline, now)?;
        serde_json::to_value(data).map_err(ApiError::internal)?
    } else {
        Value::Null
    };
    let mut links = Vec::new();
    // Links first: the messages of the same transition carry them.
    for e in &outcome.effects {
        if let EffectDef::Link { action, ttl } = e {
            let token = random_token();
            let ttl = gradflow_engine::duration::parse_duration(ttl).map_err(ApiError::internal)?;
            links.push(LinkRequest {
                token_hash: token_hash(&token),
                action: action.clone(),
                expires_at: now + ttl,
            });
            data["link"] = Value::String(format!(
                "{}/api/v1/links/{token}",
                link_base.trim_end_matches('/')
            ));
            data["link_expires"] = Value::String(china_minute(now + ttl));
        }
    }
    let mut targeted = Vec::new();
    let mut messages = Vec::new();
    let mut documents = Vec::new();
    for (idx, e) in outcome.effects.iter().enumerate() {
        let key = format!("{id}-{seq}-{idx}");
        match e {
            EffectDef::Number { .. } | EffectDef::Link { .. } => {}
            EffectDef::Emit {
                event,
                to: Some(var),
                ..
            } => match outcome.vars.get(var).and_then(Value::as_i64) {
                Some(target) => targeted.push((event.clone(), target)),
                None => {
                    return Err(ApiError::internal(format!(
                        "emit {event}: variable {var} holds no instance id"
                    )))
                }
            },
            EffectDef::Render {
                template,
                document: name,
            } => {
                let content = snapshot
                    .render(template, &data)
                    .map_err(ApiError::internal)?;
                documents.push(Document {
                    name: name.clone(),
                    content,
                });
            }
            EffectDef::Notify {
                to,
                template,
                channels,
            } => {
                let text = snapshot
                    .render(template, &data)
                    .map_err(ApiError::internal)?;
                for ch in channels {
                    messages.push(Message {
                        key: format!("{key}-{ch}"),
                        kind: "notify",
                        channel: ch.clone(),
                        payload: json!({
                            "kind": "notify",
                            "channel": ch,
                            "to": recipient(*to, parties, facts, &outcome.vars),
                            "text": text.trim(),
                            "instance_id": id,
                            "flow": def.def.key,
                            "action": outcome.action,
                            "state": outcome.to,
                        }),
                    });
                }
            }
            EffectDef::Sync { kind, op } => messages.push(Message {
                key,
                kind: "sync",
                channel: "employment_management_system".to_string(),
                payload: json!({
                    "kind": "sync",
                    "data_kind": kind,
                    "op": op,
                    "instance_id": id,
                    "flow": def.def.key,
                    "state": outcome.to,
                    "label": outcome.label,
                    "graduate": facts.get("graduate").cloned().unwrap_or(Value::Null),
                    "employer": facts.get("employer").cloned().unwrap_or(Value::Null),
                    "school_code": facts.pointer("/school/code").cloned().unwrap_or(Value::Null),
                    "vars": outcome.vars,
                    "codes": coded_values(def, &outcome.vars, snapshot),
                    "at": now.to_rfc3339(),
                }),
            }),
            EffectDef::Emit {
                event, to: None, ..
            } => messages.push(Message {
                key,
                kind: "event",
                channel: "internal".to_string(),
                payload: json!({
                    "kind": "event",
                    "event": event,
                    "instance_id": id,
                    "graduate_id": parties.graduate_id,
                    "flow": def.def.key,
                }),
            }),
        }
    }
    Ok(Commands {
        links,
        documents,
        messages,
        targeted,
    })
}

/// What the templates of a transition read (the contract's [`TemplateData`]): the facts as
/// typed, the graduate as the instance shows them, the variables with every form field.
#[allow(clippy::too_many_arguments)]
fn template_data(
    id: i64,
    def: &LoadedDefinition,
    outcome: &Outcome,
    vars: Map<String, Value>,
    facts: &Value,
    parties: &Parties,
    deadline: Option<String>,
    now: DateTime<Utc>,
) -> ApiResult<TemplateData> {
    fn from<T: serde::de::DeserializeOwned>(v: Option<&Value>) -> ApiResult<T> {
        serde_json::from_value(v.cloned().unwrap_or(Value::Null)).map_err(ApiError::internal)
    }
    let typed = |k: &str| facts.get(k);
    // The snapshot taken at start; instances older than it show the roster's graduate.
    let student: StudentSnapshot = from(outcome.vars.get(STUDENT_VAR).or(typed("graduate")))?;
    Ok(TemplateData {
        instance_id: id,
        flow_title: def.def.title.clone(),
        action: outcome.action.clone(),
        state: outcome.to.clone(),
        label: outcome.label.clone(),
        status_detail: outcome.status_detail.clone(),
        decision: outcome.decision.as_ref().map(|d| DecisionData {
            level: serde_json::to_value(d.level)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            decision: d.decision.clone(),
            reason_category: d.reason_category.clone(),
            reason: d.reason.clone(),
        }),
        vars,
        student,
        graduate: from(typed("graduate"))?,
        employer: from(typed("employer"))?,
        school: from(typed("school"))?,
        agreement_type: from(typed("agreement_type"))?,
        initiator: parties
            .initiator
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string(),
        deadline,
        now: china_minute(now),
        link: None,
        link_expires: None,
    })
}

fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn recipient(to: Recipient, parties: &Parties, facts: &Value, vars: &Map<String, Value>) -> Value {
    match to {
        Recipient::Graduate => json!({
            "role": "graduate",
            "graduate_id": parties.graduate_id,
            "mobile": facts.pointer("/graduate/mobile").cloned().unwrap_or(Value::Null),
        }),
        Recipient::Employer => json!({"role": "employer", "employer_id": parties.employer_id}),
        Recipient::School => json!({"role": "school", "school_id": parties.school_id}),
        Recipient::Department => json!({
            "role": "department",
            "school_id": parties.school_id,
            "department": parties.department,
        }),
        Recipient::Initiator => json!({"role": "initiator", "party": parties.initiator}),
        Recipient::Counterpart if parties.initiator.starts_with("graduate:") => {
            recipient(Recipient::Employer, parties, facts, vars)
        }
        Recipient::Counterpart => recipient(Recipient::Graduate, parties, facts, vars),
        Recipient::EmployerContact => json!({
            "role": "employer_contact",
            "mobile": vars
                .get("helper_mobile")
                .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                .or_else(|| vars.get("contact_mobile"))
                .cloned()
                .unwrap_or(Value::Null),
            "name": vars.get("contact_person").cloned().unwrap_or(Value::Null),
        }),
    }
}

/// Every code field of the definition's forms that the variables fill, with its label and,
/// for a catalogue, the entry's attributes: what the management system needs besides the
/// codes (the national destination code of a destination type, whether it counts as
/// employed…).
fn coded_values(def: &LoadedDefinition, vars: &Map<String, Value>, snapshot: &Snapshot) -> Value {
    use gradflow_engine::form::FieldKind;
    let mut out = Map::new();
    for form in def.def.forms.values() {
        for f in form.all_fields() {
            let FieldKind::Code { table } = &f.kind else {
                continue;
            };
            let Some(code) = vars.get(&f.name).and_then(Value::as_str) else {
                continue;
            };
            if out.contains_key(&f.name) {
                continue;
            }
            let mut v = json!({
                "code": code,
                "label": snapshot.code_lookup().label(table, code),
            });
            if let Some(entry) = snapshot.catalogue(table).and_then(|c| c.entry(code)) {
                v["attributes"] = Value::Object(entry.attributes.clone());
            }
            out.insert(f.name.clone(), v);
        }
    }
    Value::Object(out)
}
