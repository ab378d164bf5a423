//! End to end: archive and hukou registration (档案信息登记, 户口信息登记; SPEC.md 4.8) over HTTP on
//! SQLite and PostgreSQL — the modules switched on by the province and the school, the module
//! permission levels, a registration reviewed and approved and synced to the management system,
//! the settings' rules once a graduate acted (the module stays on; no review-mode change while
//! an application waits), a change of registered data that waits for its review (rejected: the
//! data in force stays; approved: it is written and synced), back to origin locked to the
//! origin region, the hukou module only for graduates whose hukou moved into the school.

mod support;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend, Resp};
use support::flows::{
    account_id, coverage, outbox_drained, remove_and_restore_row, sheet, switch_levels, switch_on,
    upload_roster, zhang_san,
};
use support::webhook::{self, WebhookReceiver};
use support::world::{act, other_dept_graduate, province_user, world, World, OTHER_DEPT};

fn unit() -> Value {
    json!({"transfer_type": "1", "receiver_name": "南京示例科技有限公司人事部", "receiver_region": "320106",
           "receiver_address": "南京市鼓楼区汉口路22号", "postal_code": "210008",
           "contact": "人事部王老师", "contact_phone": "025-83591234"})
}

/// A server on `backend` delivering its outbox to a local receiver.
async fn spawn_hooked(backend: Backend) -> (WebhookReceiver, App) {
    let hook = webhook::start().await;
    let app = spawn_on(
        backend,
        AppOptions {
            webhook_url: Some(hook.url()),
            ..AppOptions::default()
        },
    )
    .await;
    (hook, app)
}

async fn start(app: &App, tok: &str, flow: &str, input: Value) -> Resp {
    app.post(
        &format!("/api/v1/flows/{flow}/instances"),
        tok,
        json!({"input": input}),
    )
    .await
}

