//! End to end: province module switches and school settings (SPEC.md 2) with every refusal
//! the guides name, on SQLite and PostgreSQL.

mod support;

use serde_json::{json, Value};
use support::app::{spawn_on, AppOptions, Backend};
use support::world::{account, invite, ok, world, OTHER_DEPT};

fn handler() -> Value {
    json!({"all": {"name": "李老师", "phone": "025-83592233", "address": "南京市鼓楼区汉口路22号", "postal_code": "210093"}})
}

fn signing(review_mode: &str, online: bool, cap: i64) -> Value {
    json!({"online_signing": online, "review_mode": review_mode, "termination_cap": cap, "handler_info": handler()})
}

async fn province_switches(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "41", "name": "河南省"}),
    )
    .await;
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "11", "name": "北京市"}),
    )
    .await;
    let p41 = account(
        &app,
        json!({"username": "p41", "role": "province", "province_code": "41"}),
    )
    .await;
    let p11 = account(
        &app,
        json!({"username": "p11", "role": "province", "province_code": "11"}),
    )
    .await;
    let url = "/api/v1/provinces/41/settings";

    // Another province does not see it; nothing is enabled yet.
    assert_eq!(app.get(url, &p11).await.status, 404);
    let r = app.get(url, &p41).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["modules"],
        json!({"employment": false, "archive": false, "hukou": false})
    );

    // Enabling signing needs the agreement type; a wrong type names the field.
    let r = app
        .put(url, &p41, json!({"employment_enabled": true}))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("agreement_type_required")),
        "{}",
        r.text
    );
    let r = app
        .put(
            url,
            &p41,
            json!({"employment_enabled": true, "agreement_type": "four_party"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("agreement_type："),
        "{}",
        r.text
    );
    let r = app
        .put(
            url,
            &p41,
            json!({"employment_enabled": true, "agreement_type": "three_party"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["agreement_type_label"], "三方协议（学校审核）");
    assert_eq!(r.body["modules"]["employment"], true);

    // Irreversible: no switching off, no other agreement type; archive alone can be enabled.
    let r = app
        .put(url, &p41, json!({"employment_enabled": false}))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("module_irreversible")),
        "{}",
        r.text
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("毕业去向登记与网签"));
    let r = app
        .put(url, &p41, json!({"agreement_type": "two_party"}))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("agreement_type_fixed"))
    );
    let r = app.put(url, &p41, json!({"archive_enabled": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["modules"],
        json!({"employment": true, "archive": true, "hukou": false})
    );
    let r = app.put(url, &p41, json!({"archive_enabled": false})).await;
    assert_eq!(r.status, 409);
    // The province adds its schools and sees which enabled what.
    let r = app
        .post(
            "/api/v1/provinces/41/schools",
            &p41,
            json!({"code": "10459", "name": "郑州大学"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.post(
            "/api/v1/provinces/41/schools",
            &p11,
            json!({"code": "10460", "name": "x"})
        )
        .await
        .status,
        404
    );
    let r = app
        .post(
            "/api/v1/provinces/41/schools",
            &p41,
            json!({"code": "1046", "name": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("school_code_format"))
    );
    ok(
        &app,
        "/api/v1/admin/schools",
        json!({"code": "10001", "name": "北京大学", "province_code": "11"}),
    )
    .await;
    let r = app
        .post(
            "/api/v1/provinces/41/schools",
            &p41,
            json!({"code": "10001", "name": "冒名"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("school_in_other_province"))
    );
    let r = app.get("/api/v1/provinces/41/schools", &p41).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(
        (
            r.body["items"][0]["code"].as_str(),
            r.body["items"][0]["signing"]["online_signing"].as_bool(),
            r.body["items"][0]["saved"].as_bool()
        ),
        (Some("10459"), Some(false), Some(false))
    );

    // Nothing was lost by the refusals.
    let r = app.get(url, &p41).await;
    assert_eq!(r.body["agreement_type"], "three_party");
    assert_eq!(
        r.body["modules"],
        json!({"employment": true, "archive": true, "hukou": false})
    );
}

async fn school_signing_settings(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let url = "/api/v1/schools/1/settings/signing";

    // Field rules: cap 0–99, handler info shape, review mode values.
    let r = app
        .put(url, &w.school_tok, signing("school", true, 100))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["field"], "termination_cap");
    let mut bad = signing("school", true, 3);
    bad["handler_info"] = json!({"undergraduate": {"name": "", "phone": "12345", "address": "x", "postal_code": "2100"}});
    let r = app.put(url, &w.school_tok, bad).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let mut fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "handler_info.undergraduate.name",
            "handler_info.undergraduate.phone",
            "handler_info.undergraduate.postal_code"
        ],
        "{}",
        r.text
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("本专科经办人信息"));
    let r = app
        .put(url, &w.school_tok, signing("two_level", true, 3))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("invalid_review_mode"))
    );

    // Departments and province users may look but not change.
    let r = app.put(url, &w.dept_tok, signing("school", true, 3)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/schools/1/settings", &w.dept_tok)
            .await
            .status,
        200
    );

    // Two-level review needs a read-write department account for every roster department.
    let p32 = account(
        &app,
        json!({"username": "p32", "role": "province", "province_code": "32"}),
    )
    .await;
    let accounts = app
        .get("/api/v1/accounts?role=department", &w.school_tok)
        .await;
    let other = accounts.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["department"] == OTHER_DEPT)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = app
        .put(
            &format!("/api/v1/accounts/{other}/permissions"),
            &w.school_tok,
            json!({"employment": "ro", "archive": "none", "hukou": "none"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .put(
            url,
            &w.school_tok,
            signing("department_then_school", true, 5),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("department_accounts_missing")),
        "{}",
        r.text
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("外国语学院（院系账号没有读写权限）"),
        "{}",
        r.text
    );
    assert_eq!(r.body["errors"][0]["label"], OTHER_DEPT);
    let before = app.get("/api/v1/schools/1/settings", &p32).await;
    assert_eq!(
        before.body["signing"]["review_mode"], "school",
        "refusal changed nothing"
    );
    app.put(
        &format!("/api/v1/accounts/{other}/permissions"),
        &w.school_tok,
        json!({"employment": "rw", "archive": "none", "hukou": "none"}),
    )
    .await;
    let r = app
        .put(
            url,
            &w.school_tok,
            signing("department_then_school", true, 5),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["signing"]["review_mode_label"], "先院系再校级审核");
    assert_eq!(r.body["signing"]["termination_cap"], 5);
    assert_eq!(
        r.body["signing"]["handler_info"]["all"]["postal_code"],
        "210093"
    );

    // Something in flight: the mode cannot change, and the refusal says how much.
    let r = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .put(url, &w.school_tok, signing("school", true, 5))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("review_mode_in_flight")),
        "{}",
        r.text
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("还有 1 条处于流程中的数据"),
        "{}",
        r.text
    );
    // Someone acted: online signing cannot be switched off any more.
    let r = app
        .put(
            url,
            &w.school_tok,
            signing("department_then_school", false, 5),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("signing_irreversible")),
        "{}",
        r.text
    );
    // Other fields still save.
    let r = app
        .put(
            url,
            &w.school_tok,
            signing("department_then_school", true, 0),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["signing"]["termination_cap"], 0);

    // A school that never saved its settings: graduates cannot use the module; once saved, they can.
    let s2 = ok(&app, "/api/v1/admin/schools", json!({"code": "10285", "name": "苏州大学", "province_code": "32", "departments": ["文学院"]})).await["id"].as_i64().unwrap();
    let g = ok(&app, &format!("/api/v1/admin/schools/{s2}/graduates"), json!([
        {"candidate_no": "26320102150099", "id_number": "320102200001011236", "name": "钱七", "department": "文学院"}
    ])).await["ids"][0].as_i64().unwrap();
    let s2_tok = account(
        &app,
        json!({"username": "s-10285", "role": "school", "province_code": "32", "school_id": s2}),
    )
    .await;
    let r = invite(&app, &w.employer_tok, g).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("module_disabled")),
        "{}",
        r.text
    );
    assert!(r.body["message"].as_str().unwrap().contains("学校尚未开启"));
    // School 10284's user cannot touch school 10285.
    assert_eq!(
        app.put(
            &format!("/api/v1/schools/{s2}/settings/signing"),
            &w.school_tok,
            signing("school", true, 3)
        )
        .await
        .status,
        404
    );
    let r = app
        .put(
            &format!("/api/v1/schools/{s2}/settings/signing"),
            &s2_tok,
            signing("school", true, 3),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["saved"], true);
    assert_eq!(invite(&app, &w.employer_tok, g).await.status, 201);
}

