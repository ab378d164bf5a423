//! End to end: definitions change without recompiling. Uploaded versions serve new instances
//! while running ones stay pinned (also across a restart); a version cannot be changed; a
//! broken upload or reload is refused and the old set keeps serving; a province overlay applies
//! to that province only; province parameters are scoped to the province's own users. An upload
//! whose guards read what does not exist, loop, throw, or whose templates or fragments are
//! wrong is refused with the problem; a guard that fails only at run time answers
//! `guard_failed`.

mod support;

use serde_json::json;
use support::app::{spawn_on, App, AppOptions, Backend};
use support::tree::{example_tree, guide_block, tree_with};
use support::webhook;
use support::world::{
    account, act, invite, ok, other_dept_graduate, province_user, world, World, DEPT,
};

/// The tree's version of online_signing (the flows under test bump it when they change) and
/// the next one, which the test uploads.
fn versions() -> (i64, i64) {
    let v: i64 = flow_source()
        .lines()
        .find_map(|l| l.strip_prefix("version: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("online_signing names its version");
    (v, v + 1)
}

fn flow_source() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/online_signing.yaml"
    ))
    .unwrap()
}

async fn second_province(app: &App) -> (i64, String) {
    ok(app, "/api/v1/admin/provinces", json!({"code": "11", "name": "北京市", "agreement_type": "three_party", "employment_enabled": true})).await;
    let school = ok(
        app,
        "/api/v1/admin/schools",
        json!({"code": "10001", "name": "北京大学", "province_code": "11", "signing_enabled": true, "departments": [DEPT]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let g = ok(
        app,
        &format!("/api/v1/admin/schools/{school}/graduates"),
        json!([{"candidate_no": "26110102150009", "id_number": "110101200001011234", "name": "孙九", "department": DEPT}]),
    )
    .await["ids"][0]
        .as_i64()
        .unwrap();
    let tok = account(app, json!({"username": "g-bj", "role": "graduate", "province_code": "11", "school_id": school, "department": DEPT, "graduate_id": g})).await;
    (g, tok)
}

async fn versions_overlays_and_reload(backend: Backend) {
    let mut app = spawn_on(backend, AppOptions::default()).await;
    let (v1, v2) = versions();
    let (tree_version, next_version) = (format!("version: {v1}"), format!("version: {v2}"));
    let (id1, id2, id1_32) = (
        format!("online_signing@{v1}"),
        format!("online_signing@{v2}"),
        format!("online_signing@{v1}+32"),
    );
    let w: World = world(&app, "school").await;
    let admin = app.admin_token.clone();
    let old = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(old.body["definition"], id1);
    let old_id = old.body["id"].as_i64().unwrap();

    // A changed definition under the same version is refused; nothing changes.
    let same_version = flow_source().replace("单位发起签约，等待学生应约", "单位已发起签约");
    let r = app
        .post_text("/api/v1/admin/definitions", &admin, &same_version)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("提升 version"), "{}", r.text);

    // A broken upload lists its problems; the old set keeps serving.
    let broken = flow_source()
        .replace(&tree_version, &next_version)
        .replace("target: signed", "target: nowhere");
    let r = app
        .post_text("/api/v1/admin/definitions", &admin, &broken)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("nowhere")),
        "{}",
        r.text
    );
    assert_eq!(
        invite(&app, &w.employer2_tok, w.graduate).await.body["definition"],
        id1
    );

    // Version 2 serves new instances; the running one stays on version 1.
    let v2 = flow_source()
        .replace(&tree_version, &next_version)
        .replace("单位发起签约，等待学生应约", "单位已发起签约，请学生应约");
    let r = app
        .post_text("/api/v1/admin/definitions", &admin, &v2)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = invite(&app, &w.employer_tok, w.graduate_21).await;
    assert_eq!(new.status, 422, "guards still apply: {}", new.text);
    let (bj_graduate, bj_tok) = second_province(&app).await;
    let new = invite(&app, &w.employer_tok, bj_graduate).await;
    assert_eq!(new.body["definition"], id2, "{}", new.text);
    assert_eq!(new.body["label"], "单位已发起签约，请学生应约");

    // The pinned instance survives a restart and still completes on version 1.
    app.restart().await;
    let v = app
        .get(&format!("/api/v1/instances/{old_id}"), &w.graduate_tok)
        .await;
    assert_eq!(v.body["definition"], id1, "{}", v.text);
    assert_eq!(v.body["label"], "单位发起签约，等待学生应约");
    assert_eq!(
        act(&app, &w.graduate_tok, old_id, "accept", json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        act(&app, &w.school_tok, old_id, "approve", json!({}))
            .await
            .body["label"],
        "签约审核通过"
    );
    // The uploaded version is still active after the restart.
    let bj2 = invite(&app, &w.employer2_tok, bj_graduate).await;
    assert_eq!(bj2.body["definition"], id2, "{}", bj2.text);

    // A province overlay: province 32 reviews with an extra provincial level; 11 does not.
    let overlay = flow_source()
        .replace(&tree_version, &format!("{tree_version}\nprovince: \"32\""))
        .replace(
            "      attest_by_agreement_type: true",
            "      attest_by_agreement_type: true\n      extra_levels: [province]",
        );
    let province_tok = province_user(&app, "p32", "32").await;
    let other_province_tok = province_user(&app, "p11", "11").await;
    let r = app
        .put_text(
            "/api/v1/admin/provinces/32/overlays/online_signing",
            &other_province_tok,
            &overlay,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .put_text(
            "/api/v1/admin/provinces/32/overlays/online_signing",
            &province_tok,
            &overlay,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The overlay's invitation runs the same guard: 王五 (training mode 21) cannot be invited.
    let js = invite(&app, &w.employer2_tok, w.graduate_21).await;
    assert_eq!(
        (js.status, js.body["code"].as_str()),
        (422, Some("directed_training_mode")),
        "{}",
        js.text
    );
    let lisi = ok(
        &app,
        "/api/v1/admin/schools/1/graduates",
        json!([{"candidate_no": "26320102150002", "id_number": "320102200001011236", "name": "李四", "department": DEPT}]),
    )
    .await["ids"][0]
        .as_i64()
        .unwrap();
    let lisi_tok = account(&app, json!({"username": "g-lisi", "role": "graduate", "province_code": "32", "school_id": 1, "department": DEPT, "graduate_id": lisi})).await;
    let js = invite(&app, &w.employer_tok, lisi).await;
    assert_eq!(js.body["definition"], id1_32, "{}", js.text);
    let id = js.body["id"].as_i64().unwrap();
    act(&app, &lisi_tok, id, "accept", json!({})).await;
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert_eq!(r.body["review_level"], "province", "{}", r.text);
    assert_eq!(
        app.get("/api/v1/tasks", &province_tok).await.body["total"],
        1
    );
    assert_eq!(
        act(&app, &other_province_tok, id, "approve", json!({}))
            .await
            .status,
        404
    );
    let r = act(&app, &province_tok, id, "approve", json!({})).await;
    assert_eq!(r.body["label"], "签约审核通过", "{}", r.text);
    // Province 11 is untouched by 32's overlay.
    let bj = app
        .get(&format!("/api/v1/instances/{}", bj2.body["id"]), &bj_tok)
        .await;
    assert_eq!(bj.body["definition"], id2);

    // Province params: own province only; reload needs the administrator.
    let r = app
        .put(
            "/api/v1/admin/provinces/11/params/online_signing",
            &province_tok,
            json!({"response_deadline": "3d"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        app.post("/api/v1/admin/reload", &province_tok, json!({}))
            .await
            .status,
        403
    );
    let r = app.post("/api/v1/admin/reload", &admin, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let defs: Vec<&str> = r.body["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for d in [&id1, &id2, &id1_32] {
        assert!(defs.contains(&d.as_str()), "{defs:?}");
    }
    // Unauthenticated and unknown tokens are refused.
    assert_eq!(app.get("/api/v1/me", "nope").await.status, 401);
    assert_eq!(
        app.get("/api/v1/me", &w.dept_tok).await.body["department"],
        DEPT
    );
}

/// A flow whose start is guarded by GUARD and whose finishing notifies the graduate with
/// TEMPLATE.
const CHECKED_FLOW: &str = r#"key: checked_demo
version: VERSION
title: 校验演示
module: employment
start:
  roles: [graduate]
  guard: GUARD
  target: waiting
states:
  waiting:
    label: 等待
    actions:
      finish:
        label: 完成
        roles: [graduate]
        target: done
        effects:
          - notify: {to: graduate, template: TEMPLATE}
  done:
    label: 已完成
    kind: final
"#;

fn checked_flow(version: u32, guard: &str, template: &str) -> String {
    CHECKED_FLOW
        .replace("VERSION", &version.to_string())
        .replace("GUARD", guard)
        .replace("TEMPLATE", template)
}

async fn start_checked(app: &App, tok: &str) -> support::Resp {
    app.post(
        "/api/v1/flows/checked_demo/instances",
        tok,
        json!({"input": {}}),
    )
    .await
}

async fn broken_uploads_and_failing_guards(backend: Backend) {
    let tree = tree_with(&[
        ("workflows/demo/checked.yaml", &checked_flow(1, "demo/ok", "notify/demo_ok")),
        ("workflows/templates/notify/demo_ok.hbs", "{{graduate.name}}已完成。"),
        ("workflows/templates/notify/demo_typo.hbs", "{{graduate.nme}}已完成。"),
        ("scripts/demo/ok.rhai", "facts.graduate.training_mode != \"21\"\n"),
        ("scripts/demo/typo.rhai", "facts.graduate.trainng_mode != \"21\"\n"),
        ("scripts/demo/loop.rhai", "let x = 0;\nloop { x += 1; }\n"),
        ("scripts/demo/throw.rhai", "throw \"坏了\";\n"),
        (
            "scripts/demo/runtime.rhai",
            "// Fails only for one graduate: no check can see it.\nif facts.graduate.name == \"张三\" {\n  throw \"无法处理\";\n}\ntrue\n",
        ),
    ]);
    let app = spawn_on(
        backend,
        AppOptions {
            root: Some(tree.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await;
    let w: World = world(&app, "school").await;
    let admin = app.admin_token.clone();
    // 赵六 (training mode 41, another department) passes every guard.
    let other_tok = other_dept_graduate(&app, &w, "g-41", w.graduate_41).await;
    let first = start_checked(&app, &w.graduate_tok).await;
    assert_eq!(first.body["definition"], "checked_demo@1", "{}", first.text);

    // Each broken version 2 is refused with its problem; version 1 keeps serving.
    let fragment = checked_flow(2, "demo/ok", "notify/demo_ok").replace(
        "start:\n",
        "forms:\n  extra: [{use: agreement_feilds}]\nstart:\n",
    );
    let broken = [
        (
            checked_flow(2, "demo/typo", "notify/demo_ok"),
            "facts.graduate.trainng_mode 不存在，是否想写 training_mode？",
        ),
        (
            checked_flow(2, "demo/loop", "notify/demo_ok"),
            "用示例数据试运行时超出限制",
        ),
        (
            checked_flow(2, "demo/throw", "notify/demo_ok"),
            "用示例数据试运行时出错",
        ),
        (
            checked_flow(2, "demo/ok", "notify/demo_typo"),
            "graduate.nme 不存在，是否想写 name？",
        ),
        (fragment, "片段 agreement_feilds 不存在"),
    ];
    for (text, problem) in &broken {
        let r = app
            .post_text("/api/v1/admin/definitions", &admin, text)
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(
            r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["code"] == "definition_problem"
                    && e["message"].as_str().unwrap().contains(problem)),
            "expected {problem:?}: {}",
            r.text
        );
        let again = start_checked(&app, &other_tok).await;
        assert_eq!(again.body["definition"], "checked_demo@1", "{}", again.text);
        let id = again.body["id"].as_i64().unwrap();
        assert_eq!(
            act(&app, &other_tok, id, "finish", json!({})).await.status,
            200
        );
    }

    // A guard that fails only for one graduate passes every check, then answers guard_failed
    // to that graduate (the truth: the definition is wrong), and the server stays healthy.
    let r = app
        .post_text(
            "/api/v1/admin/definitions",
            &admin,
            &checked_flow(2, "demo/runtime", "notify/demo_ok"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let failed = start_checked(&app, &w.graduate_tok).await;
    refused(
        &failed,
        500,
        "guard_failed",
        Some("流程校验规则（demo/runtime）出错，无法判断能否办理：该流程的定义有误，需由系统管理员修复"),
    );
    let other = start_checked(&app, &other_tok).await;
    assert_eq!(other.body["definition"], "checked_demo@2", "{}", other.text);
    let health = app.get("/healthz", "").await;
    assert_eq!((health.status, health.text.as_str()), (200, "ok"));
}

/// Asserts a refusal: its status, code and (when given) message.
fn refused(r: &support::Resp, status: u16, code: &str, message: Option<&str>) {
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (status, Some(code)),
        "{}",
        r.text
    );
    if let Some(m) = message {
        assert_eq!(r.body["message"], m, "{}", r.text);
    }
}

/// The worked example of docs/flows.md, run as the guide runs it (in a two-level school).
async fn the_guides_worked_example(backend: Backend) {
    let hook = webhook::start().await;
    let tree = example_tree();
    let app = spawn_on(
        backend,
        AppOptions {
            root: Some(tree.path().to_path_buf()),
            webhook_url: Some(hook.url()),
            extra_args: vec!["--worker-interval-ms".into(), "50".into()],
            ..Default::default()
        },
    )
    .await;
    let w: World = world(&app, "department_then_school").await;
    let wang = other_dept_graduate(&app, &w, "g-21", w.graduate_21).await;
    let apply = |tok: String, input: serde_json::Value| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/flows/job_subsidy/instances",
                &tok,
                json!({ "input": input }),
            )
            .await
        }
    };

    // The variant of category 01 asks for its own fields.
    let r = apply(
        w.graduate_tok.clone(),
        json!({"category": "01", "mobile": "13800138000"}),
    )
    .await;
    refused(
        &r,
        422,
        "invalid_input",
        Some("低保证编号：不能为空；低保证图片：不能为空"),
    );
    // A category not (yet) in the catalogue.
    let r = apply(
        w.graduate_tok.clone(),
        json!({"category": "05", "mobile": "13800138000"}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        (
            r.body["errors"][0]["field"].as_str(),
            r.body["errors"][0]["code"].as_str()
        ),
        (Some("category"), Some("unknown_code")),
        "{}",
        r.text
    );
    // The guard's own code for training mode 21.
    let r = apply(
        wang.clone(),
        json!({"category": "04", "mobile": "13800138000", "loan_contract_no": "JS2026-000124"}),
    )
    .await;
    refused(
        &r,
        422,
        "directed_training_mode",
        Some("你的培养方式为定向（不可网签），不能申请求职创业补贴"),
    );

    // Apply, department then school; the school rejects with a reason.
    let r = apply(
        w.graduate_tok.clone(),
        json!({"category": "04", "mobile": "13800138000", "loan_contract_no": "JS2026-000123"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["label"], "补贴申请审核中，等待学院/学校审核");
    assert_eq!(r.body["review_level"], "department");
    let id = r.body["id"].as_i64().unwrap();
    let again = apply(
        w.graduate_tok.clone(),
        json!({"category": "04", "mobile": "13800138000", "loan_contract_no": "JS2026-000123"}),
    )
    .await;
    assert_eq!(
        (again.status, again.body["message"].as_str()),
        (409, Some("你已有一份求职创业补贴申请，不能重复申请")),
        "{}",
        again.text
    );
    let inbox = app.get("/api/v1/tasks?flow=job_subsidy", &w.dept_tok).await;
    assert_eq!(inbox.body["items"][0]["instance_id"], id, "{}", inbox.text);
    assert_eq!(
        act(&app, &w.dept_tok, id, "approve", json!({}))
            .await
            .status,
        200
    );
    let r = act(
        &app,
        &w.school_tok,
        id,
        "reject",
        json!({"reason_category": "证明材料不符合要求", "reason": "合同编号与贷款系统不符"}),
    )
    .await;
    assert_eq!(r.body["label"], "补贴申请审核不通过", "{}", r.text);
    let told =
        "张三同学，你的求职创业补贴申请：补贴申请审核不通过（原因：合同编号与贷款系统不符）。";
    let got = hook
        .wait_for(|r| r.iter().any(|m| m.body["message"]["text"] == told), 30)
        .await;
    assert!(got.iter().any(|m| m.body["message"]["text"] == told));

    // Add a catalogue entry: the guide's snippet, appended, reloaded.
    let entry = guide_block("append: workflows/catalogues/subsidy_category.yaml");
    let file = tree
        .path()
        .join("workflows/catalogues/subsidy_category.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    // A broken entry first: refused, the old catalogue keeps serving; then the entry itself.
    let broken = entry.replace("proof:", "prof:");
    let mut last = None;
    for (added, reloaded, applied) in [(&broken, 422, 422), (&entry, 200, 201)] {
        std::fs::write(&file, format!("{before}{added}")).unwrap();
        let r = app
            .post("/api/v1/admin/reload", &app.admin_token, json!({}))
            .await;
        assert_eq!(r.status, reloaded, "{}", r.text);
        let r = apply(
            w.graduate_tok.clone(),
            json!({"category": "05", "mobile": "13800138000", "certificate_no": "TK-2026-0031"}),
        )
        .await;
        assert_eq!(r.status, applied, "{}", r.text);
        last = Some(r);
    }
    let r = last.unwrap();
    assert_eq!(r.body["vars"]["certificate_no"], "TK-2026-0031");

    // A province closes applications with its parameter.
    let prov = province_user(&app, "p-32", "32").await;
    let r = app
        .put(
            "/api/v1/admin/provinces/32/params/job_subsidy",
            &prov,
            json!({"open": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = apply(
        wang,
        json!({"category": "04", "mobile": "13800138000", "loan_contract_no": "JS2026-000124"}),
    )
    .await;
    refused(
        &r,
        422,
        "subsidy_closed",
        Some("本省暂未开放求职创业补贴申请"),
    );
}

/// The targets and times of the school's `api_key.create` records in the order `sort` asks.
async fn audit_order(app: &App, tok: &str, sort: &str) -> (Vec<String>, Vec<String>) {
    let q = match sort {
        "" => "/api/v1/audit-log?action=api_key.create".to_string(),
        s => format!("/api/v1/audit-log?action=api_key.create&sort={s}"),
    };
    let r = app.get(&q, tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    let field = |k: &str| -> Vec<String> {
        items
            .iter()
            .map(|i| i[k].as_str().unwrap().to_string())
            .collect()
    };
    (field("target_id"), field("at"))
}

/// The audit log sorted by time: `sort=at` oldest first, `-at` (the default) newest first.
async fn sorted_audit_log(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let mut keys = Vec::new();
    for name in ["就业管理系统一", "就业管理系统二", "就业管理系统三"] {
        let r = app
            .post("/api/v1/api-keys", &w.school_tok, json!({ "name": name }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        keys.push(r.body["id"].to_string());
    }
    let (asc, at) = audit_order(&app, &w.school_tok, "at").await;
    assert_eq!(asc, keys);
    let times: Vec<chrono::DateTime<chrono::Utc>> = at.iter().map(|t| t.parse().unwrap()).collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{at:?}");
    let reversed: Vec<String> = keys.iter().rev().cloned().collect();
    assert_eq!(audit_order(&app, &w.school_tok, "-at").await.0, reversed);
    assert_eq!(
        audit_order(&app, &w.school_tok, "").await.0,
        reversed,
        "newest first by default"
    );
    app.get("/api/v1/audit-log?sort=id", &w.school_tok)
        .await
        .refused(422, "invalid_sort");
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sorted_audit_log() {
        super::sorted_audit_log(super::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_overlays_and_reload() {
        super::versions_overlays_and_reload(super::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn broken_uploads_and_failing_guards() {
        super::broken_uploads_and_failing_guards(super::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_guides_worked_example() {
        super::the_guides_worked_example(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sorted_audit_log() {
        super::sorted_audit_log(super::Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_overlays_and_reload() {
        super::versions_overlays_and_reload(super::Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn broken_uploads_and_failing_guards() {
        super::broken_uploads_and_failing_guards(super::Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_guides_worked_example() {
        super::the_guides_worked_example(super::Backend::Postgres).await
    }
}
