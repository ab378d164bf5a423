//! The service as an operator runs it: one server per data directory, a data directory that
//! must be writable, `/readyz`, request ids and what the log shows, a graceful stop in the
//! middle of a roster import, and signed webhooks.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::app::{spawn, spawn_on, App, AppOptions, Backend};
use support::flows::sheet;
use support::world::{world, DEPT};

/// Runs `gradflow ARGS` to its end (at most a minute): (success, stderr).
async fn run_gradflow(args: &[&str]) -> (bool, String) {
    let mut cmd = support::app::gradflow_command();
    cmd.args(args)
        .env("GRADFLOW_LOG", "warn")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("gradflow ends within a minute")
        .expect("run gradflow");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn serve_on(dir: &str) -> Vec<&str> {
    vec![
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        dir,
        "--root",
        env!("CARGO_MANIFEST_DIR"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_data_dir_refuses_and_names_the_holder() {
    let app = spawn(AppOptions::default()).await;
    let dir = app.data_dir.path().display().to_string();
    let (ok, stderr) = run_gradflow(&serve_on(&dir)).await;
    assert!(!ok, "a second server started on {dir}");
    assert!(
        stderr.contains("in use by another gradflow server"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", app.pid().unwrap())),
        "the message names the holder: {stderr}"
    );
    // `migrate` does not run beside it either, and the first server is unharmed.
    let (ok, stderr) = run_gradflow(&["migrate", "--data-dir", &dir]).await;
    assert!(
        !ok && stderr.contains("in use by another gradflow server"),
        "{stderr}"
    );
    assert_eq!(app.get("/readyz", "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_that_cannot_be_written_stops_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    // Permissions do not bind root (CI runs as root): /proc/self is a directory nobody can
    // create files in.
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let dir = if root {
        "/proc/self".to_string()
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        tmp.path().display().to_string()
    };
    let (ok, stderr) = run_gradflow(&serve_on(&dir)).await;
    assert!(!ok, "started on a read-only data dir");
    assert!(stderr.contains("is not writable"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
}

/// Runs SQL on the app's database (SQLite file or PostgreSQL) beside the server.
async fn sql(app: &App, backend: Backend, statement: &str) -> String {
    match backend {
        Backend::Postgres => {
            let url = app.options().database_url.clone().unwrap();
            let statement = statement.to_string();
            tokio::task::spawn_blocking(move || support::pg::pg_blocking().psql(&url, &statement))
                .await
                .unwrap()
        }
        Backend::Sqlite => {
            use sea_orm::ConnectionTrait;
            let path = app.data_dir.path().join("gradflow.sqlite");
            let db = sea_orm::Database::connect(format!("sqlite://{}?mode=rw", path.display()))
                .await
                .unwrap();
            let rows = db
                .query_all(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    statement,
                ))
                .await
                .unwrap();
            let out = rows
                .first()
                .and_then(|r| r.try_get_by_index::<String>(0).ok())
                .unwrap_or_default();
            db.close().await.unwrap();
            out
        }
    }
}

async fn readyz_says_whether_the_database_is_usable(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let r = app.get("/readyz", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ready");
    assert!(r.body["migrations"].as_u64().unwrap() >= 8, "{}", r.text);

    // A migration this binary knows is not applied: not ready, and which one is said.
    let last = sql(&app, backend, "SELECT MAX(version) FROM seaql_migrations").await;
    assert!(last.starts_with('m'), "{last}");
    sql(
        &app,
        backend,
        &format!("DELETE FROM seaql_migrations WHERE version = '{last}'"),
    )
    .await;
    let r = app.get("/readyz", "").await;
    r.refused(503, "not_ready");
    assert!(
        r.body["message"].as_str().unwrap().contains(&last),
        "{}",
        r.text
    );
    // /healthz is the process only.
    assert_eq!(app.get("/healthz", "").await.status, 200);
    sql(
        &app,
        backend,
        &format!("INSERT INTO seaql_migrations (version, applied_at) VALUES ('{last}', 0)"),
    )
    .await;
    assert_eq!(app.get("/readyz", "").await.status, 200);

    if backend == Backend::Postgres {
        // The database gone: not ready, in the error shape.
        let url = app.options().database_url.clone().unwrap();
        let name = url.rsplit('/').next().unwrap().to_string();
        let admin = support::pg::pg_blocking().url("postgres");
        tokio::task::spawn_blocking(move || {
            support::pg::pg_blocking()
                .psql(&admin, &format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        })
        .await
        .unwrap();
        let r = app.get("/readyz", "").await;
        r.refused(503, "not_ready");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .starts_with("数据库不可用"),
            "{}",
            r.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_a_request_id_and_the_log_keeps_nothing_personal() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let app = spawn(AppOptions {
        env: vec![("GRADFLOW_LOG".into(), "info".into())],
        extra_args: vec!["--log-format".into(), "json".into()],
        stderr: Some(log.path().to_path_buf()),
        ..AppOptions::default()
    })
    .await;
    let w = world(&app, "school").await;
    let id_number = "11010519491231002X";
    let send = |header: Option<&'static str>| {
        let mut req = app
            .client
            .get(app.url(&format!("/api/v1/roster/graduates?q={id_number}")));
        req = req.bearer_auth(&w.school_tok);
        if let Some(h) = header {
            req = req.header("X-Request-Id", h);
        }
        req.send()
    };
    // Generated when absent: 32 hex digits, different each time.
    let a = send(None).await.unwrap();
    assert_eq!(a.status(), 200);
    let ida = a.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(ida.len(), 32, "{ida}");
    assert!(ida.bytes().all(|b| b.is_ascii_hexdigit()), "{ida}");
    let idb = send(None).await.unwrap().headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(ida, idb);
    // The caller's own kept; one that is not a sane id replaced.
    let own = send(Some("lb-7f3a:0001")).await.unwrap();
    assert_eq!(own.headers()["x-request-id"], "lb-7f3a:0001");
    let odd = send(Some("has space")).await.unwrap();
    assert_ne!(odd.headers()["x-request-id"], "has space");
    // Errors carry it too (a framework 404 and an auth refusal).
    for (path, token) in [("/no/such/path", ""), ("/api/v1/tasks", "")] {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error());
        assert_eq!(r.headers()["x-request-id"].len(), 32, "{path}");
    }
    // The log: one JSON object per line; the request's line carries its id, method and path,
    // never the query (an ID number) — and no ANSI colour codes.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(log.path()).unwrap();
        if text.contains("lb-7f3a:0001") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!text.contains(id_number), "an ID number reached the log");
    assert!(!text.contains('\u{1b}'), "ANSI codes in a log file");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["span"]["id"] == ida && l["fields"]["message"] == "answered")
        .unwrap_or_else(|| panic!("no log line of request {ida}:\n{text}"));
    assert_eq!(answered["span"]["method"], "GET");
    assert_eq!(answered["span"]["path"], "/api/v1/roster/graduates");
    assert_eq!(answered["fields"]["status"], 200);
}

/// A valid resident ID number for row `i` (born 2004, Nanjing).
fn id_number(i: usize) -> String {
    let first17 = format!(
        "32010620040{}{:02}{:03}",
        1 + (i / 28 / 1000) % 9,
        1 + i % 28,
        (i / 28) % 1000
    );
    let check = gradflow_engine::ident::IdNumber::expected_check_char(&first17).unwrap();
    format!("{first17}{check}")
}

async fn graduates(app: &App, tok: &str) -> u64 {
    let r = app.get("/api/v1/roster/graduates?page_size=1", tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["total"].as_u64().unwrap()
}

async fn a_stop_mid_import_keeps_whole_batches_and_says_how_far(backend: Backend) {
    let mut app = spawn_on(
        backend,
        AppOptions {
            extra_args: vec!["--shutdown-grace-secs".into(), "60".into()],
            ..AppOptions::default()
        },
    )
    .await;
    let w = world(&app, "school").await;
    let before = graduates(&app, &w.school_tok).await;
    const ROWS: usize = 20_000;
    // The first row is refused (its ID number is not one), the others are stored.
    let rows: Vec<Value> = (0..ROWS)
        .map(|i| {
            let id = if i == 0 {
                "12345".to_string()
            } else {
                id_number(i)
            };
            json!({"candidate_no": format!("27{i:012}"), "id_number": id,
                   "name": format!("学生{i}"), "education_level": "本科", "training_mode": "10",
                   "department": DEPT, "major": "软件工程", "cohort": 2027})
        })
        .collect();
    let import = app
        .client
        .post(app.url("/api/v1/roster/graduates"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"school_code": "10284", "rows": rows}))
        .send();
    let import = tokio::spawn(import);
    // Once the first batch is committed, the server is asked to stop.
    let mut seen = before;
    for _ in 0..600 {
        seen = graduates(&app, &w.school_tok).await;
        if seen > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen > before, "the import committed nothing within 30 s");
    let status = app.terminate().await;
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    let answer = import
        .await
        .unwrap()
        .expect("the import is answered, not cut");
    let code = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    app.restart().await;
    let saved = graduates(&app, &w.school_tok).await - before;
    assert_eq!(
        code, 503,
        "the import ran to its end before the stop: {body}"
    );
    assert_eq!(body["code"], "import_interrupted", "{body}");
    let not_saved = body["errors"][0]["message"]
        .as_str()
        .and_then(|m| m.split("共 ").nth(1))
        .and_then(|m| m.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(saved + not_saved, ROWS as u64 - 1, "{body}");
    assert!(saved > 0 && saved < ROWS as u64, "{saved}");
    assert_eq!(saved % 500, 0, "whole batches only: {saved}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&format!("已保存 {saved} 行")), "{message}");
    // The error report outlives the stop: the row refused so far, then where the unsaved
    // rows begin (the batch after the last saved one: its first row, 1 + saved + 1).
    let report = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "error_report")
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no error report: {body}"))
        .to_string();
    let rows = sheet(&app, &report, &app.admin_token.clone()).await;
    let text: Vec<String> = rows.iter().map(|r| r.join(" ")).collect();
    assert!(
        text.iter().any(|r| r.contains("第1行 身份证号")),
        "{text:?}"
    );
    let first_unsaved = saved + 2;
    assert!(
        text.iter()
            .any(|r| r.contains(&format!("第{first_unsaved}行"))
                && r.contains(&format!("{not_saved} 行未保存"))),
        "{text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_messages_are_signed_with_the_receivers_secret() {
    use hmac::{Hmac, Mac};
    let hook = support::webhook::start().await;
    let secret = "s3cret-of-the-receiver";
    let app = spawn(AppOptions {
        webhook_url: Some(hook.url()),
        extra_args: vec!["--webhook-secret".into(), secret.into()],
        ..AppOptions::default()
    })
    .await;
    let w = world(&app, "school").await;
    let r = support::world::invite(&app, &w.employer_tok, w.graduate).await;
    assert!(r.status < 300, "{}", r.text);
    let got = hook.wait_for(|r| !r.is_empty(), 30).await;
    let m = &got[0];
    let at = m.header("x-gradflow-timestamp").expect("timestamp header");
    let now = chrono::Utc::now().timestamp();
    assert!((now - at.parse::<i64>().unwrap()).abs() < 300, "{at}");
    let check = |body: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{at}.{body}").as_bytes());
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert_eq!(
        m.header("x-gradflow-signature"),
        Some(check(&m.text).as_str())
    );
    // The signature covers the body: another body does not verify.
    assert_ne!(
        m.header("x-gradflow-signature"),
        Some(check(&m.text.replace("instance_id", "instance_iD")).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_database_scheme_is_refused_without_echoing_the_password() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let mut args = serve_on(&dir);
    args.extend(["--database-url", "mysql://root:hunter2@db.local/gf"]);
    let (ok, stderr) = run_gradflow(&args).await;
    assert!(!ok);
    assert!(stderr.contains("`mysql`"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password was echoed: {stderr}"
    );
    assert!(!Path::new(&dir).join("gradflow.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frameworks_refusals_answer_the_one_error_shape() {
    let app = spawn(AppOptions::default()).await;
    let w = world(&app, "school").await;
    let tok = w.school_tok.as_str();
    let send = |method: reqwest::Method, path: &str, token: &str, ct: Option<&str>, body: &str| {
        let mut req = app.client.request(method, app.url(path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        req.body(body.to_string()).send()
    };
    use reqwest::Method;
    /// A request and the refusal it gets: status, code, and the field named (if one).
    struct Case<'a> {
        method: Method,
        path: &'a str,
        token: &'a str,
        content_type: Option<&'a str>,
        body: &'a str,
        status: u16,
        code: &'a str,
        field: Option<&'a str>,
    }
    let get = |path, token, status, code, field| Case {
        method: Method::GET,
        path,
        token,
        content_type: None,
        body: "",
        status,
        code,
        field,
    };
    let start = "/api/v1/flows/online_signing/instances";
    let cases = vec![
        get("/api/v1/tasks", "", 401, "unauthorized", None),
        get("/api/v1/tasks", "gf_not_a_token", 401, "unauthorized", None),
        get(
            "/api/v1/instances/abc",
            tok,
            400,
            "invalid_path_parameter",
            Some("id"),
        ),
        get(
            "/api/v1/tasks?page_size=many",
            tok,
            400,
            "invalid_parameter",
            Some("page_size"),
        ),
        get("/api/v1/no/such/thing", tok, 404, "not_found", None),
        Case {
            method: Method::POST,
            content_type: Some("application/json"),
            body: "{bad",
            ..get(start, tok, 400, "invalid_body", None)
        },
        Case {
            method: Method::POST,
            content_type: Some("text/xml"),
            body: "<a/>",
            ..get(start, tok, 415, "unsupported_media_type", None)
        },
        Case {
            method: Method::PUT,
            content_type: Some("application/json"),
            body: "{}",
            ..get("/api/v1/instances/1", tok, 405, "method_not_allowed", None)
        },
        // A text field given a boolean is refused, not stored as the text "false".
        Case {
            method: Method::POST,
            content_type: Some("application/json"),
            body: r#"{"name": false}"#,
            ..get("/api/v1/api-keys", tok, 422, "invalid_type", Some("name"))
        },
    ];
    for Case {
        method,
        path,
        token,
        content_type,
        body,
        status,
        code,
        field,
    } in cases
    {
        let r = send(method.clone(), path, token, content_type, body)
            .await
            .unwrap();
        let what = format!("{method} {path}");
        assert_eq!(r.status().as_u16(), status, "{what}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/json"), "{what}: {ct}");
        let allow = r
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["code"], code, "{what}: {b}");
        let message = b["message"].as_str().unwrap_or_default();
        assert!(
            message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{what}: the message is for users, in Chinese: {b}"
        );
        if let Some(field) = field {
            assert_eq!(b["errors"][0]["field"], field, "{what}: {b}");
        }
        if status == 405 {
            let allow = allow.unwrap_or_else(|| panic!("{what}: no Allow header"));
            assert!(allow.contains("GET") && !allow.contains("PUT"), "{allow}");
        }
    }
}

/// `/metrics` by route, by flow, and the outbox as an operator watches it: a receiver that is
/// down shows as failures and a backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_routes_flows_and_the_outbox_backlog() {
    let hook = support::webhook::start().await;
    hook.set_down(true);
    let app = spawn(AppOptions {
        webhook_url: Some(hook.url()),
        extra_args: vec!["--outbox-retry-base-ms".into(), "60000".into()],
        ..AppOptions::default()
    })
    .await;
    let w = world(&app, "school").await;
    let r = support::world::invite(&app, &w.employer_tok, w.graduate).await;
    assert!(r.status < 300, "{}", r.text);
    hook.wait_for_attempts(|a| !a.is_empty(), 30).await;
    let read = |text: &str, line: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{line}` in:\n{text}"))
    };
    let mut text = String::new();
    for _ in 0..100 {
        text = app.get("/metrics", "").await.text;
        if text.contains("gradflow_outbox_failures_total 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        read(
            &text,
            r#"gradflow_flow_transitions_total{flow="online_signing"}"#
        ),
        1.0
    );
    assert!(
        read(
            &text,
            r#"gradflow_http_route_requests_total{method="POST",route="/api/v1/flows/{key}/instances",status="201"}"#
        ) >= 1.0
    );
    assert!(read(&text, "gradflow_outbox_failures_total") >= 1.0);
    assert!(read(&text, "gradflow_outbox_pending") >= 1.0);
    assert!(read(&text, "gradflow_timer_lag_seconds") >= 0.0);
    // An unknown path is counted as one route, not one per path.
    app.get("/api/v1/nothing/here/1", "").await;
    let text = app.get("/metrics", "").await.text;
    assert!(text.contains(r#"route="other",status="404""#), "{text}");
    assert!(!text.contains("/nothing/here"));
}

/// Every paged list of the served spec pages one way — `page`, `page_size` (20 by default, at
/// most 200), answered as `{total, page, page_size, items}` — and refuses a parameter it does
/// not take instead of ignoring it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_pages_one_way_and_refuses_unknown_parameters() {
    let app = spawn(AppOptions::default()).await;
    let w = world(&app, "school").await;
    let spec = app.get("/openapi.json", "").await.body;
    let mut lists = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        let Some(get) = ops.get("get") else { continue };
        let params: Vec<&str> = get["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        if params.contains(&"page") {
            assert!(params.contains(&"page_size"), "{path}: {params:?}");
            assert!(!params.contains(&"per_page"), "{path}: {params:?}");
            lists.push(
                path.replace("{list}", "signing")
                    .replace("{kind}", "archive"),
            );
        }
    }
    assert!(lists.len() >= 7, "{lists:?}");
    // The school also has the archive module (its transfer and verification lists).
    let province = support::world::province_user(&app, "p-32", "32").await;
    support::flows::switch_on(&app, &w, &province, "rw").await;
    for path in &lists {
        // The school sees each list, except the audit log (the administrator's) and the
        // four-prohibitions reports (the province's).
        let tok = if path.ends_with("audit-log") {
            app.admin_token.as_str()
        } else if path.ends_with("/reports") {
            province.as_str()
        } else {
            w.school_tok.as_str()
        };
        let r = app.get(&format!("{path}?page=1&page_size=1"), tok).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let b = &r.body;
        assert_eq!(
            (b["page"].as_u64(), b["page_size"].as_u64()),
            (Some(1), Some(1)),
            "{path}: {b}"
        );
        assert!(
            b["total"].is_u64() && b["items"].as_array().is_some_and(|i| i.len() <= 1),
            "{path}: {b}"
        );
        let r = app.get(&format!("{path}?page_size=201"), tok).await;
        r.refused(422, "invalid_page_size");
        let r = app.get(&format!("{path}?per_page=5"), tok).await;
        r.refused(400, "unknown_parameter");
        assert_eq!(r.body["errors"][0]["field"], "per_page", "{path}");
        let r = app.get(&format!("{path}?page=1"), tok).await;
        assert_eq!(r.body["page_size"], 20, "{path}: the one default");
    }
}

/// The served spec as an integrator generates a client from it: every operation has a unique
/// `operationId`, a one-line summary, a description and a tag; every parameter a description;
/// every success answer a typed body (a named schema, an array of them, or a file); every
/// operation documents the errors it answers, each in the one error shape; and every JSON
/// request body has an example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_is_typed_and_documents_its_errors() {
    let app = spawn(AppOptions::default()).await;
    let spec = app.get("/openapi.json", "").await.body;
    let schemas = &spec["components"]["schemas"];
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => s.clone(),
        }
    };
    // A schema a client can generate a type from.
    let typed = |s: &Value| -> bool {
        let s = resolve(s);
        let named = |s: &Value| {
            let s = resolve(s);
            s.get("properties").is_some() || s.get("oneOf").is_some() || s.get("enum").is_some()
        };
        named(&s)
            || s["format"] == "binary"
            || (s["type"] == "array" && (named(&s["items"]) || s["items"]["type"].is_string()))
    };
    let mut ids = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    let mut count = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            count += 1;
            let what = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no operationId"));
            assert!(ids.insert(id.to_string()), "{what}: operationId {id} twice");
            let summary = op["summary"].as_str().unwrap_or_default();
            // A one-line summary; the detail goes to the description.
            if summary.trim().is_empty() || summary.contains('\n') || summary.chars().count() > 100
            {
                problems.push(format!("{what}: summary {summary:?}"));
            }
            if op["description"]
                .as_str()
                .is_none_or(|d| d.trim().is_empty())
            {
                problems.push(format!("{what}: no description"));
            }
            if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
                problems.push(format!("{what}: no tag"));
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["description"]
                    .as_str()
                    .is_none_or(|d| d.trim().is_empty())
                {
                    problems.push(format!(
                        "{what}: parameter {} has no description",
                        p["name"]
                    ));
                }
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (ct, c) in content {
                    // A named body (an Object) carries an example; a free map of values
                    // (a province's parameters) is described by its parameter.
                    let named = c["schema"]["$ref"].is_string();
                    if ct.starts_with("application/json")
                        && named
                        && resolve(&c["schema"])["example"].is_null()
                    {
                        problems.push(format!("{what}: the request body has no example"));
                    }
                }
            }
            let mut errors = 0;
            for (status, r) in op["responses"].as_object().unwrap() {
                let content = r["content"].as_object();
                if status.starts_with('2') {
                    for (ct, c) in content.into_iter().flatten() {
                        // A page or a file is a string of its media type.
                        let text =
                            !ct.starts_with("application/json") && c["schema"]["type"] == "string";
                        if !text && !typed(&c["schema"]) {
                            problems
                                .push(format!("{what}: {status} {ct} is untyped: {}", c["schema"]));
                        }
                    }
                } else if status.starts_with('4') || status.starts_with('5') {
                    errors += 1;
                    let refs: Vec<&str> = content
                        .into_iter()
                        .flatten()
                        .filter_map(|(_, c)| c["schema"]["$ref"].as_str())
                        .collect();
                    if refs != ["#/components/schemas/Problem"] {
                        problems.push(format!("{what}: {status} is not the error shape: {refs:?}"));
                    }
                    if r["description"].as_str().is_none_or(|d| !d.contains('`')) {
                        problems.push(format!("{what}: {status} names no error code"));
                    }
                }
            }
            if errors == 0 {
                problems.push(format!("{what}: no documented error"));
            }
            // Every operation refuses a query parameter it does not take (400).
            if op["responses"].get("400").is_none() {
                problems.push(format!("{what}: 400 is not documented"));
            }
        }
    }
    assert!(count >= 70, "{count} operations");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

crate::both_backends!(
    readyz_says_whether_the_database_is_usable,
    a_stop_mid_import_keeps_whole_batches_and_says_how_far
);
