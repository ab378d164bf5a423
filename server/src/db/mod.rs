//! Database connection: SQLite (a file in the data dir, WAL mode) by default, PostgreSQL by URL.
//! Migrations run on every start.

pub mod cache;
pub mod sqlite;
mod values;

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
use sqlite::Sqlite;

/// The database: a pool for reads and one way to write.
///
/// Reads go through [`Db::conn`], which cannot write: on SQLite its connections are opened
/// read-only, on PostgreSQL its sessions default to read-only transactions — a write through
/// it fails with an error, never silently. Every write takes [`Db::begin_write`] or
/// [`Db::writer`]: on SQLite the one writer connection in turn ([`sqlite`]: writers queue in
/// the process, and concurrent transactions share a commit), on PostgreSQL a transaction of
/// the write pool.
#[derive(Clone)]
pub struct Db {
    /// Reads only.
    pub conn: Conn,
    /// Writes, only through [`Db::begin_write`] and [`Db::writer`].
    write: Backend,
    /// A writer's turn held by the test hook ([`Db::hold_writer`]).
    held: Arc<tokio::sync::Mutex<Option<sqlite::Turn>>>,
    /// Rows kept in process ([`cache`]).
    pub rows: Arc<Rows>,
}

/// The rows kept in process: read on nearly every transition, written rarely.
pub struct Rows {
    /// Graduates: read on every transition of theirs, written by roster imports and corrections.
    pub graduates: cache::RowCache<i64, crate::entity::graduate::Model>,
    pub schools: cache::RowCache<i64, crate::entity::school::Model>,
    pub provinces: cache::RowCache<String, crate::entity::province::Model>,
    pub employers: cache::RowCache<i64, crate::entity::employer::Model>,
    /// An employer's active warning marks: school id → reason.
    pub marks: cache::RowCache<i64, std::collections::BTreeMap<i64, String>>,
}

impl Default for Rows {
    fn default() -> Rows {
        Rows {
            graduates: cache::RowCache::new(&["graduates"], 100_000),
            schools: cache::RowCache::new(&["schools"], 10_000),
            provinces: cache::RowCache::new(&["provinces"], 100),
            employers: cache::RowCache::new(&["employers"], 100_000),
            marks: cache::RowCache::new(&["employer_warnings"], 100_000),
        }
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Sqlite>),
    Postgres(DatabaseConnection),
}

/// A write transaction, holding the writer's turn until it is committed or dropped (a drop
/// rolls back). A connection for sea-orm calls (`.exec(&tx)`), every statement counted.
pub struct WriteTx {
    tx: Tx,
    /// Dropped after the transaction: the tables it wrote count as written once more.
    touched: cache::Touched,
}

enum Tx {
    Sqlite(sqlite::SqliteTx),
    Postgres(DatabaseTransaction),
}

impl WriteTx {
    /// Commits; returns once the commit holding this transaction is durable as configured.
    pub async fn commit(self) -> Result<(), DbErr> {
        let WriteTx { tx, touched } = self;
        let out = match tx {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => {
                crate::metrics::statement(true);
                t.commit().await
            }
        };
        drop(touched);
        out
    }
}

/// The writer's turn without a transaction, for single statements (each commits on its own).
pub struct Writer(Single, cache::Touched);

enum Single {
    Sqlite(Arc<Sqlite>, #[allow(dead_code)] sqlite::Turn),
    Postgres(DatabaseConnection),
}

/// The read pool, counting its statements ([`crate::metrics`]).
#[derive(Clone)]
pub struct Conn(Backend);

/// A stream of rows (exports).
pub type RowStream<'a> =
    Pin<Box<dyn futures::Stream<Item = Result<QueryResult, DbErr>> + Send + 'a>>;

impl StreamTrait for Conn {
    type Stream<'a> = RowStream<'a>;

