//! `@every <duration>`: robfig/cron v3.0.1 constantdelay.go (C-13).

use crate::instant::Instant;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A fixed delay between runs, not aligned to the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every {
    /// Whole seconds, at least one.
    delay_seconds: i64,
}

impl Every {
    /// Mirrors constantdelay.go `Every`: below one second becomes one second
    /// (negative and zero durations included), and the sub-second part is
    /// dropped.
    pub(crate) fn new(duration_nanos: i64) -> Every {
        let nanos = duration_nanos.max(NANOS_PER_SECOND);
        Every {
            delay_seconds: nanos / NANOS_PER_SECOND,
        }
    }

    /// The delay in whole seconds.
    pub fn delay_seconds(&self) -> i64 {
        self.delay_seconds
    }

    /// Mirrors `ConstantDelaySchedule.Next`: `t + delay - t.Nanosecond()`.
    pub(crate) fn next(&self, after: Instant) -> Instant {
        // delay_seconds ≤ i64::MAX / 1e9, so the product fits.
        let delay = self.delay_seconds * NANOS_PER_SECOND;
        after.add_nanos(delay - i64::from(after.subsec_nanos()))
    }
}
