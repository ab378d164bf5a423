//! The registry reports every problem at once with file and line, refuses a broken set on
//! reload while the old one keeps serving, resolves province overlays, and the sandbox stops
//! a guard that never ends.

use std::path::Path;

use chrono::Utc;
use gradflow_engine::apply::{self, Actor, Ctx, EngineError, Parties};
use gradflow_engine::definition::Role;
use gradflow_engine::registry::{read_tree, Registry, Snapshot};
use serde_json::json;

const GOOD: &str = r#"key: demo
version: 1
title: 演示
module: employment
start:
  roles: [graduate]
  guard: demo/ok
  target: waiting
states:
  waiting:
    label: 等待
    actions:
      finish: {label: 完成, roles: [graduate], target: done}
  done:
    label: 完成
    kind: final
"#;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn good_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "workflows/demo.yaml", GOOD);
    write(dir.path(), "scripts/demo/ok.rhai", "true\n");
    dir
}

#[test]
fn every_problem_is_reported_with_file_and_line() {
    let dir = good_tree();
    let root = dir.path();
    // YAML syntax error on line 3.
    write(
        root,
        "workflows/broken.yaml",
        "key: broken\nversion: 1\ntitle: [unclosed\n",
    );
    // A definition with an unknown target, a missing guard script and a missing template.
    write(
        root,
        "workflows/bad_refs.yaml",
        &GOOD
            .replace("key: demo", "key: bad_refs")
            .replace("guard: demo/ok", "guard: demo/missing")
            .replace("target: done", "target: nowhere")
            .replace(
                "    kind: final\n",
                "    kind: final\n  extra:\n    label: 孤立\n",
            ),
    );
    // An optional fact the server does not know.
    write(
        root,
        "workflows/bad_facts.yaml",
        &GOOD.replace("key: demo", "key: bad_facts").replace(
            "key: bad_facts\n",
            "key: bad_facts\nfacts: [graduate_salary]\n",
        ),
    );
    // A Rhai syntax error on line 2.
    write(root, "scripts/demo/bad.rhai", "let x = 1;\nlet y = ;\n");
    // A template syntax error.
    write(
        root,
        "workflows/templates/notify/bad.hbs",
        "{{#if x}}never closed\n",
    );
    let diags = Snapshot::build(&read_tree(root).unwrap()).unwrap_err();
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let has = |file: &str, line: Option<usize>, needle: &str| {
        diags.iter().any(|d| {
            d.file == file && (line.is_none() || d.line == line) && d.message.contains(needle)
        })
    };
    assert!(has("workflows/broken.yaml", Some(3), "YAML"), "{text:#?}");
    assert!(
        has(
            "workflows/bad_facts.yaml",
            Some(2),
            "未知的可选事实 graduate_salary"
        ),
        "{text:#?}"
    );
    assert!(has("scripts/demo/bad.rhai", Some(2), ""), "{text:#?}");
    assert!(
        has("workflows/templates/notify/bad.hbs", None, "模板"),
        "{text:#?}"
    );
    assert!(has("workflows/bad_refs.yaml", None, "nowhere"), "{text:#?}");
    assert!(
        has("workflows/bad_refs.yaml", Some(7), "demo/missing"),
        "{text:#?}"
    );
    assert!(
        has("workflows/bad_refs.yaml", None, "extra 无法到达"),
        "{text:#?}"
    );
    // The unknown target is located on its line.
    let target = diags
        .iter()
        .find(|d| d.message.contains("nowhere"))
        .unwrap();
    assert_eq!(target.line, Some(13), "{text:#?}");
}

#[test]
fn a_broken_reload_is_refused_and_the_old_set_keeps_serving() {
    let dir = good_tree();
    let registry = Registry::new(Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap());
    let before = registry.snapshot().fingerprint.clone();
    write(
        dir.path(),
        "workflows/demo.yaml",
        &GOOD.replace("target: done", "target: gone"),
    );
    let err = registry
        .reload(&read_tree(dir.path()).unwrap())
        .unwrap_err();
    assert!(err.iter().any(|d| d.message.contains("gone")));
    assert_eq!(
        registry.snapshot().fingerprint,
        before,
        "old snapshot must stay"
    );
    // A fixed set swaps in.
    write(
        dir.path(),
        "workflows/demo.yaml",
        &GOOD.replace("version: 1", "version: 2"),
    );
    let snap = registry.reload(&read_tree(dir.path()).unwrap()).unwrap();
    assert_ne!(snap.fingerprint, before);
    assert_eq!(
        registry
            .snapshot()
            .active("demo", None)
            .unwrap()
            .def
            .version,
        2
    );
}

