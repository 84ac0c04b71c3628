//! When a CronJob is due: `mostRecentScheduleTime` and `nextScheduleTimeDuration` of
//! `pkg/controller/cronjob/utils.go` (C-20…C-22, C-30), with Go's `time.Time` and
//! `time.Duration` arithmetic (saturating `Sub`, wrapping integer products, `Round`,
//! `Seconds` as a float) so that the rough count of missed runs, and the quirks it causes
//! (C-21a), come out as they do in Kubernetes.

use std::time::Duration;

use kbatch_schedule::{Instant, Schedule, Zone};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// `nextScheduleDelta`: Kubernetes requeues a CronJob this long after its next fire time
/// (C-30), so its sync never runs a little before the fire time. kbatch's server uses no
/// delta: a sync that runs early finds nothing due and requeues for what is left, so firing
/// at the instant costs at most one extra sync and keeps the 100 ms out of every Job's start.
pub const KUBERNETES_REQUEUE_DELTA: Duration = Duration::from_millis(100);

/// More missed start times than this raise `TooManyMissedTimes` (C-22).
const MANY_MISSED: i64 = 100;

/// `missedSchedulesType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Missed {
    None,
    Few,
    Many,
}

/// The result of `mostRecentScheduleTime`.
#[derive(Debug, Clone, Copy)]
pub(super) struct MostRecent {
    /// lastScheduleTime or the creation time, clipped by the deadline when asked (C-20).
    pub earliest: Instant,
    /// The fire time to start now, if the walk found one (C-21).
    pub due: Option<Instant>,
    pub missed: Missed,
}

/// C-21: two consecutive fire times less than a second apart (a schedule that never fires).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("time difference between two schedules is less than 1 second")]
pub(super) struct IntervalError;

/// A CronJob's schedule with the instants its due times are computed from.
#[derive(Debug, Clone)]
pub(super) struct Timeline {
    pub schedule: Schedule,
    /// The zone the schedule is evaluated in (`formatSchedule`: spec.timeZone, or UTC when
    /// the schedule carries its own `TZ=` or the field is unset).
    pub zone: Zone,
    pub created: Instant,
    pub last_schedule: Option<Instant>,
    pub starting_deadline: Option<i64>,
}

impl Timeline {
    fn next(&self, after: Instant) -> Instant {
        self.schedule.next_go(after, &self.zone)
    }

    /// `mostRecentScheduleTime` (C-20, C-21, C-22). With `with_deadline`, earliest is clipped
    /// to now − startingDeadlineSeconds, as when deciding whether to start a job.
    pub fn most_recent(
        &self,
        now: Instant,
        with_deadline: bool,
    ) -> Result<MostRecent, IntervalError> {
        let mut earliest = self.last_schedule.unwrap_or(self.created);
        if with_deadline && let Some(deadline) = self.deadline_cutoff(now) {
            earliest = earliest.max(deadline);
        }
        let t1 = self.next(earliest);
        let t2 = self.next(t1);
        let none = |due| MostRecent {
            earliest,
            due,
            missed: Missed::None,
        };
        if now < t1 {
            return Ok(none(None));
        }
        if now < t2 {
            return Ok(none(Some(t1)));
        }
        // `int64(t2.Sub(t1).Round(time.Second).Seconds())`
        let interval = go_seconds(round_to_second(go_sub(t2, t1))) as i64;
        if interval < 1 {
            return Err(IntervalError);
        }
        let elapsed = go_seconds(go_sub(now, t1)) as i64;
        let missed = elapsed / interval + 1;
        // C-21a: the walk starts missed−2 first-gap intervals after t1, so schedules with
        // irregular gaps can walk past every missed time.
        let offset = (missed - 2)
            .wrapping_mul(interval)
            .wrapping_mul(NANOS_PER_SECOND);
        let mut due = None;
        let mut t = self.schedule.next(add_nanos(t1, offset), &self.zone);
        // Go keeps walking from its zero time when Next finds nothing within five years,
        // which never ends; a schedule that stops firing ends the walk here.
        while let Some(at) = t
            && at <= now
        {
            due = Some(at);
            t = self.schedule.next(at, &self.zone);
        }
        Ok(MostRecent {
            earliest,
            due,
            missed: if missed > MANY_MISSED {
                Missed::Many
            } else {
                Missed::Few
            },
        })
    }

    /// now − startingDeadlineSeconds: nothing at or before it is started (C-20).
    pub fn deadline_cutoff(&self, now: Instant) -> Option<Instant> {
        let seconds = self.starting_deadline?;
        Some(add_nanos(now, (-NANOS_PER_SECOND).wrapping_mul(seconds)))
    }

    /// C-23(g): the due time plus startingDeadlineSeconds is before now.
    pub fn too_late(&self, due: Instant, now: Instant) -> bool {
        self.starting_deadline
            .is_some_and(|seconds| add_nanos(due, NANOS_PER_SECOND.wrapping_mul(seconds)) < now)
    }

