//! A real headless browser for the page tests: Chromium (installed by CI from Debian packages,
//! with CJK fonts) driven over the DevTools protocol — navigate, run script in the page (fill
//! a form, submit it), read the rendered document, print it to PDF. No stand-in: when no
//! Chromium is installed the test fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// Bounds a hang of the browser; not a timing assertion.
const WAIT: Duration = Duration::from_secs(60);

/// The installed Chromium (or Chrome).
pub fn chromium() -> PathBuf {
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        if let Some(dir) = std::env::var_os("PATH") {
            for d in std::env::split_paths(&dir) {
                let p = d.join(name);
                if p.is_file() {
                    return p;
                }
            }
        }
    }
    panic!("no Chromium installed: the page tests need a real browser (apt-get install chromium fonts-noto-cjk)");
}

pub struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(chromium())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.expect("read chromium") {
                if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                    return rest.split('/').next().unwrap().parse::<u16>().unwrap();
                }
            }
            panic!("chromium ended without a DevTools address");
        })
        .await
        .expect("chromium starts");
        // Keep draining stderr so the browser never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    /// A new tab.
    pub async fn page(&self) -> Page {
        let r = reqwest::Client::new()
            .put(format!(
                "http://127.0.0.1:{}/json/new?about:blank",
                self.port
            ))
            .send()
            .await
            .expect("new tab");
        let v: Value = r.json().await.expect("tab json");
        let url = v["webSocketDebuggerUrl"]
            .as_str()
            .expect("ws url")
            .to_string();
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect tab");
        let mut p = Page {
            ws,
            next: 0,
            events: Vec::new(),
        };
        p.call("Page.enable", json!({})).await;
        p.call("Runtime.enable", json!({})).await;
        p
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
    events: Vec<Value>,
}

impl Page {
    async fn read(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the browser answers")
                .expect("open socket")
                .expect("message");
            if let Message::Text(t) = m {
                return serde_json::from_str(&t).expect("json");
            }
        }
    }

    /// Calls a DevTools method; its result (events arriving meanwhile are kept).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::Text(msg.into())).await.expect("send");
        loop {
            let v = self.read().await;
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    async fn loaded(&mut self) {
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["method"] == "Page.loadEventFired")
            {
                self.events.drain(..=i);
                return;
            }
            let v = self.read().await;
            self.events.push(v);
        }
    }

    /// Loads `url` and waits for the page's load event.
    pub async fn goto(&mut self, url: &str) {
        self.events.clear();
        let r = self.call("Page.navigate", json!({"url": url})).await;
        assert!(r["errorText"].is_null(), "navigate {url}: {r}");
        self.loaded().await;
    }

    /// Evaluates `js` in the page; its value.
    pub async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r["exceptionDetails"].is_null(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Runs `js` (which submits a form or follows a link) and waits for the next page.
    pub async fn submit(&mut self, js: &str) {
        self.events.clear();
        self.eval(js).await;
        self.loaded().await;
    }

    /// Prints the page to PDF (A4 unless the page's CSS says otherwise); the file's bytes.
    pub async fn pdf(&mut self) -> Vec<u8> {
        use base64::Engine;
        let r = self
            .call(
                "Page.printToPDF",
                json!({"preferCSSPageSize": true, "printBackground": true}),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("pdf data"))
            .expect("base64")
    }
}

/// How many pages a PDF has (its page objects).
pub fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    let re_hits =
        text.match_indices("/Type /Page").count() + text.match_indices("/Type/Page").count();
    let pages_nodes =
        text.match_indices("/Type /Pages").count() + text.match_indices("/Type/Pages").count();
    re_hits - pages_nodes
}
