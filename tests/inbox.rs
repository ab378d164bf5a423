//! End to end: the reviewers' task inbox over HTTP on SQLite and PostgreSQL — due times and
//! overdue counts with the test clock, a school in two-level mode seeing what waits at
//! department level, sorting and each filter, a bulk decision with one conflicting item, and
//! "done by me" with the decisions and the reason recorded per item.

mod support;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::flows::id_number;
use support::world::{account, act, invite, ok, world, World, DEPT};

/// Six graduates of the world's department (学生0…学生5, two majors), with their tokens.
async fn graduates(app: &App, w: &World) -> Vec<(i64, String)> {
    let rows: Vec<Value> = (0..6)
        .map(|i| {
            json!({"candidate_no": format!("2632010215{:04}", 200 + i),
                   "id_number": id_number(40 + i), "name": format!("学生{i}"),
                   "department": DEPT, "training_mode": "10",
                   "major": if i % 2 == 0 { "软件工程" } else { "计算机科学与技术" }})
        })
        .collect();
    let ids = ok(
        app,
        &format!("/api/v1/admin/schools/{}/graduates", w.school_id),
        Value::Array(rows),
    )
    .await["ids"]
        .clone();
    let mut out = Vec::new();
    for i in 0..6 {
        let id = ids[i].as_i64().unwrap();
        let tok = account(
            app,
            json!({"username": format!("ib{i}"), "role": "graduate", "province_code": "32",
                   "school_id": w.school_id, "department": DEPT, "graduate_id": id}),
        )
        .await;
        out.push((id, tok));
    }
    out
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().unwrap().clone()
}

