//! Client-side rate limits, one budget per tier, so a backup stays under Qlik's limits rather
//! than running into them. Each tier is paced at a configurable fraction of its per-minute
//! rate (leaving headroom for the tenant's own automations). A 429 blocks the whole tier
//! until its `Retry-After` has passed, as Qlik blocks every endpoint of the tier.
//!
//! Pacing reserves time slots rather than checking a bucket on wake-up (as `governor` does):
//! with a burst of one, every oversleep of a bucket check is lost rate, which cost 10–50% at
//! the rates of a time-scaled tenant.
//!
//! Bursts: Qlik evaluates each per-minute limit "over a 5-minute window to support bursts"
//! (qlik.dev, Rate limiting). By default a tier banks, while idle, at most one minute of its
//! budget ([`Budget::burst_minutes`]) and is paced at its rate after that. Whatever the
//! requests' pattern, a tier then sends at most its rate plus one minute's worth in any span
//! of time: a fifth of what Qlik's window holds, which leaves room for the bot's earlier
//! requests that this process does not know of. A short run (an incremental backup's few
//! exports) is not paced at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::tiers::Tier;

/// How much of Qlik's budget the client uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Share of each tier's per-minute rate, in (0, 1].
    pub fraction: f64,
    /// Requests allowed back to back after an idle spell, before pacing starts (at least).
    pub burst: u32,
    /// Minutes of each tier's budget that idle time banks (0: only `burst`). Qlik tolerates up
    /// to 5; the default is 1.
    pub burst_minutes: f64,
    /// Rates are multiplied by this: only for an emulated tenant whose time runs faster.
    pub time_scale: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            fraction: 1.0,
            burst: 1,
            burst_minutes: 1.0,
            time_scale: 1.0,
        }
    }
}

/// One tier's schedule. Requests reserve slots `period` apart, one after the other, so a
/// late wake-up never pushes later slots back and the tier runs at exactly its rate.
struct Schedule {
    period: Duration,
    burst: u32,
    next: Option<Instant>,
    blocked_until: Option<Instant>,
}

impl Schedule {
    /// The instant at which the next request may go.
    fn reserve(&mut self, now: Instant) -> Instant {
        // Idle time banks at most `burst` slots.
        let earliest = now
            .checked_sub(self.period * self.burst.saturating_sub(1))
            .unwrap_or(now);
        let slot = self.next.map_or(earliest, |n| n.max(earliest));
        self.next = Some(slot + self.period);
        slot
    }

    /// Nothing goes before `until` (a 429's Retry-After).
    fn block(&mut self, until: Instant) {
        self.next = Some(self.next.map_or(until, |n| n.max(until)));
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// Still blocked at `now`: until when.
    fn blocked(&self, now: Instant) -> Option<Instant> {
        self.blocked_until.filter(|b| *b > now)
    }
}

/// The limiter of one client: tiers are created as requests meet them.
#[derive(Clone)]
pub struct Limiter {
    budget: Budget,
    tiers: Arc<Mutex<HashMap<String, Schedule>>>,
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
        f64::from(tier.per_minute.max(1)) / 60.0
            * self.budget.fraction.clamp(0.001, 1.0)
            * self.budget.time_scale.max(0.001)
    }

    fn with_schedule<T>(&self, tier: &Tier, f: impl FnOnce(&mut Schedule) -> T) -> T {
        let mut tiers = self.tiers.lock().unwrap_or_else(|e| e.into_inner());
        let period = Duration::from_secs_f64(1.0 / self.rate_per_second(tier));
        let schedule = tiers.entry(tier.key.clone()).or_insert_with(|| Schedule {
            period,
            burst: self.burst(tier),
            next: None,
            blocked_until: None,
        });
        f(schedule)
    }

    /// Requests `tier` may send back to back after an idle spell: `burst`, or
    /// `burst_minutes` of its budget when that is more.
    pub fn burst(&self, tier: &Tier) -> u32 {
        let banked = f64::from(tier.per_minute)
            * self.budget.fraction.clamp(0.001, 1.0)
            * self.budget.burst_minutes.clamp(0.0, 5.0);
        // Truncation is the intent: never more than the budget allows.
        (banked as u32).max(self.budget.burst).max(1)
    }

    /// Waits until `tier` admits one more request.
    pub async fn acquire(&self, tier: &Tier) {
        loop {
            let slot = self.with_schedule(tier, |s| s.reserve(Instant::now()));
            if slot > Instant::now() {
                tokio::time::sleep_until(tokio::time::Instant::from_std(slot)).await;
            }
            // A 429 that arrived while this request waited for its slot blocks it too.
            match self.with_schedule(tier, |s| s.blocked(Instant::now())) {
                None => return,
                Some(until) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await
                }
            }
        }
    }

    /// Qlik answered 429: nothing of this tier is sent until `retry_after` has passed.
    pub fn block(&self, tier: &Tier, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        self.with_schedule(tier, |s| s.block(until));
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
            burst_minutes: 0.0,
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
    async fn concurrent_requests_get_distinct_slots_at_the_full_rate() {
        let limiter = Limiter::new(Budget {
            fraction: 1.0,
            burst: 1,
            burst_minutes: 0.0,
            time_scale: 1.0,
        });
        let t = tier(60_000); // 1000/s
        let start = Instant::now();
        let tasks: Vec<_> = (0..300)
            .map(|_| {
                let l = limiter.clone();
                let t = t.clone();
                tokio::spawn(async move { l.acquire(&t).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let took = start.elapsed().as_secs_f64();
        assert!(
            (0.28..0.45).contains(&took),
            "300 requests at 1000/s took {took}"
        );
    }

    #[tokio::test]
    async fn idle_time_banks_one_minute_of_the_budget_and_no_more() {
        // 600/min at time scale 60: 10 a minute of tenant time = 600/s of ours; the default
        // budget banks one minute: 600 requests at once, then 600 per second.
        let limiter = Limiter::new(Budget {
            time_scale: 60.0,
            ..Budget::default()
        });
        let t = tier(600);
        assert_eq!(limiter.burst(&t), 600);
        let start = Instant::now();
        for _ in 0..600 {
            limiter.acquire(&t).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(150),
            "a minute's budget goes at once, took {:?}",
            start.elapsed()
        );
        for _ in 0..300 {
            limiter.acquire(&t).await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!(
            (0.45..0.8).contains(&took),
            "after the burst, the rate: 300 more took until {took}"
        );
        // A fraction of the budget banks that fraction; `burst` is a floor.
        let half = Limiter::new(Budget {
            fraction: 0.5,
            ..Budget::default()
        });
        assert_eq!(half.burst(&tier(100)), 50);
        let none = Limiter::new(Budget {
            burst: 7,
            burst_minutes: 0.0,
            ..Budget::default()
        });
        assert_eq!(none.burst(&tier(100)), 7);
        let capped = Limiter::new(Budget {
            burst_minutes: 60.0,
            ..Budget::default()
        });
        assert_eq!(
            capped.burst(&tier(100)),
            500,
            "never more than Qlik's 5 minutes"
        );
    }

    #[tokio::test]
    async fn a_429_blocks_the_whole_tier() {
        let limiter = Limiter::new(Budget {
            fraction: 1.0,
            burst: 10,
            burst_minutes: 0.0,
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
