//! Database connection: SQLite (a file in the data dir, WAL mode) by default, PostgreSQL by URL.
//! Migrations run on every start.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gradflow_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, Statement, StreamTrait, TransactionTrait, Value,
};

use crate::config::Config;

/// The database: a pool for reads and one way to write.
///
/// Reads go through [`Db::conn`], which cannot write: on SQLite its connections are opened
/// read-only, on PostgreSQL its sessions default to read-only transactions — a write through
/// it fails with an error, never silently. Every write takes [`Db::begin_write`]: on SQLite
/// the one writer connection in turn (writers queue in the process instead of spinning in
/// SQLite's busy handler), on PostgreSQL a transaction of the write pool.
#[derive(Clone)]
pub struct Db {
    /// Reads only.
    pub conn: Conn,
    /// Writes, only through [`Db::begin_write`].
    writer: DatabaseConnection,
    /// SQLite's single writer: held for the whole write transaction. `None` on PostgreSQL.
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// A write transaction, holding the writer's turn until it is committed or dropped (a drop
/// rolls back). A connection for sea-orm calls (`.exec(&tx)`), every statement counted.
pub struct WriteTx {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits; the writer's turn passes on once the commit is done.
    pub async fn commit(self) -> Result<(), DbErr> {
        crate::metrics::statement(true);
        self.txn.commit().await
    }
}

/// The writer's turn without a transaction, for single statements (each commits on its own).
pub struct Writer {
    conn: DatabaseConnection,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// The read pool, counting its statements ([`crate::metrics`]).
#[derive(Clone)]
pub struct Conn(DatabaseConnection);

impl Conn {
    /// The pool itself, uncounted (a transaction for consistent reads; tests).
    pub fn raw(&self) -> &DatabaseConnection {
        &self.0
    }
}

impl StreamTrait for Conn {
    type Stream<'a> = <DatabaseConnection as StreamTrait>::Stream<'a>;

    fn stream<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        crate::metrics::statement(false);
        self.0.stream(stmt)
    }
}

/// The read pool and both write handles are connections for sea-orm calls (`.one(&db.conn)`,
/// `.exec(&tx)`), each statement counted.
macro_rules! delegate_connection {
    ($t:ty, $field:tt, $write:expr) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $t {
            fn get_database_backend(&self) -> DbBackend {
                self.$field.get_database_backend()
            }
            async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                crate::metrics::statement($write);
                self.$field.execute(stmt).await
            }
            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                crate::metrics::statement($write);
                self.$field.execute_unprepared(sql).await
            }
            async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                crate::metrics::statement($write);
                self.$field.query_one(stmt).await
            }
            async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                crate::metrics::statement($write);
                self.$field.query_all(stmt).await
            }
        }
    };
}
delegate_connection!(Conn, 0, false);
delegate_connection!(WriteTx, txn, true);
delegate_connection!(Writer, conn, true);

impl Db {
    async fn turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    /// Begins a write transaction, in the writer's turn.
    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        let turn = self.turn().await;
        crate::metrics::statement(true);
        Ok(WriteTx {
            txn: self.writer.begin().await?,
            _turn: turn,
        })
    }

    /// The writer's turn for statements that each commit on their own (a lease claim, a
    /// counter); a transaction needs [`Db::begin_write`].
    pub async fn writer(&self) -> Writer {
        Writer {
            _turn: self.turn().await,
            conn: self.writer.clone(),
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// A statement with `?` placeholders rewritten to `$n` on PostgreSQL.
    pub fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = self.backend();
        let sql = if backend == DbBackend::Postgres {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            sql.to_string()
        };
        Statement::from_sql_and_values(backend, sql, values)
    }
}

/// The database URL the config points at.
pub fn database_url(cfg: &Config) -> String {
    match &cfg.database_url {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}?mode=rwc",
            cfg.data_dir.join("gradflow.sqlite").display()
        ),
    }
}

/// `url` with a query parameter added.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// Connects the write pool (one connection on SQLite), runs the migrations, then connects the
/// read pool.
pub async fn connect(cfg: &Config) -> anyhow::Result<Db> {
    let url = database_url(cfg);
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        std::fs::create_dir_all(&cfg.data_dir)?;
    }
    let synchronous = match cfg.sqlite_synchronous {
        crate::config::SqliteSynchronous::Normal => {
            sea_orm::sqlx::sqlite::SqliteSynchronous::Normal
        }
        crate::config::SqliteSynchronous::Full => sea_orm::sqlx::sqlite::SqliteSynchronous::Full,
    };
    let options = |url: String, max: u32, read_only: bool| {
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(max)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        if sqlite {
            opts.map_sqlx_sqlite_opts(move |o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(synchronous)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(false)
                    .read_only(read_only)
            });
        }
        opts
    };
    let writer_max = if sqlite { 1 } else { cfg.max_connections };
    let writer = Database::connect(options(url.clone(), writer_max, false)).await?;
    Migrator::up(&writer, None).await?;
    if sqlite {
        writer.execute_unprepared("PRAGMA optimize").await.ok();
    }
    let read_url = if sqlite {
        url
    } else {
        // Every session of the read pool starts read-only transactions.
        with_param(&url, "options=-c%20default_transaction_read_only%3Don")
    };
    let conn = Conn(Database::connect(options(read_url, cfg.max_connections, true)).await?);
    Ok(Db {
        write_lock: sqlite.then(|| Arc::new(tokio::sync::Mutex::new(()))),
        writer,
        conn,
    })
}

/// Runs the migrations only (`gradflow migrate`).
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    connect(cfg).await.map(|_| ())
}