async fn view(app: &App, tok: &str, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/instances/{id}"), tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// The archive sync message of instance `id` the management system received whose registered
/// receiving unit is `receiver` (waiting for it).
async fn synced(hook: &WebhookReceiver, id: i64, receiver: &str) -> Value {
    let is_it = |m: &Value| {
        m["kind"] == "sync" && m["instance_id"] == id && m["vars"]["receiver_name"] == receiver
    };
    hook.wait_for(|r| r.iter().any(|m| is_it(&m.body["message"])), 30)
        .await
        .into_iter()
        .map(|m| m.body["message"].clone())
        .rfind(is_it)
        .unwrap()
}

async fn archive_and_hukou(backend: Backend) {
    let (hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    upload_roster(&app, vec![zhang_san()]).await;
    let province = province_user(&app, "p32", "32").await;

    // Not switched on yet.
    start(&app, &w.graduate_tok, "archive_registration", unit())
        .await
        .refused(422, "module_disabled");
    switch_on(&app, &w, &province, "rw").await;

    // Registered after review.
    let r = start(&app, &w.graduate_tok, "archive_registration", unit()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["label"], "档案信息登记审核中，等待学院/学校审核");
    assert_eq!(r.body["module"], "archive");
    let id = r.body["id"].as_i64().unwrap();
    start(&app, &w.graduate_tok, "archive_registration", unit())
        .await
        .refused(409, "slot_taken");
    let inbox = app
        .get("/api/v1/tasks?flow=archive_registration", &w.school_tok)
        .await;
    assert_eq!(inbox.body["total"], 1, "{}", inbox.text);
    // The application records (申请记录) are the archive module's list: 待审核 by default; a
    // department account without the archive module (无权限) cannot open it.
    let list = app.get("/api/v1/lists/archive", &w.school_tok).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["total"], 1, "{}", list.text);
    assert_eq!(
        list.body["default_status"],
        json!([
            "档案信息登记审核中，等待学院/学校审核",
            "档案信息修改审核中，等待学院/学校审核"
        ]),
        "{}",
        list.text
    );
    app.get("/api/v1/lists/archive", &w.dept_tok)
        .await
        .refused(403, "forbidden");
    // The settings' rules, now that a graduate acted: the module stays on, and its review mode
    // waits for the pending application (the departments have archive accounts).
    for dept in [&w.dept_tok, &w.other_dept_tok] {
        let id = account_id(&app, dept).await;
        let r = app
            .put(
                &format!("/api/v1/accounts/{id}/permissions"),
                &w.school_tok,
                json!({"employment": "rw", "archive": "rw", "hukou": "none"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let archive_settings = format!(
        "/api/v1/schools/{}/settings/registration/archive",
        w.school_id
    );
    let r = app
        .put(
            &archive_settings,
            &w.school_tok,
            json!({"enabled": true, "review_mode": "department_then_school"}),
        )
        .await;
    r.refused(409, "review_mode_in_flight");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("1 条待学校或院系审核"),
        "{}",
        r.text
    );
    app.put(
        &archive_settings,
        &w.school_tok,
        json!({"enabled": false, "review_mode": "school"}),
    )
    .await
    .refused(409, "registration_irreversible");
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert_eq!(r.body["label"], "档案信息已登记", "{}", r.text);
    let m = synced(&hook, id, "南京示例科技有限公司人事部").await;
    assert_eq!(
        (m["data_kind"].as_str(), m["op"].as_str()),
        (Some("archive"), Some("upsert")),
        "{m}"
    );

    // A change waits for its review; rejected, the registered data stays.
    let mut change = unit();
    change["receiver_name"] = json!("新单位人事处");
    let r = act(&app, &w.graduate_tok, id, "apply_modify", change.clone()).await;
    assert_eq!(r.body["state"], "modifying", "{}", r.text);
    let v = view(&app, &w.school_tok, id).await;
    assert_eq!(v["vars"]["receiver_name"], "南京示例科技有限公司人事部");
    assert_eq!(v["vars"]["staged"]["receiver_name"], "新单位人事处");
    let r = act(
        &app,
        &w.school_tok,
        id,
        "reject",
        json!({"reason_category": "档案接收信息有误", "reason": "单位名称不全"}),
    )
    .await;
    assert_eq!(r.body["state"], "registered", "{}", r.text);
    let v = view(&app, &w.graduate_tok, id).await;
    assert_eq!(v["vars"]["receiver_name"], "南京示例科技有限公司人事部");
    assert!(v["vars"].get("staged").is_none(), "{v}");
    // Approved, it is written over the registered data.
    act(&app, &w.graduate_tok, id, "apply_modify", change).await;
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert_eq!(r.body["state"], "registered", "{}", r.text);
    assert_eq!(
        view(&app, &w.graduate_tok, id).await["vars"]["receiver_name"],
        "新单位人事处"
    );
    let m = synced(&hook, id, "新单位人事处").await;
    assert!(
        m["vars"].get("staged").is_none(),
        "synced as registered data: {m}"
    );

    // Hukou: only for a graduate whose hukou moved into the school; back to origin is the origin.
    let wang = other_dept_graduate(&app, &w, "g2", w.graduate_21).await;
    let hukou = json!({"transfer_type": "4", "migration_region": "320106", "migration_address": "玄武区北京东路41号"});
    start(&app, &wang, "hukou_registration", hukou.clone())
        .await
        .refused(422, "hukou_not_in_school");
    let r = start(&app, &w.graduate_tok, "hukou_registration", hukou.clone()).await;
    r.refused(422, "origin_region_locked");
    assert!(
        r.body["message"].as_str().unwrap().contains("320102"),
        "{}",
        r.text
    );
    // The region left out: back to origin takes the origin's, as the form tells the client.
    let flows = app.get("/api/v1/flows", &w.graduate_tok).await;
    let hukou_flow = flows.body["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "hukou_registration")
        .unwrap_or_else(|| panic!("{}", flows.text));
    assert_eq!(
        hukou_flow["start_schema"]["properties"]["migration_region"]["x-default"],
        json!({"fact": "graduate.origin_region", "when": {"field": "transfer_type", "in": ["4"]}}),
        "{hukou_flow}"
    );
    let mut hukou = hukou;
    hukou.as_object_mut().unwrap().remove("migration_region");
    let r = start(&app, &w.graduate_tok, "hukou_registration", hukou).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hukou_id = r.body["id"].as_i64().unwrap();
    assert_eq!(
        view(&app, &w.graduate_tok, hukou_id).await["vars"]["migration_region"],
        "320102"
    );

    // 只读 archive and hukou: the school sees but cannot decide.
    switch_levels(&app, &w, &province, "ro").await;
    let r = act(&app, &w.school_tok, hukou_id, "approve", json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        view(&app, &w.school_tok, hukou_id).await["state"],
        "reviewing"
    );
    switch_levels(&app, &w, &province, "rw").await;
    let r = act(&app, &w.school_tok, hukou_id, "approve", json!({})).await;
    assert_eq!(r.body["label"], "户口信息已登记", "{}", r.text);
}

/// The names and registration statuses of a module's info list (档案/户口信息) with `filter`.
async fn statuses(app: &App, tok: &str, module: &str, filter: &str) -> Vec<(String, String)> {
    let r = app
        .get(
            &format!("/api/v1/roster/graduates?module={module}{filter}"),
            tok,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                format!(
                    "{} {}",
                    g["registration"].as_str().unwrap(),
                    g["registration_label"].as_str().unwrap()
                ),
            )
        })
        .collect()
}

/// 档案/户口信息: every roster graduate of the module with its status (未登记 / 审核中 / 已登记), and
/// the status filter; the hukou list holds only graduates whose hukou moved into the school.
async fn status_per_graduate(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    upload_roster(&app, vec![zhang_san()]).await;
    let province = province_user(&app, "p32", "32").await;
    switch_on(&app, &w, &province, "rw").await;
    let t = |s: &str| s.to_string();
    let all_unregistered = vec![
        (t("张三"), t("unregistered 未登记")),
        (t("王五"), t("unregistered 未登记")),
        (t("赵六"), t("unregistered 未登记")),
    ];
    assert_eq!(
        statuses(&app, &w.school_tok, "archive", "&sort=name")
            .await
            .len(),
        3
    );
    let id = start(&app, &w.graduate_tok, "archive_registration", unit())
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let mut sorted = statuses(&app, &w.school_tok, "archive", "").await;
    sorted.sort();
    let mut want = all_unregistered.clone();
    want[0].1 = t("reviewing 审核中");
    want.sort();
    assert_eq!(sorted, want);
    assert_eq!(
        statuses(&app, &w.school_tok, "archive", "&registration=reviewing").await,
        [(t("张三"), t("reviewing 审核中"))]
    );
    assert_eq!(
        statuses(&app, &w.school_tok, "archive", "&registration=unregistered")
            .await
            .len(),
        2
    );
    act(&app, &w.school_tok, id, "approve", json!({})).await;
    // A change waiting for its review leaves the graduate registered.
    act(&app, &w.graduate_tok, id, "apply_modify", unit()).await;
    assert_eq!(
        statuses(&app, &w.school_tok, "archive", "&registration=registered").await,
        [(t("张三"), t("registered 已登记"))]
    );
    assert!(
        statuses(&app, &w.school_tok, "archive", "&registration=reviewing")
            .await
            .is_empty()
    );
    // The hukou list: only 张三's hukou moved into the school.
    assert_eq!(
        statuses(&app, &w.school_tok, "hukou", "").await,
        [(t("张三"), t("unregistered 未登记"))]
    );
    // The status belongs to the archive and hukou lists only.
    app.get(
        "/api/v1/roster/graduates?registration=registered",
        &w.school_tok,
    )
    .await
    .refused(422, "invalid_registration");
}

/// 张三 and the world's 王五 and 赵六 (外国语学院) on the roster with their origins.
fn roster_with_origins(wang_origin: &str, zhao_origin: &str) -> Vec<Value> {
    let mut wang = zhang_san();
    wang["candidate_no"] = json!("26320102150003");
    wang["id_number"] = json!("320102200002021235");
    wang["name"] = json!("王五");
    wang["department"] = json!(OTHER_DEPT);
    wang["origin_region"] = json!(wang_origin);
    let mut zhao = wang.clone();
    zhao["candidate_no"] = json!("26320102150004");
    zhao["id_number"] = json!("320102200003031232");
    zhao["name"] = json!("赵六");
    zhao["origin_region"] = json!(zhao_origin);
    vec![zhang_san(), wang, zhao]
}

fn back_to_origin(region: &str) -> Value {
    let mut v = unit();
    v["transfer_type"] = json!("4");
    v["receiver_region"] = json!(region);
    v["receiver_name"] = json!("生源地人才交流中心");
    v
}

async fn row_version(app: &App, tok: &str, id: i64) -> i64 {
    view(app, tok, id).await["row_version"].as_i64().unwrap()
}

/// 快速审核 approves the back-to-origin applications matching the origin and lists the others;
/// 批量审核 decides the selected ones with one reason, a stale item answering 409 alone; the
/// inbox and the home page's counts leave out a module the account may not enter.
async fn batch_and_quick_review(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    upload_roster(&app, roster_with_origins("320105", "320111")).await;
    let province = province_user(&app, "p32", "32").await;
    switch_on(&app, &w, &province, "rw").await;
    let wang = other_dept_graduate(&app, &w, "g2", w.graduate_21).await;
    let zhao = other_dept_graduate(&app, &w, "g3", w.graduate_41).await;
    let zhang_id = start(
        &app,
        &w.graduate_tok,
        "archive_registration",
        back_to_origin("320102"),
    )
    .await
    .body["id"]
        .as_i64()
        .unwrap();
    let r = start(&app, &wang, "archive_registration", unit()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let wang_id = r.body["id"].as_i64().unwrap();
    let r = start(
        &app,
        &zhao,
        "archive_registration",
        back_to_origin("320111"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let zhao_id = r.body["id"].as_i64().unwrap();
    // 赵六's origin changes on the roster after they applied: no longer a match.
    upload_roster(&app, roster_with_origins("320105", "320113")).await;

    // The home page's counts: per module; a department without the archive module has none.
    let counts = app.get("/api/v1/tasks/counts", &w.school_tok).await;
    assert_eq!(counts.status, 200, "{}", counts.text);
    let modules = &counts.body["modules"];
    assert!(
        modules
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["module"] == "archive" && m["count"] == 3),
        "{}",
        counts.text
    );
    let dept_counts = app.get("/api/v1/tasks/counts", &w.other_dept_tok).await;
    assert!(
        !dept_counts.text.contains("archive"),
        "no archive module, no archive tasks: {}",
        dept_counts.text
    );

    // Quick review: the hukou list has none; the archive one approves 张三 only.
    app.post("/api/v1/lists/hukou/quick-review", &w.school_tok, json!({}))
        .await
        .refused(422, "no_quick_review");
    app.post(
        "/api/v1/lists/archive/quick-review",
        &w.other_dept_tok,
        json!({}),
    )
    .await
    .refused(403, "forbidden");
    let r = app
        .post(
            "/api/v1/lists/archive/quick-review",
            &w.school_tok,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["approved"].as_i64(), r.body["left"].as_i64()),
        (Some(1), Some(2)),
        "{}",
        r.text
    );
    assert_eq!(
        r.body["approved_items"][0]["instance_id"], zhang_id,
        "{}",
        r.text
    );
    assert_eq!(
        r.body["approved_items"][0]["label"], "档案信息已登记",
        "{}",
        r.text
    );
    let left: Vec<(i64, String, String)> = r.body["left_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["instance_id"].as_i64().unwrap(),
                i["graduate_name"].as_str().unwrap().to_string(),
                i["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        left,
        [
            (
                wang_id,
                "王五".to_string(),
                "not_back_to_origin".to_string()
            ),
            (zhao_id, "赵六".to_string(), "origin_mismatch".to_string())
        ]
    );
    assert_eq!(
        view(&app, &w.school_tok, zhang_id).await["state"],
        "registered"
    );
    assert_eq!(
        view(&app, &w.school_tok, wang_id).await["state"],
        "reviewing"
    );

    // Batch review: what it takes.
    let batch = |decision: &str, input: Value, items: Value| json!({"decision": decision, "input": input, "items": items});
    let reason = json!({"reason_category": "档案接收信息有误", "reason": "接收单位地址不完整"});
    for (body, code) in [
        (
            batch("return", reason.clone(), json!([{"instance_id": wang_id}])),
            "invalid_decision",
        ),
        (batch("reject", reason.clone(), json!([])), "no_items"),
        (
            batch(
                "reject",
                reason.clone(),
                json!([{"instance_id": wang_id}, {"instance_id": wang_id}]),
            ),
            "duplicate_item",
        ),
    ] {
        app.post("/api/v1/lists/archive/batch-review", &w.school_tok, body)
            .await
            .refused(422, code);
    }
    // One reason for all: without it every item is refused naming the field.
    let r = app
        .post(
            "/api/v1/lists/archive/batch-review",
            &w.school_tok,
            batch("reject", json!({}), json!([{"instance_id": wang_id}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["status"], 422, "{}", r.text);
    assert!(r.text.contains("reason_category"), "{}", r.text);
    // 王五's application changes after the reviewer read it (a reviewer's edit): that item
    // answers 409, 赵六's is rejected all the same; a registered one is not pending any more.
    let wang_seen = row_version(&app, &w.school_tok, wang_id).await;
    let zhao_seen = row_version(&app, &w.school_tok, zhao_id).await;
    let mut edited = unit();
    edited["receiver_name"] = json!("南京示例科技有限公司人力资源部");
    let r = act(&app, &w.school_tok, wang_id, "edit", edited).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/lists/archive/batch-review",
            &w.school_tok,
            batch(
                "reject",
                reason.clone(),
                json!([{"instance_id": wang_id, "expected_version": wang_seen},
                       {"instance_id": zhao_id, "expected_version": zhao_seen},
                       {"instance_id": zhang_id}]),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let outcomes: Vec<(i64, String)> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["status"].as_i64().unwrap(),
                i["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(outcomes[0], (409, "conflict".to_string()), "{}", r.text);
    assert_eq!(outcomes[1], (200, "decided".to_string()), "{}", r.text);
    assert_ne!(outcomes[2].0, 200, "{}", r.text);
    assert_eq!(
        (r.body["decided"].as_i64(), r.body["failed"].as_i64()),
        (Some(1), Some(2))
    );
    let v = view(&app, &w.school_tok, zhao_id).await;
    assert_eq!(v["state"], "rejected", "{v}");
    let history = app
        .get(
            &format!("/api/v1/instances/{zhao_id}/history"),
            &w.school_tok,
        )
        .await;
    assert!(
        history.text.contains("接收单位地址不完整"),
        "{}",
        history.text
    );
    assert_eq!(
        view(&app, &w.school_tok, wang_id).await["state"],
        "reviewing"
    );
    // 只读: no batch decisions.
    switch_levels(&app, &w, &province, "ro").await;
    app.post(
        "/api/v1/lists/archive/batch-review",
        &w.school_tok,
        batch("approve", json!({}), json!([{"instance_id": wang_id}])),
    )
    .await
    .refused(403, "forbidden");
    switch_levels(&app, &w, &province, "rw").await;
    let r = app
        .post(
            "/api/v1/lists/archive/batch-review",
            &w.school_tok,
            batch("approve", json!({}), json!([{"instance_id": wang_id}])),
        )
        .await;
    assert_eq!(r.body["decided"], 1, "{}", r.text);
    assert_eq!(
        view(&app, &w.school_tok, wang_id).await["vars"]["receiver_name"],
        "南京示例科技有限公司人力资源部"
    );
    // The province sees both modules' data of its schools, read-only.
    let r = app.get("/api/v1/lists/archive?status=all", &province).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 3, "{}", r.text);
    assert_eq!(
        statuses(&app, &province, "archive", "&registration=registered")
            .await
            .len(),
        2
    );
    let r = act(&app, &province, wang_id, "edit", unit()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .post(
            "/api/v1/lists/archive/batch-review",
            &province,
            batch("approve", json!({}), json!([{"instance_id": wang_id}])),
        )
        .await;
    assert_ne!(r.body["items"][0]["status"], 200, "{}", r.text);

    // Quick review takes changes (修改) too, reading the changed data: back to origin and
    // matching ⇒ approved and registered; another type ⇒ left, the registered data kept.
    let mut moved = back_to_origin("320102");
    moved["receiver_name"] = json!("南京市鼓楼区人才服务中心");
    let r = act(&app, &w.graduate_tok, zhang_id, "apply_modify", moved).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let quick = || {
        app.post(
            "/api/v1/lists/archive/quick-review",
            &w.school_tok,
            json!({}),
        )
    };
    let r = quick().await;
    assert_eq!(
        (r.body["approved"].as_i64(), r.body["left"].as_i64()),
        (Some(1), Some(0)),
        "{}",
        r.text
    );
    let v = view(&app, &w.school_tok, zhang_id).await;
    assert_eq!(
        (v["state"].as_str(), v["vars"]["receiver_name"].as_str()),
        (Some("registered"), Some("南京市鼓楼区人才服务中心")),
        "{v}"
    );
    let r = act(&app, &w.graduate_tok, zhang_id, "apply_modify", unit()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = quick().await;
    assert_eq!(
        (r.body["approved"].as_i64(), r.body["left"].as_i64()),
        (Some(0), Some(1)),
        "{}",
        r.text
    );
    assert_eq!(
        r.body["left_items"][0]["code"], "not_back_to_origin",
        "{}",
        r.text
    );
    let v = view(&app, &w.school_tok, zhang_id).await;
    assert_eq!(
        (v["state"].as_str(), v["vars"]["transfer_type"].as_str()),
        (Some("modifying"), Some("4")),
        "{v}"
    );
}

/// Writes an XLSX workbook of `rows` (the first the header) with every cell as text.
fn workbook(rows: &[Vec<&str>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32, c as u16, *v).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// 档案/户口信息 registered directly by the school: one graduate at once (no review), and many
/// from the downloadable template — good, bad and blank rows, reading stopping at the first
/// empty one — with the report as an answer and as a workbook.
async fn direct_registration_and_import(backend: Backend) {
    let (hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    upload_roster(&app, roster_with_origins("320105", "320111")).await;
    let province = province_user(&app, "p32", "32").await;
    switch_on(&app, &w, &province, "rw").await;

    // One graduate, directly: registered at once and synced.
    let r = app
        .post(
            "/api/v1/flows/archive_registration/instances",
            &w.school_tok,
            json!({"graduate_id": w.graduate, "input": unit()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["label"], "档案信息已登记", "{}", r.text);
    let zhang_id = r.body["id"].as_i64().unwrap();
    synced(&hook, zhang_id, "南京示例科技有限公司人事部").await;

    // The template and the region code table.
    let template = sheet(
        &app,
        "/api/v1/flows/archive_registration/import-template",
        &w.school_tok,
    )
    .await;
    assert_eq!(
        template[0],
        [
            "考生号*",
            "姓名*",
            "身份证号*",
            "档案转递类型*",
            "接收单位名称*",
            "接收单位所在地区*",
            "接收单位详细地址*",
            "邮政编码*",
            "联系人或联系部门*",
            "联系电话*"
        ]
    );
    let hukou_template = sheet(
        &app,
        "/api/v1/flows/hukou_registration/import-template",
        &w.school_tok,
    )
    .await;
    assert_eq!(
        hukou_template[0][3..],
        ["户口迁移类型*", "迁移地址所在地区*", "迁移详细地址*"]
    );
    app.get(
        "/api/v1/flows/online_signing/import-template",
        &w.school_tok,
    )
    .await
    .refused(422, "not_importable");
    app.get(
        "/api/v1/flows/archive_registration/import-template",
        &w.graduate_tok,
    )
    .await
    .refused(403, "forbidden");
    let regions = sheet(&app, "/api/v1/regions/table", "").await;
    assert_eq!(regions[0], ["地区代码", "地区名称"]);
    assert!(
        regions.iter().any(|r| r[0] == "320102"),
        "{:?}",
        &regions[..3]
    );

    // The import: 张三 registered ⇒ changed; 王五 ⇒ registered; 赵六's postal code is wrong;
    // an unknown candidate; a name not the roster's; then an empty row, and a row under it.
    let header: Vec<&str> = template[0].iter().map(String::as_str).collect();
    let row = |cand: &'static str,
               name: &'static str,
               id: &'static str,
               receiver: &'static str,
               postal: &'static str| {
        vec![
            cand,
            name,
            id,
            "1",
            receiver,
            "320106",
            "南京市鼓楼区汉口路22号",
            postal,
            "人事部王老师",
            "025-83591234",
        ]
    };
    let file = workbook(&[
        header,
        row(
            "26320102150001",
            "张三",
            "11010519491231002X",
            "张三的新单位",
            "210008",
        ),
        row(
            "26320102150003",
            "王五",
            "320102200002021235",
            "王五的单位",
            "210008",
        ),
        row(
            "26320102150004",
            "赵六",
            "320102200003031232",
            "赵六的单位",
            "21000",
        ),
        row(
            "26320102159999",
            "钱七",
            "320102200003031232",
            "钱七的单位",
            "210008",
        ),
        row(
            "26320102150004",
            "赵八",
            "320102200003031232",
            "赵六的单位",
            "210008",
        ),
        vec![],
        row(
            "26320102150004",
            "赵六",
            "320102200003031232",
            "赵六的单位",
            "210008",
        ),
    ]);
    let r = app
        .post_bytes(
            "/api/v1/flows/archive_registration/imports",
            &w.school_tok,
            file,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(
        (
            b["read"].as_i64(),
            b["registered"].as_i64(),
            b["updated"].as_i64(),
            b["refused"].as_i64()
        ),
        (Some(5), Some(1), Some(1), Some(3)),
        "{}",
        r.text
    );
    assert_eq!(b["stopped_at"], 7, "{}", r.text);
    let errors: Vec<(i64, String, String)> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["label"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 3, "{}", r.text);
    assert_eq!(
        (errors[0].0, errors[0].1.as_str()),
        (4, "邮政编码"),
        "{}",
        r.text
    );
    assert_eq!(
        errors[1],
        (5, "考生号".to_string(), "not_on_roster".to_string())
    );
    assert_eq!(
        errors[2],
        (6, "姓名".to_string(), "name_mismatch".to_string())
    );
    assert!(
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("第4行 邮政编码："),
        "{}",
        r.text
    );
    let report = sheet(&app, b["error_report"].as_str().unwrap(), &w.school_tok).await;
    assert_eq!(report.len(), 4, "{report:?}");
    assert_eq!(report[1][0], "4");
    // What the import did: 王五 registered without review, 张三's data changed and synced.
    let t = |s: &str| s.to_string();
    let mut now = statuses(&app, &w.school_tok, "archive", "").await;
    now.sort();
    assert_eq!(
        now,
        [
            (t("张三"), t("registered 已登记")),
            (t("王五"), t("registered 已登记")),
            (t("赵六"), t("unregistered 未登记"))
        ]
    );
    assert_eq!(
        view(&app, &w.school_tok, zhang_id).await["vars"]["receiver_name"],
        "张三的新单位"
    );
    synced(&hook, zhang_id, "张三的新单位").await;
    // A graduate with an application waiting is reviewed first, not overwritten.
    let zhao = other_dept_graduate(&app, &w, "g3", w.graduate_41).await;
    let r = start(&app, &zhao, "archive_registration", unit()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let file = workbook(&[
        template[0].iter().map(String::as_str).collect(),
        row(
            "26320102150004",
            "赵六",
            "320102200003031232",
            "赵六的单位",
            "210008",
        ),
    ]);
    let r = app
        .post_bytes(
            "/api/v1/flows/archive_registration/imports",
            &w.school_tok,
            file,
        )
        .await;
    assert_eq!(r.body["refused"], 1, "{}", r.text);
    assert_eq!(
        r.body["errors"][0]["code"], "pending_application",
        "{}",
        r.text
    );
    // No archive module (the department's default): no import.
    let file = workbook(&[template[0].iter().map(String::as_str).collect()]);
    app.post_bytes(
        "/api/v1/flows/archive_registration/imports",
        &w.other_dept_tok,
        file,
    )
    .await
    .refused(403, "forbidden");
}

/// A paper supplement (补登) of 张三's, approved with 档案转递类型 and 户口迁移类型 签约单位接收.
fn supplement(image: &str) -> Value {
    json!({
        "employer_name": "南京某某信息技术有限公司", "credit_code": "91350100M000100Y43", "employer_nature": "39",
        "industry": "34", "employer_region": "320100", "employer_address": "南京市鼓楼区汉口路22号",
        "job_category": "13", "position": "软件工程师", "contact_person": "王经理", "contact_mobile": "13912345678",
        "archive_transfer": "1", "hukou_migration": "1", "paper_image": image
    })
}

/// The instance of `flow` registered for the graduate `name` (waiting for it: an intake runs
/// when the signing's event is delivered).
async fn registered_instance(app: &App, tok: &str, list: &str, name: &str) -> Value {
    for _ in 0..300 {
        let r = app
            .get(&format!("/api/v1/lists/{list}?status=all&name={name}"), tok)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        if let Some(item) = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["state"] == "registered")
        {
            return item.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no registered {list} instance of {name}");
}

/// Every state and action of both flows over HTTP (the coverage report fails on a missed one):
/// data arriving from an approved agreement (来自签约), changes before review and after
/// registration, reviewers' edits, rejections and re-applications, a school's direct
/// registration, and the roster's removal (pending ⇒ 审核不通过, registered ⇒ 已失效) and restore
/// (nothing restored: the graduate registers again).
async fn every_state_and_action(backend: Backend) {
    let (hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    let rows = roster_with_origins("320105", "320111");
    upload_roster(&app, rows.clone()).await;
    let province = province_user(&app, "p32", "32").await;
    switch_on(&app, &w, &province, "rw").await;
    let wang = other_dept_graduate(&app, &w, "g2", w.graduate_21).await;
    let zhao = other_dept_graduate(&app, &w, "g3", w.graduate_41).await;
    let mut ids = std::collections::BTreeSet::new();
    let id_of = |r: &Resp| -> i64 {
        assert!(r.status < 300, "{}", r.text);
        r.body["id"].as_i64().unwrap()
    };

    // 来自签约: 张三's approved paper supplement registers both, from the agreement's data.
    let image = app
        .post_bytes(
            "/api/v1/uploads?purpose=image",
            &w.graduate_tok,
            support::files::plain_png(400, 300),
        )
        .await;
    assert_eq!(image.status, 200, "{}", image.text);
    let r = app
        .post(
            "/api/v1/flows/paper_supplement/instances",
            &w.graduate_tok,
            json!({"input": supplement(image.body["id"].as_str().unwrap())}),
        )
        .await;
    let paper = id_of(&r);
    let r = act(&app, &w.school_tok, paper, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let archive = registered_instance(&app, &w.school_tok, "archive", "张三").await;
    let zhang_archive = archive["id"].as_i64().unwrap();
    let v = view(&app, &w.school_tok, zhang_archive).await;
    assert_eq!(v["vars"]["source"]["flow"], "paper_supplement", "{v}");
    assert_eq!(v["vars"]["source"]["instance_id"], paper, "{v}");
    assert_eq!(
        v["vars"]["receiver_name"], "南京某某信息技术有限公司",
        "{v}"
    );
    assert_eq!(v["vars"]["contact_phone"], "13912345678", "{v}");
    synced(&hook, zhang_archive, "南京某某信息技术有限公司").await;
    assert_eq!(
        notified(
            &hook,
            zhang_archive,
            "intake:agreement.signed",
            "无需再次登记",
            1
        )
        .await,
        ["wechat"],
        "the graduate is told the agreement registered it"
    );
    let zhang_hukou = registered_instance(&app, &w.school_tok, "hukou", "张三").await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        view(&app, &w.school_tok, zhang_hukou).await["vars"]["migration_address"],
        "南京市鼓楼区汉口路22号"
    );
    // The review detail: the data in force, where it came from, and the destination only for
    // users of the employment module (读写 or 只读).
    let review = format!("/api/v1/instances/{zhang_archive}/review");
    let r = app.get(&review, &w.school_tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let reg = &r.body["registration"];
    assert_eq!(reg["status"], "已登记", "{}", r.text);
    assert_eq!(
        reg["registered"]["receiver_name"], "南京某某信息技术有限公司",
        "{}",
        r.text
    );
    assert_eq!(reg["source"]["instance_id"], paper, "{}", r.text);
    assert_eq!(reg["destination"]["flow"], "paper_supplement", "{}", r.text);
    let dept = account_id(&app, &w.dept_tok).await;
    let p = app
        .put(
            &format!("/api/v1/accounts/{dept}/permissions"),
            &w.school_tok,
            json!({"employment": "none", "archive": "rw", "hukou": "none"}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let r = app.get(&review, &w.dept_tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["registration"].get("destination").is_none(),
        "{}",
        r.text
    );
    assert!(
        r.body["sent_to_management_system"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["flow"] != "paper_supplement"),
        "{}",
        r.text
    );
    // The graduate need not (and cannot) register again.
    start(&app, &w.graduate_tok, "archive_registration", unit())
        .await
        .refused(409, "slot_taken");
    ids.extend([zhang_archive, zhang_hukou]);

    // The school modifies the agreement (修改): the archive registered from it follows — also
    // while a change applied for waits (it stays staged); the graduate is told.
    modify_agreement(&app, &w, paper, json!({"contact_mobile": "13800001111"})).await;
    let follows = |phone: &'static str| {
        let (app, tok) = (&app, w.school_tok.clone());
        async move {
            for _ in 0..300 {
                let v = view(app, &tok, zhang_archive).await;
                if v["vars"]["contact_phone"] == phone {
                    return v;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the archive never followed the agreement to {phone}");
        }
    };
    let v = follows("13800001111").await;
    assert_eq!(
        v["vars"]["source"]["taken"]["contact_phone"], "13800001111",
        "{v}"
    );
    assert_eq!(
        v["vars"]["receiver_name"], "南京某某信息技术有限公司",
        "only what changed: {v}"
    );
    assert_eq!(
        notified(&hook, zhang_archive, "follow_signing", "随之更新", 1).await,
        ["wechat"]
    );
    let r = act(&app, &w.graduate_tok, zhang_archive, "apply_modify", unit()).await;
    assert_eq!(r.body["state"], "modifying", "{}", r.text);
    modify_agreement(&app, &w, paper, json!({"contact_mobile": "13800002222"})).await;
    let v = follows("13800002222").await;
    assert_eq!(
        (
            v["state"].as_str(),
            v["vars"]["staged"]["contact_phone"].as_str()
        ),
        (Some("modifying"), unit()["contact_phone"].as_str()),
        "{v}"
    );
    let r = act(
        &app,
        &w.school_tok,
        zhang_archive,
        "reject",
        json!({"reason_category": "其他", "reason": "请核实"}),
    )
    .await;
    assert_eq!(r.body["state"], "registered", "{}", r.text);

    // After registration: a change applied for, changed again before review, edited by the
    // school, rejected (the data stays); the school edits registered data directly.
    let mut change = unit();
    change["receiver_name"] = json!("新单位人事处");
    for (id, input) in [
        (zhang_archive, change.clone()),
        (
            zhang_hukou,
            json!({"transfer_type": "3", "migration_region": "320106", "migration_address": "鼓楼区人才中心"}),
        ),
    ] {
        let r = act(&app, &w.graduate_tok, id, "apply_modify", input.clone()).await;
        assert_eq!(r.body["state"], "modifying", "{}", r.text);
        let r = app
            .get(&format!("/api/v1/instances/{id}/review"), &w.school_tok)
            .await;
        let reg = &r.body["registration"];
        assert_eq!(reg["application_type"], "修改", "{}", r.text);
        assert_eq!(
            reg["pending"]["transfer_type"], input["transfer_type"],
            "{}",
            r.text
        );
        assert_eq!(reg["registered"]["transfer_type"], "1", "{}", r.text);
        let r = act(&app, &w.graduate_tok, id, "change", input.clone()).await;
        assert_eq!(r.body["state"], "modifying", "{}", r.text);
        let r = act(&app, &w.school_tok, id, "edit", input.clone()).await;
        assert_eq!(r.body["state"], "modifying", "{}", r.text);
        let r = act(
            &app,
            &w.school_tok,
            id,
            "reject",
            json!({"reason_category": "其他", "reason": "请核实"}),
        )
        .await;
        assert_eq!(r.body["state"], "registered", "{}", r.text);
        let r = act(&app, &w.school_tok, id, "edit", input).await;
        assert_eq!(r.body["state"], "registered", "{}", r.text);
    }
    assert_eq!(
        view(&app, &w.school_tok, zhang_archive).await["vars"]["receiver_name"],
        "新单位人事处"
    );
    // Changed by the school since: a later modification of the agreement leaves it.
    modify_agreement(&app, &w, paper, json!({"contact_mobile": "13800003333"})).await;
    outbox_drained(&app).await;
    assert_eq!(
        view(&app, &w.school_tok, zhang_archive).await["vars"]["contact_phone"],
        "025-83591234"
    );
    // A hukou change approved: in force from then on.
    let moved = json!({"transfer_type": "2", "migration_region": "320106", "migration_address": "鼓楼区组织部"});
    act(&app, &w.graduate_tok, zhang_hukou, "apply_modify", moved).await;
    let r = act(&app, &w.school_tok, zhang_hukou, "approve", json!({})).await;
    assert_eq!(r.body["state"], "registered", "{}", r.text);
    assert_eq!(
        view(&app, &w.school_tok, zhang_hukou).await["vars"]["migration_address"],
        "鼓楼区组织部"
    );

    // 王五: applies, changes before review, the school edits, rejects; applies again, approved.
    // Hukou: applies, rejected, applies again (pending).
    let first = id_of(&start(&app, &wang, "archive_registration", unit()).await);
    act(&app, &wang, first, "change", change.clone()).await;
    act(&app, &w.school_tok, first, "edit", unit()).await;
    let r = act(
        &app,
        &w.school_tok,
        first,
        "reject",
        json!({"reason_category": "其他", "reason": "请核实"}),
    )
    .await;
    assert_eq!(r.body["state"], "rejected", "{}", r.text);
    let wang_archive = id_of(&start(&app, &wang, "archive_registration", unit()).await);
    act(&app, &w.school_tok, wang_archive, "approve", json!({})).await;
    let hukou = json!({"transfer_type": "4", "migration_region": "320105", "migration_address": "玄武区北京东路41号"});
    let first_hukou = id_of(&start(&app, &wang, "hukou_registration", hukou.clone()).await);
    act(&app, &wang, first_hukou, "change", hukou.clone()).await;
    act(&app, &w.school_tok, first_hukou, "edit", hukou.clone()).await;
    act(
        &app,
        &w.school_tok,
        first_hukou,
        "reject",
        json!({"reason_category": "其他", "reason": "请核实"}),
    )
    .await;
    let wang_hukou = id_of(&start(&app, &wang, "hukou_registration", hukou).await);
    // 赵六: an archive application waiting; the hukou registered directly by the school.
    let zhao_archive = id_of(
        &start(
            &app,
            &zhao,
            "archive_registration",
            back_to_origin("320111"),
        )
        .await,
    );
    let r = app
        .post(
            "/api/v1/flows/hukou_registration/instances",
            &w.school_tok,
            json!({"graduate_id": w.graduate_41, "input": {"transfer_type": "3", "migration_region": "320106", "migration_address": "鼓楼区人才中心"}}),
        )
        .await;
    let zhao_hukou = id_of(&r);
    assert_eq!(r.body["state"], "registered", "{}", r.text);
    ids.extend([
        first,
        wang_archive,
        first_hukou,
        wang_hukou,
        zhao_archive,
        zhao_hukou,
    ]);

    // Leaving the roster: pending ⇒ 审核不通过, registered ⇒ 已失效; restored, nothing returns.
    for (row, pending, registered) in [
        (rows[1].clone(), wang_hukou, wang_archive),
        (rows[2].clone(), zhao_archive, zhao_hukou),
    ] {
        let school = w.school_tok.clone();
        remove_and_restore_row(&app, row, || async {
            for _ in 0..300 {
                let (p, r) = (
                    view(&app, &school, pending).await["state"].clone(),
                    view(&app, &school, registered).await["state"].clone(),
                );
                if p == "rejected" && r == "invalidated" {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("removal did not reach {pending} and {registered}");
        })
        .await;
        assert_eq!(
            view(&app, &w.school_tok, pending).await["state"],
            "rejected"
        );
        assert_eq!(
            view(&app, &w.school_tok, registered).await["state"],
            "invalidated"
        );
    }
    let t = |s: &str| s.to_string();
    let mut now = statuses(&app, &w.school_tok, "archive", "").await;
    now.sort();
    assert_eq!(
        now,
        [
            (t("张三"), t("registered 已登记")),
            (t("王五"), t("unregistered 未登记")),
            (t("赵六"), t("unregistered 未登记"))
        ]
    );
    // Restored, 王五 registers again.
    let r = start(&app, &wang, "archive_registration", unit()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    ids.insert(id_of(&r));

    ids.extend(flow_back(&app, &w, &hook, &zhao, zhang_hukou).await);
    coverage(&app, &ids, &["archive_registration", "hukou_registration"]).await;
}

/// 就业管理系统回流 (after `every_state_and_action`'s removals: 赵六 registered nothing, 王五's
/// archive waits for review, 张三's hukou `zhang_hukou` is registered): the management system's
/// roster key registers 赵六's archive and hukou and changes them, changes 张三's hukou — also
/// while a change applied for waits (the registered data changes, the change stays staged);
/// each checked like a registration, audited under the key, the source recorded, the graduate
/// told, nothing synced back. Returns the instances it made.
async fn flow_back(
    app: &App,
    w: &World,
    hook: &WebhookReceiver,
    zhao_tok: &str,
    zhang_hukou: i64,
) -> Vec<i64> {
    let key = app
        .post(
            "/api/v1/api-keys",
            &w.school_tok,
            json!({"name": "南京大学就业管理系统"}),
        )
        .await;
    assert_eq!(key.status, 200, "{}", key.text);
    let key = key.body["key"].as_str().unwrap().to_string();
    let put = |candidate_no: &'static str, flow: &'static str, input: Value| {
        let (app, key) = (app, key.clone());
        async move {
            app.put(
                &format!("/api/v1/roster/graduates/{candidate_no}/registrations/{flow}"),
                &key,
                json!({ "input": input }),
            )
            .await
        }
    };
    let (wang, zhao) = ("26320102150003", "26320102150004");

    // A school user cannot deliver it; refusals name the field and the rule, nothing is made.
    let r = app
        .put(
            &format!("/api/v1/roster/graduates/{zhao}/registrations/archive_registration"),
            &w.school_tok,
            json!({"input": back_to_origin("320111")}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let mut incomplete = back_to_origin("320111");
    incomplete.as_object_mut().unwrap().remove("postal_code");
    let r = put(zhao, "archive_registration", incomplete).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("postal_code"), "{}", r.text);
    let r = put(zhao, "archive_registration", back_to_origin("320106")).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("origin_region_locked")),
        "back to origin stays locked to the origin: {}",
        r.text
    );
    let mut with_file = back_to_origin("320111");
    with_file["proof"] = json!("u-someone-elses-upload");
    let r = put(zhao, "archive_registration", with_file).await;
    assert_eq!(r.body["code"], "file_not_accepted", "{}", r.text);
    let r = put(wang, "archive_registration", unit()).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("pending_application")),
        "{}",
        r.text
    );
    assert_eq!(
        statuses(app, &w.school_tok, "archive", "")
            .await
            .into_iter()
            .find(|(n, _)| n == "赵六")
            .unwrap()
            .1,
        "unregistered 未登记"
    );

    // 赵六 has no registration: the management system's data registers it (no review).
    let r = put(zhao, "archive_registration", back_to_origin("320111")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["outcome"].as_str(), r.body["state"].as_str()),
        (Some("registered"), Some("registered")),
        "{}",
        r.text
    );
    let archive = r.body["instance_id"].as_i64().unwrap();
    let v = view(app, &w.school_tok, archive).await;
    assert_eq!(
        v["vars"]["source"]["system"], "employment_management_system",
        "{v}"
    );
    assert_eq!(v["vars"]["receiver_region"], "320111", "{v}");
    // Changed again there: the registered data changes, still no review.
    let mut changed = back_to_origin("320111");
    changed["receiver_name"] = json!("南京市浦口区人才服务中心");
    let r = put(zhao, "archive_registration", changed).await;
    assert_eq!(
        (
            r.status,
            r.body["outcome"].as_str(),
            r.body["instance_id"].as_i64()
        ),
        (200, Some("updated"), Some(archive)),
        "{}",
        r.text
    );
    let v = view(app, &w.school_tok, archive).await;
    assert_eq!(
        v["vars"]["receiver_name"], "南京市浦口区人才服务中心",
        "{v}"
    );
    assert_eq!(v["state"], "registered", "{v}");
    // While 赵六's own change waits for review, the management system's data changes the
    // registered data; the staged change stays for the reviewer.
    let r = act(app, zhao_tok, archive, "apply_modify", unit()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut again = back_to_origin("320111");
    again["receiver_name"] = json!("南京市浦口区人才交流中心");
    let r = put(zhao, "archive_registration", again).await;
    assert_eq!(
        (
            r.status,
            r.body["outcome"].as_str(),
            r.body["state"].as_str()
        ),
        (200, Some("updated"), Some("modifying")),
        "{}",
        r.text
    );
    let v = view(app, &w.school_tok, archive).await;
    assert_eq!(
        (
            v["vars"]["receiver_name"].as_str(),
            v["vars"]["staged"]["receiver_name"].as_str()
        ),
        (
            Some("南京市浦口区人才交流中心"),
            unit()["receiver_name"].as_str()
        ),
        "{v}"
    );

    // Hukou: 赵六 registered, 张三's (from signing) changed.
    let hukou = json!({"transfer_type": "3", "migration_region": "320106", "migration_address": "鼓楼区人才中心集体户"});
    let r = put(zhao, "hukou_registration", hukou.clone()).await;
    assert_eq!(r.body["outcome"], "registered", "{}", r.text);
    let zhao_hukou = r.body["instance_id"].as_i64().unwrap();
    let r = put("26320102150001", "hukou_registration", hukou).await;
    assert_eq!(
        (r.body["outcome"].as_str(), r.body["instance_id"].as_i64()),
        (Some("updated"), Some(zhang_hukou)),
        "{}",
        r.text
    );
    assert_eq!(
        view(app, &w.school_tok, zhang_hukou).await["vars"]["migration_address"],
        "鼓楼区人才中心集体户"
    );
    let moved = json!({"transfer_type": "3", "migration_region": "320106", "migration_address": "鼓楼区人才中心"});
    let r = act(app, &w.graduate_tok, zhang_hukou, "apply_modify", moved).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let back = json!({"transfer_type": "3", "migration_region": "320106", "migration_address": "鼓楼区人才中心二号集体户"});
    let r = put("26320102150001", "hukou_registration", back).await;
    assert_eq!(
        (r.body["outcome"].as_str(), r.body["state"].as_str()),
        (Some("updated"), Some("modifying")),
        "{}",
        r.text
    );
    let v = view(app, &w.school_tok, zhang_hukou).await;
    assert_eq!(
        (
            v["vars"]["migration_address"].as_str(),
            v["vars"]["staged"]["migration_address"].as_str()
        ),
        (Some("鼓楼区人才中心二号集体户"), Some("鼓楼区人才中心")),
        "{v}"
    );

    // Audited under the key, readable by the school; the graduate is told; nothing goes back.
    for (action, n) in [
        (
            "archive_registration.intake:management_system.registered",
            1,
        ),
        ("archive_registration.sync_back", 2),
        ("hukou_registration.sync_back", 2),
    ] {
        let log = app
            .get(&format!("/api/v1/audit-log?action={action}"), &w.school_tok)
            .await;
        assert_eq!(log.status, 200, "{}", log.text);
        let items = log.body["items"].as_array().unwrap();
        assert_eq!(items.len(), n, "{action}: {}", log.text);
        assert_ne!(items[0]["account_id"], 0, "{action}: {}", log.text);
    }
    let told = hook
        .wait_for(
            |r| {
                r.iter()
                    .filter(|m| {
                        m.body["message"]["kind"] == "notify"
                            && m.body["message"]["text"]
                                .as_str()
                                .is_some_and(|t| t.contains("就业管理系统更新了你的"))
                    })
                    .count()
                    >= 2 * 4
            },
            30,
        )
        .await;
    assert!(!told.is_empty());
    assert!(
        !told.iter().any(|m| m.body["message"]["kind"] == "sync"
            && m.body["message"]["vars"]["receiver_name"] == "南京市浦口区人才服务中心"),
        "the flow-back is not synced back"
    );
    vec![archive, zhao_hukou]
}

/// The channels of the notifications instance `id` sent on `action` whose text has `text`,
/// once there are `n` of them.
async fn notified(
    hook: &WebhookReceiver,
    id: i64,
    action: &str,
    text: &str,
    n: usize,
) -> Vec<String> {
    let of = |m: &Value| {
        m["kind"] == "notify"
            && m["instance_id"] == id
            && m["action"] == action
            && m["text"].as_str().is_some_and(|t| t.contains(text))
    };
    let got = hook
        .wait_for(
            |r| r.iter().filter(|m| of(&m.body["message"])).count() >= n,
            30,
        )
        .await;
    let mut channels: Vec<String> = got
        .iter()
        .map(|m| &m.body["message"])
        .filter(|m| of(m))
        .map(|m| m["channel"].as_str().unwrap().to_string())
        .collect();
    channels.sort();
    channels
}

/// Two-level review (先院系再校级): the department's review and its edit inside an application
/// still need the school's; the graduate cannot change once the department acted; each edit
/// by a reviewer tells the graduate by WeChat and SMS, the result once by the default channel.
async fn two_level_review_and_notifications(backend: Backend) {
    let (hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    upload_roster(&app, vec![zhang_san()]).await;
    let province = province_user(&app, "p32", "32").await;
    switch_on(&app, &w, &province, "rw").await;
    for tok in [&w.dept_tok, &w.other_dept_tok] {
        let dept = account_id(&app, tok).await;
        let r = app
            .put(
                &format!("/api/v1/accounts/{dept}/permissions"),
                &w.school_tok,
                json!({"employment": "rw", "archive": "rw", "hukou": "rw"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app
        .put(
            &format!(
                "/api/v1/schools/{}/settings/registration/archive",
                w.school_id
            ),
            &w.school_tok,
            json!({"enabled": true, "review_mode": "department_then_school"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = start(&app, &w.graduate_tok, "archive_registration", unit()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["review_level"], "department", "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    // The school cannot decide at the department's level.
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert!(r.status >= 400, "{}", r.text);
    assert_eq!(
        view(&app, &w.school_tok, id).await["review_level"],
        "department"
    );
    // The department edits: still its review, then the school's.
    let mut edited = unit();
    edited["contact"] = json!("人事部赵老师");
    let r = act(&app, &w.dept_tok, id, "edit", edited.clone()).await;
    assert_eq!(
        (
            r.status,
            r.body["state"].as_str(),
            r.body["review_level"].as_str()
        ),
        (200, Some("reviewing"), Some("department")),
        "{}",
        r.text
    );
    let mut mine = unit();
    mine["contact"] = json!("人事部钱老师");
    let r = act(&app, &w.graduate_tok, id, "change", mine).await;
    assert!(r.status >= 400, "the department acted: {}", r.text);
    let r = act(&app, &w.dept_tok, id, "approve", json!({})).await;
    assert_eq!(
        (r.body["state"].as_str(), r.body["review_level"].as_str()),
        (Some("reviewing"), Some("school")),
        "a department's approval still needs the school's: {}",
        r.text
    );
    let v = view(&app, &w.school_tok, id).await;
    assert_eq!(v["vars"]["contact"], "人事部赵老师", "{v}");
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert_eq!(r.body["state"], "registered", "{}", r.text);
    // A direct edit of registered data by the school: synced and told.
    let mut direct = unit();
    direct["receiver_name"] = json!("南京示例科技有限公司档案室");
    let r = act(&app, &w.school_tok, id, "edit", direct).await;
    assert_eq!(r.body["state"], "registered", "{}", r.text);
    synced(&hook, id, "南京示例科技有限公司档案室").await;

    // Told: each reviewer edit by WeChat and SMS; the result once.
    assert_eq!(
        notified(
            &hook,
            id,
            "edit",
            "学校（院系）修改了你的档案信息登记信息",
            4
        )
        .await,
        ["sms", "sms", "wechat", "wechat"]
    );
    // The result once, when the school decided (the department's approval is not a result).
    assert_eq!(
        notified(&hook, id, "approve", "档案信息已登记", 1).await,
        ["wechat"]
    );
}

/// 张三's school modifies the approved agreement (修改) with action `modify` and `input`.
async fn modify_agreement(app: &App, w: &World, paper: i64, input: Value) {
    let mut input = input;
    input["modify_note"] = json!("学校更正协议信息");
    let r = act(app, &w.school_tok, paper, "modify", input).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// 来自签约, after the fact: an approved agreement naming neither the employer as the archive's
/// nor the hukou's receiver registers nothing; the school corrects 档案转递方式 and 户口迁移方式 to
/// 签约单位接收 (修改) and both are registered from the corrected agreement, the source recorded.
async fn a_modified_agreement_registers_what_it_now_names(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    upload_roster(&app, roster_with_origins("320105", "320111")).await;
    let province = province_user(&app, "p32", "32").await;
    switch_on(&app, &w, &province, "rw").await;
    let image = app
        .post_bytes(
            "/api/v1/uploads?purpose=image",
            &w.graduate_tok,
            support::files::plain_png(400, 300),
        )
        .await;
    let mut input = supplement(image.body["id"].as_str().unwrap());
    input["archive_transfer"] = json!("3");
    input["hukou_migration"] = json!("3");
    let r = start(&app, &w.graduate_tok, "paper_supplement", input).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let paper = r.body["id"].as_i64().unwrap();
    let r = act(&app, &w.school_tok, paper, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    outbox_drained(&app).await;
    for list in ["archive", "hukou"] {
        let zhang = statuses(&app, &w.school_tok, list, "")
            .await
            .into_iter()
            .find(|(n, _)| n == "张三");
        assert_eq!(zhang.unwrap().1, "unregistered 未登记", "{list}");
    }
    modify_agreement(
        &app,
        &w,
        paper,
        json!({"archive_transfer": "1", "hukou_migration": "1"}),
    )
    .await;
    for (list, field, value) in [
        ("archive", "receiver_name", "南京某某信息技术有限公司"),
        ("hukou", "migration_address", "南京市鼓楼区汉口路22号"),
    ] {
        let id = registered_instance(&app, &w.school_tok, list, "张三").await["id"]
            .as_i64()
            .unwrap();
        let v = view(&app, &w.school_tok, id).await;
        assert_eq!(v["vars"][field], value, "{v}");
        assert_eq!(v["vars"]["source"]["instance_id"], paper, "{v}");
    }
}

both_backends!(
    a_modified_agreement_registers_what_it_now_names,
    archive_and_hukou,
    status_per_graduate,
    batch_and_quick_review,
    direct_registration_and_import,
    every_state_and_action,
    two_level_review_and_notifications
);
