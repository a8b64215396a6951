//! `TenantClient`: every request to a tenant goes through here. Each request is paced by its
//! tier's budget, signed with a fresh bearer token, retried with jittered exponential backoff
//! when that is safe (idempotent requests on 5xx, timeouts and dropped connections; any request
//! on 429, which Qlik did not process, or when the connection never opened), and counted.
//! Lists are followed page by page; downloads stream with bounded memory and resume with
//! `Range` after a dropped connection.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, LOCATION, RANGE, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{Authenticator, Credentials, UserLookup};
use crate::error::{parse_error_body, ClientError, RequestName};
use crate::limiter::{Budget, Limiter};
use crate::tenant_url::TenantUrl;
use crate::tiers::Tiers;

/// How the client behaves; the same struct serves flags and configuration.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub budget: Budget,
    /// Retries of one request before its error is returned.
    pub max_retries: u32,
    /// First and longest backoff between retries.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Time to connect and to wait for an answer's headers.
    pub request_timeout: Duration,
    /// How long an export may stay "not ready yet" (204).
    pub export_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            budget: Budget::default(),
            max_retries: 6,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
            export_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// What the manifest reports of a run's API use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApiCounters {
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
    pub bytes: u64,
    /// How long exported files took to become ready, in milliseconds: the highest the
    /// client's wait before a first look stood over the run's last few exports (see
    /// `ReadyEstimate`). The next run's first exports, which start together with nothing to
    /// learn from yet, wait that long before they look (see
    /// [`TenantClient::expect_ready_after`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_ready_ms: Option<u64>,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
}

struct Inner {
    tenant: TenantUrl,
    http: reqwest::Client,
    auth: Authenticator,
    limiter: Limiter,
    /// Shared with the clients it makes to act as other users, so a run's totals hold theirs.
    counters: Arc<Counters>,
    opts: ClientOptions,
    /// How long files that were not ready at once (temp-contents answering 204) take to
    /// become ready, as learned.
    ready: std::sync::Mutex<ReadyEstimate>,
    /// The clients made to act as other users, one per user (see `impersonating`).
    as_users: std::sync::Mutex<HashMap<UserLookup, TenantClient>>,
}

/// A client of one tenant, cheap to clone (clones share limits, token and counters).
#[derive(Clone)]
pub struct TenantClient {
    inner: Arc<Inner>,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub body: Option<(Bytes, &'static str)>,
    /// A body streamed from a file (its path, length and content type), opened again for
    /// each attempt, so a large upload never sits in memory.
    pub file: Option<(std::path::PathBuf, u64, &'static str)>,
    /// Safe to repeat: GET, PUT and DELETE are; a POST only when the caller says so.
    pub idempotent: bool,
    pub range_from: Option<u64>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Request {
            method,
            path: path.into(),
            query: None,
            body: None,
            file: None,
            idempotent,
            range_from: None,
        }
    }
    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }
    pub fn query(mut self, q: impl Into<String>) -> Request {
        let q = q.into();
        self.query = (!q.is_empty()).then_some(q);
        self
    }
    pub fn json(mut self, body: &Value) -> Request {
        self.body = Some((
            Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
            "application/json",
        ));
        self
    }
    pub fn bytes(mut self, body: Bytes, content_type: &'static str) -> Request {
        self.body = Some((body, content_type));
        self
    }
    /// Streams the body from a file (an app export to import).
    pub fn file(
        mut self,
        path: impl Into<std::path::PathBuf>,
        len: u64,
        content_type: &'static str,
    ) -> Request {
        self.file = Some((path.into(), len, content_type));
        self
    }
    /// Marks a POST as safe to repeat (an export only makes another temporary file).
    pub fn idempotent(mut self) -> Request {
        self.idempotent = true;
        self
    }
    fn name(&self) -> RequestName {
        RequestName {
            method: self.method.to_string(),
            path: self.path.clone(),
        }
    }
}

/// A download in progress: the total size when known, and the bytes as they arrive.
pub struct Download {
    pub total: Option<u64>,
    pub stream: BoxStream<'static, Result<Bytes, ClientError>>,
}

