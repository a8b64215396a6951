//! `qcb restore` and `qcb runbook` as a user runs them, against emulated tenants started in
//! the test: the plan writes nothing, writing needs --yes, the report lists what is left to
//! do, a second run creates nothing, bad --map and --secrets files are usage errors that name
//! the file, and no secret reaches any output at any log level.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use qcb_backup::{backup, BackupOptions};
use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_repo::{Repo, RepoOptions};
use secrecy::SecretString;

const PASSWORD: &str = "restore cli test password";
/// What the emulator puts in every secret it seeds.
const MARKER: &str = "QCBSECRET";
/// Few writes, so the restores stay quick at the client's real-time pacing: webhooks (with
/// secrets to enter again), groups and custom roles.
const KINDS: &str = "webhooks,groups,roles";

async fn emulator(profile: Profile) -> Emulator {
    let config = EmulatorConfig {
        profile,
        time_scale: 60.0,
        ..EmulatorConfig::default()
    };
    Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator")
}

/// The tenant as `qcb` is told about it: URL, client ID and secret of its admin bot.
fn tenant_of(e: &Emulator) -> (String, String, String) {
    let (id, secret) = e.tenant().credentials().admin_bot.expect("bot");
    (e.url(), id, secret)
}

/// Backs the tenant up into a new repository (in-process, at the emulator's pace).
async fn back_up(e: &Emulator, repo: &Path) {
    let (url, id, secret) = tenant_of(e);
    let client = TenantClient::new(
        TenantUrl::parse(&url).expect("url"),
        Credentials::OAuthClient {
            client_id: id,
            client_secret: SecretString::from(secret),
            scope: None,
        },
        ClientOptions {
            budget: Budget {
                fraction: 1.0,
                burst: 50,
                burst_minutes: 0.0,
                time_scale: 60.0,
            },
            ..ClientOptions::default()
        },
    )
    .expect("client");
    let opts = RepoOptions::new(
        repo.display().to_string(),
        SecretString::from(PASSWORD.to_string()),
    );
    let repo = Arc::new(tokio::task::block_in_place(|| Repo::init(&opts)).expect("init"));
    let out = backup(&client, repo, &BackupOptions::default())
        .await
        .expect("backup");
    assert!(out.snapshot.is_some());
}

/// `qcb` with the repository, the tenant and nothing else from the environment, run in `dir`.
fn qcb(dir: &Path, repo: &Path, tenant: &(String, String, String)) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qcb"));
    c.current_dir(dir)
        .stdin(Stdio::null())
        .env("QCB_REPO", repo)
        .env("QCB_PASSWORD", PASSWORD)
        .env("QCB_TENANT", &tenant.0)
        .env("QCB_CLIENT_ID", &tenant.1)
        .env("QCB_CLIENT_SECRET", &tenant.2)
        .env_remove("QCB_PASSWORD_FILE")
        .env_remove("QCB_API_KEY")
        .env_remove("QCB_SECRETS_FILE")
        .env_remove("QCB_LOG");
    c
}

