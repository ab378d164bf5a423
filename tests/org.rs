//! End to end: accounts created by the level above (department names checked against the
//! roster), API keys for integrators, employer registration and search, warning employers with
//! the nationwide rule, and reference data — on SQLite and PostgreSQL.

mod support;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::{account, invite, ok, world, DEPT};

async fn login(app: &App, username: &str, password: &str) -> (u16, Value) {
    let r = app
        .post(
            "/api/v1/auth/login",
            "",
            json!({"username": username, "password": password}),
        )
        .await;
    (r.status, r.body)
}

async fn accounts_and_keys(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "11", "name": "北京市"}),
    )
    .await;
    let s11 = ok(
        &app,
        "/api/v1/admin/schools",
        json!({"code": "10001", "name": "北京大学", "province_code": "11"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let p32 = account(
        &app,
        json!({"username": "p32", "role": "province", "province_code": "32"}),
    )
    .await;

    // A school creates department accounts; the name must equal a roster department exactly.
    let dept = |name: &str, user: &str| json!({"username": user, "password": "院系密码123456", "role": "department", "department": name});
    let r = app
        .post(
            "/api/v1/accounts",
            &w.school_tok,
            dept("计算机科学与技术 系", "cs-1"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("department_not_in_roster")),
        "{}",
        r.text
    );
    let msg = r.body["message"].as_str().unwrap();
    assert!(
        msg.contains("名单中有“计算机科学与技术系”") && msg.contains("外国语学院"),
        "{msg}"
    );
    let r = app
        .post("/api/v1/accounts", &w.school_tok, dept("数学系", "math-1"))
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .post("/api/v1/accounts", &w.school_tok, dept(DEPT, "cs-1"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["permissions"],
        json!({"employment": "rw", "archive": "none", "hukou": "none"}),
        "the seeds' defaults"
    );
    let cs1 = r.body["id"].as_i64().unwrap();
    assert!(r.body.get("password_hash").is_none());
    let r = app
        .post("/api/v1/accounts", &w.school_tok, dept(DEPT, "cs-1"))
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("username_taken"))
    );
    // The new account logs in and works in its department only.
    let (status, body) = login(&app, "cs-1", "院系密码123456").await;
    assert_eq!(status, 200, "{body}");
    let cs_tok = body["token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/me", &cs_tok).await.body;
    assert_eq!(
        (me["role"].as_str(), me["department"].as_str()),
        (Some("department"), Some(DEPT))
    );
    // A school cannot create school accounts; a department cannot create anything.
    let r = app
        .post(
            "/api/v1/accounts",
            &w.school_tok,
            json!({"username": "s-x", "password": "12345678", "role": "school", "school_id": 1}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        app.post("/api/v1/accounts", &w.dept_tok, dept(DEPT, "cs-2"))
            .await
            .status,
        403
    );
    // A short password names the field.
    let r = app.post("/api/v1/accounts", &w.school_tok, json!({"username": "cs-3", "password": "1234", "role": "department", "department": DEPT})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("weak_password"))
    );

    // A province creates school accounts for its own schools only.
    let r = app.post("/api/v1/accounts", &p32, json!({"username": "nju-2", "password": "学校密码123456", "role": "school", "school_id": 1})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post("/api/v1/accounts", &p32, json!({"username": "pku-1", "password": "学校密码123456", "role": "school", "school_id": s11})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Lists are scoped: the province sees school accounts, the school its departments'.
    let list = app.get("/api/v1/accounts", &p32).await.body;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["role"] == "school" && a["province_code"] == "32"),
        "{list}"
    );
    let list = app.get("/api/v1/accounts", &w.school_tok).await.body;
    assert_eq!(list["total"], 3, "d1, d2 and cs-1: {list}");
    assert_eq!(
        app.get("/api/v1/accounts", &w.graduate_tok).await.status,
        403
    );
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["department_in_roster"] == true),
        "{list}"
    );
    // An account whose department left the roster (here: made by the administrator's
    // bootstrap) is flagged in the school's list.
    ok(&app, "/api/v1/admin/accounts", json!({"username": "old-dept", "role": "department", "province_code": "32", "school_id": 1, "department": "已撤销的系"})).await;
    let list = app
        .get("/api/v1/accounts?department=已撤销的系", &w.school_tok)
        .await
        .body;
    assert_eq!(list["items"][0]["department_in_roster"], false, "{list}");
    assert!(list["items"][0]["department_warning"]
        .as_str()
        .unwrap()
        .contains("无法进行审核"));

    // Disabling ends the sessions at once.
    let r = app
        .put(
            &format!("/api/v1/accounts/{cs1}/active"),
            &w.school_tok,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/api/v1/me", &cs_tok).await.status, 401);
    assert_eq!(login(&app, "cs-1", "院系密码123456").await.0, 403);

    // Own password change.
    let r = app
        .put(
            "/api/v1/me/password",
            &w.school_tok,
            json!({"old_password": "x", "new_password": "新密码12345678"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("wrong_password"))
    );

    // API keys: a school's key covers its school; it is shown once and can be revoked.
    let r = app
        .post(
            "/api/v1/api-keys",
            &w.school_tok,
            json!({"name": "南京大学就业管理系统"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (key_id, key) = (
        r.body["id"].as_i64().unwrap(),
        r.body["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(r.body["school_id"], 1);
    let me = app.get("/api/v1/me", &key).await.body;
    assert_eq!(me["role"], "integrator");
    let keys = app.get("/api/v1/api-keys", &w.school_tok).await.body;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    assert!(keys["items"][0].get("key").is_none(), "never shown again");
    // Integrators see no flow data and no inbox.
    assert_eq!(app.get("/api/v1/tasks", &key).await.status, 403);
    // A province key for another province's school is refused.
    assert_eq!(
        app.post(
            "/api/v1/api-keys",
            &p32,
            json!({"name": "x", "school_id": s11})
        )
        .await
        .status,
        404
    );
    let r = app
        .post(
            "/api/v1/api-keys",
            &p32,
            json!({"name": "江苏省就业管理系统"}),
        )
        .await;
    assert_eq!((r.status, r.body["school_id"].clone()), (200, Value::Null));
    let r = app
        .delete(&format!("/api/v1/api-keys/{key_id}"), &p32)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/me", &key).await.status,
        401,
        "revoked at once"
    );
}

fn employer(code: &str, name: &str, user: &str) -> Value {
    json!({"name": name, "credit_code": code, "nature": "39", "industry": "34", "region": "320102",
           "contact_name": "刘经理", "contact_phone": "13912345678", "username": user, "password": "单位密码123456"})
}

async fn employers_and_warnings(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;

    // Registration: every field rule, a malformed code is an error, a bad check char a warning.
    let r = app.post("/api/v1/employers/register", "", json!({"name": "", "credit_code": "12345", "nature": "77", "region": "999999", "username": "abc", "password": "12345678"})).await;
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
            "contact_name",
            "contact_phone",
            "credit_code",
            "industry",
            "name",
            "nature",
            "region"
        ],
        "{}",
        r.text
    );
    let r = app
        .post(
            "/api/v1/employers/register",
            "",
            employer("91320100MA1XYW1234", "南京某某网络科技有限公司", "emp-a"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["warnings"][0]["code"], "credit_code_checksum",
        "{}",
        r.text
    );
    let bad_check = r.body["employer_id"].as_i64().unwrap();
    let r = app
        .post(
            "/api/v1/employers/register",
            "",
            employer("91320100MA1XYW1234", "重复", "emp-b"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("credit_code_taken"))
    );
    let (status, body) = login(&app, "emp-a", "单位密码123456").await;
    assert_eq!(status, 200, "{body}");

    // Search by part of the name or by code; reviewers see the check-character warning.
    let r = app.get("/api/v1/employers?q=某某网络", &w.school_tok).await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(r.body["items"][0]["credit_code_checksum_ok"], false);
    assert_eq!(
        r.body["items"][0]["industry_label"],
        "信息传输软件和信息技术服务"
    );
    // The name index: any part of two characters or more, across both kinds of registration,
    // '%' taken literally; one character or a name nobody carries are answered clearly.
    let names = |r: &support::app::Resp| {
        let mut v: Vec<String> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let r = app.get("/api/v1/employers?q=公司", &w.school_tok).await;
    assert_eq!(
        names(&r),
        [
            "南京某某网络科技有限公司",
            "南京示例科技有限公司",
            "苏州另一家公司"
        ],
        "{}",
        r.text
    );
    let r = app.get("/api/v1/employers?q=示例科技", &w.school_tok).await;
    assert_eq!(names(&r), ["南京示例科技有限公司"], "{}", r.text);
    let r = app
        .get("/api/v1/employers?q=科技有限公", &w.school_tok)
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.text);
    // Its only bigram is indexed, but no name holds the whole text.
    let r = app.get("/api/v1/employers?q=某某某", &w.school_tok).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = app.get("/api/v1/employers?q=科%25", &w.school_tok).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = app
        .get("/api/v1/employers?q=北京没有的单位", &w.school_tok)
        .await;
    assert_eq!((r.status, r.body["total"].as_i64()), (200, Some(0)));
    let r = app.get("/api/v1/employers?q=科", &w.school_tok).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("query_too_short")),
        "{}",
        r.text
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("至少输入两个字"));
    let r = app
        .get("/api/v1/employers?q=91350100m000100y43", &w.graduate_tok)
        .await;
    assert_eq!(
        (
            r.body["total"].as_i64(),
            r.body["items"][0]["credit_code_checksum_ok"].as_bool()
        ),
        (Some(1), Some(true)),
        "{}",
        r.text
    );
    let emp1 = r.body["items"][0]["id"].as_i64().unwrap();

    // Schools: 10284 (the world's) plus five more in province 32, each with a school account.
    let mut schools = Vec::new();
    for i in 0..5 {
        let code = format!("1029{i}");
        let id = ok(&app, "/api/v1/admin/schools", json!({"code": code, "name": format!("学校{i}"), "province_code": "32", "signing_enabled": true})).await["id"].as_i64().unwrap();
        let tok = account(&app, json!({"username": format!("s{code}"), "role": "school", "province_code": "32", "school_id": id})).await;
        schools.push(tok);
    }
    // Only school users mark; the reason is required.
    let url = format!("/api/v1/warnings/{emp1}");
    assert_eq!(
        app.put(&url, &w.dept_tok, json!({"reason": "虚假宣传"}))
            .await
            .status,
        403
    );
    assert_eq!(
        app.put(&url, &w.graduate_tok, json!({"reason": "虚假宣传"}))
            .await
            .status,
        403
    );
    assert_eq!(
        app.put(&url, &w.school_tok, json!({"reason": " "}))
            .await
            .status,
        422
    );
    let r = app
        .put(&url, &w.school_tok, json!({"reason": "虚假宣传"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["warning"]["marked_by_own_school"], true);

    // The school's own graduate and reviewers are warned on the invitation; another school's are not.
    let id = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    for tok in [&w.graduate_tok, &w.school_tok, &w.dept_tok] {
        let v = app.get(&format!("/api/v1/instances/{id}"), tok).await.body;
        assert_eq!(v["employer_warning"]["own_reason"], "虚假宣传", "{v}");
        assert!(v["employer_warning"]["message"]
            .as_str()
            .unwrap()
            .contains("本校标记为预警单位"));
    }
    let v = app
        .get(&format!("/api/v1/instances/{id}"), &w.employer_tok)
        .await
        .body;
    assert_eq!(
        v["employer_warning"],
        Value::Null,
        "the employer is not shown its own warning"
    );
    let other_view = app
        .get(&format!("/api/v1/employers/{emp1}"), &schools[0])
        .await
        .body;
    assert_eq!(other_view["warning"], Value::Null, "{other_view}");
    let list = app.get("/api/v1/warnings", &w.school_tok).await.body;
    assert_eq!(list["items"][0]["reason"], "虚假宣传");

    // Four more schools (five in all): shown nationwide (scripts/warnings/nationwide.rhai).
    for tok in &schools[0..3] {
        assert_eq!(
            app.put(&url, tok, json!({"reason": "就业歧视"}))
                .await
                .status,
            200
        );
    }
    let v = app
        .get(&format!("/api/v1/employers/{emp1}"), &schools[4])
        .await
        .body;
    assert_eq!(
        v["warning"],
        Value::Null,
        "four schools are not enough: {v}"
    );
    app.put(&url, &schools[3], json!({"reason": "违规单位"}))
        .await;
    let v = app
        .get(&format!("/api/v1/employers/{emp1}"), &schools[4])
        .await
        .body;
    assert_eq!(
        (
            v["warning"]["nationwide"].as_bool(),
            v["warning"]["schools_marking"].as_i64()
        ),
        (Some(true), Some(5)),
        "{v}"
    );
    assert!(v["warning"]["message"]
        .as_str()
        .unwrap()
        .contains("5 所学校"));

    // Unmarking needs a reason; back to four, no longer nationwide; the own mark is gone.
    let unmark = format!("/api/v1/warnings/{emp1}/unmark");
    assert_eq!(
        app.post(&unmark, &w.school_tok, json!({"reason": ""}))
            .await
            .status,
        422
    );
    let r = app
        .post(&unmark, &w.school_tok, json!({"reason": "核实后已整改"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["warning"], Value::Null, "{}", r.text);
    assert_eq!(
        app.post(&unmark, &w.school_tok, json!({"reason": "再次"}))
            .await
            .status,
        404
    );
    let v = app
        .get(&format!("/api/v1/employers/{emp1}"), &schools[4])
        .await
        .body;
    assert_eq!(v["warning"], Value::Null);
    let _ = bad_check;
}

async fn reference_data(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let r = app.get("/api/v1/codes", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tables: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    for t in [
        "education_level",
        "employer_nature",
        "industry",
        "job_category",
        "training_mode",
        "transfer_type",
    ] {
        assert!(tables.contains(&t), "{t} missing: {tables:?}");
    }
    let r = app.get("/api/v1/codes/employer_nature", "").await;
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .contains(&json!({"code": "31", "label": "国有企业"})),
        "{}",
        r.text
    );
    assert_eq!(app.get("/api/v1/codes/nope", "").await.status, 404);
    let r = app.get("/api/v1/regions", "").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 34);
    let r = app.get("/api/v1/regions?parent=32", "").await;
    assert!(r.body["items"]
        .as_array()
        .unwrap()
        .contains(&json!({"code": "320100", "name": "南京市"})));
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        13,
        "江苏's 13 prefectures"
    );
    let r = app.get("/api/v1/regions?parent=3201", "").await;
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .contains(&json!({"code": "320106", "name": "鼓楼区"})),
        "{}",
        r.text
    );
    assert_eq!(app.get("/api/v1/regions?parent=3", "").await.status, 422);
}

async fn accounts_sort(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    // Two more department accounts besides the world's, created in this order.
    for (user, dept) in [("zz-dept", DEPT), ("aa-dept", support::world::OTHER_DEPT)] {
        let r = app
            .post(
                "/api/v1/accounts",
                &w.school_tok,
                json!({"username": user, "password": "院系密码123456", "role": "department", "department": dept}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let list = |sort: &'static str| {
        let app = &app;
        let tok = w.school_tok.clone();
        async move {
            let r = app
                .get(&format!("/api/v1/accounts?sort={sort}"), &tok)
                .await;
            assert_eq!(r.status, 200, "{sort}: {}", r.text);
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["username"].as_str().unwrap().to_string(),
                        a["created_at"].as_str().unwrap().to_string(),
                        a["id"].as_i64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let by_name = list("username").await;
    assert!(by_name.len() >= 3, "{by_name:?}");
    let mut names: Vec<String> = by_name.iter().map(|a| a.0.clone()).collect();
    assert_eq!(names.first().map(String::as_str), Some("aa-dept"));
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let desc: Vec<String> = list("-username").await.into_iter().map(|a| a.0).collect();
    names.reverse();
    assert_eq!(desc, names);
    // Oldest first by default and with `created_at`; newest first with `-created_at`.
    let oldest = list("created_at").await;
    let mut by_time = oldest.clone();
    by_time.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
    assert_eq!(oldest, by_time);
    assert_eq!(list("").await, oldest);
    let ids = |v: &[(String, String, i64)]| v.iter().map(|a| a.2).collect::<Vec<_>>();
    let pos = |v: &[(String, String, i64)], u: &str| v.iter().position(|a| a.0 == u).unwrap();
    assert!(
        pos(&oldest, "zz-dept") < pos(&oldest, "aa-dept"),
        "{oldest:?}"
    );
    let mut newest = ids(&list("-created_at").await);
    newest.reverse();
    assert_eq!(newest, ids(&oldest));
    // The administrator sees every role: by role, then id.
    let r = app
        .get(
            "/api/v1/accounts?sort=-role&page_size=200",
            &app.admin_token,
        )
        .await;
    let roles: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap())
        .collect();
    let mut sorted = roles.clone();
    sorted.sort();
    sorted.reverse();
    assert!(roles.len() >= 4, "{}", r.text);
    assert_eq!(roles, sorted);
    // An unknown key names the keys.
    let r = app
        .get("/api/v1/accounts?sort=password", &w.school_tok)
        .await;
    r.refused(422, "invalid_sort");
    assert_eq!(r.body["errors"][0]["field"], "sort");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("created_at、username、role"),
        "{}",
        r.text
    );
}

crate::both_backends!(
    accounts_and_keys,
    accounts_sort,
    employers_and_warnings,
    reference_data
);
