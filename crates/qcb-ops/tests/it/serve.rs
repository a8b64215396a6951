//! `qcb serve`'s parts against the emulated tenant and a local repository: a scheduled backup
//! runs, `/metrics` parses as Prometheus text and says what the manifest says, the JSON API
//! lists the run and the snapshot; a run applies the retention policy; a failed run is
//! recorded without a snapshot; a shutdown aborts a run without a snapshot.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Timelike, Utc};
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_ops::config::{self, Config, Fallbacks};
use qcb_ops::runner::Runner;
use qcb_ops::schedule::{SystemClock, Trigger};
use qcb_ops::state::{Outcome, StateStore};
use qcb_qlik::{Budget, ClientOptions};
use qcb_repo::{Repo, RepoOptions};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "ops test password";

async fn emulator(profile: Profile) -> Emulator {
    let config = EmulatorConfig {
        profile,
        time_scale: 30.0,
        ..EmulatorConfig::default()
    };
    Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator")
}

/// The emulated tenant's time runs 30 times faster: so may the client's rate limits.
fn runner(state: &Path) -> Runner {
    Runner::new(StateStore::new(state)).with_client_options(ClientOptions {
        budget: Budget {
            fraction: 1.0,
            burst: 50,
            burst_minutes: 0.0,
            time_scale: 30.0,
        },
        ..ClientOptions::default()
    })
}

fn init_repo(dir: &Path) -> String {
    let location = dir.join("repo").display().to_string();
    let opts = RepoOptions::new(location.clone(), SecretString::from(PASSWORD.to_string()));
    tokio::task::block_in_place(|| Repo::init(&opts)).expect("init");
    location
}

fn open_repo(location: &str) -> Repo {
    let opts = RepoOptions::new(
        location.to_string(),
        SecretString::from(PASSWORD.to_string()),
    );
    tokio::task::block_in_place(|| Repo::open(&opts)).expect("open")
}

/// A configuration with one tenant of `e`, its secrets in files of `dir`.
fn with_url(dir: &Path, e: &Emulator, credentials: &str, extra: &str) -> Config {
    std::fs::write(dir.join("password"), PASSWORD).expect("password file");
    let text = format!(
        "state_dir = {state:?}\n[[tenants]]\nname = \"emu\"\nurl = {url:?}\nrepository = {repo:?}\npassword_file = {pw:?}\n{credentials}\n{extra}\n",
        state = dir.join("state").display().to_string(),
        url = e.url(),
        repo = dir.join("repo").display().to_string(),
        pw = dir.join("password").display().to_string(),
    );
    let path = dir.join("qcb.toml");
    std::fs::write(&path, text).expect("config");
    config::load(&path, &Fallbacks::default()).expect("the config loads")
}

fn key_file(dir: &Path, e: &Emulator) -> String {
    let f = dir.join("api-key");
    std::fs::write(&f, e.admin_api_key()).expect("key file");
    format!("api_key_file = {:?}", f.display().to_string())
}

