//! NonIndexed Jobs through the controller's sync: pods from the template, counting through
//! the tracking finalizer, completion and failure in two steps, backoff, deadlines, suspend.

mod job_support;

use std::time::Duration;

use job_support::*;
use kbatch_core::object::POD;
use serde_json::json;

#[tokio::test]
async fn j11_j21_pods_come_from_the_template_with_finalizer_and_controller_ref() {
    let env = Env::new().await;
    let job = env
        .create_job(
            "pi",
            json!({"template": {"metadata": {"labels": {"app": "pi"}, "annotations": {"a": "b"}}}}),
        )
        .await;
    assert_eq!(env.sync("pi").await, None);
    let pods = env.pods("pi").await;
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-"));
    assert!(name(pod).starts_with("pi-") && name(pod).len() == "pi-".len() + 5);
    let labels = pod.metadata.labels.clone().unwrap();
    assert_eq!(labels["app"], "pi");
    assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(annotation(pod, "a"), Some("b"));
    assert_eq!(
        pod.metadata.finalizers.as_deref(),
        Some(&["batch.kubernetes.io/job-tracking".to_owned()][..])
    );
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str()
        ),
        ("batch/v1", "Job", "pi")
    );
    assert_eq!(owner.uid, job.metadata.uid.clone().unwrap());
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    // J-37.
    assert_eq!(
        env.events("pi").await,
        vec![(
            "Normal".into(),
            "SuccessfulCreate".into(),
            format!("Created pod: {}", name(pod))
        )]
    );
    // J-21, J-90.
    let job = env.job("pi").await;
    let status = job.status.clone().unwrap();
    assert_eq!(status.start_time.unwrap().0, env.now());
    assert_eq!(
        (active(&job), ready(&job), terminating(&job)),
        (1, Some(0), Some(0))
    );
    assert_eq!(
        serde_json::to_value(status.uncounted_terminated_pods).unwrap(),
        json!({})
    );
    // Level-triggered: a second sync changes nothing.
    env.sync("pi").await;
    assert_eq!(env.pods("pi").await.len(), 1);
}

#[tokio::test]
async fn j35_parallel_pods_are_created_in_one_sync() {
    let env = Env::new().await;
    env.create_job("p", json!({"parallelism": 5, "completions": 8}))
        .await;
    env.sync("p").await;
    assert_eq!(env.pods("p").await.len(), 5);
    assert_eq!(active(&env.job("p").await), 5);
}

/// A sync that follows another at once, before the pod informer has shown the first one's
/// writes, still sees them: it waits for the revision of the last pod write made for the Job
/// (what upstream's expectations are for), so it creates no second set of pods.
#[tokio::test]
async fn a_sync_right_after_another_sees_its_writes() {
    let env = Env::new().await;
    env.create_job("p", json!({"parallelism": 3, "completions": 6}))
        .await;
    env.caught_up().await;
    env.ctrl.sync(NS, "p").await.unwrap();
    env.ctrl.sync(NS, "p").await.unwrap();
    assert_eq!(env.pods("p").await.len(), 3);
    assert_eq!(active(&env.job("p").await), 3);
}

#[tokio::test]
async fn j14_ready_pods_are_counted() {
    let env = Env::new().await;
    env.create_job("r", json!({"parallelism": 2, "completions": 2}))
        .await;
    env.sync("r").await;
    let pods = env.pods("r").await;
    env.run(&pods[0]).await;
    env.sync("r").await;
    let job = env.job("r").await;
    assert_eq!((active(&job), ready(&job)), (2, Some(1)));
}

#[tokio::test]
async fn j25_j26_j27_success_is_staged_counted_then_complete() {
    let env = Env::new().await;
    env.create_job("ok", json!({})).await;
    env.sync("ok").await;
    let pod = env.pods("ok").await.remove(0);
    env.run(&pod).await;
    env.clock.advance(Duration::from_secs(5));
    env.succeed(&pod).await;
    env.sync("ok").await;
    let job = env.job("ok").await;
    assert_eq!(succeeded(&job), 1);
    assert_eq!((active(&job), ready(&job)), (0, Some(0)));
    assert_eq!(
        conditions(&job),
        vec![
            (
                "SuccessCriteriaMet".into(),
                "True".into(),
                "CompletionsReached".into(),
                "Reached expected number of succeeded pods".into()
            ),
            (
                "Complete".into(),
                "True".into(),
                "CompletionsReached".into(),
                "Reached expected number of succeeded pods".into()
            ),
        ]
    );
    let status = job.status.unwrap();
    let complete = &status.conditions.as_ref().unwrap()[1];
    assert_eq!(status.completion_time, complete.last_transition_time);
    assert_eq!(complete.last_probe_time, complete.last_transition_time);
    // J-91: the pod was counted, so its finalizer is gone.
    assert!(!has_finalizer(&env.pod(name(&pod)).await.unwrap()));
    assert_eq!(
        env.event_reasons("ok").await,
        vec!["SuccessfulCreate", "Completed"]
    );
    // J-20: a finished Job is left alone.
    env.sync("ok").await;
    assert_eq!(env.pods("ok").await.len(), 1);
}

