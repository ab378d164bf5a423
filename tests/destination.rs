//! End to end: destination registration (其他毕业去向信息登记, SPEC.md 4.6/4.7) over HTTP on
//! SQLite and PostgreSQL — the types of the destination catalogue with their own forms and
//! proof uploads checked by content, withdraw and edit, 修改去向 during review, return,
//! approve (synced), the school's modify and void, the graduate's own void, rejection,
//! cancellation, roster removal and restore, and the training-mode rules; every state and
//! action of the flow is reached (the coverage report fails on a miss).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use support::app::{spawn_on, App, AppOptions, Backend, Resp};
use support::files::plain_png;
use support::flows::{coverage, remove_and_restore_row, sheet, upload_roster, zhang_san};
use support::webhook::{self, WebhookReceiver};
use support::world::{act, other_dept_graduate, province_user, world, World, OTHER_DEPT};

const FLOW: &str = "destination_registration";

/// Which destination flow a lifecycle runs, for which graduate, and what they register.
struct Kind {
    flow: &'static str,
    /// The graduate's token and the reviewing department's.
    graduate: String,
    dept: String,
    /// The input of the n-th registration step (see `lifecycle`), given a fresh proof.
    input: fn(Step, &str) -> Value,
}

/// The registrations a lifecycle makes, in order.
#[derive(Clone, Copy, Debug)]
enum Step {
    First,
    Edited,
    Changed,
    Resubmitted,
    Modified,
    Rejected,
    Voided,
    Cancelled,
    Returned,
    Invalidated,
}

struct Run<'a> {
    app: &'a App,
    w: &'a World,
    hook: &'a WebhookReceiver,
    ids: BTreeSet<i64>,
    uploads: u32,
    flow: &'static str,
    graduate: String,
}

