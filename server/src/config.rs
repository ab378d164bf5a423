//! Server configuration: defaults, then command-line flags and environment variables.

use std::path::PathBuf;

/// SQLite's durability in WAL mode. Neither loses a committed transaction when the process
/// crashes (the WAL is in the OS's cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteSynchronous {
    /// The WAL is synced at checkpoints only: a power loss or OS crash may lose the last
    /// transactions acknowledged before it (the database stays consistent).
    Normal,
    /// Every commit is synced to disk before it is acknowledged: nothing acknowledged is lost,
    /// at a lower commit rate.
    Full,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (printed on start).
    pub bind: String,
    /// Holds the SQLite file and uploads.
    pub data_dir: PathBuf,
    /// PostgreSQL URL; `None` means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// SQLite's `synchronous` setting (WAL mode).
    pub sqlite_synchronous: SqliteSynchronous,
    /// The tree holding `workflows/` and `scripts/`.
    pub root: PathBuf,
    pub demo: bool,
    /// Enables the manual clock and its admin endpoint (tests only).
    pub test_clock: bool,
    /// Token of the system administrator (bootstrap, admin API).
    pub admin_token: Option<String>,
    /// Where outbox messages (notifications, sync) are delivered.
    pub webhook_url: Option<String>,
    /// The address users reach the service at; prefixes links sent by SMS. Empty: the
    /// address the server listens on.
    pub public_url: String,
    /// First retry delay of the outbox; doubles on each failure, capped at 10 minutes.
    pub outbox_retry_base_ms: u64,
    /// How often the workers look for due timers and pending messages.
    pub worker_interval_ms: u64,
    /// Public lookups per client address and minute (a burst of as many).
    pub lookups_per_minute: u32,
    /// Database pool size.
    pub max_connections: u32,
    /// How long a password login's session token lasts.
    pub session_hours: i64,
    /// Wall-clock limit of one guard script, in milliseconds (besides its operation limit).
    pub guard_timeout_ms: u64,
    /// Requests served at once; more wait in a queue (see `max_queued`).
    pub max_in_flight: usize,
    /// Requests that may wait for a turn; beyond that, or after waiting `queue_wait_ms`, a
    /// request is answered 503 with `Retry-After`.
    pub max_queued: usize,
    /// How long a queued request waits for a turn, in milliseconds.
    pub queue_wait_ms: u64,
    /// How long a stop (SIGTERM, SIGINT) waits for requests and workers in flight, in seconds.
    pub shutdown_grace_secs: u64,
    /// The secret outbox messages are signed with (HMAC-SHA256 over timestamp and body, in
    /// `X-Gradflow-Signature`); unsigned when absent.
    pub webhook_secret: Option<String>,
    /// SQLite: checks each distinct read query's plan once and logs one that scans a large
    /// table or sorts after reading (`gradflow::plan` warnings) — for tests and for checking
    /// the indexes of a new query.
    pub check_query_plans: bool,
}

impl Config {
    /// Whether the database is SQLite (no `--database-url`, or a `sqlite:` one): its file is
    /// in the data directory, which one server holds.
    pub fn uses_sqlite(&self) -> bool {
        self.database_url
            .as_deref()
            .is_none_or(|u| u.starts_with("sqlite:"))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            sqlite_synchronous: SqliteSynchronous::Normal,
            root: PathBuf::from("."),
            demo: false,
            test_clock: false,
            admin_token: None,
            webhook_url: None,
            public_url: String::new(),
            outbox_retry_base_ms: 1000,
            worker_interval_ms: 200,
            lookups_per_minute: 10,
            max_connections: 16,
            session_hours: 12,
            guard_timeout_ms: 1000,
            max_in_flight: 64,
            max_queued: 512,
            queue_wait_ms: 2000,
            shutdown_grace_secs: 30,
            webhook_secret: None,
            check_query_plans: false,
        }
    }
}
