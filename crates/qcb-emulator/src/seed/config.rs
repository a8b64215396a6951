//! Tenant configuration. Every profile holds the settings documents Qlik creates with a tenant
//! (one per entry of `crate::singletons::SINGLETONS`, in the `settings` collection); `demo` and
//! `large` add what admins configure: CSP origins, IP policies, pinned links, web
//! integrations, OAuth clients and webhooks.

use rand::Rng;
use serde_json::{json, Value};

use super::identity::{BOT_CLIENT_ID, PLAIN_CLIENT_ID};
use super::Seeder;
use crate::clock::rfc3339;
use crate::config::Profile;
use crate::error::{ApiError, ApiResult};
use crate::kinds::BuildCtx;
use crate::state::IdStyle;

pub fn seed(s: &mut Seeder<'_>) {
    settings(s);
    oauth_clients(s);
    if s.profile == Profile::Empty {
        return;
    }
    csp_origins(s);
    ip_policies(s);
    pinned_links(s);
    web_integrations(s);
    webhooks(s);
}

// ---------------------------------------------------------------- settings documents

fn settings(s: &mut Seeder<'_>) {
    let tenant_id = s.state.tenant_id.clone();
    let admin = s.admin_id.clone();
    let base = s.url.trim_end_matches('/').to_string();
    let configured = s.profile != Profile::Empty;
    let born = s.base_time - chrono::Duration::days(900);
    let touched = if configured { s.past(120) } else { born };
    let (born_s, touched_s) = (rfc3339(born), rfc3339(touched));

    let tenant_settings = json!({
        "id": s.id(IdStyle::Hex24), "tenantId": tenant_id, "createdBy": admin, "createdAt": born_s,
        "updatedBy": admin, "updatedAt": touched_s, "releaseCadence": "continuous",
        "customizeNoAccess": if configured {
            json!({"linkEnabled": true, "message": "Ask the BI team for access.", "linkLabel": "Request access", "linkUrl": "https://intranet.corp.example/bi-access"})
        } else {
            json!({"linkEnabled": false})
        },
        "preferredStartPage": {"route": "/insights", "value": "analytics-hub"},
        "crossRegionDataProcessing": false,
    });
    let auth_settings = json!({
        "id": s.id(IdStyle::Hex24), "tenantId": tenant_id, "isDefault": !configured,
        "userSessionInactivityTimeoutMinutes": if configured { 60 } else { 120 },
        "maxUserSessionLifespanMinutes": 1440,
        "dynamicClientRegistrationEnabled": false, "dcrAllowedAuthenticationMethods": ["client_secret"],
    });
    let license_overview = license_overview(s);
    let license_status = json!({
        "type": "Signed", "trial": false, "valid": "2024-05-01/2027-04-30", "origin": "External", "status": "Ok",
        "product": "Qlik Cloud Analytics Premium", "deactivated": false, "extensionStatus": "Unavailable",
    });
    let license_settings = json!({"autoAssignAnalyzer": true, "autoAssignProfessional": false});
    let group_settings = json!({
        "tenantId": tenant_id, "autoCreateGroups": true, "syncIdpGroups": true,
        "links": {"self": {"href": format!("{base}/api/v1/groups/settings")}},
        "systemGroups": {"000000000000000000000001": {
            "id": "000000000000000000000001", "name": "com.qlik.Everyone", "enabled": true,
            "createdAt": born_s, "lastUpdatedAt": born_s, "assignedRoles": [],
        }},
    });
    // The GET answers one banner document; a new tenant's is disabled and empty.
    let banner_start = s.base_time + chrono::Duration::days(3);
    let mut banners = json!({
        "id": s.id(IdStyle::Hex24), "tenantId": tenant_id, "enabled": configured, "type": if configured { "warning" } else { "info" },
        "message": if configured { "Planned maintenance of the data warehouse on Saturday 06:00–08:00 UTC." } else { "" },
        "startTime": rfc3339(banner_start), "endTime": rfc3339(banner_start + chrono::Duration::hours(2)),
        "linkEnabled": configured, "linkLabel": if configured { "Details" } else { "" },
        "createdBy": admin, "createdAt": touched_s, "updatedBy": admin, "updatedAt": touched_s,
    });
    // `linkUrl` is a URI: an empty string would not be one, so a new tenant has none.
    if configured {
        banners["linkUrl"] = json!("https://status.corp.example/maintenance");
    }
    // The password never comes back: `passwordExists` says one is stored.
    let email_config = if configured {
        json!({
            "tenantId": tenant_id, "serviceProvider": "BasicAuth", "serverAddress": "smtp.corp.example", "serverPort": 587,
            "securityType": "StartTLS", "username": "qlik-notifications", "emailAddress": "qlik-noreply@corp.example",
            "providerConfig": {
                "serverAddress": "smtp.corp.example", "serverPort": 587, "securityType": "StartTLS",
                "username": "qlik-notifications", "emailAddress": "qlik-noreply@corp.example", "senderName": "Qlik Cloud",
            },
            "passwordExists": true, "isValid": true, "authFailures": 0, "errorCode": "",
            "status": {"statusCode": 250, "statusReason": "OK"},
            "lastUpdated": touched_s, "modificationTime": touched_s,
        })
    } else {
        json!({
            "tenantId": tenant_id, "serverAddress": "", "username": "", "emailAddress": "", "securityType": "none",
            "passwordExists": false, "isValid": false, "authFailures": 0, "errorCode": "",
            "lastUpdated": born_s, "modificationTime": born_s,
        })
    };
    let data_alerts = s.state.collection("data-alerts").map_or(0, |c| c.len());
    let sharing_settings = json!({
        "tenantId": tenant_id, "maxRecipients": 100, "enable-sharing": true, "maxSubscriptionRecipients": 100,
        "enable-report-subscription": true, "reportSubscriptionStatus": "none",
        "reporting-service-license-status": "enabled", "reportSubscriptionStatusChangeTime": born_s,
    });
    let data_alerts_settings = json!({
        "tenantId": tenant_id, "enable-data-alerting": true, "data-alerting-license-status": "enabled",
        "dataAlertsLimits": 10_000, "dataAlertsConsumed": data_alerts, "max-recipients-in-target-access": 100,
        "data-alerting-feature-operation-status": "none", "data-alerting-feature-operation-status-change": born_s,
    });
    let api_keys_config = json!({
        "max_keys_per_user": 5, "max_api_key_expiry": if configured { "P365D" } else { "PT24H" },
        "scim_externalClient_expiry": "P365D",
    });

    let docs: [(&str, Value); 17] = [
        ("tenant-settings", tenant_settings),
        ("auth-settings", auth_settings),
        ("license-overview", license_overview),
        ("license-status", license_status),
        ("license-settings", license_settings),
        ("group-settings", group_settings),
        ("banners", banners),
        ("email-config", email_config),
        (
            "odag-settings",
            json!({"odagEnabled": true, "dynamicViewEnabled": true}),
        ),
        ("items-settings", json!({"usageMetricsEnabled": true})),
        ("sharing-tasks-settings", sharing_settings),
        ("data-alerts-settings", data_alerts_settings),
        (
            "conditions-settings",
            json!({"tenantId": tenant_id, "enable-conditions": true}),
        ),
        (
            "automations-settings",
            json!({"maxConcurrentRunsPerAutomation": 10}),
        ),
        (
            "audits-settings",
            json!({"data": {"EventTTL": 90, "ArchiveEnabled": true}}),
        ),
        ("api-keys-config", api_keys_config),
        ("encryption-keyproviders", key_providers(s)),
    ];
    for (name, doc) in docs {
        s.state.insert("settings", name, doc);
    }
}

