//! What the target tenant holds now, read before anything is written: the items of every
//! kind the restore touches (to match against), who the caller is, and the tenant's ID.
//! Only reads: a plan makes no write call.

use std::collections::HashMap;

use futures::StreamExt;
use qcb_catalog::{ComponentKind, Source};
use qcb_qlik::{ClientError, TenantClient};
use serde_json::{json, Value};

use qcb_backup::collect::whole_kind_missing;

use crate::error::RestoreError;

/// A one-per-tenant document the spec lets a POST create where it is.
fn creatable_singleton(k: &ComponentKind) -> bool {
    match k.source {
        Source::Singleton { path } => {
            let write_path = crate::plan::singleton_write_path(k, path);
            qcb_catalog::spec::request_fields("POST", &write_path).is_some()
        }
        Source::List { .. } => false,
    }
}

/// The target tenant as read.
#[derive(Debug, Default)]
pub struct Target {
    pub url: String,
    pub tenant_id: String,
    /// The caller's user ID (new items are theirs until handed over).
    pub me: String,
    /// kind → its items (apps as `{id, name, spaceId, ownerId, itemId, updatedAt, createdAt,
    /// description, usage}`, from their items).
    pub docs: HashMap<&'static str, Vec<Value>>,
    /// Kinds the tenant does not offer to this identity, and why.
    pub unavailable: HashMap<&'static str, String>,
}

fn fill(path: &str, tenant_id: &str) -> String {
    path.replace("{tenantId}", tenant_id)
}

impl Target {
    /// Reads the target: the caller, the tenant, and every item of `kinds` (plus users,
    /// groups, roles and spaces, which every restore needs to map references).
    pub async fn read(
        client: &TenantClient,
        kinds: &[&'static ComponentKind],
    ) -> Result<Target, RestoreError> {
        let url = client.tenant().as_str().to_string();
        let fail = |e: ClientError| RestoreError::Tenant {
            url: url.clone(),
            source: Box::new(e),
        };
        let me = client
            .get_json("/api/v1/users/me", "")
            .await
            .map_err(fail)?;
        let tenant = client
            .get_json("/api/v1/tenants/me", "")
            .await
            .map_err(fail)?;
        let mut t = Target {
            url: url.clone(),
            tenant_id: tenant["id"].as_str().unwrap_or_default().to_string(),
            me: me["id"].as_str().unwrap_or_default().to_string(),
            ..Target::default()
        };
        let mut wanted: Vec<&'static ComponentKind> = kinds.to_vec();
        for name in ["users", "groups", "roles", "spaces"] {
            if let Some(k) = qcb_catalog::kind(name) {
                if !wanted.iter().any(|w| w.name == name) {
                    wanted.push(k);
                }
            }
        }
        let tenant_id = t.tenant_id.clone();
        let reads = futures::stream::iter(wanted.into_iter().map(|k| {
            let tenant_id = tenant_id.clone();
            async move { (k, read_kind(client, k, &tenant_id).await) }
        }))
        .buffer_unordered(6)
        .collect::<Vec<_>>()
        .await;
        for (k, r) in reads {
            match r {
                Ok(docs) => {
                    t.docs.insert(k.name, docs);
                }
                // A setting the tenant has not got yet, which the API can create (tenant
                // settings: GET and PATCH answer 404 until a POST creates them): absent, not
                // out of reach.
                Err(e) if e.status() == Some(404) && creatable_singleton(k) => {
                    t.docs.insert(k.name, vec![]);
                }
                Err(e) if whole_kind_missing(&e) => {
                    t.unavailable.insert(k.name, e.to_string());
                    t.docs.insert(k.name, vec![]);
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Ok(t)
    }

    pub fn items(&self, kind: &str) -> &[Value] {
        self.docs.get(kind).map(Vec::as_slice).unwrap_or_default()
    }

    /// A user of the target by ID, subject or e-mail.
    pub fn find_user(&self, key: &str) -> Option<&Value> {
        let key_l = key.to_lowercase();
        self.items("users").iter().find(|u| {
            u["id"].as_str() == Some(key)
                || u["subject"].as_str() == Some(key)
                || u["email"]
                    .as_str()
                    .is_some_and(|e| !e.is_empty() && e.to_lowercase() == key_l)
        })
    }

    /// A group or space of the target by ID or name.
    pub fn find_named(&self, kind: &str, key: &str) -> Option<&Value> {
        self.items(kind)
            .iter()
            .find(|g| g["id"].as_str() == Some(key) || g["name"].as_str() == Some(key))
    }

    pub fn space_type(&self, id: &str) -> Option<&str> {
        self.items("spaces")
            .iter()
            .find(|s| s["id"].as_str() == Some(id))
            .and_then(|s| s["type"].as_str())
    }
}

/// Every item of one kind, as its list answers.
async fn read_kind(
    client: &TenantClient,
    k: &'static ComponentKind,
    tenant_id: &str,
) -> Result<Vec<Value>, ClientError> {
    if k.name == "apps" {
        let items = client
            .list_all("/api/v1/items", "resourceType=app&limit=100", "data")
            .await?;
        return Ok(items
            .into_iter()
            .map(|i| {
                json!({
                    "id": i["resourceId"], "name": i["name"], "spaceId": i.get("spaceId").cloned().unwrap_or(json!("")),
                    "ownerId": i["ownerId"], "itemId": i["id"],
                    "updatedAt": i.get("resourceUpdatedAt").cloned().unwrap_or(Value::Null),
                    "createdAt": i.get("resourceCreatedAt").cloned().unwrap_or(Value::Null),
                    "description": i.get("description").cloned().unwrap_or(Value::Null),
                    "usage": i.pointer("/resourceAttributes/usage").cloned().unwrap_or(Value::Null),
                })
            })
            .collect());
    }
    match k.source {
        Source::Singleton { path } => Ok(vec![client.get_json(&fill(path, tenant_id), "").await?]),
        Source::List {
            path,
            query,
            property,
        } => {
            let mut docs = client.list_all(path, query, property).await?;
            if k.bundle {
                // A bundle's list is its items already (licence assignments).
                return Ok(docs);
            }
            docs.retain(|d| k.id_of(d).is_some());
            let Some(one) = k.get_one else {
                return Ok(docs);
            };
            // The list answers a summary: the full documents, to compare like with like.
            let full = futures::stream::iter(docs.into_iter().map(|d| async move {
                let id = k.id_of(&d).unwrap_or_default().to_string();
                match client.get_json(&one.replace("{id}", &id), "").await {
                    Ok(full) if full.is_object() => full,
                    _ => d,
                }
            }))
            .buffered(8)
            .collect::<Vec<_>>()
            .await;
            Ok(full)
        }
    }
}
