//! End to end: definitions change without recompiling. Uploaded versions serve new instances
//! while running ones stay pinned (also across a restart); a version cannot be changed; a
//! broken upload or reload is refused and the old set keeps serving; a province overlay applies
//! to that province only; province parameters are scoped to the province's own users.

mod support;

use serde_json::json;
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::{account, act, invite, ok, world, World, DEPT};

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
    let w: World = world(&app, "school").await;
    let admin = app.admin_token.clone();
    let old = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(old.body["definition"], "online_signing@1");
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
        .replace("version: 1", "version: 2")
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
        "online_signing@1"
    );

    // Version 2 serves new instances; the running one stays on version 1.
    let v2 = flow_source()
        .replace("version: 1", "version: 2")
        .replace("单位发起签约，等待学生应约", "单位已发起签约，请学生应约");
    let r = app
        .post_text("/api/v1/admin/definitions", &admin, &v2)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = invite(&app, &w.employer_tok, w.graduate_21).await;
    assert_eq!(new.status, 422, "guards still apply: {}", new.text);
    let (bj_graduate, bj_tok) = second_province(&app).await;
    let new = invite(&app, &w.employer_tok, bj_graduate).await;
    assert_eq!(new.body["definition"], "online_signing@2", "{}", new.text);
    assert_eq!(new.body["label"], "单位已发起签约，请学生应约");

    // The pinned instance survives a restart and still completes on version 1.
    app.restart().await;
    let v = app
        .get(&format!("/api/v1/instances/{old_id}"), &w.graduate_tok)
        .await;
    assert_eq!(v.body["definition"], "online_signing@1", "{}", v.text);
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
    assert_eq!(bj2.body["definition"], "online_signing@2", "{}", bj2.text);

    // A province overlay: province 32 reviews with an extra provincial level; 11 does not.
    let overlay = flow_source()
        .replace("version: 1", "version: 1\nprovince: \"32\"")
        .replace(
            "      attest_by_agreement_type: true",
            "      attest_by_agreement_type: true\n      extra_levels: [province]",
        );
    let province_tok = account(
        &app,
        json!({"username": "p32", "role": "province", "province_code": "32"}),
    )
    .await;
    let other_province_tok = account(
        &app,
        json!({"username": "p11", "role": "province", "province_code": "11"}),
    )
    .await;
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
    let js = invite(&app, &w.employer2_tok, w.graduate).await;
    // 张三 already holds an agreement: the overlay's guard (same script) still refuses.
    assert_eq!(js.status, 422, "{}", js.text);
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
    assert_eq!(js.body["definition"], "online_signing@1+32", "{}", js.text);
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
    assert_eq!(bj.body["definition"], "online_signing@2");

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
    for d in [
        "online_signing@1",
        "online_signing@2",
        "online_signing@1+32",
    ] {
        assert!(defs.contains(&d), "{defs:?}");
    }
    // Unauthenticated and unknown tokens are refused.
    assert_eq!(app.get("/api/v1/me", "nope").await.status, 401);
    assert_eq!(
        app.get("/api/v1/me", &w.dept_tok).await.body["department"],
        DEPT
    );
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_overlays_and_reload() {
        super::versions_overlays_and_reload(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_overlays_and_reload() {
        super::versions_overlays_and_reload(super::Backend::Postgres).await
    }
}
