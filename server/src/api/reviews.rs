//! Batch review (批量审核) and quick review (快速审核) of a management list (seed 002 7): many
//! ordinary review decisions in one request, answered item by item.

use gradflow_engine::definition::REJECT;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use super::{answers, FieldProblem, Tag, Token};
use crate::entity::instance;
use crate::error::ApiResult;
use crate::service::State;
use crate::services::reviews;

/// One item of a batch review: the application and the version the reviewer saw.
#[derive(Object, Debug)]
pub struct BatchItem {
    /// The instance (the application's `id` in the list).
    pub instance_id: i64,
    /// The `row_version` the reviewer saw; a different current version answers 409 for this
    /// item.
    pub expected_version: Option<i32>,
}

/// What a batch review takes.
#[derive(Object, Debug)]
#[oai(example)]
pub struct BatchReviewRequest {
    /// `approve` (审核通过) or `reject` (审核不通过); the inbox's bulk decision also takes
    /// `return` (退回修改).
    pub decision: String,
    /// The decision's input, the same for every item: for `reject` and `return` the one
    /// reason (`reason_category` from the state's reasons, `reason` 具体问题); for `approve`
    /// an optional `comment`.
    #[oai(default)]
    pub input: Value,
    /// The selected applications (at most 200).
    pub items: Vec<BatchItem>,
}

impl poem_openapi::types::Example for BatchReviewRequest {
    fn example() -> Self {
        BatchReviewRequest {
            decision: REJECT.into(),
            input: serde_json::json!({
                "reason_category": "档案接收信息有误",
                "reason": "接收单位地址不完整，请补充后重新提交"
            }),
            items: vec![BatchItem {
                instance_id: 1024,
                expected_version: Some(1),
            }],
        }
    }
}

/// How one item fared.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReviewItemResult {
    /// The instance.
    pub instance_id: i64,
    /// The graduate's name (quick review).
    pub graduate_name: Option<String>,
    /// The graduate's candidate number (quick review).
    pub candidate_no: Option<String>,
    /// `decided`, or `conflict` (someone decided or changed it meanwhile: 409) or `refused`.
    pub outcome: String,
    /// The status this item alone would have answered (200, 403, 404, 409, 422).
    pub status: u16,
    /// The state after the decision.
    pub state: Option<String>,
    /// The status text after the decision.
    pub label: Option<String>,
    /// The version after the decision.
    pub row_version: Option<i32>,
    /// Why it was not decided: a stable machine code.
    pub code: Option<String>,
    /// Why it was not decided, in Chinese.
    pub message: Option<String>,
    /// Per field, when the input was refused.
    pub errors: Vec<FieldProblem>,
}

fn item_result(
    instance_id: i64,
    graduate: Option<(String, String)>,
    result: ApiResult<instance::Model>,
) -> ReviewItemResult {
    let (graduate_name, candidate_no) = graduate.unzip();
    match result {
        Ok(row) => ReviewItemResult {
            instance_id,
            graduate_name,
            candidate_no,
            outcome: "decided".into(),
            status: 200,
            state: Some(row.state),
            label: Some(row.label),
            row_version: Some(row.row_version),
            code: None,
            message: None,
            errors: Vec::new(),
        },
        Err(e) => ReviewItemResult {
            instance_id,
            graduate_name,
            candidate_no,
            outcome: if e.status.as_u16() == 409 {
                "conflict"
            } else {
                "refused"
            }
            .into(),
            status: e.status.as_u16(),
            state: None,
            label: None,
            row_version: None,
            code: Some(e.body.code),
            message: Some(e.body.message),
            errors: e
                .body
                .errors
                .into_iter()
                .map(|f| FieldProblem {
                    field: f.field,
                    label: f.label,
                    code: f.code,
                    message: f.message,
                })
                .collect(),
        },
    }
}