fn bot_files(dir: &Path, e: &Emulator) -> String {
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    let f = dir.join("client-secret");
    std::fs::write(&f, secret).expect("secret file");
    format!(
        "client_id = {id:?}\nclient_secret_file = {:?}",
        f.display().to_string()
    )
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_a_scheduled_backup_and_metrics_match_the_manifest() {
    let e = emulator(Profile::Demo).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let location = init_repo(tmp.path());
    // A schedule that comes up a few seconds from now (and then not for a day).
    let at = Utc::now() + chrono::Duration::seconds(8);
    let schedule = format!("{} {} {} * * *", at.second(), at.minute(), at.hour());
    let creds = bot_files(tmp.path(), &e);
    let cfg = with_url(tmp.path(), &e, &creds, &format!("schedule = {schedule:?}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(qcb_ops::server::serve(
        Arc::new(cfg),
        runner(&tmp.path().join("state")),
        Arc::new(SystemClock),
        listener,
        shutdown.clone(),
    ));

    assert_eq!(
        get(&format!("{base}/healthz")).await,
        (200, "ok\n".to_string())
    );
    let (_, before) = get(&format!("{base}/api/runs")).await;
    let before: serde_json::Value = serde_json::from_str(&before).expect("JSON");
    assert_eq!(
        before[0]["runs"].as_array().map(Vec::len),
        Some(0),
        "no run before its time"
    );

    // The run comes at its time and ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let run = loop {
        let (_, runs) = get(&format!("{base}/api/runs?tenant=emu")).await;
        let runs: serde_json::Value = serde_json::from_str(&runs).expect("JSON");
        if let Some(r) = runs[0]["runs"].get(0) {
            break r.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no run within 240 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["trigger"], "schedule");
    let started: chrono::DateTime<Utc> = run["started_at"]
        .as_str()
        .expect("time")
        .parse()
        .expect("RFC 3339");
    assert!(
        started >= at.with_nanosecond(0).expect("ns"),
        "not before its time: {started} < {at}"
    );

    // What the repository holds.
    let repo = open_repo(&location);
    let snaps = tokio::task::block_in_place(|| repo.snapshots()).expect("snapshots");
    assert_eq!(snaps.len(), 1);
    let manifest =
        tokio::task::block_in_place(|| qcb_ops::anomaly::read_manifest(&repo, &snaps[0]))
            .expect("manifest");
    assert_eq!(run["snapshot"], snaps[0].id.as_str());

    // /metrics parses, and says what the manifest says.
    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let found: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one sample of {name} {labels:?} in:\n{text}"
        );
        found[0]
    };
    let t = ("tenant", "emu");
    assert!(!manifest.counts.is_empty());
    for (kind, c) in &manifest.counts {
        for (status, n) in [
            ("total", c.total),
            ("backed_up", c.backed_up),
            ("unchanged", c.unchanged),
            ("failed", c.failed),
        ] {
            assert_eq!(
                value(
                    "qcb_last_run_items",
                    &[t, ("kind", kind), ("status", status)]
                ),
                n as f64,
                "{kind} {status}"
            );
        }
    }
    let failed: u64 = manifest.counts.values().map(|c| c.failed).sum();
    assert_eq!(value("qcb_last_run_failed_items", &[t]), failed as f64);
    assert_eq!(
        value("qcb_last_run_api_requests", &[t]),
        manifest.api.requests as f64
    );
    assert_eq!(
        value("qcb_last_run_api_throttled", &[t]),
        manifest.api.throttled as f64
    );
    assert_eq!(
        value("qcb_last_run_api_retries", &[t]),
        manifest.api.retries as f64
    );
    assert_eq!(
        value("qcb_last_run_status", &[t, ("status", "success")]),
        1.0
    );
    assert_eq!(
        value("qcb_last_run_status", &[t, ("status", "failed")]),
        0.0
    );
    let added = snaps[0].summary.as_ref().map_or(0, |s| s.data_added);
    assert!(added > 0);
    assert_eq!(value("qcb_last_run_bytes_added", &[t]), added as f64);
    assert_eq!(value("qcb_snapshots", &[t]), 1.0);
    assert_eq!(value("qcb_stale", &[t]), 0.0);
    assert_eq!(value("qcb_run_in_progress", &[t]), 0.0);
    let finished: chrono::DateTime<Utc> = run["finished_at"]
        .as_str()
        .expect("time")
        .parse()
        .expect("RFC 3339");
    assert!(
        (value("qcb_last_run_timestamp_seconds", &[t])
            - finished.timestamp_millis() as f64 / 1000.0)
            .abs()
            < 0.01
    );
    let age = value("qcb_snapshot_age_seconds", &[t]);
    assert!((0.0..120.0).contains(&age), "{age}");
    assert!(value("qcb_repository_size_bytes", &[t]) > added as f64 / 2.0);
    assert!(
        !text.contains(PASSWORD) && !text.contains("QCBSECRET"),
        "no secret in the metrics"
    );

    // The JSON API lists the snapshot; the report was written next to the records.
    let (_, snap_json) = get(&format!("{base}/api/snapshots")).await;
    let snap_json: serde_json::Value = serde_json::from_str(&snap_json).expect("JSON");
    assert_eq!(snap_json[0]["snapshots"][0]["id"], snaps[0].id.as_str());
    assert_eq!(get(&format!("{base}/api/runs?tenant=nobody")).await.0, 404);
    let report = run["report"].as_str().expect("a report path");
    let html = std::fs::read_to_string(report).expect("the report");
    assert!(html.contains("<html") && !html.contains("QCBSECRET"));

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("serve stops")
        .expect("join")
        .expect("serve ends cleanly");
    let _ = e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_applies_the_retention_policy_and_a_failed_run_is_recorded() {
    let e = emulator(Profile::Empty).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let location = init_repo(tmp.path());
    let creds = key_file(tmp.path(), &e);
    let cfg = with_url(
        tmp.path(),
        &e,
        &creds,
        "[tenants.retention]\nkeep_last = 2\n",
    );
    let tenant = &cfg.tenants[0];
    let r = runner(&cfg.state_dir);
    let never = CancellationToken::new();
    let mut forgotten = vec![];
    for _ in 0..3 {
        let result = r.backup(tenant, Trigger::Manual, None, &never).await;
        assert_eq!(
            result.record.status,
            Outcome::Success,
            "{:?}",
            result.record.error
        );
        forgotten.push(result.record.forgotten);
        let seen = result.view.expect("the repository as seen after the run");
        assert_eq!(seen.snapshots.len(), forgotten.len().min(2));
    }
    assert_eq!(forgotten, [0, 0, 1], "the third run forgets the oldest");
    let repo = open_repo(&location);
    assert_eq!(
        tokio::task::block_in_place(|| repo.snapshots())
            .expect("snapshots")
            .len(),
        2
    );

    // Wrong credentials: the run fails, writes no snapshot, and is recorded with its reason.
    std::fs::write(tmp.path().join("api-key"), "QCBSECRET-wrong-key").expect("key");
    let failed = r.backup(tenant, Trigger::Manual, None, &never).await.record;
    assert_eq!(failed.status, Outcome::Failed);
    let reason = failed.error.clone().expect("a reason");
    assert!(
        reason.contains("401") && !reason.contains("QCBSECRET"),
        "{reason}"
    );
    assert_eq!(
        tokio::task::block_in_place(|| repo.snapshots())
            .expect("snapshots")
            .len(),
        2
    );
    let store = StateStore::new(&cfg.state_dir);
    let runs = store.runs("emu").expect("records");
    assert_eq!(runs.len(), 4);
    assert_eq!(runs.last(), Some(&failed));
    let text = std::fs::read_to_string(cfg.state_dir.join("emu/runs.jsonl")).expect("records");
    assert!(!text.contains("QCBSECRET"), "no secret in the records");

    // A missing secret file is a failed run that says which file.
    std::fs::remove_file(tmp.path().join("api-key")).expect("rm");
    let failed = r.backup(tenant, Trigger::Manual, None, &never).await.record;
    assert_eq!(failed.status, Outcome::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("api-key")),
        "{:?}",
        failed.error
    );
    let _ = e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_aborts_the_run_and_no_snapshot_is_written() {
    let e = emulator(Profile::Demo).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let location = init_repo(tmp.path());
    let creds = bot_files(tmp.path(), &e);
    let cfg = with_url(tmp.path(), &e, &creds, "");
    let r = runner(&cfg.state_dir);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let result = r
        .backup(&cfg.tenants[0], Trigger::Schedule, None, &cancel)
        .await;
    assert_eq!(
        result.record.status,
        Outcome::Aborted,
        "{:?}",
        result.record
    );
    assert!(result.record.snapshot.is_none());
    let repo = open_repo(&location);
    assert!(tokio::task::block_in_place(|| repo.snapshots())
        .expect("snapshots")
        .is_empty());
    let last = StateStore::new(&cfg.state_dir)
        .last("emu", qcb_ops::schedule::Task::Backup)
        .expect("records");
    assert_eq!(last.map(|r| r.status), Some(Outcome::Aborted));
    let _ = e.stop().await;
}

