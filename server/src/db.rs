//! Database connection: SQLite (a file in the data dir, WAL mode) by default, PostgreSQL by URL.
//! Migrations run on every start.

use std::sync::Arc;
use std::time::Duration;

use gradflow_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value,
};

use crate::config::Config;

/// The connection pool plus what the store needs to know about the backend.
#[derive(Clone)]
pub struct Db {
    pub conn: DatabaseConnection,
    /// SQLite allows one writer at a time; transitions take this lock so they queue in the
    /// process instead of failing with SQLITE_BUSY. `None` on PostgreSQL.
    pub write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Db {
    /// Takes the SQLite writer lock (no-op on PostgreSQL). Every write outside a transition
    /// (workers, admin) takes it too, so writers queue here instead of spinning in SQLite's
    /// busy handler.
    pub async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
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

/// Connects and runs the migrations.
pub async fn connect(cfg: &Config) -> anyhow::Result<Db> {
    let url = database_url(cfg);
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        std::fs::create_dir_all(&cfg.data_dir)?;
    }
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(cfg.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if sqlite {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(false)
        });
    }
    let conn = Database::connect(opts).await?;
    Migrator::up(&conn, None).await?;
    if sqlite {
        conn.execute_unprepared("PRAGMA optimize").await.ok();
    }
    Ok(Db {
        write_lock: sqlite.then(|| Arc::new(tokio::sync::Mutex::new(()))),
        conn,
    })
}

/// Runs the migrations only (`gradflow migrate`).
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    connect(cfg).await.map(|_| ())
}
