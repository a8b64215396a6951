//! Black-box tests of the repository commands: init → (snapshots written through the library,
//! as `qcb backup` will) → snapshots, ls, cat, dump, check, forget, prune, and the errors.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use qcb_repo::{Repo, RepoOptions, SnapshotMeta, SnapshotTree, TreeEntry};
use secrecy::SecretString;

const PASSWORD: &str = "s3cret repository password";
const ACME: &str = "acme.eu.qlikcloud.com";
const GLOBEX: &str = "globex.us.qlikcloud.com";

fn qcb(repo: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcb"))
        .args(args)
        .env("QCB_REPO", repo)
        .env("QCB_PASSWORD", PASSWORD)
        .env_remove("QCB_PASSWORD_FILE")
        .output()
        .expect("qcb runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Fails with `code` and exactly one line on stderr, which is returned.
fn fails(out: Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn day(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_689_600 + n * 86_400 + 7200, 0).expect("time")
}

fn export(n: u64) -> Vec<u8> {
    (0..300_000u64)
        .map(|i| ((i * 2_654_435_761 + n) >> 7) as u8)
        .collect()
}

fn tree(host: &str, n: i64) -> SnapshotTree {
    let mut t = SnapshotTree::new();
    t.push(TreeEntry::bytes(
        "tenant/tenant.json",
        day(0),
        format!("{{\n  \"hostname\": \"{host}\"\n}}\n"),
    ));
    t.push(TreeEntry::bytes(
        "manifest.json",
        day(n),
        format!("{{\"run\": {n}}}\n"),
    ));
    t.push(TreeEntry::bytes(
        "spaces/s1.json",
        day(0),
        "{\"id\": \"s1\"}\n",
    ));
    let qvf = export(n as u64 % 2);
    t.push(TreeEntry::stream(
        "apps/a1/app.qvf",
        qvf.len() as u64,
        day(n % 2),
        move || Ok(Box::new(std::io::Cursor::new(qvf)) as Box<dyn Read + Send>),
    ));
    t
}

#[test]
fn the_repository_commands_work_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");

    let out = ok(qcb(&repo_dir, &["init"]));
    assert!(
        out.starts_with(&format!("created repository at {}", repo_dir.display())),
        "{out}"
    );
    let err = fails(qcb(&repo_dir, &["init"]), 1);
    assert_eq!(
        err,
        format!(
            "error: a repository already exists at {}\n",
            repo_dir.display()
        )
    );

    // Three days of two tenants, written through the library.
    let repo = Repo::open(&RepoOptions::new(
        repo_dir.to_string_lossy().into_owned(),
        SecretString::from(PASSWORD.to_string()),
    ))
    .expect("open");
    for n in 0..3 {
        for host in [ACME, GLOBEX] {
            let parent = repo.latest(host).expect("latest").map(|s| s.id);
            let status = if n == 2 && host == GLOBEX {
                "partial"
            } else {
                "ok"
            };
            let meta = SnapshotMeta {
                host: host.into(),
                tags: vec![format!("status:{status}")],
                time: day(n),
                parent,
            };
            let outcome = repo.write_snapshot(tree(host, n), meta).expect("write");
            assert!(outcome.failures.is_empty());
        }
    }
    let snaps = repo.snapshots().expect("snapshots");
    assert_eq!(snaps.len(), 6);

    // snapshots: a table, and JSON.
    let table = ok(qcb(&repo_dir, &["snapshots"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID        TIME (UTC)"), "{table}");
    assert_eq!(lines.len(), 8, "{table}");
    assert!(table.contains("partial"), "{table}");
    assert!(lines[1].starts_with(&snaps[0].short_id), "{table}");
    assert!(lines[1].contains("2025-01-01 02:00:00"), "{table}");
    assert_eq!(lines[7], "6 snapshots");
    let json: serde_json::Value = serde_json::from_str(&ok(qcb(
        &repo_dir,
        &["snapshots", "--json", "--host", GLOBEX],
    )))
    .expect("json");
    let list = json.as_array().expect("array");
    assert_eq!(list.len(), 3);
    assert_eq!(list[2]["host"], GLOBEX);
    assert_eq!(
        list[2]["tags"],
        serde_json::json!(["qcb", "status:partial"])
    );
    assert_eq!(list[2]["summary"]["files_total"], 4);
    let globex_latest = list[2]["id"].as_str().expect("id").to_string();

    // ls: `latest`, per-tenant `latest`, id prefixes, recursion.
    let root = ok(qcb(&repo_dir, &["ls", "latest"]));
    let names: Vec<&str> = root
        .lines()
        .map(|l| l.rsplit("  ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["apps/", "manifest.json", "spaces/", "tenant/"],
        "{root}"
    );
    let deep = ok(qcb(&repo_dir, &["ls", &globex_latest[..10], "apps", "-r"]));
    assert!(
        deep.lines()
            .any(|l| l.starts_with("-       300000  2025-01-01 02:00:00  apps/a1/app.qvf")),
        "{deep}"
    );
    let file = ok(qcb(
        &repo_dir,
        &["ls", "latest", "tenant/tenant.json", "--host", ACME],
    ));
    assert_eq!(file.lines().count(), 1);

    // cat: the bytes, per tenant.
    let out = qcb(
        &repo_dir,
        &["cat", "latest", "tenant/tenant.json", "--host", ACME],
    );
    assert_eq!(ok(out), format!("{{\n  \"hostname\": \"{ACME}\"\n}}\n"));
    let out = qcb(&repo_dir, &["cat", &globex_latest[..8], "apps/a1/app.qvf"]);
    assert!(out.status.success());
    assert!(out.stdout == export(0), "app.qvf of day 2 reads back");

    // dump: plain files.
    let to = dir.path().join("dumped");
    let out = ok(qcb(
        &repo_dir,
        &[
            "dump",
            "latest",
            "--host",
            ACME,
            "--to",
            to.to_str().expect("utf-8"),
        ],
    ));
    assert!(out.contains("4 files"), "{out}");
    assert_eq!(
        std::fs::read(to.join("manifest.json")).expect("read"),
        b"{\"run\": 2}\n"
    );
    let err = fails(
        qcb(
            &repo_dir,
            &["dump", "latest", "--to", to.to_str().expect("utf-8")],
        ),
        1,
    );
    assert!(err.contains("is not empty"), "{err}");

    // check.
    let out = ok(qcb(&repo_dir, &["check", "--read-data"]));
    assert_eq!(
        out,
        "no problems found in 6 snapshots (structure and all data)\n"
    );

    // forget: dry run, then for real with prune; one snapshot per tenant stays.
    let out = ok(qcb(&repo_dir, &["forget", "--keep-last", "1", "--dry-run"]));
    assert!(out.contains(&format!("{ACME}: keep 1, forget 2")), "{out}");
    assert!(
        out.ends_with("dry run: 4 snapshots would be forgotten\n"),
        "{out}"
    );
    assert_eq!(repo.snapshots().expect("snapshots").len(), 6);
    let out = ok(qcb(&repo_dir, &["forget", "--keep-daily", "1", "--prune"]));
    assert!(out.contains("forgot 4 snapshots"), "{out}");
    assert!(out.contains("pruned:"), "{out}");
    let left = repo.snapshots().expect("snapshots");
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|s| s.time == day(2)));
    let out = ok(qcb(&repo_dir, &["prune"]));
    assert!(out.starts_with("pruned:"), "{out}");
    ok(qcb(&repo_dir, &["check", "--read-data"]));

    // Naming snapshots that do not exist.
    let err = fails(qcb(&repo_dir, &["ls", "ffffffff"]), 1);
    assert!(
        err.starts_with("error: no snapshot matches `ffffffff`"),
        "{err}"
    );
    let err = fails(qcb(&repo_dir, &["cat", "latest", "nope.json"]), 1);
    assert!(
        err.contains("`nope.json` does not exist in snapshot"),
        "{err}"
    );
}

#[test]
fn mistakes_get_one_clear_line_and_the_right_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    ok(qcb(&repo_dir, &["init"]));

    let out = Command::new(env!("CARGO_BIN_EXE_qcb"))
        .args(["snapshots"])
        .env("QCB_REPO", &repo_dir)
        .env("QCB_PASSWORD", "wrong")
        .env_remove("QCB_PASSWORD_FILE")
        .output()
        .expect("runs");
    let err = fails(out, 1);
    assert_eq!(
        err,
        format!(
            "error: the password does not open the repository at {}: check --password-file, QCB_PASSWORD_FILE or QCB_PASSWORD\n",
            repo_dir.display()
        )
    );

    // The password file flag wins over QCB_PASSWORD.
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_qcb"))
        .args(["snapshots", "--password-file", pw.to_str().expect("utf-8")])
        .env("QCB_REPO", &repo_dir)
        .env("QCB_PASSWORD", "wrong")
        .output()
        .expect("runs");
    assert_eq!(ok(out).lines().last(), Some("0 snapshots"));

    let missing = dir.path().join("missing");
    let err = fails(qcb(&missing, &["snapshots"]), 1);
    assert_eq!(
        err,
        format!(
            "error: there is no repository at {}: check --repo / QCB_REPO, or create one with `qcb init`\n",
            missing.display()
        )
    );
    let err = fails(qcb(dir.path(), &["check"]), 1);
    assert_eq!(
        err,
        format!(
            "error: {} is not a restic repository (it has no `config` file): check --repo / QCB_REPO\n",
            dir.path().display()
        )
    );
    let err = fails(qcb(&repo_dir, &["ls", "latest"]), 1);
    assert_eq!(
        err,
        format!(
            "error: the repository at {} has no snapshots\n",
            repo_dir.display()
        )
    );

    // Usage errors exit 2.
    fails(qcb(&repo_dir, &["cat", "latest"]), 2);
    fails(qcb(&repo_dir, &["forget"]), 2);
    let out = Command::new(env!("CARGO_BIN_EXE_qcb"))
        .args(["snapshots"])
        .env_remove("QCB_REPO")
        .env("QCB_PASSWORD", PASSWORD)
        .output()
        .expect("runs");
    let err = fails(out, 2);
    assert_eq!(
        err,
        "error: no repository given: pass --repo or set QCB_REPO (a folder path, or s3:, azblob:, gcs: or sftp:)\n"
    );
}

/// A lock another process holds stops `qcb prune` with one sentence naming the holder, and
/// `--retry-lock` waits for it; `qcb unlock` removes stale locks only, `--remove-all` every one.
#[test]
fn locked_repositories_name_the_holder_and_unlock_removes_what_is_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    ok(qcb(&repo_dir, &["init"]));
    let repo = Repo::open(&RepoOptions::new(
        repo_dir.to_string_lossy().into_owned(),
        SecretString::from(PASSWORD.to_string()),
    ))
    .expect("open");
    let lock = |exclusive: bool, age_minutes: i64| qcb_repo::LockInfo {
        time: Utc::now() - chrono::Duration::minutes(age_minutes),
        exclusive,
        hostname: "backup-host-7".into(),
        username: "svc-qcb".into(),
        pid: 31337,
        uid: 0,
        gid: 0,
    };
    qcb_repo::write_lock_for_tests(&repo, &lock(false, 1)).expect("a live lock");
    qcb_repo::write_lock_for_tests(&repo, &lock(true, 45)).expect("a stale lock");

    let err = fails(qcb(&repo_dir, &["prune"]), 1);
    assert!(
        err.starts_with("error: the repository at ")
            && err.contains("is locked by backup-host-7 (pid 31337, user svc-qcb) since ")
            && err.contains("qcb unlock")
            && err.lines().count() == 1,
        "{err}"
    );
    let started = std::time::Instant::now();
    fails(qcb(&repo_dir, &["prune", "--retry-lock", "3s"]), 1);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it waited"
    );
    // A check shares the repository with the live (shared) lock; the stale exclusive one
    // blocks nobody.
    ok(qcb(&repo_dir, &["check"]));

    let out = ok(qcb(&repo_dir, &["unlock"]));
    assert!(
        out.contains("removed lock ") && out.contains("exclusively"),
        "{out}"
    );
    assert!(
        out.contains("kept lock ") && out.contains("--remove-all"),
        "{out}"
    );
    assert_eq!(repo.locks().expect("locks").len(), 1);
    let out = ok(qcb(&repo_dir, &["unlock", "--remove-all"]));
    assert!(
        out.contains("removed lock ") && out.contains("backup-host-7"),
        "{out}"
    );
    assert_eq!(ok(qcb(&repo_dir, &["unlock"])), "no locks\n");
    ok(qcb(&repo_dir, &["prune"]));
    assert!(
        repo.locks().expect("locks").is_empty(),
        "prune released its lock"
    );
}