#[test]
fn metrics_families_parse_without_any_run() {
    let views = vec![qcb_ops::metrics::TenantView::new(
        "idle",
        "idle.example",
        Duration::from_secs(3600),
    )];
    let text = qcb_ops::metrics::render(&views, Utc::now());
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    let by_name: HashMap<&str, f64> = scrape
        .samples
        .iter()
        .filter_map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) => Some((s.metric.as_str(), v)),
            _ => None,
        })
        .collect();
    assert_eq!(by_name.get("qcb_tenants"), Some(&1.0));
    assert_eq!(
        by_name.get("qcb_stale"),
        Some(&1.0),
        "never backed up: stale"
    );
}

use crate::support as alert_support;

/// A tenant with no snapshot newer than `stale_after` gets one stale alert per stale spell,
/// with a fake clock: none before the threshold, one after it, no repeat while it stays stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_tenant_gets_one_alert_per_stale_spell() {
    let e = emulator(Profile::Empty).await;
    let dir = tempfile::tempdir().expect("tmp");
    init_repo(dir.path());
    let receiver = alert_support::Receiver::start().await;
    // Scheduled once a year, so it does not run in this test; stale after two hours.
    let extra = format!(
        "schedule = \"0 3 1 1 *\"\nstale_after = \"2h\"\n[[tenants.notify]]\ntype = \"webhook\"\nurl = {:?}\non = [\"stale\"]\n",
        receiver.url("/hook")
    );
    let config = with_url(dir.path(), &e, &key_file(dir.path(), &e), &extra);
    let start = Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now);
    let clock = qcb_ops::schedule::FakeClock::new(start);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(qcb_ops::server::serve(
        Arc::new(config),
        runner(&dir.path().join("state")),
        Arc::new(clock.clone()),
        listener,
        shutdown.clone(),
    ));
    let settle = || tokio::time::sleep(Duration::from_millis(300));

    // The tenant loop and the staleness watch wait on the clock.
    clock.sleepers(2).await;
    clock.advance(chrono::Duration::minutes(90));
    settle().await;
    assert!(receiver.take().is_empty(), "not stale yet after 90 minutes");

    clock.advance(chrono::Duration::minutes(40));
    let mut got = Vec::new();
    for _ in 0..50 {
        got.extend(receiver.take());
        if !got.is_empty() {
            break;
        }
        settle().await;
    }
    assert_eq!(got.len(), 1, "one stale alert: {got:?}");
    let body = got[0].json();
    assert_eq!(body["kind"], "stale", "{body}");
    assert!(
        !got[0].body.contains(e.admin_api_key()),
        "no credential in the alert"
    );

    // Still stale an hour later: no second alert for the same spell.
    clock.advance(chrono::Duration::minutes(60));
    settle().await;
    settle().await;
    assert!(receiver.take().is_empty(), "one alert per stale spell");

    shutdown.cancel();
    let _ = server.await;
}

