//! The work queue of every controller, with client-go's `workqueue` semantics (the
//! rate-limiting, delaying queue controllers are built on):
//!
//! - a key is queued at most once: adding a key that waits to be processed does nothing;
//! - a key is handed to one worker at a time: a key added while a worker holds it is queued
//!   again when that worker calls [`WorkQueue::done`];
//! - [`WorkQueue::add_after`] queues a key later; of several delays for one key the earliest
//!   wins (the delaying queue's `waitFor` heap keeps one entry per key);
//! - [`WorkQueue::add_rate_limited`] queues a key after its per-key exponential backoff, which
//!   [`WorkQueue::forget`] resets;
//! - after [`WorkQueue::shut_down`] nothing new is accepted, the keys already queued are still
//!   handed out, and then [`WorkQueue::get`] returns `None`.
//!
//! Delays run on tokio's clock, so tests drive them with `tokio::time::pause`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What a queue key needs: cheap enough to clone and usable as a map key.
pub trait QueueKey: Clone + Eq + Hash + Debug + Send + Sync + 'static {}

impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> QueueKey for T {}

/// Per-key exponential backoff: the n-th consecutive failure of a key waits
/// `base · 2^(n-1)`, capped at `max` (client-go's `ItemExponentialFailureRateLimiter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimiter {
    pub base: Duration,
    pub max: Duration,
}

impl RateLimiter {
    /// client-go's default for controllers (`DefaultControllerRateLimiter`'s per-item part):
    /// 5 ms doubling up to 1000 s.
    pub const CONTROLLER_DEFAULT: RateLimiter = RateLimiter {
        base: Duration::from_millis(5),
        max: Duration::from_secs(1000),
    };

    /// The Job controller's API-error backoff (J-36: `DefaultJobApiBackOff` 1 s,
    /// `MaxJobApiBackOff` 60 s).
    pub const JOB_API: RateLimiter = RateLimiter {
        base: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    /// The delay after `failures` earlier failures of the same key.
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures).unwrap_or(0);
        if factor == 0 {
            return self.max;
        }
        self.base
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::CONTROLLER_DEFAULT
    }
}

/// A deduplicating, delaying, rate-limited queue of keys shared by a controller's event
/// handlers and its workers. Cheap to clone; clones share the queue.
#[derive(Debug)]
pub struct WorkQueue<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug)]
struct Shared<K> {
    state: Mutex<State<K>>,
    /// Wakes the workers waiting in `get`: a key became ready, an earlier delay was set, or
    /// the queue shut down.
    wake: Notify,
    limiter: RateLimiter,
}

#[derive(Debug)]
struct State<K> {
    /// Keys ready to be handed out, in order.
    queue: VecDeque<K>,
    /// Keys that need processing: queued, or added again while being processed.
    dirty: HashSet<K>,
    /// Keys a worker holds.
    processing: HashSet<K>,
    /// Delayed keys: when each becomes ready (the earliest of its delays), in `timers` under
    /// a sequence number.
    waiting: HashMap<K, (Instant, u64)>,
    /// The delayed keys' times, earliest first: a due key is found without looking at the
    /// others (a controller may hold one timer per object, e.g. every CronJob's next fire
    /// time). An entry whose key left `waiting`, or waits under a newer number, is stale and
    /// dropped when it comes up.
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The key of each live timer.
    timer_keys: HashMap<u64, K>,
    next_timer: u64,
    /// Consecutive failures per key, for the rate limiter.
    failures: HashMap<K, u32>,
    shutting_down: bool,
}

impl<K: QueueKey> State<K> {
    /// Marks `key` dirty and queues it unless it is queued or held; true if it was queued.
    fn insert(&mut self, key: K) -> bool {
        if self.dirty.contains(&key) {
            return false;
        }
        self.dirty.insert(key.clone());
        if self.processing.contains(&key) {
            return false;
        }
        self.queue.push_back(key);
        true
    }

