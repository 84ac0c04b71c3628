//! The image pull back-off: client-go's `flowcontrol.Backoff` as kubelet configures it for
//! pulls (10s doubling to 300s per pod and image, forgotten after twice the maximum without a
//! failure). The caller passes the time, so tests need no clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// kubelet's `backOffPeriod`.
pub const INITIAL: Duration = Duration::from_secs(10);
/// kubelet's `MaxImageBackOff`.
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct PullBackoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Instant,
}

impl Default for PullBackoff {
    fn default() -> Self {
        PullBackoff::new(INITIAL, MAX)
    }
}

impl PullBackoff {
    pub fn new(initial: Duration, max: Duration) -> PullBackoff {
        PullBackoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// kubelet's back-off key: one per pod and image.
    pub fn key(pod_uid: &str, image: &str) -> String {
        format!("{pod_uid}_{image}")
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.last_update) > self.max * 2
    }

    /// `IsInBackOffSinceUpdate`: a pull failed less than the current back-off ago.
    pub fn in_backoff(&self, key: &str, now: Instant) -> bool {
        self.entries.get(key).is_some_and(|e| {
            !self.expired(e, now) && now.saturating_duration_since(e.last_update) < e.backoff
        })
    }

    /// `Next`: records a failed pull — the first (or first after a long quiet) waits the
    /// initial delay, each further one twice the last, up to the maximum.
    pub fn failed(&mut self, key: &str, now: Instant) {
        let backoff = match self.entries.get(key) {
            Some(e) if !self.expired(e, now) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_owned(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// The current delay for `key`, if it has one.
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.backoff)
    }

    /// Forgets a key (its pod is gone).
    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// `GC`: drops entries quiet for more than twice the maximum.
    pub fn gc(&mut self, now: Instant) {
        let max2 = self.max * 2;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last_update) <= max2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_maximum_then_forgets() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = PullBackoff::default();
        let k = PullBackoff::key("uid", "busybox");
        assert!(!b.in_backoff(&k, t0));
        b.failed(&k, t0);
        assert_eq!(b.delay(&k), Some(s(10)));
        assert!(b.in_backoff(&k, t0 + s(9)));
        assert!(!b.in_backoff(&k, t0 + s(10)));
        let mut t = t0;
        for want in [20, 40, 80, 160, 300, 300] {
            t += s(1);
            b.failed(&k, t);
            assert_eq!(b.delay(&k), Some(s(want)));
        }
        // Quiet for more than twice the maximum: the next failure starts over.
        b.failed(&k, t + s(601));
        assert_eq!(b.delay(&k), Some(s(10)));
        b.gc(t + s(601 + 600));
        assert_eq!(b.delay(&k), Some(s(10)));
        b.gc(t + s(601 + 601));
        assert_eq!(b.delay(&k), None);
    }

    #[test]
    fn keys_are_independent() {
        let t0 = Instant::now();
        let mut b = PullBackoff::default();
        b.failed("a_x", t0);
        assert!(b.in_backoff("a_x", t0));
        assert!(!b.in_backoff("b_x", t0));
        b.forget("a_x");
        assert!(!b.in_backoff("a_x", t0));
    }
}
