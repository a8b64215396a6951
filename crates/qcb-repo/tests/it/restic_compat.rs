//! restic itself reads a qcb repository: lists the snapshot, checks the data and restores it
//! byte-identical. Skipped, with a message, where `restic` is not installed — unless
//! QCB_REQUIRE_SERVERS is set, as scripts/test (which installs restic) does.

use crate::support;

use std::process::Command;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use qcb_repo::{LockKind, RepoError};
use support::*;

fn restic_version() -> Option<String> {
    let out = Command::new("restic").arg("version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn restic_lists_checks_and_restores_a_qcb_snapshot() {
    let Some(version) = restic_version() else {
        assert!(
            std::env::var_os("QCB_REQUIRE_SERVERS").is_none(),
            "restic is not installed, and QCB_REQUIRE_SERVERS is set"
        );
        eprintln!(
            "SKIPPED: restic is not installed (apt-get install restic); scripts/test installs it"
        );
        return;
    };
    eprintln!("using {version}");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
    let repo = init(&repo_dir);
    let specs = tenant(5, 300, &[5 << 20, 1]);
    let opens = Arc::new(AtomicUsize::new(0));
    let written = repo
        .write_snapshot(tree_of(&specs, &opens), meta(HOST, time(3600), None))
        .expect("snapshot");

    let restic = |args: &[&str]| {
        let out = Command::new("restic")
            .arg("--repo")
            .arg(&repo_dir)
            .arg("--password-file")
            .arg(&password_file)
            .arg("--no-cache")
            .args(args)
            .output()
            .expect("restic runs");
        assert!(
            out.status.success(),
            "restic {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let listed: serde_json::Value =
        serde_json::from_str(&restic(&["snapshots", "--json"])).expect("restic's JSON");
    let snaps = listed.as_array().expect("a list");
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["id"], written.snapshot.id.as_str());
    assert_eq!(snaps[0]["hostname"], HOST);
    let tags: Vec<&str> = snaps[0]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(tags, ["qcb", "status:ok"]);

    restic(&["check", "--read-data"]);

    let target = dir.path().join("restored");
    restic(&[
        "restore",
        "latest",
        "--target",
        target.to_str().expect("utf-8"),
    ]);
    for spec in &specs {
        let path = target.join(spec.path());
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match spec {
            Spec::Doc { body, .. } => assert_eq!(&bytes, body, "{}", spec.path()),
            Spec::Big { seed, len, .. } => {
                let mut want = Vec::new();
                std::io::Read::read_to_end(&mut SeededReader::new(*seed, *len), &mut want)
                    .expect("generate");
                assert!(bytes == want, "{} differs", spec.path());
            }
        }
    }
    let restored_files = count_files(&target);
    assert_eq!(restored_files, specs.len());
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| {
            if e.file_type().expect("type").is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// The locks qcb writes stop restic's prune, and restic's stop qcb's: neither deletes data
/// the other is using.
#[test]
fn restic_and_qcb_respect_each_others_locks() {
    let Some(version) = restic_version() else {
        assert!(
            std::env::var_os("QCB_REQUIRE_SERVERS").is_none(),
            "restic is not installed, and QCB_REQUIRE_SERVERS is set"
        );
        eprintln!("SKIPPED: restic is not installed (apt-get install restic)");
        return;
    };
    eprintln!("using {version}");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
    let repo = init(&repo_dir);
    let opens = Arc::new(AtomicUsize::new(0));
    repo.write_snapshot(
        tree_of(&tenant(9, 20, &[]), &opens),
        meta(HOST, time(3600), None),
    )
    .expect("snapshot");
    assert!(
        repo.locks().expect("locks").is_empty(),
        "a finished write leaves no lock"
    );
    let restic = |args: &[&str]| {
        Command::new("restic")
            .arg("--repo")
            .arg(&repo_dir)
            .arg("--password-file")
            .arg(&password_file)
            .arg("--no-cache")
            .args(args)
            .output()
            .expect("restic runs")
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    // restic reads qcb's lock, and its prune stops at it.
    let lock = repo.lock(LockKind::Shared).expect("lock");
    let listed = restic(&["list", "locks"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let ids: Vec<String> = text(&listed).lines().map(str::to_string).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(format!("locks/{}", ids[0]), lock.file());
    let shown = restic(&["cat", "lock", &ids[0]]);
    assert!(shown.status.success(), "{}", text(&shown));
    let info: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("restic's JSON");
    assert_eq!(info["pid"], std::process::id());
    assert_eq!(info["exclusive"], false);
    let pruned = restic(&["prune"]);
    assert!(!pruned.status.success(), "restic pruned beside qcb's lock");
    assert!(text(&pruned).contains("locked"), "{}", text(&pruned));
    drop(lock);
    assert!(repo.locks().expect("locks").is_empty());
    let pruned = restic(&["prune"]);
    assert!(pruned.status.success(), "{}", text(&pruned));

    // restic's lock (a backup reading stdin, which it holds while it waits) stops qcb's prune
    // but not a check.
    let mut backup = Command::new("restic")
        .arg("--repo")
        .arg(&repo_dir)
        .arg("--password-file")
        .arg(&password_file)
        .args([
            "--no-cache",
            "backup",
            "--stdin",
            "--stdin-filename",
            "held",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("restic backup");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let theirs = loop {
        let locks = repo.locks().expect("locks");
        if let Some(found) = locks.into_iter().next() {
            break found;
        }
        assert!(std::time::Instant::now() < deadline, "restic took no lock");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let info = theirs.info.expect("qcb reads restic's lock");
    assert_eq!(info.pid, i64::from(backup.id()));
    assert!(!info.exclusive);
    let err = repo.prune().expect_err("qcb pruned beside restic's lock");
    assert!(matches!(err, RepoError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("pid {}", backup.id())),
        "{err}"
    );
    repo.check(false).expect("a check shares the repository");
    assert_eq!(
        repo.unlock(false).expect("unlock").removed.len(),
        0,
        "a live lock stays"
    );
    {
        use std::io::Write;
        let mut stdin = backup.stdin.take().expect("stdin");
        stdin.write_all(b"some data").expect("write");
    }
    assert!(backup.wait().expect("restic ends").success());
    assert!(
        repo.locks().expect("locks").is_empty(),
        "restic removed its lock"
    );
    repo.prune().expect("prune once restic is done");
}
