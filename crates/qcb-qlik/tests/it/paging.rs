//! Paging with `TenantClient`: every paging style the emulated tenant serves yields every item
//! exactly once, for any number of items and any page size the API allows; links on internal
//! hosts page the same (the client uses only their query string); and a server whose next link
//! repeats a cursor stops the client with `ClientError::RepeatedCursor` instead of a loop; an
//! answer without its list stops it with an error that names the list.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use qcb_emulator::{Emulator, EmulatorConfig, LinkStyle, Profile};
use qcb_qlik::{Budget, ClientError, ClientOptions, Credentials, Request, TenantClient, TenantUrl};
use reqwest::header::LOCATION;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A kind that pages in one of the styles, with the limits of its spec.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// The query parameter that carries the position.
    name: &'static str,
    /// The kind's name in the emulator.
    kind: &'static str,
    path: &'static str,
    /// Query parameters the list needs besides `limit`.
    query: &'static str,
    max_limit: usize,
}

const NEXT: Style = Style {
    name: "next",
    kind: "csp-origins",
    path: "/api/v1/csp-origins",
    query: "",
    max_limit: 100,
};
const PAGE: Style = Style {
    name: "page",
    kind: "ip-policies",
    path: "/api/core/ip-policies",
    query: "",
    max_limit: 100,
};
// Connections are personal: an admin sees everyone's only with listAll=true.
const CURSOR: Style = Style {
    name: "cursor",
    kind: "automation-connections",
    path: "/api/workflows/automation-connections",
    query: "listAll=true",
    max_limit: 200,
};
const STARTING_AFTER: Style = Style {
    name: "startingAfter",
    kind: "web-integrations",
    path: "/api/v1/web-integrations",
    query: "",
    max_limit: 100,
};
const SKIP: Style = Style {
    name: "skip",
    kind: "report-templates",
    path: "/api/v1/report-templates",
    query: "",
    max_limit: 100,
};

const STYLES: [Style; 5] = [NEXT, PAGE, CURSOR, STARTING_AFTER, SKIP];

/// The Slack connector of the emulated automation catalogue.
const SLACK: &str = "3f9c4a10-1b2d-11ec-9a21-2b7a9c1d0e11";

struct Tenant {
    emulator: Emulator,
    client: TenantClient,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// An `empty` tenant without rate limits, and a client of its admin that does not pace.
async fn start(link_style: LinkStyle) -> Tenant {
    let config = EmulatorConfig {
        profile: Profile::Empty,
        rate_limits: false,
        link_style,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("starting the emulator");
    let tenant = TenantUrl::parse(&emulator.url()).expect("tenant URL");
    let key = Credentials::ApiKey(SecretString::from(emulator.admin_api_key().to_string()));
    let options = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 10_000,
            burst_minutes: 0.0,
            time_scale: 1000.0,
        },
        ..ClientOptions::default()
    };
    let client = TenantClient::new(tenant, key, options).expect("client");
    Tenant { emulator, client }
}

