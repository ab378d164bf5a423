//! The labels SPEC.md 6.4 corrects from a line-by-line reading of the guides, present verbatim
//! in the shipped definitions and code tables (issue 18): a test that reads the flows as users
//! read them, so a later edit cannot quietly bring an invented label back.

use std::path::Path;

use gradflow_engine::definition::{Definition, StateDef};
use gradflow_engine::registry::{read_tree, Snapshot};

fn snapshot() -> Snapshot {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Snapshot::build(&read_tree(&root).unwrap()).unwrap()
}

fn active<'a>(snap: &'a Snapshot, key: &str) -> &'a Definition {
    &snap
        .active(key, None)
        .unwrap_or_else(|| panic!("{key} is shipped"))
        .def
}

/// Every field label of the flow's forms (variants included).
fn field_labels(def: &Definition) -> Vec<String> {
    def.forms
        .values()
        .flat_map(|f| f.all_fields())
        .map(|f| f.label.clone())
        .collect()
}

fn action_label<'a>(st: &'a StateDef, action: &str) -> &'a str {
    &st.actions
        .get(action)
        .unwrap_or_else(|| panic!("action {action}"))
        .label
}

#[test]
fn the_guides_labels_are_used_verbatim() {
    let snap = snapshot();
    let codes = snap.code_lookup();
    // Full-width brackets (seed 000).
    for (code, label) in [
        ("21", "定向（不可网签）"),
        ("22", "定向（可签约）"),
        ("41", "委培（不可网签）"),
        ("42", "委培（可签约）"),
    ] {
        assert_eq!(
            codes.label("training_mode", code).as_deref(),
            Some(label),
            "培养方式 {code}"
        );
    }
    // The e-agreement's form and the archive/hukou registrations (seeds 003, 004).
    for key in ["offline_signing", "paper_supplement"] {
        let labels = field_labels(active(&snap, key));
        for want in ["档案转递类型", "户口迁移类型", "协议补充内容", "通讯地址"]
        {
            assert!(
                labels.iter().any(|l| l == want),
                "{key} lacks {want}: {labels:?}"
            );
        }
        for gone in [
            "档案转递方式",
            "户口迁移方式",
            "协议补充条款",
            "档案转送类型",
        ] {
            assert!(!labels.iter().any(|l| l == gone), "{key} still says {gone}");
        }
    }
    assert!(field_labels(active(&snap, "online_signing")).contains(&"协议补充内容".to_string()));
    assert!(
        field_labels(active(&snap, "archive_registration")).contains(&"档案转递类型".to_string())
    );
    assert!(field_labels(active(&snap, "hukou_registration")).contains(&"户口迁移类型".to_string()));
    // The termination's answers are 接受 / 拒绝 (seed 004).
    let online = active(&snap, "online_termination");
    for state in ["graduate_requested", "employer_requested"] {
        let st = online.state(state).unwrap();
        assert_eq!(action_label(st, "accept"), "接受", "{state}");
        assert_eq!(action_label(st, "decline"), "拒绝", "{state}");
    }
    // 撤回修改 before any review, in the supplement as in the e-agreement and the destination.
    for key in [
        "paper_supplement",
        "offline_signing",
        "destination_registration",
    ] {
        let def = active(&snap, key);
        let withdraw: Vec<&str> = def
            .states
            .values()
            .filter_map(|s| s.actions.get("withdraw"))
            .map(|a| a.label.as_str())
            .collect();
        assert!(withdraw.contains(&"撤回修改"), "{key}: {withdraw:?}");
    }
    // Every review of a signing or termination flow says 鉴证 in two-party provinces.
    for key in [
        "online_signing",
        "offline_signing",
        "online_termination",
        "offline_termination",
    ] {
        let def = active(&snap, key);
        let attested = def
            .states
            .values()
            .filter_map(|s| s.review.as_ref())
            .any(|r| r.attest_by_agreement_type);
        assert!(attested, "{key} never says 鉴证");
    }
}
