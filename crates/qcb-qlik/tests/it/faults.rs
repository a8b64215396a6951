//! The client against a misbehaving tenant: 10% of requests answered 5xx, downloads whose
//! connection drops part-way, a 429 storm, and OAuth tokens that expire mid-run. Every listing
//! and every download must complete with exactly the data of a fault-free run.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use qcb_emulator::{Emulator, EmulatorConfig, Faults, Profile};
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use secrecy::SecretString;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// (path, query, list property) of every list the run reads.
const LISTS: &[(&str, &str, &str)] = &[
    ("/api/v1/items", "resourceType=app&limit=7", "data"),
    ("/api/v1/spaces", "limit=3", "data"),
    ("/api/v1/users", "limit=5", "data"),
    ("/api/v1/groups", "limit=2", "data"),
    ("/api/v1/data-connections", "limit=4", "data"),
    ("/api/workflows/automations", "limit=3&listAll=true", "data"),
    (
        "/api/workflows/automation-connections",
        "limit=2&listAll=true",
        "data",
    ),
    ("/api/scheduling/tasks", "limit=4", "data"),
    ("/api/v1/sharing-tasks", "limit=3", "sharingTasks"),
    ("/api/v1/web-integrations", "limit=1", "data"),
    ("/api/v1/report-templates", "limit=2", "data"),
    ("/api/v1/themes", "", "data"),
];

fn options() -> ClientOptions {
    ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 20,
            burst_minutes: 0.0,
            time_scale: 10.0,
        },
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(300),
        ..ClientOptions::default()
    }
}

pub(crate) async fn bot(e: &Emulator) -> TenantClient {
    let (id, secret) = e
        .tenant()
        .credentials()
        .admin_bot
        .expect("the demo tenant has an M2M client");
    let creds = Credentials::OAuthClient {
        client_id: id,
        client_secret: SecretString::from(secret),
        scope: None,
    };
    TenantClient::new(TenantUrl::parse(&e.url()).expect("url"), creds, options()).expect("client")
}

/// Everything a run reads: every list, and the SHA-256 of every app's export.
async fn read_everything(
    client: &TenantClient,
) -> (BTreeMap<String, Vec<Value>>, BTreeMap<String, String>) {
    let mut lists = BTreeMap::new();
    for (path, query, prop) in LISTS {
        let items = client
            .list_all(path, query, prop)
            .await
            .unwrap_or_else(|e| panic!("listing {path}: {e}"));
        lists.insert(path.to_string(), items);
    }
    let apps: Vec<String> = lists["/api/v1/items"]
        .iter()
        .filter_map(|i| i["resourceId"].as_str().map(str::to_string))
        .collect();
    let downloads = futures::future::join_all(apps.iter().map(|id| async move {
        let mut dl = client
            .export_app(id)
            .await
            .unwrap_or_else(|e| panic!("exporting {id}: {e}"));
        let mut hash = Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = dl.stream.next().await {
            let chunk = chunk.unwrap_or_else(|e| panic!("downloading {id}: {e}"));
            n += chunk.len() as u64;
            hash.update(&chunk);
        }
        if let Some(total) = dl.total {
            assert_eq!(n, total, "{id}: every byte arrived");
        }
        (id.clone(), hex::encode(hash.finalize()))
    }))
    .await;
    (lists, downloads.into_iter().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_tenant_gives_the_same_data_as_a_healthy_one() {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        time_scale: 10.0,
        export_latency: Duration::from_millis(500),
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let healthy = bot(&e).await;
    let (lists, exports) = read_everything(&healthy).await;
    assert!(
        exports.len() >= 20,
        "every app is exported ({})",
        exports.len()
    );
    assert_eq!(
        healthy.counters().retries,
        0,
        "a healthy run needs no retries"
    );

    e.tenant().set_faults(Faults {
        error_rate: 0.1,
        drop_rate: 0.2,
        ..Faults::default()
    });
    let faulty = bot(&e).await;
    // Tokens expire mid-run, twice, and a 429 storm hits once.
    let tenant = e.tenant().clone();
    let chaos = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        tenant.expire_tokens();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut f = tenant.faults();
        f.throttle_storm_secs = 10; // emulated: one real second at time scale 10
        tenant.set_faults(f);
        tokio::time::sleep(Duration::from_millis(300)).await;
        tenant.expire_tokens();
    });
    let (lists2, exports2) = read_everything(&faulty).await;
    chaos.await.expect("chaos task");
    assert_eq!(lists2, lists, "every list is complete and identical");
    assert_eq!(exports2, exports, "every export downloads byte-identical");

    let c = faulty.counters();
    let server = e.tenant().counters();
    assert!(
        server.injected_errors > 0 && server.dropped_connections > 0,
        "faults happened: {server:?}"
    );
    assert!(c.retries > 0, "the client retried: {c:?}");
    assert!(
        faulty.token_requests() >= 2,
        "the expired token was replaced ({} token requests)",
        faulty.token_requests()
    );
}

