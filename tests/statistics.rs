//! End to end: 数据统计 over HTTP on SQLite and PostgreSQL — a scripted season of online
//! signings across two schools, departments, majors and education levels, then every number
//! of the statistics (signing per status, destination with the employment rate,
//! confirmation) checked against a count the test makes itself from the instances it reads
//! back; the province's view by school with the modules each school enabled; scopes
//! (department, other province, graduate); the XLSX export read back and the printable page;
//! the roster's counts after a removal; and the counters under concurrent decisions.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::flows::{id_number, outbox_drained, remove_and_restore, sheet, switch_on};
use support::world::{account, act, invite, ok, province_user, world, World, DEPT, OTHER_DEPT};

/// A graduate the test made, with where the statistics must count them.
#[derive(Clone)]
struct Grad {
    id: i64,
    school_id: i64,
    department: String,
    major: String,
    level: String,
    tok: String,
}

/// The province's second school, its graduates, and `n` more graduates of the world's school
/// across both departments, two majors and two education levels.
async fn season_roster(app: &App, w: &World, n: usize) -> (i64, Vec<Grad>) {
    let second = ok(
        app,
        "/api/v1/admin/schools",
        json!({"code": "10286", "name": "东南大学", "province_code": "32",
               "review_mode_employment": "school", "signing_enabled": true,
               "departments": ["土木工程学院"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut grads = Vec::new();
    for (school, count, offset) in [(w.school_id, n, 0), (second, 4, n)] {
        let rows: Vec<Value> = (offset..offset + count)
            .map(|i| {
                let (dept, major) = if school == second {
                    ("土木工程学院", "土木工程")
                } else if i % 3 == 0 {
                    (OTHER_DEPT, "英语")
                } else {
                    (
                        DEPT,
                        if i % 2 == 0 {
                            "软件工程"
                        } else {
                            "计算机科学与技术"
                        },
                    )
                };
                json!({"candidate_no": format!("2632010215{:04}", 100 + i),
                       "id_number": id_number(i), "name": format!("学生{i}"),
                       "department": dept, "major": major, "training_mode": "10",
                       "education_level": if i % 5 == 0 { "硕士研究生" } else { "本科" }})
            })
            .collect();
        let ids = ok(
            app,
            &format!("/api/v1/admin/schools/{school}/graduates"),
            Value::Array(rows.clone()),
        )
        .await["ids"]
            .clone();
        for (k, row) in rows.iter().enumerate() {
            let id = ids[k].as_i64().unwrap();
            let tok = account(
                app,
                json!({"username": format!("sg{}", offset + k), "role": "graduate",
                       "province_code": "32", "school_id": school,
                       "department": row["department"], "graduate_id": id}),
            )
            .await;
            grads.push(Grad {
                id,
                school_id: school,
                department: row["department"].as_str().unwrap().into(),
                major: row["major"].as_str().unwrap().into(),
                level: row["education_level"].as_str().unwrap().into(),
                tok,
            });
        }
    }
    (second, grads)
}

/// The world's graduates (张三, 王五, 赵六) as the statistics count them.
fn world_grads(w: &World) -> Vec<Grad> {
    [
        (w.graduate, DEPT),
        (w.graduate_21, OTHER_DEPT),
        (w.graduate_41, OTHER_DEPT),
    ]
    .into_iter()
    .map(|(id, dept)| Grad {
        id,
        school_id: w.school_id,
        department: dept.into(),
        major: String::new(),
        level: "本科".into(),
        tok: String::new(),
    })
    .collect()
}

/// Invites each graduate and takes them to a state by their index: 0 invited, 1 declined,
/// 2 accepted (under review), 3 signed. Returns `(instance, graduate)` pairs.
async fn script(app: &App, w: &World, school2_tok: &str, grads: &[Grad]) -> Vec<(i64, Grad)> {
    let mut out = Vec::new();
    for (i, g) in grads.iter().enumerate() {
        let r = invite(app, &w.employer_tok, g.id).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_i64().unwrap();
        match i % 4 {
            1 => {
                let r = act(app, &g.tok, id, "decline", json!({})).await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
            2 | 3 => {
                let r = act(app, &g.tok, id, "accept", json!({})).await;
                assert_eq!(r.status, 200, "{}", r.text);
                if i % 4 == 3 {
                    let tok = if g.school_id == w.school_id {
                        &w.school_tok
                    } else {
                        school2_tok
                    };
                    let r = act(app, tok, id, "approve", json!({})).await;
                    assert_eq!(r.status, 200, "{}", r.text);
                }
            }
            _ => {}
        }
        out.push((id, g.clone()));
    }
    out
}

/// The states of the instances as the server answers them, with their labels.
async fn states(app: &App, tok: &str, made: &[(i64, Grad)]) -> Vec<(Grad, String, String)> {
    let mut out = Vec::new();
    for (id, g) in made {
        let r = app.get(&format!("/api/v1/instances/{id}"), tok).await;
        assert_eq!(r.status, 200, "{}", r.text);
        out.push((
            g.clone(),
            r.body["state"].as_str().unwrap().to_string(),
            r.body["label"].as_str().unwrap().to_string(),
        ));
    }
    out
}

/// A table's rows by label: `(graduates, {column label: count}, employed)`.
type Expected = BTreeMap<String, (i64, BTreeMap<String, i64>, Option<i64>)>;

/// A table's rows by label: `(graduates, {column label: count}, employed)`.
fn rows_of(t: &Value) -> Expected {
    let labels: Vec<String> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap().to_string())
        .collect();
    let mut out = BTreeMap::new();
    for r in t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .chain(std::iter::once(&t["total"]))
    {
        let counts = labels
            .iter()
            .zip(r["counts"].as_array().unwrap())
            .filter(|(_, n)| n.as_i64().unwrap() != 0)
            .map(|(l, n)| (l.clone(), n.as_i64().unwrap()))
            .collect();
        out.insert(
            r["label"].as_str().unwrap().to_string(),
            (
                r["graduates"].as_i64().unwrap(),
                counts,
                r["employed"].as_i64(),
            ),
        );
    }
    out
}

/// What the test counts itself: per row key (`key(g)`), the roster and a column per instance
/// (`column(state, label)`, `None`: not counted), the remainder column, and the employed.
fn expect(
    roster: &[Grad],
    seen: &[(Grad, String, String)],
    key: impl Fn(&Grad) -> String,
    column: impl Fn(&str, &str) -> Option<String>,
    remainder: Option<&str>,
    employed: Option<&str>,
) -> Expected {
    let mut out: Expected = BTreeMap::new();
    let mut add = |k: String, g: i64, col: Option<String>| {
        for k in [k, "合计".to_string()] {
            let e = out.entry(k).or_insert((0, BTreeMap::new(), None));
            e.0 += g;
            if let Some(c) = &col {
                *e.1.entry(c.clone()).or_default() += 1;
                if employed == Some(c.as_str()) {
                    *e.2.get_or_insert(0) += 1;
                }
            }
            if employed.is_some() && e.2.is_none() {
                e.2 = Some(0);
            }
        }
    };
    for g in roster {
        add(key(g), 1, None);
    }
    for (g, st, label) in seen {
        add(key(g), 0, column(st, label));
    }
    if let Some(rem) = remainder {
        for e in out.values_mut() {
            let counted: i64 = e.1.values().sum();
            if e.0 - counted > 0 {
                e.1.insert(rem.to_string(), e.0 - counted);
            }
        }
    }
    out
}

async fn scripted_season(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let (second, grads) = season_roster(&app, &w, 20).await;
    let school2_tok = account(
        &app,
        json!({"username": "seu", "role": "school", "province_code": "32", "school_id": second}),
    )
    .await;
    let prov = province_user(&app, "p32", "32").await;
    let made = script(&app, &w, &school2_tok, &grads).await;
    outbox_drained(&app).await;
    let seen = states(&app, &w.school_tok, &made[..20]).await;
    let mut seen_all = seen.clone();
    seen_all.extend(states(&app, &school2_tok, &made[20..]).await);
    let mut roster: Vec<Grad> = grads[..20].to_vec();
    roster.extend(world_grads(&w));
    let ours: Vec<(Grad, String, String)> = seen.clone();

    // 签约 per department: every instance by its status.
    let t = app.get("/api/v1/statistics/signing", &w.school_tok).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["by"], "department");
    assert_eq!(t.body["by_label"], "院系");
    let want = expect(
        &roster,
        &ours,
        |g| g.department.clone(),
        |_, l| Some(l.to_string()),
        None,
        None,
    );
    assert_eq!(rows_of(&t.body), want, "{}", t.text);
    assert!(want["合计"].1.contains_key("签约审核通过"), "{want:?}");
    // …and per major, per education level.
    for (by, key) in [
        ("major", (|g: &Grad| g.major.clone()) as fn(&Grad) -> String),
        ("education_level", |g: &Grad| g.level.clone()),
    ] {
        let t = app
            .get(
                &format!("/api/v1/statistics/signing?by={by}"),
                &w.school_tok,
            )
            .await;
        assert_eq!(t.status, 200, "{}", t.text);
        let want = expect(&roster, &ours, key, |_, l| Some(l.to_string()), None, None);
        assert_eq!(rows_of(&t.body), want, "{by}: {}", t.text);
    }

    // 毕业去向: signed = reported agreement employment (employed), accepted = under review.
    let dest_col = |st: &str, _: &str| match st {
        "signed" => Some("已上报：签就业协议形式就业".to_string()),
        "reviewing" => Some("审核中".to_string()),
        _ => None,
    };
    let t = app
        .get("/api/v1/statistics/destination", &w.school_tok)
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let want = expect(
        &roster,
        &ours,
        |g| g.department.clone(),
        dest_col,
        Some("未上报"),
        Some("已上报：签就业协议形式就业"),
    );
    assert_eq!(rows_of(&t.body), want, "{}", t.text);
    let total = &t.body["total"];
    let (g, e) = (
        total["graduates"].as_f64().unwrap(),
        total["employed"].as_f64().unwrap(),
    );
    assert!(e > 0.0);
    let rate = total["employment_rate"].as_f64().unwrap();
    assert!(
        (rate - (e / g * 10000.0).round() / 10000.0).abs() < 1e-9,
        "{total}"
    );
    assert_eq!(
        total["employment_rate_label"],
        format!("{:.2}%", rate * 100.0)
    );
    let types = t.body["types"].as_array().unwrap();
    assert_eq!(types.len(), 1, "{}", t.text);
    assert_eq!(types[0]["code"], "online_signing");
    assert_eq!(types[0]["category"], "签就业协议形式就业");
    assert_eq!(types[0]["count"], total["employed"]);

    // 去向登记确认: each signed graduate's confirmation waits (未确认), the rest 未上报.
    let t = app
        .get("/api/v1/statistics/confirmation", &w.school_tok)
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let want = expect(
        &roster,
        &ours,
        |g| g.department.clone(),
        |st, _| (st == "signed").then(|| "未确认".to_string()),
        Some("未上报"),
        None,
    );
    assert_eq!(rows_of(&t.body), want, "{}", t.text);

    // Archive: the module's level is needed; then nothing registered yet — all 未登记.
    app.get("/api/v1/statistics/archive", &w.school_tok)
        .await
        .refused(403, "forbidden");
    switch_on(&app, &w, &prov, "rw").await;
    let t = app.get("/api/v1/statistics/archive", &w.school_tok).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(
        t.body["total"]["counts"],
        json!([0, 0, roster.len()]),
        "{}",
        t.text
    );

    // The province by school: both schools, and which modules each enabled.
    let t = app.get("/api/v1/statistics/signing", &prov).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["by"], "school");
    let mut province_roster = roster.clone();
    province_roster.extend(grads[20..].iter().cloned());
    let names = BTreeMap::from([(w.school_id, "南京大学"), (second, "东南大学")]);
    let want = expect(
        &province_roster,
        &seen_all,
        |g| names[&g.school_id].to_string(),
        |_, l| Some(l.to_string()),
        None,
        None,
    );
    assert_eq!(rows_of(&t.body), want, "{}", t.text);
    let schools = t.body["schools"].as_array().unwrap();
    assert_eq!(schools.len(), 2, "{}", t.text);
    assert!(schools.iter().all(|s| s["online_signing"] == true));
    let archive: Vec<(&str, bool)> = schools
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["archive_registration"] == true,
            )
        })
        .collect();
    assert_eq!(
        archive,
        [("南京大学", true), ("东南大学", false)],
        "{}",
        t.text
    );
    // …narrowed to one school, by department.
    let t = app
        .get(
            &format!("/api/v1/statistics/signing?school_id={second}&by=department"),
            &prov,
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["total"]["graduates"], 4);
    assert_eq!(t.body["rows"][0]["label"], "土木工程学院");

    // Scopes: a department sees its own; another province nothing; graduates and employers
    // no statistics; the school cannot narrow to another school.
    let t = app.get("/api/v1/statistics/signing", &w.dept_tok).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let labels: Vec<&str> = t.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, [DEPT]);
    assert_eq!(
        t.body["total"]["graduates"].as_i64().unwrap(),
        roster.iter().filter(|g| g.department == DEPT).count() as i64
    );
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "33", "name": "浙江省", "agreement_type": "two_party", "employment_enabled": true}),
    )
    .await;
    let other = province_user(&app, "p33", "33").await;
    let t = app.get("/api/v1/statistics/signing", &other).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["total"]["graduates"], 0);
    assert_eq!(t.body["rows"], json!([]));
    assert_eq!(t.body["schools"], json!([]));
    for tok in [&w.graduate_tok, &w.employer_tok] {
        app.get("/api/v1/statistics/signing", tok)
            .await
            .refused(403, "forbidden");
    }
    app.get(
        &format!("/api/v1/statistics/signing?school_id={second}"),
        &w.school_tok,
    )
    .await
    .refused(400, "invalid_filter");
    app.get("/api/v1/statistics/signing?by=city", &w.school_tok)
        .await
        .refused(400, "invalid_filter");
    app.get("/api/v1/statistics/salary", &w.school_tok)
        .await
        .refused(404, "not_found");

    // The export reads back as the table: the header, every row, the total with the rate.
    let rows = sheet(&app, "/api/v1/statistics/destination/export", &w.school_tok).await;
    let t = app
        .get("/api/v1/statistics/destination", &w.school_tok)
        .await
        .body;
    assert_eq!(rows[0][0], "院系");
    assert_eq!(rows[0][1], "毕业生人数");
    assert_eq!(rows[0].last().unwrap(), "就业率");
    assert_eq!(rows.len(), t["rows"].as_array().unwrap().len() + 2);
    let last = rows.last().unwrap();
    assert_eq!(last[0], "合计");
    assert_eq!(last[1], t["total"]["graduates"].to_string());
    let rate: f64 = last.last().unwrap().parse().unwrap();
    assert!((rate - t["total"]["employment_rate"].as_f64().unwrap()).abs() < 1e-9);
    // The printable page: the table and an SVG bar per row.
    let (status, bytes, ct) = app
        .get_bytes("/api/v1/statistics/destination/page", &w.school_tok)
        .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = String::from_utf8(bytes).unwrap();
    assert!(html.contains("<title>毕业去向统计"), "{html}");
    assert!(html.contains("@page { size: A4 landscape"));
    assert_eq!(
        html.matches("<g><text").count(),
        t["rows"].as_array().unwrap().len(),
        "{html}"
    );
    for r in t["rows"].as_array().unwrap() {
        assert!(html.contains(r["label"].as_str().unwrap()));
    }
    assert!(html.contains(t["total"]["employment_rate_label"].as_str().unwrap()));

    // The roster's counts follow a removal and a restore.
    let before = app
        .get("/api/v1/statistics/signing", &w.school_tok)
        .await
        .body["total"]["graduates"]
        .as_i64()
        .unwrap();
    let roster_total = || async {
        app.get("/api/v1/statistics/signing", &w.school_tok)
            .await
            .body["total"]["graduates"]
            .as_i64()
            .unwrap()
    };
    remove_and_restore(&app, || async {
        assert_eq!(roster_total().await, before - 1);
    })
    .await;
    assert_eq!(roster_total().await, before);
}

