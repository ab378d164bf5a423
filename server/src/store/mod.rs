//! Persisting a transition: one database transaction writes the instance (with an optimistic
//! `row_version` check), its history row, tasks, timers, slots, numbers, documents and outbox
//! rows together. Either all of it is stored or none of it.

use chrono::{DateTime, Utc};
use gradflow_engine::apply::{
    self, china_offset, Actor, Ctx, Instance, Outcome, Parties, ReviewPos,
};
use gradflow_engine::definition::EffectDef;
use gradflow_engine::registry::{LoadedDefinition, Snapshot};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};
use serde_json::{Map, Value};

pub mod bulk;
pub mod counters;
mod plan;

use crate::db::{Db, WriteTx};
use crate::entity::{history, instance, slot, upload};
use crate::error::{ApiError, ApiResult};
use plan::{plan, versioned, Op, Plan};

/// Reads an instance row into the engine's view of it.
pub fn to_engine(row: &instance::Model) -> ApiResult<Instance> {
    let parse = |s: &str| -> ApiResult<Map<String, Value>> {
        serde_json::from_str(s).map_err(ApiError::internal)
    };
    let review: Option<ReviewPos> = match &row.review {
        Some(r) => Some(serde_json::from_str(r).map_err(ApiError::internal)?),
        None => None,
    };
    Ok(Instance {
        state: row.state.clone(),
        review,
        vars: parse(&row.vars)?,
        params: parse(&row.params)?,
        parties: parties_of(row),
        timers: Vec::new(),
    })
}

pub fn parties_of(row: &instance::Model) -> Parties {
    Parties {
        province: row.province_code.clone(),
        school_id: row.school_id,
        department: row.department.clone(),
        graduate_id: row.graduate_id,
        employer_id: row.employer_id,
        initiator: row.initiator.clone(),
    }
}

/// What the service hands the store for one transition.
pub struct Transition<'a> {
    pub snapshot: &'a Snapshot,
    pub def: &'a LoadedDefinition,
    pub actor: &'a Actor,
    /// `None` when starting; else the row as it was read (its `row_version` is checked).
    pub current: Option<&'a instance::Model>,
    pub parties: &'a Parties,
    pub params: &'a Map<String, Value>,
    pub facts: &'a Value,
    pub outcome: Outcome,
    pub now: DateTime<Utc>,
    /// Prefix of the single-use links the transition issues (the server's public URL).
    pub link_base: &'a str,
    /// Uploads the action's form used: bound to the instance in the same transaction.
    pub uploads: &'a [String],
}

/// The variable holding the graduate's data as the instance shows it (taken at start,
/// replaced by "get latest student info" on approval).
pub const STUDENT_VAR: &str = "_student";
/// The latest roster data a reviewer pulled in, applied on approval.
pub const STUDENT_PENDING_VAR: &str = "_student_pending";

/// Applies the transition in one transaction and returns the stored instance.
/// Events emitted with a target (`emit: {event, to: var}`) are delivered to that instance in
/// the same transaction: a completed termination releases the agreement atomically.
///
/// The transition's statements are built before the transaction begins ([`plan`]: the JSON,
/// the rendered documents and messages, the SQL), so that the writer's turn — which on SQLite
/// every write of the process queues for — holds only their execution. A transition that
/// draws numbers (which documents and messages show) draws them first, inside the
/// transaction, and is planned there.
pub async fn persist(db: &Db, t: Transition<'_>) -> ApiResult<instance::Model> {
    let (snapshot, facts, now, link_base) = (t.snapshot, t.facts, t.now, t.link_base);
    let graduate_id = t.parties.graduate_id;
    let uploads = t.uploads;
    let id = match t.current {
        Some(c) => c.id,
        None => db.new_instance_id().await?,
    };
    let (txn, plan) = if numbered(&t.outcome) {
        let txn = db.begin_write().await?;
        let numbers = draw_numbers(db, &txn, &t.outcome, facts, now).await?;
        let plan = plan(db.backend(), t, id, numbers)?;
        (txn, plan)
    } else {
        let plan = plan(db.backend(), t, id, Vec::new())?;
        (db.begin_write().await?, plan)
    };
    let Plan { row, ops, targeted } = plan;
    execute(db, &txn, snapshot, &row.def_key, ops).await?;
    bind_uploads(&txn, uploads, id).await?;
    for (event, target) in &targeted {
        react_in(
            db,
            &txn,
            snapshot,
            facts,
            now,
            link_base,
            graduate_id,
            (id, *target),
            event,
        )
        .await?;
    }
    txn.commit().await?;
    crate::metrics::transition(&row.def_key);
    Ok(row)
}

