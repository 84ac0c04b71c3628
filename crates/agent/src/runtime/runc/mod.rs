//! The runc runtime: each run of a container is an OCI container run by Debian's `runc`
//! binary, from the pod's image, as kubelet's container runtime runs it.
//!
//! A run's life, one step per module:
//!
//! - [`spec`]: the run's OCI runtime spec, a pure function of the pod, the image and the
//!   paths below;
//! - [`bundle`]: the pod's files (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`) and
//!   the run's bundle (its `config.json`, over a root filesystem the
//!   image store prepares: overlayfs, or a copy);
//! - [`command`]: `runc run`, `runc kill`, `runc delete`, `runc list` under kbatch's own
//!   state directory (`--root`), never the host's default one;
//! - the run itself is `runc run --keep` in the foreground, started and supervised by the
//!   process runtime in shim mode (`crate::shim`): its stdio is the container's, so the shim
//!   writes the container's output to the run's CRI log and records runc's exit status,
//!   which is the container's (128 + the signal when one ended it), while no agent runs.
//!   `--keep` leaves the stopped container, and its cgroup, for the agent to read the OOM
//!   kill counter from before it deletes them: that tells `OOMKilled` from another SIGKILL.
//! - [`sealed`]: the runc binary is executed from a sealed in-memory copy, which spares
//!   each `runc init` copying itself;
//! - [`primer`]: the kernel's cgroup migration lock, taken as a run begins so that `runc
//!   run`'s own move of the container into its cgroups does not wait for it;
//! - [`cleanup`]: what a run, a pod, or a server killed mid-way leaves is removed: the
//!   container (`runc delete --force`), its cgroup (with it), the rootfs mount and copy, the
//!   bundle, the pod's files.
//!
//! Stopping a run is `runc kill` (SIGTERM, then SIGKILL when the grace period ends): the
//! container's init is PID 1 of its PID namespace, so, as in Kubernetes, a SIGTERM it has
//! no handler for does nothing and the grace period ends it.

pub mod bundle;
pub mod cleanup;
pub mod command;
pub mod primer;
pub mod sealed;
pub mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Container;
use kbatch_api::clock::Clock;
use kbatch_image::Store;

use super::process::ProcessRuntime;
use super::{ContainerHandle, ContainerSpec, Exit, ExitCell, Runtime, StartError, StopSignal};
use crate::checkpoint::{ProcessRecord, RunRecord};
use command::Runc;

/// Where runc is looked for first: Debian's package installs it there.
pub const DEBIAN_RUNC: &str = "/usr/sbin/runc";

/// What the server log and a refused pod say when runc is missing.
pub const INSTALL_HINT: &str = "apt-get install runc";

/// How the runs' `runc run` processes are supervised.
#[derive(Debug, Clone)]
pub enum Supervision {
    /// Under a shim each (`<program> __shim`), which outlives the agent's process.
    Shim(PathBuf),
    /// As children of the agent's process (a one-shot `kbatch run`).
    Direct,
}

/// OCI containers run by runc.
#[derive(Debug)]
pub struct RuncRuntime {
    clock: Arc<dyn Clock>,
    /// None: runc is not installed; every pod that needs it is refused, saying so.
    runc: Option<Runc>,
    /// The runtime's own directory: bundles, pods' files, runc's state, the shims' files.
    dir: PathBuf,
    store: Store,
    /// Starts and follows each run's `runc run`.
    inner: ProcessRuntime,
    pids_limit: Option<i64>,
    runs: Mutex<HashMap<String, Arc<RuncRun>>>,
    primer: primer::Primer,
}

/// The runc binary: `/usr/sbin/runc`, else the first on `PATH`.
pub fn find_runc() -> Option<PathBuf> {
    let debian = Path::new(DEBIAN_RUNC);
    if debian.is_file() {
        return Some(debian.to_owned());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("runc"))
            .find(|p| p.is_file())
    })
}

