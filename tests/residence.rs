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
use support::flows::{upload_roster, zhang_san};
use support::webhook::{self, WebhookReceiver};
use support::world::{act, other_dept_graduate, province_user, world, World};

fn unit() -> Value {
    json!({"transfer_type": "1", "receiver_name": "南京示例科技有限公司人事部", "receiver_region": "320106",
           "receiver_address": "南京市鼓楼区汉口路22号", "postal_code": "210008",
           "contact": "人事部王老师", "contact_phone": "025-83591234"})
}

async fn account_id(app: &App, tok: &str) -> i64 {
    app.get("/api/v1/me", tok).await.body["account_id"]
        .as_i64()
        .unwrap()
}

/// The province switches both modules on, gives the school account `levels` of archive and
/// hukou, and the school switches both on with its own review mode.
async fn switch_on(app: &App, w: &World, province: &str, levels: &str) {
    let r = app
        .put(
            "/api/v1/provinces/32/settings",
            province,
            json!({"archive_enabled": true, "hukou_enabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    switch_levels(app, w, province, levels).await;
    for module in ["archive", "hukou"] {
        let r = app
            .put(
                &format!(
                    "/api/v1/schools/{}/settings/registration/{module}",
                    w.school_id
                ),
                &w.school_tok,
                json!({"enabled": true, "review_mode": "school"}),
            )
            .await;
        assert_eq!(r.status, 200, "{module}: {}", r.text);
    }
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
    let hook = webhook::start().await;
    let app = spawn_on(
        backend,
        AppOptions {
            webhook_url: Some(hook.url()),
            ..AppOptions::default()
        },
    )
    .await;
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
    let mut hukou = hukou;
    hukou["migration_region"] = json!("320102");
    let r = start(&app, &w.graduate_tok, "hukou_registration", hukou).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hukou_id = r.body["id"].as_i64().unwrap();

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

async fn switch_levels(app: &App, w: &World, province: &str, levels: &str) {
    let school = account_id(app, &w.school_tok).await;
    let r = app
        .put(
            &format!("/api/v1/accounts/{school}/permissions"),
            province,
            json!({"employment": "rw", "archive": levels, "hukou": levels}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

both_backends!(archive_and_hukou, status_per_graduate);