fn names(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|t| t["graduate"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn module<'a>(counts: &'a Value, m: &str) -> &'a Value {
    counts["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["module"] == m)
        .unwrap()
}

async fn inbox(backend: Backend) {
    // The timer worker looks once an hour: an invitation past its deadline stays open (and
    // overdue) until it does.
    let app = spawn_on(
        backend,
        AppOptions {
            extra_args: vec!["--worker-interval-ms".into(), "3600000".into()],
            ..AppOptions::default()
        },
    )
    .await;
    let w = world(&app, "department_then_school").await;
    let grads = graduates(&app, &w).await;
    let mut ids = Vec::new();
    for (g, _) in &grads {
        let r = invite(&app, &w.employer_tok, *g).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    // 学生4 gets a second invitation: two answers due, in the order they opened.
    let r = invite(&app, &w.employer2_tok, grads[4].0).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The graduate's task carries the answer's due time: 7 days after it opened.
    let page = app.get("/api/v1/tasks", &grads[0].1).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let t = &items(&page.body)[0];
    let opened = chrono::DateTime::parse_from_rfc3339(t["opened_at"].as_str().unwrap()).unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(t["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due - opened, chrono::Duration::days(7), "{}", page.text);
    assert_eq!(t["overdue"], false);

    // 学生0…3 accept: their reviews wait at department level.
    for i in 0..4 {
        let r = act(&app, &grads[i].1, ids[i], "accept", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let counts = app.get("/api/v1/tasks/counts", &w.school_tok).await;
    assert_eq!(counts.status, 200, "{}", counts.text);
    assert_eq!(counts.body["total"], 0, "{}", counts.text);
    assert_eq!(counts.body["at_department"], 4, "{}", counts.text);
    assert_eq!(module(&counts.body, "employment")["at_department"], 4);
    // The home page: per list, the school's own pending items and those at department level.
    let home = app.get("/api/v1/home", &w.school_tok).await;
    assert_eq!(home.status, 200, "{}", home.text);
    let signing = home.body["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["list"] == "signing")
        .unwrap()
        .clone();
    assert_eq!(signing["label"], "在线签约");
    assert_eq!(signing["pending"], 0, "{}", home.text);
    assert_eq!(signing["at_department"], 4, "{}", home.text);
    assert!(home.body["guide"].as_str().unwrap().contains("待审核事项"));
    let home = app.get("/api/v1/home", &w.dept_tok).await.body;
    assert_eq!(home["pending"], 4, "{home}");
    assert_eq!(home["lists"][0]["pending"], 4, "{home}");
    // The graduate's: their open invitations, the guide for graduates.
    let home = app.get("/api/v1/home", &grads[4].1).await.body;
    assert_eq!(home["role"], "graduate");
    assert_eq!(home["pending"], 2, "{home}");
    assert!(
        home["guide"].as_str().unwrap().contains("签约邀请"),
        "{home}"
    );
    assert!(home["handler_info"].is_object());
    let counts = app.get("/api/v1/tasks/counts", &w.dept_tok).await;
    assert_eq!(counts.body["total"], 4, "{}", counts.text);
    assert_eq!(counts.body["at_department"], 0, "a department sees its own");

    // Sorting and filters of the department's inbox.
    let page = app.get("/api/v1/tasks?sort=-name", &w.dept_tok).await;
    assert_eq!(names(&page.body), ["学生3", "学生2", "学生1", "学生0"]);
    let page = app.get("/api/v1/tasks?sort=-opened_at", &w.dept_tok).await;
    assert_eq!(names(&page.body), ["学生3", "学生2", "学生1", "学生0"]);
    let page = app
        .get(
            "/api/v1/tasks?major=%E8%BD%AF%E4%BB%B6%E5%B7%A5%E7%A8%8B",
            &w.dept_tok,
        )
        .await;
    assert_eq!(names(&page.body), ["学生0", "学生2"], "{}", page.text);
    let page = app
        .get("/api/v1/tasks?name=%E5%AD%A6%E7%94%9F2", &w.dept_tok)
        .await;
    assert_eq!(names(&page.body), ["学生2"], "{}", page.text);
    let page = app.get("/api/v1/tasks?name=%25", &w.dept_tok).await;
    assert_eq!(
        page.body["total"], 0,
        "a wildcard is a character: {}",
        page.text
    );
    let all = app.get("/api/v1/tasks", &w.dept_tok).await.body;
    let third = items(&all)[2]["opened_at"].as_str().unwrap().to_string();
    let enc = |s: &str| s.replace('+', "%2B").replace(':', "%3A");
    let page = app
        .get(
            &format!("/api/v1/tasks?opened_from={}", enc(&third)),
            &w.dept_tok,
        )
        .await;
    assert_eq!(names(&page.body), ["学生2", "学生3"], "{}", page.text);
    let page = app
        .get(
            &format!("/api/v1/tasks?opened_to={}", enc(&third)),
            &w.dept_tok,
        )
        .await;
    assert_eq!(names(&page.body), ["学生0", "学生1"], "{}", page.text);
    app.get("/api/v1/tasks?sort=salary", &w.dept_tok)
        .await
        .refused(422, "invalid_sort");

    // A bulk decision: approve three, one of them seen at an old version → that one 409, the
    // others decided; a decision the inbox does not take → 422.
    let version = |i: usize| {
        items(&all)
            .iter()
            .find(|t| t["instance_id"] == ids[i])
            .unwrap()["row_version"]
            .as_i64()
            .unwrap()
    };
    let r = app
        .post(
            "/api/v1/tasks/bulk-decision",
            &w.dept_tok,
            json!({"decision": "approve", "input": {}, "items": [
                {"instance_id": ids[0], "expected_version": version(0)},
                {"instance_id": ids[1], "expected_version": version(1)},
                {"instance_id": ids[2], "expected_version": version(2) - 1}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["decided"], 2, "{}", r.text);
    let statuses: Vec<i64> = items(&r.body)
        .iter()
        .map(|i| i["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 409], "{}", r.text);
    app.post(
        "/api/v1/tasks/bulk-decision",
        &w.dept_tok,
        json!({"decision": "shrug", "input": {}, "items": [{"instance_id": ids[3]}]}),
    )
    .await
    .refused(422, "invalid_decision");

    // The school now has two items of its own, two still at department level.
    let counts = app.get("/api/v1/tasks/counts", &w.school_tok).await.body;
    assert_eq!(counts["total"], 2, "{counts}");
    assert_eq!(counts["at_department"], 2, "{counts}");
    // The school rejects both with one reason, recorded on each.
    let school_inbox = app.get("/api/v1/tasks", &w.school_tok).await.body;
    let selected: Vec<Value> = items(&school_inbox)
        .iter()
        .map(|t| json!({"instance_id": t["instance_id"], "expected_version": t["row_version"]}))
        .collect();
    let r = app
        .post(
            "/api/v1/tasks/bulk-decision",
            &w.school_tok,
            json!({"decision": "reject",
                   "input": {"reason_category": "协议信息有误", "reason": "岗位名称与录用通知不符"},
                   "items": selected}),
        )
        .await;
    assert_eq!(r.body["decided"], 2, "{}", r.text);

    // Done by me: the department's two approvals, the school's two rejections with reasons.
    let done = app.get("/api/v1/tasks/done", &w.dept_tok).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["total"], 2, "{}", done.text);
    for d in items(&done.body) {
        assert_eq!(d["decision"], "approve");
        assert_eq!(d["level"], "department");
        assert_eq!(d["state"], "rejected", "as it stands now");
    }
    let done = app.get("/api/v1/tasks/done", &w.school_tok).await.body;
    let mut decided: Vec<i64> = items(&done)
        .iter()
        .map(|d| {
            assert_eq!(d["decision"], "reject");
            assert_eq!(d["reason_category"], "协议信息有误");
            assert_eq!(d["reason"], "岗位名称与录用通知不符");
            d["instance_id"].as_i64().unwrap()
        })
        .collect();
    decided.sort();
    assert_eq!(decided, [ids[0], ids[1]]);
    let graduate_done = app.get("/api/v1/tasks/done", &grads[0].1).await.body;
    assert_eq!(graduate_done["items"][0]["action"], "accept");
    assert_eq!(graduate_done["total"], 1);

    // Eight days on, 学生4's two invitations and 学生5's are overdue (the worker has not yet
    // expired them).
    app.post(
        "/api/v1/admin/clock",
        &app.admin_token,
        json!({"advance_seconds": 8 * 24 * 3600}),
    )
    .await;
    let counts = app.get("/api/v1/tasks/counts", &grads[4].1).await.body;
    assert_eq!(counts["total"], 2, "{counts}");
    assert_eq!(counts["overdue"], 2, "{counts}");
    assert_eq!(module(&counts, "employment")["overdue"], 2);
    let page = app
        .get("/api/v1/tasks?sort=-due_at", &grads[4].1)
        .await
        .body;
    let dues: Vec<String> = items(&page)
        .iter()
        .map(|t| {
            assert_eq!(t["overdue"], true);
            t["due_at"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(dues.len(), 2);
    assert!(dues[0] > dues[1], "{dues:?}");
    let page = app
        .get("/api/v1/tasks?overdue=false", &grads[4].1)
        .await
        .body;
    assert_eq!(page["total"], 0);
    let page = app
        .get("/api/v1/tasks?overdue=true", &grads[5].1)
        .await
        .body;
    assert_eq!(page["total"], 1);
}

both_backends!(inbox);
