//! One conformance suite, written once, run against every storage backend qcb ships: a local
//! folder, S3 (SeaweedFS with SigV4), Azure Blob Storage (Azurite), Google Cloud Storage
//! (fake-gcs-server) and SFTP (OpenSSH's sshd), each started on 127.0.0.1 by
//! tests/servers/mod.rs. A backend passes when [`conformance`] does; the failures a person
//! can fix (wrong credentials, a missing bucket, an unreachable endpoint) are part of it.
//! restic itself then lists and restores what qcb wrote to S3 and over SFTP.
//!
//! A missing server skips its test, or fails it under QCB_REQUIRE_SERVERS=1 (scripts/test).

use crate::servers;
use crate::support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use qcb_repo::{KeepPolicy, NodeKind, Repo, RepoError, RepoOptions, SnapshotInfo, StorageEnv};
use secrecy::SecretString;
use servers::Server;
use sha2::{Digest, Sha256};
use support::*;

const MIB: u64 = 1 << 20;

/// The tree every backend stores: 120 JSON documents, a streamed 20 MiB app export and a
/// small one.
fn specs() -> Vec<Spec> {
    tenant(11, 120, &[20 * MIB, 3000])
}

/// What a backend must do, from an empty location to a pruned repository.
struct Target {
    /// A fresh location (nothing there yet), with its credentials.
    repo: RepoOptions,
    /// The same location with credentials the service refuses (services that check them).
    wrong_credentials: Option<RepoOptions>,
    /// A location in a bucket or container that does not exist (object stores).
    missing_container: Option<RepoOptions>,
}

/// Options for `location` with the repository password and `env`; remote repositories get a
/// cache, as `qcb` gives them (`RepoOptions::with_default_cache`).
fn options(location: &str, env: StorageEnv, cache: Option<&Path>) -> RepoOptions {
    let mut opts =
        RepoOptions::new(location, SecretString::from(PASSWORD.to_string())).with_env(env);
    opts.cache = cache.map(Path::to_path_buf);
    opts
}

fn with_location(opts: &RepoOptions, location: String) -> RepoOptions {
    RepoOptions {
        location,
        ..opts.clone()
    }
}

fn sha256_of(read: &mut dyn Read) -> [u8; 32] {
    let mut h = Sha256::new();
    std::io::copy(read, &mut HashWriter(&mut h)).expect("hash");
    h.finalize().into()
}

