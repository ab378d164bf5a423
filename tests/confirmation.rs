//! End to end: 去向登记确认 (SPEC.md 4.9) over HTTP on SQLite and PostgreSQL — opened by an
//! approved destination, answered both ways (信息无误 / 信息有误 with what is wrong, an
//! explanation and a mobile), reset to 未确认 by a change of an important field of the
//! destination, the archive or the hukou (and not by a change of anything else), 未上报 when
//! the destination is voided, 登记确认记录 shown to the school with detail, the scope of who may
//! read and answer it.

mod support;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::flows::{outbox_drained, switch_on, upload_roster, zhang_san};
use support::webhook::{self, WebhookReceiver};
use support::world::{act, province_user, world, World};

const CANDIDATE: &str = "26320102150001";

async fn spawn_hooked(backend: Backend) -> (WebhookReceiver, App) {
    let hook = webhook::start().await;
    let app = spawn_on(
        backend,
        AppOptions {
            webhook_url: Some(hook.url()),
            extra_args: vec!["--worker-interval-ms".into(), "50".into()],
            ..AppOptions::default()
        },
    )
    .await;
    (hook, app)
}

/// The graduate's confirmation after every event was delivered.
async fn mine(app: &App, w: &World) -> Value {
    outbox_drained(app).await;
    let r = app.get("/api/v1/me/confirmation", &w.graduate_tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn proof(app: &App, tok: &str, n: u32) -> String {
    let r = app
        .post_bytes(
            "/api/v1/uploads?purpose=image",
            tok,
            support::files::plain_png(200 + n, 150),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// The text of field `name` in a confirmation's data block.
fn text_of(block: &Value, name: &str) -> Value {
    block["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields in {block}"))
        .iter()
        .find(|f| f["name"] == name)
        .map(|f| f["text"].clone())
        .unwrap_or(Value::Null)
}

/// Answers the confirmation; the new status.
async fn answer(app: &App, w: &World, action: &str, input: Value) -> (u16, Value) {
    let c = mine(app, w).await;
    let id = c["instance_id"].as_i64().expect("a confirmation to answer");
    let r = act(app, &w.graduate_tok, id, action, input).await;
    (r.status, r.body)
}

async fn confirmed(app: &App, w: &World) {
    let (status, body) = answer(app, w, "confirm", json!({})).await;
    assert_eq!(
        (status, &body["label"]),
        (200, &json!("确认无误")),
        "{body}"
    );
}

async fn status(app: &App, w: &World) -> String {
    mine(app, w).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn study(proof: &str, school: &str) -> Value {
    json!({"destination_type": "801", "school_name": school, "major_name": "计算机科学与技术", "proof_1": proof})
}

async fn both_ways_and_every_reset(backend: Backend) {
    let (hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    upload_roster(&app, vec![zhang_san()]).await;
    let province = province_user(&app, "p-32", "32").await;
    switch_on(&app, &w, &province, "rw").await;

    // Nothing reported yet: 未上报, nothing to answer.
    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未上报", "{c}");
    assert_eq!(c["status_code"], "unreported");
    assert!(
        c["instance_id"].is_null() && c["destination"].is_null(),
        "{c}"
    );

    // A destination registered and approved opens the confirmation (未确认).
    let p = proof(&app, &w.graduate_tok, 1).await;
    let r = app
        .post(
            "/api/v1/flows/destination_registration/instances",
            &w.graduate_tok,
            json!({"input": study(&p, "南京大学")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dest = r.body["id"].as_i64().unwrap();
    // Under review nothing is reported yet.
    assert_eq!(status(&app, &w).await, "未上报");
    let r = act(&app, &w.school_tok, dest, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未确认", "{c}");
    let d = &c["destination"];
    assert_eq!(d["flow"], "destination_registration", "{c}");
    assert_eq!(d["label"], "去向登记审核通过");
    assert_eq!(d["data_source"], "登记系统");
    assert!(d["reported_at"].is_string(), "{c}");
    assert_eq!(text_of(d, "school_name"), "南京大学", "{c}");
    assert_eq!(text_of(d, "major_name"), "计算机科学与技术");
    assert!(
        c["archive"].is_null() && c["hukou"].is_null(),
        "nothing registered: {c}"
    );

    // Neither the school nor another role answers for the graduate.
    let id = c["instance_id"].as_i64().unwrap();
    let r = act(&app, &w.school_tok, id, "confirm", json!({})).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // 信息有误 names what is wrong, explains it and leaves a mobile.
    let (s, b) = answer(
        &app,
        &w,
        "report_error",
        json!({"explanation": "专业有误", "contact_mobile": "13812345678"}),
    )
    .await;
    assert_eq!((s, &b["code"]), (422, &json!("no_issue")), "{b}");
    assert!(b["message"]
        .as_str()
        .unwrap()
        .contains("请至少选择毕业去向信息、档案转递信息或户口迁移信息中的一项"));
    let (s, b) = answer(
        &app,
        &w,
        "report_error",
        json!({"destination_issue": "2", "contact_mobile": "13812345678"}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(b.to_string().contains("去向情况说明"), "{b}");
    let long = "很".repeat(501);
    let (s, b) = answer(
        &app,
        &w,
        "report_error",
        json!({"destination_issue": "2", "explanation": long, "contact_mobile": "13812345678"}),
    )
    .await;
    assert_eq!(s, 422, "over 500 characters: {b}");
    let (s, b) = answer(
        &app,
        &w,
        "report_error",
        json!({"destination_issue": "2", "explanation": "升学专业应为软件工程", "contact_mobile": "13812345678"}),
    )
    .await;
    assert_eq!((s, &b["label"]), (200, &json!("确认有误")), "{b}");

    // The school corrects the destination: an important field changed ⇒ 未确认, the graduate told.
    let mut fix = study(&p, "南京大学");
    fix["major_name"] = json!("软件工程");
    fix["modify_note"] = json!("按学生反馈更正专业");
    let r = act(&app, &w.school_tok, dest, "modify", fix.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&app, &w).await, "未确认");
    hook.wait_for(
        |r| {
            r.iter().any(|m| {
                m.body["message"]["kind"] == "notify"
                    && m.body["message"]["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("请重新进行去向登记确认"))
            })
        },
        30,
    )
    .await;
    confirmed(&app, &w).await;

    // A modification that changes no important field (only the note) leaves the answer.
    fix["modify_note"] = json!("补充说明");
    let r = act(&app, &w.school_tok, dest, "modify", fix.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&app, &w).await, "确认无误");

    // The archive registered (after the school's review) resets it; its data is shown.
    let r = app
        .post(
            "/api/v1/flows/archive_registration/instances",
            &w.graduate_tok,
            json!({"input": {"transfer_type": "1", "receiver_name": "南京大学研究生院", "receiver_region": "320106",
                             "receiver_address": "南京市鼓楼区汉口路22号", "postal_code": "210008",
                             "contact": "档案室", "contact_phone": "025-83591234"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let archive = r.body["id"].as_i64().unwrap();
    assert_eq!(
        status(&app, &w).await,
        "确认无误",
        "an application under review changes nothing"
    );
    assert!(mine(&app, &w).await["archive"].is_null());
    let r = act(&app, &w.school_tok, archive, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未确认", "{c}");
    assert_eq!(c["archive"]["label"], "档案信息已登记");
    assert_eq!(text_of(&c["archive"], "receiver_name"), "南京大学研究生院");
    assert_eq!(
        text_of(&c["archive"], "transfer_type"),
        "签约单位接收",
        "{c}"
    );
    confirmed(&app, &w).await;
    // A change of an unimportant archive field (the postal code) leaves the answer…
    let edit = json!({"transfer_type": "1", "receiver_name": "南京大学研究生院", "receiver_region": "320106",
                      "receiver_address": "南京市鼓楼区汉口路22号", "postal_code": "210009",
                      "contact": "档案室", "contact_phone": "025-83591234"});
    let r = act(&app, &w.school_tok, archive, "edit", edit.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&app, &w).await, "确认无误");
    // …a change of the receiver resets it.
    let mut edit = edit;
    edit["receiver_name"] = json!("南京大学档案馆");
    let r = act(&app, &w.school_tok, archive, "edit", edit).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&app, &w).await, "未确认");
    confirmed(&app, &w).await;

    // The hukou registered resets it too.
    let r = app
        .post(
            "/api/v1/flows/hukou_registration/instances",
            &w.graduate_tok,
            json!({"input": {"transfer_type": "2", "migration_region": "320106",
                             "migration_address": "南京市鼓楼区人才服务中心集体户"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hukou = r.body["id"].as_i64().unwrap();
    let r = act(&app, &w.school_tok, hukou, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未确认", "{c}");
    assert_eq!(
        text_of(&c["hukou"], "migration_address"),
        "南京市鼓楼区人才服务中心集体户"
    );
    let (s, b) = answer(
        &app,
        &w,
        "report_error",
        json!({"hukou_issue": true, "explanation": "集体户地址有误", "contact_mobile": "13812345678"}),
    )
    .await;
    assert_eq!((s, &b["label"]), (200, &json!("确认有误")), "{b}");

    // 登记确认记录: the school reads every answer with its detail, and every reset.
    let r = app
        .get(
            &format!("/api/v1/roster/graduates/{CANDIDATE}/confirmation"),
            &w.school_tok,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "确认有误");
    let records = r.body["records"].as_array().unwrap();
    let labels: Vec<&str> = records
        .iter()
        .map(|x| x["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels[0], "去向已上报，待确认", "{labels:?}");
    assert_eq!(
        labels
            .iter()
            .filter(|l| **l == "信息无误，确认登记去向")
            .count(),
        3,
        "{labels:?}"
    );
    assert_eq!(
        labels
            .iter()
            .filter(|l| **l == "信息已更新，需重新确认")
            .count(),
        4,
        "{labels:?}"
    );
    let wrong: Vec<&Value> = records
        .iter()
        .filter(|x| x["action"] == "report_error")
        .collect();
    assert_eq!(wrong.len(), 2);
    let first = &wrong[0]["details"];
    let detail = |name: &str| {
        first
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["text"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(detail("destination_issue"), "有错误", "{first}");
    assert_eq!(detail("explanation"), "升学专业应为软件工程");
    assert_eq!(detail("contact_mobile"), "13812345678");
    assert_eq!(wrong[0]["by"], "毕业生");
    // The graduate sees the same records.
    assert_eq!(
        mine(&app, &w).await["records"].as_array().unwrap().len(),
        records.len()
    );
    // The province sees its schools' graduates; the other department and the graduate
    // (through the school's path) do not.
    let r = app
        .get(
            &format!("/api/v1/roster/graduates/{CANDIDATE}/confirmation"),
            &province,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .get(
            &format!("/api/v1/roster/graduates/{CANDIDATE}/confirmation"),
            &w.other_dept_tok,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .get(
            &format!("/api/v1/roster/graduates/{CANDIDATE}/confirmation"),
            &w.graduate_tok,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app.get("/api/v1/me/confirmation", &w.school_tok).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // The school's list of confirmations shows the status.
    let r = app
        .get("/api/v1/lists/confirmation?status=all", &w.school_tok)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.text);
    assert_eq!(items[0]["label"], "确认有误");
    let r = app
        .get("/api/v1/lists/confirmation?status=确认无误", &w.school_tok)
        .await;
    assert_eq!(r.body["total"], 0, "{}", r.text);

    // The destination voided: 未上报, nothing to answer; a new one reported opens it again.
    let r = act(
        &app,
        &w.school_tok,
        dest,
        "void",
        json!({"void_reason": "学生放弃升学"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未上报", "{c}");
    assert!(c["destination"].is_null(), "{c}");
    let (s, b) = answer(&app, &w, "confirm", json!({})).await;
    assert_eq!(s, 409, "{b}");
    let p2 = proof(&app, &w.graduate_tok, 2).await;
    let r = app
        .post(
            "/api/v1/flows/destination_registration/instances",
            &w.graduate_tok,
            json!({"input": study(&p2, "东南大学")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dest2 = r.body["id"].as_i64().unwrap();
    let r = act(&app, &w.school_tok, dest2, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未确认", "{c}");
    assert_eq!(text_of(&c["destination"], "school_name"), "东南大学");
    confirmed(&app, &w).await;
}

/// An online agreement approved opens the confirmation; voided, it is 未上报.
async fn from_an_agreement(backend: Backend) {
    let (_hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    let r = support::world::invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(
        act(&app, &w.graduate_tok, id, "accept", json!({}))
            .await
            .status,
        200
    );
    assert_eq!(status(&app, &w).await, "未上报");
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未确认", "{c}");
    assert_eq!(c["destination"]["flow"], "online_signing");
    assert_eq!(text_of(&c["destination"], "position"), "软件工程师", "{c}");
    confirmed(&app, &w).await;
    let r = act(
        &app,
        &w.school_tok,
        id,
        "void",
        json!({"void_reason": "协议信息错误"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&app, &w).await, "未上报");
}

/// 违反“四不准”行为举报: filed by the graduate with evidence, routed to the province only, naming
/// no reporter; handled once.
async fn prohibition_report(backend: Backend) {
    let (_hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    let province = province_user(&app, "p-32", "32").await;
    support::world::ok(
        &app,
        "/api/v1/admin/provinces",
        json!({"code": "11", "name": "北京市", "agreement_type": "two_party", "employment_enabled": true}),
    )
    .await;
    let beijing = province_user(&app, "p-11", "11").await;

    let f = app.get("/api/v1/reports/form", &w.graduate_tok).await;
    assert_eq!(f.status, 200, "{}", f.text);
    let labels: Vec<&str> = f.body["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "学校通过各种方式强迫我签订就业协议和劳动合同",
            "学校要求我必须签约才给发毕业证书、学位证书",
            "学校用方便户档托管为理由，劝说我签订虚假就业协议",
            "学校将我的顶岗实习、见习证明材料作为就业证明材料"
        ]
    );
    assert_eq!(f.body["content_max"], 300);
    assert_eq!(f.body["notice"], "若填写此举报信息将匿名提供给上级部门");
    assert!(f.body["reminder"]
        .as_str()
        .unwrap()
        .contains("举报材料请去掉个人信息"));

    // Evidence: an image and a zip, checked by content on upload.
    let png = support::files::plain_png(320, 240);
    let up = |bytes: Vec<u8>| {
        let app = &app;
        let tok = w.graduate_tok.clone();
        async move {
            let r = app
                .post_bytes("/api/v1/uploads?purpose=evidence", &tok, bytes)
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let image = up(png.clone()).await;
    let zip = up(support::files::zip_of(&[(
        "录音说明.txt",
        "学校要求先签约".as_bytes(),
    )]))
    .await;
    let r = app
        .post_bytes(
            "/api/v1/uploads?purpose=evidence",
            &w.graduate_tok,
            b"%PDF-1.4 not evidence".to_vec(),
        )
        .await;
    assert_eq!(r.status, 422, "a pdf is not evidence: {}", r.text);

    let file = |body: Value, tok: String| {
        let app = &app;
        async move { app.post("/api/v1/reports", &tok, body).await }
    };
    let good = json!({"category": "2", "content": "辅导员说不签协议就不发毕业证", "evidence": [image, zip]});
    for (body, field) in [
        (
            json!({"category": "9", "content": "x", "evidence": [image]}),
            "category",
        ),
        (
            json!({"category": "2", "content": "  ", "evidence": [image]}),
            "content",
        ),
        (
            json!({"category": "2", "content": "很".repeat(301), "evidence": [image]}),
            "content",
        ),
        (
            json!({"category": "2", "content": "说明", "evidence": []}),
            "evidence",
        ),
        (
            json!({"category": "2", "content": "说明", "evidence": ["no-such-upload"]}),
            "evidence",
        ),
    ] {
        let r = file(body.clone(), w.graduate_tok.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
    }
    let r = file(good.clone(), w.school_tok.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = file(good.clone(), w.graduate_tok.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("严格保密"));
    // The uploads were taken over: they no longer exist as the graduate's uploads.
    let r = app
        .get(&format!("/api/v1/uploads/{image}"), &w.graduate_tok)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // …and cannot be used twice.
    let r = file(good.clone(), w.graduate_tok.clone()).await;
    assert_eq!(r.status, 422, "{}", r.text);

    // Never to the school: neither school nor department users list, open or handle it.
    for tok in [&w.school_tok, &w.dept_tok, &w.graduate_tok] {
        for path in ["/api/v1/reports", "/api/v1/reports/1/evidence/1"] {
            let r = app.get(path, tok).await;
            assert_eq!(r.status, 403, "{path}: {}", r.text);
        }
        let r = app
            .post(
                "/api/v1/reports/1/handle",
                tok,
                json!({"note": "x", "expected_version": 1}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    // The province sees the report, the school named and the evidence — and nobody's identity.
    let r = app.get("/api/v1/reports?handled=false", &province).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    let item = &r.body["items"][0];
    assert_eq!(item["school"]["name"], "南京大学");
    assert_eq!(
        item["category_label"],
        "学校要求我必须签约才给发毕业证书、学位证书"
    );
    assert_eq!(item["status"], "未处理");
    assert_eq!(item["evidence"].as_array().unwrap().len(), 2);
    for personal in [
        "张三",
        "26320102150001",
        "11010519491231002X",
        "g1",
        "graduate",
    ] {
        assert!(!r.text.contains(personal), "{personal} in {}", r.text);
    }
    let id = item["id"].as_i64().unwrap();
    let n = item["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["content_type"] == "image/png")
        .unwrap()["n"]
        .as_i64()
        .unwrap();
    let r = app
        .get_bytes(&format!("/api/v1/reports/{id}/evidence/{n}"), &province)
        .await;
    assert_eq!(r.0, 200);
    assert_eq!(r.1, png, "the evidence as uploaded");
    // Another province sees nothing of it.
    let r = app.get("/api/v1/reports", &beijing).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = app
        .get(&format!("/api/v1/reports/{id}/evidence/1"), &beijing)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Handled once; a second decision on the same version answers 409.
    let handle = json!({"note": "已约谈学校并责令整改", "expected_version": 1});
    let r = app
        .post(
            &format!("/api/v1/reports/{id}/handle"),
            &province,
            handle.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "已处理");
    let r = app
        .post(&format!("/api/v1/reports/{id}/handle"), &province, handle)
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = app.get("/api/v1/reports?handled=true", &province).await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
}

fn archive_data(receiver: &str) -> Value {
    json!({"transfer_type": "1", "receiver_name": receiver, "receiver_region": "320106",
           "receiver_address": "南京市鼓楼区汉口路22号", "postal_code": "210008",
           "contact": "档案室", "contact_phone": "025-83591234"})
}

/// 张三 with an approved destination and a registered archive: the archive's instance id.
async fn reported_and_registered(app: &App, w: &World) -> i64 {
    upload_roster(app, vec![zhang_san()]).await;
    let province = province_user(app, "p-32", "32").await;
    switch_on(app, w, &province, "rw").await;
    let p = proof(app, &w.graduate_tok, 1).await;
    let r = app
        .post(
            "/api/v1/flows/destination_registration/instances",
            &w.graduate_tok,
            json!({"input": study(&p, "南京大学")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dest = r.body["id"].as_i64().unwrap();
    assert_eq!(
        act(app, &w.school_tok, dest, "approve", json!({}))
            .await
            .status,
        200
    );
    let r = app
        .post(
            "/api/v1/flows/archive_registration/instances",
            &w.graduate_tok,
            json!({"input": archive_data("南京大学研究生院")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let archive = r.body["id"].as_i64().unwrap();
    assert_eq!(
        act(app, &w.school_tok, archive, "approve", json!({}))
            .await
            .status,
        200
    );
    archive
}

async fn verifications(app: &App, w: &World) -> Value {
    outbox_drained(app).await;
    let r = app.get("/api/v1/me/verifications", &w.graduate_tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn item<'a>(v: &'a Value, kind: &str) -> &'a Value {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {v}"))
}

async fn set_validity(app: &App, w: &World, kind: &str, day: &str) -> (u16, Value) {
    let r = app
        .put(
            &format!("/api/v1/me/verifications/{kind}"),
            &w.graduate_tok,
            json!({"valid_until": day}),
        )
        .await;
    (r.status, r.body)
}

/// 核验授权: only registered data, only after 确认无误 and the identity check; a number of the
/// documented shape; the service-period cap; close; void on a change; expiry by the timer.
async fn verification_authorization(backend: Backend) {
    let (_hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    let archive = reported_and_registered(&app, &w).await;

    let v = verifications(&app, &w).await;
    // 张三 of cohort 2027 (no graduation date on the roster: 30 June): service until 30
    // December, 23:59:59 China time.
    assert_eq!(v["service_ends_at"], "2027-12-30T15:59:59+00:00", "{v}");
    assert_eq!(v["notes"][0], "对应模块需要有信息登记才能使用核验功能");
    assert_eq!(item(&v, "archive")["status"], "未确认");
    assert_eq!(
        item(&v, "archive")["unavailable_code"],
        "not_confirmed",
        "{v}"
    );
    assert_eq!(
        item(&v, "hukou")["unavailable_code"],
        "not_registered",
        "{v}"
    );
    let (s, b) = set_validity(&app, &w, "archive", "2027-01-10").await;
    assert_eq!((s, &b["code"]), (409, &json!("not_confirmed")), "{b}");

    confirmed(&app, &w).await;
    let v = verifications(&app, &w).await;
    assert_eq!(
        item(&v, "archive")["unavailable_code"],
        "identity_not_checked",
        "{v}"
    );
    let (s, b) = set_validity(&app, &w, "archive", "2027-01-10").await;
    assert_eq!(
        (s, &b["code"]),
        (409, &json!("identity_not_checked")),
        "{b}"
    );

    // The identity provider (and only it) records the real-person check.
    let path = format!("/api/v1/roster/graduates/{CANDIDATE}/identity-check");
    assert_eq!(app.put(&path, &w.school_tok, json!({})).await.status, 403);
    identity_checked(&app).await;
    let v = verifications(&app, &w).await;
    assert_eq!(v["identity_checked"], true);
    assert_eq!(item(&v, "archive")["available"], true, "{v}");

    // The validity: a date, not past, not after the service period.
    for day in ["2027-12-31", "2020-01-01", "明年"] {
        let (s, b) = set_validity(&app, &w, "archive", day).await;
        assert_eq!(s, 422, "{day}: {b}");
        assert_eq!(b["errors"][0]["field"], "valid_until", "{b}");
    }
    let (s, b) = set_validity(&app, &w, "hukou", "2027-01-10").await;
    assert_eq!((s, &b["code"]), (409, &json!("not_registered")), "{b}");
    let (s, b) = set_validity(&app, &w, "passport", "2027-01-10").await;
    assert_eq!(s, 404, "{b}");

    let (s, b) = set_validity(&app, &w, "archive", "2027-12-30").await;
    assert_eq!(s, 200, "the last day of the service period: {b}");
    let a = item(&b, "archive");
    assert_eq!(a["status"], "生效中");
    assert_eq!(a["valid_until"], "2027-12-30T15:59:59+00:00");
    let first = a["number"].as_str().unwrap().to_string();
    assert!(
        first.len() == 15
            && first.starts_with("2710284")
            && first[7..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "2-digit year, 5-digit school code, 8 × [0-9A-Z]: {first}"
    );
    // A new validity keeps the number.
    let (_, b) = set_validity(&app, &w, "archive", "2027-01-10").await;
    assert_eq!(item(&b, "archive")["number"], first.as_str());
    assert_eq!(
        item(&b, "archive")["valid_until"],
        "2027-01-10T15:59:59+00:00"
    );
    // The school's view of the graduate never carries it.
    let r = app
        .get(
            &format!("/api/v1/roster/graduates/{CANDIDATE}/confirmation"),
            &w.school_tok,
        )
        .await;
    assert!(!r.text.contains(&first), "{}", r.text);
    // Its verification list shows the state and validity only.
    let r = app
        .get("/api/v1/verifications/archive", &w.school_tok)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(r.body["items"][0]["status"], "生效中");
    assert_eq!(r.body["items"][0]["name"], "张三");
    assert!(!r.text.contains(&first), "{}", r.text);
    assert_eq!(
        app.get("/api/v1/verifications/hukou", &w.school_tok)
            .await
            .body["total"],
        0
    );
    assert_eq!(
        app.get("/api/v1/verifications/archive", &w.graduate_tok)
            .await
            .status,
        403
    );

    // Closed: 未确认, no number; closing again is refused; a new authorization, a new number.
    let close = "/api/v1/me/verifications/archive/close";
    let r = app.post(close, &w.graduate_tok, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(item(&r.body, "archive")["status"], "未确认");
    assert!(item(&r.body, "archive")["number"].is_null());
    assert_eq!(
        app.post(close, &w.graduate_tok, json!({})).await.status,
        409
    );
    let (_, b) = set_validity(&app, &w, "archive", "2027-01-10").await;
    let second = item(&b, "archive")["number"].as_str().unwrap().to_string();
    assert_ne!(second, first);

    // A change of the archive's receiver: confirm again, and authorize again.
    let r = act(
        &app,
        &w.school_tok,
        archive,
        "edit",
        archive_data("南京大学档案馆"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = verifications(&app, &w).await;
    assert_eq!(item(&v, "archive")["status"], "未确认", "{v}");
    assert_eq!(item(&v, "archive")["unavailable_code"], "not_confirmed");
    confirmed(&app, &w).await;
    let v = verifications(&app, &w).await;
    assert_eq!(
        item(&v, "archive")["status"],
        "未确认",
        "confirming alone does not revive it"
    );
    let (_, b) = set_validity(&app, &w, "archive", "2027-01-10").await;
    assert_eq!(item(&b, "archive")["status"], "生效中");
    let third = item(&b, "archive")["number"].as_str().unwrap().to_string();
    assert!(third != first && third != second);

    // Past the validity the timer marks it 已过期.
    let r = app
        .post(
            "/api/v1/admin/clock",
            &app.admin_token,
            json!({"set": "2027-01-10T16:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = verifications(&app, &w).await;
    assert_eq!(item(&v, "archive")["status"], "已过期", "{v}");
    assert_eq!(item(&v, "archive")["status_code"], "expired");
    let r = app
        .get("/api/v1/verifications/archive", &w.school_tok)
        .await;
    assert_eq!(r.body["items"][0]["status"], "已过期", "{}", r.text);
    assert_eq!(
        app.post(close, &w.graduate_tok, json!({})).await.status,
        409
    );
}

/// 转递编号: generated in batch for graduates with a reported destination, stale after an
/// important change and regenerated, filtered, downloaded, scoped, never shown to the graduate.
async fn transfer_numbers(backend: Backend) {
    let (_hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    let archive = reported_and_registered(&app, &w).await;
    outbox_drained(&app).await;
    let generate = "/api/v1/transfer-numbers/archive/generate";
    assert_eq!(
        app.post(generate, &w.graduate_tok, json!({})).await.status,
        403
    );
    let r = app.post(generate, &w.school_tok, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Only 张三 reported a destination (王五 and 赵六 did not).
    assert_eq!(
        (
            &r.body["generated"],
            &r.body["regenerated"],
            &r.body["unchanged"]
        ),
        (&json!(1), &json!(0), &json!(0)),
        "{}",
        r.text
    );
    let list = |tok: String, query: &'static str| {
        let app = &app;
        async move {
            let r = app
                .get(&format!("/api/v1/transfer-numbers/archive{query}"), &tok)
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body
        }
    };
    let l = list(w.school_tok.clone(), "").await;
    assert_eq!((&l["total"], &l["reported"]), (&json!(1), &json!(1)), "{l}");
    let row = &l["items"][0];
    assert_eq!(row["name"], "张三");
    assert_eq!(row["status"], "已生成");
    let first = row["number"].as_str().unwrap().to_string();
    assert!(first.len() == 15 && first.starts_with("2710284"), "{first}");
    let r = app.post(generate, &w.school_tok, json!({})).await;
    assert_eq!(r.body["unchanged"], 1, "a current number stays: {}", r.text);
    // The department sees its own graduates (given the archive module); the other none.
    for tok in [&w.dept_tok, &w.other_dept_tok] {
        let id = support::flows::account_id(&app, tok).await;
        let r = app
            .put(
                &format!("/api/v1/accounts/{id}/permissions"),
                &w.school_tok,
                json!({"employment": "rw", "archive": "ro", "hukou": "ro"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(list(w.dept_tok.clone(), "").await["total"], 1);
    assert_eq!(list(w.other_dept_tok.clone(), "").await["total"], 0);
    // Never to the graduate: not listed, and in none of their own views.
    let r = app
        .get("/api/v1/transfer-numbers/archive", &w.graduate_tok)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    for path in [
        "/api/v1/me/confirmation",
        "/api/v1/me/verifications",
        "/api/v1/instances",
    ] {
        let r = app.get(path, &w.graduate_tok).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(!r.text.contains(&first), "{path} shows the transfer number");
    }

    // An important change of the archive: stale; the batch generates it anew.
    let r = act(
        &app,
        &w.school_tok,
        archive,
        "edit",
        archive_data("南京大学档案馆"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    outbox_drained(&app).await;
    let l = list(w.school_tok.clone(), "?status=stale").await;
    assert_eq!(l["total"], 1, "{l}");
    assert_eq!(l["items"][0]["status"], "已失效");
    assert_eq!(
        list(w.school_tok.clone(), "?status=generated").await["total"],
        0
    );
    let r = app.post(generate, &w.school_tok, json!({})).await;
    assert_eq!(r.body["regenerated"], 1, "{}", r.text);
    let l = list(w.school_tok.clone(), "?status=generated").await;
    let second = l["items"][0]["number"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(
        list(w.school_tok.clone(), "?updated_from=2099-01-01T00:00:00Z").await["total"],
        0
    );
    let r = app
        .get(
            "/api/v1/transfer-numbers/archive?status=lost",
            &w.school_tok,
        )
        .await;
    assert_eq!((r.status, &r.body["code"]), (422, &json!("invalid_status")));

    // The download: basic info, destination, the archive data and the number.
    let rows = support::flows::sheet(
        &app,
        "/api/v1/transfer-numbers/archive/export",
        &w.school_tok,
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let col = |name: &str| {
        rows[0]
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}: {:?}", rows[0]))
    };
    assert_eq!(rows[1][col("姓名")], "张三");
    assert_eq!(rows[1][col("转递编号")], second);
    assert_eq!(rows[1][col("编号状态")], "已生成");
    assert_eq!(rows[1][col("单位或学校名称")], "南京大学", "{rows:?}");
    assert!(
        rows[0].iter().any(|h| h.contains("接收单位")),
        "{:?}",
        rows[0]
    );
    assert!(rows[1].iter().any(|c| c == "南京大学档案馆"), "{rows:?}");

    // The hukou list is its own: generated for the reported graduate, no hukou data yet.
    let r = app
        .post(
            "/api/v1/transfer-numbers/hukou/generate",
            &w.school_tok,
            json!({}),
        )
        .await;
    assert_eq!(r.body["generated"], 1, "{}", r.text);
}

/// The identity provider records 张三's real-person identity check.
async fn identity_checked(app: &App) {
    let key = app
        .post(
            "/api/v1/api-keys",
            &app.admin_token,
            json!({"name": "学信网", "kind": "identity"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/roster/graduates/{CANDIDATE}/identity-check");
    let r = app.put(&path, &key, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// 张三 confirmed, identity-checked and authorized for archive verification until `day`: the
/// verification number.
async fn authorized(app: &App, w: &World, day: &str) -> String {
    confirmed(app, w).await;
    identity_checked(app).await;
    let (s, b) = set_validity(app, w, "archive", day).await;
    assert_eq!(s, 200, "{b}");
    item(&b, "archive")["number"].as_str().unwrap().to_string()
}

async fn html(app: &App, path: &str, tok: &str) -> (u16, String) {
    let (status, bytes, ct) = app.get_bytes(path, tok).await;
    if status == 200 {
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
    }
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn lookup(app: &App, name: &str, number: &str) -> support::app::Resp {
    app.post(
        "/api/v1/public/lookup",
        "",
        json!({"name": name, "number": number}),
    )
    .await
}

/// The registration sheets (the graduate's with the verification number, the school's preview
/// with the transfer number, the omission rule) and the public lookup: found while valid, one
/// plain answer otherwise, per-address rate limit.
async fn sheets_and_public_lookup(backend: Backend) {
    let (_hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    let archive = reported_and_registered(&app, &w).await;
    outbox_drained(&app).await;
    let v = authorized(&app, &w, "2027-03-01").await;

    // The graduate's sheet: number, QR code, basic info, destination, archive data, notes.
    let (s, page) = html(
        &app,
        "/api/v1/me/verifications/archive/sheet",
        &w.graduate_tok,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    for text in [
        "档案登记信息表",
        "核验编号",
        v.as_str(),
        "<svg",
        "张三",
        "南京大学研究生院",
        "软件工程",
        "南京大学",
        "档案转递信息",
        "2027-12-30",
        "@page",
        "break-inside: avoid",
        "Noto Sans CJK SC",
    ] {
        assert!(page.contains(text), "{text} missing from the sheet");
    }
    let (s, _) = html(
        &app,
        "/api/v1/me/verifications/hukou/sheet",
        &w.graduate_tok,
    )
    .await;
    assert_eq!(s, 409, "no hukou authorization");
    let (s, _) = html(
        &app,
        "/api/v1/me/verifications/archive/sheet",
        &w.school_tok,
    )
    .await;
    assert_eq!(s, 403);

    // The school's preview carries the transfer number, never the verification number; the
    // hukou sheet leaves out the hukou data nobody registered.
    for kind in ["archive", "hukou"] {
        let r = app
            .post(
                &format!("/api/v1/transfer-numbers/{kind}/generate"),
                &w.school_tok,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let t = app
        .get("/api/v1/transfer-numbers/archive", &w.school_tok)
        .await
        .body["items"][0]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let gid = w.graduate;
    let (s, preview) = html(
        &app,
        &format!("/api/v1/transfer-numbers/archive/{gid}/sheet"),
        &w.school_tok,
    )
    .await;
    assert_eq!(s, 200, "{preview}");
    assert!(preview.contains(&t) && preview.contains("转递编号") && !preview.contains(&v));
    let (s, hukou) = html(
        &app,
        &format!("/api/v1/transfer-numbers/hukou/{gid}/sheet"),
        &w.school_tok,
    )
    .await;
    assert_eq!(s, 200, "{hukou}");
    assert!(
        hukou.contains("户口登记信息表") && !hukou.contains("户口迁移信息"),
        "{hukou}"
    );
    let (s, _) = html(
        &app,
        &format!("/api/v1/transfer-numbers/archive/{gid}/sheet"),
        &w.graduate_tok,
    )
    .await;
    assert_eq!(s, 403, "the graduate never sees the transfer number");

    // The public lookup, by either number; every refusal is the same answer.
    let r = lookup(&app, "张三", &v).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["sheet"]["number"], v.as_str());
    assert_eq!(r.body["sheet"]["number_label"], "核验编号");
    assert!(r.body["sheet"]["data"].is_array());
    let r = lookup(&app, " 张三 ", &t.to_lowercase()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["sheet"]["number_label"], "转递编号");
    let wrong_name = lookup(&app, "李四", &v).await;
    let unknown = lookup(&app, "张三", "270000000000000").await;
    assert_eq!(wrong_name.status, 404);
    assert_eq!(wrong_name.text, unknown.text);
    assert_eq!(wrong_name.body["message"], "未查询到相关信息或已过期");

    // The page: the form, the sheet, the plain answer (naming nobody).
    let (s, form) = html(&app, &format!("/verify?number={v}"), "").await;
    assert_eq!(s, 200);
    assert!(
        form.contains("name=\"name\"") && form.contains(&v),
        "the QR link prefills the number"
    );
    let (s, found) = html(&app, &format!("/verify?name=张三&number={v}"), "").await;
    assert_eq!(s, 200);
    assert!(found.contains(&v) && found.contains("<svg"));
    let (s, none) = html(&app, &format!("/verify?name=李四&number={v}"), "").await;
    assert_eq!(s, 404);
    assert!(
        none.contains("未查询到相关信息或已过期") && !none.contains("张三") && !none.contains(&v)
    );

    // A stale transfer number and a lapsed authorization answer the same as an unknown one.
    let r = act(
        &app,
        &w.school_tok,
        archive,
        "edit",
        archive_data("南京大学档案馆"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    outbox_drained(&app).await;
    let stale = lookup(&app, "张三", &t).await;
    assert_eq!((stale.status, &stale.text), (404, &unknown.text));
    let voided = lookup(&app, "张三", &v).await;
    assert_eq!(
        (voided.status, &voided.text),
        (404, &unknown.text),
        "the change voided it"
    );

    // Past the limit: 429 with Retry-After; another address still looks up.
    let mut limited = None;
    for _ in 0..20 {
        let r = app
            .client
            .post(app.url("/api/v1/public/lookup"))
            .json(&json!({"name": "张三", "number": t}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("the limit applies");
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests");
    let r = app
        .post(
            "/api/v1/transfer-numbers/archive/generate",
            &w.school_tok,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    let fresh = app
        .get("/api/v1/transfer-numbers/archive", &w.school_tok)
        .await
        .body["items"][0]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let r = other
        .post(app.url("/api/v1/public/lookup"))
        .json(&json!({"name": "张三", "number": fresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another address is not limited");
    let (s, _) = html(&app, &format!("/verify?name=张三&number={fresh}"), "").await;
    assert_eq!(s, 429, "the page shares the limit");
    // Every lookup is audited by its outcome alone (no name, no number).
    let r = app
        .get(
            "/api/v1/audit-log?action=lookup.public&page_size=200",
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    let outcome = |i: &Value| {
        let d = &i["detail"];
        let d: Value = d.as_str().map_or(d.clone(), |t| {
            serde_json::from_str(t).unwrap_or(Value::Null)
        });
        d["outcome"].as_str().unwrap_or_default().to_string()
    };
    assert!(
        items.iter().any(|i| outcome(i) == "not_found"),
        "{}",
        r.text
    );
    assert!(items.iter().any(|i| outcome(i) == "found"), "{}", r.text);
    assert!(
        !r.text.contains(&fresh) && !r.text.contains(&v) && !r.text.contains("张三"),
        "{}",
        r.text
    );
    // Past the service period (graduation + 6 months) a valid number finds nothing either.
    let r = app
        .post(
            "/api/v1/admin/clock",
            &app.admin_token,
            json!({"set": "2027-12-30T16:00:01Z"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = other
        .post(app.url("/api/v1/public/lookup"))
        .json(&json!({"name": "张三", "number": fresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "after the service period");
    assert_eq!(r.text().await.unwrap(), unknown.text);
}

both_backends!(
    reported_by_the_management_system,
    privacy_by_scan,
    sheets_and_public_lookup,
    both_ways_and_every_reset,
    from_an_agreement,
    prohibition_report,
    verification_authorization,
    transfer_numbers
);

/// The public lookup in a real browser (Chromium, headless): the form filled in and submitted
/// with a valid and with a wrong number, the rendered page checked (the sheet's name,
/// destination and QR image; only the plain sentence for the wrong one), the sheet printed to
/// PDF on one A4 page. On SQLite: the lookup itself runs on both backends above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_lookup_in_a_browser() {
    let (_hook, app) = spawn_hooked(Backend::Sqlite).await;
    let w = world(&app, "school").await;
    reported_and_registered(&app, &w).await;
    outbox_drained(&app).await;
    let v = authorized(&app, &w, "2027-03-01").await;
    let browser = support::browser::Browser::launch().await;
    let mut page = browser.page().await;

    // The QR link: the form with the number filled in; the verifier adds the name.
    page.goto(&app.url(&format!("/verify?number={v}"))).await;
    assert_eq!(page.eval("document.title").await, "去向登记信息在线核验");
    assert_eq!(
        page.eval("document.querySelector('input[name=number]').value")
            .await,
        v.as_str()
    );
    page.submit("document.querySelector('input[name=name]').value = '张三'; document.querySelector('form').submit(); true")
        .await;
    assert_eq!(page.eval("document.title").await, "档案登记信息表");
    assert_eq!(
        page.eval("document.querySelector('.sheet-number').textContent")
            .await,
        v.as_str()
    );
    let text = page.eval("document.body.innerText").await;
    let text = text.as_str().unwrap();
    for t in [
        "张三",
        "南京大学",
        "毕业去向信息",
        "档案转递信息",
        "南京大学研究生院",
    ] {
        assert!(text.contains(t), "{t} not rendered: {text}");
    }
    // The QR code is drawn (an SVG of real size).
    let qr = page
        .eval("(() => { const r = document.querySelector('.qr svg').getBoundingClientRect(); return r.width > 50 && r.height > 50; })()")
        .await;
    assert_eq!(qr, true);
    // One A4 page when printed.
    let pdf = page.pdf().await;
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    assert_eq!(
        support::browser::pdf_pages(&pdf),
        1,
        "the sheet prints on one page"
    );

    // A wrong number: only the plain sentence.
    page.goto(&app.url("/verify")).await;
    page.submit("document.querySelector('input[name=name]').value = '张三'; document.querySelector('input[name=number]').value = '27102840WRONG00'; document.querySelector('form').submit(); true")
        .await;
    let text = page.eval("document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(text.contains("未查询到相关信息或已过期"), "{text}");
    assert!(
        !text.contains("南京大学研究生院") && !text.contains(&v),
        "{text}"
    );
    assert_eq!(
        page.eval("document.querySelector('.sheet') === null").await,
        true
    );
}

/// The bodies of a recorded response as text: an XLSX (zip) is opened and its parts read.
fn readable(body: &[u8]) -> String {
    if body.starts_with(b"PK\x03\x04") {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(body)).expect("a zip");
        let mut out = String::new();
        for i in 0..z.len() {
            use std::io::Read;
            let mut f = z.by_index(i).unwrap();
            let mut s = String::new();
            let _ = f.read_to_string(&mut s);
            out.push_str(&s);
        }
        out
    } else {
        String::from_utf8_lossy(body).into_owned()
    }
}

/// Privacy by scan: a season driven over HTTP by the graduate, the department and the school
/// (with the school's and department's lists, views, exports and previews), every response
/// recorded; no school or department response carries an issued verification number, no
/// graduate response a transfer number.
async fn privacy_by_scan(backend: Backend) {
    let (_hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "department_then_school").await;
    upload_roster(&app, vec![zhang_san()]).await;
    let province = province_user(&app, "p-32", "32").await;
    switch_on(&app, &w, &province, "rw").await;
    for tok in [&w.dept_tok, &w.other_dept_tok] {
        let id = support::flows::account_id(&app, tok).await;
        let r = app
            .put(
                &format!("/api/v1/accounts/{id}/permissions"),
                &w.school_tok,
                json!({"employment": "rw", "archive": "rw", "hukou": "rw"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    app.record();
    let g = &w.graduate_tok;

    // An invitation declined, then a destination registered through two levels of review.
    let inv = support::world::invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(inv.status, 201, "{}", inv.text);
    let inv = inv.body["id"].as_i64().unwrap();
    assert_eq!(act(&app, g, inv, "decline", json!({})).await.status, 200);
    let p = proof(&app, g, 1).await;
    let r = app
        .post(
            "/api/v1/flows/destination_registration/instances",
            g,
            json!({"input": study(&p, "南京大学")}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dest = r.body["id"].as_i64().unwrap();
    assert_eq!(
        act(&app, &w.dept_tok, dest, "approve", json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        act(&app, &w.school_tok, dest, "approve", json!({}))
            .await
            .status,
        200
    );
    // Archive and hukou registered.
    let mut residence = Vec::new();
    for (flow, input) in [
        ("archive_registration", archive_data("南京大学研究生院")),
        (
            "hukou_registration",
            json!({"transfer_type": "2", "migration_region": "320106",
                                      "migration_address": "南京市鼓楼区人才服务中心集体户"}),
        ),
    ] {
        let r = app
            .post(
                &format!("/api/v1/flows/{flow}/instances"),
                g,
                json!({"input": input}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_i64().unwrap();
        assert_eq!(
            act(&app, &w.school_tok, id, "approve", json!({}))
                .await
                .status,
            200
        );
        residence.push(id);
    }
    // Confirmed, identity-checked, both kinds authorized; the graduate reads their sheets.
    let verification_numbers = {
        let archive = authorized(&app, &w, "2027-03-01").await;
        let (s, b) = set_validity(&app, &w, "hukou", "2027-03-01").await;
        assert_eq!(s, 200, "{b}");
        vec![
            archive,
            item(&b, "hukou")["number"].as_str().unwrap().to_string(),
        ]
    };
    for kind in ["archive", "hukou"] {
        let (s, _) = html(&app, &format!("/api/v1/me/verifications/{kind}/sheet"), g).await;
        assert_eq!(s, 200);
    }
    // The school and the department at work: transfer numbers, lists, views, exports.
    let staff = [w.school_tok.clone(), w.dept_tok.clone()];
    for kind in ["archive", "hukou"] {
        let r = app
            .post(
                &format!("/api/v1/transfer-numbers/{kind}/generate"),
                &w.school_tok,
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let mut transfer_numbers = Vec::new();
    for kind in ["archive", "hukou"] {
        let r = app
            .get(&format!("/api/v1/transfer-numbers/{kind}"), &w.school_tok)
            .await;
        transfer_numbers.push(r.body["items"][0]["number"].as_str().unwrap().to_string());
    }
    let mut ids = vec![inv, dest];
    ids.extend(&residence);
    let conf = mine(&app, &w).await["instance_id"].as_i64().unwrap();
    ids.push(conf);
    for tok in &staff {
        for list in [
            "signing",
            "supplement",
            "termination",
            "destination",
            "confirmation",
            "archive",
            "hukou",
        ] {
            app.get(&format!("/api/v1/lists/{list}?status=all"), tok)
                .await;
            app.get_bytes(&format!("/api/v1/lists/{list}/export?status=all"), tok)
                .await;
        }
        for path in [
            "/api/v1/tasks",
            "/api/v1/tasks/counts",
            "/api/v1/instances?page_size=200",
            "/api/v1/roster/graduates",
            "/api/v1/audit-log",
            "/api/v1/roster/graduates/26320102150001/confirmation",
            "/api/v1/transfer-numbers/archive",
            "/api/v1/transfer-numbers/hukou",
            "/api/v1/verifications/archive",
            "/api/v1/verifications/hukou",
        ] {
            app.get(path, tok).await;
        }
        for kind in ["archive", "hukou"] {
            app.get_bytes(&format!("/api/v1/transfer-numbers/{kind}/export"), tok)
                .await;
            app.get_bytes(
                &format!("/api/v1/transfer-numbers/{kind}/{}/sheet", w.graduate),
                tok,
            )
            .await;
        }
        for id in &ids {
            for suffix in ["", "/history", "/review"] {
                app.get(&format!("/api/v1/instances/{id}{suffix}"), tok)
                    .await;
            }
        }
    }
    // The graduate's own views.
    for path in [
        "/api/v1/me",
        "/api/v1/me/confirmation",
        "/api/v1/me/verifications",
        "/api/v1/me/basic-info",
        "/api/v1/flows",
        "/api/v1/tasks",
        "/api/v1/instances?page_size=200",
    ] {
        app.get(path, g).await;
    }
    for id in &ids {
        app.get(&format!("/api/v1/instances/{id}"), g).await;
        app.get(&format!("/api/v1/instances/{id}/history"), g).await;
    }

    // The scan.
    let recorded = app.recorded();
    let by = |tok: &str| {
        recorded
            .iter()
            .filter(move |r| r.token == tok)
            .collect::<Vec<_>>()
    };
    let (school_seen, graduate_seen) = (
        by(&w.school_tok).len() + by(&w.dept_tok).len(),
        by(&w.graduate_tok).len(),
    );
    assert!(
        school_seen > 80 && graduate_seen > 20,
        "a season's worth: {school_seen} / {graduate_seen}"
    );
    let mut hits = Vec::new();
    for r in recorded.iter().filter(|r| staff.contains(&r.token)) {
        let text = readable(&r.body);
        for n in &verification_numbers {
            if text.contains(n.as_str()) {
                hits.push(format!("school/department {}: verification number", r.path));
            }
        }
    }
    for r in recorded.iter().filter(|r| r.token == w.graduate_tok) {
        let text = readable(&r.body);
        for n in &transfer_numbers {
            if text.contains(n.as_str()) {
                hits.push(format!("graduate {}: transfer number", r.path));
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
    // The scan can see: the numbers are in the responses of their own audience.
    let in_own = |tok: &str, n: &str| {
        recorded
            .iter()
            .any(|r| r.token == tok && readable(&r.body).contains(n))
    };
    assert!(verification_numbers
        .iter()
        .all(|n| in_own(&w.graduate_tok, n)));
    assert!(transfer_numbers.iter().all(|n| in_own(&w.school_tok, n)));
}

/// 就业管理系统上报: destinations the management system delivers — received through its interface
/// or uploaded there by the school — are reported and confirmed like any other; the statistics
/// count by status and by data source.
async fn reported_by_the_management_system(backend: Backend) {
    let (_hook, app) = spawn_hooked(backend).await;
    let w = world(&app, "school").await;
    // A fourth graduate (training mode 10) besides 张三, 王五 (21) and 赵六 (41).
    let sun_id = support::world::ok(
        &app,
        &format!("/api/v1/admin/schools/{}/graduates", w.school_id),
        json!([{"candidate_no": "26320102150009", "id_number": "320102200001011239", "name": "孙八",
                "department": support::world::DEPT, "training_mode": "10"}]),
    )
    .await["ids"][0]
        .as_i64()
        .unwrap();
    let sun = support::world::account(
        &app,
        json!({"username": "g-sun", "role": "graduate", "province_code": "32", "school_id": w.school_id,
               "department": support::world::DEPT, "graduate_id": sun_id}),
    )
    .await;
    let key = app
        .post(
            "/api/v1/api-keys",
            &w.school_tok,
            json!({"name": "南京大学就业管理系统"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let put = |cno: &'static str, body: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            app.put(
                &format!("/api/v1/roster/graduates/{cno}/registrations/destination_registration"),
                &key,
                body,
            )
            .await
        }
    };
    let study =
        json!({"destination_type": "801", "school_name": "南京大学", "major_name": "软件工程"});
    // Checked like a registration: the type's fields and the training mode; no files; a
    // channel of the two.
    let r = put(CANDIDATE, json!({"input": {"destination_type": "801"}})).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = put("26320102150003", json!({"input": study})).await;
    assert_eq!(
        r.status, 422,
        "王五 (21) registers through the supplement: {}",
        r.text
    );
    let r = put(
        CANDIDATE,
        json!({"input": {"destination_type": "801", "school_name": "南京大学",
                                            "major_name": "软件工程", "proof_1": "x"}}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["code"]),
        (422, &json!("file_not_accepted")),
        "{}",
        r.text
    );
    let r = put(CANDIDATE, json!({"input": study, "channel": "fax"})).await;
    assert_eq!(
        (r.status, &r.body["errors"][0]["field"]),
        (422, &json!("channel")),
        "{}",
        r.text
    );
    // 张三's from a school's upload there, 孙八's through the interface.
    let r = put(CANDIDATE, json!({"input": study, "channel": "upload"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.body["outcome"], &r.body["label"]),
        (&json!("registered"), &json!("去向登记审核通过"))
    );
    let r = put("26320102150009", json!({"input": study})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A graduate with a destination is not registered twice.
    let r = put(CANDIDATE, json!({"input": study})).await;
    assert_eq!(r.status, 409, "{}", r.text);

    let c = mine(&app, &w).await;
    assert_eq!(c["status"], "未确认", "{c}");
    assert_eq!(c["destination"]["data_source"], "就业管理系统上传", "{c}");
    assert_eq!(text_of(&c["destination"], "school_name"), "南京大学");
    confirmed(&app, &w).await;
    let r = app.get("/api/v1/me/confirmation", &sun).await;
    assert_eq!(
        r.body["destination"]["data_source"], "就业管理系统接口",
        "{}",
        r.text
    );

    // The statistics, each number recounted here from the graduates' own views.
    let mut expect = std::collections::BTreeMap::new();
    for tok in [&w.graduate_tok, &sun] {
        let v = app.get("/api/v1/me/confirmation", tok).await.body;
        let key = (
            v["destination"]["data_source"]
                .as_str()
                .unwrap()
                .to_string(),
            v["status"].as_str().unwrap().to_string(),
        );
        *expect.entry(key).or_insert(0u64) += 1;
    }
    let s = app.get("/api/v1/confirmations/stats", &w.school_tok).await;
    assert_eq!(s.status, 200, "{}", s.text);
    let b = &s.body;
    assert_eq!(b["graduates"], 4, "{b}");
    assert_eq!(b["unreported"], 2, "王五 and 赵六: {b}");
    assert_eq!(
        (&b["unconfirmed"], &b["correct"], &b["incorrect"]),
        (&json!(1), &json!(1), &json!(0))
    );
    for row in b["by_source"].as_array().unwrap() {
        let src = row["data_source"].as_str().unwrap().to_string();
        for (field, label) in [
            ("unconfirmed", "未确认"),
            ("correct", "确认无误"),
            ("incorrect", "确认有误"),
        ] {
            let want = expect
                .get(&(src.clone(), label.to_string()))
                .copied()
                .unwrap_or(0);
            assert_eq!(row[field], want, "{src} {label}: {b}");
        }
    }
    // The department counts its own; the other department and the graduate are refused or empty.
    let d = app
        .get("/api/v1/confirmations/stats", &w.dept_tok)
        .await
        .body;
    assert_eq!(
        (&d["graduates"], &d["correct"], &d["unconfirmed"]),
        (&json!(2), &json!(1), &json!(1)),
        "{d}"
    );
    let d2 = app
        .get("/api/v1/confirmations/stats", &w.other_dept_tok)
        .await
        .body;
    assert_eq!(
        (&d2["graduates"], &d2["unreported"], &d2["correct"]),
        (&json!(2), &json!(2), &json!(0)),
        "{d2}"
    );
    assert_eq!(
        app.get("/api/v1/confirmations/stats", &w.graduate_tok)
            .await
            .status,
        403
    );
}
