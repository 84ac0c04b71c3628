//! A pod's volumes on the node, as kubelet's volume manager sets them up, and the mounts
//! of each container (kubelet's `makeMounts`).
//!
//! Each volume is a directory under `<data dir>/pod-volumes/<pod uid>/volumes/<plugin>/<name>`
//! (kubelet's layout under its `pods/<uid>`), except hostPath volumes and claims, which are directories of their
//! own. The pod's directory is `0750`, so nothing in it (Secret files included) is
//! reachable by other users of the host, whatever the files' own modes, which are
//! Kubernetes'. A container sees each volume at its `mountPath` through a bind mount in its
//! own mount namespace (`crate::runtime::mount_ns`); the runc runtime puts the same mounts
//! into its OCI spec.
//!
//! - emptyDir: a directory (`0777`); with `medium: Memory`, a tmpfs where the agent may
//!   mount one (root), sized by `sizeLimit`, else the memory limits of the pod's
//!   containers.
//! - configMap, secret, downwardAPI, projected (including service account tokens): files
//!   written by [`atomic::write`], read only to the containers; Secret volumes (and
//!   service account tokens) are kept off the disk as kubelet's are: a tmpfs where the agent
//!   may mount one, unless the run directory is a tmpfs already. Written again (when changed) each
//!   time a container of the pod starts, and every minute while one runs (the pod worker).
//! - hostPath: the host path itself, after its `type` check ([`host_path::check_type`]).
//! - persistentVolumeClaim: the claim's directory on this node, from the agent's claim
//!   resolver.
//!
//! With the pod's `fsGroup`, the files of every volume but hostPath and claims get that
//! group and its access ([`ownership`]); an emptyDir's once, when it is made.
//!
//! Set-up errors are kubelet's `FailedMount` (`MountVolume.SetUp failed for volume …`) and
//! keep the pod's containers waiting in `ContainerCreating` until they are resolved.

pub mod atomic;
pub mod claims;
pub mod host_path;
pub mod ownership;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume, VolumeMount,
};
use kbatch_api::serviceaccount::{TOKEN_MOUNT_PATH, TOKEN_VOLUME_PREFIX};

use crate::env::{NodeFacts, expand, field_value, find_container, lookup};
use crate::resources::downward_value;
use crate::runtime::Mount;
use crate::runtime::mount_ns::{Support, support};
use crate::sources::{Sources, TokenWanted};

use atomic::{FileProjection, Payload};

/// Where the pods' volumes are, under the agent's data dir (disk emptyDirs) and under its
/// run dir (the rest; [`crate::run_dir`]).
pub const PODS_DIR: &str = "pod-volumes";

/// The default `defaultMode` of ConfigMap, Secret, downward API and projected volumes.
const DEFAULT_MODE: i32 = 0o644;

/// A volume that could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {message}")]
pub struct VolumeError {
    pub volume: String,
    pub message: String,
}

/// Where one volume is on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVolume {
    pub path: PathBuf,
    /// Kubernetes mounts ConfigMap, Secret, downward API and projected volumes read-only,
    /// whatever the volume mount says.
    pub read_only: bool,
}

/// A pod's volumes by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodVolumes {
    pub volumes: BTreeMap<String, HostVolume>,
}

/// The directory of a pod's volumes.
pub fn pod_dir(data_dir: &Path, uid: &str) -> PathBuf {
    data_dir.join(PODS_DIR).join(uid)
}

/// Finds the directory of a PersistentVolumeClaim for a pod (or says why there is none).
pub trait ClaimResolver: std::fmt::Debug + Sync {
    fn claim_dir(&self, namespace: &str, claim: &str, read_only: bool) -> Result<PathBuf, String>;
}

/// What a pod's volumes are made from.
#[derive(Debug)]
pub struct SetUp<'a> {
    pub pod: &'a Pod,
    /// Where the pod's own data goes: emptyDir volumes on disk.
    pub data_dir: &'a Path,
    /// Where the volumes the agent writes from the API (configMap, secret, downward API,
    /// projected) and Memory emptyDirs are mounted: per-boot state ([`crate::run_dir`]),
    /// rebuilt from the API after a reboot.
    pub run_dir: &'a Path,
    pub node: &'a NodeFacts,
    pub sources: &'a Sources,
    pub claims: &'a dyn ClaimResolver,
}

