//! The end of a run: how the Job ended (its terminal condition's type, reason and message,
//! or why the run stopped it), how long it took, and every pod it had with how each of its
//! containers ended.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use kbatch_controllers::job::pods::phase;

use super::console::Console;
use super::job::Tracked;

/// Why the run stopped a Job before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Interrupt,
    Terminate,
    Timeout(Duration),
}

impl Stopped {
    /// The result's first word and what it says.
    fn describe(self) -> (&'static str, String) {
        match self {
            Stopped::Interrupt => ("Interrupted", "stopped by Ctrl-C".to_owned()),
            Stopped::Terminate => ("Terminated", "stopped by SIGTERM".to_owned()),
            Stopped::Timeout(after) => (
                "Timed out",
                format!("still running when --timeout {} ran out", wait(after)),
            ),
        }
    }
}

/// An elapsed time as people read it: `0.42s`, `12.3s`, `4m05s`.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.2}s")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// A wait in whole seconds, rounded up (a wait of 0.2s is still a wait): `10s`, `1m20s`.
pub fn wait(d: Duration) -> String {
    let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if whole < 60 {
        format!("{whole}s")
    } else {
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// How a container run ended: `exited with code 1 (Error)`, with the reason's message when
/// there is one.
pub fn termination(t: &ContainerStateTerminated) -> String {
    let reason = t.reason.as_deref().unwrap_or("");
    let detail = match t
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        Some(message) if reason.is_empty() => format!(" ({message})"),
        Some(message) => format!(" ({reason}: {message})"),
        None if reason.is_empty() => String::new(),
        None => format!(" ({reason})"),
    };
    format!("exited with code {}{detail}", t.exit_code)
}

/// How a pod's containers ended (or stand), and the pod's own failure reason if any.
pub fn pod_outcome(pod: &Pod) -> String {
    let mut parts = Vec::new();
    let status = pod.status.clone().unwrap_or_default();
    if let Some(reason) = status.reason.as_deref().filter(|r| !r.is_empty()) {
        match status.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => parts.push(format!("{reason}: {message}")),
            None => parts.push(reason.to_owned()),
        }
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for c in containers {
        let state = c.state.clone().unwrap_or_default();
        let text = if let Some(t) = &state.terminated {
            termination(t)
        } else if state.running.is_some() {
            "running".to_owned()
        } else if let Some(reason) = state.waiting.as_ref().and_then(|w| w.reason.as_deref()) {
            format!("waiting ({reason})")
        } else {
            "not started".to_owned()
        };
        parts.push(format!("{} {text}", c.name));
    }
    if parts.is_empty() {
        parts.push("no container started".to_owned());
    }
    parts.join("; ")
}

/// The result line of a Job: whether it is a success, the status word and the rest.
fn headline(job: &Tracked, stopped: Option<Stopped>) -> (bool, String, String) {
    let took = elapsed(job.elapsed());
    if let Some(condition) = job.finished() {
        let reason = condition.reason.as_deref().unwrap_or("");
        let message = condition.message.as_deref().unwrap_or("");
        let why = match (reason.is_empty(), message.is_empty()) {
            (false, false) => format!(" ({reason}: {message})"),
            (false, true) => format!(" ({reason})"),
            (true, false) => format!(" ({message})"),
            (true, true) => String::new(),
        };
        let rest = format!(": job/{} after {took}{why}", job.name());
        return (job.complete(), condition.type_.clone(), rest);
    }
    if let Some(stopped) = stopped {
        let (word, what) = stopped.describe();
        let rest = format!(
            ": job/{} after {took}: {what}; its pods were stopped",
            job.name()
        );
        return (false, word.to_owned(), rest);
    }
    let rest = format!(
        ": job/{} after {took}: deleted before it finished",
        job.name()
    );
    (false, "Deleted".to_owned(), rest)
}

/// Prints the result of one Job: the headline, then (unless quiet) one line per pod.
pub fn print(console: &Console, job: &Tracked, stopped: Option<Stopped>) {
    let (good, word, rest) = headline(job, stopped);
    console.result(&word, good, &rest);
    let width = job.pods.iter().map(|p| p.name().len()).max().unwrap_or(0);
    for record in &job.pods {
        let state = match (phase(&record.pod), record.gone) {
            ("Succeeded" | "Failed", _) => phase(&record.pod).to_owned(),
            (_, true) => "Deleted".to_owned(),
            ("", false) => "Pending".to_owned(),
            (p, false) => p.to_owned(),
        };
        console.detail(&format!(
            "  pod/{:width$}  {state:9}  {}",
            record.name(),
            pod_outcome(&record.pod)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(elapsed(Duration::from_millis(420)), "0.42s");
        assert_eq!(elapsed(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(elapsed(Duration::from_secs(245)), "4m05s");
        assert_eq!(wait(Duration::from_millis(9_200)), "10s");
        assert_eq!(wait(Duration::from_secs(80)), "1m20s");
    }

    #[test]
    fn a_termination_names_code_reason_and_message() {
        let t = ContainerStateTerminated {
            exit_code: 128,
            reason: Some("ContainerCannotRun".into()),
            message: Some("exec: \"nope\": executable file not found in $PATH".into()),
            ..Default::default()
        };
        assert_eq!(
            termination(&t),
            "exited with code 128 (ContainerCannotRun: exec: \"nope\": executable file not found in $PATH)"
        );
        let t = ContainerStateTerminated {
            exit_code: 1,
            reason: Some("Error".into()),
            ..Default::default()
        };
        assert_eq!(termination(&t), "exited with code 1 (Error)");
    }
}
