//! Wall-clock time for the API and the controllers: creation and deletion timestamps, event
//! times, managedFields times. Injected, so tests can pin it.

use std::fmt::Debug;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> jiff::Timestamp;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}
