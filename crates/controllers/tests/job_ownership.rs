//! Claiming, adopting, releasing and orphaning pods (J-13, J-100, J-101), the Job being
//! deleted, and the metrics.

mod job_support;

use job_support::*;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kbatch_api::registry::{DeleteOptions, PatchType, Propagation, WriteOptions};
use kbatch_core::object::{JOB, Object, POD};
use serde_json::json;

/// A pod created by someone else with the given labels, owners and finalizers.
async fn foreign_pod(
    env: &Env,
    pod_name: &str,
    labels: serde_json::Value,
    owners: Vec<OwnerReference>,
    finalizers: Vec<String>,
) -> Pod {
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": pod_name, "labels": labels},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    pod.metadata.owner_references = Some(owners);
    pod.metadata.finalizers = Some(finalizers);
    as_pod(
        env.registry
            .create(&POD, NS, Object::Pod(pod), &WriteOptions::default(), vec![])
            .await
            .unwrap()
            .object,
    )
}

fn controller_of(uid: &str, job_name: &str) -> OwnerReference {
    OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: job_name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn finalizer() -> Vec<String> {
    vec!["batch.kubernetes.io/job-tracking".into()]
}

fn selector_labels(job: &k8s_openapi::api::batch::v1::Job) -> serde_json::Value {
    json!(
        job.spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .clone()
    )
}

#[tokio::test]
async fn j13_matching_orphans_are_adopted_with_the_tracking_finalizer() {
    let env = Env::new().await;
    let job = env
        .create_job("adopt", json!({"parallelism": 2, "completions": 2}))
        .await;
    foreign_pod(&env, "stray", selector_labels(&job), vec![], vec![]).await;
    env.sync("adopt").await;
    let stray = env.pod("stray").await.unwrap();
    let owner = &stray.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.uid, job.metadata.uid.clone().unwrap());
    assert_eq!(owner.controller, Some(true));
    assert!(has_finalizer(&stray));
    // The adopted pod counts: only one more is created.
    assert_eq!(env.pods("adopt").await.len(), 2);
    assert_eq!(active(&env.job("adopt").await), 2);
}

