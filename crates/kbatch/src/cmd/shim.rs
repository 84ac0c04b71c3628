//! `kbatch __shim` (hidden): the supervisor of one container run, started by the server's
//! node agent, and `kbatch __shim-spawner` (hidden), which forks them. All of it lives in the
//! agent crate.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    kbatch_agent::shim::run()
}

pub fn run_spawner() -> ExitCode {
    kbatch_agent::shim::run_spawner()
}
