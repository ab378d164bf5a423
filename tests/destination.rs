//! End to end: destination registration (其他毕业去向信息登记, SPEC.md 4.6/4.7) over HTTP on
//! SQLite and PostgreSQL — the types of the destination catalogue with their own forms and
//! proof uploads checked by content, withdraw and edit, 修改去向 during review, return,
//! approve (synced), the school's modify and void, the graduate's own void, rejection,
//! cancellation, roster removal and restore, and the training-mode rules; every state and
//! action of the flow is reached (the coverage report fails on a miss).

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend, Resp};
use support::files::plain_png;
use support::flows::{coverage, remove_and_restore};
use support::webhook::{self, WebhookReceiver};
use support::world::{account, act, world, World, OTHER_DEPT};

const FLOW: &str = "destination_registration";

struct Run<'a> {
    app: &'a App,
    w: &'a World,
    hook: &'a WebhookReceiver,
    ids: BTreeSet<i64>,
    uploads: u32,
}

impl Run<'_> {
    /// A fresh proof image of the graduate (each upload serves one application).
    async fn proof(&mut self) -> String {
        self.uploads += 1;
        let r = self
            .app
            .post_bytes(
                "/api/v1/uploads?purpose=image",
                &self.w.graduate_tok,
                plain_png(200 + self.uploads, 150),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    async fn start(&mut self, tok: &str, input: Value) -> Resp {
        let r = self
            .app
            .post(
                &format!("/api/v1/flows/{FLOW}/instances"),
                tok,
                json!({ "input": input }),
            )
            .await;
        if let Some(id) = r.body["id"].as_i64() {
            self.ids.insert(id);
        }
        r
    }

    /// The graduate registers; the instance id.
    async fn register(&mut self, input: Value) -> i64 {
        let tok = self.w.graduate_tok.clone();
        let r = self.start(&tok, input).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["state"], "reviewing");
        assert_eq!(r.body["label"], "去向登记审核中，等待学院/学校审核");
        r.body["id"].as_i64().unwrap()
    }

    async fn act(&self, tok: &str, id: i64, action: &str, input: Value, want: (u16, &str)) -> Resp {
        let r = act(self.app, tok, id, action, input).await;
        assert_eq!(
            (r.status, r.body["state"].as_str().unwrap_or_default()),
            want,
            "{action}: {}",
            r.text
        );
        r
    }

    /// The department, then the school approve.
    async fn approve_both(&self, id: i64) {
        let dept = self.w.dept_tok.clone();
        let school = self.w.school_tok.clone();
        self.act(&dept, id, "approve", json!({}), (200, "reviewing"))
            .await;
        let r = self
            .act(&school, id, "approve", json!({}), (200, "registered"))
            .await;
        assert_eq!(r.body["label"], "去向登记审核通过");
    }

    /// Waits for a sync message of instance `id` with `op`; its payload.
    async fn synced(&self, id: i64, op: &str) -> Value {
        let got = self
            .hook
            .wait_for(
                |r| {
                    r.iter().any(|m| {
                        m.body["message"]["kind"] == "sync"
                            && m.body["message"]["instance_id"] == id
                            && m.body["message"]["op"] == op
                    })
                },
                30,
            )
            .await;
        got.into_iter()
            .rev()
            .find(|m| m.body["message"]["instance_id"] == id && m.body["message"]["op"] == op)
            .map(|m| m.body["message"].clone())
            .unwrap_or_else(|| panic!("no {op} sync of {id}"))
    }

    /// Waits for a notification to the graduate containing `text`.
    async fn told(&self, text: &str) {
        let got = self
            .hook
            .wait_for(
                |r| {
                    r.iter().any(|m| {
                        m.body["message"]["kind"] == "notify"
                            && m.body["message"]["text"]
                                .as_str()
                                .is_some_and(|t| t.contains(text))
                    })
                },
                30,
            )
            .await;
        assert!(!got.is_empty());
    }

    async fn state(&self, id: i64) -> String {
        let v = self
            .app
            .get(&format!("/api/v1/instances/{id}"), &self.w.school_tok)
            .await;
        v.body["state"].as_str().unwrap_or_default().to_string()
    }
}

