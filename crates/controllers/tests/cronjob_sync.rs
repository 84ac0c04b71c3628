//! The CronJob controller's sync against test-cases.md §C (cronjob_controllerv2_test) and the
//! rules of cronjob.md §3–§6. The CronJob is created at 09:59 (T−1m) unless a case says
//! otherwise; "prev ran" is a CronJob created 08:59 whose Job for 09:01 (lastScheduleTime)
//! completed at 09:01:10.

mod cronjob_support;

use std::time::Duration;

use jiff::SignedDuration;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use kbatch_api::registry::{ListParams, WriteOptions};
use kbatch_core::object::{CRONJOB, JOB, NAMESPACE, Object};
use serde_json::{Value, json};

use cronjob_support::*;

const POLICIES: [&str; 3] = ["Allow", "Forbid", "Replace"];

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// A CronJob created 09:59 with `spec` over the hourly default.
async fn fresh(env: &Env, spec: Value) -> CronJob {
    env.set_now(at_min(-1));
    env.create("cj", spec).await
}

/// "prev ran": created 08:59, lastScheduleTime 09:01, its Job created then and, when `done`,
/// completed 10s later; `in_active` keeps it in status.active.
async fn prev_ran(env: &Env, spec: Value, done: bool, in_active: bool) -> Job {
    env.set_now(at_min(-61));
    let cj = env.create("cj", spec).await;
    env.set_now(at_min(-59));
    let name = job_name("cj", at_min(-59));
    env.create_job(&name, Some(&cj)).await;
    if done {
        env.finish_job(
            &name,
            "Complete",
            at_min(-59),
            at_min(-59) + SignedDuration::from_secs(10),
        )
        .await;
    } else {
        env.start_job(&name, at_min(-59)).await;
    }
    let job = env.job(&name).await.unwrap();
    let job_ref = reference(&job);
    env.set_status("cj", |s| {
        s.last_schedule_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            at_min(-59),
        ));
        s.active = in_active.then(|| vec![job_ref]);
    })
    .await;
    job
}

/// The events other than kbatch's record of skipped fire times.
async fn k8s_events(env: &Env) -> Vec<(String, String, String)> {
    env.events("cj")
        .await
        .into_iter()
        .filter(|e| e.1 != "SkippedSchedule")
        .collect()
}

#[tokio::test]
async fn c1_unparseable_schedule_warns_and_stops() {
    let env = Env::new().await;
    fresh(&env, json!({})).await;
    env.edit_stored("cj", |v| {
        v["spec"]["schedule"] = json!("obvious error schedule")
    })
    .await;
    assert_eq!(env.sync("cj").await, None, "C1: no requeue");
    assert!(env.jobs().await.is_empty());
    assert_eq!(
        env.events("cj").await,
        vec![(
            "Warning".into(),
            "UnparseableSchedule".into(),
            "unparseable schedule: \"obvious error schedule\" : expected exactly 5 fields, found 3: [obvious error schedule]".into()
        )],
        "C1, C-23(e)"
    );
}

#[tokio::test]
async fn c2_unknown_time_zone_warns_and_stops() {
    let env = Env::new().await;
    fresh(&env, json!({})).await;
    env.edit_stored("cj", |v| v["spec"]["timeZone"] = json!("bad timezone"))
        .await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, None, "C2: no requeue");
    assert!(env.jobs().await.is_empty());
    assert_eq!(
        env.events("cj").await,
        vec![(
            "Warning".into(),
            "UnknownTimeZone".into(),
            "invalid timeZone: \"bad timezone\": unknown time zone bad timezone".into()
        )],
        "C2, C-23(c)"
    );
}

#[tokio::test]
async fn c3_never_ran_nothing_due_requeues_for_the_next_hour() {
    for policy in POLICIES {
        let env = Env::new().await;
        fresh(&env, json!({"concurrencyPolicy": policy})).await;
        assert_eq!(env.sync("cj").await, after_min(1), "C3 {policy}");
        assert!(env.jobs().await.is_empty());
        assert!(
            env.cronjob("cj")
                .await
                .status
                .is_none_or(|s| s.active.is_none())
        );
    }
}

