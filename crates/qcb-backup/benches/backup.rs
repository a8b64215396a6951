//! How fast and how lean a whole backup is, against Qlik's rate limits.
//!
//! Starts the `large` emulated tenant (1842 apps) at time scale 60 with Qlik's rate limits
//! (5-minute windows), and in one process, one after the other:
//!
//! 1. a full backup (`--full`) into a new local repository: wall time ÷ the rate-limit lower
//!    bound (each tier's requests ÷ its allowed rate at this time scale; the largest is the
//!    bound: the 1842 exports at tier 2), and the API calls it made;
//! 2. an incremental backup after 2% of the apps changed: API calls and wall time as fractions
//!    of the full run's, against two floors: its CPU spread over every core, and the
//!    repository writer alone storing the same files again unchanged (nothing read or asked);
//! 3. a plain sequential export loop, one app at a time (export, download, write to a file),
//!    as scripts and Qlik's automation templates do it, over the same apps: our speed-up;
//! 4. one app grown to 2 GiB (`QCB_BENCH_BIG_GIB`, 0 to skip) and backed up: peak memory
//!    compared with the incremental run's, to show that memory does not grow with app size.
//!
//! The emulated tenant runs in a child process of its own (this binary, started again with
//! `--emulator-child`, driven over its stdin and stdout), so that peak resident memory — the
//! process's `VmHWM`, reset before each phase through `/proc/self/clear_refs` — is the
//! backup's alone. The incremental run's requests are also listed per operation. `QCB_BENCH_QUICK=1` (or
//! `--quick`) runs the sequential loop over 100 apps only and extrapolates.
//!
//! `cargo bench -p qcb-backup --bench backup` (`QCB_BENCH_LOG=qcb_backup=debug`: each run's phases)

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use qcb_backup::{backup, BackupOptions, RunStatus};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use qcb_emulator::{Emulator, EmulatorConfig, Profile};
use qcb_qlik::tiers::Tiers;
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_repo::{Repo, RepoOptions};
use secrecy::SecretString;
use tokio::io::AsyncWriteExt;

type BoxError = Box<dyn Error + Send + Sync>;

const EXPORT: &str = "POST /api/v1/apps/{appId}/export";

struct Settings {
    time_scale: f64,
    quick: bool,
    big_gib: u64,
    exports_in_flight: usize,
}

impl Settings {
    fn from_env() -> Result<Settings, BoxError> {
        let num = |name: &str, default: f64| -> Result<f64, BoxError> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| format!("{name} must be a number, got '{v}'").into()),
                Err(_) => Ok(default),
            }
        };
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var("QCB_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        Ok(Settings {
            time_scale: num("QCB_BENCH_TIME_SCALE", 60.0)?.max(1.0),
            quick,
            big_gib: num("QCB_BENCH_BIG_GIB", 2.0)? as u64,
            exports_in_flight: num(
                "QCB_BENCH_EXPORTS",
                qcb_backup::DEFAULT_EXPORTS_IN_FLIGHT as f64,
            )?
            .max(1.0) as usize,
        })
    }
}

/// When a run started writing its snapshot, and the peak memory until then.
#[derive(Default)]
struct StoringAt(std::sync::Mutex<Option<(Instant, u64)>>);

impl qcb_backup::Progress for StoringAt {
    fn event(&self, event: &qcb_backup::Event<'_>) {
        if let qcb_backup::Event::Storing { .. } = event {
            if let Ok(mut at) = self.0.lock() {
                *at = Some((Instant::now(), vm_hwm_kib()));
            }
        }
    }
}

