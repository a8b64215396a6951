//! `backup` against the emulated tenant into a local repository: every kind lands in the
//! snapshot in the layout of DESIGN.md §3, no secret reaches the repository, unchanged apps are
//! neither exported nor stored again, and an app the identity cannot export makes the run
//! partial with the reason and the remedy.

use std::sync::Arc;

use qcb_backup::manifest::ItemStatus;
use qcb_backup::{backup, BackupOptions, RunStatus};
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_repo::{Repo, RepoOptions};
use secrecy::SecretString;

fn client(e: &Emulator, creds: Credentials) -> TenantClient {
    let opts = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 50,
            time_scale: 30.0,
        },
        ..ClientOptions::default()
    };
    TenantClient::new(TenantUrl::parse(&e.url()).expect("url"), creds, opts).expect("client")
}

fn bot(e: &Emulator) -> TenantClient {
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    client(
        e,
        Credentials::OAuthClient {
            client_id: id,
            client_secret: SecretString::from(secret),
            scope: None,
        },
    )
}

/// Repository calls are blocking (rustic_core): off the async workers.
fn repo(dir: &std::path::Path) -> Arc<Repo> {
    let opts = RepoOptions::new(
        dir.join("repo").display().to_string(),
        SecretString::from("test password".to_string()),
    );
    Arc::new(tokio::task::block_in_place(|| Repo::init(&opts)).expect("init"))
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_backs_up_whole_without_secrets_and_then_incrementally() {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        time_scale: 30.0,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = bot(&e);

    let first = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let m = &first.manifest;
    assert_eq!(m.status, RunStatus::Success, "{}", m.summary());
    let apps = &m.counts["apps"];
    assert_eq!(
        apps.total as usize,
        e.tenant().ids("apps").len(),
        "the bot reaches every app"
    );
    assert_eq!(apps.backed_up, apps.total);
    for kind in [
        "spaces",
        "users",
        "data-connections",
        "automations",
        "webhooks",
        "themes",
        "report-templates",
        "tenant-settings",
    ] {
        assert!(
            m.counts.get(kind).is_some_and(|c| c.backed_up > 0),
            "{kind} backed up: {:?}",
            m.counts.get(kind)
        );
    }
    assert!(
        m.items.iter().any(|i| !i.redacted.is_empty()),
        "secrets were redacted"
    );
    let snap = first.snapshot.expect("snapshot");

    // The snapshot in plain files: the layout, and no secret anywhere but inside app exports.
    let out = tmp.path().join("dump");
    tokio::task::block_in_place(|| repo.dump(&snap, &out)).expect("dump");
    for p in [
        "manifest.json",
        "tenant/tenant.json",
        "tenant/settings/tenant-settings.json",
        "identity/licenses/assignments.json",
    ] {
        assert!(out.join(p).is_file(), "{p} in the snapshot");
    }
    let mut checked = 0;
    for entry in walk(&out) {
        if entry.extension().is_some_and(|x| x == "qvf") {
            continue;
        }
        let bytes = std::fs::read(&entry).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("QCBSECRET"),
            "a secret reached {}",
            entry.display()
        );
        checked += 1;
    }
    assert!(checked > 100, "checked {checked} files");

    // Second run, nothing changed: no app is exported again, and the repository barely grows.
    let size1 = dir_size(&tmp.path().join("repo"));
    let exports_before = e
        .tenant()
        .counters()
        .per_operation
        .get("POST /api/v1/apps/{appId}/export")
        .copied()
        .unwrap_or(0);
    let second = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("second backup");
    let exports_after = e
        .tenant()
        .counters()
        .per_operation
        .get("POST /api/v1/apps/{appId}/export")
        .copied()
        .unwrap_or(0);
    assert_eq!(
        exports_after, exports_before,
        "unchanged apps are not exported"
    );
    assert_eq!(second.manifest.counts["apps"].unchanged, apps.total);
    let size2 = dir_size(&tmp.path().join("repo"));
    assert!(
        size2 - size1 < size1 / 20,
        "second snapshot added {} bytes to {size1}",
        size2 - size1
    );

    // One app changes: only it is exported again.
    let changed = e.tenant().ids("apps")[0].clone();
    e.tenant().touch("apps", &changed).expect("touch");
    let third = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("third backup");
    assert_eq!(third.manifest.counts["apps"].backed_up, 1);
    let item = third
        .manifest
        .items
        .iter()
        .find(|i| i.id == changed)
        .expect("the changed app");
    assert_eq!(item.status, ItemStatus::BackedUp);
    let snaps = tokio::task::block_in_place(|| repo.snapshots()).expect("snapshots");
    assert_eq!(snaps.len(), 3);
    let _ = e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_out_of_reach_make_the_run_partial_with_reason_and_remedy() {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        time_scale: 30.0,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = client(
        &e,
        Credentials::ApiKey(SecretString::from(e.admin_api_key().to_string())),
    );
    let opts = BackupOptions {
        only: vec!["apps".into(), "spaces".into()],
        ..BackupOptions::default()
    };
    let out = backup(&c, repo, &opts).await.expect("backup");
    let m = out.manifest;
    assert_eq!(m.status, RunStatus::Partial, "{}", m.summary());
    let failed: Vec<_> = m
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Failed)
        .collect();
    assert!(!failed.is_empty());
    for f in failed {
        let err = f.error.as_deref().unwrap_or_default();
        assert!(
            err.contains("403") && err.contains("admin.apps"),
            "{}: {err}",
            f.id
        );
    }
    assert!(
        out.snapshot.is_some(),
        "a partial run still writes its snapshot"
    );
    assert!(m.not_covered.iter().any(|n| n.kind == "app-objects"));
    let _ = e.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_self_to_spaces_reaches_managed_spaces_and_gives_the_roles_back() {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        time_scale: 30.0,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = client(
        &e,
        Credentials::ApiKey(SecretString::from(e.admin_api_key().to_string())),
    );
    let assignments_before = e.tenant().ids("space-assignments").len();
    let plain = BackupOptions {
        only: vec!["apps".into()],
        ..BackupOptions::default()
    };
    let without = backup(&c, repo.clone(), &plain)
        .await
        .expect("backup")
        .manifest;
    let opts = BackupOptions {
        assign_self_to_spaces: true,
        ..plain
    };
    let with = backup(&c, repo, &opts).await.expect("backup").manifest;
    let failed = |m: &qcb_backup::Manifest| {
        m.items
            .iter()
            .filter(|i| i.status == ItemStatus::Failed)
            .count()
    };
    assert!(
        failed(&with) < failed(&without),
        "taking space roles reached more apps ({} → {})",
        failed(&without),
        failed(&with)
    );
    // What is still out of reach is other users' personal apps, which no space role opens.
    for i in with.items.iter().filter(|i| i.status == ItemStatus::Failed) {
        assert!(
            i.error
                .as_deref()
                .unwrap_or_default()
                .contains("personal space"),
            "{}: {:?}",
            i.id,
            i.error
        );
    }
    assert_eq!(
        e.tenant().ids("space-assignments").len(),
        assignments_before,
        "every role taken was given back"
    );
    let _ = e.stop().await;
}
