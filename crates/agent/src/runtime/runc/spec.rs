//! The OCI runtime spec (`config.json`) of one run of a container: a pure function of the
//! pod, the container, the image's config and the paths the runtime prepared. It follows
//! what kubelet asks of its container runtime and what containerd's CRI plugin then writes
//! (`pkg/cri/opts/spec_linux.go`, `containerSpec` in `container_create_linux.go`):
//!
//! - **argv**: kubelet's rule (`ExpandContainerCommandAndArgs`, then containerd's
//!   `WithProcessArgs`): `command` replaces the image's ENTRYPOINT and drops its CMD; `args`
//!   alone replaces CMD; neither runs ENTRYPOINT + CMD.
//! - **env**: the image's ENV, then the container's (a container variable of the same name
//!   wins), as containerd's `WithEnv` merges them.
//! - **cwd**: `workingDir`, else the image's WORKDIR, else `/`.
//! - **user**: `runAsUser`/`runAsGroup` (the container's, else the pod's) over the image's
//!   USER, names resolved in the image's `/etc/passwd` and `/etc/group`; the pod's
//!   `supplementalGroups` and `fsGroup` as additional groups. `runAsNonRoot` is kubelet's
//!   `verifyRunAsNonRoot`, with its messages.
//! - **capabilities**: containerd's default set, then `add`, then `drop` (`ALL` in either);
//!   `noNewPrivileges` when `allowPrivilegeEscalation: false`.
//! - **namespaces**: pid, mount, ipc and uts of its own, the host's network; the hostname is
//!   the pod's (`spec.hostname`, else the pod's name, as `GeneratePodHostNameAndDomain`).
//! - **mounts**: runc's defaults, the pod's `/etc/hosts`, `/etc/resolv.conf` and
//!   `/etc/hostname`, and the container's volume mounts, which the agent's volumes module set
//!   up on the host (every volume type, `subPath` resolved, `fsGroup` applied) for both
//!   runtimes: bind mounts, `ro` where the volume mount or the volume type is read-only,
//!   private propagation (kubelet's default, `None`). A volume mounted where a default
//!   mount or a pod file would go replaces it; shallower paths are mounted first.
//! - **cgroups**: `limits.memory`, the CFS quota from `limits.cpu`, shares from
//!   `requests.cpu` (kubelet's `milliCPUToQuota`, `milliCPUToShares`), a pids limit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, SecurityContext};
use kbatch_image::Image;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilities, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder, get_default_maskedpaths, get_default_mounts, get_default_readonly_paths,
};

use crate::runtime::Limits;

/// kubelet's CFS period (`quotaPeriod`), in microseconds.
const CPU_PERIOD_US: u64 = 100_000;
/// kubelet's smallest quota (`minQuotaPeriod`).
const MIN_QUOTA_US: i64 = 1_000;
/// kubelet's smallest share count (`minShares`).
const MIN_SHARES: u64 = 2;
/// The `PATH` of a container whose image sets none (containerd's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's default capability set (`oci.defaultUnixCaps`), which Kubernetes documents
/// as a container's capabilities when `securityContext.capabilities` changes nothing.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Everything one run's spec is made from.
#[derive(Debug, Clone)]
pub struct SpecInput<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub image: &'a Image,
    /// The container's own environment, worked out by the agent (`env`, `envFrom`, the
    /// downward API), without the image's.
    pub env: &'a [(String, String)],
    /// `command` and `args` with `$(VAR)` expanded; `None` where the container sets none.
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    /// The prepared root filesystem.
    pub rootfs: &'a Path,
    /// The image's `/etc/passwd` and `/etc/group`, if it has them.
    pub passwd: Option<&'a str>,
    pub group: Option<&'a str>,
    /// The pod's files mounted over the image's.
    pub etc_hosts: &'a Path,
    pub resolv_conf: &'a Path,
    pub hostname_file: &'a Path,
    /// The container's volume mounts, prepared on the host by the agent
    /// ([`ContainerSpec::mounts`](crate::runtime::ContainerSpec::mounts)).
    pub mounts: &'a [crate::runtime::Mount],
    /// runc's `cgroupsPath`.
    pub cgroups_path: String,
    pub limits: Limits,
    /// The most processes the container may have; `None`: no limit.
    pub pids_limit: Option<i64>,
}