#[test]
fn overlays_apply_to_their_province_only_and_versions_are_immutable() {
    let dir = good_tree();
    write(
        dir.path(),
        "workflows/overlays/32/demo.yaml",
        &GOOD
            .replace("label: 等待", "label: 等待（江苏）")
            .replace("version: 1", "version: 5"),
    );
    let snap = Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap();
    assert_eq!(
        snap.active("demo", Some("32")).unwrap().def.states["waiting"].label,
        "等待（江苏）"
    );
    assert_eq!(
        snap.active("demo", Some("11")).unwrap().def.states["waiting"].label,
        "等待"
    );
    assert_eq!(snap.active("demo", None).unwrap().def.version, 1);
    // The same (key, version) with other content is refused.
    let mut sources = read_tree(dir.path()).unwrap();
    sources
        .definitions
        .push(gradflow_engine::registry::SourceFile {
            path: "db:demo@1".into(),
            text: GOOD.replace("label: 完成\n    kind", "label: 已完成\n    kind"),
        });
    let diags = Snapshot::build(&sources).unwrap_err();
    assert!(
        diags.iter().any(|d| d.message.contains("提升 version")),
        "{diags:#?}"
    );
}

#[test]
fn an_endless_guard_is_stopped_with_a_clear_error() {
    let dir = good_tree();
    write(
        dir.path(),
        "scripts/demo/ok.rhai",
        "let i = 0;\nloop { i += 1; }\n",
    );
    let snap = Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap();
    let def = snap.active("demo", None).unwrap().def.clone();
    let actor = Actor {
        role: Role::Graduate,
        account_id: 1,
        province: Some("32".into()),
        school_id: Some(1),
        department: None,
        graduate_id: Some(5),
        employer_id: None,
    };
    let parties = Parties {
        province: "32".into(),
        school_id: 1,
        department: "d".into(),
        graduate_id: 5,
        employer_id: None,
        initiator: actor.party(),
    };
    let facts = json!({});
    let ctx = Ctx {
        actor: &actor,
        facts: &facts,
        now: Utc::now(),
        guards: &snap,
        tables: snap.code_lookup(),
    };
    let err = apply::start(&def, &ctx, &parties, &def.default_params(), &json!({})).unwrap_err();
    match err {
        EngineError::Script(e) => {
            assert_eq!(e.script, "demo/ok");
            assert!(e.message.contains("运算次数超过上限"), "{}", e.message);
        }
        other => panic!("expected a script error, got {other:?}"),
    }
}

/// The shipped region list covers every province and prefecture of GB/T 2260 (SPEC.md 6.2).
#[test]
fn shipped_region_list_has_every_province_and_prefecture() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("workflows/codes/regions.csv")).unwrap();
    let codes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let provinces = codes.iter().filter(|c| c.ends_with("0000")).count();
    let prefectures = codes
        .iter()
        .filter(|c| c.ends_with("00") && !c.ends_with("0000"))
        .count();
    assert_eq!(provinces, 34, "31 provinces + 台湾, 香港, 澳门");
    assert!(prefectures >= 330, "only {prefectures} prefecture codes");
    for (code, name) in [
        ("320100", "南京市"),
        ("410100", "郑州市"),
        ("654300", "阿勒泰地区"),
    ] {
        assert!(
            text.contains(&format!("{code},{name}")),
            "{code} {name} missing"
        );
    }
    let sources = gradflow_engine::registry::read_tree(&root).unwrap();
    let snap = gradflow_engine::registry::Snapshot::build(&sources).unwrap();
    assert_eq!(snap.codes.region_name("410102").as_deref(), Some("中原区"));
    assert_eq!(snap.codes.region_known("419900"), Some(false));
}

