//! How the emulated tenant behaves for the things a backup depends on: authentication and
//! token expiry, who sees what, the export lifecycle (204 → 200/206 → 410), deterministic
//! and incompressible exports, import round trips, rate limits, faults and the state file.

use crate::support;

use std::time::Duration;

use qcb_emulator::{Emulator, EmulatorConfig, Faults, LinkStyle, Profile};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::tenant::{oauth_token, start, TestTenant};

fn demo() -> EmulatorConfig {
    EmulatorConfig {
        profile: Profile::Demo,
        rate_limits: false,
        export_latency: Duration::from_millis(200),
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn api_keys_and_oauth_tokens_authenticate_and_expire() {
    let e = start(demo()).await;
    let anon = reqwest::get(format!("{}/api/v1/spaces", e.url()))
        .await
        .expect("anon");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anon.json().await.expect("error body");
    assert_eq!(body["errors"][0]["code"], "HTTP-401");
    assert_eq!(
        TestTenant::new(&e, "wrong")
            .get("/api/v1/spaces")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        TestTenant::admin(&e).get("/api/v1/spaces").await.status,
        StatusCode::OK
    );

    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    let r = oauth_token(
        &e,
        json!({"client_id": id, "client_secret": secret, "grant_type": "client_credentials"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tok: Value = r.json().await.expect("token json");
    assert_eq!(tok["token_type"], "bearer");
    let expires =
        chrono::DateTime::parse_from_rfc3339(tok["expires_at"].as_str().expect("expires_at"))
            .expect("RFC 3339");
    assert!(expires > chrono::Utc::now());
    let bot = TestTenant::new(&e, tok["access_token"].as_str().expect("access_token"));
    assert_eq!(bot.get("/api/v1/spaces").await.status, StatusCode::OK);

    // Form-encoded requests work too; a wrong secret does not.
    let form = reqwest::Client::new()
        .post(format!("{}/oauth/token", e.url()))
        .form(&[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .expect("form");
    assert_eq!(form.status(), StatusCode::OK);
    let bad = oauth_token(
        &e,
        json!({"client_id": id, "client_secret": "nope", "grant_type": "client_credentials"}),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    // Tokens expire with emulated time; an expired token gets 401.
    e.tenant().clock.advance(Duration::from_secs(6 * 3600 + 1));
    assert_eq!(
        bot.get("/api/v1/spaces").await.status,
        StatusCode::UNAUTHORIZED
    );
    // And on demand (a test switch), while API keys keep working.
    let r = oauth_token(
        &e,
        json!({"client_id": id, "client_secret": secret, "grant_type": "client_credentials"}),
    )
    .await;
    let bot = TestTenant::from_token_response(&e, r).await;
    assert_eq!(bot.get("/api/v1/spaces").await.status, StatusCode::OK);
    e.tenant().expire_tokens();
    assert_eq!(
        bot.get("/api/v1/spaces").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        TestTenant::admin(&e).get("/api/v1/spaces").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn impersonation_acts_as_the_user() {
    let e = start(demo()).await;
    let admin = TestTenant::admin(&e);
    let users = admin.json("/api/v1/users?limit=100").await;
    let user = users["data"]
        .as_array()
        .and_then(|u| {
            u.iter().find(|u| {
                u["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("auth0|corp"))
            })
        })
        .cloned()
        .expect("a user");
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    let r = oauth_token(&e, json!({"client_id": id, "client_secret": secret, "grant_type": "urn:qlik:oauth:user-impersonation", "user_lookup": {"field": "subject", "value": user["subject"]}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let as_user = TestTenant::from_token_response(&e, r).await;
    // /users/me redirects to the user the token acts as.
    let me = as_user.json("/api/v1/users/me").await;
    assert_eq!(me["id"], user["id"]);
    // The plain bot may not impersonate.
    let (pid, psecret) = e.tenant().credentials().plain_bot.expect("plain bot");
    let r = oauth_token(&e, json!({"client_id": pid, "client_secret": psecret, "grant_type": "urn:qlik:oauth:user-impersonation", "user_lookup": {"field": "subject", "value": user["subject"]}})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_do_not_see_other_users_personal_apps_but_an_admin_apps_bot_does() {
    let e = start(demo()).await;
    let admin = TestTenant::admin(&e);
    let all_apps = e.tenant().ids("apps").len();
    let admin_items = admin.app_items().await;
    let bot = TestTenant::admin_bot(&e).await;
    let bot_items = bot.app_items().await;
    assert_eq!(bot_items.len(), all_apps, "admin.apps reaches every app");
    assert!(
        admin_items.len() < all_apps,
        "an admin API key does not see others' personal apps"
    );
    assert!(admin_items.iter().all(|i| i.get("spaceId").is_some()
        || i["ownerId"] == admin_items[0]["ownerId"]
        || i["ownerId"].as_str().is_some()));

    // A regular user sees even less, and cannot list other users' automations.
    let user = TestTenant::new(
        &e,
        &e.tenant().credentials().user_api_key.expect("user key"),
    );
    let user_items = user.app_items().await;
    assert!(user_items.len() < admin_items.len());

    // Export: the admin key is refused another user's personal app; the bot is not.
    let personal = bot_items
        .iter()
        .find(|i| i.get("spaceId").is_none() && !admin_items.iter().any(|a| a["id"] == i["id"]))
        .expect("someone's personal app");
    let app_id = personal["resourceId"].as_str().expect("resourceId");
    let r = admin.start_export(app_id).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let loc = bot.export(app_id).await;
    assert!(!bot.download(&loc).await.is_empty());
    let _ = e.stop().await;
}

#[tokio::test]
async fn exports_run_then_serve_ranges_then_expire() {
    let config = EmulatorConfig {
        export_latency: Duration::from_millis(300),
        export_ttl: Duration::from_secs(600),
        ..demo()
    };
    let e = start(config).await;
    let c = TestTenant::admin(&e);
    let app = c.exportable_app().await;
    let app_id = app["resourceId"].as_str().expect("id");
    let loc = c.export(app_id).await;
    assert_eq!(
        c.get(&loc).await.status,
        StatusCode::NO_CONTENT,
        "204 while the export runs"
    );
    let whole = c.download(&loc).await;

    // Range requests answer 206 with exactly those bytes.
    let r = c
        .request(Method::GET, &loc)
        .header("Range", "bytes=100-1099")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"].to_str().expect("cr"),
        format!("bytes 100-1099/{}", whole.len())
    );
    assert_eq!(
        r.bytes().await.expect("bytes").to_vec(),
        whole[100..1100].to_vec()
    );
    let r = c
        .request(Method::GET, &loc)
        .header("Range", format!("bytes={}-", whole.len() + 5))
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Unchanged app: identical bytes. Changed app: different bytes, newer resourceUpdatedAt.
    let again = c.download(&c.export(app_id).await).await;
    assert_eq!(again, whole, "exports of an unchanged app are identical");
    e.tenant().touch("apps", app_id).expect("touch");
    let changed = c.download(&c.export(app_id).await).await;
    assert_ne!(changed, whole);
    let item = c
        .json(&format!(
            "/api/v1/items?resourceType=app&resourceId={app_id}"
        ))
        .await;
    assert_ne!(
        item["data"][0]["resourceUpdatedAt"],
        app["resourceUpdatedAt"]
    );

    // Incompressible like a real QVF: byte values spread evenly past the header.
    let body = &whole[whole.len().min(4096)..];
    if body.len() > 64 * 1024 {
        let mut counts = [0usize; 256];
        for b in body {
            counts[*b as usize] += 1;
        }
        let expected = body.len() as f64 / 256.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 400.0, "export body looks compressible (chi² {chi2})");
    }

    // After its TTL the file is gone.
    e.tenant().clock.advance(Duration::from_secs(601));
    let r = c.get(&loc).await;
    assert_eq!(r.status, StatusCode::GONE);
    let body = r.json().expect("error");
    assert_eq!(body["errors"][0]["code"], "HTTP-410");
}

#[tokio::test]
async fn import_makes_a_new_app_whose_export_matches() {
    let e = start(demo()).await;
    let c = TestTenant::admin(&e);
    let app = c.exportable_app().await;
    let app_id = app["resourceId"].as_str().expect("id");
    let space = app["spaceId"].as_str().expect("space");
    let original = c.download(&c.export(app_id).await).await;
    let r = c
        .request(
            Method::POST,
            &format!("/api/v1/apps/import?spaceId={space}"),
        )
        .header("content-type", "application/octet-stream")
        .body(original.clone())
        .send()
        .await
        .expect("import");
    let status = r.status();
    let created: Value = r.json().await.expect("json");
    if status == StatusCode::FORBIDDEN {
        // A managed space: import is refused there, as in Qlik Cloud; import elsewhere instead.
        let r = c
            .request(Method::POST, "/api/v1/apps/import")
            .body(original.clone())
            .send()
            .await
            .expect("import");
        assert_eq!(r.status(), StatusCode::OK);
        let created: Value = r.json().await.expect("json");
        check_import(&c, app_id, &created, &original).await;
        return;
    }
    assert_eq!(status, StatusCode::OK, "{created}");
    check_import(&c, app_id, &created, &original).await;

    // A file that is not an app is refused with a clear error; mode=AUTOREPLACE is not for external use.
    let r = c
        .request(Method::POST, "/api/v1/apps/import")
        .body(b"PK\x03\x04 not an app".to_vec())
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .request(Method::POST, "/api/v1/apps/import?mode=AUTOREPLACE")
        .body(original[..100].to_vec())
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn check_import(c: &TestTenant, old_id: &str, created: &Value, original: &[u8]) {
    let new_id = created["attributes"]["id"].as_str().expect("new id");
    assert_ne!(new_id, old_id, "import always creates a new app ID");
    let round = c.download(&c.export(new_id).await).await;
    assert_eq!(round, original, "the imported app exports the same content");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_tier() {
    let config = EmulatorConfig {
        rate_limits: true,
        rate_window_minutes: 1,
        time_scale: 60.0,
        ..demo()
    };
    let e = start(config).await;
    let c = TestTenant::admin(&e);
    let app_id = c.exportable_app().await["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    // Tier 2 (export) allows 100 per minute; the 101st within the window gets 429.
    let mut throttled = None;
    for i in 0..130 {
        let r = c.start_export(&app_id).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some((i, r));
            break;
        }
    }
    let (i, r) = throttled.expect("tier 2 throttles");
    assert!((95..=105).contains(&i), "throttled after {i} exports");
    let retry: u64 = r
        .header("retry-after")
        .expect("header")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    let body = r.json().expect("body");
    assert_eq!(body["errors"][0]["title"], "API rate limit reached.");
    // Tier 1 is a separate budget.
    assert_eq!(c.get("/api/v1/spaces").await.status, StatusCode::OK);
    // At time scale 60, a second of real time refills a minute: exports work again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(c.start_export(&app_id).await.status, StatusCode::CREATED);
    assert!(e.tenant().counters().throttled >= 1);
}

#[tokio::test]
async fn faults_can_be_switched_on_over_http() {
    let e = start(demo()).await;
    let c = TestTenant::admin(&e);
    let put = |f: Faults| {
        let url = format!("{}/_qcb/faults", e.url());
        async move {
            reqwest::Client::new()
                .put(url)
                .json(&f)
                .send()
                .await
                .expect("faults")
                .status()
        }
    };
    assert_eq!(
        put(Faults {
            error_rate: 1.0,
            ..Faults::default()
        })
        .await,
        StatusCode::NO_CONTENT
    );
    assert!((500..600).contains(&c.get("/api/v1/spaces").await.status));
    put(Faults {
        throttle_storm_secs: 30,
        ..Faults::default()
    })
    .await;
    let r = c.get("/api/v1/spaces").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
    e.tenant().clock.advance(Duration::from_secs(31));
    put(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    })
    .await;
    assert_eq!(c.get("/api/v1/spaces").await.status, StatusCode::OK);
    let app_id = c.exportable_app().await["resourceId"]
        .as_str()
        .expect("id")
        .to_string();
    let loc = c.export(&app_id).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The connection drops part-way: before the headers are flushed, or mid-body.
    match c.request(Method::GET, &loc).send().await {
        Err(_) => {}
        Ok(r) => {
            assert_eq!(r.status(), StatusCode::OK);
            let declared: usize = r.headers()["content-length"]
                .to_str()
                .expect("len")
                .parse()
                .expect("n");
            let got = r.bytes().await;
            assert!(
                got.is_err() || got.as_ref().map(|b| b.len()).unwrap_or(0) < declared,
                "the connection dropped mid-body"
            );
        }
    }
    assert!(e.tenant().counters().dropped_connections >= 1);
    put(Faults {
        exports_fail: true,
        ..Faults::default()
    })
    .await;
    assert_eq!(
        c.call(Method::POST, &format!("/api/v1/apps/{app_id}/export"), None)
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let counters: Value = reqwest::get(format!("{}/_qcb/counters", e.url()))
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert!(
        counters["per_operation"]["GET /api/v1/spaces"]
            .as_u64()
            .unwrap_or(0)
            >= 3
    );
    assert!(counters["injected_errors"].as_u64().unwrap_or(0) >= 1);
}

#[tokio::test]
async fn internal_links_keep_the_query_that_matters() {
    let e = start(EmulatorConfig {
        link_style: LinkStyle::Internal,
        ..demo()
    })
    .await;
    let c = TestTenant::admin(&e);
    let page = c.json("/api/v1/users?limit=5").await;
    let next = page["links"]["next"]["href"].as_str().expect("next");
    assert!(
        next.starts_with("http://localhost:8787/v1/users?"),
        "{next}"
    );
    let (_, q) = next.split_once('?').expect("query");
    let page2 = c.json(&format!("/api/v1/users?{q}")).await;
    assert_ne!(page2["data"][0]["id"], page["data"][0]["id"]);
}

#[tokio::test]
async fn state_file_keeps_the_tenant_across_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("tenant.json");
    let config = EmulatorConfig {
        state_file: Some(path.clone()),
        ..demo()
    };
    let e = start(config.clone()).await;
    let c = TestTenant::admin(&e);
    let r = c
        .post(
            "/api/v1/spaces",
            &json!({"name": "Kept across restarts", "type": "shared"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let key = e.admin_api_key().to_string();
    e.stop().await.expect("stop saves");
    assert!(path.exists());
    let e = start(config).await;
    assert_eq!(e.admin_api_key(), key);
    let spaces = TestTenant::new(&e, &key)
        .json("/api/v1/spaces?limit=100&name=Kept%20across%20restarts")
        .await;
    assert_eq!(spaces["data"].as_array().map(Vec::len), Some(1));
    std::fs::write(&path, b"not json").expect("write");
    let err = Emulator::start(
        EmulatorConfig {
            state_file: Some(path),
            ..demo()
        },
        "127.0.0.1:0",
    )
    .await
    .err()
    .expect("a broken state file is refused");
    assert!(
        err.to_string().contains("not an emulator state file"),
        "{err}"
    );
}

#[tokio::test]
async fn the_empty_profile_holds_only_what_qlik_creates() {
    let e = start(EmulatorConfig {
        profile: Profile::Empty,
        ..demo()
    })
    .await;
    let c = TestTenant::admin(&e);
    assert_eq!(c.app_items().await.len(), 0);
    assert_eq!(
        c.json("/api/v1/spaces").await["data"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let roles = c.json("/api/v1/roles?limit=100").await;
    assert!(roles["data"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["name"] == "TenantAdmin")));
    let groups = c.json("/api/v1/groups?limit=100").await;
    assert!(groups["data"]
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g["name"] == "com.qlik.Everyone")));
    assert!(c.json("/api/v1/tenant-settings").await.is_object());
}

/// The e-mail configuration is one setting with two views: the top-level SMTP fields (what its
/// PATCH names) and a basic-auth `providerConfig` (what its PUT takes). A write through either
/// shows through both; the password is never returned, only that one exists.
#[tokio::test]
async fn the_email_config_shows_a_write_through_either_view() {
    let e = start(demo()).await;
    let admin = TestTenant::admin(&e);
    let path = "/api/v1/transports/email-config";
    let put = json!({
        "serviceProvider": "BasicAuth",
        "providerConfig": {
            "serverAddress": "smtp.restored.example",
            "serverPort": 2525,
            "securityType": "StartTLS",
            "username": "mailer",
            "emailAddress": "bi@restored.example",
            "emailPassword": "QCBSECRET-smtp"
        }
    });
    let r = admin.call(Method::PUT, path, Some(&put)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let got = admin.json(path).await;
    assert_eq!(got["serverAddress"], "smtp.restored.example");
    assert_eq!(got["serverPort"], 2525);
    assert_eq!(got["emailAddress"], "bi@restored.example");
    assert_eq!(got["passwordExists"], true);
    assert!(!got.to_string().contains("QCBSECRET"), "{got}");

    let patch = json!([
        {"op": "replace", "path": "/serverPort", "value": "587"},
        {"op": "replace", "path": "/emailPassword", "value": "QCBSECRET-new"}
    ]);
    let r = admin.call(Method::PATCH, path, Some(&patch)).await;
    assert!(
        (200..300).contains(&r.status),
        "{:?} {:?}",
        r.status,
        r.body
    );
    let got = admin.json(path).await;
    assert_eq!(got["providerConfig"]["serverPort"], got["serverPort"]);
    assert_eq!(
        got["providerConfig"]["serverAddress"],
        "smtp.restored.example"
    );
    assert!(!got.to_string().contains("QCBSECRET"), "{got}");
}

/// Writes to spaces, assignments and shares reach the audit log as the spaces service's
/// events: listed newest first, found by type and time interval, their types in
/// `/audits/types`.
#[tokio::test]
async fn space_writes_reach_the_audit_log() {
    let e = start(demo()).await;
    let t = TestTenant::admin(&e);
    let types = t.json("/api/v1/audits/types").await;
    let types: Vec<&str> = types["data"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(types.contains(&"com.qlik.core.space.assignment.created"));
    let sources = t.json("/api/v1/audits/sources").await;
    assert!(sources["data"]
        .as_array()
        .expect("sources")
        .iter()
        .any(|s| s == "com.qlik/spaces"));

    let space = t
        .post(
            "/api/v1/spaces",
            &json!({"name": "Audited", "type": "shared"}),
        )
        .await;
    assert_eq!(space.status, 201, "{}", space.body);
    let space_id = space.body["id"].as_str().expect("id").to_string();
    let users = t.json("/api/v1/users?limit=5").await;
    let user = users["data"][1]["id"].as_str().expect("user").to_string();
    let assigned = t
        .post(
            &format!("/api/v1/spaces/{space_id}/assignments"),
            &json!({"type": "user", "assigneeId": user, "roles": ["consumer"]}),
        )
        .await;
    assert_eq!(assigned.status, 201, "{}", assigned.body);
    let assignment = assigned.body["id"].as_str().expect("id").to_string();
    let gone = t
        .call(
            Method::DELETE,
            &format!("/api/v1/spaces/{space_id}/assignments/{assignment}"),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);

    let now = chrono::Utc::now();
    let window = format!(
        "{}/{}",
        (now - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        (now + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    let recent = t
        .json(&format!("/api/v1/audits?eventTime={window}&limit=100"))
        .await;
    // The seeded events (none of the `core` types) may fall in the last hour too.
    let recent: Vec<&Value> = recent["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|v| {
            v["eventType"]
                .as_str()
                .is_some_and(|t| t.starts_with("com.qlik.core.space"))
        })
        .collect();
    let kinds: Vec<&str> = recent
        .iter()
        .filter_map(|v| v["eventType"].as_str())
        .collect();
    // Newest first.
    assert_eq!(
        kinds,
        [
            "com.qlik.core.space.assignment.deleted",
            "com.qlik.core.space.assignment.created",
            "com.qlik.core.space.created",
        ]
    );
    for event in &recent {
        assert_eq!(event["extensions"]["spaceId"], space_id.as_str());
        assert_eq!(event["source"], "com.qlik/spaces");
    }
    assert_eq!(recent[1]["data"]["assigneeId"], user.as_str());
    let by_type = t
        .json("/api/v1/audits?eventType=com.qlik.core.space.assignment.created&limit=100")
        .await;
    assert_eq!(by_type["data"].as_array().expect("events").len(), 1);
    let before = t
        .json("/api/v1/audits?eventTime=2000-01-01T00:00:00.000Z/2000-01-02T00:00:00.000Z")
        .await;
    assert_eq!(before["data"].as_array().expect("events").len(), 0);
}

/// Tenant settings may be absent (the spec's PATCH answers 404 then) and created by POST,
/// which takes the start page by name and shows it with its route.
#[tokio::test]
async fn tenant_settings_can_be_deleted_and_created_again() {
    let e = start(demo()).await;
    let t = TestTenant::admin(&e);
    let path = "/api/v1/tenant-settings";
    assert_eq!(t.call(Method::DELETE, path, None).await.status, 204);
    assert_eq!(t.get(path).await.status, 404);
    let patch = json!([{"op": "add", "path": "/preferredStartPage", "value": "analytics-hub"}]);
    assert_eq!(t.call(Method::PATCH, path, Some(&patch)).await.status, 404);
    assert_eq!(t.call(Method::DELETE, path, None).await.status, 404);
    let created = t
        .post(path, &json!({"preferredStartPage": "management-console"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        t.json(path).await["preferredStartPage"],
        json!({"route": "/console", "value": "management-console"})
    );
    let again = t
        .post(path, &json!({"preferredStartPage": "analytics-hub"}))
        .await;
    assert_eq!(again.status, 400);
}
