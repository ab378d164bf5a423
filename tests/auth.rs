//! End to end: password login (argon2) issues an expiring bearer token; wrong passwords and
//! unknown users get the same refusal; logout revokes the token at once; an expired token is
//! refused with its own code.

mod support;

use serde_json::json;
use support::app::{spawn_on, AppOptions, Backend};
use support::world::ok;

async fn login_logout_expiry(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let admin = app.admin_token.clone();
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "32", "name": "江苏省"}),
    )
    .await;
    let weak = app
        .post("/api/v1/admin/accounts", &admin, json!({"username": "p1", "role": "province", "province_code": "32", "password": "short"}))
        .await;
    assert_eq!(weak.status, 422, "{}", weak.text);
    assert_eq!(weak.body["code"], "weak_password");
    ok(&app, "/api/v1/admin/accounts", json!({"username": "p1", "role": "province", "province_code": "32", "password": "江苏就业2026!"})).await;

    for (user, pass) in [("p1", "wrong-password"), ("nobody", "江苏就业2026!")] {
        let r = app
            .post(
                "/api/v1/auth/login",
                "",
                json!({"username": user, "password": pass}),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.body["code"], "login_failed");
        assert_eq!(r.body["message"], "用户名或密码错误");
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            "",
            json!({"username": "p1", "password": "江苏就业2026!"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(r.body["expires_at"].is_string());
    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.body["role"], "province");
    assert_eq!(me.body["province"], "32");

    // Twelve hours later the session has expired.
    app.post(
        "/api/v1/admin/clock",
        &admin,
        json!({"advance_seconds": 12 * 3600 + 1}),
    )
    .await;
    let r = app.get("/api/v1/me", &token).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["code"], "token_expired");

    // A new login works; logout revokes it immediately (also from the cache).
    let token = app
        .post(
            "/api/v1/auth/login",
            "",
            json!({"username": "p1", "password": "江苏就业2026!"}),
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/api/v1/me", &token).await.status, 200);
    assert_eq!(
        app.post("/api/v1/auth/logout", &token, json!({}))
            .await
            .status,
        200
    );
    let r = app.get("/api/v1/me", &token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["code"], "unauthorized");
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_logout_expiry() {
        super::login_logout_expiry(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_logout_expiry() {
        super::login_logout_expiry(super::Backend::Postgres).await
    }
}
