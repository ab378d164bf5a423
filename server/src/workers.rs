//! Background workers: due timers become system actions; outbox rows are delivered to the
//! configured webhook (notifications, sync) or dispatched internally (events).
//!
//! Both claim work with a lease (`UPDATE ... WHERE <still unclaimed>`), so several server
//! processes sharing one PostgreSQL never take the same row twice.

use std::time::Duration;

use chrono::Utc;
use gradflow_engine::apply::Actor;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};

use crate::entity::{instance, outbox, timer};
use crate::error::ApiResult;
use crate::service::{pinned, react_to_event, transition, State};

/// Starts the workers; they run until the server stops ([`crate::lifecycle::Shutdown`]):
/// each finishes the item in hand, gives back what it claimed and did not start, and ends.
/// The handles let `serve` wait for them.
pub fn spawn(state: State) -> Vec<tokio::task::JoinHandle<()>> {
    let interval = Duration::from_millis(state.config.worker_interval_ms.max(10));
    let mut handles = Vec::new();
    let s = state.clone();
    handles.push(tokio::spawn(async move {
        loop {
            if s.shutdown.is_requested() {
                return;
            }
            match fire_due_timers(&s).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.body.message, "timer worker"),
            }
            // 核验授权 past their validity: 已过期.
            if let Err(e) = crate::services::verification::expire_due(&s).await {
                tracing::warn!(error = %e.body.message, "verification expiry");
            }
            pause(&s, interval).await;
        }
    }));
    // Re-uploaded graduates leave the invalid list within the hour (SPEC.md 3): once an hour
    // by the server's clock, every pending restore runs.
    let s = state.clone();
    handles.push(tokio::spawn(async move {
        let mut next = s.clock.now() + chrono::Duration::hours(1);
        while !s.shutdown.is_requested() {
            if s.clock.now() >= next {
                match crate::removal::restore_pending(&s).await {
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(restored = n, "roster restore worker");
                        }
                        next = s.clock.now() + chrono::Duration::hours(1);
                    }
                    Err(e) => tracing::warn!(error = %e.body.message, "roster restore worker"),
                }
            }
            pause(&s, interval).await;
        }
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    handles.push(tokio::spawn(async move {
        loop {
            if state.shutdown.is_requested() {
                return;
            }
            match deliver_outbox(&state, &client).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.body.message, "outbox worker"),
            }
            pause(&state, interval).await;
        }
    }));
    handles
}

/// Sleeps for `interval`, or less when the server stops meanwhile.
async fn pause(state: &State, interval: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(interval) => {}
        _ = state.shutdown.requested() => {}
    }
}

