//! `kbatch image`: the node's image store (`DATA_DIR/images`, the one the server's agent
//! uses) — pull, import, list, remove.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use kbatch_image::auth::Keyring;
use kbatch_image::{ImageRef, Platform, PullOptions, Puller, Store};

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// The server's data directory; images live in its `images/` [default: the server's
    /// default, e.g. ~/.local/share/kbatch]
    #[arg(long, env = "KBATCH_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand, Debug)]
enum ImageCommand {
    /// Pull an image from a registry (Docker Hub, or the registry its name starts with).
    Pull {
        /// The image, as a pod names it (`busybox`, `localhost:5000/app:v1`).
        image: String,
        /// A registry (HOST:PORT) to reach over plain HTTP instead of HTTPS; repeatable.
        #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
        insecure_registries: Vec<String>,
        /// Registry credentials, docker's config.json format [default: $DOCKER_CONFIG/config.json
        /// or ~/.docker/config.json]
        #[arg(long, value_name = "FILE")]
        docker_config: Option<PathBuf>,
    },
    /// Import images from an OCI image layout directory or a `docker save` archive.
    Import {
        path: PathBuf,
        /// The repository name for images the source names by tag only, or not at all.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the stored images.
    Ls {
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Remove images, by reference or by (a prefix of) their digest. An image a container's
    /// root filesystem still uses is not removed.
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Output {
    Table,
    Json,
}

pub fn run(args: ImageArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The server's default data dir (`kbatch server` without `--data-dir`).
fn default_data_dir() -> anyhow::Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("kbatch"))
        .context("no user data directory is known here; pass --data-dir")
}

fn run_inner(args: ImageArgs) -> anyhow::Result<ExitCode> {
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    let root = data_dir.join("images");
    let store = Store::open(&root).with_context(|| format!("opening {}", root.display()))?;
    let now = jiff::Timestamp::now();
    match args.command {
        ImageCommand::Pull {
            image,
            insecure_registries,
            docker_config,
        } => {
            let reference = ImageRef::parse(&image)?;
            let keyring = match docker_config.or_else(Keyring::default_path) {
                Some(path) => Keyring::load(&path)?,
                None => Keyring::default(),
            };
            let puller = Puller::new(PullOptions {
                insecure_registries,
                keyring,
                platform: Platform::host(),
            });
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let pulled = rt.block_on(puller.pull(&store, &reference, now))?;
            println!(
                "Pulled {reference} ({}, {} bytes)",
                pulled.manifest_digest,
                pulled.size()
            );
        }
        ImageCommand::Import { path, name } => {
            let name = name.as_deref().map(ImageRef::parse).transpose()?;
            let imported =
                kbatch_image::import(&store, &path, name.as_ref(), &Platform::host(), now)?;
            for i in imported {
                for r in &i.references {
                    println!("Imported {r} ({})", i.digest);
                }
            }
        }
        ImageCommand::Ls { output } => {
            let images = store.list()?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&images)?),
                Output::Table => print_table(&images),
            }
        }
        ImageCommand::Rm { images } => {
            let mut failed = false;
            for name in images {
                match store.remove(&name, &[]) {
                    Ok(refs) => {
                        for r in refs {
                            println!("Deleted: {r}");
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(images: &[kbatch_image::ImageSummary]) {
    let rows: Vec<[String; 4]> = images
        .iter()
        .map(|i| {
            [
                i.reference.clone(),
                i.digest.short().to_owned(),
                human_size(i.size),
                i.created.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            ]
        })
        .collect();
    let header = ["REFERENCE", "DIGEST", "SIZE", "CREATED"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("   ");
        println!("{}", line.trim_end());
    }
}

/// Sizes as docker and crictl print them (go-units `HumanSize`: decimal units, four
/// significant digits).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    let digits = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(4_269_694), "4.27MB");
        assert_eq!(human_size(2_222_260), "2.222MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
        assert_eq!(human_size(64_753_325), "64.75MB");
    }
}
