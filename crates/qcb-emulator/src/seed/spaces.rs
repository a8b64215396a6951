//! Spaces (shared, managed, data), their role assignments and per-app shares.

use serde_json::{json, Value};

use super::Seeder;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::kinds::BuildCtx;
use crate::state::IdStyle;

const SHARED_ROLES: &[&str] = &[
    "codeveloper",
    "consumer",
    "dataconsumer",
    "facilitator",
    "producer",
];
const MANAGED_ROLES: &[&str] = &[
    "consumer",
    "contributor",
    "dataconsumer",
    "facilitator",
    "publisher",
    "basicconsumer",
];
const DATA_ROLES: &[&str] = &[
    "consumer",
    "dataconsumer",
    "datapreview",
    "facilitator",
    "operator",
    "producer",
    "publisher",
];

pub fn roles_for(space_type: &str) -> &'static [&'static str] {
    match space_type {
        "managed" => MANAGED_ROLES,
        "data" => DATA_ROLES,
        _ => SHARED_ROLES,
    }
}

fn space_doc(
    s: &Seeder<'_>,
    id: &str,
    name: &str,
    ty: &str,
    owner: &str,
    created: chrono::DateTime<chrono::Utc>,
) -> Value {
    let base = s.url.trim_end_matches('/');
    json!({
        "id": id, "tenantId": s.state.tenant_id, "name": name, "type": ty, "description": format!("{name} ({ty} space)"),
        "ownerId": owner, "createdBy": owner, "createdAt": rfc3339(created), "updatedAt": rfc3339(created),
        "meta": {"roles": [], "actions": ["create", "read", "update", "delete"], "assignableRoles": roles_for(ty)},
        "links": {"self": {"href": format!("{base}/api/v1/spaces/{id}")}, "assignments": {"href": format!("{base}/api/v1/spaces/{id}/assignments")}},
    })
}

pub fn seed(s: &mut Seeder<'_>) {
    const AREAS: &[&str] = &[
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
    for i in 0..s.scale.spaces {
        // Roughly half shared, a third managed, the rest data spaces.
        let ty = match i % 6 {
            0..=2 => "shared",
            3..=4 => "managed",
            _ => "data",
        };
        let area = AREAS[i % AREAS.len()];
        let round = i / AREAS.len();
        let label = match ty {
            "shared" => "Development",
            "managed" => "Production",
            _ => "Data",
        };
        let name = if round == 0 {
            format!("{area} {label}")
        } else {
            format!("{area} {label} {}", round + 1)
        };
        let id = s.id(IdStyle::Hex24);
        let owner = s.user();
        let created = s.past(700);
        let doc = space_doc(s, &id, &name, ty, &owner, created);
        s.insert("spaces", doc);
        s.spaces.push((id.clone(), ty.to_string()));
        // A few users and a group per space; the admin holds no role in most managed spaces,
        // which is what blocks exports for an admin API key in a real tenant.
        // Qlik holds one assignment per assignee and space, with all its roles: a user drawn
        // twice gets the second role on the first assignment.
        let mut held: Vec<(String, String)> = Vec::new();
        let mut assign = |s: &mut Seeder<'_>, ty: &str, assignee: &str, role: &str| {
            match held.iter().find(|(a, _)| a == assignee) {
                Some((_, existing)) => {
                    // The same draws as a new assignment, so the rest of the seed is unchanged.
                    let _ = (s.id(IdStyle::Hex24), s.past(300));
                    if let Some(doc) = s.state.get_mut("space-assignments", existing) {
                        if let Some(roles) = doc["roles"].as_array_mut() {
                            if !roles.iter().any(|r| r == role) {
                                roles.push(Value::from(role));
                            }
                        }
                    }
                }
                None => {
                    let aid = assignment(s, &id, ty, assignee, &[role]);
                    held.push((assignee.to_string(), aid));
                }
            }
        };
        let members = 2 + (i % 4);
        for m in 0..members {
            let assignee = s.user();
            let roles = roles_for(ty);
            let role = roles[(i + m) % roles.len()];
            assign(s, "user", &assignee, role);
        }
        let groups = s.groups.clone();
        if let Some(g) = s.pick(&groups).cloned() {
            assign(s, "group", &g, "consumer");
        }
        if ty != "managed" || i % 5 == 3 {
            let admin = s.admin_id.clone();
            let role = if ty == "managed" {
                "publisher"
            } else {
                "producer"
            };
            assign(s, "user", &admin, role);
        }
    }
}

