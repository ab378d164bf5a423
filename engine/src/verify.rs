//! Checks the loaded files against the [`Contract`]: every path a guard reads, every guard
//! run once with sample data inside the sandbox (an endless loop or a script error is found
//! now, not in front of a graduate), and every template dry-rendered in strict mode with
//! sample data for each flow and effect that uses it. Part of building a snapshot: `gradflow
//! check`, every reload and every upload see the same problems, with file and line.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use handlebars::Handlebars;
use rhai::AST;
use serde_json::{json, Map, Value};

use crate::contract::{now_shape, read_paths, Contract, Scalar, Shape};
use crate::definition::{DefId, Definition, EffectDef, ParamKind};
use crate::form::{FieldKind, Form};
use crate::registry::{Diagnostic, LoadedDefinition};
use crate::script::{ScriptContext, ScriptEngine};

/// The context variables a guard reads.
pub const ROOTS: [&str; 6] = ["input", "vars", "actor", "params", "facts", "now"];

/// The shape of a form field's normalised value.
pub fn field_shape(kind: &FieldKind) -> Shape {
    match kind {
        FieldKind::Int { .. } => Shape::Scalar(Scalar::Int),
        FieldKind::Bool => Shape::Scalar(Scalar::Bool),
        _ => Shape::text(),
    }
}

/// The shape of a form's input: every field it may ask for.
pub fn form_shape(form: Option<&Form>) -> Shape {
    Shape::Object(
        form.map(|f| {
            f.all_fields()
                .into_iter()
                .map(|x| (x.name.clone(), field_shape(&x.kind)))
                .collect()
        })
        .unwrap_or_default(),
    )
}