    fn stream<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        crate::metrics::statement(false);
        Box::pin(async move {
            match &self.0 {
                Backend::Postgres(c) => {
                    let s: RowStream<'a> = Box::pin(c.stream(stmt).await?);
                    Ok(s)
                }
                Backend::Sqlite(s) => {
                    let rx = s.stream(stmt);
                    let chunks = futures::stream::unfold(rx, |mut rx| async move {
                        rx.recv()
                            .await
                            .map(|chunk| (futures::stream::iter(chunk), rx))
                    });
                    let s: RowStream<'a> = Box::pin(futures::StreamExt::flatten(chunks));
                    Ok(s)
                }
            }
        })
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Backend::Sqlite(_) => DbBackend::Sqlite,
            Backend::Postgres(_) => DbBackend::Postgres,
        }
    }
    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        crate::metrics::statement(false);
        match &self.0 {
            Backend::Sqlite(s) => s.read_execute(&stmt),
            Backend::Postgres(c) => c.execute(stmt).await,
        }
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        crate::metrics::statement(false);
        match &self.0 {
            Backend::Sqlite(s) => s.read_batch(sql),
            Backend::Postgres(c) => c.execute_unprepared(sql).await,
        }
    }
    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        crate::metrics::statement(false);
        match &self.0 {
            Backend::Sqlite(s) => Ok(s.read_query(&stmt)?.into_iter().next()),
            Backend::Postgres(c) => c.query_one(stmt).await,
        }
    }
    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        crate::metrics::statement(false);
        match &self.0 {
            Backend::Sqlite(s) => s.read_query(&stmt),
            Backend::Postgres(c) => c.query_all(stmt).await,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> DbBackend {
        match &self.tx {
            Tx::Sqlite(_) => DbBackend::Sqlite,
            Tx::Postgres(_) => DbBackend::Postgres,
        }
    }
    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        crate::metrics::statement(true);
        self.touched.statement(&stmt.sql);
        match &self.tx {
            Tx::Sqlite(t) => t.execute(&stmt),
            Tx::Postgres(t) => t.execute(stmt).await,
        }
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        crate::metrics::statement(true);
        self.touched.statement(sql);
        match &self.tx {
            Tx::Sqlite(t) => t.batch(sql),
            Tx::Postgres(t) => t.execute_unprepared(sql).await,
        }
    }
    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        crate::metrics::statement(true);
        self.touched.statement(&stmt.sql);
        match &self.tx {
            Tx::Sqlite(t) => Ok(t.query(&stmt)?.into_iter().next()),
            Tx::Postgres(t) => t.query_one(stmt).await,
        }
    }
    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        crate::metrics::statement(true);
        self.touched.statement(&stmt.sql);
        match &self.tx {
            Tx::Sqlite(t) => t.query(&stmt),
            Tx::Postgres(t) => t.query_all(stmt).await,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Writer {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Single::Sqlite(..) => DbBackend::Sqlite,
            Single::Postgres(_) => DbBackend::Postgres,
        }
    }
    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        crate::metrics::statement(true);
        self.1.statement(&stmt.sql);
        let out = match &self.0 {
            Single::Sqlite(s, _) => s.write_execute(&stmt),
            Single::Postgres(c) => c.execute(stmt).await,
        };
        self.1.finish();
        out
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        crate::metrics::statement(true);
        self.1.statement(sql);
        let out = match &self.0 {
            Single::Sqlite(s, _) => s.write_batch(sql),
            Single::Postgres(c) => c.execute_unprepared(sql).await,
        };
        self.1.finish();
        out
    }
    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        crate::metrics::statement(true);
        self.1.statement(&stmt.sql);
        let out = match &self.0 {
            Single::Sqlite(s, _) => s.write_query(&stmt).map(|r| r.into_iter().next()),
            Single::Postgres(c) => c.query_one(stmt).await,
        };
        self.1.finish();
        out
    }
    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        crate::metrics::statement(true);
        self.1.statement(&stmt.sql);
        let out = match &self.0 {
            Single::Sqlite(s, _) => s.write_query(&stmt),
            Single::Postgres(c) => c.query_all(stmt).await,
        };
        self.1.finish();
        out
    }
}

/// Whether `e` is a unique (or primary key) constraint failing, on either backend.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) || sqlite::is_unique_violation(e)
}

