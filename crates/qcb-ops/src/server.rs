//! `qcb serve`: every tenant's schedule, a staleness watch, and a small read-only HTTP API —
//! `/healthz`, `/metrics` (Prometheus), `/api/runs`, `/api/snapshots`. A shutdown stops the
//! schedules, aborts the runs in progress (which then write no snapshot, and are recorded as
//! aborted) and closes the listener.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::alerts::{self, Event};
use crate::config::{Config, TenantConfig};
use crate::metrics::{self, TenantView};
use crate::runner::{repo_view, RunResult, Runner};
use crate::schedule::{run_tenant, Clock, Due, Plan, Task};

/// How often the staleness watch looks.
const STALE_CHECK: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the HTTP server stopped: {0}")]
    Http(#[source] std::io::Error),
}

struct Shared {
    config: Arc<Config>,
    runner: Runner,
    clock: Arc<dyn Clock>,
    /// One per tenant, in the configuration's order.
    views: Mutex<Vec<TenantView>>,
    started: DateTime<Utc>,
    /// One permit per run that may go at once (`max_concurrent_runs`).
    permits: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    fn views(&self) -> MutexGuard<'_, Vec<TenantView>> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.views.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut TenantView)) {
        if let Some(v) = self.views().get_mut(index) {
            f(v);
        }
    }
}

/// Serves until `shutdown` is cancelled; then waits for the runs in progress to stop.
pub async fn serve(
    config: Arc<Config>,
    runner: Runner,
    clock: Arc<dyn Clock>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let views = config
        .tenants
        .iter()
        .map(|t| initial_view(&runner, t))
        .collect();
    let shared = Arc::new(Shared {
        permits: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_runs)),
        started: clock.now(),
        config,
        runner,
        clock,
        views: Mutex::new(views),
    });

    let mut tasks = tokio::task::JoinSet::new();
    for (index, tenant) in shared.config.tenants.iter().enumerate() {
        tasks.spawn(load_repo_view(shared.clone(), index));
        tasks.spawn(tenant_loop(
            shared.clone(),
            index,
            tenant.clone(),
            shutdown.clone(),
        ));
    }
    tasks.spawn(stale_watch(shared.clone(), shutdown.clone()));

    let app = router(shared.clone());
    let server =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let served = server.await;
    // The listener is closed; let the runs in progress stop and record themselves.
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    served.map_err(ServeError::Http)
}

fn initial_view(runner: &Runner, t: &TenantConfig) -> TenantView {
    let mut v = TenantView::new(&t.name, &t.host, t.stale_after);
    match runner.state().runs(&t.name) {
        Ok(runs) => {
            v.last_backup = runs.iter().rev().find(|r| r.task == Task::Backup).cloned();
            v.last_success = runs
                .iter()
                .rev()
                .find(|r| r.task == Task::Backup && r.status.wrote_snapshot())
                .cloned();
            v.last_prune = runs.iter().rev().find(|r| r.task == Task::Prune).cloned();
        }
        Err(e) => tracing::warn!(tenant = %t.name, "cannot read the run records: {e}"),
    }
    v
}

async fn load_repo_view(shared: Arc<Shared>, index: usize) {
    let Some(tenant) = shared.config.tenants.get(index).cloned() else {
        return;
    };
    let opts = match tenant.repo_options() {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(tenant = %tenant.name, "{e}");
            return;
        }
    };
    let host = tenant.host.clone();
    let view = tokio::task::spawn_blocking(move || {
        let repo = qcb_repo::Repo::open(&opts).map_err(|e| crate::runner::error_chain(&e))?;
        repo_view(&repo, &host)
    })
    .await;
    match view {
        Ok(Ok(view)) => shared.update(index, |v| {
            // A run may have finished meanwhile with a newer view.
            if v.repo.is_none() {
                v.repo = Some(view);
            }
        }),
        Ok(Err(e)) => tracing::warn!(tenant = %tenant.name, "cannot read the repository: {e}"),
        Err(e) => tracing::warn!(tenant = %tenant.name, "cannot read the repository: {e}"),
    }
}

async fn tenant_loop(
    shared: Arc<Shared>,
    index: usize,
    tenant: TenantConfig,
    shutdown: CancellationToken,
) {
    let last = match shared.runner.state().last_starts(&tenant.name) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(tenant = %tenant.name, "cannot read the run records, so missed runs are not caught up: {e}");
            Default::default()
        }
    };
    let plan = Plan {
        backup: tenant.schedule.clone(),
        prune: tenant.prune_schedule.clone(),
    };
    let clock = shared.clock.clone();
    let job = |due: Due| {
        let (shared, tenant, cancel) = (shared.clone(), tenant.clone(), shutdown.clone());
        async move {
            // Wait for a turn; a shutdown meanwhile starts nothing.
            let permit = tokio::select! {
                p = shared.permits.clone().acquire_owned() => p,
                _ = cancel.cancelled() => return,
            };
            let Ok(_permit) = permit else { return };
            shared.update(index, |v| v.running = Some(due.task));
            let result = match due.task {
                Task::Backup => {
                    shared
                        .runner
                        .backup(&tenant, due.trigger, Some(due.at), &cancel)
                        .await
                }
                Task::Prune => {
                    shared
                        .runner
                        .prune(&tenant, due.trigger, Some(due.at))
                        .await
                }
            };
            shared.update(index, |v| record(v, result));
        }
    };
    run_tenant(clock, plan, last, shutdown.clone(), job).await;
}

