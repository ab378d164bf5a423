//! The shipped catalogues, entry by entry: every destination type of
//! `workflows/catalogues/destination_type.yaml` accepts a good sample of its form, names each
//! field it is missing or gets wrong, and carries what SPEC.md 6.1/6.4 say it must.

use std::path::Path;

use gradflow_engine::catalogue::Entry;
use gradflow_engine::form::{CodeLookup, Field, FieldKind, Form};
use gradflow_engine::registry::{read_tree, Snapshot};
use serde_json::{json, Map, Value};

fn snapshot() -> Snapshot {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Snapshot::build(&read_tree(&root).unwrap()).unwrap()
}

/// A value the field accepts.
fn good(f: &Field, tables: &dyn CodeLookup) -> Value {
    match &f.kind {
        FieldKind::Text { .. } => json!("示例"),
        FieldKind::Code { table } => {
            let entries = tables.table_entries(table);
            json!(entries.first().expect("a code table with codes").0)
        }
        FieldKind::Date => json!("2026-06-30"),
        FieldKind::Money => json!("3000"),
        FieldKind::Region => json!("320100"),
        FieldKind::CreditCode => json!("91320100MA1X2Y3W4U"),
        FieldKind::IdNumber => json!("11010519491231002X"),
        FieldKind::CandidateNo => json!("26320102150001"),
        FieldKind::Mobile | FieldKind::Phone => json!("13800138000"),
        FieldKind::Landline => json!("025-83592000"),
        FieldKind::PostalCode => json!("210000"),
        FieldKind::Email => json!("graduate@example.cn"),
        FieldKind::Int { min, .. } => json!(min.unwrap_or(0)),
        FieldKind::Bool => json!(true),
        FieldKind::Choice { options } => json!(options[0]),
        FieldKind::File { .. } => json!("upload-1"),
    }
}

/// A value of the right type that breaks the field's format, if the kind has one.
fn bad(f: &Field) -> Option<Value> {
    Some(match &f.kind {
        FieldKind::Text { max: Some(max), .. } => json!("字".repeat(max + 1)),
        FieldKind::Code { .. } => json!("not-a-code"),
        FieldKind::Date => json!("2026-02-30"),
        FieldKind::Region => json!("99"),
        FieldKind::CreditCode => json!("123"),
        FieldKind::Mobile => json!("12345"),
        FieldKind::PostalCode => json!("2100"),
        _ => return None,
    })
}

fn sample(fields: &[Field], tables: &dyn CodeLookup) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| (f.name.clone(), good(f, tables)))
        .collect()
}

fn entries(snap: &Snapshot) -> Vec<Entry> {
    snap.catalogue("destination_type")
        .expect("the destination catalogue is shipped")
        .entries
        .clone()
}

#[test]
fn every_destination_type_validates_a_good_sample_and_names_each_bad_field() {
    let snap = snapshot();
    let tables = snap.code_lookup();
    let list = entries(&snap);
    assert!(list.len() >= 30, "{} types", list.len());
    for e in &list {
        let fields = e.form.clone().unwrap_or_default();
        let form = Form::plain(fields.clone());
        let good_input = Value::Object(sample(&fields, tables));
        if let Err(errs) = form.validate(&good_input, tables) {
            panic!("{} {}: a good sample is refused: {errs:?}", e.code, e.label);
        }
        for f in &fields {
            if f.required {
                let mut input = sample(&fields, tables);
                input.remove(&f.name);
                let errs = form.validate(&Value::Object(input), tables).unwrap_err();
                assert!(
                    errs.iter().any(|x| x.field == f.name
                        && x.code == "required"
                        && x.message.starts_with(&f.label)),
                    "{} {}: missing {} not named: {errs:?}",
                    e.code,
                    e.label,
                    f.name
                );
            }
            if let Some(v) = bad(f) {
                let mut input = sample(&fields, tables);
                input.insert(f.name.clone(), v);
                let errs = form.validate(&Value::Object(input), tables).unwrap_err();
                assert!(
                    errs.iter().any(|x| x.field == f.name),
                    "{} {}: bad {} not named: {errs:?}",
                    e.code,
                    e.label,
                    f.name
                );
            }
        }
    }
}

#[test]
fn the_destination_catalogue_says_what_the_guides_say() {
    let snap = snapshot();
    let list = entries(&snap);
    let attr = |e: &Entry, k: &str| e.attributes.get(k).cloned().unwrap_or(Value::Null);
    // The three menu categories of the 2024 graduate guide (SPEC.md 6.4), nothing else.
    for e in &list {
        let category = attr(e, "category");
        assert!(
            ["其他就业", "升学", "未就业"].contains(&category.as_str().unwrap()),
            "{} {category}",
            e.code
        );
        // Codes: the national two-digit category code, or it plus one digit.
        let national = attr(e, "national_code");
        let national = national.as_str().unwrap();
        assert!(
            e.code == national || (e.code.len() == 3 && e.code.starts_with(national)),
            "{}: national code {national}",
            e.code
        );
        // 70, 71 and 72 do not count as employed; everything else does.
        assert_eq!(
            attr(e, "employed"),
            json!(!["70", "71", "72"].contains(&national)),
            "{} employed",
            e.code
        );
        // A type that counts as employed asks for proof; the not-employed ones ask for none.
        let files = e
            .form
            .iter()
            .flatten()
            .filter(|f| matches!(f.kind, FieldKind::File { .. }))
            .count();
        assert_eq!(
            files > 0,
            attr(e, "employed") == json!(true),
            "{} proof",
            e.code
        );
    }
    let label = |code: &str| {
        list.iter()
            .find(|e| e.code == code)
            .map(|e| e.label.clone())
            .unwrap_or_else(|| panic!("type {code} missing"))
    };
    // Labels exactly as the guides write them (seed 000 3.8, seed 004 4.6.1).
    for (code, text) in [
        ("11", "签劳动合同形式就业"),
        ("12", "其他录用形式就业"),
        ("106", "定向/委培毕业去向补充登记"),
        ("76", "自由职业"),
        ("502", "三支一扶"),
        ("512", "选调生"),
        ("46", "应征义务兵"),
        ("75", "自主创业"),
        ("85", "境外升学"),
        ("701", "求职中"),
        ("71", "不就业拟升学"),
        ("72", "其他暂不就业"),
    ] {
        assert_eq!(label(code), text);
    }
    // Only the directed/commissioned supplement is open to training modes 21 and 41.
    for e in &list {
        let modes = attr(e, "training_modes");
        if e.code == "106" {
            assert_eq!(modes, json!(["21", "41"]));
            assert_eq!(attr(e, "flow"), json!("directed_supplement"));
        } else {
            assert_eq!(modes, Value::Null, "{}", e.code);
            assert_eq!(attr(e, "flow"), Value::Null, "{}", e.code);
        }
    }
    // The catalogue is also a code table, labels included.
    assert_eq!(
        snap.code_lookup()
            .label("destination_type", "801")
            .as_deref(),
        Some("考研")
    );
}