/// The variables an instance of `def` may carry: every field of its forms, what its effects
/// and its `start.on` set, what the engine keeps (the last decision, the state before a
/// reaction), and what the server sets (`server`).
pub fn vars_shape(def: &Definition, server: &BTreeMap<String, Shape>) -> BTreeMap<String, Shape> {
    let mut m: BTreeMap<String, Shape> = server.clone();
    for form in def.forms.values() {
        for f in form.all_fields() {
            m.insert(f.name.clone(), field_shape(&f.kind));
        }
    }
    if let Some(on) = &def.start.on {
        m.insert(on.var.clone(), Shape::Scalar(Scalar::Int));
    }
    for e in def.all_effects() {
        if let EffectDef::Number { var, .. } = e {
            m.insert(var.clone(), Shape::text());
        }
    }
    m.insert(
        "last_decision".into(),
        Shape::object([
            ("level", Shape::text()),
            ("decision", Shape::text()),
            ("reason_category", Shape::text()),
            ("reason", Shape::text()),
        ]),
    );
    m.insert(
        crate::definition::STATE_BEFORE_REACTION.into(),
        Shape::text(),
    );
    m.insert(
        crate::definition::STANDING_BEFORE_REACTION.into(),
        Shape::object([("review", Shape::Any), ("timers_left", Shape::Any)]),
    );
    // A change applied for after registration waits here (`stage: true`) until its review.
    let staging = def
        .states
        .values()
        .flat_map(|s| s.actions.values())
        .filter(|a| a.stage)
        .filter_map(|a| a.form.as_ref().and_then(|f| def.forms.get(f)));
    let mut staged = BTreeMap::new();
    for form in staging {
        for f in form.all_fields() {
            staged.insert(f.name.clone(), field_shape(&f.kind));
        }
    }
    if !staged.is_empty() {
        m.insert(crate::apply::STAGED.into(), Shape::Object(staged));
    }
    if !def.intake.is_empty() {
        // From another flow (`flow`, `title`, `instance_id`) or from outside (`system`,
        // `title`, `at`); what a following intake took (`taken`, start-form fields).
        let mut source: BTreeMap<String, Shape> = [
            ("flow", Shape::text()),
            ("title", Shape::text()),
            ("instance_id", Shape::Scalar(Scalar::Int)),
            ("system", Shape::text()),
            ("at", Shape::text()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(form) = def.start.form.as_ref().and_then(|f| def.forms.get(f)) {
            let taken = form
                .all_fields()
                .into_iter()
                .map(|f| (f.name.clone(), field_shape(&f.kind)))
                .collect();
            source.insert(crate::apply::TAKEN.into(), Shape::Object(taken));
        }
        m.insert(crate::apply::SOURCE.into(), Shape::Object(source));
    }
    m
}

/// The shape of a definition's params.
pub fn params_shape(def: &Definition) -> Shape {
    Shape::Object(
        def.params
            .iter()
            .map(|(k, p)| {
                let s = match p.kind {
                    ParamKind::Int => Shape::Scalar(Scalar::Int),
                    ParamKind::Bool => Shape::Scalar(Scalar::Bool),
                    ParamKind::Text | ParamKind::Duration => Shape::text(),
                    ParamKind::List => Shape::List(Box::new(Shape::text())),
                };
                (k.clone(), s)
            })
            .collect(),
    )
}

/// The facts a definition's guards see: the contract's, without the optional ones it does
/// not declare.
pub fn facts_shape(def: &Definition, contract: &Contract) -> Shape {
    match &contract.facts {
        Shape::Object(m) => Shape::Object(
            m.iter()
                .filter(|(k, _)| {
                    !contract.optional_facts.contains(k) || def.facts.iter().any(|f| f == *k)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What one guard may read where one flow uses it.
struct Use<'a> {
    /// `online_signing 的动作 accept`, for messages.
    at: String,
    definition: &'a Definition,
    input: Shape,
}

/// Everything the checks need from the snapshot being built.
pub struct Loaded<'a> {
    pub defs: &'a BTreeMap<crate::definition::DefId, LoadedDefinition>,
    pub asts: &'a HashMap<String, Arc<AST>>,
    pub templates: &'a Handlebars<'static>,
    pub scripts: &'a ScriptEngine,
    /// Every field name any form declares (templates see them all, null when absent).
    pub form_fields: &'a [String],
    /// The catalogues guards read with `catalogue_entry`.
    pub catalogues: &'a crate::script::Catalogues,
}

/// Every problem of the loaded files against `contract`, each with the definition whose use
/// found it (a stored definition with problems is set aside, like one that does not load).
pub fn verify(l: &Loaded<'_>, contract: &Contract) -> Vec<(Option<DefId>, Diagnostic)> {
    let mut out: BTreeSet<(Option<DefId>, Diagnostic)> = BTreeSet::new();
    // Guards: every use of every script.
    let mut uses: BTreeMap<String, Vec<Use<'_>>> = BTreeMap::new();
    for d in l.defs.values() {
        let def = &d.def;
        if let Some(g) = &def.start.available {
            uses.entry(g.clone()).or_default().push(Use {
                at: format!("{} 的发起条件（available，不读 input）", def.id()),
                definition: def,
                input: Shape::object::<&str>([]),
            });
        }
        if let Some(g) = &def.start.guard {
            uses.entry(g.clone()).or_default().push(Use {
                at: format!("{} 的发起", def.id()),
                definition: def,
                input: form_shape(def.start.form.as_ref().and_then(|f| def.forms.get(f))),
            });
        }
        for (sname, st) in &def.states {
            for (aname, a) in &st.actions {
                if let Some(g) = &a.guard {
                    uses.entry(g.clone()).or_default().push(Use {
                        at: format!("{} 的状态 {sname} 的动作 {aname}", def.id()),
                        definition: def,
                        input: form_shape(a.form.as_ref().and_then(|f| def.forms.get(f))),
                    });
                }
            }
            if let Some(g) = st.review.as_ref().and_then(|r| r.quick.as_ref()) {
                uses.entry(g.clone()).or_default().push(Use {
                    at: format!(
                        "{} 的状态 {sname} 的快速审核（quick，不读 input）",
                        def.id()
                    ),
                    definition: def,
                    input: Shape::object::<&str>([]),
                });
            }
        }
    }
    for (name, ast) in l.asts {
        let file = format!("scripts/{name}.rhai");
        if let Some(facts) = contract.scripts.get(name) {
            // A script the server runs itself: only `facts`, as the contract declares it.
            let roots = [
                ("facts", facts.clone()),
                ("input", Shape::object::<&str>([])),
                ("vars", Shape::object::<&str>([])),
                ("params", Shape::object::<&str>([])),
                ("actor", Shape::object::<&str>([])),
                ("now", Shape::object::<&str>([])),
            ];
            let script = Script {
                file: &file,
                name,
                ast,
            };
            check_script(l, &script, &roots, "服务器调用时", None, &mut out);
            continue;
        }
        for u in uses.get(name).into_iter().flatten() {
            let def = u.definition;
            let vars = Shape::Object(vars_shape(def, &contract.server_vars));
            let roots = [
                ("facts", facts_shape(def, contract)),
                ("input", u.input.clone()),
                ("vars", vars),
                ("params", params_shape(def)),
                ("actor", contract.actor.clone()),
                ("now", now_shape()),
            ];
            let script = Script {
                file: &file,
                name,
                ast,
            };
            check_script(l, &script, &roots, &u.at, Some(def.id()), &mut out);
        }
    }
    // Field defaults: the fact each names must exist for the definition.
    for d in l.defs.values() {
        let def = &d.def;
        let facts = facts_shape(def, contract);
        for (fname, form) in &def.forms {
            for f in form.all_fields() {
                let Some(dflt) = &f.default else { continue };
                let path: Vec<String> = dflt.fact.split('.').map(str::to_string).collect();
                if let Err(e) = facts.lookup("facts", &path) {
                    let line = d
                        .source
                        .lines()
                        .position(|l| l.contains(&dflt.fact))
                        .map(|i| i + 1);
                    out.insert((
                        Some(def.id()),
                        Diagnostic {
                            file: d.origin.clone(),
                            line,
                            message: format!(
                                "{}（表单 {fname} 的字段 {} 的默认值 default.fact）",
                                e.message, f.name
                            ),
                        },
                    ));
                }
            }
        }
    }
    // Templates: every effect that renders one, dry-rendered with sample data.
    let mut shown: Map<String, Value> = l
        .form_fields
        .iter()
        .map(|f| (f.clone(), Value::Null))
        .collect();
    for d in l.defs.values() {
        let def = &d.def;
        let vars = vars_shape(def, &contract.server_vars);
        let mut data = contract.template.sample();
        let mut vars_sample = shown.clone();
        if let Value::Object(v) = Shape::Object(vars).sample() {
            vars_sample.extend(v);
        }
        if let Value::Object(m) = &mut data {
            m.insert("vars".into(), Value::Object(vars_sample));
        }
        let mut seen = BTreeSet::new();
        for e in def.all_effects() {
            let template = match e {
                EffectDef::Notify { template, .. } | EffectDef::Render { template, .. } => template,
                _ => continue,
            };
            if !seen.insert(template.clone()) || !l.templates.has_template(template) {
                continue;
            }
            if let Err(e) = l.templates.render(template, &data) {
                let reason = e.reason().to_string();
                out.insert((
                    Some(def.id()),
                    Diagnostic {
                        file: format!("workflows/templates/{template}.hbs"),
                        line: e.line_no,
                        message: format!(
                            "模板读取了不存在的数据（{} 使用该模板）：{}",
                            def.id(),
                            template_hint(&reason, &data)
                        ),
                    },
                ));
            }
        }
    }
    shown.clear();
    out.into_iter().collect()
}

/// A strict-mode failure, with the nearest known name when the reason names a path.
fn template_hint(reason: &str, data: &Value) -> String {
    // handlebars: `Failed to access variable in strict mode Some("graduate.nme")`
    let path = reason
        .split('"')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_default();
    if path.is_empty() {
        return reason.to_string();
    }
    let mut here = data;
    let mut known = Vec::new();
    for seg in path.split('.') {
        match here.get(seg) {
            Some(v) => {
                known.push(seg);
                here = v;
            }
            None => {
                let keys: Vec<&str> = here
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let hint = crate::suggest::nearest(seg, keys)
                    .map(|n| format!("，是否想写 {n}？"))
                    .unwrap_or_default();
                return format!("{path} 不存在{hint}");
            }
        }
    }
    reason.to_string()
}

/// A compiled script and where it came from.
struct Script<'a> {
    file: &'a str,
    name: &'a str,
    ast: &'a AST,
}

/// Checks one use of a script: its paths against `roots`, then one run with their samples.
fn check_script(
    l: &Loaded<'_>,
    script: &Script<'_>,
    roots: &[(&str, Shape)],
    at: &str,
    def: Option<DefId>,
    out: &mut BTreeSet<(Option<DefId>, Diagnostic)>,
) {
    let Script { file, name, ast } = *script;
    let names: Vec<&str> = roots.iter().map(|(n, _)| *n).collect();
    let before = out.len();
    for p in read_paths(ast, &names) {
        let Some((_, shape)) = roots.iter().find(|(n, _)| *n == p.root) else {
            continue;
        };
        if let Err(e) = shape.lookup(&p.root, &p.path) {
            out.insert((
                def.clone(),
                Diagnostic {
                    file: file.to_string(),
                    line: p.line,
                    message: format!("{}（{at}）", e.message),
                },
            ));
        }
    }
    if out.len() > before {
        // A wrong path fails the trial run too: one report is enough.
        return;
    }
    let samples: Vec<Value> = roots.iter().map(|(_, s)| s.sample()).collect();
    let get = |n: &str| &samples[names.iter().position(|x| *x == n).unwrap_or(0)];
    let ctx = ScriptContext {
        input: get("input"),
        vars: get("vars"),
        actor: get("actor"),
        params: get("params"),
        facts: get("facts"),
        now: get("now"),
    };
    let run =
        crate::script::with_catalogues(l.catalogues, || l.scripts.eval_guard(name, ast, &ctx));
    if let Err(e) = run {
        let what = if e.limit {
            "用示例数据试运行时超出限制"
        } else {
            "用示例数据试运行时出错"
        };
        // A failure inside a library function is reported in the library's file, naming
        // the guard that ran it.
        let (file, at) = if e.script == name {
            (file.to_string(), at.to_string())
        } else {
            (
                format!("scripts/{}.rhai", e.script),
                format!("{at}，由 {name} 调用"),
            )
        };
        out.insert((
            def,
            Diagnostic {
                file,
                line: e.line,
                message: format!("{what}（{at}）：{}", e.message),
            },
        ));
    }
}

/// Sample data of a template context, for tests and the reference.
pub fn sample_template_data(contract: &Contract) -> Value {
    let mut data = contract.template.sample();
    if let Value::Object(m) = &mut data {
        m.insert("vars".into(), json!({}));
    }
    data
}
