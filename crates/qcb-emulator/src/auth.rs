//! Who is calling: API keys and OAuth access tokens map to a user, and the user's roles and
//! scopes decide what the tenant shows them.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::State;

/// The identity behind a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    /// Holds the TenantAdmin role.
    pub tenant_admin: bool,
    /// A machine-to-machine bot (OAuth client credentials).
    pub bot: bool,
    /// OAuth scopes (empty for API keys, which act with the user's full rights).
    pub scopes: Vec<String>,
}

impl Principal {
    /// `admin.apps` (or its children) lets a bot reach personal-space and private content
    /// (qlik.dev changelog, "Access personal metadata and private resources using OAuth M2M").
    pub fn reaches_private_apps(&self) -> bool {
        self.bot
            && self
                .scopes
                .iter()
                .any(|s| s == "admin.apps" || s.starts_with("admin.apps:") || s == "admin_classic")
    }

    pub fn is_admin(&self) -> bool {
        self.tenant_admin
    }
}

/// Resolves the `Authorization: Bearer …` value of a request.
pub fn authenticate(
    state: &State,
    header: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Principal> {
    let Some(header) = header else {
        return Err(ApiError::unauthorized(
            "Authorization header missing: send 'Authorization: Bearer <api key or access token>'",
        ));
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    else {
        return Err(ApiError::unauthorized(
            "Authorization header must use the Bearer scheme",
        ));
    };
    let token = token.trim();
    if let Some(user_id) = state.api_keys.get(token) {
        return principal_for(state, user_id, false, Vec::new());
    }
    if let Some(t) = state.tokens.get(token) {
        if t.expires_at <= now {
            return Err(ApiError::unauthorized("The access token has expired"));
        }
        return principal_for(state, &t.user_id, true, t.scopes.clone());
    }
    Err(ApiError::unauthorized("Invalid API key or access token"))
}

fn principal_for(
    state: &State,
    user_id: &str,
    bot: bool,
    scopes: Vec<String>,
) -> ApiResult<Principal> {
    let Some(user) = state.get("users", user_id) else {
        return Err(ApiError::unauthorized(
            "The credential's user no longer exists",
        ));
    };
    if user.get("status").and_then(Value::as_str) == Some("disabled") {
        return Err(ApiError::unauthorized("The credential's user is disabled"));
    }
    let tenant_admin = has_role(user, "TenantAdmin");
    Ok(Principal {
        user_id: user_id.to_string(),
        tenant_admin,
        bot,
        scopes,
    })
}

pub fn has_role(user: &Value, role: &str) -> bool {
    user.get("assignedRoles")
        .and_then(Value::as_array)
        .is_some_and(|roles| {
            roles
                .iter()
                .any(|r| r.get("name").and_then(Value::as_str) == Some(role))
        })
}