    /// The fire time the next sync aims at (C-30): Next of the most recent fire time at or
    /// before now computed without the deadline; of earliest when nothing was missed; of now
    /// when the walk found nothing or the schedule is invalid. None where robfig/cron
    /// returns its zero time.
    pub fn next_fire(&self, now: Instant) -> Option<Instant> {
        let base = match self.most_recent(now, false) {
            Err(IntervalError) => now,
            Ok(MostRecent { due: Some(due), .. }) => due,
            Ok(MostRecent {
                due: None,
                missed: Missed::None,
                earliest,
            }) => earliest,
            Ok(MostRecent { due: None, .. }) => now,
        };
        self.schedule.next(base, &self.zone)
    }

    /// `nextScheduleTimeDuration` (C-30) as an instant: the next fire time plus `delta`
    /// (Kubernetes: [`KUBERNETES_REQUEUE_DELTA`]). Where robfig/cron finds no next fire time,
    /// Go's zero time: long past, so the queue takes it as now.
    pub fn requeue_at(&self, now: Instant, delta: Duration) -> Instant {
        let next = self.next_fire(now).unwrap_or(Instant::GO_ZERO);
        add_nanos(next, i64::try_from(delta.as_nanos()).unwrap_or(i64::MAX))
    }

    /// The fire times in (after, until], oldest first.
    pub fn fire_times(&self, after: Instant, until: Instant) -> impl Iterator<Item = Instant> {
        std::iter::successors(self.schedule.next(after, &self.zone), |t| {
            self.schedule.next(*t, &self.zone)
        })
        .take_while(move |t| *t <= until)
    }
}

/// How long from `now` until `at`; zero once it has passed (as the queue treats Go's
/// negative durations).
pub(super) fn until(at: Instant, now: Instant) -> Duration {
    Duration::from_nanos(u64::try_from(go_sub(at, now)).unwrap_or(0))
}

/// The name of the job for a fire time (C-50): minutes since the epoch, as Go's truncating
/// `Unix() / 60`.
pub(super) fn job_name(cronjob: &str, scheduled: Instant) -> String {
    format!("{cronjob}-{}", scheduled.unix_seconds() / 60)
}

/// Go's `Time.Add`, for instants the schedule engine can hold.
pub(super) fn add_nanos(t: Instant, nanos: i64) -> Instant {
    let total = i128::from(t.unix_seconds()) * i128::from(NANOS_PER_SECOND)
        + i128::from(t.subsec_nanos())
        + i128::from(nanos);
    let seconds = total.div_euclid(i128::from(NANOS_PER_SECOND));
    let subsec = total.rem_euclid(i128::from(NANOS_PER_SECOND));
    i64::try_from(seconds)
        .ok()
        .and_then(|s| Instant::from_unix(s, u32::try_from(subsec).ok()?))
        .unwrap_or(t)
}

/// Go's `Time.Sub`: nanoseconds, saturating at the bounds of `time.Duration`.
pub(super) fn go_sub(a: Instant, b: Instant) -> i64 {
    let nanos = (i128::from(a.unix_seconds()) - i128::from(b.unix_seconds()))
        * i128::from(NANOS_PER_SECOND)
        + i128::from(a.subsec_nanos())
        - i128::from(b.subsec_nanos());
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// Go's `Duration.Seconds`: whole seconds plus the remainder as a fraction.
pub(super) fn go_seconds(nanos: i64) -> f64 {
    (nanos / NANOS_PER_SECOND) as f64 + (nanos % NANOS_PER_SECOND) as f64 / 1e9
}

/// Go's `Duration.Round(time.Second)`: halves away from zero, saturating.
fn round_to_second(nanos: i64) -> i64 {
    let m = i128::from(NANOS_PER_SECOND);
    let d = i128::from(nanos);
    let r = (d % m).abs();
    let rounded = if r + r < m {
        if d < 0 { d + r } else { d - r }
    } else if d < 0 {
        d - m + r
    } else {
        d + m - r
    };
    i64::try_from(rounded).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_arithmetic() {
        assert_eq!(round_to_second(1_499_999_999), 1_000_000_000);
        assert_eq!(round_to_second(1_500_000_000), 2_000_000_000);
        assert_eq!(round_to_second(-1_500_000_000), -2_000_000_000);
        assert_eq!(round_to_second(i64::MAX), i64::MAX);
        assert_eq!(go_seconds(-1_500_000_000), -1.5);
        // Go's float seconds round a remainder just under one second up for long
        // durations: 2^24 s + 0.999999999 s is 2^24 + 1 as a float64.
        let long = (1i64 << 24) * NANOS_PER_SECOND + 999_999_999;
        assert_eq!(go_seconds(long) as i64, (1 << 24) + 1);
        let a = Instant::from_unix(10, 5).unwrap();
        let b = Instant::from_unix(9, 10).unwrap();
        assert_eq!(go_sub(a, b), 999_999_995);
        assert_eq!(go_sub(Instant::GO_ZERO, a), i64::MIN);
        assert_eq!(
            add_nanos(b, -20),
            Instant::from_unix(8, 999_999_990).unwrap()
        );
    }

    #[test]
    fn job_names_count_minutes() {
        let t = Instant::from_unix(1_463_652_000, 0).unwrap();
        assert_eq!(job_name("cj", t), "cj-24394200", "C26");
    }
}
