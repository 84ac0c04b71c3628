//! A container's volumes for the process runtime: the run's first process gets a private
//! mount namespace (`unshare(CLONE_NEWNS)`, then everything made `rprivate` so nothing it
//! mounts reaches the host), with each volume bind-mounted at its `mountPath`, all between
//! fork and exec, so the program sees its volumes from its first instruction and nothing
//! else on the host sees them at all.
//!
//! As root that is all it takes. Without root, the process first enters a user namespace of
//! its own in which its user and group map to themselves (so files it writes are still the
//! agent's user's, and exec drops the namespace's capabilities again), which is what lets an
//! unprivileged process mount; the kernel must allow unprivileged user namespaces. Where it
//! allows neither, [`support`] says why, and the runtime refuses a container with volume
//! mounts rather than run it without its files.
//!
//! The host's filesystem is shared: a `mountPath` that does not exist is created (a
//! directory, or an empty file for a file mounted with `subPath`) where the process will
//! look for it, as runc creates mount points in a container's root filesystem. The
//! mount points stay (another pod's namespace may hold a mount on them); what is mounted
//! on them never shows outside the run.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags, StatVfsMountFlags};
use rustix::mount::{MountFlags, MountPropagationFlags};

use super::Mount;

/// Whether, and how, this host lets the runtime give a process its own mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// The agent runs as root with `CAP_SYS_ADMIN`.
    Root,
    /// Through an unprivileged user namespace.
    UserNamespace,
    /// Neither: the text says why.
    Unavailable(String),
}

/// What this host allows, found out once.
pub fn support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(detect)
}

fn detect() -> Support {
    if rustix::process::geteuid().is_root() {
        // A thread may leave the process's mount namespace on its own (what Go's runtime
        // does for `LockOSThread` callers): trying it in a short-lived thread shows whether
        // the capability is there without touching the agent's own namespace.
        let tried = std::thread::spawn(enter_probe).join();
        match tried {
            Ok(Ok(())) => return Support::Root,
            Ok(Err(e)) => {
                return Support::Unavailable(format!(
                    "the agent runs as root but cannot make a mount namespace (unshare: {e}): it lacks CAP_SYS_ADMIN"
                ));
            }
            Err(_) => {
                return Support::Unavailable("probing for mount namespaces failed".to_owned());
            }
        }
    }
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Support::Unavailable(
            "the agent does not run as root and user namespaces are disabled (user.max_user_namespaces = 0)".to_owned(),
        );
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Support::Unavailable(
            "the agent does not run as root and unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)".to_owned(),
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Support::Unavailable(
            "the agent does not run as root and AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)".to_owned(),
        );
    }
    Support::UserNamespace
}

/// Whether a container can have its volume mounts on a host with `support`: one with
/// mounts is refused where there can be no mount namespace, since running it without its
/// files would only fail later, less clearly.
pub fn check(
    container: &k8s_openapi::api::core::v1::Container,
    support: &Support,
) -> Result<(), String> {
    match support {
        Support::Unavailable(why)
            if container
                .volume_mounts
                .as_ref()
                .is_some_and(|m| !m.is_empty()) =>
        {
            Err(format!(
                "container {:?} mounts volumes, and the process runtime cannot give it a mount namespace: {why}",
                container.name
            ))
        }
        _ => Ok(()),
    }
}

#[allow(unsafe_code)]
fn enter_probe() -> io::Result<()> {
    // SAFETY: only the mount namespace (and with it the thread's filesystem context) is
    // unshared, in a thread that ends right after; no file descriptor table is unshared.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }?;
    rustix::mount::mount_change(
        c"/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )?;
    Ok(())
}

/// One mount, worked out before the fork: the child may not allocate.
#[derive(Debug)]
struct Prepared {
    source: CString,
    destination: CString,
    /// The destination's ancestors, outermost first, each created if missing.
    ancestors: Vec<CString>,
    /// Whether the mount point is a directory (else a file).
    directory: bool,
    /// The flags of a read-only remount: `MS_RDONLY` plus the flags of the mount the
    /// source is on, which a user namespace may not clear.
    read_only: Option<MountFlags>,
}

/// A run's mount namespace, ready to be entered in the child.
#[derive(Debug)]
pub(crate) struct Namespace {
    mounts: Vec<Prepared>,
    /// `uid_map` and `gid_map` of the user namespace, when not root.
    user: Option<(Vec<u8>, Vec<u8>)>,
}

fn cstring(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("the path {} contains a NUL byte", path.display()))
}

