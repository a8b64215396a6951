//! Client-side rate limits, one budget per tier, so a backup stays under Qlik's limits rather
//! than running into them. Each tier is paced at a configurable fraction of its per-minute
//! rate (leaving headroom for the tenant's own automations). A 429 blocks the whole tier
//! until its `Retry-After` has passed, as Qlik blocks every endpoint of the tier.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::tiers::Tier;

/// How much of Qlik's budget the client uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Share of each tier's per-minute rate, in (0, 1].
    pub fraction: f64,
    /// Requests allowed back to back before pacing starts.
    pub burst: u32,
    /// Rates are multiplied by this: only for an emulated tenant whose time runs faster.
    pub time_scale: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            fraction: 1.0,
            burst: 1,
            time_scale: 1.0,
        }
    }
}

struct TierState {
    pace: DefaultDirectRateLimiter,
    blocked_until: Option<Instant>,
}

/// The limiter of one client: tiers are created as requests meet them.
#[derive(Clone)]
pub struct Limiter {
    budget: Budget,
    tiers: Arc<Mutex<HashMap<String, Arc<Mutex<TierState>>>>>,
}

impl Limiter {
    pub fn new(budget: Budget) -> Limiter {
        Limiter {
            budget,
            tiers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Requests per second the client allows itself for `tier`.
    pub fn rate_per_second(&self, tier: &Tier) -> f64 {
        f64::from(tier.per_minute) / 60.0
            * self.budget.fraction.clamp(0.001, 1.0)
            * self.budget.time_scale.max(0.001)
    }

    fn state(&self, tier: &Tier) -> Arc<Mutex<TierState>> {
        let mut tiers = self.tiers.lock().unwrap_or_else(|e| e.into_inner());
        tiers
            .entry(tier.key.clone())
            .or_insert_with(|| {
                let per_sec = self.rate_per_second(tier);
                let period = Duration::from_secs_f64(1.0 / per_sec);
                let burst = NonZeroU32::new(self.budget.burst.max(1)).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::with_period(period)
                    .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                    .allow_burst(burst);
                Arc::new(Mutex::new(TierState {
                    pace: RateLimiter::direct(quota),
                    blocked_until: None,
                }))
            })
            .clone()
    }

    /// Waits until `tier` admits one more request.
    pub async fn acquire(&self, tier: &Tier) {
        let state = self.state(tier);
        loop {
            let wait = {
                let s = state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match s.blocked_until {
                    Some(until) if until > now => Some(until - now),
                    _ => match s.pace.check() {
                        Ok(()) => None,
                        Err(not_until) => {
                            Some(not_until.wait_time_from(DefaultClock::default().now()))
                        }
                    },
                }
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// Qlik answered 429: nothing of this tier is sent until `retry_after` has passed.
    pub fn block(&self, tier: &Tier, retry_after: Duration) {
        let state = self.state(tier);
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + retry_after;
        s.blocked_until = Some(s.blocked_until.map_or(until, |u| u.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(per_minute: u32) -> Tier {
        Tier {
            key: format!("t{per_minute}"),
            per_minute,
        }
    }

    #[tokio::test]
    async fn paces_requests_at_the_budgeted_rate() {
        // 6000/min = 100/s; at half the budget, 50/s: 26 requests take about half a second.
        let limiter = Limiter::new(Budget {
            fraction: 0.5,
            burst: 1,
            time_scale: 1.0,
        });
        let t = tier(6000);
        let start = Instant::now();
        for _ in 0..26 {
            limiter.acquire(&t).await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!((0.45..0.75).contains(&took), "took {took}");
    }

    #[tokio::test]
    async fn a_429_blocks_the_whole_tier() {
        let limiter = Limiter::new(Budget {
            fraction: 1.0,
            burst: 10,
            time_scale: 1.0,
        });
        let t = tier(60_000);
        limiter.acquire(&t).await;
        limiter.block(&t, Duration::from_millis(300));
        let start = Instant::now();
        limiter.acquire(&t).await;
        assert!(start.elapsed() >= Duration::from_millis(290));
        // Another tier is not blocked.
        let start = Instant::now();
        limiter.acquire(&tier(1000)).await;
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
