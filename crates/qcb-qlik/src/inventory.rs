//! Counts what a tenant holds, kind by kind, through the list endpoints. Used by `qcb demo`
//! until backup exists.

use secrecy::SecretString;

use crate::paging::{list_all, ListError};
use crate::tenant_url::{TenantUrl, TenantUrlError};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Url(#[from] TenantUrlError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
}

/// (label, path, query, list property) of what the inventory counts.
const LISTS: &[(&str, &str, &str, &str)] = &[
    (
        "apps",
        "/api/v1/items",
        "resourceType=app&limit=100",
        "data",
    ),
    ("spaces", "/api/v1/spaces", "limit=100", "data"),
    ("users", "/api/v1/users", "limit=100", "data"),
    ("groups", "/api/v1/groups", "limit=100", "data"),
    ("roles", "/api/v1/roles", "limit=100", "data"),
    (
        "identity providers",
        "/api/v1/identity-providers",
        "limit=100",
        "data",
    ),
    (
        "data connections",
        "/api/v1/data-connections",
        "limit=100",
        "data",
    ),
    (
        "automations",
        "/api/workflows/automations",
        "limit=200&listAll=true",
        "data",
    ),
    (
        "automation connections",
        "/api/workflows/automation-connections",
        "limit=200&listAll=true",
        "data",
    ),
    ("reload tasks", "/api/v1/reload-tasks", "limit=100", "data"),
    (
        "scheduling tasks",
        "/api/scheduling/tasks",
        "limit=100",
        "data",
    ),
    (
        "sharing tasks",
        "/api/v1/sharing-tasks",
        "limit=100",
        "sharingTasks",
    ),
    ("data alerts", "/api/v1/data-alerts", "limit=100", "tasks"),
    ("webhooks", "/api/v1/webhooks", "limit=100", "data"),
    (
        "web integrations",
        "/api/v1/web-integrations",
        "limit=100",
        "data",
    ),
    (
        "oauth clients",
        "/api/v1/oauth-clients",
        "limit=100",
        "data",
    ),
    ("csp origins", "/api/v1/csp-origins", "limit=100", "data"),
    ("themes", "/api/v1/themes", "", "data"),
    ("extensions", "/api/v1/extensions", "", "data"),
    (
        "report templates",
        "/api/v1/report-templates",
        "limit=100",
        "data",
    ),
    ("glossaries", "/api/v1/glossaries", "limit=100", "data"),
    ("collections", "/api/v1/collections", "limit=100", "data"),
];

pub async fn inventory(
    tenant: &str,
    key: SecretString,
) -> Result<Vec<(String, usize)>, InventoryError> {
    let tenant = TenantUrl::parse(tenant)?;
    let http = reqwest::Client::builder()
        .user_agent(concat!("qcb/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(InventoryError::Client)?;
    let mut out = Vec::new();
    for (label, path, query, prop) in LISTS {
        let items = list_all(&http, &tenant, &key, path, query, prop).await?;
        out.push((label.to_string(), items.len()));
    }
    Ok(out)
}
