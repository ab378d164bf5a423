//! Starts the real `gradflow serve` binary (`CARGO_BIN_EXE_gradflow`) as a child process and
//! talks to it over real HTTP.
//!
//! [`spawn`] runs
//! `gradflow serve --bind 127.0.0.1:0 --data-dir DIR --root <crate root> --test-clock
//! --admin-token TOKEN [--database-url URL] [--webhook-url URL] [--demo] [extra args]`
//! on a fresh temporary data directory (SQLite lives there unless a database URL is given),
//! and waits for the line `gradflow listening on http://ADDR` on its stdout. Later stdout
//! lines are echoed to stderr prefixed with `[app] `; the child's stderr is inherited. The
//! child's environment carries no `GRADFLOW_*` variable except `GRADFLOW_LOG` (default
//! `warn`), so a developer's shell cannot change what a test runs against.
//!
//! [`spawn_on`] picks the backend: SQLite in the data directory, or a fresh database on the
//! shared PostgreSQL server of [`super::pg`]. Use [`crate::both_backends!`] to run one test
//! body on both. The process is killed (SIGKILL) when the [`App`] is dropped.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the app's temporary data directory.
    Sqlite,
    /// A fresh database on the test process's PostgreSQL server.
    Postgres,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

/// How to start the app.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// `--database-url`; `None` = SQLite in the data directory.
    pub database_url: Option<String>,
    /// `--webhook-url` (e.g. [`super::webhook::WebhookReceiver::url`]); `None` = no receiver.
    pub webhook_url: Option<String>,
    /// `--demo`: load the demo data.
    pub demo: bool,
    /// Appended to the command line as they are.
    pub extra_args: Vec<String>,
    /// `--root`: the tree of `workflows/` and `scripts/`; `None` = the repository's own.
    pub root: Option<std::path::PathBuf>,
    /// Environment variables set for the child (besides `GRADFLOW_LOG`).
    pub env: Vec<(String, String)>,
    /// Where the child's stderr (its log) goes; `None` = inherited.
    pub stderr: Option<std::path::PathBuf>,
}

/// An HTTP answer: status, body parsed as JSON (`Null` if empty or not JSON) and raw text.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Asserts a refusal: this status and this machine code (the body shown when not).
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            self.text
        );
    }
}

/// A running `gradflow serve`.
pub struct App {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    /// The system administrator's bearer token.
    pub admin_token: String,
    pub client: reqwest::Client,
    /// The data directory (kept across [`App::restart`], removed on drop).
    pub data_dir: tempfile::TempDir,
    opts: AppOptions,
    child: Child,
    /// While set ([`App::record`]), every response's (token, path, body) is kept.
    recorder: std::sync::Mutex<Option<Vec<Recorded>>>,
}

/// A response kept by the recorder: the bearer token sent, the path, the body.
#[derive(Clone)]
pub struct Recorded {
    pub token: String,
    pub path: String,
    pub body: Vec<u8>,
}

/// Bounds a hang while starting; not a timing assertion.
const START_WAIT: Duration = Duration::from_secs(60);
/// Bounds a hang of a single request; not a timing assertion.
const REQUEST_WAIT: Duration = Duration::from_secs(120);
const LISTENING: &str = "gradflow listening on http://";

/// The full command line of `gradflow serve` for these options.
pub fn serve_args(data_dir: &Path, admin_token: &str, opts: &AppOptions) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--bind".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--root".into(),
        opts.root
            .as_ref()
            .map(|r| r.display().to_string())
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
        "--test-clock".into(),
        "--admin-token".into(),
        admin_token.into(),
    ];
    if let Some(url) = &opts.database_url {
        args.extend(["--database-url".into(), url.clone()]);
    }
    if let Some(url) = &opts.webhook_url {
        args.extend(["--webhook-url".into(), url.clone()]);
    }
    if opts.demo {
        args.push("--demo".into());
    }
    args.extend(opts.extra_args.iter().cloned());
    args
}

/// The `gradflow` binary as a child of the test: no `GRADFLOW_*` variable of the caller's
/// environment but `GRADFLOW_LOG` (default `warn`), so a developer's shell cannot change what
/// a test runs against.
pub fn gradflow_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gradflow"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GRADFLOW_") && key != "GRADFLOW_LOG" {
            cmd.env_remove(&key);
        }
    }
    if std::env::var_os("GRADFLOW_LOG").is_none() {
        cmd.env("GRADFLOW_LOG", "warn");
    }
    cmd
}

async fn launch(data_dir: &Path, admin_token: &str, opts: &AppOptions) -> (Child, String) {
    let args = serve_args(data_dir, admin_token, opts);
    let mut cmd = gradflow_command();
    cmd.args(&args);
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let stderr = match &opts.stderr {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open the log file"),
        ),
        None => Stdio::inherit(),
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", env!("CARGO_BIN_EXE_gradflow")));
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut seen: Vec<String> = Vec::new();
    let found = tokio::time::timeout(START_WAIT, async {
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    eprintln!("[app] {line}");
                    if let Some(addr) = line.strip_prefix(LISTENING) {
                        let addr = addr.trim_end();
                        if !addr.is_empty() && !addr.contains(char::is_whitespace) {
                            return Some(format!("http://{}", addr.trim_end_matches('/')));
                        }
                    }
                    seen.push(line);
                }
                // End of stdout (the process exited) or unreadable output.
                Ok(None) | Err(_) => return None,
            }
        }
    })
    .await;
    let base = match found {
        Ok(Some(base)) => base,
        Ok(None) => {
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            panic!(
                "gradflow exited before listening (status: {status:?})\ncommand: gradflow {}\n\
                 stdout:\n{}",
                args.join(" "),
                seen.join("\n")
            );
        }
        Err(_) => {
            child.kill().await.ok();
            panic!(
                "gradflow printed no `{LISTENING}ADDR` line within {START_WAIT:?}\n\
                 command: gradflow {}\nstdout:\n{}",
                args.join(" "),
                seen.join("\n")
            );
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[app] {line}");
        }
    });
    (child, base)
}

