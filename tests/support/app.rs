//! Starts the real `gradflow serve` binary on port 0 with a fresh database and talks to it
//! over HTTP.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Default)]
pub struct AppOptions {
    pub database_url: Option<String>,
    pub webhook_url: Option<String>,
    pub demo: bool,
    pub extra_args: Vec<String>,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

pub struct App {
    pub base: String,
    pub admin_token: String,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    opts: AppOptions,
    child: Child,
}

async fn launch(
    data_dir: &std::path::Path,
    admin_token: &str,
    opts: &AppOptions,
) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gradflow"));
    cmd.arg("serve")
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args([
            "--root",
            env!("CARGO_MANIFEST_DIR"),
            "--test-clock",
            "--admin-token",
            admin_token,
        ]);
    if let Some(url) = &opts.database_url {
        cmd.args(["--database-url", url]);
    }
    if let Some(url) = &opts.webhook_url {
        cmd.args(["--webhook-url", url]);
    }
    if opts.demo {
        cmd.arg("--demo");
    }
    cmd.args(&opts.extra_args)
        .env("GRADFLOW_LOG", "warn")
        .env_remove("GRADFLOW_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn gradflow");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("gradflow listening on ") {
                return Some(url.trim().to_string());
            }
            seen.push(line);
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("gradflow did not start; stdout: {seen:#?}"));
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[app] {line}");
        }
    });
    (child, base)
}

pub async fn spawn(opts: AppOptions) -> App {
    let data_dir = tempfile::tempdir().unwrap();
    let admin_token = format!("admin-{}", uuid_like());
    let (child, base) = launch(data_dir.path(), &admin_token, &opts).await;
    App {
        base,
        admin_token,
        client: reqwest::Client::new(),
        data_dir,
        opts,
        child,
    }
}

/// Fills the database URL for PostgreSQL (a fresh database); SQLite lives in the data dir.
pub async fn spawn_on(backend: Backend, mut opts: AppOptions) -> App {
    if backend == Backend::Postgres {
        let pg = tokio::task::spawn_blocking(super::pg::pg).await.unwrap();
        opts.database_url = Some(
            tokio::task::spawn_blocking(move || pg.create_database())
                .await
                .unwrap(),
        );
    }
    spawn(opts).await
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", n, std::process::id())
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn put_text(&self, path: &str, token: &str, body: &str) -> Resp {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .header("content-type", "text/plain; charset=utf-8")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn post_text(&self, path: &str, token: &str, body: &str) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .header("content-type", "text/plain; charset=utf-8")
                .body(body.to_string()),
        )
        .await
    }

    /// Kills the process (no graceful shutdown) and starts it again on the same data.
    pub async fn restart(&mut self) {
        self.child.kill().await.ok();
        self.child.wait().await.ok();
        let (child, base) = launch(self.data_dir.path(), &self.admin_token, &self.opts).await;
        self.child = child;
        self.base = base;
    }
}