fn retry_after(headers: &HeaderMap) -> Duration {
    let v = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_string();
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::from_secs_f64(secs.clamp(0.0, 3600.0));
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc2822(&v) {
        return (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
    }
    Duration::from_secs(5)
}

fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 500 | 502 | 503 | 504)
}

impl TenantClient {
    pub fn new(
        tenant: TenantUrl,
        credentials: Credentials,
        opts: ClientOptions,
    ) -> Result<TenantClient, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("qcb/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.request_timeout.min(Duration::from_secs(30)))
            .read_timeout(opts.request_timeout)
            // Qlik answers redirects for /users/me and /tenants/me; follow them within the tenant.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Self::with(tenant, credentials, opts, http, Arc::default()))
    }

    fn with(
        tenant: TenantUrl,
        credentials: Credentials,
        opts: ClientOptions,
        http: reqwest::Client,
        counters: Arc<Counters>,
    ) -> TenantClient {
        let auth = Authenticator::new(credentials, tenant.clone(), http.clone());
        TenantClient {
            inner: Arc::new(Inner {
                limiter: Limiter::new(opts.budget),
                tenant,
                http,
                auth,
                counters,
                opts,
                ready: std::sync::Mutex::new(ReadyEstimate::default()),
                as_users: std::sync::Mutex::default(),
            }),
        }
    }

    pub fn tenant(&self) -> &TenantUrl {
        &self.inner.tenant
    }

    /// The same OAuth client acting as `user` (`urn:qlik:oauth:user-impersonation`); `None`
    /// for an API key, which cannot. It has a token and limits of its own: Qlik counts an
    /// impersonated user's requests as that user's; its requests count in this client's
    /// totals too ([`counters`](Self::counters)). One per user, made at the first call: every
    /// later one shares its token (and, once the token endpoint refused it, that answer).
    /// Whether the tenant lets this client impersonate shows at its first request.
    pub fn impersonating(&self, user: UserLookup) -> Option<TenantClient> {
        let inner = &self.inner;
        let mut as_users = inner.as_users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = as_users.get(&user) {
            return Some(c.clone());
        }
        let creds = inner.auth.credentials().impersonating(user.clone())?;
        let client = Self::with(
            inner.tenant.clone(),
            creds,
            inner.opts.clone(),
            inner.http.clone(),
            inner.counters.clone(),
        );
        as_users.insert(user, client.clone());
        Some(client)
    }

    pub fn counters(&self) -> ApiCounters {
        let c = &self.inner.counters;
        ApiCounters {
            requests: c.requests.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            export_ready_ms: self.with_ready(|r| r.carried()),
        }
    }

    /// Whether the client signs in with an API key, which acts as its user: it does not see
    /// other users' personal apps (an M2M client with admin.apps does).
    pub fn uses_api_key(&self) -> bool {
        self.inner.auth.is_api_key()
    }

