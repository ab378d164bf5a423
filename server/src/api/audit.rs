//! The audit log (操作日志) in the caller's scope: settings, permissions, accounts, roster
//! changes, warning employers, and a school's acts on approved data (modify, void, forced and
//! unilateral terminations).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use super::{answers, caller, page_of, Tag, Token};
use crate::auth::AccountRole;
use crate::paging::Sort;
use crate::service::State;
use crate::services::accounts as service;
use gradflow_engine::definition::Module;

/// One audit record: who did what to what, when.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditRecordView {
    /// The record's id.
    pub id: i64,
    /// When it was done.
    pub at: DateTime<Utc>,
    /// The account that did it (0 for the administrator's token or the system).
    pub account_id: i64,
    /// What was done (`province.settings`, `school.settings.signing`, `account.create`,
    /// `account.permissions`,
    /// `api_key.create`, `api_key.revoke`, `roster.import`, `roster.delete`,
    /// `roster.restore`, `warning.mark`, `warning.unmark`, or a flow's audited action such as
    /// `online_termination.force`).
    pub action: String,
    /// The kind of what it was done to (`instance`, `account`, `employer`, `graduate`,
    /// `roster`, `school`, …).
    pub target_kind: String,
    /// Which one (its id or key, as text).
    pub target_id: String,
    /// The act's detail (per action: the reason, the changes with before and after, counts).
    pub detail: Option<Value>,
}

page_of! {
    /// A page of audit records.
    pub struct AuditPage(AuditRecordView);
}

/// The keys `GET /audit-log` sorts by (`at` orders by id: records are written in time order).
pub const AUDIT_SORT: [&str; 1] = ["at"];

answers! {
    /// The answers of `GET /audit-log`.
    pub enum AuditListAnswer {
        /// A page of audit records.
        200 Ok(Json<AuditPage>),
        errors:
        /// A parameter does not parse or is not one the list takes (`invalid_parameter`,
        /// `unknown_parameter`).
        400 BadRequest,
        /// No or an unknown token (`unauthorized`).
        401 Unauthorized,
        /// Not a province or school user (or the administrator), or without the employment
        /// module (`forbidden`).
        403 Forbidden,
        /// Paging or order out of bounds (`invalid_page`, `invalid_page_size`, `invalid_sort`),
        /// or `control_character`.
        422 Invalid,
    }
}

pub struct AuditApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Accounts")]
impl AuditApi {
    /// Audit records (操作日志) in the caller's scope, newest first by default.
    ///
    /// A province user sees its province's records, a school user its school's (both need the
    /// employment module), the administrator all; other callers are refused. Filtered by what
    /// was done to (`target_kind` with `target_id`) and by `action`.
    #[oai(path = "/audit-log", method = "get", operation_id = "audit_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        /// Only records about this kind of target (`instance`, `account`, `employer`, …).
        target_kind: Query<Option<String>>,
        /// Only records about this target (its id, with `target_kind`).
        target_id: Query<Option<String>>,
        /// Only records of this action (`api_key.create`, `online_termination.force`, …).
        action: Query<Option<String>>,
        /// Order: `at` (the default `-at`, newest first); `-` before the key for descending.
        sort: Query<Option<String>>,
        /// The page, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u64>>,
        /// Items per page (20 by default, at most 200).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        page_size: Query<Option<u64>>,
    ) -> poem::Result<AuditListAnswer> {
        let c = caller(&state, &auth).await?;
        if matches!(c.role, AccountRole::Province | AccountRole::School) {
            // The records show signing data: the employment module's level decides.
            c.require_view(Module::Employment)?;
        }
        let sort = Sort::parse(sort.0.as_deref(), &AUDIT_SORT, "-at")?;
        let p = service::list_audit_records(
            &state,
            &c,
            target_kind.0,
            target_id.0,
            action.0,
            sort,
            page.0,
            page_size.0,
        )
        .await?;
        let items = p
            .rows
            .into_iter()
            .map(|r| AuditRecordView {
                id: r.id,
                at: r.at,
                account_id: r.account_id,
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                detail: serde_json::from_str::<Value>(&r.detail)
                    .ok()
                    .filter(|v| !v.is_null()),
            })
            .collect();
        Ok(AuditListAnswer::Ok(Json(AuditPage {
            total: p.total,
            page: p.page,
            page_size: p.size,
            items,
        })))
    }
}
