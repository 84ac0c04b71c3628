//! `kbatch cron`: compute and explain CronJob fire times exactly as a
//! Kubernetes cluster would (robfig/cron v3 semantics, see kbatch-schedule).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use kbatch_schedule::explain::{self, DstEffect};
use kbatch_schedule::{Instant, Schedule, Zone, parse, zone};

/// Compute CronJob schedules offline.
#[derive(Args, Debug)]
pub struct CronArgs {
    #[command(subcommand)]
    command: CronCommand,
}

#[derive(Subcommand, Debug)]
enum CronCommand {
    /// Print the next fire times of a schedule, each computed from the previous one.
    Next(NextArgs),
    /// Describe a schedule in plain English, with its next runs and DST effects.
    Explain(ExplainArgs),
}

#[derive(Args, Debug)]
struct NextArgs {
    /// The schedule, as in CronJob.spec.schedule.
    #[arg(long, allow_hyphen_values = true, required_unless_present = "batch")]
    schedule: Option<String>,
    /// IANA time zone, as in CronJob.spec.timeZone.
    #[arg(long = "time-zone", default_value = "UTC")]
    time_zone: String,
    /// Start after this RFC 3339 time (default: now).
    #[arg(long)]
    after: Option<String>,
    /// How many fire times to print.
    #[arg(long, default_value_t = 5)]
    count: usize,
    /// Read `SCHEDULE<TAB>ZONE<TAB>AFTER<TAB>COUNT` lines from stdin and answer
    /// each with the times joined by tabs, or `ERR<TAB>message`.
    #[arg(long, conflicts_with_all = ["schedule", "after"])]
    batch: bool,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// The schedule, as in CronJob.spec.schedule.
    #[arg(allow_hyphen_values = true)]
    schedule: String,
    /// IANA time zone, as in CronJob.spec.timeZone.
    #[arg(long = "time-zone", default_value = "UTC")]
    time_zone: String,
}

