//! Repository locks in restic's format, so that qcb and restic (or a second qcb) never prune
//! a repository while another process writes or reads it.
//!
//! A lock is a file `locks/<id>` holding the JSON restic writes (`time`, `exclusive`,
//! `hostname`, `username`, `pid`, `uid`, `gid`), encrypted with the repository's master key
//! like every other restic file; its id is the SHA-256 of the encrypted bytes. Any number of
//! shared locks may coexist (backups, checks, restores); an exclusive lock (forget, prune)
//! needs the repository to itself. As restic does, a holder writes a fresh lock every five
//! minutes and removes the old one, and a lock not refreshed for thirty minutes — or one held
//! by a process that no longer runs on this host — is stale: it blocks nobody, and
//! [`Repo::unlock`] removes it. rustic_core writes no locks of its own; qcb takes them around
//! its operations.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aes256ctr_poly1305aes::aead::AeadInPlace;
use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Key, Nonce};
use chrono::{DateTime, Utc};
use rand::RngCore;
use rustic_core::repofile::MasterKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RepoError;
use crate::repo::Repo;
use crate::storage::Storage;

/// Where restic keeps locks.
const LOCKS: &str = "locks/";

/// A lock not refreshed for this long is stale (restic's `StaleLockTimeout`).
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);

/// How often a held lock is written anew (restic's refresh interval).
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

/// How often a waiting process looks again at a locked repository.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Whether a lock shares the repository or needs it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Backups, checks, dumps, restores: any number at once, but not beside an exclusive lock.
    Shared,
    /// Forget and prune: no other lock at all.
    Exclusive,
}

/// A lock file's content, as restic writes and reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub time: DateTime<Utc>,
    pub exclusive: bool,
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    pub pid: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uid: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl LockInfo {
    /// A lock for this process, now.
    fn ours(kind: LockKind) -> Self {
        // SAFETY: getuid and getgid cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Self {
            time: Utc::now(),
            exclusive: kind == LockKind::Exclusive,
            hostname: this_host(),
            username: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_default(),
            pid: i64::from(std::process::id()),
            uid,
            gid,
        }
    }

    /// Whether the lock no longer protects anything: not refreshed for [`STALE_AFTER`], or
    /// taken on this host by a process that is gone. (restic's rule.)
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let age = now.signed_duration_since(self.time);
        if age.to_std().is_ok_and(|age| age > STALE_AFTER) {
            return true;
        }
        self.hostname == this_host() && !process_exists(self.pid)
    }

    /// "host (pid 1234, user u), since 2026-11-27 08:40:00 UTC, exclusive".
    pub fn describe(&self) -> String {
        let user = if self.username.is_empty() {
            String::new()
        } else {
            format!(", user {}", self.username)
        };
        format!(
            "{} (pid {}{user}) since {}{}",
            self.hostname,
            self.pid,
            self.time.format("%Y-%m-%d %H:%M:%S UTC"),
            if self.exclusive { ", exclusively" } else { "" }
        )
    }
}

fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn process_exists(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists, under another user.
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The encryption restic uses for every file: AES-256-CTR with a random 16-byte nonce in
/// front, and a Poly1305-AES tag behind.
#[derive(Clone)]
struct Crypto(Key);

impl Crypto {
    fn new(master: &MasterKey) -> Option<Self> {
        if master.encrypt.len() != 32 || master.mac.k.len() != 16 || master.mac.r.len() != 16 {
            return None;
        }
        let mut key = Key::default();
        key[..32].copy_from_slice(&master.encrypt);
        key[32..48].copy_from_slice(&master.mac.k);
        key[48..].copy_from_slice(&master.mac.r);
        Some(Self(key))
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = Nonce::default();
        rand::rng().fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(plain.len() + 32);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = Aes256CtrPoly1305Aes::new(&self.0)
            .encrypt_in_place_detached(&nonce, &[], &mut out[16..])
            .ok()?;
        out.extend_from_slice(&tag);
        Some(out)
    }

    fn decrypt(&self, data: &[u8]) -> Option<Vec<u8>> {
        if data.len() < 32 {
            return None;
        }
        let (nonce, rest) = data.split_at(16);
        let (body, tag) = rest.split_at(rest.len() - 16);
        let mut plain = body.to_vec();
        Aes256CtrPoly1305Aes::new(&self.0)
            .decrypt_in_place_detached(Nonce::from_slice(nonce), &[], &mut plain, tag.into())
            .ok()?;
        Some(plain)
    }
}

/// A decrypted file of a version-2 repository: plain JSON (restic's version 1 and qcb's own
/// locks), or the byte 2 followed by zstd-compressed JSON (restic's version 2).
fn uncompressed(plain: Vec<u8>) -> Option<Vec<u8>> {
    match plain.first() {
        Some(b'{' | b'[') => Some(plain),
        Some(2) => zstd::stream::decode_all(&plain[1..]).ok(),
        _ => None,
    }
}

/// One lock file found in `locks/`.
#[derive(Debug, Clone)]
pub struct FoundLock {
    /// The file's name (its id).
    pub id: String,
    /// Its content; `None` when it cannot be read or decrypted (restic asks for
    /// `unlock --remove-all` then).
    pub info: Option<LockInfo>,
}

/// What [`Repo::unlock`] removed.
#[derive(Debug, Clone, Default)]
pub struct UnlockReport {
    /// Locks removed, with what they said.
    pub removed: Vec<FoundLock>,
    /// Locks left because their holder may still be at work.
    pub kept: Vec<FoundLock>,
}

/// A lock this process holds. It is refreshed in the background while held and removed from
/// the repository when dropped — also when the operation failed or was stopped.
pub struct RepoLock {
    state: Arc<Held>,
    stop: Option<mpsc::Sender<()>>,
    refresher: Option<JoinHandle<()>>,
}

struct Held {
    storage: Arc<Storage>,
    crypto: Crypto,
    kind: LockKind,
    /// The file currently holding the lock.
    path: Mutex<String>,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock")
            .field("kind", &self.state.kind)
            .finish_non_exhaustive()
    }
}

impl RepoLock {
    /// The name of the lock file (`locks/<id>`) this lock is held by now.
    pub fn file(&self) -> String {
        self.state
            .path
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
        let path = self.file();
        if let Err(e) = self.state.storage.delete_path(&path) {
            tracing::warn!(
                "could not remove the lock {path} of {}: {e}; it will be stale in 30 minutes, or remove it now with `qcb unlock`",
                self.state.storage.location()
            );
        }
    }
}

impl Held {
    /// Writes `info` as a new lock file and returns its path.
    fn write(&self, info: &LockInfo) -> Result<String, RepoError> {
        let json = serde_json::to_vec(info).map_err(|e| self.failed(e.to_string()))?;
        let data = self
            .crypto
            .encrypt(&json)
            .ok_or_else(|| self.failed("cannot encrypt the lock".into()))?;
        let path = format!("{LOCKS}{}", hex::encode(Sha256::digest(&data)));
        self.storage.write_path(&path, data)?;
        Ok(path)
    }

    fn failed(&self, reason: String) -> RepoError {
        RepoError::Lock {
            location: self.storage.location().to_string(),
            reason,
        }
    }

    /// Replaces the lock file by a fresh one (restic's refresh): new time, new file, old one
    /// removed.
    fn refresh(&self) {
        let fresh = match self.write(&LockInfo::ours(self.kind)) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("could not refresh the repository lock: {e}");
                return;
            }
        };
        let old = match self.path.lock() {
            Ok(mut p) => std::mem::replace(&mut *p, fresh),
            Err(_) => return,
        };
        if let Err(e) = self.storage.delete_path(&old) {
            tracing::warn!("could not remove the previous lock file {old}: {e}");
        }
    }
}