    /// OAuth tokens fetched so far (tests: refresh before expiry and after a 401).
    pub fn token_requests(&self) -> u64 {
        self.inner.auth.refreshes.load(Ordering::Relaxed)
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.inner.opts.min_backoff)
            .with_max_delay(self.inner.opts.max_backoff)
            .with_jitter()
            .with_max_times(self.inner.opts.max_retries as usize)
            .build()
    }

    /// Sends a request with pacing, auth, retries and counting. Answers below 400 are
    /// returned as they are; 4xx/5xx become `ClientError::Api` once retries are spent.
    pub async fn send(&self, req: &Request) -> Result<reqwest::Response, ClientError> {
        let inner = &self.inner;
        let tier = Tiers::get().of(req.method.as_str(), &req.path);
        let mut backoff = self.backoff();
        let mut attempts = 0u32;
        // A long request (a 429 storm, a slow export) may outlive more than one token: each
        // 401 gets a fresh one, up to a few times, so a client Qlik truly refuses still ends.
        let mut reauthentications = 0u32;
        loop {
            attempts += 1;
            // The token first: waiting for it must not bunch up requests that were paced.
            let token = inner.auth.bearer().await?;
            inner.limiter.acquire(&tier).await;
            let mut builder = inner
                .http
                .request(
                    req.method.clone(),
                    inner.tenant.join(&req.path, req.query.as_deref()),
                )
                .bearer_auth(token.expose_secret());
            if let Some((body, ct)) = &req.body {
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, *ct)
                    .body(body.clone());
            }
            if let Some((path, len, ct)) = &req.file {
                let file =
                    tokio::fs::File::open(path)
                        .await
                        .map_err(|e| ClientError::Transport {
                            request: req.name(),
                            detail: format!("cannot read the body from {}: {e}", path.display()),
                            attempts,
                        })?;
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, *ct)
                    .header(reqwest::header::CONTENT_LENGTH, *len)
                    .body(reqwest::Body::wrap_stream(
                        tokio_util::io::ReaderStream::new(file),
                    ));
            }
            if let Some(from) = req.range_from.filter(|f| *f > 0) {
                builder = builder.header(RANGE, format!("bytes={from}-"));
            }
            inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = builder.send().await;
            let resp = match outcome {
                Ok(r) => r,
                Err(e) => {
                    // A connection that never opened carried nothing: always safe to repeat.
                    let safe = req.idempotent || e.is_connect();
                    if safe && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()) {
                        if let Some(delay) = backoff.next() {
                            inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(request = %req.name(), "retrying after {e}");
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                    }
                    return Err(ClientError::Transport {
                        request: req.name(),
                        detail: transport_detail(e),
                        attempts,
                    });
                }
            };
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
                let wait = retry_after(resp.headers());
                inner.limiter.block(&tier, wait);
                // Qlik did not process a throttled request: repeating it is always safe.
                if attempts <= inner.opts.max_retries {
                    inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            } else if status == StatusCode::UNAUTHORIZED
                && reauthentications < MAX_REAUTHENTICATIONS
                && inner.auth.rejected(&token).await
            {
                reauthentications += 1;
                inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            } else if is_retryable_status(status) && req.idempotent {
                if let Some(delay) = backoff.next() {
                    inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            if status.as_u16() >= 400 {
                let body = resp.bytes().await.unwrap_or_default();
                let (errors, trace_id) = parse_error_body(&body);
                return Err(ClientError::Api {
                    request: req.name(),
                    status: status.as_u16(),
                    errors,
                    trace_id,
                });
            }
            return Ok(resp);
        }
    }

    /// GET a JSON document.
    pub async fn get_json(&self, path: &str, query: &str) -> Result<Value, ClientError> {
        let req = Request::get(path).query(query);
        let resp = self.send(&req).await?;
        decode(&req, resp).await
    }

    /// Sends a request and reads its JSON answer (`Null` for an empty one, such as 204).
    pub async fn call_json(&self, req: &Request) -> Result<(StatusCode, Value), ClientError> {
        let resp = self.send(req).await?;
        let status = resp.status();
        Ok((status, decode(req, resp).await?))
    }

    /// Every page of a list, following `links.next.href`. Only the href's query string is
    /// used, against the tenant and the path asked for (some specs' own examples put internal
    /// hosts there). `property` is the list property (`data`, `sharingTasks`, `tasks`), or
    /// empty for an API that answers a bare array.
    pub fn pages(
        &self,
        path: &str,
        query: &str,
        property: &str,
    ) -> BoxStream<'static, Result<Vec<Value>, ClientError>> {
        struct State {
            client: TenantClient,
            path: String,
            property: String,
            next: Option<String>,
            seen: HashSet<String>,
        }
        let state = State {
            client: self.clone(),
            path: path.to_string(),
            property: property.to_string(),
            next: Some(query.to_string()),
            seen: HashSet::new(),
        };
        futures::stream::try_unfold(state, |mut st| async move {
            let Some(query) = st.next.take() else {
                return Ok(None);
            };
            let req = Request::get(st.path.clone()).query(query.clone());
            if !st.seen.insert(query.clone()) {
                return Err(ClientError::RepeatedCursor {
                    request: req.name(),
                    cursor: query,
                });
            }
            let resp = st.client.send(&req).await?;
            let mut doc = decode(&req, resp).await?;
            st.next = doc
                .pointer("/links/next/href")
                .and_then(Value::as_str)
                .and_then(|href| href.split_once('?'))
                .map(|(_, q)| q.to_string());
            // Taken out of the answer, not copied: a page of a big list holds a hundred
            // documents.
            let page = if st.property.is_empty() {
                Some(&mut doc)
            } else {
                doc.get_mut(&st.property)
            };
            let Some(Value::Array(page)) = page.filter(|p| p.is_array()).map(Value::take) else {
                let detail = if st.property.is_empty() {
                    "no list in the answer".to_string()
                } else {
                    format!("no '{}' list in the answer", st.property)
                };
                return Err(ClientError::Decode {
                    request: req.name(),
                    detail,
                });
            };
            Ok(Some((page, st)))
        })
        .boxed()
    }

    /// Every item of a list, one at a time.
    pub fn list(
        &self,
        path: &str,
        query: &str,
        property: &str,
    ) -> BoxStream<'static, Result<Value, ClientError>> {
        self.pages(path, query, property)
            .map_ok(|page| futures::stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Every item of a list, collected.
    pub async fn list_all(
        &self,
        path: &str,
        query: &str,
        property: &str,
    ) -> Result<Vec<Value>, ClientError> {
        self.list(path, query, property).try_collect().await
    }

    /// Downloads `path` (a temporary content, a zip, a template): waits while it answers 204
    /// (not ready), then streams it, resuming with `Range` if the connection drops.
    pub async fn download(&self, path_and_query: &str) -> Result<Download, ClientError> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };
        let mut req = Request::get(path);
        req.query = query;
        self.download_request(req).await
    }

    /// Like `download`, for any request whose answer is a file (e.g. a POST action).
    pub async fn download_request(&self, req: Request) -> Result<Download, ClientError> {
        let started = Instant::now();
        // Poll a running export from 500 ms up to 5 s apart (in the tenant's time). Exports
        // take seconds: before the first has taught how long, the many that start at once
        // (a run's first wave) would each look six or seven times from 100 ms on.
        let scale = self.inner.opts.budget.time_scale.max(0.001);
        let mut poll = Duration::from_millis(500)
            .div_f64(scale)
            .max(Duration::from_millis(2));
        let max_poll = Duration::from_secs(5)
            .div_f64(scale)
            .max(Duration::from_millis(2));
        // A temporary file that is not ready yet (an export being prepared) is first awaited
        // for about as long as the earlier ones took, then polled ever less often: an export
        // costs two or three requests, not one per 100 ms, which matters when thousands of
        // exports share tier 1 with everything else.
        let learns = req.method == Method::GET && req.path.contains("/temp-contents/");
        let learned = self.ready_after().filter(|_| learns);
        if let Some(learned) = learned {
            tokio::time::sleep(learned).await;
            poll = poll.max(learned / 4);
        }
        // Whether a look found the file not ready yet.
        let mut running = false;
        let first = loop {
            let asked_at = started.elapsed();
            let resp = self.send(&req).await?;
            if resp.status() != StatusCode::NO_CONTENT {
                match (running, learned) {
                    // Ready by this look, after one that found it running.
                    (true, _) if learns => self.learn_ready(Readiness::By(asked_at)),
                    // Ready at the first look after waiting: perhaps sooner.
                    (false, Some(_)) => self.learn_ready(Readiness::AtFirstLook),
                    _ => {}
                }
                break resp;
            }
            if started.elapsed() > self.inner.opts.export_timeout {
                return Err(ClientError::ExportTimeout {
                    request: req.name(),
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            running = true;
            tokio::time::sleep(poll).await;
            poll = poll.mul_f64(1.5).min(max_poll);
        };
        Ok(self.resuming_stream(req, first))
    }

    /// Folds what a download's looks saw into the estimate of how long exports take to be
    /// ready (see `next_ready_estimate`).
    fn learn_ready(&self, seen: Readiness) {
        self.with_ready(|r| r.learn(seen));
    }

    fn with_ready<T>(&self, f: impl FnOnce(&mut ReadyEstimate) -> T) -> T {
        let mut ready = self.inner.ready.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut ready)
    }

    /// Starts the estimate of how long exports take to become ready from an earlier run's
    /// (the parent manifest's `export_ready_ms`), unless this client has learned its own: the
    /// first exports then wait about that long before they ask, rather than asking every few
    /// milliseconds until one is ready. At most a minute is taken; the estimate moves to what
    /// this run sees as exports come in.
    pub fn expect_ready_after(&self, earlier: Duration) {
        let ms = u64::try_from(earlier.as_millis())
            .unwrap_or(u64::MAX)
            .min(60_000);
        self.with_ready(|r| {
            if r.wait_ms == 0 {
                r.wait_ms = ms;
            }
        });
    }

    /// How long this client waits for a file being prepared before it first looks (what
    /// exports took, as learned), once it has an estimate.
    pub fn ready_after(&self) -> Option<Duration> {
        match self.with_ready(|r| r.wait_ms) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn resuming_stream(&self, req: Request, first: reqwest::Response) -> Download {
        struct State {
            client: TenantClient,
            req: Request,
            body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
            offset: u64,
            total: Option<u64>,
            skip: u64,
            resumes: u32,
            resumable: bool,
        }
        let total = content_total(first.headers(), first.status());
        let resumable = req.method == Method::GET;
        let state = State {
            client: self.clone(),
            req,
            body: Some(first.bytes_stream().boxed()),
            offset: 0,
            total,
            skip: 0,
            resumes: 0,
            resumable,
        };
        let stream = futures::stream::try_unfold(state, |mut st| async move {
            loop {
                if st.body.is_none() {
                    if st.total.is_some_and(|t| st.offset >= t) {
                        return Ok(None);
                    }
                    let mut req = st.req.clone();
                    req.range_from = Some(st.offset);
                    let resp = st.client.send(&req).await?;
                    // A server that ignores Range starts again from zero: skip what we have.
                    st.skip = if resp.status() == StatusCode::PARTIAL_CONTENT {
                        0
                    } else {
                        st.offset
                    };
                    if st.total.is_none() {
                        st.total = content_total(resp.headers(), resp.status());
                    }
                    st.body = Some(resp.bytes_stream().boxed());
                }
                let next = match st.body.as_mut() {
                    Some(body) => body.next().await,
                    None => None,
                };
                match next {
                    Some(Ok(mut chunk)) => {
                        if st.skip > 0 {
                            let n = st.skip.min(chunk.len() as u64);
                            chunk = chunk.slice(n as usize..);
                            st.skip -= n;
                        }
                        if chunk.is_empty() {
                            continue;
                        }
                        st.offset += chunk.len() as u64;
                        st.client
                            .inner
                            .counters
                            .bytes
                            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        return Ok(Some((chunk, st)));
                    }
                    Some(Err(e)) => st.dropped(transport_detail(e))?,
                    None if st.total.is_some_and(|t| st.offset < t) => {
                        st.dropped("the connection closed early".into())?
                    }
                    None => return Ok(None),
                }
            }
        });

        impl State {
            /// The body broke off: open it again from where it stopped, within the retry budget.
            fn dropped(&mut self, why: String) -> Result<(), ClientError> {
                self.resumes += 1;
                if !self.resumable || self.resumes > self.client.inner.opts.max_retries {
                    return Err(ClientError::Transport {
                        request: self.req.name(),
                        detail: format!("download broke off at byte {}: {why}", self.offset),
                        attempts: self.resumes,
                    });
                }
                self.client
                    .inner
                    .counters
                    .retries
                    .fetch_add(1, Ordering::Relaxed);
                self.body = None;
                Ok(())
            }
        }
        Download {
            total,
            stream: stream.boxed(),
        }
    }

    /// Exports an app without data and returns its download. Follows Qlik's flow: `POST
    /// /apps/{id}/export?NoData=true` → 201 + `Location` → the temporary content (204 while
    /// running). An export that expired before its download started is made again.
    pub async fn export_app(&self, app_id: &str) -> Result<Download, ClientError> {
        let export = Request::new(Method::POST, format!("/api/v1/apps/{app_id}/export"))
            .query("NoData=true")
            .idempotent();
        let mut expired = 0;
        loop {
            let resp = self.send(&export).await?;
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(location_path);
            let Some(location) = location else {
                // Some clients see the file itself in a 200; take it as it comes.
                if resp.status() == StatusCode::OK {
                    return Ok(self.resuming_stream(export.clone(), resp));
                }
                return Err(ClientError::Decode {
                    request: export.name(),
                    detail: format!("answered {} without a Location", resp.status()),
                });
            };
            match self.download(&location).await {
                Err(ClientError::Api { status: 410, .. }) if expired < 2 => expired += 1,
                Err(ClientError::Api { status: 410, .. }) => {
                    return Err(ClientError::ExportExpired {
                        request: export.name(),
                        times: expired + 1,
                    })
                }
                other => return other,
            }
        }
    }
}

/// The next estimate of how long temporary files take to become ready (milliseconds; 0 =
/// none yet), given one that took `took`.
fn next_ready_estimate(old: u64, seen: Readiness) -> u64 {
    match seen {
        // Only an upper bound: edge down a little, so the wait keeps near the time exports
        // take (a look that then finds one running sets it back up).
        Readiness::AtFirstLook => old - old / 32,
        Readiness::By(t) => {
            let t = ms(t);
            match old {
                0 => t,
                // Halfway up, and at most a quarter: one huge export does not make the small
                // ones after it wait long.
                _ => (old + t.min(old + old / 2)) / 2,
            }
        }
    }
}

/// Exports over which the carried wait is the highest (see `ReadyEstimate::carried`).
const RECENT_EXPORTS: usize = 8;

/// How long exports take to be ready, as a client learns it from its downloads.
///
/// The wait before a first look follows `next_ready_estimate`, which keeps it where about one
/// export in five needs a second look: up an eighth after such a look, down a 32nd after each
/// export ready at the first, a sawtooth around the time exports take. A run's first exports
/// start together and cannot learn from one another, so starting them from wherever the last
/// run's sawtooth stopped had a whole wave look twice when it stopped low (34 of 37 exports in
/// a benchmark run). The next run starts instead from the top of the sawtooth: the highest
/// the wait stood over the last few exports.
#[derive(Debug, Default)]
struct ReadyEstimate {
    /// The wait before a first look, in milliseconds; 0 until learned or told.
    wait_ms: u64,
    /// The highest wait during each of the last exports (milliseconds), a ring.
    recent: [u64; RECENT_EXPORTS],
    learned: usize,
}

impl ReadyEstimate {
    fn learn(&mut self, seen: Readiness) {
        let old = self.wait_ms;
        self.wait_ms = next_ready_estimate(old, seen);
        self.recent[self.learned % RECENT_EXPORTS] = old.max(self.wait_ms);
        self.learned += 1;
    }

    /// What the next run starts from: the highest the wait stood over the last exports, or
    /// the wait this client was told when it learned nothing itself.
    fn carried(&self) -> Option<u64> {
        Some(match self.learned {
            0 => self.wait_ms,
            _ => self.recent.iter().copied().max().unwrap_or(0),
        })
        .filter(|ms| *ms > 0)
    }
}

/// Whole milliseconds, at least one.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// What the looks at a file being prepared saw.
#[derive(Debug, Clone, Copy)]
enum Readiness {
    /// Ready at the first look, after waiting as long as the estimate.
    AtFirstLook,
    /// Running at a look, ready at the one sent this long after the download began.
    By(Duration),
}

/// Fresh tokens one request may ask for after 401s before the 401 is taken as an answer.
const MAX_REAUTHENTICATIONS: u32 = 3;

/// The path and query of a `Location`, relative or absolute.
fn location_path(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        },
        Err(_) => raw.to_string(),
    }
}

