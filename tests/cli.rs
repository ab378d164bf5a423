//! The binary's offline subcommands: `check` reports every problem with file and line and
//! exits non-zero; `openapi` matches the committed spec; `migrate` creates the database.

mod support;

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

/// A flow in a subfolder whose start and submit guards are the two given scripts.
const DEMO_FLOW: &str = "key: demo\nversion: 1\ntitle: 演示\nmodule: employment\n\nstart:\n  roles: [graduate]\n  guard: demo/start\n  target: draft\n\nstates:\n  draft:\n    label: 草稿\n    actions:\n      submit:\n        label: 提交\n        roles: [graduate]\n        guard: demo/submit\n        target: done\n  done:\n    label: 完成\n";

/// A copy of the shipped tree in a temporary directory.
fn shipped_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["workflows", "scripts"] {
        copy_dir(&src.join(sub), &dir.path().join(sub));
    }
    dir
}

/// `gradflow check` over `root`: exit success, stdout, stderr.
fn check(root: &Path) -> (bool, String, String) {
    let out = gradflow()
        .args(["check", "--root"])
        .arg(root)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not found"))
}

/// Edits one file of the tree, replacing `from` (which must occur) by `to`.
fn edit(root: &Path, rel: &str, from: &str, to: &str) -> String {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    text
}