#[tokio::test]
async fn j91_uncounted_pods_whose_finalizer_is_gone_move_to_the_counters() {
    let env = Env::new().await;
    env.create_job("u", json!({"completions": 3, "parallelism": 1}))
        .await;
    env.sync("u").await;
    let pod = env.pods("u").await.remove(0);
    // A previous sync staged the pod and removed its finalizer, then stopped before
    // writing the counters.
    let mut job = env.job("u").await;
    job.status
        .as_mut()
        .unwrap()
        .uncounted_terminated_pods
        .as_mut()
        .unwrap()
        .succeeded = Some(vec![pod.metadata.uid.clone().unwrap()]);
    let opts = kbatch_api::registry::WriteOptions {
        subresource: Some("status".into()),
        ..Default::default()
    };
    env.registry
        .update(
            &kbatch_core::object::JOB,
            NS,
            "u",
            kbatch_core::object::Object::Job(job),
            &opts,
            vec![],
        )
        .await
        .unwrap();
    env.succeed(&pod).await;
    let body = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["batch.kubernetes.io/job-tracking"]}});
    env.registry
        .patch(
            &POD,
            NS,
            name(&pod),
            kbatch_api::registry::PatchType::Strategic,
            &body,
            &Default::default(),
        )
        .await
        .unwrap();
    env.sync("u").await;
    let job = env.job("u").await;
    assert_eq!(succeeded(&job), 1, "counted once");
    assert_eq!(
        serde_json::to_value(job.status.unwrap().uncounted_terminated_pods).unwrap(),
        json!({})
    );
    assert_eq!(
        env.pods("u").await.len(),
        2,
        "one replacement for the next completion"
    );
}

#[tokio::test]
async fn j51_a_failed_pod_is_replaced_after_the_backoff() {
    let env = Env::new().await;
    env.create_job("f", json!({})).await;
    env.sync("f").await;
    let pod = env.pods("f").await.remove(0);
    env.fail(&pod).await;
    // J-50: one failure → 10s.
    assert_eq!(env.sync("f").await, Some(Duration::from_secs(10)));
    let job = env.job("f").await;
    assert_eq!((failed(&job), active(&job)), (1, 0));
    assert!(!has_finalizer(&env.pod(name(&pod)).await.unwrap()));
    assert_eq!(
        env.pods("f").await.len(),
        1,
        "nothing created during the backoff"
    );
    env.clock.advance(Duration::from_secs(4));
    assert_eq!(env.sync("f").await, Some(Duration::from_secs(6)));
    env.clock.advance(Duration::from_secs(6));
    assert_eq!(env.sync("f").await, None);
    assert_eq!(env.pods("f").await.len(), 2);
    // A second failure: 20s.
    let second = env.pods("f").await.remove(1);
    env.fail(&second).await;
    assert_eq!(env.sync("f").await, Some(Duration::from_secs(20)));
    assert_eq!(failed(&env.job("f").await), 2);
}

