//! The authorization table (SPEC.md 1): every endpoint × every kind of caller ⇒ the expected
//! status. Callers: the administrator, province users of the school's province and of another,
//! school users of the school (read-write, read-only, none) and of another school, department
//! users of the graduate's department and of another, the graduate, the inviting employer and
//! another employer, the school's integrator key (roster), the identity provider's key, and
//! nobody. Requests are built so that an
//! allowed caller gets a harmless answer (a validation refusal, an unavailable action) that still
//! differs from "not yours" (404), "not allowed" (403) and "who are you" (401).
//!
//! The test fails when the server has an endpoint without a row here, so a new endpoint cannot
//! ship without its authorization being written down.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::{account, act, invite, ok, world};

/// One endpoint: method, path template (as in the OpenAPI spec), the concrete path, the body,
/// and the expected statuses: `caller=status` pairs, `*` for every caller not named.
struct Row {
    method: &'static str,
    template: &'static str,
    path: String,
    body: Option<Value>,
    expect: &'static str,
}

/// Endpoints whose body is plain text (YAML sources) when they take one.
const TEXT_BODIES: [&str; 3] = [
    "/api/v1/admin/definitions",
    "/api/v1/admin/catalogues/{name}",
    "/api/v1/admin/provinces/{code}/overlays/{key}",
];

const CALLERS: [&str; 15] = [
    "admin", "p32", "p11", "s1", "s1_ro", "s1_none", "s2", "d1", "d2", "g1", "e1", "e2", "int",
    "idp", "anon",
];

fn expected(spec: &str) -> BTreeMap<&'static str, u16> {
    let mut default = None;
    let mut named = BTreeMap::new();
    for part in spec.split_whitespace() {
        let (who, status) = part.split_once('=').expect("caller=status");
        let status: u16 = status.parse().expect("status");
        if who == "*" {
            default = Some(status);
        } else {
            for w in who.split(',') {
                assert!(CALLERS.contains(&w), "unknown caller {w} in {spec}");
                named.insert(w, status);
            }
        }
    }
    CALLERS
        .iter()
        .map(|c| {
            // The identity provider's key is refused like the roster key unless named.
            let like = if *c == "idp" && !named.contains_key("idp") {
                "int"
            } else {
                c
            };
            let s = named
                .get(like)
                .copied()
                .or(default)
                .unwrap_or_else(|| panic!("{c} has no status in {spec}"));
            (*c, s)
        })
        .collect()
}