#[test]
fn a_stored_definition_that_no_longer_loads_is_set_aside_not_fatal() {
    let dir = good_tree();
    let v2 = GOOD
        .replace("version: 1", "version: 2")
        .replace("guard: demo/ok", "guard: demo/gone");
    // While its script exists, the uploaded version 2 is the active one.
    write(dir.path(), "scripts/demo/gone.rhai", "true\n");
    let mut sources = read_tree(dir.path()).unwrap();
    sources.definitions.insert(
        0,
        gradflow_engine::registry::SourceFile {
            path: "db:demo@2".into(),
            text: v2.clone(),
        },
    );
    let registry = Registry::new(Snapshot::build(&sources).unwrap());
    assert_eq!(
        registry
            .snapshot()
            .active("demo", None)
            .unwrap()
            .def
            .version,
        2
    );

    // The script is deleted: a reload would break what is in use, so it is refused…
    std::fs::remove_file(dir.path().join("scripts/demo/gone.rhai")).unwrap();
    let mut sources = read_tree(dir.path()).unwrap();
    sources.definitions.insert(
        0,
        gradflow_engine::registry::SourceFile {
            path: "db:demo@2".into(),
            text: v2.clone(),
        },
    );
    let diags = registry.reload(&sources).unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| d.file == "db:demo@2" && d.message.contains("正在使用中")),
        "{diags:#?}"
    );
    assert_eq!(
        registry
            .snapshot()
            .active("demo", None)
            .unwrap()
            .def
            .version,
        2
    );

    // …but a fresh start (no snapshot in use) builds: version 2 is set aside as unusable, and
    // being the highest it blocks new instances with its reason instead of falling back.
    let snap = Snapshot::build(&sources).unwrap();
    let id = gradflow_engine::definition::DefId::parse("demo@2").unwrap();
    assert!(snap.get(&id).is_none());
    assert!(snap.unusable(&id).unwrap()[0].contains("scripts/demo/gone.rhai 不存在"));
    assert!(snap.active("demo", None).is_none());
    let (blocked, why) = snap.unusable_active("demo", None).unwrap();
    assert_eq!(blocked.to_string(), "demo@2");
    assert!(why[0].contains("不存在"), "{why:?}");
    // Version 1 still serves the instances pinned to it.
    assert!(snap
        .get(&gradflow_engine::definition::DefId::parse("demo@1").unwrap())
        .is_some());

    // Retiring version 2 makes version 1 active again.
    sources.retired.insert(id.clone());
    let snap = Snapshot::build(&sources).unwrap();
    assert!(snap.is_retired(&id));
    assert!(snap.unusable_active("demo", None).is_none());
    assert_eq!(snap.active("demo", None).unwrap().def.version, 1);

    // A definition of the tree (not stored) with the same problem still fails the load.
    write(
        dir.path(),
        "workflows/demo3.yaml",
        &GOOD
            .replace("key: demo", "key: demo3")
            .replace("guard: demo/ok", "guard: demo/gone"),
    );
    let diags = Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap_err();
    assert!(
        diags.iter().any(|d| d.file == "workflows/demo3.yaml"),
        "{diags:#?}"
    );
}

#[test]
fn retired_versions_are_loaded_but_never_active() {
    let dir = good_tree();
    let mut sources = read_tree(dir.path()).unwrap();
    sources
        .definitions
        .push(gradflow_engine::registry::SourceFile {
            path: "upload".into(),
            text: GOOD.replace("version: 1", "version: 3"),
        });
    let three = gradflow_engine::definition::DefId::parse("demo@3").unwrap();
    sources.retired.insert(three.clone());
    let snap = Snapshot::build(&sources).unwrap();
    assert!(snap.get(&three).is_some(), "pinned instances keep it");
    assert_eq!(snap.active("demo", None).unwrap().def.version, 1);
    // Every version retired: nothing is active.
    sources
        .retired
        .insert(gradflow_engine::definition::DefId::parse("demo@1").unwrap());
    assert!(Snapshot::build(&sources)
        .unwrap()
        .active("demo", None)
        .is_none());
}