/// What `/metrics` reads when scraped: the outbox backlog and the lag of the most overdue
/// unclaimed timer (two indexed reads).
pub async fn backlog(state: &State) -> ApiResult<crate::metrics::Backlog> {
    use sea_orm::PaginatorTrait;
    let outbox_pending = outbox::Entity::find()
        .filter(outbox::Column::DeliveredAt.is_null())
        .count(&state.db.conn)
        .await?;
    let now = state.clock.now();
    let oldest = due_timers(now).one(&state.db.conn).await?;
    let timer_lag_seconds = oldest
        .map(|t| (now - t.due_at).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(crate::metrics::Backlog {
        outbox_pending,
        timer_lag_seconds,
    })
}

/// Fires every due timer once; returns how many were handled.
/// The timers due at `now` that no lease holds, soonest first.
fn due_timers(now: chrono::DateTime<Utc>) -> sea_orm::Select<timer::Entity> {
    timer::Entity::find()
        .filter(timer::Column::DueAt.lte(now))
        .filter(
            timer::Column::ClaimedUntil
                .is_null()
                .or(timer::Column::ClaimedUntil.lt(Utc::now())),
        )
        .order_by_asc(timer::Column::DueAt)
        .limit(100)
}

/// The messages due at `now`, the longest due first (then in the order they were written),
/// read in the order of their index (`idx_outbox_pending`) rather than sorted.
fn pending_messages(now: chrono::DateTime<Utc>) -> sea_orm::Select<outbox::Entity> {
    outbox::Entity::find()
        .filter(outbox::Column::DeliveredAt.is_null())
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .order_by_asc(outbox::Column::Id)
        .limit(50)
}

/// Rows to claim: locked for the claiming transaction, skipping those another one holds
/// (PostgreSQL; SQLite's one writer needs no row locks and its SQL has none).
fn claim<E: EntityTrait>(q: sea_orm::Select<E>) -> sea_orm::Select<E> {
    q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
}

pub async fn fire_due_timers(state: &State) -> ApiResult<usize> {
    let now = state.clock.now();
    let due = || due_timers(now);
    // Anything due at all? (a read, so an idle worker takes no writer's turn)
    if due().one(&state.db.conn).await?.is_none() {
        return Ok(0);
    }
    // Claim: the due timers no other worker holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
    // SQLite has one writer), each with a 60-second lease, in one transaction.
    let lease = Utc::now() + chrono::Duration::seconds(60);
    let tx = state.db.begin_write().await?;
    let claimed = claim(due()).all(&tx).await?;
    if !claimed.is_empty() {
        timer::Entity::update_many()
            .col_expr(timer::Column::ClaimedUntil, Expr::value(Some(lease)))
            .filter(timer::Column::Id.is_in(claimed.iter().map(|t| t.id)))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    let mut handled = 0;
    for (k, t) in claimed.iter().enumerate() {
        if state.shutdown.is_requested() {
            // Stopping: the timers not started are given back at once, not at the lease's end.
            release_timers(state, claimed[k..].iter().map(|t| t.id)).await?;
            break;
        }
        handled += 1;
        let Some(row) = instance::Entity::find_by_id(t.instance_id)
            .one(&state.db.conn)
            .await?
        else {
            drop_timer(state, t.id).await?;
            continue;
        };
        if row.state != t.state {
            // The state moved on; the timer is stale.
            drop_timer(state, t.id).await?;
            continue;
        }
        let snap = state.registry.snapshot();
        let def = pinned(&snap, &row)?;
        match transition(
            state,
            &snap,
            def,
            &Actor::system(),
            &row,
            &t.action,
            &Value::Null,
        )
        .await
        {
            Ok(_) => tracing::info!(instance = row.id, action = %t.action, "timer fired"),
            Err(e) if crate::service::is_race(&e) => {
                // Someone acted at the same moment: give the claim back, so the next round
                // (not the lease's end) sees the new state and fires or drops the timer.
                tracing::info!(instance = row.id, "timer raced with an action");
                let w = state.db.writer().await;
                timer::Entity::update_many()
                    .col_expr(
                        timer::Column::ClaimedUntil,
                        Expr::value(Option::<chrono::DateTime<Utc>>::None),
                    )
                    .filter(timer::Column::Id.eq(t.id))
                    .exec(&w)
                    .await?;
            }
            Err(e) => {
                tracing::warn!(instance = row.id, error = %e.body.message, "timer action refused");
                drop_timer(state, t.id).await?;
            }
        }
    }
    Ok(handled)
}

/// Gives back the claims of timers (their lease ends now).
async fn release_timers(state: &State, ids: impl Iterator<Item = i64>) -> ApiResult<()> {
    let w = state.db.writer().await;
    timer::Entity::update_many()
        .col_expr(
            timer::Column::ClaimedUntil,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(timer::Column::Id.is_in(ids))
        .exec(&w)
        .await?;
    Ok(())
}

async fn drop_timer(state: &State, id: i64) -> ApiResult<()> {
    let w = state.db.writer().await;
    timer::Entity::delete_by_id(id).exec(&w).await?;
    Ok(())
}

fn backoff(base_ms: u64, attempts: i32) -> chrono::Duration {
    let ms = base_ms.saturating_mul(1u64 << attempts.clamp(0, 20) as u32);
    chrono::Duration::milliseconds(ms.min(600_000) as i64)
}

/// Delivers pending outbox messages once; returns how many were attempted.
///
/// The due messages are claimed in one transaction (locked rows skipped, a lease: their next
/// attempt moves 30 s ahead, so a second worker or process skips them), delivered, and the
/// delivered ones marked with one statement; each write is a write transaction, so on SQLite
/// it joins the group commit of the transitions instead of forcing a commit of its own.
pub async fn deliver_outbox(state: &State, client: &reqwest::Client) -> ApiResult<usize> {
    let now = Utc::now();
    let pending = || pending_messages(now);
    // Anything due at all? (a read, so an idle worker takes no writer's turn)
    if pending().one(&state.db.conn).await?.is_none() {
        return Ok(0);
    }
    // Claim: the due messages no other worker holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
    // SQLite has one writer); their next attempt moves 30 s ahead as a lease.
    let lease = now + chrono::Duration::seconds(30);
    let tx = state.db.begin_write().await?;
    let claimed = claim(pending()).all(&tx).await?;
    if !claimed.is_empty() {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(lease))
            .filter(outbox::Column::Id.is_in(claimed.iter().map(|m| m.id)))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    let mut delivered = Vec::new();
    let mut failed = Vec::new();
    let mut unstarted = Vec::new();
    for m in &claimed {
        if state.shutdown.is_requested() {
            // Stopping: what was claimed and not sent is due again at once.
            unstarted.push(m.id);
            continue;
        }
        match deliver_one(state, client, m).await {
            Ok(()) => delivered.push(m.id),
            Err(err) => failed.push((m, err)),
        }
    }
    let tx = state.db.begin_write().await?;
    if !delivered.is_empty() {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::DeliveredAt, Expr::value(Some(Utc::now())))
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .filter(outbox::Column::Id.is_in(delivered))
            .exec(&tx)
            .await?;
    }
    if !unstarted.is_empty() {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
            .filter(outbox::Column::Id.is_in(unstarted))
            .exec(&tx)
            .await?;
    }
    for (m, err) in failed {
        let attempts = m.attempts + 1;
        let next = Utc::now() + backoff(state.config.outbox_retry_base_ms, m.attempts);
        tracing::warn!(id = m.id, attempts, error = %err, "outbox delivery failed");
        crate::metrics::METRICS
            .outbox_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(outbox::Column::LastError, Expr::value(Some(err)))
            .filter(outbox::Column::Id.eq(m.id))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(claimed.len())
}

async fn deliver_one(
    state: &State,
    client: &reqwest::Client,
    m: &outbox::Model,
) -> Result<(), String> {
    let payload: Value = serde_json::from_str(&m.payload).map_err(|e| e.to_string())?;
    if m.kind == "event" {
        let graduate = payload
            .get("graduate_id")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let event = payload
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let source = payload.get("instance_id").and_then(Value::as_i64);
        return react_to_event(state, graduate, event, source)
            .await
            .map(|_| ())
            .map_err(|e| e.body.message);
    }
    let Some(url) = &state.config.webhook_url else {
        // No receiver configured: the message counts as delivered (its payload, which holds
        // personal data, is not logged).
        tracing::debug!(key = %m.idempotency_key, kind = %m.kind, "outbox message (no webhook configured)");
        return Ok(());
    };
    let body =
        serde_json::to_vec(&json!({"idempotency_key": m.idempotency_key, "message": payload}))
            .map_err(|e| e.to_string())?;
    let mut req = client
        .post(url)
        .header("Idempotency-Key", &m.idempotency_key)
        .header("X-Gradflow-Kind", &m.kind)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(secret) = &state.config.webhook_secret {
        let at = Utc::now().timestamp();
        req = req
            .header(TIMESTAMP_HEADER, at.to_string())
            .header(SIGNATURE_HEADER, signature(secret, at, &body));
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| format!("发送失败：{e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("接收方返回 {}", resp.status()))
    }
}

/// The header holding the moment a message was signed (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Gradflow-Timestamp";
/// The header holding a message's signature: `v1=` and the hex HMAC-SHA256, keyed with the
/// receiver's secret, of the timestamp, a dot and the exact body bytes. A receiver recomputes
/// it, compares in constant time and refuses a timestamp more than five minutes old (a
/// replay); see README, "Webhooks".
pub const SIGNATURE_HEADER: &str = "X-Gradflow-Signature";

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, QueryTrait};

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // Computed independently: python3 -c "import hmac,hashlib;
        // print(hmac.new(b'key', b'1700000000.{}', hashlib.sha256).hexdigest())"
        assert_eq!(
            signature("key", 1_700_000_000, b"{}"),
            "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(
            signature("other", 1_700_000_000, b"{}"),
            signature("key", 1_700_000_000, b"{}")
        );
    }

    #[test]
    fn claims_skip_rows_another_worker_holds() {
        let now = Utc::now();
        for sql in [
            claim(due_timers(now))
                .build(DbBackend::Postgres)
                .to_string(),
            claim(pending_messages(now))
                .build(DbBackend::Postgres)
                .to_string(),
        ] {
            assert!(sql.ends_with("FOR UPDATE SKIP LOCKED"), "{sql}");
        }
        let sqlite = claim(due_timers(now)).build(DbBackend::Sqlite).to_string();
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");
    }
}