/// Why a spec cannot be made: kubelet's `CreateContainerConfigError` cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// `runAsNonRoot` is set and the container would run as root (or that cannot be told).
    #[error("{0}")]
    NonRoot(String),
    /// The image's or the pod's user or group does not resolve.
    #[error("{0}")]
    User(String),
    #[error("building the OCI runtime spec: {0}")]
    Build(String),
}

/// `format.Pod`: `name_namespace(uid)`.
fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    )
}

/// The pod's hostname (`GeneratePodHostNameAndDomain`): `spec.hostname`, else the pod's
/// name cut to 63 characters without a trailing `-` or `.`. The Job controller sets
/// `spec.hostname` to `<job>-<index>` for the pods of an Indexed Job with a subdomain.
pub fn pod_hostname(pod: &Pod) -> String {
    if let Some(h) = pod.spec.as_ref().and_then(|s| s.hostname.as_deref())
        && !h.is_empty()
    {
        return h.to_owned();
    }
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let cut = &name[..name.len().min(63)];
    cut.trim_end_matches(['-', '.']).to_owned()
}

/// kubelet's argv rule.
pub fn argv(image: &Image, command: Option<&[String]>, args: Option<&[String]>) -> Vec<String> {
    let command = command.filter(|c| !c.is_empty());
    let args = args.filter(|a| !a.is_empty());
    match (command, args) {
        (Some(c), a) => c.iter().chain(a.into_iter().flatten()).cloned().collect(),
        (None, Some(a)) => image.entrypoint().into_iter().chain(a.to_vec()).collect(),
        (None, None) => image.entrypoint().into_iter().chain(image.cmd()).collect(),
    }
}

/// The image's ENV with the container's variables over it (same name: the container's
/// value, in the image's place), `PATH` defaulted as containerd does.
pub fn merged_env(image: &Image, env: &[(String, String)]) -> Vec<String> {
    fn set(out: &mut Vec<(String, String)>, k: &str, v: &str) {
        match out.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v.to_owned(),
            None => out.push((k.to_owned(), v.to_owned())),
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for kv in image.env() {
        let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
        set(&mut out, k, v);
    }
    if !out.iter().any(|(k, _)| k == "PATH") {
        out.insert(0, ("PATH".to_owned(), DEFAULT_PATH.to_owned()));
    }
    for (k, v) in env {
        set(&mut out, k, v);
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The security context that applies: the container's fields over the pod's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Effective {
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    run_as_non_root: Option<bool>,
}

fn effective(pod: &Pod, sc: Option<&SecurityContext>) -> Effective {
    let pod_sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    Effective {
        run_as_user: sc
            .and_then(|s| s.run_as_user)
            .or(pod_sc.and_then(|p| p.run_as_user)),
        run_as_group: sc
            .and_then(|s| s.run_as_group)
            .or(pod_sc.and_then(|p| p.run_as_group)),
        run_as_non_root: sc
            .and_then(|s| s.run_as_non_root)
            .or(pod_sc.and_then(|p| p.run_as_non_root)),
    }
}

/// kubelet's `verifyRunAsNonRoot`, with its messages.
pub fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    image_user: Option<&str>,
) -> Result<(), SpecError> {
    let eff = effective(pod, container.security_context.as_ref());
    if eff.run_as_non_root != Some(true) {
        return Ok(());
    }
    let name = &container.name;
    let p = format_pod(pod);
    if let Some(uid) = eff.run_as_user {
        if uid == 0 {
            return Err(SpecError::NonRoot(format!(
                "container's runAsUser breaks non-root policy (pod: {p:?}, container: {name})"
            )));
        }
        return Ok(());
    }
    let user = image_user.unwrap_or("");
    let uid_part = user.split(':').next().unwrap_or("");
    if uid_part.is_empty() {
        return Err(SpecError::NonRoot(format!(
            "container has runAsNonRoot and image will run as root (pod: {p:?}, container: {name})"
        )));
    }
    match uid_part.parse::<u32>() {
        Ok(0) => Err(SpecError::NonRoot(format!(
            "container has runAsNonRoot and image will run as root (pod: {p:?}, container: {name})"
        ))),
        Ok(_) => Ok(()),
        Err(_) => Err(SpecError::NonRoot(format!(
            "container has runAsNonRoot and image has non-numeric user ({uid_part}), cannot verify user is non-root (pod: {p:?}, container: {name})"
        ))),
    }
}

/// A `name:x:id:…` database (`/etc/passwd`, `/etc/group`): the entry named or numbered
/// `key`, as (id, the passwd entry's primary gid).
fn lookup_db(db: Option<&str>, key: &str) -> Option<(u32, Option<u32>)> {
    db?.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next()?;
        let id: u32 = f.next()?.trim().parse().ok()?;
        let gid = f.next().and_then(|g| g.trim().parse().ok());
        (name == key || key.parse::<u32>() == Ok(id)).then_some((id, gid))
    })
}

