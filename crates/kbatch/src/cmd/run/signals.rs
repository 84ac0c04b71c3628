//! What ends a run before its Job does: Ctrl-C (SIGINT), SIGTERM, or `--timeout`.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use super::summary::Stopped;

/// SIGINT, SIGTERM and the deadline, as one stream of reasons to stop.
#[derive(Debug)]
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    deadline: Option<(Instant, Duration)>,
}

impl Signals {
    /// Takes SIGINT and SIGTERM over from their default (ending the process at once, which
    /// would leave the containers running).
    pub fn install(timeout: Option<Duration>) -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            deadline: timeout.map(|t| (Instant::now() + t, t)),
        })
    }

    /// The next reason to stop. The deadline counts once.
    pub async fn next(&mut self) -> Stopped {
        let armed = self.deadline;
        let deadline = async move {
            match armed {
                Some((at, after)) => {
                    tokio::time::sleep_until(at).await;
                    after
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.interrupt.recv() => Stopped::Interrupt,
            _ = self.terminate.recv() => Stopped::Terminate,
            after = deadline => {
                self.deadline = None;
                Stopped::Timeout(after)
            }
        }
    }
}
