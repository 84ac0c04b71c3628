//! The Job controller's pure rules against the edge cases of test-cases.md: backoff (D),
//! failure policy and per-index counts (E), success policy (F), indexes (G).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, PodFailurePolicy, SuccessPolicy};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Pod,
    PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kbatch_controllers::job::indexes::{Intervals, first_pending, generate_name, parse_count};
use kbatch_controllers::job::pods::new_pod;
use kbatch_controllers::job::{
    BackoffRecord, delay, failure_policy, finish_time, remaining, remaining_for_index,
    success_policy,
};
use serde_json::json;

fn t() -> Timestamp {
    "2016-05-19T10:00:00Z".parse().unwrap()
}

fn ms(n: i64) -> SignedDuration {
    SignedDuration::from_millis(n)
}

const BASE: Duration = Duration::from_secs(5);
const CAP: Duration = Duration::from_secs(700);

/// A pod whose only container terminated at `at` with `code`.
fn finished(at: Timestamp, code: i32) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("p".into()),
            namespace: Some("ns".into()),
            ..Default::default()
        },
        status: Some(PodStatus {
            phase: Some(if code == 0 { "Succeeded" } else { "Failed" }.into()),
            container_statuses: Some(vec![terminated("c", code, Some(at))]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn terminated(name: &str, code: i32, at: Option<Timestamp>) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                finished_at: at.map(Time),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn running(name: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn with_annotations(mut pod: Pod, pairs: &[(&str, &str)]) -> Pod {
    pod.metadata.annotations = Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    pod
}

#[test]
fn d1_to_d7_delay_and_remaining() {
    let now = t();
    assert_eq!(remaining(now, BASE, CAP, 0, now), Duration::ZERO); // D1
    assert_eq!(remaining(now, BASE, CAP, 1, now), Duration::from_secs(5)); // D2
    let failed_at = now - SignedDuration::from_secs(1);
    assert_eq!(
        remaining(now, BASE, CAP, 1, failed_at),
        Duration::from_secs(4)
    ); // D3
    for ago in [5, 6] {
        let failed_at = now - SignedDuration::from_secs(ago);
        assert_eq!(remaining(now, BASE, CAP, 1, failed_at), Duration::ZERO); // D4
    }
    assert_eq!(remaining(now, BASE, CAP, 3, now), Duration::from_secs(20)); // D5
    assert_eq!(remaining(now, BASE, CAP, 8, now), Duration::from_secs(640)); // D6
    assert_eq!(remaining(now, BASE, CAP, 9, now), Duration::from_secs(700)); // D7
}

#[test]
fn d8_j50_production_constants() {
    let (base, cap) = (Duration::from_secs(10), Duration::from_secs(600));
    let got: Vec<u64> = (0..=8).map(|n| delay(n, base, cap).as_secs()).collect();
    assert_eq!(got, vec![0, 10, 20, 40, 80, 160, 320, 600, 600]);
    assert_eq!(delay(i32::MAX, base, cap), cap);
}

#[test]
fn d9_to_d13_j52_record_updates() {
    let empty = BackoffRecord::default();
    // D9
    let (a, b) = (finished(t(), 1), finished(t() - ms(1), 1));
    let r = empty.updated(&[], &[&a, &b]);
    assert_eq!(
        (r.failures_after_last_success, r.last_failure_time),
        (2, Some(t()))
    );
    // D10
    let (f1, f2, s) = (
        finished(t() - ms(2), 1),
        finished(t() - ms(1), 1),
        finished(t(), 0),
    );
    let r = empty.updated(&[&s], &[&f1, &f2]);
    assert_eq!(
        (r.failures_after_last_success, r.last_failure_time),
        (0, None)
    );
    // D11
    let s = finished(t() - ms(2), 0);
    let fs: Vec<Pod> = [0, 4, 3, 1]
        .iter()
        .map(|d| finished(t() - ms(*d), 1))
        .collect();
    let refs: Vec<&Pod> = fs.iter().collect();
    let r = empty.updated(&[&s], &refs);
    assert_eq!(
        (r.failures_after_last_success, r.last_failure_time),
        (2, Some(t()))
    );
    // D12
    let stored = BackoffRecord {
        failures_after_last_success: 2,
        last_failure_time: Some(t() - ms(100)),
    };
    let f = finished(t(), 1);
    let r = stored.updated(&[], &[&f]);
    assert_eq!(
        (r.failures_after_last_success, r.last_failure_time),
        (3, Some(t()))
    );
    // No new pods: unchanged.
    assert_eq!(stored.updated(&[], &[]), stored);
    // D13
    let (s, f) = (finished(t(), 0), finished(t(), 1));
    let r = stored.updated(&[&s], &[&f]);
    assert_eq!(
        (r.failures_after_last_success, r.last_failure_time),
        (0, None)
    );
}

#[test]
fn d14_d15_j54_per_index_backoff() {
    let now = t();
    let deleted = |pairs: &[(&str, &str)]| {
        let mut pod = with_annotations(Pod::default(), pairs);
        pod.metadata.deletion_timestamp = Some(Time(now));
        pod
    };
    let d14 = deleted(&[("batch.kubernetes.io/job-index-failure-count", "2")]);
    assert_eq!(
        remaining_for_index(now, BASE, CAP, Some(&d14)),
        Duration::from_secs(20)
    );
    let d15 = deleted(&[
        ("batch.kubernetes.io/job-index-failure-count", "1"),
        ("batch.kubernetes.io/job-index-ignored-failure-count", "1"),
    ]);
    assert_eq!(
        remaining_for_index(now, BASE, CAP, Some(&d15)),
        Duration::from_secs(20)
    );
    assert_eq!(remaining_for_index(now, BASE, CAP, None), Duration::ZERO);
}

#[test]
fn d16_to_d18_j53_finish_time() {
    // D16: the latest container.
    let mut pod = finished(t(), 1);
    pod.status.as_mut().unwrap().container_statuses = Some(vec![
        terminated("a", 1, Some(t() - SignedDuration::from_secs(1))),
        terminated("b", 1, Some(t())),
        terminated("c", 1, Some(t() - SignedDuration::from_secs(2))),
    ]);
    assert_eq!(finish_time(&pod), t());
    // D17: a container still runs; deletionTimestamp minus the grace period.
    let mut pod = Pod {
        status: Some(PodStatus {
            container_statuses: Some(vec![terminated("a", 1, Some(t())), running("b")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    pod.metadata.deletion_timestamp = Some(Time(t()));
    pod.metadata.deletion_grace_period_seconds = Some(30);
    pod.metadata.creation_timestamp = Some(Time(t() - SignedDuration::from_secs(3600)));
    assert_eq!(finish_time(&pod), t() - SignedDuration::from_secs(30));
    // D18: containers without finishedAt: the Ready=False transition.
    let mut pod = Pod {
        status: Some(PodStatus {
            container_statuses: Some(vec![terminated("a", 1, None)]),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "False".into(),
                last_transition_time: Some(Time(t())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    pod.metadata.deletion_timestamp = Some(Time(t() + SignedDuration::from_secs(5)));
    assert_eq!(finish_time(&pod), t());
    // Nothing else: the creation time.
    let mut pod = Pod::default();
    pod.metadata.creation_timestamp = Some(Time(t()));
    assert_eq!(finish_time(&pod), t());
}

fn fail_job_policy(rules: serde_json::Value) -> PodFailurePolicy {
    serde_json::from_value(json!({ "rules": rules })).unwrap()
}

#[test]
fn e3_j63_exit_code_zero_never_matches() {
    let policy = fail_job_policy(json!([
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 2]}},
        {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [1]}}
    ]));
    let mut pod = finished(t(), 1);
    pod.status.as_mut().unwrap().phase = Some("Failed".into());
    pod.status.as_mut().unwrap().container_statuses = Some(vec![terminated("c", 0, Some(t()))]);
    let m = failure_policy::match_policy(Some(&policy), &pod);
    assert_eq!(m.action, None);
    assert!(m.count_failed);
    assert!(m.fail_job_message.is_none());
}

#[test]
fn j63_first_matching_rule_wins_and_unknown_container_names_do_not_match() {
    let policy = fail_job_policy(json!([
        {"action": "Ignore", "onExitCodes": {"containerName": "other", "operator": "In", "values": [3]}},
        {"action": "Count", "onExitCodes": {"operator": "In", "values": [3]}},
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3]}}
    ]));
    let pod = finished(t(), 3);
    let m = failure_policy::match_policy(Some(&policy), &pod);
    assert_eq!(m.action, Some(failure_policy::Action::Count));
    assert!(m.count_failed);
    // Without a policy every failure counts.
    let none = failure_policy::match_policy(None, &pod);
    assert_eq!((none.action, none.count_failed), (None, true));
}

#[test]
fn e9_j54_failure_count_annotations() {
    for (value, expected) in [
        ("2147483648", 0),
        ("-1", 0),
        ("xyz", 0),
        ("", 0),
        ("2147483647", i32::MAX),
        ("3", 3),
    ] {
        assert_eq!(parse_count(value), expected, "{value:?}");
    }
}

fn per_index_job(policy: Option<serde_json::Value>) -> Job {
    let mut spec = json!({
        "completionMode": "Indexed", "completions": 4, "parallelism": 1,
        "backoffLimitPerIndex": 10,
        "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
    });
    if let Some(p) = policy {
        spec["podFailurePolicy"] = p;
    }
    serde_json::from_value(json!({
        "metadata": {"name": "j", "namespace": "ns", "uid": "u"},
        "spec": spec
    }))
    .unwrap()
}

#[test]
fn e10_j54_replacement_carries_the_failure_count_on() {
    let job = per_index_job(None);
    let replaced = with_annotations(
        finished(t(), 1),
        &[("batch.kubernetes.io/job-index-failure-count", "3")],
    );
    let pod = new_pod(&job, Some(2), Some(&replaced));
    let a = pod.metadata.annotations.unwrap();
    assert_eq!(a["batch.kubernetes.io/job-index-failure-count"], "4");
    assert!(!a.contains_key("batch.kubernetes.io/job-index-ignored-failure-count"));
    assert_eq!(a["batch.kubernetes.io/job-completion-index"], "2");
    // A first pod of an index starts at 0.
    let first = new_pod(&job, Some(0), None);
    assert_eq!(
        first.metadata.annotations.unwrap()["batch.kubernetes.io/job-index-failure-count"],
        "0"
    );
}

#[test]
fn e1_j54_an_ignored_failure_raises_the_ignored_count_only() {
    let job = per_index_job(Some(json!({"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    ]})));
    let mut replaced = with_annotations(
        finished(t(), 1),
        &[
            ("batch.kubernetes.io/job-index-failure-count", "2"),
            ("batch.kubernetes.io/job-index-ignored-failure-count", "1"),
        ],
    );
    replaced.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        ..Default::default()
    }]);
    let a = new_pod(&job, Some(1), Some(&replaced))
        .metadata
        .annotations
        .unwrap();
    assert_eq!(a["batch.kubernetes.io/job-index-failure-count"], "2");
    assert_eq!(
        a["batch.kubernetes.io/job-index-ignored-failure-count"],
        "2"
    );
}

fn success(rules: serde_json::Value) -> SuccessPolicy {
    serde_json::from_value(json!({ "rules": rules })).unwrap()
}

#[test]
fn f1_to_f10_j71_success_policy() {
    let cases = [
        ("0-2,4-7", json!([{"succeededIndexes": "0-2"}]), Some(0)), // F1
        ("0-2", json!([{"succeededIndexes": "3"}]), None),          // F2
        ("0-2", json!([{"succeededCount": 2}]), Some(0)),           // F3
        ("0-2", json!([{"succeededCount": 4}]), None),              // F3
        (
            "0-2,4-7",
            json!([{"succeededIndexes": "9"}, {"succeededIndexes": "4,6"}]),
            Some(1),
        ), // F4
        (
            "0-2,4-7",
            json!([{"succeededIndexes": "3-6", "succeededCount": 2}]),
            Some(0),
        ), // F5
        (
            "0-2,6-7",
            json!([{"succeededIndexes": "3-6", "succeededCount": 2}]),
            None,
        ), // F6
        ("2-4,6-8", json!([{"succeededIndexes": "1-3,5-7"}]), None), // F7
        (
            "2-4,6-8",
            json!([{"succeededIndexes": "1-3,5-7", "succeededCount": 4}]),
            Some(0),
        ), // F7
        (
            "1-3,7-8",
            json!([{"succeededIndexes": "0-4,6-9", "succeededCount": 5}]),
            Some(0),
        ), // F8
        ("", json!([{"succeededCount": 4}]), None),                 // F9
        ("1-3", json!([{"succeededIndexes": ""}]), None),           // F10
    ];
    for (succeeded, rules, expected) in cases {
        let policy = success(rules.clone());
        let got = success_policy::match_policy(Some(&policy), 10, &Intervals::parse(succeeded, 10));
        let want = expected.map(|i| format!("Matched rules at index {i}"));
        assert_eq!(got, want, "{succeeded} {rules}");
    }
    assert_eq!(
        success_policy::match_policy(None, 10, &Intervals::parse("0-9", 10)),
        None
    );
}

#[test]
fn j81_interval_text() {
    let render = |ix: &[i64]| Intervals::default().with_indexes(ix).to_string();
    assert_eq!(render(&[1, 3, 4, 5, 7]), "1,3-5,7");
    assert_eq!(render(&[0, 1]), "0,1");
    assert_eq!(render(&[0, 1, 2]), "0-2");
    assert_eq!(render(&[]), "");
}

#[test]
fn g2_to_g5_j82_parsing_and_merging() {
    // G2: fragments beyond completions stop the parse; ends are clipped.
    assert_eq!(Intervals::parse("0-5,8-10", 8).to_string(), "0-5");
    assert_eq!(Intervals::parse("3-20", 8).to_string(), "3-7");
    // G3
    let prev = Intervals::parse("0,4,5,10-12", 13);
    assert_eq!(
        prev.with_indexes(&[2, 7, 8]).to_string(),
        "0,2,4,5,7,8,10-12"
    );
    // G4
    let prev = Intervals::parse("3,4,6", 13);
    assert_eq!(prev.with_indexes(&[2, 7, 8]).to_string(), "2-4,6-8");
    // G5: fragments that do not parse are skipped.
    let prev = Intervals::parse("0,1-foo,bar", 4);
    assert_eq!(prev.with_indexes(&[3]).to_string(), "0,3");
    // Adjacent fragments merge.
    let parsed = Intervals::parse("0,1,2-3", 10);
    assert_eq!(parsed.intervals().len(), 1);
    assert_eq!(
        (parsed.total(), parsed.contains(3), parsed.contains(4)),
        (4, true, false)
    );
}

#[test]
fn g6_to_g8_j80_pending_indexes() {
    // G6
    let taken = Intervals::default().with_indexes(&[0, 1]);
    assert_eq!(first_pending(&taken, 3, 10), vec![2, 3, 4]);
    // G7
    let taken = Intervals::parse("2-4,9", 20).with_indexes(&[3, 5, 8]);
    assert_eq!(first_pending(&taken, 5, 20), vec![0, 1, 6, 7, 10]);
    // G8
    let taken = Intervals::parse("1,5,9", 20)
        .with_indexes(&[3, 9])
        .merge(&Intervals::parse("2,6-7", 20));
    assert_eq!(first_pending(&taken, 5, 20), vec![0, 4, 8, 10, 11]);
    // Never beyond completions.
    assert_eq!(first_pending(&Intervals::default(), 5, 2), vec![0, 1]);
}

#[test]
fn g9_g10_j12_generate_names() {
    assert_eq!(generate_name("indexed-job", 1), "indexed-job-1-");
    let long = "x".repeat(70);
    let name = generate_name(&long, 1);
    assert_eq!(name, format!("{}-1-", "x".repeat(55)));
    assert_eq!(name.len(), 58);
}
