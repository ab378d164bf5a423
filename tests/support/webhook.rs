//! A local webhook receiver standing in for the external systems gradflow talks to (WeChat/SMS
//! notification gateways and the employment management system). It is a real HTTP server on
//! a free loopback port ([`start`]) that records every POST it gets, on any path, in order:
//! path, headers (names lower-cased, e.g. `idempotency-key`), JSON body (`Null` if the body is
//! not JSON) and the raw text.
//!
//! Normally it answers `200 {"ok":true}`. [`WebhookReceiver::set_down`] makes it answer 503
//! to everything to simulate an outage. Two lists are kept:
//! - [`WebhookReceiver::attempts`]: every POST, whatever the answer;
//! - [`WebhookReceiver::received`]: the POSTs answered 200 (delivered messages).
//!
//! Duplicate deliveries with the same `Idempotency-Key` are recorded as they come;
//! [`WebhookReceiver::unique_keys`] and [`WebhookReceiver::idempotency_keys`] let tests check
//! idempotency. The server runs on the test's tokio runtime and stops with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::{Method, StatusCode};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{handler, EndpointExt, Request, Response};
use serde_json::Value;

/// One POST as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request path, e.g. `/hook`.
    pub path: String,
    /// Headers with lower-case names (a repeated header keeps its last value).
    pub headers: HashMap<String, String>,
    /// The body parsed as JSON; `Null` if empty or not JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// The status the receiver answered (200, or 503 while down).
    pub status: u16,
}

impl Received {
    /// A header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The `Idempotency-Key` header, if any.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
    }
}

#[derive(Default)]
struct Inner {
    down: AtomicBool,
    attempts: Mutex<Vec<Received>>,
    received: Mutex<Vec<Received>>,
}

/// Handle to a running receiver; clones share the same server and records.
#[derive(Clone)]
pub struct WebhookReceiver {
    port: u16,
    inner: Arc<Inner>,
}

#[handler]
async fn hook(req: &Request, body: Vec<u8>, inner: Data<&Arc<Inner>>) -> Response {
    if req.method() != Method::POST {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .body("only POST");
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let down = inner.down.load(Ordering::SeqCst);
    let status = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let r = Received {
        path: req.uri().path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        status: status.as_u16(),
    };
    inner.attempts.lock().unwrap().push(r.clone());
    if down {
        return Response::builder()
            .status(status)
            .content_type("application/json")
            .body(r#"{"ok":false,"error":"down"}"#);
    }
    inner.received.lock().unwrap().push(r);
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(r#"{"ok":true}"#)
}

/// Starts a receiver on a free port of 127.0.0.1 (in a task of the current tokio runtime).
pub async fn start() -> WebhookReceiver {
    let inner = Arc::new(Inner::default());
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind the webhook receiver");
    let port = acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("a TCP address")
        .port();
    // Every path and method reaches `hook`, so nothing a sender does goes unrecorded.
    let app = hook.data(inner.clone());
    tokio::spawn(async move {
        if let Err(e) = poem::Server::new_with_acceptor(acceptor).run(app).await {
            eprintln!("[webhook] server stopped: {e}");
        }
    });
    WebhookReceiver { port, inner }
}

/// How long [`WebhookReceiver::wait_for`] may wait: whole seconds (`20`) or a `Duration`.
pub trait MaxWait {
    fn duration(self) -> Duration;
}

impl MaxWait for Duration {
    fn duration(self) -> Duration {
        self
    }
}

impl MaxWait for u64 {
    fn duration(self) -> Duration {
        Duration::from_secs(self)
    }
}

impl MaxWait for u32 {
    fn duration(self) -> Duration {
        Duration::from_secs(self.into())
    }
}

/// An unsuffixed literal (`wait_for(p, 20)`) is an `i32`.
impl MaxWait for i32 {
    fn duration(self) -> Duration {
        Duration::from_secs(self.max(0) as u64)
    }
}

impl WebhookReceiver {
    /// The URL to configure as gradflow's `--webhook-url`: `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Messages delivered (answered 200), in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Every POST, including those answered 503 while down, in arrival order.
    pub fn attempts(&self) -> Vec<Received> {
        self.inner.attempts.lock().unwrap().clone()
    }

    /// `true`: answer 503 to everything (attempts are still recorded); `false`: back to 200.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// Whether the receiver is currently answering 503.
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::SeqCst)
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.inner.attempts.lock().unwrap().clear();
        self.inner.received.lock().unwrap().clear();
    }

    /// The `Idempotency-Key` of every delivered message, in order, duplicates included
    /// (a message without the header is left out).
    pub fn idempotency_keys(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|r| r.idempotency_key().map(str::to_string))
            .collect()
    }

    /// The number of distinct idempotency keys among delivered messages; equal to
    /// `idempotency_keys().len()` exactly when nothing was delivered twice.
    pub fn unique_keys(&self) -> usize {
        let mut keys = self.idempotency_keys();
        keys.sort();
        keys.dedup();
        keys.len()
    }

    /// Polls until `pred` holds on the delivered messages and returns them. Panics, printing
    /// every attempt, if it does not hold within `max_wait` (seconds or a `Duration`): that
    /// bound is there to end a hang, it is not a timing assertion.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&[Received]) -> bool,
        max_wait: impl MaxWait,
    ) -> Vec<Received> {
        self.poll(pred, max_wait.duration(), false).await
    }

    /// Like [`Self::wait_for`], on every attempt (including those answered 503).
    pub async fn wait_for_attempts(
        &self,
        pred: impl Fn(&[Received]) -> bool,
        max_wait: impl MaxWait,
    ) -> Vec<Received> {
        self.poll(pred, max_wait.duration(), true).await
    }

    async fn poll(
        &self,
        pred: impl Fn(&[Received]) -> bool,
        max_wait: Duration,
        attempts: bool,
    ) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = if attempts {
                self.attempts()
            } else {
                self.received()
            };
            if pred(&got) {
                return got;
            }
            if start.elapsed() > max_wait {
                panic!(
                    "webhook condition on {} never held within {max_wait:?}; every attempt \
                     ({} answered 200):\n{:#?}",
                    if attempts {
                        "attempts"
                    } else {
                        "delivered messages"
                    },
                    self.received().len(),
                    self.attempts()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
