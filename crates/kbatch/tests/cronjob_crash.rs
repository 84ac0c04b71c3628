//! Exactly once per scheduled time, across crashes (issue 6): a real `kbatch server` is
//! SIGKILLed at random moments while 40 CronJobs are due, and restarted on the same data dir
//! each time. Afterwards every fire time ("slot") of every CronJob since its creation is
//! checked against what the API recorded:
//!
//! - at most one Job was ever created for a slot, named `<cronjob>-<minutes since the epoch>`
//!   (C-50), annotated with the slot in the CronJob's zone (C-51) and controlled by the
//!   CronJob; no Job for a time that is not a slot;
//! - a slot with no Job has a `SkippedSchedule` event naming it, and the spec's rules allow
//!   the skip: the server was down from before the slot until after the next one (only the
//!   most recent missed time starts, C-21), or, with startingDeadlineSeconds, until after the
//!   deadline (C-20); a slot that neither rule drops has its Job;
//! - a slot with a Job has no `SkippedSchedule` event;
//! - status.active names only Jobs of the CronJob, and a Job it does not name has an
//!   `UnexpectedJob` event (C-40: a Job created just before a kill is not adopted when the
//!   restarted server no longer has its slot due); status.lastScheduleTime is a slot with a
//!   Job and no earlier than any slot whose Job status.active names.
//!
//! The skip rules are applied to the outages the test measured (the moment the killed server
//! was reaped to the moment the next one was spawned), so they hold however the machine's
//! load moves the kills. Every Job event is followed across restarts by resuming the watch
//! from the last resourceVersion seen, so a Job that was created and later deleted would be
//! seen too.
//!
//! The run: the CronJobs (every minute in four zones, two with a startingDeadlineSeconds, one
//! every two minutes) are created, then about half the kills land around the first minute
//! boundary (some with the server down across it, some for longer than the deadlines), a few
//! during the quiet part of the minute, then one outage spans the next two boundaries (two
//! missed slots: only the second starts), and the rest land right after that outage, while
//! the missed slots are caught up. Whole run: 2.5 to 3.5 minutes.
//!
//! `KBATCH_CRON_CRASH_KILLS` sets the number of kills (default 32); `KBATCH_CRON_CRASH_SEED`
//! replays the random kill moments a failed run printed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::Server;
use jiff::{SignedDuration, Timestamp};
use kbatch_schedule::{Instant, Schedule, Zone};
use serde_json::{Value, json};

/// Generous: the machine is shared and slow at times.
const PATIENCE: Duration = Duration::from_secs(180);
/// The Jobs are suspended and no pod ever runs, so the server needs no node.
const SERVER_ARGS: &[&str] = &["--no-agent"];
const CRONJOBS_PATH: &str = "/apis/batch/v1/namespaces/default/cronjobs";
const JOBS_PATH: &str = "/apis/batch/v1/namespaces/default/jobs";
const EVENTS_PATH: &str = "/api/v1/namespaces/default/events";
/// The label of every Job of the test (from the job templates), for the watch.
const LABEL: &str = "cron-crash";
const SCHEDULED: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
const CRONJOBS_PER_FLAVOUR: usize = 8;

/// One kind of CronJob of the run: schedule, spec.timeZone, startingDeadlineSeconds.
struct Flavour {
    schedule: &'static str,
    zone: Option<&'static str>,
    deadline: Option<i64>,
}

const FLAVOURS: [Flavour; 5] = [
    Flavour {
        schedule: "* * * * *",
        zone: None,
        deadline: None,
    },
    Flavour {
        schedule: "*/1 * * * *",
        zone: Some("Asia/Kolkata"),
        deadline: None,
    },
    Flavour {
        schedule: "* * * * *",
        zone: Some("America/New_York"),
        deadline: Some(3),
    },
    Flavour {
        schedule: "0-59 * * * *",
        zone: Some("Europe/Berlin"),
        deadline: Some(10),
    },
    Flavour {
        schedule: "*/2 * * * *",
        zone: Some("Australia/Lord_Howe"),
        deadline: None,
    },
];

