//! Qlik's rate limits: per user, per tier, "evaluated over a 5-minute window to support
//! bursts" (qlik.dev, Rate limiting). Modelled as a token bucket that refills at the tier's
//! per-minute rate and holds `window` minutes of it. A 429 blocks the user's whole tier until
//! the bucket has a token again, and says when in `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::tiers::Tier;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Duration,
}

#[derive(Debug)]
pub struct RateLimiter {
    window_minutes: f64,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

/// The request must wait this long (emulated time) before the tier admits it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttled {
    pub wait: Duration,
}

impl RateLimiter {
    pub fn new(window_minutes: u32) -> RateLimiter {
        RateLimiter {
            window_minutes: f64::from(window_minutes.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the user's budget for `tier` at emulated time `now`.
    /// `bucket` names the budget: the tier for tiers 1 and 2, the operation for "special" ones.
    pub fn admit(
        &self,
        user: &str,
        bucket: &str,
        tier: &Tier,
        now: Duration,
    ) -> Result<(), Throttled> {
        let per_sec = f64::from(tier.per_minute.max(1)) / 60.0;
        let capacity = f64::from(tier.per_minute.max(1)) * self.window_minutes;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets
            .entry((user.to_string(), bucket.to_string()))
            .or_insert(Bucket {
                tokens: capacity,
                updated: now,
            });
        let dt = now.saturating_sub(b.updated).as_secs_f64();
        b.tokens = (b.tokens + dt * per_sec).min(capacity);
        b.updated = now.max(b.updated);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Throttled {
                wait: Duration::from_secs_f64((1.0 - b.tokens) / per_sec),
            })
        }
    }

    /// Forgets every budget (tests).
    pub fn reset(&self) {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier2() -> Tier {
        Tier {
            name: "2".into(),
            per_minute: 100,
        }
    }

    #[test]
    fn burst_of_one_window_then_steady_rate() {
        let rl = RateLimiter::new(5);
        let t = Duration::ZERO;
        for i in 0..500 {
            assert!(
                rl.admit("u", "2", &tier2(), t).is_ok(),
                "request {i} of the burst"
            );
        }
        let wait = rl.admit("u", "2", &tier2(), t).unwrap_err().wait;
        assert!((wait.as_secs_f64() - 0.6).abs() < 0.01, "{wait:?}");
        // After a minute, exactly 100 more are admitted.
        let later = Duration::from_secs(60);
        let admitted = (0..200)
            .filter(|_| rl.admit("u", "2", &tier2(), later).is_ok())
            .count();
        assert_eq!(admitted, 100);
    }

    #[test]
    fn users_and_tiers_have_separate_budgets() {
        let rl = RateLimiter::new(1);
        for _ in 0..100 {
            rl.admit("a", "2", &tier2(), Duration::ZERO).unwrap();
        }
        assert!(rl.admit("a", "2", &tier2(), Duration::ZERO).is_err());
        assert!(rl.admit("b", "2", &tier2(), Duration::ZERO).is_ok());
        assert!(rl
            .admit(
                "a",
                "1",
                &Tier {
                    name: "1".into(),
                    per_minute: 1000
                },
                Duration::ZERO
            )
            .is_ok());
    }

    #[test]
    fn steady_rate_at_budget_is_never_throttled() {
        let rl = RateLimiter::new(1);
        for i in 0..1000u64 {
            let now = Duration::from_millis(i * 600); // exactly 100/min
            assert!(rl.admit("u", "2", &tier2(), now).is_ok(), "request {i}");
        }
    }
}
