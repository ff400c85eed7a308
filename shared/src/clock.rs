//! The one clock: injected where a test needs to fix "now" (ingest's `received_at`, which days
//! compaction considers closed), read through [`now_ms`] everywhere else.

use crate::timestamp::EpochMillis;

/// The time source of a service.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> EpochMillis;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> EpochMillis {
        now_ms()
    }
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub EpochMillis);

impl Clock for FixedClock {
    fn now_ms(&self) -> EpochMillis {
        self.0
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 if the clock is before 1970).
pub fn now_ms() -> EpochMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as EpochMillis)
}
