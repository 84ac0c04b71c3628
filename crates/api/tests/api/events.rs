//! Events (kubectl-wire.md §4.7, §4.13, §8.9): the registry's recorder counts repeats, combines
//! similar events and throttles floods as client-go's EventCorrelator does, and lists filter on `involvedObject.*`.

use k8s_openapi::api::core::v1::ObjectReference;
use kbatch_api::registry::{EventSpec, ListParams, Registry};
use kbatch_core::object::{EVENT, Object};
use kbatch_core::selector::FieldSelector;

use crate::common::{TestServer, at, memory_registry};

fn involved(kind: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(if kind == "Pod" { "v1" } else { "batch/v1" }.to_owned()),
        kind: Some(kind.to_owned()),
        name: Some(name.to_owned()),
        namespace: Some("default".to_owned()),
        uid: Some(uid.to_owned()),
        ..Default::default()
    }
}

fn spec(kind: &str, name: &str, uid: &str, reason: &str, message: &str) -> EventSpec {
    EventSpec {
        involved: involved(kind, name, uid),
        type_: "Normal".to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        component: "job-controller".to_owned(),
        host: None,
    }
}

fn event(obj: &Object) -> &k8s_openapi::api::core::v1::Event {
    match obj {
        Object::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

async fn events(registry: &Registry, selector: &str) -> Vec<Object> {
    registry
        .list(
            &EVENT,
            Some("default"),
            &ListParams {
                field_selector: (!selector.is_empty())
                    .then(|| FieldSelector::parse(selector).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn repeats_aggregate_into_one_event() {
    // §4.7: describe shows `(x3 over 5m)` from count, firstTimestamp and lastTimestamp.
    let (registry, clock) = memory_registry().await;
    let first = registry
        .record_event(spec(
            "Job",
            "pi",
            "u-1",
            "SuccessfulCreate",
            "Created pod: pi-1",
        ))
        .await
        .unwrap()
        .expect("recorded");
    let e = event(&first);
    assert_eq!(e.count, Some(1));
    assert_eq!(e.first_timestamp.as_ref().unwrap().0, at(0));
    assert_eq!(e.last_timestamp.as_ref().unwrap().0, at(0));
    assert_eq!(
        e.source.as_ref().unwrap().component.as_deref(),
        Some("job-controller")
    );
    assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
    assert!(e.metadata.name.as_deref().unwrap().starts_with("pi."));

    clock.advance(60);
    let second = registry
        .record_event(spec(
            "Job",
            "pi",
            "u-1",
            "SuccessfulCreate",
            "Created pod: pi-1",
        ))
        .await
        .unwrap()
        .expect("recorded");
    clock.advance(240);
    let third = registry
        .record_event(spec(
            "Job",
            "pi",
            "u-1",
            "SuccessfulCreate",
            "Created pod: pi-1",
        ))
        .await
        .unwrap()
        .expect("recorded");
    for (obj, count, last) in [(&second, 2, at(60)), (&third, 3, at(300))] {
        let e = event(obj);
        assert_eq!(
            e.metadata.name,
            event(&first).metadata.name,
            "the same Event"
        );
        assert_eq!(e.metadata.uid, event(&first).metadata.uid);
        assert_eq!(e.count, Some(count));
        assert_eq!(e.first_timestamp.as_ref().unwrap().0, at(0));
        assert_eq!(e.last_timestamp.as_ref().unwrap().0, last);
    }
    assert_eq!(events(&registry, "").await.len(), 1);

    // Another message, reason, type or object is another event.
    clock.advance(1);
    registry
        .record_event(spec(
            "Job",
            "pi",
            "u-1",
            "SuccessfulCreate",
            "Created pod: pi-2",
        ))
        .await
        .unwrap();
    clock.advance(1);
    registry
        .record_event(spec("Job", "pi", "u-1", "Completed", "Job completed"))
        .await
        .unwrap();
    clock.advance(1);
    let mut warning = spec("Job", "pi", "u-1", "Completed", "Job completed");
    warning.type_ = "Warning".to_owned();
    registry.record_event(warning).await.unwrap();
    clock.advance(1);
    registry
        .record_event(spec("Job", "pi", "u-2", "Completed", "Job completed"))
        .await
        .unwrap();
    assert_eq!(events(&registry, "").await.len(), 5);
}

#[tokio::test]
async fn different_events_at_the_same_instant_are_both_recorded() {
    // client-go names an event `<object>.<unix nanoseconds in hex>`; with a clock that does
    // not move between two events (any injected clock; coarse clocks), the second must still
    // be recorded rather than fail.
    let (registry, _) = memory_registry().await;
    registry
        .record_event(spec(
            "Job",
            "pi",
            "u-1",
            "SuccessfulCreate",
            "Created pod: pi-1",
        ))
        .await
        .unwrap();
    registry
        .record_event(spec(
            "Job",
            "pi",
            "u-1",
            "SuccessfulCreate",
            "Created pod: pi-2",
        ))
        .await
        .unwrap();
    assert_eq!(events(&registry, "").await.len(), 2);
}

#[tokio::test]
async fn a_flood_about_one_object_is_combined_then_throttled() {
    // client-go's EventCorrelator with its defaults: nine distinct messages of one reason
    // are kept; from the tenth on they count into one `(combined from similar events)`
    // event; a source has 25 events about an object, then one every five minutes, and the
    // dropped ones still count.
    let (registry, clock) = memory_registry().await;
    let created = |i: usize| {
        spec(
            "Job",
            "pi",
            "u-1",
            "SuccessfulCreate",
            &format!("Created pod: pi-{i}"),
        )
    };
    let mut written = 0;
    for i in 0..40 {
        clock.advance(1);
        if registry.record_event(created(i)).await.unwrap().is_some() {
            written += 1;
        }
    }
    assert_eq!(written, 25, "the burst");
    let stored = events(&registry, "").await;
    assert_eq!(stored.len(), 10);
    let combined: Vec<_> = stored
        .iter()
        .map(event)
        .filter(|e| e.message.as_deref().unwrap().starts_with("(combined"))
        .collect();
    assert_eq!(combined.len(), 1);
    assert_eq!(
        combined[0].message.as_deref(),
        Some("(combined from similar events): Created pod: pi-24")
    );
    assert_eq!(combined[0].count, Some(16));

    clock.advance(300);
    let refilled = registry
        .record_event(created(40))
        .await
        .unwrap()
        .expect("one token back");
    let e = event(&refilled);
    assert_eq!(e.metadata.name, combined[0].metadata.name);
    assert_eq!(e.count, Some(32), "the 15 dropped ones counted");
    assert_eq!(
        e.message.as_deref(),
        Some("(combined from similar events): Created pod: pi-40")
    );
    assert!(registry.record_event(created(41)).await.unwrap().is_none());

    // Another source about the same Job has a budget of its own, and kbatch's own records
    // are written past the correlator, every one.
    let mut other = spec("Job", "pi", "u-1", "Completed", "Job completed");
    other.component = "ttl-after-finished-controller".to_owned();
    assert!(registry.record_event(other).await.unwrap().is_some());
    for i in 0..30 {
        clock.advance(1);
        registry
            .write_event(spec(
                "CronJob",
                "cj",
                "u-cj",
                "SkippedSchedule",
                &format!("m{i}"),
            ))
            .await
            .unwrap();
    }
    assert_eq!(events(&registry, "involvedObject.uid=u-cj").await.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn involved_object_field_selectors_filter() {
    // §4.7: describe lists events with involvedObject.uid,name,namespace,kind (order
    // varies); the server must filter, or unrelated events appear.
    let s = TestServer::start(None).await;
    let registry = s.registry();
    for (i, (kind, name, uid, reason)) in [
        ("Job", "pi", "u-job-pi", "SuccessfulCreate"),
        ("Job", "pi", "u-job-pi", "Completed"),
        ("Pod", "pi", "u-pod-pi", "Scheduled"),
        ("Job", "other", "u-job-other", "SuccessfulCreate"),
    ]
    .into_iter()
    .enumerate()
    {
        s.clock.advance(i as i64 + 1);
        registry
            .record_event(spec(kind, name, uid, reason, "m"))
            .await
            .unwrap();
    }
    let reasons = |objs: Vec<Object>| -> Vec<String> {
        let mut r: Vec<String> = objs
            .iter()
            .map(|o| event(o).reason.clone().unwrap())
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        reasons(events(registry, "involvedObject.kind=Job,involvedObject.name=pi").await),
        ["Completed", "SuccessfulCreate"]
    );
    assert_eq!(
        reasons(events(registry, "involvedObject.name=pi").await),
        ["Completed", "Scheduled", "SuccessfulCreate"]
    );
    assert_eq!(
        reasons(events(registry, "involvedObject.uid=u-job-other").await),
        ["SuccessfulCreate"]
    );
    assert_eq!(
        reasons(events(registry, "involvedObject.kind!=Job").await),
        ["Scheduled"]
    );
    assert!(
        events(registry, "involvedObject.namespace=elsewhere")
            .await
            .is_empty()
    );

    // Over HTTP, exactly as kubectl describe sends it, namespaced and across namespaces.
    let selector = "involvedObject.uid%3Du-job-pi%2CinvolvedObject.name%3Dpi%2CinvolvedObject.namespace%3Ddefault%2CinvolvedObject.kind%3DJob";
    for path in [
        format!("/api/v1/namespaces/default/events?fieldSelector={selector}&limit=500"),
        format!("/api/v1/events?fieldSelector={selector}"),
    ] {
        let r = s
            .request(
                "GET",
                &path,
                &[(
                    "Accept",
                    "application/vnd.kubernetes.protobuf,application/json",
                )],
                None,
            )
            .await;
        r.expect(200);
        let list = r.json();
        assert_eq!(list["kind"], "EventList");
        let mut got: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reason"].as_str().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, ["Completed", "SuccessfulCreate"], "{path}");
    }
    // Other event fields can be selected; unknown ones are refused.
    let r = s
        .get("/api/v1/namespaces/default/events?fieldSelector=reason%3DScheduled,type%3DNormal,source%3Djob-controller")
        .await;
    r.expect(200);
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    let r = s
        .get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.foo%3Dx")
        .await;
    r.expect(400);
    assert_eq!(
        r.json()["message"],
        "field label not supported: involvedObject.foo"
    );
}
