//! The work queue's client-go semantics and the worker loop, on tokio's paused clock: every
//! duration below is exact virtual time, never real waiting.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kbatch_controllers::runtime::{RateLimiter, WorkQueue, run_workers};
use tokio::time::Instant;

fn queue() -> WorkQueue<&'static str> {
    WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT)
}

/// Gets the next key and how long that took on the paused clock.
async fn timed_get(q: &WorkQueue<&'static str>) -> (Option<&'static str>, Duration) {
    let start = Instant::now();
    let key = q.get().await;
    (key, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_queued_key_is_queued_once() {
    let q = queue();
    q.add("a");
    q.add("b");
    q.add("a");
    assert_eq!(q.len(), 2);
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, Some("b"));
    assert!(q.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_key_added_while_held_is_handed_out_after_done() {
    let q = queue();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.add("a");
    q.add("a");
    // Not available to a second worker while the first one holds it.
    assert!(q.is_empty());
    q.add("b");
    assert_eq!(q.get().await, Some("b"));
    q.done(&"a");
    assert_eq!(q.len(), 1);
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    q.done(&"b");
    assert!(q.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_done_key_not_added_again_is_not_requeued() {
    let q = queue();
    q.add("a");
    assert_eq!(q.get().await, Some("a"));
    q.done(&"a");
    assert!(q.is_empty());
}

#[tokio::test(start_paused = true)]
async fn add_after_hands_the_key_out_when_its_delay_has_passed() {
    let q = queue();
    q.add_after("a", Duration::from_secs(10));
    assert!(q.is_empty());
    assert_eq!(timed_get(&q).await, (Some("a"), Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_adds_at_once() {
    let q = queue();
    q.add_after("a", Duration::ZERO);
    assert_eq!(q.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn of_two_delays_the_earliest_wins_and_the_other_is_dropped() {
    let q = queue();
    q.add_after("a", Duration::from_secs(10));
    q.add_after("a", Duration::from_secs(5));
    q.add_after("a", Duration::from_secs(7));
    assert_eq!(timed_get(&q).await, (Some("a"), Duration::from_secs(5)));
    q.done(&"a");
    // Nothing is left for "a" at 7 s or 10 s: the next key is "b", 30 s later.
    q.add_after("b", Duration::from_secs(30));
    assert_eq!(timed_get(&q).await, (Some("b"), Duration::from_secs(30)));
}

/// A timer per object (the CronJob controller keeps one per CronJob): the keys come out in the
/// order of their times, each once, whatever order they were delayed in.
#[tokio::test(start_paused = true)]
async fn many_delayed_keys_come_out_in_time_order() {
    let q: WorkQueue<u32> = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
    let n = 10_000u32;
    // A permutation of 0..n; key k waits k + 1 ms, and every tenth key first waits longer.
    let delay = |k: u32| Duration::from_millis(u64::from(k) + 1);
    for i in 0..n {
        let k = (i * 7_919) % n;
        if k.is_multiple_of(10) {
            q.add_after(k, delay(k) + Duration::from_secs(5));
        }
        q.add_after(k, delay(k));
    }
    let start = Instant::now();
    for k in 0..n {
        let got = q.get().await;
        assert_eq!(got, Some(k));
        assert!(start.elapsed() >= delay(k));
        q.done(&k);
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(q.is_empty(), "the later delays were dropped");
}

#[tokio::test(start_paused = true)]
async fn a_waiting_worker_wakes_for_an_earlier_delay() {
    let q = queue();
    q.add_after("late", Duration::from_secs(60));
    let worker = tokio::spawn({
        let q = q.clone();
        async move { timed_get(&q).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    q.add_after("early", Duration::from_secs(2));
    assert_eq!(
        worker.await.unwrap(),
        (Some("early"), Duration::from_secs(3))
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_worker_wakes_for_an_add() {
    let q = queue();
    let worker = tokio::spawn({
        let q = q.clone();
        async move { timed_get(&q).await }
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    q.add("a");
    assert_eq!(worker.await.unwrap(), (Some("a"), Duration::from_secs(4)));
}

#[tokio::test(start_paused = true)]
async fn rate_limited_adds_back_off_per_key_until_forgotten() {
    let q = queue();
    for expected_ms in [5, 10, 20, 40] {
        q.add_rate_limited("a");
        assert_eq!(
            timed_get(&q).await,
            (Some("a"), Duration::from_millis(expected_ms))
        );
        q.done(&"a");
    }
    assert_eq!(q.num_requeues(&"a"), 4);
    // Another key has its own count.
    q.add_rate_limited("b");
    assert_eq!(timed_get(&q).await, (Some("b"), Duration::from_millis(5)));
    q.done(&"b");
    q.forget(&"a");
    assert_eq!(q.num_requeues(&"a"), 0);
    q.add_rate_limited("a");
    assert_eq!(timed_get(&q).await, (Some("a"), Duration::from_millis(5)));
}

#[test]
fn the_backoff_doubles_up_to_its_cap() {
    let job = RateLimiter::JOB_API;
    let secs: Vec<u64> = (0..9).map(|n| job.backoff(n).as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    let default = RateLimiter::CONTROLLER_DEFAULT;
    assert_eq!(default.backoff(0), Duration::from_millis(5));
    // 5 ms · 2^18 = 1310.72 s is past the 1000 s cap.
    assert_eq!(default.backoff(17), Duration::from_micros(655_360_000));
    assert_eq!(default.backoff(18), Duration::from_secs(1000));
    assert_eq!(default.backoff(u32::MAX), Duration::from_secs(1000));
    let custom = RateLimiter {
        base: Duration::from_millis(100),
        max: Duration::from_millis(250),
    };
    assert_eq!(custom.backoff(1), Duration::from_millis(200));
    assert_eq!(custom.backoff(2), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn shut_down_drains_queued_keys_then_ends_every_worker() {
    let q = queue();
    q.add("a");
    q.add_after("delayed", Duration::from_secs(1));
    let idle = tokio::spawn({
        let q = q.clone();
        async move {
            // Takes "a", then waits.
            let first = q.get().await;
            (first, q.get().await)
        }
    });
    tokio::task::yield_now().await;
    q.add("b");
    q.shut_down();
    q.add("c");
    let (first, second) = idle.await.unwrap();
    assert_eq!(first, Some("a"));
    // "b" was queued before the shutdown; "c" after it, and the delayed key is dropped.
    assert_eq!(second, Some("b"));
    assert_eq!(q.get().await, None);
    assert!(q.is_shutting_down());
}

/// Records when each key was synced.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(&'static str, Duration)>>>);

impl Log {
    fn push(&self, key: &'static str, at: Duration) {
        self.0.lock().unwrap().push((key, at));
    }
    fn entries(&self) -> Vec<(&'static str, Duration)> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test(start_paused = true)]
async fn workers_requeue_after_errors_and_requested_delays() {
    let q = queue();
    let log = Log::default();
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(0u32));
    let workers = tokio::spawn(run_workers("test", q.clone(), 1, {
        let log = log.clone();
        move |key: &'static str| {
            let log = log.clone();
            let calls = Arc::clone(&calls);
            async move {
                log.push(key, start.elapsed());
                let n = {
                    let mut c = calls.lock().unwrap();
                    *c += 1;
                    *c
                };
                match n {
                    1 | 2 => Err("boom"),
                    3 => Ok(Some(Duration::from_secs(3))),
                    _ => Ok(None),
                }
            }
        }
    }));
    q.add("a");
    tokio::time::sleep(Duration::from_secs(10)).await;
    q.shut_down();
    workers.await.unwrap();
    let ms = Duration::from_millis;
    assert_eq!(
        log.entries(),
        [
            ("a", ms(0)),
            // Errors: 5 ms, then 10 ms more.
            ("a", ms(5)),
            ("a", ms(15)),
            // Asked to come back 3 s later.
            ("a", ms(3015)),
        ]
    );
    // The success forgot the failures.
    assert_eq!(q.num_requeues(&"a"), 0);
}

#[tokio::test(start_paused = true)]
async fn workers_run_concurrently_but_never_on_the_same_key() {
    let q: WorkQueue<&'static str> = queue();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let busy = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let overlaps = Arc::new(Mutex::new(0u32));
    let log = Log::default();
    let start = Instant::now();
    let workers = tokio::spawn(run_workers("test", q.clone(), 2, {
        let busy = Arc::clone(&busy);
        let overlaps = Arc::clone(&overlaps);
        let log = log.clone();
        move |key: &'static str| {
            let barrier = Arc::clone(&barrier);
            let busy = Arc::clone(&busy);
            let overlaps = Arc::clone(&overlaps);
            let log = log.clone();
            async move {
                log.push(key, start.elapsed());
                {
                    let mut busy = busy.lock().unwrap();
                    if busy.contains(&key) {
                        *overlaps.lock().unwrap() += 1;
                    }
                    busy.push(key);
                }
                if key != "again" {
                    // Returns only once both workers are inside a sync at the same time.
                    barrier.wait().await;
                } else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                busy.lock().unwrap().retain(|k| *k != key);
                Ok::<_, Infallible>(None)
            }
        }
    }));
    q.add("a");
    q.add("b");
    let both = tokio::time::timeout(Duration::from_secs(3600), async {
        while !q.is_empty() || !busy.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(both.is_ok(), "the two keys were not synced concurrently");
    // A key added while its sync runs waits for it: no overlap on "again".
    q.add("again");
    tokio::time::sleep(Duration::from_millis(100)).await;
    q.add("again");
    tokio::time::sleep(Duration::from_secs(5)).await;
    q.shut_down();
    workers.await.unwrap();
    assert_eq!(*overlaps.lock().unwrap(), 0);
    // The second "again" ran once the first was done, 1 s after it started.
    let again: Vec<Duration> = log
        .entries()
        .into_iter()
        .filter(|(k, _)| *k == "again")
        .map(|(_, at)| at)
        .collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[1] - again[0], Duration::from_secs(1));
}
