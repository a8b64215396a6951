//! The repository commands on a remote backend, through the real binary: `qcb init` and
//! `qcb snapshots` on S3 (SeaweedFS, SigV4), and the failures a person can fix — an endpoint
//! nobody answers on, a wrong secret, a missing bucket, a malformed location — each one line
//! on stderr with a non-zero exit, and no secret anywhere in the output, even at trace level.
//!
//! A missing server skips its test, or fails it under QCB_REQUIRE_SERVERS=1 (scripts/test).

use crate::servers;

use std::process::{Command, Output};

const PASSWORD: &str = "s3cret repository password";
const SECRET: &str = "qcbtestsecretkey0123456789";
const WRONG_SECRET: &str = "not-the-right-secret-key";

/// `qcb ARGS` with `QCB_REPO=repo`, the given environment and nothing inherited that could
/// point it elsewhere.
fn qcb(repo: &str, env: &[(String, String)], args: &[&str]) -> Output {
    let cache = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_qcb"));
    for name in qcb_repo::STORAGE_ENV_NAMES {
        command.env_remove(name);
    }
    command
        .args(args)
        .env("QCB_REPO", repo)
        .env("QCB_PASSWORD", PASSWORD)
        .env("QCB_CACHE_DIR", cache.path())
        .env_remove("QCB_PASSWORD_FILE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("qcb runs")
}

/// The one line on stderr of a run that exited with `code`; no secret in any output.
fn one_line_failure(out: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for secret in [SECRET, WRONG_SECRET, PASSWORD] {
        assert!(!stdout.contains(secret), "a secret on stdout: {stdout}");
        assert!(!stderr.contains(secret), "a secret on stderr: {stderr}");
    }
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0].to_string()
}

fn credentials() -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), "qcbtestaccesskey".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()),
    ]
}

#[test]
fn an_unreachable_s3_endpoint_is_one_line_and_exit_1() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let repo = format!("s3:http://127.0.0.1:{port}/qcb/repo");
    for command in ["init", "snapshots"] {
        let out = qcb(&repo, &credentials(), &[command]);
        let line = one_line_failure(&out, 1);
        assert!(
            line.starts_with(&format!(
                "error: cannot reach S3 at http://127.0.0.1:{port} ("
            )),
            "{line}"
        );
        assert!(
            line.ends_with(
                ": check the endpoint in --repo / QCB_REPO (or AWS_ENDPOINT_URL), and the network"
            ),
            "{line}"
        );
    }
}

#[test]
fn s3_init_and_its_mistakes_through_the_cli() {
    let Some(s3) = servers::or_skip(servers::s3()) else {
        return;
    };
    let endpoint = s3.var("QCB_S3_ENDPOINT");
    let bucket = s3.var("QCB_S3_BUCKET");
    let repo = format!("s3:{endpoint}/{bucket}/cli");
    let env = |secret: &str| {
        vec![
            (
                "AWS_ACCESS_KEY_ID".to_string(),
                s3.var("AWS_ACCESS_KEY_ID").to_string(),
            ),
            ("AWS_SECRET_ACCESS_KEY".to_string(), secret.to_string()),
            // Everything the storage layer logs, to show that no secret is among it.
            ("QCB_LOG".to_string(), "trace".to_string()),
        ]
    };
    assert_eq!(s3.var("AWS_SECRET_ACCESS_KEY"), SECRET);

    // A wrong secret: refused, in one line, and the secret is nowhere.
    let out = qcb(&repo, &env(WRONG_SECRET), &["init"]);
    let line = one_line_failure(&out, 1);
    assert_eq!(
        line,
        format!(
            "error: S3 refused access to {repo} (PermissionDenied): check AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), and that they may use this bucket"
        )
    );

    // The right one: init, then an empty list.
    let out = qcb(&repo, &env(SECRET), &["init"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("created repository at {repo}")),
        "{stdout}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET));
    let out = qcb(&repo, &env(SECRET), &["snapshots", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(listed, serde_json::json!([]));
    let out = qcb(&repo, &env(WRONG_SECRET), &["snapshots"]);
    one_line_failure(&out, 1);

    // A bucket that does not exist.
    let missing = format!("s3:{endpoint}/no-such-bucket/cli");
    let out = qcb(&missing, &env(SECRET), &["snapshots"]);
    assert_eq!(
        one_line_failure(&out, 1),
        format!(
            "error: the S3 bucket `no-such-bucket` does not exist at {endpoint}: check the bucket \
             name in --repo / QCB_REPO, or create the bucket"
        )
    );

    // A secret written into the location: a usage error, and the secret is not repeated.
    let leaky = format!("s3:http://qcbtestaccesskey:{SECRET}@127.0.0.1:1/{bucket}");
    let out = qcb(&leaky, &[], &["snapshots"]);
    let line = one_line_failure(&out, 2);
    assert!(
        line.contains("credentials never go into the repository URL"),
        "{line}"
    );

    // Half a key pair: a configuration error naming the missing variable.
    let half = vec![(
        "AWS_ACCESS_KEY_ID".to_string(),
        "qcbtestaccesskey".to_string(),
    )];
    let line = one_line_failure(&qcb(&repo, &half, &["snapshots"]), 2);
    assert!(
        line.contains("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
        "{line}"
    );
}