/// The suite. Returns the snapshot left after forget + prune.
fn conformance(name: &str, target: &Target) -> SnapshotInfo {
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{name} {:>5.1}s] {what}", started.elapsed().as_secs_f64());
    let opts = &target.repo;

    step("open before init: no repository");
    let err = Repo::open(opts).expect_err("nothing there yet");
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");

    step("init");
    let repo = Repo::init(opts).expect("init");
    assert_eq!(repo.location(), opts.location);
    let err = Repo::init(opts).expect_err("a second init");
    assert!(matches!(err, RepoError::AlreadyExists { .. }), "{err:?}");

    step("first snapshot: documents and a streamed 20 MiB file");
    let specs = specs();
    let opens = Arc::new(AtomicUsize::new(0));
    let first = repo
        .write_snapshot(tree_of(&specs, &opens), meta(HOST, time(0), None))
        .expect("first snapshot");
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(first.entries, specs.len() as u64);
    assert_eq!(opens.load(Ordering::SeqCst), 2, "each stream opened once");
    drop(repo);

    step("reopen with the password: snapshots, latest");
    let repo = Repo::open(opts).expect("reopen");
    let snaps = repo.snapshots().expect("snapshots");
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].id, first.snapshot.id);
    let latest = repo.resolve("latest", Some(HOST)).expect("latest");
    assert_eq!(latest.id, first.snapshot.id);
    assert_eq!(latest.tags, ["qcb", "status:ok"]);

    step("ls");
    let listed = repo.ls(&latest, "", true).expect("ls");
    let files: Vec<&str> = listed
        .iter()
        .filter(|n| n.kind == NodeKind::File)
        .map(|n| n.path.as_str())
        .collect();
    let mut want: Vec<&str> = specs.iter().map(Spec::path).collect();
    want.sort_unstable();
    let mut got = files.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    let big = listed
        .iter()
        .find(|n| n.path == "apps/big000/app.qvf")
        .expect("the big file is listed");
    assert_eq!(big.size, 20 * MIB);
    assert_eq!(
        repo.ls(&latest, "apps/big000", false)
            .expect("ls a folder")
            .len(),
        1
    );

    step("cat: every file byte-identical");
    for spec in &specs {
        match spec {
            Spec::Doc { path, body, .. } => {
                let mut out = Vec::new();
                repo.cat(&latest, path, &mut out).expect("cat a document");
                assert!(&out == body, "{path} differs");
            }
            Spec::Big {
                path, seed, len, ..
            } => {
                let mut h = Sha256::new();
                let n = repo
                    .cat(&latest, path, &mut HashWriter(&mut h))
                    .expect("cat a stream");
                assert_eq!(n, *len);
                let digest: [u8; 32] = h.finalize().into();
                assert_eq!(digest, seeded_digest(*seed, *len), "{path} differs");
            }
        }
    }

    step("second snapshot from the parent: nothing reopened");
    let opens_before = opens.load(Ordering::SeqCst);
    let second = repo
        .write_snapshot(
            tree_of(&specs, &opens),
            meta(HOST, time(86_400), Some(first.snapshot.id.clone())),
        )
        .expect("second snapshot");
    assert!(second.failures.is_empty(), "{:?}", second.failures);
    assert_eq!(
        opens.load(Ordering::SeqCst),
        opens_before,
        "no stream reopened"
    );
    assert_eq!(second.opened, 0);
    assert_eq!(second.snapshot.parent.as_ref(), Some(&first.snapshot.id));
    let summary = second.snapshot.summary.clone().expect("summary");
    assert!(
        summary.data_added < 64 * 1024,
        "an unchanged tree adds almost nothing: {} bytes",
        summary.data_added
    );

    step("check --read-data");
    let report = repo.check(true).expect("check");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.snapshots, 2);

    step("forget (keep the last) + prune");
    let policy = KeepPolicy {
        last: 1,
        ..KeepPolicy::default()
    };
    let forgotten = repo.forget(&policy, false).expect("forget");
    assert_eq!(forgotten.removed().count(), 1);
    let pruned = repo.prune_instant().expect("prune");
    assert!(pruned.bytes_remaining > 20 * MIB, "{pruned:?}");
    let left = repo.snapshots().expect("snapshots");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, second.snapshot.id);
    let report = repo.check(true).expect("check after prune");
    assert!(report.is_ok(), "{report:?}");
    let Spec::Big {
        seed, len, path, ..
    } = &specs[specs.len() - 2]
    else {
        panic!("the big file comes after the documents")
    };
    let mut h = Sha256::new();
    repo.cat(&left[0], path, &mut HashWriter(&mut h))
        .expect("cat after prune");
    let digest: [u8; 32] = h.finalize().into();
    assert_eq!(digest, seeded_digest(*seed, *len));
    drop(repo);

    step("a wrong password");
    let wrong = RepoOptions {
        password: SecretString::from("not the password".to_string()),
        ..opts.clone()
    };
    let err = Repo::open(&wrong).expect_err("wrong password");
    assert!(matches!(err, RepoError::WrongPassword { .. }), "{err:?}");

    step("a prefix that is not a repository, and one that holds nothing");
    let inside = with_location(opts, format!("{}/data", opts.location));
    let err = Repo::open(&inside).expect_err("not a repository");
    assert!(matches!(err, RepoError::NotARepository { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not a restic repository"),
        "{err}"
    );
    let err = Repo::init(&inside).expect_err("not empty");
    assert!(matches!(err, RepoError::NotEmpty { .. }), "{err:?}");
    let empty = with_location(opts, format!("{}-nothing-here", opts.location));
    let err = Repo::open(&empty).expect_err("nothing there");
    assert!(matches!(err, RepoError::NotFound { .. }), "{err:?}");

    if let Some(denied) = &target.wrong_credentials {
        step("credentials the service refuses");
        let err = Repo::open(denied).expect_err("refused");
        assert!(matches!(err, RepoError::AccessDenied { .. }), "{err:?}");
        assert_one_sentence(&err, denied);
    }
    if let Some(missing) = &target.missing_container {
        step("a bucket that does not exist");
        let err = Repo::open(missing).expect_err("no bucket");
        assert!(
            matches!(err, RepoError::ContainerNotFound { .. }),
            "{err:?}"
        );
        assert_one_sentence(&err, missing);
        let err = Repo::init(missing).expect_err("no bucket to init in");
        assert!(
            matches!(err, RepoError::ContainerNotFound { .. }),
            "{err:?}"
        );
    }
    step("done");
    left[0].clone()
}

/// One sentence, with the remedy, and none of the secrets in `opts.env`.
fn assert_one_sentence(err: &RepoError, opts: &RepoOptions) {
    let text = err.to_string();
    eprintln!("  -> {text}");
    assert!(
        std::error::Error::source(err).is_none(),
        "no cause chain: {err:?}"
    );
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains(": check "), "{text}");
    for secret in secrets_of(opts) {
        assert!(!text.contains(&secret), "a secret leaked into: {text}");
        assert!(
            !format!("{err:?}").contains(&secret),
            "a secret leaked into {err:?}"
        );
    }
}

