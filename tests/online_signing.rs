//! End to end: the real `gradflow serve` binary on a temporary SQLite file and on a real
//! PostgreSQL server, driven over HTTP through online signing (SPEC.md 4.1).

mod support;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::webhook::{self, WebhookReceiver};
use support::world::{act, invite, world, World};

async fn start_and_accept(app: &App, w: &World) -> i64 {
    let r = invite(app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    let r = act(app, &w.graduate_tok, id, "accept", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["label"], "学生已同意签约，等待学院/学校审核");
    id
}

async fn spawn(backend: Backend, hook: Option<&WebhookReceiver>) -> App {
    spawn_on(
        backend,
        AppOptions {
            webhook_url: hook.map(|h| h.url()),
            extra_args: vec![
                "--outbox-retry-base-ms".into(),
                "100".into(),
                "--worker-interval-ms".into(),
                "50".into(),
            ],
            ..Default::default()
        },
    )
    .await
}

async fn school_only_review(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn(backend, Some(&hook)).await;
    let w = world(&app, "school").await;
    let r = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["label"], "单位发起签约，等待学生应约");
    let id = r.body["id"].as_i64().unwrap();
    // The graduate sees the invitation in their inbox with accept/decline.
    let inbox = app.get("/api/v1/tasks", &w.graduate_tok).await;
    assert_eq!(inbox.body["total"], 1, "{}", inbox.text);
    let view = app
        .get(&format!("/api/v1/instances/{id}"), &w.graduate_tok)
        .await;
    let names: Vec<&str> = view.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["accept", "decline"]);
    act(&app, &w.graduate_tok, id, "accept", json!({})).await;
    // A department user has nothing to review in school-only mode.
    assert_eq!(app.get("/api/v1/tasks", &w.dept_tok).await.body["total"], 0);
    let inbox = app
        .get(
            "/api/v1/tasks?flow=online_signing&initiator=employer",
            &w.school_tok,
        )
        .await;
    assert_eq!(inbox.body["total"], 1, "{}", inbox.text);
    assert_eq!(inbox.body["items"][0]["graduate"]["name"], "张三");
    let view = app
        .get(&format!("/api/v1/instances/{id}"), &w.school_tok)
        .await;
    let labels: Vec<&str> = view.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["鉴证通过", "鉴证不通过"],
        "two-party agreements are attested"
    );
    let r = act(
        &app,
        &w.school_tok,
        id,
        "approve",
        json!({"comment": "材料齐全"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["label"], "签约审核通过");
    let number = r.body["vars"]["agreement_no"].as_str().unwrap().to_string();
    assert_eq!(number.len(), 19, "{number}");
    assert!(
        number.starts_with("2026410284") || number[4..].starts_with("410284"),
        "{number}"
    );
    assert!(number.ends_with("000000001"), "{number}");
    // History records every decision with its actor.
    let h = app
        .get(&format!("/api/v1/instances/{id}/history"), &w.school_tok)
        .await;
    let actions: Vec<&str> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["start", "accept", "approve"]);
    assert_eq!(h.body["items"][2]["level"], "school");
    // The approval syncs to the employment management system and notifies both parties.
    let got = hook
        .wait_for(
            |r| r.iter().any(|m| m.body["message"]["kind"] == "sync"),
            20,
        )
        .await;
    let sync = got
        .iter()
        .find(|m| m.body["message"]["kind"] == "sync")
        .unwrap();
    assert_eq!(
        sync.body["message"]["vars"]["agreement_no"],
        number.as_str()
    );
    assert_eq!(
        sync.body["message"]["graduate"]["candidate_no"],
        "26320102150001"
    );
    let got = hook
        .wait_for(
            |r| {
                r.iter()
                    .filter(|m| m.body["message"]["kind"] == "notify")
                    .count()
                    >= 4
            },
            20,
        )
        .await;
    assert!(got.iter().any(|m| m.body["message"]["text"]
        .as_str()
        .unwrap_or("")
        .contains("向你发起了签约邀请")));
    assert!(got
        .iter()
        .all(|m| m.headers.contains_key("idempotency-key")));
}

