//! End to end: the employer search sorted by name, credit code and registration, on SQLite
//! and PostgreSQL. (Registration, search rules and warning employers: tests/org.rs.)

mod support;

use serde_json::json;
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::world;

/// The credit codes of every employer a reviewer lists, in the order `sort` asks for.
async fn employer_order(app: &App, tok: &str, sort: &str) -> Vec<String> {
    let r = app
        .get(&format!("/api/v1/employers?sort={sort}"), tok)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["credit_code"].as_str().unwrap().to_string())
        .collect()
}

async fn sorted_employers(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    // The world's 南京示例科技有限公司 and 苏州另一家公司, then a third registered.
    let r = app
        .post(
            "/api/v1/employers/register",
            "",
            json!({"name": "南京某某网络科技有限公司", "credit_code": "91320100MA1XYW1234",
                   "nature": "39", "industry": "34", "region": "320102",
                   "contact_name": "刘经理", "contact_phone": "13912345678",
                   "username": "emp-a", "password": "单位密码123456"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (first, second, third) = (
        "91350100M000100Y43",
        "91320500MA1N2P3Q4R",
        "91320100MA1XYW1234",
    );
    let tok = &w.school_tok;
    // By code point (某 < 示, 南 < 苏), as both test databases collate.
    assert_eq!(
        employer_order(&app, tok, "name").await,
        [third, first, second]
    );
    assert_eq!(
        employer_order(&app, tok, "-name").await,
        [second, first, third]
    );
    assert_eq!(
        employer_order(&app, tok, "credit_code").await,
        [third, second, first]
    );
    assert_eq!(
        employer_order(&app, tok, "-credit_code").await,
        [first, second, third]
    );
    assert_eq!(
        employer_order(&app, tok, "created_at").await,
        [first, second, third]
    );
    assert_eq!(
        employer_order(&app, tok, "-created_at").await,
        [third, second, first]
    );
    // By name when not asked; a search keeps the order asked for.
    let r = app.get("/api/v1/employers", tok).await;
    assert_eq!(r.body["items"][0]["credit_code"], third, "{}", r.text);
    let r = app
        .get("/api/v1/employers?q=南京&sort=-created_at", tok)
        .await;
    let codes: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["credit_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, [third, first], "{}", r.text);
    app.get("/api/v1/employers?sort=bogus", tok)
        .await
        .refused(422, "invalid_sort");
}

crate::both_backends!(sorted_employers);
