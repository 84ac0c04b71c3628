//! CronJobs for real: the real kubectl against a real server whose CronJob controller creates
//! Jobs on schedule (cronjob.md rules cited where a check pins one).

mod common;

use std::time::Duration;

use common::{Server, have_kubectl};

const LONG: Duration = Duration::from_secs(90);

fn server() -> Option<Server> {
    have_kubectl().then(|| Server::start_with(&["--backoff-base", "1s"]))
}

fn cronjob(name: &str, schedule: &str, policy: &str, command: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}}}
spec:
  schedule: '{schedule}'
  concurrencyPolicy: {policy}
  successfulJobsHistoryLimit: 2
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: work
            image: busybox
            command: [sh, -c, '{command}']
"
    )
}

fn jobs_of(s: &Server, cronjob: &str) -> Vec<String> {
    let out = s.ok(&[
        "get",
        "jobs",
        "-o",
        &format!(
            "jsonpath={{range .items[?(@.metadata.ownerReferences[0].name==\"{cronjob}\")]}}{{.metadata.name}}{{\"\\n\"}}{{end}}"
        ),
    ]);
    out.lines().map(str::to_owned).collect()
}

#[test]
fn every_minute_creates_the_slots_job_with_its_name_and_annotation() {
    let Some(s) = server() else { return };
    s.ok_stdin(
        &["apply", "-f", "-"],
        &cronjob("minutely", "* * * * *", "Allow", "echo tick"),
    );
    let table = s.ok(&["get", "cronjobs"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"
        ]
    );
    // kbatch.dev/next-schedule-time, shown by -o wide.
    let wide = s.wait_for(&["get", "cronjob", "minutely", "-o", "wide"], LONG, |o| {
        o.lines()
            .nth(1)
            .is_some_and(|l| !l.trim_end().ends_with("<none>"))
    });
    assert!(
        wide.lines().next().unwrap().contains("NEXT SCHEDULE"),
        "{wide}"
    );
    let jobs = s.wait_for(&["get", "jobs", "-o", "name"], LONG, |o| {
        !o.trim().is_empty()
    });
    let name = jobs
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("job.batch/")
        .to_owned();
    // C-50: <cronjob>-<minutes since the epoch>; C-51: the scheduled time annotation.
    let minutes: i64 = name.strip_prefix("minutely-").unwrap().parse().unwrap();
    let stamp = s.ok(&[
        "get",
        "job",
        &name,
        "-o",
        "jsonpath={.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp}",
    ]);
    let at: jiff::Timestamp = stamp.parse().unwrap();
    assert_eq!(at.as_second(), minutes * 60, "{stamp}");
    s.ok(&[
        "wait",
        "--for=condition=complete",
        &format!("job/{name}"),
        "--timeout=60s",
    ]);
    let last = s.wait_for(
        &[
            "get",
            "cronjob",
            "minutely",
            "-o",
            "jsonpath={.status.lastScheduleTime}",
        ],
        LONG,
        |o| !o.is_empty(),
    );
    assert_eq!(last.parse::<jiff::Timestamp>().unwrap(), at);
    let d = s.ok(&["describe", "cronjob", "minutely"]);
    assert!(
        d.contains("SuccessfulCreate") && d.contains(&format!("Created job {name}")),
        "{d}"
    );
}

#[test]
fn forbid_replace_history_suspend_and_run_now() {
    let Some(s) = server() else { return };
    // Forbid: a long run blocks the next slots (C-25).
    s.ok_stdin(
        &["apply", "-f", "-"],
        &cronjob("forbid", "@every 2s", "Forbid", "sleep 300"),
    );
    s.wait_for(
        &[
            "get",
            "cronjob",
            "forbid",
            "-o",
            "jsonpath={.status.active[*].name}",
        ],
        LONG,
        |o| !o.is_empty(),
    );
    s.wait_for(&["describe", "cronjob", "forbid"], LONG, |d| {
        d.contains("JobAlreadyActive")
    });
    assert_eq!(jobs_of(&s, "forbid").len(), 1);
    s.ok(&[
        "patch",
        "cronjob",
        "forbid",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);

    // Replace: each slot deletes the running Job (C-26).
    s.ok_stdin(
        &["apply", "-f", "-"],
        &cronjob("replace", "@every 2s", "Replace", "sleep 300"),
    );
    let first = s.wait_for(
        &[
            "get",
            "cronjob",
            "replace",
            "-o",
            "jsonpath={.status.active[0].name}",
        ],
        LONG,
        |o| !o.is_empty(),
    );
    let second = s.wait_for(
        &[
            "get",
            "cronjob",
            "replace",
            "-o",
            "jsonpath={.status.active[0].name}",
        ],
        LONG,
        |o| !o.is_empty() && o != first,
    );
    assert_ne!(first, second);
    s.wait_for(&["get", "jobs", "-o", "name"], LONG, |o| {
        !o.contains(&format!("job.batch/{first}\n"))
    });
    s.ok(&[
        "patch",
        "cronjob",
        "replace",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);

    // History: only the newest successfulJobsHistoryLimit finished Jobs stay (C-42).
    s.ok_stdin(
        &["apply", "-f", "-"],
        &cronjob("quick", "@every 1s", "Allow", "true"),
    );
    s.wait_for(
        &[
            "get",
            "cronjob",
            "quick",
            "-o",
            "jsonpath={.status.lastSuccessfulTime}",
        ],
        LONG,
        |o| !o.is_empty(),
    );
    std::thread::sleep(Duration::from_secs(6));
    s.ok(&[
        "patch",
        "cronjob",
        "quick",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    std::thread::sleep(Duration::from_secs(3));
    let kept = jobs_of(&s, "quick");
    assert!(kept.len() <= 3, "{kept:?}");

    // Suspended: no new Jobs (C-23(d)); run-now still starts one, once per value.
    let before = jobs_of(&s, "quick").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(jobs_of(&s, "quick").len(), before);
    s.ok(&[
        "annotate",
        "cronjob",
        "quick",
        "kbatch.dev/run-now=1",
        "--overwrite",
    ]);
    let manual = s.wait_for(
        &["get", "jobs", "-o", "jsonpath={range .items[?(@.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate==\"manual\")]}{.metadata.name}{\"\\n\"}{end}"],
        LONG,
        |o| !o.trim().is_empty(),
    );
    assert_eq!(manual.lines().count(), 1, "{manual}");

    // kubectl create job --from=cronjob works against a controller-run CronJob too.
    s.ok(&["create", "job", "by-hand", "--from=cronjob/quick"]);
    s.ok(&[
        "wait",
        "--for=condition=complete",
        "job/by-hand",
        "--timeout=60s",
    ]);
}