/// Binds the uploads a form used to the instance; one already bound elsewhere (a concurrent
/// use that committed first) makes the whole transition fail with a conflict.
async fn bind_uploads(txn: &WriteTx, ids: &[String], instance_id: i64) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let bound = upload::Entity::update_many()
        .col_expr(upload::Column::InstanceId, Expr::value(Some(instance_id)))
        .filter(upload::Column::Id.is_in(ids.iter().cloned()))
        .filter(
            Condition::any()
                .add(upload::Column::InstanceId.is_null())
                .add(upload::Column::InstanceId.eq(instance_id)),
        )
        .exec(txn)
        .await?;
    let distinct = ids.iter().collect::<std::collections::BTreeSet<_>>().len() as u64;
    if bound.rows_affected != distinct {
        return Err(ApiError::conflict(
            "upload_used",
            "文件已用于另一项申请，请重新上传",
        ));
    }
    Ok(())
}

/// Delivers `event` from instance `source` to instance `target` (of the same graduate) inside
/// `txn`.
#[allow(clippy::too_many_arguments)]
async fn react_in(
    db: &Db,
    txn: &WriteTx,
    snapshot: &Snapshot,
    facts: &Value,
    now: DateTime<Utc>,
    link_base: &str,
    graduate_id: i64,
    (source, target): (i64, i64),
    event: &str,
) -> ApiResult<()> {
    let Some(row) = instance::Entity::find_by_id(target)
        .one(txn)
        .await?
        .filter(|r| r.graduate_id == graduate_id)
    else {
        tracing::warn!(target, event, "targeted event: instance missing");
        return Ok(());
    };
    let def = crate::definitions::pinned(snapshot, &row)?;
    let inst = to_engine(&row)?;
    let actor = Actor::system();
    let ctx = Ctx {
        actor: &actor,
        facts,
        now,
        guards: snapshot,
        tables: snapshot.code_lookup(),
    };
    let Some(outcome) = apply::react(
        &def.def,
        &ctx,
        &inst,
        event,
        Some(apply::EventSource {
            id: source,
            vars: None,
        }),
    )?
    else {
        return Ok(());
    };
    let numbers = draw_numbers(db, txn, &outcome, facts, now).await?;
    let plan = plan(
        db.backend(),
        Transition {
            snapshot,
            def,
            actor: &actor,
            current: Some(&row),
            parties: &inst.parties,
            params: &inst.params,
            facts,
            outcome,
            now,
            link_base,
            uploads: &[],
        },
        row.id,
        numbers,
    )?;
    execute(db, txn, snapshot, &plan.row.def_key, plan.ops).await?;
    Ok(())
}