#[test]
fn the_destination_guard_reads_the_catalogue() {
    use gradflow_engine::apply::GuardRunner;
    use gradflow_engine::script::{GuardVerdict, ScriptContext};
    let snap = snapshot();
    let verdict = |mode: &str, label: &str, ty: &str| {
        let input = json!({"destination_type": ty});
        let facts = json!({"graduate": {"training_mode": mode, "training_mode_label": label, "cohort": 2027},
                           "graduate_has_agreement": false, "graduate_has_destination": false});
        let empty = json!({});
        let actor = json!({"role": "graduate"});
        let params = json!({"change_closing_date": "08-31"});
        let now = json!({"date": "2027-06-01"});
        let ctx = ScriptContext {
            input: &input,
            vars: &empty,
            actor: &actor,
            params: &params,
            facts: &facts,
            now: &now,
        };
        // Who is offered the flow, then the type they chose (start.available, start.guard).
        match snap.run_guard("destination/can_register", &ctx).unwrap() {
            GuardVerdict::Allow => snap.run_guard("destination/register_type", &ctx).unwrap(),
            denied => denied,
        }
    };
    let code = |v: GuardVerdict| match v {
        GuardVerdict::Allow => "allow".to_string(),
        GuardVerdict::Deny { code, .. } => code.unwrap_or_default(),
    };
    assert_eq!(code(verdict("10", "非定向", "11")), "allow");
    assert_eq!(code(verdict("10", "非定向", "801")), "allow");
    assert_eq!(code(verdict("22", "定向（可签约）", "75")), "allow");
    assert_eq!(
        code(verdict("21", "定向(不可网签)", "11")),
        "directed_training_mode"
    );
    // Training modes 21/41 are not offered this flow at all, whatever the type: 106 is
    // registered through its own flow.
    assert_eq!(
        code(verdict("41", "委培(不可网签)", "106")),
        "directed_training_mode"
    );
    let GuardVerdict::Deny { code, reason } = verdict("10", "非定向", "106") else {
        panic!("a mode-10 graduate chose the directed supplement");
    };
    assert_eq!(code.as_deref(), Some("destination_type_not_allowed"));
    assert_eq!(
        reason,
        "培养方式为非定向的毕业生不能选择“定向/委培毕业去向补充登记”"
    );
}

#[test]
fn a_guard_misreading_a_catalogue_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for sub in ["workflows", "scripts"] {
        copy(&root.join(sub), &dir.path().join(sub));
    }
    let guard = dir.path().join("scripts/lib/destinations.rhai");
    let text = std::fs::read_to_string(&guard).unwrap();
    // Checked with facts that declare the graduate's training mode (other guards' facts are
    // not declared here, so only this script's problems are looked at).
    use gradflow_engine::contract::{Contract, Scalar, Shape};
    let contract = std::sync::Arc::new(Contract {
        checked: true,
        facts: Shape::object([
            (
                "graduate",
                Shape::object([
                    ("training_mode", Shape::text()),
                    ("training_mode_label", Shape::text()),
                    ("directed_employer", Shape::text()),
                    ("cohort", Shape::Scalar(Scalar::Int)),
                ]),
            ),
            ("graduate_has_agreement", Shape::Scalar(Scalar::Bool)),
            ("graduate_has_destination", Shape::Scalar(Scalar::Bool)),
        ]),
        actor: Shape::object([("role", Shape::text())]),
        ..Default::default()
    });
    let problems = || {
        let scripts = std::sync::Arc::new(gradflow_engine::script::ScriptEngine::default());
        match Snapshot::build_checked(&read_tree(dir.path()).unwrap(), scripts, contract.clone()) {
            Ok(_) => Vec::new(),
            Err(diags) => diags
                .into_iter()
                .filter(|d| {
                    d.file.starts_with("scripts/destination/")
                        || d.file == "scripts/lib/destinations.rhai"
                })
                .map(|d| d.to_string())
                .collect::<Vec<_>>(),
        }
    };
    assert_eq!(problems(), Vec::<String>::new());
    for (from, to, problem) in [
        (
            "attributes.training_modes",
            "attributes.trainng_modes",
            "trainng_modes",
        ),
        (
            "catalogue_entry(\"destination_type\", code)",
            "catalogue_entry(\"destination_typ\", code)",
            "目录不存在：destination_typ",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        std::fs::write(&guard, text.replace(from, to)).unwrap();
        let found = problems();
        assert!(found.iter().any(|m| m.contains(problem)), "{found:?}");
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
