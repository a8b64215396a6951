//! Crash safety: a writer killed with SIGKILL at random points never leaves the repository
//! broken. Twenty times: a writer process starts a large snapshot and is killed after a seeded
//! random delay spread over the time a whole write takes; then `check` must find no error, the
//! next backup must succeed, and `check` must still find no error afterwards. All trials share
//! one repository, so the leftovers of every earlier crash are there for the later ones.
//!
//! The writer is this test binary itself, run again with `QCB_CRASH_WRITER` naming the
//! repository and a filter selecting [`crash_writer_child`], which does nothing otherwise.
//!
//! Sizes (chosen to keep the test near a minute in a debug build on two cores): each write is
//! 2,000 documents plus streamed incompressible binaries of 64 + 32 + 16 + 8 + 4×2 MiB
//! (128 MiB). `QCB_CRASH_TRIALS` and `QCB_CRASH_SCALE` (a multiplier of the binary sizes)
//! change that.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use qcb_repo::{CheckReport, Repo, SnapshotId};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use support::*;

const MIB: u64 = 1 << 20;
const WRITER_ENV: &str = "QCB_CRASH_WRITER";
const ROUND_ENV: &str = "QCB_CRASH_ROUND";
/// The child test by its full name in this test binary (`--exact` wants the module path).
const CHILD_TEST: &str = "crash::crash_writer_child";
const DOCS: usize = 2_000;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The binaries of one write: 64 + 32 + 16 + 8 + 4×2 MiB at scale 1.
fn big_sizes() -> Vec<u64> {
    let scale = env_number("QCB_CRASH_SCALE", 1).max(1);
    [64, 32, 16, 8, 2, 2, 2, 2]
        .iter()
        .enumerate()
        .map(|(i, m)| m * MIB * scale + i as u64 * 4099)
        .collect()
}

/// Round `round`'s tree: the same 2,000 documents every time (so later rounds take them from
/// their parent, as a real incremental backup does), and binaries with new content and new
/// modification times (so they are read, chunked and packed every time).
fn specs(round: u64) -> Vec<Spec> {
    let mut specs = tenant(1, DOCS, &[]);
    for (i, mut big) in tenant(100 + round, 0, &big_sizes()).into_iter().enumerate() {
        if let Spec::Big { mtime, .. } = &mut big {
            *mtime = time(round as i64 * 86_400 + i as i64);
        }
        specs.push(big);
    }
    specs
}

/// One backup of round `round`, with the host's latest snapshot as parent; `small` leaves out
/// the binaries over 4 MiB.
fn backup(repo: &Repo, round: u64, small: bool) -> Result<SnapshotId, String> {
    let parent = repo
        .latest(HOST)
        .map_err(|e| format!("latest: {e}"))?
        .map(|s| s.id);
    let specs: Vec<Spec> = specs(round)
        .into_iter()
        .filter(|s| !small || !matches!(s, Spec::Big { len, .. } if *len > 4 * MIB))
        .collect();
    let opens = Arc::new(AtomicUsize::new(0));
    let out = repo
        .write_snapshot(
            tree_of(&specs, &opens),
            meta(
                HOST,
                time(round as i64 * 86_400 + 1 + i64::from(small)),
                parent,
            ),
        )
        .map_err(|e| format!("write_snapshot: {e}"))?;
    if !out.failures.is_empty() {
        return Err(format!("entries failed: {:?}", out.failures));
    }
    Ok(out.snapshot.id)
}

/// The writer process. Does nothing unless `QCB_CRASH_WRITER` is set.
#[test]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let round = env_number(ROUND_ENV, 0);
    let repo = Repo::open(&options(Path::new(&dir))).expect("the writer opens the repository");
    backup(&repo, round, false).expect("the writer's backup");
}

/// Starts a writer for round `round` on the repository at `dir`.
fn spawn_writer(dir: &Path, round: u64) -> std::process::Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    Command::new(exe)
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the writer")
}

/// Files under `dir/<sub>` (recursively).
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Census {
    packs: usize,
    indexes: usize,
    snapshots: usize,
    temps: usize,
}

fn census(dir: &Path) -> Census {
    Census {
        packs: count_files(&dir.join("data")),
        indexes: count_files(&dir.join("index")),
        snapshots: count_files(&dir.join("snapshots")),
        temps: count_files(&dir.join(".qcb-tmp")),
    }
}

