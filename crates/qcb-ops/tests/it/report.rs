//! Run reports: the HTML renders in headless Chromium with its tables and failures, every text
//! is escaped, and the Markdown carries the same facts.

use crate::support;

use qcb_backup::Manifest;
use qcb_ops::anomaly::{Anomaly, AnomalyKind};
use qcb_ops::report;
use serde_json::json;
use support::{manifest_with, or_skip, SECRET};

const HOSTILE: &str = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>";

fn previous() -> Manifest {
    manifest_with(
        "success",
        &[
            ("apps", "a1", "Sales", "backed_up", None),
            ("apps", "a2", "Finance", "backed_up", None),
            ("apps", "a9", "Retired app", "backed_up", None),
            ("users", "u1", "Ann", "backed_up", None),
            ("data-connections", "dc1", "Warehouse", "backed_up", None),
        ],
        |v| {
            v["snapshot"] =
                json!("9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9");
            v["started_at"] = json!("2026-11-26T01:10:12+00:00");
        },
    )
}

fn current() -> Manifest {
    manifest_with(
        "partial",
        &[
            ("apps", "a1", "Sales", "unchanged", None),
            ("apps", "a2", "Finance", "failed", Some("Qlik answered 403 for app Finance: the API key's user has no role in managed space Finance")),
            ("apps", "a3", HOSTILE, "backed_up", None),
            ("users", "u1", "Ann", "backed_up", None),
            ("users", "u2", "Bob", "backed_up", None),
            ("data-connections", "dc1", "Warehouse", "backed_up", None),
            ("webhooks", "w1", "Deploy hook", "failed", Some("reading it failed: 500 Internal Server Error")),
        ],
        |v| {
            let items = v["items"].as_array_mut().expect("items");
            items[5]["redacted"] = json!(["/qConnectStatement/password", "/qPassword"]);
            items[5]["restore"] = json!("recreate");
            items[5]["findings"] = json!([{"at": "/qConnectStatement", "pattern": "pwd=", "line": 1}]);
            items[2]["findings"] = json!([{"at": "script", "pattern": "password=", "line": 12}]);
            items[2]["notes"] = json!(["its load script was not shown by Qlik, so it was not scanned"]);
            v["full"] = json!(true);
        },
    )
}

fn anomalies() -> Vec<Anomaly> {
    vec![Anomaly {
        kind: AnomalyKind::IdentityProviderChanged,
        subject: "identity/identity-providers/idp1.json".into(),
        message: "identity provider changed: identity-providers Okta (idp1): /options/clientId"
            .into(),
        previous: None,
        current: None,
    }]
}

#[test]
fn changes_compare_the_items_of_two_manifests() {
    let c = report::changes(&current(), &previous());
    let added: Vec<&str> = c.added.iter().map(|i| i.id.as_str()).collect();
    let removed: Vec<&str> = c.removed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(added, vec!["a3", "u2", "w1"]);
    assert_eq!(removed, vec!["a9"]);
    let kinds: Vec<(&str, u64, u64, i64)> = c
        .kinds
        .iter()
        .map(|k| (k.kind.as_str(), k.before, k.after, k.delta))
        .collect();
    assert_eq!(kinds, vec![("users", 1, 2, 1), ("webhooks", 0, 1, 1)]);
}

#[test]
fn the_html_is_self_contained_and_escapes_every_text() {
    let html = report::html_with_anomalies(&current(), Some(&previous()), &anomalies());
    assert!(html.starts_with("<!doctype html>"));
    for external in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(external), "{external} in the report");
    }
    assert!(
        html.contains("&lt;script&gt;"),
        "the hostile name is escaped"
    );
    assert!(!html.contains("onerror=alert(1)>"));
    assert!(!html.contains(SECRET));
}

#[test]
fn the_markdown_has_the_same_facts() {
    let md = report::markdown_with_anomalies(&current(), Some(&previous()), &anomalies());
    assert!(md.starts_with("# Backup report: acme.example.com\n"));
    assert!(md.contains("**Status: partial**"));
    assert!(md.contains("| apps | 3 | 1 | 1 | 1 | 3 |  |"), "{md}");
    assert!(md.contains("| users | 2 | 2 | 0 | 0 | 1 | +1 |"), "{md}");
    assert!(md.contains("## Failed items (2)"));
    assert!(md.contains("Qlik answered 403 for app Finance"));
    assert!(
        md.contains("### Removed (1)\n\n- apps: Retired app (`a9`)"),
        "{md}"
    );
    assert!(md.contains("| data-connections | Warehouse (`dc1`) | recreate | `/qConnectStatement/password`, `/qPassword`, in text: `/qConnectStatement (line 1): pwd=` |"), "{md}");
    assert!(md.contains("1 credentials in the load scripts of 1 apps"));
    assert!(md.contains("| app-objects | other users' private sheets are not captured |"));
    assert!(md.contains("identity provider changed"));
    assert!(
        md.contains("&lt;script&gt;"),
        "HTML in names is escaped for Markdown renderers too"
    );
    assert!(!md.contains("<script"));
    // Without a previous snapshot there is nothing to compare.
    let first = report::markdown(&current(), None);
    assert!(first.contains("This is the tenant's first snapshot"));
    assert!(!first.contains("| Previous |"));
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(browser) = or_skip(support::chromium()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("report.html");
    std::fs::write(
        &file,
        report::html_with_anomalies(&current(), Some(&previous()), &anomalies()),
    )
    .expect("write");
    let profile = dir.path().join("profile");
    let dom = support::run_chromium(&browser, &profile, &["--dump-dom"], &file);

    // The hostile name stayed text: no script ran (the title is intact), no element was made.
    assert!(
        dom.contains("<title>qcb report: acme.example.com partial"),
        "{dom}"
    );
    assert!(!dom.contains("<script"));
    assert!(!dom.contains("<img"));
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'"),
        "shown as text"
    );
    // The per-kind table's rows, with the previous counts.
    let squeeze: String = dom.split_whitespace().collect::<Vec<_>>().join(" ");
    for row in [
        r#"<tr><td>apps</td><td class="num">3</td><td class="num">1</td><td class="num">1</td><td class="num bad">1</td><td class="num">3</td>"#,
        r#"<tr><td>users</td><td class="num">2</td><td class="num">2</td><td class="num">0</td><td class="num">0</td><td class="num">1</td><td class="num up">+1</td></tr>"#,
        r#"<tr><td>webhooks</td><td class="num">1</td><td class="num">0</td><td class="num">0</td><td class="num bad">1</td><td class="num">0</td><td class="num up">+1</td></tr>"#,
    ] {
        assert!(squeeze.contains(row), "missing row {row}\n{squeeze}");
    }
    // Failures with their reasons.
    assert!(dom.contains("Failed items (2)"));
    assert!(dom.contains("Qlik answered 403 for app Finance: the API key's user has no role in managed space Finance"));
    assert!(dom.contains("reading it failed: 500 Internal Server Error"));
    // Re-entry, not covered, changes, anomalies.
    assert!(dom.contains("/qConnectStatement/password"));
    assert!(dom.contains("other users' private sheets are not captured"));
    assert!(dom.contains("Retired app"));
    assert!(dom.contains("identity provider changed"));

    // A screenshot, kept for a person to look at (target/qcb-report.png).
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/qcb-report.png");
    let shot = format!("--screenshot={}", png.display());
    support::run_chromium(
        &browser,
        &profile,
        &[&shot, "--window-size=1200,2200"],
        &file,
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
}
