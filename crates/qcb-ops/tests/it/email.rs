//! E-mail alerts against a real SMTP server on loopback (aiosmtpd): STARTTLS with a login,
//! implicit TLS, and plain; one message per event with the right subject and a plain-text body;
//! the SMTP password never appears in anything logged or returned.

use crate::support;

use std::time::Duration;

use base64::Engine;
use qcb_ops::alerts::{dispatch_with, DispatchOptions, Event, EventKind, Target};
use qcb_ops::anomaly::{Anomaly, AnomalyKind};
use support::{manifest, or_skip, Logs, SmtpMode, SmtpServer, SECRET};

fn quick() -> DispatchOptions {
    DispatchOptions {
        timeout: Duration::from_secs(10),
        attempts: 2,
        retry_delay: Duration::from_millis(50),
    }
}

#[derive(serde::Deserialize)]
struct Config {
    notify: Vec<Target>,
}

fn email_target(port: u16, tls: &str, extra: &str) -> Target {
    let toml = format!(
        "[[notify]]\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = \"{tls}\"\nfrom = \"qcb <qcb@example.com>\"\nto = [\"ops@example.com\", \"oncall@example.com\"]\n{extra}"
    );
    let mut t = toml::from_str::<Config>(&toml).expect("parse").notify;
    t.remove(0)
}

