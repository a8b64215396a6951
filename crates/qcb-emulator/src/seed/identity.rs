//! The tenant itself, users, groups, roles, identity providers, API keys and licence
//! assignments.

use serde_json::{json, Value};

use super::Seeder;
use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::kinds::BuildCtx;
use crate::state::{IdStyle, M2mClient};

/// Qlik's built-in roles (the ones every tenant has).
pub const DEFAULT_ROLES: &[(&str, &str)] = &[
    ("TenantAdmin", "admin"),
    ("AnalyticsAdmin", "admin"),
    ("DataAdmin", "admin"),
    ("AuditAdmin", "admin"),
    ("Developer", "user"),
    ("SharedSpaceCreator", "user"),
    ("ManagedSpaceCreator", "user"),
    ("DataSpaceCreator", "user"),
    ("PrivateAnalyticsContentCreator", "user"),
    ("DataServicesContributor", "user"),
    ("AutomationCreator", "user"),
];

/// The client ID of the M2M bot every generated tenant has (with `admin.apps`).
pub const BOT_CLIENT_ID: &str = "qcb-emulator-admin-bot";
/// A second M2M client without admin scopes.
pub const PLAIN_CLIENT_ID: &str = "qcb-emulator-plain-bot";

fn role_ref(s: &Seeder<'_>, name: &str) -> Value {
    let id = s
        .state
        .values("roles")
        .find(|r| r["name"] == name)
        .and_then(|r| r["id"].as_str())
        .unwrap_or_default()
        .to_string();
    json!({"id": id, "name": name, "type": "default", "level": if name.ends_with("Admin") { "admin" } else { "user" }})
}

fn user_doc(
    s: &mut Seeder<'_>,
    id: &str,
    name: &str,
    email: &str,
    subject: &str,
    roles: Vec<Value>,
    created: chrono::DateTime<chrono::Utc>,
) -> Value {
    let base = s.url.trim_end_matches('/').to_string();
    json!({
        "id": id, "tenantId": s.state.tenant_id, "subject": subject, "name": name, "email": email,
        "status": "active", "createdAt": rfc3339(created), "lastUpdatedAt": rfc3339(created),
        "assignedRoles": roles, "assignedGroups": [], "assignedScopes": [],
        "locale": "en", "preferredLocale": "en", "preferredZoneinfo": "Europe/Stockholm", "zoneinfo": "Europe/Stockholm",
        "links": {"self": {"href": format!("{base}/api/v1/users/{id}")}},
    })
}

