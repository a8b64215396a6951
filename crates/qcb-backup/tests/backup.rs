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
            burst_minutes: 0.0,
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

/// How often the emulated tenant served one operation ("METHOD /route").
fn served(e: &Emulator, op: &str) -> u64 {
    e.tenant()
        .counters()
        .per_operation
        .get(op)
        .copied()
        .unwrap_or(0)
}

/// The `demo` tenant at time scale 60.
fn demo_config() -> EmulatorConfig {
    EmulatorConfig {
        profile: Profile::Demo,
        time_scale: 60.0,
        ..EmulatorConfig::default()
    }
}

/// The `demo` tenant at time scale 60, on a port the OS picks.
async fn demo_tenant() -> Emulator {
    start(demo_config()).await
}

/// An emulated tenant on a port the OS picks.
async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator")
}

/// The items a run failed.
fn failed_items(m: &qcb_backup::Manifest) -> Vec<&qcb_backup::Item> {
    m.items
        .iter()
        .filter(|i| i.status == ItemStatus::Failed)
        .collect()
}

/// A run of `c` into a new repository, which must end partial.
async fn partial_run(c: &TenantClient, opts: &BackupOptions) -> qcb_backup::Manifest {
    let fresh = tempfile::tempdir().expect("tmp");
    let m = backup(c, self::repo(fresh.path()), opts)
        .await
        .expect("backup")
        .manifest;
    assert_eq!(m.status, RunStatus::Partial, "{}", m.summary());
    m
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
    let exports_before = exports(&e);
    let second = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("second backup");
    let exports_after = exports(&e);
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
    let failed = failed_items(&m);
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
    let failed = |m: &qcb_backup::Manifest| failed_items(m).len();
    assert!(
        failed(&with) < failed(&without),
        "taking space roles reached more apps ({} → {})",
        failed(&without),
        failed(&with)
    );
    // What is still out of reach is other users' personal apps, which no space role opens.
    for i in failed_items(&with) {
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

fn exports(e: &Emulator) -> u64 {
    served(e, "POST /api/v1/apps/{appId}/export")
}

/// A client paced for an emulated tenant whose time runs `scale` times faster.
fn fast_bot(e: &Emulator, scale: f64) -> TenantClient {
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    let opts = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 50,
            burst_minutes: 0.0,
            time_scale: scale,
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

/// Every path of a snapshot.
fn paths(repo: &Repo, snap: &qcb_repo::SnapshotInfo) -> std::collections::BTreeSet<String> {
    tokio::task::block_in_place(|| repo.ls(snap, "", true))
        .expect("ls")
        .into_iter()
        .map(|n| n.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_tenant_whole_then_only_touched_apps_exported_and_a_deleted_app_gone() {
    // Rate limits off and a fast clock: this test is about completeness, not pacing. Exports
    // are shrunk to a few KiB (the bytes are the benchmark's business).
    let scale = 1000.0;
    let config = EmulatorConfig {
        profile: Profile::Large,
        time_scale: scale,
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    for c in e.tenant().write().app_content.values_mut() {
        c.size = 4096;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = fast_bot(&e, scale);
    let opts = BackupOptions {
        exports_in_flight: 16,
        ..BackupOptions::default()
    };
    let first = backup(&c, repo.clone(), &opts).await.expect("backup");
    let m = &first.manifest;
    assert_eq!(m.status, RunStatus::Success, "{}", m.summary());
    assert!(m.full, "a first run exports every app");
    let snap1 = first.snapshot.clone().expect("snapshot");
    assert!(snap1.tags.iter().any(|t| t == "full"), "{:?}", snap1.tags);

    // The manifest's counts are the emulator's own, kind by kind, and so are the IDs.
    let mut compared = 0;
    for kind in qcb_catalog::all() {
        if kind.bundle || matches!(kind.source, qcb_catalog::Source::Singleton { .. }) {
            continue;
        }
        let held: std::collections::BTreeSet<String> = if kind.name == "apps" {
            e.tenant().ids("apps").into_iter().collect()
        } else {
            e.tenant().ids(kind.name).into_iter().collect()
        };
        if held.is_empty() && !m.counts.contains_key(kind.name) {
            continue;
        }
        let got: std::collections::BTreeSet<String> = m
            .items
            .iter()
            .filter(|i| i.kind == kind.name)
            .map(|i| i.id.clone())
            .collect();
        assert_eq!(
            got, held,
            "{}: the manifest holds what the emulator holds",
            kind.name
        );
        assert_eq!(
            m.counts.get(kind.name).map_or(0, |c| c.total) as usize,
            held.len(),
            "{}",
            kind.name
        );
        compared += 1;
    }
    assert!(compared >= 25, "compared {compared} kinds");

    // Every item's file is in the snapshot; every app has its export and its script.
    let in_snap = paths(&repo, &snap1);
    for i in &m.items {
        assert!(
            i.path.is_empty() || in_snap.contains(&i.path),
            "{} {}: {} is in the snapshot",
            i.kind,
            i.id,
            i.path
        );
    }
    for id in e.tenant().ids("apps") {
        for f in ["app.json", "app.qvf", "script.qvs"] {
            assert!(in_snap.contains(&format!("apps/{id}/{f}")), "apps/{id}/{f}");
        }
    }

    // 2% of the apps change and one is deleted: exactly those are exported, nothing else.
    let ids = e.tenant().ids("apps");
    let touched: Vec<String> = ids.iter().step_by(50).cloned().collect();
    assert_eq!(touched.len(), ids.len().div_ceil(50));
    let deleted = ids[1].clone();
    for id in &touched {
        e.tenant().touch("apps", id).expect("touch");
    }
    e.tenant()
        .delete_resource("apps", &deleted)
        .expect("delete");
    let before = exports(&e);
    let second = backup(&c, repo.clone(), &opts)
        .await
        .expect("second backup");
    let m2 = &second.manifest;
    assert_eq!(m2.status, RunStatus::Success, "{}", m2.summary());
    assert_eq!(
        exports(&e) - before,
        touched.len() as u64,
        "only the touched apps are exported"
    );
    let exported: std::collections::BTreeSet<&str> = m2
        .items
        .iter()
        .filter(|i| i.kind == "apps" && i.status == ItemStatus::BackedUp)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(
        exported,
        touched.iter().map(String::as_str).collect(),
        "the manifest names the exported apps"
    );
    assert!(!m2.full);
    let snap2 = second.snapshot.expect("snapshot");
    let in_snap2 = paths(&repo, &snap2);
    assert!(!in_snap2.contains(&format!("apps/{deleted}/app.qvf")));
    assert!(!m2.items.iter().any(|i| i.id == deleted));
    assert!(paths(&repo, &snap1).contains(&format!("apps/{deleted}/app.qvf")));
    // Unchanged apps keep their files (from the parent) and their scan findings.
    let kept = ids[2].clone();
    for f in ["app.json", "app.qvf", "script.qvs"] {
        assert!(
            in_snap2.contains(&format!("apps/{kept}/{f}")),
            "apps/{kept}/{f}"
        );
    }
    let findings = |m: &qcb_backup::Manifest| -> usize {
        m.items
            .iter()
            .filter(|i| i.kind == "apps" && i.id != deleted)
            .map(|i| i.findings.len())
            .sum()
    };
    assert_eq!(findings(m2), findings(m), "script findings carried over");

    // A third run with nothing changed takes every app from the second, the touched ones too
    // (their files carry their new revision, whatever the writer reused).
    let before = exports(&e);
    let third = backup(&c, repo.clone(), &opts).await.expect("third backup");
    let m3 = &third.manifest;
    assert_eq!(m3.status, RunStatus::Success, "{}", m3.summary());
    assert_eq!(exports(&e), before, "nothing to export");
    assert!(m3
        .items
        .iter()
        .filter(|i| i.kind == "apps")
        .all(|i| i.status == ItemStatus::Unchanged));
    let snap3 = third.snapshot.expect("snapshot");
    assert_eq!(paths(&repo, &snap3), in_snap2);
    for id in &touched {
        let mut script = Vec::new();
        repo.cat(&snap3, &format!("apps/{id}/script.qvs"), &mut script)
            .expect("the touched app's script");
    }
    let _ = e.stop().await;
}

/// A run's app events in order: `listing N` (a page came in, N listed so far), `done <status>`,
/// `listed` (the listing ended).
#[derive(Default)]
struct AppEvents(std::sync::Mutex<Vec<String>>);

impl qcb_backup::Progress for AppEvents {
    fn event(&self, event: &qcb_backup::Event<'_>) {
        let line = match event {
            qcb_backup::Event::AppsListing { listed } => format!("listing {listed}"),
            qcb_backup::Event::AppDone { status, .. } => format!("done {status:?}"),
            qcb_backup::Event::AppsListed { .. } => "listed".to_string(),
            _ => return,
        };
        self.0.lock().expect("events").push(line);
    }
}

impl AppEvents {
    /// Apps exported before the listing ended, and the events seen; cleared for the next run.
    fn exported_while_listing(&self) -> (usize, Vec<String>) {
        let seen = std::mem::take(&mut *self.0.lock().expect("events"));
        let end = seen.iter().position(|e| e == "listed").expect("listed");
        let early = seen[..end].iter().filter(|e| *e == "done BackedUp").count();
        (early, seen)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_exported_while_their_listing_still_pages() {
    // Three pages of apps, the second and third each held back 400 ms: a big tenant's
    // listing, which takes its time.
    let scale = 1000.0;
    let e = start(EmulatorConfig {
        profile: Profile::Large,
        time_scale: scale,
        rate_limits: false,
        ..EmulatorConfig::default()
    })
    .await;
    let ids = e.tenant().ids("apps");
    for id in &ids[250..] {
        e.tenant().delete_resource("apps", id).expect("delete");
    }
    for c in e.tenant().write().app_content.values_mut() {
        c.size = 4096;
    }
    e.tenant().update_faults(|f| f.later_pages_delay_ms = 400);
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = fast_bot(&e, scale);
    let events = Arc::new(AppEvents::default());
    let opts = BackupOptions {
        only: vec!["apps".into()],
        exports_in_flight: 8,
        progress: qcb_backup::ProgressSink::new(events.clone()),
        ..BackupOptions::default()
    };
    let first = backup(&c, repo.clone(), &opts).await.expect("backup");
    let m = &first.manifest;
    assert_eq!(m.status, RunStatus::Success, "{}", m.summary());
    let apps = m.counts.get("apps").expect("apps");
    assert_eq!((apps.total, apps.backed_up), (250, 250), "{apps:?}");
    // The first page's apps were exported while the later pages were asked for: no more of
    // them than the run lets wait on disk (4 × 8 in flight, at least 32), and not none.
    let (early, seen) = events.exported_while_listing();
    assert!(early > 0 && early <= 32, "{early} early: {seen:?}");
    assert_eq!(seen.iter().filter(|e| e.starts_with("listing")).count(), 3);
    // Stored all the same, each app whole, in the snapshot's order.
    let stored = paths(&repo, first.snapshot.as_ref().expect("snapshot"));
    for id in &ids[..250] {
        for f in ["app.json", "app.qvf", "script.qvs"] {
            assert!(stored.contains(&format!("apps/{id}/{f}")), "apps/{id}/{f}");
        }
    }

    // An incremental run: the two changed apps of the first page are exported before the
    // listing ends, and nothing else is.
    let touched = [ids[3].clone(), ids[40].clone()];
    for id in &touched {
        e.tenant().touch("apps", id).expect("touch");
    }
    let before = exports(&e);
    let second = backup(&c, repo.clone(), &opts).await.expect("second");
    assert_eq!(second.manifest.status, RunStatus::Success);
    assert_eq!(exports(&e) - before, 2);
    let (early, seen) = events.exported_while_listing();
    assert_eq!(early, 2, "{seen:?}");
    let _ = e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_scripts_are_scanned_and_stored_without_their_credentials() {
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
    let opts = BackupOptions {
        only: vec!["apps".into()],
        ..BackupOptions::default()
    };
    let out = backup(&bot(&e), repo.clone(), &opts).await.expect("backup");
    let m = out.manifest;
    assert!(
        !m.not_covered.iter().any(|n| n.kind == "app-scripts"),
        "scripts are covered now"
    );
    let with_findings: Vec<_> = m
        .items
        .iter()
        .filter(|i| i.findings.iter().any(|f| f.at == "script"))
        .collect();
    assert!(!with_findings.is_empty(), "the seeded pwd= is found");
    assert!(m.summary().contains("credentials in the load scripts of"));
    let snap = out.snapshot.expect("snapshot");
    for app in with_findings {
        let mut script = Vec::new();
        tokio::task::block_in_place(|| {
            repo.cat(&snap, &format!("apps/{}/script.qvs", app.id), &mut script)
        })
        .expect("the script is in the snapshot");
        let text = String::from_utf8_lossy(&script);
        assert!(text.contains("LIB CONNECT TO"), "{text}");
        assert!(text.contains("pwd={qcb:redacted}"), "{text}");
        assert!(!text.contains("QCBSECRET"), "{text}");
    }

    // A script Qlik will not give is noted on its app, which is still backed up.
    let unlucky = m
        .items
        .iter()
        .find(|i| i.status == ItemStatus::BackedUp)
        .expect("an app")
        .id
        .clone();
    e.tenant().set_faults(qcb_emulator::Faults {
        error_rate: 1.0,
        error_path_prefix: format!("/api/v1/apps/{unlucky}/scripts"),
        ..qcb_emulator::Faults::default()
    });
    let impatient = {
        let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
        let opts = ClientOptions {
            max_retries: 1,
            min_backoff: std::time::Duration::from_millis(10),
            max_backoff: std::time::Duration::from_millis(20),
            budget: Budget {
                fraction: 1.0,
                burst: 50,
                burst_minutes: 0.0,
                time_scale: 30.0,
            },
            ..ClientOptions::default()
        };
        let creds = Credentials::OAuthClient {
            client_id: id,
            client_secret: SecretString::from(secret),
            scope: None,
        };
        TenantClient::new(TenantUrl::parse(&e.url()).expect("url"), creds, opts).expect("client")
    };
    let full = BackupOptions { full: true, ..opts };
    let m = backup(&impatient, repo, &full)
        .await
        .expect("backup")
        .manifest;
    assert_eq!(m.status, RunStatus::Success, "{}", m.summary());
    let item = m.items.iter().find(|i| i.id == unlucky).expect("the app");
    assert_eq!(item.status, ItemStatus::BackedUp);
    assert!(
        item.notes.len() == 1 && item.notes[0].contains("load script"),
        "{:?}",
        item.notes
    );
    assert!(m.summary().contains(&format!("note: apps {unlucky}")));
    let _ = e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_every_n_days_follows_the_parent_chain() {
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
    let every_week = BackupOptions {
        only: vec!["apps".into()],
        full_every_days: Some(7),
        ..BackupOptions::default()
    };
    // A run without apps is no full export, and so no base for the next.
    let spaces = BackupOptions {
        only: vec!["spaces".into()],
        ..BackupOptions::default()
    };
    let first = backup(&c, repo.clone(), &spaces).await.expect("backup");
    assert!(!first.manifest.full);
    let second = backup(&c, repo.clone(), &every_week).await.expect("backup");
    assert!(second.manifest.full, "no full run before: every app");
    let before = exports(&e);
    let third = backup(&c, repo.clone(), &every_week).await.expect("backup");
    assert!(
        !third.manifest.full,
        "the full run is hours old, not 7 days"
    );
    assert_eq!(exports(&e), before, "nothing was exported again");
    let tags = third.snapshot.expect("snapshot").tags;
    assert!(!tags.iter().any(|t| t == "full"), "{tags:?}");
    // The full run is found two steps up the chain, through the incremental run.
    let fourth = backup(&c, repo.clone(), &every_week).await.expect("backup");
    assert!(!fourth.manifest.full);
    let _ = e.stop().await;
}

/// Expires every access token once a number of apps are done (a run's progress events).
struct ExpireTokens {
    tenant: Arc<qcb_emulator::Tenant>,
    after_apps: usize,
    apps: std::sync::atomic::AtomicUsize,
}

impl qcb_backup::Progress for ExpireTokens {
    fn event(&self, event: &qcb_backup::Event<'_>) {
        if let qcb_backup::Event::AppDone { .. } = event {
            let n = self.apps.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n == self.after_apps {
                self.tenant.expire_tokens();
            }
        }
    }
}

/// The manifest without what differs from run to run (snapshot, times, API use, status).
fn stable(m: &qcb_backup::Manifest, leave_out: &[String]) -> serde_json::Value {
    let mut v = serde_json::to_value(m).expect("json");
    for f in [
        "snapshot",
        "started_at",
        "finished_at",
        "api",
        "status",
        "counts",
    ] {
        v.as_object_mut().expect("object").remove(f);
    }
    if let Some(items) = v["items"].as_array_mut() {
        items.retain(|i| !leave_out.iter().any(|id| i["id"] == id.as_str()));
        items.sort_by_key(|i| format!("{}/{}", i["kind"], i["id"]));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_faults_on_exactly_the_failing_exports_fail_and_nothing_else_differs() {
    let scale = 30.0;
    let config = EmulatorConfig {
        profile: Profile::Demo,
        time_scale: scale,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let c = fast_bot(&e, scale);
    let clean_repo = repo(&tmp.path().join("clean"));
    let clean = backup(&c, clean_repo.clone(), &BackupOptions::default())
        .await
        .expect("fault-free backup");
    assert_eq!(clean.manifest.status, RunStatus::Success);

    // Three named apps whose export fails: their content is gone, as for a damaged app file,
    // so Qlik answers their export with an error while their attributes still read.
    let named: Vec<String> = e.tenant().ids("apps").into_iter().skip(3).take(3).collect();
    {
        let mut state = e.tenant().write();
        for id in &named {
            state.app_content.remove(id);
        }
    }
    let faulty_repo = repo(&tmp.path().join("faulty"));
    // The storm starts now and lasts 60 emulated seconds (2 s here).
    e.tenant().set_faults(qcb_emulator::Faults {
        error_rate: 0.03,
        drop_rate: 0.3,
        throttle_storm_secs: 60,
        ..qcb_emulator::Faults::default()
    });
    // Tokens expire before the run and again once ten apps are done.
    e.tenant().expire_tokens();
    let expiry = Arc::new(ExpireTokens {
        tenant: e.tenant().clone(),
        after_apps: 10,
        apps: std::sync::atomic::AtomicUsize::new(0),
    });
    let opts = BackupOptions {
        progress: qcb_backup::ProgressSink::new(expiry.clone()),
        ..BackupOptions::default()
    };
    let tokens_before = c.token_requests();
    let faulty = backup(&c, faulty_repo.clone(), &opts)
        .await
        .expect("backup with faults");
    assert!(
        c.token_requests() >= tokens_before + 2,
        "the client signed in again after each expiry"
    );
    let counters = e.tenant().counters();
    assert!(
        counters.injected_errors > 0 && counters.dropped_connections > 0 && counters.throttled > 0,
        "faults happened: {counters:?}"
    );
    let m = &faulty.manifest;
    assert_eq!(m.status, RunStatus::Partial, "{}", m.summary());
    let failed: std::collections::BTreeSet<&str> = m
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Failed)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(
        failed,
        named.iter().map(String::as_str).collect(),
        "{}",
        m.summary()
    );
    assert_eq!(
        stable(m, &named),
        stable(&clean.manifest, &named),
        "the manifests agree but for the failed apps"
    );

    // The trees: the same files with the same bytes, but for the failed apps' export and
    // script, and the manifest.
    let dump = |repo: &Repo, snap: &qcb_repo::SnapshotInfo, to: &str| {
        let out = tmp.path().join(to);
        tokio::task::block_in_place(|| repo.dump(snap, &out)).expect("dump");
        walk(&out)
            .into_iter()
            .map(|p| {
                let rel = p.strip_prefix(&out).expect("inside").display().to_string();
                let bytes = std::fs::read(&p).expect("read");
                (rel, bytes)
            })
            .filter(|(rel, _)| rel != "manifest.json")
            .collect::<std::collections::BTreeMap<String, Vec<u8>>>()
    };
    let mut a = dump(&clean_repo, clean.snapshot.as_ref().expect("snapshot"), "a");
    let b = dump(
        &faulty_repo,
        faulty.snapshot.as_ref().expect("snapshot"),
        "b",
    );
    for id in &named {
        for f in ["app.qvf", "script.qvs"] {
            assert!(a.remove(&format!("apps/{id}/{f}")).is_some());
        }
    }
    let differ: Vec<&String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
    assert!(differ.is_empty(), "files that differ: {differ:?}");
    let _ = e.stop().await;
}

/// Items that cost a request each beyond their list (a full automation, a theme's zip) are
/// taken from the parent snapshot while their list entry's modification stamp is unchanged,
/// and fetched again once it changes; `--full` fetches everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_items_are_taken_from_the_parent_without_fetching_them() {
    let e = demo_tenant().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = bot(&e);
    let calls = |op: &str| served(&e, op);
    let one_automation = "GET /api/workflows/automations/{id}";
    let theme_file = "GET /api/v1/themes/{id}/file";

    let first = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let automations = first.manifest.counts["automations"].total;
    assert!(automations > 0 && calls(one_automation) == automations);

    e.tenant().reset_counters();
    let second = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    assert_eq!(calls(one_automation), 0, "no automation fetched again");
    assert_eq!(calls(theme_file), 0, "no theme file downloaded again");
    assert_eq!(second.manifest.counts["automations"].unchanged, automations);
    assert_eq!(second.manifest.counts["automations"].total, automations);
    // The snapshot still holds them, byte for byte.
    let read = |snap: &qcb_repo::SnapshotInfo, path: &str| {
        let mut out = Vec::new();
        tokio::task::block_in_place(|| repo.cat(snap, path, &mut out)).expect("cat");
        out
    };
    let (s1, s2) = (
        first.snapshot.clone().expect("snapshot"),
        second.snapshot.clone().expect("snapshot"),
    );
    for item in first
        .manifest
        .items
        .iter()
        .filter(|i| i.kind == "automations" || i.kind == "themes")
    {
        assert_eq!(
            read(&s1, &item.path),
            read(&s2, &item.path),
            "{}",
            item.path
        );
    }
    for item in first.manifest.items.iter().filter(|i| i.kind == "themes") {
        let zip = format!("themes/{}.zip", item.id);
        assert_eq!(read(&s1, &zip), read(&s2, &zip), "{zip}");
    }
    // Secrets found in them are still reported.
    let redacted = |m: &qcb_backup::Manifest| -> usize {
        m.items
            .iter()
            .filter(|i| i.kind == "automations")
            .map(|i| i.redacted.len() + i.findings.len())
            .sum()
    };
    assert_eq!(redacted(&first.manifest), redacted(&second.manifest));

    // One automation changes: exactly that one is fetched again.
    let changed = e.tenant().ids("automations")[0].clone();
    e.tenant().touch("automations", &changed).expect("touch");
    e.tenant().reset_counters();
    let third = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    assert_eq!(calls(one_automation), 1);
    let item = third
        .manifest
        .items
        .iter()
        .find(|i| i.kind == "automations" && i.id == changed)
        .expect("item");
    assert_eq!(item.status, ItemStatus::BackedUp);

    // `--full` fetches everything again.
    e.tenant().reset_counters();
    let opts = BackupOptions {
        full: true,
        ..BackupOptions::default()
    };
    backup(&c, repo.clone(), &opts).await.expect("backup");
    assert_eq!(calls(one_automation), automations);
}

/// Stops after this many apps are done.
struct StopAfter {
    apps: std::sync::atomic::AtomicUsize,
    stop: tokio::sync::Notify,
}

impl qcb_backup::Progress for StopAfter {
    fn event(&self, event: &qcb_backup::Event<'_>) {
        if let qcb_backup::Event::AppDone { .. } = event {
            if self.apps.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                self.stop.notify_one();
            }
        }
    }
}

/// The snapshot is written while apps export; a run stopped half-way (Ctrl-C, a shutdown)
/// must still leave no snapshot behind, and the next run must succeed on the same repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_half_way_leaves_no_snapshot_and_the_next_succeeds() {
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
    let stop = Arc::new(StopAfter {
        apps: std::sync::atomic::AtomicUsize::new(5),
        stop: tokio::sync::Notify::new(),
    });
    let opts = BackupOptions {
        progress: qcb_backup::ProgressSink::new(stop.clone()),
        ..BackupOptions::default()
    };
    tokio::select! {
        out = backup(&c, repo.clone(), &opts) => panic!("the run ended before it was stopped: {:?}", out.map(|o| o.manifest.status)),
        _ = stop.stop.notified() => {}
    }
    // The writer had the first apps when the run was dropped; dropping it gave it up.
    let snaps = tokio::task::block_in_place(|| repo.snapshots()).expect("snapshots");
    assert!(snaps.is_empty(), "a stopped run left {snaps:?}");
    let locks = tokio::task::block_in_place(|| repo.locks()).expect("locks");
    assert!(locks.is_empty(), "a stopped run left its lock: {locks:?}");

    let done = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    assert_eq!(done.manifest.status, RunStatus::Success);
    let snaps = tokio::task::block_in_place(|| repo.snapshots()).expect("snapshots");
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].status(), Some("success"));
    let check = tokio::task::block_in_place(|| repo.check(false)).expect("check");
    assert!(check.is_ok(), "{:?}", check.problems);
    let _ = e.stop().await;
}

/// A space's assignments and shares have no stamp; an incremental run reads them only for the
/// spaces the audit log names (and for those whose copied access names a user, group or app
/// that is gone), and reads every space when the audit log cannot be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn space_access_is_read_again_only_where_the_audit_log_names_a_change() {
    use qcb_qlik::{Method, Request};
    let e = demo_tenant().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = bot(&e);
    let calls = |op: &str| served(&e, op);
    let assignments = "GET /api/v1/spaces/{spaceId}/assignments";
    let shares = "GET /api/v1/spaces/{spaceId}/shares";
    let space_doc = |snap: &qcb_repo::SnapshotInfo, id: &str| -> serde_json::Value {
        let mut out = Vec::new();
        tokio::task::block_in_place(|| repo.cat(snap, &format!("spaces/{id}.json"), &mut out))
            .expect("cat");
        serde_json::from_slice(&out).expect("json")
    };
    let status_of = |m: &qcb_backup::Manifest, id: &str| {
        m.items
            .iter()
            .find(|i| i.kind == "spaces" && i.id == id)
            .map(|i| i.status)
            .expect("space item")
    };

    let first = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let spaces = first.manifest.counts["spaces"].total;
    assert!(spaces >= 3, "the demo tenant has spaces");
    assert_eq!(calls(assignments), spaces);

    // Nothing changed: no space's access is read, every space is in the snapshot as before.
    e.tenant().reset_counters();
    let second = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    assert_eq!(second.manifest.status, RunStatus::Success);
    assert_eq!((calls(assignments), calls(shares)), (0, 0));
    // The tenant is read once: for its ID, and as the `tenant` kind's document.
    assert_eq!(calls("GET /api/v1/tenants/me"), 1);
    // One page of every event in the window tells it all: the first run's exports are on it
    // (the log records the tenant's actions), and so is every spaces event.
    assert_eq!(
        (
            calls("GET /api/v1/audits/types"),
            calls("GET /api/v1/audits")
        ),
        (1, 1)
    );
    let tags_of =
        |o: &qcb_backup::BackupOutcome| o.snapshot.as_ref().expect("snapshot").tags.clone();
    assert!(tags_of(&first).contains(&qcb_backup::EXPORTS_TAG.to_string()));
    assert!(tags_of(&second).contains(&qcb_backup::AUDITED_TAG.to_string()));
    assert_eq!(second.manifest.counts["spaces"].unchanged, spaces);
    // The run that read every space says so in its tags (at least weekly, one must).
    let tagged = |o: &qcb_backup::BackupOutcome| {
        o.snapshot
            .as_ref()
            .expect("snapshot")
            .tags
            .iter()
            .any(|t| t == qcb_backup::ACCESS_TAG)
    };
    assert!(tagged(&first) && !tagged(&second));
    let (s1, s2) = (
        first.snapshot.clone().expect("snapshot"),
        second.snapshot.clone().expect("snapshot"),
    );
    for item in first.manifest.items.iter().filter(|i| i.kind == "spaces") {
        assert_eq!(
            space_doc(&s1, &item.id),
            space_doc(&s2, &item.id),
            "{}",
            item.id
        );
    }

    // A user gets a role in one space through the API: that space alone is read again, and
    // the new snapshot holds the assignment.
    let doc1 = |id: &str| space_doc(&s1, id);
    let ids: Vec<String> = first
        .manifest
        .items
        .iter()
        .filter(|i| i.kind == "spaces")
        .map(|i| i.id.clone())
        .collect();
    let users = e.tenant().ids("users");
    let (space, newcomer) = ids
        .iter()
        .find_map(|s| {
            let held: Vec<String> = doc1(s)["assignments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["assigneeId"].as_str().map(str::to_string))
                .collect();
            let owner = doc1(s)["ownerId"].as_str().unwrap_or_default().to_string();
            (doc1(s)["type"] != "personal")
                .then(|| users.iter().find(|u| !held.contains(u) && **u != owner))
                .flatten()
                .map(|u| (s.clone(), u.clone()))
        })
        .expect("a space and a user without a role in it");
    let body = serde_json::json!({"type": "user", "assigneeId": newcomer, "roles": ["consumer"]});
    c.call_json(
        &Request::new(Method::POST, format!("/api/v1/spaces/{space}/assignments")).json(&body),
    )
    .await
    .expect("assign");
    // A busy window (more events than a page holds): the spaces events are asked for by their
    // source (the emulator logs them as `com.qlik/spaces`).
    let created = c
        .list_all(
            &format!("/api/v1/spaces/{space}/assignments"),
            &format!("assigneeId={newcomer}"),
            "data",
        )
        .await
        .expect("assignments")
        .first()
        .and_then(|a| a["id"].as_str().map(str::to_string))
        .expect("the new assignment");
    for roles in [["consumer"], ["producer"]].iter().cycle().take(100) {
        c.call_json(
            &Request::new(
                Method::PUT,
                format!("/api/v1/spaces/{space}/assignments/{created}"),
            )
            .json(&serde_json::json!({"roles": roles})),
        )
        .await
        .expect("update the assignment");
    }
    e.tenant().reset_counters();
    let third = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    assert_eq!(calls("GET /api/v1/audits/sources"), 1, "asked by source");
    assert!(
        calls("GET /api/v1/audits") > 2,
        "the window's first page, then the source's"
    );
    assert_eq!((calls(assignments), calls(shares)), (1, 1));
    assert_eq!(status_of(&third.manifest, &space), ItemStatus::BackedUp);
    let s3 = third.snapshot.clone().expect("snapshot");
    assert!(space_doc(&s3, &space)["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .any(|a| a["assigneeId"] == newcomer.as_str()));

    // A user assigned in another space is deleted (an event of the users service, not of the
    // spaces service): the space whose copied assignments name them is read again.
    let (other, gone) = ids
        .iter()
        .filter(|s| **s != space)
        .find_map(|s| {
            doc1(s)["assignments"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["type"] == "user")
                .and_then(|a| a["assigneeId"].as_str())
                .map(|u| (s.clone(), u.to_string()))
        })
        .expect("another space with a user assigned");
    c.call_json(&Request::new(
        Method::DELETE,
        format!("/api/v1/users/{gone}"),
    ))
    .await
    .expect("delete user");
    e.tenant().reset_counters();
    let fourth = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    assert!(calls(assignments) >= 1);
    assert_eq!(status_of(&fourth.manifest, &other), ItemStatus::BackedUp);

    // The audit log out of reach: every space is read.
    let mut faults = e.tenant().faults();
    faults.error_rate = 1.0;
    faults.error_path_prefix = "/api/v1/audits".into();
    e.tenant().set_faults(faults);
    e.tenant().reset_counters();
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    let impatient = TenantClient::new(
        TenantUrl::parse(&e.url()).expect("url"),
        Credentials::OAuthClient {
            client_id: id,
            client_secret: SecretString::from(secret),
            scope: None,
        },
        ClientOptions {
            max_retries: 1,
            min_backoff: std::time::Duration::from_millis(10),
            max_backoff: std::time::Duration::from_millis(10),
            ..ClientOptions::default()
        },
    )
    .expect("client");
    let fifth = backup(&impatient, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    assert_eq!(calls(assignments), spaces);
    assert_eq!(fifth.manifest.counts["spaces"].unchanged, 0);
    assert!(tagged(&fifth));
}

/// A collection's members are taken from the apps' listing (`collectionIds`) when they are as
/// many as its `itemCount`; the snapshot holds what the collection's own endpoint answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_members_come_from_the_app_listing_when_it_accounts_for_all() {
    use qcb_qlik::{Method, Request};
    let e = demo_tenant().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = bot(&e);
    let member_reads = || served(&e, "GET /api/v1/collections/{collectionId}/items");
    let stored = |snap: &qcb_repo::SnapshotInfo, id: &str| -> Vec<String> {
        let mut out = Vec::new();
        tokio::task::block_in_place(|| repo.cat(snap, &format!("collections/{id}.json"), &mut out))
            .expect("cat");
        let doc: serde_json::Value = serde_json::from_slice(&out).expect("json");
        let mut ids: Vec<String> = doc["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    let asked = |id: String| {
        let c = &c;
        async move {
            let mut ids: Vec<String> = c
                .list_all(
                    &format!("/api/v1/collections/{id}/items"),
                    "limit=100",
                    "data",
                )
                .await
                .expect("members")
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect();
            ids.sort();
            ids
        }
    };

    let first = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let collections: Vec<String> = first
        .manifest
        .items
        .iter()
        .filter(|i| i.kind == "collections")
        .map(|i| i.id.clone())
        .collect();
    assert!(collections.len() >= 2, "the demo tenant has collections");
    assert!(
        member_reads() < collections.len() as u64,
        "some collections' members came from the listing"
    );
    let s1 = first.snapshot.clone().expect("snapshot");
    for id in &collections {
        assert_eq!(stored(&s1, id), asked(id.clone()).await, "collection {id}");
    }

    // An app joins a collection: the next snapshot holds it, from the listing again.
    let target = collections[0].clone();
    let held = stored(&s1, &target);
    let newcomer = c
        .list_all("/api/v1/items", "resourceType=app&limit=100", "data")
        .await
        .expect("items")
        .into_iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .find(|i| !held.contains(i))
        .expect("an app item outside the collection");
    c.call_json(
        &Request::new(Method::POST, format!("/api/v1/collections/{target}/items"))
            .json(&serde_json::json!({"id": newcomer})),
    )
    .await
    .expect("add to collection");
    e.tenant().reset_counters();
    let second = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let s2 = second.snapshot.clone().expect("snapshot");
    assert!(stored(&s2, &target).contains(&newcomer));
    for id in &collections {
        assert_eq!(stored(&s2, id), asked(id.clone()).await, "collection {id}");
    }
}

/// A data alert's list entry carries its condition (`conditionResponse`): the snapshot holds
/// it as `GET /data-alerts/{id}/condition` answers it, without asking, and a condition changed
/// in place shows in the next snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_conditions_come_from_the_alert_list() {
    use qcb_qlik::{Method, Request};
    let e = demo_tenant().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = bot(&e);
    let asked = || served(&e, "GET /api/v1/data-alerts/{alertId}/condition");
    let stored = |snap: &qcb_repo::SnapshotInfo, id: &str| -> serde_json::Value {
        let mut out = Vec::new();
        tokio::task::block_in_place(|| repo.cat(snap, &format!("data-alerts/{id}.json"), &mut out))
            .expect("cat");
        serde_json::from_slice::<serde_json::Value>(&out).expect("json")["condition"].clone()
    };
    let first = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let alerts: Vec<String> = first
        .manifest
        .items
        .iter()
        .filter(|i| i.kind == "data-alerts")
        .map(|i| i.id.clone())
        .collect();
    assert!(!alerts.is_empty(), "the demo tenant has data alerts");
    assert_eq!(asked(), 0);
    let s1 = first.snapshot.clone().expect("snapshot");
    for id in &alerts {
        let (_, answer) = c
            .call_json(&Request::get(format!("/api/v1/data-alerts/{id}/condition")))
            .await
            .expect("condition");
        assert_eq!(stored(&s1, id), answer, "alert {id}");
    }

    // A condition changed in place (PATCH /conditions/{id}) shows in the next snapshot.
    let alert = &alerts[0];
    let (_, answer) = c
        .call_json(&Request::get(format!(
            "/api/v1/data-alerts/{alert}/condition"
        )))
        .await
        .expect("condition");
    let cond_id = qcb_backup::collect::condition_id(&answer)
        .expect("condition id")
        .to_string();
    let base = if answer.pointer("/conditionResponse/dataCondition").is_some() {
        "/dataCondition/conditionBase/description"
    } else {
        "/compoundCondition/conditionBase/description"
    };
    let patch = serde_json::json!([{"op": "add", "path": base, "value": "changed by the test"}]);
    c.call_json(&Request::new(Method::PATCH, format!("/api/v1/conditions/{cond_id}")).json(&patch))
        .await
        .expect("patch the condition");
    let second = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let s2 = second.snapshot.clone().expect("snapshot");
    let (_, now) = c
        .call_json(&Request::get(format!(
            "/api/v1/data-alerts/{alert}/condition"
        )))
        .await
        .expect("condition");
    assert_ne!(now, answer, "the patch changed the condition");
    assert_eq!(stored(&s2, alert), now);
}

/// A log that does not record what happens in the tenant is never taken to say "no change":
/// neither one that records nothing at all, nor one that stopped after the parent run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_audit_log_is_not_taken_to_say_nothing_changed() {
    use qcb_qlik::{Method, Request};
    let assignments = "GET /api/v1/spaces/{spaceId}/assignments";
    for silent_from_the_start in [true, false] {
        let e = demo_tenant().await;
        let silence = || {
            let mut f = e.tenant().faults();
            f.audit_silent = true;
            e.tenant().set_faults(f);
        };
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = repo(tmp.path());
        let c = bot(&e);
        if silent_from_the_start {
            silence();
        }
        let first = backup(&c, repo.clone(), &BackupOptions::default())
            .await
            .expect("backup");
        if !silent_from_the_start {
            silence();
            // The next run exports this app, which the log no longer records.
            let app = e.tenant().ids("apps")[3].clone();
            e.tenant().touch("apps", &app).expect("touch");
        }
        // A role given in a shared space, which the silent log does not record.
        let space = e
            .tenant()
            .read()
            .values("spaces")
            .find(|s| s["type"] == "shared")
            .and_then(|s| s["id"].as_str().map(str::to_string))
            .expect("a shared space");
        let held: Vec<String> = e
            .tenant()
            .read()
            .values("space-assignments")
            .filter(|a| a["spaceId"] == space.as_str())
            .filter_map(|a| a["assigneeId"].as_str().map(str::to_string))
            .collect();
        let newcomer = e
            .tenant()
            .ids("users")
            .into_iter()
            .rev()
            .find(|u| !held.contains(u))
            .expect("a user without a role there");
        let body =
            serde_json::json!({"type": "user", "assigneeId": newcomer, "roles": ["consumer"]});
        c.call_json(
            &Request::new(Method::POST, format!("/api/v1/spaces/{space}/assignments")).json(&body),
        )
        .await
        .expect("assign");
        e.tenant().reset_counters();
        let second = backup(&c, repo.clone(), &BackupOptions::default())
            .await
            .expect("backup");
        let snap = second.snapshot.clone().expect("snapshot");
        let mut out = Vec::new();
        tokio::task::block_in_place(|| repo.cat(&snap, &format!("spaces/{space}.json"), &mut out))
            .expect("cat");
        let doc: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert!(
            doc["assignments"]
                .as_array()
                .expect("assignments")
                .iter()
                .any(|a| a["assigneeId"] == newcomer.as_str()),
            "silent from the start: {silent_from_the_start}: the new role is in the snapshot"
        );
        let read = served(&e, assignments);
        // Every space: once when the log is not trusted; the second way, read from the parent
        // first, then every copied space again.
        assert!(
            read >= first.manifest.counts["spaces"].total,
            "every space read ({read})"
        );
        assert!(!snap.tags.contains(&qcb_backup::AUDITED_TAG.to_string()));
        assert!(snap.tags.contains(&qcb_backup::ACCESS_TAG.to_string()));
    }
}

/// Deletes apps from the tenant once the run has listed them (the first page that names
/// them: their exports start as it comes in), as a user might during a long run.
struct DeleteAppsOnceListed {
    tenant: Arc<qcb_emulator::Tenant>,
    apps: Vec<String>,
    done: std::sync::Once,
}

impl qcb_backup::Progress for DeleteAppsOnceListed {
    fn event(&self, event: &qcb_backup::Event<'_>) {
        if let qcb_backup::Event::AppsListing { .. } = event {
            self.done.call_once(|| {
                for id in &self.apps {
                    self.tenant.delete_resource("apps", id).expect("delete");
                }
            });
        }
    }
}

/// `kind` `id`, deleted while the run went on: in the manifest as skipped with a note, with
/// no error and no file, and nothing of it in the snapshot.
fn assert_deleted_meanwhile(
    m: &qcb_backup::Manifest,
    stored: &std::collections::BTreeSet<String>,
    kind: &str,
    id: &str,
) {
    let item = m
        .items
        .iter()
        .find(|i| i.kind == kind && i.id == id)
        .expect("noted");
    assert_eq!(item.status, ItemStatus::Skipped, "{item:?}");
    assert!(item.notes[0].contains("deleted from the tenant during the run"));
    assert!(item.files.is_empty() && item.error.is_none(), "{item:?}");
    assert!(
        !stored.iter().any(|p| p.contains(id)),
        "{kind} {id} in the snapshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_deleted_during_the_run_are_noted_not_failed_and_a_listed_app_that_404s_fails() {
    let e = demo_tenant().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = bot(&e);
    let mut ids = e.tenant().ids("apps");
    ids.sort();
    let deleted = vec![ids[0].clone(), ids[5].clone()];
    let opts = BackupOptions {
        progress: qcb_backup::ProgressSink::new(Arc::new(DeleteAppsOnceListed {
            tenant: e.tenant().clone(),
            apps: deleted.clone(),
            done: std::sync::Once::new(),
        })),
        ..BackupOptions::default()
    };
    let out = backup(&c, repo.clone(), &opts).await.expect("backup");
    let m = &out.manifest;
    // Gone is not failed: the run succeeds, and says what went.
    assert_eq!(m.status, RunStatus::Success, "{}", m.summary());
    assert!(m
        .summary()
        .contains("deleted from the tenant during the run"));
    // Counted as what the tenant now holds.
    let apps = m.counts.get("apps").expect("apps");
    assert_eq!(
        apps.total as usize,
        e.tenant().ids("apps").len(),
        "{apps:?}"
    );
    assert_eq!(apps.total, apps.backed_up, "{apps:?}");
    let stored = paths(&repo, &out.snapshot.expect("snapshot"));
    for id in &deleted {
        assert_deleted_meanwhile(m, &stored, "apps", id);
    }
    assert!(stored.contains(&format!("apps/{}/app.qvf", ids[1])));

    // An app whose item is still listed but which answers 404 (the app service and the
    // items index disagree) is not taken for deleted: it fails, with Qlik's answer.
    let broken = ids[2].clone();
    e.tenant().write().remove("apps", &broken);
    let full = BackupOptions {
        full: true,
        ..BackupOptions::default()
    };
    let out = backup(&c, repo.clone(), &full).await.expect("backup");
    let m = &out.manifest;
    assert_eq!(m.status, RunStatus::Partial, "{}", m.summary());
    let item = m.items.iter().find(|i| i.id == broken).expect("listed");
    assert_eq!(item.status, ItemStatus::Failed, "{item:?}");
    assert!(
        item.error.as_deref().unwrap_or("").contains("404"),
        "{item:?}"
    );
    assert!(!m.items.iter().any(|i| i.status == ItemStatus::Skipped));
    let _ = e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_items_deleted_during_the_run_are_noted_not_failed() {
    let e = demo_tenant().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = bot(&e);
    // A space (its assignments and shares are read after the list) and an automation (read
    // one by one after the list) go right after the run has listed them.
    let space = e.tenant().ids("spaces")[0].clone();
    let automation = e.tenant().ids("automations")[0].clone();
    e.tenant().set_faults(qcb_emulator::Faults {
        delete_once_listed: vec![space.clone(), automation.clone()],
        ..qcb_emulator::Faults::default()
    });
    let out = backup(&c, repo.clone(), &BackupOptions::default())
        .await
        .expect("backup");
    let m = &out.manifest;
    assert!(
        e.tenant().faults().delete_once_listed.is_empty(),
        "both were listed, then deleted"
    );
    assert_eq!(m.status, RunStatus::Success, "{}", m.summary());
    let stored = paths(&repo, &out.snapshot.expect("snapshot"));
    assert_deleted_meanwhile(m, &stored, "spaces", &space);
    assert_deleted_meanwhile(m, &stored, "automations", &automation);
    // The other spaces are all there, counted as what the tenant now holds.
    let spaces = m.counts.get("spaces").expect("spaces");
    assert_eq!(
        spaces.total as usize,
        e.tenant().ids("spaces").len(),
        "{spaces:?}"
    );
    assert_eq!(spaces.backed_up, spaces.total, "{spaces:?}");
    let _ = e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_starts_its_exports_from_the_parent_run_s_readiness_wait() {
    // Exports that take 6 s of the tenant's time (100 ms here): long beside the delays of a
    // machine busy with the other tests, so the first run's looks find them running and learn
    // how long they take (ready at a first look, they would teach nothing).
    let e = start(EmulatorConfig {
        export_latency: std::time::Duration::from_secs(6),
        ..demo_config()
    })
    .await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    const FILE: &str = "GET /api/v1/temp-contents/{id}";
    const EXPORT: &str = "POST /api/v1/apps/{appId}/export";
    let first = backup(&bot(&e), repo.clone(), &BackupOptions::default())
        .await
        .expect("first backup");
    assert!(first.manifest.api.export_ready_ms.is_some());
    let (files, exports) = (served(&e, FILE), served(&e, EXPORT));
    // A new process (a new client), exporting every app: it takes nothing from the parent but
    // how long exports took, so its first wave (every app here) does not poll from scratch.
    let full = BackupOptions {
        full: true,
        ..BackupOptions::default()
    };
    let out = backup(&bot(&e), repo.clone(), &full)
        .await
        .expect("full backup");
    assert_eq!(out.manifest.status, RunStatus::Success);
    let (files, exports) = (served(&e, FILE) - files, served(&e, EXPORT) - exports);
    assert_eq!(exports as usize, e.tenant().ids("apps").len());
    assert!(
        files <= exports + exports / 4,
        "{files} requests for the files of {exports} exports"
    );
    let _ = e.stop().await;
}

/// Distinct owners (`ownerId`) of the emulated tenant's items of `kinds`.
fn owners_of(e: &Emulator, kinds: &[&str]) -> std::collections::BTreeSet<String> {
    let state = e.tenant().read();
    kinds
        .iter()
        .flat_map(|k| state.values(k))
        .filter_map(|a| a["ownerId"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_only_automations_are_read_as_their_owners_or_say_what_reaches_them() {
    let e = demo_tenant().await;
    let (bot_id, _) = e.tenant().credentials().admin_bot.expect("bot");
    // As the spec says of an automation, "the requesting user must be the owner": here no scope
    // lifts that, so the bot, a tenant admin that owns none of them, lists them but reads none.
    let set_bot = |scopes_too: bool, impersonation: bool| {
        let mut st = e.tenant().write();
        let c = st.m2m_clients.get_mut(&bot_id).expect("the bot");
        if scopes_too {
            c.scopes.retain(|s| !s.starts_with("admin.automations"));
        }
        c.impersonation = impersonation;
    };
    set_bot(true, true);
    let kinds = ["automations", "automation-connections"];
    let opts = BackupOptions {
        only: kinds.iter().map(|k| k.to_string()).collect(),
        ..BackupOptions::default()
    };
    let owners = owners_of(&e, &kinds).len();
    let held: usize = kinds
        .iter()
        .map(|k| e.tenant().read().values(k).count())
        .sum();
    assert!(
        owners >= 2 && held > owners,
        "{owners} owners of {held} items"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());

    // Owners whose account is disabled: nobody can act as them.
    let disabled: std::collections::BTreeSet<String> = e
        .tenant()
        .read()
        .values("users")
        .filter(|u| u["status"] == "disabled")
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    let owner_of = |kind: &str, id: &str| {
        e.tenant()
            .read()
            .values(kind)
            .find(|a| a["id"] == id)
            .and_then(|a| a["ownerId"].as_str().map(str::to_string))
            .unwrap_or_default()
    };

    // An OAuth client that may impersonate reads each as its owner: one token per owner, and
    // the manifest says how each was read. An item of a disabled owner fails and
    // says why and what to do.
    e.tenant().reset_counters();
    let out = backup(&bot(&e), repo.clone(), &opts).await.expect("backup");
    let m = &out.manifest;
    let items: Vec<_> = m
        .items
        .iter()
        .filter(|i| kinds.contains(&i.kind.as_str()))
        .collect();
    assert_eq!(items.len(), held);
    let mut of_disabled = 0;
    for i in &items {
        if disabled.contains(&owner_of(&i.kind, &i.id)) {
            of_disabled += 1;
            assert_eq!(i.status, ItemStatus::Failed, "{}", i.id);
            let err = i.error.as_deref().unwrap_or_default();
            assert!(
                err.contains("read as its owner") && err.contains("enable them"),
                "{err}"
            );
            continue;
        }
        assert_eq!(i.status, ItemStatus::BackedUp, "{}: {:?}", i.id, i.error);
        assert!(
            i.notes.iter().any(|n| n.contains("read as its owner")),
            "{}: {:?}",
            i.id,
            i.notes
        );
    }
    assert!(
        of_disabled < held / 2,
        "{of_disabled} of {held} have a disabled owner"
    );
    let expected = if of_disabled > 0 {
        RunStatus::Partial
    } else {
        RunStatus::Success
    };
    assert_eq!(m.status, expected, "{}", m.summary());
    // A disabled owner's token is refused, and so are the three fresh ones the client asks for
    // before it takes the 401 for an answer; their other items are not tried again.
    let disabled_owners = owners_of(&e, &kinds).intersection(&disabled).count();
    assert_eq!(
        served(&e, "POST /oauth/token"),
        1 + (owners + 3 * disabled_owners) as u64
    );
    // The owners' requests count in the run's totals: all the tenant served but the tokens,
    // and the redirect `/tenants/me` answers, which the client follows as one request.
    let t = e.tenant().counters();
    assert_eq!(
        m.api.requests,
        t.requests - served(&e, "POST /oauth/token") - served(&e, "GET /api/v1/tenants/{tenantId}"),
        "{:?}",
        t.per_operation
    );
    let snap = out.snapshot.expect("snapshot");
    let automation = items
        .iter()
        .find(|i| i.kind == "automations" && i.status == ItemStatus::BackedUp)
        .expect("one");
    let mut doc = Vec::new();
    tokio::task::block_in_place(|| repo.cat(&snap, &automation.path, &mut doc)).expect("cat");
    let doc: serde_json::Value = serde_json::from_slice(&doc).expect("json");
    assert!(doc.get("workspace").is_some(), "the full definition: {doc}");

    // The next run takes them from this snapshot (their list entries' stamps are the same):
    // nobody is acted as.
    e.tenant().reset_counters();
    let out = backup(&bot(&e), repo.clone(), &opts).await.expect("backup");
    let unchanged = out
        .manifest
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Unchanged)
        .count();
    assert_eq!(unchanged, held - of_disabled, "{}", out.manifest.summary());
    assert_eq!(
        served(&e, "POST /oauth/token"),
        1 + 4 * of_disabled as u64,
        "only the bot's token, and the disabled owner's tries again"
    );

    // An API key cannot act as anyone else: each fails, saying what would reach it.
    let key = client(
        &e,
        Credentials::ApiKey(SecretString::from(e.admin_api_key().to_string())),
    );
    let me = key.get_json("/api/v1/users/me", "").await.expect("me");
    let me = me["id"].as_str().expect("an ID").to_string();
    let own: usize = kinds
        .iter()
        .map(|k| {
            e.tenant()
                .read()
                .values(k)
                .filter(|a| a["ownerId"] == me.as_str())
                .count()
        })
        .sum();
    let m = partial_run(&key, &opts).await;
    let failed = failed_items(&m);
    assert_eq!(failed.len(), held - own, "the key's own items are read");
    for i in failed {
        let err = i.error.as_deref().unwrap_or_default();
        assert!(
            err.contains("only its owner") && err.contains("impersonate users"),
            "{}: {err}",
            i.id
        );
    }

    // A client the tenant does not let impersonate: asked once per owner, then each item says
    // why.
    set_bot(false, false);
    e.tenant().reset_counters();
    let m = partial_run(&bot(&e), &opts).await;
    let failed = failed_items(&m);
    assert_eq!(failed.len(), held);
    for i in failed {
        let err = i.error.as_deref().unwrap_or_default();
        assert!(
            err.contains("allow the OAuth client user impersonation"),
            "{}: {err}",
            i.id
        );
    }
    assert_eq!(served(&e, "POST /oauth/token"), 1 + owners as u64);
    let _ = e.stop().await;
}
