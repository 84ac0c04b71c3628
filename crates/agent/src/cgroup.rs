//! cgroups for the process runtime: one per run of a container, under the agent's own
//! cgroup, with the container's memory and CPU limits (what kubelet asks runc to set:
//! `memory.limit_in_bytes` / `memory.max`, CFS quota and shares / `cpu.max` and
//! `cpu.weight`), the OOM-kill counter that tells an `OOMKilled` exit from another SIGKILL,
//! and the member list that lets the agent kill everything a run started, even processes
//! that left its process group.
//!
//! Hosts differ: cgroup v1 with one hierarchy per controller, v2 with one unified hierarchy,
//! or both (v1 controllers with a v2 mount that holds none of them). Each controller is taken
//! from the hierarchy that offers it to this process; where none does, the agent says so
//! once and runs containers without limits.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::runtime::Limits;

/// The CFS period kubelet uses (`quotaPeriod`, 100ms).
const CPU_PERIOD_US: u64 = 100_000;
/// kubelet's `MinQuotaPeriod`-derived floor for a quota (1ms).
const MIN_QUOTA_US: u64 = 1_000;

/// A cgroup hierarchy's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V1,
    V2,
}

/// A hierarchy the agent creates cgroups in, and which of the controllers it uses there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    version: Version,
    /// `<the agent's own cgroup>/kbatch`.
    base: PathBuf,
    memory: bool,
    cpu: bool,
}

/// The cgroup hierarchies usable on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    hierarchies: Vec<Hierarchy>,
}

/// A mounted cgroup hierarchy (from `/proc/self/mountinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    version: Version,
    /// Where the hierarchy is mounted.
    point: PathBuf,
    /// Which cgroup of the hierarchy the mount shows at its point.
    root: String,
    /// v1: the controllers bound to it.
    controllers: Vec<String>,
}

