//! End to end: the paper agreement supplement (补登, SPEC.md 4.3) over HTTP on SQLite and
//! PostgreSQL — with a real uploaded image checked by the server, edits and withdrawal only
//! before any reviewer acted, and the one-agreement rule shared with online signing.

mod support;

use std::io::Cursor;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::world::{act, invite, world};

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(400, 300, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 200])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

async fn upload(app: &App, tok: &str, bytes: Vec<u8>, purpose: &str) -> String {
    let r = app
        .post_bytes(&format!("/api/v1/uploads?purpose={purpose}"), tok, bytes)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

fn agreement(image: &str) -> Value {
    json!({
        "employer_name": "南京某某信息技术有限公司", "credit_code": "91350100M000100Y43", "employer_nature": "39",
        "industry": "34", "employer_region": "320100", "employer_address": "南京市鼓楼区汉口路22号",
        "job_category": "13", "position": "软件工程师", "contact_person": "王经理", "contact_mobile": "13912345678",
        "archive_transfer": "1", "hukou_migration": "4", "paper_image": image
    })
}

async fn start(app: &App, tok: &str, input: Value) -> support::app::Resp {
    app.post(
        "/api/v1/flows/paper_supplement/instances",
        tok,
        json!({"input": input}),
    )
    .await
}

async fn school_review(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "school").await;
    let mine = upload(&app, &w.graduate_tok, png(), "image").await;

    // The image must be the graduate's own upload, of an accepted type.
    let theirs = upload(&app, &w.employer_tok, png(), "image").await;
    let r = start(&app, &w.graduate_tok, agreement(&theirs)).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("upload_not_found")),
        "{}",
        r.text
    );
    assert_eq!(r.body["errors"][0]["field"], "paper_image");
    let zip = upload(
        &app,
        &w.graduate_tok,
        support::files::zip_of(&[("证明.txt", "情况说明".as_bytes())]),
        "evidence",
    )
    .await;
    let r = start(&app, &w.graduate_tok, agreement(&zip)).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("upload_type")),
        "{}",
        r.text
    );
    // Employers and schools do not start a supplement.
    let r = app
        .post(
            "/api/v1/flows/paper_supplement/instances",
            &w.employer_tok,
            json!({"graduate_id": w.graduate, "input": agreement(&theirs)}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    let r = start(&app, &w.graduate_tok, agreement(&mine)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["label"], "签约审核中，等待学院/学校审核");
    let names: Vec<&str> = r.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["edit", "withdraw"], "{}", r.text);

    // One agreement at a time while this one is in review: an invitation arrives but cannot be
    // accepted, and no second supplement.
    let r = invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = act(
        &app,
        &w.graduate_tok,
        r.body["id"].as_i64().unwrap(),
        "accept",
        json!({}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("agreement_exists")),
        "{}",
        r.text
    );
    // The image already belongs to the first supplement.
    let r = start(&app, &w.graduate_tok, agreement(&mine)).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (422, Some("upload_used")),
        "{}",
        r.text
    );
    let another = upload(&app, &w.graduate_tok, png(), "image").await;
    let r = start(&app, &w.graduate_tok, agreement(&another)).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("agreement_exists")),
        "{}",
        r.text
    );

    // Edited before review; the school's inbox has it, under the supplement list.
    let mut edited = agreement(&mine);
    edited["position"] = json!("高级软件工程师");
    assert_eq!(
        act(&app, &w.graduate_tok, id, "edit", edited).await.status,
        200
    );
    let inbox = app
        .get("/api/v1/tasks?flow=paper_supplement", &w.school_tok)
        .await;
    assert_eq!(inbox.body["total"], 1, "{}", inbox.text);
    // Returned, resubmitted, approved: effective with an agreement number.
    let r = act(
        &app,
        &w.school_tok,
        id,
        "return",
        json!({"reason_category": "协议图片不清晰或不完整", "reason": "图片模糊"}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["label"].as_str()),
        (200, Some("审核退回，待学生修改后重新提交")),
        "{}",
        r.text
    );
    assert_eq!(
        act(&app, &w.graduate_tok, id, "resubmit", agreement(&mine))
            .await
            .status,
        200
    );
    let r = act(&app, &w.school_tok, id, "approve", json!({})).await;
    assert_eq!(
        (r.status, r.body["label"].as_str()),
        (200, Some("签约审核通过")),
        "{}",
        r.text
    );
    assert!(
        r.body["vars"]["agreement_no"]
            .as_str()
            .is_some_and(|n| n.len() == 19),
        "{}",
        r.text
    );
}

async fn two_level_review(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "department_then_school").await;
    let img = upload(&app, &w.graduate_tok, png(), "image").await;
    let id = start(&app, &w.graduate_tok, agreement(&img)).await.body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        act(&app, &w.dept_tok, id, "approve", json!({}))
            .await
            .status,
        200
    );
    // A reviewer acted: no more withdrawing or editing.
    let r = app
        .post(
            &format!("/api/v1/instances/{id}/withdraw"),
            &w.graduate_tok,
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("already_reviewed")),
        "{}",
        r.text
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("已有审核人员处理过"));
    let v = app
        .get(&format!("/api/v1/instances/{id}"), &w.graduate_tok)
        .await
        .body;
    assert_eq!(v["actions"], json!([]), "{v}");
    let r = act(
        &app,
        &w.school_tok,
        id,
        "reject",
        json!({"reason_category": "单位信息有误", "reason": "查无此单位"}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["label"].as_str()),
        (200, Some("签约审核不通过")),
        "{}",
        r.text
    );
    // Rejected releases the agreement: a new invitation is possible.
    assert_eq!(invite(&app, &w.employer_tok, w.graduate).await.status, 201);
}

crate::both_backends!(school_review, two_level_review);
