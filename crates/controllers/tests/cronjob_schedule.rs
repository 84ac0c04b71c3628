//! When Jobs start: test-cases.md §A (mostRecentScheduleTime) and §B (requeue) observed
//! through `sync`, the C-21a quirk, and months of schedule driven by the requeue delays the
//! controller returns, across DST changes in Europe/Berlin and America/New_York.

mod cronjob_support;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use cronjob_support::*;

const SCHEDULED: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn requeue(d: SignedDuration) -> Option<Duration> {
    Some(Duration::try_from(d).unwrap() + Duration::from_millis(100))
}

struct Case {
    schedule: &'static str,
    created: Timestamp,
    last: Option<Timestamp>,
    deadline: Option<i64>,
    now: Timestamp,
}

/// Syncs the case once with concurrencyPolicy Allow; returns the requeue, the Jobs created
/// and the reasons of the events.
async fn run(case: Case) -> (Option<Duration>, Vec<String>, Vec<String>) {
    let env = Env::new().await;
    env.set_now(case.created);
    let mut spec = json!({"schedule": case.schedule});
    if let Some(d) = case.deadline {
        spec["startingDeadlineSeconds"] = json!(d);
    }
    env.create("cj", spec).await;
    if let Some(last) = case.last {
        env.set_last_schedule("cj", last).await;
    }
    env.set_now(case.now);
    let requeue = env.sync("cj").await;
    let reasons = env
        .event_reasons("cj")
        .await
        .into_iter()
        .filter(|r| r != "SkippedSchedule")
        .collect();
    (requeue, env.job_names().await, reasons)
}

fn case(schedule: &'static str, created: SignedDuration, now: SignedDuration) -> Case {
    Case {
        schedule,
        created: t0() + created,
        last: None,
        deadline: None,
        now: t0() + now,
    }
}

const HOURLY: &str = "0 * * * *";

#[tokio::test]
async fn a1_to_a4_hourly() {
    let (r, jobs, _) = run(case(HOURLY, mins(-10), mins(-7))).await;
    assert_eq!((r, jobs), (requeue(mins(7)), vec![]), "A1: nothing due");

    let (_, jobs, _) = run(case(HOURLY, mins(-10), SignedDuration::from_secs(2))).await;
    assert_eq!(jobs, vec![job_name("cj", t0())], "A2: due = T");

    let mut a3 = case(HOURLY, mins(-10), mins(2));
    a3.last = Some(t0());
    let (r, jobs, _) = run(a3).await;
    assert_eq!((r, jobs), (requeue(mins(58)), vec![]), "A3: T already ran");

    let mut a4 = case(HOURLY, mins(-10), mins(65));
    a4.last = Some(t0());
    let (_, jobs, _) = run(a4).await;
    assert_eq!(
        jobs,
        vec![job_name("cj", t0() + mins(60))],
        "A4: due = T+1h"
    );
}

#[tokio::test]
async fn a5_to_a7_missed_hours() {
    let mut a5 = case(HOURLY, mins(-120), mins(65));
    a5.last = Some(t0() - mins(60));
    let (r, jobs, reasons) = run(a5).await;
    assert_eq!(
        jobs,
        vec![job_name("cj", t0() + mins(60))],
        "A5: two missed, only the latest starts (C-21)"
    );
    assert_eq!(r, requeue(mins(55)));
    assert_eq!(reasons, vec!["SuccessfulCreate"]);

    let ten_days = mins(60) + SignedDuration::from_hours(240);
    let mut a6 = case(HOURLY, mins(-120), ten_days);
    a6.last = Some(t0() - mins(60));
    let (_, jobs, reasons) = run(a6).await;
    assert_eq!(jobs, vec![job_name("cj", t0() + ten_days)], "A6");
    assert_eq!(
        reasons,
        vec!["TooManyMissedTimes", "SuccessfulCreate"],
        "A6, C-22"
    );

    let mut a7 = case(HOURLY, mins(-120), ten_days);
    a7.last = Some(t0() - mins(60));
    a7.deadline = Some(7200);
    let (_, jobs, reasons) = run(a7).await;
    assert_eq!(jobs, vec![job_name("cj", t0() + ten_days)], "A7");
    assert_eq!(
        reasons,
        vec!["SuccessfulCreate"],
        "A7: the deadline clips earliest"
    );
}

#[tokio::test]
async fn a9_to_a11_from_the_creation_time() {
    let (r, jobs, _) = run(case(HOURLY, mins(0), SignedDuration::from_secs(30))).await;
    assert_eq!(
        (r, jobs),
        (requeue(SignedDuration::from_secs(3570)), vec![]),
        "A9"
    );

    let (_, jobs, _) = run(case(HOURLY, mins(0), mins(61))).await;
    assert_eq!(jobs, vec![job_name("cj", t0() + mins(60))], "A10");

    let (_, jobs, reasons) = run(case(HOURLY, SignedDuration::from_secs(10), mins(301))).await;
    assert_eq!(jobs, vec![job_name("cj", t0() + mins(300))], "A11");
    assert_eq!(
        reasons,
        vec!["SuccessfulCreate"],
        "A11: few missed, no warning"
    );
}