/// Creates item `i` of the style's kind through the API; answers its ID.
async fn create(client: &TenantClient, style: Style, i: usize) -> Result<String, String> {
    let body = match style.kind {
        "csp-origins" => {
            json!({"origin": format!("https://x{i}.example"), "name": format!("x{i}")})
        }
        "ip-policies" => {
            json!({"name": format!("x{i}"), "allowedIps": [format!("10.0.0.{}", i % 250 + 1)]})
        }
        "automation-connections" => json!({"name": format!("x{i}"), "connectorId": SLACK}),
        "web-integrations" => {
            json!({"name": format!("x{i}"), "validOrigins": [format!("https://x{i}.example")]})
        }
        "report-templates" => {
            // A template is made from an uploaded temporary content.
            let upload = Request::new(Method::POST, "/api/v1/temp-contents")
                .query("filename=t.xlsx")
                .bytes(
                    Bytes::from(format!("PK template {i}")),
                    "application/octet-stream",
                );
            let resp = client.send(&upload).await.map_err(|e| e.to_string())?;
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or("the upload answered no Location")?;
            let temp_id = location
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            json!({"name": format!("x{i}"), "temporaryContentId": temp_id})
        }
        other => return Err(format!("no create body for {other}")),
    };
    let (status, doc) = client
        .call_json(&Request::new(Method::POST, style.path).json(&body))
        .await
        .map_err(|e| e.to_string())?;
    if status.as_u16() != 201 {
        return Err(format!("creating {} {i} answered {status}", style.kind));
    }
    doc["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("created {} {i} has no id: {doc}", style.kind))
}

/// Deletes every item of the kind, so that a case counts only its own.
fn clear(tenant: &Tenant, kind: &str) -> Result<(), String> {
    let t = tenant.emulator.tenant();
    for id in t.ids(kind) {
        t.delete_resource(kind, &id)
            .map_err(|e| format!("deleting {kind} {id}: {e:?}"))?;
    }
    Ok(())
}

/// Creates `n` items, pages through them `limit` at a time with the client, and checks that
/// every item came exactly once, on as many pages as it takes and no more.
async fn check(tenant: &Tenant, style: Style, n: usize, limit: usize) -> Result<(), String> {
    clear(tenant, style.kind)?;
    let mut created = Vec::with_capacity(n);
    for i in 0..n {
        created.push(create(&tenant.client, style, i).await?);
    }
    let query = if style.query.is_empty() {
        format!("limit={limit}")
    } else {
        format!("{}&limit={limit}", style.query)
    };
    let pages: Vec<Vec<Value>> = tenant
        .client
        .pages(style.path, &query, "data")
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    let context = format!(
        "{} paging ({}), {n} items, limit {limit}",
        style.name, style.path
    );
    let expected_pages = n.div_ceil(limit).max(1);
    if pages.len() != expected_pages {
        return Err(format!(
            "{context}: {} pages, expected {expected_pages}",
            pages.len()
        ));
    }
    if let Some(big) = pages.iter().find(|p| p.len() > limit) {
        return Err(format!("{context}: a page of {} items", big.len()));
    }
    let mut seen: Vec<String> = pages
        .iter()
        .flatten()
        .map(|v| v["id"].as_str().unwrap_or("<no id>").to_string())
        .collect();
    seen.sort();
    created.sort();
    if seen != created {
        return Err(format!(
            "{context}: listed {} items, created {}; listed {seen:?}",
            seen.len(),
            created.len()
        ));
    }
    Ok(())
}

/// A few fixed edge cases, then the property over `cases` random ones, on one tenant.
fn every_item_exactly_once(style: Style, cases: u32) {
    let rt = runtime();
    let tenant = rt.block_on(start(LinkStyle::Absolute));
    // None, one, an exact multiple of the page size, and the largest page size.
    for (n, limit) in [(0, 1), (1, 1), (12, 4), (13, style.max_limit)] {
        if let Err(e) = rt.block_on(check(&tenant, style, n, limit)) {
            panic!("{e}");
        }
    }
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    // Half the page sizes small, so that most cases take several pages.
    let sizes = (
        0usize..60,
        prop_oneof![1usize..=12, 1usize..=style.max_limit],
    );
    let result = runner.run(&sizes, |(n, limit)| {
        rt.block_on(check(&tenant, style, n, limit))
            .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{} paging: {e}", style.name);
    }
}

#[test]
fn next_cursor_paging_yields_every_item_once() {
    every_item_exactly_once(NEXT, 6);
}

#[test]
fn page_cursor_paging_yields_every_item_once() {
    every_item_exactly_once(PAGE, 6);
}

#[test]
fn cursor_paging_yields_every_item_once() {
    every_item_exactly_once(CURSOR, 6);
}

#[test]
fn starting_after_paging_yields_every_item_once() {
    every_item_exactly_once(STARTING_AFTER, 6);
}

#[test]
fn skip_paging_yields_every_item_once() {
    every_item_exactly_once(SKIP, 6);
}

/// Links on an internal host (`http://localhost:8787/v1/...`, as in some specs' examples) page
/// the same: the client takes only their query string, on the tenant and the path it asked.
#[test]
fn links_on_internal_hosts_page_the_same() {
    let rt = runtime();
    let tenant = rt.block_on(start(LinkStyle::Internal));
    for style in STYLES {
        rt.block_on(async {
            check(&tenant, style, 23, 5)
                .await
                .unwrap_or_else(|e| panic!("internal links: {e}"));
            let query = if style.query.is_empty() {
                "limit=5".to_string()
            } else {
                format!("{}&limit=5", style.query)
            };
            let first = tenant
                .client
                .get_json(style.path, &query)
                .await
                .expect("first page");
            let next = first
                .pointer("/links/next/href")
                .and_then(Value::as_str)
                .unwrap_or_default();
            assert!(
                next.starts_with("http://localhost:8787/"),
                "{}: the switch should write internal links, got '{next}'",
                style.name
            );
        });
    }
}

/// A server whose every page links to `next_query`; counts the requests it answers.
async fn repeating_server(next_query: &'static str) -> (String, Arc<AtomicUsize>) {
    page_server(move |base, n| {
        json!({"data": [{"id": format!("item{n}")}], "links": {"next": {"href": format!("{base}/api/v1/items?{next_query}")}}})
    })
    .await
}

/// A server that answers its `n`th request (from 1) with `page(base URL, n)`; counts them.
async fn page_server(
    page: impl Fn(&str, usize) -> Value + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let page = Arc::new(page);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let served = Arc::new(AtomicUsize::new(0));
    let (url, count) = (base.clone(), served.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (base, count, page) = (base.clone(), count.clone(), page.clone());
            tokio::spawn(async move {
                let mut pending: Vec<u8> = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    // One GET (no body) per request on a kept-alive connection.
                    let end = loop {
                        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    };
                    pending.drain(..end);
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    let body = page(&base, n).to_string();
                    let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    if socket.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, served)
}

fn plain_client(url: &str) -> TenantClient {
    let options = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 100,
            burst_minutes: 0.0,
            time_scale: 100.0,
        },
        ..ClientOptions::default()
    };
    TenantClient::new(
        TenantUrl::parse(url).expect("url"),
        Credentials::ApiKey(SecretString::from("k".to_string())),
        options,
    )
    .expect("client")
}

#[tokio::test]
async fn a_repeated_cursor_stops_the_client() {
    // Page 1 links to next=abc; page 2 links to next=abc again.
    let (url, served) = repeating_server("next=abc&limit=1").await;
    let err = plain_client(&url)
        .list_all("/api/v1/items", "limit=1", "data")
        .await
        .expect_err("a repeated cursor must stop the listing");
    match &err {
        ClientError::RepeatedCursor { request, cursor } => {
            assert_eq!(cursor, "next=abc&limit=1");
            assert_eq!(request.path, "/api/v1/items");
        }
        other => panic!("expected RepeatedCursor, got {other:?}"),
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        2,
        "the repeated page must not be asked for again"
    );
    assert!(err.to_string().contains("repeated"), "{err}");

    // A next link back to the first page is a repeat too.
    let (url, served) = repeating_server("limit=1").await;
    let err = plain_client(&url)
        .list_all("/api/v1/items", "limit=1", "data")
        .await
        .expect_err("a link back to the first page must stop the listing");
    assert!(matches!(err, ClientError::RepeatedCursor { .. }), "{err:?}");
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_answer_without_its_list_stops_the_listing_and_says_which_list() {
    // Page 1 is a list page; page 2 holds something else where the list should be.
    let (url, served) = page_server(|base, n| match n {
        1 => json!({"data": [{"id": "a"}, {"id": "b"}], "links": {"next": {"href": format!("{base}/api/v1/items?next=2")}}}),
        _ => json!({"data": {"id": "c"}, "links": {}}),
    })
    .await;
    let client = plain_client(&url);
    let mut seen = Vec::new();
    let mut items = client.list("/api/v1/items", "limit=2", "data");
    let err = loop {
        match items.try_next().await {
            Ok(Some(item)) => seen.push(item["id"].as_str().unwrap_or_default().to_string()),
            Ok(None) => panic!("the second page is no list page, yet the listing ended"),
            Err(e) => break e,
        }
    };
    assert_eq!(seen, ["a", "b"], "the first page's items come whole");
    match &err {
        ClientError::Decode { request, detail } => {
            assert_eq!(request.path, "/api/v1/items");
            assert_eq!(detail, "no 'data' list in the answer");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(served.load(Ordering::SeqCst), 2);

    // A list answered bare (no property) pages the same way.
    let (url, _) = page_server(|_, _| json!([{"id": "x"}, {"id": "y"}])).await;
    let bare = plain_client(&url)
        .list_all("/api/v1/brands", "", "")
        .await
        .expect("a bare list");
    assert_eq!(bare, [json!({"id": "x"}), json!({"id": "y"})]);
}
