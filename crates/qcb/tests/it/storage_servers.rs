//! Smoke checks of the storage servers that the repository backends are tested against
//! (tests/servers/mod.rs): each one starts on 127.0.0.1, takes a real round trip over its own
//! protocol, and refuses wrong credentials where it checks them. restic, the reference for the
//! repository format, must be able to write a repository on the S3 and SFTP servers too (restic
//! init takes ~3 s: it calibrates its key derivation).
//!
//! A missing server skips its test, or fails it under QCB_REQUIRE_SERVERS=1 (scripts/test).

use crate::servers;

use std::path::Path;
use std::process::Output;
use std::time::SystemTime;

use servers::Server;

const BODY: &[u8] = b"hello from qcb\n";

async fn send(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client.request(method, url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a response body");
    (status, text)
}

/// Runs restic on `repo`: init, back up one file, list the snapshot.
fn restic_round_trip(server: &Server, repo: &str, options: &[String]) {
    let Some(restic) = servers::or_skip(servers::require_tool("restic", "apt-get install restic"))
    else {
        return;
    };
    let work = tempfile::tempdir().expect("a temporary directory");
    let file = work.path().join("hello.txt");
    std::fs::write(&file, BODY).expect("a file to back up");
    let run = |args: &[&str]| -> Output {
        let output = server
            .command(&restic)
            .args(["--no-cache", "--quiet", "-r", repo])
            .args(options)
            .args(args)
            .env("RESTIC_PASSWORD", "qcb-smoke")
            .output()
            .expect("restic runs");
        assert!(
            output.status.success(),
            "restic {args:?} on {repo} failed: {}\n--- server log ---\n{}",
            String::from_utf8_lossy(&output.stderr),
            server.log_tail(20)
        );
        output
    };
    run(&["init"]);
    run(&["backup", &file.display().to_string()]);
    let snapshots = run(&["snapshots", "--json"]);
    let snapshots: serde_json::Value =
        serde_json::from_slice(&snapshots.stdout).expect("restic lists snapshots as JSON");
    assert_eq!(snapshots.as_array().map(Vec::len), Some(1), "{snapshots}");
}

#[tokio::test]
async fn s3_sigv4_put_get_list_and_wrong_secrets_are_refused() {
    let Some(s3) = servers::or_skip(servers::s3()) else {
        return;
    };
    let endpoint = s3.var("QCB_S3_ENDPOINT");
    let bucket = s3.var("QCB_S3_BUCKET");
    let sign = |method: &str, url: &str, body: &[u8], secret: &str| {
        servers::sigv4_headers(
            method,
            url,
            body,
            s3.var("AWS_ACCESS_KEY_ID"),
            secret,
            s3.var("QCB_S3_REGION"),
            SystemTime::now(),
        )
        .expect("a SigV4 signature")
    };
    let secret = s3.var("AWS_SECRET_ACCESS_KEY");
    let client = reqwest::Client::new();
    let object = format!("{endpoint}/{bucket}/smoke/hello.txt");

    let (status, text) = send(
        &client,
        "PUT",
        &object,
        &sign("PUT", &object, BODY, secret),
        BODY,
    )
    .await;
    assert_eq!(status, 200, "PUT: {text}");
    let (status, text) = send(
        &client,
        "GET",
        &object,
        &sign("GET", &object, b"", secret),
        b"",
    )
    .await;
    assert_eq!((status, text.as_bytes()), (200, BODY));
    let list = format!("{endpoint}/{bucket}?list-type=2&prefix=smoke%2F");
    let (status, text) = send(&client, "GET", &list, &sign("GET", &list, b"", secret), b"").await;
    assert_eq!(status, 200, "LIST: {text}");
    assert!(text.contains("<Key>smoke/hello.txt</Key>"), "LIST: {text}");

    let wrong = sign("GET", &object, b"", "not-the-secret");
    let (status, text) = send(&client, "GET", &object, &wrong, b"").await;
    assert_eq!(status, 403, "a wrong secret must be refused: {text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    let (status, _) = send(&client, "GET", &object, &[], b"").await;
    assert_eq!(status, 403, "an unsigned request must be refused");
}

#[test]
fn restic_opens_a_repository_on_s3() {
    let Some(s3) = servers::or_skip(servers::s3()) else {
        return;
    };
    let url = format!(
        "s3:{}/{}/restic",
        s3.var("QCB_S3_ENDPOINT"),
        s3.var("QCB_S3_BUCKET")
    );
    restic_round_trip(&s3, &url, &[]);
}

#[tokio::test]
async fn azurite_shared_key_put_get_list_and_a_wrong_key_is_refused() {
    let Some(azure) = servers::or_skip(servers::azurite()) else {
        return;
    };
    let endpoint = azure.var("QCB_AZURE_ENDPOINT");
    let container = azure.var("QCB_AZURE_CONTAINER");
    let account = azure.var("QCB_AZURE_ACCOUNT");
    let sign = |method: &str, url: &str, headers: &[(String, String)], len: usize, key: &str| {
        servers::azure_shared_key_headers(
            method,
            url,
            headers,
            len,
            account,
            key,
            SystemTime::now(),
        )
        .expect("a SharedKey signature")
    };
    let key = azure.var("QCB_AZURE_KEY");
    let client = reqwest::Client::new();
    let blob = format!("{endpoint}/{container}/smoke/hello.txt");
    let block_blob = [("x-ms-blob-type".to_string(), "BlockBlob".to_string())];

    let put = sign("PUT", &blob, &block_blob, BODY.len(), key);
    let (status, text) = send(&client, "PUT", &blob, &put, BODY).await;
    assert_eq!(status, 201, "PUT: {text}");
    let (status, text) = send(&client, "GET", &blob, &sign("GET", &blob, &[], 0, key), b"").await;
    assert_eq!((status, text.as_bytes()), (200, BODY));
    let list = format!("{endpoint}/{container}?restype=container&comp=list&prefix=smoke%2F");
    let (status, text) = send(&client, "GET", &list, &sign("GET", &list, &[], 0, key), b"").await;
    assert_eq!(status, 200, "LIST: {text}");
    assert!(
        text.contains("<Name>smoke/hello.txt</Name>"),
        "LIST: {text}"
    );

    let wrong_key = servers::base64_encode(&[7u8; 64]);
    let wrong = sign("GET", &blob, &[], 0, &wrong_key);
    let (status, text) = send(&client, "GET", &blob, &wrong, b"").await;
    assert_eq!(status, 403, "a wrong key must be refused: {text}");
    let (status, _) = send(&client, "GET", &blob, &[], b"").await;
    assert!(
        status == 403 || status == 404,
        "an anonymous read of a private container must be refused, got {status}"
    );
}

#[tokio::test]
async fn fake_gcs_json_api_upload_download_list() {
    let Some(gcs) = servers::or_skip(servers::gcs()) else {
        return;
    };
    let endpoint = gcs.var("QCB_GCS_ENDPOINT");
    let bucket = gcs.var("QCB_GCS_BUCKET");
    let client = reqwest::Client::new();

    let upload = format!(
        "{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name=smoke%2Fhello.txt"
    );
    let content_type = [(
        "content-type".to_string(),
        "application/octet-stream".to_string(),
    )];
    let (status, text) = send(&client, "POST", &upload, &content_type, BODY).await;
    assert_eq!(status, 200, "upload: {text}");
    let meta: serde_json::Value = serde_json::from_str(&text).expect("object metadata");
    assert_eq!(meta["name"], "smoke/hello.txt", "{meta}");
    assert_eq!(meta["size"], BODY.len().to_string(), "{meta}");

    let object = format!("{endpoint}/storage/v1/b/{bucket}/o/smoke%2Fhello.txt?alt=media");
    let (status, text) = send(&client, "GET", &object, &[], b"").await;
    assert_eq!((status, text.as_bytes()), (200, BODY));
    let list = format!("{endpoint}/storage/v1/b/{bucket}/o?prefix=smoke%2F");
    let (status, text) = send(&client, "GET", &list, &[], b"").await;
    assert_eq!(status, 200, "list: {text}");
    let list: serde_json::Value = serde_json::from_str(&text).expect("an object list");
    assert_eq!(list["items"][0]["name"], "smoke/hello.txt", "{list}");

    // fake-gcs-server checks no credentials; a missing bucket is still an error.
    let missing = format!("{endpoint}/storage/v1/b/no-such-bucket/o");
    let (status, _) = send(&client, "GET", &missing, &[], b"").await;
    assert_eq!(status, 404);
}

fn sftp_batch(server: &Server, args: &[&str], batch: &str) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("batch");
    std::fs::write(&file, batch).expect("an sftp batch file");
    let sftp = servers::require_tool("sftp", "apt-get install openssh-client")
        .expect("sftp is installed with ssh-keygen, which the server needed");
    server
        .command(sftp)
        .arg("-b")
        .arg(&file)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sftp runs")
}

#[test]
fn sftp_key_login_put_get_list_and_a_wrong_key_or_host_key_is_refused() {
    let Some(sftp) = servers::or_skip(servers::sftp()) else {
        return;
    };
    let root = Path::new(sftp.var("QCB_SFTP_ROOT"));
    assert_eq!(std::fs::read_dir(root).map(Iterator::count).ok(), Some(0));
    let work = tempfile::tempdir().expect("a temporary directory");
    let local = work.path().join("hello.txt");
    let back = work.path().join("back.txt");
    std::fs::write(&local, BODY).expect("a file to upload");
    let batch = format!(
        "mkdir {root}/smoke\nput {local} {root}/smoke/hello.txt\nls {root}/smoke\n\
         get {root}/smoke/hello.txt {back}\n",
        root = root.display(),
        local = local.display(),
        back = back.display()
    );
    let config = sftp.var("QCB_SFTP_SSH_CONFIG");
    let alias = sftp.var("QCB_SFTP_HOST_ALIAS");
    let ok = sftp_batch(&sftp, &["-F", config, alias], &batch);
    assert!(
        ok.status.success(),
        "sftp failed: {}\n--- server log ---\n{}",
        String::from_utf8_lossy(&ok.stderr),
        sftp.log_tail(20)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("hello.txt"));
    assert_eq!(
        std::fs::read(root.join("smoke/hello.txt")).ok().as_deref(),
        Some(BODY)
    );
    assert_eq!(std::fs::read(&back).ok().as_deref(), Some(BODY));

    // Another key, same user: refused.
    let keygen = servers::which("ssh-keygen").expect("ssh-keygen (the server needed it)");
    let wrong_key = work.path().join("wrong_ed25519");
    let made = std::process::Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong_key)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success());
    let port = sftp.var("QCB_SFTP_PORT");
    let target = format!("{}@127.0.0.1", sftp.var("QCB_SFTP_USER"));
    let known = format!("UserKnownHostsFile={}", sftp.var("QCB_SFTP_KNOWN_HOSTS"));
    let wrong_key = wrong_key.display().to_string();
    let common = [
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
    ];
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["-o", &known, "-i", &wrong_key, "-P", port, &target]);
    let refused = sftp_batch(&sftp, &args, "ls\n");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("Permission denied"), "{stderr}");

    // The right key, but a host key that is not the server's: refused by the client.
    let empty_known = work.path().join("known_hosts");
    std::fs::write(&empty_known, "").expect("an empty known_hosts");
    let empty_known = format!("UserKnownHostsFile={}", empty_known.display());
    let mut args: Vec<&str> = common.to_vec();
    args.extend([
        "-o",
        &empty_known,
        "-i",
        sftp.var("QCB_SFTP_KEY"),
        "-P",
        port,
        &target,
    ]);
    let unknown = sftp_batch(&sftp, &args, "ls\n");
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("Host key verification failed"), "{stderr}");
}

#[test]
fn restic_opens_a_repository_over_sftp() {
    let Some(sftp) = servers::or_skip(servers::sftp()) else {
        return;
    };
    let config = sftp.var("QCB_SFTP_SSH_CONFIG");
    let alias = sftp.var("QCB_SFTP_HOST_ALIAS");
    let root = sftp.var("QCB_SFTP_ROOT");
    let command = format!("sftp.command=ssh -F {config} {alias} -s sftp");
    let url = format!("sftp:{alias}:{root}/restic");
    restic_round_trip(&sftp, &url, &["-o".to_string(), command]);
}