fn study(proof: &str) -> Value {
    json!({"destination_type": "801", "school_name": "南京大学", "major_name": "计算机科学与技术", "proof_1": proof})
}

fn business(proof: &str) -> Value {
    json!({"destination_type": "75", "employer_name": "南京小满科技有限公司", "credit_code": "91320100MA1X2Y3W4U",
           "employer_region": "320102", "proof_1": proof})
}

async fn destination_registration(backend: Backend) {
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
    let w = world(&app, "department_then_school").await;
    let mut run = Run {
        app: &app,
        w: &w,
        hook: &hook,
        ids: BTreeSet::new(),
        uploads: 0,
    };
    let g = w.graduate_tok.clone();
    let dept = w.dept_tok.clone();
    let school = w.school_tok.clone();

    // ---- The type's own form: its fields and its proof, checked by content. ----
    let r = run
        .start(
            &g,
            json!({"destination_type": "801", "school_name": "南京大学"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let fields: BTreeSet<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, BTreeSet::from(["major_name", "proof_1"]));
    let not_an_image = app
        .post_bytes(
            "/api/v1/uploads?purpose=image",
            &g,
            b"%PDF-1.4 not an image".to_vec(),
        )
        .await;
    assert_eq!(not_an_image.status, 422, "{}", not_an_image.text);
    let r = run.start(&g, json!({"destination_type": "999"})).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("destination_type")),
        "{}",
        r.text
    );
    // Training modes: 21 only through the supplement; the supplement only for 21/41.
    let wang = account(&app, json!({"username": "g-21", "role": "graduate", "province_code": "32", "school_id": w.school_id, "department": OTHER_DEPT, "graduate_id": w.graduate_21})).await;
    let r = run.start(&wang, json!({"destination_type": "701"})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("directed_training_mode")),
        "{}",
        r.text
    );
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .ends_with("只能填报定向/委培毕业去向补充登记"));
    let r = run.start(&g, json!({"destination_type": "106"})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("destination_type_not_allowed")),
        "{}",
        r.text
    );

    // ---- Register 考研; one registration at a time; withdraw and edit before review. ----
    let proof = run.proof().await;
    let a = run.register(study(&proof)).await;
    let again = run.start(&g, json!({"destination_type": "701"})).await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (422, Some("destination_registered")),
        "{}",
        again.text
    );
    run.act(&g, a, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    let mut edited = study(&proof);
    edited["destination_type"] = json!("802");
    run.act(&g, a, "resubmit", edited, (200, "reviewing")).await;

    // ---- 修改去向: the department changes the type and its data during review, keeping the
    // application's proof (an upload of the graduate's already part of it). ----
    let mut change = business(&proof);
    change["modify_note"] = json!("学生实际为自主创业，按营业执照修改");
    run.act(&dept, a, "change", change, (200, "reviewing"))
        .await;
    run.told("审核人员修改了你登记的毕业去向信息").await;
    let v = app.get(&format!("/api/v1/instances/{a}"), &g).await;
    assert_eq!(v.body["vars"]["destination_type"], "75", "{}", v.text);
    assert_eq!(v.body["vars"]["employer_name"], "南京小满科技有限公司");
    let h = app.get(&format!("/api/v1/instances/{a}/history"), &g).await;
    let changed = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "change")
        .expect("the change is in the history the graduate sees");
    assert_eq!(changed["input"]["destination_type"], "75");

    // ---- Return at school level, resubmit, approve at both levels: synced. ----
    run.act(&dept, a, "approve", json!({}), (200, "reviewing"))
        .await;
    run.act(
        &school,
        a,
        "return",
        json!({"reason_category": "证明材料不符合要求", "reason": "营业执照图片不清晰"}),
        (200, "returned"),
    )
    .await;
    run.told("营业执照图片不清晰").await;
    let clearer = run.proof().await;
    run.act(&g, a, "resubmit", business(&clearer), (200, "reviewing"))
        .await;
    run.approve_both(a).await;
    let sync = run.synced(a, "upsert").await;
    assert_eq!(sync["vars"]["destination_type"], "75");
    assert_eq!(sync["flow"], FLOW);

    // ---- After approval: the school modifies; the graduate voids it without review. ----
    run.act(
        &school,
        a,
        "modify",
        json!({"destination_type": "76", "occupation": "独立游戏开发", "work_region": "320102",
               "proof_1": clearer, "modify_note": "学生改为自由职业"}),
        (200, "registered"),
    )
    .await;
    run.told("修改说明：学生改为自由职业").await;
    assert_eq!(
        run.synced(a, "upsert").await["vars"]["destination_type"],
        "76"
    );
    run.act(&g, a, "self_void", json!({}), (200, "voided_by_graduate"))
        .await;
    run.synced(a, "clear").await;
    let v = app.get(&format!("/api/v1/instances/{a}"), &school).await;
    assert_eq!(v.body["label"], "毕业生已作废", "the school sees the void");

    // ---- A rejection ends a registration; the graduate picks a type again. ----
    let labour = run.proof().await;
    let b = run
        .register(json!({"destination_type": "11", "employer_name": "南京某某信息技术有限公司",
                         "credit_code": "91350100M000100Y43", "employer_nature": "39", "industry": "34",
                         "employer_region": "320100", "proof_1": labour}))
        .await;
    run.act(
        &dept,
        b,
        "reject",
        json!({"reason_category": "去向信息有误", "reason": "劳动合同与单位名称不符"}),
        (200, "rejected"),
    )
    .await;
    run.told("去向登记审核不通过").await;

    // ---- Approved, then voided by the school. ----
    let enlist = run.proof().await;
    let c = run
        .register(json!({"destination_type": "46", "enlist_region": "320100", "proof_1": enlist}))
        .await;
    run.approve_both(c).await;
    run.act(
        &school,
        c,
        "void",
        json!({"void_reason": "学生未通过入伍体检"}),
        (200, "voided"),
    )
    .await;
    run.synced(c, "clear").await;
    run.told("作废原因：学生未通过入伍体检").await;

    // ---- A registration withdrawn and given up. ----
    let d = run.register(json!({"destination_type": "701"})).await;
    run.act(&g, d, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(&g, d, "cancel", json!({}), (200, "cancelled"))
        .await;
    let e = run
        .register(json!({"destination_type": "72", "note": "暂不就业"}))
        .await;
    run.act(
        &dept,
        e,
        "return",
        json!({"reason_category": "其他", "reason": "请补充情况说明"}),
        (200, "returned"),
    )
    .await;
    run.act(&g, e, "cancel", json!({}), (200, "cancelled"))
        .await;

    // ---- Leaving the roster invalidates it; the restore puts it back where it was. ----
    let f = run.register(json!({"destination_type": "703"})).await;
    remove_and_restore(&app, || async {
        assert_eq!(run.state(f).await, "invalidated");
    })
    .await;
    assert_eq!(run.state(f).await, "reviewing");

    coverage(&app, &run.ids, &[FLOW]).await;
}