/// The uid and gid the container runs as (containerd's `WithUser` / `WithUserID` and
/// `WithGroupID`): `runAsUser` over the image's USER, `runAsGroup` over the group part, else
/// the user's primary group from the image's `/etc/passwd`, else 0.
pub fn user_ids(
    pod: &Pod,
    container: &Container,
    image_user: Option<&str>,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<(u32, u32), SpecError> {
    let eff = effective(pod, container.security_context.as_ref());
    let image_user = image_user.unwrap_or("");
    let (user_part, group_part) = match image_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (image_user, None),
    };
    let id = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| SpecError::User(format!("{what} {v} is out of range")))
    };
    let (uid, primary) = match eff.run_as_user {
        Some(u) => {
            let uid = id(u, "runAsUser")?;
            (uid, lookup_db(passwd, &uid.to_string()).and_then(|e| e.1))
        }
        None if user_part.is_empty() => (0, lookup_db(passwd, "0").and_then(|e| e.1)),
        None => match user_part.parse::<u32>() {
            Ok(uid) => (uid, lookup_db(passwd, user_part).and_then(|e| e.1)),
            Err(_) => {
                let (uid, gid) = lookup_db(passwd, user_part).ok_or_else(|| {
                    SpecError::User(format!(
                        "unable to find user {user_part}: no matching entries in passwd file"
                    ))
                })?;
                (uid, gid)
            }
        },
    };
    let gid = match (eff.run_as_group, group_part) {
        (Some(g), _) => id(g, "runAsGroup")?,
        // An image's group only counts with its user (containerd's `WithUserID` drops it).
        (None, Some(g)) if eff.run_as_user.is_none() && !g.is_empty() => match g.parse() {
            Ok(gid) => gid,
            Err(_) => {
                lookup_db(group, g)
                    .ok_or_else(|| {
                        SpecError::User(format!(
                            "unable to find group {g}: no matching entries in group file"
                        ))
                    })?
                    .0
            }
        },
        _ => primary.unwrap_or(0),
    };
    Ok((uid, gid))
}

/// A capability as Kubernetes writes it (`NET_ADMIN`, or `CAP_NET_ADMIN`).
fn parse_capability(name: &str) -> Option<Capability> {
    name.strip_prefix("CAP_").unwrap_or(name).parse().ok()
}

