//! Keeping history bounded, the way kube-apiserver drives etcd's compaction: on each run the
//! compactor notes which revision is current at what time, and compacts up to the newest revision
//! that is both older than the time window and outside the newest N events — so whichever of the
//! two keeps more history wins. Time comes from the caller ([`Clock`]), never from inside the
//! decision, so tests drive it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Result, Revision, Store};

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep every event younger than this.
    pub min_age: Duration,
    /// Keep at least this many of the newest revisions.
    pub min_events: i64,
}

impl Default for Retention {
    /// 10 minutes or 100,000 events, whichever is more.
    fn default() -> Self {
        Retention {
            min_age: Duration::from_secs(600),
            min_events: 100_000,
        }
    }
}

/// Where time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
}

/// The process's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Decides and runs compactions.
#[derive(Debug, Clone)]
pub struct Compactor {
    retention: Retention,
    /// `(t, r)`: revision `r` was current at `t`, so every revision up to `r` is at least as old
    /// as `t`. Oldest first.
    samples: VecDeque<(Instant, Revision)>,
}

impl Compactor {
    pub fn new(retention: Retention) -> Self {
        Compactor {
            retention,
            samples: VecDeque::new(),
        }
    }

    /// Records that `current` is the current revision at `now` and returns the revision up to
    /// which history may be dropped (0: none yet).
    pub fn observe(&mut self, now: Instant, current: Revision) -> Revision {
        self.samples.push_back((now, current));
        let Some(limit) = now.checked_sub(self.retention.min_age) else {
            return 0;
        };
        // Samples before the newest one that is old enough can never be chosen again.
        while self.samples.get(1).is_some_and(|(at, _)| *at <= limit) {
            self.samples.pop_front();
        }
        let by_age = match self.samples.front() {
            Some(&(at, revision)) if at <= limit => revision,
            _ => 0,
        };
        let by_count = current.saturating_sub(self.retention.min_events);
        by_age.min(by_count).max(0)
    }

    /// One compactor run at `now`: compacts `store` as far as the retention allows and returns
    /// the revision compacted to (0 when nothing may go yet).
    pub async fn compact_once(&mut self, store: &dyn Store, now: Instant) -> Result<Revision> {
        let current = store.current_revision().await?;
        let target = self.observe(now, current);
        if target > 0 {
            store.compact(target).await?;
        }
        Ok(target)
    }

    /// Runs [`Self::compact_once`] every `interval` until a run fails, returning that error.
    /// (kube-apiserver compacts every 5 minutes; an interval well below `min_age` keeps the
    /// kept window close to it.)
    pub async fn run(
        mut self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> Result<std::convert::Infallible> {
        loop {
            tokio::time::sleep(interval).await;
            self.compact_once(store.as_ref(), clock.now()).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn compactor(min_age: Duration, min_events: i64) -> Compactor {
        Compactor::new(Retention {
            min_age,
            min_events,
        })
    }

    #[test]
    fn nothing_is_old_enough_at_first() {
        let t0 = Instant::now();
        let mut c = compactor(10 * MINUTE, 10);
        assert_eq!(c.observe(t0, 1_000), 0);
        assert_eq!(c.observe(t0 + 9 * MINUTE, 2_000), 0);
    }

    #[test]
    fn time_window_wins_when_it_keeps_more() {
        let t0 = Instant::now();
        let mut c = compactor(10 * MINUTE, 10);
        c.observe(t0, 1_000);
        c.observe(t0 + 5 * MINUTE, 1_500);
        // At t0+10m, revision 1000 (current at t0) is 10 minutes old; 1500 is not yet.
        assert_eq!(c.observe(t0 + 10 * MINUTE, 2_000), 1_000);
        assert_eq!(c.observe(t0 + 15 * MINUTE, 2_100), 1_500);
    }

    #[test]
    fn event_count_wins_when_it_keeps_more() {
        let t0 = Instant::now();
        let mut c = compactor(10 * MINUTE, 100_000);
        c.observe(t0, 50_000);
        assert_eq!(c.observe(t0 + 20 * MINUTE, 120_000), 20_000);
        assert_eq!(c.observe(t0 + 40 * MINUTE, 130_000), 30_000);
    }

    #[test]
    fn default_is_ten_minutes_or_100k_events() {
        assert_eq!(
            Retention::default(),
            Retention {
                min_age: 10 * MINUTE,
                min_events: 100_000
            }
        );
    }
}
