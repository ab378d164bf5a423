//! A season at province scale, then its read benchmark: what a 20,000-graduate school, one of
//! its departments and the province read every day, measured on the generated data.
//!
//! ```sh
//! cargo run --release --example season -- --data-dir /tmp/season [--database-url URL] \
//!     [--graduates 900000] [--schools 60] [--requests 300] [--generate-only]
//! ```
//!
//! The first run generates the season into the (empty) database of `--data-dir` (SQLite there,
//! or `--database-url`) through the store's bulk writer (`gradflow_server::season`), with a
//! progress bar and the time it took, and records whom the benchmark acts as in
//! `season.json`; a later run on the same directory only measures. The server runs in a child
//! process (this example re-executed with `__serve`), so its peak RSS (`VmHWM`) is its own.
//! Each endpoint is read `--requests` times by one client after a warm-up; p50 and p99 are
//! printed per endpoint. The queries' plans: on SQLite a first pass runs the server with
//! `--check-query-plans` and prints every distinct read query's `EXPLAIN QUERY PLAN` (any
//! that scans a large table or sorts after reading is flagged by the server); on PostgreSQL
//! the table and index scan counters (`pg_stat_user_tables`, `pg_stat_user_indexes`) over
//! the measured requests show which indexes served them and whether a large table was read
//! sequentially. A benchmark: it prints figures and asserts nothing about speed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{json, Value};

mod support;

/// The server child runs in this binary: the same allocator as `gradflow` (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// The data directory (SQLite database, `season.json`).
    #[arg(long)]
    data_dir: PathBuf,
    /// A PostgreSQL database (empty before the first run) instead of SQLite.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 900_000)]
    graduates: usize,
    #[arg(long, default_value_t = 60)]
    schools: usize,
    /// Graduates of the benchmark's school.
    #[arg(long, default_value_t = 20_000)]
    big_school: usize,
    #[arg(long, default_value_t = 3_000)]
    employers: usize,
    /// Measured requests per endpoint.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Generate (if needed) and stop.
    #[arg(long)]
    generate_only: bool,
}

/// Whom the benchmark acts as, kept beside the data.
fn season_file(dir: &Path) -> PathBuf {
    dir.join("season.json")
}

async fn generate(args: &Args, state: &gradflow_server::service::State) -> anyhow::Result<Value> {
    let opts = gradflow_server::season::Options {
        graduates: args.graduates,
        schools: args.schools,
        big_school: args.big_school,
        employers: args.employers,
        ..Default::default()
    };
    let bar = indicatif::ProgressBar::new(opts.graduates as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} graduates ({per_sec}, {eta} left)",
        )?
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let s =
        gradflow_server::season::generate(state, &opts, &|done, _| bar.set_position(done)).await?;
    bar.finish();
    let took = started.elapsed();
    println!(
        "generated {} graduates in {} schools, {} instances, {} history rows, {} open tasks in {:.0} s ({:.0} instances/s)",
        s.graduates,
        opts.schools,
        s.instances,
        s.history,
        s.tasks,
        took.as_secs_f64(),
        s.instances as f64 / took.as_secs_f64()
    );
    for (flow, states) in &s.states {
        let line: Vec<String> = states.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  {flow}: {}", line.join(", "));
    }
    if !s.missed.is_empty() {
        println!(
            "  reachable states no instance stands in: {}",
            s.missed.join(", ")
        );
    }
    let who = json!({
        "big_school_id": s.big_school_id,
        "school_account": s.school_account,
        "department_account": s.department_account,
        "department": s.department,
        "province_account": s.province_account,
        "graduates": s.graduates,
        "instances": s.instances,
        "generated_in_seconds": took.as_secs_f64(),
    });
    std::fs::write(
        season_file(&args.data_dir),
        serde_json::to_vec_pretty(&who)?,
    )?;
    Ok(who)
}

/// One endpoint as one caller reads it.
struct Read {
    caller: &'static str,
    token: String,
    path: String,
}

fn reads(tokens: &BTreeMap<&'static str, String>) -> Vec<Read> {
    let mut out = Vec::new();
    let mut add = |caller: &'static str, path: &str| {
        out.push(Read {
            caller,
            token: tokens[caller].clone(),
            path: format!("/api/v1{path}"),
        })
    };
    for caller in ["school", "department"] {
        add(caller, "/tasks");
        add(caller, "/tasks/counts");
        add(caller, "/home");
    }
    for list in [
        "signing",
        "supplement",
        "termination",
        "destination",
        "archive",
        "hukou",
        "confirmation",
    ] {
        add("school", &format!("/lists/{list}"));
        add("province", &format!("/lists/{list}"));
    }
    for subject in ["signing", "destination", "archive", "hukou", "confirmation"] {
        add("province", &format!("/statistics/{subject}"));
    }
    add("school", "/statistics/destination?by=department");
    add("school", "/confirmations/stats");
    add("province", "/confirmations/stats");
    add("province", "/home");
    out
}