/// Every capability oci-spec knows (what `add: [ALL]` grants).
fn all_capabilities() -> HashSet<Capability> {
    use Capability::*;
    [
        AuditControl,
        AuditRead,
        AuditWrite,
        BlockSuspend,
        Bpf,
        CheckpointRestore,
        Chown,
        DacOverride,
        DacReadSearch,
        Fowner,
        Fsetid,
        IpcLock,
        IpcOwner,
        Kill,
        Lease,
        LinuxImmutable,
        MacAdmin,
        MacOverride,
        Mknod,
        NetAdmin,
        NetBindService,
        NetBroadcast,
        NetRaw,
        Perfmon,
        Setgid,
        Setfcap,
        Setpcap,
        Setuid,
        SysAdmin,
        SysBoot,
        SysChroot,
        SysModule,
        SysNice,
        SysPacct,
        SysPtrace,
        SysRawio,
        SysResource,
        SysTime,
        SysTtyConfig,
        Syslog,
        WakeAlarm,
    ]
    .into_iter()
    .collect()
}

/// containerd's `WithCapabilities`: the default set, `add` (all with `ALL`), then `drop`
/// (everything with `ALL`, after which only `add` remains).
pub fn capabilities(sc: Option<&SecurityContext>) -> HashSet<Capability> {
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let add: Vec<&str> = caps
        .and_then(|c| c.add.as_ref())
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let drop: Vec<&str> = caps
        .and_then(|c| c.drop.as_ref())
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let is_all = |c: &&str| c.eq_ignore_ascii_case("ALL");
    let mut set: HashSet<Capability> = DEFAULT_CAPABILITIES.into_iter().collect();
    if add.iter().any(is_all) {
        set = all_capabilities();
    }
    if drop.iter().any(is_all) {
        set.clear();
    }
    set.extend(add.iter().filter_map(|c| parse_capability(c)));
    if !drop.iter().any(is_all) {
        for c in drop.iter().filter_map(|c| parse_capability(c)) {
            set.remove(&c);
        }
    }
    set
}

fn bind(destination: &str, source: &Path, read_only: bool) -> Result<Mount, SpecError> {
    let mut options = vec!["rbind".to_owned(), "rprivate".to_owned()];
    options.push(if read_only { "ro" } else { "rw" }.to_owned());
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
        .map_err(|e| SpecError::Build(e.to_string()))
}

/// The run's mounts as containerd's `WithMounts` makes them: runc's defaults, less those
/// a volume is mounted on (all of `/dev`'s when one is mounted on `/dev`), then the pod's
/// files, less those a volume is mounted on (kubelet's `/etc/hosts` rule, containerd's
/// `isInCRIMounts` for the others), and the volumes, shallower paths first, so that no
/// mount hides one below it.
fn mounts(input: &SpecInput<'_>) -> Result<Vec<Mount>, SpecError> {
    let taken = |path: &Path| input.mounts.iter().any(|m| m.destination == path);
    let dev = taken(Path::new("/dev"));
    let replaced = |path: &Path| taken(path) || (dev && path.starts_with("/dev"));
    let mut mounts: Vec<Mount> = get_default_mounts()
        .into_iter()
        .filter(|m| !replaced(m.destination()))
        .collect();
    let mut extra = Vec::with_capacity(input.mounts.len() + 3);
    for (destination, source) in [
        ("/etc/hosts", input.etc_hosts),
        ("/etc/resolv.conf", input.resolv_conf),
        ("/etc/hostname", input.hostname_file),
    ] {
        if !taken(Path::new(destination)) {
            extra.push(bind(destination, source, false)?);
        }
    }
    for m in input.mounts {
        extra.push(bind(
            &m.destination.to_string_lossy(),
            &m.source,
            m.read_only,
        )?);
    }
    extra.sort_by_key(|m| m.destination().components().count());
    mounts.extend(extra);
    Ok(mounts)
}