/// A run that hangs (a tenant that accepts connections and never answers) does not put the
/// stale alert off: that is the very case it is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_run_does_not_keep_a_tenant_from_going_stale() {
    let dir = tempfile::tempdir().expect("tmp");
    init_repo(dir.path());
    let receiver = alert_support::Receiver::start().await;
    // Accepts connections, never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hole_url = format!("http://{}", hole.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = hole.accept().await {
            open.push(conn);
        }
    });
    std::fs::write(dir.path().join("password"), PASSWORD).expect("password file");
    std::fs::write(dir.path().join("api-key"), "hung-run-key").expect("key file");
    let text = format!(
        "state_dir = {state:?}\n[[tenants]]\nname = \"hung\"\nurl = {hole_url:?}\nrepository = {repo:?}\npassword_file = {pw:?}\napi_key_file = {key:?}\nschedule = \"*/5 * * * *\"\nstale_after = \"2h\"\n[[tenants.notify]]\ntype = \"webhook\"\nurl = {hook:?}\non = [\"stale\"]\n",
        state = dir.path().join("state").display().to_string(),
        repo = dir.path().join("repo").display().to_string(),
        pw = dir.path().join("password").display().to_string(),
        key = dir.path().join("api-key").display().to_string(),
        hook = receiver.url("/hook"),
    );
    let path = dir.path().join("qcb.toml");
    std::fs::write(&path, text).expect("config");
    let config = config::load(&path, &Fallbacks::default()).expect("the config loads");
    let start = Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now);
    let clock = qcb_ops::schedule::FakeClock::new(start);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(qcb_ops::server::serve(
        Arc::new(config),
        runner(&dir.path().join("state")),
        Arc::new(clock.clone()),
        listener,
        shutdown.clone(),
    ));
    let settle = || tokio::time::sleep(Duration::from_millis(300));
    clock.sleepers(2).await;
    // The run starts at the next five minutes, and hangs.
    clock.advance(chrono::Duration::minutes(6));
    let metrics_url = format!("http://{addr}/metrics");
    let mut running = false;
    for _ in 0..50 {
        let (_, text) = get(&metrics_url).await;
        if text.contains("qcb_run_in_progress{tenant=\"hung\"} 1") {
            running = true;
            break;
        }
        settle().await;
    }
    assert!(running, "the run is in progress");
    clock.advance(chrono::Duration::hours(3));
    let mut got = Vec::new();
    for _ in 0..50 {
        got.extend(receiver.take());
        if !got.is_empty() {
            break;
        }
        settle().await;
    }
    assert_eq!(got.len(), 1, "one stale alert while the run hangs: {got:?}");
    assert_eq!(got[0].json()["kind"], "stale");
    shutdown.cancel();
    let _ = server.await;
    held.abort();
}

