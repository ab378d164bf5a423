//! The binary's offline subcommands: `check` reports every problem with file and line and
//! exits non-zero; `openapi` matches the committed spec; `migrate` creates the database.

use std::path::Path;
use std::process::Command;

fn gradflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gradflow"))
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn check_accepts_the_shipped_definitions() {
    let out = gradflow()
        .args(["check", "--root", env!("CARGO_MANIFEST_DIR")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");
}

#[test]
fn check_lists_every_problem_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Copy the real tree, then break three files in three different ways.
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["workflows", "scripts"] {
        copy_dir(&src.join(sub), &root.join(sub));
    }
    let flow = std::fs::read_to_string(src.join("workflows/online_signing.yaml")).unwrap();
    write(
        root,
        "workflows/online_signing.yaml",
        &flow.replace("target: signed", "target: sined"),
    );
    write(
        root,
        "workflows/second.yaml",
        "key: second\nversion: 1\ntitle: [unclosed\n",
    );
    write(
        root,
        "scripts/online_signing/can_accept.rhai",
        "let a = 1;\nlet b = ;\n",
    );
    let out = gradflow()
        .args(["check", "--root"])
        .arg(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a broken tree must fail: {stdout}");
    let line_of = |needle: &str| {
        flow.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap()
    };
    let expect = [
        format!(
            "workflows/online_signing.yaml:{}: ",
            line_of("target: signed")
        ),
        "workflows/second.yaml:3: YAML".to_string(),
        "scripts/online_signing/can_accept.rhai:2:".to_string(),
    ];
    for e in &expect {
        assert!(
            stdout.lines().any(|l| l.starts_with(e.as_str())),
            "missing {e:?} in:\n{stdout}"
        );
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("problem"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn the_committed_openapi_spec_matches_the_code() {
    let out = gradflow().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        generated == committed,
        "openapi.json is stale: run `cargo run -- openapi > openapi.json` and commit it"
    );
    assert!(generated["paths"]["/api/v1/flows/{key}/instances"]["post"].is_object());
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = gradflow()
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .env_remove("GRADFLOW_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("gradflow.sqlite").exists());
}
