//! Shared by the benchmarks: the server runs in a child process (the example re-executed with
//! `__serve`) so that its peak RSS is the server's alone.

#![allow(dead_code)]

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

/// Peak resident set size (`VmHWM`) of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the server when the example was re-executed as `__serve`; `None` otherwise.
pub async fn serve_if_child() -> Option<anyhow::Result<()>> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) != Some("__serve") {
        return None;
    }
    let get = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1).cloned())
    };
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("GRADFLOW_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let config = gradflow_server::config::Config {
        bind: get("--bind").unwrap_or_else(|| "127.0.0.1:0".into()),
        data_dir: get("--data-dir").unwrap_or_else(|| "./data".into()).into(),
        database_url: get("--database-url"),
        root: env!("CARGO_MANIFEST_DIR").into(),
        admin_token: get("--admin-token"),
        max_connections: 16,
        check_query_plans: argv.iter().any(|a| a == "--check-query-plans"),
        ..Default::default()
    };
    Some(gradflow_server::serve(config).await)
}

/// A server child process.
pub struct Server {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub base: String,
    pub admin: String,
    pub dir: tempfile::TempDir,
}

/// How to start a server child on data that is already there ([`start_at`]).
pub struct At<'a> {
    pub data_dir: &'a std::path::Path,
    pub database_url: Option<&'a str>,
    /// Check every distinct read query's plan (SQLite) and log it (`gradflow::plan`).
    pub check_plans: bool,
    /// Where the child's log (stderr) goes; inherited when `None`.
    pub log: Option<&'a std::path::Path>,
}

/// Starts the server child on a fresh temporary data directory (or `database_url`).
pub async fn start(database_url: Option<&str>) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    spawn(dir, None, database_url, false, None).await
}

/// Starts the server child on an existing data directory (and database).
pub async fn start_at(at: At<'_>) -> anyhow::Result<Server> {
    // The temporary directory only keeps the `Server` shape; the data is `at.data_dir`.
    let unused = tempfile::tempdir()?;
    spawn(
        unused,
        Some(at.data_dir),
        at.database_url,
        at.check_plans,
        at.log,
    )
    .await
}

async fn spawn(
    dir: tempfile::TempDir,
    data_dir: Option<&std::path::Path>,
    database_url: Option<&str>,
    check_plans: bool,
    log: Option<&std::path::Path>,
) -> anyhow::Result<Server> {
    let admin = format!("bench-admin-{}", std::process::id());
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.arg("__serve")
        .args([
            "--bind",
            "127.0.0.1:0",
            "--admin-token",
            &admin,
            "--data-dir",
        ])
        .arg(data_dir.unwrap_or(dir.path()))
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if check_plans {
        cmd.arg("--check-query-plans");
    }
    if let Some(path) = log {
        cmd.stderr(std::fs::File::create(path)?);
    }
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or_default();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut base = String::new();
    while let Some(line) = lines.next_line().await? {
        if let Some(url) = line.strip_prefix("gradflow listening on ") {
            base = url.trim().to_string();
            break;
        }
    }
    anyhow::ensure!(!base.is_empty(), "server did not start");
    Ok(Server {
        child,
        pid,
        base,
        admin,
        dir,
    })
}