/// A random hex token (from /dev/urandom; falls back to time and pid).
pub fn random_token(prefix: &str) -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            ^ (u128::from(std::process::id()) << 64);
        bytes = n.to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// Starts `gradflow serve` with these options on a fresh data directory.
pub async fn spawn(opts: AppOptions) -> App {
    let data_dir = tempfile::Builder::new()
        .prefix("gradflow-app-")
        .tempdir()
        .expect("create the data directory");
    let admin_token = random_token("admin-");
    let (child, base) = launch(data_dir.path(), &admin_token, &opts).await;
    App {
        base,
        admin_token,
        client: reqwest::Client::builder()
            .timeout(REQUEST_WAIT)
            .build()
            .expect("HTTP client"),
        data_dir,
        opts,
        child,
        recorder: std::sync::Mutex::new(None),
    }
}

/// Starts the app on `backend`: for PostgreSQL, `database_url` (if not given) becomes a fresh
/// database on the shared server; for SQLite, the options are used as they are.
pub async fn spawn_on(backend: Backend, mut opts: AppOptions) -> App {
    if backend == Backend::Postgres && opts.database_url.is_none() {
        let server = super::pg::pg().await;
        let url = tokio::task::spawn_blocking(move || server.create_database())
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        opts.database_url = Some(url);
    }
    spawn(opts).await
}

/// Runs `async fn NAME(backend: Backend)` test bodies as `sqlite::NAME` and `postgres::NAME`
/// tokio tests. Invoke once per test file, after the functions:
///
/// ```ignore
/// async fn happy_path(backend: Backend) { let app = spawn_on(backend, AppOptions::default()).await; ... }
/// crate::both_backends!(happy_path, other_test);
/// ```
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::app::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::app::Backend::Postgres).await
                }
            )*
        }
    };
}

impl App {
    /// `base` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The options the app was started with (with the database URL filled in).
    pub fn options(&self) -> &AppOptions {
        &self.opts
    }

    /// The child's process id (None once it was reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends a request with `token` as bearer token (no Authorization header when empty).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method.clone(), self.url(path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req, &method, path, token).await
    }

    /// Starts keeping every response (see [`App::recorded`]).
    pub fn record(&self) {
        *self.recorder.lock().unwrap() = Some(Vec::new());
    }

    /// The responses kept since [`App::record`].
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorder.lock().unwrap().clone().unwrap_or_default()
    }

    fn keep(&self, token: &str, path: &str, body: &[u8]) {
        if let Some(r) = self.recorder.lock().unwrap().as_mut() {
            r.push(Recorded {
                token: token.to_string(),
                path: path.to_string(),
                body: body.to_vec(),
            });
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        method: &reqwest::Method,
        path: &str,
        token: &str,
    ) -> Resp {
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let text = r
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        self.keep(token, path, text.as_bytes());
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text }
    }

    async fn send_text(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &str,
    ) -> Resp {
        let mut req = self
            .client
            .request(method.clone(), self.url(path))
            .header("content-type", "text/plain; charset=utf-8")
            .body(body.to_string());
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        self.send(req, &method, path, token).await
    }

    /// GET returning the raw body (files: XLSX exports, images) and its content type.
    pub async fn get_bytes(&self, path: &str, token: &str) -> (u16, Vec<u8>, String) {
        let mut req = self.client.get(self.url(path));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = r
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: reading the body: {e}"));
        self.keep(token, path, &bytes);
        (status, bytes.to_vec(), ct)
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.request(reqwest::Method::DELETE, path, token, None)
            .await
    }

    /// POST a file's bytes as an `application/octet-stream` body.
    pub async fn post_bytes(&self, path: &str, token: &str, bytes: Vec<u8>) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/octet-stream")
            .body(bytes);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        self.send(req, &reqwest::Method::POST, path, token).await
    }

    /// POST with a `text/plain; charset=utf-8` body.
    pub async fn post_text(&self, path: &str, token: &str, body: &str) -> Resp {
        self.send_text(reqwest::Method::POST, path, token, body)
            .await
    }

    /// PUT with a `text/plain; charset=utf-8` body.
    pub async fn put_text(&self, path: &str, token: &str, body: &str) -> Resp {
        self.send_text(reqwest::Method::PUT, path, token, body)
            .await
    }

    /// Kills the process (SIGKILL, no graceful shutdown), waits for it, and starts it again
    /// with the same data directory, options and admin token; `base` gets the new address.
    pub async fn restart(&mut self) {
        self.kill().await;
        let (child, base) = launch(self.data_dir.path(), &self.admin_token, &self.opts).await;
        self.child = child;
        self.base = base;
    }

    /// Sends SIGTERM (a graceful stop) and waits for the process to end (at most a minute);
    /// its exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the process runs");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the server stops within a minute of SIGTERM")
            .expect("wait for the server")
    }

    /// Kills the process (SIGKILL) and waits for it. Requests fail until [`Self::restart`].
    pub async fn kill(&mut self) {
        self.child.kill().await.ok();
        self.child.wait().await.ok();
    }
}
