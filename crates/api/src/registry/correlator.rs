//! What client-go's `record.EventCorrelator` decides before an event reaches the API:
//! similar events aggregated, repeats counted into one Event, and a spam filter that lets a
//! source burst 25 events about one object and then one every five minutes.
//!
//! Every Kubernetes component that records core/v1 Events (the job and cronjob controllers,
//! kubelet) goes through it, so a Job of 10,000 pods keeps a handful of events, not 10,000:
//! after nine distinct `Created pod: …` messages the rest are combined into one event whose
//! count and message move on, and past the burst they are dropped. kbatch mirrors
//! `events_cache.go` (`EventAggregate`, `eventObserve`, `EventSourceObjectSpamFilter`) with its
//! default options, one correlator per recording component as each component has its own
//! broadcaster.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use hashlink::LruCache;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Event, EventSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::events::EventSpec;

/// client-go's `maxLruCacheEntries`: each of the three caches holds this many keys.
const CACHE_ENTRIES: usize = 4096;
/// `defaultAggregateMaxEvents`: this many distinct messages of one kind of event within the
/// interval start aggregation.
const AGGREGATE_MAX_EVENTS: usize = 10;
/// `defaultAggregateIntervalInSeconds`.
const AGGREGATE_INTERVAL: SignedDuration = SignedDuration::from_secs(600);
/// `defaultSpamBurst`.
const SPAM_BURST: f64 = 25.0;
/// `defaultSpamQPS`: one event every five minutes once the burst is spent.
const SPAM_QPS: f64 = 1.0 / 300.0;
/// The prefix `EventAggregatorByReasonMessageFunc` gives an aggregate event's message.
const COMBINED: &str = "(combined from similar events): ";

/// The correlators of every component that records events in this process, one each, as
/// each Kubernetes component has its own broadcaster and so its own caches.
#[derive(Debug, Default)]
pub struct EventCorrelators(Mutex<HashMap<String, EventCorrelator>>);

impl EventCorrelators {
    /// Decides what becomes of `spec`, recorded at `now` in `namespace`.
    pub fn correlate(&self, namespace: &str, spec: &EventSpec, now: Timestamp) -> Correlation {
        let mut correlators = self.lock();
        if let Some(c) = correlators.get_mut(&spec.component) {
            return c.correlate(namespace, spec, now);
        }
        correlators
            .entry(spec.component.clone())
            .or_default()
            .correlate(namespace, spec, now)
    }

    /// Tells the correlator the name the event of `observed` was stored under
    /// (`UpdateState`), so that its next repeat updates that event.
    pub fn recorded(&self, component: &str, observed: &Observed, name: &str) {
        if let Some(c) = self.lock().get_mut(component) {
            c.recorded(observed, name);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, EventCorrelator>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Correlation {
    /// The spam filter dropped it: nothing is written.
    Skip,
    /// Write it, as a new Event or over the one it repeats.
    Record(Observed),
}

/// An event as the correlator leaves it: the Event to create, or the changes to make to the
/// Event it repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The cache key the correlator counts this event under.
    key: String,
    /// The Event's name: a new one, or the name of the Event this repeats.
    pub name: String,
    /// The message, `(combined from similar events): …` for an aggregate.
    pub message: String,
    pub count: i32,
    pub first_timestamp: Timestamp,
    /// Whether an Event named `name` already holds earlier occurrences (client-go patches it).
    pub repeat: bool,
}

impl Observed {
    /// The Event to create for this occurrence of `spec`, recorded at `now`.
    pub fn to_event(&self, spec: EventSpec, now: Timestamp) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(spec.namespace()),
                ..Default::default()
            },
            involved_object: spec.involved,
            type_: Some(spec.type_),
            reason: Some(spec.reason),
            message: Some(self.message.clone()),
            source: Some(EventSource {
                component: Some(spec.component.clone()),
                host: spec.host,
            }),
            reporting_component: Some(spec.component),
            reporting_instance: Some(String::new()),
            first_timestamp: Some(Time(self.first_timestamp)),
            last_timestamp: Some(Time(now)),
            count: Some(self.count),
            ..Default::default()
        }
    }

    /// A first occurrence that no correlator saw: the Event `spec` makes as it is.
    pub(super) fn uncorrelated(spec: &EventSpec, now: Timestamp) -> Self {
        Observed {
            key: String::new(),
            name: fresh_name(spec, now),
            message: spec.message.clone(),
            count: 1,
            first_timestamp: now,
            repeat: false,
        }
    }
}

