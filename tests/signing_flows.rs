//! End to end over HTTP, on SQLite and PostgreSQL: every signing and termination flow (SPEC.md
//! 4.1–4.5, 4.7) driven through every state and every action, with the refusals the guides
//! name (cap reached, second agreement, wrong role, department user trying a school-only
//! action, withdraw after review began). The one graduate signs, terminates and signs again,
//! so the one-agreement slot is exercised across the flows. At the end the run prints, per
//! flow, which states and actions the instances' histories reached, and fails on any missed.

mod support;

use std::collections::BTreeSet;
use std::io::Cursor;
use std::time::Duration;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend};
use support::flows::{check_export_shape, coverage, remove_and_restore, sheet};
use support::webhook::{self, WebhookReceiver};
use support::world::{act, invite, world, World, DEPT};

const FLOWS: [&str; 5] = [
    "online_signing",
    "offline_signing",
    "paper_supplement",
    "online_termination",
    "offline_termination",
];

fn png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, seed])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn agreement() -> Value {
    json!({
        "employer_name": "南京未注册科技有限公司", "credit_code": "91350100M000100Y43",
        "employer_nature": "39", "industry": "34", "employer_region": "320100",
        "employer_address": "南京市鼓楼区汉口路22号", "job_category": "13", "position": "软件工程师",
        "contact_person": "王经理", "contact_mobile": "13912345678",
        "archive_transfer": "1", "hukou_migration": "4", "report_place": "南京市"
    })
}

/// The test's view of the run: every instance it created, for the coverage report.
struct Run<'a> {
    app: &'a App,
    w: &'a World,
    hook: &'a WebhookReceiver,
    ids: BTreeSet<i64>,
}