pub fn assignment(
    s: &mut Seeder<'_>,
    space_id: &str,
    ty: &str,
    assignee: &str,
    roles: &[&str],
) -> String {
    let id = s.id(IdStyle::Hex24);
    let created = s.past(300);
    let base = s.url.trim_end_matches('/');
    let doc = json!({
        "id": id, "tenantId": s.state.tenant_id, "spaceId": space_id, "type": ty, "assigneeId": assignee, "roles": roles,
        "createdAt": rfc3339(created), "createdBy": s.admin_id, "updatedAt": rfc3339(created), "updatedBy": s.admin_id,
        "links": {"self": {"href": format!("{base}/api/v1/spaces/{space_id}/assignments/{id}")}, "space": {"href": format!("{base}/api/v1/spaces/{space_id}")}},
    });
    s.insert("space-assignments", doc)
}

/// A space created through the API: names are unique per tenant; meta as a GET answers it.
pub fn build_space(ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ty = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("name is required"));
    }
    if !matches!(ty.as_str(), "shared" | "managed" | "data") {
        return Err(ApiError::bad_request(format!(
            "type must be shared, managed or data, got '{ty}'"
        )));
    }
    if ctx
        .state
        .values("spaces")
        .any(|s| s["name"] == name.as_str() && s["id"] != ctx.id.as_str())
    {
        return Err(ApiError::conflict(format!(
            "a space named '{name}' already exists"
        )));
    }
    v["meta"] = json!({"roles": [], "actions": ["create", "read", "update", "delete"], "assignableRoles": roles_for(&ty)});
    let base = ctx.tenant_url.trim_end_matches('/');
    v["links"] = json!({"self": {"href": format!("{base}/api/v1/spaces/{}", ctx.id)}, "assignments": {"href": format!("{base}/api/v1/spaces/{}/assignments", ctx.id)}});
    if let Value::Object(obj) = &mut v {
        ctx.keep_previous(obj, &["meta"]);
    }
    // Qlik gives every new shared and managed space its DataFiles connection.
    if ctx.previous.is_none() && matches!(ty.as_str(), "shared" | "managed") {
        let id = ctx.state.new_id(IdStyle::Uuid);
        let now = rfc3339(ctx.now);
        let doc = json!({
            "qID": id, "qEngineObjectID": id, "qName": "DataFiles",
            "qType": super::connections::DATAFILES_TYPE,
            "qConnectStatement": format!("CUSTOM CONNECT TO \"provider={};path=/{}/;\"", super::connections::DATAFILES_TYPE, ctx.id),
            "qLogOn": 0, "qArchitecture": 0, "qSeparateCredentials": false, "datasourceID": "datafiles",
            "user": ctx.principal.user_id, "tenant": ctx.state.tenant_id, "space": ctx.id,
            "privileges": super::connections::DATAFILES_PRIVILEGES,
            "created": now, "updated": now,
            "links": {"self": {"href": format!("{base}/api/v1/data-connections/{id}")}},
        });
        ctx.state.insert("data-connections", &id, doc);
    }
    Ok(v)
}

/// A share of a resource in a space created through the API. The spec's `Share` requires a
/// `role` it does not describe beside `roles`: the first of the roles is answered there.
pub fn build_share(_ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    let first = v
        .pointer("/roles/0")
        .cloned()
        .unwrap_or_else(|| json!("consumer"));
    v["role"] = first;
    Ok(v)
}

/// A space assignment created through the API: one per assignee, roles valid for the space type.
pub fn build_assignment(ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let space_id = ctx.parent_id.clone().unwrap_or_default();
    let ty = ctx
        .state
        .get("spaces", &space_id)
        .and_then(|s| s["type"].as_str())
        .unwrap_or("shared")
        .to_string();
    let assignee = v
        .get("assigneeId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if assignee.is_empty() {
        return Err(ApiError::bad_request("assigneeId is required"));
    }
    let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
    if !matches!(kind, "user" | "group" | "bot") {
        return Err(ApiError::bad_request(format!(
            "type must be user, group or bot, got '{kind}'"
        )));
    }
    if ctx.state.values("space-assignments").any(|a| {
        a["spaceId"] == space_id.as_str()
            && a["assigneeId"] == assignee.as_str()
            && a["id"] != ctx.id.as_str()
    }) {
        let mut e = ApiError::conflict(format!(
            "'{assignee}' already has an assignment in space '{space_id}'"
        ));
        e.code = "AssignmentConflict".into();
        return Err(e);
    }
    let allowed = roles_for(&ty);
    if let Some(roles) = v.get("roles").and_then(Value::as_array) {
        if let Some(bad) = roles
            .iter()
            .filter_map(Value::as_str)
            .find(|r| !allowed.contains(r))
        {
            return Err(ApiError::bad_request(format!(
                "role '{bad}' is not valid in a {ty} space"
            )));
        }
    }
    Ok(v)
}