/// The secret values a test handed to a backend.
fn secrets_of(_opts: &RepoOptions) -> Vec<String> {
    // StorageEnv never shows its values; the tests know theirs.
    vec![
        "qcbtestsecretkey0123456789".to_string(),
        "not-the-secret-key".to_string(),
        servers::AZURE_KEY.to_string(),
    ]
}

fn env_of(server: &Server) -> StorageEnv {
    server
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn local_folder_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let location = dir.path().join("repo").display().to_string();
    let target = Target {
        repo: options(&location, StorageEnv::empty(), None),
        wrong_credentials: None,
        missing_container: None,
    };
    conformance("local", &target);
}

#[test]
fn s3_passes_the_conformance_suite_and_restic_reads_it() {
    let Some(s3) = servers::or_skip(servers::s3()) else {
        return;
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let endpoint = s3.var("QCB_S3_ENDPOINT");
    let bucket = s3.var("QCB_S3_BUCKET");
    let location = format!("s3:{endpoint}/{bucket}/conformance");
    let env = env_of(&s3);
    let target = Target {
        repo: options(&location, env.clone(), Some(cache.path())),
        wrong_credentials: Some(options(
            &location,
            env.clone()
                .with("AWS_SECRET_ACCESS_KEY", "not-the-secret-key"),
            None,
        )),
        missing_container: Some(options(
            &format!("s3:{endpoint}/no-such-bucket/qcb"),
            env,
            None,
        )),
    };
    let kept = conformance("s3", &target);
    restic_reads(
        &s3,
        &format!("s3:{endpoint}/{bucket}/conformance"),
        &[],
        &kept,
    );
}

#[test]
fn azure_blob_passes_the_conformance_suite() {
    let Some(azure) = servers::or_skip(servers::azurite()) else {
        return;
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let container = azure.var("QCB_AZURE_CONTAINER");
    let location = format!("azblob:{container}/conformance");
    // The connection string names Azurite's endpoint; account + key is the other way in.
    let env = StorageEnv::empty().with(
        "AZURE_STORAGE_CONNECTION_STRING",
        azure.var("AZURE_STORAGE_CONNECTION_STRING"),
    );
    let wrong_key = servers::base64_encode(&[7u8; 64]);
    let wrong = azure
        .var("AZURE_STORAGE_CONNECTION_STRING")
        .replace(servers::AZURE_KEY, &wrong_key);
    let target = Target {
        repo: options(&location, env.clone(), Some(cache.path())),
        wrong_credentials: Some(options(
            &location,
            StorageEnv::empty().with("AZURE_STORAGE_CONNECTION_STRING", wrong),
            None,
        )),
        missing_container: Some(options("azblob:no-such-container/qcb", env, None)),
    };
    conformance("azblob", &target);
}

#[test]
fn gcs_passes_the_conformance_suite() {
    let Some(gcs) = servers::or_skip(servers::gcs()) else {
        return;
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let bucket = gcs.var("QCB_GCS_BUCKET");
    let env = StorageEnv::empty().with("STORAGE_EMULATOR_HOST", gcs.var("STORAGE_EMULATOR_HOST"));
    let target = Target {
        repo: options(
            &format!("gcs:{bucket}/conformance"),
            env.clone(),
            Some(cache.path()),
        ),
        // fake-gcs-server checks no credentials.
        wrong_credentials: None,
        missing_container: Some(options("gcs:no-such-bucket/qcb", env, None)),
    };
    conformance("gcs", &target);
}

/// The SFTP location of the test server's root folder, and the environment qcb reads.
fn sftp_location(server: &Server, folder: &str) -> String {
    format!(
        "sftp://{}@127.0.0.1:{}{}/{folder}",
        server.var("QCB_SFTP_USER"),
        server.var("QCB_SFTP_PORT"),
        server.var("QCB_SFTP_ROOT")
    )
}

/// qcb reaches SSH servers through the system `ssh`, which trusts the host keys in the user's
/// known_hosts. The test server's key is in a file of its own, so the suite runs in a child
/// process whose `ssh` (a wrapper first on PATH) reads that file — what a user's
/// `~/.ssh/known_hosts` does — while this process, whose `ssh` does not know the key, checks
/// that qcb refuses the server.
#[test]
fn sftp_passes_the_conformance_suite_and_restic_reads_it() {
    let Some(sftp) = servers::or_skip(servers::sftp()) else {
        return;
    };
    let Some(ssh) = servers::or_skip(servers::require_tool(
        "ssh",
        "apt-get install openssh-client",
    )) else {
        return;
    };
    let location = sftp_location(&sftp, "conformance");
    let err = Repo::open(&options(&location, env_of(&sftp), None)).expect_err("unknown host key");
    assert!(matches!(err, RepoError::UnknownHostKey { .. }), "{err:?}");
    eprintln!("  -> {err}");

    let bin = tempfile::tempdir().expect("tempdir");
    let wrapper = bin.path().join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' -o 'UserKnownHostsFile={}' \"$@\"\n",
            ssh.display(),
            sftp.var("QCB_SFTP_KNOWN_HOSTS")
        ),
    )
    .expect("write the ssh wrapper");
    let mut perms = std::fs::metadata(&wrapper).expect("wrapper").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&wrapper, perms).expect("chmod the wrapper");
    let path = std::env::join_paths(std::iter::once(bin.path().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let status = sftp
        .command(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "backends::sftp_conformance_in_a_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PATH", path)
        .env(CHILD_MARKER, "1")
        .status()
        .expect("the child test runs");
    let leaked = stop_leaked_ssh_masters(sftp.var("QCB_SFTP_KEY"));
    assert!(
        status.success(),
        "the SFTP suite failed (its output is above)\n--- server log ---\n{}",
        sftp.log_tail(30)
    );
    if leaked > 0 {
        eprintln!(
            "note: stopped {leaked} ssh master(s) left running by openssh-sftp-client (its \
             session task is aborted while it closes the master; see the SFTP notes in README.md)"
        );
    }
    let marker = Path::new(sftp.var("QCB_SFTP_ROOT")).join("kept-snapshot");
    let kept_id = std::fs::read_to_string(&marker).expect("the child names the kept snapshot");

    let config = sftp.var("QCB_SFTP_SSH_CONFIG");
    let alias = sftp.var("QCB_SFTP_HOST_ALIAS");
    let root = sftp.var("QCB_SFTP_ROOT");
    let command = format!("sftp.command=ssh -F {config} {alias} -s sftp");
    restic_reads_id(
        &sftp,
        &format!("sftp:{alias}:{root}/conformance"),
        &["-o".to_string(), command],
        kept_id.trim(),
    );
}

/// Stops the `ssh -M` masters that still run with this test's client key (a path unique to
/// this server), by process id, and returns how many there were. openssh-sftp-client aborts
/// the task that tells a master to exit when the SFTP session is dropped, so now and then one
/// survives; left alone it would hold a connection to the test server's sshd for good.
fn stop_leaked_ssh_masters(key: &str) -> usize {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut stopped = 0;
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_master = args.first().is_some_and(|a| a.ends_with(b"ssh"))
            && args.contains(&&b"-M"[..])
            && args.contains(&key.as_bytes());
        if is_master
            && Command::new("kill")
                .arg(pid.to_string())
                .status()
                .is_ok_and(|s| s.success())
        {
            stopped += 1;
        }
    }
    stopped
}

const CHILD_MARKER: &str = "QCB_TEST_SFTP_CHILD";

#[test]
#[ignore = "run by sftp_passes_the_conformance_suite_and_restic_reads_it, in a child process"]
fn sftp_conformance_in_a_child_process() {
    if std::env::var_os(CHILD_MARKER).is_none() {
        return;
    }
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let env = StorageEnv::empty().with("QCB_SFTP_KEY", var("QCB_SFTP_KEY"));
    let root = var("QCB_SFTP_ROOT");
    let location = format!(
        "sftp://{}@127.0.0.1:{}{root}/conformance",
        var("QCB_SFTP_USER"),
        var("QCB_SFTP_PORT")
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let other_key = work.path().join("other_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success());
    let target = Target {
        repo: options(&location, env, Some(cache.path())),
        wrong_credentials: Some(options(
            &location,
            StorageEnv::empty().with("QCB_SFTP_KEY", other_key.display().to_string()),
            None,
        )),
        missing_container: None,
    };
    let kept = conformance("sftp", &target);
    std::fs::write(PathBuf::from(root).join("kept-snapshot"), kept.id.as_str())
        .expect("name the kept snapshot");
}

/// An S3 endpoint where nothing listens: one sentence naming S3, the endpoint and what to
/// check, quickly (after the few retries), and no secret.
#[test]
fn an_unreachable_s3_endpoint_is_one_sentence() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let env = StorageEnv::empty()
        .with("AWS_ACCESS_KEY_ID", "qcbtestaccesskey")
        .with("AWS_SECRET_ACCESS_KEY", "qcbtestsecretkey0123456789");
    let opts = options(&format!("s3:http://127.0.0.1:{port}/qcb/repo"), env, None);
    let started = Instant::now();
    let err = Repo::open(&opts).expect_err("nothing listens");
    assert!(matches!(err, RepoError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach S3 at http://127.0.0.1:{port} (")),
        "{text}"
    );
    assert_one_sentence(&err, &opts);
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    let err = Repo::init(&opts).expect_err("nothing listens");
    assert!(matches!(err, RepoError::Unreachable { .. }), "{err:?}");
}

/// restic (the reference implementation) lists the snapshot qcb left and restores it
/// byte-identical.
fn restic_reads(server: &Server, repo: &str, options: &[String], kept: &SnapshotInfo) {
    restic_reads_id(server, repo, options, kept.id.as_str());
}

fn restic_reads_id(server: &Server, repo: &str, options: &[String], kept_id: &str) {
    let Some(restic) = servers::or_skip(servers::require_tool("restic", "apt-get install restic"))
    else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| -> String {
        let out = server
            .command(&restic)
            .args(["--no-cache", "-r", repo])
            .args(options)
            .args(args)
            .env("RESTIC_PASSWORD", PASSWORD)
            .output()
            .expect("restic runs");
        assert!(
            out.status.success(),
            "restic {args:?} on {repo} failed: {}\n--- server log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log_tail(20)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed: serde_json::Value =
        serde_json::from_str(&run(&["snapshots", "--json"])).expect("restic's JSON");
    let snaps = listed.as_array().expect("a list");
    assert_eq!(snaps.len(), 1, "{listed}");
    assert_eq!(snaps[0]["id"], kept_id);
    assert_eq!(snaps[0]["hostname"], HOST);
    let target = work.path().join("restored");
    run(&[
        "restore",
        "latest",
        "--target",
        &target.display().to_string(),
    ]);
    for spec in specs() {
        let path = target.join(spec.path());
        let mut file =
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match spec {
            Spec::Doc { body, .. } => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).expect("read");
                assert!(bytes == body, "{} differs", path.display());
            }
            Spec::Big { seed, len, .. } => {
                assert_eq!(
                    sha256_of(&mut file),
                    seeded_digest(seed, len),
                    "{}",
                    path.display()
                );
            }
        }
    }
}
