//! The kbatch command line: wiring only; the behaviour lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bootstrap;
mod cmd;
mod instance;
mod join;

/// Kubernetes Jobs and CronJobs without the cluster.
#[derive(Parser, Debug)]
#[command(name = "kbatch", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Default and validate manifests offline, with Kubernetes' rules and messages.
    Validate(cmd::validate::ValidateArgs),
    /// Cron schedules exactly as a Kubernetes CronJob reads them: next fire times, explanations.
    Cron(cmd::cron::CronArgs),
    /// Run a Job (or one run of a CronJob) from a manifest to its result, with its logs,
    /// on an embedded instance that lives as long as the run.
    Run(cmd::run::RunArgs),
    /// Serve the Kubernetes API (batch/v1 Jobs and CronJobs) over HTTPS, with a kubeconfig for kubectl.
    Server(Box<cmd::server::ServerArgs>),
    /// Run a node on this machine for a server on another: register it, heartbeat, run
    /// the pods bound to it.
    Agent(Box<cmd::agent::AgentArgs>),
    /// Print version information: kbatch, the Kubernetes API it serves, the tz database.
    Version,
    /// Container images on this node: pull, import, list, remove.
    Image(cmd::image::ImageArgs),
    /// Bootstrap tokens that join agents on other machines to this server.
    Token(cmd::token::TokenArgs),
}

fn main() -> ExitCode {
    // Hidden: `kbatch __shim` supervises one container run for the server's node agent,
    // which starts it with the run's claim on stdin; `kbatch __shim-spawner` forks such
    // shims. They are on the path of every pod's start, so they skip building the command
    // line's parser.
    let first = std::env::args_os().nth(1);
    if first.as_deref() == Some(kbatch_agent::shim::SUBCOMMAND.as_ref()) {
        return cmd::shim::run();
    }
    if first.as_deref() == Some(kbatch_agent::shim::SPAWNER_SUBCOMMAND.as_ref()) {
        return cmd::shim::run_spawner();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Cron(args) => cmd::cron::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Server(args) => cmd::server::run(*args),
        Command::Agent(args) => cmd::agent::run(*args),
        Command::Version => cmd::version::run(),
        Command::Image(args) => cmd::image::run(args),
        Command::Token(args) => cmd::token::run(args),
    }
}