/// What one phase cost.
#[derive(Default, Clone)]
struct Phase {
    wall: Duration,
    /// Until the snapshot started to be written (everything read and exported).
    read: Duration,
    /// Peak memory until then.
    read_peak_rss_kib: u64,
    requests: u64,
    per_tier: BTreeMap<String, (u32, u64)>,
    exports: u64,
    bytes: u64,
    peak_rss_kib: u64,
    throttled: u64,
    per_operation: BTreeMap<String, u64>,
    /// CPU time used by the backup's process and by the emulator's during the phase.
    cpu: Duration,
    emulator_cpu: Duration,
    /// How long exports took to be ready, as the client learned it.
    ready_after: Option<Duration>,
    /// The snapshot the run wrote (none for the sequential loop).
    snapshot: Option<qcb_repo::SnapshotInfo>,
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time this process has used (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let ticks: u64 = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start at state (3rd).
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.iter().sum())
        })
        .unwrap_or(0);
    // Linux reports in USER_HZ, 100 per second on every common configuration.
    Duration::from_millis(ticks * 10)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts a new peak: the high-water mark drops to the current resident size.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The tenant's counts of `/api` requests since the last reset, per tier.
fn tier_use(counters: &Counters) -> (u64, BTreeMap<String, (u32, u64)>, u64) {
    let mut per_tier: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    let mut total = 0;
    for (op, n) in &counters.per_operation {
        let Some((method, path)) = op.split_once(' ') else {
            continue;
        };
        if !path.starts_with("/api/") {
            continue;
        }
        total += n;
        let tier = Tiers::get().of(method, path);
        per_tier.entry(tier.key).or_insert((tier.per_minute, 0)).1 += n;
    }
    let exports = counters.per_operation.get(EXPORT).copied().unwrap_or(0);
    (total, per_tier, exports)
}

/// What the emulated tenant counted since its last reset.
#[derive(Default, Clone)]
struct Counters {
    per_operation: BTreeMap<String, u64>,
    throttled: u64,
}

/// The emulated tenant in a child process: one command per line on its stdin, one answer
/// per line on its stdout (`ok …` or `error …`).
struct Tenant {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    url: String,
    bot: (String, String),
}

impl Tenant {
    fn start(s: &Settings) -> Result<Tenant, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--emulator-child")
            .env("QCB_BENCH_TIME_SCALE", s.time_scale.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or("the emulator child has no stdin")?;
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or("the emulator child has no stdout")?,
        );
        let mut t = Tenant {
            child,
            stdin,
            stdout,
            url: String::new(),
            bot: (String::new(), String::new()),
        };
        let ready = t.answer()?;
        let mut words = ready.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some(url), Some(id), Some(secret)) => {
                t.url = url.to_string();
                t.bot = (id.to_string(), secret.to_string());
                Ok(t)
            }
            _ => Err(format!("the emulator child answered `{ready}`").into()),
        }
    }

    fn answer(&mut self) -> Result<String, BoxError> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err("the emulator child stopped".into());
        }
        let line = line.trim_end();
        match line.split_once(' ').unwrap_or((line, "")) {
            ("ok", rest) => Ok(rest.to_string()),
            (_, rest) => Err(format!("the emulator child: {rest}").into()),
        }
    }

    fn call(&mut self, command: &str) -> Result<String, BoxError> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        self.answer()
    }

    /// Fresh rate windows and counters, as a daily run would meet.
    fn reset(&mut self) -> Result<(), BoxError> {
        self.call("reset").map(drop)
    }

    fn counters(&mut self) -> Result<Counters, BoxError> {
        let v: serde_json::Value = serde_json::from_str(&self.call("counters")?)?;
        Ok(Counters {
            per_operation: serde_json::from_value(v["per_operation"].clone())?,
            throttled: v["throttled"].as_u64().unwrap_or(0),
        })
    }

    fn ids(&mut self, kind: &str) -> Result<Vec<String>, BoxError> {
        Ok(serde_json::from_str(&self.call(&format!("ids {kind}"))?)?)
    }

    fn touch(&mut self, id: &str) -> Result<(), BoxError> {
        self.call(&format!("touch {id}")).map(drop)
    }

    fn grow(&mut self, id: &str, bytes: u64) -> Result<(), BoxError> {
        self.call(&format!("grow {id} {bytes}")).map(drop)
    }

    fn cpu(&mut self) -> Result<Duration, BoxError> {
        Ok(Duration::from_millis(self.call("cpu")?.parse()?))
    }

    fn rss_kib(&mut self) -> Result<u64, BoxError> {
        Ok(self.call("rss")?.parse()?)
    }

    fn stop(mut self) -> Result<(), BoxError> {
        let _ = self.call("stop");
        self.child.wait()?;
        Ok(())
    }
}