/// The run's cgroup settings.
fn resources(
    limits: &Limits,
    pids: Option<i64>,
) -> Result<oci_spec::runtime::LinuxResources, SpecError> {
    let build = |e: oci_spec::OciSpecError| SpecError::Build(e.to_string());
    let mut r = LinuxResourcesBuilder::default().devices(vec![
        // Deny every device; runc allows its default set (null, zero, tty, …) on top.
        LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(build)?,
    ]);
    if let Some(bytes) = limits.memory_bytes {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        r = r.memory(
            LinuxMemoryBuilder::default()
                .limit(bytes)
                .swap(bytes)
                .build()
                .map_err(build)?,
        );
    }
    let shares = limits
        .cpu_request_millis
        .map_or(MIN_SHARES, |m| (m * 1024 / 1000).max(MIN_SHARES));
    let mut cpu = LinuxCpuBuilder::default().shares(shares);
    if let Some(m) = limits.cpu_millis {
        let quota = i64::try_from(m * CPU_PERIOD_US / 1000)
            .unwrap_or(i64::MAX)
            .max(MIN_QUOTA_US);
        cpu = cpu.quota(quota).period(CPU_PERIOD_US);
    }
    r = r.cpu(cpu.build().map_err(build)?);
    if let Some(p) = pids {
        r = r.pids(
            LinuxPidsBuilder::default()
                .limit(p)
                .build()
                .map_err(build)?,
        );
    }
    r.build().map_err(build)
}

