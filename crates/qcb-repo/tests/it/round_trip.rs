//! Round trip: a tenant-sized tree in, the same bytes out; a second snapshot of the same tree
//! neither reopens nor restores anything.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use qcb_repo::{NodeKind, Repo};
use sha2::{Digest, Sha256};
use support::*;

const MIB: u64 = 1 << 20;

fn round_trip(docs: usize, bigs: &[u64]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    let repo = init(&repo_dir);
    let specs = tenant(7, docs, bigs);
    let total: u64 = specs
        .iter()
        .map(|s| match s {
            Spec::Doc { body, .. } => body.len() as u64,
            Spec::Big { len, .. } => *len,
        })
        .sum();

    let opens = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let first = repo
        .write_snapshot(tree_of(&specs, &opens), meta(HOST, time(0), None))
        .expect("first snapshot");
    let first_secs = started.elapsed().as_secs_f64();
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(first.entries, specs.len() as u64);
    assert_eq!(opens.load(Ordering::SeqCst), bigs.len());
    let summary = first.snapshot.summary.clone().expect("summary");
    assert_eq!(summary.files_total, specs.len() as u64);
    assert_eq!(summary.bytes_total, total);
    let size_after_first = repo_size(&repo_dir);
    eprintln!(
        "first snapshot: {} files, {} MiB in {first_secs:.1}s; repository {} MiB",
        specs.len(),
        total / MIB,
        size_after_first / MIB
    );

    // Same tree again, with the first as parent: nothing is opened, almost nothing is added.
    let opens_before = opens.load(Ordering::SeqCst);
    let second = repo
        .write_snapshot(
            tree_of(&specs, &opens),
            meta(HOST, time(86_400), Some(first.snapshot.id.clone())),
        )
        .expect("second snapshot");
    assert_eq!(
        opens.load(Ordering::SeqCst),
        opens_before,
        "unchanged streams are not opened"
    );
    assert_eq!(second.opened, 0, "no entry of an unchanged tree is opened");
    assert_eq!(second.snapshot.tree, first.snapshot.tree);
    let s2 = second.snapshot.summary.clone().expect("summary");
    assert_eq!(s2.files_unmodified, specs.len() as u64);
    let growth = repo_size(&repo_dir) - size_after_first;
    assert!(
        (growth as f64) < 0.01 * size_after_first as f64,
        "the second snapshot added {growth} bytes to {size_after_first}"
    );

    // Everything reads back byte-identical, through `cat` and through `dump`.
    let reopened = Repo::open(&options(&repo_dir)).expect("open");
    let latest = reopened.resolve("latest", Some(HOST)).expect("latest");
    assert_eq!(latest.id, second.snapshot.id);
    let listed = reopened.ls(&latest, "", true).expect("ls");
    let files: Vec<_> = listed.iter().filter(|n| n.kind == NodeKind::File).collect();
    assert_eq!(files.len(), specs.len());
    for spec in specs
        .iter()
        .step_by(97)
        .chain(specs.iter().filter(|s| matches!(s, Spec::Big { .. })))
    {
        let mut h = Sha256::new();
        reopened
            .cat(&latest, spec.path(), &mut HashWriter(&mut h))
            .expect("cat");
        let got: [u8; 32] = h.finalize().into();
        let want = match spec {
            Spec::Doc { body, .. } => Sha256::digest(body).into(),
            Spec::Big { seed, len, .. } => seeded_digest(*seed, *len),
        };
        assert_eq!(got, want, "{}", spec.path());
    }
    let out = dir.path().join("out");
    let dumped = reopened.dump(&latest, &out).expect("dump");
    assert_eq!(dumped.files, specs.len() as u64);
    assert_eq!(dumped.bytes, total);
    for spec in &specs {
        let path = out.join(spec.path());
        match spec {
            Spec::Doc { body, mtime, .. } => {
                assert_eq!(
                    &std::fs::read(&path).expect("read"),
                    body,
                    "{}",
                    spec.path()
                );
                let m: chrono::DateTime<chrono::Utc> = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .expect("mtime")
                    .into();
                assert_eq!(m, *mtime);
            }
            Spec::Big { seed, len, .. } => {
                let mut h = Sha256::new();
                std::io::copy(
                    &mut std::fs::File::open(&path).expect("open"),
                    &mut HashWriter(&mut h),
                )
                .expect("hash");
                let got: [u8; 32] = h.finalize().into();
                assert_eq!(got, seeded_digest(*seed, *len), "{}", spec.path());
            }
        }
    }

    // One changed document: only it is opened.
    let mut changed = specs.clone();
    if let Spec::Doc { body, mtime, .. } = &mut changed[3] {
        body.extend_from_slice(b" ");
        *mtime = time(999_999_999);
    }
    let third = reopened
        .write_snapshot(
            tree_of(&changed, &opens),
            meta(HOST, time(2 * 86_400), Some(latest.id.clone())),
        )
        .expect("third snapshot");
    assert_eq!(third.opened, 1);
    assert_eq!(third.snapshot.summary.expect("summary").files_changed, 1);
    let check = reopened.check(false).expect("check");
    assert!(check.is_ok(), "{:?}", check.problems);
}

/// 10,000 documents and 4 streamed binaries, about 200 MB.
#[test]
fn ten_thousand_documents_and_large_streams_round_trip() {
    round_trip(10_000, &[10 * MIB, 30 * MIB, 60 * MIB, 90 * MIB + 12_345]);
}

/// The full size: 10,000 documents and 50 binaries up to 1 GiB (about 3.4 GiB in all).
/// `cargo test -p qcb-repo --test round_trip -- --ignored` (160 s in a debug build here).
#[test]
#[ignore = "about 3.4 GiB; run with --ignored"]
fn full_size_round_trip() {
    let bigs: Vec<u64> = (0..50u64)
        .map(|i| {
            if i == 49 {
                1024 * MIB
            } else {
                (i + 1) * 2 * MIB + i
            }
        })
        .collect();
    round_trip(10_000, &bigs);
}
