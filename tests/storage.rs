//! The storage layer's one way to write, on both backends: the read pool cannot write (on
//! SQLite its connections are read-only, on PostgreSQL its transactions are), so a write that
//! bypasses the writer fails; writes through `begin_write` and `writer` commit and are seen by
//! the readers. `GET /metrics` counts them.

mod support;

use gradflow_server::config::Config;
use sea_orm::ConnectionTrait;
use support::app::Backend;

async fn connect(backend: Backend, dir: &std::path::Path) -> gradflow_server::db::Db {
    let config = Config {
        data_dir: dir.to_path_buf(),
        database_url: match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(support::pg::pg().await.create_database()),
        },
        ..Config::default()
    };
    gradflow_server::db::connect(&config).await.unwrap()
}

async fn count(db: &gradflow_server::db::Db) -> i64 {
    let row = db
        .conn
        .query_one(db.stmt("SELECT COUNT(*) AS n FROM provinces", vec![]))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn writes_only_through_the_writer(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(backend, dir.path()).await;
    let insert =
        |code: &str| format!("INSERT INTO provinces (code, name) VALUES ('{code}', '测试省')");
    assert_eq!(count(&db).await, 0);

    // Bypassing the writer: a statement on the read pool, and a transaction begun on it.
    let direct = db.conn.execute_unprepared(&insert("91")).await;
    assert!(direct.is_err(), "a write through the read pool must fail");
    // On SQLite an explicit transaction; PostgreSQL runs a multi-statement string in one
    // implicit transaction (an explicit one failing would leave its session aborted).
    let several = match backend {
        Backend::Sqlite => format!("BEGIN; {}; COMMIT", insert("92")),
        Backend::Postgres => format!("{}; {}", insert("92"), insert("96")),
    };
    let inside = db.conn.execute_unprepared(&several).await;
    assert!(
        inside.is_err(),
        "a write in a read-pool transaction must fail"
    );
    assert_eq!(count(&db).await, 0, "nothing was written");

    // The writer: a transaction, and a single statement in the writer's turn.
    let tx = db.begin_write().await.unwrap();
    tx.execute_unprepared(&insert("93")).await.unwrap();
    tx.commit().await.unwrap();
    db.writer()
        .await
        .execute_unprepared(&insert("94"))
        .await
        .unwrap();
    assert_eq!(count(&db).await, 2, "readers see what the writer committed");

    // A dropped write transaction rolls back.
    let tx = db.begin_write().await.unwrap();
    tx.execute_unprepared(&insert("95")).await.unwrap();
    drop(tx);
    assert_eq!(count(&db).await, 2);
}

/// `GET /metrics`: statements by pool, transitions, requests by class, latency and statements
/// per request — and a transition moves them.
async fn metrics_count_what_happens(backend: Backend) {
    let app = support::app::spawn_on(backend, Default::default()).await;
    let w = support::world::world(&app, "school").await;
    let read = |text: &str, key: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} missing:\n{text}"))
    };
    let metrics = || async {
        let r = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        r.text().await.unwrap()
    };
    let before = metrics().await;
    let r = support::world::invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let after = metrics().await;
    for key in [
        "gradflow_transitions_total ",
        "gradflow_db_statements_total{pool=\"read\"} ",
        "gradflow_db_statements_total{pool=\"write\"} ",
        "gradflow_http_requests_total{class=\"2xx\"} ",
        "gradflow_http_request_statements_count ",
        "gradflow_http_request_duration_seconds_count ",
    ] {
        assert!(
            read(&after, key) > read(&before, key),
            "{key} did not move:\n{after}"
        );
    }
    assert_eq!(
        read(&after, "gradflow_transitions_total ") - read(&before, "gradflow_transitions_total "),
        1.0
    );
}

crate::both_backends!(writes_only_through_the_writer, metrics_count_what_happens);

/// `--sqlite-synchronous`: NORMAL by default, FULL when asked (every commit synced).
#[tokio::test]
async fn sqlite_synchronous_is_configurable() {
    use gradflow_server::config::SqliteSynchronous;
    for (setting, want) in [(SqliteSynchronous::Normal, 1), (SqliteSynchronous::Full, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            sqlite_synchronous: setting,
            ..Config::default()
        };
        let db = gradflow_server::db::connect(&config).await.unwrap();
        let w = db.writer().await;
        let row = w
            .query_one(db.stmt("PRAGMA synchronous", vec![]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), want, "{setting:?}");
    }
}