impl Cgroups {
    /// Finds the hierarchies this process may create cgroups in. The error says why none is
    /// usable.
    pub fn detect() -> Result<Cgroups, String> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
        let membership = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
        Self::from_host(&parse_mounts(&mountinfo), &membership)
    }

    fn from_host(mounts: &[Mount], membership: &str) -> Result<Cgroups, String> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        // v2 first: where the unified hierarchy offers a controller, it is the one to use.
        let v2 = mounts
            .iter()
            .find(|m| m.version == Version::V2)
            .and_then(|m| Some((m, own_path(membership, None)?)));
        let mut have_memory = false;
        let mut have_cpu = false;
        if let Some((mount, path)) = v2 {
            match own_dir(mount, &path).map(|own| setup_v2(&own)) {
                Some(Ok(h)) => {
                    have_memory = h.memory;
                    have_cpu = h.cpu;
                    if h.memory || h.cpu {
                        hierarchies.push(h);
                    }
                }
                Some(Err(e)) => problems.push(e),
                None => problems.push(format!(
                    "the cgroup2 mount at {} does not show this process's cgroup {path}",
                    mount.point.display()
                )),
            }
        }
        for (controller, have) in [("memory", have_memory), ("cpu", have_cpu)] {
            if have {
                continue;
            }
            let Some(mount) = mounts.iter().find(|m| {
                m.version == Version::V1 && m.controllers.iter().any(|c| c == controller)
            }) else {
                continue;
            };
            let Some(path) = own_path(membership, Some(controller)) else {
                continue;
            };
            let Some(own) = own_dir(mount, &path) else {
                problems.push(format!(
                    "the {controller} hierarchy at {} does not show this process's cgroup {path}",
                    mount.point.display()
                ));
                continue;
            };
            let base = own.join("kbatch");
            let probe = match controller {
                "memory" => "memory.limit_in_bytes",
                _ => "cpu.cfs_quota_us",
            };
            match std::fs::create_dir_all(&base) {
                Ok(()) if base.join(probe).exists() => {
                    if let Some(h) = hierarchies
                        .iter_mut()
                        .find(|h| h.version == Version::V1 && h.base == base)
                    {
                        h.memory |= controller == "memory";
                        h.cpu |= controller == "cpu";
                    } else {
                        hierarchies.push(Hierarchy {
                            version: Version::V1,
                            base,
                            memory: controller == "memory",
                            cpu: controller == "cpu",
                        });
                    }
                }
                Ok(()) => problems.push(format!("{} has no {probe}", base.display())),
                Err(e) => problems.push(format!("creating {}: {e}", base.display())),
            }
        }
        if hierarchies.is_empty() {
            if problems.is_empty() {
                problems.push("no cgroup hierarchy offers the memory or cpu controller".into());
            }
            return Err(problems.join("; "));
        }
        Ok(Cgroups { hierarchies })
    }

    /// Where memory and CPU limits go, for the log.
    pub fn describe(&self) -> String {
        self.hierarchies
            .iter()
            .map(|h| {
                let what: Vec<&str> = [("memory", h.memory), ("cpu", h.cpu)]
                    .into_iter()
                    .filter_map(|(n, on)| on.then_some(n))
                    .collect();
                format!(
                    "{} via cgroup {} at {}",
                    what.join("+"),
                    match h.version {
                        Version::V1 => "v1",
                        Version::V2 => "v2",
                    },
                    h.base.display()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether memory limits are enforced (and OOM kills detected).
    pub fn limits_memory(&self) -> bool {
        self.hierarchies.iter().any(|h| h.memory)
    }

    /// Creates the cgroups of one run: `<base>/pod<uid>/<name>` in every hierarchy.
    pub fn create(&self, pod_uid: &str, name: &str) -> io::Result<RunCgroup> {
        let mut dirs = Vec::new();
        for h in &self.hierarchies {
            let pod = h.base.join(format!("pod{pod_uid}"));
            std::fs::create_dir_all(&pod)?;
            if h.version == Version::V2 {
                enable_controllers(&pod, h)?;
            }
            let dir = pod.join(name);
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            dirs.push(RunDir {
                version: h.version,
                memory: h.memory,
                cpu: h.cpu,
                path: dir,
            });
        }
        Ok(RunCgroup { dirs })
    }

    /// The directories [`Cgroups::create`] makes for this run, whether or not it has.
    pub fn run_paths(&self, pod_uid: &str, name: &str) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|h| h.base.join(format!("pod{pod_uid}")).join(name))
            .collect()
    }

    /// Kills whatever is left in a pod's cgroups, then removes them.
    pub async fn end_pod(&self, pod_uid: &str) {
        for h in &self.hierarchies {
            let pod = h.base.join(format!("pod{pod_uid}"));
            let runs: Vec<PathBuf> = std::fs::read_dir(&pod)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default();
            kill_all(&runs).await;
            remove(&runs).await;
            let _ = std::fs::remove_dir(&pod);
        }
    }
}

/// `<controllers>:<path>` lines of `/proc/self/cgroup`: this process's cgroup in the v1
/// hierarchy of `controller`, or in the unified one with `None`.
fn own_path(membership: &str, controller: Option<&str>) -> Option<String> {
    membership.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            None => controllers.is_empty(),
            Some(c) => controllers.split(',').any(|x| x == c),
        };
        matches.then(|| path.to_owned())
    })
}

/// The directory of cgroup `path` under a mount that shows the hierarchy from `root`.
fn own_dir(mount: &Mount, path: &str) -> Option<PathBuf> {
    let relative = if mount.root == "/" {
        path
    } else {
        path.strip_prefix(mount.root.as_str())?
    };
    let relative = relative.trim_start_matches('/');
    Some(if relative.is_empty() {
        mount.point.clone()
    } else {
        mount.point.join(relative)
    })
}

/// The cgroup hierarchies mounted on this host, where each is mounted and, for v1, the
/// controllers bound to it: (point, version, controllers). Empty if mountinfo cannot be read.
pub(crate) fn mounted_hierarchies() -> Vec<(PathBuf, Version, Vec<String>)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse_mounts(&mountinfo)
        .into_iter()
        .map(|m| (m.point, m.version, m.controllers))
        .collect()
}

/// This process's own cgroup in a mounted hierarchy, and the hierarchy's version: a v1 one
/// first (where a thread can be moved alone), else the unified one. For a write that moves
/// a thread, or this process, to where it already is (`runc::primer`). None where no mounted
/// hierarchy shows this process's cgroup.
pub(crate) fn own_cgroup() -> Option<(PathBuf, Version)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    own_cgroup_in(&parse_mounts(&mountinfo), &membership)
}