/// Regression: the retention policy ran after partial runs too, so a partial snapshot (without
/// the apps that failed) pushed out the complete ones. The issue says "after each successful
/// run".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_is_applied_after_successful_runs_only() {
    let e = emulator(Profile::Demo).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let location = init_repo(tmp.path());
    let creds = key_file(tmp.path(), &e);
    // An API key does not reach the apps in others' personal spaces: each run is partial.
    let retention = "[tenants.retention]\nkeep_last = 1\n";
    let cfg = with_url(
        tmp.path(),
        &e,
        &creds,
        &format!("only = [\"apps\", \"spaces\"]\n{retention}"),
    );
    let r = runner(&cfg.state_dir);
    let never = CancellationToken::new();
    for _ in 0..2 {
        let record = r
            .backup(&cfg.tenants[0], Trigger::Manual, None, &never)
            .await
            .record;
        assert_eq!(record.status, Outcome::Partial, "{:?}", record.error);
        assert_eq!(record.forgotten, 0, "no retention after a partial run");
    }
    let repo = open_repo(&location);
    let count = |repo: &Repo| {
        tokio::task::block_in_place(|| repo.snapshots())
            .expect("snapshots")
            .len()
    };
    assert_eq!(count(&repo), 2);

    // A successful run applies it.
    let cfg = with_url(
        tmp.path(),
        &e,
        &creds,
        &format!("only = [\"spaces\"]\n{retention}"),
    );
    let record = r
        .backup(&cfg.tenants[0], Trigger::Manual, None, &never)
        .await
        .record;
    assert_eq!(record.status, Outcome::Success, "{:?}", record.error);
    assert_eq!(record.forgotten, 2);
    assert_eq!(count(&repo), 1);
    let _ = e.stop().await;
}

