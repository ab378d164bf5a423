//! The statistics' counters (`stat_counts`, migrations 12 and 14), kept in the transaction of
//! the change they count, so that every counter always equals the recount of its rows. The
//! statistics read them, and so do the management lists' totals (`services::lists`).
//!
//! - An instance is counted under the key of its own row (school, cohort, department, major,
//!   education level, flow, state, destination type, list, status label) at two grains: per
//!   department, major and education level (`1`), and per school (`0`). A transition moves one
//!   count from the old key to the new one: one upsert adding each key's delta
//!   (`n + excluded.n`), nothing when the key did not change.
//! - The roster's counts (`_roster`) are recounted for the school in the transaction of each
//!   roster change (an import's batch, a removal, a restore, an edit): a school's roster is a
//!   few thousand index entries, and a change of the roster is rare next to transitions.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{DbBackend, Statement};

use crate::entity::{instance, stat_count};

/// The `def_key` of the roster's counts.
pub const ROSTER: &str = "_roster";

/// A counter's key: `(school, cohort, grain, department, major, education level, flow, state,
/// type, list, label)`.
type Key = (
    i64,
    i32,
    i16,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn keys_of(row: &instance::Model) -> [Key; 2] {
    let (flow, state, ty) = (
        row.def_key.clone(),
        row.state.clone(),
        row.type_code.clone().unwrap_or_default(),
    );
    let (list, label) = (row.list.clone().unwrap_or_default(), row.label.clone());
    let detail = (
        row.school_id,
        row.cohort,
        1,
        row.department.clone(),
        row.major.clone(),
        row.education_level.clone(),
        flow.clone(),
        state.clone(),
        ty.clone(),
        list.clone(),
        label.clone(),
    );
    let school = (
        row.school_id,
        row.cohort,
        0,
        String::new(),
        String::new(),
        String::new(),
        flow,
        state,
        ty,
        list,
        label,
    );
    [detail, school]
}

/// The statement moving the counts of an instance from `old` (`None`: it is new) to `new`;
/// `None` when no count changes.
pub(super) fn moved(
    backend: DbBackend,
    old: Option<&instance::Model>,
    new: &instance::Model,
) -> Option<Statement> {
    let mut deltas: BTreeMap<Key, i64> = BTreeMap::new();
    for k in keys_of(new) {
        *deltas.entry(k).or_default() += 1;
    }
    if let Some(old) = old {
        for k in keys_of(old) {
            *deltas.entry(k).or_default() -= 1;
        }
    }
    deltas.retain(|_, d| *d != 0);
    if deltas.is_empty() {
        return None;
    }
    use stat_count::Column as C;
    let mut q = Query::insert();
    q.into_table(stat_count::Entity).columns([
        C::ProvinceCode,
        C::SchoolId,
        C::Cohort,
        C::Grain,
        C::Department,
        C::Major,
        C::EducationLevel,
        C::DefKey,
        C::State,
        C::TypeCode,
        C::List,
        C::Label,
        C::N,
    ]);
    for ((school, cohort, grain, dept, major, level, def_key, st, ty, list, label), d) in deltas {
        q.values_panic([
            new.province_code.clone().into(),
            school.into(),
            cohort.into(),
            grain.into(),
            dept.into(),
            major.into(),
            level.into(),
            def_key.into(),
            st.into(),
            ty.into(),
            list.into(),
            label.into(),
            d.into(),
        ]);
    }
    q.on_conflict(
        OnConflict::columns([
            C::SchoolId,
            C::Cohort,
            C::Grain,
            C::Department,
            C::Major,
            C::EducationLevel,
            C::DefKey,
            C::State,
            C::TypeCode,
            C::List,
            C::Label,
        ])
        .value(C::N, Expr::cust("stat_counts.n + excluded.n"))
        .to_owned(),
    );
    Some(backend.build(&q))
}

const INTO: &str = "INSERT INTO stat_counts (province_code, school_id, cohort, grain, \
                    department, major, education_level, def_key, state, type_code, list, label, \
                    n) ";

/// The two inserts counting the roster (graduates not removed) at both grains, of the
/// graduates `filter` selects (`AND …`, or nothing for every school).
fn roster_counts(filter: &str) -> [String; 2] {
    [
        format!(
            "{INTO}SELECT province_code, school_id, cohort, 1, department, major, \
             education_level, '{ROSTER}', 'on_roster', '', '', '', COUNT(*) FROM graduates \
             WHERE removed = false{filter} \
             GROUP BY province_code, school_id, cohort, department, major, education_level"
        ),
        format!(
            "{INTO}SELECT province_code, school_id, cohort, 0, '', '', '', '{ROSTER}', \
             'on_roster', '', '', '', COUNT(*) FROM graduates WHERE removed = false{filter} \
             GROUP BY province_code, school_id, cohort"
        ),
    ]
}

/// The statements recounting school `school_id`'s roster (graduates not removed), at both
/// grains.
pub fn roster_recount(backend: DbBackend, school_id: i64) -> Vec<Statement> {
    let stmt = |sql: &str| crate::db::portable(backend, sql, vec![sea_orm::Value::from(school_id)]);
    let [detail, school] = roster_counts(" AND school_id = ?");
    vec![
        stmt(&format!(
            "DELETE FROM stat_counts WHERE school_id = ? AND def_key = '{ROSTER}'"
        )),
        stmt(&detail),
        stmt(&school),
    ]
}

/// Recounts school `school_id`'s roster inside `txn` (the roster change's own transaction).
pub async fn recount_roster(
    txn: &crate::db::WriteTx,
    school_id: i64,
) -> crate::error::ApiResult<()> {
    use sea_orm::ConnectionTrait;
    for s in roster_recount(txn.get_database_backend(), school_id) {
        txn.execute(s).await?;
    }
    Ok(())
}

/// The statements rebuilding every counter from the rows it counts — the instances at both
/// grains and every school's roster — for rows written in bulk outside transitions (the
/// season generator, [`crate::season`]).
pub fn rebuild(backend: DbBackend) -> Vec<Statement> {
    let [roster_detail, roster_school] = roster_counts("");
    [
        "DELETE FROM stat_counts".to_string(),
        format!(
            "{INTO}SELECT province_code, school_id, cohort, 1, department, major, \
             education_level, def_key, state, COALESCE(type_code, ''), COALESCE(list, ''), \
             label, COUNT(*) FROM instances \
             GROUP BY province_code, school_id, cohort, department, major, education_level, \
             def_key, state, COALESCE(type_code, ''), COALESCE(list, ''), label"
        ),
        format!(
            "{INTO}SELECT province_code, school_id, cohort, 0, '', '', '', def_key, state, \
             COALESCE(type_code, ''), COALESCE(list, ''), label, COUNT(*) FROM instances \
             GROUP BY province_code, school_id, cohort, def_key, state, COALESCE(type_code, ''), \
             COALESCE(list, ''), label"
        ),
        roster_detail,
        roster_school,
    ]
    .iter()
    .map(|sql| crate::db::portable(backend, sql, Vec::new()))
    .collect()
}