fn content_total(headers: &HeaderMap, status: StatusCode) -> Option<u64> {
    let text = |h: Option<&HeaderValue>| h.and_then(|v| v.to_str().ok()).map(str::to_string);
    if status == StatusCode::PARTIAL_CONTENT {
        return text(headers.get(CONTENT_RANGE))
            .and_then(|r| r.rsplit('/').next().and_then(|t| t.parse().ok()));
    }
    text(headers.get(CONTENT_LENGTH)).and_then(|l| l.parse().ok())
}

/// What went wrong on the wire, with its causes: reqwest says only "error sending request",
/// its sources say why (`tcp connect error: Connection refused`, a certificate, a timeout). The
/// URL is left out (its query may carry a cursor); a cause that repeats the text before it is
/// said once.
pub(crate) fn transport_detail(e: reqwest::Error) -> String {
    crate::error::error_line(&e.without_url())
}

async fn decode(req: &Request, resp: reqwest::Response) -> Result<Value, ClientError> {
    let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
        request: req.name(),
        detail: transport_detail(e),
        attempts: 1,
    })?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        request: req.name(),
        detail: format!("not JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_estimate_follows_the_exports_and_shrugs_off_one_huge_export() {
        let by = |ms: u64| Readiness::By(Duration::from_millis(ms));
        assert_eq!(next_ready_estimate(0, by(1500)), 1500);
        // One export of 2 GiB (108 s) among 1.5 s ones: the estimate moves a quarter up.
        let after_huge = next_ready_estimate(1500, by(108_000));
        assert_eq!(after_huge, 1875);
        // ... and edges back as the small ones are ready at the first look.
        let mut e = after_huge;
        let mut n = 0;
        while e > 1600 {
            e = next_ready_estimate(e, Readiness::AtFirstLook);
            n += 1;
        }
        assert!(n <= 8, "{n}");
        // Exports that really take 10 s are learned within ten.
        let mut e = 1500;
        let mut n = 0;
        while e < 9000 {
            e = next_ready_estimate(e, by(10_000));
            n += 1;
        }
        assert!(n <= 10, "{n}");
        // Steady exports: a look that finds one running (ready at a quarter more) lifts the
        // estimate by an eighth; a first-look success lowers it by a 32nd, so the wait settles
        // where about one export in five needs a second look.
        assert_eq!(next_ready_estimate(1600, by(2000)), 1800);
        assert_eq!(next_ready_estimate(1600, Readiness::AtFirstLook), 1550);
    }

    /// Exports as the client looks at them: ready after `readiness` ms, looked at after the
    /// wait, then a quarter of it later, growing by half each time.
    fn look(est: &mut ReadyEstimate, readiness: u64) {
        let wait = est.wait_ms;
        if wait >= readiness {
            est.learn(Readiness::AtFirstLook);
            return;
        }
        let (mut poll, mut at) = (wait / 4, wait + wait / 4);
        while at < readiness {
            poll += poll / 2;
            at += poll;
        }
        est.learn(Readiness::By(Duration::from_millis(at)));
    }

    #[test]
    fn a_run_s_first_wave_starts_from_the_top_of_the_estimate_not_where_it_stopped() {
        // Exports ready after 1500 to 1559 ms, in a scrambled order.
        let readiness = |i: u64| 1500 + (i * 37 + i * i * 11) % 60;
        let mut est = ReadyEstimate::default();
        assert_eq!(est.carried(), None);
        est.wait_ms = 1500;
        assert_eq!(est.carried(), Some(1500), "told, and nothing learned: kept");
        let (mut stops, mut low_stops) = (0, 0);
        for i in 0..400 {
            look(&mut est, readiness(i));
            if i < 16 {
                continue;
            }
            // Should the run stop here, the next run's first exports all start at once:
            // from what is carried, each is ready at its first look...
            let carried = est.carried().expect("learned");
            assert!(carried >= 1560, "export {i}: carried {carried}");
            assert!(carried <= 1560 * 5 / 4, "and not much later: {carried}");
            // ... where the wait it stopped at would often have had every one look twice.
            stops += 1;
            if est.wait_ms < 1559 {
                low_stops += 1;
            }
        }
        assert!(low_stops * 5 >= stops, "{low_stops} of {stops}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("13"));
        assert_eq!(retry_after(&h), Duration::from_secs(13));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.25"));
        assert_eq!(retry_after(&h), Duration::from_millis(250));
        assert_eq!(retry_after(&HeaderMap::new()), Duration::from_secs(5));
    }

    #[test]
    fn locations_keep_path_and_query_only() {
        assert_eq!(
            location_path("/api/v1/temp-contents/abc"),
            "/api/v1/temp-contents/abc"
        );
        assert_eq!(
            location_path("http://localhost:8787/v1/temp-contents/abc?inline=1"),
            "/v1/temp-contents/abc?inline=1"
        );
    }
}
