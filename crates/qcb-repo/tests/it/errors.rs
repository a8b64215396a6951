//! The mistakes people make get one clear sentence each.

use crate::support;

use qcb_repo::{Repo, RepoError, RepoOptions};
use secrecy::SecretString;
use support::*;

#[test]
fn a_wrong_password_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let opts = RepoOptions::new(
        dir.path().to_string_lossy().into_owned(),
        SecretString::from("not the password".to_string()),
    );
    let err = Repo::open(&opts).expect_err("wrong password");
    assert!(matches!(err, RepoError::WrongPassword { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the password does not open the repository at {}: check --password-file, QCB_PASSWORD_FILE or QCB_PASSWORD",
            dir.path().display()
        )
    );
    assert!(
        std::error::Error::source(&err).is_none(),
        "one sentence, no cause chain"
    );
}

#[test]
fn a_missing_repository_says_so_and_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nowhere");
    let err = Repo::open(&options(&missing)).expect_err("missing");
    assert_eq!(
        err.to_string(),
        format!(
            "there is no repository at {}: check --repo / QCB_REPO, or create one with `qcb init`",
            missing.display()
        )
    );
    assert!(!missing.exists(), "opening must not create the folder");
    // An empty folder is no repository either.
    let err = Repo::open(&options(dir.path())).expect_err("empty folder");
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");
}

#[test]
fn a_folder_that_is_not_a_repository_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "hello").expect("write");
    let err = Repo::open(&options(dir.path())).expect_err("not a repository");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a restic repository (it has no `config` file): check --repo / QCB_REPO",
            dir.path().display()
        )
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        1,
        "opening leaves a foreign folder untouched"
    );
    let file = dir.path().join("notes.txt");
    let err = Repo::open(&options(&file)).expect_err("a file");
    assert!(
        err.to_string().contains("it is a file, not a folder"),
        "{err}"
    );
    // `init` refuses to mix a repository into it.
    let err = Repo::init(&options(dir.path())).expect_err("not empty");
    assert!(matches!(err, RepoError::NotEmpty { .. }), "{err:?}");
}

#[test]
fn init_twice_and_malformed_remote_locations_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let err = Repo::init(&options(dir.path())).expect_err("exists");
    assert_eq!(
        err.to_string(),
        format!("a repository already exists at {}", dir.path().display())
    );
    // Refused before any connection is tried (backends.rs has the servers).
    let opts = RepoOptions::new(
        "sftp:backup@host:srv/qcb",
        SecretString::from("x".to_string()),
    );
    let err = Repo::open(&opts).expect_err("sftp");
    assert!(matches!(err, RepoError::InvalidLocation { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "invalid repository location `sftp:backup@host:srv/qcb`: the path must be absolute"
        ),
        "{err}"
    );
}

/// A small tmpfs, unmounted on drop; `None` where mounting is not allowed (not root, or no
/// CAP_SYS_ADMIN in a container).
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: &std::path::Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_full_disk_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "2m") else {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let repo = init(&disk.path);
    let mut tree = qcb_repo::SnapshotTree::new();
    tree.push(qcb_repo::TreeEntry::stream(
        "apps/big/app.qvf",
        8 << 20,
        time(0),
        || Ok(Box::new(SeededReader::new(1, 8 << 20)) as Box<dyn std::io::Read + Send>),
    ));
    let err = repo
        .write_snapshot(tree, meta(HOST, time(0), None))
        .expect_err("the disk is too small");
    assert!(matches!(err, RepoError::StorageFull { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the storage of the repository at {} is full: free some space (for example with `qcb forget --prune`) and run again",
            disk.path.display()
        )
    );
}