/// Folds a finished run into what the service shows.
pub fn record(v: &mut TenantView, result: RunResult) {
    v.running = None;
    if let Some(view) = result.view {
        v.repo = Some(view);
    }
    let r = result.record;
    match r.task {
        Task::Backup => {
            if r.status.wrote_snapshot() {
                v.last_success = Some(r.clone());
                v.stale_alerted = false;
            }
            v.last_backup = Some(r);
        }
        Task::Prune => v.last_prune = Some(r),
    }
}

/// Sends one stale alert per stale spell of a tenant: when no snapshot is newer than its
/// `stale_after` (counted from the service's start for a tenant with none yet).
async fn stale_watch(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let now = shared.clock.now();
        let due: Vec<(usize, Event)> = {
            let views = shared.views();
            views
                .iter()
                .enumerate()
                // A run in progress does not put staleness off: one that hangs for days is
                // exactly what this alert is for.
                .filter(|(_, v)| !v.stale_alerted)
                .filter_map(|(i, v)| {
                    let since = v.last_snapshot_time().unwrap_or(shared.started);
                    let age = (now - since).to_std().unwrap_or_default();
                    (age > v.stale_after).then(|| {
                        let shown_age = v.last_snapshot_time().map(|_| age);
                        (i, Event::stale(&v.host, None, shown_age, v.stale_after))
                    })
                })
                .collect()
        };
        for (index, event) in due {
            let Some(tenant) = shared.config.tenants.get(index) else {
                continue;
            };
            tracing::warn!(tenant = %tenant.name, "{}", event.message);
            shared.update(index, |v| v.stale_alerted = true);
            for e in alerts::dispatch(&tenant.notify, &event).await {
                tracing::warn!(tenant = %tenant.name, "the stale alert could not be delivered to {}: {}", e.target, e.reason);
            }
        }
        let next = now + chrono::Duration::from_std(STALE_CHECK).unwrap_or_default();
        tokio::select! {
            _ = shared.clock.sleep_until(next) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/api/runs", get(runs))
        .route("/api/snapshots", get(snapshots))
        .with_state(shared)
}

async fn index() -> &'static str {
    "qcb serve: /healthz /metrics /api/runs[?tenant=NAME&limit=N] /api/snapshots[?tenant=NAME]\n"
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    let views = shared.views().clone();
    let body = metrics::render(&views, shared.clock.now());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct RunsQuery {
    tenant: Option<String>,
    limit: Option<usize>,
}

fn unknown_tenant(name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("no tenant named `{name}` in the configuration") })),
    )
        .into_response()
}

/// The newest runs of each tenant (or of one), newest first.
async fn runs(State(shared): State<Arc<Shared>>, Query(q): Query<RunsQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).min(1000);
    let tenants: Vec<&TenantConfig> = shared
        .config
        .tenants
        .iter()
        .filter(|t| q.tenant.as_ref().is_none_or(|n| &t.name == n))
        .collect();
    if let (Some(name), true) = (&q.tenant, tenants.is_empty()) {
        return unknown_tenant(name);
    }
    let mut out = Vec::new();
    for t in tenants {
        let runs = match shared.runner.state().runs(&t.name) {
            Ok(r) => r,
            Err(e) => return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    json!({ "error": format!("cannot read the run records of `{}`: {e}", t.name) }),
                ),
            )
                .into_response(),
        };
        let newest: Vec<_> = runs.into_iter().rev().take(limit).collect();
        out.push(json!({ "tenant": t.name, "host": t.host, "runs": newest }));
    }
    Json(out).into_response()
}

/// Each tenant's snapshots as last read from its repository, newest first.
async fn snapshots(State(shared): State<Arc<Shared>>, Query(q): Query<RunsQuery>) -> Response {
    let views = shared.views().clone();
    let chosen: Vec<&TenantView> = views
        .iter()
        .filter(|v| q.tenant.as_ref().is_none_or(|n| &v.name == n))
        .collect();
    if let (Some(name), true) = (&q.tenant, chosen.is_empty()) {
        return unknown_tenant(name);
    }
    let out: Vec<_> = chosen
        .into_iter()
        .map(|v| {
            let snaps: Vec<_> = v
                .repo
                .as_ref()
                .map(|r| r.snapshots.iter().rev().collect())
                .unwrap_or_default();
            json!({
                "tenant": v.name,
                "host": v.host,
                "read": v.repo.is_some(),
                "repository_size_bytes": v.repo.as_ref().and_then(|r| r.size_bytes),
                "snapshots": snaps,
            })
        })
        .collect();
    Json(out).into_response()
}