impl RuncRuntime {
    /// A runc runtime keeping its files in `dir` and taking root filesystems from `store`.
    /// Without runc installed it still answers: it refuses every container, saying how to
    /// install runc (and says so once in the log now).
    pub fn new(
        clock: Arc<dyn Clock>,
        dir: impl Into<PathBuf>,
        store: Store,
        supervision: Supervision,
    ) -> RuncRuntime {
        let dir = dir.into();
        let runc = find_runc().map(|binary| Runc::new(binary, dir.join("state")).sealed(&dir));
        if runc.is_none() {
            tracing::warn!(
                "runc runtime: the runc binary is not installed (looked in {DEBIAN_RUNC} and on PATH): pods that need it fail until it is; install it with `{INSTALL_HINT}`"
            );
        }
        let inner = ProcessRuntime::with_cgroups(clock.clone(), None)
            .with_started_marker(command::PID_FILE);
        let inner = match supervision {
            Supervision::Shim(program) => inner.with_shim(program, dir.join("runs")),
            Supervision::Direct => inner,
        };
        let primer = primer::Primer::new(
            runc.as_ref()
                .and_then(|_| primer::Target::of_this_process()),
        );
        RuncRuntime {
            clock,
            runc,
            dir,
            store,
            inner,
            pids_limit: None,
            runs: Mutex::new(HashMap::new()),
            primer,
        }
    }

    /// Limits the number of processes of every container (kubelet's `--pod-max-pids`, per
    /// container here); `None` or a negative number: no limit.
    pub fn with_pids_limit(mut self, limit: Option<i64>) -> RuncRuntime {
        self.pids_limit = limit.filter(|l| *l > 0);
        self
    }

    /// Whether runc was found.
    pub fn available(&self) -> bool {
        self.runc.is_some()
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RuncRun>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn paths(&self) -> cleanup::Paths {
        cleanup::Paths {
            dir: self.dir.clone(),
            store: self.store.clone(),
        }
    }

    /// Wraps a started or adopted `runc run` in the handle that finishes the run.
    fn wrap(
        &self,
        runc: &Runc,
        container_id: String,
        inner: Arc<dyn ContainerHandle>,
    ) -> Arc<RuncRun> {
        let run = Arc::new(RuncRun {
            id: inner.id().to_owned(),
            container_id: container_id.clone(),
            runc: runc.clone(),
            inner: inner.clone(),
            exit: ExitCell::new(),
        });
        let watched = run.clone();
        let paths = self.paths();
        let runc = runc.clone();
        tokio::spawn(async move {
            let mut exit = inner.wait().await;
            exit.oom_killed = command::oom_killed(&cleanup::cgroups_path(&container_id));
            if exit.code != 0
                && exit.lost.is_none()
                && let Some(why) =
                    command::start_error(&bundle::bundle_dir(&paths.dir, &container_id))
            {
                // containerd's exit code for a container whose process never started.
                exit.code = 128;
                exit.start_error = Some(why);
            }
            if exit.lost.is_none() {
                cleanup::end_stopped_run(&runc, &paths, &container_id).await;
            } else {
                cleanup::end_run(&runc, &paths, &container_id).await;
            }
            watched.exit.set(exit);
        });
        run
    }

    /// The container id runc knows a run by: the pod's uid, then the run's id, so the
    /// clean-up at start can tell each leftover's pod.
    fn container_id(spec_pod_uid: &str, run_id: &str) -> String {
        format!("{spec_pod_uid}_{run_id}")
    }
}

#[async_trait]
impl Runtime for RuncRuntime {
    fn name(&self) -> &str {
        "runc"
    }

    fn uses_images(&self) -> bool {
        true
    }

