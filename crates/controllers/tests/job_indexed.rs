//! Indexed Jobs through sync: pod identity (J-12), completed indexes (J-83), extra and
//! duplicate pods (J-16, J-32), per-index backoff and failure (J-54, J-55), success policy
//! (J-72).

mod job_support;

use std::time::Duration;

use job_support::*;
use k8s_openapi::api::core::v1::Pod;
use kbatch_api::registry::WriteOptions;
use kbatch_core::object::{Object, POD};
use serde_json::json;

fn indexed(completions: i32, parallelism: i32) -> serde_json::Value {
    json!({"completionMode": "Indexed", "completions": completions, "parallelism": parallelism})
}

fn with(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

async fn by_index(env: &Env, job: &str, ix: i64) -> Vec<Pod> {
    env.pods(job)
        .await
        .into_iter()
        .filter(|p| {
            annotation(p, "batch.kubernetes.io/job-completion-index")
                .is_some_and(|v| v == ix.to_string())
        })
        .collect()
}

fn status_text(env_job: &k8s_openapi::api::batch::v1::Job) -> (Option<String>, Option<String>) {
    let s = env_job.status.clone().unwrap();
    (s.completed_indexes, s.failed_indexes)
}

/// A pod that someone else created with the Job's labels and the given index annotation.
async fn stray(env: &Env, job: &str, pod_name: &str, index: Option<&str>) -> Pod {
    let template = env.job(job).await.spec.unwrap().template;
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": pod_name},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    pod.metadata.labels = template.metadata.unwrap().labels;
    if let Some(ix) = index {
        pod.metadata.annotations = Some(
            [(
                "batch.kubernetes.io/job-completion-index".to_owned(),
                ix.to_owned(),
            )]
            .into(),
        );
    }
    as_pod(
        env.registry
            .create(&POD, NS, Object::Pod(pod), &WriteOptions::default(), vec![])
            .await
            .unwrap()
            .object,
    )
}

#[tokio::test]
async fn j12_g9_indexed_pods_carry_their_index() {
    let env = Env::new().await;
    env.create_job(
        "indexed-job",
        with(
            indexed(3, 2),
            json!({"template": {"spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [
                    {"name": "c", "image": "busybox"},
                    {"name": "own", "image": "busybox", "env": [{"name": "JOB_COMPLETION_INDEX", "value": "x"}]}
                ]}}}),
        ),
    )
    .await;
    env.sync("indexed-job").await;
    let pods = env.pods("indexed-job").await;
    assert_eq!(pods.len(), 2);
    let mut indexes: Vec<i64> = pods.iter().map(index).collect();
    indexes.sort();
    assert_eq!(indexes, vec![0, 1], "J-80: lowest indexes first");
    let pod = by_index(&env, "indexed-job", 1).await.remove(0);
    assert_eq!(
        pod.metadata.generate_name.as_deref(),
        Some("indexed-job-1-")
    );
    assert_eq!(
        pod.metadata.labels.as_ref().unwrap()["batch.kubernetes.io/job-completion-index"],
        "1"
    );
    let spec = pod.spec.clone().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("indexed-job-1"));
    let env_of = |c: &k8s_openapi::api::core::v1::Container| {
        c.env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.name == "JOB_COMPLETION_INDEX")
            .collect::<Vec<_>>()
    };
    let injected = env_of(&spec.containers[0]);
    assert_eq!(injected.len(), 1);
    assert_eq!(
        injected[0]
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.labels['batch.kubernetes.io/job-completion-index']"
    );
    assert_eq!(env_of(&spec.init_containers.unwrap()[0]).len(), 1);
    let own = env_of(&spec.containers[1]);
    assert_eq!(own.len(), 1);
    assert_eq!(
        own[0].value.as_deref(),
        Some("x"),
        "a container's own value stays"
    );
    // No per-index annotations without backoffLimitPerIndex.
    assert_eq!(
        annotation(&pod, "batch.kubernetes.io/job-index-failure-count"),
        None
    );
}

#[tokio::test]
async fn j83_g1_completed_indexes_ignore_pods_without_a_valid_index() {
    let env = Env::new().await;
    env.create_job("g1", indexed(6, 6)).await;
    env.sync("g1").await;
    for ix in [0, 2, 3, 4, 5] {
        let pod = by_index(&env, "g1", ix).await.remove(0);
        env.succeed(&pod).await;
    }
    for (pod_name, ix) in [
        ("no-index", None),
        ("negative", Some("-1")),
        ("junk", Some("x")),
    ] {
        let pod = stray(&env, "g1", pod_name, ix).await;
        env.succeed(&pod).await;
    }
    env.sync("g1").await;
    let job = env.job("g1").await;
    assert_eq!(status_text(&job), (Some("0,2-5".into()), None));
    assert_eq!(succeeded(&job), 5);
    assert_eq!(active(&job), 1);
    assert!(condition_types(&job).is_empty());
    let last = by_index(&env, "g1", 1).await.remove(0);
    env.succeed(&last).await;
    env.sync("g1").await;
    let job = env.job("g1").await;
    assert_eq!(status_text(&job).0.as_deref(), Some("0-5"));
    assert_eq!(
        condition_types(&job),
        vec!["SuccessCriteriaMet", "Complete"]
    );
}

