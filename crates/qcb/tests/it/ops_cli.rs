//! `qcb serve --once` and `qcb status` as a monitoring system runs them, with a qcb.toml and
//! the emulated tenant: status exits 0 when the last run succeeded recently, 1 when it failed
//! or is stale (or there is none), 2 for a configuration mistake.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_ops::schedule::{Task, Trigger};
use qcb_ops::state::{Outcome, RunRecord, StateStore};

fn qcb(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qcb"));
    c.env("QCB_CONFIG", config)
        .env_remove("QCB_REPO")
        .env_remove("QCB_PASSWORD")
        .env_remove("QCB_PASSWORD_FILE");
    c
}

fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("qcb runs");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn record(state: &Path, tenant: &str, status: Outcome, ago_hours: i64, error: Option<&str>) {
    let t = Utc::now() - chrono::Duration::hours(ago_hours);
    let mut r = RunRecord::new(tenant, Task::Backup, Trigger::Schedule, Some(t), t);
    r.finished_at = t + chrono::Duration::minutes(5);
    r.status = status;
    r.error = error.map(str::to_string);
    StateStore::new(state).append(&r).expect("record");
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_once_then_status_exit_codes() {
    let e = Emulator::start(
        EmulatorConfig {
            profile: Profile::Empty,
            time_scale: 30.0,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("emulator");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let (url, key) = (e.url(), e.admin_api_key().to_string());
    tokio::task::spawn_blocking(move || {
        let repo = dir.join("repo");
        let state = dir.join("state");
        std::fs::write(dir.join("password"), "cli ops password\n").expect("pw");
        std::fs::write(dir.join("key"), &key).expect("key");
        let config = dir.join("qcb.toml");
        std::fs::write(
            &config,
            format!(
                r#"state_dir = {state:?}
[defaults]
repository = {repo:?}
password_file = {pw:?}
stale_after = "26h"
[defaults.retention]
keep_daily = 7
keep_weekly = 4
[[tenants]]
name = "emu"
url = {url:?}
api_key_file = {key:?}
[[tenants]]
name = "old"
url = "https://old.eu.qlikcloud.com"
api_key_env = "QCB_TEST_OLD_KEY"
[[tenants]]
name = "new"
url = "https://new.eu.qlikcloud.com"
api_key_env = "QCB_TEST_NEW_KEY"
"#,
                state = state.display().to_string(),
                repo = repo.display().to_string(),
                pw = dir.join("password").display().to_string(),
                key = dir.join("key").display().to_string(),
            ),
        )
        .expect("config");
        chmod(&config, 0o600);
        let init = run(Command::new(env!("CARGO_BIN_EXE_qcb"))
            .arg("init")
            .env("QCB_REPO", &repo)
            .env("QCB_PASSWORD_FILE", dir.join("password")));
        assert_eq!(init.0, Some(0), "{}", init.2);

        // One backup now, with retention, report and records.
        let (code, out, err) = run(qcb(&config).args(["serve", "--once", "--tenant", "emu"]));
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.starts_with("emu: success, snapshot "), "{out}");
        assert!(out.contains("report: "), "{out}");
        assert!(!err.contains("warning"), "a private file gives no warning: {err}");

        // Status: ok (exit 0), with the snapshot in the daily and weekly buckets.
        let (code, out, err) = run(qcb(&config).args(["status", "--tenant", "emu"]));
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("emu") && out.contains("success") && out.contains("daily 1, weekly 1, forget 0"), "{out}");
        let (code, out, _) = run(qcb(&config).args(["status", "--json", "--tenant", "emu"]));
        assert_eq!(code, Some(0));
        let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(json[0]["ok"], true);
        assert_eq!(json[0]["snapshots"], 1);
        assert_eq!(json[0]["last_run"]["status"], "success");
        assert_eq!(json[0]["buckets"]["daily"], 1);

        // The last run failed: exit 1, with the reason.
        record(&state, "emu", Outcome::Failed, 0, Some("Qlik answered 401"));
        let (code, out, _) = run(qcb(&config).args(["status", "--tenant", "emu"]));
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("the last run failed: Qlik answered 401"), "{out}");

        // The last success is three days old: stale, exit 1.
        record(&state, "old", Outcome::Success, 72, None);
        let (code, out, _) = run(qcb(&config).args(["status", "--tenant", "old"]));
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("stale: the newest snapshot is 2d"), "{out}");
        // Never run: exit 1 too.
        let (code, out, _) = run(qcb(&config).args(["status", "--tenant", "new"]));
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("stale: no snapshot yet"), "{out}");
        // Recent success recorded: ok again.
        record(&state, "old", Outcome::Partial, 1, None);
        let (code, out, _) = run(qcb(&config).args(["status", "--tenant", "old"]));
        assert_eq!(code, Some(0), "{out}");
        // All tenants: one needs attention, so exit 1.
        assert_eq!(run(qcb(&config).arg("status")).0, Some(1));

        // Configuration mistakes: exit 2, naming the file and what to do.
        let (code, _, err) = run(qcb(&config).args(["status", "--tenant", "nobody"]));
        assert_eq!(code, Some(2));
        assert!(err.contains("no tenant named `nobody` (the tenants are: emu, old, new)"), "{err}");
        let (code, _, err) = run(qcb(&dir.join("missing.toml")).arg("status"));
        assert_eq!(code, Some(2));
        assert!(err.contains("cannot read the configuration file") && err.contains("missing.toml"), "{err}");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[[tenants]]\nname = \"x\"\nurl = \"https://x.eu.qlikcloud.com\"\nshedule = \"0 2 * * *\"\n").expect("bad");
        let (code, _, err) = run(qcb(&bad).arg("status"));
        assert_eq!(code, Some(2));
        assert!(err.contains("bad.toml, line 4") && err.contains("unknown field `shedule`"), "{err}");
        let (code, _, err) = run(qcb(&bad).args(["serve", "--once"]));
        assert_eq!(code, Some(2), "{err}");

        // An inline secret in a file others may read works, with a warning that names no secret.
        let open = dir.join("open.toml");
        std::fs::write(&open, format!("state_dir = {st:?}\n[[tenants]]\nname = \"emu\"\nurl = {url:?}\napi_key = \"{key}\"\nrepository = {repo:?}\npassword_file = {pw:?}\n", st = state.display().to_string(), repo = repo.display().to_string(), pw = dir.join("password").display().to_string())).expect("open");
        chmod(&open, 0o644);
        let (code, out, err) = run(qcb(&open).arg("status"));
        assert_eq!(code, Some(1), "the last run recorded failed: {out}");
        assert!(err.contains("warning:") && err.contains("chmod 600"), "{err}");
        assert!(!err.contains(&key) && !out.contains(&key), "the key is never shown");
    })
    .await
    .expect("join");
    let _ = e.stop().await;
}