#[tokio::test]
async fn an_api_key_is_refused_with_a_clear_error_and_no_retry_loop() {
    let e = Emulator::start(
        EmulatorConfig {
            profile: Profile::Empty,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("emulator");
    let client = TenantClient::new(
        TenantUrl::parse(&e.url()).expect("url"),
        Credentials::ApiKey(SecretString::from("wrong-key".to_string())),
        options(),
    )
    .expect("client");
    let err = client
        .get_json("/api/v1/spaces", "")
        .await
        .expect_err("refused");
    let msg = err.to_string();
    assert!(msg.starts_with("GET /api/v1/spaces answered 401"), "{msg}");
    assert!(msg.contains("create a new one"), "{msg}");
    assert!(!msg.contains("wrong-key"), "no secret in errors: {msg}");
    assert_eq!(client.counters().requests, 1);
}

#[tokio::test]
async fn an_unreachable_tenant_is_retried_then_named_with_the_cause() {
    // A port nothing listens on: bound, then let go.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let client = TenantClient::new(
        TenantUrl::parse(&format!("http://{addr}")).expect("url"),
        Credentials::ApiKey(SecretString::from("the-key".to_string())),
        ClientOptions {
            max_retries: 2,
            ..options()
        },
    )
    .expect("client");
    let err = client
        .get_json("/api/v1/spaces", "limit=100&next=cursor")
        .await
        .expect_err("nothing listens there");
    let msg = err.to_string();
    assert!(msg.starts_with("GET /api/v1/spaces failed: "), "{msg}");
    // reqwest's own words say only that sending failed; the cause says why.
    assert!(msg.to_lowercase().contains("connect"), "{msg}");
    assert!(msg.contains("refused"), "{msg}");
    assert!(msg.contains("(after 3 attempts)"), "{msg}");
    assert!(msg.contains("check that the tenant is reachable"), "{msg}");
    for hidden in ["the-key", "cursor"] {
        assert!(!msg.contains(hidden), "{hidden} in {msg}");
    }
}

#[tokio::test]
async fn a_wrong_client_secret_says_so_without_showing_it() {
    let e = Emulator::start(
        EmulatorConfig {
            profile: Profile::Empty,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("emulator");
    let (id, _) = e.tenant().credentials().admin_bot.expect("bot");
    let creds = Credentials::OAuthClient {
        client_id: id,
        client_secret: SecretString::from("QCBSECRET-wrong".to_string()),
        scope: None,
    };
    let client = TenantClient::new(TenantUrl::parse(&e.url()).expect("url"), creds, options())
        .expect("client");
    let msg = client
        .get_json("/api/v1/spaces", "")
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains("signing in to http://127.0.0.1") && msg.contains("401"),
        "{msg}"
    );
    assert!(!msg.contains("QCBSECRET"), "{msg}");
    // Refused credentials are not offered again: the next requests get the same answer at
    // once, and the token endpoint was asked once.
    for _ in 0..3 {
        let again = client
            .get_json("/api/v1/users/me", "")
            .await
            .expect_err("still refused")
            .to_string();
        assert_eq!(again, msg);
    }
    let asked = e
        .tenant()
        .counters()
        .per_operation
        .get("POST /oauth/token")
        .copied();
    assert_eq!(asked, Some(1));
}

#[tokio::test]
async fn posts_that_create_are_not_retried_blindly() {
    let e = Emulator::start(
        EmulatorConfig {
            profile: Profile::Empty,
            rate_limits: false,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("emulator");
    let client = TenantClient::new(
        TenantUrl::parse(&e.url()).expect("url"),
        Credentials::ApiKey(SecretString::from(e.admin_api_key().to_string())),
        options(),
    )
    .expect("client");
    e.tenant().set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let create = qcb_qlik::Request::new(reqwest::Method::POST, "/api/v1/spaces")
        .json(&serde_json::json!({"name": "x", "type": "shared"}));
    let err = client.call_json(&create).await.expect_err("5xx");
    assert!(matches!(err.status(), Some(500) | Some(503)), "{err}");
    assert_eq!(client.counters().requests, 1, "a create is sent once");
    // An idempotent GET is retried until its budget is spent.
    let _ = client
        .get_json("/api/v1/spaces", "")
        .await
        .expect_err("always 5xx");
    assert_eq!(client.counters().requests, 1 + 1 + 6);
}
