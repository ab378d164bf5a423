//! The write path under load and failure: group commit on SQLite (one conflicting and several
//! good transitions in one batch: the conflict answers 409 and wrote nothing, the others
//! committed together), and durability on both backends (the server killed with SIGKILL under
//! concurrent load keeps every transition it acknowledged, with tasks and states agreeing).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::{act, invitation, invite, ok, world, World, DEPT};

/// Bounds a wait for the server's state; not a timing assertion.
const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `n` more graduates of the world's school in [`DEPT`], each with a session.
async fn graduates(app: &App, w: &World, n: usize) -> Vec<(i64, String)> {
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            json!({"candidate_no": format!("2632010216{:04}", i), "id_number": format!("3201022001{:08}", i),
                   "name": format!("学生{i}"), "department": DEPT, "training_mode": "10"})
        })
        .collect();
    let ids = ok(
        app,
        &format!("/api/v1/admin/schools/{}/graduates", w.school_id),
        json!(rows),
    )
    .await["ids"]
        .clone();
    let mut out = Vec::new();
    for (i, id) in ids.as_array().unwrap().iter().enumerate() {
        let id = id.as_i64().unwrap();
        let tok = support::world::account(
            app,
            json!({"username": format!("dg{i}"), "role": "graduate", "province_code": "32",
                   "school_id": w.school_id, "department": DEPT, "graduate_id": id}),
        )
        .await;
        out.push((id, tok));
    }
    out
}

async fn metric(app: &App, key: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} missing:\n{text}"))
}

