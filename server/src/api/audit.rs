//! The audit log (操作日志) in the caller's scope: settings, permissions, accounts, roster
//! changes, warning employers, and a school's acts on approved data (modify, void, forced and
//! unilateral terminations).

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use serde_json::{json, Value};

use super::{caller, Tag, Token};
use crate::auth::AccountRole;
use crate::service::State;
use crate::services::accounts as service;
use gradflow_engine::definition::Module;

pub struct AuditApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Accounts")]
impl AuditApi {
    /// Audit records, newest first.
    ///
    /// Audit records, newest first: a province user sees its province's, a school user its
    /// school's.
    ///
    /// Filters: `target_kind` with `target_id` (e.g. `instance` and an id), `action`.
    #[oai(path = "/audit-log", method = "get", operation_id = "audit_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&State>,
        auth: Token,
        target_kind: Query<Option<String>>,
        target_id: Query<Option<String>>,
        action: Query<Option<String>>,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> poem::Result<Json<Value>> {
        let c = caller(&state, &auth).await?;
        if matches!(c.role, AccountRole::Province | AccountRole::School) {
            // The records show signing data: the employment module's level decides.
            c.require_view(Module::Employment)?;
        }
        let p = service::list_audit_records(
            &state,
            &c,
            target_kind.0,
            target_id.0,
            action.0,
            page.0,
            page_size.0,
        )
        .await?;
        let items: Vec<Value> = p
            .rows
            .into_iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "at": r.at.to_rfc3339(),
                    "account_id": r.account_id,
                    "action": r.action,
                    "target_kind": r.target_kind,
                    "target_id": r.target_id,
                    "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null),
                })
            })
            .collect();
        Ok(Json(
            json!({"total": p.total, "page": p.page, "page_size": p.size, "items": items}),
        ))
    }
}
