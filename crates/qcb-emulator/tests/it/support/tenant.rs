//! The tenant the integration tests talk to: an emulator started on loopback, a client that
//! holds its URL and a bearer token, replies read whole, paging through `links.next.href`,
//! app exports and their downloads, and Qlik's specs to hold the answers against.

// Each tests/*.rs compiles support/ on its own and uses only part of this module.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use super::openapi::{SpecIndex, Validation};

/// Qlik's specs, loaded once per test binary.
pub fn index() -> &'static SpecIndex {
    static INDEX: OnceLock<SpecIndex> = OnceLock::new();
    INDEX.get_or_init(|| SpecIndex::load_default().unwrap_or_else(|e| panic!("loading specs: {e}")))
}

/// Starts an emulator on a free loopback port.
pub async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("starting the emulator: {e}"))
}

/// Starts a tenant of `profile` without rate limits.
pub async fn start_profile(profile: Profile) -> Emulator {
    start(EmulatorConfig {
        profile,
        rate_limits: false,
        ..EmulatorConfig::default()
    })
    .await
}

/// Asks the tenant's `/oauth/token` for a token (no bearer of our own).
pub async fn oauth_token(emulator: &Emulator, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/oauth/token", emulator.url()))
        .json(&body)
        .send()
        .await
        .expect("token")
}

/// Fills the `{…}` segments of a path template in order; one without a value becomes
/// `qcb-probe`.
pub fn fill(template: &str, values: &[&str]) -> String {
    let mut it = values.iter();
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                it.next()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "qcb-probe".into())
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `links.next.href` of a list page.
pub fn next_href(page: &Value) -> Option<&str> {
    page.pointer("/links/next/href").and_then(Value::as_str)
}

/// An answer, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    /// The body as JSON; `Null` when it is empty or not JSON.
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The whole `Content-Type`, parameters included.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The `Content-Type` without its parameters.
    pub fn media_type(&self) -> &str {
        self.content_type()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The body parsed as JSON, `None` when it is empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.bytes).ok()
    }

    /// Holds the body against the response schema of the operation `method template`;
    /// `None` when no spec has that operation.
    pub fn validate(&self, method: &str, template: &str) -> Option<Validation> {
        let op = index().operation(method, template)?;
        Some(index().validate_response(&op, self.status, self.media_type(), &self.body))
    }
}

/// A client of the tenant under test: its URL and the bearer token of one identity.
pub struct TestTenant {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl TestTenant {
    pub fn new(emulator: &Emulator, token: &str) -> TestTenant {
        TestTenant {
            http: reqwest::Client::new(),
            url: emulator.url(),
            token: token.to_string(),
        }
    }

    /// The generated admin's API key.
    pub fn admin(emulator: &Emulator) -> TestTenant {
        TestTenant::new(emulator, emulator.admin_api_key())
    }

    /// The identity a `/oauth/token` answer grants.
    pub async fn from_token_response(
        emulator: &Emulator,
        response: reqwest::Response,
    ) -> TestTenant {
        let token: Value = response.json().await.expect("token json");
        TestTenant::new(
            emulator,
            token["access_token"].as_str().expect("access_token"),
        )
    }