impl SetUp<'_> {
    /// Sets up every volume of the pod (those already set up are left as they are, their
    /// files brought up to date).
    pub fn run(&self) -> Result<PodVolumes, VolumeError> {
        let uid = self.pod.metadata.uid.as_deref().unwrap_or("");
        let mut made = PodVolumes::default();
        let volumes = self.pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
        if volumes.is_none_or(Vec::is_empty) {
            return Ok(made);
        }
        let private = |path: &Path| -> Result<(), String> {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(path)
                .and_then(|()| {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o750))
                })
                .map_err(|e| format!("creating {}: {e}", path.display()))
        };
        for v in volumes.into_iter().flatten() {
            let fail = |message: String| VolumeError {
                volume: v.name.clone(),
                message,
            };
            let on_disk = v
                .empty_dir
                .as_ref()
                .is_some_and(|e| e.medium.as_deref() != Some("Memory"));
            let root = pod_dir(if on_disk { self.data_dir } else { self.run_dir }, uid);
            private(&root).map_err(fail)?;
            let volume = self.one(&root, v).map_err(fail)?;
            made.volumes.insert(v.name.clone(), volume);
        }
        Ok(made)
    }

    fn one(&self, root: &Path, v: &Volume) -> Result<HostVolume, String> {
        let dir = |plugin: &str| root.join("volumes").join(plugin).join(&v.name);
        let ns = self.pod.metadata.namespace.as_deref().unwrap_or("");
        if let Some(empty) = &v.empty_dir {
            let path = dir("kubernetes.io~empty-dir");
            let made = !path.is_dir();
            make_dir(&path, 0o777)?;
            if empty.medium.as_deref() == Some("Memory") {
                let size = empty
                    .size_limit
                    .as_ref()
                    .and_then(|q| crate::resources::value(&q.0))
                    .or_else(|| pod_memory_limit(self.pod));
                mount_tmpfs(&path, size, 0o777)?;
            }
            if made && let Some(group) = ownership::fs_group(self.pod) {
                ownership::set(&path, group, false)
                    .map_err(|e| format!("setting the fsGroup of {}: {e}", path.display()))?;
            }
            return Ok(HostVolume {
                path,
                read_only: false,
            });
        }
        if let Some(cm) = &v.config_map {
            let path = dir("kubernetes.io~configmap");
            let mut payload = Payload::new();
            let mode = cm.default_mode.unwrap_or(DEFAULT_MODE);
            config_map_payload(
                &mut payload,
                self.sources,
                &cm.name,
                cm.items.as_deref(),
                cm.optional,
                mode,
            )?;
            self.write_payload(&path, &mut payload, false)?;
            return Ok(read_only(path));
        }
        if let Some(s) = &v.secret {
            let path = dir("kubernetes.io~secret");
            let mut payload = Payload::new();
            let mode = s.default_mode.unwrap_or(DEFAULT_MODE);
            let name = s.secret_name.as_deref().unwrap_or("");
            secret_payload(
                &mut payload,
                self.sources,
                name,
                s.items.as_deref(),
                s.optional,
                mode,
            )?;
            self.write_payload(&path, &mut payload, true)?;
            return Ok(read_only(path));
        }
        if let Some(d) = &v.downward_api {
            let path = dir("kubernetes.io~downward-api");
            let mut payload = Payload::new();
            let mode = d.default_mode.unwrap_or(DEFAULT_MODE);
            self.downward_payload(&mut payload, d.items.as_deref(), mode)?;
            self.write_payload(&path, &mut payload, false)?;
            return Ok(read_only(path));
        }
        if let Some(p) = &v.projected {
            let path = dir("kubernetes.io~projected");
            let mut payload = Payload::new();
            let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
            let mut secret = false;
            for source in p.sources.iter().flatten() {
                if let Some(cm) = &source.config_map {
                    config_map_payload(
                        &mut payload,
                        self.sources,
                        &cm.name,
                        cm.items.as_deref(),
                        cm.optional,
                        mode,
                    )?;
                }
                if let Some(s) = &source.secret {
                    secret = true;
                    secret_payload(
                        &mut payload,
                        self.sources,
                        &s.name,
                        s.items.as_deref(),
                        s.optional,
                        mode,
                    )?;
                }
                if let Some(d) = &source.downward_api {
                    self.downward_payload(&mut payload, d.items.as_deref(), mode)?;
                }
                if let Some(t) = &source.service_account_token {
                    // kubelet's projected volume: the token from the TokenRequest API, bound
                    // to the pod; like Secrets, never on disk where a tmpfs can be had.
                    secret = true;
                    let token = match self.sources.tokens.get(&TokenWanted::of(t)) {
                        Some(Ok(token)) => token.clone(),
                        Some(Err(e)) => return Err(format!("failed to fetch token: {e}")),
                        None => return Err("failed to fetch token: not requested".to_owned()),
                    };
                    add(&mut payload, &t.path, token.into_bytes(), None, mode)?;
                }
                // clusterTrustBundle sources are not projected: kbatch serves no
                // ClusterTrustBundles.
            }
            self.write_payload(&path, &mut payload, secret)?;
            return Ok(read_only(path));
        }
        if let Some(h) = &v.host_path {
            let path = PathBuf::from(&h.path);
            host_path::check_type(&path, h.type_.as_deref())?;
            return Ok(HostVolume {
                path,
                read_only: false,
            });
        }
        if let Some(claim) = &v.persistent_volume_claim {
            let read_only = claim.read_only == Some(true);
            let path = self.claims.claim_dir(ns, &claim.claim_name, read_only)?;
            return Ok(HostVolume { path, read_only });
        }
        Err(format!(
            "volume {:?} is of a type this node cannot set up (emptyDir, configMap, secret, downwardAPI, projected, hostPath and persistentVolumeClaim are supported)",
            v.name
        ))
    }

    /// The files of a downward API volume (`CollectData`).
    fn downward_payload(
        &self,
        payload: &mut Payload,
        items: Option<&[DownwardAPIVolumeFile]>,
        default_mode: i32,
    ) -> Result<(), String> {
        for item in items.into_iter().flatten() {
            let value = if let Some(field) = &item.field_ref {
                field_value(self.pod, &field.field_path, self.node).map_err(|e| e.0)?
            } else if let Some(resource) = &item.resource_field_ref {
                let name = resource.container_name.as_deref().unwrap_or("");
                let container = find_container(self.pod, name)
                    .ok_or_else(|| format!("container {name:?} not found in pod"))?;
                downward_value(
                    container,
                    &resource.resource,
                    resource.divisor.as_ref(),
                    &self.node.allocatable,
                )?
            } else {
                continue;
            };
            add(
                payload,
                &item.path,
                value.into_bytes(),
                item.mode,
                default_mode,
            )?;
        }
        Ok(())
    }

    /// Writes a payload into a volume directory, and gives it the pod's `fsGroup`. A Secret's
    /// (or a token's) directory gets a tmpfs of its own where the agent may mount one, as
    /// kubelet's do, unless it is on a tmpfs already (the run directory's default): the files
    /// are then kept off the disk without a mount. Each mount would be copied into every
    /// container's mount namespace started while it exists, and torn down with each of them.
    fn write_payload(
        &self,
        path: &Path,
        payload: &mut Payload,
        secret: bool,
    ) -> Result<(), String> {
        let group = ownership::fs_group(self.pod);
        if group.is_some() {
            ownership::payload_modes(payload);
        }
        make_dir(path, 0o755)?;
        if secret && !crate::run_dir::is_tmpfs(path) {
            mount_tmpfs(path, None, 0o755)?;
        }
        atomic::write(path, payload).map_err(|e| format!("writing {}: {e}", path.display()))?;
        if let Some(group) = group {
            ownership::set(path, group, true)
                .map_err(|e| format!("setting the fsGroup of {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

fn read_only(path: PathBuf) -> HostVolume {
    HostVolume {
        path,
        read_only: true,
    }
}

fn add(
    payload: &mut Payload,
    path: &str,
    data: Vec<u8>,
    mode: Option<i32>,
    default_mode: i32,
) -> Result<(), String> {
    atomic::validate_path(path)?;
    let mode = u32::try_from(mode.unwrap_or(default_mode) & 0o7777).unwrap_or(0o644);
    payload.insert(path.to_owned(), FileProjection { data, mode });
    Ok(())
}

/// The files of a ConfigMap (kubelet's configmap `MakePayload`): every key, or the listed
/// ones at their paths.
fn config_map_payload(
    payload: &mut Payload,
    sources: &Sources,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    default_mode: i32,
) -> Result<(), String> {
    let Some(cm) = named(
        &sources.config_maps,
        name,
        optional,
        crate::env::config_map_not_found,
    )?
    else {
        return Ok(());
    };
    let mut data: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for (k, v) in cm.data.iter().flatten() {
        data.insert(k, v.as_bytes());
    }
    for (k, v) in cm.binary_data.iter().flatten() {
        data.insert(k, &v.0);
    }
    select(payload, &data, items, optional, default_mode, |key| {
        format!("configmap references non-existent config key: {key}")
    })
}

/// The files of a Secret (kubelet's secret `MakePayload`).
fn secret_payload(
    payload: &mut Payload,
    sources: &Sources,
    name: &str,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    default_mode: i32,
) -> Result<(), String> {
    let Some(secret) = named(
        &sources.secrets,
        name,
        optional,
        crate::env::secret_not_found,
    )?
    else {
        return Ok(());
    };
    let data: BTreeMap<&str, &[u8]> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.0.as_slice()))
        .collect();
    select(payload, &data, items, optional, default_mode, |key| {
        format!("references non-existent secret key: {key}")
    })
}

/// The object a volume names, read through the API; `None` for a missing optional one,
/// kubelet's not-found message for a missing required one.
fn named<'a, T>(
    read: &'a BTreeMap<String, Option<T>>,
    name: &str,
    optional: Option<bool>,
    not_found: fn(&str) -> String,
) -> Result<Option<&'a T>, String> {
    match read.get(name).and_then(Option::as_ref) {
        Some(found) => Ok(Some(found)),
        None if optional == Some(true) => Ok(None),
        None => Err(not_found(name)),
    }
}