/// Runs a command; its output is also checked for secrets.
fn run(cmd: &mut Command, seen: &mut Vec<(String, Output)>) -> Output {
    let out = tokio::task::block_in_place(|| cmd.output()).expect("qcb runs");
    seen.push((format!("{cmd:?}"), out.clone()));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn writes(e: &Emulator) -> BTreeMap<String, u64> {
    e.tenant()
        .counters()
        .per_operation
        .into_iter()
        .filter(|(op, _)| {
            !op.starts_with("GET ") && !op.starts_with("HEAD ") && !op.contains("/oauth/token")
        })
        .collect()
}

/// How many documents of each kind the tenant holds.
fn sizes(e: &Emulator) -> BTreeMap<String, usize> {
    e.tenant()
        .read()
        .kinds
        .iter()
        .map(|(k, c)| (k.clone(), c.len()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_and_runbook_from_the_command_line() {
    let a = emulator(Profile::Demo).await;
    let b = emulator(Profile::Empty).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let repo = dir.join("repo");
    back_up(&a, &repo).await;
    let (ta, tb) = (tenant_of(&a), tenant_of(&b));
    let mut seen = Vec::new();
    b.tenant().reset_counters();

    // --plan: the table, exit 0, nothing written.
    let out = run(
        qcb(dir, &repo, &tb).args(["restore", "latest", "--plan", "--only", KINDS]),
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.starts_with("restore plan: snapshot ")
            && plan.contains("webhooks")
            && plan.contains("create"),
        "{plan}"
    );
    assert!(writes(&b).is_empty(), "{:?}", writes(&b));

    // Without --yes and no terminal to ask on: the plan, one line saying what to do, exit 2.
    let out = run(
        qcb(dir, &repo, &tb).args(["restore", "latest", "--only", KINDS]),
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains("--yes"), "{err}");
    assert!(text(&out.stdout).starts_with("restore plan: "));
    assert!(writes(&b).is_empty(), "{:?}", writes(&b));

    // --yes --report: written, the Markdown report lists what is left to do. Logged at debug
    // level, with secrets supplied from a file: none of them is shown.
    let secrets = dir.join("secrets.toml");
    let hook = a
        .tenant()
        .read()
        .values("webhooks")
        .next()
        .and_then(|h| h["name"].as_str().map(str::to_string))
        .expect("a webhook");
    let supplied = format!("{MARKER}-supplied-signing-secret-5b2d4f60a8e1");
    std::fs::write(
        &secrets,
        format!("[webhooks.\"{hook}\"]\nsecret = \"{supplied}\"\n"),
    )
    .expect("secrets file");
    let report = dir.join("restore-report.md");
    let out = run(
        qcb(dir, &repo, &tb)
            .args(["restore", "latest", "--yes", "--only", KINDS, "--report"])
            .arg(&report)
            .arg("--secrets")
            .arg(&secrets)
            .env("QCB_LOG", "debug"),
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains("restore of snapshot") && summary.contains(&report.display().to_string()),
        "{summary}"
    );
    let md = std::fs::read_to_string(&report).expect("the report");
    assert!(md.starts_with("# Restore of snapshot"), "{md}");
    assert!(
        md.contains("## Left to do") && md.contains("- [ ] webhooks"),
        "{md}"
    );
    assert!(md.contains("/headers/Authorization"), "{md}");
    assert!(!md.contains(MARKER), "{md}");
    // The webhooks' owners are neither in B nor restored: said before writing (on stderr,
    // though --yes shows no plan), and in the report.
    let err = text(&out.stderr);
    let warned = err
        .find("warning: ")
        .filter(|at| err[*at..].contains("unmapped users "));
    assert!(warned.is_some(), "{err}");
    assert!(
        md.contains("## Unmapped references") && md.contains("referenced by webhooks "),
        "{md}"
    );
    assert!(
        md.contains("| kind | done | skipped | conflicts | manual | failed |"),
        "{md}"
    );
    let hooks = b
        .tenant()
        .read()
        .values("webhooks")
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        hooks
            .iter()
            .any(|h| h["name"] == hook.as_str() && h["secret"] == supplied.as_str()),
        "the supplied secret reached the target"
    );
    assert!(!writes(&b).is_empty());

    // Again, as JSON: it parses, and nothing new is created.
    let before = sizes(&b);
    b.tenant().reset_counters();
    let out = run(
        qcb(dir, &repo, &tb)
            .args([
                "restore", "latest", "--yes", "--json", "--only", KINDS, "--report",
            ])
            .arg(dir.join("again.md")),
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report as JSON");
    let results = json["results"].as_array().expect("results");
    assert!(!results.is_empty());
    let created: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r["outcome"] == "done" && r["action"] == "create")
        .collect();
    assert!(created.is_empty(), "{created:#?}");
    assert!(
        json["manual"].is_array() && json["id_map"].is_object(),
        "{json}"
    );
    assert!(
        json["unmapped"].as_array().is_some_and(|u| !u.is_empty())
            && json["counts"]["conflicts"].is_u64(),
        "{json}"
    );
    assert!(
        text(&out.stderr).contains("unmapped users "),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(sizes(&b), before, "a second restore creates nothing");
    let posts: Vec<String> = writes(&b)
        .into_keys()
        .filter(|op| op.starts_with("POST "))
        .collect();
    assert!(posts.is_empty(), "{posts:?}");

    // The runbook, in Markdown and JSON.
    let out = run(qcb(dir, &repo, &tb).args(["runbook", "latest"]), &mut seen);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let book = text(&out.stdout);
    for section in [
        "# Restore runbook: ",
        "## What comes back, kind by kind (in restore order)",
        "## Secrets to enter again",
        "## New IDs that consumers must learn",
        "## Kept only for the record",
        "## Restore order",
    ] {
        assert!(book.contains(section), "{section}:\n{book}");
    }
    assert!(book.contains("Estimated restore time"), "{book}");
    let out = run(
        qcb(dir, &repo, &tb).args(["runbook", "latest", "--json"]),
        &mut seen,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let book: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the runbook as JSON");
    assert!(
        book["kinds"].as_array().is_some_and(|k| !k.is_empty()),
        "{book}"
    );
    assert!(
        book["secrets"].as_array().is_some_and(|s| !s.is_empty()),
        "{book}"
    );
    assert!(
        book["order"].as_array().is_some_and(|o| !o.is_empty()),
        "{book}"
    );
    assert!(
        book["estimate"]["writes"].as_u64().is_some_and(|w| w > 0),
        "{book}"
    );

    // Bad --map and --secrets files: exit 2, the file named, nothing written.
    b.tenant().reset_counters();
    let bad = |name: &str, body: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    };
    let subject = a
        .tenant()
        .read()
        .values("users")
        .filter_map(|u| u["subject"].as_str().map(str::to_string))
        .next()
        .expect("a user");
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "--map",
            bad("broken-map.toml", "[users\n\"a\" = "),
            "not valid TOML",
        ),
        ("--map", bad("people.json", "{\"people\": {}}"), "[users]"),
        (
            "--map",
            bad(
                "nobody.toml",
                &format!("[users]\n\"{subject}\" = \"auth0|nobody-in-b\"\n"),
            ),
            "does not exist in the target tenant",
        ),
        ("--map", dir.join("missing-map.toml"), "cannot read it"),
        (
            "--secrets",
            bad(
                "kinds.toml",
                &format!("[dashboards.\"x\"]\nf = \"{MARKER}-in-a-bad-file\"\n"),
            ),
            "unknown component kind 'dashboards'",
        ),
        (
            "--secrets",
            bad(
                "broken-secrets.toml",
                &format!("[webhooks.x]\nsecret = {MARKER}-unquoted\n"),
            ),
            "not valid TOML",
        ),
    ];
    for (flag, file, why) in cases {
        let out = run(
            qcb(dir, &repo, &tb)
                .args(["restore", "latest", "--plan", "--only", KINDS, flag])
                .arg(&file),
            &mut seen,
        );
        let err = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {}: {err}",
            file.display()
        );
        assert!(
            err.contains(&file.display().to_string()) && err.contains(why),
            "{flag} {}: {err}",
            file.display()
        );
    }
    // The secrets document itself in QCB_SECRETS (no file): read, its mistakes named by the
    // variable, never by value.
    for (doc, why) in [
        (
            format!("[dashboards.\"x\"]\nf = \"{MARKER}-in-the-variable\"\n"),
            "unknown component kind 'dashboards'",
        ),
        (
            format!("{{\"webhooks\": {{\"x\": {{\"secret\": {MARKER}}}}}}}"),
            "not valid JSON",
        ),
    ] {
        let out = run(
            qcb(dir, &repo, &tb)
                .args(["restore", "latest", "--plan", "--only", KINDS])
                .env("QCB_SECRETS", &doc),
            &mut seen,
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("QCB_SECRETS") && err.contains(why), "{err}");
    }
    // A --fallback-owner that is no user of the target: exit 2 while planning, named.
    let out = run(
        qcb(dir, &repo, &tb).args([
            "restore",
            "latest",
            "--yes",
            "--only",
            KINDS,
            "--fallback-owner",
            "nobody@b.example",
        ]),
        &mut seen,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--fallback-owner nobody@b.example") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(writes(&b).is_empty(), "{:?}", writes(&b));

    // Against the backed-up tenant itself, whose documents hold the seeded secrets: a plan of
    // everything, and a restore, at debug and trace level.
    for level in ["debug", "trace"] {
        let out = run(
            qcb(dir, &repo, &ta)
                .args(["restore", "latest", "--plan"])
                .env("QCB_LOG", level),
            &mut seen,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let out = run(
        qcb(dir, &repo, &ta)
            .args(["restore", "latest", "--yes", "--only", KINDS, "--report"])
            .arg(dir.join("same-tenant.md"))
            .env("QCB_LOG", "debug"),
        &mut seen,
    );
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "{}",
        text(&out.stderr)
    );
    assert!(!std::fs::read_to_string(dir.join("same-tenant.md"))
        .expect("report")
        .contains(MARKER));

    for (cmd, out) in &seen {
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let t = text(bytes);
            if let Some(at) = t.find(MARKER) {
                let from = t[..at].char_indices().rev().nth(80).map_or(0, |(i, _)| i);
                panic!(
                    "{cmd}: a secret in {stream}: …{}…",
                    &t[from..at + MARKER.len()]
                );
            }
        }
    }
    let _ = a.stop().await;
    let _ = b.stop().await;
}
