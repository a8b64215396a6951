//! Ingest benchmark (issue 4): a tree of incompressible, app-export-sized files is backed up
//! by qcb (`Repo::write_snapshot`, streaming the files) and by `restic backup` into two fresh
//! local repositories, in the same run, from the same files. Prints files, bytes, each tool's
//! wall time and peak memory, and the time ratio qcb/restic (target ≤ 1.2) and qcb's peak RSS
//! (target ≤ 256 MiB).
//!
//! `cargo bench -p qcb-repo --bench ingest` (2 GiB); `-- --quick` or `QCB_BENCH_QUICK=1` for
//! about 200 MiB. Each round backs the files up with both tools into fresh repositories;
//! there are two rounds, qcb first in the first and restic first in the second (whichever went
//! second was 15–25% slower in our runs, the disk still busy with the first one's writes), and
//! the time ratio is of the totals. `QCB_BENCH_ROUNDS=n` changes the number of rounds; `QCB_BENCH_DIR` chooses
//! where the files and repositories go (default: the system temp folder).
//!
//! How it measures, so that both tools are treated alike:
//! - Each ingest runs in its own process: qcb's in this benchmark's binary run again with
//!   `QCB_BENCH_CHILD=ingest`, restic's in `restic backup`. The wall time is the process's,
//!   from spawn to exit, so both include opening the repository (the key's scrypt) and
//!   walking the folder. Repositories are created beforehand (`restic init`, and qcb's init in
//!   another child), untimed.
//! - Peak memory is the child's `ru_maxrss` from `wait4`. A child started with `posix_spawn`
//!   (vfork) inherits the spawning process's high-water mark in that figure, so it is an upper
//!   bound by this benchmark's own peak RSS, which is printed too (a few MiB); qcb's child also
//!   reports its own `VmHWM` from /proc, which has no such floor.
//! - restic runs with `--no-cache` (qcb keeps no cache for local folders either), default
//!   compression (`auto`: repository v2, zstd, like qcb's) and default concurrency; both write
//!   through the page cache and fsync each pack. The source files are in the page cache for
//!   both (they were just written), and `sync` runs before each timed ingest.

use std::error::Error;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use qcb_repo::{Repo, RepoOptions, SnapshotMeta, SnapshotTree, TreeEntry};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use secrecy::SecretString;

type Res<T> = Result<T, Box<dyn Error>>;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const PASSWORD: &str = "benchmark password";
const CHILD_ENV: &str = "QCB_BENCH_CHILD";
const REPO_ENV: &str = "QCB_BENCH_REPO";
const SRC_ENV: &str = "QCB_BENCH_SRC";
const HOST: &str = "bench.eu.qlikcloud.com";

fn main() {
    let result = match std::env::var(CHILD_ENV).ok().as_deref() {
        Some("init") => child_init(),
        Some("ingest") => child_ingest(),
        Some(other) => Err(format!("unknown {CHILD_ENV}={other}").into()),
        None => bench(),
    };
    if let Err(e) = result {
        eprintln!("ingest bench: {e}");
        std::process::exit(1);
    }
}

fn env_path(name: &str) -> Res<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{name} is not set").into())
}

fn options(repo: &Path) -> RepoOptions {
    RepoOptions::new(
        repo.to_string_lossy().into_owned(),
        SecretString::from(PASSWORD.to_string()),
    )
}

/// Child: creates the qcb repository.
fn child_init() -> Res<()> {
    Repo::init(&options(&env_path(REPO_ENV)?))?;
    Ok(())
}

