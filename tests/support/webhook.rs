//! A local webhook receiver standing in for WeChat/SMS and the employment management system:
//! it records every POST (headers and JSON body) and can be switched "down" to answer 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{handler, post, EndpointExt, Request, Response, Route};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    down: AtomicBool,
    attempts: Mutex<Vec<Received>>,
    received: Mutex<Vec<Received>>,
}

#[derive(Clone)]
pub struct WebhookReceiver {
    port: u16,
    inner: Arc<Inner>,
}

#[handler]
async fn hook(req: &Request, body: Json<Value>, inner: Data<&Arc<Inner>>) -> Response {
    let r = Received {
        path: req.uri().path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        body: body.0,
    };
    inner.attempts.lock().unwrap().push(r.clone());
    if inner.down.load(Ordering::SeqCst) {
        return Response::builder()
            .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
            .body("down");
    }
    inner.received.lock().unwrap().push(r);
    Response::builder()
        .content_type("application/json")
        .body(r#"{"ok":true}"#)
}

/// Starts a receiver on a free loopback port.
pub async fn start() -> WebhookReceiver {
    let inner = Arc::new(Inner::default());
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let app = Route::new().at("/hook", post(hook)).data(inner.clone());
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    WebhookReceiver { port, inner }
}

impl WebhookReceiver {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Messages accepted (answered 200), in order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Every delivery attempt, including those answered 503.
    pub fn attempts(&self) -> Vec<Received> {
        self.inner.attempts.lock().unwrap().clone()
    }

    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// Distinct idempotency keys among accepted messages.
    pub fn unique_keys(&self) -> usize {
        let mut keys: Vec<String> = self
            .received()
            .iter()
            .filter_map(|r| r.headers.get("idempotency-key").cloned())
            .collect();
        keys.sort();
        keys.dedup();
        keys.len()
    }

    /// Polls until `pred` holds on the accepted messages; panics (printing them) after
    /// `max_secs`, which bounds a hang and is not a timing assertion.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&[Received]) -> bool,
        max_secs: u64,
    ) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            if start.elapsed() > Duration::from_secs(max_secs) {
                panic!("webhook condition never held; received: {got:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