/// client-go's recorder names an event `<object>.<unix nanoseconds in hex>`.
fn fresh_name(spec: &EventSpec, now: Timestamp) -> String {
    format!(
        "{}.{:x}",
        spec.involved.name.as_deref().unwrap_or(""),
        now.as_nanosecond()
    )
}

/// One component's caches.
#[derive(Debug)]
pub struct EventCorrelator {
    aggregates: LruCache<String, Aggregate>,
    observations: LruCache<String, Observation>,
    spam: LruCache<String, TokenBucket>,
}

impl Default for EventCorrelator {
    fn default() -> Self {
        Self {
            aggregates: LruCache::new(CACHE_ENTRIES),
            observations: LruCache::new(CACHE_ENTRIES),
            spam: LruCache::new(CACHE_ENTRIES),
        }
    }
}

/// `aggregateRecord`: the distinct messages seen of one kind of event, and when last.
#[derive(Debug)]
struct Aggregate {
    messages: HashSet<String>,
    last: Timestamp,
}

/// `eventLog`: how often an event was seen, since when, and the Event that counts it.
#[derive(Debug, Clone)]
struct Observation {
    count: i32,
    first_timestamp: Timestamp,
    name: String,
}

/// A token bucket as `flowcontrol.NewTokenBucketRateLimiterWithClock` makes one: full at
/// first, refilled at `SPAM_QPS`, never above `SPAM_BURST`.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Timestamp,
}

impl TokenBucket {
    fn full(now: Timestamp) -> Self {
        Self {
            tokens: SPAM_BURST,
            last: now,
        }
    }

    fn try_accept(&mut self, now: Timestamp) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * SPAM_QPS).min(SPAM_BURST);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl EventCorrelator {
    /// `EventCorrelate`: aggregate, then count, then filter — in client-go's order, so a
    /// dropped repeat still counts, and the next one that passes carries the whole count.
    pub fn correlate(&mut self, namespace: &str, spec: &EventSpec, now: Timestamp) -> Correlation {
        let keys = Keys::of(namespace, spec);
        let (key, message) = self.aggregate(keys.aggregate, keys.event, spec, now);
        let observed = self.observe(key, message, spec, now);
        if self.spam_filtered(keys.spam, now) {
            Correlation::Skip
        } else {
            Correlation::Record(observed)
        }
    }

    /// `UpdateState`: the name the server stored the event under.
    pub fn recorded(&mut self, observed: &Observed, name: &str) {
        if let Some(o) = self.observations.get_mut(&observed.key) {
            name.clone_into(&mut o.name);
        }
    }

    /// `EventAggregate` with `EventAggregatorByReasonFunc`: events that differ only in their
    /// message are one kind; from the tenth distinct message within ten minutes on, an event
    /// of that kind becomes the kind's aggregate event. Returns the cache key and message.
    fn aggregate(
        &mut self,
        aggregate_key: String,
        event_key: String,
        spec: &EventSpec,
        now: Timestamp,
    ) -> (String, String) {
        let fresh = self
            .aggregates
            .get(&aggregate_key)
            .is_some_and(|r| now.duration_since(r.last) <= AGGREGATE_INTERVAL);
        if !fresh {
            self.aggregates.insert(
                aggregate_key.clone(),
                Aggregate {
                    messages: HashSet::new(),
                    last: now,
                },
            );
        }
        let Some(record) = self.aggregates.get_mut(&aggregate_key) else {
            return (event_key, spec.message.clone());
        };
        record.messages.insert(spec.message.clone());
        record.last = now;
        if record.messages.len() < AGGREGATE_MAX_EVENTS {
            return (event_key, spec.message.clone());
        }
        // Upstream keeps the set below the maximum by popping any one message, so each
        // further event of the kind is aggregated unless its message is one still kept.
        if let Some(any) = record.messages.iter().next().cloned() {
            record.messages.remove(&any);
        }
        (aggregate_key, format!("{COMBINED}{}", spec.message))
    }

    /// `eventObserve`: a key seen before is a repeat of its Event, with the count moved on.
    fn observe(
        &mut self,
        key: String,
        message: String,
        spec: &EventSpec,
        now: Timestamp,
    ) -> Observed {
        let observed = match self.observations.get(&key) {
            Some(last) if last.count > 0 => Observed {
                key,
                name: last.name.clone(),
                message,
                count: last.count.saturating_add(1),
                first_timestamp: last.first_timestamp,
                repeat: true,
            },
            _ => Observed {
                name: fresh_name(spec, now),
                key,
                message,
                count: 1,
                first_timestamp: now,
                repeat: false,
            },
        };
        self.observations.insert(
            observed.key.clone(),
            Observation {
                count: observed.count,
                first_timestamp: observed.first_timestamp,
                name: observed.name.clone(),
            },
        );
        observed
    }

    /// `EventSourceObjectSpamFilter.Filter`: whether the source has spent its tokens for
    /// this object.
    fn spam_filtered(&mut self, key: String, now: Timestamp) -> bool {
        match self.spam.get_mut(&key) {
            Some(bucket) => !bucket.try_accept(now),
            None => {
                let mut bucket = TokenBucket::full(now);
                let accepted = bucket.try_accept(now);
                self.spam.insert(key, bucket);
                !accepted
            }
        }
    }
}

