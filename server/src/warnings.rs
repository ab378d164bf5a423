//! Warning employers (预警单位, SPEC.md 5): a school marks an employer with a reason; its own
//! graduates and reviewers are warned wherever the employer is shown; when enough schools
//! marked it, everyone is warned. "Enough" is the Rhai script `scripts/warnings/nationwide.rhai`.

use std::collections::{BTreeMap, HashMap};

use gradflow_engine::apply::GuardRunner;
use gradflow_engine::script::{GuardVerdict, ScriptContext};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::entity::employer_warning;
use crate::error::{ApiError, ApiResult};
use crate::service::AppState;

/// The script deciding whether a warning is shown nationwide.
pub const NATIONWIDE_SCRIPT: &str = "warnings/nationwide";

/// The active marks of some employers: employer → (school → reason). One query.
pub async fn active_marks(
    state: &AppState,
    employer_ids: &[i64],
) -> ApiResult<HashMap<i64, BTreeMap<i64, String>>> {
    let mut out: HashMap<i64, BTreeMap<i64, String>> = HashMap::new();
    if employer_ids.is_empty() {
        return Ok(out);
    }
    let db = &state.db;
    let mut ids = employer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // Marks in process where current (`db::cache`; an employer without marks is kept as an
    // empty map), the others in one query per 500.
    let marks = db
        .rows
        .marks
        .get_many(db, ids, |missing| async move {
            let mut found: HashMap<i64, BTreeMap<i64, String>> =
                missing.iter().map(|id| (*id, BTreeMap::new())).collect();
            for chunk in missing.chunks(500) {
                let rows = employer_warning::Entity::find()
                    .filter(employer_warning::Column::EmployerId.is_in(chunk.iter().copied()))
                    .filter(employer_warning::Column::Active.eq(true))
                    .all(&db.conn)
                    .await?;
                for r in rows {
                    found
                        .entry(r.employer_id)
                        .or_default()
                        .insert(r.school_id, r.reason);
                }
            }
            Ok::<_, sea_orm::DbErr>(found.into_iter().collect())
        })
        .await?;
    out.extend(marks.into_iter().filter(|(_, m)| !m.is_empty()));
    Ok(out)
}

/// Whether a warning marked by `schools` schools is shown nationwide (the Rhai rule).
pub fn nationwide(state: &AppState, schools: usize) -> ApiResult<bool> {
    let snap = state.registry.snapshot();
    let facts = json!({ "schools_marking": schools });
    let null = Value::Null;
    let ctx = ScriptContext {
        input: &null,
        vars: &null,
        actor: &null,
        params: &null,
        facts: &facts,
        now: &null,
    };
    match snap.run_guard(NATIONWIDE_SCRIPT, &ctx) {
        Ok(GuardVerdict::Allow) => Ok(true),
        Ok(GuardVerdict::Deny { .. }) => Ok(false),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The warning an employer carries, as a viewer sees it.
#[derive(poem_openapi::Object, Debug, Clone, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct WarningView {
    /// Whether the viewer's own school marked the employer.
    pub marked_by_own_school: bool,
    /// The own school's reason, when it marked the employer.
    pub own_reason: Option<String>,
    /// How many schools mark the employer.
    pub schools_marking: u64,
    /// Whether the warning is shown to everyone (enough schools marked it).
    pub nationwide: bool,
    /// The warning as shown (请谨慎签约 …).
    pub message: String,
}

/// The warning an employer carries for a viewer at `viewer_school` (`None` = no own school,
/// e.g. a province user or the administrator, who see every mark). `None` when nothing is
/// shown to that viewer.
pub fn warning_for(
    state: &AppState,
    marks: Option<&BTreeMap<i64, String>>,
    viewer_school: Option<i64>,
    sees_all: bool,
) -> ApiResult<Option<WarningView>> {
    let Some(marks) = marks.filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    let schools = marks.len();
    let everywhere = nationwide(state, schools)?;
    let own = viewer_school.and_then(|s| marks.get(&s));
    if own.is_none() && !everywhere && !sees_all {
        return Ok(None);
    }
    let message = match own {
        Some(reason) => format!("该单位已被本校标记为预警单位（{reason}），请谨慎签约"),
        None if everywhere => {
            format!("该单位已被 {schools} 所学校标记为预警单位，请谨慎签约")
        }
        None => format!("该单位已被 {schools} 所学校标记为预警单位"),
    };
    Ok(Some(WarningView {
        marked_by_own_school: own.is_some(),
        own_reason: own.cloned(),
        schools_marking: schools as u64,
        nationwide: everywhere,
        message,
    }))
}
