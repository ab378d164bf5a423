//! Data-driven tests over the real `workflows/*.yaml`: each file under `tests/cases/` names a
//! flow, parties, actors and facts, and lists cases of steps with the expected outcome or
//! refusal. The run prints, per flow, which (state, action) pairs were reached, and fails if
//! a transition the definition declares was never taken.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use gradflow_engine::apply::{self, Actor, Ctx, EngineError, Instance, Outcome, Parties};
use gradflow_engine::definition::EffectDef;
use gradflow_engine::registry::{read_tree, Snapshot};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
struct CaseFile {
    flow: String,
    parties: Parties,
    actors: BTreeMap<String, Actor>,
    facts: Value,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    facts: Option<Value>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    actor: String,
    action: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    facts: Option<Value>,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    /// The instance an `on:` event comes from; by default the subject the flow acts on.
    #[serde(default)]
    source: Option<i64>,
    /// An `on:` event the instance does not react to.
    #[serde(default)]
    ignored: bool,
}

/// The id the harness gives the instance a flow's `start.on` binds (the server binds the
/// slot's holder).
const SUBJECT_ID: i64 = 500;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    state: Option<String>,
    label: Option<String>,
    detail: Option<String>,
    level: Option<String>,
    tasks: Option<Vec<String>>,
    timers: Option<Vec<String>>,
    acquire: Option<Vec<String>>,
    release: Option<Vec<String>>,
    effects: Option<Vec<String>>,
    #[serde(rename = "final")]
    is_final: Option<bool>,
    /// Variables after the step: each listed one has this value (`null`: absent).
    vars: Option<BTreeMap<String, Value>>,
}

/// An input written with YAML's merge key (`{<<: *unit, contact: …}`), which the YAML 1.2
/// reader keeps as a key: the anchored map with the other keys over it.
fn merged(input: &Value) -> Value {
    match input.as_object().and_then(|m| Some((m, m.get("<<")?))) {
        Some((m, base)) => {
            let mut out = base.clone();
            for (k, v) in m.iter().filter(|(k, _)| *k != "<<") {
                out[k] = v.clone();
            }
            out
        }
        None => input.clone(),
    }
}