#[tokio::test]
async fn c4_never_ran_starts_the_due_hour() {
    for policy in POLICIES {
        let env = Env::new().await;
        let cj = fresh(&env, json!({"concurrencyPolicy": policy})).await;
        env.set_now(at_min(1));
        assert_eq!(env.sync("cj").await, after_min(59), "C4 {policy}: C-30");
        // C26, C-50: minutes since the epoch of 10:00.
        assert_eq!(env.job_names().await, vec!["cj-24394200"]);
        let job = env.job("cj-24394200").await.unwrap();
        // C-51.
        assert_eq!(
            job.metadata
                .labels
                .as_ref()
                .unwrap()
                .get("app")
                .map(String::as_str),
            Some("cj")
        );
        assert_eq!(job_annotation(&job, "note").as_deref(), Some("kept"));
        assert_eq!(
            job_annotation(&job, "batch.kubernetes.io/cronjob-scheduled-timestamp").as_deref(),
            Some("2016-05-19T10:00:00Z")
        );
        let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str(),
                Some(owner.uid.as_str()),
                owner.controller,
                owner.block_owner_deletion
            ),
            (
                "batch/v1",
                "CronJob",
                "cj",
                cj.metadata.uid.as_deref(),
                Some(true),
                Some(true)
            )
        );
        let cj = env.cronjob("cj").await;
        // C-27, C-43.
        assert_eq!(active(&cj), vec![reference(&job)]);
        assert_eq!(
            last_schedule(&cj),
            Some(t0()),
            "C-43: the due time, not 10:01"
        );
        assert_eq!(
            env.events("cj").await,
            vec![(
                "Normal".into(),
                "SuccessfulCreate".into(),
                "Created job cj-24394200".into()
            )]
        );
    }
}

#[tokio::test]
async fn c5_suspended_does_nothing() {
    let env = Env::new().await;
    fresh(&env, json!({"suspend": true})).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, None, "C5, C-23(d): no requeue");
    assert!(env.jobs().await.is_empty());
    assert!(env.events("cj").await.is_empty());
}

#[tokio::test]
async fn c6_deadline_clips_the_missed_hour_without_a_warning() {
    let env = Env::new().await;
    fresh(&env, json!({"startingDeadlineSeconds": 10})).await;
    env.set_now(at_min(12));
    assert_eq!(env.sync("cj").await, after_min(48), "C6");
    assert!(env.jobs().await.is_empty());
    assert!(
        k8s_events(&env).await.is_empty(),
        "C6: no MissSchedule (C-23(g))"
    );
}

#[tokio::test]
async fn c7_a_long_deadline_starts_the_job() {
    let env = Env::new().await;
    fresh(&env, json!({"startingDeadlineSeconds": 1_000_000})).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, after_min(59));
    assert_eq!(env.job_names().await, vec!["cj-24394200"], "C7");
}

#[tokio::test]
async fn c8_tz_in_schedule_is_used_verbatim_with_a_warning() {
    let env = Env::new().await;
    fresh(&env, json!({"timeZone": "America/New_York"})).await;
    env.edit_stored("cj", |v| v["spec"]["schedule"] = json!("TZ=UTC 0 * * * ?"))
        .await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, after_min(59));
    // C-16: the schedule's own TZ=UTC, not spec.timeZone, decides 10:00 UTC; the annotation
    // is rendered in spec.timeZone (C-51).
    let job = env.job("cj-24394200").await.expect("C8: job created");
    assert_eq!(
        job_annotation(&job, "batch.kubernetes.io/cronjob-scheduled-timestamp").as_deref(),
        Some("2016-05-19T06:00:00-04:00")
    );
    assert_eq!(
        env.events("cj").await[0],
        (
            "Warning".into(),
            "UnsupportedSchedule".into(),
            "CRON_TZ or TZ used in schedule \"TZ=UTC 0 * * * ?\" is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details".into()
        ),
        "C8, C-8"
    );
}

