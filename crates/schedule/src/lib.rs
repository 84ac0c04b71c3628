//! Cron schedules exactly as Kubernetes reads `CronJob.spec.schedule`:
//! robfig/cron v3.0.1 `ParseStandard` and `Schedule.Next`, evaluated in an
//! IANA time zone compiled into the binary, with Go's `time` arithmetic for
//! DST gaps and overlaps. Pure: no IO, no clock.
//!
//! ```
//! use kbatch_schedule::{Instant, parse, zone};
//!
//! let schedule = parse("30 2 * * *").unwrap();
//! let berlin = zone("Europe/Berlin").unwrap();
//! // 2025-03-29T12:00:00Z. 02:30 does not exist on 2025-03-30 in Berlin,
//! // and robfig/cron steps hours with absolute time, so that run is skipped.
//! let after = Instant::from_unix(1_743_249_600, 0).unwrap();
//! let next = schedule.next(after, &berlin).unwrap();
//! assert_eq!(next.rfc3339(&berlin).to_string(), "2025-03-31T02:30:00+02:00");
//! ```

mod duration;
mod every;
pub mod explain;
mod gotime;
mod instant;
mod parser;
mod schedule;
mod spec;
mod strconv;
mod zone;

pub use duration::{DurationError, parse_go_duration};
pub use every::Every;
pub use instant::{Instant, InstantParseError, Rfc3339};
pub use parser::{ParseError, parse};
pub use schedule::Schedule;
pub use spec::{Bits, STAR_BIT, SpecSchedule};
pub use strconv::{AtoiError, AtoiFailure};
pub use zone::{TZDATA_VERSION, Zone, ZoneError, zone};
