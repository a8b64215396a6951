//! The HTTP side: routes for every kind, and the middleware that makes the tenant behave
//! like Qlik Cloud around them (auth, per-tier rate limits, faults, counters, recording).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::authenticate;
use crate::config::EmulatorConfig;
use crate::error::ApiError;
use crate::tenant::{Exchange, Tenant};
use crate::tiers::SpecOperations;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read the emulator state file {path}: {reason}")]
    StateFile { path: String, reason: String },
}

/// A running tenant on loopback.
pub struct Emulator {
    tenant: Arc<Tenant>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Generates (or loads) the tenant and serves it on `listen` (port 0 picks a free port).
    pub async fn start(config: EmulatorConfig, listen: &str) -> Result<Emulator, EmulatorError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: listen.to_string(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: listen.to_string(),
                source,
            })?;
        let url = format!("http://{addr}");
        let tenant = Arc::new(crate::seed::tenant(config, &url)?);
        tenant.set_url(url);
        let app = router(tenant.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("emulator stopped: {e}");
            }
        });
        Ok(Emulator {
            tenant,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_api_key(&self) -> &str {
        &self.tenant.admin_api_key
    }

    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    /// Stops serving and saves the state file, if one is configured.
    pub async fn stop(mut self) -> Result<(), EmulatorError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        crate::seed::save_state(&self.tenant)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A router that remembers the paths it serves, so that the contract test can hold every
/// one of them against the specs.
pub struct RouteSet {
    pub router: Router<Arc<Tenant>>,
    pub paths: Vec<&'static str>,
}

impl RouteSet {
    pub fn new() -> RouteSet {
        RouteSet {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub fn route(
        mut self,
        path: &'static str,
        methods: axum::routing::MethodRouter<Arc<Tenant>>,
    ) -> RouteSet {
        self.router = self.router.route(path, methods);
        if !self.paths.contains(&path) {
            self.paths.push(path);
        }
        self
    }

    pub fn merge(mut self, other: RouteSet) -> RouteSet {
        self.router = self.router.merge(other.router);
        for p in other.paths {
            if !self.paths.contains(&p) {
                self.paths.push(p);
            }
        }
        self
    }
}

impl Default for RouteSet {
    fn default() -> Self {
        RouteSet::new()
    }
}

fn api_routes() -> RouteSet {
    crate::generic::routes()
        .merge(crate::apps::routes())
        .merge(crate::scripts::routes())
        .merge(crate::files::routes())
        .merge(crate::singletons::routes())
        .merge(crate::licenses::routes())
        .merge(crate::actions::routes())
        .merge(crate::audit::routes())
}

/// Every path the tenant serves under `/api` and `/oauth` (the control routes and the
/// product-info file aside).
pub fn served_paths() -> Vec<&'static str> {
    let mut paths = api_routes().paths;
    paths.extend(crate::auth_routes::routes().paths);
    paths.retain(|p| p.starts_with("/api/") || p.starts_with("/oauth/"));
    paths
}

pub fn router(tenant: Arc<Tenant>) -> Router {
    let api = api_routes()
        .router
        .route_layer(middleware::from_fn_with_state(tenant.clone(), api_guard));
    Router::new()
        .merge(api)
        .merge(crate::auth_routes::routes().router)
        .merge(crate::control::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(tenant.clone(), observe))
        .with_state(tenant)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    ApiError::not_found("route", &format!("{method} {}", uri.path())).into_response()
}

/// Counts every request and, when recording, keeps the answer for the contract test.
async fn observe(State(t): State<Arc<Tenant>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let is_control = path.starts_with("/_qcb");
    if !is_control {
        t.count(format!("{method} {}", route.as_deref().unwrap_or(&path)));
    }
    let resp = next.run(req).await;
    if !t.recording() || is_control {
        return resp;
    }
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let route = route.unwrap_or_else(|| path.clone());
    if !content_type.starts_with("application/json") {
        t.record(Exchange {
            method,
            route,
            path,
            status,
            content_type,
            body: None,
        });
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&bytes).ok();
    t.record(Exchange {
        method,
        route,
        path,
        status,
        content_type,
        body: json,
    });
    Response::from_parts(parts, Body::from(bytes))
}

/// Authentication, faults and rate limits for `/api` routes, in the order Qlik applies them.
async fn api_guard(State(t): State<Arc<Tenant>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let method = req.method().to_string();
    let resp = guarded(t, route.clone(), req, next).await;
    // Errors leave the handlers in Qlik's common shape; answer them in this operation's own.
    match resp.extensions().get::<ApiError>() {
        Some(e) => {
            let style = crate::error::style_for(&method, &route, e.status.as_u16());
            if style == 'S' {
                resp
            } else {
                let mut restyled = e.clone().render(style);
                restyled
                    .headers_mut()
                    .insert("x-qlik-emulator", HeaderValue::from_static("qcb"));
                restyled
            }
        }
        None => resp,
    }
}

async fn guarded(t: Arc<Tenant>, route: String, req: Request, next: Next) -> Response {
    let now = t.clock.now();
    let auth_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let principal = match authenticate(&t.read(), auth_header.as_deref(), now) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };

    // A 429 storm switched on by a test blocks everything.
    let elapsed = t.clock.elapsed();
    let storm = *t.storm_until.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(until) = storm {
        if elapsed < until {
            t.throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return ApiError::rate_limited(real_secs(&t, until - elapsed)).into_response();
        }
    }

    if t.config.rate_limits {
        if let Some(op) = SpecOperations::get().find(req.method().as_str(), &route) {
            let bucket = if op.tier.name == "special" {
                format!("special {}", op.path)
            } else {
                op.tier.name.clone()
            };
            if let Err(throttled) = t
                .limiter
                .admit(&principal.user_id, &bucket, &op.tier, elapsed)
            {
                t.throttled
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return ApiError::rate_limited(real_secs(&t, throttled.wait)).into_response();
            }
        }
    }

    let faults = t.faults();
    if faults.response_delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.response_delay_ms)).await;
    }
    if faults.error_rate > 0.0
        && req.uri().path().starts_with(&faults.error_path_prefix)
        && t.chance(faults.error_rate)
    {
        t.injected_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let status = if t.chance(0.5) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return ApiError::new(
            status,
            &format!("HTTP-{}", status.as_u16()),
            "Service unavailable",
        )
        .detail("injected fault")
        .into_response();
    }

    // Qlik refuses a body its operation's schema refuses before looking at the resource.
    let mut req = match crate::validate::check_request(&route, req).await {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(principal);
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert("x-qlik-emulator", HeaderValue::from_static("qcb"));
    resp
}

/// `Retry-After` is in the client's seconds: emulated waits shrink with the time scale.
fn real_secs(t: &Tenant, emulated: std::time::Duration) -> u64 {
    t.clock
        .real_duration(emulated)
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}
