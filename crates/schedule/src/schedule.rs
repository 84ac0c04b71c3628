//! `Schedule`: what `parse` returns — a five-field spec or an `@every`
//! delay, plus the location from a `TZ=`/`CRON_TZ=` prefix.

use crate::every::Every;
use crate::instant::Instant;
use crate::spec::SpecSchedule;
use crate::zone::{Location, Zone};

/// A parsed schedule (robfig/cron's `Schedule` interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
    /// `None` stands for Go's `time.Local`: evaluate in the caller's zone.
    location: Option<Zone>,
}

/// The two schedule implementations the standard parser produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Spec(SpecSchedule),
    Every(Every),
}

impl Schedule {
    pub(crate) fn new(kind: Kind, location: Location) -> Schedule {
        let location = match location {
            Location::Local => None,
            Location::Zone(zone) => Some(zone),
        };
        Schedule { kind, location }
    }

    /// The first activation strictly after `after` (its sub-second part
    /// dropped), or `None` where robfig/cron returns Go's zero time because
    /// nothing matches within five years (C-15).
    ///
    /// `zone` is the CronJob's zone (`spec.timeZone`, else UTC); a
    /// `TZ=`/`CRON_TZ=` prefix in the schedule overrides it, as it does in
    /// the library (C-16). Does not allocate.
    pub fn next(&self, after: Instant, zone: &Zone) -> Option<Instant> {
        match &self.kind {
            Kind::Spec(spec) => spec.next(after, self.location.as_ref().unwrap_or(zone)),
            Kind::Every(every) => Some(every.next(after)),
        }
    }

    /// [`Schedule::next`] with Go's zero time for "never", so results chain
    /// exactly as repeated `Schedule.Next` calls do in Go.
    pub fn next_go(&self, after: Instant, zone: &Zone) -> Instant {
        self.next(after, zone).unwrap_or(Instant::GO_ZERO)
    }

    /// The zone activations are computed in, given the CronJob's zone.
    pub fn effective_zone<'a>(&'a self, zone: &'a Zone) -> &'a Zone {
        self.location.as_ref().unwrap_or(zone)
    }

    /// The zone from a `TZ=`/`CRON_TZ=` prefix, if one named a zone other
    /// than `Local`.
    pub fn location(&self) -> Option<&Zone> {
        self.location.as_ref()
    }

    /// The field bit sets, for a five-field schedule or a descriptor other
    /// than `@every`.
    pub fn spec(&self) -> Option<&SpecSchedule> {
        match &self.kind {
            Kind::Spec(spec) => Some(spec),
            Kind::Every(_) => None,
        }
    }

    /// The delay of an `@every` schedule.
    pub fn every(&self) -> Option<&Every> {
        match &self.kind {
            Kind::Every(every) => Some(every),
            Kind::Spec(_) => None,
        }
    }
}