/// Many concurrent decisions (two school accounts approving or rejecting each of 16 items at
/// once, graduates accepting and declining at once): exactly one decision wins per item, and
/// then every counter equals the recount of the instances.
async fn counters_under_concurrency(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let (_second, grads) = season_roster(&app, &w, 16).await;
    let grads = &grads[..16];
    let mut ids = Vec::new();
    for g in grads {
        let r = invite(&app, &w.employer_tok, g.id).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    // The graduate's accept and decline race on each invitation.
    let answers = futures::future::join_all(grads.iter().zip(&ids).flat_map(|(g, id)| {
        let app = &app;
        [
            act(app, &g.tok, *id, "accept", json!({})),
            act(app, &g.tok, *id, "decline", json!({})),
        ]
    }))
    .await;
    for pair in answers.chunks(2) {
        let ok = pair.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "{} / {}", pair[0].text, pair[1].text);
        assert!(pair.iter().all(|r| r.status == 200 || r.status == 409));
    }
    // Two reviewers decide every accepted one at once.
    let decisions = futures::future::join_all(ids.iter().flat_map(|id| {
        let app = &app;
        [
            act(app, &w.school_tok, *id, "approve", json!({})),
            act(
                app,
                &w.school2_tok,
                *id,
                "reject",
                json!({"reason_category": "其他", "reason": "材料不全"}),
            ),
        ]
    }))
    .await;
    outbox_drained(&app).await;
    let _ = decisions;
    let made: Vec<(i64, Grad)> = ids.iter().copied().zip(grads.iter().cloned()).collect();
    let seen = states(&app, &w.school_tok, &made).await;
    let mut roster: Vec<Grad> = grads.to_vec();
    roster.extend(world_grads(&w));
    for (by, key) in [
        (
            "department",
            (|g: &Grad| g.department.clone()) as fn(&Grad) -> String,
        ),
        ("major", |g: &Grad| g.major.clone()),
    ] {
        let t = app
            .get(
                &format!("/api/v1/statistics/signing?by={by}"),
                &w.school_tok,
            )
            .await;
        assert_eq!(t.status, 200, "{}", t.text);
        let want = expect(&roster, &seen, key, |_, l| Some(l.to_string()), None, None);
        assert_eq!(rows_of(&t.body), want, "{by}: {}", t.text);
    }
    let t = app
        .get("/api/v1/statistics/confirmation", &w.school_tok)
        .await;
    let want = expect(
        &roster,
        &seen,
        |g| g.department.clone(),
        |st, _| (st == "signed").then(|| "未确认".to_string()),
        Some("未上报"),
        None,
    );
    assert_eq!(rows_of(&t.body), want, "{}", t.text);
    // The province's grain agrees with the department grain.
    let prov = province_user(&app, "p32", "32").await;
    let t = app.get("/api/v1/statistics/signing", &prov).await;
    let by_school = app
        .get("/api/v1/statistics/signing", &w.school_tok)
        .await
        .body;
    let row = t.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "南京大学")
        .cloned()
        .unwrap();
    assert_eq!(row["counts"], by_school["total"]["counts"], "{}", t.text);
    assert_eq!(row["graduates"], by_school["total"]["graduates"]);
    list_totals_are_the_rows(&app, &[&w.school_tok, &prov], w.school_id).await;
}