/// What Qlik creates with a tenant. Returns the admin's API key.
pub fn seed_base(s: &mut Seeder<'_>, admin_key: Option<String>) -> String {
    let tenant_id = s.id(IdStyle::Token);
    s.state.tenant_id = tenant_id.clone();
    let created = s.base_time - chrono::Duration::days(900);
    let host = url::Url::parse(&s.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let tenant = json!({
        "id": tenant_id, "name": "qcb-emulated", "hostnames": [host, "qcb-emulated.eu.qlikcloud.com"],
        "createdByUser": "", "created": rfc3339(created), "lastUpdated": rfc3339(created), "status": "active",
        "autoAssignCreateSharedSpacesRoleToProfessionals": true,
        "autoAssignPrivateAnalyticsContentCreatorRoleToProfessionals": true,
        "autoAssignDataServicesContributorRoleToProfessionals": true,
        "enableAnalyticCreation": false, "enableAppOpeningFeedback": true,
        "datacenter": "eu-west-1", "region": "eu",
        "links": {"self": {"href": format!("{}/api/v1/tenants/{tenant_id}", s.url.trim_end_matches('/'))}},
    });
    s.state.insert("tenants", &tenant_id, tenant);

    for (name, level) in DEFAULT_ROLES {
        let id = s.id(IdStyle::Hex24);
        let role = json!({
            "id": id, "tenantId": tenant_id, "name": name, "description": format!("Built-in role {name}"),
            "type": "default", "level": level, "permissions": [], "assignedScopes": [], "canEdit": false, "canDelete": false,
            "fullUser": *level == "admin", "createdAt": rfc3339(created), "lastUpdatedAt": rfc3339(created),
            "links": {"self": {"href": format!("{}/api/v1/roles/{id}", s.url.trim_end_matches('/'))}},
        });
        s.insert("roles", role);
    }
    // The Everyone group is a system group of every tenant.
    let everyone = "000000000000000000000001".to_string();
    let group = json!({
        "id": everyone, "tenantId": tenant_id, "name": "com.qlik.Everyone", "status": "active", "providerType": "idp",
        "assignedRoles": [], "createdAt": rfc3339(created), "lastUpdatedAt": rfc3339(created),
        "links": {"self": {"href": format!("{}/api/v1/groups/{everyone}", s.url.trim_end_matches('/'))}},
    });
    s.insert("groups", group);

    let admin_id = s.id(IdStyle::Hex24);
    let roles = vec![
        role_ref(s, "TenantAdmin"),
        role_ref(s, "Developer"),
        role_ref(s, "AnalyticsAdmin"),
    ];
    let admin = user_doc(
        s,
        &admin_id,
        "Tenant Admin",
        "admin@qcb.example",
        "auth0|qcb-admin",
        roles,
        created,
    );
    s.insert("users", admin);
    s.admin_id = admin_id.clone();
    let key = admin_key.unwrap_or_else(|| format!("qcbemu_{}", s.id(IdStyle::Token)));
    s.state.api_keys.insert(key.clone(), admin_id.clone());

    // M2M bots: one with admin.apps (reaches private content), one with user scopes only.
    for (client_id, scopes, name) in [
        (
            BOT_CLIENT_ID,
            vec![
                "admin_classic",
                "admin.apps",
                "admin.automations",
                "user_default",
            ],
            "qcb admin bot",
        ),
        (PLAIN_CLIENT_ID, vec!["user_default"], "qcb plain bot"),
    ] {
        let bot_id = s.id(IdStyle::Hex24);
        let roles = if client_id == BOT_CLIENT_ID {
            vec![role_ref(s, "TenantAdmin")]
        } else {
            vec![]
        };
        let subject = format!("qlikbot\\{client_id}");
        let bot = user_doc(s, &bot_id, name, "", &subject, roles, created);
        s.insert("users", bot);
        let secret = s.secret("oauth-client-secret");
        s.state.m2m_clients.insert(
            client_id.to_string(),
            M2mClient {
                client_id: client_id.to_string(),
                client_secret: secret,
                user_id: bot_id,
                scopes: scopes.into_iter().map(str::to_string).collect(),
                impersonation: client_id == BOT_CLIENT_ID,
            },
        );
    }
    key
}

const FIRST: &[&str] = &[
    "Anna", "Björn", "Carla", "David", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Karin",
    "Leo", "Maja", "Nils", "Olga", "Per", "Rosa", "Sven", "Tove", "Ulf",
];
const LAST: &[&str] = &[
    "Andersson",
    "Berg",
    "Costa",
    "Dahl",
    "Ek",
    "Fischer",
    "Garcia",
    "Holm",
    "Ivanova",
    "Jensen",
    "Khan",
    "Lind",
    "Moreau",
    "Nyström",
    "Okafor",
    "Persson",
];
const DEPTS: &[&str] = &[
    "Finance",
    "Sales",
    "Marketing",
    "HR",
    "Operations",
    "Supply Chain",
    "IT",
    "Procurement",
    "Legal",
    "Customer Success",
];

/// Users, groups, custom roles, identity providers, API keys, licence assignments.
pub fn seed(s: &mut Seeder<'_>) {
    let scale = s.scale;
    let tenant_id = s.state.tenant_id.clone();
    let base = s.url.trim_end_matches('/').to_string();
    for i in 0..scale.groups {
        let id = s.id(IdStyle::Hex24);
        let name = format!(
            "{} {}",
            DEPTS[i % DEPTS.len()],
            if i < DEPTS.len() {
                "Team".to_string()
            } else {
                format!("Team {}", i / DEPTS.len() + 1)
            }
        );
        let created = s.past(700);
        let roles = if i % 4 == 0 {
            vec![role_ref(s, "SharedSpaceCreator")]
        } else {
            vec![]
        };
        let g = json!({
            "id": id, "tenantId": tenant_id, "name": name, "status": "active", "providerType": if i % 3 == 0 { "custom" } else { "idp" },
            "description": format!("Members of {}", DEPTS[i % DEPTS.len()]), "assignedRoles": roles,
            "createdAt": rfc3339(created), "lastUpdatedAt": rfc3339(created),
            "links": {"self": {"href": format!("{base}/api/v1/groups/{id}")}},
        });
        let gid = s.insert("groups", g);
        s.groups.push(gid);
    }
    let scopes = [
        "apps:read",
        "spaces:read",
        "automations:read",
        "data-connections:read",
        "reports:create",
    ];
    for i in 0..scale.custom_roles {
        let id = s.id(IdStyle::Hex24);
        let created = s.past(500);
        let role = json!({
            "id": id, "tenantId": tenant_id, "name": format!("Custom role {}", i + 1), "description": "Custom role made by an admin",
            "type": "custom", "level": "user", "permissions": [], "assignedScopes": [scopes[i % scopes.len()]], "canEdit": true, "canDelete": true,
            "createdAt": rfc3339(created), "lastUpdatedAt": rfc3339(created),
            "links": {"self": {"href": format!("{base}/api/v1/roles/{id}")}},
        });
        s.insert("roles", role);
    }
    for i in 0..scale.users {
        let id = s.id(IdStyle::Hex24);
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len()) % LAST.len()];
        let n = i / (FIRST.len() * LAST.len());
        let suffix = if n == 0 { String::new() } else { n.to_string() };
        let email = format!(
            "{}.{}{suffix}@corp.example",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let created = s.past(800);
        let mut roles = vec![];
        if i % 7 == 0 {
            roles.push(role_ref(s, "Developer"));
        }
        if i % 11 == 0 {
            roles.push(role_ref(s, "SharedSpaceCreator"));
        }
        let mut u = user_doc(
            s,
            &id,
            &format!("{first} {last}{suffix}"),
            &email,
            &format!("auth0|corp-{i:05}"),
            roles,
            created,
        );
        let groups = s.groups.clone();
        if let Some(g) = s.pick(&groups).cloned() {
            let gname = s
                .state
                .get("groups", &g)
                .map(|v| v["name"].clone())
                .unwrap_or_default();
            u["assignedGroups"] = json!([{"id": g, "name": gname}]);
        }
        if i % 97 == 5 {
            u["status"] = json!("disabled");
        }
        let uid = s.insert("users", u);
        s.users.push(uid);
    }
    if s.scale.users > 0 {
        // A regular (non-admin) user with an API key, for visibility tests.
        let plain = s.users[1 % s.users.len()].clone();
        let key = format!("qcbemu_user_{}", s.id(IdStyle::Token));
        s.state.api_keys.insert(key, plain);
    }
    // Licence assignments by subject, for every active user.
    let subjects: Vec<(String, String)> = s
        .state
        .values("users")
        .map(|u| {
            (
                u["subject"].as_str().unwrap_or_default().to_string(),
                rfc3339(s.base_time),
            )
        })
        .collect();
    for (i, (subject, created)) in subjects.into_iter().enumerate() {
        let a = json!({"subject": subject, "type": if i % 5 == 0 { "professional" } else { "analyzer" }, "excess": false, "created": created});
        s.state.insert("license-assignments", &subject, a);
    }
    if s.profile != crate::config::Profile::Empty {
        seed_idps(s);
        seed_api_keys(s);
    }
}