fn select(
    payload: &mut Payload,
    data: &BTreeMap<&str, &[u8]>,
    items: Option<&[KeyToPath]>,
    optional: Option<bool>,
    default_mode: i32,
    missing: impl Fn(&str) -> String,
) -> Result<(), String> {
    match items {
        None | Some([]) => {
            for (k, v) in data {
                add(payload, k, v.to_vec(), None, default_mode)?;
            }
        }
        Some(items) => {
            for item in items {
                match data.get(item.key.as_str()) {
                    Some(v) => add(payload, &item.path, v.to_vec(), item.mode, default_mode)?,
                    None if optional == Some(true) => {}
                    None => return Err(missing(&item.key)),
                }
            }
        }
    }
    Ok(())
}

/// The total of the pod's containers' memory limits, when each has one (kubelet sizes a
/// memory-backed emptyDir without `sizeLimit` so).
fn pod_memory_limit(pod: &Pod) -> Option<i128> {
    let spec = pod.spec.as_ref()?;
    let mut total: i128 = 0;
    for c in &spec.containers {
        total += crate::resources::limits(c).memory_bytes.map(i128::from)?;
    }
    Some(total)
}

fn make_dir(path: &Path, mode: u32) -> Result<(), String> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(path)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(|e| format!("creating {}: {e}", path.display()))
}