#[tokio::test]
async fn j13_pods_that_stop_matching_are_released() {
    let env = Env::new().await;
    env.create_job("rel", json!({})).await;
    env.sync("rel").await;
    let pod = env.pods("rel").await.remove(0);
    let body = json!({"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "other"}}});
    env.registry
        .patch(
            &POD,
            NS,
            name(&pod),
            PatchType::Strategic,
            &body,
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    env.sync("rel").await;
    let released = env.pod(name(&pod)).await.unwrap();
    assert!(
        released
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(|r| r.is_empty())
    );
    assert!(!has_finalizer(&released));
    // The Job runs a new pod in its place.
    assert_eq!(active(&env.job("rel").await), 1);
}

#[tokio::test]
async fn j13_pods_of_another_controller_are_left_alone() {
    let env = Env::new().await;
    let job = env.create_job("mine", json!({})).await;
    let other = controller_of("some-other-uid", "someone-else");
    foreign_pod(
        &env,
        "theirs",
        selector_labels(&job),
        vec![other.clone()],
        finalizer(),
    )
    .await;
    env.sync("mine").await;
    let theirs = env.pod("theirs").await.unwrap();
    assert_eq!(theirs.metadata.owner_references, Some(vec![other]));
    assert!(has_finalizer(&theirs));
}

#[tokio::test]
async fn j13_orphans_without_a_controller_lose_the_tracking_finalizer() {
    let env = Env::new().await;
    env.create_job("any", json!({})).await;
    foreign_pod(&env, "orphan", json!({"app": "x"}), vec![], finalizer()).await;
    env.sync("any").await;
    assert!(!has_finalizer(&env.pod("orphan").await.unwrap()));
}

#[tokio::test]
async fn j101_pods_of_a_deleted_job_lose_the_tracking_finalizer() {
    let env = Env::new().await;
    let job = env.create_job("gone", json!({})).await;
    env.sync("gone").await;
    let pod = env.pods("gone").await.remove(0);
    // The Job is deleted with propagationPolicy=Orphan while no garbage collector runs: the
    // pod keeps its reference to the vanished Job.
    env.registry
        .delete(
            &JOB,
            NS,
            "gone",
            &DeleteOptions {
                propagation: Some(Propagation::Background),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(env.registry.get(&JOB, NS, "gone").await.is_err());
    assert_eq!(env.sync("gone").await, None);
    let pod = env.pod(name(&pod)).await.unwrap();
    assert!(!has_finalizer(&pod));
    assert_eq!(
        pod.metadata.owner_references.unwrap()[0].uid,
        job.metadata.uid.unwrap()
    );
}

#[tokio::test]
async fn j100_orphan_deletion_frees_the_pods_once_the_references_are_gone() {
    let env = Env::new().await;
    env.create_job("orph", json!({})).await;
    env.sync("orph").await;
    let pod = env.pods("orph").await.remove(0);
    // batch/v1's default propagation: the Job waits with the orphan finalizer.
    env.registry
        .delete(&JOB, NS, "orph", &DeleteOptions::default())
        .await
        .unwrap();
    // A Job being deleted creates nothing and adopts nothing, and its pods' finalizers go
    // without the pods being counted.
    env.sync("orph").await;
    let job = env.job("orph").await;
    assert!(job.metadata.deletion_timestamp.is_some());
    assert_eq!(env.pods("orph").await.len(), 1);
    assert!(!has_finalizer(&env.pod(name(&pod)).await.unwrap()));
    assert_eq!(failed(&job), 0);
}

#[tokio::test]
async fn j101_a_finished_job_frees_pods_that_still_carry_the_finalizer() {
    let env = Env::new().await;
    let job = env.create_job("fin", json!({})).await;
    env.sync("fin").await;
    let pod = env.pods("fin").await.remove(0);
    env.succeed(&pod).await;
    env.sync("fin").await;
    assert_eq!(
        condition_types(&env.job("fin").await).last().unwrap(),
        "Complete"
    );
    let late = foreign_pod(
        &env,
        "late",
        selector_labels(&job),
        vec![controller_of(job.metadata.uid.as_deref().unwrap(), "fin")],
        finalizer(),
    )
    .await;
    env.sync("fin").await;
    assert!(!has_finalizer(&env.pod(name(&late)).await.unwrap()));
}

#[tokio::test]
async fn j13_pods_of_a_job_managed_elsewhere_keep_the_finalizer() {
    let env = Env::new().await;
    let job = env
        .create_job("ext", json!({"managedBy": "example.com/queue"}))
        .await;
    let pod = foreign_pod(
        &env,
        "ext-pod",
        selector_labels(&job),
        vec![controller_of(job.metadata.uid.as_deref().unwrap(), "ext")],
        finalizer(),
    )
    .await;
    env.succeed(&pod).await;
    env.sync("ext").await;
    assert!(has_finalizer(&env.pod("ext-pod").await.unwrap()));
    assert_eq!(succeeded(&env.job("ext").await), 0);
}

#[tokio::test]
async fn j13_a_previous_incarnation_of_the_job_frees_its_pods() {
    let env = Env::new().await;
    let job = env.create_job("again", json!({})).await;
    foreign_pod(
        &env,
        "old",
        json!({"app": "old"}),
        vec![controller_of("uid-of-the-old-job", "again")],
        finalizer(),
    )
    .await;
    env.sync("again").await;
    let old = env.pod("old").await.unwrap();
    assert!(!has_finalizer(&old));
    assert_ne!(
        old.metadata.owner_references.unwrap()[0].uid,
        job.metadata.uid.unwrap()
    );
}

#[tokio::test]
async fn j11_pods_keep_template_finalizers_and_get_tracking_once() {
    let env = Env::new().await;
    env.create_job(
        "fz",
        json!({"template": {"metadata": {"finalizers": ["example.com/keep", "batch.kubernetes.io/job-tracking"]}}}),
    )
    .await;
    env.sync("fz").await;
    let pod = env.pods("fz").await.remove(0);
    assert_eq!(
        pod.metadata.finalizers.unwrap(),
        vec!["example.com/keep", "batch.kubernetes.io/job-tracking"]
    );
}

#[tokio::test]
async fn metrics_count_finished_jobs_and_pods_and_mirror_the_status() {
    let env = Env::new().await;
    let mut registry = prometheus_client::registry::Registry::default();
    env.ctrl.register_metrics(&mut registry);
    env.create_job("m", json!({"completions": 2, "parallelism": 2}))
        .await;
    env.sync("m").await;
    let text = render(&registry);
    assert!(text.contains(r#"kube_job_status_active{namespace="default",job_name="m"} 2"#));
    assert!(text.contains(r#"kube_job_spec_completions{namespace="default",job_name="m"} 2"#));
    for pod in env.pods("m").await {
        env.succeed(&pod).await;
    }
    env.sync("m").await;
    let text = render(&registry);
    for line in [
        r#"job_controller_jobs_finished_total{completion_mode="NonIndexed",result="succeeded",reason=""} 1"#,
        r#"job_controller_job_pods_finished_total{completion_mode="NonIndexed",result="succeeded"} 2"#,
        r#"job_controller_job_pods_creation_total{reason="new",status="succeeded"} 2"#,
        r#"kube_job_status_succeeded{namespace="default",job_name="m"} 2"#,
        r#"kube_job_status_active{namespace="default",job_name="m"} 0"#,
        r#"kube_job_complete{namespace="default",job_name="m",condition="true"} 1"#,
        r#"kube_job_complete{namespace="default",job_name="m",condition="false"} 0"#,
        "job_controller_job_sync_duration_seconds_count{completion_mode=\"NonIndexed\",result=\"success\",action=\"pods_created\"} 1",
        "job_controller_job_syncs_total{completion_mode=\"NonIndexed\",result=\"success\",action=\"tracking\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    env.registry
        .delete(
            &JOB,
            NS,
            "m",
            &DeleteOptions {
                propagation: Some(Propagation::Background),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    env.sync("m").await;
    let text = render(&registry);
    assert!(
        !text.contains(r#"job_name="m""#),
        "gauges of a gone Job stay:\n{text}"
    );
    assert!(text.contains("job_controller_jobs_finished_total"));
}

#[tokio::test]
async fn metrics_count_failed_jobs_by_reason() {
    let env = Env::new().await;
    let mut registry = prometheus_client::registry::Registry::default();
    env.ctrl.register_metrics(&mut registry);
    env.create_job("mf", json!({"backoffLimit": 0})).await;
    env.sync("mf").await;
    env.fail(&env.pods("mf").await[0]).await;
    env.sync("mf").await;
    let text = render(&registry);
    for line in [
        r#"job_controller_jobs_finished_total{completion_mode="NonIndexed",result="failed",reason="BackoffLimitExceeded"} 1"#,
        r#"job_controller_job_pods_finished_total{completion_mode="NonIndexed",result="failed"} 1"#,
        r#"kube_job_failed{namespace="default",job_name="mf",condition="true"} 1"#,
        r#"kube_job_status_failed{namespace="default",job_name="mf"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

fn render(registry: &prometheus_client::registry::Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}