#[tokio::test]
async fn c9_a_completed_job_leaves_active_and_sets_last_successful_time() {
    for policy in POLICIES {
        let env = Env::new().await;
        prev_ran(&env, json!({"concurrencyPolicy": policy}), true, true).await;
        env.set_now(at_min(-1));
        assert_eq!(env.sync("cj").await, after_min(1), "C9 {policy}");
        assert_eq!(env.jobs().await.len(), 1, "no new job");
        let cj = env.cronjob("cj").await;
        assert!(active(&cj).is_empty(), "C-40");
        assert_eq!(
            last_successful(&cj),
            Some(at_min(-59) + SignedDuration::from_secs(10)),
            "C-40: lastSuccessfulTime = completionTime"
        );
        assert_eq!(
            env.events("cj").await,
            vec![(
                "Normal".into(),
                "SawCompletedJob".into(),
                format!(
                    "Saw completed job: {}, condition: Complete",
                    job_name("cj", at_min(-59))
                )
            )]
        );
    }
}

#[tokio::test]
async fn c10_already_exists_adopts_the_job_without_an_event() {
    let env = Env::new().await;
    prev_ran(&env, json!({}), true, false).await;
    let cj = env.cronjob("cj").await;
    let existing = env.create_job("cj-24394200", Some(&cj)).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, after_min(59), "C10: no error");
    let cj = env.cronjob("cj").await;
    assert_eq!(
        active_names(&cj),
        vec!["cj-24394200"],
        "C-27: appended to active"
    );
    assert_eq!(active(&cj)[0].uid, existing.metadata.uid);
    assert_eq!(last_schedule(&cj), Some(t0()));
    let reasons = env.event_reasons("cj").await;
    assert!(
        !reasons.contains(&"SuccessfulCreate".to_owned()),
        "C10: {reasons:?}"
    );
}

#[tokio::test]
async fn c11_deadline_clips_the_due_hour_after_a_previous_run() {
    let env = Env::new().await;
    prev_ran(&env, json!({"startingDeadlineSeconds": 10}), true, false).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, after_min(59), "C11");
    assert_eq!(env.jobs().await.len(), 1, "C11: no new job");
    assert!(
        !env.event_reasons("cj")
            .await
            .contains(&"MissSchedule".to_owned()),
        "C11: no MissSchedule"
    );
}

#[tokio::test]
async fn c12_allow_runs_concurrently() {
    let env = Env::new().await;
    prev_ran(&env, json!({"concurrencyPolicy": "Allow"}), false, true).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, after_min(59));
    let cj = env.cronjob("cj").await;
    assert_eq!(
        active_names(&cj),
        vec![job_name("cj", at_min(-59)), "cj-24394200".into()],
        "C12, C-24"
    );
}

#[tokio::test]
async fn c13_forbid_skips_while_a_job_is_active() {
    let env = Env::new().await;
    prev_ran(&env, json!({"concurrencyPolicy": "Forbid"}), false, true).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, after_min(59), "C13");
    assert_eq!(env.jobs().await.len(), 1, "C13: no job");
    assert_eq!(active(&env.cronjob("cj").await).len(), 1);
    assert_eq!(
        k8s_events(&env).await,
        vec![(
            "Normal".into(),
            "JobAlreadyActive".into(),
            "Not starting job because prior execution is running and concurrency policy is Forbid"
                .into()
        )],
        "C-25"
    );
}

#[tokio::test]
async fn c14_replace_deletes_the_active_job_then_creates() {
    let env = Env::new().await;
    let old = prev_ran(&env, json!({"concurrencyPolicy": "Replace"}), false, true).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, after_min(59));
    assert_eq!(
        env.job_names().await,
        vec!["cj-24394200"],
        "C14: old job deleted"
    );
    assert_eq!(active_names(&env.cronjob("cj").await), vec!["cj-24394200"]);
    assert_eq!(
        env.events("cj").await,
        vec![
            (
                "Normal".into(),
                "SuccessfulDelete".into(),
                format!("Deleted job {}", old.metadata.name.unwrap())
            ),
            (
                "Normal".into(),
                "SuccessfulCreate".into(),
                "Created job cj-24394200".into()
            ),
        ],
        "C-26"
    );
}

#[tokio::test]
async fn c16_suspended_keeps_the_active_job() {
    let env = Env::new().await;
    prev_ran(&env, json!({"suspend": true}), false, true).await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, None, "C16");
    assert_eq!(env.jobs().await.len(), 1);
    assert_eq!(active(&env.cronjob("cj").await).len(), 1, "C-44");
}