impl Repo {
    /// Every lock file in the repository, read and decrypted where possible.
    pub fn locks(&self) -> Result<Vec<FoundLock>, RepoError> {
        let crypto = self.crypto()?;
        let names = self.storage().list_files(LOCKS)?;
        let mut found = Vec::with_capacity(names.len());
        for id in names {
            let info = match self.storage().read_path(&format!("{LOCKS}{id}")) {
                Ok(Some(data)) => crypto
                    .decrypt(&data)
                    .and_then(uncompressed)
                    .and_then(|plain| serde_json::from_slice::<LockInfo>(&plain).ok()),
                // Removed between the listing and the read: released meanwhile.
                Ok(None) => continue,
                Err(e) => return Err(e),
            };
            found.push(FoundLock { id, info });
        }
        Ok(found)
    }

    fn crypto(&self) -> Result<Crypto, RepoError> {
        Crypto::new(self.master_key()).ok_or_else(|| RepoError::Lock {
            location: self.location().to_string(),
            reason: "the repository's master key has an unexpected length".into(),
        })
    }

    /// Takes a lock of `kind`, waiting up to the repository's lock wait (see
    /// [`crate::RepoOptions::lock_wait`]) while another process's lock stands in the way.
    pub fn lock(&self, kind: LockKind) -> Result<RepoLock, RepoError> {
        let deadline = Instant::now() + self.lock_wait();
        loop {
            match self.try_lock(kind) {
                Err(RepoError::Locked { .. }) if Instant::now() + RETRY_EVERY <= deadline => {
                    tracing::info!(
                        "the repository {} is locked; trying again in {} s",
                        self.location(),
                        RETRY_EVERY.as_secs()
                    );
                    std::thread::sleep(RETRY_EVERY);
                }
                other => return other,
            }
        }
    }