#[test]
fn an_available_guard_cannot_read_input() {
    // `start.available` decides before any input (GET /flows): a read of `input` is refused
    // at its line, naming where the guard is used.
    let dir = shipped_copy();
    let root = dir.path();
    let guard = edit(
        root,
        "scripts/destination/can_register.rhai",
        "destinations::check_none_held(facts);",
        "destinations::check_none_held(facts);\nif input.destination_type == \"11\" { deny(\"x\"); }",
    );
    let (ok, stdout, stderr) = check(root);
    assert!(!ok, "{stdout}");
    let at = format!(
        "scripts/destination/can_register.rhai:{}: ",
        line_of(&guard, "destinations::check_none_held(facts);") + 1
    );
    assert!(
        stdout.lines().any(|l| l.starts_with(&at)
            && l.contains("input.destination_type 不存在（这里的 input 没有任何字段）")
            && l.contains("发起条件")),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn a_field_default_must_name_a_known_fact_and_field() {
    // A field's `default` reads a fact: a misspelt fact path is refused at its line, and
    // `when` must name a field of the form.
    let dir = shipped_copy();
    let root = dir.path();
    let yaml = edit(
        root,
        "workflows/hukou_registration.yaml",
        "default: {fact: graduate.origin_region,",
        "default: {fact: graduate.origin_regoin,",
    );
    let (ok, stdout, stderr) = check(root);
    assert!(!ok, "{stdout}");
    let at = format!(
        "workflows/hukou_registration.yaml:{}: ",
        line_of(&yaml, "default: {fact: graduate.origin_region")
    );
    assert!(
        stdout.lines().any(|l| l.starts_with(&at)
            && l.contains("facts.graduate.origin_regoin 不存在")
            && l.contains("default.fact")),
        "{stdout}\n{stderr}"
    );
    edit(
        root,
        "workflows/hukou_registration.yaml",
        "when: {field: transfer_type,",
        "when: {field: transfer_typ,",
    );
    let (ok, stdout, stderr) = check(root);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("字段 migration_region：default.when 引用了不存在的字段 transfer_typ"),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn check_verifies_what_guards_and_templates_read_and_runs_them() {
    let dir = shipped_copy();
    let root = dir.path();
    // 1. A typo in a fact path in Rhai.
    let guard = edit(
        root,
        "scripts/offline_signing/can_apply.rhai",
        "is_directed(facts.graduate.training_mode)",
        "is_directed(facts.graduate.trainng_mode)",
    );
    // 2. A typo in a template variable.
    edit(
        root,
        "workflows/templates/notify/review_result.hbs",
        "{{graduate.name}}",
        "{{graduate.nme}}",
    );
    // 3 and 4. A flow in a subfolder (it loads) whose guards loop forever and throw.
    write(root, "workflows/destinations/demo.yaml", DEMO_FLOW);
    write(
        root,
        "scripts/demo/start.rhai",
        "let x = 1;\nloop { x += 1; }\ntrue\n",
    );
    write(
        root,
        "scripts/demo/submit.rhai",
        "// fails for everyone\nif true { throw \"坏了\"; }\ntrue\n",
    );
    // 5. A file in a subfolder that is nothing gradflow reads.
    write(root, "workflows/destinations/notes.txt", "待办\n");
    // 6. An unknown fragment.
    let supplement = edit(
        root,
        "workflows/paper_supplement.yaml",
        "{use: agreement_fields}",
        "{use: agreement_feilds}",
    );

    let (ok, stdout, stderr) = check(root);
    assert!(!ok, "a broken tree must fail:\n{stdout}");
    let expect = [
        (
            format!(
                "scripts/offline_signing/can_apply.rhai:{}: ",
                line_of(&guard, "is_directed(facts.graduate.training_mode)")
            ),
            "facts.graduate.trainng_mode 不存在，是否想写 training_mode？",
        ),
        (
            "workflows/templates/notify/review_result.hbs:1: ".to_string(),
            "graduate.nme 不存在，是否想写 name？",
        ),
        (
            "scripts/demo/start.rhai:2: ".to_string(),
            "用示例数据试运行时超出限制（demo@1 的发起）：脚本运算次数超过上限",
        ),
        (
            "scripts/demo/submit.rhai:2: ".to_string(),
            "用示例数据试运行时出错（demo@1 的状态 draft 的动作 submit）：脚本运行错误：坏了",
        ),
        (
            "workflows/destinations/notes.txt: ".to_string(),
            "这里不能放这种文件",
        ),
        (
            format!(
                "workflows/paper_supplement.yaml:{}: ",
                line_of(&supplement, "{use: agreement_fields}")
            ),
            "片段 agreement_feilds 不存在（workflows/shared/ 中没有定义），是否想写 agreement_fields？",
        ),
    ];
    for (at, what) in &expect {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(at.as_str()) && l.contains(what)),
            "missing {at}{what} in:\n{stdout}"
        );
    }
    let problems = stdout.lines().count();
    assert!(
        stderr.contains(&format!("{problems} problem(s)")),
        "{stderr}"
    );
}

#[test]
fn check_loads_definitions_from_subfolders_and_counts_them() {
    let dir = shipped_copy();
    let root = dir.path();
    let (ok, before, _) = check(root);
    assert!(ok, "{before}");
    write(root, "workflows/destinations/demo.yaml", DEMO_FLOW);
    write(
        root,
        "scripts/demo/start.rhai",
        "facts.graduate.training_mode != \"21\"\n",
    );
    write(root, "scripts/demo/submit.rhai", "true\n");
    write(root, "workflows/destinations/README.md", "# 去向登记\n");
    let (ok, after, stderr) = check(root);
    assert!(ok, "{after}{stderr}");
    let count = |out: &str, kind: &str| -> usize {
        let at = out.find(kind).unwrap_or_else(|| panic!("{kind} in {out}"));
        out[..at]
            .trim_end()
            .rsplit([' ', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        count(&after, " definitions"),
        count(&before, " definitions") + 1
    );
    assert_eq!(count(&after, " scripts"), count(&before, " scripts") + 2);
}

#[test]
fn the_guide_shows_its_example_files_and_check_accepts_them() {
    // Every file of the worked example is shown in the guide exactly as it is.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/example");
    let mut files = Vec::new();
    collect(&example, &mut files);
    let shown = support::tree::guide_markers("file");
    for f in &files {
        let rel = format!(
            "docs/example/{}",
            f.strip_prefix(&example).unwrap().display()
        );
        assert!(shown.contains(&rel), "docs/flows.md does not show {rel}");
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(
            support::tree::guide_block(&format!("file: {rel}")).trim_end(),
            text.trim_end(),
            "docs/flows.md shows {rel} differently"
        );
    }
    assert_eq!(
        shown.len(),
        files.len(),
        "the guide shows a file that does not exist"
    );

    // `check` accepts the tree of step 1 and prints what the guide says it prints.
    let tree = support::tree::example_tree();
    let (ok, stdout, stderr) = check(tree.path());
    assert!(ok, "{stdout}{stderr}");
    let printed = format!("# → {}", stdout.trim_end());
    assert!(
        support::tree::guide().contains(&printed),
        "docs/flows.md should show {printed:?}"
    );

    // The catalogue entry of "Add a catalogue entry", appended, is accepted too; the same
    // entry with an undeclared attribute is refused with the nearest declared one.
    let target = support::tree::guide_markers("append");
    assert_eq!(target, ["workflows/catalogues/subsidy_category.yaml"]);
    let entry = support::tree::guide_block("append: workflows/catalogues/subsidy_category.yaml");
    let path = tree.path().join(&target[0]);
    let before = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{before}{entry}")).unwrap();
    let (ok, stdout, stderr) = check(tree.path());
    assert!(ok, "{stdout}{stderr}");
    std::fs::write(
        &path,
        format!("{before}{}", entry.replace("proof:", "prof:")),
    )
    .unwrap();
    let (ok, stdout, _) = check(tree.path());
    assert!(!ok);
    assert!(
        stdout.contains("workflows/catalogues/subsidy_category.yaml:")
            && stdout.contains("prof")
            && stdout.contains("proof"),
        "{stdout}"
    );
}

#[test]
fn the_reference_in_the_guide_is_generated_from_the_code() {
    let out = gradflow().arg("reference").output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let guide = support::tree::guide();
    let begin = guide
        .lines()
        .find(|l| l.starts_with("<!-- reference: generated by"))
        .expect("the reference's begin marker");
    let expected = format!(
        "{begin}\n\n{}\n<!-- end of the generated reference -->",
        generated.trim_end()
    );
    assert!(
        guide.contains(&expected),
        "docs/flows.md's reference is stale: run `cargo run -- reference --write docs/flows.md`"
    );
    for needle in [
        "| `until_reviewed` |",
        "| `facts.graduate.training_mode` |",
        "| `choice` |",
    ] {
        assert!(generated.contains(needle), "{needle}");
    }
    // The same types as JSON Schemas.
    let out = gradflow().args(["reference", "--json"]).output().unwrap();
    assert!(out.status.success());
    let schemas: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schemas["facts"]["$defs"]["GraduateFacts"]["properties"]["training_mode"].is_object());
    assert!(schemas["definition"]["properties"]["states"].is_object());
    assert!(schemas["template_data"]["properties"]["graduate"].is_object());
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
    out.sort();
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

/// `serve --demo`'s banner: each token in a column of its own (a Chinese label takes two
/// columns), the address it really listens on (not `<addr>`), and 张三's gender as his ID
/// number says (issue 18).
#[test]
fn the_demo_banner_is_aligned_and_names_its_address() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = gradflow()
        .env_remove("GRADFLOW_DATABASE_URL")
        .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--root")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut base = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(b) = line.strip_prefix("gradflow listening on ") {
            base = b.to_string();
            break;
        }
        lines.push(line);
    }
    let width = |s: &str| -> usize {
        s.chars()
            .map(|c| if c as u32 >= 0x2E80 { 2 } else { 1 })
            .sum()
    };
    let columns: Vec<usize> = lines
        .iter()
        .filter_map(|l| l.find(" token: ").map(|i| width(&l[..i])))
        .collect();
    assert!(columns.len() >= 10, "{lines:?}");
    assert!(
        columns.iter().all(|c| *c == columns[0]),
        "{columns:?}: {lines:#?}"
    );
    let try_line = lines.iter().find(|l| l.contains("Try:")).unwrap();
    assert!(
        try_line.contains(&format!("{base}/api/v1/me")) && !try_line.contains("<addr>"),
        "{try_line}"
    );
    let school = lines
        .iter()
        .find(|l| l.trim_start().starts_with("school "))
        .and_then(|l| l.split("token: ").nth(1))
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/api/v1/roster/graduates?q=26320102150001"))
            .bearer_auth(&school)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let zhang = &body["items"][0];
    let id = zhang["id_number"].as_str().unwrap();
    let odd = (id.as_bytes()[16] - b'0') % 2 == 1;
    assert_eq!(zhang["gender"], if odd { "男" } else { "女" }, "{zhang}");
    assert_eq!(zhang["gender"], "男", "{zhang}");
}