#[tokio::test]
async fn c17_a_week_of_missed_hours_starts_the_latest_with_a_warning() {
    for (policy, deadline) in [
        ("Allow", None),
        ("Forbid", None),
        ("Replace", Some(1_000_000)),
    ] {
        let env = Env::new().await;
        let mut spec = json!({"concurrencyPolicy": policy});
        if let Some(d) = deadline {
            spec["startingDeadlineSeconds"] = json!(d);
        }
        prev_ran(&env, spec, true, false).await;
        let week = ts("2016-05-26T10:00:00Z");
        env.set_now(week);
        assert_eq!(env.sync("cj").await, after_min(60), "C17 {policy}");
        assert!(
            env.job(&job_name("cj", week)).await.is_some(),
            "C-21: the latest"
        );
        assert_eq!(env.jobs().await.len(), 2, "C-21: only the latest");
        assert_eq!(
            env.messages("cj", "TooManyMissedTimes").await,
            vec![
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            ],
            "C-22"
        );
    }
}

#[tokio::test]
async fn c18_a_short_deadline_starts_the_latest_without_a_warning() {
    for (policy, deadline) in [("Allow", 7200), ("Forbid", 10), ("Replace", 7200)] {
        let env = Env::new().await;
        prev_ran(
            &env,
            json!({"concurrencyPolicy": policy, "startingDeadlineSeconds": deadline}),
            true,
            false,
        )
        .await;
        let week = ts("2016-05-26T10:00:00Z");
        env.set_now(week);
        assert_eq!(env.sync("cj").await, after_min(60), "C18 {policy}");
        assert!(env.job(&job_name("cj", week)).await.is_some());
        assert!(
            !env.event_reasons("cj")
                .await
                .contains(&"TooManyMissedTimes".to_owned()),
            "C18: the deadline keeps the count low (A7)"
        );
    }
}

#[tokio::test]
async fn c19_clock_back_before_the_due_time_creates_nothing() {
    let env = Env::new().await;
    prev_ran(&env, json!({"concurrencyPolicy": "Forbid"}), true, false).await;
    let cj = env.cronjob("cj").await;
    env.create_job("cj-24394200", Some(&cj)).await;
    env.finish_job("cj-24394200", "Complete", t0(), at_min(1))
        .await;
    env.set_now(at_min(-1));
    assert_eq!(env.sync("cj").await, after_min(1), "C19");
    assert_eq!(env.jobs().await.len(), 2);
    assert!(active(&env.cronjob("cj").await).is_empty());
}

#[tokio::test]
async fn c21_to_c24_every_descriptor() {
    // C21: @every 1h created 09:59, now 10:00: nothing due.
    let env = Env::new().await;
    fresh(&env, json!({"schedule": "@every 1h"})).await;
    env.set_now(t0());
    assert_eq!(env.sync("cj").await, after_min(59), "C21");
    assert!(env.jobs().await.is_empty());

    // C22: created 08:59, now 09:59: due.
    let env = Env::new().await;
    env.set_now(at_min(-61));
    env.create("cj", json!({"schedule": "@every 1h"})).await;
    env.set_now(at_min(-1));
    assert_eq!(env.sync("cj").await, after_min(60), "C22");
    assert_eq!(env.job_names().await, vec![job_name("cj", at_min(-1))]);

    // C23: with a 10s deadline at 09:59:11 it is too late.
    let env = Env::new().await;
    env.set_now(at_min(-61));
    env.create(
        "cj",
        json!({"schedule": "@every 1h", "startingDeadlineSeconds": 10}),
    )
    .await;
    env.set_now(at_min(-1) + SignedDuration::from_secs(11));
    assert_eq!(
        env.sync("cj").await,
        Some(Duration::from_secs(3600 - 11) + Duration::from_millis(100)),
        "C23"
    );
    assert!(env.jobs().await.is_empty());

    // C24: lastScheduleTime 10:01, a week later: the latest and a warning (A16).
    let env = Env::new().await;
    env.set_now(at_min(-59));
    env.create("cj", json!({"schedule": "@every 1h"})).await;
    env.set_last_schedule("cj", at_min(1)).await;
    let week = ts("2016-05-26T10:00:00Z");
    env.set_now(week);
    assert_eq!(env.sync("cj").await, after_min(1), "C24");
    assert_eq!(
        env.job_names().await,
        vec![job_name("cj", week - SignedDuration::from_mins(59))],
        "A16: due = T+6d23h1m"
    );
    assert!(
        env.event_reasons("cj")
            .await
            .contains(&"TooManyMissedTimes".to_owned())
    );
}