impl Db {
    /// Begins a write transaction, in the writer's turn.
    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        match &self.write {
            Backend::Sqlite(s) => Ok(WriteTx {
                tx: Tx::Sqlite(s.begin().await?),
                touched: Default::default(),
            }),
            Backend::Postgres(c) => {
                crate::metrics::statement(true);
                Ok(WriteTx {
                    tx: Tx::Postgres(c.begin().await?),
                    touched: Default::default(),
                })
            }
        }
    }

    /// The writer's turn for statements that each commit on their own (a lease claim, a
    /// counter); a transaction needs [`Db::begin_write`].
    pub async fn writer(&self) -> Writer {
        match &self.write {
            Backend::Sqlite(s) => Writer(
                Single::Sqlite(s.clone(), s.single().await),
                Default::default(),
            ),
            Backend::Postgres(c) => Writer(Single::Postgres(c.clone()), Default::default()),
        }
    }

    /// Test hook (`--test-clock` only): holds the writer's turn until released, so that
    /// transitions queue behind it and then share one group commit. Returns whether the
    /// backend has a writer's turn to hold (SQLite).
    pub async fn hold_writer(&self, hold: bool) -> bool {
        let Backend::Sqlite(s) = &self.write else {
            return false;
        };
        let mut held = self.held.lock().await;
        if hold {
            if held.is_none() {
                *held = Some(s.single().await);
            }
        } else {
            held.take();
        }
        true
    }

    /// The id of an instance about to be started, chosen before its transaction so that the
    /// transition's statements are built before the writer's turn (on SQLite the writer
    /// process counts them, [`Sqlite::next_id`]; on PostgreSQL the table's sequence).
    pub async fn new_instance_id(&self) -> Result<i64, DbErr> {
        match &self.write {
            Backend::Sqlite(s) => s.next_id("instances"),
            Backend::Postgres(c) => {
                crate::metrics::statement(true);
                let row = c
                    .query_one(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT nextval(pg_get_serial_sequence('instances', 'id'))",
                    ))
                    .await?
                    .ok_or_else(|| DbErr::Custom("nextval returned nothing".into()))?;
                row.try_get_by_index::<i64>(0)
                    .map_err(|e| DbErr::Custom(e.to_string()))
            }
        }
    }

    /// Folds SQLite's write-ahead log into the database file and truncates it, in the writer's
    /// turn (nothing on PostgreSQL): after a bulk write, whose log the passive checkpoints of
    /// a busy writer never get to reset.
    pub async fn checkpoint(&self) -> Result<(), DbErr> {
        if let Backend::Sqlite(s) = &self.write {
            let _turn = s.single().await;
            s.write_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        }
        Ok(())
    }

    /// Whether rows are kept in process ([`cache`]): on SQLite, where this process is the
    /// one writer and sees every write.
    pub fn caches_rows(&self) -> bool {
        matches!(self.write, Backend::Sqlite(_))
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Whether the database answers and has every migration this binary knows, and no
    /// other (`GET /readyz`): the number of migrations applied, or why it is not ready.
    pub async fn readiness(&self) -> Result<usize, String> {
        let rows = self
            .conn
            .query_all(self.stmt("SELECT version FROM seaql_migrations", vec![]))
            .await
            .map_err(|e| format!("数据库不可用：{}", short(&e.to_string())))?;
        let applied: std::collections::BTreeSet<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String>("", "version").ok())
            .collect();
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        let missing: Vec<&str> = known
            .iter()
            .filter(|k| !applied.contains(*k))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!("数据库迁移未完成：缺少 {}", missing.join("、")));
        }
        let unknown: Vec<&str> = applied
            .iter()
            .filter(|a| !known.contains(a))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "数据库的迁移比本程序新：{}（请升级 gradflow）",
                unknown.join("、")
            ));
        }
        Ok(known.len())
    }

    /// A statement with `?` placeholders rewritten to `$n` on PostgreSQL.
    pub fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        portable(self.backend(), sql, values)
    }
}