/// Mounts a tmpfs on `path` unless one is there; without root, `path` stays a directory
/// on the data dir's filesystem.
fn mount_tmpfs(path: &Path, size: Option<i128>, mode: u32) -> Result<(), String> {
    if *support() != Support::Root || mounted(path) {
        return Ok(());
    }
    let mut options = format!("mode={mode:o}");
    if let Some(size) = size.filter(|s| *s > 0) {
        options.push_str(&format!(",size={size}"));
    }
    let options = std::ffi::CString::new(options).map_err(|e| e.to_string())?;
    rustix::mount::mount(
        "tmpfs",
        path,
        "tmpfs",
        rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
        Some(options.as_c_str()),
    )
    .map_err(|e| format!("mounting a tmpfs on {}: {e}", path.display()))
}

/// The mount points at or under `under`, from `/proc/self/mountinfo`, deepest last.
fn mounts_under(under: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(under))
        .collect();
    found.sort_by_key(|p| p.components().count());
    found
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let Some(d) = octal {
            out.push(d.iter().fold(0u8, |v, b| v.wrapping_mul(8) + (b - b'0')));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&out),
    ))
}

/// Whether `path` is a mount point: from `statx`'s `STATX_ATTR_MOUNT_ROOT` (Linux 5.8) where
/// the kernel reports it, from `/proc/self/mountinfo` elsewhere. The kernel formats the whole
/// mount table for each read of mountinfo: read twice per pod (mount and tear-down), that was
/// about a tenth of the agent's CPU in a Job of short pods (docs/benchmarks/jobs.md §5.5).
fn mounted(path: &Path) -> bool {
    mount_root(path).unwrap_or_else(|| mounts_under(path).iter().any(|p| p == path))
}

