//! Shared pieces of the restore tests: emulated tenants, clients, a repository, and (in
//! `fidelity`) the comparison of two tenants with IDs mapped and server-managed fields left out.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use qcb_backup::{backup, BackupOptions, Manifest};
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_repo::{Repo, RepoOptions, SnapshotInfo};
use qcb_restore::ids::IdMap;
use secrecy::SecretString;
use serde_json::Value;

pub mod fidelity;

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
            burst_minutes: 0.0,
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

/// A client signing in with the tenant admin's API key (which cannot impersonate users).
pub fn api_key_client(e: &Emulator, time_scale: f64) -> TenantClient {
    let opts = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 50,
            burst_minutes: 0.0,
            time_scale,
        },
        ..ClientOptions::default()
    };
    TenantClient::new(
        TenantUrl::parse(&e.url()).expect("url"),
        Credentials::ApiKey(SecretString::from(e.admin_api_key().to_string())),
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

// ---- snapshots made by hand, restores in one call, the target's state (selection, bad input,
// secrets and map tests)

/// Every file of a snapshot with its bytes.
pub fn files_of(repo: &Repo, snap: &SnapshotInfo) -> Vec<(String, Vec<u8>)> {
    tokio::task::block_in_place(|| {
        let paths: Vec<String> = repo
            .ls(snap, "", true)
            .expect("ls")
            .into_iter()
            .filter(|n| n.kind == qcb_repo::NodeKind::File)
            .map(|n| n.path.trim_start_matches('/').to_string())
            .collect();
        let bufs = std::cell::RefCell::new(vec![Vec::new(); paths.len()]);
        struct Slot<'a>(usize, &'a std::cell::RefCell<Vec<Vec<u8>>>);
        impl std::io::Write for Slot<'_> {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.1.borrow_mut()[self.0].extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let results = repo
            .cat_many(snap, &paths, |i, _| Ok(Slot(i, &bufs)))
            .expect("cat_many");
        for (p, r) in paths.iter().zip(&results) {
            assert!(r.is_ok(), "{p}: {r:?}");
        }
        paths.into_iter().zip(bufs.into_inner()).collect()
    })
}

/// Writes `files` as a new snapshot of `host`, as a backup would.
pub fn write_files(repo: &Repo, host: &str, files: Vec<(String, Vec<u8>)>) -> SnapshotInfo {
    let mut tree = qcb_repo::SnapshotTree::new();
    let now = chrono::Utc::now();
    for (path, bytes) in files {
        tree.push(qcb_repo::TreeEntry::bytes(path, now, bytes));
    }
    let meta = qcb_repo::SnapshotMeta {
        host: host.to_string(),
        tags: vec!["status:success".into()],
        time: now,
        parent: None,
    };
    tokio::task::block_in_place(|| repo.write_snapshot(tree, meta))
        .expect("write snapshot")
        .snapshot
}

/// Plans and carries out a restore with default options.
pub async fn restore(
    c: &TenantClient,
    repo: &Arc<Repo>,
    snap: &SnapshotInfo,
    selection: &qcb_restore::Selection,
    tenant_map: &qcb_restore::TenantMap,
    secrets: &qcb_restore::Secrets,
) -> qcb_restore::RestoreReport {
    let prepared = qcb_restore::prepare(c, repo.clone(), snap.clone(), selection, tenant_map, "")
        .await
        .expect("plan");
    qcb_restore::execute(
        c,
        repo.clone(),
        prepared,
        secrets,
        &qcb_restore::ApplyOptions::default(),
        None,
    )
    .await
    .expect("restore")
}

/// Write calls the emulator counted, by operation (for assertion messages).
pub fn write_ops(e: &Emulator) -> BTreeMap<String, u64> {
    e.tenant()
        .counters()
        .per_operation
        .into_iter()
        .filter(|(op, _)| {
            !op.starts_with("GET ") && !op.starts_with("HEAD ") && !op.contains("/oauth/token")
        })
        .collect()
}

/// How often the emulator served one operation ("METHOD /route").
pub fn calls(e: &Emulator, op: &str) -> u64 {
    e.tenant()
        .counters()
        .per_operation
        .get(op)
        .copied()
        .unwrap_or(0)
}

/// The documents of a kind in an emulated tenant's state.
pub fn state_docs(e: &Emulator, kind: &str) -> Vec<Value> {
    e.tenant().read().values(kind).cloned().collect()
}

/// The text of a string field of a document.
pub fn str_of<'v>(v: &'v Value, field: &str) -> &'v str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}