    fn check(&self, container: &Container) -> Result<(), String> {
        if self.runc.is_none() {
            return Err(format!(
                "container {:?} needs the runc runtime, and runc is not installed on this node: install it with `{INSTALL_HINT}`",
                container.name
            ));
        }
        if !rustix::process::geteuid().is_root() {
            return Err(format!(
                "container {:?} needs the runc runtime, which needs the server to run as root (it mounts root filesystems and creates namespaces and cgroups)",
                container.name
            ));
        }
        if container.image.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "container {:?} has no image: the runc runtime runs containers from images",
                container.name
            ));
        }
        Ok(())
    }

    async fn start(&self, spec: ContainerSpec) -> Result<Arc<dyn ContainerHandle>, StartError> {
        let Some(runc) = &self.runc else {
            return Err(StartError(format!(
                "runc is not installed on this node: {INSTALL_HINT}"
            )));
        };
        if let Some(run) = self.runs().get(&spec.id).cloned() {
            return Ok(run);
        }
        let Some(image) = spec.image.clone() else {
            return Err(StartError("the container has no image".into()));
        };
        self.primer.prime();
        let container_id = Self::container_id(&spec.pod.uid, &spec.id);
        let paths = self.paths();
        let prepared = bundle::prepare(
            &paths,
            &spec,
            &image,
            &container_id,
            self.pids_limit,
            self.clock.now(),
        )
        .await;
        let bundle_dir = match prepared {
            Ok(dir) => dir,
            Err(e) => {
                cleanup::end_run(runc, &paths, &container_id).await;
                return Err(StartError(e));
            }
        };
        let inner_spec = ContainerSpec {
            argv: runc.run_argv(&bundle_dir, &container_id),
            env: vec![(
                "PATH".to_owned(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            )],
            working_dir: bundle_dir,
            limits: super::Limits::default(),
            // runc binds the volumes into the container itself (config.json's mounts): a
            // mount namespace of their own for `runc run` would only cost an unshare and a
            // mount per volume on every start (and, in the shim, a probe for the support).
            mounts: Vec::new(),
            image: None,
            ..spec.clone()
        };
        let inner = match self.inner.start(inner_spec).await {
            Ok(h) => h,
            Err(e) => {
                cleanup::end_run(runc, &paths, &container_id).await;
                return Err(e);
            }
        };
        let run = self.wrap(runc, container_id, inner);
        self.runs().insert(spec.id, run.clone());
        Ok(run)
    }

    fn find(&self, id: &str) -> Option<Arc<dyn ContainerHandle>> {
        self.runs()
            .get(id)
            .map(|r| r.clone() as Arc<dyn ContainerHandle>)
    }

    async fn adopt(&self, run: &RunRecord) -> Option<Arc<dyn ContainerHandle>> {
        let runc = self.runc.as_ref()?;
        let inner = self.inner.adopt(run).await?;
        let uid = cleanup::pod_of_record(&self.dir, run)?;
        let adopted = self.wrap(runc, Self::container_id(&uid, &run.id), inner);
        self.runs().insert(run.id.clone(), adopted.clone());
        Some(adopted)
    }

    fn forget(&self, id: &str) {
        self.runs().remove(id);
        self.inner.forget(id);
    }

    async fn reclaim(&self, record: &ProcessRecord) -> bool {
        // Ends the run's `runc run`; the container itself goes with its pod
        // (`release_pod`), which every reclaim is followed by or part of.
        self.inner.reclaim(record).await
    }

    fn pods(&self) -> Vec<String> {
        let mut pods = self.inner.pods();
        pods.extend(cleanup::pods(&self.paths(), self.runc.as_ref()));
        pods.sort();
        pods.dedup();
        pods
    }

    async fn release_pod(&self, uid: &str) {
        self.inner.release_pod(uid).await;
        cleanup::end_pod(self.runc.as_ref(), &self.paths(), uid).await;
    }
}

impl Drop for RuncRuntime {
    /// The runtime stops (its server or agent exits): the containers' parent cgroup goes
    /// where no container is left in it.
    fn drop(&mut self) {
        if self.runc.is_some() {
            cleanup::remove_cgroup_parent();
        }
    }
}

/// One run: its `runc run` (followed by the process runtime) and the container it runs.
#[derive(Debug)]
struct RuncRun {
    id: String,
    container_id: String,
    runc: Runc,
    inner: Arc<dyn ContainerHandle>,
    /// Set once the run has ended and what it left has been removed.
    exit: ExitCell,
}

#[async_trait]
impl ContainerHandle for RuncRun {
    fn id(&self) -> &str {
        &self.id
    }

    fn started_at(&self) -> jiff::Timestamp {
        self.inner.started_at()
    }

    fn process(&self) -> Option<ProcessRecord> {
        self.inner.process()
    }

    async fn wait(&self) -> Exit {
        self.exit.wait().await
    }

    fn signal(&self, signal: StopSignal) {
        if self.exit.get().is_some() {
            return;
        }
        let runc = self.runc.clone();
        let id = self.container_id.clone();
        tokio::spawn(async move { runc.kill(&id, signal).await });
    }
}