async fn hold(app: &App, hold: bool) {
    let r = app
        .post(
            "/api/v1/admin/writer-hold",
            &app.admin_token,
            json!({"hold": hold}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// One batch, made deterministic by holding the writer's turn until every transition of it is
/// queued: starts for six graduates, and two decisions on one item (approve and reject on the
/// same version). Exactly one decision wins and the other answers 409 and wrote nothing; the
/// starts all commit; they share commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_rolls_back_the_conflict_alone() {
    let app = spawn_on(Backend::Sqlite, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let others = graduates(&app, &w, 6).await;
    let r = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let item = r.body["id"].as_i64().unwrap();
    let r = act(&app, &w.graduate_tok, item, "accept", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    async fn history(app: &App, tok: &str, item: i64) -> usize {
        let path = format!("/api/v1/instances/{item}/history");
        app.get(&path, tok).await.body["items"]
            .as_array()
            .unwrap()
            .len()
    }
    let history_before = history(&app, &w.school_tok, item).await;
    let commits_before = metric(&app, "gradflow_sqlite_commits_total ").await;
    let grouped_before = metric(&app, "gradflow_sqlite_grouped_transactions_total ").await;

    hold(&app, true).await;
    let starts = others
        .iter()
        .map(|(g, _)| invite(&app, &w.employer_tok, *g));
    let approve = act(&app, &w.school_tok, item, "approve", json!({}));
    let reject = act(
        &app,
        &w.school2_tok,
        item,
        "reject",
        json!({"reason_category": "其他", "reason": "重复"}),
    );
    let batch = async { futures::join!(futures::future::join_all(starts), approve, reject) };
    let release = async {
        let deadline = tokio::time::Instant::now() + WAIT;
        while metric(&app, "gradflow_sqlite_writers_waiting ").await < 8.0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the batch never queued"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        hold(&app, false).await;
    };
    let ((started, approved, rejected), ()) = tokio::join!(batch, release);

    for r in &started {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut statuses = [approved.status, rejected.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "{} / {}",
        approved.text,
        rejected.text
    );
    let loser = if approved.status == 409 {
        &approved
    } else {
        &rejected
    };
    assert!(loser.body["code"].is_string(), "{}", loser.text);
    // The conflict wrote nothing: one decision in the history, the winner's state.
    assert_eq!(history(&app, &w.school_tok, item).await, history_before + 1);
    let v = app
        .get(&format!("/api/v1/instances/{item}"), &w.school_tok)
        .await;
    let want = if approved.status == 200 {
        "signed"
    } else {
        "rejected"
    };
    assert_eq!(v.body["state"], want, "{}", v.text);
    // The starts committed: each graduate's instance is there.
    for (r, (g, tok)) in started.iter().zip(&others) {
        let id = r.body["id"].as_i64().unwrap();
        let v = app.get(&format!("/api/v1/instances/{id}"), tok).await;
        assert_eq!(v.status, 200, "{}", v.text);
        assert_eq!(v.body["graduate_id"].as_i64(), Some(*g), "{}", v.text);
    }
    // Eight transactions in fewer commits than transactions.
    let commits = metric(&app, "gradflow_sqlite_commits_total ").await - commits_before;
    let grouped =
        metric(&app, "gradflow_sqlite_grouped_transactions_total ").await - grouped_before;
    assert!(grouped >= 8.0, "grouped {grouped}");
    assert!(
        (1.0..8.0).contains(&commits),
        "8 queued transactions took {commits} commits"
    );
}

/// What a client saw acknowledged: instance id → the highest row version of a 2xx answer.
type Acked = Arc<Mutex<BTreeMap<i64, i64>>>;

fn ack(acked: &Acked, body: &Value) {
    let (Some(id), Some(v)) = (body["id"].as_i64(), body["row_version"].as_i64()) else {
        panic!("a transition answer without id and row_version: {body}");
    };
    let mut a = acked.lock().unwrap();
    let e = a.entry(id).or_insert(v);
    *e = (*e).max(v);
}

/// The server is killed with SIGKILL while eight clients drive invitations, acceptances and
/// approvals; after a restart every acknowledged transition is there (the instance's row
/// version is at least the acknowledged one) and every instance's open tasks agree with its
/// state.
async fn sigkill_keeps_every_acknowledged_transition(backend: Backend) {
    let mut app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let grads = graduates(&app, &w, 32).await;
    let acked: Acked = Default::default();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (base, client) = (app.base.clone(), app.client.clone());
    let post = move |path: String, tok: String, body: Value| {
        let (base, client) = (base.clone(), client.clone());
        async move {
            let r = client
                .post(format!("{base}{path}"))
                .bearer_auth(tok)
                .json(&body)
                .send()
                .await
                .ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.json::<Value>().await.ok()
        }
    };
    let mut tasks = Vec::new();
    for chunk in grads.chunks(4) {
        let chunk = chunk.to_vec();
        let (post, acked, count) = (post.clone(), acked.clone(), count.clone());
        let (employer, school) = (w.employer_tok.clone(), w.school_tok.clone());
        tasks.push(tokio::spawn(async move {
            for (g, tok) in chunk {
                let path = "/api/v1/flows/online_signing/instances".to_string();
                let body = json!({"graduate_id": g, "input": invitation()});
                let Some(r) = post(path, employer.clone(), body).await else {
                    return;
                };
                ack(&acked, &r);
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let id = r["id"].as_i64().unwrap();
                for (action, who) in [("accept", &tok), ("approve", &school)] {
                    let path = format!("/api/v1/instances/{id}/actions/{action}");
                    let Some(r) = post(path, who.clone(), json!({"input": {}})).await else {
                        return;
                    };
                    ack(&acked, &r);
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }));
    }
    // Kill in the middle of the load (32 graduates × 3 transitions).
    let deadline = tokio::time::Instant::now() + WAIT;
    while count.load(std::sync::atomic::Ordering::SeqCst) < 40 {
        assert!(tokio::time::Instant::now() < deadline, "the load never ran");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    app.kill().await;
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 10, "acknowledged before the kill: {acked:?}");
    let done = count.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        done < 96,
        "the kill came after the load ({done} of 96 acknowledged)"
    );
    app.restart().await;

    for (id, version) in &acked {
        let v = app
            .get(&format!("/api/v1/instances/{id}"), &w.school_tok)
            .await;
        assert_eq!(v.status, 200, "acknowledged instance {id} lost: {}", v.text);
        let stored = v.body["row_version"].as_i64().unwrap();
        assert!(
            stored >= *version,
            "instance {id}: acknowledged version {version}, stored {stored}"
        );
    }
    // Tasks and states agree for every instance of these graduates: an invitation waits for
    // its graduate, a reviewed one for the school, a signed one for nobody.
    let inbox = |tok: String| {
        let app = &app;
        async move {
            let r = app.get("/api/v1/tasks?page_size=200", &tok).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["instance_id"].as_i64().unwrap())
                .collect::<Vec<i64>>()
        }
    };
    let school_inbox = inbox(w.school_tok.clone()).await;
    let school_set: BTreeSet<i64> = school_inbox.iter().copied().collect();
    assert_eq!(
        school_set.len(),
        school_inbox.len(),
        "one school task per item"
    );
    let mut signed = 0;
    for (_, tok) in &grads {
        let mine = inbox(tok.clone()).await;
        let r = app.get("/api/v1/instances?page_size=200", tok).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // The agreements (a signed one also opened the graduate's 去向登记确认).
        let agreements = r.body["items"].as_array().unwrap().iter().filter(|i| {
            i["definition"]
                .as_str()
                .is_some_and(|d| d.starts_with("online_signing@"))
        });
        for i in agreements {
            let id = i["id"].as_i64().unwrap();
            let state = i["state"].as_str().unwrap();
            let (graduate_task, school_task) = (mine.contains(&id), school_set.contains(&id));
            match state {
                "invited" => assert!(graduate_task && !school_task, "{id} {state}"),
                "reviewing" => assert!(!graduate_task && school_task, "{id} {state}"),
                "signed" => {
                    signed += 1;
                    assert!(!graduate_task && !school_task, "{id} {state}");
                }
                other => panic!("instance {id} in an unexpected state {other}"),
            }
        }
    }
    assert!(signed >= 1, "some agreements were signed before the kill");
}

crate::both_backends!(sigkill_keeps_every_acknowledged_transition);

/// Two servers on one PostgreSQL database (as behind a load balancer): a logout on one is
/// refused at once by the other; invitations started on both produce messages each delivered
/// once per idempotency key; their deadline timers, due on both servers' clocks, fire once
/// each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres() {
    use sea_orm::ConnectionTrait;
    let hook = support::webhook::start().await;
    let opts = || AppOptions {
        webhook_url: Some(hook.url()),
        extra_args: vec!["--worker-interval-ms".into(), "20".into()],
        ..Default::default()
    };
    let a = spawn_on(Backend::Postgres, opts()).await;
    let url = a.options().database_url.clone().unwrap();
    let b = support::app::spawn(AppOptions {
        database_url: Some(url.clone()),
        ..opts()
    })
    .await;
    let w = world(&a, "school").await;

    // A session used on B, ended on A: B refuses it at once.
    assert_eq!(b.get("/api/v1/me", &w.school2_tok).await.status, 200);
    let r = a
        .post("/api/v1/auth/logout", &w.school2_tok, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(b.get("/api/v1/me", &w.school2_tok).await.status, 401);

    // Invitations on both servers, concurrently.
    let grads = graduates(&a, &w, 12).await;
    let starts = grads.iter().enumerate().map(|(i, (g, _))| {
        let app = if i % 2 == 0 { &a } else { &b };
        invite(app, &w.employer_tok, *g)
    });
    let ids: Vec<i64> = futures::future::join_all(starts)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_i64().unwrap()
        })
        .collect();

    // Every message delivered, each once, though both servers' workers ran.
    let db = gradflow_server::db::connect(&gradflow_server::config::Config {
        data_dir: a.data_dir.path().to_path_buf(),
        database_url: Some(url),
        ..Default::default()
    })
    .await
    .unwrap();
    let count = |sql: &'static str| {
        let db = &db;
        async move {
            let row = db
                .conn
                .query_one(db.stmt(sql, vec![]))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while count("SELECT COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL").await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "messages never delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let messages = count("SELECT COUNT(*) AS n FROM outbox").await as usize;
    assert!(
        messages >= ids.len(),
        "{messages} messages for {} invitations",
        ids.len()
    );
    let keys = hook.idempotency_keys();
    assert_eq!(keys.len(), messages, "delivered: {keys:?}");
    assert_eq!(
        hook.unique_keys(),
        messages,
        "a message was delivered twice: {keys:?}"
    );

    // The response deadline passes on both servers' clocks: each timer fires once.
    for app in [&a, &b] {
        let r = app
            .post(
                "/api/v1/admin/clock",
                &app.admin_token,
                json!({"advance_seconds": 8 * 86_400}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for id in &ids {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let v = a
                .get(&format!("/api/v1/instances/{id}"), &w.school_tok)
                .await;
            if v.body["state"] == "expired" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} never expired: {}",
                v.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let expiries = count("SELECT COUNT(*) AS n FROM history WHERE action = 'expire'").await;
    assert_eq!(expiries as usize, ids.len(), "one expiry per invitation");
}