/// The three cache keys of one event, each built on the one before.
struct Keys {
    /// `getSpamKey`: the source and the involved object.
    spam: String,
    /// `EventAggregatorByReasonFunc`'s aggregate key: the spam key's parts, the type and the
    /// reason (kbatch reports every event with its component as reporting controller and an
    /// empty instance, so those add nothing).
    aggregate: String,
    /// `getEventKey`: what makes an event a repeat of another — the aggregate key's parts,
    /// the involved object's field path, and the message.
    event: String,
}

impl Keys {
    fn of(namespace: &str, spec: &EventSpec) -> Keys {
        let o = &spec.involved;
        let spam = [
            spec.component.as_str(),
            spec.host.as_deref().unwrap_or(""),
            o.kind.as_deref().unwrap_or(""),
            namespace,
            o.name.as_deref().unwrap_or(""),
            o.uid.as_deref().unwrap_or(""),
            o.api_version.as_deref().unwrap_or(""),
        ]
        .join("\u{0}");
        let aggregate = [spam.as_str(), &spec.type_, &spec.reason].join("\u{0}");
        let event = [
            aggregate.as_str(),
            o.field_path.as_deref().unwrap_or(""),
            &spec.message,
        ]
        .join("\u{0}");
        Keys {
            spam,
            aggregate,
            event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;

    fn spec(name: &str, reason: &str, message: &str) -> EventSpec {
        EventSpec {
            involved: ObjectReference {
                api_version: Some("batch/v1".into()),
                kind: Some("Job".into()),
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("u-{name}")),
                ..Default::default()
            },
            type_: "Normal".into(),
            reason: reason.into(),
            message: message.into(),
            component: "job-controller".into(),
            host: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn record(c: Correlation) -> Observed {
        match c {
            Correlation::Record(o) => o,
            Correlation::Skip => panic!("the event was filtered"),
        }
    }

    #[test]
    fn a_repeat_counts_into_the_first_event() {
        let mut c = EventCorrelator::default();
        let first = record(c.correlate("default", &spec("pi", "Completed", "done"), at(0)));
        assert!(!first.repeat);
        assert_eq!(first.count, 1);
        let second = record(c.correlate("default", &spec("pi", "Completed", "done"), at(60)));
        assert!(second.repeat);
        assert_eq!((second.name, second.count), (first.name, 2));
        assert_eq!(second.first_timestamp, at(0));
    }

    #[test]
    fn the_tenth_distinct_message_starts_one_combined_event() {
        let mut c = EventCorrelator::default();
        let mut names = HashSet::new();
        for i in 0..9 {
            let o = record(c.correlate(
                "default",
                &spec("pi", "SuccessfulCreate", &format!("Created pod: pi-{i}")),
                at(i),
            ));
            assert!(!o.repeat, "event {i}");
            assert_eq!(o.message, format!("Created pod: pi-{i}"));
            names.insert(o.name);
        }
        assert_eq!(names.len(), 9);
        let mut created = |i: i64| {
            let o = record(c.correlate(
                "default",
                &spec("pi", "SuccessfulCreate", &format!("Created pod: pi-{i}")),
                at(i),
            ));
            assert_eq!(
                o.message,
                format!("(combined from similar events): Created pod: pi-{i}")
            );
            o
        };
        let tenth = created(9);
        assert_eq!((tenth.count, tenth.repeat), (1, false));
        let eleventh = created(10);
        assert_eq!((eleventh.count, eleventh.repeat), (2, true));
        assert_eq!(eleventh.name, tenth.name);
    }

    #[test]
    fn aggregation_starts_over_after_ten_quiet_minutes() {
        let mut c = EventCorrelator::default();
        for i in 0..10 {
            c.correlate("default", &spec("pi", "R", &format!("m{i}")), at(i));
        }
        let later = record(c.correlate("default", &spec("pi", "R", "m10"), at(9 + 601)));
        assert_eq!(later.message, "m10");
    }

    #[test]
    fn a_source_may_burst_25_events_about_an_object_then_one_per_five_minutes() {
        let mut c = EventCorrelator::default();
        let kinds = |i: i64| spec("pi", &format!("Reason{i}"), "m");
        for i in 0..25 {
            assert!(matches!(
                c.correlate("default", &kinds(i), at(0)),
                Correlation::Record(_)
            ));
        }
        assert_eq!(c.correlate("default", &kinds(25), at(0)), Correlation::Skip);
        assert_eq!(
            c.correlate("default", &kinds(26), at(299)),
            Correlation::Skip
        );
        assert!(matches!(
            c.correlate("default", &kinds(27), at(300)),
            Correlation::Record(_)
        ));
        assert_eq!(
            c.correlate("default", &kinds(28), at(301)),
            Correlation::Skip
        );
        // Another object, and another source about the same object, have buckets of their own.
        assert!(matches!(
            c.correlate("default", &spec("other", "R", "m"), at(301)),
            Correlation::Record(_)
        ));
        let mut kubelet = spec("pi", "R", "m");
        kubelet.component = "kubelet".into();
        assert!(matches!(
            c.correlate("default", &kubelet, at(301)),
            Correlation::Record(_)
        ));
    }

    #[test]
    fn a_dropped_repeat_still_counts() {
        let mut c = EventCorrelator::default();
        for i in 0..25 {
            c.correlate("default", &spec("pi", &format!("R{i}"), "m"), at(0));
        }
        assert_eq!(
            c.correlate("default", &spec("pi", "R0", "m"), at(1)),
            Correlation::Skip
        );
        let passed = record(c.correlate("default", &spec("pi", "R0", "m"), at(301)));
        assert_eq!((passed.count, passed.repeat), (3, true));
    }

    #[test]
    fn the_least_recently_seen_keys_are_forgotten_first() {
        let mut c = EventCorrelator::default();
        let job = |i: usize| spec(&format!("job-{i}"), "R", "m");
        c.correlate("default", &job(0), at(0));
        c.correlate("default", &job(1), at(0));
        for i in 2..=CACHE_ENTRIES {
            c.correlate("default", &job(i), at(1));
            if i == 100 {
                // Seen again: now among the most recent.
                assert!(record(c.correlate("default", &job(1), at(1))).repeat);
            }
        }
        assert!(
            !record(c.correlate("default", &job(0), at(2))).repeat,
            "forgotten"
        );
        assert!(
            record(c.correlate("default", &job(1), at(2))).repeat,
            "kept"
        );
    }

    #[test]
    fn the_stored_name_is_the_one_a_repeat_updates() {
        let mut c = EventCorrelator::default();
        let first = record(c.correlate("default", &spec("pi", "R", "m"), at(0)));
        c.recorded(&first, "pi.other");
        let second = record(c.correlate("default", &spec("pi", "R", "m"), at(1)));
        assert_eq!(second.name, "pi.other");
    }
}