    /// The M2M bot with admin.apps, which reaches personal and private content too.
    pub async fn admin_bot(emulator: &Emulator) -> TestTenant {
        let (id, secret) = emulator
            .tenant()
            .credentials()
            .admin_bot
            .expect("admin bot");
        let r = oauth_token(
            emulator,
            json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}),
        )
        .await;
        assert_eq!(r.status(), reqwest::StatusCode::OK, "token for {id}");
        TestTenant::from_token_response(emulator, r).await
    }

    /// A path on the tenant, or a whole URL as it is.
    pub fn url_for(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.url)
        }
    }

    /// A request with our bearer token, to send as it is.
    pub fn request(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        self.http
            .request(method, self.url_for(path_or_url))
            .bearer_auth(&self.token)
    }

    /// Sends a body of the given content type (or none) and reads the whole answer.
    pub async fn send(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut req = self.request(method.clone(), path_or_url);
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path_or_url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {path_or_url}: reading the body: {e}"))
            .to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            bytes,
            body,
        }
    }

    /// Sends a JSON body (or none) and reads the whole answer.
    pub async fn call(&self, method: Method, path_or_url: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| {
            (
                "application/json",
                serde_json::to_vec(b).expect("JSON body"),
            )
        });
        self.send(method, path_or_url, body).await
    }

    pub async fn get(&self, path_or_url: &str) -> Reply {
        self.call(Method::GET, path_or_url, None).await
    }

    pub async fn post(&self, path_or_url: &str, body: &Value) -> Reply {
        self.call(Method::POST, path_or_url, Some(body)).await
    }

    /// A JSON document that must answer 200.
    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}");
        r.json().expect("json")
    }

    /// Walks a list through `links.next.href` (by its query string) and returns every item:
    /// those under `property`, or the page itself when `property` is empty. Each page must
    /// answer 200 with JSON.
    pub async fn walk(&self, path: &str, query: &str, property: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut q = query.to_string();
        for _ in 0..500 {
            let sep = if q.is_empty() { "" } else { "?" };
            let r = self.get(&format!("{path}{sep}{q}")).await;
            assert_eq!(r.status, 200, "GET {path}?{q}: {}", r.body);
            let body = r
                .json()
                .unwrap_or_else(|| panic!("GET {path}?{q}: the page is not JSON"));
            let page = if property.is_empty() {
                body.as_array()
            } else {
                body.get(property).and_then(Value::as_array)
            };
            out.extend(page.cloned().unwrap_or_default());
            match next_href(&body).and_then(|h| h.split_once('?')) {
                Some((_, next)) => q = next.to_string(),
                None => return out,
            }
        }
        panic!("{path}: paging did not end");
    }

    /// Every app item this identity sees.
    pub async fn app_items(&self) -> Vec<Value> {
        self.walk("/api/v1/items", "resourceType=app&limit=100", "data")
            .await
    }

    /// An app in a shared space, which the generated admin holds a role in.
    pub async fn exportable_app(&self) -> Value {
        let spaces = self.json("/api/v1/spaces?limit=100&type=shared").await;
        let shared: Vec<&str> = spaces["data"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["id"].as_str()).collect())
            .unwrap_or_default();
        self.app_items()
            .await
            .into_iter()
            .find(|i| i["spaceId"].as_str().is_some_and(|s| shared.contains(&s)))
            .expect("an app in a shared space")
    }

    /// Asks for an export without data and answers whatever the tenant says.
    pub async fn start_export(&self, app_id: &str) -> Reply {
        self.call(
            Method::POST,
            &format!("/api/v1/apps/{app_id}/export?NoData=true"),
            None,
        )
        .await
    }

    /// Starts an export (201) and returns the temporary content's path.
    pub async fn export(&self, app_id: &str) -> String {
        let r = self.start_export(app_id).await;
        assert_eq!(r.status, 201, "export of {app_id}: {}", r.body);
        let loc = r.location().expect("Location").to_string();
        assert!(
            loc.starts_with("/api/v1/temp-contents/"),
            "relative Location, got {loc}"
        );
        loc
    }

    /// Waits out the 204s of a running export, then downloads it: 200, an octet stream, an
    /// attachment.
    pub async fn download(&self, loc: &str) -> Vec<u8> {
        for _ in 0..400 {
            let r = self.get(loc).await;
            match r.status {
                204 => tokio::time::sleep(Duration::from_millis(20)).await,
                200 => {
                    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
                    assert!(r
                        .header("content-disposition")
                        .is_some_and(|v| v.starts_with("attachment")));
                    return r.bytes;
                }
                other => panic!("download {loc} answered {other}"),
            }
        }
        panic!("export never ready");
    }
}
