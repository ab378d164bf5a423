//! A small world for the end-to-end tests: one province, one school with two departments,
//! graduates of training modes 10/21/41, two employers and accounts of every role, created
//! through the admin API; plus helpers for the online-signing calls.

use serde_json::{json, Value};

use super::app::{App, Resp};

/// Tokens and ids of a small world: one province, one school with two departments,
/// graduates, two employers, and accounts of every role.
pub struct World {
    pub school_id: i64,
    pub graduate: i64,
    pub graduate_21: i64,
    pub graduate_41: i64,
    pub graduate_tok: String,
    pub employer_tok: String,
    pub employer2_tok: String,
    pub school_tok: String,
    pub school2_tok: String,
    pub dept_tok: String,
    pub other_dept_tok: String,
}

pub const DEPT: &str = "计算机科学与技术系";
pub const OTHER_DEPT: &str = "外国语学院";

pub async fn ok(app: &App, path: &str, body: Value) -> Value {
    let r = app.post(path, &app.admin_token, body.clone()).await;
    assert!(
        r.status < 300,
        "POST {path} {body} -> {} {}",
        r.status,
        r.text
    );
    r.body
}

/// A session of the world's graduate `graduate_id` of 外国语学院 (王五 of training mode 21,
/// 赵六 of 41), who have no account in the world itself.
pub async fn other_dept_graduate(app: &App, w: &World, username: &str, graduate_id: i64) -> String {
    account(app, json!({"username": username, "role": "graduate", "province_code": "32",
                        "school_id": w.school_id, "department": OTHER_DEPT, "graduate_id": graduate_id}))
    .await
}

/// A session of a province user of province `code`.
pub async fn province_user(app: &App, username: &str, code: &str) -> String {
    account(
        app,
        json!({"username": username, "role": "province", "province_code": code}),
    )
    .await
}

pub async fn account(app: &App, body: Value) -> String {
    ok(app, "/api/v1/admin/accounts", body).await["token"]
        .as_str()
        .expect("token")
        .to_string()
}

pub async fn world(app: &App, review_mode: &str) -> World {
    ok(
        app,
        "/api/v1/admin/provinces",
        json!({"code": "32", "name": "江苏省", "agreement_type": "two_party", "employment_enabled": true}),
    )
    .await;
    let school_id = ok(
        app,
        "/api/v1/admin/schools",
        json!({"code": "10284", "name": "南京大学", "province_code": "32",
               "review_mode_employment": review_mode, "signing_enabled": true,
               "departments": [DEPT, OTHER_DEPT]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let ids = ok(
        app,
        &format!("/api/v1/admin/schools/{school_id}/graduates"),
        json!([
            {"candidate_no": "26320102150001", "id_number": "11010519491231002X", "name": "张三", "department": DEPT, "training_mode": "10", "mobile": "13800138000"},
            {"candidate_no": "26320102150003", "id_number": "320102200002021235", "name": "王五", "department": OTHER_DEPT, "training_mode": "21"},
            {"candidate_no": "26320102150004", "id_number": "320102200003031230", "name": "赵六", "department": OTHER_DEPT, "training_mode": "41"}
        ]),
    )
    .await["ids"]
        .clone();
    let id = |i: usize| ids[i].as_i64().unwrap();
    let emp1 = ok(
        app,
        "/api/v1/admin/employers",
        json!({"name": "南京示例科技有限公司", "credit_code": "91350100M000100Y43"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let emp2 = ok(
        app,
        "/api/v1/admin/employers",
        json!({"name": "苏州另一家公司", "credit_code": "91320500MA1N2P3Q4R"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    World {
        school_id,
        graduate: id(0),
        graduate_21: id(1),
        graduate_41: id(2),
        graduate_tok: account(app, json!({"username": "g1", "role": "graduate", "province_code": "32", "school_id": school_id, "department": DEPT, "graduate_id": id(0)})).await,
        employer_tok: account(app, json!({"username": "e1", "role": "employer", "employer_id": emp1})).await,
        employer2_tok: account(app, json!({"username": "e2", "role": "employer", "employer_id": emp2})).await,
        school_tok: account(app, json!({"username": "s1", "role": "school", "province_code": "32", "school_id": school_id})).await,
        school2_tok: account(app, json!({"username": "s2", "role": "school", "province_code": "32", "school_id": school_id})).await,
        dept_tok: account(app, json!({"username": "d1", "role": "department", "province_code": "32", "school_id": school_id, "department": DEPT})).await,
        other_dept_tok: account(app, json!({"username": "d2", "role": "department", "province_code": "32", "school_id": school_id, "department": OTHER_DEPT})).await,
    }
}

pub fn invitation() -> Value {
    json!({
        "position": "软件工程师", "job_category": "13", "work_place": "320100",
        "contact_person": "王经理", "contact_mobile": "13912345678", "regular_pay": 9000
    })
}

pub async fn invite(app: &App, tok: &str, graduate: i64) -> Resp {
    app.post(
        "/api/v1/flows/online_signing/instances",
        tok,
        json!({"graduate_id": graduate, "input": invitation()}),
    )
    .await
}

pub async fn act(app: &App, tok: &str, id: i64, action: &str, input: Value) -> Resp {
    app.post(
        &format!("/api/v1/instances/{id}/actions/{action}"),
        tok,
        json!({"input": input}),
    )
    .await
}
