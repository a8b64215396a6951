//! Alerts against local HTTP receivers: each target (generic webhook, Slack, Teams,
//! healthchecks) gets the right payload for failure, partial, stale and anomaly events; a
//! failing target is retried, logged and returned without failing anyone; no secret ever shows.

use crate::support;

use std::time::{Duration, Instant};

use qcb_ops::alerts::{
    dispatch, dispatch_with, DispatchOptions, Event, EventKind, Target, EVENT_SCHEMA,
};
use qcb_ops::anomaly::{Anomaly, AnomalyKind};
use serde_json::Value;
use support::{manifest, Logs, Receiver, SECRET};

fn quick() -> DispatchOptions {
    DispatchOptions {
        timeout: Duration::from_secs(2),
        attempts: 2,
        retry_delay: Duration::from_millis(50),
    }
}

#[derive(serde::Deserialize)]
struct Config {
    notify: Vec<Target>,
}

/// The four HTTP targets, as a user writes them in qcb.toml, each URL holding a secret token.
fn http_targets(r: &Receiver) -> Vec<Target> {
    let toml = format!(
        r#"
[[notify]]
type = "webhook"
url = "{base}/hook/{SECRET}-webhook-token"
headers = {{ Authorization = "Bearer {SECRET}-header" }}

[[notify]]
type = "slack"
webhook_url = "{base}/services/T000/B000/{SECRET}-slack"

[[notify]]
type = "teams"
webhook_url = "{base}/workflows/{SECRET}-teams"

[[notify]]
type = "healthchecks"
ping_url = "{base}/ping/{SECRET}-hc"
"#,
        base = r.base
    );
    toml::from_str::<Config>(&toml)
        .expect("targets parse")
        .notify
}

fn partial_manifest() -> qcb_backup::Manifest {
    manifest(
        "partial",
        &[
            ("apps", "a1", "Sales", "backed_up", None),
            ("apps", "a2", "Finance <Q4>", "failed", Some("Qlik answered 403 for app Finance: the API key's user has no role in managed space Finance")),
            ("apps", "a3", "HR", "failed", Some("export timed out after 600 s")),
            ("users", "u1", "Ann", "backed_up", None),
            ("spaces", "s1", "Shared", "failed", Some("reading its assignments failed: 500")),
        ],
    )
}

fn events() -> Vec<Event> {
    let ok = manifest("success", &[("apps", "a1", "Sales", "backed_up", None)]);
    let anomaly = Anomaly {
        kind: AnomalyKind::AppDrop,
        subject: "apps".into(),
        message: "apps: 30 → 12 (18 gone, -60%, threshold 10%)".into(),
        previous: Some(30),
        current: Some(12),
    };
    vec![
        Event::failed_run(
            "acme.example.com",
            Some("2026-11-27T01:10:30+00:00".into()),
            "the repository /srv/qcb cannot be opened: wrong password",
        ),
        Event::from_manifest(&partial_manifest(), vec![])
            .with_report_path("/var/lib/qcb/reports/acme/latest.html"),
        Event::stale(
            "acme.example.com",
            Some(&ok),
            Some(Duration::from_secs(30 * 3600)),
            Duration::from_secs(26 * 3600),
        ),
        Event::from_manifest(&ok, vec![anomaly]),
    ]
}

fn find<'a>(got: &'a [support::Received], prefix: &str) -> Vec<&'a support::Received> {
    got.iter().filter(|r| r.path.starts_with(prefix)).collect()
}