/// Makes app `id`'s export `bytes` long, and the app changed.
fn grow(e: &Emulator, id: &str, bytes: &str) -> Result<String, String> {
    let size: u64 = bytes.parse().map_err(|_| format!("bad size {bytes}"))?;
    {
        let mut state = e.tenant().write();
        let content = state
            .app_content
            .get_mut(id)
            .ok_or_else(|| format!("no app {id}"))?;
        content.size = size;
    }
    e.tenant()
        .touch("apps", id)
        .map(|()| String::new())
        .map_err(|err| format!("cannot change app {id}: {err:?}"))
}

/// The child: starts the `large` tenant and serves commands until `stop` or end of input.
fn emulator_child(s: &Settings) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let config = EmulatorConfig {
        profile: Profile::Large,
        time_scale: s.time_scale,
        ..EmulatorConfig::default()
    };
    let e = runtime.block_on(Emulator::start(config, "127.0.0.1:0"))?;
    let (id, secret) = e
        .tenant()
        .credentials()
        .admin_bot
        .ok_or("the tenant has no admin bot")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ok {} {id} {secret}", e.url())?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer: Result<String, String> = match words.as_slice() {
            ["reset"] => {
                e.tenant().limiter.reset();
                e.tenant().reset_counters();
                Ok(String::new())
            }
            ["counters"] => {
                let c = e.tenant().counters();
                Ok(
                    serde_json::json!({"per_operation": c.per_operation, "throttled": c.throttled})
                        .to_string(),
                )
            }
            ["ids", kind] => Ok(serde_json::json!(e.tenant().ids(kind)).to_string()),
            ["touch", id] => e
                .tenant()
                .touch("apps", id)
                .map(|()| String::new())
                .map_err(|err| format!("cannot change app {id}: {err:?}")),
            ["grow", id, bytes] => grow(&e, id, bytes),
            ["rss"] => Ok(vm_rss_kib().to_string()),
            ["cpu"] => Ok(cpu_time().as_millis().to_string()),
            ["stop"] => break,
            _ => Err(format!("unknown command `{line}`")),
        };
        match answer {
            Ok(a) => writeln!(out, "ok {a}")?,
            Err(err) => writeln!(out, "error {err}")?,
        }
        out.flush()?;
    }
    runtime.block_on(e.stop())?;
    Ok(())
}

/// The rate-limit lower bound of a phase: each tier's requests at its allowed rate; tiers
/// are separate budgets that run side by side, so the slowest decides.
/// `banked_minutes` of each tier's rate may go at once (the client's burst), so only the
/// requests after them wait for the rate.
fn lower_bound(
    per_tier: &BTreeMap<String, (u32, u64)>,
    time_scale: f64,
    banked_minutes: f64,
) -> (String, f64, f64) {
    let secs = |per_minute: u32, n: u64| {
        let paced = (n as f64 - f64::from(per_minute) * banked_minutes).max(0.0);
        paced / (f64::from(per_minute) / 60.0 * time_scale)
    };
    let mut worst = (String::new(), 0.0);
    let mut sum = 0.0;
    for (key, (per_minute, n)) in per_tier {
        let s = secs(*per_minute, *n);
        sum += s;
        if s > worst.1 {
            worst = (key.clone(), s);
        }
    }
    (worst.0, worst.1, sum)
}

fn client(t: &Tenant, time_scale: f64) -> Result<TenantClient, BoxError> {
    let opts = ClientOptions {
        budget: Budget {
            fraction: 1.0,
            time_scale,
            ..Budget::default()
        },
        ..ClientOptions::default()
    };
    Ok(TenantClient::new(
        TenantUrl::parse(&t.url)?,
        Credentials::OAuthClient {
            client_id: t.bot.0.clone(),
            client_secret: SecretString::from(t.bot.1.clone()),
            scope: None,
        },
        opts,
    )?)
}