/// The runner's alert path end to end: one target that cannot be reached, two that can (one
/// with its URL and a header in files). The dead one is recorded, the run stays a success, and
/// no payload carries the tenant's key or the repository password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_alert_target_leaves_a_successful_run_and_no_payload_holds_a_secret() {
    let e = emulator(Profile::Empty).await;
    let tmp = tempfile::tempdir().expect("tmp");
    init_repo(tmp.path());
    let receiver = alert_support::Receiver::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let url_file = tmp.path().join("hook-url");
    std::fs::write(&url_file, format!("{}\n", receiver.url("/hook/from-file"))).expect("url");
    let token_file = tmp.path().join("hook-token");
    std::fs::write(&token_file, "Bearer hook-token").expect("token");
    let extra = format!(
        r#"
[[tenants.notify]]
type = "webhook"
url = "{dead}/hook/dead"
on = ["success"]
[[tenants.notify]]
type = "webhook"
url_file = {url_file:?}
headers = {{ Authorization = {{ file = {token_file:?} }} }}
on = ["success"]
[[tenants.notify]]
type = "slack"
webhook_url = "{slack}"
on = ["success"]
"#,
        slack = receiver.url("/services/slack"),
        url_file = url_file.display().to_string(),
        token_file = token_file.display().to_string(),
    );
    let cfg = with_url(tmp.path(), &e, &key_file(tmp.path(), &e), &extra);
    let result = runner(&cfg.state_dir)
        .backup(
            &cfg.tenants[0],
            Trigger::Manual,
            None,
            &CancellationToken::new(),
        )
        .await;
    let record = result.record;
    assert_eq!(record.status, Outcome::Success, "{:?}", record.error);
    assert!(record.snapshot.is_some());
    assert_eq!(record.alert_errors.len(), 1, "{:?}", record.alert_errors);
    assert!(
        record.alert_errors[0].starts_with(&format!("webhook {}", dead.trim_end_matches('/'))),
        "the dead target is named: {:?}",
        record.alert_errors
    );

    let got = receiver.take();
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(got.len(), 2, "{paths:?}");
    let hook = got
        .iter()
        .find(|r| r.path == "/hook/from-file")
        .expect("the webhook whose URL is in a file");
    assert_eq!(hook.header("authorization"), Some("Bearer hook-token"));
    assert_eq!(hook.json()["kind"], "success");
    assert!(got.iter().any(|r| r.path == "/services/slack"));
    let key = e.admin_api_key();
    for r in &got {
        assert!(
            !r.body.contains(key) && !r.body.contains(PASSWORD),
            "a secret in the payload to {}: {}",
            r.path,
            r.body
        );
    }
    let stored = StateStore::new(&cfg.state_dir)
        .last("emu", qcb_ops::schedule::Task::Backup)
        .expect("records");
    assert_eq!(
        stored.map(|r| r.alert_errors),
        Some(record.alert_errors.clone())
    );
    let records = std::fs::read_to_string(cfg.state_dir.join("emu/runs.jsonl")).expect("records");
    assert!(!records.contains(key) && !records.contains(PASSWORD));
    let _ = e.stop().await;
}

/// A prune needs the repository alone: it waits for a backup's lock to go rather than fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_waits_for_a_running_backups_lock() {
    let e = emulator(Profile::Empty).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let location = init_repo(tmp.path());
    let receiver = alert_support::Receiver::start().await;
    let extra = format!(
        "[[tenants.notify]]\ntype = \"webhook\"\nurl = \"{}\"\n",
        receiver.url("/hook")
    );
    let cfg = with_url(tmp.path(), &e, &key_file(tmp.path(), &e), &extra);
    let tenant = &cfg.tenants[0];
    let repo = open_repo(&location);
    let held = tokio::task::block_in_place(|| repo.lock(qcb_repo::LockKind::Shared))
        .expect("a backup's lock");

    let impatient = runner(&cfg.state_dir).with_lock_wait(Duration::ZERO);
    let failed = impatient.prune(tenant, Trigger::Manual, None).await.record;
    assert_eq!(failed.status, Outcome::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("locked")),
        "{:?}",
        failed.error
    );
    // A failed prune is a failure alert: the repository keeps growing until one succeeds.
    let got = receiver.take();
    assert_eq!(got.len(), 1, "one alert for the failed prune");
    let event = got[0].json();
    assert_eq!(event["kind"], "failure");
    let message = event["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("prune") && message.contains("locked") && !message.contains(PASSWORD),
        "{message}"
    );

    let release = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(3));
        drop(held);
    });
    let start = std::time::Instant::now();
    let pruned = runner(&cfg.state_dir)
        .with_lock_wait(Duration::from_secs(60))
        .prune(tenant, Trigger::Manual, None)
        .await
        .record;
    assert_eq!(pruned.status, Outcome::Success, "{:?}", pruned.error);
    assert!(start.elapsed() >= Duration::from_secs(2), "it waited");
    release.await.expect("released");
    let _ = e.stop().await;
}
