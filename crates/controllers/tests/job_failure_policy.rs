//! `podFailurePolicy` through sync (J-23(3), J-63..J-65, E1–E3).

mod job_support;

use std::time::Duration;

use job_support::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn policy(rules: serde_json::Value) -> serde_json::Value {
    json!({"podFailurePolicy": {"rules": rules}})
}

#[tokio::test]
async fn j63_e2_fail_job_on_an_exit_code_names_container_pod_and_rule() {
    let env = Env::new().await;
    env.create_job(
        "fj",
        policy(json!([
            {"action": "Count", "onExitCodes": {"operator": "In", "values": [5]}},
            {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [42]}}
        ])),
    )
    .await;
    env.sync("fj").await;
    let pod = env.pods("fj").await.remove(0);
    env.finish(&pod, 42).await;
    env.sync("fj").await;
    let job = env.job("fj").await;
    let message = format!(
        "Container c for pod default/{} failed with exit code 42 matching FailJob rule at index 1",
        name(&pod)
    );
    assert_eq!(
        conditions(&job),
        vec![
            (
                "FailureTarget".into(),
                "True".into(),
                "PodFailurePolicy".into(),
                message.clone()
            ),
            (
                "Failed".into(),
                "True".into(),
                "PodFailurePolicy".into(),
                message.clone()
            ),
        ]
    );
    assert_eq!(failed(&job), 1);
    assert_eq!(
        env.events("fj").await.last().unwrap(),
        &("Warning".into(), "PodFailurePolicy".into(), message)
    );
}

#[tokio::test]
async fn j63_fail_job_on_a_pod_condition() {
    let env = Env::new().await;
    env.create_job(
        "fc",
        policy(json!([
            {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget"}]}
        ])),
    )
    .await;
    env.sync("fc").await;
    let pod = env.pods("fc").await.remove(0);
    let at = Time(env.now());
    env.finish_with(&pod, 1, vec![pod_condition("DisruptionTarget", "True", at)])
        .await;
    env.sync("fc").await;
    assert_eq!(
        conditions(&env.job("fc").await)[0].3,
        format!(
            "Pod default/{} has condition DisruptionTarget matching FailJob rule at index 0",
            name(&pod)
        )
    );
}

#[tokio::test]
async fn j63_a_condition_with_another_status_does_not_match() {
    let env = Env::new().await;
    env.create_job(
        "fs",
        policy(json!([
            {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "False"}]}
        ])),
    )
    .await;
    env.sync("fs").await;
    let pod = env.pods("fs").await.remove(0);
    let at = Time(env.now());
    env.finish_with(&pod, 1, vec![pod_condition("DisruptionTarget", "True", at)])
        .await;
    env.sync("fs").await;
    let job = env.job("fs").await;
    assert!(condition_types(&job).is_empty());
    assert_eq!(failed(&job), 1);
}

#[tokio::test]
async fn j63_ignored_failures_do_not_count_toward_the_backoff_limit() {
    let env = Env::new().await;
    let mut registry = prometheus_client::registry::Registry::default();
    env.ctrl.register_metrics(&mut registry);
    env.create_job(
        "ig",
        json!({"backoffLimit": 0, "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}}
        ]}}),
    )
    .await;
    env.sync("ig").await;
    let pod = env.pods("ig").await.remove(0);
    env.finish(&pod, 3).await;
    // The failure still delays the replacement (J-52 records every failure).
    assert_eq!(env.sync("ig").await, Some(Duration::from_secs(10)));
    let job = env.job("ig").await;
    assert!(condition_types(&job).is_empty());
    assert_eq!(failed(&job), 0);
    assert!(!has_finalizer(&env.pod(name(&pod)).await.unwrap()));
    env.clock.advance(Duration::from_secs(10));
    env.sync("ig").await;
    assert_eq!(active(&env.job("ig").await), 1);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(
            r#"job_controller_pod_failures_handled_by_failure_policy_total{action="Ignore"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn j63_count_and_unmatched_failures_count() {
    let env = Env::new().await;
    env.create_job(
        "ct",
        json!({"parallelism": 2, "completions": 2, "backoffLimit": 1, "podFailurePolicy": {"rules": [
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}}
        ]}}),
    )
    .await;
    env.sync("ct").await;
    let pods = env.pods("ct").await;
    env.finish(&pods[0], 7).await;
    env.finish(&pods[1], 1).await;
    env.sync("ct").await;
    let job = env.job("ct").await;
    assert_eq!(failed(&job), 2);
    assert_eq!(conditions(&job)[0].2, "BackoffLimitExceeded");
}

#[tokio::test]
async fn j63_init_container_exit_codes_are_matched() {
    let env = Env::new().await;
    env.create_job(
        "ic",
        json!({
            "template": {"spec": {"initContainers": [{"name": "init", "image": "busybox"}]}},
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {"containerName": "init", "operator": "In", "values": [9]}}
            ]}
        }),
    )
    .await;
    env.sync("ic").await;
    let pod = env.pods("ic").await.remove(0);
    let at = Time(env.now());
    env.write_status(&pod, |p| {
        let status = p.status.get_or_insert_with(Default::default);
        status.phase = Some("Failed".into());
        status.init_container_statuses = Some(vec![terminated("init", 9, at.clone())]);
        status.container_statuses = Some(vec![]);
    })
    .await;
    env.sync("ic").await;
    assert_eq!(
        conditions(&env.job("ic").await)[0].3,
        format!(
            "Container init for pod default/{} failed with exit code 9 matching FailJob rule at index 0",
            name(&pod)
        )
    );
}

#[tokio::test]
async fn j64_j65_terminating_pods_wait_until_terminal() {
    let env = Env::new().await;
    env.create_job(
        "tw",
        policy(json!([
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
        ])),
    )
    .await;
    assert_eq!(
        env.job("tw")
            .await
            .spec
            .unwrap()
            .pod_replacement_policy
            .as_deref(),
        Some("Failed")
    );
    env.sync("tw").await;
    let pod = env.pods("tw").await.remove(0);
    env.bind(&pod).await;
    env.run(&pod).await;
    env.delete_pod(&pod).await;
    env.sync("tw").await;
    let job = env.job("tw").await;
    // Neither counted nor replaced while it terminates.
    assert_eq!(
        (failed(&job), active(&job), terminating(&job)),
        (0, 0, Some(1))
    );
    assert_eq!(env.pods("tw").await.len(), 1);
    let pod = env.pod(name(&pod)).await.unwrap();
    env.finish(&pod, 42).await;
    env.sync("tw").await;
    let job = env.job("tw").await;
    assert_eq!(conditions(&job)[0].2, "PodFailurePolicy");
    assert_eq!(condition_types(&job), vec!["FailureTarget", "Failed"]);
}