async fn run_backup(
    t: &mut Tenant,
    repo: &Arc<Repo>,
    opts: &BackupOptions,
    s: &Settings,
) -> Result<Phase, BoxError> {
    // Each phase starts with fresh rate windows, as a daily run would.
    t.reset()?;
    let c = client(t, s.time_scale)?;
    let storing = Arc::new(StoringAt::default());
    let opts = BackupOptions {
        progress: qcb_backup::ProgressSink::new(storing.clone()),
        ..opts.clone()
    };
    reset_peak();
    let (cpu0, emulator_cpu0) = (cpu_time(), t.cpu()?);
    let started = Instant::now();
    let out = backup(&c, repo.clone(), &opts).await?;
    let wall = started.elapsed();
    let (cpu, emulator_cpu) = (cpu_time() - cpu0, t.cpu()? - emulator_cpu0);
    let (read, read_peak_rss_kib) = storing
        .0
        .lock()
        .ok()
        .and_then(|at| *at)
        .map_or((wall, 0), |(at, peak)| (at - started, peak));
    if out.manifest.status != RunStatus::Success {
        return Err(format!(
            "the backup ended {}:\n{}",
            out.manifest.status.as_str(),
            out.manifest.summary()
        )
        .into());
    }
    let peak_rss_kib = vm_hwm_kib();
    let counters = t.counters()?;
    let (requests, per_tier, exports) = tier_use(&counters);
    Ok(Phase {
        wall,
        read,
        read_peak_rss_kib,
        requests,
        per_tier,
        exports,
        bytes: c.counters().bytes,
        peak_rss_kib,
        throttled: counters.throttled,
        per_operation: counters.per_operation,
        cpu,
        emulator_cpu,
        ready_after: c.ready_after(),
        snapshot: out.snapshot,
    })
}

/// The least the repository writer takes to store a snapshot like `snapshot` when nothing in
/// it changed: every file of it written again as a new snapshot with it as the parent, from
/// its path, size and time alone (no file is opened, no request made). This is what
/// rustic_core's archiver costs per entry on this machine, which an incremental run pays for
/// every file it keeps. The snapshot is forgotten afterwards, so later runs take their parent
/// as before. Returns the files and the time.
async fn writer_alone(
    repo: &Arc<Repo>,
    snapshot: Option<qcb_repo::SnapshotInfo>,
) -> Result<(u64, Duration), BoxError> {
    let snapshot = snapshot.ok_or("the incremental run wrote no snapshot")?;
    let repo = repo.clone();
    tokio::task::spawn_blocking(move || -> Result<(u64, Duration), BoxError> {
        let mut tree = qcb_repo::SnapshotTree::default();
        // Folders come from the files' paths.
        let files = repo.ls(&snapshot, "", true)?;
        for n in files
            .into_iter()
            .filter(|n| n.kind == qcb_repo::NodeKind::File)
        {
            let mtime = n.mtime.ok_or_else(|| format!("{} has no time", n.path))?;
            let path = n.path.clone();
            tree.push(qcb_repo::TreeEntry::stream(
                n.path,
                n.size,
                mtime,
                move || {
                    Err(std::io::Error::other(format!(
                        "{path} was opened: it should have been taken from the parent"
                    )))
                },
            ));
        }
        let entries = tree.len() as u64;
        let meta = qcb_repo::SnapshotMeta {
            host: snapshot.host.clone(),
            tags: vec!["bench-writer-floor".into()],
            time: chrono::Utc::now(),
            parent: Some(snapshot.id.clone()),
        };
        let started = Instant::now();
        let out = repo.write_snapshot(tree, meta)?;
        let took = started.elapsed();
        repo.forget_snapshots(std::slice::from_ref(&out.snapshot))?;
        // A file missing from what was stored is among the failures too.
        if out.opened > 0 || !out.failures.is_empty() {
            return Err(format!(
                "the writer opened {} of {entries} files that were all in the parent ({} failed)",
                out.opened,
                out.failures.len()
            )
            .into());
        }
        Ok((entries, took))
    })
    .await?
}

