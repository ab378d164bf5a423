//! End to end: the province user's views of the management lists (省级用户操作指南 5 and 6,
//! issue 17) over HTTP on SQLite and PostgreSQL — 在线签约管理 across the province's two schools
//! with each item's 院校, the `school_id` filter narrowing within the caller's scope (another
//! province sees none of it, a school none of another school's), actions refused, the export
//! read back with its 院校 column (the school's export has none), and the archive module's
//! list and info list (档案信息管理) per school. Also the inbox's bulk 退回修改 (issue 17; kept
//! here as tests/inbox.rs is long): paper supplements returned with one reason, one of them
//! already decided alone.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::files::plain_png;
use support::flows::{id_number, sheet, switch_on, upload_roster, zhang_san};
use support::world::{account, act, invite, ok, province_user, world, DEPT};

/// A graduate of training mode 10 (who may sign online) of `school` in `province`, with a
/// session.
async fn graduate(
    app: &App,
    (school, province, dept): (i64, &str, &str),
    n: usize,
    name: &str,
) -> (i64, String) {
    let id = ok(
        app,
        &format!("/api/v1/admin/schools/{school}/graduates"),
        json!([{"candidate_no": format!("26{province}0102150{:03}", 500 + n),
                "id_number": id_number(60 + n), "name": name, "department": dept,
                "training_mode": "10"}]),
    )
    .await["ids"][0]
        .as_i64()
        .unwrap();
    let tok = account(
        app,
        json!({"username": format!("pg{n}"), "role": "graduate", "province_code": province,
               "school_id": school, "department": dept, "graduate_id": id}),
    )
    .await;
    (id, tok)
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().unwrap().clone()
}

/// The items of a list page as (id, school_name), sorted.
fn schools_of(page: &Value) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = items(page)
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["school_name"].as_str().unwrap_or("(none)").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn page(app: &App, path: &str, tok: &str) -> Value {
    let r = app.get(path, tok).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.body
}