/// A message's headers (unfolded) and its decoded body.
fn parse(raw: &str) -> (String, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let head = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let encoding = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-transfer-encoding:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let body = match encoding.as_str() {
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("base64 body");
            String::from_utf8(bytes).expect("utf-8 body")
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_string(),
    };
    (head, body.replace("\r\n", "\n"))
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() + 1 {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8 body")
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or("")
}

fn partial_event() -> Event {
    let m = manifest(
        "partial",
        &[
            ("apps", "a1", "Sales", "backed_up", None),
            (
                "apps",
                "a2",
                "Finance",
                "failed",
                Some("Qlik answered 403 for app Finance"),
            ),
            (
                "apps",
                "a3",
                "HR",
                "failed",
                Some("export timed out after 600 s"),
            ),
            (
                "spaces",
                "s1",
                "Shared",
                "failed",
                Some("reading its assignments failed"),
            ),
        ],
    );
    Event::from_manifest(&m, vec![])
}

#[tokio::test]
async fn email_over_starttls_with_a_login_from_a_password_file() {
    let password = format!("{SECRET}-smtp-password");
    let Some(server) = or_skip(SmtpServer::start(SmtpMode::Starttls, &password)) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pw_file = dir.path().join("smtp-password");
    std::fs::write(&pw_file, format!("{password}\n")).expect("write");
    let ca = server.ca_file.clone().expect("ca");
    let target = email_target(
        server.port,
        "starttls",
        &format!(
            "username = \"alerts\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
            pw_file.display(),
            ca.display()
        ),
    );
    let logs = Logs::capture();
    let event = partial_event();
    let errors = dispatch_with(&[target], &event, &quick()).await;
    assert!(errors.is_empty(), "{errors:?}");

    let got = server.wait_for(1);
    assert_eq!(got.len(), 1);
    let (head, body) = parse(&got[0]);
    assert_eq!(header(&head, "X-Test-Auth-User"), "alerts", "logged in");
    assert_eq!(
        header(&head, "Subject"),
        "qcb: acme.example.com backup partial (3 failed)"
    );
    assert!(header(&head, "From").contains("qcb@example.com"));
    assert!(header(&head, "To").contains("ops@example.com"));
    assert_eq!(
        header(&head, "X-Test-Rcpt"),
        "ops@example.com,oncall@example.com"
    );
    assert!(
        header(&head, "Content-Type").starts_with("text/plain"),
        "{head}"
    );
    assert!(body.contains("Failed items (3):"), "{body}");
    assert!(
        body.contains("apps a2 (Finance): Qlik answered 403 for app Finance"),
        "{body}"
    );
    assert!(body.contains("export timed out after 600 s"));
    assert!(!got[0].contains(SECRET));
    assert!(!logs.text().contains(SECRET), "{}", logs.text());
}

#[tokio::test]
async fn email_over_implicit_tls() {
    let Some(server) = or_skip(SmtpServer::start(SmtpMode::Tls, "unused")) else {
        return;
    };
    let ca = server.ca_file.clone().expect("ca");
    let target = email_target(
        server.port,
        "tls",
        &format!("ca_file = \"{}\"\n", ca.display()),
    );
    let errors = dispatch_with(&[target], &partial_event(), &quick()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(server.wait_for(1).len(), 1);
}

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let Some(server) = or_skip(SmtpServer::start(SmtpMode::Starttls, "unused")) else {
        return;
    };
    // No ca_file: the test CA is not trusted.
    let target = email_target(server.port, "starttls", "");
    let errors = dispatch_with(&[target], &partial_event(), &quick()).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn one_message_per_event_for_failure_partial_stale_and_anomaly() {
    let Some(server) = or_skip(SmtpServer::start(SmtpMode::Plain, "unused")) else {
        return;
    };
    let target = email_target(server.port, "none", "");
    let ok = manifest("success", &[("apps", "a1", "Sales", "backed_up", None)]);
    let anomaly = Anomaly {
        kind: AnomalyKind::IdentityProviderChanged,
        subject: "identity/identity-providers/idp1.json".into(),
        message: "identity provider changed: identity-providers Okta (idp1): /options/clientId"
            .into(),
        previous: None,
        current: None,
    };
    let events = vec![
        Event::failed_run(
            "acme.example.com",
            None,
            "Qlik answered 401: the API key was revoked",
        ),
        partial_event(),
        Event::stale(
            "acme.example.com",
            Some(&ok),
            Some(Duration::from_secs(2 * 86_400)),
            Duration::from_secs(86_400),
        ),
        Event::from_manifest(&ok, vec![anomaly]),
        // Not sent: e-mail targets skip successes unless `on` asks for them.
        Event::from_manifest(&ok, vec![]),
    ];
    for e in &events {
        let errors = dispatch_with(std::slice::from_ref(&target), e, &quick()).await;
        assert!(errors.is_empty(), "{:?}: {errors:?}", e.kind);
    }
    let got = server.wait_for(4);
    assert_eq!(got.len(), 4);
    let parsed: Vec<(String, String)> = got.iter().map(|m| parse(m)).collect();
    let subjects: Vec<&str> = parsed.iter().map(|(h, _)| header(h, "Subject")).collect();
    assert_eq!(
        subjects,
        vec![
            "qcb: acme.example.com backup failed",
            "qcb: acme.example.com backup partial (3 failed)",
            "qcb: acme.example.com backup stale",
            "qcb: acme.example.com backup anomaly (1)",
        ]
    );
    assert!(parsed[0].1.contains("the API key was revoked"));
    assert!(
        parsed[2]
            .1
            .contains("No successful backup of acme.example.com for 2d"),
        "{}",
        parsed[2].1
    );
    assert!(parsed[3].1.contains("Anomalies (1):"));
    assert!(parsed[3].1.contains("/options/clientId"));
    assert_eq!(events[4].kind, EventKind::Success);
}

#[tokio::test]
async fn a_wrong_password_is_reported_without_the_password() {
    let Some(server) = or_skip(SmtpServer::start(SmtpMode::Starttls, "the-right-one")) else {
        return;
    };
    let ca = server.ca_file.clone().expect("ca");
    // From a file, not the environment: other tests of this binary run in threads beside
    // this one, and changing the environment under them is not safe.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("smtp-password");
    std::fs::write(&file, format!("{SECRET}-wrong")).expect("password file");
    let target = email_target(
        server.port,
        "starttls",
        &format!(
            "username = \"alerts\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
            file.display(),
            ca.display()
        ),
    );
    let logs = Logs::capture();
    let errors = dispatch_with(&[target], &partial_event(), &quick()).await;
    assert_eq!(errors.len(), 1);
    let shown = format!("{} {:?}", errors[0], errors[0]);
    assert!(shown.contains("127.0.0.1:"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!logs.text().contains(SECRET), "{}", logs.text());
    // A refused login is permanent: not retried.
    assert_eq!(errors[0].attempts, 1, "{shown}");
    assert!(server.messages().is_empty());

    // A variable that is not set is named in the error.
    let target = email_target(
        server.port,
        "starttls",
        &format!(
            "username = \"alerts\"\npassword_env = \"QCB_TEST_ALERTS_UNSET\"\nca_file = \"{}\"\n",
            ca.display()
        ),
    );
    let errors = dispatch_with(&[target], &partial_event(), &quick()).await;
    assert!(
        errors[0]
            .reason
            .contains("QCB_TEST_ALERTS_UNSET is not set"),
        "{}",
        errors[0]
    );
}
