//! `kbatch __shim` (hidden): the supervisor of one container run, started by the server's
//! node agent. All of it lives in the agent crate.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    kbatch_agent::shim::run()
}