async fn province_lists(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let nju = w.school_id;
    let seu = ok(
        &app,
        "/api/v1/admin/schools",
        json!({"code": "10286", "name": "东南大学", "province_code": "32",
               "review_mode_employment": "school", "signing_enabled": true,
               "departments": ["土木工程学院"]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let seu_tok = account(
        &app,
        json!({"username": "seu", "role": "school", "province_code": "32", "school_id": seu}),
    )
    .await;
    ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "11", "name": "北京市", "agreement_type": "three_party", "employment_enabled": true}),
    )
    .await;
    let pku = ok(
        &app,
        "/api/v1/admin/schools",
        json!({"code": "10001", "name": "北京大学", "province_code": "11",
               "review_mode_employment": "school", "signing_enabled": true, "departments": [DEPT]}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (li, _) = graduate(&app, (nju, "32", DEPT), 1, "李一").await;
    let (zhou, _) = graduate(&app, (seu, "32", "土木工程学院"), 2, "周二").await;
    let (sun, _) = graduate(&app, (pku, "11", DEPT), 3, "孙三").await;

    // The invitations, with the school each belongs to: 南京大学 two, 东南大学 one, 北京大学 one.
    let mut made: Vec<(i64, String, &str)> = Vec::new();
    for (tok, g, name, school) in [
        (&w.employer_tok, w.graduate, "张三", "南京大学"),
        (&w.employer2_tok, li, "李一", "南京大学"),
        (&w.employer_tok, zhou, "周二", "东南大学"),
        (&w.employer_tok, sun, "孙三", "北京大学"),
    ] {
        let r = invite(&app, tok, g).await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        made.push((r.body["id"].as_i64().unwrap(), name.to_string(), school));
    }
    let expect = |schools: &[&str]| -> Vec<(i64, String)> {
        let mut v: Vec<(i64, String)> = made
            .iter()
            .filter(|(_, _, s)| schools.contains(s))
            .map(|(id, _, s)| (*id, s.to_string()))
            .collect();
        v.sort();
        v
    };
    // 张三 accepts: the agreement waits for 南京大学's review.
    let zhang = made[0].0;
    let r = act(&app, &w.graduate_tok, zhang, "accept", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let prov = province_user(&app, "p32", "32").await;
    let beijing = province_user(&app, "p11", "11").await;
    let signing = "/api/v1/lists/signing?status=all";

    // The province: its two schools' items, each with its school's name.
    let all = page(&app, signing, &prov).await;
    let ours = expect(&["南京大学", "东南大学"]);
    assert_eq!(all["total"], ours.len() as u64, "{all}");
    assert_eq!(schools_of(&all), ours);
    for i in items(&all) {
        let name = if i["school_id"] == nju {
            "南京大学"
        } else {
            "东南大学"
        };
        assert_eq!(i["school_name"], name, "{i}");
    }
    // 院校 narrows to one school.
    let one = page(&app, &format!("{signing}&school_id={seu}"), &prov).await;
    assert_eq!(schools_of(&one), expect(&["东南大学"]));
    assert_eq!(one["total"], 1);
    let one = page(&app, &format!("{signing}&school_id={nju}"), &prov).await;
    assert_eq!(schools_of(&one), expect(&["南京大学"]));
    // With the other filters: 南京大学's item of 李一.
    let one = page(
        &app,
        &format!("{signing}&school_id={nju}&name=%E6%9D%8E%E4%B8%80"),
        &prov,
    )
    .await;
    assert_eq!(schools_of(&one), vec![(made[1].0, "南京大学".to_string())]);
    // Another province's school through the filter: nothing (the scope stays).
    let none = page(&app, &format!("{signing}&school_id={pku}"), &prov).await;
    assert_eq!(none["total"], 0, "{none}");
    // Beijing sees its own item, none of Jiangsu's.
    let bj = page(&app, signing, &beijing).await;
    assert_eq!(schools_of(&bj), expect(&["北京大学"]));
    let bj = page(&app, &format!("{signing}&school_id={nju}"), &beijing).await;
    assert_eq!(bj["total"], 0, "{bj}");
    // A school: its own id changes nothing, another school's gives nothing.
    let own = page(&app, &format!("{signing}&school_id={nju}"), &w.school_tok).await;
    assert_eq!(schools_of(&own), expect(&["南京大学"]));
    let other = page(&app, &format!("{signing}&school_id={seu}"), &w.school_tok).await;
    assert_eq!(other["total"], 0, "{other}");
    let seu_own = page(&app, signing, &seu_tok).await;
    assert_eq!(schools_of(&seu_own), expect(&["东南大学"]));
    app.get(&format!("{signing}&school_id=abc"), &prov)
        .await
        .refused(400, "invalid_parameter");

    // Read-only: the province's review decision is refused, and the item stays in review.
    let before = page(&app, &format!("/api/v1/instances/{zhang}"), &prov).await;
    assert_eq!(before["school_name"], "南京大学");
    assert!(before["actions"].as_array().unwrap().is_empty(), "{before}");
    let r = act(&app, &prov, zhang, "approve", json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let after = page(&app, &format!("/api/v1/instances/{zhang}"), &w.school_tok).await;
    assert_eq!(after["state"], before["state"]);
    assert_eq!(after["row_version"], before["row_version"]);

    // The export: 院校 after 姓名, one row per item, each with its school.
    let rows = sheet(&app, "/api/v1/lists/signing/export?status=all", &prov).await;
    assert_eq!(rows[0][..4], ["签约发起方", "姓名", "院校", "考生号"]);
    assert_eq!(rows[0].last().unwrap(), "更新时间");
    assert_eq!(rows.len() - 1, ours.len(), "{rows:?}");
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for r in &rows[1..] {
        by_name.insert(r[1].clone(), r[2].clone());
    }
    let want: BTreeMap<String, String> = made
        .iter()
        .filter(|(_, _, s)| *s != "北京大学")
        .map(|(_, n, s)| (n.clone(), s.to_string()))
        .collect();
    assert_eq!(by_name, want);
    let rows = sheet(
        &app,
        &format!("/api/v1/lists/signing/export?status=all&school_id={seu}"),
        &prov,
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][1..3], ["周二", "东南大学"]);
    // Beijing's export: its one row.
    let rows = sheet(&app, "/api/v1/lists/signing/export?status=all", &beijing).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][1..3], ["孙三", "北京大学"]);
    // The returned-export takes the filter too (nothing was returned).
    let rows = sheet(
        &app,
        &format!("/api/v1/lists/signing/returned-export?school_id={nju}"),
        &prov,
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][2], "院校");
    // The school's export stays as it was: no 院校.
    let rows = sheet(
        &app,
        "/api/v1/lists/signing/export?status=all",
        &w.school_tok,
    )
    .await;
    assert_eq!(rows[0][..3], ["签约发起方", "姓名", "考生号"]);
    assert!(!rows[0].iter().any(|h| h == "院校"), "{:?}", rows[0]);
    assert_eq!(rows.len() - 1, 2, "{rows:?}");

    // 档案信息管理: the module's list and info list per school.
    upload_roster(&app, vec![zhang_san()]).await;
    switch_on(&app, &w, &prov, "rw").await;
    let r = app
        .post(
            "/api/v1/flows/archive_registration/instances",
            &w.graduate_tok,
            json!({"input": {"transfer_type": "1", "receiver_name": "南京示例科技有限公司人事部",
                   "receiver_region": "320106", "receiver_address": "南京市鼓楼区汉口路22号",
                   "postal_code": "210008", "contact": "人事部王老师",
                   "contact_phone": "025-83591234"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let archive = r.body["id"].as_i64().unwrap();
    let list = page(&app, "/api/v1/lists/archive?status=all", &prov).await;
    assert_eq!(schools_of(&list), vec![(archive, "南京大学".to_string())]);
    let list = page(
        &app,
        &format!("/api/v1/lists/archive?status=all&school_id={seu}"),
        &prov,
    )
    .await;
    assert_eq!(list["total"], 0, "{list}");
    let rows = sheet(&app, "/api/v1/lists/archive/export?status=all", &prov).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][1..3], ["张三", "南京大学"]);
    let roster =
        |school: i64| format!("/api/v1/roster/graduates?module=archive&school_id={school}");
    let info = page(&app, &roster(nju), &prov).await;
    // The world's three graduates and 李一.
    assert_eq!(info["total"], 4, "{info}");
    assert!(items(&info).iter().all(|g| g["school_id"] == nju), "{info}");
    let zhang_info = items(&info)
        .into_iter()
        .find(|g| g["name"] == "张三")
        .unwrap();
    assert_eq!(zhang_info["registration"], "reviewing", "{zhang_info}");
    let info = page(&app, &roster(seu), &prov).await;
    assert_eq!(info["total"], 1, "{info}");
    assert_eq!(items(&info)[0]["name"], "周二");
    // Beijing's province: none of Jiangsu's graduates through the filter.
    let r = app.get(&roster(nju), &beijing).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 0, "{}", r.text);
}

/// A paper supplement (补登) of the graduate of `tok`, with an image of their own: its id and
/// input.
async fn supplement(app: &App, tok: &str, n: u32) -> (i64, Value) {
    let image = app
        .post_bytes(
            "/api/v1/uploads?purpose=image",
            tok,
            plain_png(400 + n, 300),
        )
        .await;
    assert_eq!(image.status, 200, "{}", image.text);
    let input = json!({
        "employer_name": "南京某某信息技术有限公司", "credit_code": "91350100M000100Y43",
        "employer_nature": "39", "industry": "34", "employer_region": "320100",
        "employer_address": "南京市鼓楼区汉口路22号", "job_category": "13", "position": "软件工程师",
        "contact_person": "王经理", "contact_mobile": "13912345678", "archive_transfer": "1",
        "hukou_migration": "4", "paper_image": image.body["id"]});
    let r = app
        .post(
            "/api/v1/flows/paper_supplement/instances",
            tok,
            json!({"input": input}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.body["id"].as_i64().unwrap(), input)
}

/// 批量办理 with `return`: three supplements in the school's inbox, the third returned alone
/// first; the bulk return with the versions the inbox showed decides the two others with one
/// reason, recorded in each one's history, and answers 409 for the third; the graduates may
/// resubmit, and "done by me" lists the three returns with their own reasons.
async fn bulk_return(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let mut grads = Vec::new();
    for (n, name) in ["学生0", "学生1", "学生2"].into_iter().enumerate() {
        grads.push(graduate(&app, (w.school_id, "32", DEPT), n, name).await);
    }
    let mut ids = Vec::new();
    let mut inputs = Vec::new();
    for (n, (_, tok)) in grads[..3].iter().enumerate() {
        let (id, input) = supplement(&app, tok, n as u32).await;
        ids.push(id);
        inputs.push(input);
    }
    let seen = app
        .get("/api/v1/tasks?flow=paper_supplement", &w.school_tok)
        .await
        .body;
    assert_eq!(seen["total"], 3, "{seen}");
    let selected: Vec<Value> = ids
        .iter()
        .map(|id| {
            let t = items(&seen)
                .into_iter()
                .find(|t| t["instance_id"] == *id)
                .unwrap();
            json!({"instance_id": id, "expected_version": t["row_version"]})
        })
        .collect();
    let alone = json!({"reason_category": "协议图片不清晰或不完整", "reason": "图片模糊"});
    let r = act(&app, &w.school_tok, ids[2], "return", alone.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let reason = json!({"reason_category": "协议信息有误", "reason": "单位名称与公章不一致"});
    let r = app
        .post(
            "/api/v1/tasks/bulk-decision",
            &w.school_tok,
            json!({"decision": "return", "input": reason, "items": selected}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["decided"], &r.body["failed"]),
        (&json!(2), &json!(1))
    );
    let answers = items(&r.body);
    let statuses: Vec<i64> = answers
        .iter()
        .map(|i| i["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 409], "{}", r.text);
    assert_eq!(answers[2]["outcome"], "conflict");
    for (k, id) in ids.iter().enumerate() {
        assert_eq!(answers[k]["instance_id"], *id);
        // Returned, the reason in its history, the graduate's resubmit offered.
        let v = app
            .get(&format!("/api/v1/instances/{id}"), &grads[k].1)
            .await
            .body;
        assert_eq!(v["state"], "returned", "{v}");
        let actions: Vec<&str> = v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"resubmit"), "{actions:?}");
        let h = app
            .get(&format!("/api/v1/instances/{id}/history"), &w.school_tok)
            .await
            .body;
        let returns = items(&h)
            .iter()
            .filter(|e| e["decision"] == "return")
            .count();
        assert_eq!(returns, 1, "{h}");
        let last = items(&h).last().unwrap().clone();
        let want = if k < 2 { &reason } else { &alone };
        assert_eq!(last["decision"], "return", "{h}");
        assert_eq!(last["to"], "returned", "{h}");
        assert_eq!(last["reason_category"], want["reason_category"], "{h}");
        assert_eq!(last["reason"], want["reason"], "{h}");
    }
    // Done by me: the three returns, each with its own reason.
    let done = app.get("/api/v1/tasks/done", &w.school_tok).await.body;
    assert_eq!(done["total"], 3, "{done}");
    let mut decided: Vec<(i64, String)> = items(&done)
        .iter()
        .map(|d| {
            assert_eq!(d["decision"], "return", "{d}");
            assert_eq!(d["state"], "returned", "{d}");
            (
                d["instance_id"].as_i64().unwrap(),
                d["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    decided.sort();
    let bulk = "单位名称与公章不一致".to_string();
    assert_eq!(
        decided,
        [
            (ids[0], bulk.clone()),
            (ids[1], bulk),
            (ids[2], "图片模糊".to_string())
        ]
    );
    // The graduate acts again: resubmitted, it is back in the school's inbox (empty till then).
    let inbox = "/api/v1/tasks?flow=paper_supplement";
    assert_eq!(app.get(inbox, &w.school_tok).await.body["total"], 0);
    let r = act(&app, &grads[0].1, ids[0], "resubmit", inputs[0].clone()).await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("reviewing")),
        "{}",
        r.text
    );
    let seen = app.get(inbox, &w.school_tok).await.body;
    assert_eq!(seen["total"], 1, "{seen}");
    assert_eq!(seen["items"][0]["instance_id"], ids[0]);
}

both_backends!(province_lists, bulk_return);