async fn registration_settings(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let p32 = account(
        &app,
        json!({"username": "p32", "role": "province", "province_code": "32"}),
    )
    .await;
    let url = "/api/v1/schools/1/settings/registration/archive";
    let body = |mode: &str| json!({"enabled": true, "review_mode": mode});

    // The school account's archive level is "none" by default (SPEC.md 1.1).
    let r = app.put(url, &w.school_tok, body("school")).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let me = app.get("/api/v1/me", &w.school_tok).await;
    let school_acc = me.body["account_id"].as_i64().unwrap();
    let r = app
        .put(
            &format!("/api/v1/accounts/{school_acc}/permissions"),
            &p32,
            json!({"employment": "rw", "archive": "rw", "hukou": "rw"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Not enabled by the province yet.
    let r = app.put(url, &w.school_tok, body("school")).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("module_disabled")),
        "{}",
        r.text
    );
    assert!(r.body["message"].as_str().unwrap().contains("档案信息登记"));
    let r = app
        .put(
            "/api/v1/provinces/32/settings",
            &p32,
            json!({"archive_enabled": true, "hukou_enabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Two-level archive review: the department accounts have no archive level.
    let r = app
        .put(url, &w.school_tok, body("department_then_school"))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("department_accounts_missing")),
        "{}",
        r.text
    );
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2, "{}", r.text);
    let r = app.put(url, &w.school_tok, body("school")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["archive"]["enabled"], true);
    assert_eq!(
        r.body["hukou"]["enabled"], false,
        "archive and hukou are independent"
    );
    let r = app
        .put(
            "/api/v1/schools/1/settings/registration/hukou",
            &w.school_tok,
            json!({"enabled": true, "review_mode": "school"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.put(
            "/api/v1/schools/1/settings/registration/employment",
            &w.school_tok,
            body("school")
        )
        .await
        .status,
        404
    );
    // Nobody acted yet: it may be switched off again.
    let r = app
        .put(
            url,
            &w.school_tok,
            json!({"enabled": false, "review_mode": "school"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The settings view shows each department's coverage per module.
    let r = app.get("/api/v1/schools/1/settings", &w.school_tok).await;
    let cov = &r.body["department_accounts"]["archive"];
    assert_eq!(cov.as_array().unwrap().len(), 2, "{}", r.text);
    assert_eq!(cov[0]["read_write"], 0);
    assert_eq!(r.body["province"]["agreement_type"], "two_party");
}

crate::both_backends!(
    province_switches,
    school_signing_settings,
    registration_settings
);