/// Each management list's total (read from the counters where the filter allows, else
/// counted) equals the items its pages hold, per status option, for every status, by school,
/// and with a filter the counters do not count by (department), as each caller.
async fn list_totals_are_the_rows(app: &App, callers: &[&str], school_id: i64) {
    let dept = urlencoding(DEPT);
    for tok in callers {
        for list in [
            "signing",
            "supplement",
            "termination",
            "destination",
            "confirmation",
        ] {
            let base = format!("/api/v1/lists/{list}?page_size=200");
            let all = app.get(&format!("{base}&status=all"), tok).await;
            assert_eq!(all.status, 200, "{}", all.text);
            let items = all.body["items"].as_array().unwrap();
            assert!(
                all.body["total"].as_u64().unwrap() <= 200,
                "one page holds them"
            );
            let mut by_label: BTreeMap<String, u64> = BTreeMap::new();
            for i in items {
                *by_label
                    .entry(i["label"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            assert_eq!(
                all.body["total"],
                items.len() as u64,
                "{list}: {}",
                all.text
            );
            for label in all.body["status_options"].as_array().unwrap() {
                let label = label.as_str().unwrap();
                let want = by_label.get(label).copied().unwrap_or(0);
                for filter in [
                    String::new(),
                    format!("&school_id={school_id}"),
                    format!("&department={dept}"),
                ] {
                    let path = format!("{base}&status={}{filter}", urlencoding(label));
                    let r = app.get(&path, tok).await;
                    assert_eq!(r.status, 200, "{path}: {}", r.text);
                    let rows = r.body["items"].as_array().unwrap().len() as u64;
                    assert_eq!(r.body["total"], rows, "{path}: {}", r.text);
                    if !filter.contains("department") {
                        assert_eq!(rows, want, "{path}: {}", r.text);
                    }
                }
            }
            // The default statuses (none: every one), summed over the labels they select.
            let r = app.get(&base, tok).await;
            let defaults = r.body["default_status"].as_array().unwrap();
            let want: u64 = if defaults.is_empty() {
                items.len() as u64
            } else {
                defaults
                    .iter()
                    .map(|l| by_label.get(l.as_str().unwrap()).copied().unwrap_or(0))
                    .sum()
            };
            assert_eq!(r.body["total"], want, "{list} default: {}", r.text);
            let other = app
                .get(&format!("{base}&status=all&school_id=-5"), tok)
                .await;
            assert_eq!(other.body["total"], 0, "{}", other.text);
        }
    }
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

both_backends!(scripted_season, counters_under_concurrency);