/// A statement for `backend` from SQL with `?` placeholders (rewritten to `$n` on PostgreSQL).
pub fn portable(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
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

/// The first line of a database error, at most 200 characters (what `/readyz` shows).
fn short(e: &str) -> String {
    e.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
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

/// Runs the migrations on a connection of their own, then opens the writer and the read
/// pool (on SQLite the rusqlite connections of [`sqlite`]).
pub async fn connect(cfg: &Config) -> anyhow::Result<Db> {
    let url = database_url(cfg);
    let sqlite = cfg.uses_sqlite();
    if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        // Named without the rest of the URL, which may hold a password.
        let scheme = url
            .split_once("://")
            .map(|(s, _)| s)
            .filter(|s| s.len() <= 20 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+'));
        anyhow::bail!(
            "unsupported --database-url{}: use postgres://USER:PASSWORD@HOST/DB, or leave it out for SQLite in --data-dir",
            scheme.map(|s| format!(" scheme `{s}`")).unwrap_or_else(|| " (not a URL)".into())
        );
    }
    let secret = password(&url);
    let hide = |e: DbErr| -> anyhow::Error {
        let text = e.to_string();
        anyhow::anyhow!(match &secret {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "***"),
            _ => text,
        })
    };
    if sqlite {
        std::fs::create_dir_all(&cfg.data_dir)?;
    }
    let options = |url: String, max: u32| {
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(max)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        if sqlite {
            opts.map_sqlx_sqlite_opts(move |o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(false)
            });
        }
        opts
    };
    if sqlite {
        let migrator = Database::connect(options(url.clone(), 1)).await?;
        Migrator::up(&migrator, None).await?;
        migrator.execute_unprepared("PRAGMA optimize").await.ok();
        migrator.close().await?;
        let synchronous = match cfg.sqlite_synchronous {
            crate::config::SqliteSynchronous::Normal => "NORMAL",
            crate::config::SqliteSynchronous::Full => "FULL",
        };
        let path = cfg
            .database_url
            .as_deref()
            .map(sqlite_path)
            .unwrap_or_else(|| cfg.data_dir.join("gradflow.sqlite"));
        let readers = (cfg.max_connections as usize).clamp(2, 8);
        let s = Arc::new(Sqlite::open(
            &path,
            readers,
            synchronous,
            cfg.check_query_plans,
        )?);
        return Ok(Db {
            conn: Conn(Backend::Sqlite(s.clone())),
            write: Backend::Sqlite(s),
            held: Default::default(),
            rows: Default::default(),
        });
    }
    let writer = Database::connect(options(url.clone(), cfg.max_connections))
        .await
        .map_err(hide)?;
    Migrator::up(&writer, None).await.map_err(hide)?;
    // Every session of the read pool starts read-only transactions.
    let read_url = with_param(&url, "options=-c%20default_transaction_read_only%3Don");
    let conn = Database::connect(options(read_url, cfg.max_connections))
        .await
        .map_err(hide)?;
    Ok(Db {
        conn: Conn(Backend::Postgres(conn)),
        write: Backend::Postgres(writer),
        held: Default::default(),
        rows: Default::default(),
    })
}

/// The password of a `scheme://user:password@host/…` URL, if it has one.
fn password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split('/').next()?.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1.to_string())
}

/// The file of a `sqlite://PATH?…` URL.
fn sqlite_path(url: &str) -> std::path::PathBuf {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.split('?').next().unwrap_or(rest).into()
}

/// Runs the migrations only (`gradflow migrate`).
/// On SQLite it holds the data directory meanwhile: it refuses to run beside a server.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let _lock =
        crate::lifecycle::claim_data_dir(&cfg.data_dir, cfg.uses_sqlite(), "running migrate")?;
    connect(cfg).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_password_is_found_to_be_hidden() {
        assert_eq!(
            password("postgres://gf:s3cr@t@db.local:5432/gf").as_deref(),
            Some("s3cr@t")
        );
        assert_eq!(password("postgres://gf@db/gf"), None);
        assert_eq!(password("sqlite:///tmp/x.sqlite"), None);
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_without_the_password() {
        let cfg = Config {
            database_url: Some("mysql://root:hunter2@db/gf".into()),
            ..Config::default()
        };
        let err = connect(&cfg).await.err().expect("refused").to_string();
        assert!(err.contains("`mysql`"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