impl Run<'_> {
    async fn upload(&self, tok: &str, seed: u8) -> String {
        let r = self
            .app
            .post_bytes("/api/v1/uploads?purpose=image", tok, png(seed))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// The graduate uploads a stamped agreement image (`seed` makes it distinct) to the
    /// e-agreement `id` waiting for it: on to the signing review.
    async fn upload_stamped(&self, id: i64, seed: u8) {
        let img = self.upload(self.g(), seed).await;
        self.act(
            self.g(),
            id,
            "upload",
            json!({"stamped_image": img}),
            (200, "signing_review"),
        )
        .await;
    }

    /// Starts `flow`; asserts the status and, on success, the first state.
    async fn start(
        &mut self,
        flow: &str,
        tok: &str,
        body: Value,
        status: u16,
        state: &str,
    ) -> Value {
        let r = self
            .app
            .post(&format!("/api/v1/flows/{flow}/instances"), tok, body)
            .await;
        assert_eq!(r.status, status, "start {flow}: {}", r.text);
        if status == 201 {
            assert_eq!(r.body["state"], state, "start {flow}: {}", r.text);
            self.ids.insert(r.body["id"].as_i64().unwrap());
        } else {
            assert_eq!(r.body["code"], state, "start {flow}: {}", r.text);
        }
        r.body
    }

    /// Takes an action; asserts the status and the new state (or the refusal code).
    async fn act(
        &self,
        tok: &str,
        id: i64,
        action: &str,
        input: Value,
        want: (u16, &str),
    ) -> Value {
        let r = act(self.app, tok, id, action, input).await;
        assert_eq!(r.status, want.0, "{action} on {id}: {}", r.text);
        if want.0 == 200 {
            assert_eq!(r.body["state"], want.1, "{action} on {id}: {}", r.text);
        } else {
            assert_eq!(r.body["code"], want.1, "{action} on {id}: {}", r.text);
        }
        r.body
    }

    async fn state(&self, id: i64) -> String {
        let r = self
            .app
            .get(&format!("/api/v1/instances/{id}"), &self.app.admin_token)
            .await;
        r.body["state"].as_str().unwrap_or_default().to_string()
    }

    /// Waits for an outbox-delivered event to move an instance (bounded to end a hang).
    async fn eventually(&self, id: i64, state: &str) {
        for _ in 0..300 {
            if self.state(id).await == state {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "instance {id} never reached {state}: {}",
            self.state(id).await
        );
    }

    fn g(&self) -> &str {
        &self.w.graduate_tok
    }
    fn s(&self) -> &str {
        &self.w.school_tok
    }
    /// An online agreement between the graduate and employer `tok`, approved.
    async fn online_agreement(&mut self, tok: &str) -> i64 {
        let r = invite(self.app, tok, self.w.graduate).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_i64().unwrap();
        self.ids.insert(id);
        self.act(self.g(), id, "accept", json!({}), (200, "reviewing"))
            .await;
        self.act(self.s(), id, "approve", json!({}), (200, "signed"))
            .await;
        id
    }

    /// An offline e-agreement application, submitted and approved: waiting for the upload.
    async fn offline_until_upload(&mut self) -> i64 {
        let id = self
            .start(
                "offline_signing",
                self.w.graduate_tok.clone().as_str(),
                json!({"input": agreement()}),
                201,
                "draft",
            )
            .await["id"]
            .as_i64()
            .unwrap();
        self.act(
            self.g(),
            id,
            "submit",
            agreement(),
            (200, "agreement_review"),
        )
        .await;
        self.act(self.s(), id, "approve", json!({}), (200, "awaiting_upload"))
            .await;
        id
    }

    async fn paper(&mut self) -> i64 {
        let img = self.upload(self.g(), 40).await;
        let mut input = agreement();
        input["paper_image"] = json!(img);
        self.start(
            "paper_supplement",
            self.w.graduate_tok.clone().as_str(),
            json!({ "input": input }),
            201,
            "reviewing",
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    async fn offline_termination(&mut self, explanation: &str) -> Value {
        let img = self.upload(self.g(), 50).await;
        let input = json!({"termination_reason": "个人原因", "explanation": explanation, "letter_image": img});
        let r = self
            .app
            .post(
                "/api/v1/flows/offline_termination/instances",
                self.g(),
                json!({ "input": input }),
            )
            .await;
        if r.status == 201 {
            self.ids.insert(r.body["id"].as_i64().unwrap());
        }
        json!({"status": r.status, "body": r.body, "input": input})
    }

    /// The SMS with the employer's upload link, sent after `after` messages.
    async fn sms_link(&self, after: usize) -> String {
        let got = self
            .hook
            .wait_for(
                |r| {
                    r.iter()
                        .filter(|m| m.body["message"]["channel"] == "sms")
                        .count()
                        > after
                },
                20,
            )
            .await;
        let text = got
            .iter()
            .filter(|m| m.body["message"]["channel"] == "sms")
            .nth(after)
            .unwrap()
            .body["message"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.contains("南京未注册科技有限公司"), "{text}");
        let start = text.find("/api/v1/links/").expect("link in SMS");
        text[start..]
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap()
            .to_string()
    }
}

async fn every_state_and_action(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn_on(
        backend,
        AppOptions {
            webhook_url: Some(hook.url()),
            extra_args: vec!["--worker-interval-ms".into(), "50".into()],
            ..Default::default()
        },
    )
    .await;
    let w = world(&app, "school").await;
    // Handler info shows on the e-agreement; the termination cap starts generous.
    let r = app
        .put(
            "/api/v1/schools/1/settings/signing",
            &w.school_tok,
            json!({"online_signing": true, "review_mode": "school", "termination_cap": 20,
                   "handler_info": {"all": {"name": "李老师", "phone": "025-83592233",
                   "address": "南京市鼓楼区汉口路22号", "postal_code": "210093"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut run = Run {
        app: &app,
        w: &w,
        hook: &hook,
        ids: BTreeSet::new(),
    };
    let (g, s, d, e1, e2) = (
        w.graduate_tok.clone(),
        w.school_tok.clone(),
        w.dept_tok.clone(),
        w.employer_tok.clone(),
        w.employer2_tok.clone(),
    );
    let term = |reason: &str| json!({"input": {"termination_reason": reason, "explanation": "已与单位协商"}});
    let for_g =
        |reason: &str| json!({"graduate_id": w.graduate, "input": {"termination_reason": reason}});

    // ---- Online signing, then every way an online termination can go. ----
    let a1 = run.online_agreement(&e1).await;
    // Nothing to terminate offline: an online agreement goes through online termination.
    let r = run.offline_termination("单位同意").await;
    assert_eq!(
        (r["status"].as_u64(), r["body"]["code"].as_str()),
        (Some(422), Some("use_online_termination")),
        "{r}"
    );
    // Graduate asks; the other employer cannot answer; the employer declines.
    let t = run
        .start(
            "online_termination",
            &g,
            term("个人原因"),
            201,
            "graduate_requested",
        )
        .await;
    let t = t["id"].as_i64().unwrap();
    assert_eq!(act(&app, &e2, t, "accept", json!({})).await.status, 404);
    // One termination at a time.
    run.start(
        "online_termination",
        &e1,
        for_g("用人单位原因"),
        409,
        "slot_taken",
    )
    .await;
    run.act(
        &e1,
        t,
        "decline",
        json!({"decline_reason": "项目需要"}),
        (200, "declined"),
    )
    .await;
    assert_eq!(
        run.state(a1).await,
        "signed",
        "a declined termination leaves the agreement"
    );
    // The employer asks; the graduate accepts; the school rejects: still valid.
    let t = run
        .start(
            "online_termination",
            &e1,
            for_g("用人单位原因"),
            201,
            "employer_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, t, "accept", json!({}), (200, "reviewing"))
        .await;
    run.act(
        &s,
        t,
        "reject",
        json!({"reason_category": "双方未达成一致", "reason": "请再协商"}),
        (200, "review_rejected"),
    )
    .await;
    assert_eq!(run.state(a1).await, "signed");
    let t = run
        .start(
            "online_termination",
            &e1,
            for_g("双方协商一致"),
            201,
            "employer_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, t, "decline", json!({}), (200, "declined"))
        .await;
    let t = run
        .start(
            "online_termination",
            &e1,
            for_g("双方协商一致"),
            201,
            "employer_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, t, "withdraw", json!({}), (403, "forbidden"))
        .await;
    run.act(&e1, t, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    let t = run
        .start(
            "online_termination",
            &g,
            term("个人原因"),
            201,
            "graduate_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, t, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    // The employer never answers: a department user cannot force, the school can.
    let t = run
        .start(
            "online_termination",
            &g,
            term("考取研究生或出国留学"),
            201,
            "graduate_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(
        &d,
        t,
        "force",
        json!({"force_explanation": "单位长期未处理"}),
        (403, "forbidden"),
    )
    .await;
    run.act(&s, t, "force", json!({}), (422, "invalid_input"))
        .await;
    // Waiting for the employer is the employer's to-do, not the school's.
    let inbox = app.get("/api/v1/tasks?flow=online_termination", &s).await;
    assert_eq!(inbox.body["total"], 0, "{}", inbox.text);
    let inbox = app.get("/api/v1/tasks?flow=online_termination", &e1).await;
    assert_eq!(inbox.body["total"], 1, "{}", inbox.text);
    // Another employer learns nothing of this graduate's agreement.
    let r = app
        .post(
            "/api/v1/flows/online_termination/instances",
            &e2,
            for_g("用人单位原因"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("nothing_to_act_on")),
        "{}",
        r.text
    );
    // The school forces while the employer finally accepts: exactly one wins.
    let (forced, accepted) = tokio::join!(
        act(
            &app,
            &s,
            t,
            "force",
            json!({"force_explanation": "单位长期未处理，已电话核实"})
        ),
        act(&app, &e1, t, "accept", json!({})),
    );
    let mut statuses = [forced.status, accepted.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", forced.text, accepted.text);
    if accepted.status == 200 {
        // The acceptance won: finish it the normal way, then force is no longer offered.
        run.act(&s, t, "approve", json!({}), (200, "terminated"))
            .await;
        // Force once more on a fresh request so the action is still exercised.
        let a = run.online_agreement(&e1).await;
        let t2 = run
            .start(
                "online_termination",
                &g,
                term("个人原因"),
                201,
                "graduate_requested",
            )
            .await["id"]
            .as_i64()
            .unwrap();
        run.act(
            &s,
            t2,
            "force",
            json!({"force_explanation": "单位长期未处理，已电话核实"}),
            (200, "forced"),
        )
        .await;
        assert_eq!(run.state(a).await, "terminated");
    } else {
        assert_eq!(forced.body["state"], "forced", "{}", forced.text);
    }
    // Forcing is on the school's audit log.
    let log = app
        .get("/api/v1/audit-log?action=online_termination.force", &s)
        .await;
    assert_eq!(log.body["total"], 1, "{}", log.text);
    // Released in the same transaction: the graduate can sign again at once.
    assert_eq!(run.state(a1).await, "terminated");
    let a2 = run.online_agreement(&e2).await;
    let t = run
        .start(
            "online_termination",
            &g,
            term("个人原因"),
            201,
            "graduate_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&e2, t, "accept", json!({}), (200, "reviewing"))
        .await;
    let r = run
        .act(&s, t, "approve", json!({}), (200, "terminated"))
        .await;
    assert_eq!(r["label"], "解约审核通过，已解约");
    assert_eq!(run.state(a2).await, "terminated");
    // The employer was told of the request and of the answer.
    hook.wait_for(
        |r| {
            r.iter().any(|m| {
                m.body["message"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("向你单位发起了解约申请"))
            })
        },
        20,
    )
    .await;

    // ---- Online signing's other outcomes; modify and void after approval. ----
    let declined = invite(&app, &e1, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    run.ids.insert(declined);
    run.act(
        &g,
        declined,
        "decline",
        json!({"decline_reason": "已有其他选择"}),
        (200, "declined"),
    )
    .await;
    let withdrawn = invite(&app, &e1, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    run.ids.insert(withdrawn);
    run.act(&e1, withdrawn, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    let rejected = invite(&app, &e1, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    run.ids.insert(rejected);
    run.act(&g, rejected, "accept", json!({}), (200, "reviewing"))
        .await;
    run.act(
        &s,
        rejected,
        "reject",
        json!({"reason_category": "单位经营异常", "reason": "经营异常名录"}),
        (200, "rejected"),
    )
    .await;
    let a3 = run.online_agreement(&e1).await;
    // A second agreement is refused while one is valid: an invitation still arrives and is
    // listed, but can only be declined; no e-agreement.
    let r = invite(&app, &e2, w.graduate).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let late = r.body["id"].as_i64().unwrap();
    run.ids.insert(late);
    let listed = app.get("/api/v1/tasks?page_size=200", &g).await.body;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["instance_id"] == late),
        "{listed}"
    );
    run.act(&g, late, "accept", json!({}), (422, "agreement_exists"))
        .await;
    run.act(&g, late, "decline", json!({}), (200, "declined"))
        .await;
    run.start(
        "offline_signing",
        &g,
        json!({"input": {}}),
        422,
        "agreement_exists",
    )
    .await;
    run.act(
        &d,
        a3,
        "modify",
        json!({"position": "架构师", "modify_note": "岗位调整"}),
        (403, "forbidden"),
    )
    .await;
    run.act(
        &s,
        a3,
        "modify",
        json!({"position": "架构师", "modify_note": "岗位调整"}),
        (200, "signed"),
    )
    .await;
    let doc = app
        .get(&format!("/api/v1/instances/{a3}/documents/e_agreement"), &g)
        .await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.text.contains("架构师") && doc.text.contains("鉴证方（学校）"),
        "{}",
        doc.text
    );
    // A pending termination ends when the school voids the agreement.
    let pending = run
        .start(
            "online_termination",
            &e1,
            for_g("用人单位原因"),
            201,
            "employer_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(
        &s,
        a3,
        "void",
        json!({"void_reason": "单位与学生协商一致"}),
        (200, "voided"),
    )
    .await;
    run.eventually(pending, "obsolete").await;
    let log = app
        .get(
            &format!("/api/v1/audit-log?target_kind=instance&target_id={a3}"),
            &s,
        )
        .await;
    let acts: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        acts,
        ["online_signing.void", "online_signing.modify"],
        "{}",
        log.text
    );
    // The graduate (and the employer) heard of both.
    let texts = hook
        .wait_for(
            |r| {
                r.iter().any(|m| {
                    m.body["message"]["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("学校已作废你与"))
                })
            },
            20,
        )
        .await;
    assert!(texts.iter().any(|m| m.body["message"]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("学校修改了你与") && t.contains("岗位调整"))));
    hook.wait_for(
        |r| {
            r.iter()
                .any(|m| m.body["message"]["kind"] == "sync" && m.body["message"]["op"] == "clear")
        },
        20,
    )
    .await;

    // ---- Offline signing with the school-issued e-agreement. ----
    let o1 = run
        .start(
            "offline_signing",
            &g,
            json!({"input": {"employer_name": "南京未注册科技有限公司"}}),
            201,
            "draft",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    // One e-agreement application at a time.
    run.start(
        "offline_signing",
        &g,
        json!({"input": {}}),
        409,
        "slot_taken",
    )
    .await;
    run.act(
        &g,
        o1,
        "save",
        json!({"position": "软件工程师", "contact_mobile": "123"}),
        (422, "invalid_input"),
    )
    .await;
    run.act(
        &g,
        o1,
        "save",
        json!({"position": "软件工程师"}),
        (200, "draft"),
    )
    .await;
    let mut bad = agreement();
    bad.as_object_mut().unwrap().remove("contact_mobile");
    let r = act(&app, &g, o1, "submit", bad).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"contact_mobile") && fields.contains(&"contact_landline"),
        "{}",
        r.text
    );
    run.act(&g, o1, "submit", agreement(), (200, "agreement_review"))
        .await;
    run.act(&g, o1, "edit", agreement(), (200, "agreement_review"))
        .await;
    run.act(&g, o1, "withdraw", json!({}), (200, "draft")).await;
    run.act(&g, o1, "submit", agreement(), (200, "agreement_review"))
        .await;
    run.act(
        &s,
        o1,
        "return",
        json!({"reason_category": "协议信息有误", "reason": "岗位不清楚"}),
        (200, "returned"),
    )
    .await;
    // 导出退回修改学生名单: exactly this item, with the reason.
    let rows = sheet(&app, "/api/v1/lists/signing/returned-export", &s).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][1], "张三");
    assert_eq!(rows[1][9], "协议待提交(退回)");
    assert_eq!(rows[1][10], "岗位不清楚");
    run.act(&g, o1, "resubmit", agreement(), (200, "agreement_review"))
        .await;
    run.act(&s, o1, "approve", json!({}), (200, "awaiting_upload"))
        .await;
    let doc = app
        .get(&format!("/api/v1/instances/{o1}/documents/e_agreement"), &s)
        .await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    for want in [
        "南京未注册科技有限公司",
        "签约信息生效后生成",
        "李老师",
        "南京大学",
        "江苏省 南京市",
        "鉴证",
    ] {
        assert!(doc.text.contains(want), "e-agreement lacks {want}");
    }
    assert_eq!(
        app.get(
            &format!("/api/v1/instances/{o1}/documents/e_agreement"),
            &e1
        )
        .await
        .status,
        404
    );
    // The employer helps by SMS: a single-use link, no account.
    let sent = hook
        .received()
        .iter()
        .filter(|m| m.body["message"]["channel"] == "sms")
        .count();
    run.act(
        &g,
        o1,
        "invite_employer",
        json!({"helper_mobile": "13912345678"}),
        (200, "awaiting_upload"),
    )
    .await;
    let link = run.sms_link(sent).await;
    let info = app.get(&link, "").await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.body["graduate_name"], "张三");
    let printable = app.get(&format!("{link}/document"), "").await;
    assert!(printable.text.contains("南京未注册科技有限公司"));
    let r = app
        .post_bytes(
            &format!("{link}/upload"),
            "",
            b"GIF89a not an image".to_vec(),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = app.post_bytes(&format!("{link}/upload"), "", png(7)).await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("signing_review")),
        "{}",
        r.text
    );
    let r = app.post_bytes(&format!("{link}/upload"), "", png(8)).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (410, Some("link_gone")),
        "{}",
        r.text
    );
    let img = app
        .get(&format!("/api/v1/instances/{o1}/files/stamped_image"), &s)
        .await;
    assert_eq!(img.status, 200);
    let other_img = run.upload(&g, 9).await;
    run.act(
        &g,
        o1,
        "reupload",
        json!({"stamped_image": other_img}),
        (200, "signing_review"),
    )
    .await;
    run.act(
        &s,
        o1,
        "return",
        json!({"reason_category": "未加盖单位公章", "reason": "缺公章"}),
        (200, "upload_returned"),
    )
    .await;
    run.upload_stamped(o1, 10).await;
    // The reviewer's view: agreement, unregistered employer, roster comparison, file.
    let v = app.get(&format!("/api/v1/instances/{o1}/review"), &s).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["employer"]["registered"], false);
    assert_eq!(v.body["files"][0]["field"], "stamped_image");
    assert!(
        v.body["comparison"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["differs"] == false),
        "{}",
        v.text
    );
    let r = run.act(&s, o1, "approve", json!({}), (200, "signed")).await;
    let no = r["vars"]["agreement_no"].as_str().unwrap().to_string();
    assert!(no.starts_with("2026110284"), "{no}");
    let doc = app
        .get(&format!("/api/v1/instances/{o1}/documents/e_agreement"), &g)
        .await;
    assert!(
        doc.text.contains(&no),
        "the effective e-agreement shows its number"
    );
    run.act(
        &s,
        o1,
        "modify",
        json!({"report_place": "苏州市", "modify_note": "报到地点变更"}),
        (200, "signed"),
    )
    .await;
    let doc = app
        .get(&format!("/api/v1/instances/{o1}/documents/e_agreement"), &g)
        .await;
    assert!(
        doc.text.contains("苏州市"),
        "re-rendered after the modification"
    );
    // Offline agreements terminate offline: edit/withdraw before review, return, reject...
    let r = run
        .start(
            "online_termination",
            &g,
            term("个人原因"),
            422,
            "online_signing_only",
        )
        .await;
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("线上解约只适用于线上签约"),
        "{r}"
    );
    let r = run.offline_termination("单位同意解约").await;
    let t = r["body"]["id"].as_i64().unwrap();
    assert_eq!(r["body"]["state"], "reviewing", "{r}");
    // A two-party province attests the offline termination too (鉴证, SPEC.md 6.4).
    let view = app.get(&format!("/api/v1/instances/{t}"), &s).await;
    let labels: Vec<&str> = view.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"鉴证通过") && labels.contains(&"鉴证不通过"),
        "{labels:?}"
    );
    run.act(&g, t, "edit", r["input"].clone(), (200, "reviewing"))
        .await;
    run.act(&g, t, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    let r = run.offline_termination("单位同意解约").await;
    let t = r["body"]["id"].as_i64().unwrap();
    run.act(
        &s,
        t,
        "return",
        json!({"reason_category": "解约函图片不清晰", "reason": "看不清"}),
        (200, "returned"),
    )
    .await;
    run.act(&g, t, "resubmit", r["input"].clone(), (200, "reviewing"))
        .await;
    run.act(
        &s,
        t,
        "reject",
        json!({"reason_category": "单位不同意解约", "reason": "单位未盖章"}),
        (200, "review_rejected"),
    )
    .await;
    let r = run.offline_termination("单位同意解约").await;
    let t = r["body"]["id"].as_i64().unwrap();
    run.act(
        &s,
        t,
        "return",
        json!({"reason_category": "其他", "reason": "补充说明"}),
        (200, "returned"),
    )
    .await;
    run.act(&g, t, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    let r = run.offline_termination("单位同意解约").await;
    let t = r["body"]["id"].as_i64().unwrap();
    run.act(&s, t, "approve", json!({}), (200, "terminated"))
        .await;
    assert_eq!(run.state(o1).await, "terminated");

    // Offline signing's other ends.
    let o = run
        .start("offline_signing", &g, json!({"input": {}}), 201, "draft")
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, o, "cancel", json!({}), (200, "cancelled"))
        .await;
    let o = run
        .start(
            "offline_signing",
            &g,
            json!({"input": agreement()}),
            201,
            "draft",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, o, "submit", agreement(), (200, "agreement_review"))
        .await;
    run.act(
        &s,
        o,
        "reject",
        json!({"reason_category": "单位信息有误", "reason": "查无此单位"}),
        (200, "agreement_rejected"),
    )
    .await;
    let o = run.offline_until_upload().await;
    run.act(&g, o, "cancel", json!({}), (200, "cancelled"))
        .await;
    let o = run.offline_until_upload().await;
    run.upload_stamped(o, 11).await;
    run.act(
        &s,
        o,
        "reject",
        json!({"reason_category": "协议信息有误", "reason": "信息不符"}),
        (200, "signing_rejected"),
    )
    .await;
    let o = run.offline_until_upload().await;
    run.upload_stamped(o, 12).await;
    run.act(
        &s,
        o,
        "return",
        json!({"reason_category": "其他", "reason": "重新上传"}),
        (200, "upload_returned"),
    )
    .await;
    let sent = hook
        .received()
        .iter()
        .filter(|m| m.body["message"]["channel"] == "sms")
        .count();
    run.act(&g, o, "invite_employer", json!({}), (422, "invalid_input"))
        .await;
    run.act(
        &g,
        o,
        "invite_employer",
        json!({"helper_mobile": "13812345678"}),
        (200, "upload_returned"),
    )
    .await;
    let link = run.sms_link(sent).await;
    let r = app.post_bytes(&format!("{link}/upload"), "", png(13)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    run.act(
        &s,
        o,
        "return",
        json!({"reason_category": "其他", "reason": "还是不清楚"}),
        (200, "upload_returned"),
    )
    .await;
    run.act(&g, o, "cancel", json!({}), (200, "cancelled"))
        .await;
    let o = run.offline_until_upload().await;
    run.upload_stamped(o, 14).await;
    run.act(&s, o, "approve", json!({}), (200, "signed")).await;
    run.act(
        &s,
        o,
        "void",
        json!({"void_reason": "协商一致作废"}),
        (200, "voided"),
    )
    .await;

    // ---- Paper supplement, and a unilateral termination of it. ----
    let p = run.paper().await;
    let img = run.upload(&g, 41).await;
    let mut edited = agreement();
    edited["paper_image"] = json!(img);
    run.act(&g, p, "edit", edited.clone(), (200, "reviewing"))
        .await;
    run.act(&g, p, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(&g, p, "resubmit", edited.clone(), (200, "reviewing"))
        .await;
    run.act(
        &s,
        p,
        "return",
        json!({"reason_category": "其他", "reason": "补充"}),
        (200, "returned"),
    )
    .await;
    run.act(&g, p, "resubmit", edited.clone(), (200, "reviewing"))
        .await;
    run.act(&s, p, "approve", json!({}), (200, "signed")).await;
    run.act(
        &s,
        p,
        "modify",
        json!({"position": "测试工程师", "modify_note": "岗位调整"}),
        (200, "signed"),
    )
    .await;
    // The supplement's image belongs to the supplement: it is no termination letter.
    let reused = app
        .post(
            "/api/v1/flows/offline_termination/instances",
            &g,
            json!({"input": {"termination_reason": "个人原因", "explanation": "解约",
                             "letter_image": img}}),
        )
        .await;
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.body["errors"][0]["field"], "letter_image");
    assert_eq!(reused.body["errors"][0]["code"], "upload_used");
    assert!(
        reused.body["message"]
            .as_str()
            .unwrap()
            .contains("已用于另一项申请"),
        "{}",
        reused.text
    );
    let r = run.offline_termination("单位已注销，无法出具解约函").await;
    let t = r["body"]["id"].as_i64().unwrap();
    run.act(
        &d,
        t,
        "unilateral",
        json!({"unilateral_explanation": "单位已注销"}),
        (403, "forbidden"),
    )
    .await;
    run.act(
        &s,
        t,
        "unilateral",
        json!({"unilateral_explanation": "单位已注销，学生上传了情况说明"}),
        (200, "unilateral_terminated"),
    )
    .await;
    assert_eq!(run.state(p).await, "terminated");
    let p = run.paper().await;
    run.act(&g, p, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(&g, p, "cancel", json!({}), (200, "cancelled"))
        .await;
    let p = run.paper().await;
    run.act(
        &s,
        p,
        "return",
        json!({"reason_category": "其他", "reason": "补充"}),
        (200, "returned"),
    )
    .await;
    run.act(&g, p, "cancel", json!({}), (200, "cancelled"))
        .await;
    let p = run.paper().await;
    run.act(
        &s,
        p,
        "reject",
        json!({"reason_category": "单位信息有误", "reason": "单位不存在"}),
        (200, "rejected"),
    )
    .await;
    let p = run.paper().await;
    run.act(&s, p, "approve", json!({}), (200, "signed")).await;
    run.act(
        &s,
        p,
        "void",
        json!({"void_reason": "协议无效"}),
        (200, "voided"),
    )
    .await;

    // ---- A voided agreement ends its pending termination (event through the outbox). ----
    let p = run.paper().await;
    run.act(&s, p, "approve", json!({}), (200, "signed")).await;
    let t = run.offline_termination("单位同意").await["body"]["id"]
        .as_i64()
        .unwrap();
    run.act(
        &s,
        p,
        "void",
        json!({"void_reason": "重复登记"}),
        (200, "voided"),
    )
    .await;
    run.eventually(t, "obsolete").await;

    // ---- Leaving the roster invalidates what is in flight; re-upload restores it. ----
    let p = run.paper().await;
    run.act(&s, p, "approve", json!({}), (200, "signed")).await;
    let t = run.offline_termination("单位同意").await["body"]["id"]
        .as_i64()
        .unwrap();
    let pending = run.state(t).await;
    remove_and_restore(&app, || async {
        assert_eq!(run.state(p).await, "invalidated");
        assert_eq!(run.state(t).await, "invalidated");
    })
    .await;
    assert_eq!(run.state(p).await, "signed", "restored and re-synced");
    assert_eq!(run.state(t).await, pending, "the termination comes back");
    run.act(run.g(), t, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(
        &s,
        p,
        "void",
        json!({"void_reason": "改签线上协议"}),
        (200, "voided"),
    )
    .await;
    let o = run
        .start("offline_signing", &g, json!({"input": {}}), 201, "draft")
        .await["id"]
        .as_i64()
        .unwrap();
    let pending_invite = invite(&app, &e2, w.graduate).await.body["id"]
        .as_i64()
        .unwrap();
    run.ids.insert(pending_invite);
    let a4 = run.online_agreement(&e1).await;
    let t = run
        .start(
            "online_termination",
            &e1,
            for_g("用人单位原因"),
            201,
            "employer_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    remove_and_restore(&app, || async {
        for id in [o, pending_invite, a4, t] {
            assert_eq!(run.state(id).await, "invalidated");
        }
        // Nothing moves for a graduate who left the roster.
        let r = act(&app, &g, o, "save", json!({})).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (422, Some("graduate_removed")),
            "{}",
            r.text
        );
    })
    .await;
    // Restored at once, or by the outbox when an instance lost a race with another event.
    let mut restored = run.state(o).await;
    for _ in 0..100 {
        if restored == "draft" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        restored = run.state(o).await;
    }
    assert_eq!(restored, "draft");
    // Restoring re-syncs approved agreements only, never a draft or an invitation.
    let syncs = hook
        .wait_for(
            |r| {
                r.iter().any(|m| {
                    m.body["message"]["kind"] == "sync"
                        && m.body["message"]["instance_id"] == a4
                        && m.body["message"]["state"] == "signed"
                })
            },
            20,
        )
        .await;
    assert!(
        syncs.iter().all(|m| m.body["message"]["kind"] != "sync"
            || m.body["message"]["state"] == "signed"
            || m.body["message"]["op"] == "clear"),
        "a sync of an item not in force"
    );
    // What the management system already has shows in the reviewer's view (once the outbox
    // recorded the delivery the receiver saw).
    let mut v = app.get(&format!("/api/v1/instances/{a4}/review"), &s).await;
    for _ in 0..100 {
        let sent = v.body["sent_to_management_system"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|x| x["instance_id"] == a4 && x["op"] == "upsert")
            });
        if sent {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        v = app.get(&format!("/api/v1/instances/{a4}/review"), &s).await;
    }
    assert!(
        v.body["sent_to_management_system"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["instance_id"] == a4 && x["op"] == "upsert"),
        "{}",
        v.text
    );
    assert_eq!(run.state(pending_invite).await, "invited");
    assert_eq!(run.state(a4).await, "signed");
    // The employer's termination came back with them, waiting for the graduate's answer.
    assert_eq!(run.state(t).await, "employer_requested");
    run.act(&g, t, "decline", json!({}), (200, "declined"))
        .await;

    // ---- The termination cap: the graduate's own applications count, the employer's not. ----
    let counted = app.get("/api/v1/instances?page_size=200", &g).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["list"] == "termination" && i["initiator_role"] == "graduate")
        .count();
    let r = app
        .put(
            "/api/v1/schools/1/settings/signing",
            &s,
            json!({"online_signing": true, "review_mode": "school", "termination_cap": counted,
                   "handler_info": {"all": {"name": "李老师", "phone": "025-83592233",
                   "address": "南京市鼓楼区汉口路22号", "postal_code": "210093"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = run
        .start(
            "online_termination",
            &g,
            term("个人原因"),
            422,
            "termination_cap_reached",
        )
        .await;
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains(&format!("上限（{counted}次）")), "{msg}");
    let t = run
        .start(
            "online_termination",
            &e1,
            for_g("用人单位原因"),
            201,
            "employer_requested",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, t, "decline", json!({}), (200, "declined"))
        .await;

    // ---- 下载当前查询数据: the export is the list's query, every row. ----
    let listed = app
        .get("/api/v1/lists/termination?status=all&page_size=200", &s)
        .await;
    let rows = sheet(&app, "/api/v1/lists/termination/export?status=all", &s).await;
    assert_eq!(rows[0][0], "签约发起方");
    check_export_shape(&app, "/api/v1/lists/termination/export?status=all", &s).await;
    assert_eq!(
        rows.len() as u64 - 1,
        listed.body["total"].as_u64().unwrap()
    );
    assert!(rows[1..].iter().all(|r| r[1] == "张三" && r[4] == DEPT));
    let employer_rows = sheet(
        &app,
        "/api/v1/lists/termination/export?status=all&initiator=单位",
        &s,
    )
    .await;
    assert!(employer_rows.len() > 1 && employer_rows[1..].iter().all(|r| r[0] == "单位"));
    // The other department's export is empty: scoped like the list.
    assert_eq!(
        sheet(
            &app,
            "/api/v1/lists/termination/export?status=all",
            &w.other_dept_tok
        )
        .await
        .len(),
        1
    );

    // ---- Management lists: default status filter and the initiator filter. ----
    let l = app.get("/api/v1/lists/termination", &s).await;
    assert_eq!(l.status, 200, "{}", l.text);
    assert_eq!(
        l.body["default_status"],
        json!(["解约中，等待学院/学校审核"])
    );
    assert!(l.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["label"] == "解约中，等待学院/学校审核"));
    let all = app
        .get("/api/v1/lists/termination?status=all&initiator=单位", &s)
        .await;
    let items = all.body["items"].as_array().unwrap();
    assert!(
        !items.is_empty() && items.iter().all(|i| i["initiator_role"] == "employer"),
        "{}",
        all.text
    );
    let signing = app.get("/api/v1/lists/signing", &s).await;
    assert_eq!(
        signing.body["default_status"],
        json!(["就业协议审核中，等待学院/学校审核"])
    );
    let r = app.get("/api/v1/lists/signing?initiator=学校", &s).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("invalid_initiator"))
    );
    let r = app
        .get("/api/v1/lists/signing?status=没有这个状态", &s)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("invalid_status"))
    );
    let r = app
        .get("/api/v1/lists/supplement?status=all&name=张三", &s)
        .await;
    assert!(r.body["total"].as_u64().unwrap() >= 6, "{}", r.text);
    let r = app
        .get("/api/v1/lists/supplement?status=all&name=李四", &s)
        .await;
    assert_eq!(r.body["total"], 0, "{}", r.text);

    // ---- Online signing's deadline: past it, the invitation expires. ----
    let x = pending_invite;
    app.post(
        "/api/v1/admin/clock",
        &app.admin_token,
        json!({"advance_seconds": 8 * 86400}),
    )
    .await;
    run.eventually(x, "expired").await;

    coverage(&app, &run.ids, &FLOWS).await;
}

/// 获取最新学生信息 (SPEC.md 3): the management system changes the graduate's gender and
/// student number while an e-agreement is in review; the reviewer sees the difference, pulls
/// it in, and the approved e-agreement shows the new data. Key fields are never pulled.
/// The management system re-uploads one graduate of the world's school (the administrator's
/// roster endpoint); every row is accepted.
async fn reupload(app: &App, row: Value) {
    let r = app
        .post(
            "/api/v1/roster/graduates",
            &app.admin_token,
            json!({"school_code": "10284", "rows": [row]}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["errors"]),
        (200, &json!([])),
        "{}",
        r.text
    );
}

async fn latest_student_info(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "department_then_school").await;
    let mut run = Run {
        app: &app,
        w: &w,
        hook: &webhook::start().await,
        ids: BTreeSet::new(),
    };
    let (g, s, d) = (
        w.graduate_tok.clone(),
        w.school_tok.clone(),
        w.dept_tok.clone(),
    );
    let o = run
        .start(
            "offline_signing",
            &g,
            json!({"input": agreement()}),
            201,
            "draft",
        )
        .await["id"]
        .as_i64()
        .unwrap();
    run.act(&g, o, "submit", agreement(), (200, "agreement_review"))
        .await;
    run.act(&d, o, "approve", json!({}), (200, "agreement_review"))
        .await;
    run.act(&s, o, "approve", json!({}), (200, "awaiting_upload"))
        .await;
    run.upload_stamped(o, 3).await;
    // The management system re-uploads the graduate with a new gender, student number and name.
    let row = json!({"candidate_no": "26320102150001", "id_number": "11010519491231002X", "name": "张三丰",
                     "education_level": "本科", "training_mode": "10", "department": DEPT, "major": "软件工程",
                     "cohort": 2027, "gender": "女", "student_no": "MF2633001"});
    reupload(&app, row).await;
    let v = app.get(&format!("/api/v1/instances/{o}/review"), &d).await;
    let differs: Vec<&str> = v.body["comparison"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["differs"] == true)
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    // The world's graduate had no major: the roster's new one is a key field too.
    assert_eq!(differs, ["姓名", "专业", "性别", "学号"], "{}", v.text);
    // Only the reviewer of the current level pulls it in (the department first).
    let url = format!("/api/v1/instances/{o}/refresh-student");
    assert_eq!(app.post(&url, &s, json!({})).await.status, 403);
    let r = app.post(&url, &d, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changed"], json!(["性别", "学号"]));
    assert_eq!(r.body["key_fields_differ"], json!(["姓名", "专业"]));
    assert!(r.body["note"]
        .as_str()
        .unwrap()
        .contains("关键信息无法以此方法同步"));
    // Applied when the review approves, not before.
    run.act(&d, o, "approve", json!({}), (200, "signing_review"))
        .await;
    let doc = app
        .get(&format!("/api/v1/instances/{o}/documents/e_agreement"), &g)
        .await;
    assert!(!doc.text.contains("MF2633001"));
    run.act(&s, o, "approve", json!({}), (200, "signed")).await;
    let v = app.get(&format!("/api/v1/instances/{o}/review"), &s).await;
    assert_eq!(v.body["student_snapshot"]["gender"], "女", "{}", v.text);
    assert_eq!(v.body["student_snapshot"]["student_no"], "MF2633001");
    assert_eq!(
        v.body["student_snapshot"]["name"], "张三",
        "key fields stay"
    );
    assert_eq!(v.body["student_pending"], Value::Null);
    let doc = app
        .get(&format!("/api/v1/instances/{o}/documents/e_agreement"), &g)
        .await;
    assert!(doc.text.contains("<td>女</td>"), "{}", doc.text);
    assert!(doc.text.contains("MF2633001"), "{}", doc.text);
}

/// A graduate's row is kept in process (SQLite): a roster import that changes it reaches the
/// very next transition, whose facts (and the instance's student snapshot) show the new data.
async fn a_roster_change_reaches_the_next_transition(backend: Backend) {
    let app = spawn_on(backend, AppOptions::default()).await;
    let w = world(&app, "department_then_school").await;
    let g = w.graduate_tok.clone();
    let start = |tok: String| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/api/v1/flows/offline_signing/instances",
                    &tok,
                    json!({"input": agreement()}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_i64().unwrap()
        }
    };
    let gender = |id: i64| {
        let app = &app;
        let tok = w.school_tok.clone();
        async move {
            let v = app
                .get(&format!("/api/v1/instances/{id}/review"), &tok)
                .await;
            assert_eq!(v.status, 200, "{}", v.text);
            v.body["student_snapshot"]["gender"].clone()
        }
    };
    // The first start reads (and keeps) the graduate's row.
    let first = start(g.clone()).await;
    let before = gender(first).await;
    let r = app
        .post(
            &format!("/api/v1/instances/{first}/actions/cancel"),
            &g,
            json!({"input": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_gender = if before == json!("女") { "男" } else { "女" };
    let row = json!({"candidate_no": "26320102150001", "id_number": "11010519491231002X", "name": "张三",
                     "education_level": "本科", "training_mode": "10", "department": DEPT, "major": "软件工程",
                     "cohort": 2027, "gender": new_gender, "student_no": "MF2633001"});
    reupload(&app, row).await;
    let second = start(g.clone()).await;
    assert_eq!(gender(second).await, json!(new_gender));
    assert_eq!(
        gender(first).await,
        before,
        "the first instance keeps its snapshot"
    );
}

crate::both_backends!(
    every_state_and_action,
    latest_student_info,
    a_roster_change_reaches_the_next_transition
);