async fn department_then_school(backend: Backend) {
    let app = spawn(backend, None).await;
    let w = world(&app, "department_then_school").await;
    let id = start_and_accept(&app, &w).await;
    // The school cannot skip the department (not yet its turn: a conflict with the item's
    // state, 409); the other department cannot see it.
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("state_changed")),
        "{}",
        r.text
    );
    assert_eq!(
        act(&app, &w.other_dept_tok, id, "approve", json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        app.get("/api/v1/tasks", &w.other_dept_tok).await.body["total"],
        0
    );
    assert_eq!(app.get("/api/v1/tasks", &w.dept_tok).await.body["total"], 1);
    let r = act(&app, &w.dept_tok, id, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["review_level"], "school");
    assert_eq!(app.get("/api/v1/tasks", &w.dept_tok).await.body["total"], 0);
    let counts = app.get("/api/v1/tasks/counts", &w.school_tok).await;
    assert_eq!(counts.body["total"], 1, "{}", counts.text);
    // Rejection needs a reason; with one it is recorded and shown with the level.
    let r = act(&app, &w.school_tok, id, "reject", json!({})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["code"], "invalid_input");
    assert!(r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["field"] == "reason"));
    let r = act(
        &app,
        &w.school_tok,
        id,
        "reject",
        json!({"reason_category": "单位信息有误", "reason": "单位名称与执照不符"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["display_status"], "签约审核不通过（学校审核不通过）");
    // The agreement slot is free again: a new invitation can be accepted and approved.
    let id2 = start_and_accept(&app, &w).await;
    assert_eq!(
        act(&app, &w.dept_tok, id2, "approve", json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        act(&app, &w.school_tok, id2, "approve", json!({}))
            .await
            .body["label"],
        "签约审核通过"
    );
}

async fn decline_and_refusals(backend: Backend) {
    let app = spawn(backend, None).await;
    let w = world(&app, "school").await;
    // Training modes 21/41 cannot be invited.
    for g in [w.graduate_21, w.graduate_41] {
        let r = invite(&app, &w.employer_tok, g).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.body["code"], "directed_training_mode");
        assert!(
            r.body["message"].as_str().unwrap().contains("不可网签"),
            "{}",
            r.text
        );
    }
    // Bad input names each field.
    let r = app
        .post(
            "/api/v1/flows/online_signing/instances",
            &w.employer_tok,
            json!({"graduate_id": w.graduate, "input": {"position": "", "work_place": "999999"}}),
        )
        .await;
    assert_eq!(r.status, 422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["position", "job_category", "work_place", "contact_person"] {
        assert!(fields.contains(&f), "{fields:?}");
    }
    // A graduate cannot start online signing.
    let r = invite(&app, &w.graduate_tok, w.graduate).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Decline.
    let id = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    // The same employer cannot invite again while its invitation is open.
    let again = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["code"], "slot_taken");
    let r = act(
        &app,
        &w.graduate_tok,
        id,
        "decline",
        json!({"decline_reason": "已有其他打算"}),
    )
    .await;
    assert_eq!(r.body["label"], "学生已拒绝签约");
    // Acting on a finished instance is a conflict.
    let r = act(&app, &w.graduate_tok, id, "accept", json!({})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    // After declining, the employer may invite again.
    assert_eq!(invite(&app, &w.employer_tok, w.graduate).await.status, 201);
}

async fn one_agreement_rule(backend: Backend) {
    let app = spawn(backend, None).await;
    let w = world(&app, "school").await;
    let a = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    let b = invite(&app, &w.employer2_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        act(&app, &w.graduate_tok, a, "accept", json!({}))
            .await
            .status,
        200
    );
    let r = act(&app, &w.graduate_tok, b, "accept", json!({})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.body["message"].as_str().unwrap().contains("只能拒绝"),
        "{}",
        r.text
    );
    // Declining stays possible.
    assert_eq!(
        act(&app, &w.graduate_tok, b, "decline", json!({}))
            .await
            .status,
        200
    );
    // Other employers can still invite (SPEC.md 4.1 rule 2): the invitation arrives, and with
    // an agreement it can only be declined.
    let r = invite(&app, &w.employer2_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c = r.body["id"].as_i64().unwrap();
    let r = act(&app, &w.graduate_tok, c, "accept", json!({})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("agreement_exists")),
        "{}",
        r.text
    );
    let r = act(&app, &w.graduate_tok, c, "decline", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn concurrent_approvals(backend: Backend) {
    let app = spawn(backend, None).await;
    let w = world(&app, "school").await;
    for _ in 0..3 {
        let id = start_and_accept(&app, &w).await;
        let (r1, r2) = tokio::join!(
            act(&app, &w.school_tok, id, "approve", json!({})),
            act(
                &app,
                &w.school2_tok,
                id,
                "reject",
                json!({"reason_category": "其他", "reason": "重复"})
            )
        );
        let mut statuses = [r1.status, r2.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{} / {}", r1.text, r2.text);
        let h = app
            .get(&format!("/api/v1/instances/{id}/history"), &w.school_tok)
            .await;
        assert_eq!(
            h.body["items"].as_array().unwrap().len(),
            3,
            "exactly one decision: {}",
            h.text
        );
        // Leave the slot free for the next round.
        let v = app
            .get(&format!("/api/v1/instances/{id}"), &w.school_tok)
            .await;
        if v.body["state"] == "signed" {
            break;
        }
    }
}

async fn concurrent_acceptances(backend: Backend) {
    let app = spawn(backend, None).await;
    let w = world(&app, "school").await;
    let a = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    let b = invite(&app, &w.employer2_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    let (ra, rb) = tokio::join!(
        act(&app, &w.graduate_tok, a, "accept", json!({})),
        act(&app, &w.graduate_tok, b, "accept", json!({}))
    );
    let oks = [&ra, &rb].iter().filter(|r| r.status == 200).count();
    assert_eq!(
        oks, 1,
        "exactly one acceptance wins: {} / {}",
        ra.text, rb.text
    );
    let loser = if ra.status == 200 { &rb } else { &ra };
    // Either the slot's unique index (409) or the guard that saw the winner (422) refused it.
    assert!([409, 422].contains(&loser.status), "{}", loser.text);
    let reviewing = app
        .get(
            "/api/v1/instances?flow=online_signing&state_name=reviewing",
            &w.school_tok,
        )
        .await;
    assert_eq!(reviewing.body["total"], 1, "{}", reviewing.text);
}

async fn inbox_filters(backend: Backend) {
    let app = spawn(backend, None).await;
    let w = world(&app, "school").await;
    let id = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    act(&app, &w.graduate_tok, id, "accept", json!({})).await;
    let total = |q: &'static str| {
        let app = &app;
        let tok = w.school_tok.clone();
        async move { app.get(&format!("/api/v1/tasks?{q}"), &tok).await.body["total"].clone() }
    };
    assert_eq!(total("q=张三").await, 1);
    assert_eq!(
        total("q=11010519491231002x").await,
        1,
        "ID numbers match case-insensitively"
    );
    assert_eq!(total("q=26320102150001").await, 1);
    assert_eq!(total("q=李四").await, 0);
    assert_eq!(total("initiator=graduate").await, 0);
    assert_eq!(total("state=reviewing&flow=online_signing").await, 1);
    assert_eq!(total("state=invited").await, 0);
    assert_eq!(total("department=外国语学院").await, 0);
    assert_eq!(total("department=计算机科学与技术系").await, 1);
    let page = app
        .get("/api/v1/tasks?page=2&page_size=1", &w.school_tok)
        .await;
    assert_eq!(page.body["total"], 1);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 0);
    let bad = app
        .get("/api/v1/tasks?initiator=someone", &w.school_tok)
        .await;
    // The same refusal as the management lists' (422 invalid_initiator).
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (422, Some("invalid_initiator"))
    );
    assert!(bad.body["message"].as_str().unwrap().contains("initiator"));
}

async fn expiry_and_restart(backend: Backend) {
    let hook = webhook::start().await;
    let mut app = spawn(backend, Some(&hook)).await;
    let w = world(&app, "school").await;
    let id = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    // Restart in the middle: state and timer survive.
    app.restart().await;
    let v = app
        .get(&format!("/api/v1/instances/{id}"), &w.graduate_tok)
        .await;
    assert_eq!(v.body["state"], "invited", "{}", v.text);
    // Six days later nothing happened yet.
    app.post(
        "/api/v1/admin/clock",
        &app.admin_token.clone(),
        json!({"advance_seconds": 6 * 86400}),
    )
    .await;
    // The invitation's notification is delivered by the new process. If the killed one had
    // already claimed it, the claim's 30-second lease (real time) must lapse first, so the
    // bound allows for that.
    hook.wait_for(
        |r| r.iter().any(|m| m.body["message"]["kind"] == "notify"),
        50,
    )
    .await;
    let v = app
        .get(&format!("/api/v1/instances/{id}"), &w.graduate_tok)
        .await;
    assert_eq!(v.body["state"], "invited");
    // Past seven days the timer fires.
    app.post(
        "/api/v1/admin/clock",
        &app.admin_token.clone(),
        json!({"advance_seconds": 86400 + 60}),
    )
    .await;
    let mut label = Value::Null;
    for _ in 0..200 {
        label = app
            .get(&format!("/api/v1/instances/{id}"), &w.graduate_tok)
            .await
            .body["label"]
            .clone();
        if label == "签约逾期未回应 签约失败" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(label, "签约逾期未回应 签约失败");
    let r = act(&app, &w.graduate_tok, id, "accept", json!({})).await;
    assert_eq!(r.status, 409);
    // The province can lengthen the deadline for new instances only.
    let r = app
        .put(
            "/api/v1/admin/provinces/32/params/online_signing",
            &app.admin_token.clone(),
            json!({"response_deadline": "14d"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(v.body["params"]["response_deadline"], "14d");
    let bad = app
        .put(
            "/api/v1/admin/provinces/32/params/online_signing",
            &app.admin_token.clone(),
            json!({"response_deadline": "soon"}),
        )
        .await;
    assert_eq!(bad.status, 422);
}

async fn outbox_retries(backend: Backend) {
    let hook = webhook::start().await;
    hook.set_down(true);
    let app = spawn(backend, Some(&hook)).await;
    let w = world(&app, "school").await;
    let r = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201);
    // While the receiver is down, deliveries are attempted and fail.
    for _ in 0..200 {
        if hook.attempts().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(hook.attempts().len() >= 2, "retried while down");
    assert!(hook.received().is_empty());
    hook.set_down(false);
    let got = hook.wait_for(|r| !r.is_empty(), 30).await;
    assert_eq!(got[0].body["message"]["kind"], "notify");
    let key = got[0].headers.get("idempotency-key").cloned().unwrap();
    assert!(
        hook.attempts()
            .iter()
            .filter(|a| a.headers.get("idempotency-key") == Some(&key))
            .count()
            >= 2
    );
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

on_both!(
    school_only_review,
    department_then_school,
    decline_and_refusals,
    one_agreement_rule,
    concurrent_approvals,
    concurrent_acceptances,
    inbox_filters,
    expiry_and_restart,
    outbox_retries,
);
