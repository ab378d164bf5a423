//! Load generator: drives N online-signing instances (invite, accept, department approve,
//! school approve) through the real HTTP server with C concurrent clients.
//!
//! ```sh
//! cargo run --release --example load -- --graduates 2000 --clients 16 [--database-url URL]
//! ```
//!
//! The server runs in a child process (this example re-executed with `__serve`), so its peak
//! RSS (`VmHWM`) is the server's alone. SQLite lives in a fresh temporary directory; with
//! `--database-url` the database should be empty. This is a benchmark: it prints figures and
//! asserts nothing about speed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

mod support;

/// The server child runs in this binary: the same allocator as `gradflow` (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::{json, Value};

#[derive(Parser, Clone)]
struct Args {
    #[arg(long, default_value_t = 2000)]
    graduates: usize,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long)]
    database_url: Option<String>,
    /// Servers on the one database (PostgreSQL only), clients spread evenly over them.
    #[arg(long, default_value_t = 1)]
    servers: usize,
}

const DEPTS: [&str; 2] = ["计算机科学与技术系", "外国语学院"];
const STEPS: [&str; 4] = ["invite", "accept", "dept", "school"];

#[derive(Default)]
struct Stats {
    latencies: Vec<Vec<u32>>,
    errors: BTreeMap<u16, usize>,
    samples: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value, Duration) {
        let start = Instant::now();
        let r = self
            .http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
        let elapsed = start.elapsed();
        match r {
            Ok(r) => {
                let status = r.status().as_u16();
                let v = r.json::<Value>().await.unwrap_or(Value::Null);
                (status, v, elapsed)
            }
            Err(e) => (599, json!({"error": e.to_string()}), elapsed),
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(r) = support::serve_if_child().await {
        return r;
    }
    let args = Args::parse();
    anyhow::ensure!(
        args.servers >= 1 && (args.servers == 1 || args.database_url.is_some()),
        "--servers above 1 needs --database-url (SQLite has one server, its one writer)"
    );
    let mut servers = vec![support::start(args.database_url.as_deref()).await?];
    for _ in 1..args.servers {
        servers.push(support::start(args.database_url.as_deref()).await?);
    }
    let admin = servers[0].admin.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .build()?;
    let clients: Vec<Arc<Client>> = servers
        .iter()
        .map(|s| {
            Arc::new(Client {
                http: http.clone(),
                base: s.base.clone(),
            })
        })
        .collect();
    let client = clients[0].clone();
    let backend = if args.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    println!(
        "gradflow load: backend={backend} graduates={} clients={} servers={}",
        args.graduates, args.clients, args.servers
    );

    // Setup (not measured).
    let setup = Instant::now();
    let c = &client;
    let must = |r: (u16, Value, Duration), what: &str| -> anyhow::Result<Value> {
        anyhow::ensure!(r.0 < 300, "{what}: {} {}", r.0, r.1);
        Ok(r.1)
    };
    must(c.post("/api/v1/admin/provinces", &admin, json!({"code": "32", "name": "江苏省", "agreement_type": "two_party", "employment_enabled": true})).await, "province")?;
    let school = must(c.post("/api/v1/admin/schools", &admin, json!({"code": "10284", "name": "南京大学", "province_code": "32", "review_mode_employment": "department_then_school", "signing_enabled": true, "departments": DEPTS})).await, "school")?["id"].as_i64().unwrap();
    let mut graduates: Vec<(i64, usize)> = Vec::with_capacity(args.graduates);
    for chunk_start in (0..args.graduates).step_by(1000) {
        let rows: Vec<Value> = (chunk_start..(chunk_start + 1000).min(args.graduates))
            .map(|i| json!({"candidate_no": format!("2632{:010}", i), "id_number": format!("3201022000{:08}", i), "name": format!("学生{i}"), "department": DEPTS[i % 2], "training_mode": "10", "mobile": "13800138000"}))
            .collect();
        let ids = must(
            c.post(
                &format!("/api/v1/admin/schools/{school}/graduates"),
                &admin,
                Value::Array(rows),
            )
            .await,
            "graduates",
        )?;
        for (k, id) in ids["ids"].as_array().unwrap().iter().enumerate() {
            graduates.push((id.as_i64().unwrap(), (chunk_start + k) % 2));
        }
    }
    let employer = must(
        c.post(
            "/api/v1/admin/employers",
            &admin,
            json!({"name": "南京示例科技有限公司", "credit_code": "91350100M000100Y43"}),
        )
        .await,
        "employer",
    )?["id"]
        .as_i64()
        .unwrap();
    let token = |v: Value| v["token"].as_str().unwrap().to_string();
    let employer_tok = token(must(
        c.post(
            "/api/v1/admin/accounts",
            &admin,
            json!({"username": "emp", "role": "employer", "employer_id": employer}),
        )
        .await,
        "account",
    )?);
    let school_tok = token(must(c.post("/api/v1/admin/accounts", &admin, json!({"username": "school", "role": "school", "province_code": "32", "school_id": school})).await, "account")?);
    let mut dept_toks = Vec::new();
    for (i, d) in DEPTS.iter().enumerate() {
        dept_toks.push(token(must(c.post("/api/v1/admin/accounts", &admin, json!({"username": format!("dept{i}"), "role": "department", "province_code": "32", "school_id": school, "department": d})).await, "account")?));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let grad_toks: Arc<Mutex<Vec<(usize, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let graduates = Arc::new(graduates);
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (c, next, out, graduates, admin) = (
            client.clone(),
            next.clone(),
            grad_toks.clone(),
            graduates.clone(),
            admin.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((g, d)) = graduates.get(i).copied() else { break };
                let r = c.post("/api/v1/admin/accounts", &admin, json!({"username": format!("g{i}"), "role": "graduate", "province_code": "32", "school_id": school, "department": DEPTS[d], "graduate_id": g})).await;
                out.lock().unwrap().push((i, r.1["token"].as_str().unwrap_or_default().to_string()));
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let mut toks = std::mem::take(&mut *grad_toks.lock().unwrap());
    toks.sort();
    let grad_toks: Arc<Vec<String>> = Arc::new(toks.into_iter().map(|(_, t)| t).collect());
    println!("setup: {:.1} s", setup.elapsed().as_secs_f64());

    // Measured phase.
    let stats = Arc::new(Mutex::new(Stats {
        latencies: vec![Vec::new(); 4],
        ..Default::default()
    }));
    let next = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicUsize::new(0));
    let transitions = Arc::new(AtomicUsize::new(0));
    let dept_toks = Arc::new(dept_toks);
    let before = metrics_of(&clients).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..args.clients {
        let (c, next, stats, graduates, grad_toks, dept_toks) = (
            clients[k % clients.len()].clone(),
            next.clone(),
            stats.clone(),
            graduates.clone(),
            grad_toks.clone(),
            dept_toks.clone(),
        );
        let (employer_tok, school_tok, completed, transitions) = (
            employer_tok.clone(),
            school_tok.clone(),
            completed.clone(),
            transitions.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((g, d)) = graduates.get(i).copied() else { break };
                let record = |step: usize, r: &(u16, Value, Duration)| {
                    let mut s = stats.lock().unwrap();
                    s.latencies[step].push(r.2.as_micros() as u32);
                    if r.0 >= 300 {
                        *s.errors.entry(r.0).or_default() += 1;
                        if s.samples.len() < 5 {
                            s.samples.push(format!("{} {}: {}", STEPS[step], r.0, r.1));
                        }
                        false
                    } else {
                        true
                    }
                };
                let r = c.post("/api/v1/flows/online_signing/instances", &employer_tok, json!({"graduate_id": g, "input": {"position": "软件工程师", "job_category": "13", "work_place": "320100", "contact_person": "王经理", "contact_mobile": "13912345678"}})).await;
                if !record(0, &r) { continue; }
                transitions.fetch_add(1, Ordering::Relaxed);
                let id = r.1["id"].as_i64().unwrap_or_default();
                let steps: [(usize, &str, &str); 3] = [(1, "accept", &grad_toks[i]), (2, "approve", &dept_toks[d]), (3, "approve", &school_tok)];
                let mut ok = true;
                for (step, action, tok) in steps {
                    let r = c.post(&format!("/api/v1/instances/{id}/actions/{action}"), tok, json!({"input": {}})).await;
                    if !record(step, &r) { ok = false; break; }
                    transitions.fetch_add(1, Ordering::Relaxed);
                    if step == 3 && r.1["state"] != "signed" { ok = false; }
                }
                if ok { completed.fetch_add(1, Ordering::Relaxed); }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let after = metrics_of(&clients).await;
    let s = std::mem::take(&mut *stats.lock().unwrap());
    let mut all: Vec<u32> = s.latencies.iter().flatten().copied().collect();
    all.sort_unstable();
    let per_step: Vec<String> = s
        .latencies
        .iter()
        .zip(STEPS)
        .map(|(l, name)| {
            let mut l = l.clone();
            l.sort_unstable();
            format!(
                "{name} {:.1}/{:.1}",
                percentile(&l, 0.5),
                percentile(&l, 0.99)
            )
        })
        .collect();
    let done = completed.load(Ordering::Relaxed);
    let trans = transitions.load(Ordering::Relaxed);
    println!(
        "completed instances: {done} in {secs:.2} s = {:.0}/s",
        done as f64 / secs
    );
    println!("transitions: {trans} = {:.0}/s", trans as f64 / secs);
    println!(
        "latency p50 = {:.1} ms, p99 = {:.1} ms (per step p50/p99 ms: {})",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        per_step.join(", ")
    );
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let stored = delta("gradflow_transitions_total").max(1.0);
    println!(
        "statements per transition: {:.1} ({:.1} reads, {:.1} writes; from GET /metrics)",
        (delta("read") + delta("write")) / stored,
        delta("read") / stored,
        delta("write") / stored,
    );
    let commits = delta("gradflow_sqlite_commits_total");
    if commits > 0.0 {
        println!(
            "SQLite commits: {commits:.0} ({:.1} transitions per commit); writer busy {:.0} % of the run, {:.0} µs per transition",
            stored / commits,
            100.0 * delta("gradflow_sqlite_writer_busy_seconds_total") / secs,
            1e6 * delta("gradflow_sqlite_writer_busy_seconds_total") / stored
        );
    }
    println!(
        "errors: {} {:?}",
        s.errors.values().sum::<usize>(),
        s.errors
    );
    for sample in &s.samples {
        println!("  {sample}");
    }
    for server in &mut servers {
        match support::peak_rss_mib(server.pid) {
            Some(m) => println!("server peak RSS: {m:.1} MiB"),
            None => println!("server peak RSS: unknown"),
        }
        server.child.kill().await.ok();
    }
    Ok(())
}

/// The counters of every server, summed.
async fn metrics_of(clients: &[Arc<Client>]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for c in clients {
        for (k, v) in metrics(c).await {
            *out.entry(k).or_insert(0.0) += v;
        }
    }
    out
}

/// The server's counters from `GET /metrics`: statements by pool (`read`, `write`) and
/// `gradflow_transitions_total`.
async fn metrics(c: &Client) -> BTreeMap<String, f64> {
    let text = c
        .http
        .get(format!("{}/metrics", c.base))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let key = match key {
            "gradflow_db_statements_total{pool=\"read\"}" => "read",
            "gradflow_db_statements_total{pool=\"write\"}" => "write",
            other => other,
        };
        if let Ok(v) = value.parse() {
            out.insert(key.to_string(), v);
        }
    }
    out
}
