//! Bad input stops a restore with a clear error before the first write to the target: a
//! snapshot from a newer qcb, a corrupt document, a repository that lost a pack file, a map
//! file naming users that exist on neither side, an unknown kind, a selection of nothing.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use qcb_backup::{backup, BackupOptions};
use qcb_emulator::{Emulator, Profile};
use qcb_qlik::TenantClient;
use qcb_repo::{Repo, SnapshotInfo};
use qcb_restore::{execute, prepare, ApplyOptions, RestoreError, Secrets, Selection, TenantMap};
use support::*;

const SCALE: f64 = 60.0;

/// A demo tenant backed up (only these kinds, or all when empty) and an empty target.
struct Setup {
    _a: Emulator,
    b: Emulator,
    cb: TenantClient,
    tmp: tempfile::TempDir,
    repo: Arc<Repo>,
    snap: SnapshotInfo,
}

async fn setup(only: &[&str]) -> Setup {
    let a = emulator(Profile::Demo, SCALE).await;
    let b = emulator(Profile::Empty, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let ca = client(&a, SCALE);
    let opts = BackupOptions {
        only: only.iter().map(|s| s.to_string()).collect(),
        ..BackupOptions::default()
    };
    let out = backup(&ca, repo.clone(), &opts).await.expect("backup");
    let snap = out.snapshot.expect("snapshot");
    let cb = client(&b, SCALE);
    b.tenant().reset_counters();
    Setup {
        _a: a,
        b,
        cb,
        tmp,
        repo,
        snap,
    }
}

impl Setup {
    /// The plan of a restore into the target, which must fail.
    async fn plan_error(
        &self,
        snap: &SnapshotInfo,
        sel: &Selection,
        map: &TenantMap,
        file: &str,
    ) -> RestoreError {
        let r = prepare(&self.cb, self.repo.clone(), snap.clone(), sel, map, file).await;
        let err = match r {
            Ok(p) => panic!("the plan should fail:\n{}", p.plan.table()),
            Err(e) => e,
        };
        self.assert_nothing_written();
        err
    }

    fn assert_nothing_written(&self) {
        assert_eq!(
            writes(&self.b),
            0,
            "no write reaches the target: {:?}",
            write_ops(&self.b)
        );
    }

    /// The snapshot's files, changed by `edit`, written as a new snapshot of the same host.
    fn doctored(&self, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) -> SnapshotInfo {
        let mut files = files_of(&self.repo, &self.snap);
        edit(&mut files);
        write_files(&self.repo, &self.snap.host, files)
    }
}

fn file<'f>(files: &'f mut [(String, Vec<u8>)], path: &str) -> &'f mut Vec<u8> {
    &mut files
        .iter_mut()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{path} is in the snapshot"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_from_a_newer_manifest_schema_asks_to_upgrade_qcb() {
    let s = setup(&["spaces"]).await;
    let newer = s.doctored(|files| {
        let m = file(files, "manifest.json");
        let mut v: serde_json::Value = serde_json::from_slice(m).expect("manifest");
        assert_eq!(v["schema"], "qcb.manifest/v1");
        v["schema"] = "qcb.manifest/v2".into();
        // A newer qcb may also know kinds this one does not.
        v["items"]
            .as_array_mut()
            .expect("items")
            .push(serde_json::json!({"kind": "future-things", "id": "x", "name": "x", "path": "future/x.json", "status": "backed_up", "bytes": 2, "restore": "direct"}));
        *m = serde_json::to_vec_pretty(&v).expect("json");
    });
    let err = s
        .plan_error(&newer, &Selection::default(), &TenantMap::default(), "")
        .await;
    let text = err.to_string();
    assert!(matches!(err, RestoreError::Manifest { .. }), "{err:?}");
    assert!(
        text.contains(&newer.short_id)
            && text.contains("qcb.manifest/v2")
            && text.contains("upgrade qcb"),
        "{text}"
    );
    assert!(
        !err.is_usage(),
        "the snapshot is the problem, not the command"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_document_names_the_file_and_the_repair() {
    let s = setup(&["spaces"]).await;
    let mut broken = String::new();
    let corrupt = s.doctored(|files| {
        let (path, bytes) = files
            .iter_mut()
            .find(|(p, _)| p.starts_with("spaces/") && p.ends_with(".json"))
            .expect("a space document");
        broken = path.clone();
        *bytes = b"{\"id\": \"5f0c\", \"name\": trunc".to_vec();
    });
    let err = s
        .plan_error(&corrupt, &Selection::default(), &TenantMap::default(), "")
        .await;
    let text = err.to_string();
    assert!(
        matches!(err, RestoreError::CorruptDocument { .. }),
        "{err:?}"
    );
    assert!(
        text.contains(&broken)
            && text.contains(&corrupt.short_id)
            && text.contains("not a valid JSON document")
            && text.contains("qcb check --read-data"),
        "{text}"
    );
    // Even a restore that does not select the damaged document refuses the snapshot: it
    // cannot tell what else is damaged.
    let only_users = Selection {
        only: vec!["users".into()],
        ..Selection::default()
    };
    let err = s
        .plan_error(&corrupt, &only_users, &TenantMap::default(), "")
        .await;
    assert!(
        matches!(err, RestoreError::CorruptDocument { .. }),
        "{err:?}"
    );
}

/// Pack files of a local repository, largest first.
fn packs(repo: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(repo.join("data")).expect("data/") {
        let dir = dir.expect("entry").path();
        for f in std::fs::read_dir(&dir).expect("data/xx") {
            let f = f.expect("entry").path();
            let size = std::fs::metadata(&f).expect("size").len();
            out.push((f, size));
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pack_file_stops_the_restore_before_any_write() {
    let s = setup(&[]).await;
    let repo_dir = s.tmp.path().join("repo");
    let all = packs(&repo_dir);
    assert!(all.len() >= 2, "the demo fills several packs: {all:?}");
    // Whichever pack is lost — app exports, documents, the manifest, the trees — the restore
    // stops with an error that names the damage and the repair, and writes nothing.
    let mut problems = Vec::new();
    for (pack, size) in &all {
        let aside = s.tmp.path().join("aside");
        std::fs::rename(pack, &aside).expect("move the pack away");
        s.b.tenant().reset_counters();
        let planned = prepare(
            &s.cb,
            s.repo.clone(),
            s.snap.clone(),
            &Selection::default(),
            &TenantMap::default(),
            "",
        )
        .await;
        let err = match planned {
            Err(e) => e,
            Ok(prepared) => {
                s.assert_nothing_written();
                match execute(
                    &s.cb,
                    s.repo.clone(),
                    prepared,
                    &Secrets::default(),
                    &ApplyOptions::default(),
                    None,
                )
                .await
                {
                    Err(e) => e,
                    Ok(report) => panic!(
                        "a restore from a repository without {} ({size} bytes) should fail before writing:\n{}",
                        pack.display(),
                        report.summary()
                    ),
                }
            }
        };
        s.assert_nothing_written();
        let text = err.to_string();
        let panicked = matches!(err, RestoreError::Join(_));
        if panicked || !(text.contains("damaged") && text.contains("qcb check --read-data")) {
            problems.push(format!("without {} ({size} bytes): {text}", pack.display()));
        }
        std::fs::rename(&aside, pack).expect("put the pack back");
    }
    assert!(
        problems.is_empty(),
        "a lost pack gives an error that names the damage and `qcb check --read-data` (and no panic):\n{}",
        problems.join("\n")
    );
}

/// The plan and, when it succeeds, the restore of everything in `snap`: the error one of
/// them must end with.
async fn restore_error(s: &Setup, snap: &SnapshotInfo) -> Result<RestoreError, String> {
    let planned = prepare(
        &s.cb,
        s.repo.clone(),
        snap.clone(),
        &Selection::default(),
        &TenantMap::default(),
        "",
    )
    .await;
    let prepared = match planned {
        Err(e) => return Ok(e),
        Ok(p) => p,
    };
    s.assert_nothing_written();
    match execute(
        &s.cb,
        s.repo.clone(),
        prepared,
        &Secrets::default(),
        &ApplyOptions::default(),
        None,
    )
    .await
    {
        Err(e) => Ok(e),
        Ok(report) => Err(report.summary()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_blob_of_documents_or_app_exports_names_the_file_and_the_repair() {
    let s = setup(&[]).await;
    let repo_dir = s.tmp.path().join("repo");
    let before = packs(&repo_dir);
    let (data_pack, _) = before.first().cloned().expect("a data pack");
    // Two later snapshots of the same files whose manifest (and, in the second, every JSON
    // document) is stored anew, in packs of their own; the rest is shared with the first
    // snapshot. Then the first snapshot's data pack is lost.
    let docs_lost = s.doctored(|files| {
        let m = file(files, "manifest.json");
        let v: serde_json::Value = serde_json::from_slice(m).expect("manifest");
        *m = serde_json::to_vec(&v).expect("json");
    });
    let exports_lost = s.doctored(|files| {
        for (path, bytes) in files.iter_mut() {
            if path.ends_with(".json") {
                bytes.extend_from_slice(b"\n\n");
            }
        }
    });
    std::fs::remove_file(&data_pack).expect("lose the pack");

    let err = restore_error(&s, &docs_lost)
        .await
        .unwrap_or_else(|summary| panic!("documents are lost, yet:\n{summary}"));
    s.assert_nothing_written();
    let text = err.to_string();
    assert!(matches!(err, RestoreError::MissingData { .. }), "{err:?}");
    assert!(
        text.contains(&docs_lost.short_id)
            && text.contains(".json`")
            && text.contains("damaged")
            && text.contains("qcb check --read-data"),
        "{text}"
    );

    let err = restore_error(&s, &exports_lost)
        .await
        .unwrap_or_else(|summary| panic!("app exports are lost, yet:\n{summary}"));
    s.assert_nothing_written();
    let text = err.to_string();
    assert!(matches!(err, RestoreError::MissingData { .. }), "{err:?}");
    assert!(
        text.contains(&exports_lost.short_id)
            // The first file staged that the lost pack held: an app export, or a brand's,
            // theme's or template's file.
            && [".qvf`", ".zip`", ".bin`", ".logo`", ".favIcon`", ".styles`"]
                .iter()
                .any(|f| text.contains(f))
            && text.contains("damaged")
            && text.contains("qcb check --read-data"),
        "{text}"
    );
}

/// A map file written in the test's folder.
fn map_file(dir: &Path, text: &str) -> (PathBuf, TenantMap) {
    let p = dir.join("map.toml");
    std::fs::write(&p, text).expect("write the map");
    let m = TenantMap::from_file(&p).expect("a valid map file");
    (p, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_naming_unknown_users_is_refused_before_writing() {
    let s = setup(&["users", "groups", "spaces"]).await;
    let data =
        tokio::task::block_in_place(|| qcb_restore::SnapshotData::load(&s.repo, s.snap.clone()))
            .expect("load");
    let old_subject = data
        .entries
        .iter()
        .find(|e| e.kind.name == "users" && !e.str_at("/subject").is_empty())
        .map(|e| e.str_at("/subject").to_string())
        .expect("a user with a subject");
    let admin = state_docs(&s.b, "users")
        .into_iter()
        .map(|u| str_of(&u, "subject").to_string())
        .find(|s| !s.is_empty())
        .expect("the target's admin");

    // A target user that does not exist.
    let (p, m) = map_file(
        s.tmp.path(),
        &format!("[users]\n\"{old_subject}\" = \"auth0|nobody-here\"\n"),
    );
    let shown = p.display().to_string();
    let err = s
        .plan_error(&s.snap, &Selection::default(), &m, &shown)
        .await;
    let text = err.to_string();
    assert!(
        matches!(err, RestoreError::Map { .. }) && err.is_usage(),
        "{err:?}"
    );
    assert!(
        text.contains(&shown)
            && text.contains("auth0|nobody-here")
            && text.contains("does not exist in the target tenant"),
        "{text}"
    );

    // A snapshot user that does not exist.
    let (p, m) = map_file(
        s.tmp.path(),
        &format!("[users]\n\"auth0|ghost\" = \"{admin}\"\n"),
    );
    let shown = p.display().to_string();
    let err = s
        .plan_error(&s.snap, &Selection::default(), &m, &shown)
        .await;
    let text = err.to_string();
    assert!(
        matches!(err, RestoreError::Map { .. }) && err.is_usage(),
        "{err:?}"
    );
    assert!(
        text.contains(&shown)
            && text.contains("auth0|ghost")
            && text.contains("not in the snapshot"),
        "{text}"
    );

    // The same for a space of the target that does not exist.
    let space = data
        .entries
        .iter()
        .find(|e| e.kind.name == "spaces")
        .map(|e| e.name.clone())
        .expect("a space");
    let (p, m) = map_file(
        s.tmp.path(),
        &format!("[spaces]\n\"{space}\" = \"No Such Space\"\n"),
    );
    let shown = p.display().to_string();
    let err = s
        .plan_error(&s.snap, &Selection::default(), &m, &shown)
        .await;
    let text = err.to_string();
    assert!(
        text.contains(&shown) && text.contains("No Such Space") && text.contains("does not exist"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kind_in_only_is_a_usage_error() {
    let s = setup(&["spaces"]).await;
    let sel = Selection {
        only: vec!["spaces".into(), "dashbords".into()],
        ..Selection::default()
    };
    let err = s.plan_error(&s.snap, &sel, &TenantMap::default(), "").await;
    let text = err.to_string();
    assert!(
        matches!(err, RestoreError::UnknownKind(_)) && err.is_usage(),
        "{err:?}"
    );
    assert!(
        text.contains("unknown component kind 'dashbords'") && text.contains("qcb kinds"),
        "{text}"
    );
    assert!(!text.contains("did you mean"), "no kind is near: {text}");
    // A near miss names the kind meant.
    let typo = Selection {
        only: vec!["spaecs".into()],
        ..Selection::default()
    };
    let text = s
        .plan_error(&s.snap, &typo, &TenantMap::default(), "")
        .await
        .to_string();
    assert!(
        text.contains("unknown component kind 'spaecs'; did you mean 'spaces'?"),
        "{text}"
    );
    // Only the target's identity was read, if anything: the kind is refused first.
    assert_eq!(
        s.b.tenant().counters().requests,
        0,
        "{:?}",
        s.b.tenant().counters().per_operation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_that_matches_nothing_says_so() {
    let s = setup(&["spaces", "data-connections"]).await;
    let cases = [
        Selection {
            names: vec!["No such thing*".into()],
            ..Selection::default()
        },
        Selection {
            ids: vec!["00000000-0000-4000-8000-000000000000".into()],
            ..Selection::default()
        },
        Selection {
            spaces: vec!["Nowhere".into()],
            ..Selection::default()
        },
        // A kind the snapshot does not hold.
        Selection {
            only: vec!["webhooks".into()],
            ..Selection::default()
        },
    ];
    for sel in cases {
        let err = s.plan_error(&s.snap, &sel, &TenantMap::default(), "").await;
        let text = err.to_string();
        assert!(
            matches!(err, RestoreError::EmptySelection { .. }) && err.is_usage(),
            "{err:?}"
        );
        assert!(
            text.contains(&s.snap.short_id)
                && text.contains("matches the selection")
                && text.contains(&sel.describe()),
            "{text}"
        );
    }
}

/// A restore reads the snapshot and writes under a shared repository lock: a prune (an
/// exclusive lock) running elsewhere stops it before any write; the plan takes no lock; the
/// lock is held while items are written and gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_locked_by_a_prune_stops_the_restore_before_any_write() {
    let s = setup(&["spaces"]).await;
    let prune = qcb_repo::LockInfo {
        time: chrono::Utc::now(),
        exclusive: true,
        hostname: "elsewhere.example".into(),
        username: "pruner".into(),
        pid: 4242,
        uid: 0,
        gid: 0,
    };
    tokio::task::block_in_place(|| qcb_repo::write_lock_for_tests(&s.repo, &prune))
        .expect("a prune's lock");
    let (all, no_map) = (Selection::default(), TenantMap::default());
    let plan = || prepare(&s.cb, s.repo.clone(), s.snap.clone(), &all, &no_map, "");
    let prepared = plan().await.expect("a plan needs no lock");
    let err = execute(
        &s.cb,
        s.repo.clone(),
        prepared,
        &Secrets::default(),
        &ApplyOptions::default(),
        None,
    )
    .await
    .map(|r| r.summary())
    .unwrap_err();
    assert!(
        matches!(err, RestoreError::Repo(qcb_repo::RepoError::Locked { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("elsewhere.example"), "{err}");
    s.assert_nothing_written();

    // The prune is over: the restore holds its own lock while it writes, and not after.
    tokio::task::block_in_place(|| s.repo.unlock(true)).expect("unlock");
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let opts = {
        let (repo, held) = (s.repo.clone(), held.clone());
        ApplyOptions {
            on_result: Some(std::sync::Arc::new(move |_| {
                let locks = tokio::task::block_in_place(|| repo.locks()).expect("locks");
                let shared = locks
                    .iter()
                    .filter(|l| l.info.as_ref().is_some_and(|i| !i.exclusive))
                    .count();
                held.lock().expect("held").push(shared);
            })),
            ..ApplyOptions::default()
        }
    };
    let prepared = plan().await.expect("plan");
    let report = execute(
        &s.cb,
        s.repo.clone(),
        prepared,
        &Secrets::default(),
        &opts,
        None,
    )
    .await
    .expect("restore");
    assert!(!report.failed(), "{}", report.summary());
    let held = held.lock().expect("held").clone();
    assert!(
        !held.is_empty() && held.iter().all(|n| *n == 1),
        "one shared lock while writing: {held:?}"
    );
    let left = tokio::task::block_in_place(|| s.repo.locks()).expect("locks");
    assert!(left.is_empty(), "the lock is released: {left:?}");
}