/// The run's `config.json`.
pub fn generate(input: &SpecInput<'_>) -> Result<Spec, SpecError> {
    let build = |e: oci_spec::OciSpecError| SpecError::Build(e.to_string());
    let container = input.container;
    let image_user = input.image.user();
    verify_run_as_non_root(input.pod, container, image_user.as_deref())?;
    let (uid, gid) = user_ids(
        input.pod,
        container,
        image_user.as_deref(),
        input.passwd,
        input.group,
    )?;
    let pod_sc = input
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref());
    let mut extra_gids: Vec<u32> = pod_sc
        .and_then(|p| p.supplemental_groups.clone())
        .unwrap_or_default()
        .into_iter()
        .chain(pod_sc.and_then(|p| p.fs_group))
        .filter_map(|g| u32::try_from(g).ok())
        .filter(|g| *g != gid)
        .collect();
    extra_gids.sort_unstable();
    extra_gids.dedup();
    let mut user = UserBuilder::default().uid(uid).gid(gid);
    if !extra_gids.is_empty() {
        user = user.additional_gids(extra_gids);
    }
    let sc = container.security_context.as_ref();
    let caps = capabilities(sc);
    let capset = LinuxCapabilities::default()
        .set_bounding(Some(caps.clone()))
        .set_effective(Some(caps.clone()))
        .set_permitted(Some(caps))
        .set_inheritable(None)
        .set_ambient(None)
        .clone();
    let cwd = container
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| input.image.working_dir())
        .unwrap_or_else(|| "/".to_owned());
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user.build().map_err(build)?)
        .args(argv(
            input.image,
            input.command.as_deref(),
            input.args.as_deref(),
        ))
        .env(merged_env(input.image, input.env))
        .cwd(cwd)
        .capabilities(capset)
        .no_new_privileges(sc.and_then(|s| s.allow_privilege_escalation) == Some(false))
        .build()
        .map_err(build)?;
    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ]
    .into_iter()
    .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
    .collect::<Result<Vec<_>, _>>()
    .map_err(build)?;
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(&input.cgroups_path))
        .resources(resources(&input.limits, input.pids_limit)?)
        .masked_paths(get_default_maskedpaths())
        .readonly_paths(get_default_readonly_paths())
        .build()
        .map_err(build)?;
    let mounts = mounts(input)?;
    let read_only = sc.and_then(|s| s.read_only_root_filesystem) == Some(true);
    SpecBuilder::default()
        .version("1.0.2-dev")
        .root(
            RootBuilder::default()
                .path(input.rootfs)
                .readonly(read_only)
                .build()
                .map_err(build)?,
        )
        .process(process)
        .hostname(pod_hostname(input.pod))
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(build)
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxNamespaceType as Ns;
    use serde_json::json;

    use super::*;

    fn image(config: serde_json::Value) -> Image {
        let config_bytes = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{}", "a".repeat(64)),
                "size": config_bytes.len()
            },
            "layers": []
        }))
        .unwrap();
        kbatch_image::image::Image::from_parts(
            format!("sha256:{}", "b".repeat(64)).parse().unwrap(),
            &manifest,
            &config_bytes,
        )
        .unwrap()
    }

    fn busybox() -> Image {
        image(json!({
            "Entrypoint": ["/bin/busybox"], "Cmd": ["echo", "hi"],
            "Env": ["PATH=/bin", "A=image"], "WorkingDir": "/work"
        }))
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "pi-0-abcde", "namespace": "ns", "uid": "u1"},
            "spec": spec
        }))
        .unwrap()
    }

    fn generate_for(pod: &Pod, image: &Image, env: &[(String, String)]) -> Result<Spec, SpecError> {
        generate_with(
            pod,
            image,
            env,
            &[crate::runtime::Mount {
                source: PathBuf::from("/p/volumes/scratch"),
                destination: PathBuf::from("/scratch"),
                read_only: true,
            }],
        )
    }

    fn generate_with(
        pod: &Pod,
        image: &Image,
        env: &[(String, String)],
        mounts: &[crate::runtime::Mount],
    ) -> Result<Spec, SpecError> {
        let container = pod.spec.as_ref().unwrap().containers[0].clone();
        let expand = |w: &Option<Vec<String>>| w.clone();
        generate(&SpecInput {
            pod,
            container: &container,
            image,
            env,
            command: expand(&container.command),
            args: expand(&container.args),
            rootfs: Path::new("/r/merged"),
            passwd: Some("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"),
            group: Some("root:x:0:\nstaff:x:50:\n"),
            etc_hosts: Path::new("/p/hosts"),
            resolv_conf: Path::new("/p/resolv.conf"),
            hostname_file: Path::new("/p/hostname"),
            mounts,
            cgroups_path: "/kbatch-runc/x".to_owned(),
            limits: Limits {
                memory_bytes: Some(64 << 20),
                cpu_millis: Some(500),
                cpu_request_millis: Some(250),
            },
            pids_limit: Some(100),
        })
    }

    fn one(container: serde_json::Value) -> Pod {
        let mut c = json!({"name": "main", "image": "busybox"});
        c.as_object_mut()
            .unwrap()
            .extend(container.as_object().unwrap().clone());
        pod(json!({"containers": [c]}))
    }

    #[test]
    fn argv_follows_kubelets_rule() {
        let img = busybox();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(argv(&img, None, None), s(&["/bin/busybox", "echo", "hi"]));
        assert_eq!(
            argv(&img, None, Some(&s(&["ls"]))),
            s(&["/bin/busybox", "ls"])
        );
        assert_eq!(argv(&img, Some(&s(&["/bin/sh"])), None), s(&["/bin/sh"]));
        assert_eq!(
            argv(&img, Some(&s(&["/bin/sh"])), Some(&s(&["-c", "x"]))),
            s(&["/bin/sh", "-c", "x"])
        );
        // An empty list is no list.
        assert_eq!(
            argv(&img, Some(&[]), Some(&[])),
            s(&["/bin/busybox", "echo", "hi"])
        );
    }

    #[test]
    fn env_cwd_hostname_mounts_and_namespaces() {
        let p = pod(json!({
            "hostname": "pi-0",
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "containers": [{"name": "main", "image": "busybox",
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch", "readOnly": true}]}]
        }));
        let env = [
            ("A".to_owned(), "pod".to_owned()),
            ("B".to_owned(), "b".to_owned()),
        ];
        let spec = generate_for(&p, &busybox(), &env).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(
            process.env().as_ref().unwrap(),
            &["PATH=/bin", "A=pod", "B=b"]
        );
        assert_eq!(process.cwd(), Path::new("/work"));
        assert_eq!(spec.hostname().as_deref(), Some("pi-0"));
        let mounts = spec.mounts().as_ref().unwrap();
        let find = |d: &str| {
            mounts
                .iter()
                .find(|m| m.destination() == Path::new(d))
                .unwrap()
        };
        assert_eq!(
            find("/etc/hosts").source().as_deref(),
            Some(Path::new("/p/hosts"))
        );
        let scratch = find("/scratch");
        assert_eq!(
            scratch.source().as_deref(),
            Some(Path::new("/p/volumes/scratch"))
        );
        assert!(
            scratch
                .options()
                .as_ref()
                .unwrap()
                .contains(&"ro".to_owned())
        );
        let ns: Vec<Ns> = spec
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert_eq!(
            ns,
            [Ns::Pid, Ns::Ipc, Ns::Uts, Ns::Mount],
            "the host's network"
        );
        // Without spec.hostname, the pod's name.
        assert_eq!(pod_hostname(&one(json!({}))), "pi-0-abcde");
        // No WORKDIR: /.
        let spec = generate_for(&one(json!({})), &image(json!({"Cmd": ["x"]})), &[]).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.cwd(), Path::new("/"));
        assert_eq!(
            process.env().as_ref().unwrap()[0],
            format!("PATH={DEFAULT_PATH}")
        );
    }

    #[test]
    fn users_and_run_as_non_root() {
        let ids = |p: &Pod, img_user: Option<&str>| {
            let c = &p.spec.as_ref().unwrap().containers[0];
            user_ids(
                p,
                c,
                img_user,
                Some("app:x:1000:1001::/:/bin/sh\n"),
                Some("staff:x:50:\n"),
            )
        };
        let plain = one(json!({}));
        assert_eq!(ids(&plain, None), Ok((0, 0)));
        assert_eq!(ids(&plain, Some("app")), Ok((1000, 1001)));
        assert_eq!(ids(&plain, Some("app:staff")), Ok((1000, 50)));
        assert_eq!(ids(&plain, Some("7:8")), Ok((7, 8)));
        assert!(ids(&plain, Some("nobody")).is_err());
        let sc = one(json!({"securityContext": {"runAsUser": 1000, "runAsGroup": 3}}));
        assert_eq!(ids(&sc, Some("5:6")), Ok((1000, 3)));
        // The pod's context applies where the container's does not say.
        let p = pod(json!({"securityContext": {"runAsUser": 42},
            "containers": [{"name": "main", "image": "busybox"}]}));
        assert_eq!(ids(&p, None), Ok((42, 0)));

        let nonroot = one(json!({"securityContext": {"runAsNonRoot": true}}));
        let c = &nonroot.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            verify_run_as_non_root(&nonroot, c, None)
                .unwrap_err()
                .to_string(),
            "container has runAsNonRoot and image will run as root (pod: \"pi-0-abcde_ns(u1)\", container: main)"
        );
        assert!(verify_run_as_non_root(&nonroot, c, Some("0:0")).is_err());
        assert_eq!(
            verify_run_as_non_root(&nonroot, c, Some("app"))
                .unwrap_err()
                .to_string(),
            "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: \"pi-0-abcde_ns(u1)\", container: main)"
        );
        assert!(verify_run_as_non_root(&nonroot, c, Some("1000")).is_ok());
        let zero = one(json!({"securityContext": {"runAsNonRoot": true, "runAsUser": 0}}));
        let c = &zero.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            verify_run_as_non_root(&zero, c, Some("1000"))
                .unwrap_err()
                .to_string(),
            "container's runAsUser breaks non-root policy (pod: \"pi-0-abcde_ns(u1)\", container: main)"
        );
        assert!(generate_for(&nonroot, &busybox(), &[]).is_err());
    }

    #[test]
    fn capabilities_read_only_root_and_privilege_escalation() {
        let caps = |sc: serde_json::Value| {
            let p = one(json!({"securityContext": sc}));
            capabilities(
                p.spec.as_ref().unwrap().containers[0]
                    .security_context
                    .as_ref(),
            )
        };
        let default: HashSet<Capability> = DEFAULT_CAPABILITIES.into_iter().collect();
        assert_eq!(caps(json!({})), default);
        let added =
            caps(json!({"capabilities": {"add": ["NET_ADMIN", "CAP_SYS_TIME"], "drop": ["KILL"]}}));
        assert!(added.contains(&Capability::NetAdmin) && added.contains(&Capability::SysTime));
        assert!(!added.contains(&Capability::Kill));
        let only = caps(json!({"capabilities": {"add": ["CHOWN"], "drop": ["ALL"]}}));
        assert_eq!(only, [Capability::Chown].into_iter().collect());
        assert!(caps(json!({"capabilities": {"add": ["ALL"]}})).contains(&Capability::SysAdmin));

        let p = one(
            json!({"securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}}),
        );
        let spec = generate_for(&p, &busybox(), &[]).unwrap();
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(true)
        );
        let spec = generate_for(&one(json!({})), &busybox(), &[]).unwrap();
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(false));
        assert_eq!(
            spec.process().as_ref().unwrap().no_new_privileges(),
            Some(false)
        );
    }

    #[test]
    fn limits_become_cgroup_settings() {
        let spec = generate_for(&one(json!({})), &busybox(), &[]).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/kbatch-runc/x"))
        );
        let r = linux.resources().as_ref().unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!(cpu.quota(), Some(50_000));
        assert_eq!(cpu.period(), Some(100_000));
        assert_eq!(cpu.shares(), Some(256));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 100);
    }

    /// A volume on `/dev/shm` or `/etc/hosts` replaces runc's or the pod's; a volume on
    /// `/dev` replaces everything under it; shallower paths are mounted first.
    #[test]
    fn volumes_replace_default_mounts_and_go_shallowest_first() {
        let volume = |source: &str, destination: &str, read_only: bool| crate::runtime::Mount {
            source: PathBuf::from(source),
            destination: PathBuf::from(destination),
            read_only,
        };
        let spec = generate_with(
            &one(json!({})),
            &busybox(),
            &[],
            &[
                volume("/v/cache", "/data/cache", false),
                volume("/v/shm", "/dev/shm", false),
                volume("/v/data", "/data", true),
                volume("/v/hosts", "/etc/hosts", true),
            ],
        )
        .unwrap();
        let mounts = spec.mounts().as_ref().unwrap();
        let at = |d: &str| -> Vec<&Mount> {
            mounts
                .iter()
                .filter(|m| m.destination() == Path::new(d))
                .collect()
        };
        let source = |d: &str| at(d)[0].source().clone().unwrap();
        assert_eq!(at("/dev/shm").len(), 1);
        assert_eq!(source("/dev/shm"), Path::new("/v/shm"));
        assert_eq!(at("/etc/hosts").len(), 1);
        assert_eq!(source("/etc/hosts"), Path::new("/v/hosts"));
        assert_eq!(source("/etc/hostname"), Path::new("/p/hostname"));
        assert!(at("/dev/mqueue").len() == 1 && at("/proc").len() == 1);
        let position = |d: &str| mounts.iter().position(|m| m.destination() == Path::new(d));
        assert!(position("/data") < position("/data/cache"));
        assert!(position("/dev") < position("/dev/shm"));
        let options = at("/data")[0].options().clone().unwrap();
        assert_eq!(options, ["rbind", "rprivate", "ro"]);
        let options = at("/data/cache")[0].options().clone().unwrap();
        assert_eq!(options, ["rbind", "rprivate", "rw"]);

        let spec = generate_with(
            &one(json!({})),
            &busybox(),
            &[],
            &[volume("/v/dev", "/dev", false)],
        )
        .unwrap();
        let under_dev: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|m| m.destination().starts_with("/dev"))
            .map(|m| m.source().clone().unwrap())
            .collect();
        assert_eq!(under_dev, [PathBuf::from("/v/dev")]);
    }
}
