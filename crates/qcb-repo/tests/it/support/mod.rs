//! Shared by the repository's integration tests: a seeded tenant-like tree and helpers.
#![allow(dead_code)]

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use qcb_repo::{Repo, RepoOptions, SnapshotId, SnapshotMeta, SnapshotTree, TreeEntry};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

pub const PASSWORD: &str = "correct horse battery staple";
pub const HOST: &str = "acme.eu.qlikcloud.com";

pub fn options(dir: &Path) -> RepoOptions {
    RepoOptions::new(
        dir.to_string_lossy().into_owned(),
        SecretString::from(PASSWORD.to_string()),
    )
}

pub fn time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_000_000 + secs, 0).expect("valid time")
}

pub fn meta(host: &str, at: DateTime<Utc>, parent: Option<SnapshotId>) -> SnapshotMeta {
    SnapshotMeta {
        host: host.to_string(),
        tags: vec!["status:ok".to_string()],
        time: at,
        parent,
    }
}

/// Incompressible bytes from a seed: an app export stand-in. The bytes do not depend on how
/// the reader is called (the generator is drawn from in whole 64 KiB blocks).
pub struct SeededReader {
    rng: ChaCha8Rng,
    left: u64,
    block: Vec<u8>,
    at: usize,
}

impl SeededReader {
    pub fn new(seed: u64, len: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            left: len,
            block: vec![0; 64 * 1024],
            at: 64 * 1024,
        }
    }
}

impl Read for SeededReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        if self.at == self.block.len() {
            self.rng.fill_bytes(&mut self.block);
            self.at = 0;
        }
        let n = buf
            .len()
            .min(self.block.len() - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        self.left -= n as u64;
        Ok(n)
    }
}

/// SHA-256 of a seeded stream.
pub fn seeded_digest(seed: u64, len: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    io::copy(&mut SeededReader::new(seed, len), &mut HashWriter(&mut h)).expect("hash");
    h.finalize().into()
}

pub struct HashWriter<'a>(pub &'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One file of the generated tenant.
#[derive(Clone)]
pub enum Spec {
    Doc {
        path: String,
        body: Vec<u8>,
        mtime: DateTime<Utc>,
    },
    Big {
        path: String,
        seed: u64,
        len: u64,
        mtime: DateTime<Utc>,
    },
}

impl Spec {
    pub fn path(&self) -> &str {
        match self {
            Self::Doc { path, .. } | Self::Big { path, .. } => path,
        }
    }
}

/// `docs` JSON documents spread over the DESIGN.md §3 layout plus `bigs` streamed binaries of
/// the given sizes.
pub fn tenant(seed: u64, docs: usize, bigs: &[u64]) -> Vec<Spec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kinds = [
        "identity/users",
        "identity/groups",
        "spaces",
        "data-connections",
        "automations",
        "reload-tasks",
        "webhooks",
        "themes",
    ];
    let mut specs = Vec::with_capacity(docs + bigs.len());
    for i in 0..docs {
        let id = format!("{:024x}", rng.random::<u128>() >> 32);
        let path = if i % 5 == 0 {
            format!("apps/{id}/app.json")
        } else {
            format!("{}/{id}.json", kinds[i % kinds.len()])
        };
        let fields: Vec<String> = (0..rng.random_range(3..20))
            .map(|f| format!("  \"field{f:02}\": \"{:x}\"", rng.random::<u64>()))
            .collect();
        let body = format!("{{\n  \"id\": \"{id}\",\n{}\n}}\n", fields.join(",\n"));
        specs.push(Spec::Doc {
            path,
            body: body.into_bytes(),
            mtime: time(rng.random_range(0..86_400 * 365)),
        });
    }
    for (i, len) in bigs.iter().enumerate() {
        specs.push(Spec::Big {
            path: format!("apps/big{i:03}/app.qvf"),
            seed: seed * 1000 + i as u64,
            len: *len,
            mtime: time(i as i64 * 60),
        });
    }
    specs
}

/// The tree for `specs`; every stream opening bumps `opens`.
pub fn tree_of(specs: &[Spec], opens: &Arc<AtomicUsize>) -> SnapshotTree {
    specs
        .iter()
        .map(|s| match s.clone() {
            Spec::Doc { path, body, mtime } => TreeEntry::bytes(path, mtime, body),
            Spec::Big {
                path,
                seed,
                len,
                mtime,
            } => {
                let opens = opens.clone();
                TreeEntry::stream(path, len, mtime, move || {
                    opens.fetch_add(1, Ordering::SeqCst);
                    Ok(Box::new(SeededReader::new(seed, len)) as Box<dyn Read + Send>)
                })
            }
        })
        .collect()
}

/// Bytes the repository's files take on disk (its temp folder aside).
pub fn repo_size(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(p) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| {
                let meta = e.metadata().expect("metadata");
                if meta.is_dir() {
                    if e.file_name() == ".qcb-tmp" {
                        0
                    } else {
                        walk(&e.path())
                    }
                } else {
                    meta.len()
                }
            })
            .sum()
    }
    walk(dir)
}

/// A fresh repository in `dir`.
pub fn init(dir: &Path) -> Repo {
    Repo::init(&options(dir)).expect("init")
}
