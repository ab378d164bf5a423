//! What the service counts, for `GET /metrics` (Prometheus text format): HTTP requests by
//! status class with a latency histogram and by route (the spec's path template), method and
//! status, database statements by pool (read, write) with a histogram of statements per
//! request, transitions stored (by flow), failed outbox deliveries; and, read from the
//! database when scraped, the outbox backlog and how late the most overdue timer is. Counters
//! are process-wide atomics; the statements of one request are counted in a task-local the
//! edge sets around the request.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A histogram with fixed upper bounds.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum in millionths (of seconds, or of counts), kept as an integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((v * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Requests of one route by method, then status.
pub type ByMethod = BTreeMap<String, BTreeMap<u16, u64>>;

/// The process's figures.
pub struct Metrics {
    pub read_statements: AtomicU64,
    pub write_statements: AtomicU64,
    pub transitions: AtomicU64,
    /// Requests by status class 1xx..5xx (index 0..4).
    pub requests: [AtomicU64; 5],
    pub latency: Histogram,
    pub statements_per_request: Histogram,
    /// Requests by route template, method and status.
    pub by_route: Mutex<BTreeMap<String, ByMethod>>,
    /// Transitions by flow key.
    pub by_flow: Mutex<BTreeMap<String, u64>>,
    /// Outbox deliveries that failed (each is retried later).
    pub outbox_failures: AtomicU64,
}

static LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
static STATEMENT_BOUNDS: [f64; 10] = [0.0, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0];

pub static METRICS: std::sync::LazyLock<Metrics> = std::sync::LazyLock::new(|| Metrics {
    read_statements: AtomicU64::new(0),
    write_statements: AtomicU64::new(0),
    transitions: AtomicU64::new(0),
    requests: Default::default(),
    latency: Histogram::new(&LATENCY_BOUNDS),
    statements_per_request: Histogram::new(&STATEMENT_BOUNDS),
    by_route: Default::default(),
    by_flow: Default::default(),
    outbox_failures: AtomicU64::new(0),
});

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts a request answered on `route` (a path template of the spec, or a fixed name).
pub fn route(method: &str, route: &str, status: u16) {
    let mut routes = lock(&METRICS.by_route);
    *entry(entry(&mut routes, route), method)
        .entry(status)
        .or_default() += 1;
}

/// Counts a transition of flow `key`.
pub fn transition(key: &str) {
    METRICS.transitions.fetch_add(1, Ordering::Relaxed);
    *entry(&mut lock(&METRICS.by_flow), key) += 1;
}

/// The value under `key`, inserted when absent: the key is copied only then (these maps
/// are updated on every request).
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("just inserted")
}

/// What `GET /metrics` reads from the database when scraped.
pub struct Backlog {
    /// Outbox messages not delivered yet.
    pub outbox_pending: u64,
    /// Seconds the most overdue unclaimed timer is past its due time (0 when none is).
    pub timer_lag_seconds: f64,
}

tokio::task_local! {
    /// The statements of the request being served.
    static REQUEST_STATEMENTS: Cell<u32>;
}

/// Counts one statement on the read pool (`write: false`) or the writer.
pub fn statement(write: bool) {
    let m = &*METRICS;
    if write {
        m.write_statements.fetch_add(1, Ordering::Relaxed);
    } else {
        m.read_statements.fetch_add(1, Ordering::Relaxed);
    }
    let _ = REQUEST_STATEMENTS.try_with(|c| c.set(c.get() + 1));
}

/// Runs a request's future counting its statements; records them, its status and latency.
pub async fn request<F, T>(fut: F, status: impl FnOnce(&T) -> u16) -> T
where
    F: std::future::Future<Output = T>,
{
    let start = std::time::Instant::now();
    let (out, n) = REQUEST_STATEMENTS
        .scope(Cell::new(0), async {
            let out = fut.await;
            (out, REQUEST_STATEMENTS.with(Cell::get))
        })
        .await;
    let m = &*METRICS;
    let class = (status(&out) / 100).clamp(1, 5) as usize - 1;
    m.requests[class].fetch_add(1, Ordering::Relaxed);
    m.latency.observe(start.elapsed().as_secs_f64());
    m.statements_per_request.observe(n as f64);
    out
}