/// A copy of the repository's `workflows/` and `scripts/` in a fresh directory.
fn repo_tree() -> tempfile::TempDir {
    fn copy(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dst.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    copy(&repo.join("workflows"), &dir.path().join("workflows"));
    copy(&repo.join("scripts"), &dir.path().join("scripts"));
    dir
}

#[test]
fn moving_lines_into_fragments_keeps_a_version_what_it_was() {
    // The e-agreement flow as stored before its forms and reactions moved into
    // workflows/shared/: the tree's version 1, now written with fragments, is the same
    // definition (same expanded form), so databases that stored the old text still start.
    let before = include_str!("fixtures/offline_signing_v1_before_fragments.yaml");
    let dir = repo_tree();
    // The file as it was at version 1, written with fragments (version 2 moved its guard to
    // `start.available`, version 3 has `modify` emit `agreement.modified`, version 4 also
    // `destination.changed`, version 5 has the guide's labels).
    let file = dir.path().join("workflows/offline_signing.yaml");
    let v4 = std::fs::read_to_string(&file).unwrap();
    let emit = "          # 来自签约: archive/hukou data registered from it follows the change.\n          - emit: {event: agreement.modified}\n";
    let changed = "          # 去向登记确认: a changed work place asks the graduate to confirm again.\n          - emit: {event: destination.changed, if_changed: [work_place]}\n";
    assert!(
        v4.contains("version: 5\n")
            && v4.contains("  available: offline_signing/can_apply\n")
            && v4.contains(emit)
            && v4.contains(changed)
    );
    std::fs::write(
        &file,
        v4.replace("version: 5\n", "version: 1\n")
            .replace(
                "  available: offline_signing/can_apply\n",
                "  guard: offline_signing/can_apply\n",
            )
            .replace(emit, "")
            .replace(changed, ""),
    )
    .unwrap();
    // The shared signing reactions before a terminated agreement announced `agreement.ended`.
    let shared = dir.path().join("workflows/shared/signing.yaml");
    let ended = "    effects:\n      # 去向登记确认: the graduate's destination ended (no longer reported).\n      - emit: {event: agreement.ended}\n";
    let mut text = std::fs::read_to_string(&shared).unwrap();
    assert!(text.contains(ended));
    text = text.replace(ended, "");
    // Its labels before they followed the guide (version 5, SPEC.md 6.4).
    for (now, was) in [
        ("label: 通讯地址,", "label: 单位所在地,"),
        ("label: 详细通讯地址,", "label: 单位详细地址,"),
        ("label: 档案转递类型,", "label: 档案转递方式,"),
        ("label: 户口迁移类型,", "label: 户口迁移方式,"),
        ("label: 协议补充内容,", "label: 协议补充条款,"),
    ] {
        assert!(text.contains(now), "{now}");
        text = text.replace(now, was);
    }
    std::fs::write(&shared, text).unwrap();
    let stored = gradflow_engine::registry::SourceFile {
        path: "db:offline_signing@1".into(),
        text: before.into(),
    };
    let mut sources = read_tree(dir.path()).unwrap();
    assert!(!sources.fragments.is_empty(), "the tree has fragments");
    sources.definitions.insert(0, stored.clone());
    let snap = Snapshot::build(&sources).unwrap();
    let id = gradflow_engine::definition::DefId::parse("offline_signing@1").unwrap();
    let tree = read_tree(dir.path()).unwrap();
    let from_tree = Snapshot::build(&tree).unwrap();
    assert_eq!(
        snap.get(&id).unwrap().hash,
        from_tree.get(&id).unwrap().hash
    );
    assert_eq!(
        snap.get(&id).unwrap().def.forms["agreement"].fields.len(),
        22,
        "the agreement form is expanded"
    );

    // Changing a fragment changes the definitions that use it: the stored version 1 and the
    // tree's now differ, which is refused until the flow takes a new version.
    let shared = dir.path().join("workflows/shared/signing.yaml");
    let text = std::fs::read_to_string(&shared).unwrap();
    std::fs::write(&shared, text.replace("label: 岗位名称", "label: 岗位")).unwrap();
    let mut sources = read_tree(dir.path()).unwrap();
    sources.definitions.insert(0, stored);
    let diags = Snapshot::build(&sources).unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| d.file == "workflows/offline_signing.yaml"
                && d.message.contains("提升 version")),
        "{diags:#?}"
    );
}

#[test]
fn stray_files_and_unknown_fragments_are_reported() {
    let dir = good_tree();
    write(
        dir.path(),
        "workflows/destinations/further_study.yaml",
        &GOOD.replace("key: demo", "key: further_study"),
    );
    write(dir.path(), "workflows/notes.txt", "x");
    write(dir.path(), "workflows/README.md", "说明");
    write(
        dir.path(),
        "workflows/shared/forms.yaml",
        "contact_fields:\n  - {name: mobile, label: 手机, type: mobile}\n",
    );
    write(
        dir.path(),
        "workflows/uses.yaml",
        &GOOD
            .replace("key: demo", "key: uses")
            .replace("start:", "forms:\n  f: [{use: contact_feilds}]\nstart:"),
    );
    let diags = Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap_err();
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(
        diags.iter().any(|d| d.file == "workflows/notes.txt"),
        "a stray file is an error: {text:#?}"
    );
    assert!(
        diags.iter().any(|d| d.file == "workflows/uses.yaml"
            && d.line == Some(6)
            && d.message.contains("contact_feilds 不存在")
            && d.message.contains("contact_fields")),
        "{text:#?}"
    );
    assert!(!diags.iter().any(|d| d.file.ends_with(".md")), "{text:#?}");
    // A definition in a subfolder is loaded, not ignored.
    std::fs::remove_file(dir.path().join("workflows/notes.txt")).unwrap();
    std::fs::remove_file(dir.path().join("workflows/uses.yaml")).unwrap();
    let snap = Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap();
    assert!(snap.active("further_study", None).is_some());
}