impl Namespace {
    /// Works out the mounts of a run (`mounts` must not be empty), or says why the host
    /// cannot give them.
    pub(crate) fn prepare(mounts: &[Mount]) -> Result<Namespace, String> {
        let user = match support() {
            Support::Root => None,
            Support::UserNamespace => {
                let uid = rustix::process::geteuid().as_raw();
                let gid = rustix::process::getegid().as_raw();
                Some((
                    format!("{uid} {uid} 1\n").into_bytes(),
                    format!("{gid} {gid} 1\n").into_bytes(),
                ))
            }
            Support::Unavailable(why) => {
                return Err(format!(
                    "the container has volume mounts, and the process runtime cannot give it a mount namespace: {why}"
                ));
            }
        };
        let mut prepared = Vec::with_capacity(mounts.len());
        for m in mounts {
            let meta = std::fs::metadata(&m.source)
                .map_err(|e| format!("the volume source {}: {e}", m.source.display()))?;
            if !m.destination.is_absolute() {
                return Err(format!(
                    "the mount path {} is not absolute",
                    m.destination.display()
                ));
            }
            let mut ancestors = Vec::new();
            let mut path = PathBuf::from("/");
            let components: Vec<Component> = m.destination.components().collect();
            for c in components.iter().take(components.len().saturating_sub(1)) {
                if let Component::Normal(part) = c {
                    path.push(part);
                    ancestors.push(cstring(&path)?);
                }
            }
            let read_only = m.read_only.then(|| read_only_flags(&m.source));
            prepared.push(Prepared {
                source: cstring(&m.source)?,
                destination: cstring(&m.destination)?,
                ancestors,
                directory: meta.is_dir(),
                read_only,
            });
        }
        Ok(Namespace {
            mounts: prepared,
            user,
        })
    }

