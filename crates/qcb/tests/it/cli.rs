//! Black-box tests of the `qcb` binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn qcb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qcb"))
}

#[test]
fn emulator_prints_its_tenant_and_key_first_and_serves_it() {
    let mut child = qcb()
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--profile",
            "demo",
            "--api-key",
            "test-key-123",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qcb emulator starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let line = first.trim_end();
    let (tenant, key) = line.split_once(' ').expect("two assignments");
    let url = tenant
        .strip_prefix("QCB_TENANT=http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .expect("QCB_TENANT=<url>");
    assert_eq!(key, "QCB_API_KEY=test-key-123");
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            "Authorization: Bearer test-key-123",
            &format!("{url}/api/v1/spaces?limit=3"),
        ])
        .output();
    if let Ok(out) = out {
        let body: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("JSON from the emulator");
        assert_eq!(body["data"].as_array().map(Vec::len), Some(3));
        assert!(body["links"]["next"]["href"]
            .as_str()
            .is_some_and(|h| h.starts_with(&url)));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn emulator_rejects_bad_options_with_a_clear_error() {
    let out = qcb()
        .args(["emulator", "--profile", "huge"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown profile 'huge'"), "{err}");
    let out = qcb()
        .args(["emulator", "--time-scale", "0"])
        .output()
        .expect("runs");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--time-scale must be a positive number"));
    let out = qcb()
        .args(["emulator", "--listen", "256.0.0.1:99999"])
        .output()
        .expect("runs");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on 256.0.0.1:99999"));
}

#[test]
fn demo_backs_up_the_emulated_tenant_and_prints_the_summary() {
    let started = Instant::now();
    let out = qcb().arg("demo").output().expect("qcb demo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("snapshot "), "{stdout}");
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.ends_with(": success")),
        "{stdout}"
    );
    let apps = stdout
        .lines()
        .find(|l| l.starts_with("apps "))
        .expect("an apps line");
    let total: usize = apps
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(total > 0);
    assert!(stdout.contains("secret fields redacted"));
    let repo = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Repository: "))
        .and_then(|l| l.split(' ').next())
        .expect("the repository");
    // The demo repository opens with the printed password.
    let snaps = qcb()
        .args(["snapshots", "--repo", repo])
        .env("QCB_PASSWORD", "qcb-demo")
        .output()
        .expect("snapshots");
    assert!(
        snaps.status.success(),
        "{}",
        String::from_utf8_lossy(&snaps.stderr)
    );
    assert!(String::from_utf8_lossy(&snaps.stdout).contains("success"));
    let _ = std::fs::remove_dir_all(
        std::path::Path::new(repo)
            .parent()
            .unwrap_or(std::path::Path::new(repo)),
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}