/// One app at a time: export, download, write to a file.
async fn sequential(
    t: &mut Tenant,
    apps: &[String],
    dir: &std::path::Path,
    s: &Settings,
) -> Result<Phase, BoxError> {
    t.reset()?;
    let c = client(t, s.time_scale)?;
    reset_peak();
    let (cpu0, emulator_cpu0) = (cpu_time(), t.cpu()?);
    let started = Instant::now();
    let mut bytes = 0u64;
    for id in apps {
        let dl = c.export_app(id).await?;
        let path = dir.join(format!("{id}.qvf"));
        let mut file = tokio::fs::File::create(&path).await?;
        let mut stream = dl.stream;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        drop(file);
        tokio::fs::remove_file(&path).await?;
    }
    let wall = started.elapsed();
    let (cpu, emulator_cpu) = (cpu_time() - cpu0, t.cpu()? - emulator_cpu0);
    let peak_rss_kib = vm_hwm_kib();
    let counters = t.counters()?;
    let (requests, per_tier, exports) = tier_use(&counters);
    Ok(Phase {
        wall,
        read: wall,
        read_peak_rss_kib: peak_rss_kib,
        requests,
        per_tier,
        exports,
        bytes,
        peak_rss_kib,
        throttled: counters.throttled,
        per_operation: counters.per_operation,
        cpu,
        emulator_cpu,
        ready_after: c.ready_after(),
        snapshot: None,
    })
}

struct Report {
    setup: Duration,
    baseline_rss_kib: u64,
    emulator_rss_kib: u64,
    apps: usize,
    touched: usize,
    full: Phase,
    incremental: Phase,
    /// The repository writer alone storing the incremental snapshot's files again, every one
    /// unchanged: how many, and how long it took.
    writer_floor: (u64, Duration),
    sequential: Phase,
    sequential_apps: usize,
    big: Option<(u64, Phase)>,
}

