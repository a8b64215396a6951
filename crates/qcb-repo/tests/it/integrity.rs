//! Bit rot is found by `check --read-data`; two tenants can be backed up at once.

use crate::support;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use qcb_repo::{Repo, Severity};
use support::*;

fn packs(repo_dir: &std::path::Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(repo_dir.join("data"))
        .expect("data")
        .flatten()
    {
        for f in std::fs::read_dir(sub.path()).expect("sub").flatten() {
            out.push((f.path(), f.metadata().expect("meta").len()));
        }
    }
    out
}

#[test]
fn a_flipped_byte_in_a_pack_is_reported_by_check_read_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = init(dir.path());
    let specs = tenant(3, 200, &[3 << 20]);
    let opens = Arc::new(AtomicUsize::new(0));
    repo.write_snapshot(tree_of(&specs, &opens), meta(HOST, time(0), None))
        .expect("snapshot");
    let clean = repo.check(true).expect("check");
    assert!(
        clean.is_ok() && clean.problems.is_empty(),
        "{:?}",
        clean.problems
    );

    // The largest pack holds the streamed file's data.
    let (pack, len) = packs(dir.path())
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .expect("a pack");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pack)
        .expect("open pack");
    let at = len / 2;
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.read_exact(&mut byte).expect("read");
    byte[0] ^= 0x01;
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&byte).expect("flip");
    drop(f);

    let quick = repo.check(false).expect("check");
    assert!(
        quick.is_ok(),
        "the structure is intact: {:?}",
        quick.problems
    );
    let deep = repo.check(true).expect("check --read-data");
    assert!(!deep.is_ok(), "check --read-data must see the flipped byte");
    assert!(
        deep.problems.iter().all(|p| !p.message.contains('\n')),
        "one line per problem: {:?}",
        deep.problems
    );
    let name = pack
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        deep.problems
            .iter()
            .any(|p| p.severity == Severity::Error && p.message.contains(&name[..8])),
        "{:?}",
        deep.problems
    );
}

#[test]
fn two_tenants_write_into_one_repository_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let a = Repo::open(&options(dir.path())).expect("open a");
    let b = Repo::open(&options(dir.path())).expect("open b");
    std::thread::scope(|s| {
        for (repo, host, seed) in [
            (&a, "a.eu.qlikcloud.com", 11),
            (&b, "b.us.qlikcloud.com", 12),
        ] {
            s.spawn(move || {
                let specs = tenant(seed, 500, &[8 << 20]);
                let opens = Arc::new(AtomicUsize::new(0));
                let out = repo
                    .write_snapshot(tree_of(&specs, &opens), meta(host, time(0), None))
                    .expect("concurrent snapshot");
                assert!(out.failures.is_empty());
            });
        }
    });
    let snaps = a.snapshots().expect("snapshots");
    assert_eq!(snaps.len(), 2);
    let check = a.check(true).expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}