/// `statx`'s answer to whether `path` is a mount root; None where the kernel does not say
/// (or `path` cannot be read).
fn mount_root(path: &Path) -> Option<bool> {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    let st = rustix::fs::statx(
        rustix::fs::CWD,
        path,
        AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::empty(),
    )
    .ok()?;
    st.stx_attributes_mask
        .contains(StatxAttributes::MOUNT_ROOT)
        .then(|| st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT))
}

/// The agent's mounts in a pod's directory: it mounts only volume directories
/// (`volumes/<plugin>/<name>`), so those are all `statx` needs to look at. None where the
/// kernel does not say which directories are mount points.
fn volume_mounts(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut found = Vec::new();
    let Ok(plugins) = std::fs::read_dir(dir.join("volumes")) else {
        return Some(found);
    };
    for plugin in plugins.flatten() {
        let Ok(volumes) = std::fs::read_dir(plugin.path()) else {
            continue;
        };
        for volume in volumes.flatten() {
            let path = volume.path();
            if mount_root(&path)? {
                found.push(path);
            }
        }
    }
    Some(found)
}

/// Removes a pod's volumes from the node, in the data and the run directory: its tmpfs
/// mounts first, then its directories (hostPath and claim directories are not in them, and
/// stay).
pub fn tear_down(data_dir: &Path, run_dir: &Path, uid: &str) {
    tear_down_in(&pod_dir(data_dir, uid));
    if run_dir != data_dir {
        tear_down_in(&pod_dir(run_dir, uid));
    }
}

fn tear_down_in(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let unmount = |mounts: &[PathBuf]| {
        for mount in mounts.iter().rev() {
            if let Err(e) = rustix::mount::unmount(mount, rustix::mount::UnmountFlags::DETACH) {
                tracing::warn!(mount = %mount.display(), error = %e, "unmounting a pod's volume");
            }
        }
    };
    let by_table = || {
        unmount(&mounts_under(dir));
        std::fs::remove_dir_all(dir)
    };
    let removed = match volume_mounts(dir) {
        Some(mounts) => {
            unmount(&mounts);
            // Something else mounted in the directory stops the removal before anything of
            // it is removed; the mount table says what it is.
            remove_unmounted(dir).or_else(|_| by_table())
        }
        None => by_table(),
    };
    if let Err(e) = removed {
        tracing::warn!(dir = %dir.display(), error = %e, "removing a pod's volumes");
    }
}

/// Removes the tree at `dir` without entering a mount point: it fails at the first directory
/// `statx` does not say is an ordinary one.
fn remove_unmounted(dir: &Path) -> std::io::Result<()> {
    if mount_root(dir) != Some(false) {
        return Err(std::io::Error::other(format!(
            "{} is a mount point",
            dir.display()
        )));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_unmounted(&entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// Removes the volumes of pods that are not in `keep` (left by an agent that stopped
/// before it removed them), in the data and the run directory.
pub fn remove_orphans(data_dir: &Path, run_dir: &Path, keep: &HashSet<String>) {
    for root in [data_dir, run_dir] {
        let Ok(entries) = std::fs::read_dir(root.join(PODS_DIR)) else {
            continue;
        };
        for e in entries.flatten() {
            let uid = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&uid) {
                tear_down_in(&pod_dir(root, &uid));
            }
        }
    }
}

/// The emptyDir volumes of `pod` on disk with a `sizeLimit`: name, directory and limit (in
/// bytes, and as the pod wrote it), for kubelet's local storage eviction. A Memory emptyDir
/// is left out: its tmpfs is sized by the limit already.
pub fn limited_empty_dirs(pod: &Pod, data_dir: &Path) -> Vec<(String, PathBuf, u64, String)> {
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    let root = pod_dir(data_dir, uid)
        .join("volumes")
        .join("kubernetes.io~empty-dir");
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    volumes
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let e = v.empty_dir.as_ref()?;
            if e.medium.as_deref() == Some("Memory") {
                return None;
            }
            let limit = e.size_limit.as_ref()?;
            let bytes = u64::try_from(crate::resources::value(&limit.0)?).ok()?;
            Some((v.name.clone(), root.join(&v.name), bytes, limit.0.clone()))
        })
        .collect()
}