/// Runs one batch (`flows`, the `allowed` decisions) of the request and reports it per item.
async fn decide(
    state: &State,
    c: &crate::auth::Caller,
    flows: &[String],
    allowed: &[&str],
    body: BatchReviewRequest,
) -> ApiResult<BatchReviewReport> {
    let items: Vec<(i64, Option<i32>)> = body
        .items
        .iter()
        .map(|i| (i.instance_id, i.expected_version))
        .collect();
    let outcomes = reviews::batch(
        state,
        c,
        flows,
        allowed,
        &body.decision,
        &body.input,
        &items,
    )
    .await?;
    let items: Vec<ReviewItemResult> = outcomes
        .into_iter()
        .map(|o| item_result(o.instance_id, None, o.result))
        .collect();
    let decided = items.iter().filter(|i| i.status == 200).count() as u64;
    Ok(BatchReviewReport {
        decision: body.decision,
        decided,
        failed: items.len() as u64 - decided,
        items,
    })
}

/// The answer of a batch review.
#[derive(Object)]
pub struct BatchReviewReport {
    /// The decision taken.
    pub decision: String,
    /// How many items were decided.
    pub decided: u64,
    /// How many were not (conflicts and refusals).
    pub failed: u64,
    /// Per item, in the order asked.
    pub items: Vec<ReviewItemResult>,
}

/// The answer of a quick review.
#[derive(Object)]
pub struct QuickReviewReport {
    /// How many applications were approved.
    pub approved: u64,
    /// How many were left for an ordinary review.
    pub left: u64,
    /// The approved ones.
    pub approved_items: Vec<ReviewItemResult>,
    /// The ones left, each with why (`not_back_to_origin`, `origin_mismatch`, …).
    pub left_items: Vec<ReviewItemResult>,
}