#[tokio::test]
async fn j83_a_failed_index_is_retried_not_completed() {
    let env = Env::new().await;
    env.create_job("retry", indexed(2, 2)).await;
    env.sync("retry").await;
    env.fail(&by_index(&env, "retry", 1).await[0]).await;
    assert_eq!(env.sync("retry").await, Some(Duration::from_secs(10)));
    env.clock.advance(Duration::from_secs(10));
    env.sync("retry").await;
    assert_eq!(by_index(&env, "retry", 1).await.len(), 2);
    let job = env.job("retry").await;
    assert_eq!((failed(&job), active(&job)), (1, 2));
}

#[tokio::test]
async fn j16_j32_g11_duplicates_and_invalid_indexes_are_deleted() {
    let env = Env::new().await;
    env.create_job("dup", indexed(2, 2)).await;
    env.sync("dup").await;
    let own0 = by_index(&env, "dup", 0).await.remove(0);
    let running = stray(&env, "dup", "dup-running", Some("0")).await;
    env.bind(&running).await;
    env.run(&running).await;
    let pending = stray(&env, "dup", "dup-pending", Some("0")).await;
    env.bind(&pending).await;
    stray(&env, "dup", "dup-out-of-range", Some("7")).await;
    stray(&env, "dup", "dup-none", None).await;
    env.sync("dup").await;
    let live: Vec<String> = env
        .pods("dup")
        .await
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| name(&p).to_owned())
        .collect();
    assert!(live.contains(&"dup-running".to_owned()), "{live:?}");
    for gone in [name(&own0), "dup-pending", "dup-out-of-range", "dup-none"] {
        assert!(!live.contains(&gone.to_owned()), "{gone} kept: {live:?}");
    }
    assert_eq!(live.len(), 2);
    let job = env.job("dup").await;
    assert_eq!((active(&job), failed(&job)), (2, 0));
}

#[tokio::test]
async fn j72_success_policy_finishes_early_without_counting_failures() {
    let env = Env::new().await;
    env.create_job(
        "sp",
        with(
            indexed(3, 3),
            json!({"successPolicy": {"rules": [{"succeededIndexes": "0"}]}}),
        ),
    )
    .await;
    env.sync("sp").await;
    env.succeed(&by_index(&env, "sp", 0).await[0]).await;
    env.sync("sp").await;
    let job = env.job("sp").await;
    let reason = (
        "SuccessPolicy".to_owned(),
        "Matched rules at index 0".to_owned(),
    );
    assert_eq!(
        conditions(&job),
        vec![(
            "SuccessCriteriaMet".into(),
            "True".into(),
            reason.0.clone(),
            reason.1.clone()
        )]
    );
    assert_eq!((failed(&job), terminating(&job)), (0, Some(2)));
    env.sync("sp").await;
    let job = env.job("sp").await;
    assert_eq!(
        conditions(&job)[1],
        ("Complete".into(), "True".into(), reason.0, reason.1)
    );
    assert_eq!((succeeded(&job), failed(&job)), (1, 0));
    assert!(job.status.unwrap().completion_time.is_some());
}

#[tokio::test]
async fn j54_j55_per_index_backoff_then_failed_indexes() {
    let env = Env::new().await;
    env.create_job(
        "pi",
        with(indexed(2, 2), json!({"backoffLimitPerIndex": 1})),
    )
    .await;
    assert_eq!(
        env.job("pi").await.spec.unwrap().backoff_limit,
        Some(i32::MAX)
    );
    env.sync("pi").await;
    let first = by_index(&env, "pi", 0).await.remove(0);
    assert_eq!(
        annotation(&first, "batch.kubernetes.io/job-index-failure-count"),
        Some("0")
    );
    env.fail(&first).await;
    // J-54: the index waits its own backoff (failures 0 + 1 → 10s).
    assert_eq!(env.sync("pi").await, Some(Duration::from_secs(10)));
    let job = env.job("pi").await;
    assert_eq!(status_text(&job), (None, Some(String::new())));
    // J-55: the last failed pod keeps its finalizer until its replacement exists.
    assert!(has_finalizer(&env.pod(name(&first)).await.unwrap()));
    assert_eq!(failed(&job), 0);
    env.clock.advance(Duration::from_secs(10));
    env.sync("pi").await;
    let replacement = by_index(&env, "pi", 0)
        .await
        .into_iter()
        .find(|p| name(p) != name(&first))
        .unwrap();
    assert_eq!(
        annotation(&replacement, "batch.kubernetes.io/job-index-failure-count"),
        Some("1")
    );
    env.sync("pi").await;
    assert!(!has_finalizer(&env.pod(name(&first)).await.unwrap()));
    assert_eq!(failed(&env.job("pi").await), 1);
    // The replacement's failure uses up the index's limit: the index fails for good.
    env.fail(&replacement).await;
    env.sync("pi").await;
    let job = env.job("pi").await;
    assert_eq!(status_text(&job), (None, Some("0".into())));
    assert_eq!(failed(&job), 2);
    assert_eq!(
        by_index(&env, "pi", 0).await.len(),
        2,
        "a failed index is not retried"
    );
    env.succeed(&by_index(&env, "pi", 1).await[0]).await;
    env.sync("pi").await;
    let job = env.job("pi").await;
    assert_eq!(status_text(&job), (Some("1".into()), Some("0".into())));
    assert_eq!(
        conditions(&job),
        vec![
            (
                "FailureTarget".into(),
                "True".into(),
                "FailedIndexes".into(),
                "Job has failed indexes".into()
            ),
            (
                "Failed".into(),
                "True".into(),
                "FailedIndexes".into(),
                "Job has failed indexes".into()
            ),
        ]
    );
}