    /// A shared lock for reading only (check, dump): where this process may not write — a
    /// read-only mount, read-only credentials — it reads without one, and says so.
    pub(crate) fn lock_for_reading(&self) -> Result<Option<RepoLock>, RepoError> {
        match self.lock(LockKind::Shared) {
            Ok(lock) => Ok(Some(lock)),
            Err(e @ (RepoError::ReadOnly { .. } | RepoError::AccessDenied { .. })) => {
                tracing::warn!("reading without a lock: {e}");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes a lock of `kind` now, or says who holds the repository.
    fn try_lock(&self, kind: LockKind) -> Result<RepoLock, RepoError> {
        self.check_others(kind, None)?;
        let held = Arc::new(Held {
            storage: self.storage().clone(),
            crypto: self.crypto()?,
            kind,
            path: Mutex::new(String::new()),
        });
        let path = held.write(&LockInfo::ours(kind))?;
        if let Ok(mut p) = held.path.lock() {
            p.clone_from(&path);
        }
        // Two processes may have looked at the same moment: look again now that ours is
        // there; whoever sees the other backs off (restic does the same).
        if let Err(e) = self.check_others(kind, Some(&path)) {
            let _ = self.storage().delete_path(&path);
            return Err(e);
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let state = held.clone();
        let refresher = std::thread::Builder::new()
            .name("qcb-lock-refresh".into())
            .spawn(move || loop {
                match stopped.recv_timeout(REFRESH_EVERY) {
                    Err(RecvTimeoutError::Timeout) => state.refresh(),
                    _ => return,
                }
            })
            .map_err(|e| {
                let _ = self.storage().delete_path(&path);
                RepoError::Lock {
                    location: self.location().to_string(),
                    reason: format!("cannot start the lock's refresh thread: {e}"),
                }
            })?;
        Ok(RepoLock {
            state: held,
            stop: Some(stop),
            refresher: Some(refresher),
        })
    }

    /// Fails with [`RepoError::Locked`] when a live lock of another process conflicts with one
    /// of `kind` (`own` is this process's own file, ignored).
    fn check_others(&self, kind: LockKind, own: Option<&str>) -> Result<(), RepoError> {
        let now = Utc::now();
        for lock in self.locks()? {
            if own.is_some_and(|o| o.strip_prefix(LOCKS) == Some(lock.id.as_str())) {
                continue;
            }
            let Some(info) = &lock.info else {
                // restic refuses to go on beside a lock it cannot read; so do we.
                return Err(RepoError::Lock {
                    location: self.location().to_string(),
                    reason: format!(
                        "the lock file locks/{} cannot be read (damaged, or written with another key): if no other process uses the repository, remove it with `qcb unlock --remove-all`",
                        lock.id
                    ),
                });
            };
            if info.is_stale(now) {
                continue;
            }
            if kind == LockKind::Exclusive || info.exclusive {
                return Err(RepoError::Locked {
                    location: self.location().to_string(),
                    holder: info.describe(),
                });
            }
        }
        Ok(())
    }

    /// Removes stale locks (see [`LockInfo::is_stale`]), or with `all` every lock. Only for
    /// locks left behind by processes that died: removing a live process's lock lets a prune
    /// run under its feet.
    pub fn unlock(&self, all: bool) -> Result<UnlockReport, RepoError> {
        let now = Utc::now();
        let mut report = UnlockReport::default();
        for lock in self.locks()? {
            let remove = all || lock.info.as_ref().is_some_and(|i| i.is_stale(now));
            if remove {
                self.storage().delete_path(&format!("{LOCKS}{}", lock.id))?;
                report.removed.push(lock);
            } else {
                report.kept.push(lock);
            }
        }
        Ok(report)
    }
}

/// Writes a lock file with the given content (tests: a lock of another host, an old one).
#[doc(hidden)]
pub fn write_lock_for_tests(repo: &Repo, info: &LockInfo) -> Result<String, RepoError> {
    let held = Held {
        storage: repo.storage().clone(),
        crypto: repo.crypto()?,
        kind: if info.exclusive {
            LockKind::Exclusive
        } else {
            LockKind::Shared
        },
        path: Mutex::new(String::new()),
    };
    held.write(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other_host(exclusive: bool, age: chrono::Duration) -> LockInfo {
        LockInfo {
            time: Utc::now() - age,
            exclusive,
            hostname: "elsewhere.example".into(),
            username: "someone".into(),
            pid: 4242,
            uid: 1000,
            gid: 1000,
        }
    }

    #[test]
    fn encryption_round_trips_and_detects_tampering() {
        let crypto = Crypto::new(&MasterKey::new()).unwrap();
        let data = crypto.encrypt(b"{\"time\":1}").unwrap();
        assert_eq!(data.len(), 10 + 32);
        assert_eq!(crypto.decrypt(&data).unwrap(), b"{\"time\":1}");
        let mut bad = data.clone();
        bad[20] ^= 1;
        assert!(crypto.decrypt(&bad).is_none());
        let other = Crypto::new(&MasterKey::new()).unwrap();
        assert!(other.decrypt(&data).is_none());
    }

    #[test]
    fn the_json_is_restics() {
        let info = LockInfo {
            time: "2026-11-27T08:40:00.5Z".parse().unwrap(),
            exclusive: true,
            hostname: "h".into(),
            username: "u".into(),
            pid: 7,
            uid: 0,
            gid: 5,
        };
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(
            json,
            r#"{"time":"2026-11-27T08:40:00.500Z","exclusive":true,"hostname":"h","username":"u","pid":7,"gid":5}"#
        );
        // restic writes local times with an offset and nanoseconds.
        let theirs: LockInfo = serde_json::from_str(
            r#"{"time":"2026-11-27T09:40:00.123456789+01:00","exclusive":false,"hostname":"h","username":"u","pid":9,"uid":1000,"gid":1000}"#,
        )
        .unwrap();
        assert_eq!(theirs.time.timestamp(), info.time.timestamp());
        assert_eq!(theirs.uid, 1000);
    }

    #[test]
    fn compressed_locks_are_read() {
        let json = br#"{"time":"2026-11-27T08:40:00Z","exclusive":false,"hostname":"h","pid":3}"#;
        let mut packed = vec![2u8];
        packed.extend(zstd::stream::encode_all(&json[..], 3).unwrap());
        assert_eq!(uncompressed(packed).unwrap(), json.to_vec());
        assert_eq!(uncompressed(json.to_vec()).unwrap(), json.to_vec());
        assert!(uncompressed(vec![7, 1, 2]).is_none());
    }

    #[test]
    fn staleness_follows_restics_rules() {
        let now = Utc::now();
        assert!(!other_host(false, chrono::Duration::minutes(29)).is_stale(now));
        assert!(other_host(false, chrono::Duration::minutes(31)).is_stale(now));
        let mut ours = LockInfo::ours(LockKind::Shared);
        assert!(!ours.is_stale(now), "this process is alive");
        ours.pid = i64::from(i32::MAX);
        assert!(ours.is_stale(now), "no process has that pid");
    }

    #[test]
    fn shared_locks_coexist_and_exclusive_ones_do_not() {
        let repo = Repo::in_memory();
        let a = repo.lock(LockKind::Shared).unwrap();
        let b = repo.lock(LockKind::Shared).unwrap();
        assert_eq!(repo.locks().unwrap().len(), 2);
        // Our own process's locks conflict too: a prune must not run under a backup of ours.
        let err = repo.lock(LockKind::Exclusive).unwrap_err();
        assert!(matches!(err, RepoError::Locked { .. }), "{err}");
        drop((a, b));
        assert!(repo.locks().unwrap().is_empty(), "dropping releases");
        let x = repo.lock(LockKind::Exclusive).unwrap();
        let err = repo.lock(LockKind::Shared).unwrap_err();
        assert!(err.to_string().contains("exclusively"), "{err}");
        drop(x);
        assert!(repo.locks().unwrap().is_empty());
    }

    #[test]
    fn stale_and_foreign_locks() {
        let repo = Repo::in_memory();
        write_lock_for_tests(&repo, &other_host(true, chrono::Duration::hours(2))).unwrap();
        // A stale exclusive lock blocks nobody.
        drop(repo.lock(LockKind::Exclusive).unwrap());
        let live =
            write_lock_for_tests(&repo, &other_host(false, chrono::Duration::zero())).unwrap();
        let err = repo.lock(LockKind::Exclusive).unwrap_err().to_string();
        assert!(
            err.contains("elsewhere.example (pid 4242, user someone)")
                && err.contains("qcb unlock"),
            "{err}"
        );
        drop(repo.lock(LockKind::Shared).unwrap());
        let report = repo.unlock(false).unwrap();
        assert_eq!(report.removed.len(), 1, "only the stale one");
        assert_eq!(report.kept.len(), 1);
        assert_eq!(format!("{LOCKS}{}", report.kept[0].id), live);
        assert_eq!(repo.unlock(true).unwrap().removed.len(), 1);
        assert!(repo.locks().unwrap().is_empty());
    }

    #[test]
    fn an_unreadable_lock_stops_and_names_the_remedy() {
        let repo = Repo::in_memory();
        repo.storage()
            .write_path(
                "locks/0123abcd",
                b"garbage that is long enough to look encrypted".to_vec(),
            )
            .unwrap();
        let err = repo.lock(LockKind::Shared).unwrap_err().to_string();
        assert!(
            err.contains("locks/0123abcd") && err.contains("--remove-all"),
            "{err}"
        );
        assert_eq!(repo.unlock(false).unwrap().removed.len(), 0);
        assert_eq!(repo.unlock(true).unwrap().removed.len(), 1);
    }

    #[test]
    fn a_refresh_replaces_the_file() {
        let repo = Repo::in_memory();
        let lock = repo.lock(LockKind::Shared).unwrap();
        let before = lock.file();
        lock.state.refresh();
        let after = lock.file();
        assert_ne!(before, after);
        let files: Vec<String> = repo.locks().unwrap().into_iter().map(|l| l.id).collect();
        assert_eq!(files, vec![after.trim_start_matches(LOCKS).to_string()]);
        drop(lock);
        assert!(repo.locks().unwrap().is_empty());
    }
}