/// Runs `kbatch cron …`.
pub fn run(args: CronArgs) -> ExitCode {
    let result = match args.command {
        CronCommand::Next(next) if next.batch => run_batch(&next.time_zone, next.count),
        CronCommand::Next(next) => run_next(&next),
        CronCommand::Explain(explain) => run_explain(&explain),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
        Err(CliError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(CliError::Io(e)) => {
            eprintln!("kbatch cron: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
enum CliError {
    /// A bad schedule, zone or time: the message alone goes to stderr.
    Usage(String),
    Io(io::Error),
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> CliError {
        CliError::Io(e)
    }
}

fn usage(e: impl ToString) -> CliError {
    CliError::Usage(e.to_string())
}

fn run_next(args: &NextArgs) -> Result<(), CliError> {
    let spec = args.schedule.as_deref().unwrap_or_default();
    let schedule = parse(spec).map_err(usage)?;
    let zone = zone(&args.time_zone).map_err(usage)?;
    let after = match &args.after {
        Some(text) => text.parse().map_err(usage)?,
        None => now(),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut t = after;
    for _ in 0..args.count {
        t = schedule.next_go(t, &zone);
        writeln!(out, "{}", Shown(t, &zone))?;
    }
    out.flush()?;
    Ok(())
}

/// Batch mode: one answer line per input line, zones loaded once each.
fn run_batch(default_zone: &str, default_count: usize) -> Result<(), CliError> {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut cache = BatchCache::default();
    let now = now();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        if raw.last() == Some(&b'\n') {
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
        }
        let line = String::from_utf8_lossy(&raw);
        match BatchLine::split(&line, default_zone, default_count)
            .and_then(|request| request.answer(&mut cache, now))
        {
            Ok(times) => writeln!(out, "{times}")?,
            Err(message) => writeln!(out, "ERR\t{message}")?,
        }
    }
    out.flush()?;
    Ok(())
}

/// Schedules and zones seen so far in a batch, with their parse results.
#[derive(Default)]
struct BatchCache {
    schedules: HashMap<String, Result<Schedule, String>>,
    zones: HashMap<String, Result<Zone, String>>,
}

impl BatchCache {
    fn schedule(&mut self, text: &str) -> Result<&Schedule, String> {
        if !self.schedules.contains_key(text) {
            let parsed = parse(text).map_err(|e| e.to_string());
            self.schedules.insert(text.to_owned(), parsed);
        }
        self.schedules[text].as_ref().map_err(Clone::clone)
    }

    fn zone(&mut self, name: &str) -> Result<&Zone, String> {
        if !self.zones.contains_key(name) {
            let loaded = zone(name).map_err(|e| e.to_string());
            self.zones.insert(name.to_owned(), loaded);
        }
        self.zones[name].as_ref().map_err(Clone::clone)
    }
}

/// One `SCHEDULE<TAB>ZONE<TAB>AFTER<TAB>COUNT` request. Empty zone, after
/// or count fields take the command-line defaults (UTC, now, 5).
struct BatchLine<'a> {
    schedule: &'a str,
    zone: &'a str,
    after: &'a str,
    count: usize,
}

impl<'a> BatchLine<'a> {
    fn split(line: &'a str, default_zone: &'a str, default_count: usize) -> Result<Self, String> {
        let mut parts = line.split('\t');
        let (Some(schedule), Some(zone), Some(after), Some(count), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err("expected SCHEDULE<TAB>ZONE<TAB>AFTER<TAB>COUNT".to_owned());
        };
        let count = match count {
            "" => default_count,
            text => text
                .parse()
                .map_err(|_| format!("invalid count {text:?}"))?,
        };
        Ok(BatchLine {
            schedule,
            zone: if zone.is_empty() { default_zone } else { zone },
            after,
            count,
        })
    }

    /// The fire times joined by tabs, or the message for an `ERR` line. The
    /// schedule is checked before the zone, as in `kbatch cron next`.
    fn answer(&self, cache: &mut BatchCache, now: Instant) -> Result<String, String> {
        let schedule = cache.schedule(self.schedule)?.clone();
        let zone = cache.zone(self.zone)?;
        let mut t = match self.after {
            "" => now,
            text => text.parse::<Instant>().map_err(|e| e.to_string())?,
        };
        let mut line = String::with_capacity(26 * self.count);
        for i in 0..self.count {
            t = schedule.next_go(t, zone);
            if i > 0 {
                line.push('\t');
            }
            let _ = write!(line, "{}", Shown(t, zone));
        }
        Ok(line)
    }
}

fn run_explain(args: &ExplainArgs) -> Result<(), CliError> {
    let schedule = parse(&args.schedule).map_err(usage)?;
    let zone = zone(&args.time_zone).map_err(usage)?;
    let effective = schedule.effective_zone(&zone);
    let utc = Zone::utc();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(out, "schedule:  {:?}", args.schedule)?;
    writeln!(out, "time zone: {}", effective.name())?;
    writeln!(out, "meaning:   {}", explain::describe(&schedule))?;
    if let Some(rule) = explain::day_rule(&schedule) {
        writeln!(out, "day rule:  {rule}")?;
    }
    writeln!(out, "next runs:")?;
    let now = now();
    let mut t = now;
    for _ in 0..5 {
        t = schedule.next_go(t, &zone);
        if t.is_go_zero() {
            writeln!(
                out,
                "  none: nothing matches within five years (Kubernetes sees {})",
                Shown(t, &utc)
            )?;
            break;
        }
        writeln!(out, "  {}  (UTC {})", Shown(t, effective), Shown(t, &utc))?;
    }
    // Frequent schedules can lose or repeat dozens of runs per change; the
    // first few tell the story.
    const SHOWN_EFFECTS: usize = 6;
    let effects = explain::dst_effects(&schedule, &zone, now);
    for effect in effects.iter().take(SHOWN_EFFECTS) {
        let line = match effect {
            DstEffect::Skipped { wall } => {
                format!("the run at {wall} (local) is skipped: that time does not exist")
            }
            DstEffect::Doubled { wall } => {
                format!("the run at {wall} (local) happens twice: that hour repeats")
            }
            DstEffect::Moved { wall } => format!(
                "an extra run at {wall} (local): the library's stepping lands there across the change"
            ),
        };
        writeln!(out, "warning: DST in {}: {line}", effective.name())?;
    }
    if effects.len() > SHOWN_EFFECTS {
        writeln!(
            out,
            "warning: DST in {}: … and {} more runs skipped, doubled or moved in the coming year",
            effective.name(),
            effects.len() - SHOWN_EFFECTS
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Go's `Time.Format(time.RFC3339)` of a `Next` result: the zero time is
/// UTC in Go, everything else is shown in the zone.
struct Shown<'z>(Instant, &'z Zone);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_go_zero() {
            f.write_str("0001-01-01T00:00:00Z")
        } else {
            self.0.rfc3339(self.1).fmt(f)
        }
    }
}

fn now() -> Instant {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    Instant::from_unix(seconds, since_epoch.subsec_nanos()).unwrap_or(Instant::GO_ZERO)
}
