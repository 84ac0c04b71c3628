//! Leader election (client-go's `leaderelection` rules): candidates sharing one store through
//! registries of their own, each with its own clock. Rounds are driven by hand on fake clocks;
//! the acquire and renew loops run on tokio's paused clock, so a minute of elections takes
//! milliseconds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::LeaseSpec;
use kbatch_api::clock::Clock;
use kbatch_api::registry::Registry;
use kbatch_controllers::leader::{LeaderElectionConfig, LeaderElector};
use kbatch_core::object::{LEASE, Object};
use kbatch_store::{
    Deleted, Error, KeyValue, ListOptions, ListResult, MemoryStore, Result, Revision, Store,
    WatchStream,
};
use tokio::time::Instant;

const START: &str = "2030-01-01T00:00:00Z";

/// A wall clock the test moves.
#[derive(Debug)]
struct FakeClock(Mutex<Timestamp>);

impl FakeClock {
    fn at(t: Timestamp) -> Arc<FakeClock> {
        Arc::new(FakeClock(Mutex::new(t)))
    }

    fn advance(&self, d: Duration) {
        let mut now = self.0.lock().unwrap();
        *now = now
            .checked_add(SignedDuration::try_from(d).unwrap())
            .unwrap();
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// A wall clock that follows tokio's (paused) clock, `offset` away from the others'.
#[derive(Debug)]
struct TokioClock {
    base: Timestamp,
    start: Instant,
}

impl TokioClock {
    fn skewed(offset: SignedDuration) -> Arc<TokioClock> {
        let base: Timestamp = START.parse().unwrap();
        Arc::new(TokioClock {
            base: base.checked_add(offset).unwrap(),
            start: Instant::now(),
        })
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.start.elapsed()).unwrap();
        self.base.checked_add(elapsed).unwrap()
    }
}

/// One candidate's path to the shared store, which the test can cut: a server that has lost
/// etcd.
#[derive(Debug)]
struct Link {
    store: Arc<MemoryStore>,
    down: AtomicBool,
}

impl Link {
    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::Unavailable("the link is cut".to_owned()))
        } else {
            Ok(())
        }
    }

    fn cut(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for Link {
    async fn get(&self, key: &str) -> Result<KeyValue> {
        self.check()?;
        self.store.get(key).await
    }
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        self.check()?;
        self.store.list(prefix, options).await
    }
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        self.check()?;
        self.store.create(key, value).await
    }
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        self.check()?;
        self.store.update(key, value, expected).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        self.check()?;
        self.store.delete(key, expected).await
    }
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.check()?;
        self.store.watch(prefix, after).await
    }
    async fn current_revision(&self) -> Result<Revision> {
        self.check()?;
        self.store.current_revision().await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.check()?;
        self.store.compact(revision).await
    }
}

/// The shared store, with the namespaces a server makes.
async fn shared_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let clock = FakeClock::at(START.parse().unwrap());
    Registry::new(store.clone(), clock)
        .bootstrap()
        .await
        .unwrap();
    store
}

struct Candidate {
    elector: Arc<LeaderElector>,
    link: Arc<Link>,
}

fn candidate(store: &Arc<MemoryStore>, identity: &str, clock: Arc<dyn Clock>) -> Candidate {
    let link = Arc::new(Link {
        store: store.clone(),
        down: AtomicBool::new(false),
    });
    let registry = Registry::new(link.clone(), clock.clone());
    let elector = LeaderElector::new(registry, clock, LeaderElectionConfig::new(identity)).unwrap();
    Candidate {
        elector: Arc::new(elector),
        link,
    }
}