/// The licence with its allotments counted from the assignments; the key is a secret.
fn license_overview(s: &mut Seeder<'_>) -> Value {
    let (mut professional, mut analyzer) = (0, 0);
    for a in s.state.values("license-assignments") {
        match a["type"].as_str() {
            Some("professional") => professional += 1,
            Some("analyzer") => analyzer += 1,
            _ => {}
        }
    }
    let key = s.secret("license-key");
    let updated = rfc3339(s.base_time - chrono::Duration::days(180));
    json!({
        "licenseKey": key, "licenseNumber": "9999000000004711", "secondaryNumber": "0", "origin": "External",
        "product": "Qlik Cloud Analytics Premium", "licenseType": "Signed", "status": "Ok", "trial": false,
        "valid": "2024-05-01/2027-04-30", "updated": updated, "changeTime": updated, "customerId": "CUST-004711",
        "allotments": [
            {"name": "professional", "units": professional.max(50), "unitsUsed": professional, "usageClass": "assigned", "overage": 0},
            {"name": "analyzer", "units": analyzer.max(500), "unitsUsed": analyzer, "usageClass": "assigned", "overage": 0},
            {"name": "analyzer_time", "units": 100, "unitsUsed": 0, "usageClass": "time", "overage": -1},
        ],
        "parameters": [
            {"name": "qlikAlerting", "valid": "./.", "values": {"saas_alerting": "FULL"}},
            {"name": "reporting", "valid": "2024-05-01/.", "values": {"tabularReporting": true}},
        ],
    })
}