/// `2026-11-23 18:30`: a moment as users read it, in China time.
pub fn china_minute(t: DateTime<Utc>) -> String {
    t.with_timezone(&china_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// SHA-256 (hex) of a link token: only the hash is stored.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Applies `update` to the instance `cur` as it was read ([`versioned`]); a row changed
/// meanwhile is a conflict.
async fn update_versioned(
    txn: &WriteTx,
    cur: &instance::Model,
    now: DateTime<Utc>,
    update: sea_orm::UpdateMany<instance::Entity>,
) -> ApiResult<()> {
    let res = versioned(update, cur, now).exec(txn).await?;
    if res.rows_affected != 1 {
        return Err(ApiError::stale());
    }
    Ok(())
}

/// Whether the outcome draws numbers (which then are drawn inside the transaction).
fn numbered(outcome: &Outcome) -> bool {
    outcome
        .effects
        .iter()
        .any(|e| matches!(e, EffectDef::Number { .. }))
}

/// Draws the outcome's numbers inside `txn`: `(variable, number)`.
async fn draw_numbers(
    db: &Db,
    txn: &WriteTx,
    outcome: &Outcome,
    facts: &Value,
    now: DateTime<Utc>,
) -> ApiResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in &outcome.effects {
        if let EffectDef::Number { kind, var, channel } = e {
            let number = next_number(db, txn, kind, channel.as_deref(), facts, now).await?;
            out.push((var.clone(), number));
        }
    }
    Ok(out)
}

/// Runs a plan's statements in `txn`.
async fn execute(
    db: &Db,
    txn: &WriteTx,
    snapshot: &Snapshot,
    def_key: &str,
    ops: Vec<Op>,
) -> ApiResult<()> {
    for op in ops {
        match op {
            Op::Exec(stmt) => {
                txn.execute(stmt).await?;
            }
            Op::Versioned(stmt) => {
                if txn.execute(stmt).await?.rows_affected() != 1 {
                    return Err(ApiError::stale());
                }
            }
            Op::Claim(stmt, claim) => match txn.execute(stmt).await {
                Ok(_) => {}
                Err(e) if crate::db::is_unique_violation(&e) => {
                    let message = holder_message(db, snapshot, def_key, &claim)
                        .await
                        .unwrap_or_else(|| claim.message.clone());
                    return Err(ApiError::conflict("slot_taken", message));
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    Ok(())
}

/// What the holder's flow tells a claimant of another flow about a slot it holds
/// (`message_for_others`), if it says anything. Read outside the failed transaction (on
/// PostgreSQL it is aborted).
async fn holder_message(
    db: &Db,
    snapshot: &Snapshot,
    claimant: &str,
    claim: &gradflow_engine::apply::SlotClaim,
) -> Option<String> {
    let (def_id, _) = slot_holder(&db.conn, &claim.key).await.ok()??;
    let def = &snapshot
        .get(&gradflow_engine::definition::DefId::parse(&def_id)?)?
        .def;
    if def.key == claimant {
        return None;
    }
    def.slots
        .iter()
        .find(|(name, _)| gradflow_engine::definition::slot_name(def, name) == claim.slot)
        .and_then(|(_, s)| s.message_for_others.clone())
}

/// The definition and management list of the instance holding slot `key`, in one statement;
/// `None` when nothing holds it.
pub async fn slot_holder<C: sea_orm::ConnectionTrait>(
    conn: &C,
    key: &str,
) -> ApiResult<Option<(String, Option<String>)>> {
    let holder = sea_orm::sea_query::Query::select()
        .column(slot::Column::InstanceId)
        .from(slot::Entity)
        .and_where(slot::Column::SlotKey.eq(key))
        .to_owned();
    use sea_orm::QuerySelect;
    Ok(instance::Entity::find()
        .select_only()
        .column(instance::Column::DefId)
        .column(instance::Column::List)
        .filter(instance::Column::Id.in_subquery(holder))
        .into_tuple()
        .one(conn)
        .await?)
}

/// The next number of a kind, generated inside the transaction.
///
/// Agreement numbers (SPEC.md 4.10): 4-digit year + 1-digit channel (1 = graduate-initiated
/// e-agreement, 4 = employer-initiated online; set per flow in YAML) + 5-digit school code +
/// 9-digit serial per year, channel and school. Other kinds: `<year><school code><serial>`.
async fn next_number(
    db: &Db,
    txn: &WriteTx,
    kind: &str,
    channel: Option<&str>,
    facts: &Value,
    now: DateTime<Utc>,
) -> ApiResult<String> {
    let year = now.with_timezone(&china_offset()).format("%Y").to_string();
    let school = facts
        .pointer("/school/code")
        .and_then(Value::as_str)
        .unwrap_or("00000")
        .to_string();
    let channel = channel.unwrap_or("");
    let name = format!("{kind}:{year}:{channel}:{school}");
    let serial = bump_counter(db, txn, &name).await?;
    Ok(format!("{year}{channel}{school}{serial:09}"))
}

/// Increments a named counter and returns the new value (works on SQLite and PostgreSQL).
pub async fn bump_counter(db: &Db, txn: &WriteTx, name: &str) -> ApiResult<i64> {
    let stmt = db.stmt(
        "INSERT INTO counters (name, value) VALUES (?, 1) \
         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        vec![name.into()],
    );
    let row = txn
        .query_one(stmt)
        .await?
        .ok_or_else(|| ApiError::internal("counter upsert returned nothing"))?;
    row.try_get::<i64>("", "value").map_err(ApiError::internal)
}

/// Replaces an instance's variables outside a transition (a reviewer pulling the latest
/// roster data), with a history row and the optimistic `row_version` check.
pub async fn update_vars(
    db: &Db,
    cur: &instance::Model,
    actor: &Actor,
    action: &str,
    vars: Map<String, Value>,
    input: Value,
    now: DateTime<Utc>,
) -> ApiResult<instance::Model> {
    let txn = db.begin_write().await?;
    let text = serde_json::to_string(&vars).map_err(ApiError::internal)?;
    update_versioned(
        &txn,
        cur,
        now,
        instance::Entity::update_many().col_expr(instance::Column::Vars, Expr::value(text.clone())),
    )
    .await?;
    history::ActiveModel {
        instance_id: Set(cur.id),
        seq: Set(cur.row_version + 1),
        action: Set(action.to_string()),
        actor_account_id: Set(actor.account_id),
        actor_role: Set(actor.role.as_str().to_string()),
        from_state: Set(Some(cur.state.clone())),
        to_state: Set(cur.state.clone()),
        level: Set(None),
        decision: Set(None),
        reason_category: Set(None),
        reason: Set(None),
        input: Set(input.to_string()),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(instance::Model {
        vars: text,
        row_version: cur.row_version + 1,
        updated_at: now,
        ..cur.clone()
    })
}