const EVERY_4H_WORKDAYS: &str = "30 6-16/4 * * 1-5";
const THREE_A_DAY: &str = "30 10,11,12 * * 1-5";

#[tokio::test]
async fn a12_a14_a15_irregular_gaps() {
    let mut a12 = case(EVERY_4H_WORKDAYS, mins(0), mins(24 * 60 + 31));
    a12.last = Some(t0() + mins(30));
    let (r, jobs, _) = run(a12).await;
    assert_eq!(jobs, vec![job_name("cj", t0() + mins(24 * 60 + 30))], "A12");
    assert_eq!(r, requeue(mins(3 * 60 + 59)), "B1");

    let mut a14 = case(EVERY_4H_WORKDAYS, mins(0), mins(96 * 60 + 31));
    a14.last = Some(t0() + mins(30));
    let (_, jobs, _) = run(a14).await;
    assert_eq!(jobs, vec![job_name("cj", t0() + mins(96 * 60 + 30))], "A14");

    let (_, jobs, _) = run(case(EVERY_4H_WORKDAYS, mins(0), mins(24 * 60 + 31))).await;
    assert_eq!(jobs, vec![job_name("cj", t0() + mins(24 * 60 + 30))], "A15");
}

#[tokio::test]
async fn a13_b2_the_walk_passes_over_fridays_runs() {
    // C-21a: last run Thu 10:30, now Fri 16:30: the walk starts at Fri 15:30 and its first
    // fire time is Mon 10:30, so nothing starts, and the requeue is for Monday.
    let mut a13 = case(THREE_A_DAY, mins(0), mins(30 * 60 + 30));
    a13.last = Some(t0() + mins(30));
    let (r, jobs, reasons) = run(a13).await;
    assert_eq!(jobs, Vec::<String>::new(), "A13, C-21a");
    assert_eq!(reasons, Vec::<String>::new());
    assert_eq!(r, requeue(SignedDuration::from_hours(66)), "B2");
}

#[tokio::test]
async fn a17_to_a19_every_five_minutes() {
    let mut a17 = case("*/5 * * * *", mins(0), mins(31));
    a17.last = Some(t0() + mins(30));
    let (r, jobs, _) = run(a17).await;
    assert_eq!((r, jobs), (requeue(mins(4)), vec![]), "A17");

    let mut a18 = case("*/5 * * * *", mins(0), mins(31));
    a18.last = Some(t0() + mins(30));
    a18.deadline = Some(60);
    let (r, jobs, _) = run(a18).await;
    assert_eq!((r, jobs), (requeue(mins(4)), vec![]), "A18");

    let mut a19 = case("*/5 * * * *", mins(0), mins(32));
    a19.last = Some(t0() + mins(30));
    a19.deadline = Some(60);
    let (r, jobs, _) = run(a19).await;
    assert_eq!(
        (r, jobs),
        (requeue(mins(3)), vec![]),
        "A19: earliest = now − 60s, none due; the requeue ignores the deadline (C-30)"
    );
}

#[tokio::test]
async fn b3_b4_weekly() {
    let mut b3 = case(
        "0 12 * * 4",
        mins(0),
        SignedDuration::from_hours(19 * 24) + mins(90),
    );
    b3.last = Some(t0() + mins(120));
    let (r, jobs, _) = run(b3).await;
    assert_eq!(
        jobs,
        vec![job_name("cj", ts("2016-06-02T12:00:00Z"))],
        "the latest missed Thursday"
    );
    assert_eq!(r, requeue(mins(48 * 60 + 30)), "B3");

    let (r, jobs, _) = run(case("0 12 * * 5", mins(0), mins(360))).await;
    assert_eq!((r, jobs), (requeue(mins(20 * 60)), vec![]), "B4");
}

/// Drives a CronJob from its creation to `end` as the work queue would: sync, sleep for the
/// requeue delay, sync again. Every Job the controller creates is marked complete at once,
/// and that Job update syncs the CronJob too (C-32). Returns the scheduled-timestamp
/// annotation of every Job created, in order, checking that each was created at its fire
/// time (the sync runs 100ms after it, C-30) and that every event is one of a run that
/// missed nothing.
async fn drive(env: &Env, end: Timestamp) -> Vec<String> {
    let mut seen = Vec::new();
    let mut syncs = 0;
    loop {
        let mut delay = env
            .sync("cj")
            .await
            .expect("a schedule that fires requeues");
        syncs += 1;
        assert!(syncs < 10_000, "the requeue delays make progress");
        for job in env.jobs().await {
            let name = job.metadata.name.clone().unwrap();
            if job.status.as_ref().is_some_and(|s| s.conditions.is_some()) {
                continue;
            }
            let scheduled = job_annotation(&job, SCHEDULED).unwrap();
            let fire: Timestamp = scheduled.parse().unwrap();
            let created = job.metadata.creation_timestamp.as_ref().unwrap().0;
            assert_eq!(created, fire, "{name}: created at its fire time");
            assert_eq!(name, job_name("cj", fire), "C-50");
            seen.push(scheduled);
            env.finish_job(&name, "Complete", env.now(), env.now() + mins(1))
                .await;
            // C-32: the Job's update syncs the CronJob at once; it aims at the same time.
            let again = env.sync("cj").await;
            assert_eq!(again, Some(delay), "{name}");
            delay = again.unwrap();
        }
        for (_, reason, message) in env.take_events("cj").await {
            assert!(
                ["SuccessfulCreate", "SawCompletedJob", "SuccessfulDelete"]
                    .contains(&reason.as_str()),
                "{reason}: {message}"
            );
        }
        let next = env.now() + SignedDuration::try_from(delay).unwrap();
        if next > end {
            return seen;
        }
        env.set_now(next);
    }
}

