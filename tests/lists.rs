//! Sorting of the inbox, the instance list and the management lists over HTTP on SQLite and
//! PostgreSQL — each key both ways, ties by id, the order kept across pages — and, on SQLite
//! with `--check-query-plans`, every paged list read through an index in every scope: no list
//! query scans a large table or sorts its rows after reading them (the server logs a
//! `gradflow::plan` warning for one that does, which fails the test).

mod support;

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::{account, act, invite, province_user, world, World, OTHER_DEPT};

async fn advance(app: &App, seconds: i64) {
    let r = app
        .post(
            "/api/v1/admin/clock",
            &app.admin_token,
            json!({"advance_seconds": seconds}),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
}

/// A graduate of 外国语学院 of training mode 10 (who may sign online), with a session.
async fn signing_graduate(app: &App, w: &World, n: u32, name: &str) -> (i64, String) {
    let first17 = format!("320102200004{n:02}12{n}");
    let check = gradflow_engine::ident::IdNumber::expected_check_char(&first17).unwrap();
    let r = app
        .post(
            &format!("/api/v1/admin/schools/{}/graduates", w.school_id),
            &app.admin_token,
            json!([{"candidate_no": format!("2632010215010{n}"), "id_number": format!("{first17}{check}"),
                    "name": name, "department": OTHER_DEPT, "training_mode": "10"}]),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let id = r.body["ids"][0].as_i64().unwrap();
    let tok = account(
        app,
        json!({"username": format!("g{n}"), "role": "graduate", "province_code": "32",
               "school_id": w.school_id, "department": OTHER_DEPT, "graduate_id": id}),
    )
    .await;
    (id, tok)
}

/// Three online agreements, of 张三 (计算机科学与技术系), 钱七 and 孙八 (外国语学院), started in
/// that order and accepted in the order 张三, 孙八, 钱七 (a minute apart), so that creation,
/// last change, the task's opening, the name and the department each order them differently.
/// Returns their ids in the order they were started.
async fn three_agreements(app: &App, w: &World) -> [i64; 3] {
    let (qian, qian_tok) = signing_graduate(app, w, 7, "钱七").await;
    let (sun, sun_tok) = signing_graduate(app, w, 8, "孙八").await;
    let mut ids = [0; 3];
    let starts = [
        (&w.employer_tok, w.graduate),
        (&w.employer2_tok, qian),
        (&w.employer_tok, sun),
    ];
    for (k, (tok, graduate)) in starts.into_iter().enumerate() {
        let r = invite(app, tok, graduate).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids[k] = r.body["id"].as_i64().unwrap();
        advance(app, 60).await;
    }
    for (k, tok) in [(0, &w.graduate_tok), (2, &sun_tok), (1, &qian_tok)] {
        let r = act(app, tok, ids[k], "accept", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        advance(app, 60).await;
    }
    ids
}

/// A sort key's value in an item: a time (compared as one), or text (compared by code point,
/// as both backends do: SQLite's BINARY collation, PostgreSQL's C locale in the tests).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KeyValue {
    Time(DateTime<Utc>),
    Text(String),
}

fn key_value(item: &Value, field: &str) -> KeyValue {
    let v = field
        .split('.')
        .fold(item, |v, f| &v[f])
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {item}"));
    match DateTime::parse_from_rfc3339(v) {
        Ok(t) => KeyValue::Time(t.with_timezone(&Utc)),
        Err(_) => KeyValue::Text(v.to_string()),
    }
}

/// The items of `path` (every one, on one page) sorted by `sort`.
async fn sorted(app: &App, tok: &str, path: &str, sort: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let r = app.get(&format!("{path}{sep}sort={sort}"), tok).await;
    assert_eq!(r.status, 200, "{path} sort={sort}: {}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

/// Asserts that `items` are in the order of `fields` (the key, then its tie-breakers), all
/// ascending or all descending, ties last by `id_field` in the same direction.
fn assert_in_order(items: &[Value], fields: &[&str], id_field: &str, descending: bool) {
    let key = |item: &Value| {
        let mut k: Vec<KeyValue> = fields.iter().map(|f| key_value(item, f)).collect();
        k.push(KeyValue::Time(
            DateTime::<Utc>::from_timestamp(item[id_field].as_i64().unwrap(), 0).unwrap(),
        ));
        k
    };
    for pair in items.windows(2) {
        let order = key(&pair[0]).cmp(&key(&pair[1]));
        let want = if descending {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        assert_eq!(
            order,
            want,
            "{fields:?} {}: {} before {}",
            if descending {
                "descending"
            } else {
                "ascending"
            },
            pair[0],
            pair[1]
        );
    }
}

fn ids(items: &[Value], id_field: &str) -> Vec<i64> {
    items
        .iter()
        .map(|i| i[id_field].as_i64().unwrap())
        .collect()
}

/// Each documented key of each list, both ways, in the order the key says; the orders differ
/// between keys (the three agreements were made so), so a key that is ignored fails.
async fn lists_sort_by_each_key(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let [zhang, qian, sun] = three_agreements(&app, &w).await;

    // (path, token, key, the fields the key orders by, the id field)
    let cases: [(&str, &str, &str, &[&str], &str); 7] = [
        (
            "/api/v1/tasks",
            &w.school_tok,
            "opened_at",
            &["opened_at"],
            "task_id",
        ),
        (
            "/api/v1/tasks",
            &w.school_tok,
            "name",
            &["graduate.name"],
            "task_id",
        ),
        (
            "/api/v1/tasks",
            &w.school_tok,
            "department",
            &["department", "opened_at"],
            "task_id",
        ),
        (
            "/api/v1/instances",
            &w.school_tok,
            "created_at",
            &["created_at"],
            "id",
        ),
        (
            "/api/v1/instances",
            &w.school_tok,
            "updated_at",
            &["updated_at"],
            "id",
        ),
        (
            "/api/v1/lists/signing?status=all",
            &w.school_tok,
            "created_at",
            &["created_at"],
            "id",
        ),
        (
            "/api/v1/lists/signing?status=all",
            &w.school_tok,
            "department",
            &["department", "updated_at"],
            "id",
        ),
    ];
    let mut orders = std::collections::BTreeMap::new();
    for (path, tok, key, fields, id_field) in cases {
        let up = sorted(&app, tok, path, key).await;
        assert_eq!(up.len(), 3, "{path} sort={key}: {up:?}");
        assert_in_order(&up, fields, id_field, false);
        let down = sorted(&app, tok, path, &format!("-{key}")).await;
        assert_in_order(&down, fields, id_field, true);
        let mut reversed = ids(&down, id_field);
        reversed.reverse();
        assert_eq!(ids(&up, id_field), reversed, "{path} sort=-{key}");
        // Page 2 of size 1 is the second item of the order.
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = app
            .get(&format!("{path}{sep}sort={key}&page=2&page_size=1"), tok)
            .await;
        assert_eq!(
            r.body["items"][0][id_field], up[1][id_field],
            "{path} {key}"
        );
        let instances: Vec<i64> = up
            .iter()
            .map(|i| i["instance_id"].as_i64().or(i["id"].as_i64()).unwrap())
            .collect();
        orders.insert((path, key), instances);
    }
    // The orders themselves, as the agreements were made.
    let want = [
        (("/api/v1/tasks", "opened_at"), vec![zhang, sun, qian]),
        (("/api/v1/tasks", "name"), vec![sun, zhang, qian]),
        (("/api/v1/tasks", "department"), vec![sun, qian, zhang]),
        (("/api/v1/instances", "created_at"), vec![zhang, qian, sun]),
        (("/api/v1/instances", "updated_at"), vec![zhang, sun, qian]),
    ];
    for (k, v) in want {
        assert_eq!(orders[&k], v, "{k:?}");
    }
    // The lists' default: the last change first.
    let r = app
        .get("/api/v1/lists/signing?status=all", &w.school_tok)
        .await;
    assert_eq!(
        ids(r.body["items"].as_array().unwrap(), "id"),
        [qian, sun, zhang]
    );
    // An unknown key names the keys the list has.
    let r = app.get("/api/v1/instances?sort=name", &w.school_tok).await;
    r.refused(422, "invalid_sort");
    assert!(
        r.body["message"].as_str().unwrap().contains("created_at"),
        "{}",
        r.text
    );
}

both_backends!(lists_sort_by_each_key);

/// The server's `gradflow::plan` warnings so far (`--check-query-plans`).
fn plan_warnings(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("gradflow::plan"))
        .map(str::to_string)
        .collect()
}

/// The sort keys of a list: the back-quoted words of its `sort` parameter's description.
fn sort_keys(spec: &Value, path: &str) -> Vec<String> {
    let description = spec["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{path} in the spec"))
        .iter()
        .find(|p| p["name"] == "sort")
        .and_then(|p| p["description"].as_str())
        .unwrap_or_else(|| panic!("{path} sorts"));
    let keys: Vec<String> = description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_string)
        .collect();
    assert!(!keys.is_empty(), "{path}: {description}");
    keys
}

/// Every paged list, as every role that may read it, with and without its usual filters, on a
/// SQLite server that checks each read's plan: in its default order no list query scans a
/// large table or sorts its rows after reading them — the first page is read in index order
/// in every scope — and by any other key none scans a large table (such a key may sort the
/// rows of the scope it selected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_reads_through_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let app = spawn_on(
        Backend::Sqlite,
        AppOptions {
            extra_args: vec!["--check-query-plans".into()],
            stderr: Some(log.clone()),
            ..AppOptions::default()
        },
    )
    .await;
    let w = world(&app, "school").await;
    three_agreements(&app, &w).await;
    let province = province_user(&app, "p1", "32").await;
    let admin = app.admin_token.clone();
    let school_id = w.school_id;
    let spec: Value = serde_json::from_str(&app.get("/openapi.json", "").await.text).unwrap();
    let tokens = [
        w.school_tok.as_str(),
        w.dept_tok.as_str(),
        province.as_str(),
        w.graduate_tok.as_str(),
        w.employer_tok.as_str(),
        admin.as_str(),
    ];
    // (the path with the filters a reviewer uses, its template in the spec)
    let paths = [
        ("/api/v1/tasks".to_string(), "/api/v1/tasks"),
        ("/api/v1/tasks?flow=online_signing".into(), "/api/v1/tasks"),
        (
            "/api/v1/tasks?department=外国语学院".into(),
            "/api/v1/tasks",
        ),
        ("/api/v1/instances".into(), "/api/v1/instances"),
        (
            "/api/v1/instances?flow=online_signing".into(),
            "/api/v1/instances",
        ),
        ("/api/v1/lists/signing".into(), "/api/v1/lists/{list}"),
        (
            "/api/v1/lists/signing?status=all".into(),
            "/api/v1/lists/{list}",
        ),
        (
            format!("/api/v1/lists/signing?school_id={school_id}"),
            "/api/v1/lists/{list}",
        ),
        (
            format!("/api/v1/lists/signing?status=all&school_id={school_id}"),
            "/api/v1/lists/{list}",
        ),
        ("/api/v1/lists/termination".into(), "/api/v1/lists/{list}"),
        (
            "/api/v1/lists/archive?status=all".into(),
            "/api/v1/lists/{list}",
        ),
        (
            "/api/v1/lists/destination?status=all".into(),
            "/api/v1/lists/{list}",
        ),
        (
            "/api/v1/lists/signing/export?status=all".into(),
            "/api/v1/lists/{list}/export",
        ),
        (
            format!("/api/v1/lists/signing/export?status=all&school_id={school_id}"),
            "/api/v1/lists/{list}/export",
        ),
        ("/api/v1/accounts".into(), "/api/v1/accounts"),
        (
            format!("/api/v1/accounts?school_id={school_id}"),
            "/api/v1/accounts",
        ),
        ("/api/v1/accounts?role=graduate".into(), "/api/v1/accounts"),
        ("/api/v1/employers".into(), "/api/v1/employers"),
        (
            "/api/v1/roster/graduates".into(),
            "/api/v1/roster/graduates",
        ),
        (
            "/api/v1/roster/graduates?department=计算机科学与技术系".into(),
            "/api/v1/roster/graduates",
        ),
        ("/api/v1/audit-log".into(), "/api/v1/audit-log"),
    ];
    // In the default order.
    let mut read = 0;
    for (path, _) in &paths {
        for tok in tokens {
            let r = app.get(path, tok).await;
            assert!(r.status < 500, "{path}: {}", r.text);
            read += usize::from(r.status == 200);
        }
    }
    assert!(read > 40, "only {read} lists were read");
    let flagged = plan_warnings(&log);
    assert!(
        flagged.is_empty(),
        "{} list queries in their default order read without an index:\n{}",
        flagged.len(),
        flagged.join("\n")
    );
    // By every key, both ways.
    let mut read = 0;
    for (path, template) in &paths {
        for key in sort_keys(&spec, template) {
            for dir in ["", "-"] {
                let sep = if path.contains('?') { '&' } else { '?' };
                for tok in tokens {
                    let r = app.get(&format!("{path}{sep}sort={dir}{key}"), tok).await;
                    assert!(r.status < 500, "{path} {key}: {}", r.text);
                    read += usize::from(r.status == 200);
                }
            }
        }
    }
    assert!(read > 200, "only {read} lists were read");
    let scans: Vec<String> = plan_warnings(&log)
        .into_iter()
        .filter(|l| l.contains("scans a large table"))
        .collect();
    assert!(
        scans.is_empty(),
        "{} sorted list queries scan a large table:\n{}",
        scans.len(),
        scans.join("\n")
    );
}
