//! Qlik's official TypeScript client, `@qlik/api`, run unchanged against the emulator
//! (tests/node): paging with its own `next()`, reading resources, exporting an app and
//! downloading it, and OAuth client credentials. If Qlik's own client works against the
//! emulator, the emulator speaks the protocol real clients expect.

use std::path::PathBuf;
use std::process::Command;

use qcb_emulator::{Emulator, EmulatorConfig, Profile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qlik_api_typescript_client_works_unchanged() {
    if std::env::var("QCB_SKIP_NODE_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("QCB_SKIP_NODE_TESTS=1: the @qlik/api test is skipped");
        return;
    }
    let node_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    let config = EmulatorConfig {
        profile: Profile::Demo,
        export_latency: std::time::Duration::from_millis(300),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator starts");
    let creds = emulator.tenant().credentials();
    let (client_id, client_secret) = creds
        .admin_bot
        .clone()
        .expect("the demo tenant has an M2M client");
    let url = emulator.url();
    let key = emulator.admin_api_key().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(node_dir.join("run.sh"))
            .arg("--test-reporter=spec")
            .env("QCB_TENANT", url)
            .env("QCB_API_KEY", key)
            .env("QCB_CLIENT_ID", client_id)
            .env("QCB_CLIENT_SECRET", client_secret)
            .output()
    })
    .await
    .expect("join")
    .expect("bash runs tests/node/run.sh (node and npm are required; the README's test command installs them)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "@qlik/api tests failed against the emulator (exit {:?})",
        output.status.code()
    );
    assert!(
        stdout.contains("pass") && !stdout.contains("skipped") || stdout.contains("ℹ pass"),
        "the node tests did not run"
    );
    let _ = emulator.stop().await;
}
