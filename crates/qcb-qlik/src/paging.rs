//! Follows `links.next.href` through every page of a list. Only the href's query string is
//! used, re-issued against the tenant URL and the path asked for, because some specs' own
//! examples put internal hosts there (`http://localhost:8787/v1/items?...`).

use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::tenant_url::TenantUrl;

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("GET {path} failed: {source}")]
    Http {
        path: String,
        source: reqwest::Error,
    },
    #[error("GET {path} answered {status}: {detail}")]
    Status {
        path: String,
        status: u16,
        detail: String,
    },
    #[error("GET {path} answered something that is not a JSON list: {detail}")]
    Shape { path: String, detail: String },
    #[error("GET {path} repeated the page cursor '{query}': stopping instead of looping forever")]
    RepeatedCursor { path: String, query: String },
}

fn error_detail(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/errors/0").map(|e| {
                format!(
                    "{} {}",
                    e["title"].as_str().unwrap_or_default(),
                    e["detail"].as_str().unwrap_or_default()
                )
            })
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// Every item of a list. `property` is the list property (`data`, `sharingTasks`, …), or
/// empty for an API that answers a bare array.
pub async fn list_all(
    http: &reqwest::Client,
    tenant: &TenantUrl,
    key: &SecretString,
    path: &str,
    query: &str,
    property: &str,
) -> Result<Vec<Value>, ListError> {
    let mut items = Vec::new();
    let mut query = query.to_string();
    let mut seen = HashSet::new();
    loop {
        if !seen.insert(query.clone()) {
            return Err(ListError::RepeatedCursor {
                path: path.to_string(),
                query,
            });
        }
        let url = tenant.join(path, Some(&query));
        let resp = http
            .get(url)
            .bearer_auth(key.expose_secret())
            .send()
            .await
            .map_err(|source| ListError::Http {
                path: path.to_string(),
                source,
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|source| ListError::Http {
            path: path.to_string(),
            source,
        })?;
        if status != 200 {
            return Err(ListError::Status {
                path: path.to_string(),
                status,
                detail: error_detail(&body),
            });
        }
        let doc: Value = serde_json::from_str(&body).map_err(|e| ListError::Shape {
            path: path.to_string(),
            detail: e.to_string(),
        })?;
        let page = if property.is_empty() {
            doc.as_array()
        } else {
            doc.get(property).and_then(Value::as_array)
        };
        let page = page.ok_or_else(|| ListError::Shape {
            path: path.to_string(),
            detail: format!("no '{property}' array"),
        })?;
        items.extend(page.iter().cloned());
        let next = doc.pointer("/links/next/href").and_then(Value::as_str);
        let Some(next) = next else { return Ok(items) };
        // Relative or absolute, any host: keep only the query string.
        query = match next.split_once('?') {
            Some((_, q)) => q.to_string(),
            None => return Ok(items),
        };
    }
}
