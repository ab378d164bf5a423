//! End to end: the graduate roster (SPEC.md 3) on SQLite and PostgreSQL — imports by the
//! employment management system as JSON and as real CSV and XLSX files with good, bad and
//! blank rows; deletion to the invalid list with invalidation; restore by endpoint and by the
//! hourly worker; the hukou list rule; the first-login check; the cohort rule.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::{act, invite, ok, world, World, DEPT};

async fn api_key(app: &App, w: &World) -> String {
    let r = app
        .post(
            "/api/v1/api-keys",
            &w.school_tok,
            json!({"name": "南京大学就业管理系统"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["key"].as_str().unwrap().to_string()
}

fn row(cand: &str, id: &str, name: &str) -> Value {
    json!({"candidate_no": cand, "id_number": id, "name": name, "education_level": "本科",
           "training_mode": "10", "department": DEPT, "major": "软件工程", "cohort": 2027,
           "origin_region": "320102", "hukou_in_school": true})
}

async fn rows_of(app: &App, tok: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/roster/graduates?{query}"), tok)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn imports(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let key = api_key(&app, &w).await;

    // Only the management system's key (or the administrator) uploads.
    let batch = json!({"rows": [row("26320102150010", "320102200001011238", "孙八")]});
    assert_eq!(
        app.post("/api/v1/roster/graduates", &w.school_tok, batch.clone())
            .await
            .status,
        403
    );

    // JSON: one new, one bad (two fields), one update of an existing graduate, one of another school.
    let mut bad = row("26320102150011", "320102200001011235", "周九");
    bad["mobile"] = json!("2380013");
    let mut update = row("26320102150001", "11010519491231002X", "张三");
    update["major"] = json!("人工智能");
    let mut foreign = row("26320102150012", "320102200002021235", "吴十");
    foreign["school_code"] = json!("10285");
    let r = app.post("/api/v1/roster/graduates", &key,
        json!({"rows": [row("26320102150010", "320102200001011238", "孙八"), bad, update, foreign]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(
        (
            b["received"].as_i64(),
            b["created"].as_i64(),
            b["updated"].as_i64(),
            b["rejected_rows"].as_i64()
        ),
        (Some(4), Some(1), Some(1), Some(2)),
        "{b}"
    );
    let errs: Vec<(i64, &str, &str)> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errs,
        [
            (2, "id_number", "id_number_checksum"),
            (2, "mobile", "mobile_format"),
            (4, "school_code", "out_of_scope")
        ],
        "{b}"
    );
    assert!(
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("第2行 身份证号："),
        "{b}"
    );
    let list = rows_of(&app, &w.school_tok, "q=张三").await;
    assert_eq!(list["items"][0]["major"], "人工智能");

    // A real CSV file (UTF-8 with BOM, Chinese headers): good, bad and blank rows.
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("名单.csv");
    let csv = "\u{feff}考生号,姓名,身份证号,学历,培养方式,院系,专业,毕业日期,档案是否转入学校,备注\n\
        26320102150020,郑一,320102200003031232,本科,10,计算机科学与技术系,软件工程,2027-06-30,是,x\n\
        ,,,,,,,,,\n\
        2632010215002,王二,320102200003031231,研究生,99,计算机科学与技术系,软件工程,2027/13/01,也许,\n\
        26320102150022,冯三,320102200105051234,硕士,22 定向(可签约),计算机科学与技术系,网络工程,20270630,否,\n";
    std::fs::write(&csv_path, csv).unwrap();
    let r = app
        .post_bytes(
            "/api/v1/roster/files?school_code=10284",
            &key,
            std::fs::read(&csv_path).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(
        (
            b["created"].as_i64(),
            b["blank_rows"].as_i64(),
            b["rejected_rows"].as_i64()
        ),
        (Some(2), Some(1), Some(1)),
        "{b}"
    );
    assert_eq!(b["ignored_columns"], json!(["备注"]));
    let mut fields: Vec<&str> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "archive_in_school",
            "candidate_no",
            "education_level",
            "graduation_date",
            "id_number",
            "training_mode"
        ],
        "{b}"
    );
    assert!(
        b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["row"] == 4),
        "row numbers as in the file: {b}"
    );
    let g = rows_of(&app, &w.school_tok, "q=冯三").await;
    assert_eq!(g["items"][0]["education_level"], "硕士研究生");
    assert_eq!(g["items"][0]["training_mode"], "22");
    assert_eq!(
        g["items"][0]["cohort"], 2027,
        "cohort from the graduation date"
    );

    // A real XLSX file: numeric candidate number, a date cell, a blank row, a bad row.
    let xlsx_path = dir.path().join("名单.xlsx");
    {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let headers = [
            "考生号",
            "姓名",
            "身份证号",
            "学历",
            "培养方式",
            "院系",
            "专业",
            "入学日期",
            "届别",
            "户口是否转入学校",
            "定向/委培单位",
        ];
        for (i, h) in headers.iter().enumerate() {
            sheet.write_string(0, i as u16, *h).unwrap();
        }
        sheet.write_number(1, 0, 26320102150030.0).unwrap();
        for (i, v) in ["陈四", "320102200104041237", "本科", "10", DEPT, "软件工程"]
            .iter()
            .enumerate()
        {
            sheet.write_string(1, (i + 1) as u16, *v).unwrap();
        }
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2023, 9, 1).unwrap();
        let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        sheet.write_datetime_with_format(1, 7, &date, &fmt).unwrap();
        sheet.write_number(1, 8, 2027.0).unwrap();
        sheet.write_string(1, 9, "是").unwrap();
        // Row 3 blank; row 4: training mode 21 without its directed employer.
        for (i, v) in [
            "26320102150031",
            "褚五",
            "320102200002021235",
            "专科",
            "21",
            DEPT,
            "会计",
            "",
            "2027",
        ]
        .iter()
        .enumerate()
        {
            sheet.write_string(3, i as u16, *v).unwrap();
        }
        book.save(&xlsx_path).unwrap();
    }
    let r = app
        .post_bytes(
            "/api/v1/roster/files?school_code=10284",
            &key,
            std::fs::read(&xlsx_path).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(
        (
            b["created"].as_i64(),
            b["blank_rows"].as_i64(),
            b["rejected_rows"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{b}"
    );
    assert_eq!(
        (
            b["errors"][0]["row"].as_i64(),
            b["errors"][0]["field"].as_str()
        ),
        (Some(4), Some("directed_employer")),
        "{b}"
    );
    let g = rows_of(&app, &w.school_tok, "q=26320102150030").await;
    assert_eq!(g["items"][0]["enrolment_date"], "2023-09-01", "{g}");
    assert_eq!(g["items"][0]["hukou_in_school"], true);

    // Not a roster file: refused by content, nothing stored.
    let r = app
        .post_bytes(
            "/api/v1/roster/files",
            &key,
            b"\x89PNG\r\n\x1a\n\0\0\0".to_vec(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("unsupported_file")),
        "{}",
        r.text
    );
    let r = app
        .post_bytes(
            "/api/v1/roster/files",
            &key,
            "姓名,院系\n张,计算机\n".as_bytes().to_vec(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("missing_columns")),
        "{}",
        r.text
    );
    assert!(
        r.body["message"].as_str().unwrap().contains("考生号"),
        "{}",
        r.text
    );
    assert_eq!(
        rows_of(&app, &w.school_tok, "").await["total"],
        7,
        "3 of the world + 1 JSON + 2 CSV + 1 XLSX"
    );

    // The hukou list shows only graduates whose hukou moved into the school, to accounts
    // with a hukou level.
    assert_eq!(
        app.get("/api/v1/roster/graduates?module=hukou", &w.school_tok)
            .await
            .status,
        403
    );
    let me = app.get("/api/v1/me", &w.school_tok).await.body["account_id"]
        .as_i64()
        .unwrap();
    ok(
        &app,
        "/api/v1/admin/accounts",
        json!({"username": "p32", "role": "province", "province_code": "32"}),
    )
    .await;
    let p32 = support::world::account(
        &app,
        json!({"username": "p32b", "role": "province", "province_code": "32"}),
    )
    .await;
    app.put(
        &format!("/api/v1/accounts/{me}/permissions"),
        &p32,
        json!({"employment": "rw", "archive": "none", "hukou": "ro"}),
    )
    .await;
    let hukou = rows_of(&app, &w.school_tok, "module=hukou").await;
    let names: Vec<&str> = hukou["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "孙八, 张三 (updated with hukou), 陈四: {names:?}"
    );
    assert!(
        names.iter().all(|n| ["孙八", "张三", "陈四"].contains(n)),
        "{names:?}"
    );
    // A department user sees its own department only.
    assert_eq!(rows_of(&app, &w.other_dept_tok, "").await["total"], 2);
}

async fn invalid_and_restore(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let key = api_key(&app, &w).await;
    let id = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        act(&app, &w.graduate_tok, id, "accept", json!({}))
            .await
            .status,
        200
    );

    // Deleted by the management system: invalid list, instance invalidated, nothing new.
    let r = app
        .delete("/api/v1/roster/graduates/26320102150001", &key)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["invalidated"], 1);
    let inst = app
        .get(&format!("/api/v1/instances/{id}"), &w.school_tok)
        .await;
    assert_eq!(
        (inst.body["state"].as_str(), inst.body["label"].as_str()),
        (Some("invalidated"), Some("已失效"))
    );
    let invalid = rows_of(&app, &w.school_tok, "invalid=true").await;
    assert_eq!(invalid["items"][0]["candidate_no"], "26320102150001");
    assert_eq!(rows_of(&app, &w.school_tok, "q=张三").await["total"], 0);
    let r = invite(&app, &w.employer2_tok, w.graduate).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("graduate_removed")),
        "{}",
        r.text
    );
    // Not re-uploaded yet: cannot be restored.
    let r = app
        .post(
            "/api/v1/roster/graduates/26320102150001/restore",
            &key,
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("not_reuploaded"))
    );

    // Re-uploaded: still invalid until the hourly run…
    let r = app
        .post(
            "/api/v1/roster/graduates",
            &key,
            json!({"rows": [row("26320102150001", "11010519491231002X", "张三")]}),
        )
        .await;
    assert_eq!(r.body["restore_pending"], 1, "{}", r.text);
    assert_eq!(
        rows_of(&app, &w.school_tok, "invalid=true").await["items"][0]["restore_pending"],
        true
    );
    ok(
        &app,
        "/api/v1/admin/clock",
        json!({"advance_seconds": 3660}),
    )
    .await;
    let mut restored = false;
    for _ in 0..100 {
        let inst = app
            .get(&format!("/api/v1/instances/{id}"), &w.school_tok)
            .await;
        if inst.body["state"] == "reviewing" {
            restored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(restored, "the hourly worker restores the signing state");
    assert_eq!(
        rows_of(&app, &w.school_tok, "invalid=true").await["total"],
        0
    );
    assert_eq!(
        act(&app, &w.school_tok, id, "approve", json!({}))
            .await
            .status,
        200
    );

    // Deleted again after approval, restored at once by the endpoint: signed again.
    app.delete("/api/v1/roster/graduates/26320102150001", &key)
        .await;
    app.post(
        "/api/v1/roster/graduates",
        &key,
        json!({"rows": [row("26320102150001", "11010519491231002X", "张三")]}),
    )
    .await;
    let r = app
        .post(
            "/api/v1/roster/graduates/26320102150001/restore",
            &key,
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["restored"].as_i64()),
        (200, Some(1)),
        "{}",
        r.text
    );
    let inst = app
        .get(&format!("/api/v1/instances/{id}"), &w.school_tok)
        .await;
    assert_eq!(inst.body["state"], "signed");
    // The agreement slot is held again: a second invitation arrives but cannot be accepted.
    let r = invite(&app, &w.employer2_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let second = r.body["id"].as_i64().unwrap();
    let r = act(&app, &w.graduate_tok, second, "accept", json!({})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("agreement_exists")),
        "{}",
        r.text
    );
}

async fn first_login_and_cohorts(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;

    // Graduates sign in through the identity provider, whose key vouches for them. Only the
    // system administrator issues such a key: a school user cannot, and neither the school's
    // own token nor its roster key can issue graduate sessions.
    let body = json!({"candidate_no": "26320102150001"});
    let refused = app
        .post(
            "/api/v1/api-keys",
            &w.school_tok,
            json!({"name": "冒充的身份认证", "kind": "identity"}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let roster_key = api_key(&app, &w).await;
    for tok in [&w.school_tok, &roster_key] {
        let r = app
            .post("/api/v1/auth/graduate-sessions", tok, body.clone())
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    let made = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            json!({"name": "学信网", "kind": "identity"}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(made.body["kind"], "identity");
    assert_eq!(made.body["created_by"], 0, "made by the administrator");
    let key = made.body["key"].as_str().unwrap().to_string();
    // An identity key touches no roster.
    let r = app
        .post(
            "/api/v1/roster/graduates",
            &key,
            json!({"school_code": "10284", "rows": []}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .post(
            "/api/v1/auth/graduate-sessions",
            &key,
            json!({"candidate_no": "26320102159999"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .post("/api/v1/auth/graduate-sessions", &key, body.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sso_tok = r.body["token"].as_str().unwrap().to_string();
    let account_id = r.body["account_id"].clone();
    assert!(r.body["expires_at"].is_string());
    let me = app.get("/api/v1/me/basic-info", &sso_tok).await;
    assert_eq!(
        (me.status, me.body["candidate_no"].as_str()),
        (200, Some("26320102150001")),
        "{}",
        me.text
    );
    let again = app.post("/api/v1/auth/graduate-sessions", &key, body).await;
    assert_eq!(
        again.body["account_id"], account_id,
        "one account per graduate"
    );

    let r = app.get("/api/v1/me/basic-info", &w.graduate_tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["needs_check"], true);
    assert!(r.body["how_to_correct"]
        .as_str()
        .unwrap()
        .contains("就业管理系统"));
    assert_eq!(
        app.get("/api/v1/me/basic-info", &w.school_tok).await.status,
        403
    );
    let r = app
        .post(
            "/api/v1/me/basic-info/dispute",
            &w.graduate_tok,
            json!({"note": ""}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .post(
            "/api/v1/me/basic-info/dispute",
            &w.graduate_tok,
            json!({"note": "民族应为回族"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = rows_of(&app, &w.school_tok, "q=张三").await;
    assert_eq!(
        (
            list["items"][0]["basic_info_disputed"].as_bool(),
            list["items"][0]["basic_info_note"].as_str()
        ),
        (Some(true), Some("民族应为回族"))
    );
    let r = app
        .post("/api/v1/me/basic-info/confirm", &w.graduate_tok, json!({}))
        .await;
    assert_eq!(
        (
            r.body["basic_info_confirmed"].as_bool(),
            r.body["basic_info_disputed"].as_bool()
        ),
        (Some(true), Some(false))
    );

    // An older cohort only views its records.
    let old = ok(&app, "/api/v1/admin/schools/1/graduates", json!([
        {"candidate_no": "22320102150001", "id_number": "320102200001011238", "name": "老生", "department": DEPT, "cohort": 2022}
    ])).await["ids"][0].as_i64().unwrap();
    let r = invite(&app, &w.employer_tok, old).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("cohort_closed")),
        "{}",
        r.text
    );
    assert!(r.body["message"].as_str().unwrap().contains("2022届"));
}

/// No silent identity changes: a row carrying another graduate's ID number under a new
/// candidate number is refused and changes nothing; a correction of a graduate's own ID number
/// or name is applied and reported with before and after (and audited); a gender that
/// contradicts the ID number is imported with a warning; one ID number under two candidate
/// numbers of one file is refused.
async fn identities(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let key = api_key(&app, &w).await;
    // 张三 (26320102150001, 11010519491231002X) signs an agreement first.
    let id = invite(&app, &w.employer_tok, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        act(&app, &w.graduate_tok, id, "accept", json!({}))
            .await
            .status,
        200
    );

    let taker = row("26320102159001", "11010519491231002X", "李冒名");
    let r = app
        .post("/api/v1/roster/graduates", &key, json!({"rows": [taker]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["created"].as_i64(), r.body["updated"].as_i64()),
        (Some(0), Some(0)),
        "{}",
        r.text
    );
    let e = &r.body["errors"][0];
    assert_eq!(
        (e["field"].as_str(), e["code"].as_str()),
        (Some("id_number"), Some("id_number_taken")),
        "{}",
        r.text
    );
    assert!(
        e["message"].as_str().unwrap().contains("26320102150001"),
        "{e}"
    );
    let zhang = rows_of(&app, &w.school_tok, "q=11010519491231002X").await;
    assert_eq!(zhang["total"], 1, "{zhang}");
    assert_eq!(zhang["items"][0]["name"], "张三", "{zhang}");
    assert_eq!(
        zhang["items"][0]["candidate_no"], "26320102150001",
        "{zhang}"
    );
    assert_eq!(
        rows_of(&app, &w.school_tok, "q=26320102159001").await["total"],
        0
    );

    // A correction of 张三's own record: applied, reported, audited with before/after.
    let mut fixed = row("26320102150001", "110105194912310046", "张叁");
    fixed["gender"] = json!("男");
    let dup = row("26320102159002", "110105194912310046", "重复");
    let r = app
        .post(
            "/api/v1/roster/graduates",
            &key,
            json!({"rows": [fixed, dup]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["updated"], 1, "{}", r.text);
    let c = &r.body["corrections"][0];
    assert_eq!(c["candidate_no"], "26320102150001", "{c}");
    assert_eq!(
        c["changes"]["id_number"],
        json!(["11010519491231002X", "110105194912310046"]),
        "{c}"
    );
    assert_eq!(c["changes"]["name"], json!(["张三", "张叁"]), "{c}");
    // 110105194912310046: the 17th digit 4 is a woman's.
    let warn = &r.body["warnings"][0];
    assert_eq!(
        (warn["field"].as_str(), warn["code"].as_str()),
        (Some("gender"), Some("gender_mismatch")),
        "{}",
        r.text
    );
    assert!(warn["message"].as_str().unwrap().contains("女"), "{warn}");
    // The school sees it on the graduate's record too.
    let listed = rows_of(&app, &w.school_tok, "q=26320102150001").await;
    let shown = listed["items"][0]["warnings"][0]
        .as_str()
        .unwrap_or_default();
    assert!(shown.contains("与身份证号不符"), "{listed}");
    let e = &r.body["errors"][0];
    assert_eq!(
        (e["row"].as_i64(), e["code"].as_str()),
        (Some(2), Some("duplicate")),
        "{}",
        r.text
    );
    let audit = app.get("/api/v1/audit-log", &app.admin_token).await;
    assert!(
        audit.text.contains("11010519491231002X") && audit.text.contains("张叁"),
        "{}",
        audit.text
    );

    // The rejected rows as a downloadable workbook, for the importer only.
    let link = r.body["error_report"].as_str().unwrap().to_string();
    assert!(link.starts_with("/api/v1/roster/imports/"), "{link}");
    let (status, bytes, ct) = app.get_bytes(&link, &key).await;
    assert_eq!(status, 200);
    assert!(ct.contains("spreadsheetml"), "{ct}");
    use calamine::{open_workbook_from_rs, Reader, Xlsx};
    let mut wb: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let rows: Vec<Vec<String>> = wb
        .worksheet_range_at(0)
        .unwrap()
        .unwrap()
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[0], ["行号", "考生号", "列", "错误代码", "问题"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (
            rows[1][0].as_str(),
            rows[1][1].as_str(),
            rows[1][3].as_str()
        ),
        ("2", "26320102159002", "duplicate"),
        "{rows:?}"
    );
    app.get(&link, &w.school_tok)
        .await
        .refused(404, "not_found");
    assert_eq!(app.get_bytes(&link, &app.admin_token).await.0, 200);
}

/// Workbooks as Excel writes them: dates in a 1904-based (Mac) workbook and in an ordinary one
/// both read as the date shown, a candidate number typed into a number cell is kept (it is
/// exact), an ID number typed into one is refused as a number cell (Excel dropped its last
/// digits) — not as a wrong check digit.
async fn workbooks(backend: Backend) {
    use support::files::{workbook_xlsx, XCell};
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let key = api_key(&app, &w).await;
    let graduation = chrono::NaiveDate::from_ymd_opt(2027, 6, 30).unwrap();
    let serial = |epoch: chrono::NaiveDate| (graduation - epoch).num_days() as f64;
    let s1900 = serial(chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap());
    let s1904 = serial(chrono::NaiveDate::from_ymd_opt(1904, 1, 1).unwrap());
    assert_eq!(s1900 - s1904, 1462.0);
    let header = [
        "考生号",
        "姓名",
        "身份证号",
        "学历",
        "培养方式",
        "院系",
        "专业",
        "毕业日期",
    ];
    let dir = tempfile::tempdir().unwrap();
    for (date1904, cand, id, date) in [
        (true, "26320102150031", "320102200001011238", s1904),
        (false, "26320102150032", "320102200001011254", s1900),
    ] {
        let rows = vec![
            header.iter().map(|h| XCell::Text(h)).collect(),
            vec![
                XCell::Number(cand.parse().unwrap()),
                XCell::Text("钱七"),
                XCell::Text(id),
                XCell::Text("本科"),
                XCell::Text("10"),
                XCell::Text(DEPT),
                XCell::Text("软件工程"),
                XCell::Date(date),
            ],
            vec![
                XCell::Text("26320102150039"),
                XCell::Text("孙数"),
                XCell::Number(320102200003031232.0),
                XCell::Text("本科"),
                XCell::Text("10"),
                XCell::Text(DEPT),
                XCell::Text("软件工程"),
                XCell::Date(date),
            ],
        ];
        let path = dir.path().join(format!("roster-{date1904}.xlsx"));
        std::fs::write(&path, workbook_xlsx(date1904, &rows)).unwrap();
        let r = app
            .post_bytes(
                "/api/v1/roster/files?school_code=10284",
                &key,
                std::fs::read(&path).unwrap(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["created"], 1, "{}", r.text);
        let e = &r.body["errors"][0];
        assert_eq!(
            (e["row"].as_i64(), e["field"].as_str(), e["code"].as_str()),
            (Some(3), Some("id_number"), Some("numeric_cell")),
            "{}",
            r.text
        );
        assert_eq!(r.body["errors"].as_array().unwrap().len(), 1, "{}", r.text);
        let g = rows_of(&app, &w.school_tok, &format!("q={cand}")).await;
        assert_eq!(
            g["items"][0]["graduation_date"], "2027-06-30",
            "1904: {date1904}: {g}"
        );
    }
}

/// The import template: what the importer reads (uploaded as it is, its header is accepted:
/// no missing column), text columns typed as text, the code tables on a second sheet.
async fn template(backend: Backend) {
    use calamine::{open_workbook_from_rs, Reader, Xlsx};
    use std::io::Read;
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let key = api_key(&app, &w).await;
    let r = app
        .client
        .get(app.url("/api/v1/roster/template"))
        .bearer_auth(&w.school_tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.contains("filename*=UTF-8''"), "{disposition}");
    let bytes = r.bytes().await.unwrap().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("学生名单导入模板.xlsx");
    std::fs::write(&path, &bytes).unwrap();

    let mut wb: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
    assert_eq!(wb.sheet_names(), ["学生名单", "代码表"]);
    let head: Vec<String> = wb
        .worksheet_range("学生名单")
        .unwrap()
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    for h in [
        "考生号*",
        "姓名*",
        "身份证号*",
        "培养方式*",
        "生源所在地",
        "手机号码",
    ] {
        assert!(head.contains(&h.to_string()), "{h} in {head:?}");
    }
    let tables: Vec<Vec<String>> = wb
        .worksheet_range("代码表")
        .unwrap()
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let has = |col: &str, code: &str, name: &str| {
        tables
            .iter()
            .any(|r| r[0] == col && r[1] == code && r[2] == name)
    };
    assert!(
        has("培养方式", "22", "定向（可签约）"),
        "{:?}",
        &tables[..10]
    );
    assert!(has("学历", "31", "本科"));
    assert!(has("性别", "2", "女"));
    assert!(tables
        .iter()
        .any(|r| r[0] == "生源所在地" && r[1] == "320102"));
    // The ID number column is text: a number typed in stays as typed.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut styles = String::new();
    zip.by_name("xl/styles.xml")
        .unwrap()
        .read_to_string(&mut styles)
        .unwrap();
    assert!(
        styles.contains(r#"numFmtId="49""#),
        "no text format: {styles}"
    );

    // Uploaded as it is, the header is what the importer reads.
    let r = app
        .post_bytes(
            "/api/v1/roster/files?school_code=10284",
            &key,
            std::fs::read(&path).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["received"].as_i64(),
            r.body["ignored_columns"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0)),
        "{}",
        r.text
    );
}

/// The candidate numbers of the school's roster in the order `sort` asks for.
async fn roster_order(app: &App, tok: &str, sort: &str) -> Vec<String> {
    let b = rows_of(app, tok, &format!("sort={sort}")).await;
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["candidate_no"].as_str().unwrap().to_string())
        .collect()
}

async fn sorted_roster(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let key = api_key(&app, &w).await;
    // The world's 张三 (…001, DEPT), 王五 (…003) and 赵六 (…004, both OTHER_DEPT), and 丁一.
    let r = app
        .post(
            "/api/v1/roster/graduates",
            &key,
            json!({"rows": [row("26320102150005", "320102200001011238", "丁一")]}),
        )
        .await;
    assert_eq!(r.body["created"], 1, "{}", r.text);
    let (a, c, d, e) = (
        "26320102150001",
        "26320102150003",
        "26320102150004",
        "26320102150005",
    );
    let tok = &w.school_tok;
    assert_eq!(roster_order(&app, tok, "candidate_no").await, [a, c, d, e]);
    assert_eq!(roster_order(&app, tok, "-candidate_no").await, [e, d, c, a]);
    // By code point (丁 < 张 < 王 < 赵), as both test databases collate.
    assert_eq!(roster_order(&app, tok, "name").await, [e, a, c, d]);
    assert_eq!(roster_order(&app, tok, "-name").await, [d, c, a, e]);
    // 外国语学院 < 计算机科学与技术系; ties by id, in the key's direction.
    assert_eq!(roster_order(&app, tok, "department").await, [c, d, a, e]);
    assert_eq!(roster_order(&app, tok, "-department").await, [e, a, d, c]);
    // The default is by department.
    let b = rows_of(&app, tok, "").await;
    assert_eq!(b["items"][0]["candidate_no"], c, "{b}");
    // 张三 re-uploaded: the latest change.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = app
        .post(
            "/api/v1/roster/graduates",
            &key,
            json!({"rows": [row(a, "11010519491231002X", "张三")]}),
        )
        .await;
    assert_eq!(r.body["updated"], 1, "{}", r.text);
    assert_eq!(roster_order(&app, tok, "-updated_at").await[0], a);
    assert_eq!(roster_order(&app, tok, "updated_at").await[3], a);
    app.get("/api/v1/roster/graduates?sort=bogus", tok)
        .await
        .refused(422, "invalid_sort");
    app.get("/api/v1/roster/graduates?sort=-", tok)
        .await
        .refused(422, "invalid_sort");
}

crate::both_backends!(
    imports,
    invalid_and_restore,
    first_login_and_cohorts,
    identities,
    workbooks,
    template,
    sorted_roster
);
