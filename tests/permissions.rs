//! End to end: module permission levels and module switches. A read-only reviewer may view but
//! not decide; "none" cannot enter the module; a province sets its own schools' levels only, a
//! school its own departments'; flows refuse to start until province and school switched the
//! module on.

mod support;

use serde_json::json;
use support::app::{spawn_on, AppOptions, Backend};
use support::world::{account, act, invite, ok, world, DEPT};

async fn levels_and_switches(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let school_acc = ok(
        &app,
        "/api/v1/admin/accounts",
        json!({"username": "s-ro", "role": "school", "province_code": "32", "school_id": 1}),
    )
    .await;
    let (ro_id, ro_tok) = (
        school_acc["id"].as_i64().unwrap(),
        school_acc["token"].as_str().unwrap().to_string(),
    );
    let province_tok = account(
        &app,
        json!({"username": "p32", "role": "province", "province_code": "32"}),
    )
    .await;
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "11", "name": "北京市"}),
    )
    .await;
    let other_province_tok = account(
        &app,
        json!({"username": "p11", "role": "province", "province_code": "11"}),
    )
    .await;
    let dept = ok(&app, "/api/v1/admin/accounts", json!({"username": "d-x", "role": "department", "province_code": "32", "school_id": 1, "department": DEPT})).await;
    let dept_id = dept["id"].as_i64().unwrap();

    let id = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    act(&app, &w.graduate_tok, id, "accept", json!({})).await;

    // Province 11 cannot touch province 32's school account; a bad level names the field.
    let levels = json!({"employment": "ro", "archive": "none", "hukou": "none"});
    let r = app
        .put(
            &format!("/api/v1/accounts/{ro_id}/permissions"),
            &other_province_tok,
            levels.clone(),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .put(
            &format!("/api/v1/accounts/{ro_id}/permissions"),
            &province_tok,
            json!({"employment": "write", "archive": "none", "hukou": "none"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("employment："),
        "{}",
        r.text
    );
    // A province does not manage department accounts directly.
    let r = app
        .put(
            &format!("/api/v1/accounts/{dept_id}/permissions"),
            &province_tok,
            levels.clone(),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .put(
            &format!("/api/v1/accounts/{ro_id}/permissions"),
            &province_tok,
            levels.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Read-only: may view and list, may not decide.
    assert_eq!(
        app.get(&format!("/api/v1/instances/{id}"), &ro_tok)
            .await
            .status,
        200
    );
    assert_eq!(app.get("/api/v1/tasks", &ro_tok).await.body["total"], 1);
    let r = act(&app, &ro_tok, id, "approve", json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.body["message"].as_str().unwrap().contains("只读"),
        "{}",
        r.text
    );

    // None: cannot enter the module at all.
    let r = app
        .put(
            &format!("/api/v1/accounts/{ro_id}/permissions"),
            &province_tok,
            json!({"employment": "none", "archive": "none", "hukou": "none"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app.get(&format!("/api/v1/instances/{id}"), &ro_tok).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.body["message"].as_str().unwrap().contains("没有"),
        "{}",
        r.text
    );

    // A school manages its department accounts; a department cannot manage anyone.
    let r = app
        .put(
            &format!("/api/v1/accounts/{dept_id}/permissions"),
            &w.school_tok,
            json!({"employment": "rw", "archive": "rw", "hukou": "ro"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["permissions"]["hukou"], "ro");
    // The change is in the school's audit log, with the levels before and after.
    let log = app
        .get(
            "/api/v1/audit-log?action=account.permissions",
            &w.school_tok,
        )
        .await;
    assert_eq!(log.status, 200, "{}", log.text);
    let target = dept_id.to_string();
    let rec = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["target_id"] == target.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no record: {}", log.text));
    assert_eq!(rec["target_kind"], "account");
    assert_eq!(
        rec["detail"]["after"],
        json!({"employment": "rw", "archive": "rw", "hukou": "ro"}),
        "{rec}"
    );
    assert!(rec["detail"]["before"].is_object(), "{rec}");
    let r = app
        .put(
            &format!("/api/v1/accounts/{dept_id}/permissions"),
            &w.dept_tok,
            levels.clone(),
        )
        .await;
    assert_eq!(r.status, 403);

    // Module switches: the school switched off ⇒ no new flows, with the reason.
    ok(&app, "/api/v1/admin/schools", json!({"code": "10284", "name": "南京大学", "province_code": "32", "signing_enabled": false})).await;
    let r = invite(&app, &w.employer2_tok, w.graduate_21).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["code"], "module_disabled");
    assert!(
        r.body["message"].as_str().unwrap().contains("学校尚未开启"),
        "{}",
        r.text
    );
    // The province not enabled ⇒ refused for every school of it.
    ok(&app, "/api/v1/admin/schools", json!({"code": "10284", "name": "南京大学", "province_code": "32", "signing_enabled": true})).await;
    ok(&app, "/api/v1/admin/provinces", json!({"code": "32", "name": "江苏省", "agreement_type": "two_party", "employment_enabled": false})).await;
    let r = invite(&app, &w.employer2_tok, w.graduate_41).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.body["message"].as_str().unwrap().contains("本省尚未开启"),
        "{}",
        r.text
    );
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn levels_and_switches() {
        super::levels_and_switches(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn levels_and_switches() {
        super::levels_and_switches(super::Backend::Postgres).await
    }
}
