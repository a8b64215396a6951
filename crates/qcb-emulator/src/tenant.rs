//! One emulated tenant: its data, clock, limits, faults, counters and recorded exchanges.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{EmulatorConfig, Faults};
use crate::ratelimit::RateLimiter;
use crate::state::State;

/// One request and its answer, kept for the contract test.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub method: String,
    /// The route as registered (`/api/v1/spaces/{spaceId}`), or the raw path when no route matched.
    pub route: String,
    pub path: String,
    pub status: u16,
    pub content_type: String,
    /// The JSON body, when the answer was JSON.
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CounterSnapshot {
    pub requests: u64,
    pub throttled: u64,
    pub injected_errors: u64,
    pub dropped_connections: u64,
    /// "METHOD /route" → requests.
    pub per_operation: BTreeMap<String, u64>,
}

pub struct Tenant {
    pub config: EmulatorConfig,
    pub clock: Clock,
    state: RwLock<State>,
    pub limiter: RateLimiter,
    pub faults: Mutex<Faults>,
    fault_rng: Mutex<ChaCha8Rng>,
    url: OnceLock<String>,
    pub admin_api_key: String,
    requests: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) injected_errors: AtomicU64,
    pub(crate) dropped: AtomicU64,
    per_operation: Mutex<BTreeMap<String, u64>>,
    recorded: Mutex<Vec<Exchange>>,
    /// Emulated instant until which every request gets 429.
    pub(crate) storm_until: Mutex<Option<std::time::Duration>>,
}

impl Tenant {
    pub fn new(config: EmulatorConfig, state: State, admin_api_key: String) -> Tenant {
        let faults = config.faults.clone();
        Tenant {
            clock: Clock::new(config.time_scale),
            limiter: RateLimiter::new(config.rate_window_minutes),
            fault_rng: Mutex::new(ChaCha8Rng::seed_from_u64(config.seed.wrapping_add(77))),
            config,
            state: RwLock::new(state),
            faults: Mutex::new(faults),
            url: OnceLock::new(),
            admin_api_key,
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            injected_errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            per_operation: Mutex::new(BTreeMap::new()),
            recorded: Mutex::new(Vec::new()),
            storm_until: Mutex::new(None),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The tenant's base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        self.url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    pub(crate) fn set_url(&self, url: String) {
        let _ = self.url.set(url);
    }

    pub fn hostname(&self) -> String {
        url::Url::parse(self.url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes the faults in place (what a fault that fires once uses to go).
    pub fn update_faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.faults.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn set_faults(&self, faults: Faults) {
        if faults.throttle_storm_secs > 0 {
            let until =
                self.clock.elapsed() + std::time::Duration::from_secs(faults.throttle_storm_secs);
            *self.storm_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
        }
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Draws a fault with probability `p`.
    pub(crate) fn chance(&self, p: f64) -> bool {
        p > 0.0
            && self
                .fault_rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random::<f64>()
                < p
    }

    pub(crate) fn count(&self, op: String) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *self
            .per_operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(op)
            .or_default() += 1;
    }

    pub fn counters(&self) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            injected_errors: self.injected_errors.load(Ordering::Relaxed),
            dropped_connections: self.dropped.load(Ordering::Relaxed),
            per_operation: self
                .per_operation
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    pub fn reset_counters(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.throttled.store(0, Ordering::Relaxed);
        self.injected_errors.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
        self.per_operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub(crate) fn record(&self, ex: Exchange) {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ex);
    }

    /// Every exchange recorded so far (only with `record_exchanges`).
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn recording(&self) -> bool {
        self.config.record_exchanges
    }
}