fn assert_clean(report: &CheckReport, what: &str) {
    assert!(
        report.is_ok(),
        "{what}: check found errors:\n{}",
        report
            .problems
            .iter()
            .map(|p| format!("  {:?}: {}", p.severity, p.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_writer_killed_at_random_points_never_breaks_the_repository() {
    if std::env::var_os(WRITER_ENV).is_some() {
        return; // a writer never runs the trials itself
    }
    let trials = env_number("QCB_CRASH_TRIALS", 20);
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir: PathBuf = tmp.path().join("repo");
    init(&dir);

    // One whole write first: the baseline snapshot, and how long a write takes.
    let t0 = Instant::now();
    let mut writer = spawn_writer(&dir, 0);
    let status = writer.wait().expect("wait for the writer");
    let full = t0.elapsed();
    let mut stderr = String::new();
    if let Some(mut e) = writer.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(
        status.success(),
        "the uninterrupted writer failed:\n{stderr}"
    );
    // A child that ran no test (a name `--exact` no longer matches) would make every trial
    // vacuous: the uninterrupted one must have written its snapshot.
    assert_eq!(
        census(&dir).snapshots,
        1,
        "the uninterrupted writer wrote no snapshot; did `{CHILD_TEST}` run?\n{stderr}"
    );
    let mib: u64 = big_sizes().iter().sum::<u64>() / MIB;
    eprintln!(
        "an uninterrupted write ({DOCS} documents, {mib} MiB streamed) takes {:.2}s",
        full.as_secs_f64()
    );

    // Kill delays spread over the whole write, process start and key derivation included:
    // one seeded random point in each of `trials` equal slices of it, in shuffled order.
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_c4a5);
    let mut points: Vec<f64> = (0..trials)
        .map(|i| (i as f64 + rng.random_range(0.0..1.0)) / trials as f64)
        .collect();
    points.shuffle(&mut rng);
    let mut finished = 0;
    for trial in 1..=trials {
        let delay = full.mul_f64(points[(trial - 1) as usize]);
        let before = census(&dir);
        let writer_round = trial;
        let mut writer = spawn_writer(&dir, writer_round);
        std::thread::sleep(delay);
        let exited_first = writer.try_wait().expect("poll the writer").is_some();
        writer.kill().expect("SIGKILL the writer");
        let status = writer.wait().expect("reap the writer");
        if exited_first {
            finished += 1;
            assert!(
                status.success(),
                "trial {trial}: the writer failed on its own"
            );
        }
        let after = census(&dir);

        let repo = Repo::open(&options(&dir)).expect("open after the crash");
        let report = repo.check(false).expect("check after the crash");
        assert_clean(&report, &format!("trial {trial}, after the crash"));
        let warnings = report.problems.len();

        // The next backup: the killed writer's documents and small binaries again (their data
        // may sit in packs the killed writer never indexed), amid whatever it left behind.
        let snapshots_before = repo.snapshots().expect("snapshots").len();
        backup(&repo, writer_round, true)
            .unwrap_or_else(|e| panic!("trial {trial}: the next backup: {e}"));
        let report = repo.check(false).expect("check after the next backup");
        assert_clean(&report, &format!("trial {trial}, after the next backup"));
        assert_eq!(
            repo.snapshots().expect("snapshots").len(),
            snapshots_before + 1
        );
        eprintln!(
            "trial {trial:2}: killed after {:5} ms{}: +{} packs, +{} index, +{} snapshot, {} temp files; \
             check: {warnings} warnings; next backup ok",
            delay.as_millis(),
            if exited_first { " (already done)" } else { "" },
            after.packs - before.packs,
            after.indexes - before.indexes,
            after.snapshots - before.snapshots,
            after.temps,
        );
    }
    // The last backup reads back byte-identical.
    let repo = Repo::open(&options(&dir)).expect("open");
    let latest = repo.resolve("latest", Some(HOST)).expect("latest");
    for spec in specs(trials) {
        if let Spec::Big {
            path, seed, len, ..
        } = spec
        {
            if len > 4 * MIB {
                continue;
            }
            let mut h = Sha256::new();
            repo.cat(&latest, &path, &mut HashWriter(&mut h))
                .expect("read back");
            let got: [u8; 32] = h.finalize().into();
            assert_eq!(got, seeded_digest(seed, len), "{path}");
        }
    }
    assert!(
        finished * 2 <= trials,
        "{finished} of {trials} writers finished before the kill: the delays miss the write"
    );
    // Every killed writer left its lock; their processes are gone, so the locks are stale:
    // a prune (exclusive) runs beside them, and `unlock` removes them all.
    let left = repo.locks().expect("locks");
    assert!(!left.is_empty(), "no killed writer left a lock");
    assert!(left.len() as u64 <= trials - finished);
    repo.prune().expect("prune beside stale locks");
    assert_eq!(
        repo.unlock(false).expect("unlock").removed.len(),
        left.len()
    );
    assert!(repo.locks().expect("locks").is_empty());
    eprintln!(
        "{trials} trials ({finished} writers done before the kill) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
