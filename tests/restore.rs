//! A roster removal and its restore return every item where it stood (SPEC.md 3: the states
//! are restored; issue 18), end to end on SQLite and PostgreSQL with the test clock:
//! - an agreement the department approved comes back waiting at school level, with the
//!   school's task and not the department's, and the school approves it;
//! - an open invitation comes back with the time it had left, not a fresh 7-day deadline;
//! - a pending termination comes back (was: ended for good as 协议已作废或失效), at its state and
//!   with its answer deadline, and can be answered;
//! - in every case the same state, review level, tasks and due time as before the removal.

mod support;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::flows::{outbox_drained, remove_and_restore};
use support::world::{act, invite, world};

/// What a removal and restore must leave as it was: state, review level, and for each of the
/// callers `inboxes` (role name, token) the due time of its task on the item (`None`: none).
async fn standing(
    app: &App,
    id: i64,
    inboxes: &[(&str, &str)],
) -> (String, Value, Vec<(String, Option<Value>)>) {
    let v = app
        .get(&format!("/api/v1/instances/{id}"), &app.admin_token)
        .await;
    assert_eq!(v.status, 200, "{}", v.text);
    let mut tasks = Vec::new();
    for (role, tok) in inboxes {
        tasks.push((role.to_string(), due_in_inbox(app, tok, id).await));
    }
    (
        v.body["state"].as_str().unwrap().to_string(),
        v.body["review_level"].clone(),
        tasks,
    )
}

async fn advance(app: &App, days: i64) {
    let r = app
        .post(
            "/api/v1/admin/clock",
            &app.admin_token,
            json!({"advance_seconds": days * 24 * 3600}),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
}

/// The task of `tok`'s inbox on instance `id`: its due time (`None`: no such task).
async fn due_in_inbox(app: &App, tok: &str, id: i64) -> Option<Value> {
    let page = app.get("/api/v1/tasks?page_size=200", tok).await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["instance_id"] == id)
        .map(|t| t["due_at"].clone())
}

fn secs(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp()
}

async fn restored_where_they_stood(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "department_then_school").await;

    // ---- An open invitation, three days old, removed for two days: four days left. ----
    let inv = invite(&app, &w.employer2_tok, w.graduate).await;
    assert_eq!(inv.status, 201, "{}", inv.text);
    let inv = inv.body["id"].as_i64().unwrap();
    let due = due_in_inbox(&app, &w.graduate_tok, inv)
        .await
        .expect("the invitation's task");
    advance(&app, 3).await;
    remove_and_restore(&app, || async {
        assert_eq!(due_in_inbox(&app, &w.graduate_tok, inv).await, None);
        advance(&app, 2).await;
    })
    .await;
    outbox_drained(&app).await;
    let after = due_in_inbox(&app, &w.graduate_tok, inv)
        .await
        .expect("the invitation is back in the graduate's inbox");
    // (The test clock runs on from its offset: a few seconds pass between the steps.)
    let moved = secs(&after) - secs(&due);
    assert!(
        (moved - 2 * 24 * 3600).abs() < 30,
        "the deadline moved by the days it was away: {due} → {after}"
    );
    let r = act(&app, &w.graduate_tok, inv, "decline", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // ---- An agreement the department approved: back at school level. ----
    let a = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    let r = act(&app, &w.graduate_tok, a, "accept", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = act(&app, &w.dept_tok, a, "approve", json!({})).await;
    assert_eq!(
        (r.status, &r.body["state"]),
        (200, &json!("reviewing")),
        "{}",
        r.text
    );
    let reviewers = [
        ("school", w.school_tok.as_str()),
        ("department", w.dept_tok.as_str()),
    ];
    let before = standing(&app, a, &reviewers).await;
    assert_eq!(before.1, "school", "{before:?}");
    assert!(
        before.2[0].1.is_some() && before.2[1].1.is_none(),
        "{before:?}"
    );
    remove_and_restore(&app, || async {
        let away = standing(&app, a, &reviewers).await;
        assert_eq!(away.0, "invalidated");
        assert!(away.2.iter().all(|(_, t)| t.is_none()), "{away:?}");
    })
    .await;
    outbox_drained(&app).await;
    assert_eq!(
        standing(&app, a, &reviewers).await,
        before,
        "the school's task, not the department's"
    );
    let r = act(&app, &w.dept_tok, a, "approve", json!({})).await;
    assert_eq!(r.status, 409, "the department decided already: {}", r.text);
    let r = act(&app, &w.school_tok, a, "approve", json!({})).await;
    assert_eq!(
        (r.status, &r.body["state"]),
        (200, &json!("signed")),
        "{}",
        r.text
    );

    // ---- A termination the employer asked for, waiting for the graduate: it comes back. ----
    let t = app
        .post(
            "/api/v1/flows/online_termination/instances",
            &w.employer_tok,
            json!({"graduate_id": w.graduate, "input": {"termination_reason": "用人单位原因"}}),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    let t = t.body["id"].as_i64().unwrap();
    let answering = [("graduate", w.graduate_tok.as_str())];
    let before = standing(&app, t, &answering).await;
    assert_eq!(before.0, "employer_requested");
    assert!(before.2[0].1.is_some(), "the graduate's task: {before:?}");
    remove_and_restore(&app, || async {
        assert_eq!(standing(&app, t, &[]).await.0, "invalidated");
        assert_eq!(standing(&app, a, &[]).await.0, "invalidated");
    })
    .await;
    outbox_drained(&app).await;
    assert_eq!(standing(&app, a, &[]).await.0, "signed");
    assert_eq!(
        standing(&app, t, &answering).await,
        before,
        "the termination is where it stood"
    );
    let r = act(&app, &w.graduate_tok, t, "accept", json!({})).await;
    assert_eq!(r.status, 200, "the graduate answers it: {}", r.text);
}

crate::both_backends!(restored_where_they_stood);