/// `serve --once --prune`: what a prune timer or CronJob runs, since serve's own prune
/// schedule does not run there. One prune per repository, however many tenants share it.
#[test]
fn serve_once_prune_prunes_each_repository_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let state = dir.join("state");
    std::fs::write(dir.join("password"), "cli ops password\n").expect("pw");
    let (shared, own) = (dir.join("shared"), dir.join("own"));
    for repo in [&shared, &own] {
        let init = run(Command::new(env!("CARGO_BIN_EXE_qcb"))
            .arg("init")
            .env("QCB_REPO", repo)
            .env("QCB_PASSWORD_FILE", dir.join("password")));
        assert_eq!(init.0, Some(0), "{}", init.2);
    }
    let config = dir.join("qcb.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = {state:?}
[defaults]
repository = {shared:?}
password_file = {pw:?}
api_key_env = "QCB_TEST_UNUSED_KEY"
[[tenants]]
name = "a"
url = "https://a.eu.qlikcloud.com"
[[tenants]]
name = "b"
url = "https://b.eu.qlikcloud.com"
[[tenants]]
name = "c"
url = "https://c.eu.qlikcloud.com"
repository = {own:?}
"#,
            state = state.display().to_string(),
            shared = shared.display().to_string(),
            own = own.display().to_string(),
            pw = dir.join("password").display().to_string(),
        ),
    )
    .expect("config");

    let (code, out, err) = run(qcb(&config).args(["serve", "--once", "--prune"]));
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("a: prune success (repository of a, b)"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("c: prune success (repository of c)"),
        "{out}"
    );
    let store = StateStore::new(&state);
    for (tenant, prunes) in [("a", 1), ("b", 0), ("c", 1)] {
        let runs = store.runs(tenant).expect("records");
        assert_eq!(
            runs.iter()
                .filter(|r| r.task == Task::Prune && r.status == Outcome::Success)
                .count(),
            prunes,
            "{tenant}: {runs:?}"
        );
        assert!(runs.iter().all(|r| r.task == Task::Prune), "no backup ran");
    }

    // One tenant's repository only.
    let (code, out, _) = run(qcb(&config).args(["serve", "--once", "--prune", "--tenant", "b"]));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("b: prune success (repository of b)"),
        "{out}"
    );

    // A repository that cannot be opened: exit 1, with the reason.
    std::fs::remove_dir_all(&own).expect("rm");
    let (code, out, _) = run(qcb(&config).args(["serve", "--once", "--prune", "--tenant", "c"]));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("c: prune failed"), "{out}");

    // --prune belongs to --once.
    let (code, _, err) = run(qcb(&config).args(["serve", "--prune"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--once"), "{err}");
}