fn own_cgroup_in(mounts: &[Mount], membership: &str) -> Option<(PathBuf, Version)> {
    let v1 = membership.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        // A named hierarchy's line says `name=systemd`, as its mount's options do.
        let first = controllers.split(',').next().filter(|c| !c.is_empty())?;
        let mount = mounts
            .iter()
            .find(|m| m.version == Version::V1 && m.controllers.iter().any(|c| c == first))?;
        Some((own_dir(mount, path)?, Version::V1))
    });
    v1.or_else(|| {
        let mount = mounts.iter().find(|m| m.version == Version::V2)?;
        Some((own_dir(mount, &own_path(membership, None)?)?, Version::V2))
    })
}

/// The cgroup hierarchies in `/proc/self/mountinfo`.
fn parse_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let (root, point) = (*fields.get(3)?, *fields.get(4)?);
            let mut after = after.split(' ');
            let fstype = after.next()?;
            let _source = after.next()?;
            let options = after.next().unwrap_or("");
            let version = match fstype {
                "cgroup" => Version::V1,
                "cgroup2" => Version::V2,
                _ => return None,
            };
            Some(Mount {
                version,
                point: PathBuf::from(point),
                root: root.to_owned(),
                controllers: options.split(',').map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// Prepares `<own>/kbatch` in the unified hierarchy. v2 hands a controller down only where
/// each ancestor enables it for its children, and a cgroup that holds processes (other than
/// the root) may not: an agent sharing its cgroup with others gets no v2 controllers.
fn setup_v2(own: &Path) -> Result<Hierarchy, String> {
    let available = std::fs::read_to_string(own.join("cgroup.controllers")).unwrap_or_default();
    let offered = |c: &str| available.split_whitespace().any(|x| x == c);
    let base = own.join("kbatch");
    let mut h = Hierarchy {
        version: Version::V2,
        base: base.clone(),
        memory: false,
        cpu: false,
    };
    if !offered("memory") && !offered("cpu") {
        return Ok(h);
    }
    std::fs::create_dir_all(&base).map_err(|e| format!("creating {}: {e}", base.display()))?;
    for (controller, flag) in [("memory", &mut h.memory), ("cpu", &mut h.cpu)] {
        if offered(controller)
            && std::fs::write(own.join("cgroup.subtree_control"), format!("+{controller}")).is_ok()
            && std::fs::write(
                base.join("cgroup.subtree_control"),
                format!("+{controller}"),
            )
            .is_ok()
        {
            *flag = true;
        }
    }
    Ok(h)
}

fn enable_controllers(dir: &Path, h: &Hierarchy) -> io::Result<()> {
    for (controller, on) in [("memory", h.memory), ("cpu", h.cpu)] {
        if on {
            std::fs::write(dir.join("cgroup.subtree_control"), format!("+{controller}"))?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RunDir {
    version: Version,
    memory: bool,
    cpu: bool,
    path: PathBuf,
}

/// The cgroups of one run; serialisable, so the run's supervisor (`crate::shim`) can be
/// handed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCgroup {
    dirs: Vec<RunDir>,
}

impl RunCgroup {
    /// Sets the run's limits (kubelet's `milliCPUToQuota` and `milliCPUToShares`).
    pub fn apply(&self, limits: &Limits) -> io::Result<()> {
        for d in &self.dirs {
            let write = |file: &str, value: String| std::fs::write(d.path.join(file), value);
            if d.memory
                && let Some(bytes) = limits.memory_bytes
            {
                match d.version {
                    Version::V1 => write("memory.limit_in_bytes", bytes.to_string())?,
                    Version::V2 => write("memory.max", bytes.to_string())?,
                }
            }
            if d.cpu {
                let shares = limits
                    .cpu_request_millis
                    .map_or(2, |m| (m * 1024 / 1000).max(2));
                let quota = limits
                    .cpu_millis
                    .map(|m| (m * CPU_PERIOD_US / 1000).max(MIN_QUOTA_US));
                match d.version {
                    Version::V1 => {
                        write("cpu.shares", shares.to_string())?;
                        if let Some(q) = quota {
                            write("cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
                            write("cpu.cfs_quota_us", q.to_string())?;
                        }
                    }
                    Version::V2 => {
                        // The conversion runc applies from shares to weight.
                        let weight = 1 + ((shares.saturating_sub(2)) * 9999) / 262_142;
                        write("cpu.weight", weight.to_string())?;
                        if let Some(q) = quota {
                            write("cpu.max", format!("{q} {CPU_PERIOD_US}"))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The files a child writes `0` to between fork and exec to join the run's cgroups,
    /// opened beforehand.
    ///
    /// On v1 that is `tasks`, which moves the writing thread alone: the forked child has only
    /// the one, so it moves the whole process, and the kernel moves a thread that moves itself
    /// without write-locking the global `cgroup_threadgroup_rwsem`
    /// (`cgroup_procs_write_start`). A write to `cgroup.procs` takes that lock, which waits
    /// for an RCU grace period unless another migration just did: 10 to 20 ms per run on an
    /// otherwise idle host, most of a pod's start. v2 allows a thread to move alone only
    /// within a threaded subtree, so there it is `cgroup.procs`.
    pub fn open_join_files(&self) -> io::Result<Vec<File>> {
        self.dirs
            .iter()
            .map(|d| {
                let file = match d.version {
                    Version::V1 => "tasks",
                    Version::V2 => "cgroup.procs",
                };
                File::options().write(true).open(d.path.join(file))
            })
            .collect()
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.path.clone()).collect()
    }

    /// Whether the kernel's OOM killer killed anything in the run.
    pub fn oom_killed(&self) -> bool {
        self.dirs.iter().filter(|d| d.memory).any(|d| {
            let file = match d.version {
                Version::V1 => "memory.oom_control",
                Version::V2 => "memory.events",
            };
            std::fs::read_to_string(d.path.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    }
}

/// SIGKILLs every process in the cgroups at `paths` until none is left (v1 has no
/// `cgroup.kill`, and a process may fork while it is being killed).
pub async fn kill_all(paths: &[PathBuf]) {
    for path in paths {
        let kill_file = path.join("cgroup.kill");
        if kill_file.exists() {
            let _ = std::fs::write(&kill_file, "1");
        }
        for _ in 0..200 {
            let pids = members(path);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The processes in a cgroup.
pub fn members(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Removes the (emptied) cgroups at `paths`; the kernel may take a moment to let go of the
/// last killed process.
pub async fn remove(paths: &[PathBuf]) {
    for path in paths {
        for _ in 0..50 {
            match std::fs::remove_dir(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Ok(()) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
34 25 8:1 / / rw - ext4 /dev/sda1 rw";

    #[test]
    fn mounts_and_membership() {
        let mounts = parse_mounts(MOUNTINFO);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].version, Version::V2);
        assert_eq!(mounts[2].controllers, ["rw", "cpu", "cpuacct"]);
        let membership = "4:memory:/agents/a1\n2:cpu,cpuacct:/\n0::/\n";
        assert_eq!(
            own_path(membership, Some("memory")).as_deref(),
            Some("/agents/a1")
        );
        assert_eq!(own_path(membership, Some("cpuacct")).as_deref(), Some("/"));
        assert_eq!(own_path(membership, None).as_deref(), Some("/"));
        assert_eq!(
            own_dir(&mounts[1], "/agents/a1"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/agents/a1"))
        );
        // A mount that shows only part of the hierarchy (a cgroup namespace, a container).
        let inner = Mount {
            root: "/agents".into(),
            ..mounts[1].clone()
        };
        assert_eq!(
            own_dir(&inner, "/agents/a1"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/a1"))
        );
        assert_eq!(own_dir(&inner, "/other"), None);
    }

    #[test]
    fn own_cgroup_is_in_a_v1_hierarchy_first() {
        let mounts = parse_mounts(MOUNTINFO);
        let membership = "4:memory:/agents/a1\n2:cpu,cpuacct:/\n0::/x\n";
        assert_eq!(
            own_cgroup_in(&mounts, membership),
            Some((
                PathBuf::from("/sys/fs/cgroup/memory/agents/a1"),
                Version::V1
            ))
        );
        // Only the unified hierarchy.
        assert_eq!(
            own_cgroup_in(&mounts[..1], membership),
            Some((PathBuf::from("/sys/fs/cgroup/unified/x"), Version::V2))
        );
        // No hierarchy shows this process.
        assert_eq!(own_cgroup_in(&mounts[1..2], "0::/x\n"), None);
        assert_eq!(own_cgroup_in(&[], membership), None);
    }

    #[test]
    fn nothing_usable_says_why() {
        let err = Cgroups::from_host(&[], "0::/\n").unwrap_err();
        assert!(err.contains("no cgroup hierarchy"), "{err}");
    }
}
