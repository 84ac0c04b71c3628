//! kbatch's record of fire times that started no Job: which ones a sync can call skipped for
//! good, and why. Kubernetes starts at most the most recent due fire time, and only until the
//! deadline clips it (C-20, C-21), so a fire time is skipped for good once a later one is due,
//! once it is past startingDeadlineSeconds, or when the missed-schedule walk passes over it
//! (C-21a). The most recent one may still start late: when the Job that Forbid waits for
//! ends, when a suspended CronJob is resumed, when a foreign Job of its name goes away. So the
//! record stops short of it; a Forbid or foreign-Job decision gets its own "for now" event.

use kbatch_schedule::{Instant, Zone};

use super::MAX_RECORDED;
use super::timeline::{Timeline, add_nanos};

/// What became of the fire time a sync found due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fate {
    /// A Job exists for it (created now, or earlier).
    Started,
    /// C-23(g): past the starting deadline.
    TooLate,
    /// Not started in this sync; a later sync may still start it.
    Held(Held),
}

/// Why the due fire time was held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Held {
    /// C-25.
    Forbidden,
    /// C-27: a Job of its name exists and another controller owns it.
    Foreign(String),
}

impl Held {
    pub fn event_type(&self) -> &'static str {
        match self {
            Held::Forbidden => "Normal",
            Held::Foreign(_) => "Warning",
        }
    }

    pub fn why(&self) -> String {
        match self {
            Held::Forbidden => {
                "concurrencyPolicy is Forbid and a prior execution is running".to_owned()
            }
            Held::Foreign(job) => {
                format!("job {job} already exists and is not controlled by this CronJob")
            }
        }
    }
}

/// What the scheduling part of a sync decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// No fire time was considered: being deleted, bad zone, schedule or interval.
    Unscheduled,
    Suspended,
    /// The fire times were walked (C-21); `due` is the one found, and its fate.
    Walked {
        due: Option<(Instant, Fate)>,
    },
}

/// An event of the record: (type, message).
pub(super) type Entry = (&'static str, String);

/// The fire times in (after, now] that no Job will ever start, as events, and the new end of
/// the record (`None` when nothing was recorded). `held` is the fire time an earlier sync held
/// back, if any, so that its reason survives until it is superseded; `started` tells the fire
/// times that have a Job, which are never recorded.
pub(super) fn skipped(
    after: Instant,
    outcome: &Outcome,
    timeline: &Timeline,
    now: Instant,
    held: Option<&(Instant, Held)>,
    zone: &Zone,
    started: impl Fn(Instant) -> bool,
) -> (Vec<Entry>, Option<Instant>) {
    let cutoff = timeline.deadline_cutoff(now);
    let past_deadline = |at: Instant| cutoff.is_some_and(|c| at <= c);
    let due = match outcome {
        Outcome::Unscheduled => return (Vec::new(), None),
        Outcome::Suspended => None,
        Outcome::Walked { due } => due.as_ref(),
    };
    // The fire time that started a Job or may still start one: the record stops before it.
    let stop = match (outcome, due) {
        (Outcome::Suspended, _) => timeline
            .most_recent(now, false)
            .ok()
            .and_then(|m| m.due)
            .filter(|at| !past_deadline(*at)),
        (_, Some((_, Fate::TooLate)) | None) => None,
        (_, Some((at, _))) => Some(*at),
    };
    let mut entries = Vec::new();
    let mut end = None;
    for at in timeline.fire_times(after, now) {
        if Some(at) == stop {
            break;
        }
        if started(at) {
            continue;
        }
        let (type_, why) = if past_deadline(at) || due.is_some_and(|(d, _)| *d == at) {
            let seconds = timeline.starting_deadline.unwrap_or(0);
            (
                "Warning",
                format!("missed by more than startingDeadlineSeconds ({seconds}s)"),
            )
        } else if let Some((_, reason)) = held.filter(|(h, _)| *h == at) {
            (reason.event_type(), reason.why())
        } else if *outcome == Outcome::Suspended {
            ("Normal", "the CronJob is suspended".to_owned())
        } else if due.is_some() {
            (
                "Warning",
                "missed; only the most recent missed time starts a job".to_owned(),
            )
        } else {
            (
                "Warning",
                "missed; the search for the most recent missed time passed over it".to_owned(),
            )
        };
        if entries.len() == MAX_RECORDED {
            let until = stop.map_or(now, |s| add_nanos(s, -1_000_000_000));
            let message = format!(
                "Skipped the scheduled times from {} up to {}: too many missed start times to record each",
                at.rfc3339(zone),
                until.rfc3339(zone)
            );
            entries.push(("Warning", message));
            return (entries, Some(until));
        }
        entries.push((
            type_,
            format!("Skipped scheduled time {}: {why}", at.rfc3339(zone)),
        ));
        end = Some(at);
    }
    (entries, end)
}
