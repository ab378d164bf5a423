//! The `gradflow` binary: `serve`, `migrate`, `openapi`, `check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gradflow_engine::registry::{read_tree, Snapshot};
use gradflow_server::config::Config;

/// mimalloc: measured 20 % more transitions/s than the system allocator on the benchmark
/// (README), for about 50 % more peak RSS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gradflow",
    version,
    about = "Workflow service for China's graduate destination registration"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DbArgs {
    /// Directory for the SQLite file and uploads.
    #[arg(long, default_value = "./data", env = "GRADFLOW_DATA_DIR")]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...); SQLite in --data-dir when absent.
    #[arg(long, env = "GRADFLOW_DATABASE_URL")]
    database_url: Option<String>,
    /// SQLite's durability: `normal` (default) loses nothing on a process crash and at most
    /// the last transactions before a power loss or OS crash; `full` syncs every commit to disk
    /// and loses nothing then either, at a lower commit rate.
    #[arg(
        long,
        value_enum,
        default_value = "normal",
        env = "GRADFLOW_SQLITE_SYNCHRONOUS"
    )]
    sqlite_synchronous: gradflow_server::config::SqliteSynchronous,
}

// Parsed once per process: the size of `Serve` costs nothing worth boxing it for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service and its workers.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080", env = "GRADFLOW_BIND")]
        bind: String,
        #[command(flatten)]
        db: DbArgs,
        /// Directory holding workflows/ and scripts/.
        #[arg(long, default_value = ".", env = "GRADFLOW_ROOT")]
        root: PathBuf,
        /// Load a demo province, school, graduates, employer and accounts; print their tokens.
        #[arg(long, env = "GRADFLOW_DEMO")]
        demo: bool,
        /// Make the clock settable through POST /api/v1/admin/clock (tests only).
        #[arg(long, env = "GRADFLOW_TEST_CLOCK")]
        test_clock: bool,
        /// Bearer token of the system administrator.
        #[arg(long, env = "GRADFLOW_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// Receiver of outbox messages (notifications and sync).
        #[arg(long, env = "GRADFLOW_WEBHOOK_URL")]
        webhook_url: Option<String>,
        /// The address users reach the service at; prefixes links sent by SMS.
        #[arg(long, env = "GRADFLOW_PUBLIC_URL")]
        public_url: Option<String>,
        /// First outbox retry delay in milliseconds (doubles per failure, at most 10 minutes).
        #[arg(long, default_value_t = 1000, env = "GRADFLOW_OUTBOX_RETRY_BASE_MS")]
        outbox_retry_base_ms: u64,
        /// Worker polling interval in milliseconds.
        #[arg(long, default_value_t = 200, env = "GRADFLOW_WORKER_INTERVAL_MS")]
        worker_interval_ms: u64,
        /// Public lookups (去向登记信息在线核验) per client address and minute.
        #[arg(long, default_value_t = 10, env = "GRADFLOW_LOOKUPS_PER_MINUTE")]
        lookups_per_minute: u32,
        /// Database pool size.
        #[arg(long, default_value_t = 16, env = "GRADFLOW_MAX_CONNECTIONS")]
        max_connections: u32,
        /// Lifetime of a password login's session token, in hours.
        #[arg(long, default_value_t = 12, env = "GRADFLOW_SESSION_HOURS")]
        session_hours: i64,
        /// Wall-clock limit of one guard script in milliseconds (besides its operation limit).
        #[arg(long, default_value_t = 1000, env = "GRADFLOW_GUARD_TIMEOUT_MS")]
        guard_timeout_ms: u64,
        /// Requests served at once; more wait in a bounded queue.
        #[arg(long, default_value_t = 64, env = "GRADFLOW_MAX_IN_FLIGHT")]
        max_in_flight: usize,
        /// Requests that may wait for a turn; beyond that they are answered 503 (Retry-After).
        #[arg(long, default_value_t = 512, env = "GRADFLOW_MAX_QUEUED")]
        max_queued: usize,
        /// How long a queued request waits for a turn before a 503, in milliseconds.
        #[arg(long, default_value_t = 2000, env = "GRADFLOW_QUEUE_WAIT_MS")]
        queue_wait_ms: u64,
        /// On SIGTERM or SIGINT, how long requests and workers in flight may take to finish,
        /// in seconds.
        #[arg(long, default_value_t = 30, env = "GRADFLOW_SHUTDOWN_GRACE_SECS")]
        shutdown_grace_secs: u64,
        /// Secret the outbox signs its webhook messages with (HMAC-SHA256, README "Webhooks").
        #[arg(long, env = "GRADFLOW_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: Option<String>,
        /// SQLite: check each distinct read query's plan once and log (a `gradflow::plan`
        /// warning) one that scans a large table or sorts its rows after reading them.
        #[arg(long, env = "GRADFLOW_CHECK_QUERY_PLANS")]
        check_query_plans: bool,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Run the database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print the OpenAPI spec (JSON).
    Openapi,
    /// Validate workflows/, scripts/ and templates; print every problem; non-zero exit if any.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Print the integrators' reference (definition keys, field types, effects, facts and
    /// template data), generated from the code; with --write, replace it in that file
    /// (docs/flows.md) between its markers; with --json, print the JSON Schemas instead.
    Reference {
        #[arg(long)]
        write: Option<PathBuf>,
        #[arg(long, conflicts_with = "write")]
        json: bool,
    },
}

