//! Flow-level helpers shared by the end-to-end suites of the flows: the coverage report (every
//! state and action of a definition reached over HTTP), a roster removal and restore, an
//! export read back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gradflow_engine::registry::{read_tree, Snapshot};
use serde_json::{json, Value};

use super::app::App;
use super::world::{World, DEPT};

/// Reads every instance's history and compares it with the definitions: every state entered
/// and every action taken, per flow. Prints the report; fails on anything missed.
pub async fn coverage(app: &App, ids: &BTreeSet<i64>, flows: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let snap = Snapshot::build(&read_tree(root).unwrap()).unwrap();
    let mut states: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for id in ids {
        let v = app
            .get(&format!("/api/v1/instances/{id}"), &app.admin_token)
            .await;
        let flow = v.body["flow"].as_str().unwrap().to_string();
        let h = app
            .get(&format!("/api/v1/instances/{id}/history"), &app.admin_token)
            .await;
        for item in h.body["items"].as_array().unwrap() {
            states
                .entry(flow.clone())
                .or_default()
                .insert(item["to"].as_str().unwrap().into());
            actions
                .entry(flow.clone())
                .or_default()
                .insert(item["action"].as_str().unwrap().into());
        }
    }
    let mut missed = Vec::new();
    for flow in flows {
        let def = &snap.active(flow, None).unwrap().def;
        let mut want_actions: BTreeSet<String> = ["start".to_string()].into();
        for st in def.states.values() {
            want_actions.extend(st.actions.keys().cloned());
            if let Some(r) = &st.review {
                want_actions.extend(["approve".to_string(), "reject".to_string()]);
                if r.return_.is_some() {
                    want_actions.insert("return".into());
                }
            }
        }
        want_actions.extend(def.reactions.iter().map(|r| format!("on:{}", r.event)));
        want_actions.extend(def.intake.iter().map(|i| format!("intake:{}", i.event)));
        let got_s = states.get(*flow).cloned().unwrap_or_default();
        let got_a = actions.get(*flow).cloned().unwrap_or_default();
        let want_states: BTreeSet<String> = def.states.keys().cloned().collect();
        println!(
            "flow {flow}: {}/{} states, {}/{} actions reached",
            want_states.intersection(&got_s).count(),
            want_states.len(),
            want_actions.intersection(&got_a).count(),
            want_actions.len()
        );
        for s in &want_states {
            let mark = if got_s.contains(s) {
                "reached"
            } else {
                "MISSED"
            };
            println!("  state  {mark:8} {s}");
            if !got_s.contains(s) {
                missed.push(format!("{flow}: state {s}"));
            }
        }
        for a in &want_actions {
            let mark = if got_a.contains(a) { "taken" } else { "MISSED" };
            println!("  action {mark:8} {a}");
            if !got_a.contains(a) {
                missed.push(format!("{flow}: action {a}"));
            }
        }
    }
    assert!(missed.is_empty(), "never reached over HTTP: {missed:#?}");
}

/// 张三 as the world's roster has them (see [`super::world::world`]).
pub fn zhang_san() -> Value {
    json!({"candidate_no": "26320102150001", "id_number": "11010519491231002X", "name": "张三",
           "education_level": "本科", "training_mode": "10", "department": DEPT, "major": "软件工程",
           "cohort": 2027, "origin_region": "320102", "hukou_in_school": true, "mobile": "13800138000"})
}