#[tokio::test]
async fn c25_terminating_namespace_fails_without_a_status_write() {
    let env = Env::new().await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}});
    env.registry
        .create(
            &NAMESPACE,
            "",
            Object::Namespace(serde_json::from_value(ns).unwrap()),
            &WriteOptions::default(),
            vec![],
        )
        .await
        .unwrap();
    env.set_now(at_min(-1));
    let cj: CronJob = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "cj", "namespace": "doomed"},
        "spec": {"schedule": "0 * * * ?", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}
    }))
    .unwrap();
    env.registry
        .create(
            &CRONJOB,
            "doomed",
            Object::CronJob(cj),
            &WriteOptions::default(),
            vec![],
        )
        .await
        .unwrap();
    env.mark_terminating("doomed").await;
    env.set_now(at_min(1));
    let before = env.revision().await;
    let err = env.ctrl.sync("doomed", "cj").await.unwrap_err();
    assert_eq!(err.code(), 403, "C25: the error is returned");
    assert_eq!(
        env.revision().await,
        before,
        "C25: no status write, no event"
    );
    let jobs = env
        .registry
        .list(&JOB, Some("doomed"), &ListParams::default())
        .await
        .unwrap();
    assert!(jobs.items.is_empty());
}

#[tokio::test]
async fn c27_to_c30_spec_updates_requeue() {
    let env = Env::new().await;
    env.set_now(at_min(-61));
    let base = env.create("cj", json!({"schedule": "30 * * * *"})).await;
    env.set_last_schedule("cj", at_min(-1)).await;
    let old = env.cronjob("cj").await;
    env.set_now(at_min(-1) + SignedDuration::from_secs(59));
    let with = |schedule: &str| {
        let mut cj = old.clone();
        cj.spec.as_mut().unwrap().schedule = schedule.into();
        cj
    };
    let ms = Duration::from_millis(100);
    assert_eq!(
        env.ctrl.requeue_after_update(&old, &with("*/1 * * * *")),
        Some(Duration::from_secs(1) + ms),
        "C27"
    );
    assert_eq!(
        env.ctrl
            .requeue_after_update(&with("@every 1m"), &with("@every 3m")),
        Some(Duration::from_secs(121) + ms),
        "C28"
    );
    assert_eq!(
        env.ctrl
            .requeue_after_update(&with("@every 3m"), &with("@every 1m")),
        Some(Duration::from_secs(1) + ms),
        "C29"
    );
    let mut relabelled = old.clone();
    relabelled
        .spec
        .as_mut()
        .unwrap()
        .job_template
        .metadata
        .get_or_insert_with(Default::default)
        .labels = Some([("x".to_owned(), "y".to_owned())].into());
    assert_eq!(
        env.ctrl.requeue_after_update(&old, &relabelled),
        Some(Duration::ZERO),
        "C30"
    );
    // A changed timeZone counts as a schedule change (C-31): :30 in Kolkata (+05:30) is :00
    // in UTC.
    let mut kolkata = old.clone();
    kolkata.spec.as_mut().unwrap().time_zone = Some("Asia/Kolkata".into());
    assert_eq!(
        env.ctrl.requeue_after_update(&old, &kolkata),
        Some(Duration::from_secs(1) + ms),
        "C-31"
    );
    // C-31: unparseable → no enqueue and an event, recorded in the background.
    assert_eq!(env.ctrl.requeue_after_update(&old, &with("bad")), None);
    for _ in 0..100 {
        if !env.events("cj").await.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        env.events("cj").await,
        vec![(
            "Warning".into(),
            "UnParseableCronJobSchedule".into(),
            "unparseable schedule for cronjob: bad".into()
        )]
    );
    drop(base);
}