#[derive(clap::Args, Clone)]
struct LogArgs {
    /// Log lines as `text` (default) or `json` (one object per line, with the request span's
    /// id, method and path). Levels per module: GRADFLOW_LOG (e.g. `info,gradflow::sql=trace`).
    #[arg(long, value_enum, default_value = "text", env = "GRADFLOW_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr; colours only when stderr is a terminal (never into a file or a pipe).
fn init_tracing(log: &LogArgs) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("GRADFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.log_format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            bind,
            db,
            root,
            demo,
            test_clock,
            admin_token,
            webhook_url,
            public_url,
            outbox_retry_base_ms,
            worker_interval_ms,
            lookups_per_minute,
            max_connections,
            session_hours,
            guard_timeout_ms,
            max_in_flight,
            max_queued,
            queue_wait_ms,
            shutdown_grace_secs,
            webhook_secret,
            check_query_plans,
            log,
        } => {
            init_tracing(&log);
            let config = Config {
                bind,
                data_dir: db.data_dir,
                database_url: db.database_url,
                sqlite_synchronous: db.sqlite_synchronous,
                root,
                demo,
                test_clock,
                admin_token,
                public_url: public_url.unwrap_or_default(),
                webhook_url,
                outbox_retry_base_ms,
                worker_interval_ms,
                lookups_per_minute,
                max_connections,
                session_hours,
                guard_timeout_ms,
                max_in_flight,
                max_queued,
                queue_wait_ms,
                shutdown_grace_secs,
                webhook_secret,
                check_query_plans,
            };
            match gradflow_server::serve(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gradflow: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate { db, log } => {
            init_tracing(&log);
            let config = Config {
                data_dir: db.data_dir,
                database_url: db.database_url,
                sqlite_synchronous: db.sqlite_synchronous,
                ..Config::default()
            };
            match gradflow_server::db::migrate(&config).await {
                Ok(()) => {
                    println!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gradflow migrate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Openapi => {
            println!(
                "{}",
                gradflow_server::api::spec_json(&gradflow_server::api::service())
            );
            ExitCode::SUCCESS
        }
        Command::Reference { json: true, .. } => {
            println!("{:#}", gradflow_server::reference::schemas());
            ExitCode::SUCCESS
        }
        Command::Reference { write: None, .. } => {
            print!("{}", gradflow_server::reference::markdown());
            ExitCode::SUCCESS
        }
        Command::Reference {
            write: Some(path), ..
        } => {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            };
            let Some(new) = gradflow_server::reference::splice(&text) else {
                eprintln!(
                    "{}: the markers of the generated reference are missing",
                    path.display()
                );
                return ExitCode::FAILURE;
            };
            if let Err(e) = std::fs::write(&path, new) {
                eprintln!("{}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Command::Check { root } => {
            let sources = match read_tree(&root) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{}: {e}", root.display());
                    return ExitCode::FAILURE;
                }
            };
            let checked = Snapshot::build_checked(
                &sources,
                // Guards are tried as the server runs them: at most a second each.
                gradflow_server::guards::script_engine(std::time::Duration::from_secs(1)),
                std::sync::Arc::new(gradflow_server::contract::contract()),
            );
            match checked {
                Ok(snap) => {
                    println!("ok: {}", snap.loaded);
                    ExitCode::SUCCESS
                }
                Err(diags) => {
                    for d in &diags {
                        println!("{d}");
                    }
                    eprintln!("{} problem(s)", diags.len());
                    ExitCode::FAILURE
                }
            }
        }
    }
}
