//! What the qcb-ops tests share: manifests to alert and report on, an HTTP receiver on loopback
//! that records what it is sent, a real SMTP server (aiosmtpd) on loopback, headless Chromium,
//! and a capture of the log lines.
//!
//! A program a test needs that is not installed skips the test with a message, unless
//! `QCB_REQUIRE_SERVERS=1` (as `scripts/test` sets): then it fails, as for the storage servers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qcb_backup::Manifest;
use serde_json::{json, Value};

/// A value that must never leave the process: tests put it where secrets live and look for it
/// in everything that goes out.
pub const SECRET: &str = "QCBSECRET";

// ---------------------------------------------------------------------------------------------
// Skipping

#[derive(Debug)]
pub struct Skip(pub String);

/// Whether a missing program fails the test (`QCB_REQUIRE_SERVERS=1`, as in CI).
pub fn servers_required() -> bool {
    std::env::var("QCB_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

pub fn missing(what: &str, hint: &str) -> Skip {
    let message = format!("{what} is not installed; install it with: {hint}");
    if servers_required() {
        panic!("{message} (QCB_REQUIRE_SERVERS=1: a missing server fails the test)");
    }
    Skip(message)
}

/// `Some(x)`, or `None` after printing why the test is skipped.
pub fn or_skip<T>(r: Result<T, Skip>) -> Option<T> {
    match r {
        Ok(x) => Some(x),
        Err(Skip(why)) => {
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------------
// Manifests

/// An item of a manifest: `(kind, id, name, status, error)`.
pub type ItemSpec<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>);

/// A manifest of tenant `acme.example.com` with these items (counts computed from them).
pub fn manifest(status: &str, items: &[ItemSpec]) -> Manifest {
    manifest_with(status, items, |_| {})
}

/// [`manifest`], with a hook to change the JSON before it is read.
pub fn manifest_with(status: &str, items: &[ItemSpec], edit: impl FnOnce(&mut Value)) -> Manifest {
    let items: Vec<Value> = items
        .iter()
        .map(|(kind, id, name, st, err)| {
            let path = if *st == "failed" {
                String::new()
            } else {
                format!("{kind}/{id}.json")
            };
            json!({"kind": kind, "id": id, "name": name, "path": path, "status": st,
                   "bytes": 100, "error": err, "redacted": [], "restore": "direct"})
        })
        .collect();
    let mut v = json!({
        "schema": "qcb.manifest/v1",
        "snapshot": "5e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7",
        "tool_version": "0.1.0",
        "tenant": {"url": "https://acme.example.com", "id": "t-1", "hostname": "acme.example.com"},
        "started_at": "2026-11-27T01:10:30+00:00",
        "finished_at": "2026-11-27T01:12:41+00:00",
        "status": status,
        "counts": {},
        "items": items,
        "not_covered": [{"kind": "app-objects", "reason": "other users' private sheets are not captured"}],
        "api": {"requests": 362, "throttled": 2, "retries": 1, "bytes": 14594532}
    });
    edit(&mut v);
    let mut m = Manifest::from_slice(&serde_json::to_vec(&v).expect("json")).expect("manifest");
    m.counts = Manifest::count(&m.items);
    m
}

// ---------------------------------------------------------------------------------------------
// HTTP receiver

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on 127.0.0.1 that records every request. Paths under `/status/500` answer
/// 500, under `/slow` answer after 5 s; everything else answers 200.
pub struct Receiver {
    pub base: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        use axum::body::Bytes;
        use axum::http::{HeaderMap, Method, StatusCode, Uri};

        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = got.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let store = store.clone();
                async move {
                    let path = uri.path().to_string();
                    store.lock().expect("lock").push(Received {
                        method: method.to_string(),
                        path: path.clone(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into(),
                    });
                    if path.starts_with("/status/500") {
                        (StatusCode::INTERNAL_SERVER_ERROR, "boom")
                    } else if path.starts_with("/slow") {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        (StatusCode::OK, "late")
                    } else {
                        (StatusCode::OK, "ok")
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            base: format!("http://{addr}"),
            got,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Takes what was received so far.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.got.lock().expect("lock"))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Logs

/// Captures what `tracing` logs on this thread while the guard lives (use a current-thread
/// runtime: `#[tokio::test]`).
pub struct Logs {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct BufWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn capture() -> Logs {
        let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = BufWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        Logs {
            buf,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("lock")).into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// SMTP

/// How the test SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    Plain,
    Starttls,
    Tls,
}

/// aiosmtpd on 127.0.0.1 (tests/it/support/smtp_server.py). Accepts user `alerts` with the
/// password given; writes each message to a folder. Dropping it stops the server.
pub struct SmtpServer {
    pub port: u16,
    /// The CA that signed the server's certificate (STARTTLS and TLS modes).
    pub ca_file: Option<PathBuf>,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpServer {
    pub fn start(mode: SmtpMode, password: &str) -> Result<SmtpServer, Skip> {
        let hint = "python3 -m pip install aiosmtpd==1.4.6";
        if which("python3").is_none() {
            return Err(missing("python3", "apt-get install -y python3"));
        }
        let has = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has {
            return Err(missing("aiosmtpd (PyPI)", hint));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).expect("mkdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(&out);
        let mut ca_file = None;
        match mode {
            SmtpMode::Plain => {
                cmd.arg("plain");
            }
            SmtpMode::Starttls | SmtpMode::Tls => {
                let (ca, cert, key) = make_certs(dir.path())?;
                cmd.arg(if mode == SmtpMode::Tls {
                    "tls"
                } else {
                    "starttls"
                })
                .arg(cert)
                .arg(key);
                ca_file = Some(ca);
            }
        }
        let mut child = cmd
            .env("QCB_TEST_SMTP_PASSWORD", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("the SMTP server did not start within 20 s");
            }
        };
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("the SMTP server said {line:?} instead of READY <port>")
            });
        Ok(SmtpServer {
            port,
            ca_file,
            dir,
            child,
        })
    }

    /// The messages received so far, oldest first (raw RFC 5322, with two test headers).
    pub fn messages(&self) -> Vec<String> {
        let dir = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("read mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read message"))
            .collect()
    }

    /// Waits until `n` messages arrived (they are written after the server answers).
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let m = self.messages();
            if m.len() >= n || start.elapsed() > Duration::from_secs(10) {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA and a certificate for 127.0.0.1 and localhost signed by it, made with openssl.
fn make_certs(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), Skip> {
    if which("openssl").is_none() {
        return Err(missing("openssl", "apt-get install -y openssl"));
    }
    let p = |n: &str| dir.join(n);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=qcb test CA",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&csr);
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    Ok((p("ca.pem"), p("srv.pem"), p("srv.key")))
}

// ---------------------------------------------------------------------------------------------
// Chromium

/// Headless Chromium, for rendering reports.
pub fn chromium() -> Result<PathBuf, Skip> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| which(n))
        .ok_or_else(|| missing("chromium", "apt-get install -y chromium"))
}

/// Runs headless Chromium on a local file with extra arguments; returns its stdout.
pub fn run_chromium(browser: &Path, profile: &Path, args: &[&str], file: &Path) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
