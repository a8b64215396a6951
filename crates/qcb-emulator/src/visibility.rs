//! What each identity may see. Qlik documents the rules only in part (QLIK-API.md §6): an API
//! key acts as its user and does not reach other users' personal content; a tenant admin
//! sees every shared and managed space; an M2M bot with `admin.apps` reaches personal and
//! private content too.

use serde_json::Value;

use crate::kinds::Viewer;
use crate::paging::query_value;
use crate::state::State;

fn str_field<'v>(v: &'v Value, f: &str) -> &'v str {
    v.get(f).and_then(Value::as_str).unwrap_or_default()
}

/// The user's space roles (through their own assignment or a group's), or None without access.
pub fn space_roles(state: &State, user_id: &str, space_id: &str) -> Option<Vec<String>> {
    let space = state.get("spaces", space_id)?;
    let mut roles = Vec::new();
    if str_field(space, "ownerId") == user_id {
        roles.push("owner".to_string());
    }
    let groups: Vec<&str> = state
        .get("users", user_id)
        .and_then(|u| u.get("assignedGroups"))
        .and_then(Value::as_array)
        .map(|gs| {
            gs.iter()
                .filter_map(|g| g.get("id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    for a in state.values("space-assignments") {
        if str_field(a, "spaceId") != space_id {
            continue;
        }
        let assignee = str_field(a, "assigneeId");
        if assignee == user_id || groups.contains(&assignee) {
            if let Some(rs) = a.get("roles").and_then(Value::as_array) {
                roles.extend(rs.iter().filter_map(Value::as_str).map(str::to_string));
            }
        }
    }
    (!roles.is_empty()).then_some(roles)
}

pub fn space(v: &Viewer<'_>, space: &Value) -> bool {
    v.principal.is_admin()
        || space_roles(v.state, &v.principal.user_id, str_field(space, "id")).is_some()
}

/// A resource that lives in a space (or in its owner's personal space when `space_id` is empty).
pub fn in_space(v: &Viewer<'_>, space_id: &str, owner_id: &str) -> bool {
    if space_id.is_empty() || space_id == "personal" {
        return owner_id == v.principal.user_id || v.principal.reaches_private_apps();
    }
    if v.principal.is_admin() {
        return true;
    }
    space_roles(v.state, &v.principal.user_id, space_id).is_some()
}

pub fn item(v: &Viewer<'_>, item: &Value) -> bool {
    in_space(v, str_field(item, "spaceId"), str_field(item, "ownerId"))
}

pub fn data_connection(v: &Viewer<'_>, c: &Value) -> bool {
    in_space(v, str_field(c, "space"), str_field(c, "user"))
}

pub fn collection(v: &Viewer<'_>, c: &Value) -> bool {
    match str_field(c, "type") {
        "private" | "favorite" => {
            str_field(c, "creatorId") == v.principal.user_id || v.principal.reaches_private_apps()
        }
        _ => true,
    }
}

/// Automations are listed for their owner; `listAll=true` is "restricted to tenant admins and
/// analytics admins" (automations spec).
/// A token with `admin.automations` (or `:read`), "Read all automations in the tenant"
/// (qlik.dev scopes), reads every automation; everyone else only their own.
pub fn automation(v: &Viewer<'_>, a: &Value) -> bool {
    let scoped = v
        .principal
        .scopes
        .iter()
        .any(|s| s == "admin.automations" || s == "admin.automations:read");
    scoped || owned_unless_list_all(v, a)
}

pub fn owned_unless_list_all(v: &Viewer<'_>, a: &Value) -> bool {
    if str_field(a, "ownerId") == v.principal.user_id {
        return true;
    }
    query_value(v.query, "listAll") == Some("true") && v.principal.is_admin()
}
