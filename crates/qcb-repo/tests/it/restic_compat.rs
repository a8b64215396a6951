//! restic itself reads a qcb repository: lists the snapshot, checks the data and restores it
//! byte-identical. Skipped, with a message, where `restic` is not installed — unless
//! QCB_REQUIRE_SERVERS is set, as scripts/test (which installs restic) does.

use crate::support;

use std::process::Command;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

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