/// xorshift64*: the kill moments, reproducible from the seed a run prints.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("KBATCH_CRON_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| Timestamp::now().as_nanosecond() as u64)
            | 1;
        eprintln!("KBATCH_CRON_CRASH_SEED={seed}");
        Rng(seed)
    }

    /// Uniform enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }

    fn millis(&mut self, from: u64, to: u64) -> SignedDuration {
        SignedDuration::from_millis((from + self.below(to - from)) as i64)
    }
}

fn kills() -> u64 {
    std::env::var("KBATCH_CRON_CRASH_KILLS")
        .ok()
        .map(|s| s.parse().expect("KBATCH_CRON_CRASH_KILLS: a number"))
        .unwrap_or(32)
        .max(4)
}

fn get(s: &Server, path: &str) -> Value {
    let (code, body, err) = s.curl("GET", path, &[], None, true);
    assert_eq!(code, 200, "GET {path}: {body}{err}");
    serde_json::from_str(&body).unwrap()
}

fn post(s: &Server, path: &str, object: &Value) -> Value {
    let body = object.to_string();
    let (code, out, err) = s.curl(
        "POST",
        path,
        &["Content-Type: application/json"],
        Some(body.as_bytes()),
        true,
    );
    assert_eq!(code, 201, "POST {path}: {out}{err}");
    serde_json::from_str(&out).unwrap()
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

fn sleep_until(at: Timestamp) {
    let left = at.duration_since(Timestamp::now());
    if left.is_positive() {
        std::thread::sleep(left.unsigned_abs());
    }
}

/// The next minute boundary at or after `t`.
fn boundary_at_or_after(t: Timestamp) -> Timestamp {
    let s = t.as_second();
    let next = if s % 60 == 0 && t.subsec_nanosecond() == 0 {
        s
    } else {
        (s.div_euclid(60) + 1) * 60
    };
    Timestamp::from_second(next).unwrap()
}

/// The Job watch, followed across server restarts: each server gets a new watch that resumes
/// from the last resourceVersion the previous one delivered, so no change is missed.
struct JobWatch {
    seen: Arc<Mutex<Vec<Value>>>,
    error: Arc<Mutex<Option<Value>>>,
    resource_version: String,
    stream: Option<(Child, JoinHandle<()>)>,
}

impl JobWatch {
    fn follow(s: &Server) -> JobWatch {
        let list = get(s, &format!("{JOBS_PATH}?labelSelector={LABEL}"));
        let mut watch = JobWatch {
            seen: Arc::default(),
            error: Arc::default(),
            resource_version: list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_owned(),
            stream: None,
        };
        watch.attach(s);
        watch
    }

    fn attach(&mut self, s: &Server) {
        let last = self.seen.lock().unwrap().last().map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_owned()
        });
        if let Some(rv) = last {
            self.resource_version = rv;
        }
        let mut child = Command::new("curl")
            .args(["-sSN", "--cacert"])
            .arg(s.ca_path())
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", s.token()))
            .arg(format!(
                "{}{JOBS_PATH}?watch=true&labelSelector={LABEL}&resourceVersion={}",
                s.url, self.resource_version
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run curl");
        let out = BufReader::new(child.stdout.take().unwrap());
        let seen = self.seen.clone();
        let error = self.error.clone();
        let reader = std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                // A line cut short by the kill is not an event; the next watch resends it.
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if event["type"] == "ERROR" {
                    *error.lock().unwrap() = Some(event);
                    break;
                }
                seen.lock().unwrap().push(event);
            }
        });
        self.stream = Some((child, reader));
    }

    /// After the server died: curl sees the closed connection and exits.
    fn detach(&mut self) {
        if let Some((mut child, reader)) = self.stream.take() {
            let _ = child.wait();
            reader.join().expect("watch reader");
        }
    }

    /// Every event up to a sentinel Job created now: the watch delivers in revision order, so
    /// once the sentinel is seen, every change made before it has been.
    fn finish(mut self, s: &Server) -> Vec<Value> {
        let sentinel = "cron-crash-sentinel";
        post(
            s,
            JOBS_PATH,
            &json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": sentinel, "labels": {LABEL: "sentinel"}},
                "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}},
            }),
        );
        wait_until("the Job watch to deliver the sentinel", || {
            if let Some(error) = self.error.lock().unwrap().as_ref() {
                panic!("the Job watch failed: {error}");
            }
            self.seen
                .lock()
                .unwrap()
                .iter()
                .any(|e| name(&e["object"]) == sentinel)
        });
        let (mut child, reader) = self.stream.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        reader.join().expect("watch reader");
        let events = std::mem::take(&mut *self.seen.lock().unwrap());
        events
            .into_iter()
            .filter(|e| name(&e["object"]) != sentinel)
            .collect()
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The server being killed and restarted, with the outages it went through.
struct Run {
    server: Option<Server>,
    watch: JobWatch,
    /// (reaped, respawned): no server ran in between.
    outages: Vec<(Timestamp, Timestamp)>,
    kills: u64,
}