fn paper_agreement(image: &str) -> Value {
    json!({
        "employer_name": "南京某某信息技术有限公司", "credit_code": "91350100M000100Y43", "employer_nature": "39",
        "industry": "34", "employer_region": "320100", "employer_address": "南京市鼓楼区汉口路22号",
        "job_category": "13", "position": "软件工程师", "contact_person": "王经理", "contact_mobile": "13912345678",
        "archive_transfer": "1", "hukou_migration": "4", "paper_image": image
    })
}

/// One destination at a time across destination registration and the signing flows, in
/// both directions and under concurrent starts (exactly one wins).
async fn one_destination_across_flows(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn_on(
        backend,
        AppOptions {
            webhook_url: Some(hook.url()),
            ..Default::default()
        },
    )
    .await;
    let w = world(&app, "school").await;
    let mut run = Run {
        app: &app,
        w: &w,
        hook: &hook,
        ids: BTreeSet::new(),
        uploads: 0,
    };
    let g = w.graduate_tok.clone();
    let paper = |image: String| {
        let app = &app;
        let g = g.clone();
        async move {
            app.post(
                "/api/v1/flows/paper_supplement/instances",
                &g,
                json!({"input": paper_agreement(&image)}),
            )
            .await
        }
    };

    // A pending destination: no supplement, no online signing (an invitation that came
    // before cannot be accepted, a new one cannot be sent), nothing to terminate.
    let inv = support::world::invite(&app, &w.employer_tok, w.graduate).await;
    assert_eq!(inv.status, 201, "{}", inv.text);
    let inv_id = inv.body["id"].as_i64().unwrap();
    let d = run.register(json!({"destination_type": "701"})).await;
    let image = run.proof().await;
    let r = paper(image.clone()).await;
    assert_eq!(
        (r.status, r.body["code"].as_str(), r.body["message"].as_str()),
        (
            422,
            Some("destination_registered"),
            Some("你已登记毕业去向（审核中或已通过），不能再补登纸质协议；如需签约，请先作废已登记的毕业去向")
        ),
        "{}",
        r.text
    );
    let r = support::world::invite(&app, &w.employer2_tok, w.graduate).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("destination_registered")),
        "{}",
        r.text
    );
    let r = act(&app, &g, inv_id, "accept", json!({})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("destination_registered")),
        "{}",
        r.text
    );
    let letter = run.proof().await;
    let r = app
        .post(
            "/api/v1/flows/offline_termination/instances",
            &g,
            json!({"input": {"termination_reason": "个人原因", "explanation": "解约", "letter_image": letter}}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("no_agreement")),
        "{}",
        r.text
    );

    // Given up, the destination releases it: the supplement goes in, and now blocks a
    // destination with the destination's own message.
    run.act(&g, d, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(&g, d, "cancel", json!({}), (200, "cancelled"))
        .await;
    let r = paper(image).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = r.body["id"].as_i64().unwrap();
    let r = run.start(&g, json!({"destination_type": "701"})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("agreement_exists")),
        "{}",
        r.text
    );
    let r = act(&app, &g, p, "withdraw", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = act(&app, &g, p, "cancel", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Concurrent starts of both kinds: exactly one wins.
    let mut images = Vec::new();
    for _ in 0..4 {
        images.push(run.proof().await);
    }
    let destinations = (0..4).map(|_| {
        let app = &app;
        let g = g.clone();
        async move {
            app.post(
                &format!("/api/v1/flows/{FLOW}/instances"),
                &g,
                json!({"input": {"destination_type": "701"}}),
            )
            .await
        }
    });
    let papers = images.into_iter().map(&paper);
    let (a, b) = tokio::join!(
        futures::future::join_all(destinations),
        futures::future::join_all(papers)
    );
    // A loser that ran after the winner committed is refused by its guard (422); one that
    // raced it by the slot's unique index (409, the holder's message to others or the
    // claimant's own).
    let outcomes: Vec<(u16, String)> = a
        .iter()
        .chain(b.iter())
        .map(|r| {
            (
                r.status,
                r.body["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{outcomes:?}"
    );
    for (status, code) in &outcomes {
        assert!(
            *status == 201
                || (*status == 409 && code == "slot_taken")
                || (*status == 422
                    && ["agreement_exists", "destination_registered"].contains(&code.as_str())),
            "{outcomes:?}"
        );
    }
}

both_backends!(destination_registration, one_destination_across_flows);