fn seed_idps(s: &mut Seeder<'_>) {
    let tenant_id = s.state.tenant_id.clone();
    let oidc_id = s.id(IdStyle::Uuid);
    let secret = s.secret("idp-client-secret");
    let created = s.past(600);
    let oidc = json!({
        "id": oidc_id, "tenantIds": [tenant_id], "protocol": "OIDC", "provider": "azureAD", "interactive": true, "active": true,
        "description": "Corporate Entra ID", "clockToleranceSec": 5, "createNewUsersOnLogin": true,
        "meta": {"upgradeSubscriptionLink": "", "userPortalLink": ""},
        "options": {
            "discoveryUrl": "https://login.microsoftonline.com/corp.example/v2.0/.well-known/openid-configuration",
            "clientId": "11111111-2222-3333-4444-555555555555", "clientSecret": secret, "realm": "corp",
            "claimsMapping": {"sub": ["sub"], "name": ["name"], "email": ["email"], "groups": ["groups"]},
            "emailVerifiedAlwaysTrue": false, "scope": "openid profile email",
        },
        "created": rfc3339(created), "lastUpdated": rfc3339(created),
    });
    s.insert("identity-providers", oidc);
    let jwt_id = s.id(IdStyle::Uuid);
    let jwt = json!({
        "id": jwt_id, "tenantIds": [tenant_id], "protocol": "jwtAuth", "provider": "external", "interactive": false, "active": true,
        "description": "Embedding JWT", "options": {"issuer": "corp-portal", "staticKeys": [{"kid": "portal-1", "pem": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"}]},
        "created": rfc3339(created), "lastUpdated": rfc3339(created),
    });
    s.insert("identity-providers", jwt);
}

fn seed_api_keys(s: &mut Seeder<'_>) {
    let tenant_id = s.state.tenant_id.clone();
    for i in 0..s.scale.other.min(10) {
        let id = s.id(IdStyle::Hex24);
        let user = s.user();
        let created = s.past(200);
        let k = json!({
            "id": id, "tenantId": tenant_id, "description": format!("CI key {}", i + 1), "sub": user, "subType": "user",
            "status": "active", "createdByUser": user, "created": rfc3339(created), "lastUpdated": rfc3339(created),
            "expiry": rfc3339(s.base_time + chrono::Duration::days(60)),
        });
        s.insert("api-keys", k);
    }
}

/// A user created through the API: `subject` is required and unique.
pub fn build_user(ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    let subject = v
        .get("subject")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if subject.is_empty() {
        return Err(crate::error::ApiError::bad_request("subject is required"));
    }
    if ctx
        .state
        .values("users")
        .any(|u| u["subject"] == subject.as_str() && u["id"] != ctx.id.as_str())
    {
        return Err(crate::error::ApiError::conflict(format!(
            "a user with subject '{subject}' already exists"
        )));
    }
    if v.get("name").is_none() {
        v["name"] = json!(subject);
    }
    // Roles may be given by name; answer them with id and name as a GET does.
    if let Some(Value::Array(roles)) = v.get("assignedRoles").cloned() {
        let resolved: Vec<Value> = roles
            .iter()
            .filter_map(|r| {
                let by_name = r.get("name").and_then(Value::as_str);
                let by_id = r.get("id").and_then(Value::as_str);
                ctx.state.values("roles").find(|x| by_name.is_some_and(|n| x["name"] == n) || by_id.is_some_and(|i| x["id"] == i))
            })
            .map(|x| json!({"id": x["id"], "name": x["name"], "type": x["type"], "level": x["level"]}))
            .collect();
        v["assignedRoles"] = json!(resolved);
    }
    Ok(v)
}

/// An identity provider created through the API.
pub fn build_idp(ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    v["tenantIds"] = json!([ctx.state.tenant_id]);
    let now = rfc3339(ctx.now);
    v["created"] = json!(now);
    v["lastUpdated"] = json!(now);
    if let Value::Object(obj) = &mut v {
        ctx.keep_previous(obj, &["created"]);
    }
    Ok(v)
}