    /// Enters the namespace and mounts everything: runs in the forked child before exec,
    /// so it makes only system calls on what [`Namespace::prepare`] allocated.
    #[allow(unsafe_code)]
    pub(crate) fn enter(&self) -> io::Result<()> {
        use rustix::thread::UnshareFlags;
        let mut flags = UnshareFlags::NEWNS;
        if self.user.is_some() {
            flags |= UnshareFlags::NEWUSER;
        }
        // SAFETY: the child is single-threaded between fork and exec, and the file
        // descriptor table is not unshared.
        unsafe { rustix::thread::unshare_unsafe(flags) }?;
        if let Some((uid_map, gid_map)) = &self.user {
            // A process whose credentials changed is not dumpable, which makes its /proc
            // files root's: it could not write its own maps. Exec sets this again anyway.
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::Dumpable)?;
            // An unprivileged process may map only its own ids, and only after giving up
            // setgroups(2) (user_namespaces(7)).
            write_file(c"/proc/self/setgroups", b"deny")?;
            write_file(c"/proc/self/uid_map", uid_map)?;
            write_file(c"/proc/self/gid_map", gid_map)?;
        }
        rustix::mount::mount_change(
            c"/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        )?;
        for m in &self.mounts {
            for dir in &m.ancestors {
                make_dir(dir)?;
            }
            if m.directory {
                make_dir(&m.destination)?;
            } else {
                match rustix::fs::open(
                    m.destination.as_c_str(),
                    OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                    Mode::from_raw_mode(0o644),
                ) {
                    Ok(fd) => drop(fd),
                    // An existing directory: the bind below says what is wrong.
                    Err(rustix::io::Errno::ISDIR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            rustix::mount::mount_bind_recursive(m.source.as_c_str(), m.destination.as_c_str())?;
            if let Some(flags) = m.read_only {
                rustix::mount::mount_remount(m.destination.as_c_str(), flags, c"")?;
            }
        }
        Ok(())
    }
}

/// The flags of a read-only remount of a bind mount of `source`: `MS_RDONLY` plus the
/// flags of the mount `source` is on, which a user namespace may not clear.
fn read_only_flags(source: &Path) -> MountFlags {
    let locked = rustix::fs::statvfs(source)
        .map(|s| s.f_flag)
        .unwrap_or(StatVfsMountFlags::empty());
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    for (vfs, mount) in [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if locked.contains(vfs) {
            flags |= mount;
        }
    }
    flags
}

fn make_dir(path: &std::ffi::CStr) -> io::Result<()> {
    match rustix::fs::mkdir(path, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut written = 0;
    while written < bytes.len() {
        written += rustix::io::write(&fd, &bytes[written..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_with_mounts_need_a_namespace() {
        let with: k8s_openapi::api::core::v1::Container = serde_json::from_value(
            serde_json::json!({"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}),
        )
        .unwrap();
        let without: k8s_openapi::api::core::v1::Container =
            serde_json::from_value(serde_json::json!({"name": "c"})).unwrap();
        let none = Support::Unavailable("no root, no user namespaces".to_owned());
        assert_eq!(
            check(&with, &none),
            Err("container \"c\" mounts volumes, and the process runtime cannot give it a mount namespace: no root, no user namespaces".to_owned())
        );
        assert_eq!(check(&without, &none), Ok(()));
        assert_eq!(check(&with, &Support::Root), Ok(()));
        assert_eq!(check(&with, &Support::UserNamespace), Ok(()));
    }

    #[test]
    fn mounts_are_worked_out_before_the_fork() {
        if matches!(support(), Support::Unavailable(_)) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let ns = Namespace::prepare(&[
            Mount {
                source: tmp.path().to_owned(),
                destination: "/a/b/c".into(),
                read_only: true,
            },
            Mount {
                source: file,
                destination: "/etc/app.conf".into(),
                read_only: false,
            },
        ])
        .unwrap();
        let d = &ns.mounts[0];
        assert_eq!(d.ancestors, [c"/a".to_owned(), c"/a/b".to_owned()]);
        assert!(d.directory);
        assert!(
            d.read_only
                .is_some_and(|f| f.contains(MountFlags::RDONLY | MountFlags::BIND))
        );
        assert!(!ns.mounts[1].directory);
        assert_eq!(ns.mounts[1].read_only, None);
        let err = Namespace::prepare(&[Mount {
            source: tmp.path().join("missing"),
            destination: "/x".into(),
            read_only: false,
        }])
        .unwrap_err();
        assert!(err.starts_with("the volume source "), "{err}");
        let err = Namespace::prepare(&[Mount {
            source: tmp.path().to_owned(),
            destination: "relative".into(),
            read_only: false,
        }])
        .unwrap_err();
        assert_eq!(err, "the mount path relative is not absolute");
    }

    /// The unprivileged path, on this host: a child that has dropped root enters a user
    /// namespace mapping its ids to themselves, and mounts there, read-only included.
    #[test]
    #[allow(unsafe_code)]
    fn an_unprivileged_process_mounts_through_a_user_namespace() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let unprivileged = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .is_ok_and(|v| v.trim() != "0");
        if !unprivileged {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let source = tmp.path().join("source");
        std::fs::create_dir(&source).unwrap();
        std::fs::write(source.join("f"), "inside").unwrap();
        std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o777)).unwrap();
        let at = tmp.path().join("at");
        let nobody = 65534;
        let ns = Namespace {
            mounts: vec![Prepared {
                source: cstring(&source).unwrap(),
                destination: cstring(&at).unwrap(),
                ancestors: Vec::new(),
                directory: true,
                read_only: Some(read_only_flags(&source)),
            }],
            user: Some((
                format!("{nobody} {nobody} 1\n").into_bytes(),
                format!("{nobody} {nobody} 1\n").into_bytes(),
            )),
        };
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args([
            "-c",
            &format!(
                "cat {at}/f; echo; id -u; touch {at}/x 2>/dev/null || echo read-only",
                at = at.display()
            ),
        ]);
        // SAFETY: the hook drops to nobody with two system calls, then enters the namespace
        // (which allocates nothing).
        unsafe {
            cmd.pre_exec(move || {
                rustix::thread::set_thread_groups(&[])?;
                rustix::thread::set_thread_gid(rustix::process::Gid::from_raw(nobody))?;
                rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(nobody))?;
                ns.enter()
            });
        }
        let out = match cmd.output() {
            Ok(out) => out,
            // The kernel (or a security module) refuses unprivileged user namespaces here.
            Err(e) => {
                eprintln!("skipped: {e}");
                return;
            }
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("inside\n{nobody}\nread-only\n"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!at.join("f").exists(), "nothing mounted on the host");
    }
}