async fn get(http: &reqwest::Client, base: &str, r: &Read) -> anyhow::Result<(u16, Duration)> {
    let start = Instant::now();
    let res = http
        .get(format!("{base}{}", r.path))
        .bearer_auth(&r.token)
        .send()
        .await?;
    let status = res.status().as_u16();
    res.bytes().await?;
    Ok((status, start.elapsed()))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The value of `key="…"` in a log line (`\"` inside unescaped).
fn quoted(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(&format!("{key}=\""))? + key.len() + 2..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// Scan counters of PostgreSQL's tables and indexes: `(name, scans)`.
async fn pg_scans(db: &DatabaseConnection) -> anyhow::Result<BTreeMap<String, (i64, i64)>> {
    let mut out = BTreeMap::new();
    let rows = db
        .query_all(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT relname AS name, COALESCE(seq_scan, 0) AS seq, n_live_tup AS rows \
             FROM pg_stat_user_tables",
        ))
        .await?;
    for r in rows {
        let name: String = r.try_get("", "name")?;
        out.insert(
            format!("table {name}"),
            (r.try_get("", "seq")?, r.try_get("", "rows")?),
        );
    }
    let rows = db
        .query_all(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT indexrelname AS name, relname AS tab, COALESCE(idx_scan, 0) AS scans \
             FROM pg_stat_user_indexes",
        ))
        .await?;
    for r in rows {
        let name: String = r.try_get("", "name")?;
        let tab: String = r.try_get("", "tab")?;
        out.insert(format!("index {tab}.{name}"), (r.try_get("", "scans")?, 0));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(r) = support::serve_if_child().await {
        return r;
    }
    let args = Args::parse();
    std::fs::create_dir_all(&args.data_dir)?;
    let config = gradflow_server::config::Config {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        root: env!("CARGO_MANIFEST_DIR").into(),
        ..Default::default()
    };
    let state = gradflow_server::init(config).await?;
    let who: Value = match std::fs::read(season_file(&args.data_dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => generate(&args, &state).await?,
    };
    if args.generate_only {
        return Ok(());
    }
    let mut tokens = BTreeMap::new();
    for (caller, key) in [
        ("school", "school_account"),
        ("department", "department_account"),
        ("province", "province_account"),
    ] {
        let id = who[key].as_i64().unwrap_or_default();
        let t = gradflow_server::auth::issue_token(&state.db, id, "session")
            .await
            .map_err(|e| anyhow::anyhow!("token: {e:?}"))?;
        tokens.insert(caller, t);
    }
    drop(state);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reads = reads(&tokens);
    let http = reqwest::Client::new();
    println!(
        "season: {} graduates, {} instances; the school {} (largest department {})",
        who["graduates"], who["instances"], who["big_school_id"], who["department"]
    );

    if args.database_url.is_none() {
        // The plans, on a server that checks each distinct read query's.
        let log = args.data_dir.join("plans.log");
        std::env::set_var("GRADFLOW_LOG", "warn,gradflow::plan=info");
        std::env::set_var("NO_COLOR", "1");
        let server = support::start_at(support::At {
            data_dir: &args.data_dir,
            database_url: None,
            check_plans: true,
            log: Some(&log),
        })
        .await?;
        std::env::remove_var("GRADFLOW_LOG");
        for r in &reads {
            get(&http, &server.base, r).await?;
        }
        drop(server);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let text = std::fs::read_to_string(&log)?;
        let mut plans: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for line in text.lines().filter(|l| l.contains("gradflow::plan")) {
            let (Some(sql), Some(plan)) = (quoted(line, "sql"), quoted(line, "plan")) else {
                continue;
            };
            plans.insert(sql, (plan, line.contains("WARN")));
        }
        let flagged = plans.values().filter(|(_, w)| *w).count();
        println!(
            "\nquery plans checked (EXPLAIN QUERY PLAN): {} distinct read queries, {flagged} flagged",
            plans.len()
        );
        for (sql, (plan, warned)) in &plans {
            let short: String = sql.chars().take(160).collect();
            println!(
                "{} {short}\n    {plan}",
                if *warned { "FLAGGED" } else { "ok" }
            );
        }
    }

    let server = support::start_at(support::At {
        data_dir: &args.data_dir,
        database_url: args.database_url.as_deref(),
        check_plans: false,
        log: None,
    })
    .await?;
    let pg = match &args.database_url {
        Some(url) => Some(Database::connect(url.as_str()).await?),
        None => None,
    };
    for r in &reads {
        for _ in 0..10 {
            get(&http, &server.base, r).await?;
        }
    }
    let before = match &pg {
        Some(db) => pg_scans(db).await?,
        None => BTreeMap::new(),
    };
    println!("\n| caller | endpoint | status | p50 | p99 | max |\n|---|---|---|---|---|---|");
    for r in &reads {
        let n = args.requests.max(1);
        let mut took = Vec::with_capacity(n);
        let mut statuses = BTreeMap::new();
        for _ in 0..n {
            let (status, d) = get(&http, &server.base, r).await?;
            *statuses.entry(status).or_insert(0usize) += 1;
            took.push(d);
        }
        took.sort();
        let status: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!(
            "| {} | `{}` | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            r.caller,
            r.path.trim_start_matches("/api/v1"),
            status.join(" "),
            percentile(&took, 0.5),
            percentile(&took, 0.99),
            percentile(&took, 1.0),
        );
    }
    if let Some(db) = &pg {
        let after = pg_scans(db).await?;
        println!("\nPostgreSQL scans during the measured requests:");
        for (name, (n, rows)) in &after {
            let d = n - before.get(name).map_or(0, |b| b.0);
            if d > 0 {
                let note = if name.starts_with("table") {
                    format!(" sequential scans (table of {rows} rows)")
                } else {
                    " index scans".to_string()
                };
                println!("  {name}: {d}{note}");
            }
        }
    }
    println!(
        "\nserver peak RSS: {:.0} MiB",
        support::peak_rss_mib(server.pid).unwrap_or(0.0)
    );
    Ok(())
}