#[tokio::test]
async fn c31_history_is_trimmed_even_when_the_create_fails() {
    let env = Env::new().await;
    env.set_now(at_min(-121));
    // The Job API refuses a template that claims another Job's controller-uid, which
    // CronJob validation lets through: the create fails.
    let cj = env
        .create(
            "cj",
            json!({"successfulJobsHistoryLimit": 1, "jobTemplate": {"spec": {"template":
                {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "other"}}}}}}),
        )
        .await;
    for (name, start) in [("old", at_min(-61)), ("newer", at_min(-1))] {
        env.create_job(name, Some(&cj)).await;
        env.finish_job(
            name,
            "Complete",
            start,
            start + SignedDuration::from_secs(5),
        )
        .await;
    }
    env.set_now(at_min(1));
    assert!(env.try_sync("cj").await.is_err(), "the create fails");
    assert_eq!(
        env.job_names().await,
        vec!["newer"],
        "C31: the 08:59 job went"
    );
    assert_eq!(
        env.event_reasons("cj").await,
        vec!["SuccessfulDelete", "FailedCreate"],
        "C-42 before C-27"
    );
}

#[tokio::test]
async fn c32_history_within_the_limit_is_kept() {
    let env = Env::new().await;
    let cj = fresh(&env, json!({"successfulJobsHistoryLimit": 2})).await;
    env.create_job("done", Some(&cj)).await;
    env.finish_job("done", "Complete", at_min(-1), at_min(-1))
        .await;
    env.sync("cj").await;
    assert_eq!(env.job_names().await, vec!["done"], "C32");
}

#[tokio::test]
async fn c33_an_owned_job_for_the_due_time_is_adopted_once() {
    let env = Env::new().await;
    env.set_now(at_min(-61));
    let cj = env
        .create("cj", json!({"concurrencyPolicy": "Forbid"}))
        .await;
    // Created for 09:00 before a crash kept it out of the status.
    let due = at_min(-60);
    env.create_job(&job_name("cj", due), Some(&cj)).await;
    env.set_now(at_min(-59));
    let before = env.revision().await;
    assert_eq!(env.sync("cj").await, after_min(59));
    let cj = env.cronjob("cj").await;
    assert_eq!(active_names(&cj), vec![job_name("cj", due)], "C33");
    assert_eq!(last_schedule(&cj), Some(due));
    assert_eq!(env.jobs().await.len(), 1, "no second job");
    // C-40 first warns about the Job it does not list, then C-27 adopts it.
    assert_eq!(
        env.event_reasons("cj").await,
        vec!["UnexpectedJob".to_owned()]
    );
    // One status write (kbatch's annotations ride on it) and one event.
    assert_eq!(env.revision().await - before, 2, "C-28");
}

#[tokio::test]
async fn c34_a_foreign_job_of_the_due_name_is_left_alone() {
    let env = Env::new().await;
    env.set_now(at_min(-61));
    env.create("cj", json!({"concurrencyPolicy": "Forbid"}))
        .await;
    let due = at_min(-60);
    env.create_job(&job_name("cj", due), None).await;
    env.set_now(at_min(-59));
    assert_eq!(env.sync("cj").await, None, "C-27: not ours, no requeue");
    let cj = env.cronjob("cj").await;
    assert!(
        cj.status
            .as_ref()
            .is_none_or(|s| s.active.is_none() && s.last_schedule_time.is_none()),
        "C34: no status update"
    );
}

#[tokio::test]
async fn c35_history_order_is_start_time_then_name() {
    let env = Env::new().await;
    let cj = fresh(&env, json!({"failedJobsHistoryLimit": 2})).await;
    for name in ["b", "a", "c"] {
        env.create_job(name, Some(&cj)).await;
    }
    let start = at_min(-30);
    env.finish_job("a", "Failed", start, at_min(-20)).await;
    env.finish_job("b", "Failed", start, at_min(-20)).await;
    // `c` failed before it started: no startTime, so it counts as the newest. The API
    // server no longer accepts that status (J-92), so it is stored as an older one wrote it.
    env.edit_stored_job("c", |job| {
        job["status"] = json!({"conditions": [{"type": "Failed", "status": "True"}]});
    })
    .await;
    env.sync("cj").await;
    assert_eq!(
        env.job_names().await,
        vec!["b", "c"],
        "C35: equal times by name"
    );
    env.update_spec("cj", json!({"failedJobsHistoryLimit": 1}))
        .await;
    env.sync("cj").await;
    assert_eq!(
        env.job_names().await,
        vec!["c"],
        "C35: a startTime sorts before none"
    );
    env.update_spec("cj", json!({"failedJobsHistoryLimit": 0}))
        .await;
    env.sync("cj").await;
    assert!(env.jobs().await.is_empty(), "C-42: limit 0 deletes all");
}