/// Deep-merges `patch` into `base` (objects merge, everything else replaces).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn effect_kind(e: &EffectDef) -> &'static str {
    match e {
        EffectDef::Notify { .. } => "notify",
        EffectDef::Sync { .. } => "sync",
        EffectDef::Number { .. } => "number",
        EffectDef::Render { .. } => "render",
        EffectDef::Emit { .. } => "emit",
        EffectDef::Link { .. } => "link",
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check(outcome: &Outcome, e: &Expect, at: &str) {
    if let Some(s) = &e.state {
        assert_eq!(&outcome.to, s, "{at}: state");
    }
    if let Some(l) = &e.label {
        assert_eq!(&outcome.label, l, "{at}: label");
    }
    if let Some(d) = &e.detail {
        assert_eq!(
            outcome.status_detail.as_deref(),
            Some(d.as_str()),
            "{at}: detail"
        );
    }
    if let Some(l) = &e.level {
        let level = outcome
            .review
            .as_ref()
            .map(|r| r.level().as_str().to_string());
        assert_eq!(level.as_deref(), Some(l.as_str()), "{at}: review level");
    }
    if let Some(t) = &e.tasks {
        let got: Vec<String> = outcome
            .tasks
            .iter()
            .map(|t| t.role.as_str().to_string())
            .collect();
        assert_eq!(&got, t, "{at}: tasks");
    }
    if let Some(t) = &e.timers {
        let got: Vec<String> = outcome.timers.iter().map(|t| t.action.clone()).collect();
        assert_eq!(&got, t, "{at}: timers");
    }
    if let Some(a) = &e.acquire {
        let got: Vec<String> = outcome.acquire.iter().map(|c| c.key.clone()).collect();
        assert_eq!(&got, a, "{at}: acquired slots");
    }
    if let Some(r) = &e.release {
        assert_eq!(&outcome.release, r, "{at}: released slots");
    }
    if let Some(fx) = &e.effects {
        let got: Vec<&str> = outcome.effects.iter().map(effect_kind).collect();
        assert_eq!(
            got,
            fx.iter().map(String::as_str).collect::<Vec<_>>(),
            "{at}: effects"
        );
    }
    if let Some(f) = e.is_final {
        assert_eq!(outcome.is_final, f, "{at}: final");
    }
    for (k, want) in e.vars.iter().flatten() {
        let got = outcome.vars.get(k).unwrap_or(&Value::Null);
        assert_eq!(got, want, "{at}: vars.{k}");
    }
}

#[test]
fn flows_behave_as_their_cases_say_and_every_transition_is_covered() {
    let snap = Snapshot::build(&read_tree(&root()).expect("read tree")).unwrap_or_else(|d| {
        panic!("the real workflows must load: {d:#?}");
    });
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases"))
            .expect("cases dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files");
    let now = Utc.with_ymd_and_hms(2026, 4, 1, 2, 0, 0).unwrap();
    let mut uncovered_total = Vec::new();
    for file in files {
        let cf: CaseFile = serde_norway::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let def = snap
            .active(&cf.flow, None)
            .unwrap_or_else(|| panic!("flow {} not loaded", cf.flow))
            .def
            .clone();
        let mut reached: BTreeSet<(String, String)> = BTreeSet::new();
        for case in &cf.cases {
            let mut case_facts = cf.facts.clone();
            if let Some(f) = &case.facts {
                merge(&mut case_facts, f);
            }
            let mut inst: Option<Instance> = None;
            for (i, step) in case.steps.iter().enumerate() {
                let at = format!(
                    "{} / {} / step {} ({} {})",
                    cf.flow,
                    case.name,
                    i + 1,
                    step.actor,
                    step.action
                );
                let actor = cf
                    .actors
                    .get(&step.actor)
                    .unwrap_or_else(|| panic!("{at}: unknown actor"));
                let mut facts = case_facts.clone();
                if let Some(f) = &step.facts {
                    merge(&mut facts, f);
                }
                let ctx = Ctx {
                    actor,
                    facts: &facts,
                    now,
                    guards: &snap,
                    tables: snap.code_lookup(),
                };
                let mut parties = cf.parties.clone();
                let from = inst.as_ref().map(|i| i.state.clone()).unwrap_or_default();
                let result: Result<Outcome, EngineError> = if step.action == "start" {
                    parties.initiator = actor.party();
                    apply::start(
                        &def,
                        &ctx,
                        &parties,
                        &def.default_params(),
                        &merged(&step.input),
                    )
                } else if let Some(event) = step.action.strip_prefix("intake:") {
                    // The source's variables are the step's input.
                    parties.initiator = actor.party();
                    let intake = def
                        .intake
                        .iter()
                        .find(|i| i.event == event)
                        .unwrap_or_else(|| panic!("{at}: no intake of {event}"));
                    let source = merged(&step.input);
                    let source = source.as_object().cloned().unwrap_or_default();
                    apply::intake(&def, &ctx, &parties, &def.default_params(), intake, &source)
                        .map(|o| o.unwrap_or_else(|| panic!("{at}: the intake did not apply")))
                } else if let Some(event) = step.action.strip_prefix("on:") {
                    let cur = inst.as_ref().unwrap_or_else(|| panic!("{at}: no instance"));
                    // The step's input, when it has one, is the source's variables.
                    let source_vars = merged(&step.input).as_object().cloned();
                    let source = Some(apply::EventSource {
                        id: step.source.unwrap_or(SUBJECT_ID),
                        vars: source_vars.as_ref().filter(|v| !v.is_empty()),
                    });
                    match apply::react(&def, &ctx, cur, event, source) {
                        Ok(reacted) if step.ignored => {
                            assert!(reacted.is_none(), "{at}: reacted but should not");
                            continue;
                        }
                        Ok(reacted) => Ok(reacted.unwrap_or_else(|| panic!("{at}: no reaction"))),
                        Err(e) => Err(e),
                    }
                } else {
                    let cur = inst.as_ref().unwrap_or_else(|| panic!("{at}: no instance"));
                    apply::apply(&def, &ctx, cur, &step.action, &merged(&step.input))
                };
                match (&step.error, result) {
                    (Some(code), Err(e)) => {
                        assert_eq!(e.code(), code, "{at}: refusal code ({e})");
                        if let Some(m) = &step.message {
                            assert!(
                                e.to_string().contains(m.as_str()),
                                "{at}: message {e} lacks {m}"
                            );
                        }
                        if let (Some(fields), EngineError::Invalid(errs)) = (&step.fields, &e) {
                            let mut got: Vec<String> =
                                errs.iter().map(|e| e.field.clone()).collect();
                            got.sort();
                            got.dedup();
                            let mut want = fields.clone();
                            want.sort();
                            assert_eq!(got, want, "{at}: fields named by the errors");
                            assert!(errs.iter().all(|e| !e.message.is_empty()), "{at}: messages");
                        }
                    }
                    (Some(code), Ok(o)) => {
                        panic!("{at}: expected refusal {code}, got state {}", o.to)
                    }
                    (None, Err(e)) => panic!("{at}: unexpected refusal {}: {e}", e.code()),
                    (None, Ok(o)) => {
                        if let Some(exp) = &step.expect {
                            check(&o, exp, &at);
                        }
                        let action = if step.action.starts_with("on:") {
                            step.action.clone()
                        } else {
                            o.action.clone()
                        };
                        let begins = step.action == "start" || step.action.starts_with("intake:");
                        let key_from = if step.action.starts_with("on:") {
                            "*".to_string()
                        } else if begins {
                            String::new()
                        } else {
                            from.clone()
                        };
                        reached.insert((key_from, action));
                        let mut vars: Map<String, Value> = o.vars.clone();
                        vars.remove("__none");
                        if let (true, Some(on)) = (begins, &def.start.on) {
                            vars.insert(on.var.clone(), json!(SUBJECT_ID));
                        }
                        inst = Some(Instance {
                            state: o.to.clone(),
                            review: o.review.clone(),
                            vars,
                            params: inst
                                .as_ref()
                                .filter(|_| !begins)
                                .map(|i| i.params.clone())
                                .unwrap_or_else(|| def.default_params()),
                            // A start within a case begins a new instance with its own initiator.
                            // The timers it has open: those the step set, else those it kept.
                            timers: if o.cancel_timers || !o.timers.is_empty() {
                                o.timers.clone()
                            } else {
                                inst.as_ref().map(|i| i.timers.clone()).unwrap_or_default()
                            },
                            parties: match inst.as_ref() {
                                Some(i) if !begins => i.parties.clone(),
                                _ => parties,
                            },
                        });
                    }
                }
            }
        }
        let declared: BTreeSet<(String, String)> = def.transitions().into_iter().collect();
        println!(
            "flow {}: {} of {} transitions reached",
            cf.flow,
            declared.intersection(&reached).count(),
            declared.len()
        );
        for t in &declared {
            let mark = if reached.contains(t) {
                "reached"
            } else {
                "MISSED"
            };
            println!(
                "  {mark:8} {:>12} --{}-->",
                if t.0.is_empty() { "(start)" } else { &t.0 },
                t.1
            );
        }
        uncovered_total.extend(
            declared
                .difference(&reached)
                .map(|t| format!("{}: {:?}", cf.flow, t)),
        );
    }
    assert!(
        uncovered_total.is_empty(),
        "transitions never taken by the cases: {uncovered_total:#?}"
    );
}