/// Child: backs up the source folder into the qcb repository, then prints
/// `files bytes vmhwm_kib` on stdout.
fn child_ingest() -> Res<()> {
    let repo_dir = env_path(REPO_ENV)?;
    let src = env_path(SRC_ENV)?;
    let repo = Repo::open(&options(&repo_dir))?;
    let mut tree = SnapshotTree::new();
    let mut files = Vec::new();
    walk(&src, &mut files)?;
    for path in files {
        let meta = std::fs::metadata(&path)?;
        let rel = path
            .strip_prefix(&src)?
            .to_str()
            .ok_or("a non-UTF-8 file name")?
            .to_string();
        let mtime: DateTime<Utc> = meta.modified()?.into();
        tree.push(TreeEntry::stream(rel, meta.len(), mtime, move || {
            Ok(Box::new(File::open(&path)?) as Box<dyn Read + Send>)
        }));
    }
    let out = repo.write_snapshot(
        tree,
        SnapshotMeta {
            host: HOST.to_string(),
            tags: vec!["bench".to_string()],
            time: Utc::now(),
            parent: None,
        },
    )?;
    if !out.failures.is_empty() {
        return Err(format!("entries failed: {:?}", out.failures).into());
    }
    let bytes = out.snapshot.summary.map_or(0, |s| s.bytes_total);
    println!(
        "{} {} {}",
        out.entries,
        bytes,
        vm_hwm_kib("self").unwrap_or(0)
    );
    Ok(())
}

/// Every file under `dir`, depth first.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.file_type()?.is_dir() {
            walk(&e.path(), out)?;
        } else {
            out.push(e.path());
        }
    }
    Ok(())
}

/// `VmHWM` (peak resident set) of a process, in KiB, from /proc.
fn vm_hwm_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Sizes of app exports: a log-normal long tail (median 300 kB) capped at `total / 25`, plus
/// one export of `total / 10`; `total` bytes in all.
fn export_sizes(total: u64, seed: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let biggest = total / 10;
    let cap = total / 25;
    let mut sizes = vec![biggest];
    let mut sum = biggest;
    let median = 300_000f64;
    let sigma = 1.5f64;
    while sum < total {
        // Box–Muller.
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let size = ((median * (sigma * z).exp()) as u64).clamp(1_000, cap);
        let size = size.min(total - sum);
        sizes.push(size);
        sum += size;
    }
    sizes
}

/// Writes `len` incompressible bytes from `seed` to `path`.
fn write_random(path: &Path, seed: u64, len: u64, buf: &mut [u8]) -> io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = BufWriter::with_capacity(buf.len(), File::create(path)?);
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        rng.fill_bytes(&mut buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    w.flush()
}

/// Generates the source tree under `src`: `apps/<nn>/<id>.qvf`, 50 files a folder.
fn generate(src: &Path, sizes: &[u64]) -> Res<()> {
    let mut buf = vec![0u8; 1 << 20];
    for (i, len) in sizes.iter().enumerate() {
        let dir = src.join(format!("apps/{:03}", i / 50));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(
            "{:016x}.qvf",
            (i as u64 + 1) * 0x9e37_79b9_7f4a_7c15
        ));
        write_random(&path, 1_000 + i as u64, *len, &mut buf)?;
    }
    Ok(())
}

