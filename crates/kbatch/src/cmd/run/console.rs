//! Where a run's output goes. Container logs go to stdout, each line prefixed with its pod
//! and container as `kubectl logs --prefix` does; what kbatch says (events, the progress
//! line, the summary) goes to stderr, so `kbatch run -f job.yaml > out` keeps only the
//! Job's own output.
//!
//! On a terminal the progress line (indicatif) stays at the bottom and the prefixes are
//! colored; without one the events are plain lines and nothing is colored; `--quiet` keeps
//! the result alone.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// The result only.
    Quiet,
    /// Logs, events and the result.
    Normal,
}

/// The foreground colors prefixes cycle through (ANSI: green, yellow, blue, magenta, cyan,
/// red), so that the lines of pods side by side are told apart at a glance.
const PALETTE: [u8; 6] = [32, 33, 34, 35, 36, 31];

/// The run's output.
#[derive(Debug)]
pub struct Console {
    verbosity: Verbosity,
    /// The progress line, on a terminal only.
    bar: Option<ProgressBar>,
    color_out: bool,
    color_err: bool,
    /// The palette entry of each pod, in order of appearance.
    colors: Mutex<HashMap<String, usize>>,
}

/// Whether ANSI colors may be written to a stream: a terminal, and no `NO_COLOR`.
fn colors_on(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

impl Console {
    pub fn new(verbosity: Verbosity) -> Console {
        let err_tty = std::io::stderr().is_terminal();
        let bar = (verbosity == Verbosity::Normal && err_tty).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner:.cyan} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Console {
            verbosity,
            bar,
            color_out: colors_on(std::io::stdout().is_terminal()),
            color_err: colors_on(err_tty),
            colors: Mutex::new(HashMap::new()),
        }
    }

    pub fn quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    /// Whether a live progress line is shown.
    pub fn has_progress(&self) -> bool {
        self.bar.is_some()
    }

    /// Writes with the progress line out of the way.
    fn above_bar(&self, write: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// One line of a container's output: `[pod/NAME/CONTAINER] line`.
    pub fn log_line(&self, pod: &str, container: &str, line: &[u8]) {
        if self.quiet() {
            return;
        }
        let prefix = format!("[pod/{pod}/{container}]");
        let prefix = if self.color_out {
            let color = {
                let mut colors = self.colors.lock().unwrap_or_else(|p| p.into_inner());
                let next = colors.len();
                PALETTE[*colors.entry(pod.to_owned()).or_insert(next) % PALETTE.len()]
            };
            format!("\x1b[{color}m{prefix}\x1b[0m")
        } else {
            prefix
        };
        self.above_bar(|| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(prefix.as_bytes());
            let _ = out.write_all(b" ");
            let _ = out.write_all(line);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        });
    }

    /// Something that happened: a pod started or finished, a retry is coming.
    pub fn event(&self, text: &str) {
        if self.quiet() {
            return;
        }
        let line = if self.color_err {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_owned()
        };
        self.above_bar(|| eprintln!("{line}"));
    }

    /// The progress line's text (terminal only).
    pub fn progress(&self, text: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(text);
        }
    }

    /// Removes the progress line for good, before the result.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// A line of the result, shown even with `--quiet`; `status` (Complete, Failed, …) is
    /// colored on a terminal: green when `good`, red otherwise.
    pub fn result(&self, status: &str, good: bool, rest: &str) {
        let status = if self.color_err {
            let color = if good { 32 } else { 31 };
            format!("\x1b[1;{color}m{status}\x1b[0m")
        } else {
            status.to_owned()
        };
        self.above_bar(|| eprintln!("{status}{rest}"));
    }

    /// A detail line of the result (the pods), left out with `--quiet`.
    pub fn detail(&self, text: &str) {
        if !self.quiet() {
            self.above_bar(|| eprintln!("{text}"));
        }
    }

    /// A note that is no event (the data dir kept, an error while stopping), always shown.
    pub fn note(&self, text: &str) {
        self.above_bar(|| eprintln!("{text}"));
    }
}