/// The disk space a directory tree takes (`du`: allocated blocks, symbolic links not
/// followed, other filesystems mounted inside not counted).
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let device = top.dev();
    let mut total = top.blocks() * 512;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != device {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}

/// Whether `mount` is the service account token mount admission adds to every container
/// (`kube-api-access-…` at the token path), rather than one the pod asked for.
pub fn is_token_mount(mount: &VolumeMount) -> bool {
    mount.name.starts_with(TOKEN_VOLUME_PREFIX) && mount.mount_path == TOKEN_MOUNT_PATH
}

/// The mounts of a container (kubelet's `makeMounts`): each volume mount's volume, or the
/// path in it that `subPath` (or `subPathExpr` expanded against the container's
/// environment) names, created as a directory if missing.
pub fn container_mounts(
    container: &Container,
    volumes: &PodVolumes,
    env: &[(String, String)],
) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for vm in container.volume_mounts.iter().flatten() {
        let volume = volumes.volumes.get(&vm.name).ok_or_else(|| {
            format!(
                "cannot find volume {:?} to mount into container {:?}",
                vm.name, container.name
            )
        })?;
        let sub_path = match (vm.sub_path.as_deref(), vm.sub_path_expr.as_deref()) {
            (Some(p), _) if !p.is_empty() => p.to_owned(),
            (_, Some(expr)) if !expr.is_empty() => expand_sub_path(expr, env)?,
            _ => String::new(),
        };
        let source = if sub_path.is_empty() {
            volume.path.clone()
        } else {
            sub_path_source(&volume.path, &sub_path).map_err(|e| match e {
                SubPathError::Create => format!(
                    "failed to create subPath directory for volumeMount {:?} of container {:?}",
                    vm.name, container.name
                ),
                SubPathError::Other(message) => message,
            })?
        };
        mounts.push(Mount {
            source,
            destination: PathBuf::from(&vm.mount_path),
            read_only: vm.read_only == Some(true) || volume.read_only,
        });
    }
    // Shallower mount paths first, so that none hides one below it whatever the order of
    // `volumeMounts` (containerd's `WithMounts` sorts them so, stably, for runc).
    mounts.sort_by_key(|m| m.destination.components().count());
    Ok(mounts)
}

/// `ExpandContainerVolumeMounts`: a variable that is unset or empty is an error.
fn expand_sub_path(expr: &str, env: &[(String, String)]) -> Result<String, String> {
    let missing = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let expanded = expand(expr, |name| match lookup(env, name) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            missing.borrow_mut().insert(name.to_owned());
            Some("")
        }
    });
    let missing = missing.into_inner();
    if !missing.is_empty() {
        return Err(format!(
            "missing value for {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if Path::new(&expanded).is_absolute() {
        return Err(format!("subpath {expanded:?} must not be absolute"));
    }
    if Path::new(&expanded)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(format!("subpath {expanded:?} must not contain '..'"));
    }
    Ok(expanded)
}

enum SubPathError {
    Create,
    Other(String),
}

/// The host path a `subPath` names, made a directory with the volume's mode if missing,
/// symlinks resolved and checked to stay inside the volume (kubelet's safe subpath).
fn sub_path_source(volume: &Path, sub_path: &str) -> Result<PathBuf, SubPathError> {
    let host = volume.join(sub_path);
    if std::fs::symlink_metadata(&host).is_err() {
        let mode = std::fs::metadata(volume)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o755);
        make_dir(&host, mode).map_err(|_| SubPathError::Create)?;
    }
    let real_volume = volume
        .canonicalize()
        .map_err(|e| SubPathError::Other(format!("{}: {e}", volume.display())))?;
    let real = host
        .canonicalize()
        .map_err(|e| SubPathError::Other(format!("{}: {e}", host.display())))?;
    if !real.starts_with(&real_volume) {
        return Err(SubPathError::Other(format!(
            "subpath {:?} not within volume path {:?}",
            real.display().to_string(),
            real_volume.display().to_string()
        )));
    }
    Ok(real)
}

#[cfg(test)]
mod tests;