/// The figures in Prometheus text format.
pub fn render(backlog: Option<&Backlog>) -> String {
    let m = &*METRICS;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP gradflow_http_route_requests_total HTTP requests by method, route (the API's path template) and status.\n# TYPE gradflow_http_route_requests_total counter"
    );
    for (route, methods) in lock(&m.by_route).iter() {
        for (method, statuses) in methods {
            for (status, n) in statuses {
                let _ = writeln!(
                    out,
                    "gradflow_http_route_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP gradflow_flow_transitions_total Transitions stored, by flow.\n# TYPE gradflow_flow_transitions_total counter"
    );
    for (flow, n) in lock(&m.by_flow).iter() {
        let _ = writeln!(
            out,
            "gradflow_flow_transitions_total{{flow=\"{flow}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP gradflow_outbox_failures_total Outbox deliveries that failed (retried with backoff).\n# TYPE gradflow_outbox_failures_total counter\ngradflow_outbox_failures_total {}",
        m.outbox_failures.load(Ordering::Relaxed)
    );
    if let Some(b) = backlog {
        let _ = writeln!(
            out,
            "# HELP gradflow_outbox_pending Outbox messages not delivered yet.\n# TYPE gradflow_outbox_pending gauge\ngradflow_outbox_pending {}",
            b.outbox_pending
        );
        let _ = writeln!(
            out,
            "# HELP gradflow_timer_lag_seconds How far past its due time the most overdue unclaimed timer is.\n# TYPE gradflow_timer_lag_seconds gauge\ngradflow_timer_lag_seconds {}",
            b.timer_lag_seconds
        );
    }
    let _ = writeln!(
        out,
        "# HELP gradflow_db_statements_total Database statements, by pool.\n# TYPE gradflow_db_statements_total counter"
    );
    let _ = writeln!(
        out,
        "gradflow_db_statements_total{{pool=\"read\"}} {}",
        m.read_statements.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "gradflow_db_statements_total{{pool=\"write\"}} {}",
        m.write_statements.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP gradflow_transitions_total Transitions stored (starts, actions, timers, reactions).\n# TYPE gradflow_transitions_total counter\ngradflow_transitions_total {}",
        m.transitions.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP gradflow_http_requests_total HTTP requests answered, by status class.\n# TYPE gradflow_http_requests_total counter"
    );
    for (i, n) in m.requests.iter().enumerate() {
        let _ = writeln!(
            out,
            "gradflow_http_requests_total{{class=\"{}xx\"}} {}",
            i + 1,
            n.load(Ordering::Relaxed)
        );
    }
    m.latency.render(
        &mut out,
        "gradflow_http_request_duration_seconds",
        "Time to answer an HTTP request.",
    );
    m.statements_per_request.render(
        &mut out,
        "gradflow_http_request_statements",
        "Database statements per HTTP request.",
    );
    use crate::db::sqlite::{BUSY_NANOS, COMMITS, GROUPED, WAITING};
    let _ = writeln!(
        out,
        "# HELP gradflow_row_cache_total Lookups of rows kept in process (graduates, schools, provinces, employers, warning marks), by result.\n# TYPE gradflow_row_cache_total counter\ngradflow_row_cache_total{{result=\"hit\"}} {}\ngradflow_row_cache_total{{result=\"miss\"}} {}",
        crate::db::cache::HITS.load(Ordering::Relaxed),
        crate::db::cache::MISSES.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP gradflow_sqlite_commits_total SQLite commits of the writer (each holds a group of write transactions).\n# TYPE gradflow_sqlite_commits_total counter\ngradflow_sqlite_commits_total {}",
        COMMITS.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP gradflow_sqlite_grouped_transactions_total Write transactions those commits held.\n# TYPE gradflow_sqlite_grouped_transactions_total counter\ngradflow_sqlite_grouped_transactions_total {}",
        GROUPED.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP gradflow_sqlite_writers_waiting Writers waiting for the SQLite writer's turn.\n# TYPE gradflow_sqlite_writers_waiting gauge\ngradflow_sqlite_writers_waiting {}",
        WAITING.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP gradflow_sqlite_writer_busy_seconds_total Time the SQLite writer's turn was held (its utilisation bounds write throughput).\n# TYPE gradflow_sqlite_writer_busy_seconds_total counter\ngradflow_sqlite_writer_busy_seconds_total {}",
        BUSY_NANOS.load(Ordering::Relaxed) as f64 / 1e9
    );
    out
}