/// `qcb forget --tenant NAME` applies that tenant's policy from qcb.toml to its own snapshots
/// only; `--dry-run` previews it.
#[test]
fn forget_with_a_configured_tenant_uses_its_policy_and_its_snapshots_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    ok(qcb(&repo_dir, &["init"]));
    let repo = Repo::open(&RepoOptions::new(
        repo_dir.to_string_lossy().into_owned(),
        SecretString::from(PASSWORD.to_string()),
    ))
    .expect("open");
    let mut parents = std::collections::HashMap::new();
    for n in 1..=6 {
        for host in [ACME, GLOBEX] {
            let written = repo
                .write_snapshot(
                    tree(host, n),
                    SnapshotMeta {
                        host: host.into(),
                        tags: vec!["status:success".into()],
                        time: day(n),
                        parent: parents.get(host).cloned(),
                    },
                )
                .expect("snapshot");
            parents.insert(host, written.snapshot.id);
        }
    }
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, PASSWORD).expect("password file");
    let config = dir.path().join("qcb.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"
[[tenants]]
name = "acme"
url = "https://{ACME}"
api_key_env = "QCB_TEST_UNUSED_KEY"
repository = "{repo}"
password_file = "{password}"
schedule = "0 2 * * *"
[tenants.retention]
keep_daily = 2
"#,
            state = dir.path().join("state").display(),
            repo = repo_dir.display(),
            password = password_file.display(),
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    let run = |extra: &[&str]| {
        let mut args = vec!["forget", "--config", &config, "--tenant", "acme"];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_qcb"))
            .args(&args)
            .env_remove("QCB_REPO")
            .env_remove("QCB_PASSWORD")
            .env_remove("QCB_PASSWORD_FILE")
            .output()
            .expect("qcb runs")
    };
    let out = ok(run(&["--dry-run"]));
    assert!(out.starts_with("tenant acme:\n"), "{out}");
    assert!(out.contains(&format!("{ACME}: keep 2, forget 4")), "{out}");
    assert!(!out.contains(GLOBEX), "{out}");
    assert!(
        out.contains("dry run: 4 snapshots would be forgotten"),
        "{out}"
    );
    let count = |host: &str| {
        repo.snapshots()
            .expect("snapshots")
            .iter()
            .filter(|s| s.host == host)
            .count()
    };
    assert_eq!(
        (count(ACME), count(GLOBEX)),
        (6, 6),
        "a dry run forgets nothing"
    );
    let err = fails(run(&["--keep-last", "1"]), 2);
    assert!(err.contains("leave out --keep-*"), "{err}");
    ok(run(&[]));
    assert_eq!((count(ACME), count(GLOBEX)), (2, 6));

    // Snapshots named one by one, whatever the policy says; a name that matches nothing
    // forgets nothing at all.
    let globex: Vec<String> = repo
        .snapshots()
        .expect("snapshots")
        .iter()
        .filter(|s| s.host == GLOBEX)
        .map(|s| s.short_id.clone())
        .collect();
    let out = ok(qcb(
        &repo_dir,
        &["forget", &globex[0], &globex[1], "--dry-run"],
    ));
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("would forget"))
            .count(),
        2,
        "{out}"
    );
    let err = fails(qcb(&repo_dir, &["forget", &globex[0], "nonsense"]), 1);
    assert!(err.contains("no snapshot matches `nonsense`"), "{err}");
    assert_eq!(count(GLOBEX), 6);
    let err = fails(
        qcb(&repo_dir, &["forget", &globex[0], "--keep-last", "1"]),
        2,
    );
    assert!(err.contains("not both"), "{err}");
    let out = ok(qcb(&repo_dir, &["forget", &globex[0], &globex[1]]));
    assert!(out.contains(&format!("forgot  {}", globex[0])), "{out}");
    assert_eq!((count(ACME), count(GLOBEX)), (2, 4));
}