#[tokio::test]
async fn missing_active_job_is_dropped_and_unexpected_job_warned() {
    let env = Env::new().await;
    prev_ran(&env, json!({}), false, true).await;
    let cj = env.cronjob("cj").await;
    env.delete_job(&job_name("cj", at_min(-59))).await;
    env.create_job("stray", Some(&cj)).await;
    env.set_now(at_min(-1));
    env.sync("cj").await;
    let cj = env.cronjob("cj").await;
    assert!(active(&cj).is_empty(), "C-41");
    assert_eq!(
        env.events("cj").await,
        vec![
            (
                "Warning".into(),
                "UnexpectedJob".into(),
                "Saw a job that the controller did not create or forgot: stray".into()
            ),
            (
                "Normal".into(),
                "MissingJob".into(),
                format!("Active job went missing: {}", job_name("cj", at_min(-59)))
            ),
        ],
        "C-40, C-41"
    );
}

#[tokio::test]
async fn a_failed_job_does_not_set_last_successful_time() {
    let env = Env::new().await;
    let cj = fresh(&env, json!({})).await;
    env.create_job("f", Some(&cj)).await;
    env.finish_job("f", "Failed", at_min(-1), at_min(-1)).await;
    env.create_job("s1", Some(&cj)).await;
    env.finish_job(
        "s1",
        "Complete",
        at_min(-1),
        at_min(-1) + SignedDuration::from_secs(30),
    )
    .await;
    env.create_job("s2", Some(&cj)).await;
    env.finish_job(
        "s2",
        "Complete",
        at_min(-1),
        at_min(-1) + SignedDuration::from_secs(20),
    )
    .await;
    env.sync("cj").await;
    assert_eq!(
        last_successful(&env.cronjob("cj").await),
        Some(at_min(-1) + SignedDuration::from_secs(30)),
        "C-40: the latest completionTime of the succeeded Jobs, in or out of active"
    );
}

#[tokio::test]
async fn a_deleting_cronjob_only_reconciles_status() {
    let env = Env::new().await;
    prev_ran(&env, json!({}), true, true).await;
    env.edit_stored("cj", |v| {
        v["metadata"]["deletionTimestamp"] = json!("2016-05-19T09:00:00Z");
        v["metadata"]["finalizers"] = json!(["example.com/hold"]);
    })
    .await;
    env.set_now(at_min(1));
    assert_eq!(env.sync("cj").await, None, "C-23(b)");
    let cj = env.cronjob("cj").await;
    assert!(active(&cj).is_empty(), "status still reconciled");
    assert_eq!(env.jobs().await.len(), 1, "no new job");
    assert!(cj_annotation(&cj, "kbatch.dev/next-schedule-time").is_none());
}

#[tokio::test]
async fn interval_error_is_an_invalid_schedule() {
    // A8: Feb 31 parses but never fires.
    let env = Env::new().await;
    env.set_now(t0() + SignedDuration::from_secs(10));
    env.create("cj", json!({"schedule": "59 23 31 2 *"})).await;
    env.set_now(at_min(60));
    assert_eq!(env.sync("cj").await, None, "C-21: no requeue");
    assert_eq!(
        env.events("cj").await,
        vec![(
            "Warning".into(),
            "InvalidSchedule".into(),
            "invalid schedule: 59 23 31 2 * : time difference between two schedules is less than 1 second".into()
        )]
    );
}

#[tokio::test]
async fn a_job_template_that_the_job_api_refuses_is_a_failed_create() {
    let env = Env::new().await;
    fresh(
        &env,
        json!({"jobTemplate": {"spec": {"template": {"metadata": {"labels":
            {"batch.kubernetes.io/controller-uid": "not-the-job"}}}}}}),
    )
    .await;
    env.set_now(at_min(1));
    let err = env.try_sync("cj").await.unwrap_err();
    let failed = env.messages("cj", "FailedCreate").await;
    assert_eq!(failed, vec![format!("Error creating job: {err}")], "C-27");
    assert!(env.jobs().await.is_empty());
}