#[tokio::test]
async fn j55_e7_backoff_limit_per_index_zero_fails_the_index_at_once() {
    let env = Env::new().await;
    env.create_job(
        "zero",
        with(indexed(3, 3), json!({"backoffLimitPerIndex": 0})),
    )
    .await;
    env.sync("zero").await;
    env.fail(&by_index(&env, "zero", 1).await[0]).await;
    env.sync("zero").await;
    let job = env.job("zero").await;
    assert_eq!(status_text(&job), (None, Some("1".into())));
    assert!(condition_types(&job).is_empty());
    assert_eq!((failed(&job), active(&job)), (1, 2));
}

#[tokio::test]
async fn j23_max_failed_indexes_exceeded() {
    let env = Env::new().await;
    env.create_job(
        "mfi",
        with(
            indexed(3, 3),
            json!({"backoffLimitPerIndex": 0, "maxFailedIndexes": 0}),
        ),
    )
    .await;
    env.sync("mfi").await;
    env.fail(&by_index(&env, "mfi", 2).await[0]).await;
    env.sync("mfi").await;
    let job = env.job("mfi").await;
    assert_eq!(
        conditions(&job)[0],
        (
            "FailureTarget".into(),
            "True".into(),
            "MaxFailedIndexesExceeded".into(),
            "Job has exceeded the specified maximal number of failed indexes".into()
        )
    );
    // The other two were deleted and count as failed.
    assert_eq!(failed(&job), 3);
    env.sync("mfi").await;
    assert_eq!(
        condition_types(&env.job("mfi").await),
        vec!["FailureTarget", "Failed"]
    );
}

#[tokio::test]
async fn j63_e1_ignored_failures_are_not_counted_and_raise_the_ignored_count() {
    let env = Env::new().await;
    env.create_job(
        "ign",
        with(
            indexed(1, 1),
            json!({"backoffLimitPerIndex": 1, "podFailurePolicy": {"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
            ]}}),
        ),
    )
    .await;
    env.sync("ign").await;
    let first = env.pods("ign").await.remove(0);
    let at = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(env.now());
    env.finish_with(
        &first,
        137,
        vec![pod_condition("DisruptionTarget", "True", at)],
    )
    .await;
    assert_eq!(env.sync("ign").await, Some(Duration::from_secs(10)));
    env.clock.advance(Duration::from_secs(10));
    env.sync("ign").await;
    let replacement = env
        .pods("ign")
        .await
        .into_iter()
        .find(|p| name(p) != name(&first))
        .unwrap();
    assert_eq!(
        annotation(&replacement, "batch.kubernetes.io/job-index-failure-count"),
        Some("0")
    );
    assert_eq!(
        annotation(
            &replacement,
            "batch.kubernetes.io/job-index-ignored-failure-count"
        ),
        Some("1")
    );
    env.sync("ign").await;
    let job = env.job("ign").await;
    assert_eq!(failed(&job), 0);
    assert!(!has_finalizer(&env.pod(name(&first)).await.unwrap()));
}

#[tokio::test]
async fn j63_fail_index_fails_only_that_index() {
    let env = Env::new().await;
    env.create_job(
        "fi",
        with(
            indexed(2, 2),
            json!({"backoffLimitPerIndex": 5, "podFailurePolicy": {"rules": [
                {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}}
            ]}}),
        ),
    )
    .await;
    env.sync("fi").await;
    env.finish(&by_index(&env, "fi", 0).await[0], 42).await;
    env.sync("fi").await;
    let job = env.job("fi").await;
    assert_eq!(status_text(&job), (None, Some("0".into())));
    assert_eq!(failed(&job), 1);
    assert!(condition_types(&job).is_empty());
    assert_eq!(by_index(&env, "fi", 0).await.len(), 1, "not retried");
}