async fn run(s: &Settings) -> Result<Report, BoxError> {
    let setup_started = Instant::now();
    let mut t = Tenant::start(s)?;
    let tmp = tempfile::Builder::new().prefix("qcb-bench-").tempdir()?;
    let repo_opts = RepoOptions::new(
        tmp.path().join("repo").display().to_string(),
        SecretString::from("bench".to_string()),
    );
    let repo = Arc::new(tokio::task::spawn_blocking(move || Repo::init(&repo_opts)).await??);
    let apps = t.ids("apps")?;
    let setup = setup_started.elapsed();
    let baseline_rss_kib = vm_rss_kib();
    let emulator_rss_kib = t.rss_kib()?;
    let opts = BackupOptions {
        full: true,
        exports_in_flight: s.exports_in_flight,
        ..BackupOptions::default()
    };

    let full = run_backup(&mut t, &repo, &opts, s).await?;
    if full.exports != apps.len() as u64 {
        return Err(format!(
            "the full run exported {} of {} apps",
            full.exports,
            apps.len()
        )
        .into());
    }

    let touched: Vec<String> = apps.iter().step_by(50).cloned().collect();
    for id in &touched {
        t.touch(id)?;
    }
    let incremental_opts = BackupOptions {
        full: false,
        ..opts.clone()
    };
    let incremental = run_backup(&mut t, &repo, &incremental_opts, s).await?;
    if incremental.exports != touched.len() as u64 {
        return Err(format!(
            "the incremental run exported {} apps, not the {} touched",
            incremental.exports,
            touched.len()
        )
        .into());
    }

    let writer_floor = writer_alone(&repo, incremental.snapshot.clone()).await?;

    let sequential_apps = if s.quick { 100 } else { apps.len() };
    let loop_dir = tmp.path().join("loop");
    std::fs::create_dir_all(&loop_dir)?;
    let sequential = sequential(&mut t, &apps[..sequential_apps], &loop_dir, s).await?;

    let big = if s.big_gib > 0 {
        let size = s.big_gib * 1024 * 1024 * 1024;
        t.grow(&apps[7], size)?;
        let phase = run_backup(&mut t, &repo, &incremental_opts, s).await?;
        Some((size, phase))
    } else {
        None
    };
    t.stop()?;
    Ok(Report {
        setup,
        baseline_rss_kib,
        emulator_rss_kib,
        apps: apps.len(),
        touched: touched.len(),
        full,
        incremental,
        writer_floor,
        sequential,
        sequential_apps,
        big,
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_report(s: &Settings, r: &Report) {
    let (bound_tier, bound, bound_sum) = lower_bound(&r.full.per_tier, s.time_scale, 0.0);
    let banked = Budget::default().burst_minutes;
    let (_, bound_burst, _) = lower_bound(&r.full.per_tier, s.time_scale, banked);
    let full_wall = r.full.wall.as_secs_f64();
    let inc_wall = r.incremental.wall.as_secs_f64();
    // The loop's time for every app (measured on all of them, or extrapolated with --quick).
    let loop_wall =
        r.sequential.wall.as_secs_f64() * r.apps as f64 / r.sequential_apps.max(1) as f64;
    println!();
    println!(
        "qcb-backup benchmark{}",
        if s.quick { " (quick)" } else { "" }
    );
    println!(
        "  tenant: emulated `large` ({} apps), time scale {}, Qlik's rate limits with 5-minute windows; setup {:.1} s",
        r.apps, s.time_scale, r.setup.as_secs_f64()
    );
    println!(
        "  client: admin bot (OAuth M2M), 100% of every tier, bursts of {banked} minute of it; {} exports in flight",
        s.exports_in_flight
    );
    println!();
    println!(
        "  {:<10} {:>8} {:>8} {:>9} {:>8} {:>8} {:>6} {:>10} {:>10} {:>7} {:>7}",
        "run",
        "wall s",
        "read s",
        "requests",
        "exports",
        "MB",
        "429s",
        "peak MiB",
        "(reading)",
        "cpu s",
        "emu cpu"
    );
    let row = |name: &str, p: &Phase| {
        println!(
            "  {:<10} {:>8.2} {:>8.2} {:>9} {:>8} {:>8.1} {:>6} {:>10.0} {:>10.0} {:>7.1} {:>7.1}",
            name,
            p.wall.as_secs_f64(),
            p.read.as_secs_f64(),
            p.requests,
            p.exports,
            p.bytes as f64 / 1e6,
            p.throttled,
            mib(p.peak_rss_kib),
            mib(p.read_peak_rss_kib),
            p.cpu.as_secs_f64(),
            p.emulator_cpu.as_secs_f64()
        );
    };
    row("full", &r.full);
    if let Some(ready) = r.full.ready_after {
        println!(
            "  (exports were ready {:.0} ms after they were asked for, as the client learned it)",
            ready.as_secs_f64() * 1000.0
        );
    }
    row("2% apps", &r.incremental);
    row("loop", &r.sequential);
    if let Some((size, p)) = &r.big {
        row(&format!("{} GiB app", size >> 30), p);
    }
    println!();
    println!("  full run, requests per tier (limit/min → lower bound at this time scale):");
    for (key, (per_minute, n)) in &r.full.per_tier {
        println!(
            "    tier {key:<6} {n:>7} requests at {per_minute}/min → {:.2} s",
            *n as f64 / (f64::from(*per_minute) / 60.0 * s.time_scale)
        );
    }
    println!();
    println!("  {:<62} {:>9} {:>9}", "ratio", "measured", "target");
    let ratio = |name: &str, v: f64, target: &str| {
        println!("  {name:<62} {v:>9.3} {target:>9}");
    };
    ratio(
        &format!("full wall ÷ rate-limit lower bound ({bound:.2} s, tier {bound_tier})"),
        full_wall / bound,
        "<= 1.10",
    );
    ratio(
        "  reading and exporting only (before the snapshot is written)",
        r.full.read.as_secs_f64() / bound,
        "",
    );
    ratio(
        &format!(
            "full wall ÷ the bound less the burst the client allows itself ({bound_burst:.2} s)"
        ),
        full_wall / bound_burst,
        "",
    );
    ratio(
        &format!("full wall ÷ (every tier's bound added up: {bound_sum:.2} s)"),
        full_wall / bound_sum,
        "",
    );
    ratio(
        &format!(
            "incremental ({} apps changed) API calls ÷ full run's",
            r.touched
        ),
        r.incremental.requests as f64 / r.full.requests.max(1) as f64,
        "<= 0.03",
    );
    ratio(
        "incremental wall time ÷ full run's",
        inc_wall / full_wall,
        "<= 0.03",
    );
    // What the incremental run's work costs this machine: its CPU (the backup's and the
    // emulator's) spread perfectly over every core is the least wall time it could take here.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let inc_cpu_floor =
        (r.incremental.cpu + r.incremental.emulator_cpu).as_secs_f64() / cores as f64;
    ratio(
        &format!(
            "  its CPU spread over this machine's {cores} cores ({inc_cpu_floor:.2} s) ÷ full wall"
        ),
        inc_cpu_floor / full_wall,
        "",
    );
    ratio(
        "  incremental wall ÷ that CPU floor",
        inc_wall / inc_cpu_floor.max(f64::EPSILON),
        "",
    );
    // The repository writer alone, storing the same files unchanged (no request, nothing
    // read): rustic_core's archiver handles every entry one by one, so an incremental run
    // cannot end sooner than this after its last entry is known.
    let (floor_files, floor) = r.writer_floor;
    let floor = floor.as_secs_f64();
    ratio(
        &format!("  writer alone, its {floor_files} files unchanged ({floor:.2} s) ÷ full wall"),
        floor / full_wall,
        "",
    );
    ratio(
        "  incremental wall ÷ the writer alone",
        inc_wall / floor.max(f64::EPSILON),
        "",
    );
    ratio(
        &format!(
            "sequential loop wall ÷ full backup wall ({}{} apps)",
            if s.quick { "extrapolated from " } else { "" },
            r.sequential_apps
        ),
        loop_wall / full_wall,
        "",
    );
    println!();
    println!(
        "  peak resident memory of the backup's process (VmHWM; {:.0} MiB before the runs; the emulator, in its own process, held {:.0} MiB):",
        mib(r.baseline_rss_kib),
        mib(r.emulator_rss_kib)
    );
    println!(
        "    full backup {:.0} MiB, incremental {:.0} MiB{}",
        mib(r.full.peak_rss_kib),
        mib(r.incremental.peak_rss_kib),
        match &r.big {
            Some((size, p)) => format!(
                ", incremental with one {:.1} GiB app {:.0} MiB (× {:.2} of the incremental run)",
                *size as f64 / (1u64 << 30) as f64,
                mib(p.peak_rss_kib),
                p.peak_rss_kib as f64 / r.incremental.peak_rss_kib.max(1) as f64
            ),
            None => String::new(),
        }
    );
    println!("    target: <= 256 MiB, no growth with app size");
    println!();
    println!(
        "  incremental run, requests per operation ({} in all):",
        r.incremental.requests
    );
    let mut ops: Vec<(&String, &u64)> = r.incremental.per_operation.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (op, n) in &ops {
        println!("    {n:>6}  {op}");
    }
    println!();
}

fn main() -> ExitCode {
    // As the `qcb` binary does: memory is measured as it runs.
    qcb_backup::bound_allocator_arenas();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::args().any(|a| a == "--emulator-child") {
        return match emulator_child(&settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("emulator child: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // `QCB_BENCH_LOG=qcb_backup=debug` shows each run's phases as they end.
    if let Ok(filter) = std::env::var("QCB_BENCH_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&settings)) {
        Ok(report) => {
            print_report(&settings, &report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