#[tokio::test]
async fn j51_remaining_backoff_is_never_below_one_second() {
    let env = Env::new().await;
    env.create_job("s", json!({})).await;
    env.sync("s").await;
    let pod = env.pods("s").await.remove(0);
    env.fail(&pod).await;
    env.sync("s").await;
    env.clock.advance(Duration::from_millis(9_700));
    assert_eq!(env.sync("s").await, Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn j52_a_success_resets_the_backoff() {
    let env = Env::new().await;
    env.create_job("b", json!({"parallelism": 2, "completions": 4}))
        .await;
    env.sync("b").await;
    let pods = env.pods("b").await;
    env.fail(&pods[0]).await;
    env.clock.advance(Duration::from_secs(1));
    env.succeed(&pods[1]).await;
    // The success is later than the failure: no delay, both replaced at once.
    assert_eq!(env.sync("b").await, None);
    let job = env.job("b").await;
    assert_eq!((failed(&job), succeeded(&job), active(&job)), (1, 1, 2));
}

#[tokio::test]
async fn j23_backoff_limit_exceeded_fails_the_job_in_two_steps() {
    let env = Env::new().await;
    env.create_job("bl", json!({"backoffLimit": 0})).await;
    env.sync("bl").await;
    let pod = env.pods("bl").await.remove(0);
    env.fail(&pod).await;
    env.sync("bl").await;
    let job = env.job("bl").await;
    let reason = "BackoffLimitExceeded".to_owned();
    let message = "Job has reached the specified backoff limit".to_owned();
    assert_eq!(
        conditions(&job),
        vec![
            (
                "FailureTarget".into(),
                "True".into(),
                reason.clone(),
                message.clone()
            ),
            (
                "Failed".into(),
                "True".into(),
                reason.clone(),
                message.clone()
            ),
        ]
    );
    assert_eq!(failed(&job), 1);
    assert!(job.status.unwrap().completion_time.is_none());
    assert_eq!(
        env.events("bl").await.last().unwrap(),
        &("Warning".to_owned(), reason, message)
    );
}

#[tokio::test]
async fn j24_j26_active_pods_of_a_failing_job_are_deleted_and_counted_before_failed() {
    let env = Env::new().await;
    env.create_job(
        "bl",
        json!({"backoffLimit": 0, "parallelism": 2, "completions": 2}),
    )
    .await;
    env.sync("bl").await;
    let pods = env.pods("bl").await;
    env.run(&pods[1]).await;
    env.fail(&pods[0]).await;
    env.sync("bl").await;
    let job = env.job("bl").await;
    // The running pod was deleted (terminating) and counted as failed; Failed waits for it.
    assert_eq!(condition_types(&job), vec!["FailureTarget"]);
    assert_eq!(
        (failed(&job), active(&job), terminating(&job)),
        (2, 0, Some(1))
    );
    assert!(
        env.event_reasons("bl")
            .await
            .contains(&"SuccessfulDelete".to_owned())
    );
    env.sync("bl").await;
    let job = env.job("bl").await;
    assert_eq!(condition_types(&job), vec!["FailureTarget", "Failed"]);
    assert_eq!((failed(&job), terminating(&job)), (2, Some(0)));
}

#[tokio::test]
async fn j56_restarts_of_on_failure_pods_count_against_the_backoff_limit() {
    let env = Env::new().await;
    env.create_job(
        "of",
        json!({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}),
    )
    .await;
    env.sync("of").await;
    let pod = env.pods("of").await.remove(0);
    env.run(&pod).await;
    env.write_status(&pod, |p| {
        p.status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
            .restart_count = 1;
    })
    .await;
    env.sync("of").await;
    assert!(condition_types(&env.job("of").await).is_empty());
    env.write_status(&pod, |p| {
        p.status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
            .restart_count = 2;
    })
    .await;
    env.sync("of").await;
    let job = env.job("of").await;
    assert_eq!(conditions(&job)[0].2, "BackoffLimitExceeded");
    // Restarts do not change status.failed; the deleted pod does.
    assert_eq!(failed(&job), 1);
}

#[tokio::test]
async fn j23_backoff_limit_zero_with_on_failure_fails_on_the_first_restart() {
    let env = Env::new().await;
    env.create_job(
        "of0",
        json!({"backoffLimit": 0, "template": {"spec": {"restartPolicy": "OnFailure"}}}),
    )
    .await;
    env.sync("of0").await;
    let pod = env.pods("of0").await.remove(0);
    env.run(&pod).await;
    env.sync("of0").await;
    assert!(condition_types(&env.job("of0").await).is_empty());
    env.write_status(&pod, |p| {
        p.status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
            .restart_count = 1;
    })
    .await;
    env.sync("of0").await;
    assert_eq!(
        conditions(&env.job("of0").await)[0].2,
        "BackoffLimitExceeded"
    );
}

#[tokio::test]
async fn j23_j40_active_deadline_requeues_then_fails() {
    let env = Env::new().await;
    env.create_job("dl", json!({"activeDeadlineSeconds": 30}))
        .await;
    assert_eq!(env.sync("dl").await, Some(Duration::from_secs(30)));
    env.clock.advance(Duration::from_secs(12));
    assert_eq!(env.sync("dl").await, Some(Duration::from_secs(18)));
    // J-40: a new deadline is measured from startTime.
    env.update_spec("dl", json!({"activeDeadlineSeconds": 20}))
        .await;
    assert_eq!(env.sync("dl").await, Some(Duration::from_secs(8)));
    env.clock.advance(Duration::from_secs(8));
    env.sync("dl").await;
    let job = env.job("dl").await;
    assert_eq!(
        conditions(&job)[0],
        (
            "FailureTarget".into(),
            "True".into(),
            "DeadlineExceeded".into(),
            "Job was active longer than specified deadline".into()
        )
    );
    assert_eq!(failed(&job), 1, "the deleted active pod counts as failed");
    env.sync("dl").await;
    let job = env.job("dl").await;
    assert_eq!(condition_types(&job), vec!["FailureTarget", "Failed"]);
    let events = env.events("dl").await;
    assert!(events.contains(&(
        "Warning".into(),
        "DeadlineExceeded".into(),
        "Job was active longer than specified deadline".into()
    )));
}

#[tokio::test]
async fn j31_work_queue_completes_when_one_succeeded_and_none_is_active() {
    let env = Env::new().await;
    env.create_job("wq", json!({"parallelism": 2})).await;
    assert!(env.job("wq").await.spec.unwrap().completions.is_none());
    env.sync("wq").await;
    let pods = env.pods("wq").await;
    assert_eq!(pods.len(), 2);
    env.succeed(&pods[0]).await;
    env.sync("wq").await;
    let job = env.job("wq").await;
    assert_eq!((succeeded(&job), active(&job)), (1, 1));
    assert!(condition_types(&job).is_empty());
    assert_eq!(
        env.pods("wq").await.len(),
        2,
        "no pod is added after a success"
    );
    env.fail(&pods[1]).await;
    env.sync("wq").await;
    let job = env.job("wq").await;
    assert_eq!(
        condition_types(&job),
        vec!["SuccessCriteriaMet", "Complete"]
    );
    assert_eq!((succeeded(&job), failed(&job)), (1, 1));
}

#[tokio::test]
async fn j27_too_many_succeeded_pods_is_reported() {
    let env = Env::new().await;
    env.create_job("many", json!({"parallelism": 2, "completions": 2}))
        .await;
    env.sync("many").await;
    let pods = env.pods("many").await;
    // A third matching pod, not created by the controller, that succeeded: adopted and
    // counted (J-13) together with the Job's own two.
    let mut extra = pods[1].clone();
    extra.metadata = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some("many-extra".into()),
        labels: extra.metadata.labels.clone(),
        ..Default::default()
    };
    extra.status = None;
    env.registry
        .create(
            &POD,
            NS,
            kbatch_core::object::Object::Pod(extra),
            &Default::default(),
            vec![],
        )
        .await
        .unwrap();
    let extra = env.pod("many-extra").await.unwrap();
    env.succeed(&extra).await;
    env.succeed(&pods[0]).await;
    env.succeed(&pods[1]).await;
    env.sync("many").await;
    let job = env.job("many").await;
    assert_eq!(succeeded(&job), 3);
    assert_eq!(
        condition_types(&job),
        vec!["SuccessCriteriaMet", "Complete"]
    );
    let events = env.events("many").await;
    assert!(events.contains(&(
        "Warning".into(),
        "TooManySucceededPods".into(),
        "Too many succeeded pods running after completion count reached".into()
    )));
    assert_eq!(events.last().unwrap().1, "Completed");
}

#[tokio::test]
async fn j32_j33_scaling_down_deletes_the_earliest_stage_pods_uncounted() {
    let env = Env::new().await;
    env.create_job("sd", json!({"parallelism": 3, "completions": 10}))
        .await;
    env.sync("sd").await;
    let pods = env.pods("sd").await;
    env.bind(&pods[0]).await;
    env.run(&pods[0]).await;
    env.bind(&pods[1]).await;
    env.update_spec("sd", json!({"parallelism": 1})).await;
    env.sync("sd").await;
    // The unscheduled pod, then the scheduled Pending one, go; the running one stays.
    let left = env.pods("sd").await;
    let live: Vec<_> = left
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(name(live[0]), name(&pods[0]));
    let job = env.job("sd").await;
    assert_eq!((active(&job), failed(&job)), (1, 0));
    let deletes: Vec<_> = env
        .events("sd")
        .await
        .into_iter()
        .filter(|e| e.1 == "SuccessfulDelete")
        .map(|e| e.2)
        .collect();
    assert_eq!(deletes.len(), 2);
    assert!(deletes.contains(&format!("Deleted pod: {}", name(&pods[2]))));
    // J-32: nothing is created in a sync that deleted.
    env.sync("sd").await;
    assert_eq!(active(&env.job("sd").await), 1);
}

#[tokio::test]
async fn j41_j42_j30_suspend_and_resume() {
    let env = Env::new().await;
    env.create_job(
        "sus",
        json!({"suspend": true, "activeDeadlineSeconds": 100}),
    )
    .await;
    // A Job created suspended starts nothing, has no startTime and no deadline timer.
    assert_eq!(env.sync("sus").await, None);
    let job = env.job("sus").await;
    assert!(env.pods("sus").await.is_empty());
    assert!(job.status.as_ref().unwrap().start_time.is_none());
    assert_eq!(
        conditions(&job),
        vec![(
            "Suspended".into(),
            "True".into(),
            "JobSuspended".into(),
            "Job suspended".into()
        )]
    );
    assert_eq!(
        env.events("sus").await,
        vec![("Normal".into(), "Suspended".into(), "Job suspended".into())]
    );
    env.clock.advance(Duration::from_secs(60));
    env.update_spec("sus", json!({"suspend": false})).await;
    assert_eq!(env.sync("sus").await, Some(Duration::from_secs(100)));
    let job = env.job("sus").await;
    assert_eq!(
        conditions(&job),
        vec![(
            "Suspended".into(),
            "False".into(),
            "JobResumed".into(),
            "Job resumed".into()
        )]
    );
    assert_eq!(
        job.status.as_ref().unwrap().start_time.as_ref().unwrap().0,
        env.now()
    );
    assert_eq!(env.pods("sus").await.len(), 1);
    assert!(
        env.event_reasons("sus")
            .await
            .contains(&"Resumed".to_owned())
    );
    // Suspending a running Job deletes its pods without counting them as failed.
    let pod = env.pods("sus").await.remove(0);
    env.run(&pod).await;
    env.update_spec("sus", json!({"suspend": true})).await;
    assert_eq!(env.sync("sus").await, None, "no deadline while suspended");
    let job = env.job("sus").await;
    assert_eq!((active(&job), failed(&job), ready(&job)), (0, 0, Some(0)));
    assert!(env.pod(name(&pod)).await.is_none());
    assert_eq!(conditions(&job)[0].2, "JobSuspended");
    assert!(
        job.status.as_ref().unwrap().start_time.is_none(),
        "cleared while suspended"
    );
    // Resuming resets startTime, so the deadline restarts.
    env.clock.advance(Duration::from_secs(500));
    env.update_spec("sus", json!({"suspend": false})).await;
    assert_eq!(env.sync("sus").await, Some(Duration::from_secs(100)));
    assert!(condition_types(&env.job("sus").await) == vec!["Suspended"]);
}

#[tokio::test]
async fn j42_a_job_never_suspended_gets_no_suspended_condition() {
    let env = Env::new().await;
    env.create_job("ns", json!({})).await;
    env.sync("ns").await;
    assert!(condition_types(&env.job("ns").await).is_empty());
    assert!(
        !env.event_reasons("ns")
            .await
            .contains(&"Resumed".to_owned())
    );
}

#[tokio::test]
async fn j20_a_job_managed_by_another_controller_is_skipped() {
    let env = Env::new().await;
    env.create_job("ext", json!({"managedBy": "example.com/other"}))
        .await;
    assert_eq!(env.sync("ext").await, None);
    assert!(env.pods("ext").await.is_empty());
    assert!(env.job("ext").await.status.unwrap().start_time.is_none());
    // The job controller's own name is not "another controller".
    env.create_job("own", json!({"managedBy": "kubernetes.io/job-controller"}))
        .await;
    env.sync("own").await;
    assert_eq!(env.pods("own").await.len(), 1);
}

#[tokio::test]
async fn j20_a_missing_job_is_not_an_error() {
    let env = Env::new().await;
    assert_eq!(env.sync("nothing").await, None);
}

#[tokio::test]
async fn j34_j64_terminating_pods_are_replaced_only_with_terminating_or_failed() {
    for (policy, replaced) in [("TerminatingOrFailed", true), ("Failed", false)] {
        let env = Env::new().await;
        env.create_job(
            "rp",
            json!({"podReplacementPolicy": policy, "backoffLimit": 5}),
        )
        .await;
        env.sync("rp").await;
        let pod = env.pods("rp").await.remove(0);
        env.bind(&pod).await;
        env.run(&pod).await;
        // Someone deletes the running pod: it terminates gracefully.
        env.delete_pod(&pod).await;
        env.sync("rp").await;
        let job = env.job("rp").await;
        if replaced {
            // J-15: a deleted pod that did not succeed is a failure, counted at once.
            assert_eq!(failed(&job), 1, "{policy}");
        } else {
            assert_eq!((failed(&job), terminating(&job)), (0, Some(1)), "{policy}");
            assert_eq!(env.pods("rp").await.len(), 1, "{policy}: not replaced yet");
            // Once terminal it counts, and is replaced.
            let current = env.pod(name(&pod)).await.unwrap();
            env.fail(&current).await;
            env.sync("rp").await;
            assert_eq!(failed(&env.job("rp").await), 1, "{policy}");
        }
    }
}

#[tokio::test]
async fn j20_j52_the_backoff_of_a_deleted_job_is_forgotten() {
    let env = Env::new().await;
    env.create_job("again", json!({})).await;
    env.sync("again").await;
    env.fail(&env.pods("again").await[0]).await;
    assert_eq!(env.sync("again").await, Some(Duration::from_secs(10)));
    let background = kbatch_api::registry::DeleteOptions {
        propagation: Some(kbatch_api::registry::Propagation::Background),
        ..Default::default()
    };
    env.registry
        .delete(&kbatch_core::object::JOB, NS, "again", &background)
        .await
        .unwrap();
    assert_eq!(env.sync("again").await, None);
    // A new Job of the same name starts without the old one's failures.
    env.create_job("again", json!({})).await;
    assert_eq!(env.sync("again").await, None);
    assert_eq!(active(&env.job("again").await), 1);
}

#[tokio::test]
async fn j65_with_success_criteria_met_the_failure_policy_is_not_evaluated() {
    let env = Env::new().await;
    env.create_job(
        "scm",
        json!({"podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
        ]}}),
    )
    .await;
    env.sync("scm").await;
    let pod = env.pods("scm").await.remove(0);
    // An earlier sync found the success criteria met.
    let mut job = env.job("scm").await;
    let at = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(env.now());
    job.status.as_mut().unwrap().conditions =
        Some(vec![k8s_openapi::api::batch::v1::JobCondition {
            type_: "SuccessCriteriaMet".into(),
            status: "True".into(),
            reason: Some("CompletionsReached".into()),
            message: Some("Reached expected number of succeeded pods".into()),
            last_probe_time: Some(at.clone()),
            last_transition_time: Some(at),
        }]);
    let opts = kbatch_api::registry::WriteOptions {
        subresource: Some("status".into()),
        ..Default::default()
    };
    env.registry
        .update(
            &kbatch_core::object::JOB,
            NS,
            "scm",
            kbatch_core::object::Object::Job(job),
            &opts,
            vec![],
        )
        .await
        .unwrap();
    env.finish(&pod, 42).await;
    env.sync("scm").await;
    let job = env.job("scm").await;
    assert_eq!(
        condition_types(&job),
        vec!["SuccessCriteriaMet", "Complete"]
    );
    assert_eq!(conditions(&job)[1].2, "CompletionsReached");
    assert!(!has_finalizer(&env.pod(name(&pod)).await.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j34_j91_at_most_500_pods_are_created_or_counted_per_sync() {
    let env = Env::new().await;
    env.create_job("big", json!({"parallelism": 501, "completions": 501}))
        .await;
    env.sync("big").await;
    assert_eq!(active(&env.job("big").await), 500);
    env.sync("big").await;
    assert_eq!(active(&env.job("big").await), 501);
    for pod in env.pods("big").await {
        env.succeed(&pod).await;
    }
    env.sync("big").await;
    let job = env.job("big").await;
    assert_eq!(succeeded(&job), 500);
    // The target is recorded, but the Job is not Complete while pods are left to count.
    assert_eq!(condition_types(&job), vec!["SuccessCriteriaMet"]);
    env.sync("big").await;
    let job = env.job("big").await;
    assert_eq!(succeeded(&job), 501);
    assert_eq!(
        condition_types(&job),
        vec!["SuccessCriteriaMet", "Complete"]
    );
}
