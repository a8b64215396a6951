//! `qcb backup` as a user runs it, against an emulated tenant started in the test: exit codes
//! (0 success, 3 partial, 1 failed, 2 usage), the summary and the JSON manifest.

use std::process::Command;

use qcb_emulator::{Emulator, EmulatorConfig, Profile};

fn qcb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qcb"))
}

fn with_repo<'a>(cmd: &'a mut Command, repo: &std::path::Path) -> &'a mut Command {
    cmd.env("QCB_REPO", repo)
        .env("QCB_PASSWORD", "cli test password")
        .env_remove("QCB_PASSWORD_FILE")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_exit_codes_and_outputs() {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        time_scale: 30.0,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    let url = e.url();
    let key = e.admin_api_key().to_string();
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    let out = tokio::task::spawn_blocking(move || {
        let run = |cmd: &mut Command| cmd.output().expect("qcb runs");
        let init = run(with_repo(qcb().arg("init"), &repo));
        assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));

        // The M2M client with admin.apps reaches everything: success, exit 0, JSON manifest.
        let ok = run(with_repo(qcb().args(["backup", "--json", "--tenant", &url, "--client-id", &id]).env("QCB_CLIENT_SECRET", &secret), &repo));
        assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
        let manifest: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("the manifest as JSON");
        assert_eq!(manifest["schema"], "qcb.manifest/v1");
        assert_eq!(manifest["status"], "success");
        assert!(manifest["snapshot"].as_str().is_some_and(|s| s.len() == 64));
        assert!(!String::from_utf8_lossy(&ok.stdout).contains("QCBSECRET"), "no secret in the printed manifest");

        // An admin API key cannot export others' personal apps: partial, exit 3, reasons shown.
        // (--full: unchanged apps would come from the previous snapshot without an export.)
        let partial = run(with_repo(qcb().args(["backup", "--only", "apps", "--full"]).env("QCB_TENANT", &url).env("QCB_API_KEY", &key), &repo));
        assert_eq!(partial.status.code(), Some(3), "{}", String::from_utf8_lossy(&partial.stderr));
        let text = String::from_utf8_lossy(&partial.stdout).to_string();
        assert!(text.contains(": partial") && text.contains("failed: apps"), "{text}");
        assert!(text.contains("admin.apps"), "the remedy is named: {text}");
        assert!(text.contains("not covered: apps: apps in other users' personal spaces are invisible to an API key"), "{text}");
        assert!(!text.contains("not covered: data-connections"), "only the kinds backed up: {text}");

        // A wrong key fails the run (exit 1) and says so without echoing the key.
        let bad = run(with_repo(qcb().args(["backup", "--tenant", &url, "--api-key", "QCBSECRET-wrong"]), &repo));
        assert_eq!(bad.status.code(), Some(1));
        let err = String::from_utf8_lossy(&bad.stderr).to_string();
        assert!(err.contains("401") && !err.contains("QCBSECRET"), "{err}");
        assert_eq!(err.matches("answered 401").count(), 1, "the cause is said once: {err}");

        // Usage mistakes exit 2.
        let no_tenant = run(with_repo(qcb().arg("backup").env_remove("QCB_TENANT").env("QCB_API_KEY", "x"), &repo));
        assert_eq!(no_tenant.status.code(), Some(2), "{}", String::from_utf8_lossy(&no_tenant.stderr));
        assert!(String::from_utf8_lossy(&no_tenant.stderr).contains("no tenant given"));
        let typo = run(with_repo(qcb().args(["backup", "--tenant", "https://acme.euu.qlikcloud.com", "--api-key", "x"]), &repo));
        assert_eq!(typo.status.code(), Some(2));
        let unknown = run(with_repo(qcb().args(["backup", "--only", "nonsense", "--tenant", &url, "--api-key", &key]), &repo));
        assert_eq!(unknown.status.code(), Some(2), "{}", String::from_utf8_lossy(&unknown.stderr));
        let near = run(with_repo(qcb().args(["backup", "--only", "apps,spaecs", "--tenant", &url, "--api-key", &key]), &repo));
        assert_eq!(near.status.code(), Some(2));
        let err = String::from_utf8_lossy(&near.stderr).to_string();
        assert!(err.contains("unknown component kind 'spaecs'; did you mean 'spaces'?"), "{err}");

        // Not a terminal: progress comes as log lines on stderr, with no secret in them, and the
        // summary lists what must be entered again on restore. `--full-every 7`: the last run
        // exported every app it listed (--full), minutes ago, so this one does not.
        let logged = run(with_repo(qcb().args(["backup", "--tenant", &url, "--client-id", &id, "--full-every", "7", "--no-progress"]).env("QCB_CLIENT_SECRET", &secret).env_remove("QCB_LOG"), &repo));
        assert_eq!(logged.status.code(), Some(0), "{}", String::from_utf8_lossy(&logged.stderr));
        let err = String::from_utf8_lossy(&logged.stderr).to_string();
        let text = String::from_utf8_lossy(&logged.stdout).to_string();
        assert!(err.contains("backing up 127.0.0.1") && err.contains("apps: 30 listed") && err.contains("writing the snapshot"), "{err}");
        assert!(!err.contains("QCBSECRET") && !text.contains("QCBSECRET") && !err.contains(&secret), "no secret printed");
        assert!(!text.contains("every app exported"), "{text}");
        assert!(text.contains("to enter again on restore") && text.contains("data-connections"), "{text}");
        let zero = run(with_repo(qcb().args(["backup", "--full-every", "0"]).env("QCB_TENANT", &url).env("QCB_API_KEY", &key), &repo));
        assert_eq!(zero.status.code(), Some(2), "{}", String::from_utf8_lossy(&zero.stderr));

        let snaps = run(with_repo(qcb().arg("snapshots"), &repo));
        String::from_utf8_lossy(&snaps.stdout).to_string()
    })
    .await
    .expect("join");
    assert!(out.contains("success") && out.contains("partial"), "{out}");
    let _ = e.stop().await;
}

/// Ctrl-C during a backup: exit 130, no snapshot, and the repository lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_backup_and_releases_the_repository_lock() {
    let config = EmulatorConfig {
        profile: Profile::Demo,
        // Slow exports: the run is still exporting when it is interrupted.
        time_scale: 1.0,
        ..EmulatorConfig::default()
    };
    let e = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    let url = e.url();
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    tokio::task::spawn_blocking(move || {
        let init = with_repo(qcb().arg("init"), &repo).output().expect("init");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut run = with_repo(
            qcb().args([
                "backup",
                "--no-progress",
                "--tenant",
                &url,
                "--client-id",
                &id,
            ]),
            &repo,
        )
        .env("QCB_CLIENT_SECRET", &secret)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("qcb backup");
        let count = |dir: &str| {
            std::fs::read_dir(repo.join(dir))
                .map(|d| d.count())
                .unwrap_or(0)
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while count("locks") == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the backup took no lock"
            );
            assert!(
                run.try_wait().expect("poll").is_none(),
                "the backup ended early"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Let it export a little, then interrupt it as a terminal's Ctrl-C does.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let kill = Command::new("kill")
            .args(["-INT", &run.id().to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
        let out = run.wait_with_output().expect("qcb ends");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{err}");
        assert!(err.contains("interrupted"), "{err}");
        assert_eq!(count("snapshots"), 0, "no snapshot from an interrupted run");
        assert_eq!(count("locks"), 0, "the interrupted run released its lock");
    })
    .await
    .expect("test body");
}
