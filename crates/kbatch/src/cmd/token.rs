//! `kbatch token create`: a bootstrap token for joining an agent on another machine, printed
//! as the `kbatch agent` command that uses it (`kubeadm token create --print-join-command`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::instance::go_duration;
use crate::join;

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Make a bootstrap token and print the `kbatch agent` command that joins a node with it.
    Create(CreateArgs),
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// The server's data dir (its kubeconfig is used to store the token).
    #[arg(long, env = "KBATCH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// How long the token may be used to join (Go duration: 30m, 24h, …).
    #[arg(long, default_value = "24h", value_parser = go_duration)]
    ttl: Duration,
    /// The server URL agents reach it at, in the printed command (default: the kubeconfig's,
    /// which is loopback when the server listens on every address).
    #[arg(long)]
    server: Option<String>,
    /// What the token is for, kept with it.
    #[arg(long, default_value = "kbatch agent join")]
    description: String,
}

pub fn run(args: TokenArgs) -> ExitCode {
    let TokenCommand::Create(args) = args.command;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(create(args)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<String> {
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => crate::cmd::server::default_data_dir()?,
    };
    let path = data_dir.join("kubeconfig");
    let kubeconfig = join::Kubeconfig::read(&path, None).with_context(|| {
        format!(
            "is a kbatch server running with --data-dir {}?",
            data_dir.display()
        )
    })?;
    let token = join::create_bootstrap_token(&kubeconfig, args.ttl, &args.description).await?;
    let hash = join::ca_cert_hash(&String::from_utf8_lossy(&kubeconfig.ca_pem))?;
    let server = args.server.unwrap_or(kubeconfig.server);
    Ok(format!(
        "kbatch agent --server {server} --token {token} --ca-cert-hash {hash}"
    ))
}