async fn table(backend: Backend) {
    // Every caller looks up once: the public lookup's per-address limit is raised.
    let app = spawn_on(
        backend,
        AppOptions {
            extra_args: vec!["--lookups-per-minute".into(), "1000".into()],
            ..AppOptions::default()
        },
    )
    .await;
    let w = world(&app, "school").await;
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "11", "name": "北京市"}),
    )
    .await;
    let s2_id = ok(&app, "/api/v1/admin/schools", json!({"code": "10285", "name": "苏州大学", "province_code": "32", "signing_enabled": true})).await["id"].as_i64().unwrap();
    let mut tokens: BTreeMap<&str, String> = BTreeMap::new();
    tokens.insert("admin", app.admin_token.clone());
    tokens.insert(
        "p32",
        account(
            &app,
            json!({"username": "p32", "role": "province", "province_code": "32"}),
        )
        .await,
    );
    tokens.insert(
        "p11",
        account(
            &app,
            json!({"username": "p11", "role": "province", "province_code": "11"}),
        )
        .await,
    );
    tokens.insert("s1", w.school_tok.clone());
    tokens.insert("s1_ro", account(&app, json!({"username": "s1-ro", "role": "school", "province_code": "32", "school_id": 1, "perm_employment": "ro"})).await);
    tokens.insert("s1_none", account(&app, json!({"username": "s1-none", "role": "school", "province_code": "32", "school_id": 1, "perm_employment": "none"})).await);
    tokens.insert("s2", account(&app, json!({"username": "s2-x", "role": "school", "province_code": "32", "school_id": s2_id})).await);
    tokens.insert("d1", w.dept_tok.clone());
    tokens.insert("d2", w.other_dept_tok.clone());
    tokens.insert("g1", w.graduate_tok.clone());
    tokens.insert("e1", w.employer_tok.clone());
    tokens.insert("e2", w.employer2_tok.clone());
    let key = app
        .post(
            "/api/v1/api-keys",
            &w.school_tok,
            json!({"name": "南京大学就业管理系统"}),
        )
        .await;
    tokens.insert("int", key.body["key"].as_str().unwrap().to_string());
    // The identity provider's key, which only the administrator issues (nationwide).
    let idp = ok(
        &app,
        "/api/v1/api-keys",
        json!({"name": "学信网", "kind": "identity"}),
    )
    .await;
    tokens.insert("idp", idp["key"].as_str().unwrap().to_string());
    tokens.insert("anon", String::new());

    // An invitation accepted by the graduate, now waiting for the school's review.
    let inst = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        act(&app, &w.graduate_tok, inst, "accept", json!({}))
            .await
            .status,
        200
    );
    let d2_account = app
        .get("/api/v1/accounts?department=外国语学院", &w.school_tok)
        .await
        .body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let emp1 = app
        .get("/api/v1/employers?q=91350100M000100Y43", &w.school_tok)
        .await
        .body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let g1 = w.graduate;

    let r = |method: &'static str,
             template: &'static str,
             path: String,
             body: Option<Value>,
             expect: &'static str| Row {
        method,
        template,
        path,
        body,
        expect,
    };
    let rows = vec![
        // Flows and instances.
        r(
            "GET",
            "/api/v1/flows",
            "/api/v1/flows".into(),
            None,
            "*=200 anon=401",
        ),
        r(
            "POST",
            "/api/v1/flows/{key}/instances",
            "/api/v1/flows/online_signing/instances".into(),
            Some(json!({"graduate_id": g1, "input": {}})),
            "e1,e2=422 p11,s2,d2=404 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/instances/{id}",
            format!("/api/v1/instances/{inst}"),
            None,
            "admin,p32,s1,s1_ro,d1,g1,e1=200 s1_none=403 anon=401 *=404",
        ),
        r(
            "POST",
            "/api/v1/instances/{id}/actions/{action}",
            format!("/api/v1/instances/{inst}/actions/no_such_action"),
            Some(json!({"input": {}})),
            "p32,s1,d1,g1,e1=409 admin,s1_ro,s1_none=403 anon=401 *=404",
        ),
        r(
            "POST",
            "/api/v1/instances/{id}/withdraw",
            format!("/api/v1/instances/{inst}/withdraw"),
            Some(json!({})),
            "p32,s1,d1,g1,e1=409 admin,s1_ro,s1_none=403 anon=401 *=404",
        ),
        r(
            "GET",
            "/api/v1/instances/{id}/history",
            format!("/api/v1/instances/{inst}/history"),
            None,
            "admin,p32,s1,s1_ro,d1,g1,e1=200 s1_none=403 anon=401 *=404",
        ),
        // Documents and files: only who sees the instance learns whether it has one.
        r(
            "GET",
            "/api/v1/instances/{id}/documents/{name}",
            format!("/api/v1/instances/{inst}/documents/e_agreement"),
            None,
            "s1_none=403 anon=401 *=404",
        ),
        r(
            "GET",
            "/api/v1/instances/{id}/files/{field}",
            format!("/api/v1/instances/{inst}/files/stamped_image"),
            None,
            "s1_none=403 anon=401 *=404",
        ),
        r(
            "GET",
            "/api/v1/instances/{id}/review",
            format!("/api/v1/instances/{inst}/review"),
            None,
            "admin,p32,s1,s1_ro,d1=200 g1,e1,e2,int,s1_none=403 anon=401 *=404",
        ),
        // Only the reviewer of the current level (the school here) pulls the latest roster data.
        r(
            "POST",
            "/api/v1/instances/{id}/refresh-student",
            format!("/api/v1/instances/{inst}/refresh-student"),
            Some(json!({})),
            "s1=200 admin,p32,s1_ro,s1_none,d1,g1,e1=403 anon=401 *=404",
        ),
        // Employer links need no account; an unknown token is simply not found.
        r(
            "GET",
            "/api/v1/links/{token}",
            "/api/v1/links/0123456789abcdef".into(),
            None,
            "*=404",
        ),
        r(
            "GET",
            "/api/v1/links/{token}/document",
            "/api/v1/links/0123456789abcdef/document".into(),
            None,
            "*=404",
        ),
        r(
            "POST",
            "/api/v1/links/{token}/upload",
            "/api/v1/links/0123456789abcdef/upload".into(),
            None,
            "*=404",
        ),
        r(
            "GET",
            "/api/v1/audit-log",
            "/api/v1/audit-log".into(),
            None,
            "admin,p32,p11,s1,s1_ro,s2=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/lists/{list}/export",
            "/api/v1/lists/termination/export?status=all".into(),
            None,
            "p32,p11,s1,s1_ro,s2,d1,d2=200 admin,g1,e1,e2,int,s1_none=403 anon=401",
        ),
        r(
            "GET",
            "/api/v1/lists/{list}/returned-export",
            "/api/v1/lists/signing/returned-export".into(),
            None,
            "p32,p11,s1,s1_ro,s2,d1,d2=200 admin,g1,e1,e2,int,s1_none=403 anon=401",
        ),
        r(
            "GET",
            "/api/v1/lists/{list}",
            "/api/v1/lists/signing".into(),
            None,
            "p32,p11,s1,s1_ro,s2,d1,d2=200 admin,g1,e1,e2,int,s1_none=403 anon=401",
        ),
        r(
            "GET",
            "/api/v1/instances",
            "/api/v1/instances".into(),
            None,
            "int=403 anon=401 *=200",
        ),
        r(
            "GET",
            "/api/v1/tasks",
            "/api/v1/tasks".into(),
            None,
            "admin,int=403 anon=401 *=200",
        ),
        r(
            "GET",
            "/api/v1/tasks/counts",
            "/api/v1/tasks/counts".into(),
            None,
            "admin,int=403 anon=401 *=200",
        ),
        r(
            "GET",
            "/api/v1/tasks/done",
            "/api/v1/tasks/done".into(),
            None,
            "admin,int=403 anon=401 *=200",
        ),
        r(
            "GET",
            "/api/v1/home",
            "/api/v1/home".into(),
            None,
            "admin,int=403 anon=401 *=200",
        ),
        r(
            "POST",
            "/api/v1/tasks/bulk-decision",
            "/api/v1/tasks/bulk-decision".into(),
            Some(json!({"decision": "approve", "input": {}, "items": []})),
            "admin,p32,p11,s1,s2,d1,d2=422 anon=401 *=403",
        ),
        // Administration: the administrator only (province users for their own params/overlays).
        r(
            "POST",
            "/api/v1/admin/reload",
            "/api/v1/admin/reload".into(),
            Some(json!({})),
            "admin=200 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/definitions",
            "/api/v1/admin/definitions".into(),
            Some(json!("key: [")),
            "admin=422 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/admin/definitions",
            "/api/v1/admin/definitions".into(),
            None,
            "admin=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/admin/catalogues",
            "/api/v1/admin/catalogues".into(),
            None,
            "admin=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/admin/catalogues/{name}",
            "/api/v1/admin/catalogues/destination_type".into(),
            None,
            "admin=200 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/admin/catalogues/{name}",
            "/api/v1/admin/catalogues/destination_type".into(),
            Some(json!("catalogue: [")),
            "admin=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/catalogues/{name}/entries",
            "/api/v1/admin/catalogues/destination_type/entries".into(),
            Some(json!({"code": "11", "label": "签劳动合同形式就业"})),
            "admin=409 anon=401 *=403",
        ),
        r(
            "DELETE",
            "/api/v1/admin/catalogues/{name}/stored",
            "/api/v1/admin/catalogues/destination_type/stored".into(),
            None,
            "admin=404 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/definitions/{id}/retire",
            "/api/v1/admin/definitions/no_such_flow@9/retire".into(),
            Some(json!({})),
            "admin=404 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/admin/provinces/{code}/params/{key}",
            "/api/v1/admin/provinces/32/params/online_signing".into(),
            Some(json!({"params": {"response_deadline": 5}})),
            "admin,p32=422 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/admin/provinces/{code}/overlays/{key}",
            "/api/v1/admin/provinces/32/overlays/online_signing".into(),
            Some(json!("key: [")),
            "admin,p32=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/clock",
            "/api/v1/admin/clock".into(),
            Some(json!({})),
            "admin=200 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/writer-hold",
            "/api/v1/admin/writer-hold".into(),
            Some(json!({"hold": false})),
            "admin=200 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/provinces",
            "/api/v1/admin/provinces".into(),
            Some(json!({"code": "32", "name": "江苏省", "agreement_type": "six_party"})),
            "admin=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/schools",
            "/api/v1/admin/schools".into(),
            Some(
                json!({"code": "10284", "name": "南京大学", "province_code": "32", "review_mode_employment": "x"}),
            ),
            "admin=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/schools/{id}/graduates",
            "/api/v1/admin/schools/1/graduates".into(),
            Some(json!([])),
            "admin=200 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/employers",
            "/api/v1/admin/employers".into(),
            Some(json!({"name": "x", "credit_code": "1"})),
            "admin=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/admin/accounts",
            "/api/v1/admin/accounts".into(),
            Some(json!({"username": "x", "role": "king"})),
            "admin=422 anon=401 *=403",
        ),
        // Identity.
        r(
            "GET",
            "/api/v1/me",
            "/api/v1/me".into(),
            None,
            "anon=401 *=200",
        ),
        r(
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login".into(),
            Some(json!({"username": "s1", "password": "wrong-password"})),
            "*=401",
        ),
        r(
            "POST",
            "/api/v1/auth/graduate-sessions",
            "/api/v1/auth/graduate-sessions".into(),
            Some(json!({"candidate_no": "00000000000000"})),
            "admin,idp=404 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/me/password",
            "/api/v1/me/password".into(),
            Some(json!({"old_password": "wrong", "new_password": "新密码12345678"})),
            "admin=403 anon=401 *=422",
        ),
        // Accounts and keys: province → school accounts, school → department accounts.
        r(
            "GET",
            "/api/v1/accounts",
            "/api/v1/accounts".into(),
            None,
            "admin,p32,p11,s1,s2=200 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/accounts",
            "/api/v1/accounts".into(),
            Some(
                json!({"username": "new-dept", "password": "院系密码123456", "role": "department", "department": "不存在的院系", "school_id": 1}),
            ),
            "admin,s1,s2=422 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/accounts/{id}/active",
            format!("/api/v1/accounts/{d2_account}/active"),
            Some(json!({"active": true})),
            "admin,s1=200 p32,p11,s2=404 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/accounts/{id}/permissions",
            format!("/api/v1/accounts/{d2_account}/permissions"),
            Some(json!({"employment": "rw", "archive": "none", "hukou": "none"})),
            "admin,s1=200 p32,p11,s2=404 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/api-keys",
            "/api/v1/api-keys".into(),
            Some(json!({"name": ""})),
            "admin,p32,p11,s1,s2=422 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/api-keys",
            "/api/v1/api-keys".into(),
            None,
            "admin,p32,p11,s1,s2=200 anon=401 *=403",
        ),
        r(
            "DELETE",
            "/api/v1/api-keys/{id}",
            "/api/v1/api-keys/999999".into(),
            None,
            "admin,p32,p11,s1,s2=404 anon=401 *=403",
        ),
        // Settings.
        r(
            "GET",
            "/api/v1/provinces/{code}/settings",
            "/api/v1/provinces/32/settings".into(),
            None,
            "admin,p32=200 p11=404 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/provinces/{code}/settings",
            "/api/v1/provinces/32/settings".into(),
            Some(json!({"agreement_type": "six_party"})),
            "admin,p32=422 p11=404 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/provinces/{code}/schools",
            "/api/v1/provinces/32/schools".into(),
            None,
            "admin,p32=200 p11=404 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/provinces/{code}/schools",
            "/api/v1/provinces/32/schools".into(),
            Some(json!({"code": "1028", "name": "x"})),
            "admin,p32=422 p11=404 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/schools/{id}/settings",
            "/api/v1/schools/1/settings".into(),
            None,
            "admin,p32,s1,s1_ro,s1_none,d1,d2=200 anon=401 *=404",
        ),
        r(
            "PUT",
            "/api/v1/schools/{id}/settings/signing",
            "/api/v1/schools/1/settings/signing".into(),
            Some(
                json!({"online_signing": true, "review_mode": "school", "termination_cap": 3, "handler_info": {}}),
            ),
            "admin,s1=422 p32,s1_ro,s1_none,d1,d2=403 anon=401 *=404",
        ),
        r(
            "PUT",
            "/api/v1/schools/{id}/settings/registration/{module}",
            "/api/v1/schools/1/settings/registration/archive".into(),
            Some(json!({"enabled": true, "review_mode": "school"})),
            "admin=422 p32,s1,s1_ro,s1_none,d1,d2=403 anon=401 *=404",
        ),
        // Employers and warnings.
        r(
            "POST",
            "/api/v1/employers/register",
            "/api/v1/employers/register".into(),
            Some(json!({})),
            "*=422",
        ),
        r(
            "GET",
            "/api/v1/employers",
            "/api/v1/employers".into(),
            None,
            "int,idp=403 g1=422 anon=401 *=200",
        ),
        r(
            "GET",
            "/api/v1/employers/{id}",
            format!("/api/v1/employers/{emp1}"),
            None,
            "e2=404 int=403 anon=401 *=200",
        ),
        r(
            "GET",
            "/api/v1/warnings",
            "/api/v1/warnings".into(),
            None,
            "s1,s1_ro,s2,d1,d2=200 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/warnings/{employer_id}",
            format!("/api/v1/warnings/{emp1}"),
            Some(json!({"reason": ""})),
            "s1,s2=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/warnings/{employer_id}/unmark",
            format!("/api/v1/warnings/{emp1}/unmark"),
            Some(json!({"reason": ""})),
            "s1,s2=422 anon=401 *=403",
        ),
        // Reference data is public.
        r(
            "GET",
            "/api/v1/codes",
            "/api/v1/codes".into(),
            None,
            "*=200",
        ),
        r(
            "GET",
            "/api/v1/codes/{table}",
            "/api/v1/codes/training_mode".into(),
            None,
            "*=200",
        ),
        r(
            "GET",
            "/api/v1/regions",
            "/api/v1/regions?parent=32".into(),
            None,
            "*=200",
        ),
        r(
            "GET",
            "/api/v1/regions/table",
            "/api/v1/regions/table".into(),
            None,
            "*=200",
        ),
        // Batch and quick review: reviewers with 读写 in the list's module (the empty selection
        // and a list without quick review are refused after the caller is let in).
        r(
            "POST",
            "/api/v1/lists/{list}/batch-review",
            "/api/v1/lists/signing/batch-review".into(),
            Some(json!({"decision": "approve", "items": []})),
            "p32,p11,s1,s2,d1,d2=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/lists/{list}/quick-review",
            "/api/v1/lists/signing/quick-review".into(),
            None,
            "p32,p11,s1,s2,d1,d2=422 anon=401 *=403",
        ),
        // Direct registration by import: school and department users (a flow without it is
        // refused once the caller is let in).
        r(
            "GET",
            "/api/v1/flows/{key}/import-template",
            "/api/v1/flows/online_signing/import-template".into(),
            None,
            "s1,s1_ro,s1_none,s2,d1,d2=422 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/flows/{key}/imports",
            "/api/v1/flows/online_signing/imports".into(),
            None,
            "s1,s1_ro,s1_none,s2,d1,d2=422 anon=401 *=403",
        ),
        // The roster: written by the management system only, read by province, school, department.
        r(
            "POST",
            "/api/v1/roster/graduates",
            "/api/v1/roster/graduates".into(),
            Some(json!({"rows": []})),
            "admin,int=200 idp=403 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/roster/graduates",
            "/api/v1/roster/graduates".into(),
            None,
            "admin,p32,p11,s1,s1_ro,s2,d1,d2=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/roster/template",
            "/api/v1/roster/template".into(),
            None,
            "admin,p32,p11,s1,s1_ro,s2,d1,d2,int=200 idp=403 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/roster/imports/{id}/errors",
            "/api/v1/roster/imports/999999/errors".into(),
            None,
            "anon=401 *=404",
        ),
        r(
            "POST",
            "/api/v1/roster/files",
            "/api/v1/roster/files".into(),
            None,
            "admin,int=422 idp=403 anon=401 *=403",
        ),
        // 就业管理系统回流: the management system's roster key (an unknown graduate: 404).
        r(
            "PUT",
            "/api/v1/roster/graduates/{candidate_no}/registrations/{key}",
            "/api/v1/roster/graduates/00000000000000/registrations/archive_registration".into(),
            Some(json!({"input": {}})),
            "admin,int=404 idp=403 anon=401 *=403",
        ),
        r(
            "DELETE",
            "/api/v1/roster/graduates/{candidate_no}",
            "/api/v1/roster/graduates/00000000000000".into(),
            None,
            "admin,int=404 idp=403 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/roster/graduates/{candidate_no}/restore",
            "/api/v1/roster/graduates/00000000000000/restore".into(),
            Some(json!({})),
            "admin,int=404 idp=403 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/me/basic-info",
            "/api/v1/me/basic-info".into(),
            None,
            "g1=200 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/me/basic-info/confirm",
            "/api/v1/me/basic-info/confirm".into(),
            Some(json!({})),
            "g1=200 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/me/basic-info/dispute",
            "/api/v1/me/basic-info/dispute".into(),
            Some(json!({"note": ""})),
            "g1=422 anon=401 *=403",
        ),
        // Uploads: anyone signed in but integrators; files only to their owner (or admin).
        r(
            "POST",
            "/api/v1/uploads",
            "/api/v1/uploads".into(),
            None,
            "int=403 anon=401 *=422",
        ),
        r(
            "GET",
            "/api/v1/uploads/{id}",
            "/api/v1/uploads/00000000-0000-4000-8000-000000000000".into(),
            None,
            "anon=401 *=404",
        ),
        // 去向登记确认: the graduate's own; the school's view in scope with the employment module.
        r(
            "GET",
            "/api/v1/me/confirmation",
            "/api/v1/me/confirmation".into(),
            None,
            "g1=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/roster/graduates/{candidate_no}/confirmation",
            "/api/v1/roster/graduates/26320102150001/confirmation".into(),
            None,
            "admin,p32,s1,s1_ro,d1=200 p11,s2,d2=404 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/confirmations/stats",
            "/api/v1/confirmations/stats".into(),
            None,
            "admin,p32,p11,s1,s1_ro,s2,d1,d2=200 anon=401 *=403",
        ),
        // 数据统计: province, school and department users with the module, in their scope.
        r(
            "GET",
            "/api/v1/statistics/{subject}",
            "/api/v1/statistics/signing".into(),
            None,
            "p32,p11,s1,s1_ro,s2,d1,d2=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/statistics/{subject}/export",
            "/api/v1/statistics/destination/export".into(),
            None,
            "p32,p11,s1,s1_ro,s2,d1,d2=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/statistics/{subject}/page",
            "/api/v1/statistics/confirmation/page".into(),
            None,
            "p32,p11,s1,s1_ro,s2,d1,d2=200 anon=401 *=403",
        ),
        // 四不准: the graduate files, the province (and the administrator) reads and handles.
        r(
            "GET",
            "/api/v1/reports/form",
            "/api/v1/reports/form".into(),
            None,
            "anon=401 *=200",
        ),
        r(
            "POST",
            "/api/v1/reports",
            "/api/v1/reports".into(),
            Some(json!({"category": "9", "content": "", "evidence": []})),
            "g1=422 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/reports",
            "/api/v1/reports".into(),
            None,
            "admin,p32,p11=200 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/reports/{id}/evidence/{n}",
            "/api/v1/reports/999999/evidence/1".into(),
            None,
            "admin,p32,p11=404 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/reports/{id}/handle",
            "/api/v1/reports/999999/handle".into(),
            Some(json!({"note": "已处理", "expected_version": 1})),
            "admin,p32,p11=404 anon=401 *=403",
        ),
        // 核验授权: the graduate's own (nothing registered: 409); the identity provider's check.
        r(
            "GET",
            "/api/v1/me/verifications",
            "/api/v1/me/verifications".into(),
            None,
            "g1=200 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/me/verifications/{kind}",
            "/api/v1/me/verifications/archive".into(),
            Some(json!({"valid_until": "2027-01-01"})),
            "g1=409 anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/me/verifications/{kind}/close",
            "/api/v1/me/verifications/archive/close".into(),
            Some(json!({})),
            "g1=409 anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/me/verifications/{kind}/sheet",
            "/api/v1/me/verifications/archive/sheet".into(),
            None,
            "g1=409 anon=401 *=403",
        ),
        r(
            "PUT",
            "/api/v1/roster/graduates/{candidate_no}/identity-check",
            "/api/v1/roster/graduates/00000000000000/identity-check".into(),
            Some(json!({})),
            "admin,idp=404 anon=401 *=403",
        ),
        // The school's archive lists need the archive module (the world's accounts have none).
        r(
            "GET",
            "/api/v1/verifications/{kind}",
            "/api/v1/verifications/archive".into(),
            None,
            "anon=401 *=403",
        ),
        r(
            "POST",
            "/api/v1/transfer-numbers/{kind}/generate",
            "/api/v1/transfer-numbers/archive/generate".into(),
            Some(json!({})),
            "anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/transfer-numbers/{kind}",
            "/api/v1/transfer-numbers/archive".into(),
            None,
            "anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/transfer-numbers/{kind}/export",
            "/api/v1/transfer-numbers/archive/export".into(),
            None,
            "anon=401 *=403",
        ),
        r(
            "GET",
            "/api/v1/transfer-numbers/{kind}/{graduate_id}/sheet",
            format!("/api/v1/transfer-numbers/archive/{g1}/sheet"),
            None,
            "anon=401 *=403",
        ),
        // The public lookup: no account; nothing found for an unknown number.
        r(
            "POST",
            "/api/v1/public/lookup",
            "/api/v1/public/lookup".into(),
            Some(json!({"name": "张三", "number": "270000000000000"})),
            "*=404",
        ),
        // Last: logging out ends each caller's session.
        r(
            "POST",
            "/api/v1/auth/logout",
            "/api/v1/auth/logout".into(),
            Some(json!({})),
            "anon=401 *=200",
        ),
    ];

    // Every endpoint the server has must have a row, and every row an endpoint.
    let spec = app.get("/openapi.json", "").await.body;
    let mut served = BTreeSet::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            served.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let covered: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.method, r.template))
        .collect();
    let missing: Vec<&String> = served.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "endpoints without an authorization row: {missing:?}"
    );
    let stale: Vec<&String> = covered.difference(&served).collect();
    assert!(
        stale.is_empty(),
        "rows for endpoints that do not exist: {stale:?}"
    );

    let mut wrong = Vec::new();
    for row in &rows {
        for (who, want) in expected(row.expect) {
            let got = send(&app, row, &tokens[who]).await;
            if got.status != want {
                wrong.push(format!(
                    "{} {} as {who}: expected {want}, got {} {}",
                    row.method,
                    row.path,
                    got.status,
                    got.text.chars().take(160).collect::<String>()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn send(app: &App, row: &Row, token: &str) -> support::app::Resp {
    if TEXT_BODIES.contains(&row.template) && row.method != "GET" {
        let text = row
            .body
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or_default();
        return match row.method {
            "POST" => app.post_text(&row.path, token, text).await,
            _ => app.put_text(&row.path, token, text).await,
        };
    }
    match (row.method, &row.body) {
        ("GET", _) => app.get(&row.path, token).await,
        ("DELETE", _) => app.delete(&row.path, token).await,
        ("POST", None) => app.post_bytes(&row.path, token, Vec::new()).await,
        ("POST", Some(b)) => app.post(&row.path, token, b.clone()).await,
        ("PUT", Some(b)) => app.put(&row.path, token, b.clone()).await,
        (m, _) => panic!("no sender for {m}"),
    }
}

crate::both_backends!(table);
