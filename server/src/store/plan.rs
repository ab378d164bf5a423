//! A transition's plan: its statements built without the database, so that the writer's turn
//! holds only their execution (ARCHITECTURE.md, "the writer's turn runs statements").

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait, Set, Statement, TryIntoModel,
};
use serde_json::{json, Value};

use super::{Transition, STUDENT_PENDING_VAR, STUDENT_VAR};
use crate::entity::{action_link, document, history, instance, outbox, slot, task, timer};
use crate::error::{ApiError, ApiResult};

/// `update` of the instance `cur` as it was read, bumping its row version: it changes no row
/// when the row changed meanwhile (a concurrent decision won).
pub(super) fn versioned(
    update: sea_orm::UpdateMany<instance::Entity>,
    cur: &instance::Model,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<instance::Entity> {
    update
        .col_expr(
            instance::Column::RowVersion,
            Expr::value(cur.row_version + 1),
        )
        .col_expr(instance::Column::UpdatedAt, Expr::value(now))
        .filter(instance::Column::Id.eq(cur.id))
        .filter(instance::Column::RowVersion.eq(cur.row_version))
}

/// A transition's statements, built before the writer's turn, and what they store.
pub(super) struct Plan {
    /// The row as it stands once the statements ran.
    pub row: instance::Model,
    pub ops: Vec<Op>,
    /// Targeted events still to deliver: `(event, instance id)`.
    pub targeted: Vec<(String, i64)>,
}

/// One statement of a [`Plan`] and how its result is judged.
pub(super) enum Op {
    Exec(Statement),
    /// The instance update guarded by its `row_version`: no row changed is a conflict.
    Versioned(Statement),
    /// A slot claim: a unique violation is the slot taken.
    Claim(Statement, gradflow_engine::apply::SlotClaim),
}

/// Builds one transition's statements for instance `id` (chosen before, when it starts one)
/// with its drawn `numbers`: no database access, so it runs outside the writer's turn.
pub(super) fn plan(
    backend: DbBackend,
    t: Transition<'_>,
    id: i64,
    numbers: Vec<(String, String)>,
) -> ApiResult<Plan> {
    let Transition {
        snapshot,
        def,
        actor,
        current,
        parties,
        params,
        facts,
        mut outcome,
        now,
        link_base,
        uploads: _,
    } = t;
    let mut ops = Vec::new();
    // Numbers first: they become variables that documents and messages show.
    for (var, number) in numbers {
        outcome.vars.insert(var, Value::String(number));
    }
    // "Get latest student info" is applied when the review approves (SPEC.md 3).
    if outcome
        .decision
        .as_ref()
        .is_some_and(|d| d.decision == "approve")
        && outcome.from.as_deref() != Some(outcome.to.as_str())
    {
        if let Some(pending) = outcome.vars.remove(STUDENT_PENDING_VAR) {
            outcome.vars.insert(STUDENT_VAR.into(), pending);
        }
    }
    let vars = serde_json::to_string(&outcome.vars).map_err(ApiError::internal)?;
    let review = match &outcome.review {
        Some(r) => Some(serde_json::to_string(r).map_err(ApiError::internal)?),
        None => None,
    };
    let type_code = def
        .def
        .counted_by()
        .and_then(|t| outcome.vars.get(t))
        .and_then(Value::as_str)
        .map(str::to_string);
    // Where a new instance is counted: the graduate's major, level and cohort as it starts.
    let graduate_text = |k: &str| {
        facts["graduate"][k]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let row = match current {
        None => {
            let am = instance::ActiveModel {
                id: Set(id),
                type_code: Set(type_code),
                def_id: Set(def.def.id().to_string()),
                def_key: Set(def.def.key.clone()),
                module: Set(def.def.module.as_str().to_string()),
                list: Set(def.def.list.clone()),
                state: Set(outcome.to.clone()),
                label: Set(outcome.label.clone()),
                status_detail: Set(outcome.status_detail.clone()),
                review: Set(review),
                vars: Set(vars),
                params: Set(serde_json::to_string(params).map_err(ApiError::internal)?),
                province_code: Set(parties.province.clone()),
                school_id: Set(parties.school_id),
                department: Set(parties.department.clone()),
                graduate_id: Set(parties.graduate_id),
                employer_id: Set(parties.employer_id),
                major: Set(graduate_text("major")),
                education_level: Set(graduate_text("education_level")),
                cohort: Set(facts["graduate"]["cohort"].as_i64().unwrap_or(0) as i32),
                initiator: Set(parties.initiator.clone()),
                initiator_role: Set(actor.role.as_str().to_string()),
                is_final: Set(outcome.is_final),
                row_version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            };
            ops.push(Op::Exec(
                instance::Entity::insert(am.clone()).build(backend),
            ));
            am.try_into_model()?
        }
        Some(cur) => {
            let update = instance::Entity::update_many()
                .col_expr(instance::Column::State, Expr::value(outcome.to.clone()))
                .col_expr(instance::Column::Label, Expr::value(outcome.label.clone()))
                .col_expr(
                    instance::Column::StatusDetail,
                    Expr::value(outcome.status_detail.clone()),
                )
                .col_expr(instance::Column::Review, Expr::value(review.clone()))
                .col_expr(instance::Column::Vars, Expr::value(vars.clone()))
                .col_expr(instance::Column::TypeCode, Expr::value(type_code.clone()))
                .col_expr(instance::Column::IsFinal, Expr::value(outcome.is_final));
            ops.push(Op::Versioned(versioned(update, cur, now).build(backend)));
            // The row as it now stands, without reading it back.
            instance::Model {
                state: outcome.to.clone(),
                label: outcome.label.clone(),
                status_detail: outcome.status_detail.clone(),
                review,
                vars,
                type_code,
                is_final: outcome.is_final,
                row_version: cur.row_version + 1,
                updated_at: now,
                ..cur.clone()
            }
        }
    };
    // Written last: a school's counters are rows every transition of its items in the same
    // state updates, so their row locks (PostgreSQL) are held from here to the commit.
    let counted = super::counters::moved(backend, current, &row);
    let seq = row.row_version;
    let decision = outcome.decision.as_ref();
    ops.push(Op::Exec(
        history::Entity::insert(history::ActiveModel {
            instance_id: Set(id),
            seq: Set(seq),
            action: Set(outcome.action.clone()),
            actor_account_id: Set(actor.account_id),
            actor_role: Set(actor.role.as_str().to_string()),
            from_state: Set(outcome.from.clone()),
            to_state: Set(outcome.to.clone()),
            level: Set(decision.map(|d| d.level.as_str().to_string())),
            decision: Set(decision.map(|d| d.decision.clone())),
            reason_category: Set(decision.and_then(|d| d.reason_category.clone())),
            reason: Set(decision.and_then(|d| d.reason.clone())),
            input: Set(serde_json::to_string(&outcome.input).map_err(ApiError::internal)?),
            at: Set(now),
            ..Default::default()
        })
        .build(backend),
    ));

    // Acts on data already in force (a school's modify or void) also go to the audit log.
    // So do intakes that say so (data delivered from outside: the management system's flow-back).
    let audited = match current {
        Some(c) => def
            .def
            .state(&c.state)
            .and_then(|st| st.actions.get(&outcome.action))
            .is_some_and(|a| a.audit),
        None => outcome
            .action
            .strip_prefix("intake:")
            .is_some_and(|event| def.def.intake.iter().any(|i| i.event == event && i.audit)),
    };
    if audited {
        let entry = crate::audit::entry(
            actor,
            now,
            &format!("{}.{}", def.def.key, outcome.action),
            ("instance", id.to_string()),
            json!({
                "from": outcome.from,
                "to": outcome.to,
                "input": outcome.input,
                "graduate_id": parties.graduate_id,
            }),
        );
        ops.push(Op::Exec(
            crate::entity::audit_log::Entity::insert(entry).build(backend),
        ));
    }

    // Tasks: the open ones (a new instance has none) are replaced by those of the new state
    // (or review level).
    if current.is_some() {
        ops.push(Op::Exec(
            task::Entity::delete_many()
                .filter(task::Column::InstanceId.eq(id))
                .build(backend),
        ));
    }
    if !outcome.tasks.is_empty() {
        // A task is due when the state's first timer fires (an invitation's answer deadline).
        let due = outcome.timers.iter().map(|t| t.due).min();
        let kept_timers = current.is_some() && !outcome.cancel_timers;
        let rows = outcome.tasks.iter().map(|ts| task::ActiveModel {
            instance_id: Set(id),
            role: Set(ts.role.as_str().to_string()),
            province_code: Set(parties.province.clone()),
            school_id: Set(parties.school_id),
            // The department a department task is for; any other task carries the
            // instance's, so that every inbox sorts and filters by department through its
            // indexes (`idx_tasks_school_role_department`, migration 10).
            department: Set(Some(
                ts.department
                    .clone()
                    .unwrap_or_else(|| parties.department.clone()),
            )),
            graduate_id: Set(parties.graduate_id),
            employer_id: Set(parties.employer_id),
            def_key: Set(def.def.key.clone()),
            state: Set(outcome.to.clone()),
            opened_at: Set(now),
            due_at: Set(due),
            ..Default::default()
        });
        ops.push(Op::Exec(task::Entity::insert_many(rows).build(backend)));
        if due.is_none() && kept_timers {
            // The state's timers stay as they were (a step that keeps them): the new tasks
            // are due when they are.
            ops.push(Op::Exec(crate::db::portable(
                backend,
                "UPDATE tasks SET due_at = (SELECT MIN(due_at) FROM timers \
                 WHERE instance_id = ?) WHERE instance_id = ?",
                vec![id.into(), id.into()],
            )));
        }
    }

    if outcome.cancel_timers && current.is_some() {
        ops.push(Op::Exec(
            timer::Entity::delete_many()
                .filter(timer::Column::InstanceId.eq(id))
                .build(backend),
        ));
    }
    if !outcome.timers.is_empty() {
        let rows = outcome.timers.iter().map(|ts| timer::ActiveModel {
            instance_id: Set(id),
            action: Set(ts.action.clone()),
            state: Set(outcome.to.clone()),
            due_at: Set(ts.due),
            claimed_until: Set(None),
            ..Default::default()
        });
        ops.push(Op::Exec(timer::Entity::insert_many(rows).build(backend)));
    }

    if !outcome.release.is_empty() && current.is_some() {
        ops.push(Op::Exec(
            slot::Entity::delete_many()
                .filter(slot::Column::InstanceId.eq(id))
                .filter(slot::Column::SlotKey.is_in(outcome.release.clone()))
                .build(backend),
        ));
    }
    for claim in &outcome.acquire {
        let insert = slot::Entity::insert(slot::ActiveModel {
            slot_key: Set(claim.key.clone()),
            slot: Set(claim.slot.clone()),
            instance_id: Set(id),
            graduate_id: Set(parties.graduate_id),
            acquired_at: Set(now),
            ..Default::default()
        });
        ops.push(Op::Claim(insert.build(backend), claim.clone()));
    }

    // The effects as commands (documents, messages, link requests), then their rows.
    let commands = crate::effects::resolve(crate::effects::Transition {
        id,
        seq,
        snapshot,
        def,
        outcome: &outcome,
        facts,
        parties,
        now,
        link_base,
    })?;
    for l in &commands.links {
        let link = action_link::ActiveModel {
            token_hash: Set(l.token_hash.clone()),
            instance_id: Set(id),
            action: Set(l.action.clone()),
            state: Set(outcome.to.clone()),
            expires_at: Set(l.expires_at),
            used_at: Set(None),
            created_at: Set(now),
        };
        ops.push(Op::Exec(action_link::Entity::insert(link).build(backend)));
    }
    for d in commands.documents {
        // A document of the same name is replaced (one statement: an upsert on its key).
        let upsert = document::Entity::insert(document::ActiveModel {
            instance_id: Set(id),
            name: Set(d.name),
            content: Set(d.content),
            rendered_at: Set(now),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                document::Column::InstanceId,
                document::Column::Name,
            ])
            .update_columns([document::Column::Content, document::Column::RenderedAt])
            .to_owned(),
        );
        ops.push(Op::Exec(upsert.build(backend)));
    }
    if !commands.messages.is_empty() {
        let rows = commands.messages.into_iter().map(|m| outbox::ActiveModel {
            instance_id: Set(Some(id)),
            kind: Set(m.kind.to_string()),
            channel: Set(m.channel),
            idempotency_key: Set(m.key),
            payload: Set(m.payload.to_string()),
            attempts: Set(0),
            next_attempt_at: Set(now.min(Utc::now())),
            delivered_at: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
        ops.push(Op::Exec(outbox::Entity::insert_many(rows).build(backend)));
    }
    ops.extend(counted.map(Op::Exec));
    Ok(Plan {
        row,
        ops,
        targeted: commands.targeted,
    })
}