/// What a finished child cost.
#[derive(Debug, Clone, Copy)]
struct Usage {
    wall: Duration,
    /// `ru_maxrss`, KiB.
    max_rss_kib: u64,
    cpu: Duration,
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys {
    //! `wait4(2)`, declared here (std links the C library) to read a child's resource usage.
    use std::io;
    use std::process::ExitStatus;
    use std::time::Duration;

    #[repr(C)]
    #[derive(Default)]
    struct Timeval {
        sec: i64,
        usec: i64,
    }

    /// `struct rusage` on 64-bit Linux: two timevals, then fourteen longs.
    #[repr(C)]
    #[derive(Default)]
    struct Rusage {
        utime: Timeval,
        stime: Timeval,
        maxrss: i64,
        rest: [i64; 13],
    }

    extern "C" {
        fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }

    /// Waits for `pid`; returns its exit status, `ru_maxrss` (KiB) and CPU time.
    pub fn wait(pid: u32) -> io::Result<(ExitStatus, u64, Duration)> {
        use std::os::unix::process::ExitStatusExt;
        let pid = i32::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
        let mut status = 0i32;
        let mut usage = Rusage::default();
        loop {
            // SAFETY: both pointers are to live, properly sized locals; `pid` is our child,
            // which nothing else waits for.
            let r = unsafe { wait4(pid, &mut status, 0, &mut usage) };
            if r == pid {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let tv = |t: &Timeval| {
            Duration::from_secs(t.sec.max(0) as u64) + Duration::from_micros(t.usec.max(0) as u64)
        };
        Ok((
            ExitStatus::from_raw(status),
            usage.maxrss.max(0) as u64,
            tv(&usage.utime) + tv(&usage.stime),
        ))
    }
}

/// Waits for `child`, with its output read meanwhile; returns its usage and stdout.
fn finish(mut child: Child, started: Instant, what: &str) -> Res<(Usage, String)> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    let (status, max_rss_kib, cpu): (ExitStatus, u64, Duration) = sys::wait(child.id())?;
    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    let (status, max_rss_kib, cpu): (ExitStatus, u64, Duration) =
        (child.wait()?, 0, Duration::ZERO);
    let wall = started.elapsed();
    let stdout = out.join().map_err(|_| "stdout reader panicked")?;
    let stderr = err.join().map_err(|_| "stderr reader panicked")?;
    if !status.success() {
        return Err(format!("{what} failed ({status}):\n{stdout}\n{stderr}").into());
    }
    Ok((
        Usage {
            wall,
            max_rss_kib,
            cpu,
        },
        stdout,
    ))
}

fn sync() {
    // Flush what earlier steps wrote, so it does not land on the next timed step.
    let _ = Command::new("sync").status();
}

fn run_self(mode: &str, repo: &Path, src: &Path) -> Res<(Usage, String)> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let child = Command::new(exe)
        .env(CHILD_ENV, mode)
        .env(REPO_ENV, repo)
        .env(SRC_ENV, src)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    finish(child, started, &format!("qcb {mode}"))
}

fn restic(repo: &Path, args: &[&str]) -> Res<(Usage, String)> {
    let started = Instant::now();
    let child = Command::new("restic")
        .arg("--repo")
        .arg(repo)
        .arg("--no-cache")
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_REPOSITORY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    finish(child, started, &format!("restic {}", args.join(" ")))
}

/// One round: both tools on the same files, into fresh repositories.
struct Round {
    qcb_first: bool,
    qcb: Ingest,
    restic: Ingest,
    qcb_repo_bytes: u64,
    restic_repo_bytes: u64,
}

struct Ingest {
    usage: Usage,
    files: u64,
    bytes: u64,
    /// qcb's own VmHWM, KiB.
    self_hwm_kib: Option<u64>,
}

fn ingest_qcb(repo: &Path, src: &Path) -> Res<Ingest> {
    run_self("init", repo, src)?;
    sync();
    let (usage, out) = run_self("ingest", repo, src)?;
    let nums: Vec<u64> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [files, bytes, hwm] = nums[..] else {
        return Err(format!("unexpected qcb output: {out:?}").into());
    };
    Ok(Ingest {
        usage,
        files,
        bytes,
        self_hwm_kib: Some(hwm),
    })
}

fn ingest_restic(repo: &Path, src: &Path) -> Res<Ingest> {
    restic(repo, &["init"])?;
    sync();
    let src_arg = src.to_str().ok_or("a non-UTF-8 temp path")?;
    let (usage, out) = restic(
        repo,
        &["backup", "--json", "--quiet", "--host", HOST, src_arg],
    )?;
    let summary = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .ok_or_else(|| format!("no summary in restic's output: {out}"))?;
    Ok(Ingest {
        usage,
        files: summary["total_files_processed"].as_u64().unwrap_or(0),
        bytes: summary["total_bytes_processed"].as_u64().unwrap_or(0),
        self_hwm_kib: None,
    })
}

fn dir_size(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn mib(kib_or_bytes: u64, unit: u64) -> f64 {
    (kib_or_bytes * unit) as f64 / MIB as f64
}

fn bench() -> Res<()> {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("QCB_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let rounds: u32 = std::env::var("QCB_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
        .max(1);
    let version = Command::new("restic")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(version) = version else {
        eprintln!("ingest bench: skipped, `restic` is not installed (apt-get install restic)");
        return Ok(());
    };

    let total = if quick { 200 * MIB } else { 2 * GIB };
    let base = match std::env::var_os("QCB_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let src = base.path().join("src");
    let sizes = export_sizes(total, 42);
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    println!(
        "ingest bench ({}): {} files, {:.0} MiB; sizes: median {:.0} kB, p90 {:.1} MB, \
         {} over 10 MB, largest {:.0} MB; {version}",
        if quick { "quick" } else { "full" },
        sizes.len(),
        mib(total, 1),
        sorted[sorted.len() / 2] as f64 / 1e3,
        sorted[sorted.len() * 9 / 10] as f64 / 1e6,
        sorted.iter().filter(|s| **s > 10_000_000).count(),
        sorted[sorted.len() - 1] as f64 / 1e6,
    );
    let t = Instant::now();
    generate(&src, &sizes)?;
    sync();
    println!(
        "generated in {:.1}s under {}",
        t.elapsed().as_secs_f64(),
        base.path().display()
    );

    let mut rows = Vec::new();
    for round in 0..rounds {
        let qcb_repo = base.path().join(format!("qcb-{round}"));
        let restic_repo = base.path().join(format!("restic-{round}"));
        let qcb_first = round % 2 == 0;
        let (qcb, restic) = if qcb_first {
            let q = ingest_qcb(&qcb_repo, &src)?;
            sync();
            (q, ingest_restic(&restic_repo, &src)?)
        } else {
            let r = ingest_restic(&restic_repo, &src)?;
            sync();
            (ingest_qcb(&qcb_repo, &src)?, r)
        };
        let row = Round {
            qcb_first,
            qcb_repo_bytes: dir_size(&qcb_repo),
            restic_repo_bytes: dir_size(&restic_repo),
            qcb,
            restic,
        };
        let _ = std::fs::remove_dir_all(&qcb_repo);
        let _ = std::fs::remove_dir_all(&restic_repo);
        rows.push(row);
    }

    println!();
    println!(
        "| round | first | files | MiB | qcb s | restic s | qcb/restic | qcb peak RSS MiB | restic peak RSS MiB | qcb CPU s | restic CPU s | qcb repo MiB | restic repo MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, row) in rows.iter().enumerate() {
        let (q, r) = (&row.qcb, &row.restic);
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} (VmHWM {:.0}) | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} |",
            i + 1,
            if row.qcb_first { "qcb" } else { "restic" },
            q.files,
            mib(q.bytes, 1),
            q.usage.wall.as_secs_f64(),
            r.usage.wall.as_secs_f64(),
            q.usage.wall.as_secs_f64() / r.usage.wall.as_secs_f64(),
            mib(q.usage.max_rss_kib, 1024),
            mib(q.self_hwm_kib.unwrap_or(0), 1024),
            mib(r.usage.max_rss_kib, 1024),
            q.usage.cpu.as_secs_f64(),
            r.usage.cpu.as_secs_f64(),
            mib(row.qcb_repo_bytes, 1),
            mib(row.restic_repo_bytes, 1),
        );
        if q.files != r.files || q.bytes != r.bytes {
            println!(
                "  note: restic saw {} files, {} bytes; qcb {} files, {} bytes",
                r.files, r.bytes, q.files, q.bytes
            );
        }
    }
    // Whichever tool goes second tends to be slower (the disk still busy with the first one's
    // writes), hence the alternation and a ratio of totals.
    let total = |f: fn(&Round) -> Duration| rows.iter().map(f).sum::<Duration>().as_secs_f64();
    let ratio = total(|r| r.qcb.usage.wall) / total(|r| r.restic.usage.wall);
    let q_rss = rows
        .iter()
        .map(|r| r.qcb.usage.max_rss_kib)
        .max()
        .unwrap_or(0);
    println!();
    println!(
        "time ratio qcb/restic {ratio:.2} over {rounds} round(s) (target ≤ 1.2: {}); \
         qcb peak RSS, worst round: {:.0} MiB (target ≤ 256: {}); \
         this benchmark's own peak RSS {:.0} MiB (a floor under the children's ru_maxrss)",
        if ratio <= 1.2 { "met" } else { "MISSED" },
        mib(q_rss, 1024),
        if q_rss <= 256 * 1024 { "met" } else { "MISSED" },
        mib(vm_hwm_kib("self").unwrap_or(0), 1024),
    );
    Ok(())
}