async fn lease(store: &Arc<MemoryStore>) -> LeaseSpec {
    let registry = Registry::new(store.clone(), FakeClock::at(START.parse().unwrap()));
    match registry
        .get(&LEASE, "kube-system", "kbatch-controller-manager")
        .await
        .unwrap()
    {
        Object::Lease(lease) => lease.spec.unwrap(),
        other => panic!("not a lease: {other:?}"),
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn kubernetes_timings_and_their_checks() {
    let config = LeaderElectionConfig::new("a");
    assert_eq!(config.namespace, "kube-system");
    assert_eq!(config.lease_duration, secs(15.0));
    assert_eq!(config.renew_deadline, secs(10.0));
    assert_eq!(config.retry_period, secs(2.0));
    config.validate().unwrap();
    // client-go's NewLeaderElector rules.
    let mut bad = config.clone();
    bad.renew_deadline = secs(15.0);
    assert!(
        bad.validate().is_err(),
        "the renew deadline must be shorter"
    );
    let mut bad = config.clone();
    bad.retry_period = secs(9.0);
    assert!(bad.validate().is_err(), "renewDeadline > retryPeriod * 1.2");
    let mut bad = config.clone();
    bad.identity.clear();
    assert!(bad.validate().is_err());
    let mut bad = config;
    bad.lease_duration = secs(15.5);
    assert!(bad.validate().is_err(), "the Lease holds whole seconds");
}

#[tokio::test]
async fn the_first_candidate_creates_the_lease_and_renews_it() {
    let store = shared_store().await;
    let clock = FakeClock::at(START.parse().unwrap());
    let a = candidate(&store, "a", clock.clone());
    assert!(!a.elector.is_leader());
    assert!(a.elector.try_acquire_or_renew().await.unwrap());
    assert!(a.elector.is_leader());
    let first = lease(&store).await;
    assert_eq!(first.holder_identity.as_deref(), Some("a"));
    assert_eq!(first.lease_duration_seconds, Some(15));
    assert_eq!(first.lease_transitions, Some(0));
    assert_eq!(first.acquire_time, first.renew_time);

    clock.advance(secs(2.0));
    assert!(a.elector.try_acquire_or_renew().await.unwrap());
    let renewed = lease(&store).await;
    assert_eq!(renewed.holder_identity.as_deref(), Some("a"));
    // A renewal moves renewTime only.
    assert_eq!(renewed.acquire_time, first.acquire_time);
    assert_eq!(renewed.lease_transitions, Some(0));
    assert_eq!(
        renewed.renew_time.unwrap().0,
        first.renew_time.unwrap().0 + SignedDuration::from_secs(2)
    );
}

#[tokio::test]
async fn another_waits_a_lease_duration_from_when_it_saw_the_lease_change() {
    let store = shared_store().await;
    let clock_a = FakeClock::at(START.parse().unwrap());
    // B's clock is an hour ahead: by it, A's renewTime is long past, which must not matter.
    let clock_b =
        FakeClock::at(START.parse::<Timestamp>().unwrap() + SignedDuration::from_hours(1));
    let a = candidate(&store, "a", clock_a.clone());
    let b = candidate(&store, "b", clock_b.clone());
    assert!(a.elector.try_acquire_or_renew().await.unwrap());

    assert!(!b.elector.try_acquire_or_renew().await.unwrap());
    assert_eq!(b.elector.observed_leader().as_deref(), Some("a"));
    // A renews for a minute: every renewal is a change B sees, so B keeps waiting.
    for _ in 0..30 {
        clock_a.advance(secs(2.0));
        clock_b.advance(secs(2.0));
        assert!(a.elector.try_acquire_or_renew().await.unwrap());
        assert!(!b.elector.try_acquire_or_renew().await.unwrap());
    }
    // A stops renewing. B saw the last change just now: 14.9 s later the lease still holds.
    clock_b.advance(secs(14.9));
    assert!(!b.elector.try_acquire_or_renew().await.unwrap());
    clock_b.advance(secs(0.2));
    assert!(b.elector.try_acquire_or_renew().await.unwrap());
    let taken = lease(&store).await;
    assert_eq!(taken.holder_identity.as_deref(), Some("b"));
    assert_eq!(taken.lease_transitions, Some(1));
    assert_eq!(taken.acquire_time, taken.renew_time);

    // A comes back: it sees B's lease and does not lead.
    assert!(a.elector.is_leader(), "A has not looked yet");
    assert!(!a.elector.try_acquire_or_renew().await.unwrap());
    assert!(!a.elector.is_leader());
    assert_eq!(a.elector.observed_leader().as_deref(), Some("b"));
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once() {
    let store = shared_store().await;
    let clock = FakeClock::at(START.parse().unwrap());
    let a = candidate(&store, "a", clock.clone());
    let b = candidate(&store, "b", clock.clone());
    assert!(a.elector.try_acquire_or_renew().await.unwrap());
    assert!(!b.elector.try_acquire_or_renew().await.unwrap());
    a.elector.release().await.unwrap();
    assert!(!a.elector.is_leader());
    let released = lease(&store).await;
    assert_eq!(released.holder_identity.as_deref(), Some(""));
    assert_eq!(released.lease_duration_seconds, Some(1));
    // An empty holder is free whatever its duration: B need not wait.
    assert!(b.elector.try_acquire_or_renew().await.unwrap());
    let taken = lease(&store).await;
    assert_eq!(taken.holder_identity.as_deref(), Some("b"));
    assert_eq!(taken.lease_duration_seconds, Some(15));
    assert_eq!(taken.lease_transitions, Some(1));
    // Releasing a lease another holds changes nothing.
    a.elector.release().await.unwrap();
    assert_eq!(lease(&store).await.holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn of_two_candidates_racing_for_an_expired_lease_one_wins() {
    let store = shared_store().await;
    let clock = FakeClock::at(START.parse().unwrap());
    let a = candidate(&store, "a", clock.clone());
    let b = candidate(&store, "b", clock.clone());
    let c = candidate(&store, "c", clock.clone());
    assert!(a.elector.try_acquire_or_renew().await.unwrap());
    assert!(!b.elector.try_acquire_or_renew().await.unwrap());
    assert!(!c.elector.try_acquire_or_renew().await.unwrap());
    clock.advance(secs(16.0));
    // Both have seen the lease expire; their writes carry the resourceVersion they read.
    let (rb, rc) = tokio::join!(
        b.elector.try_acquire_or_renew(),
        c.elector.try_acquire_or_renew()
    );
    let (rb, rc) = (rb.unwrap(), rc.unwrap());
    assert!(rb != rc, "exactly one wins: b {rb}, c {rc}");
    let winner = if rb { "b" } else { "c" };
    assert_eq!(lease(&store).await.holder_identity.as_deref(), Some(winner));
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_stops_before_another_takes_over() {
    let store = shared_store().await;
    let a = candidate(&store, "a", TokioClock::skewed(SignedDuration::ZERO));
    let b = candidate(
        &store,
        "b",
        TokioClock::skewed(SignedDuration::from_mins(-7)),
    );
    a.elector.acquire().await;
    let hold = tokio::spawn({
        let a = a.elector.clone();
        async move {
            a.hold().await;
            Instant::now()
        }
    });
    let takeover = tokio::spawn({
        let b = b.elector.clone();
        async move {
            b.acquire().await;
            Instant::now()
        }
    });
    // A leads and renews for a minute; B waits.
    tokio::time::sleep(secs(60.0)).await;
    assert!(!hold.is_finished() && !takeover.is_finished());
    a.link.cut(true);
    let cut = Instant::now();
    let lost = hold.await.unwrap();
    let taken = takeover.await.unwrap();
    // A gives up within the renew deadline of its last renewal (at most a retry period before
    // the cut)…
    assert!(
        lost - cut <= secs(2.0 + 10.0),
        "lost {:?} after the cut",
        lost - cut
    );
    // …and B takes over only after a lease duration without change: after A stopped, and
    // no later than a lease duration after it could last have seen A's last renewal (it
    // polls at most 2.4 s apart and wakes when the Lease it saw expires).
    assert!(
        taken - cut >= secs(15.0 - 2.0),
        "taken {:?} after the cut",
        taken - cut
    );
    assert!(
        taken - cut <= secs(15.0 + 2.4 + 0.1),
        "taken {:?} after the cut",
        taken - cut
    );
    assert!(lost < taken);
    assert_eq!(lease(&store).await.holder_identity.as_deref(), Some("b"));
    assert_eq!(lease(&store).await.lease_transitions, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_lease_was_taken_stops_leading() {
    let store = shared_store().await;
    let clock = TokioClock::skewed(SignedDuration::ZERO);
    let a = candidate(&store, "a", clock.clone());
    a.elector.acquire().await;
    let hold = tokio::spawn({
        let a = a.elector.clone();
        async move { a.hold().await }
    });
    tokio::time::sleep(secs(5.0)).await;
    // Someone writes the lease over (an operator, or a candidate with a wrong duration).
    let registry = Registry::new(store.clone(), clock.clone());
    let Object::Lease(mut stolen) = registry
        .get(&LEASE, "kube-system", "kbatch-controller-manager")
        .await
        .unwrap()
    else {
        panic!("not a lease")
    };
    stolen.spec.as_mut().unwrap().holder_identity = Some("intruder".to_owned());
    registry
        .update(
            &LEASE,
            "kube-system",
            "kbatch-controller-manager",
            Object::Lease(stolen),
            &Default::default(),
            Vec::new(),
        )
        .await
        .unwrap();
    hold.await.unwrap();
    assert!(!a.elector.is_leader());
    assert_eq!(a.elector.observed_leader().as_deref(), Some("intruder"));
}

/// Who led from when until when (None: still leading).
type Span = (usize, Instant, Option<Instant>);

/// Three candidates whose links to the store fail and recover at random for ten minutes: at no
/// moment do two of them lead.
#[tokio::test(start_paused = true)]
async fn candidates_with_failing_links_never_lead_together() {
    let store = shared_store().await;
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let mut candidates = Vec::new();
    for (i, skew) in [0i64, 300, -300].into_iter().enumerate() {
        let clock = TokioClock::skewed(SignedDuration::from_secs(skew));
        candidates.push(candidate(&store, &format!("c{i}"), clock));
    }
    let end = Instant::now() + secs(600.0);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in candidates.iter().enumerate() {
        let elector = c.elector.clone();
        let spans = spans.clone();
        tasks.spawn(async move {
            while Instant::now() < end {
                elector.acquire().await;
                let span = {
                    let mut spans = spans.lock().unwrap();
                    spans.push((i, Instant::now(), None));
                    spans.len() - 1
                };
                elector.hold().await;
                spans.lock().unwrap()[span].2 = Some(Instant::now());
            }
        });
    }
    let links: Vec<Arc<Link>> = candidates.iter().map(|c| c.link.clone()).collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    while Instant::now() < end {
        // xorshift: a fixed sequence of cuts and repairs, from a second to half a minute.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let link = &links[(seed % 3) as usize];
        link.cut(seed & 8 == 0);
        tokio::time::sleep(secs(1.0 + (seed >> 40) as f64 % 30.0)).await;
    }
    for link in &links {
        link.cut(false);
    }
    tasks.abort_all();
    let now = Instant::now();
    let spans: Vec<(usize, Instant, Instant)> = spans
        .lock()
        .unwrap()
        .iter()
        .map(|&(i, from, to)| (i, from, to.unwrap_or(now)))
        .collect();
    assert!(
        spans.len() >= 3,
        "the cuts made leadership change hands: {spans:?}"
    );
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            assert!(
                a.2 <= b.1 || b.2 <= a.1,
                "c{} led {:?}..{:?} while c{} led {:?}..{:?}",
                a.0,
                a.1,
                a.2,
                b.0,
                b.1,
                b.2
            );
        }
    }
}