    /// Queues the delayed keys whose time has come; true if any was queued.
    fn promote_due(&mut self, now: Instant) -> bool {
        let mut queued = false;
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(key) = self.timer_keys.remove(&id) {
                self.waiting.remove(&key);
                queued |= self.insert(key);
            }
        }
        queued
    }

    /// Delays `key` until `at`, unless it already waits for an earlier time; true if `at` is
    /// now its time.
    fn delay(&mut self, key: K, at: Instant) -> bool {
        let id = self.next_timer;
        match self.waiting.get_mut(&key) {
            Some((earlier, _)) if *earlier <= at => return false,
            Some(entry) => {
                self.timer_keys.remove(&entry.1);
                *entry = (at, id);
            }
            None => {
                self.waiting.insert(key.clone(), (at, id));
            }
        }
        self.next_timer += 1;
        self.timer_keys.insert(id, key);
        self.timers.push(Reverse((at, id)));
        true
    }

    /// When the earliest delayed key becomes ready, dropping stale timers on the way.
    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if self.timer_keys.contains_key(&id) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }
}

impl<K: QueueKey> WorkQueue<K> {
    /// An empty queue whose `add_rate_limited` backs off with `limiter`.
    pub fn new(limiter: RateLimiter) -> Self {
        WorkQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    waiting: HashMap::new(),
                    timers: BinaryHeap::new(),
                    timer_keys: HashMap::new(),
                    next_timer: 0,
                    failures: HashMap::new(),
                    shutting_down: false,
                }),
                wake: Notify::new(),
                limiter,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<K>> {
        // The state stays consistent across every early return, so a poisoned lock (a
        // panicking handler elsewhere) is still usable.
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `key` now.
    pub fn add(&self, key: K) {
        let queued = {
            let mut state = self.state();
            !state.shutting_down && state.insert(key)
        };
        if queued {
            self.shared.wake.notify_waiters();
        }
    }

    /// Queues `key` once `delay` has passed; a zero delay queues it now. If the key already
    /// waits for an earlier time, this does nothing.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + delay;
        {
            let mut state = self.state();
            let earlier = state.next_deadline().is_none_or(|first| at < first);
            if state.shutting_down || !state.delay(key, at) || !earlier {
                return;
            }
        }
        // Waiting workers sleep until the earliest delay they knew of.
        self.shared.wake.notify_waiters();
    }

    /// Queues `key` after its backoff and counts one more failure for it.
    pub fn add_rate_limited(&self, key: K) {
        let delay = {
            let mut state = self.state();
            let failures = state.failures.entry(key.clone()).or_insert(0);
            let delay = self.shared.limiter.backoff(*failures);
            *failures = failures.saturating_add(1);
            delay
        };
        self.add_after(key, delay);
    }

    /// Clears the failures of `key`: its next `add_rate_limited` waits the base delay.
    pub fn forget(&self, key: &K) {
        self.state().failures.remove(key);
    }

    /// How many times `key` was requeued with `add_rate_limited` since it was last forgotten.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.state().failures.get(key).copied().unwrap_or(0)
    }

    /// The number of keys ready to be handed out (not counting delayed or held keys).
    pub fn len(&self) -> usize {
        self.state().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the next ready key and hands it to the caller, who must call
    /// [`WorkQueue::done`] with it. `None` once the queue is shut down and drained.
    pub async fn get(&self) -> Option<K> {
        loop {
            // Registered before the state is read, so a wake between the read and the wait
            // is not lost.
            let mut woken = pin!(self.shared.wake.notified());
            woken.as_mut().enable();
            let (next, more) = {
                let mut state = self.state();
                state.promote_due(Instant::now());
                if let Some(key) = state.queue.pop_front() {
                    state.dirty.remove(&key);
                    state.processing.insert(key.clone());
                    let more = !state.queue.is_empty();
                    (Ok(key), more)
                } else if state.shutting_down {
                    return None;
                } else {
                    (Err(state.next_deadline()), false)
                }
            };
            match next {
                Ok(key) => {
                    if more {
                        // Keys that became due together: other idle workers may take them.
                        self.shared.wake.notify_waiters();
                    }
                    return Some(key);
                }
                Err(Some(deadline)) => {
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep_until(deadline) => {}
                    }
                }
                Err(None) => woken.await,
            }
        }
    }

    /// Ends the processing of `key`; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &K) {
        let requeued = {
            let mut state = self.state();
            state.processing.remove(key);
            if state.dirty.contains(key) {
                state.queue.push_back(key.clone());
                true
            } else {
                false
            }
        };
        if requeued {
            self.shared.wake.notify_waiters();
        }
    }

    /// Stops accepting keys and drops the delayed ones; workers drain what is queued.
    pub fn shut_down(&self) {
        {
            let mut state = self.state();
            state.shutting_down = true;
            state.waiting.clear();
            state.timers.clear();
            state.timer_keys.clear();
        }
        self.shared.wake.notify_waiters();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.state().shutting_down
    }
}
