//! Wall-clock time behind a trait, so the worker's backoff, probes and age limits can be driven
//! by tests (a ten-minute outage in milliseconds) instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::store::{duration_ms, now_ms};

/// Milliseconds since the Unix epoch, as the queue stores times.
pub trait Clock: std::fmt::Debug + Send + Sync + 'static {
    /// The current time in ms since the epoch.
    fn now_ms(&self) -> i64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that moves only when told to (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        Self(AtomicI64::new(start_ms))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(duration_ms(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