/// Customer-managed keys. The spec's schema wraps the list in an object under `errors` (its
/// example is a bare array); the schema decides. A new tenant uses Qlik's own key: none listed.
fn key_providers(s: &mut Seeder<'_>) -> Value {
    if s.profile == Profile::Empty {
        return json!({"errors": []});
    }
    let created = s.past(300);
    json!({"errors": [{
        "name": "corp-byok", "description": "Customer-managed key for the EU tenant", "keyprovider": "AWS-KMS",
        "arn": "arn:aws:kms:eu-west-1:111122223333:key/mrk-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "arnFingerPrint": "6f1c2a9e0d4b7c35", "current": true, "multiRegion": true, "tenantId": s.state.tenant_id,
        "replicaKeys": [{"arn": "arn:aws:kms:eu-central-1:111122223333:key/mrk-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "region": "eu-central-1"}],
        "createdAt": rfc3339(created), "promotedToCurrentAt": rfc3339(created),
    }]})
}

// ---------------------------------------------------------------- tenant configuration

fn csp_origins(s: &mut Seeder<'_>) {
    const ORIGINS: &[(&str, &str)] = &[
        ("Intranet portal", "intranet.corp.example"),
        ("Customer portal", "portal.corp.example"),
        ("Map tiles", "tiles.maps.example"),
        ("Web fonts", "fonts.cdn.example"),
        ("Analytics CDN", "cdn.corp.example"),
    ];
    let n = s.scale.other.max(ORIGINS.len());
    for i in 0..n {
        let (name, host) = ORIGINS[i % ORIGINS.len()];
        let (name, host) = if i < ORIGINS.len() {
            (name.to_string(), host.to_string())
        } else {
            (format!("{name} {}", i + 1), format!("app{}.{host}", i + 1))
        };
        let created = s.past(600);
        let frame = i % ORIGINS.len() < 2;
        let doc = json!({
            "id": s.id(IdStyle::Hex24), "name": name, "origin": format!("https://{host}"),
            "childSrc": false, "connectSrc": !frame, "connectSrcWSS": false, "fontSrc": host.starts_with("fonts"),
            "formAction": false, "frameAncestors": frame, "frameSrc": frame, "imgSrc": true, "mediaSrc": false,
            "objectSrc": false, "scriptSrc": i % ORIGINS.len() == 4, "styleSrc": host.starts_with("fonts"), "workerSrc": false,
            "createdDate": rfc3339(created), "modifiedDate": rfc3339(created),
        });
        s.insert("csp-origins", doc);
    }
}

fn ip_policies(s: &mut Seeder<'_>) {
    let tenant_id = s.state.tenant_id.clone();
    let admin = s.admin_id.clone();
    let policies: [(&str, bool, Vec<&str>); 2] = [
        (
            "Corporate network",
            true,
            vec!["10.0.0.0/8", "192.168.0.0/16", "203.0.113.0/24"],
        ),
        ("Partner VPN", false, vec!["198.51.100.16/28"]),
    ];
    for (name, enabled, ips) in policies {
        let created = s.past(400);
        let doc = json!({
            "id": s.id(IdStyle::Hex24), "tenantId": tenant_id, "name": name, "enabled": enabled,
            "editable": true, "deletable": true, "toggleable": true, "allowedIps": ips,
            "createdBy": admin, "createdAt": rfc3339(created), "updatedBy": admin, "updatedAt": rfc3339(created),
        });
        s.insert("ip-policies", doc);
    }
}

fn pinned_links(s: &mut Seeder<'_>) {
    const LINKS: &[(&str, &str)] = &[
        ("BI service desk", "https://servicedesk.corp.example/bi"),
        ("Data catalogue", "https://catalog.corp.example"),
        (
            "Analytics guidelines",
            "https://intranet.corp.example/analytics-guidelines",
        ),
    ];
    let tenant_id = s.state.tenant_id.clone();
    let admin = s.admin_id.clone();
    for (name, link) in LINKS {
        let created = s.past(300);
        let doc = json!({
            "id": s.id(IdStyle::Hex24), "tenantId": tenant_id, "name": name, "link": link,
            "type": "custom-link", "scope": "tenant",
            "createdBy": admin, "createdAt": rfc3339(created), "updatedBy": admin, "updatedAt": rfc3339(created),
        });
        s.insert("pinned-links", doc);
    }
}

fn web_integrations(s: &mut Seeder<'_>) {
    const INTEGRATIONS: &[(&str, &[&str])] = &[
        (
            "Customer portal",
            &[
                "https://portal.corp.example",
                "https://portal-staging.corp.example",
            ],
        ),
        ("Intranet mashups", &["https://intranet.corp.example"]),
        ("Local development", &["http://localhost:3000"]),
    ];
    let tenant_id = s.state.tenant_id.clone();
    for (name, origins) in INTEGRATIONS {
        let created = s.past(500);
        let creator = s.admin_id.clone();
        let doc = json!({
            "id": s.id(IdStyle::Hex24), "tenantId": tenant_id, "name": name, "validOrigins": origins,
            "createdBy": creator, "created": rfc3339(created), "lastUpdated": rfc3339(created),
        });
        s.insert("web-integrations", doc);
    }
}

/// The hint Qlik shows for a client secret: its last four characters.
fn secret_hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

fn oauth_client_doc(
    s: &Seeder<'_>,
    client_id: &str,
    name: &str,
    app_type: &str,
    created: chrono::DateTime<chrono::Utc>,
) -> Value {
    json!({
        "clientId": client_id, "clientName": name, "description": "", "appType": app_type,
        "ownerId": s.admin_id, "createdBy": s.admin_id, "tenantId": s.state.tenant_id, "createdByType": "user",
        "createdAt": rfc3339(created), "updatedAt": rfc3339(created),
        "redirectUris": [], "allowedOrigins": [], "allowedAuthMethods": ["client_secret"], "publicKeys": [],
    })
}

/// The M2M bots every generated tenant has (they answer `/oauth/token`), and in `demo` and
/// `large` the clients admins register for web apps, SPAs and integrations.
fn oauth_clients(s: &mut Seeder<'_>) {
    let created = s.base_time - chrono::Duration::days(900);
    for (client_id, name) in [
        (BOT_CLIENT_ID, "qcb admin bot"),
        (PLAIN_CLIENT_ID, "qcb plain bot"),
    ] {
        let Some(client) = s.state.m2m_clients.get(client_id).cloned() else {
            continue;
        };
        let mut doc = oauth_client_doc(s, client_id, name, "web", created);
        let mut grants = vec!["client_credentials"];
        if client.impersonation {
            grants.push("urn:qlik:oauth:user-impersonation");
        }
        doc["allowedGrantTypes"] = json!(grants);
        doc["allowedScopes"] = json!(client.scopes);
        doc["clientSecrets"] = json!([{"hint": secret_hint(&client.client_secret), "createdAt": rfc3339(created), "createdBy": s.admin_id}]);
        s.state.insert("oauth-clients", client_id, doc);
    }
    if s.profile == Profile::Empty {
        return;
    }
    let apps: [(&str, &str, &[&str]); 3] = [
        (
            "Customer portal login",
            "web",
            &["https://portal.corp.example/callback"],
        ),
        (
            "Mobile dashboards",
            "native",
            &["com.corp.dashboards://oauth"],
        ),
        (
            "Embedded analytics SPA",
            "spa",
            &["https://intranet.corp.example/analytics/callback"],
        ),
    ];
    for (name, app_type, redirects) in apps {
        let client_id = hex::encode(s.rng.random::<[u8; 16]>());
        let created = s.past(400);
        let mut doc = oauth_client_doc(s, &client_id, name, app_type, created);
        doc["redirectUris"] = json!(redirects);
        doc["allowedScopes"] = json!(["user_default", "offline_access"]);
        doc["allowedGrantTypes"] = json!([]);
        if app_type == "spa" {
            doc["allowedOrigins"] = json!(["https://intranet.corp.example"]);
            // A public client: no secret to authenticate with.
            doc["allowedAuthMethods"] = json!([]);
            doc["connectionConfig"] = json!({"consentMethod": "trusted"});
        } else {
            // The secret itself is shown once, at creation; the tenant keeps a hint.
            let secret = s.secret("oauth-client-secret");
            doc["clientSecrets"] = json!([{"hint": secret_hint(&secret), "createdAt": rfc3339(created), "createdBy": s.admin_id}]);
        }
        s.state.insert("oauth-clients", &client_id, doc);
    }
}

/// An OAuth client created through the API: a new client ID, a secret answered once
/// (`clientSecret`, taken out of the stored document by the create route), and its hint.
pub fn build_oauth_client(ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    if v.get("clientName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request("clientName is required"));
    }
    let app_type = v.get("appType").and_then(Value::as_str).unwrap_or_default();
    if !matches!(app_type, "web" | "native" | "spa" | "anonymous-embed") {
        return Err(ApiError::bad_request(format!(
            "appType must be web, native, spa or anonymous-embed, got '{app_type}'"
        )));
    }
    if ctx.is_update() {
        if let Value::Object(obj) = &mut v {
            obj.remove("clientSecret");
            ctx.keep_previous(obj, &["clientSecrets", "createdByType"]);
        }
        return Ok(v);
    }
    let secret = format!(
        "{}-oauth-client-secret-{}",
        super::SECRET_MARKER,
        ctx.state.new_id(IdStyle::Hex24)
    );
    let now = rfc3339(ctx.now);
    for (field, default) in [
        ("redirectUris", json!([])),
        ("allowedOrigins", json!([])),
        ("allowedScopes", json!([])),
        ("allowedGrantTypes", json!([])),
        ("allowedAuthMethods", json!(["client_secret"])),
        ("publicKeys", json!([])),
        ("description", json!("")),
    ] {
        if v.get(field).is_none() {
            v[field] = default;
        }
    }
    v["createdByType"] = json!("user");
    v["clientSecrets"] = json!([{"hint": secret_hint(&secret), "createdAt": now, "createdBy": ctx.principal.user_id}]);
    v["clientSecret"] = json!(secret);
    Ok(v)
}

// ---------------------------------------------------------------- webhooks

fn webhooks(s: &mut Seeder<'_>) {
    const HOOKS: &[(&str, &str, &[&str])] = &[
        (
            "Reload monitor",
            "https://hooks.corp.example/qlik/reloads",
            &["com.qlik.v1.app.reload.finished"],
        ),
        (
            "App lifecycle to ServiceNow",
            "https://corp.service-now.example/api/qlik/events",
            &[
                "com.qlik.v1.app.created",
                "com.qlik.v1.app.deleted",
                "com.qlik.v1.app.published",
            ],
        ),
        (
            "Teams notifications",
            "https://corp.webhook.office.example/webhookb2/qlik",
            &[
                "com.qlik.v1.app.reload.finished",
                "com.qlik.v1.app.data.updated",
            ],
        ),
        (
            "User provisioning audit",
            "https://siem.corp.example/ingest/qlik",
            &["com.qlik.v1.user.created", "com.qlik.v1.user.deleted"],
        ),
        (
            "Automation trigger",
            "https://automations.corp.example/hooks/qlik",
            &["com.qlik.v1.app.exported"],
        ),
    ];
    let admin = s.admin_id.clone();
    for i in 0..s.scale.webhooks {
        let (base, url, events) = HOOKS[i % HOOKS.len()];
        let name = if i < HOOKS.len() {
            base.to_string()
        } else {
            format!("{base} {}", i / HOOKS.len() + 1)
        };
        let id = s.id(IdStyle::Uuid);
        let created = s.past(500);
        let updated = created + chrono::Duration::days(s.rng.random_range(0..60));
        // Every fourth webhook is a user-level one owned by someone else.
        let (level, owner) = if i % 4 == 3 {
            ("user", s.user())
        } else {
            ("tenant", admin.clone())
        };
        let secret = s.secret("webhook-secret");
        let auth = s.secret("webhook-auth-header");
        let mut doc = json!({
            "id": id, "name": name, "description": format!("{name} (managed by the BI team)"), "url": url,
            "eventTypes": events, "level": level, "ownerId": owner, "enabled": i % 5 != 4,
            "secret": secret, "secretKeyAdded": true,
            // Plain headers come back as sent; encrypted ones by name only.
            "headers": {"Authorization": format!("Bearer {auth}"), "X-Source": "qlik-cloud"},
            "encryptedHeaders": ["X-Api-Key"],
            "checkCertificateRevocation": false, "enableCloudEventDelivery": true, "origin": "api",
            "createdByUserId": owner, "updatedByUserId": owner, "createdAt": rfc3339(created), "updatedAt": rfc3339(updated),
        });
        if events.contains(&"com.qlik.v1.app.reload.finished") && i % 2 == 0 {
            doc["filter"] = json!("data.status eq \"error\"");
        }
        if i % 5 == 4 {
            doc["disabledReason"] = json!("Disabled after repeated delivery failures");
            doc["disabledReasonCode"] = json!("deliveries-failing");
        }
        s.insert("webhooks", doc);
    }
}

/// A webhook created through the API: encrypted headers are kept by name only (their values
/// are write-only), and `secretKeyAdded` says whether a signing secret was given.
pub fn build_webhook(_ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    for field in ["name", "url"] {
        if v.get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(format!("{field} is required")));
        }
    }
    let level = v.get("level").and_then(Value::as_str).unwrap_or("tenant");
    if !matches!(level, "tenant" | "user") {
        return Err(ApiError::bad_request(format!(
            "level must be tenant or user, got '{level}'"
        )));
    }
    if let Some(secret) = v.get("secret").and_then(Value::as_str) {
        if !(32..=64).contains(&secret.len()) {
            return Err(ApiError::bad_request(
                "secret must be 32 to 64 characters long",
            ));
        }
    }
    let names: Vec<String> = match v.get("encryptedHeaders") {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    v["encryptedHeaders"] = json!(names);
    v["secretKeyAdded"] = json!(v.get("secret").is_some_and(|s| s.is_string()));
    for (field, default) in [
        ("eventTypes", json!([])),
        ("headers", json!({})),
        ("checkCertificateRevocation", json!(false)),
        ("enableCloudEventDelivery", json!(true)),
    ] {
        if v.get(field).is_none() {
            v[field] = default;
        }
    }
    Ok(v)
}