impl<'a> Run<'a> {
    /// 张三 in destination registration.
    fn new(app: &'a App, w: &'a World, hook: &'a WebhookReceiver) -> Run<'a> {
        Run {
            app,
            w,
            hook,
            ids: BTreeSet::new(),
            uploads: 0,
            flow: FLOW,
            graduate: w.graduate_tok.clone(),
        }
    }

    /// A fresh proof image of the graduate (each upload serves one application).
    async fn proof(&mut self) -> String {
        self.uploads += 1;
        let r = self
            .app
            .post_bytes(
                "/api/v1/uploads?purpose=image",
                &self.graduate,
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
                &format!("/api/v1/flows/{}/instances", self.flow),
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
        let tok = self.graduate.clone();
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

    /// Cancels registration `id` (withdrawn first) and registers 701 again: the new id.
    async fn register_after(&mut self, id: i64) -> i64 {
        let g = self.graduate.clone();
        self.act(&g, id, "withdraw", json!({}), (200, "withdrawn"))
            .await;
        self.act(&g, id, "cancel", json!({}), (200, "cancelled"))
            .await;
        self.register(json!({"destination_type": "701"})).await
    }

    /// The department, then the school approve.
    async fn approve_both(&self, id: i64, dept: &str) {
        let dept = dept.to_string();
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

/// What 张三 (training mode 10) registers at each step: several types and categories.
fn general(step: Step, proof: &str) -> Value {
    match step {
        Step::First => study(proof),
        Step::Edited => {
            let mut v = study(proof);
            v["destination_type"] = json!("802");
            v
        }
        Step::Changed | Step::Resubmitted => business(proof),
        Step::Modified => json!({"destination_type": "76", "occupation": "独立游戏开发",
                                 "work_region": "320102", "proof_1": proof}),
        Step::Rejected => {
            json!({"destination_type": "11", "employer_name": "南京某某信息技术有限公司",
                                 "credit_code": "91350100M000100Y43", "employer_nature": "39", "industry": "34",
                                 "employer_region": "320100", "proof_1": proof})
        }
        Step::Voided => {
            json!({"destination_type": "46", "enlist_region": "320100", "proof_1": proof})
        }
        Step::Cancelled => json!({"destination_type": "701"}),
        Step::Returned => json!({"destination_type": "72", "note": "暂不就业"}),
        Step::Invalidated => json!({"destination_type": "703"}),
    }
}

/// What 王五 (training mode 21) files: the supplement, whose employer is the roster's.
fn directed(step: Step, proof: &str) -> Value {
    json!({"destination_type": "106", "position": format!("{step:?}岗位"), "proof_1": proof})
}

/// 王五 as the roster has them, with the 定向/委培单位 the management system uploaded.
fn wang_wu() -> Value {
    json!({"candidate_no": "26320102150003", "id_number": "320102200002021235", "name": "王五",
           "education_level": "本科", "training_mode": "21", "department": OTHER_DEPT, "major": "英语",
           "cohort": 2027, "origin_region": "320102", "hukou_in_school": false,
           "directed_employer": "江苏省南京市教育局"})
}

async fn spawn(backend: Backend, hook: &WebhookReceiver) -> App {
    spawn_on(
        backend,
        AppOptions {
            webhook_url: Some(hook.url()),
            extra_args: vec!["--worker-interval-ms".into(), "50".into()],
            ..Default::default()
        },
    )
    .await
}

/// The type rules before anything is registered: each type's own fields and proof (checked
/// by content), unknown types, and the training modes.
async fn type_rules(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn(backend, &hook).await;
    let w = world(&app, "school").await;
    let mut run = Run::new(&app, &w, &hook);
    let g = w.graduate_tok.clone();
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
    // Training modes: 21 only through the supplement; the supplement only for 21/41, with
    // the employer the roster gives.
    let wang = other_dept_graduate(&app, &w, "g-21", w.graduate_21).await;
    let r = run.start(&wang, json!({"destination_type": "701"})).await;
    r.refused(422, "directed_training_mode");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .ends_with("只能填报定向/委培毕业去向补充登记"));
    let r = run.start(&g, json!({"destination_type": "106"})).await;
    r.refused(422, "destination_type_not_allowed");
    let r = run.start(&wang, json!({"destination_type": "106"})).await;
    r.refused(422, "directed_training_mode");
    run.flow = "directed_supplement";
    let r = run.start(&g, json!({"destination_type": "106"})).await;
    r.refused(422, "not_directed");
    let r = run.start(&wang, json!({"destination_type": "106"})).await;
    r.refused(422, "directed_employer_missing");
    upload_roster(&app, vec![wang_wu()]).await;
    let r = run.start(&wang, json!({"destination_type": "701"})).await;
    r.refused(422, "destination_type_not_allowed");
    let r = run.start(&wang, json!({"destination_type": "106"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    let review = app
        .get(&format!("/api/v1/instances/{id}/review"), &w.school_tok)
        .await;
    assert_eq!(
        review.body["student_snapshot"]["directed_employer"], "江苏省南京市教育局",
        "the employer is the roster's: {}",
        review.text
    );
}

/// The school's 补登 and 填报去向登记 switches (SPEC.md 2.2): on by default, each refuses new
/// applications when off, and stays on once a graduate used it.
async fn switches(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn(backend, &hook).await;
    let w = world(&app, "school").await;
    let mut run = Run::new(&app, &w, &hook);
    let url = format!("/api/v1/schools/{}/settings/signing", w.school_id);
    let settings = |supplement: bool, destination: bool| {
        json!({"online_signing": true, "review_mode": "school", "termination_cap": 3,
               "handler_info": {"all": {"name": "李老师", "phone": "025-83592233",
                                        "address": "南京市鼓楼区汉口路22号", "postal_code": "210093"}},
               "paper_supplement": supplement, "destination_registration": destination})
    };
    let view = app
        .get(
            &format!("/api/v1/schools/{}/settings", w.school_id),
            &w.school_tok,
        )
        .await;
    assert_eq!(
        view.body["signing"]["paper_supplement"], true,
        "{}",
        view.text
    );
    assert_eq!(view.body["signing"]["destination_registration"], true);
    let r = app.put(&url, &w.school_tok, settings(false, false)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["signing"]["destination_registration"], false);
    let r = run
        .start(&w.graduate_tok.clone(), json!({"destination_type": "701"}))
        .await;
    assert_eq!(
        (
            r.status,
            r.body["code"].as_str(),
            r.body["message"].as_str()
        ),
        (
            422,
            Some("module_disabled"),
            Some("学校尚未开启“填报去向登记”功能，请联系学校就业部门")
        ),
        "{}",
        r.text
    );
    let image = run.proof().await;
    let r = app
        .post(
            "/api/v1/flows/paper_supplement/instances",
            &w.graduate_tok,
            json!({"input": paper_agreement(&image)}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (422, Some("学校尚未开启“补登”功能，请联系学校就业部门")),
        "{}",
        r.text
    );
    // Back on; once used, it cannot be switched off.
    let r = app.put(&url, &w.school_tok, settings(false, true)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    run.register(json!({"destination_type": "701"})).await;
    let r = app.put(&url, &w.school_tok, settings(false, false)).await;
    r.refused(409, "destination_irreversible");
    // 补登 is still off and unused: it may stay off or come on.
    let r = app.put(&url, &w.school_tok, settings(true, true)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// After the province's change-closing date of the graduation year (31 August by default),
/// graduates can no longer register, withdraw, give up or void; school users still act; the
/// province may move the date.
async fn closing_date(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn(backend, &hook).await;
    let w = world(&app, "school").await;
    let mut run = Run::new(&app, &w, &hook);
    let g = w.graduate_tok.clone();
    let school = w.school_tok.clone();
    let clock = |at: &'static str| {
        let app = &app;
        async move {
            let r = app
                .post("/api/v1/admin/clock", &app.admin_token, json!({"set": at}))
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };
    // 张三 graduates in 2027.
    clock("2027-08-31T23:00:00+08:00").await;
    let a = run.register(json!({"destination_type": "701"})).await;
    let b = run.register_after(a).await;
    clock("2027-09-01T08:00:00+08:00").await;
    let closed = "毕业去向信息变更已于2027年8月31日截止，如需变更请联系学校";
    let r = act(&app, &g, b, "withdraw", json!({})).await;
    assert_eq!(
        (
            r.status,
            r.body["code"].as_str(),
            r.body["message"].as_str()
        ),
        (422, Some("changes_closed"), Some(closed)),
        "{}",
        r.text
    );
    // The school still reviews and voids.
    run.act(&school, b, "approve", json!({}), (200, "registered"))
        .await;
    let r = act(&app, &g, b, "self_void", json!({})).await;
    r.refused(422, "changes_closed");
    run.act(
        &school,
        b,
        "void",
        json!({"void_reason": "学生申请更正"}),
        (200, "voided"),
    )
    .await;
    let r = run.start(&g, json!({"destination_type": "701"})).await;
    r.refused(422, "changes_closed");
    // The province moves the date.
    let prov = province_user(&app, "p-32", "32").await;
    let r = app
        .put(
            &format!("/api/v1/admin/provinces/32/params/{FLOW}"),
            &prov,
            json!({"change_closing_date": "09-30"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    run.register(json!({"destination_type": "701"})).await;
}

/// A destination flow's whole life, reaching every state and action (the coverage report).
async fn lifecycle(backend: Backend, supplement: bool) {
    let hook = webhook::start().await;
    let app = spawn(backend, &hook).await;
    let w = world(&app, "department_then_school").await;
    upload_roster(&app, vec![wang_wu()]).await;
    let k = if supplement {
        let wang = other_dept_graduate(&app, &w, "g-21", w.graduate_21).await;
        Kind {
            flow: "directed_supplement",
            graduate: wang,
            dept: w.other_dept_tok.clone(),
            input: directed,
        }
    } else {
        Kind {
            flow: FLOW,
            graduate: w.graduate_tok.clone(),
            dept: w.dept_tok.clone(),
            input: general,
        }
    };
    let mut run = Run {
        flow: k.flow,
        graduate: k.graduate.clone(),
        ..Run::new(&app, &w, &hook)
    };
    let g = k.graduate.clone();
    let dept = k.dept.clone();
    let school = w.school_tok.clone();
    let input = k.input;

    // ---- Register; one registration at a time; withdraw and edit before review. ----
    let proof = run.proof().await;
    let a = run.register(input(Step::First, &proof)).await;
    let other = run.proof().await;
    let again = run.start(&g, input(Step::First, &other)).await;
    again.refused(422, "destination_registered");
    run.act(&g, a, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(
        &g,
        a,
        "resubmit",
        input(Step::Edited, &proof),
        (200, "reviewing"),
    )
    .await;

    // ---- 修改去向: the department changes the type and its data during review, keeping the
    // application's proof (an upload of the graduate's already part of it). ----
    let mut change = input(Step::Changed, &proof);
    change["modify_note"] = json!("按证明材料修改");
    run.act(&dept, a, "change", change.clone(), (200, "reviewing"))
        .await;
    run.told("审核人员修改了你登记的毕业去向信息").await;
    let v = app.get(&format!("/api/v1/instances/{a}"), &g).await;
    for (key, value) in change.as_object().unwrap() {
        if key != "modify_note" {
            assert_eq!(&v.body["vars"][key], value, "{key}: {}", v.text);
        }
    }
    let h = app.get(&format!("/api/v1/instances/{a}/history"), &g).await;
    let changed = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "change")
        .expect("the change is in the history the graduate sees");
    assert_eq!(
        changed["input"]["destination_type"],
        change["destination_type"]
    );

    // A reviewer acted: the graduate can no longer withdraw.
    let r = act(&app, &g, a, "withdraw", json!({})).await;
    r.refused(422, "already_reviewed");

    // The reviewer's detail view: the type's fields, its proof, the roster comparison; and
    // "get latest student info" works here as for agreements.
    let review = app
        .get(&format!("/api/v1/instances/{a}/review"), &dept)
        .await;
    assert_eq!(review.status, 200, "{}", review.text);
    assert_eq!(
        review.body["item"]["vars"]["destination_type"],
        change["destination_type"]
    );
    assert!(
        review.body["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "proof_1"),
        "{}",
        review.text
    );
    assert!(review.body["comparison"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    let refreshed = app
        .post(
            &format!("/api/v1/instances/{a}/refresh-student"),
            &dept,
            json!({}),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);

    // ---- Return at school level, resubmit, approve at both levels: synced. ----
    run.act(&dept, a, "approve", json!({}), (200, "reviewing"))
        .await;
    // The school's own 修改去向 keeps the review at school level.
    let r = run
        .act(&school, a, "change", change.clone(), (200, "reviewing"))
        .await;
    assert_eq!(r.body["review_level"], "school", "{}", r.text);
    run.act(
        &school,
        a,
        "return",
        json!({"reason_category": "证明材料不符合要求", "reason": "证明图片不清晰"}),
        (200, "returned"),
    )
    .await;
    run.told("证明图片不清晰").await;
    let clearer = run.proof().await;
    let resubmitted = input(Step::Resubmitted, &clearer);
    run.act(&g, a, "resubmit", resubmitted.clone(), (200, "reviewing"))
        .await;
    run.approve_both(a, &dept).await;
    let sync = run.synced(a, "upsert").await;
    assert_eq!(
        sync["vars"]["destination_type"],
        resubmitted["destination_type"]
    );
    assert_eq!(sync["flow"], k.flow);
    // The national code and the label travel with the type.
    let ty = resubmitted["destination_type"].as_str().unwrap();
    let coded = &sync["codes"]["destination_type"];
    assert_eq!(coded["code"], ty);
    assert_eq!(
        coded["attributes"]["national_code"].as_str().unwrap(),
        &ty[..2],
        "{sync}"
    );
    assert!(
        coded["label"].as_str().is_some_and(|l| !l.is_empty()),
        "{sync}"
    );

    // ---- After approval: the school modifies; the graduate voids it without review. ----
    let mut modified = input(Step::Modified, &clearer);
    modified["modify_note"] = json!("按学生说明修改");
    run.act(&school, a, "modify", modified.clone(), (200, "registered"))
        .await;
    run.told("修改说明：按学生说明修改").await;
    assert_eq!(
        run.synced(a, "upsert").await["vars"]["destination_type"],
        modified["destination_type"]
    );
    run.act(&g, a, "self_void", json!({}), (200, "voided_by_graduate"))
        .await;
    run.synced(a, "clear").await;
    let v = app.get(&format!("/api/v1/instances/{a}"), &school).await;
    assert_eq!(v.body["label"], "毕业生已作废", "the school sees the void");

    // ---- A rejection ends a registration; the graduate picks a type again. ----
    let p = run.proof().await;
    let b = run.register(input(Step::Rejected, &p)).await;
    run.act(
        &dept,
        b,
        "reject",
        json!({"reason_category": "去向信息有误", "reason": "证明与登记信息不符"}),
        (200, "rejected"),
    )
    .await;
    run.told("去向登记审核不通过").await;

    // ---- Approved, then voided by the school. ----
    let p = run.proof().await;
    let c = run.register(input(Step::Voided, &p)).await;
    run.approve_both(c, &dept).await;
    run.act(
        &school,
        c,
        "void",
        json!({"void_reason": "学生反映去向已变化"}),
        (200, "voided"),
    )
    .await;
    run.synced(c, "clear").await;
    run.told("作废原因：学生反映去向已变化").await;

    // ---- Withdrawn and given up; returned and given up. ----
    let p = run.proof().await;
    let d = run.register(input(Step::Cancelled, &p)).await;
    run.act(&g, d, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(&g, d, "cancel", json!({}), (200, "cancelled"))
        .await;
    let p = run.proof().await;
    let e = run.register(input(Step::Returned, &p)).await;
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
    let p = run.proof().await;
    let f = run.register(input(Step::Invalidated, &p)).await;
    let row = if k.flow == FLOW {
        zhang_san()
    } else {
        wang_wu()
    };
    remove_and_restore_row(&app, row, || async {
        assert_eq!(run.state(f).await, "invalidated");
    })
    .await;
    assert_eq!(run.state(f).await, "reviewing");

    // 去向登记管理: both destination flows in one list, by default what waits for review.
    let list = app.get("/api/v1/lists/destination", &school).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let flows: Vec<&str> = list.body["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str().or_else(|| f["key"].as_str()))
        .collect();
    assert!(
        flows.contains(&FLOW) && flows.contains(&"directed_supplement"),
        "{}",
        list.text
    );
    assert_eq!(
        list.body["default_status"],
        json!(["去向登记审核中，等待学院/学校审核"]),
        "{}",
        list.text
    );
    let shown: Vec<i64> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(shown, vec![f], "{}", list.text);
    let export = app
        .get_bytes("/api/v1/lists/destination/export", &school)
        .await;
    assert_eq!(export.0, 200);
    assert!(export.1.starts_with(b"PK"), "an XLSX file");

    // 就业管理系统上报: the management system's roster key registers a destination for a
    // graduate who has none (approved there), without proof.
    if k.flow == FLOW {
        support::world::ok(
            &app,
            &format!("/api/v1/admin/schools/{}/graduates", w.school_id),
            json!([{"candidate_no": "26320102150009", "id_number": "320102200001011239", "name": "孙八",
                    "department": support::world::DEPT, "training_mode": "10"}]),
        )
        .await;
        let key = app
            .post(
                "/api/v1/api-keys",
                &school,
                json!({"name": "南京大学就业管理系统"}),
            )
            .await
            .body["key"]
            .as_str()
            .unwrap()
            .to_string();
        let r = app
            .put(
                "/api/v1/roster/graduates/26320102150009/registrations/destination_registration",
                &key,
                json!({"input": {"destination_type": "801", "school_name": "南京大学", "major_name": "软件工程"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["label"], "去向登记审核通过");
        run.ids.insert(r.body["instance_id"].as_i64().unwrap());
    }

    coverage(&app, &run.ids, &[k.flow]).await;
}

/// The keys of the flows `GET /flows` offers, and the refusal code of each one it does not.
async fn offered(app: &App, tok: &str) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let r = app.get("/api/v1/flows", tok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys = r.body["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_string())
        .collect();
    let why = r.body["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(
                !f["message"].as_str().unwrap_or_default().is_empty(),
                "a reason: {f}"
            );
            (
                f["key"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (keys, why)
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// `GET /flows` offers a graduate only what they can start now, each with its start schema
/// (one `oneOf` branch per destination type), and says why the others are not offered: a
/// mode-21 graduate sees the supplement only; one with a destination, nothing new.
async fn flows_offered(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn(backend, &hook).await;
    let w = world(&app, "school").await;
    let (keys, why) = offered(&app, &w.graduate_tok).await;
    assert_eq!(
        keys,
        set(&[
            "destination_registration",
            "offline_signing",
            "paper_supplement"
        ])
    );
    assert_eq!(why["directed_supplement"], "not_directed");
    assert_eq!(why["online_termination"], "nothing_to_act_on");
    assert_eq!(why["offline_termination"], "nothing_to_act_on");
    assert!(
        !why.contains_key("online_signing"),
        "an employer's flow: {why:?}"
    );
    // The schema: one branch per type of the catalogue in force.
    let r = app.get("/api/v1/flows", &w.graduate_tok).await;
    let flow = r.body["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == FLOW)
        .unwrap()
        .clone();
    let catalogue = app
        .get(
            "/api/v1/admin/catalogues/destination_type",
            &app.admin_token,
        )
        .await;
    assert_eq!(catalogue.status, 200, "{}", catalogue.text);
    assert_eq!(catalogue.body["origin"], "file");
    let types = catalogue.body["catalogue"]["entries"].as_array().unwrap();
    let branches = flow["start_schema"]["oneOf"].as_array().unwrap();
    assert_eq!(
        branches
            .iter()
            .filter(|b| b["properties"]["destination_type"]["const"].is_string())
            .count(),
        types.len(),
        "{}",
        flow["start_schema"]
    );

    // Training mode 21: the supplement only, once the roster gives the employer.
    let wang = other_dept_graduate(&app, &w, "g-21", w.graduate_21).await;
    let (keys, why) = offered(&app, &wang).await;
    assert!(keys.is_empty(), "{keys:?}");
    assert_eq!(why["directed_supplement"], "directed_employer_missing");
    upload_roster(&app, vec![wang_wu()]).await;
    let (keys, why) = offered(&app, &wang).await;
    assert_eq!(keys, set(&["directed_supplement"]));
    for k in [
        "destination_registration",
        "offline_signing",
        "paper_supplement",
    ] {
        assert_eq!(why[k], "directed_training_mode", "{k}");
    }

    // With a destination under review: nothing new to start, and no agreement to terminate.
    let mut run = Run::new(&app, &w, &hook);
    run.register(json!({"destination_type": "701"})).await;
    let (keys, why) = offered(&app, &w.graduate_tok).await;
    assert!(keys.is_empty(), "{keys:?}");
    assert_eq!(why[FLOW], "destination_registered");
    assert_eq!(why["paper_supplement"], "destination_registered");
    assert_eq!(why["offline_termination"], "no_agreement");
    // Reviewers still see every flow (their labels and states), without refusals.
    let r = app.get("/api/v1/flows", &w.school_tok).await;
    assert!(r.body["flows"].as_array().unwrap().len() >= 7, "{}", r.text);
    assert!(r.body.get("unavailable").is_none());
}

/// 去向登记管理 filtered by category and type (an indexed column), its export with the
/// category and type columns, and the province's read-only view.
async fn list_by_category_and_type(backend: Backend) {
    let hook = webhook::start().await;
    let app = spawn(backend, &hook).await;
    let w = world(&app, "school").await;
    let mut run = Run::new(&app, &w, &hook);
    let p = run.proof().await;
    let study_id = run.register(study(&p)).await;
    let wang = other_dept_graduate(&app, &w, "g-21", w.graduate_21).await;
    upload_roster(&app, vec![wang_wu()]).await;
    run.flow = "directed_supplement";
    run.graduate = wang;
    let p = run.proof().await;
    let directed_id = run.register(directed(Step::First, &p)).await;

    let ids = |r: &Resp| -> BTreeSet<i64> {
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let school = w.school_tok.clone();
    let list = |q: &str| format!("/api/v1/lists/destination?{q}");
    let r = app.get(&list(""), &school).await;
    assert_eq!(ids(&r), BTreeSet::from([study_id, directed_id]));
    assert_eq!(
        r.body["category_options"],
        json!(["其他就业", "升学", "未就业"]),
        "{}",
        r.text
    );
    assert!(
        r.body["type_options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["code"] == "801" && t["category"] == "升学"),
        "{}",
        r.text
    );
    let by_cat = app.get(&list("category=升学"), &school).await;
    assert_eq!(ids(&by_cat), BTreeSet::from([study_id]));
    let by_cat = app.get(&list("category=其他就业"), &school).await;
    assert_eq!(ids(&by_cat), BTreeSet::from([directed_id]));
    let by_type = app.get(&list("type=801,106"), &school).await;
    assert_eq!(ids(&by_type), BTreeSet::from([study_id, directed_id]));
    let none = app.get(&list("type=106&category=升学"), &school).await;
    assert_eq!(ids(&none), BTreeSet::new());
    for (q, field) in [("category=出国", "category"), ("type=999", "type")] {
        let r = app.get(&list(q), &school).await;
        r.refused(422, "invalid_filter");
        assert!(
            r.body["message"].as_str().unwrap().starts_with(field),
            "{}",
            r.text
        );
    }
    let r = app
        .get("/api/v1/lists/signing?category=升学", &school)
        .await;
    r.refused(422, "invalid_filter");

    // The export: the same query, with category and type columns.
    let rows = sheet(
        &app,
        "/api/v1/lists/destination/export?category=升学",
        &school,
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0][6..9],
        ["去向类别", "毕业去向类型", "单位或学校名称"]
    );
    assert_eq!(rows[1][0], "张三");
    assert_eq!(
        rows[1][6..9],
        ["升学", "考研", "南京大学"].map(String::from).as_slice()[..]
    );

    // The reviewer's detail view: the type, its fields as a reviewer reads them, the proof.
    let review = app
        .get(&format!("/api/v1/instances/{study_id}/review"), &school)
        .await;
    assert_eq!(review.status, 200, "{}", review.text);
    let kind = &review.body["type"];
    assert_eq!(
        (
            &kind["code"],
            &kind["label"],
            &kind["attributes"]["category"]
        ),
        (&json!("801"), &json!("考研"), &json!("升学")),
        "{}",
        review.text
    );
    let school_name = kind["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "school_name")
        .unwrap();
    assert_eq!(
        (&school_name["label"], &school_name["text"]),
        (&json!("升学院校"), &json!("南京大学"))
    );
    assert_eq!(
        review.body["files"][0]["field"], "proof_1",
        "{}",
        review.text
    );

    // The province reads the same list across its schools, and cannot act on it.
    let province = province_user(&app, "p32", "32").await;
    let r = app.get(&list("category=升学"), &province).await;
    assert_eq!(ids(&r), BTreeSet::from([study_id]));
    let r = act(&app, &province, study_id, "approve", json!({})).await;
    assert!(r.status == 403 || r.status == 409, "{}", r.text);
    assert_eq!(run.state(study_id).await, "reviewing");
}

/// A type the integrator adds through the admin API.
fn new_type() -> Value {
    json!({"code": "129", "label": "基层医疗卫生机构就业",
    "attributes": {"category": "其他就业", "national_code": "12", "invented": true, "employed": true},
    "form": [
        {"name": "employer_name", "label": "单位名称", "type": "text", "max": 100, "required": true},
        {"name": "proof_1", "label": "聘用证明图片", "type": "file", "accept": ["png", "jpg"], "max_kb": 300, "required": true}
    ]})
}

/// An integrator adds a destination type at run time; a graduate registers with it without a
/// restart. A broken catalogue is refused and the old one keeps serving; a type in use cannot
/// be removed; the stored catalogue outlives a restart and can be dropped again.
async fn catalogue_at_run_time(backend: Backend) {
    let hook = webhook::start().await;
    let mut app = spawn(backend, &hook).await;
    let w = world(&app, "school").await;
    let url = "/api/v1/admin/catalogues/destination_type";
    let before = app.get(url, &app.admin_token).await;
    let count = before.body["catalogue"]["entries"]
        .as_array()
        .unwrap()
        .len();
    let r = app
        .post(&format!("{url}/entries"), &w.school_tok, new_type())
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Added, then dropped again: the file serves.
    let mut unused = new_type();
    unused["code"] = json!("127");
    let r = app
        .post(&format!("{url}/entries"), &app.admin_token, unused)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.delete(&format!("{url}/stored"), &app.admin_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(url, &app.admin_token).await;
    assert_eq!(r.body["origin"], "file");
    assert_eq!(
        r.body["catalogue"]["entries"].as_array().unwrap().len(),
        count
    );

    let r = app
        .post(&format!("{url}/entries"), &app.admin_token, new_type())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["catalogue"]["entries"], count + 1);
    let r = app.get("/api/v1/admin/catalogues", &app.admin_token).await;
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "destination_type", "title": "毕业去向类型", "entries": count + 1, "origin": "stored"})),
        "{}",
        r.text
    );
    let r = app
        .post(&format!("{url}/entries"), &app.admin_token, new_type())
        .await;
    r.refused(409, "entry_exists");

    // The graduate registers with it: its own form, its proof required.
    let mut run = Run::new(&app, &w, &hook);
    let r = run
        .start(
            &w.graduate_tok.clone(),
            json!({"destination_type": "129", "employer_name": "南京市鼓楼区社区卫生服务中心"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["field"], "proof_1", "{}", r.text);
    let p = run.proof().await;
    let id = run
        .register(json!({"destination_type": "129", "employer_name": "南京市鼓楼区社区卫生服务中心", "proof_1": p}))
        .await;
    let r = app
        .get("/api/v1/lists/destination?type=129", &w.school_tok)
        .await;
    assert_eq!(r.body["total"], 1, "{}", r.text);

    // Broken: a wrong attribute type, an unknown field type. Refused, the old one serves.
    let mut bad_entry = new_type();
    bad_entry["code"] = json!("128");
    bad_entry["attributes"]["employed"] = json!("是");
    let r = app
        .post(&format!("{url}/entries"), &app.admin_token, bad_entry)
        .await;
    r.refused(422, "definitions_invalid");
    assert!(r.text.contains("employed"), "{}", r.text);
    let whole = app.get(url, &app.admin_token).await.body["catalogue"].clone();
    let mut duplicate = whole.clone();
    duplicate["entries"][1]["code"] = whole["entries"][0]["code"].clone();
    let r = app
        .put_text(url, &app.admin_token, &duplicate.to_string())
        .await;
    r.refused(422, "definitions_invalid");
    assert!(r.text.contains("code 重复"), "{}", r.text);
    let mut mistyped = whole.clone();
    mistyped["entries"][0]["form"][0]["type"] = json!("txt");
    let r = app
        .put_text(url, &app.admin_token, &mistyped.to_string())
        .await;
    r.refused(422, "catalogue_invalid");
    assert!(r.text.contains("未知类型 txt"), "{}", r.text);
    let r = app.put_text(url, &app.admin_token, "catalogue: [").await;
    r.refused(422, "catalogue_invalid");
    let now = app.get(url, &app.admin_token).await;
    assert_eq!(
        now.body["catalogue"]["entries"].as_array().unwrap().len(),
        count + 1
    );
    let p = run.proof().await;
    let r = run
        .start(
            &w.graduate_tok.clone(),
            json!({"destination_type": "11", "employer_name": "x", "proof_1": p}),
        )
        .await;
    assert_eq!(
        r.body["code"], "destination_registered",
        "the flow still runs: {}",
        r.text
    );

    // A type in use cannot be removed; a label can change.
    let mut without = now.body["catalogue"].clone();
    without["entries"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["code"] != "129");
    let r = app
        .put_text(url, &app.admin_token, &without.to_string())
        .await;
    r.refused(409, "entry_in_use");
    let mut renamed = now.body["catalogue"].clone();
    for e in renamed["entries"].as_array_mut().unwrap() {
        if e["code"] == "129" {
            e["label"] = json!("基层医疗卫生机构聘用");
        }
    }
    let r = app
        .put_text(url, &app.admin_token, &renamed.to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The item is given up; it still carries the type (its history shows what it was).
    let g = w.graduate_tok.clone();
    run.act(&g, id, "withdraw", json!({}), (200, "withdrawn"))
        .await;
    run.act(&g, id, "cancel", json!({}), (200, "cancelled"))
        .await;
    drop(run);

    // Stored: it outlives a restart. The file's version cannot come back while 129 is used.
    app.restart().await;
    let after = app.get(url, &app.admin_token).await;
    assert_eq!(after.body["origin"], "stored", "{}", after.text);
    let labels: Vec<&str> = after.body["catalogue"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "129")
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["基层医疗卫生机构聘用"]);
    let r = app.delete(&format!("{url}/stored"), &app.admin_token).await;
    r.refused(409, "entry_in_use");
    let audit = app.get("/api/v1/audit-log", &app.admin_token).await;
    assert!(audit.text.contains("catalogue.add_entry"), "{}", audit.text);
}

async fn destination_registration(backend: Backend) {
    lifecycle(backend, false).await
}

async fn directed_supplement(backend: Backend) {
    lifecycle(backend, true).await
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
    let mut run = Run::new(&app, &w, &hook);
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

    // A pending destination: no supplement, no online signing (an invitation, whether it came
    // before or arrives now, can only be declined), nothing to terminate.
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
    assert_eq!(r.status, 201, "{}", r.text);
    let late = r.body["id"].as_i64().unwrap();
    let r = act(&app, &g, late, "accept", json!({})).await;
    r.refused(422, "destination_registered");
    let r = act(&app, &g, late, "decline", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = act(&app, &g, inv_id, "accept", json!({})).await;
    r.refused(422, "destination_registered");
    let letter = run.proof().await;
    let r = app
        .post(
            "/api/v1/flows/offline_termination/instances",
            &g,
            json!({"input": {"termination_reason": "个人原因", "explanation": "解约", "letter_image": letter}}),
        )
        .await;
    r.refused(422, "no_agreement");

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
    r.refused(422, "agreement_exists");
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

both_backends!(
    type_rules,
    flows_offered,
    list_by_category_and_type,
    catalogue_at_run_time,
    switches,
    closing_date,
    destination_registration,
    directed_supplement,
    one_destination_across_flows
);
