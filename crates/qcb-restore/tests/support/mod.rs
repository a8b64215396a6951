//! Shared pieces of the restore tests: emulated tenants, clients, a repository, and the
//! comparison of two tenants with IDs mapped and server-managed fields left out.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use qcb_backup::{backup, BackupOptions, Manifest};
use qcb_catalog::{ComponentKind, Source};
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_repo::{Repo, RepoOptions, SnapshotInfo};
use qcb_restore::ids::IdMap;
use secrecy::SecretString;
use serde_json::Value;

pub async fn emulator(profile: Profile, time_scale: f64) -> Emulator {
    let config = EmulatorConfig {
        profile,
        time_scale,
        ..EmulatorConfig::default()
    };
    Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator")
}

pub fn client(e: &Emulator, time_scale: f64) -> TenantClient {
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    let opts = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 50,
            time_scale,
        },
        ..ClientOptions::default()
    };
    TenantClient::new(
        TenantUrl::parse(&e.url()).expect("url"),
        Credentials::OAuthClient {
            client_id: id,
            client_secret: SecretString::from(secret),
            scope: None,
        },
        opts,
    )
    .expect("client")
}

pub fn repo(dir: &std::path::Path) -> Arc<Repo> {
    let opts = RepoOptions::new(
        dir.join("repo").display().to_string(),
        SecretString::from("test password".to_string()),
    );
    Arc::new(tokio::task::block_in_place(|| Repo::init(&opts)).expect("init"))
}

pub async fn back_up(c: &TenantClient, repo: &Arc<Repo>) -> (Manifest, SnapshotInfo) {
    let out = backup(c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    (out.manifest, out.snapshot.expect("snapshot"))
}

/// A document reduced to what a restore can bring back: the fields the kind's create
/// request carries (so server stamps, counters and derived fields are out), secrets out, IDs
/// mapped from A's to B's.
pub fn normalise(k: &ComponentKind, doc: &Value, map: &IdMap) -> Value {
    let mut d = doc.clone();
    map.rewrite(&mut d);
    qcb_restore::plan::strip_markers(&mut d);
    let mut shaped = match k.source {
        Source::List { path, .. } if qcb_catalog::spec::request_fields("POST", path).is_some() => {
            qcb_catalog::spec::shape_request("POST", path, &d)
        }
        Source::List { path, .. } => {
            qcb_catalog::spec::shape_request("POST", &format!("{path}#data"), &d)
        }
        Source::Singleton { .. } => d,
    };
    if let Some(m) = shaped.as_object_mut() {
        // The tenant's own ID, and a user's status (only `invited` can be created; the
        // rest follows from logging in).
        m.remove("tenantId");
        if k.name == "users" {
            m.remove("status");
        }
        if k.name == "brands" {
            m.retain(|f, _| matches!(f.as_str(), "name" | "description" | "active"));
        }
    }
    shaped
}

/// Every item of a kind in a tenant, by match key.
pub async fn items(c: &TenantClient, k: &ComponentKind) -> BTreeMap<String, Value> {
    let Source::List {
        path,
        query,
        property,
    } = k.source
    else {
        return BTreeMap::new();
    };
    let docs = c.list_all(path, query, property).await.unwrap_or_default();
    let mut out = BTreeMap::new();
    for d in docs {
        let key = if k.match_on.is_empty() {
            d.pointer(&format!("/{}", k.name_field))
                .map(|v| v.to_string())
                .unwrap_or_default()
        } else {
            k.match_on
                .iter()
                .filter(|p| !p.ends_with("Id") && **p != "/space")
                .map(|p| d.pointer(p).map(|v| v.to_string()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("|")
        };
        out.insert(key, d);
    }
    out
}

/// The map the restore learnt, from its report.
pub fn map_of(report: &qcb_restore::RestoreReport) -> IdMap {
    let mut m = IdMap::default();
    for (kind, pairs) in &report.id_map {
        for (old, new) in pairs {
            m.insert(kind, old, new);
        }
    }
    m
}

/// Write calls counted by the emulator.
pub fn writes(e: &Emulator) -> u64 {
    e.tenant()
        .counters()
        .per_operation
        .iter()
        .filter(|(op, _)| {
            !op.starts_with("GET ") && !op.starts_with("HEAD ") && !op.contains("/oauth/token")
        })
        .map(|(_, n)| *n)
        .sum()
}

pub fn per_kind_counts(m: &Manifest) -> HashMap<String, u64> {
    m.counts.iter().map(|(k, c)| (k.clone(), c.total)).collect()
}