#[tokio::test]
async fn berlin_0230_daily_from_march_to_november() {
    let env = Env::new().await;
    env.set_now(ts("2025-03-01T00:00:00Z"));
    env.create(
        "cj",
        json!({"schedule": "30 2 * * *", "timeZone": "Europe/Berlin"}),
    )
    .await;
    let seen = drive(&env, ts("2025-12-01T00:00:00Z")).await;
    let per_day = count_per_local_day(&seen);
    // 275 days; 02:30 does not exist on 30 March (C-16: robfig/cron skips it) and happens
    // twice on 26 October.
    assert_eq!(seen.len(), 275);
    assert_eq!(per_day.get("2025-03-30"), None);
    assert_eq!(per_day.get("2025-10-26"), Some(&2));
    assert!(
        per_day
            .iter()
            .filter(|(d, _)| **d != "2025-10-26")
            .all(|(_, n)| *n == 1)
    );
    let around = |from: &str, n: usize| -> Vec<&str> {
        let i = seen.iter().position(|s| s.starts_with(from)).unwrap();
        seen[i..i + n].iter().map(String::as_str).collect()
    };
    assert_eq!(
        around("2025-03-29", 2),
        vec!["2025-03-29T02:30:00+01:00", "2025-03-31T02:30:00+02:00"]
    );
    assert_eq!(
        around("2025-10-26", 3),
        vec![
            "2025-10-26T02:30:00+02:00",
            "2025-10-26T02:30:00+01:00",
            "2025-10-27T02:30:00+01:00"
        ]
    );
    // C-42: the default successfulJobsHistoryLimit of 3 kept the history short.
    assert_eq!(env.jobs().await.len(), 3);
    let cj = env.cronjob("cj").await;
    assert_eq!(last_schedule(&cj), Some(ts("2025-11-30T01:30:00Z")));
    assert!(active(&cj).is_empty());
    assert_eq!(
        cj_annotation(&cj, "kbatch.dev/next-schedule-time").as_deref(),
        Some("2025-12-01T02:30:00+01:00")
    );
}

#[tokio::test]
async fn new_york_hourly_across_both_changes() {
    for (from, to, day, runs) in [
        (
            "2025-03-08T00:00:00-05:00",
            "2025-03-10T12:00:00-04:00",
            "2025-03-09",
            23,
        ),
        (
            "2025-11-01T00:00:00-04:00",
            "2025-11-03T12:00:00-05:00",
            "2025-11-02",
            25,
        ),
    ] {
        let env = Env::new().await;
        env.set_now(ts(from));
        env.create(
            "cj",
            json!({"schedule": "0 * * * *", "timeZone": "America/New_York"}),
        )
        .await;
        let seen = drive(&env, ts(to)).await;
        let per_day = count_per_local_day(&seen);
        assert_eq!(per_day.get(day), Some(&runs), "{day}");
        // Every run is one hour after the previous one, in absolute time.
        let times: Vec<Timestamp> = seen.iter().map(|s| s.parse().unwrap()).collect();
        assert!(
            times
                .windows(2)
                .all(|w| w[1].duration_since(w[0]) == SignedDuration::from_hours(1))
        );
    }
}

#[tokio::test]
async fn every_descriptor_keeps_absolute_time_across_dst() {
    let env = Env::new().await;
    env.set_now(ts("2025-03-29T12:00:00+01:00"));
    env.create(
        "cj",
        json!({"schedule": "@every 24h", "timeZone": "Europe/Berlin"}),
    )
    .await;
    let seen = drive(&env, ts("2025-04-01T13:01:00+02:00")).await;
    assert_eq!(
        seen,
        vec![
            "2025-03-30T13:00:00+02:00",
            "2025-03-31T13:00:00+02:00",
            "2025-04-01T13:00:00+02:00"
        ],
        "C-13: 24h of absolute time, 13:00 local after the change"
    );
}

fn count_per_local_day(seen: &[String]) -> BTreeMap<&str, usize> {
    let mut per_day = BTreeMap::new();
    for s in seen {
        *per_day.entry(&s[..10]).or_insert(0) += 1;
    }
    per_day
}
