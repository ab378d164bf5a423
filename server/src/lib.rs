//! gradflow-server — the durable service around the engine: sea-orm store, poem API,
//! workers for timers and the outbox, identity and facts.

pub mod access;
pub mod api;
pub mod audit;
pub mod auth;
pub mod catalogues;
pub mod clock;
pub mod config;
pub mod contract;
pub mod db;
pub mod definitions;
pub mod demo;
pub mod edge;
pub mod effects;
pub mod employer_index;
pub mod entity;
pub mod error;
pub mod export;
pub mod facts;
pub mod framework_errors;
pub mod guards;
pub mod input;
pub mod lifecycle;
pub mod login;
pub mod metrics;
pub mod org;
pub mod paging;
pub mod reference;
pub mod removal;
pub mod roster;
pub mod roster_template;
pub mod scope;
pub mod season;
pub mod service;
pub mod services;
pub mod store;
pub mod uploads;
pub mod warnings;
pub mod workers;

use std::sync::Arc;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::CatchPanic;
use poem::web::Data;
use poem::{get, handler, EndpointExt, IntoResponse, Route};

use crate::auth::Auth;
use crate::clock::Clock;
use crate::config::Config;
use crate::definitions::{build_snapshot, remember_definitions};
use crate::service::{AppState, State};

#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database answers and its migrations are this binary's, else
/// 503 with the error shape (`not_ready`) saying what is wrong; a load balancer sends
/// traffic only to a ready server.
#[handler]
async fn readyz(state: Data<&State>) -> poem::Response {
    match state.db.readiness().await {
        Ok(n) => {
            poem::web::Json(serde_json::json!({"status": "ready", "migrations": n})).into_response()
        }
        Err(why) => crate::error::ApiError::new(
            poem::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            why,
        )
        .into_response(),
    }
}

/// `GET /metrics`: the process's counters and histograms in Prometheus text format (no
/// personal data: counts and durations only).
#[handler]
async fn metrics_text(state: Data<&State>) -> poem::Response {
    // The database figures are left out (not a failed scrape) when the database is away.
    let backlog = workers::backlog(&state).await.ok();
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(backlog.as_ref()))
}

/// Builds the application state: database (migrated), registry, clock, auth.
pub async fn init(config: Config) -> anyhow::Result<State> {
    let db = db::connect(&config).await?;
    let snapshot = build_snapshot(&db, &config, Vec::new())
        .await
        .map_err(|diags| {
            let list: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            anyhow::anyhow!("definitions have problems:\n{}", list.join("\n"))
        })?;
    remember_definitions(&db, &snapshot).await?;
    for (id, why) in snapshot.unusable_definitions() {
        tracing::warn!(definition = %id, problems = %why.join("; "), "stored definition unusable");
    }
    let clock = if config.test_clock {
        Clock::manual()
    } else {
        Clock::System
    };
    let auth = Auth::new(config.admin_token.as_deref());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let guards = guards::GuardPool::new(cores);
    let lookups = services::sheet::LookupLimiter::new(config.lookups_per_minute);
    Ok(Arc::new(AppState {
        db,
        registry: gradflow_engine::registry::Registry::new(snapshot),
        clock,
        auth,
        config,
        guards,
        login_failures: Default::default(),
        lookups,
        shutdown: Default::default(),
    }))
}

/// The HTTP application.
pub fn app(state: State) -> impl poem::Endpoint {
    let api = api::service().server("/");
    let docs = api.swagger_ui();
    let spec_text = api::spec_json(&api);
    let routes = Arc::new(framework_errors::Routes::from_spec(&spec_text));
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(spec_text.clone())
    });
    Route::new()
        .nest("/", api)
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics_text))
        .at("/verify", get(api::public::page))
        .with(edge::Edge::new(state.clone(), routes.clone()))
        .data(state)
        .with(CatchPanic::new().with_handler(edge::panic_response))
        .with(access::Access { routes })
}

/// Runs the server until SIGTERM or SIGINT: workers plus HTTP. The data directory is claimed
/// first (writable; on SQLite locked for this process, [`lifecycle`]); on the signal the
/// listener closes, requests in flight and the workers finish (at most the grace period),
/// then the process ends.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    let _lock = lifecycle::claim_data_dir(
        &config.data_dir,
        config.uses_sqlite(),
        &format!("serving {}", config.bind),
    )?;
    let acceptor = TcpListener::bind(config.bind.clone())
        .into_acceptor()
        .await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().cloned())
        .ok_or_else(|| anyhow::anyhow!("no local address"))?;
    if config.public_url.is_empty() {
        config.public_url = format!("http://{addr}");
    }
    let demo = config.demo;
    let grace = std::time::Duration::from_secs(config.shutdown_grace_secs);
    let state = init(config).await?;
    if demo {
        demo::load(&state).await?;
    }
    let shutdown = state.shutdown.clone();
    tokio::spawn(lifecycle::stop_on_signal(shutdown.clone()));
    let workers = workers::spawn(state.clone());
    // Tests and scripts read this exact line to find the port.
    println!("gradflow listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let stopped = shutdown.clone();
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app(state.clone()),
            async move { stopped.requested().await },
            Some(grace),
        )
        .await?;
    shutdown.trigger();
    if tokio::time::timeout(grace, futures::future::join_all(workers))
        .await
        .is_err()
    {
        tracing::warn!("workers still busy after the grace period; stopping anyway");
    }
    tracing::info!("stopped");
    Ok(())
}