impl Run {
    fn start() -> Run {
        let server = Server::start_with(SERVER_ARGS);
        let watch = JobWatch::follow(&server);
        Run {
            server: Some(server),
            watch,
            outages: Vec::new(),
            kills: 0,
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    /// SIGKILLs the server, keeps it down for `down`, starts it again on the same data dir.
    fn crash(&mut self, down: SignedDuration) {
        let dir = self.server.take().unwrap().stop();
        let reaped = Timestamp::now();
        self.watch.detach();
        self.kills += 1;
        sleep_until(reaped + down);
        let respawned = Timestamp::now();
        self.outages.push((reaped, respawned));
        let server = Server::start_in(dir, SERVER_ARGS);
        self.watch.attach(&server);
        self.server = Some(server);
    }
}

/// An outage: mostly short, sometimes longer than a deadline of 3s.
fn outage_length(rng: &mut Rng) -> SignedDuration {
    match rng.below(100) {
        0..55 => rng.millis(0, 300),
        55..85 => rng.millis(300, 2_000),
        _ => rng.millis(2_000, 6_000),
    }
}

/// Kills at the given moments (sorted); a moment already past when the server is back is
/// replaced by a short random pause, so the kill still lands somewhere in the new server's
/// start-up.
fn kill_at(run: &mut Run, rng: &mut Rng, mut moments: Vec<Timestamp>) {
    moments.sort();
    for at in moments {
        let at = at.max(Timestamp::now() + rng.millis(0, 400));
        sleep_until(at);
        let down = outage_length(rng);
        run.crash(down);
    }
}

/// `n` random moments in [from, to).
fn moments(rng: &mut Rng, from: Timestamp, to: Timestamp, n: u64) -> Vec<Timestamp> {
    let span = to.duration_since(from).as_millis().max(1) as u64;
    (0..n)
        .map(|_| from + SignedDuration::from_millis(rng.below(span) as i64))
        .collect()
}

/// One CronJob of the run, as created.
struct Cron {
    name: String,
    uid: String,
    schedule: Schedule,
    zone: Zone,
    deadline: Option<i64>,
    created: Instant,
}

impl Cron {
    /// Its fire times after its creation, up to `until`.
    fn slots(&self, until: Timestamp) -> Vec<Instant> {
        let until = Instant::from(until);
        std::iter::successors(self.schedule.next(self.created, &self.zone), |t| {
            self.schedule.next(*t, &self.zone)
        })
        .take_while(|t| *t <= until)
        .collect()
    }

    fn next(&self, slot: Instant) -> Instant {
        self.schedule.next(slot, &self.zone).expect("fires again")
    }

    fn job_name(&self, slot: Instant) -> String {
        format!("{}-{}", self.name, slot.unix_seconds() / 60)
    }
}

fn create_cronjobs(s: &Server) -> Vec<Cron> {
    let mut crons = Vec::new();
    for (f, flavour) in FLAVOURS.iter().enumerate() {
        for i in 0..CRONJOBS_PER_FLAVOUR {
            let name = format!("crash-{f}-{i}");
            let mut spec = json!({
                "schedule": flavour.schedule,
                "concurrencyPolicy": "Allow",
                "jobTemplate": {
                    "metadata": {"labels": {LABEL: name}},
                    // Suspended: the Jobs never run a pod, so they never finish and no
                    // history limit deletes them; every Job ever created stays listed.
                    "spec": {"suspend": true, "template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                    }}},
                },
            });
            if let Some(zone) = flavour.zone {
                spec["timeZone"] = json!(zone);
            }
            if let Some(deadline) = flavour.deadline {
                spec["startingDeadlineSeconds"] = json!(deadline);
            }
            let created = post(
                s,
                CRONJOBS_PATH,
                &json!({"apiVersion": "batch/v1", "kind": "CronJob",
                        "metadata": {"name": name}, "spec": spec}),
            );
            let at: Timestamp = created["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            crons.push(Cron {
                uid: created["metadata"]["uid"].as_str().unwrap().to_owned(),
                name,
                schedule: kbatch_schedule::parse(flavour.schedule).unwrap(),
                zone: kbatch_schedule::zone(flavour.zone.unwrap_or("")).unwrap(),
                deadline: flavour.deadline,
                created: Instant::from(at),
            });
        }
    }
    crons
}

/// A `SkippedSchedule` event about one slot.
struct Skip {
    cronjob: String,
    slot: Instant,
    why: String,
}

/// The `SkippedSchedule` events that name one slot each ("for now" ones excepted: they
/// announce that a slot is held back, not that it is skipped).
fn skips(s: &Server) -> Vec<Skip> {
    items(&get(s, EVENTS_PATH))
        .iter()
        .filter(|e| e["reason"] == "SkippedSchedule" && e["involvedObject"]["kind"] == "CronJob")
        .filter_map(|e| {
            let message = e["message"].as_str()?;
            let (at, why) = message
                .strip_prefix("Skipped scheduled time ")?
                .split_once(": ")?;
            if at.ends_with(" for now") {
                return None;
            }
            Some(Skip {
                cronjob: e["involvedObject"]["name"].as_str()?.to_owned(),
                slot: at
                    .parse()
                    .unwrap_or_else(|_| panic!("a time in {message:?}")),
                why: why.to_owned(),
            })
        })
        .collect()
}

/// (CronJob, Job) of every `UnexpectedJob` event (C-40).
fn unexpected_jobs(s: &Server) -> BTreeSet<(String, String)> {
    items(&get(s, EVENTS_PATH))
        .iter()
        .filter(|e| e["reason"] == "UnexpectedJob" && e["involvedObject"]["kind"] == "CronJob")
        .filter_map(|e| {
            let job = e["message"]
                .as_str()?
                .strip_prefix("Saw a job that the controller did not create or forgot: ")?;
            Some((
                e["involvedObject"]["name"].as_str()?.to_owned(),
                job.to_owned(),
            ))
        })
        .collect()
}

/// The slots up to `until` that have neither a Job nor a `SkippedSchedule` event, as
/// `<cronjob> <slot>`.
fn unaccounted(s: &Server, crons: &[Cron], until: Timestamp) -> Vec<String> {
    let jobs: BTreeSet<String> = items(&get(s, &format!("{JOBS_PATH}?labelSelector={LABEL}")))
        .iter()
        .map(|j| name(j).to_owned())
        .collect();
    let skipped: BTreeSet<(String, Instant)> =
        skips(s).into_iter().map(|k| (k.cronjob, k.slot)).collect();
    let mut missing = Vec::new();
    for c in crons {
        for slot in c.slots(until) {
            if !jobs.contains(&c.job_name(slot)) && !skipped.contains(&(c.name.clone(), slot)) {
                missing.push(format!("{} {}", c.name, slot.rfc3339(&c.zone)));
            }
        }
    }
    missing
}

/// Waits (with [`PATIENCE`]) until every slot up to `until` is accounted for; returns the
/// ones that are not if it runs out of patience.
fn settle(s: &Server, crons: &[Cron], until: Timestamp) -> Vec<String> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let missing = unaccounted(s, crons, until);
        if missing.is_empty() || std::time::Instant::now() > deadline {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until every slot up to the last boundary passed is accounted for, then returns the
/// next boundary if at least 6 s are left before it; otherwise waits on.
fn settle_before_next_boundary(run: &Run, crons: &[Cron]) -> Timestamp {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let now = Timestamp::now();
        let next = boundary_at_or_after(now);
        let last = next - SignedDuration::from_secs(60);
        let missing = unaccounted(run.server(), crons, last);
        if missing.is_empty()
            && next.duration_since(Timestamp::now()) >= SignedDuration::from_secs(6)
        {
            return next;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for the slots up to {last} to get a Job or a SkippedSchedule \
             event; still without: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_slot_once_across_server_kills() {
    let mut rng = Rng::new();
    let total = kills();
    let (storm1, quiet, storm2) = (total * 9 / 16, (total / 16).max(1), total);
    let storm2 = storm2 - storm1 - quiet - 1;
    let mut run = Run::start();
    let crons = create_cronjobs(run.server());

    // Around the first boundary: half the kills within a few seconds of it (the server down
    // across it, or killed while it creates the Jobs), the other half while it catches up.
    let b1 = boundary_at_or_after(Timestamp::now() + SignedDuration::from_secs(5));
    let secs = SignedDuration::from_secs;
    let mut at = moments(&mut rng, b1 - secs(2), b1 + secs(3), storm1 / 2);
    at.extend(moments(
        &mut rng,
        b1 + secs(3),
        b1 + secs(12),
        storm1 - storm1 / 2,
    ));
    kill_at(&mut run, &mut rng, at);
    let quiet_at = moments(&mut rng, b1 + secs(14), b1 + secs(40), quiet);
    kill_at(&mut run, &mut rng, quiet_at);

    // Two boundaries missed in one outage: only the later slot starts (C-21).
    let b2 = settle_before_next_boundary(&run, &crons);
    sleep_until(b2 - rng.millis(1_000, 4_000));
    let back = b2 + secs(60) + rng.millis(500, 6_000);
    run.crash(back.duration_since(Timestamp::now()));

    // The rest while the missed slots are caught up and just after.
    let now = Timestamp::now();
    let at = moments(&mut rng, now, now.max(back + secs(15)), storm2);
    kill_at(&mut run, &mut rng, at);

    let window = boundary_at_or_after(Timestamp::now()) - secs(60);
    // A slot still unaccounted for after this is reported by `check` as lost.
    settle(run.server(), &crons, window);
    let s = run.server.take().unwrap();
    let recorded = Recorded {
        cronjobs: items(&get(&s, CRONJOBS_PATH)),
        jobs: items(&get(&s, &format!("{JOBS_PATH}?labelSelector={LABEL}"))),
        skipped: skips(&s),
        unexpected: unexpected_jobs(&s),
        job_events: run.watch.finish(&s),
    };
    let problems = check(&crons, window, &run.outages, &recorded);
    let outages: Vec<String> = run
        .outages
        .iter()
        .map(|(from, to)| format!("{from} .. {to}"))
        .collect();
    assert!(
        problems.is_empty(),
        "{} problems after {} kills (seed above; outages:\n{}):\n{}",
        problems.len(),
        run.kills,
        outages.join("\n"),
        problems.join("\n")
    );
    eprintln!(
        "{} kills, {} CronJobs, {} Jobs, {} skipped slots, slots up to {window}",
        run.kills,
        crons.len(),
        recorded.jobs.len(),
        recorded.skipped.len()
    );
}

/// What the API recorded, read once the run is over.
struct Recorded {
    cronjobs: Vec<Value>,
    /// The Jobs listed at the end.
    jobs: Vec<Value>,
    skipped: Vec<Skip>,
    unexpected: BTreeSet<(String, String)>,
    /// Every Job watch event of the run.
    job_events: Vec<Value>,
}

/// The checks of the module's doc against what the API recorded; one line per problem.
fn check(
    crons: &[Cron],
    window: Timestamp,
    outages: &[(Timestamp, Timestamp)],
    recorded: &Recorded,
) -> Vec<String> {
    let Recorded {
        cronjobs,
        jobs,
        skipped,
        unexpected,
        job_events: events,
    } = recorded;
    let mut problems = Vec::new();
    // Every Job ever created (by uid), from the watch.
    let mut created: BTreeMap<String, Value> = BTreeMap::new();
    for event in events {
        let job = &event["object"];
        let uid = job["metadata"]["uid"].as_str().unwrap_or("").to_owned();
        created.entry(uid).or_insert_with(|| job.clone());
    }
    let listed: BTreeSet<&str> = jobs
        .iter()
        .filter_map(|j| j["metadata"]["uid"].as_str())
        .collect();
    for uid in created.keys() {
        if !listed.contains(uid.as_str()) {
            problems.push(format!(
                "job {} (uid {uid}) was deleted",
                name(&created[uid])
            ));
        }
    }
    let dark = |from: Instant, to: Instant| {
        outages
            .iter()
            .any(|(down, up)| Instant::from(*down) <= from && to <= Instant::from(*up))
    };
    for c in crons {
        let mine: Vec<&Value> = created
            .values()
            .filter(|j| {
                j["metadata"]["ownerReferences"]
                    .as_array()
                    .and_then(|r| r.first())
                    .is_some_and(|r| r["name"] == c.name.as_str())
            })
            .collect();
        let slots = c.slots(window);
        // The Jobs by slot, from their annotation; each Job is checked on its own first.
        let mut by_slot: BTreeMap<Instant, Vec<&str>> = BTreeMap::new();
        for job in &mine {
            let job_name = name(job);
            let owner = &job["metadata"]["ownerReferences"][0];
            if owner["uid"] != c.uid.as_str() || owner["controller"] != true {
                problems.push(format!(
                    "{job_name}: not controlled by {} ({owner})",
                    c.name
                ));
            }
            let Some(stamp) = job["metadata"]["annotations"][SCHEDULED].as_str() else {
                problems.push(format!("{job_name}: no {SCHEDULED} annotation"));
                continue;
            };
            let Ok(slot) = stamp.parse::<Instant>() else {
                problems.push(format!("{job_name}: {SCHEDULED} {stamp:?} is not a time"));
                continue;
            };
            if stamp != slot.rfc3339(&c.zone).to_string() {
                problems.push(format!(
                    "{job_name}: {SCHEDULED} is {stamp}, not the slot in {}",
                    c.zone.name()
                ));
            }
            if job_name != c.job_name(slot) {
                problems.push(format!("{job_name}: the Job of slot {stamp} is misnamed"));
            }
            let is_slot = c.schedule.next(
                Instant::from_unix(slot.unix_seconds() - 1, 0).unwrap(),
                &c.zone,
            ) == Some(slot)
                && slot > c.created;
            if !is_slot {
                problems.push(format!("{job_name}: {stamp} is not a slot of {}", c.name));
            }
            by_slot.entry(slot).or_default().push(job_name);
        }
        let skips: BTreeMap<Instant, &str> = skipped
            .iter()
            .filter(|k| k.cronjob == c.name)
            .map(|k| (k.slot, k.why.as_str()))
            .collect();
        for (slot, why) in &skips {
            if !(*slot > c.created
                && c.schedule.next(
                    Instant::from_unix(slot.unix_seconds() - 1, 0).unwrap(),
                    &c.zone,
                ) == Some(*slot))
            {
                problems.push(format!(
                    "{}: SkippedSchedule for {}, not a slot ({why})",
                    c.name,
                    slot.rfc3339(&c.zone)
                ));
            }
        }
        for slot in slots {
            let at = slot.rfc3339(&c.zone).to_string();
            let jobs = by_slot.get(&slot).map(Vec::as_slice).unwrap_or(&[]);
            let skip = skips.get(&slot).copied();
            // C-21: down from before the slot until after the next one.
            let superseded = dark(slot, c.next(slot));
            // C-20: down from before the slot until after its deadline.
            let too_late = c.deadline.is_some_and(|d| {
                outages.iter().any(|(down, up)| {
                    Instant::from(*down) <= slot
                        && Instant::from(*up - SignedDuration::from_secs(d)) > slot
                })
            });
            match (jobs, skip) {
                ([_, _, ..], _) => {
                    problems.push(format!("{} {at}: {} Jobs: {jobs:?}", c.name, jobs.len()))
                }
                ([job], Some(why)) => problems.push(format!(
                    "{} {at}: Job {job} and a SkippedSchedule event ({why})",
                    c.name
                )),
                ([job], None) if superseded || too_late => problems.push(format!(
                    "{} {at}: Job {job}, but the server was down from before the slot until \
                     after {}",
                    c.name,
                    if superseded {
                        "the next one"
                    } else {
                        "its deadline"
                    }
                )),
                ([_], None) => {}
                ([], None) => problems.push(format!(
                    "{} {at}: no Job and no SkippedSchedule event: silently lost",
                    c.name
                )),
                ([], Some(why)) => {
                    let deadline_skip = why.starts_with("missed by more than");
                    let allowed = superseded || too_late || (c.deadline.is_some() && deadline_skip);
                    if !allowed {
                        problems.push(format!(
                            "{} {at}: skipped ({why}) though the server ran between it and the \
                             next slot{}",
                            c.name,
                            if c.deadline.is_some() {
                                " and the skip is not the deadline's"
                            } else {
                                ""
                            }
                        ));
                    }
                }
            }
        }
        // The status as the last sync left it.
        let Some(cj) = cronjobs.iter().find(|cj| name(cj) == c.name) else {
            problems.push(format!("{}: gone", c.name));
            continue;
        };
        let active: Vec<&Value> = cj["status"]["active"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for entry in &active {
            let uid = entry["uid"].as_str().unwrap_or("");
            if !mine.iter().any(|j| j["metadata"]["uid"] == uid) {
                problems.push(format!(
                    "{}: status.active names {entry}, not one of its Jobs",
                    c.name
                ));
            }
        }
        // C-40: a Job the status does not list (created just before a kill, and the restarted
        // server no longer had its slot due, so C-27 did not adopt it) is reported as
        // unexpected, never silently forgotten.
        for job in &mine {
            let listed = active.iter().any(|e| e["uid"] == job["metadata"]["uid"]);
            if !listed && !unexpected.contains(&(c.name.clone(), name(job).to_owned())) {
                problems.push(format!(
                    "{}: neither in status.active nor reported as UnexpectedJob",
                    name(job)
                ));
            }
        }
        // lastScheduleTime is a slot with a Job, no earlier than any slot whose Job the
        // status lists.
        let last: Option<Instant> = cj["status"]["lastScheduleTime"]
            .as_str()
            .and_then(|t| t.parse().ok());
        let listed = by_slot
            .iter()
            .filter(|(_, jobs)| {
                jobs.iter()
                    .any(|job| active.iter().any(|e| e["name"] == *job))
            })
            .map(|(slot, _)| *slot)
            .next_back();
        let show = |t: Option<Instant>| t.and_then(Instant::to_jiff).map(|t| t.to_string());
        if last.is_some_and(|last| last <= Instant::from(window) && !by_slot.contains_key(&last))
            || last < listed
        {
            problems.push(format!(
                "{}: lastScheduleTime {:?}, the latest slot whose Job status.active lists {:?}, \
                 slots with a Job {:?}",
                c.name,
                show(last),
                show(listed),
                by_slot.keys().map(|s| show(Some(*s))).collect::<Vec<_>>()
            ));
        }
    }
    problems
}