answers! {
    /// The answers of `POST /lists/{list}/batch-review`.
    pub enum BatchReviewAnswer {
        /// Each item decided or refused.
        200 Ok(Json<BatchReviewReport>),
        errors:
        /// The body does not parse (`invalid_request`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school, department or province user, or without 读写 in the list's module
        /// (`forbidden`).
        403 Forbidden,
        /// No such list (`not_found`).
        404 NotFound,
        /// Not `application/json` (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The decision is not approve or reject, no items, more than 200 or one twice
        /// (`invalid_decision`, `no_items`, `too_many_items`, `duplicate_item`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /tasks/bulk-decision`.
    pub enum BulkDecisionAnswer {
        /// Each item decided or refused.
        200 Ok(Json<BatchReviewReport>),
        errors:
        /// The body does not parse (`invalid_request`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school, department or province user with 读写 in some module (`forbidden`).
        403 Forbidden,
        /// Not `application/json` (`unsupported_media_type`).
        415 UnsupportedMediaType,
        /// The decision is not approve, return or reject, no items, more than 200 or one twice
        /// (`invalid_decision`, `no_items`, `too_many_items`, `duplicate_item`).
        422 Invalid,
    }
}

answers! {
    /// The answers of `POST /lists/{list}/quick-review`.
    pub enum QuickReviewAnswer {
        /// What was approved and what was left.
        200 Ok(Json<QuickReviewReport>),
        errors:
        /// The list does not parse (`invalid_path_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a school, department or province user, or without 读写 in the list's module
        /// (`forbidden`).
        403 Forbidden,
        /// No such list (`not_found`).
        404 NotFound,
        /// The list's reviews have no quick review (`no_quick_review`).
        422 Invalid,
    }
}

pub struct ReviewsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Flows")]
impl ReviewsApi {
    /// 批量审核: approve or reject the selected applications with one reason.
    ///
    /// Each selected item gets the same decision and input as if reviewed alone — its own
    /// transaction, history, tasks, syncs and notifications — at the caller's review level (a
    /// department's approval in the two-level mode still goes to the school). An item someone
    /// else decided or changed meanwhile answers 409 in its result and the others are decided
    /// all the same.
    #[oai(
        path = "/lists/:list/batch-review",
        method = "post",
        operation_id = "reviews_batch"
    )]
    async fn batch(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The list (`archive` 档案信息登记, `hukou` 户口信息登记, `signing`, …).
        list: Path<String>,
        body: Json<BatchReviewRequest>,
    ) -> poem::Result<BatchReviewAnswer> {
        let (c, m) = super::lists::open(&state, &auth, &list).await?;
        c.require_write(m.module)?;
        Ok(BatchReviewAnswer::Ok(Json(
            decide(&state, &c, &m.flows, &reviews::LIST_DECISIONS, body.0).await?,
        )))
    }

    /// 批量办理: one decision on the selected tasks of the inbox, whatever their flow.
    ///
    /// `approve` (审核通过), `return` (退回修改, where the item's review offers it) or `reject`
    /// (审核不通过) with one reason for every selected item; each item is decided as if alone —
    /// its own transaction, history (the reason recorded per item), tasks and effects — at
    /// the caller's review level. An item someone else decided or changed meanwhile answers
    /// 409 in its result, one the caller may not decide 403/422, and the others are decided
    /// all the same.
    #[oai(
        path = "/tasks/bulk-decision",
        method = "post",
        operation_id = "tasks_bulk_decision"
    )]
    async fn bulk(
        &self,
        state: Data<&State>,
        auth: Token,
        body: Json<BatchReviewRequest>,
    ) -> poem::Result<BulkDecisionAnswer> {
        let c = super::caller(&state, &auth).await?;
        super::lists::reviewer(&c)?;
        use crate::auth::Level;
        use gradflow_engine::definition::Module;
        if [Module::Employment, Module::Archive, Module::Hukou]
            .iter()
            .all(|m| c.level(*m) != Level::ReadWrite)
        {
            return Err(crate::error::ApiError::forbidden(
                "你的账号没有任何模块的读写权限，不能办理审核",
            )
            .into());
        }
        let flows: Vec<String> = state.registry.snapshot().keys();
        Ok(BulkDecisionAnswer::Ok(Json(
            decide(&state, &c, &flows, &reviews::INBOX_DECISIONS, body.0).await?,
        )))
    }

    /// 快速审核: approve every pending application the list's quick review accepts.
    ///
    /// 档案信息登记 only: every application waiting for the caller's review whose transfer type is
    /// 转回生源地 and whose receiving region is the graduate's origin (生源所在地) is approved, each as
    /// an ordinary approval; the answer counts them and lists the others with why they were left.
    #[oai(
        path = "/lists/:list/quick-review",
        method = "post",
        operation_id = "reviews_quick"
    )]
    async fn quick(
        &self,
        state: Data<&State>,
        auth: Token,
        /// The list (`archive`).
        list: Path<String>,
    ) -> poem::Result<QuickReviewAnswer> {
        let (c, m) = super::lists::open(&state, &auth, &list).await?;
        c.require_write(m.module)?;
        let snap = state.registry.snapshot();
        let quick_states: Vec<(String, String)> = m
            .flows
            .iter()
            .filter_map(|k| snap.active(k, c.actor.province.as_deref()))
            .flat_map(|d| {
                d.def
                    .quick_review_states()
                    .into_iter()
                    .map(|(s, _)| (d.def.key.clone(), s.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let done = reviews::quick(&state, &c, &quick_states).await?;
        let (mut approved_items, mut left_items) = (Vec::new(), Vec::new());
        for q in done {
            let r = item_result(
                q.instance_id,
                Some((q.graduate_name, q.candidate_no)),
                q.result,
            );
            if r.status == 200 {
                approved_items.push(r);
            } else {
                left_items.push(r);
            }
        }
        Ok(QuickReviewAnswer::Ok(Json(QuickReviewReport {
            approved: approved_items.len() as u64,
            left: left_items.len() as u64,
            approved_items,
            left_items,
        })))
    }
}
