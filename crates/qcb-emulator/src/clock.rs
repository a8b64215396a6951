//! Emulated time. A tenant's clock can run faster than real time (`--time-scale`), so that
//! rate limits, export latency and token lifetimes of a large tenant pass in seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A clock that runs `scale` times faster than the wall clock, and can be moved forward by tests.
#[derive(Debug)]
pub struct Clock {
    started_real: Instant,
    started_at: DateTime<Utc>,
    scale: f64,
    skipped: Mutex<Duration>,
}

impl Clock {
    pub fn new(scale: f64) -> Clock {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Clock {
            started_real: Instant::now(),
            started_at: Utc::now(),
            scale,
            skipped: Mutex::new(Duration::ZERO),
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Emulated time elapsed since the tenant started.
    pub fn elapsed(&self) -> Duration {
        let real = self.started_real.elapsed().as_secs_f64() * self.scale;
        Duration::from_secs_f64(real) + *self.skipped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The emulated wall-clock time.
    pub fn now(&self) -> DateTime<Utc> {
        self.started_at + chrono::Duration::from_std(self.elapsed()).unwrap_or_default()
    }

    /// How long the real world waits for `emulated` to pass.
    pub fn real_duration(&self, emulated: Duration) -> Duration {
        Duration::from_secs_f64(emulated.as_secs_f64() / self.scale)
    }

    /// Moves emulated time forward at once (tests: expire tokens, downloads, rate windows).
    pub fn advance(&self, by: Duration) {
        *self.skipped.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

/// RFC 3339 with millisecond precision and a `Z`, as Qlik's APIs write timestamps.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_time_runs_faster() {
        let clock = Clock::new(600.0);
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            clock.elapsed() >= Duration::from_secs(10),
            "{:?}",
            clock.elapsed()
        );
        assert_eq!(
            clock.real_duration(Duration::from_secs(600)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn advance_moves_now() {
        let clock = Clock::new(1.0);
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() - before >= chrono::Duration::seconds(3600));
    }
}
