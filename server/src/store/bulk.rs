//! Rows written in bulk, outside transitions: a table's rows as multi-row inserts inside one
//! write transaction, each statement within the backends' limits on bound values. For rows
//! that no transition wrote (the season generator, [`crate::season`]); what a transition
//! would have kept beside them — the counters — is rebuilt after
//! ([`super::counters::rebuild`]).

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Iterable, QueryTrait};

use crate::db::WriteTx;
use crate::error::ApiResult;

/// At most this many bound values per statement (SQLite allows 32,766, PostgreSQL 65,535).
const VALUES_PER_STATEMENT: usize = 30_000;

/// Inserts `rows` of one table inside `txn`, as few statements as the limits allow.
pub async fn insert<A>(txn: &WriteTx, rows: Vec<A>) -> ApiResult<()>
where
    A: ActiveModelTrait,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per = (VALUES_PER_STATEMENT / columns).max(1);
    let backend = txn.get_database_backend();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per).collect();
        txn.execute(<A::Entity as EntityTrait>::insert_many(chunk).build(backend))
            .await?;
    }
    Ok(())
}

/// After rows were inserted with their ids (PostgreSQL): each table's id sequence moves past
/// the largest id, so that the next row the server writes gets a fresh one. SQLite's
/// `AUTOINCREMENT` keeps up by itself.
pub async fn sync_sequences(txn: &WriteTx, tables: &[&str]) -> ApiResult<()> {
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    for t in tables {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{t}', 'id'), \
             COALESCE((SELECT MAX(id) FROM \"{t}\"), 0) + 1, false)"
        );
        txn.execute(crate::db::portable(
            sea_orm::DbBackend::Postgres,
            &sql,
            Vec::new(),
        ))
        .await?;
    }
    Ok(())
}
