//! Counts what a tenant holds, kind by kind, through the list endpoints. Used by `qcb demo`
//! until backup exists.

use crate::client::TenantClient;
use crate::error::ClientError;

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

/// Every kind with its count, listed concurrently within the client's limits.
pub async fn inventory(client: &TenantClient) -> Result<Vec<(String, usize)>, ClientError> {
    let counts = LISTS.iter().map(|(label, path, query, prop)| async move {
        let items = client.list_all(path, query, prop).await?;
        Ok::<_, ClientError>((label.to_string(), items.len()))
    });
    futures::future::try_join_all(counts).await
}
