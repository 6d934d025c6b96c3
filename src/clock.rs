//! The hub's one clock: every "now" the hub reads (intake, the scheduler, fan-out, sinks, the console, the CLI) comes from `now()`, so a drill can run a whole hub at another time.
//!
//! By default it is the system clock. `TONGBAO_CLOCK` (an RFC 3339 instant) starts it at that
//! instant when the process starts, and `TONGBAO_CLOCK_RATE` (a number, default 1) makes it run
//! that many times faster than real time: `TONGBAO_CLOCK=2027-01-08T08:00:00+08:00
//! TONGBAO_CLOCK_RATE=60 tongbao serve` lives through the morning of 8 January 2027 in a few
//! minutes, reminders, alerts and digests included. Durations the hub waits for are real time
//! divided by the rate (`real`). Library code takes `now` as an argument instead; only the
//! process edges (serve's loops, handlers, commands) read this.

use chrono::{DateTime, Utc};
use std::sync::OnceLock;
use std::time::Instant;

/// A clock set from the environment, or the system's.
#[derive(Debug, Clone, Copy)]
struct Simulated {
    start: DateTime<Utc>,
    began: Instant,
    rate: f64,
}

static CLOCK: OnceLock<Option<Simulated>> = OnceLock::new();

fn simulated() -> Option<Simulated> {
    *CLOCK.get_or_init(|| {
        let start = std::env::var("TONGBAO_CLOCK").ok()?;
        let start = DateTime::parse_from_rfc3339(start.trim())
            .unwrap_or_else(|e| panic!("TONGBAO_CLOCK={start:?} is not an RFC 3339 instant (2027-01-08T08:00:00+08:00): {e}"))
            .with_timezone(&Utc);
        let rate = match std::env::var("TONGBAO_CLOCK_RATE") {
            Ok(r) => r
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .unwrap_or_else(|| panic!("TONGBAO_CLOCK_RATE={r:?} is not a positive number")),
            Err(_) => 1.0,
        };
        Some(Simulated { start, began: Instant::now(), rate })
    })
}

/// The hub's now.
pub fn now() -> DateTime<Utc> {
    match simulated() {
        None => Utc::now(),
        Some(s) => {
            let elapsed = s.began.elapsed().as_secs_f64() * s.rate;
            s.start + chrono::Duration::microseconds((elapsed * 1e6) as i64)
        }
    }
}

/// Whether the hub runs on the system clock (no `TONGBAO_CLOCK`).
pub fn is_system() -> bool {
    simulated().is_none()
}

/// How long to really wait for `d` of the hub's time to pass.
pub fn real(d: std::time::Duration) -> std::time::Duration {
    match simulated() {
        None => d,
        Some(s) => d.div_f64(s.rate),
    }
}

/// Whether the clock was set from the environment (said in the log at start).
pub fn describe() -> Option<String> {
    simulated().map(|s| format!("simulated clock from {} at {}× real time", s.start.to_rfc3339(), s.rate))
}
