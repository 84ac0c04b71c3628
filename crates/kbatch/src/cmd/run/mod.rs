//! `kbatch run -f FILE`: a Job (or one run of a CronJob) from a manifest to its result in one
//! command, on an embedded instance that lives as long as the run.
//!
//! Exit codes: 0 the Job completed; 1 it failed, or `--timeout` ran out (the pods are
//! stopped first); 2 the manifest is invalid or the command line is wrong; 130 after Ctrl-C
//! and 143 after SIGTERM, once the Job's pods are stopped. With `--schedule`, the run ends
//! only on Ctrl-C or SIGTERM (130, 143) or at the end of `--timeout`: then 0 if every run
//! completed, 1 otherwise.

mod console;
mod cronjob;
mod data;
mod job;
mod logs;
mod manifest;
mod session;
mod signals;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kbatch_core::object::Object;

use self::console::{Console, Verbosity};
use self::data::DataDir;
use self::job::Backoff;
use crate::instance::go_duration;

pub(crate) const EXIT_COMPLETE: u8 = 0;
pub(crate) const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_INVALID: u8 = 2;
pub(crate) const EXIT_INTERRUPTED: u8 = 130;
pub(crate) const EXIT_TERMINATED: u8 = 143;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The manifest: one Job or CronJob, YAML or JSON; `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: PathBuf,
    /// Stop the Job's pods and exit 1 if it has not finished after this long (`30s`, `5m`);
    /// with --schedule, how long to stay up.
    #[arg(long, value_name = "DURATION", value_parser = go_duration)]
    timeout: Option<Duration>,
    /// The first delay before a failed pod is replaced; it doubles with each consecutive
    /// failure, up to 10m (Kubernetes: 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = go_duration)]
    backoff_base: Duration,
    /// What runs the containers.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Process)]
    runtime: RuntimeKind,
    /// Keep the temporary data dir (the store, the logs) and print where it is.
    #[arg(long)]
    keep: bool,
    /// Keep the run's data in DIR (kept, as a server's is) instead of a temporary dir.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print only the result: no logs, no events, no progress.
    #[arg(short, long)]
    quiet: bool,
    /// For a CronJob: stay up and run its Jobs on its schedule (until Ctrl-C or --timeout),
    /// instead of one Job now.
    #[arg(long)]
    schedule: bool,
}

/// The container runtimes `run` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeKind {
    /// Each container is a host process: its `command` runs on the host, the image is not
    /// used.
    Process,
}

/// The Job controller's longest backoff (Kubernetes' 10 minutes).
const BACKOFF_MAX: Duration = Duration::from_secs(600);

/// Whether the run would run anything: a suspended Job (or CronJob, with `--schedule`) never
/// starts a pod, and nothing can resume it during the run.
fn runnable(object: &Object, schedule: bool) -> Result<(), &'static str> {
    let suspended = |s: Option<bool>| s == Some(true);
    match object {
        Object::Job(_) if schedule => {
            Err("--schedule runs a CronJob on its schedule; this is a Job")
        }
        Object::Job(job) if suspended(job.spec.as_ref().and_then(|s| s.suspend)) => {
            Err("spec.suspend is true: the Job would never start a pod")
        }
        Object::CronJob(cj) if schedule && suspended(cj.spec.as_ref().and_then(|s| s.suspend)) => {
            Err("spec.suspend is true: the CronJob would never start a Job")
        }
        Object::CronJob(cj)
            if suspended(
                cj.spec
                    .as_ref()
                    .and_then(|s| s.job_template.spec.as_ref())
                    .and_then(|s| s.suspend),
            ) =>
        {
            Err("spec.jobTemplate.spec.suspend is true: its Jobs would never start a pod")
        }
        _ => Ok(()),
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    // kbatch's own log stays out of the run's output unless asked for.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KBATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let manifest = match manifest::load(&args.file) {
        Ok(m) => m,
        Err(lines) => {
            for line in lines {
                eprintln!("{line}");
            }
            return ExitCode::from(EXIT_INVALID);
        }
    };
    if let Err(why) = runnable(&manifest.object, args.schedule) {
        eprintln!("{}: {why}", manifest.label);
        return ExitCode::from(EXIT_INVALID);
    }
    let data = match DataDir::prepare(args.data_dir.clone(), args.keep) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: preparing the data dir: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let console = Arc::new(Console::new(if args.quiet {
        Verbosity::Quiet
    } else {
        Verbosity::Normal
    }));
    let options = session::Options {
        backoff: Backoff {
            base: args.backoff_base,
            max: BACKOFF_MAX.max(args.backoff_base),
        },
        timeout: args.timeout,
        schedule: args.schedule,
        runtime: args.runtime,
    };
    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(session::run(manifest, options, &data, console.clone()));
            // Nothing is left to wait for: the Job's pods have ended.
            runtime.shutdown_background();
            code.unwrap_or_else(|e| {
                console.finish();
                console.note(&format!("error: {e:#}"));
                EXIT_FAILED
            })
        }
        Err(e) => {
            console.note(&format!("error: starting the runtime: {e}"));
            EXIT_FAILED
        }
    };
    match data.finish() {
        Ok(Some(kept)) => console.note(&format!(
            "data kept in {0} (look at it with: kbatch server --data-dir {0})",
            kept.display()
        )),
        Ok(None) => {}
        Err(e) => console.note(&format!("removing the data dir: {e}")),
    }
    ExitCode::from(code)
}