fn block_texts(slack: &Value) -> String {
    slack["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn each_target_gets_the_right_payload_for_failure_partial_stale_and_anomaly() {
    let r = Receiver::start().await;
    let targets = http_targets(&r);
    let logs = Logs::capture();
    for event in events() {
        let errors = dispatch_with(&targets, &event, &quick()).await;
        assert!(errors.is_empty(), "{:?}: {errors:?}", event.kind);
        let got = r.take();

        // Nothing sent carries a secret in its body; only the webhook's own header carries its
        // credential.
        for req in &got {
            assert!(
                !req.body.contains(SECRET),
                "secret in {}: {}",
                req.path,
                req.body
            );
            for (k, v) in &req.headers {
                if !k.eq_ignore_ascii_case("authorization") {
                    assert!(!v.contains(SECRET), "secret in header {k}");
                }
            }
        }

        // Generic webhook: the event as JSON.
        let hook = find(&got, "/hook/");
        assert_eq!(hook.len(), 1, "{:?}", event.kind);
        assert_eq!(hook[0].method, "POST");
        assert_eq!(
            hook[0].header("authorization"),
            Some(format!("Bearer {SECRET}-header").as_str())
        );
        assert!(hook[0]
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/json"));
        let j = hook[0].json();
        assert_eq!(j["schema"], EVENT_SCHEMA);
        assert_eq!(j["kind"], event.kind.as_str());
        assert_eq!(j["tenant"], "acme.example.com");
        assert_eq!(
            j["failures"].as_array().map(Vec::len),
            Some(event.failures.len())
        );
        assert_eq!(
            j["anomalies"].as_array().map(Vec::len),
            Some(event.anomalies.len())
        );
        let back: Event = serde_json::from_value(j.clone()).expect("the webhook body is an Event");
        assert_eq!(back, event);

        // Slack: text (the notification) and blocks.
        let slack = find(&got, "/services/");
        assert_eq!(slack.len(), 1);
        let s = slack[0].json();
        assert!(
            s["text"]
                .as_str()
                .unwrap_or("")
                .starts_with(&event.subject()),
            "{s}"
        );
        assert_eq!(s["blocks"][0]["type"], "header");
        assert_eq!(s["blocks"][0]["text"]["text"], event.subject());
        let blocks = block_texts(&s);

        // Teams: a message with one Adaptive Card.
        let teams = find(&got, "/workflows/");
        assert_eq!(teams.len(), 1);
        let t = teams[0].json();
        assert_eq!(t["type"], "message");
        let att = &t["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(att["content"]["type"], "AdaptiveCard");
        assert_eq!(att["content"]["body"][0]["text"], event.subject());
        let card = att["content"].to_string();
        assert!(card.contains("acme.example.com"));

        // Healthchecks: /fail for failure and partial; the ping for anomaly (the run itself
        // succeeded); stale is the pinged service's own job.
        let pings = find(&got, "/ping/");
        match event.kind {
            EventKind::Failure | EventKind::Partial => {
                assert_eq!(pings.len(), 1);
                assert!(pings[0].path.ends_with("/fail"), "{}", pings[0].path);
            }
            EventKind::Anomaly => {
                assert_eq!(pings.len(), 1);
                assert!(!pings[0].path.ends_with("/fail"));
            }
            _ => assert!(pings.is_empty(), "{:?}", event.kind),
        }

        match event.kind {
            EventKind::Failure => {
                assert_eq!(event.subject(), "qcb: acme.example.com backup failed");
                assert!(blocks.contains("wrong password"));
                assert!(card.contains("wrong password"));
            }
            EventKind::Partial => {
                assert_eq!(
                    event.subject(),
                    "qcb: acme.example.com backup partial (3 failed)"
                );
                assert!(blocks.contains("Failed items (3)"));
                assert!(blocks.contains("export timed out after 600 s"));
                // Slack's mrkdwn gets <, > and & escaped.
                assert!(blocks.contains("Finance &lt;Q4&gt;"), "{blocks}");
                assert!(card.contains("Failed items (3)"));
                assert!(card.contains("Finance <Q4>"));
                assert!(card.contains("latest.html"));
                assert_eq!(j["summary"]["failed"], 3);
                assert_eq!(j["report_path"], "/var/lib/qcb/reports/acme/latest.html");
            }
            EventKind::Stale => {
                assert_eq!(event.subject(), "qcb: acme.example.com backup stale");
                assert!(blocks.contains("30h00m"), "{blocks}");
                assert!(card.contains("more than the threshold of 26h00m"));
            }
            EventKind::Anomaly => {
                assert_eq!(event.subject(), "qcb: acme.example.com backup anomaly (1)");
                assert!(blocks.contains("Anomalies (1)"));
                assert!(blocks.contains("apps: 30 → 12"));
                assert!(card.contains("apps: 30 → 12"));
                assert_eq!(j["anomalies"][0]["kind"], "app_drop");
            }
            EventKind::Success => unreachable!(),
        }
    }
    assert!(!logs.text().contains(SECRET), "{}", logs.text());
}

#[tokio::test]
async fn a_success_only_pings_healthchecks_by_default() {
    let r = Receiver::start().await;
    let ok = manifest("success", &[("apps", "a1", "Sales", "backed_up", None)]);
    let event = Event::from_manifest(&ok, vec![]);
    assert_eq!(event.kind, EventKind::Success);
    assert!(dispatch(&http_targets(&r), &event).await.is_empty());
    let got = r.take();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].path.starts_with("/ping/") && !got[0].path.ends_with("/fail"));
    assert!(got[0].body.contains("succeeded"), "{}", got[0].body);
}

#[tokio::test]
async fn on_chooses_the_events_a_target_receives() {
    let r = Receiver::start().await;
    let toml = format!(
        "[[notify]]\ntype = \"webhook\"\nurl = \"{}/hook/all\"\non = [\"success\", \"stale\"]\n",
        r.base
    );
    let targets = toml::from_str::<Config>(&toml).expect("parse").notify;
    for event in events() {
        dispatch_with(&targets, &event, &quick()).await;
    }
    let kinds: Vec<String> = r
        .take()
        .iter()
        .map(|x| x.json()["kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(kinds, vec!["stale"]);
}

#[tokio::test]
async fn a_failing_target_is_retried_logged_and_returned_without_its_secret() {
    let r = Receiver::start().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let toml = format!(
        r#"
[[notify]]
type = "slack"
webhook_url = "{base}/status/500/services/{SECRET}-slack"

[[notify]]
type = "teams"
webhook_url = "{dead}/workflows/{SECRET}-teams"

[[notify]]
type = "webhook"
url = "{base}/hook/fine"
"#,
        base = r.base
    );
    let targets = toml::from_str::<Config>(&toml).expect("parse").notify;
    let logs = Logs::capture();
    let event = Event::from_manifest(&partial_manifest(), vec![]);
    let errors = dispatch_with(&targets, &event, &quick()).await;

    assert_eq!(errors.len(), 2, "{errors:?}");
    let slack = errors
        .iter()
        .find(|e| e.target.starts_with("slack"))
        .expect("slack error");
    assert_eq!(slack.attempts, 2, "a 500 is retried once");
    assert!(slack.reason.contains("500"), "{}", slack.reason);
    let teams = errors
        .iter()
        .find(|e| e.target.starts_with("teams"))
        .expect("teams error");
    assert_eq!(teams.attempts, 2);
    for e in &errors {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(shown.contains("127.0.0.1"), "the host is shown: {shown}");
    }
    // The other target was still served, and the 500 was tried twice.
    let got = r.take();
    assert_eq!(find(&got, "/hook/fine").len(), 1);
    assert_eq!(find(&got, "/status/500").len(), 2);

    let log = logs.text();
    assert!(log.contains("alert not delivered"), "{log}");
    assert!(!log.contains(SECRET), "{log}");
}

#[tokio::test]
async fn a_slow_target_times_out() {
    let r = Receiver::start().await;
    let toml = format!(
        "[[notify]]\ntype = \"webhook\"\nurl = \"{}/slow/x\"\n",
        r.base
    );
    let targets = toml::from_str::<Config>(&toml).expect("parse").notify;
    let opts = DispatchOptions {
        timeout: Duration::from_millis(300),
        attempts: 2,
        retry_delay: Duration::from_millis(10),
    };
    let start = Instant::now();
    let errors = dispatch_with(&targets, &events()[0], &opts).await;
    assert_eq!(errors.len(), 1);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn targets_parse_and_never_show_their_secrets() {
    let toml = format!(
        r#"
[[notify]]
type = "slack"
webhook_url = "https://hooks.slack.com/services/T000/B000/{SECRET}"

[[notify]]
type = "webhook"
url = "https://alerts.example.com:8443/in?token={SECRET}"
headers = {{ Authorization = "Bearer {SECRET}" }}

[[notify]]
type = "email"
smtp_host = "smtp.example.com"
username = "alerts"
password_env = "QCB_SMTP_PASSWORD"
from = "qcb <qcb@example.com>"
to = ["ops@example.com"]

[[notify]]
type = "healthchecks"
ping_url = "https://hc-ping.com/{SECRET}"
"#
    );
    let targets = toml::from_str::<Config>(&toml).expect("parse").notify;
    let debug = format!("{targets:?}");
    let json = serde_json::to_string(&targets).expect("serialize");
    let described: Vec<String> = targets.iter().map(Target::describe).collect();
    for shown in [&debug, &json, &described.join(" ")] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
    assert!(debug.contains("https://hooks.slack.com/…"), "{debug}");
    assert!(described[1].contains("https://alerts.example.com:8443/…"));
    assert!(json.contains("\"type\":\"email\""));
    assert!(json.contains("\"password_env\":\"QCB_SMTP_PASSWORD\""));
    // STARTTLS on 587 unless said otherwise.
    assert!(json.contains("\"smtp_port\":587") && json.contains("\"tls\":\"starttls\""));

    // Defaults: everything bad for chat and mail, every run's outcome for healthchecks.
    assert!(!targets[0].wants(EventKind::Success));
    for k in [
        EventKind::Failure,
        EventKind::Partial,
        EventKind::Stale,
        EventKind::Anomaly,
    ] {
        assert!(targets[0].wants(k) && targets[2].wants(k));
    }
    assert!(targets[3].wants(EventKind::Success) && !targets[3].wants(EventKind::Stale));
}

#[test]
fn an_inline_smtp_password_or_a_stray_field_is_refused() {
    let inline = format!(
        "[[notify]]\ntype = \"email\"\nsmtp_host = \"smtp.example.com\"\nusername = \"u\"\npassword = \"{SECRET}\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n"
    );
    let err = toml::from_str::<Config>(&inline)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("password_env"), "{err}");
    assert!(!err.contains(SECRET), "{err}");

    let stray = "[[notify]]\ntype = \"slack\"\nwebhook_url = \"https://hooks.slack.com/x\"\nchannel = \"#ops\"\n";
    assert!(toml::from_str::<Config>(stray).is_err());

    let bad_to = "[[notify]]\ntype = \"email\"\nsmtp_host = \"h\"\nfrom = \"a@example.com\"\nto = [\"not an address\"]\n";
    let err = toml::from_str::<Config>(bad_to)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("not an address"), "{err}");

    let ftp = "[[notify]]\ntype = \"webhook\"\nurl = \"ftp://example.com/x\"\n";
    assert!(toml::from_str::<Config>(ftp).is_err());
}

#[tokio::test]
async fn chat_messages_list_ten_failures_then_say_how_many_more() {
    let r = Receiver::start().await;
    let ids: Vec<String> = (0..25).map(|i| format!("app{i:02}")).collect();
    let items: Vec<support::ItemSpec> = ids
        .iter()
        .map(|id| {
            (
                "apps",
                id.as_str(),
                id.as_str(),
                "failed",
                Some("export failed"),
            )
        })
        .collect();
    let event = Event::from_manifest(&manifest("partial", &items), vec![]);
    assert_eq!(
        event.subject(),
        "qcb: acme.example.com backup partial (25 failed)"
    );
    let targets = http_targets(&r);
    assert!(dispatch_with(&targets, &event, &quick()).await.is_empty());
    let got = r.take();
    let slack = block_texts(&find(&got, "/services/")[0].json());
    assert!(
        slack.contains("app09") && !slack.contains("app10"),
        "{slack}"
    );
    assert!(slack.contains("and 15 more"));
    // The generic webhook carries every failure.
    assert_eq!(
        find(&got, "/hook/")[0].json()["failures"]
            .as_array()
            .map(Vec::len),
        Some(25)
    );
    // The e-mail/ping text carries every failure too.
    assert!(event.text().contains("app24"));
}

/// Regression: a partial run with anomalies was sent as "partial" only, so a target that
/// asked for anomalies alone never heard of them.
#[tokio::test]
async fn a_partial_run_with_anomalies_reaches_anomaly_subscribers_once() {
    let r = Receiver::start().await;
    let toml = format!(
        r#"
[[notify]]
type = "webhook"
url = "{base}/hook/anomaly"
on = ["anomaly"]

[[notify]]
type = "webhook"
url = "{base}/hook/both"
on = ["partial", "anomaly"]

[[notify]]
type = "webhook"
url = "{base}/hook/failure"
on = ["failure"]
"#,
        base = r.base
    );
    let targets = toml::from_str::<Config>(&toml).expect("parse").notify;
    let anomaly = Anomaly {
        kind: AnomalyKind::AppDrop,
        subject: "apps".into(),
        message: "apps: 30 → 12 (18 gone, -60%, threshold 10%)".into(),
        previous: Some(30),
        current: Some(12),
    };
    let event = Event::from_manifest(&partial_manifest(), vec![anomaly]);
    assert_eq!(event.kind, EventKind::Partial);
    assert!(dispatch_with(&targets, &event, &quick()).await.is_empty());
    let got = r.take();
    let mut paths: Vec<&str> = got.iter().map(|x| x.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/hook/anomaly", "/hook/both"]);
    assert!(got
        .iter()
        .all(|x| x.json()["anomalies"][0]["subject"] == "apps"));

    // Without anomalies, a partial run is not theirs.
    let plain = Event::from_manifest(&partial_manifest(), vec![]);
    dispatch_with(&targets, &plain, &quick()).await;
    let paths: Vec<String> = r.take().into_iter().map(|x| x.path).collect();
    assert_eq!(paths, ["/hook/both"]);
}

/// A URL named by `_env` or `_file` is read at send time; one that cannot be read is a
/// failed delivery naming the variable or file, never a failed caller.
#[tokio::test]
async fn urls_from_files_and_variables_are_read_at_send_time() {
    let r = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("slack-url");
    std::fs::write(&file, format!("{}/services/{SECRET}-file\n", r.base)).expect("write");
    let toml = format!(
        r#"
[[notify]]
type = "slack"
webhook_url_file = {file:?}

[[notify]]
type = "teams"
webhook_url_env = "QCB_TEST_SURELY_UNSET_URL"

[[notify]]
type = "healthchecks"
ping_url_file = {missing:?}
"#,
        file = file.display().to_string(),
        missing = dir.path().join("missing").display().to_string(),
    );
    let targets = toml::from_str::<Config>(&toml).expect("parse").notify;
    let event = Event::from_manifest(&partial_manifest(), vec![]);
    let errors = dispatch_with(&targets, &event, &quick()).await;
    let got = r.take();
    assert_eq!(got.len(), 1);
    assert!(got[0].path.starts_with("/services/"), "{}", got[0].path);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let teams = errors
        .iter()
        .find(|e| e.target.starts_with("teams"))
        .expect("teams");
    assert!(
        teams
            .reason
            .contains("QCB_TEST_SURELY_UNSET_URL is not set")
            && teams.attempts == 1,
        "{teams:?}"
    );
    let hc = errors
        .iter()
        .find(|e| e.target.starts_with("healthchecks"))
        .expect("healthchecks");
    assert!(hc.reason.contains("missing"), "{hc:?}");

    // A rotated file is picked up at the next send.
    std::fs::write(&file, format!("{}/services/rotated\n", r.base)).expect("write");
    dispatch_with(&targets[..1], &event, &quick()).await;
    assert_eq!(r.take()[0].path, "/services/rotated");
}