const CATALOGUE: &str = r#"catalogue: demo_destination
title: 演示去向
attributes:
  employed: {type: bool, required: true}
  category: {type: text, required: true}
entries:
  - code: "46"
    label: 升学
    attributes: {employed: true, category: 升学}
    form:
      - {name: school_name, label: 升学院校, type: text, required: true}
  - code: "70"
    label: 待就业
    attributes: {employed: false, category: 未就业}
"#;

const WITH_VARIANTS: &str = r#"key: register
version: 1
title: 去向登记演示
module: employment
forms:
  destination:
    fields:
      - {name: destination, label: 毕业去向, type: code, table: demo_destination, required: true}
    variants: {by: destination, catalogue: demo_destination}
start:
  roles: [graduate]
  form: destination
  target: done
states:
  done:
    label: 完成
    kind: final
"#;

#[test]
fn catalogues_are_typed_tables_whose_entries_give_form_variants() {
    let dir = good_tree();
    write(
        dir.path(),
        "workflows/catalogues/demo_destination.yaml",
        CATALOGUE,
    );
    write(dir.path(), "workflows/register.yaml", WITH_VARIANTS);
    let registry = Registry::new(Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap());
    let snap = registry.snapshot();
    assert_eq!(snap.loaded.catalogues, 1);
    let c = snap.catalogue("demo_destination").unwrap();
    assert_eq!(c.entry("70").unwrap().attributes["employed"], false);
    // The catalogue is a code table, and its entries' forms are the variants.

    assert_eq!(
        snap.code_lookup()
            .label("demo_destination", "46")
            .as_deref(),
        Some("升学")
    );
    let form = &snap.active("register", None).unwrap().def.forms["destination"];
    let errs = form
        .validate(&json!({"destination": "46"}), snap.code_lookup())
        .unwrap_err();
    assert_eq!(errs[0].field, "school_name");
    assert!(form
        .validate(&json!({"destination": "70"}), snap.code_lookup())
        .is_ok());
    assert!(form
        .validate(&json!({"destination": "99"}), snap.code_lookup())
        .is_err());

    // A broken catalogue is reported entry by entry, and the old snapshot keeps serving.
    write(
        dir.path(),
        "workflows/catalogues/demo_destination.yaml",
        &CATALOGUE
            .replace(
                "attributes: {employed: false, category: 未就业}",
                "attributes: {employd: false}",
            )
            .replace("code: \"46\"", "code: \"70\""),
    );
    let diags = registry
        .reload(&read_tree(dir.path()).unwrap())
        .unwrap_err();
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let file = "workflows/catalogues/demo_destination.yaml";
    assert!(
        diags.iter().any(|d| d.file == file
            && d.message.contains("未声明的属性 employd")
            && d.message.contains("employed")
            && d.line == Some(14)),
        "{text:#?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.file == file && d.message.contains("code 重复")),
        "{text:#?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.file == file && d.message.contains("缺少必填属性 category")),
        "{text:#?}"
    );
    assert_eq!(
        registry
            .snapshot()
            .catalogue("demo_destination")
            .unwrap()
            .entries
            .len(),
        2
    );
}

#[test]
fn a_list_holds_the_flows_of_one_module() {
    let dir = repo_tree();
    write(
        dir.path(),
        "workflows/odd.yaml",
        &GOOD
            .replace("key: demo", "key: odd")
            .replace("module: employment", "module: archive\nlist: signing")
            .replace("  guard: demo/ok\n", ""),
    );
    let diags = Snapshot::build(&read_tree(dir.path()).unwrap()).unwrap_err();
    assert!(
        diags
            .iter()
            .any(|d| d.message.contains("管理列表 signing 的流程须属于同一模块")),
        "{diags:#?}"
    );
    // The shipped lists each hold one module's flows.
    let dir = repo_tree();
    assert!(Snapshot::build(&read_tree(dir.path()).unwrap()).is_ok());
}