/// Uploads roster rows of the world's school (the management system's way in).
pub async fn upload_roster(app: &App, rows: Vec<Value>) {
    let r = app
        .post(
            "/api/v1/roster/graduates",
            &app.admin_token,
            json!({"school_code": "10284", "rows": rows}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["errors"], json!([]), "{}", r.text);
}

/// Deletes 张三 from the roster, runs `check`, re-uploads them and restores at once.
pub async fn remove_and_restore<F, Fut>(app: &App, check: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    remove_and_restore_row(app, zhang_san(), check).await
}

/// Deletes the graduate of roster `row` from the roster, runs `check`, re-uploads the row and
/// restores at once.
pub async fn remove_and_restore_row<F, Fut>(app: &App, row: Value, check: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let candidate = row["candidate_no"].as_str().unwrap().to_string();
    let r = app
        .delete(
            &format!("/api/v1/roster/graduates/{candidate}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    check().await;
    upload_roster(app, vec![row]).await;
    let r = app
        .post(
            &format!("/api/v1/roster/graduates/{candidate}/restore"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Downloads an XLSX export and reads its first sheet back as text cells.
pub async fn sheet(app: &App, path: &str, tok: &str) -> Vec<Vec<String>> {
    use calamine::{open_workbook_from_rs, Reader, Xlsx};
    use std::io::Cursor;
    let (status, bytes, ct) = app.get_bytes(path, tok).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&bytes));
    assert!(ct.contains("spreadsheetml"), "{ct}");
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("an xlsx file");
    let range = wb
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// How wide a text shows in Excel's units (a full-width character takes two).
fn display_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 1.0 } else { 2.0 })
        .sum()
}

/// Downloads an export and checks what makes it usable in Excel: the file name in `filename*`
/// (RFC 6266), the header row frozen and filtered, the last column (更新时间) real date-times,
/// and every column at least as wide as its widest text (or the 60 allowed at most).
pub async fn check_export_shape(app: &App, path: &str, tok: &str) {
    use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
    use std::io::{Cursor, Read};
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    let encoded = disposition
        .split("filename*=UTF-8''")
        .nth(1)
        .unwrap_or_else(|| panic!("no filename*: {disposition}"));
    assert!(
        encoded.ends_with(".xlsx") && encoded.starts_with('%'),
        "{disposition}"
    );
    let bytes = r.bytes().await.unwrap().to_vec();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.clone())).expect("xlsx");
    let range = wb
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    let last = range.width() - 1;
    assert_eq!(
        range.get((0, last)).map(|c| c.to_string()).as_deref(),
        Some("更新时间")
    );
    assert!(range.height() > 1, "{path}: no rows to check");
    for row in range.rows().skip(1) {
        match &row[last] {
            Data::DateTime(dt) => {
                let at = dt.as_datetime().expect("a date-time");
                assert!(at.and_utc().timestamp() > 1_700_000_000, "{at}");
            }
            other => panic!("{path}: 更新时间 is not a date cell: {other:?}"),
        }
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    assert!(
        xml.contains(r#"ySplit="1""#) && xml.contains(r#"state="frozen""#),
        "no frozen header"
    );
    let last_letter = (b'A' + last as u8) as char;
    assert!(
        xml.contains(&format!(
            r#"<autoFilter ref="A1:{last_letter}{}""#,
            range.height()
        )),
        "no filter over the table"
    );
    // <col min="3" max="4" width="17.7109375" …/>: columns of one width share one.
    let mut widths = vec![0.0; range.width()];
    for col in xml.split("<col ").skip(1) {
        let attr = |name: &str| -> Option<f64> {
            col.split(&format!(r#"{name}=""#))
                .nth(1)?
                .split('"')
                .next()?
                .parse()
                .ok()
        };
        if let (Some(min), Some(max), Some(w)) = (attr("min"), attr("max"), attr("width")) {
            for c in min as usize..=max as usize {
                if let Some(slot) = widths.get_mut(c - 1) {
                    *slot = w;
                }
            }
        }
    }
    for (c, w) in widths.iter().enumerate().take(last) {
        let widest = range
            .rows()
            .map(|r| display_width(&r[c].to_string()))
            .fold(0.0, f64::max)
            .min(60.0);
        assert!(*w >= widest, "column {c}: width {w} < text {widest}");
    }
}

pub async fn account_id(app: &App, tok: &str) -> i64 {
    app.get("/api/v1/me", tok).await.body["account_id"]
        .as_i64()
        .unwrap()
}

/// The province switches both modules on, gives the school account `levels` of archive and
/// hukou, and the school switches both on with its own review mode.
pub async fn switch_on(app: &App, w: &World, province: &str, levels: &str) {
    let r = app
        .put(
            "/api/v1/provinces/32/settings",
            province,
            json!({"archive_enabled": true, "hukou_enabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    switch_levels(app, w, province, levels).await;
    for module in ["archive", "hukou"] {
        let r = app
            .put(
                &format!(
                    "/api/v1/schools/{}/settings/registration/{module}",
                    w.school_id
                ),
                &w.school_tok,
                json!({"enabled": true, "review_mode": "school"}),
            )
            .await;
        assert_eq!(r.status, 200, "{module}: {}", r.text);
    }
}

pub async fn switch_levels(app: &App, w: &World, province: &str, levels: &str) {
    let school = account_id(app, &w.school_tok).await;
    let r = app
        .put(
            &format!("/api/v1/accounts/{school}/permissions"),
            province,
            json!({"employment": "rw", "archive": levels, "hukou": levels}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Waits until every outbox message is delivered (events reacted to, notifications sent).
pub async fn outbox_drained(app: &App) {
    for _ in 0..300 {
        let text = app.get("/metrics", "").await.text;
        if text.lines().any(|l| l == "gradflow_outbox_pending 0") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the outbox never drained");
}

/// A valid resident ID number (GB 11643) for sequence `i` (born 2001, distinct per `i`).
pub fn id_number(i: usize) -> String {
    let body = format!("3201022001{:02}{:02}{:03}", 1 + i % 12, 1 + i % 28, 100 + i);
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = "10X98765432".chars().nth((sum % 11) as usize).unwrap();
    format!("{body}{check}")
}
