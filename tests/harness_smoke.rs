//! Tests of the end-to-end harness itself (tests/support), independent of what the gradflow
//! binary does: the PostgreSQL server starts and hands out distinct working databases, and the
//! webhook receiver records deliveries, simulates an outage and recovers.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use support::{pg, webhook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_starts_and_creates_distinct_databases() {
    // Concurrent first users share one server.
    let (a, b) = tokio::join!(pg::pg(), pg::pg());
    assert!(std::ptr::eq(a, b), "one server per test process");
    let server = a;
    assert_ne!(server.port, 0);

    let (url1, url2) =
        tokio::task::spawn_blocking(move || (server.create_database(), server.create_database()))
            .await
            .unwrap();
    assert_ne!(url1, url2);
    let prefix = format!("postgres://gradflow@127.0.0.1:{}/", server.port);
    assert!(url1.starts_with(&prefix), "{url1}");
    assert!(url2.starts_with(&prefix), "{url2}");

    for url in [&url1, &url2] {
        let name = url.rsplit('/').next().unwrap().to_string();
        let url = url.clone();
        let (one, db) = tokio::task::spawn_blocking(move || {
            (
                server.psql(&url, "select 1"),
                server.psql(&url, "select current_database()"),
            )
        })
        .await
        .unwrap();
        assert_eq!(one, "1");
        assert_eq!(db, name);
    }

    // The databases are separate: a table in one is absent from the other, and UTF-8 text
    // round-trips.
    let (u1, u2) = (url1.clone(), url2.clone());
    let (here, there) = tokio::task::spawn_blocking(move || {
        server.psql(
            &u1,
            "create table t (name text); insert into t values ('南京大学')",
        );
        (
            server.psql(&u1, "select name from t"),
            server.psql(&u2, "select count(*) from pg_tables where tablename = 't'"),
        )
    })
    .await
    .unwrap();
    assert_eq!(here, "南京大学");
    assert_eq!(there, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_records_and_simulates_an_outage() {
    let hook = webhook::start().await;
    assert!(hook.url().starts_with("http://127.0.0.1:"));
    assert!(hook.url().ends_with("/hook"));
    let client = reqwest::Client::new();
    let post = |key: &'static str, n: i64| {
        client
            .post(hook.url())
            .header("Idempotency-Key", key)
            .json(&json!({"message": {"kind": "notify", "n": n}}))
            .send()
    };

    let r = post("k1", 1).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"ok": true})
    );
    let got = hook.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/hook");
    assert_eq!(got[0].idempotency_key(), Some("k1"));
    assert_eq!(
        got[0].headers.get("idempotency-key").map(String::as_str),
        Some("k1")
    );
    assert_eq!(got[0].body["message"]["n"], 1);
    assert_eq!(got[0].status, 200);

    // Down: 503, recorded as an attempt, not as a delivery.
    hook.set_down(true);
    let r = post("k2", 2).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(hook.received().len(), 1);
    let attempts = hook.attempts();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].idempotency_key(), Some("k2"));
    assert_eq!(attempts[1].status, 503);

    // Up again: the retry and a duplicate of the first delivery are both recorded.
    hook.set_down(false);
    assert_eq!(post("k2", 2).await.unwrap().status(), 200);
    assert_eq!(post("k1", 1).await.unwrap().status(), 200);
    let got = hook.wait_for(|r| r.len() == 3, 20).await;
    let keys: Vec<_> = got.iter().map(|r| r.idempotency_key().unwrap()).collect();
    assert_eq!(keys, ["k1", "k2", "k1"]);
    assert_eq!(hook.idempotency_keys(), ["k1", "k2", "k1"]);
    assert_eq!(hook.unique_keys(), 2);
    assert_eq!(hook.attempts().len(), 4);

    // Any path is recorded; a body that is not JSON is kept as text.
    let r = client
        .post(format!("http://127.0.0.1:{}/other", hook.port()))
        .body("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let last = hook.received().pop().unwrap();
    assert_eq!(last.path, "/other");
    assert_eq!(last.text, "plain");
    assert!(last.body.is_null());
    let paths: HashSet<String> = hook.attempts().into_iter().map(|a| a.path).collect();
    assert_eq!(paths.len(), 2);
}

#[tokio::test]
#[should_panic(expected = "never held")]
async fn webhook_wait_for_gives_up_with_the_attempts() {
    let hook = webhook::start().await;
    hook.wait_for(|r| !r.is_empty(), Duration::from_millis(200))
        .await;
}
