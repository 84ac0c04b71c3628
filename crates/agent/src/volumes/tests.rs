use super::*;
use crate::resources::Allocatable;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

#[derive(Debug)]
struct NoClaims;

impl ClaimResolver for NoClaims {
    fn claim_dir(&self, _: &str, claim: &str, _: bool) -> Result<PathBuf, String> {
        Err(format!("persistentvolumeclaim {claim:?} not found"))
    }
}

#[derive(Debug)]
struct Claims(PathBuf);

impl ClaimResolver for Claims {
    fn claim_dir(&self, ns: &str, claim: &str, _: bool) -> Result<PathBuf, String> {
        Ok(self.0.join(format!("{ns}_{claim}")))
    }
}

fn node() -> NodeFacts {
    NodeFacts {
        ip: "127.0.0.1".into(),
        allocatable: Allocatable {
            cpu_millis: 2000,
            memory_bytes: 1 << 30,
            ephemeral_storage_bytes: 1 << 30,
        },
        service_env: Vec::new(),
    }
}

fn pod(volumes: serde_json::Value) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "p", "namespace": "ns", "uid": "uid-1",
            "labels": {"app": "backup", "tier": "db"},
            "annotations": {"note": "a\nb"}
        },
        "spec": {
            "containers": [{
                "name": "c",
                "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}
            }],
            "volumes": volumes
        }
    }))
    .unwrap()
}

fn sources() -> Sources {
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "settings"},
        "data": {"app.conf": "level=debug\n", "other": "o"},
        "binaryData": {"blob": "AAE="}
    }))
    .unwrap();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "creds"},
        "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}
    }))
    .unwrap();
    let mut s = Sources::default();
    s.config_maps.insert("settings".into(), Some(cm));
    s.config_maps.insert("absent".into(), None);
    s.secrets.insert("creds".into(), Some(secret));
    s
}

fn set_up(
    data_dir: &Path,
    pod: &Pod,
    claims: &dyn ClaimResolver,
) -> Result<PodVolumes, VolumeError> {
    SetUp {
        pod,
        data_dir,
        run_dir: data_dir,
        node: &node(),
        sources: &sources(),
        claims,
    }
    .run()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn config_map_secret_downward_api_and_projected_volumes() {
    let tmp = tempfile::tempdir().unwrap();
    let pod = pod(serde_json::json!([
        {"name": "all", "configMap": {"name": "settings"}},
        {"name": "some", "configMap": {"name": "settings", "defaultMode": 0o600,
            "items": [{"key": "app.conf", "path": "etc/app.conf", "mode": 0o640}]}},
        {"name": "creds", "secret": {"secretName": "creds", "items": [{"key": "password", "path": "pw"}]}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}
        ]}},
        {"name": "proj", "projected": {"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "settings", "items": [{"key": "other", "path": "other"}]}},
            {"secret": {"name": "creds", "items": [{"key": "user", "path": "user"}]}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            {"configMap": {"name": "absent", "optional": true}}
        ]}},
        {"name": "opt", "configMap": {"name": "absent", "optional": true}}
    ]));
    let made = set_up(tmp.path(), &pod, &NoClaims).unwrap();
    let path = |v: &str| made.volumes[v].path.clone();
    let read = |v: &str, f: &str| std::fs::read_to_string(path(v).join(f)).unwrap();
    assert!(made.volumes.values().all(|v| v.read_only));
    assert_eq!(
        path("all"),
        tmp.path()
            .join("pod-volumes/uid-1/volumes/kubernetes.io~configmap/all")
    );
    assert_eq!(read("all", "app.conf"), "level=debug\n");
    assert_eq!(std::fs::read(path("all").join("blob")).unwrap(), [0, 1]);
    assert_eq!(mode(&path("all").join("app.conf")), 0o644);
    assert_eq!(read("some", "etc/app.conf"), "level=debug\n");
    assert_eq!(mode(&path("some").join("etc/app.conf")), 0o640);
    assert!(!path("some").join("other").exists());
    assert_eq!(read("creds", "pw"), "hunter2");
    assert!(!path("creds").join("password").exists());
    assert_eq!(read("info", "labels"), "app=\"backup\"\ntier=\"db\"");
    assert_eq!(read("info", "name"), "p");
    assert_eq!(read("info", "mem"), "64");
    assert_eq!(read("proj", "other"), "o");
    assert_eq!(read("proj", "user"), "admin");
    assert_eq!(read("proj", "ns"), "ns");
    assert_eq!(mode(&path("proj").join("user")), 0o440);
    assert!(path("opt").is_dir());
    assert_eq!(mode(&pod_dir(tmp.path(), "uid-1")), 0o750);

    // Setting up again (the next container's start) keeps the same files.
    let version = std::fs::read_link(path("all").join("..data")).unwrap();
    set_up(tmp.path(), &pod, &NoClaims).unwrap();
    assert_eq!(
        std::fs::read_link(path("all").join("..data")).unwrap(),
        version
    );

    tear_down(tmp.path(), tmp.path(), "uid-1");
    assert!(!pod_dir(tmp.path(), "uid-1").exists());
}

/// kubelet's words for a volume that cannot be set up: the `FailedMount` event's message.
#[test]
fn failed_mounts() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let cases = [
        (
            serde_json::json!([{"name": "v", "configMap": {"name": "absent"}}]),
            "MountVolume.SetUp failed for volume \"v\" : configmap \"absent\" not found".to_owned(),
        ),
        (
            serde_json::json!([{"name": "v", "secret": {"secretName": "nope"}}]),
            "MountVolume.SetUp failed for volume \"v\" : secret \"nope\" not found".to_owned(),
        ),
        (
            serde_json::json!([{"name": "v", "configMap": {"name": "settings", "items": [{"key": "k", "path": "k"}]}}]),
            "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: k".to_owned(),
        ),
        (
            serde_json::json!([{"name": "v", "secret": {"secretName": "creds", "items": [{"key": "k", "path": "k"}]}}]),
            "MountVolume.SetUp failed for volume \"v\" : references non-existent secret key: k".to_owned(),
        ),
        (
            serde_json::json!([{"name": "v", "hostPath": {"path": file, "type": "Directory"}}]),
            format!(
                "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: {} is not a directory",
                file.display()
            ),
        ),
        (
            serde_json::json!([{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]),
            "MountVolume.SetUp failed for volume \"v\" : persistentvolumeclaim \"data\" not found".to_owned(),
        ),
    ];
    for (volumes, want) in cases {
        let err = set_up(tmp.path(), &pod(volumes), &NoClaims).unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn empty_dir_host_path_and_claims() {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host/dir");
    let pod = pod(serde_json::json!([
        {"name": "scratch", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": host, "type": "DirectoryOrCreate"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "backups", "readOnly": true}}
    ]));
    let made = set_up(tmp.path(), &pod, &Claims(tmp.path().join("claims"))).unwrap();
    let scratch = &made.volumes["scratch"];
    assert_eq!(
        scratch.path,
        tmp.path()
            .join("pod-volumes/uid-1/volumes/kubernetes.io~empty-dir/scratch")
    );
    assert!(!scratch.read_only);
    assert_eq!(mode(&scratch.path), 0o777);
    assert_eq!(made.volumes["host"].path, host);
    assert!(host.is_dir());
    assert_eq!(
        made.volumes["data"],
        HostVolume {
            path: tmp.path().join("claims/ns_backups"),
            read_only: true
        }
    );
    std::fs::write(scratch.path.join("f"), "x").unwrap();
    tear_down(tmp.path(), tmp.path(), "uid-1");
    assert!(!scratch.path.exists());
    assert!(host.is_dir(), "a hostPath stays");
}

#[test]
fn mounts_with_sub_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let pod = pod(serde_json::json!([
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "settings"}}
    ]));
    let made = set_up(tmp.path(), &pod, &NoClaims).unwrap();
    let scratch = made.volumes["scratch"].path.clone();
    let cfg = made.volumes["cfg"].path.clone();
    let container: Container = serde_json::from_value(serde_json::json!({
        "name": "c",
        "volumeMounts": [
            {"name": "scratch", "mountPath": "/work"},
            {"name": "scratch", "mountPath": "/out", "subPathExpr": "$(POD_NAME)/out", "readOnly": true},
            {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"}
        ]
    }))
    .unwrap();
    let env = vec![("POD_NAME".to_owned(), "p".to_owned())];
    let mounts = container_mounts(&container, &made, &env).unwrap();
    let real_cfg = std::fs::canonicalize(cfg.join("app.conf")).unwrap();
    assert_eq!(
        mounts,
        [
            Mount {
                source: scratch.clone(),
                destination: "/work".into(),
                read_only: false
            },
            Mount {
                source: scratch.canonicalize().unwrap().join("p/out"),
                destination: "/out".into(),
                read_only: true
            },
            Mount {
                source: real_cfg.clone(),
                destination: "/etc/app.conf".into(),
                read_only: true
            },
        ]
    );
    assert!(scratch.join("p/out").is_dir(), "a missing subPath is made");
    // The file of the current version, not the link.
    assert!(real_cfg.starts_with(cfg.canonicalize().unwrap()));
    assert!(
        real_cfg
            .parent()
            .unwrap()
            .ends_with(std::fs::read_link(cfg.join("..data")).unwrap())
    );

    let with = |mount: serde_json::Value| -> Container {
        serde_json::from_value(serde_json::json!({"name": "c", "volumeMounts": [mount]})).unwrap()
    };
    let err = |mount: serde_json::Value| container_mounts(&with(mount), &made, &env).unwrap_err();
    assert_eq!(
        err(serde_json::json!({"name": "nope", "mountPath": "/x"})),
        "cannot find volume \"nope\" to mount into container \"c\""
    );
    assert_eq!(
        err(
            serde_json::json!({"name": "scratch", "mountPath": "/x", "subPathExpr": "$(UNSET)/$(EMPTY)"})
        ),
        "missing value for EMPTY, UNSET"
    );
    std::os::unix::fs::symlink("/etc", scratch.join("escape")).unwrap();
    assert!(
        err(serde_json::json!({"name": "scratch", "mountPath": "/x", "subPath": "escape"}))
            .starts_with("subpath \"/etc\" not within volume path"),
    );
}

#[test]
fn orphans_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    for uid in ["a", "b"] {
        std::fs::create_dir_all(pod_dir(tmp.path(), uid).join("volumes")).unwrap();
    }
    let run = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(pod_dir(run.path(), "c").join("volumes")).unwrap();
    remove_orphans(tmp.path(), run.path(), &HashSet::from(["a".to_owned()]));
    assert!(pod_dir(tmp.path(), "a").exists());
    assert!(!pod_dir(tmp.path(), "b").exists());
    assert!(
        !pod_dir(run.path(), "c").exists(),
        "orphans in the run directory too"
    );
}

/// What the pod writes stays in the data directory; what the agent writes from the API, and
/// memory, go to the run directory (crate::run_dir), and tear-down empties both.
#[test]
fn volumes_the_agent_writes_go_to_the_run_directory() {
    let (data, run) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pod = pod(serde_json::json!([
        {"name": "scratch", "emptyDir": {}},
        {"name": "cache", "emptyDir": {"medium": "Memory"}},
        {"name": "all", "configMap": {"name": "settings"}},
        {"name": "creds", "secret": {"secretName": "creds"}}
    ]));
    let made = SetUp {
        pod: &pod,
        data_dir: data.path(),
        run_dir: run.path(),
        node: &node(),
        sources: &sources(),
        claims: &Claims(data.path().join("claims")),
    }
    .run()
    .unwrap();
    let in_data = |name: &str| {
        made.volumes[name]
            .path
            .starts_with(pod_dir(data.path(), "uid-1"))
    };
    let in_run = |name: &str| {
        made.volumes[name]
            .path
            .starts_with(pod_dir(run.path(), "uid-1"))
    };
    assert!(in_data("scratch") && !in_run("scratch"));
    for name in ["cache", "all", "creds"] {
        assert!(in_run(name) && !in_data(name), "{name}");
    }
    assert!(made.volumes["all"].path.join("app.conf").is_file());
    tear_down(data.path(), run.path(), "uid-1");
    assert!(!pod_dir(data.path(), "uid-1").exists());
    assert!(!pod_dir(run.path(), "uid-1").exists());
}

#[test]
fn mountinfo_paths_are_unescaped() {
    assert_eq!(
        unescape_mountinfo("/a\\040b\\134c"),
        PathBuf::from("/a b\\c")
    );
    assert_eq!(unescape_mountinfo("/plain\\"), PathBuf::from("/plain\\"));
}

/// A memory emptyDir is a tmpfs of its sizeLimit where the agent may mount one, and is
/// unmounted with the pod.
#[test]
fn memory_empty_dir_is_a_sized_tmpfs() {
    if *support() != Support::Root {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pod = pod(serde_json::json!([
        {"name": "fast", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}
    ]));
    let made = set_up(tmp.path(), &pod, &NoClaims).unwrap();
    let path = &made.volumes["fast"].path;
    assert!(mounted(path));
    let stat = rustix::fs::statvfs(path).unwrap();
    assert_eq!(stat.f_blocks * stat.f_frsize, 8 << 20);
    assert_eq!(mode(path), 0o777);
    // Set up again (the next container): the same tmpfs, not a second one.
    set_up(tmp.path(), &pod, &NoClaims).unwrap();
    assert_eq!(mounts_under(path).len(), 1);
    tear_down(tmp.path(), tmp.path(), "uid-1");
    assert!(!mounted(path));
    assert!(!pod_dir(tmp.path(), "uid-1").exists());
}

/// A Secret's files never reach the disk: where the run directory is on the disk, the
/// volume is a tmpfs of its own; where the run directory is a tmpfs already (its default),
/// the volume is a directory on it, with no mount of its own to copy into each container's
/// mount namespace.
#[test]
fn a_secret_volume_is_a_tmpfs_of_its_own_only_off_a_tmpfs() {
    if *support() != Support::Root {
        return;
    }
    /// Detaches whatever is mounted under the test's directory, should an assertion fail
    /// before the tear-downs do it, so no mount outlives the test.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            for path in mounts_under(&self.0).iter().rev() {
                let _ = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH);
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let _unmount = Unmount(tmp.path().to_owned());
    let pod = pod(serde_json::json!([{"name": "creds", "secret": {"secretName": "creds"}}]));
    let set_up_in = |run_dir: &Path| {
        SetUp {
            pod: &pod,
            data_dir: tmp.path(),
            run_dir,
            node: &node(),
            sources: &sources(),
            claims: &NoClaims,
        }
        .run()
        .unwrap()
        .volumes["creds"]
            .path
            .clone()
    };

    // (Unless the test's own directory is on a tmpfs.)
    let on_disk = tmp.path().join("disk");
    let path = set_up_in(&on_disk);
    assert_eq!(mounted(&path), !crate::run_dir::is_tmpfs(tmp.path()));
    assert!(crate::run_dir::is_tmpfs(&path));
    assert_eq!(std::fs::read(path.join("user")).unwrap(), b"admin");
    tear_down(tmp.path(), &on_disk, "uid-1");
    assert!(!mounted(&path));

    let in_memory = tmp.path().join("memory");
    std::fs::create_dir(&in_memory).unwrap();
    mount_tmpfs(&in_memory, None, 0o755).unwrap();
    let path = set_up_in(&in_memory);
    assert!(!mounted(&path));
    assert!(crate::run_dir::is_tmpfs(&path));
    assert_eq!(std::fs::read(path.join("user")).unwrap(), b"admin");
    tear_down(tmp.path(), &in_memory, "uid-1");
    assert!(!pod_dir(&in_memory, "uid-1").exists());
}

/// `statx`'s mount-root answer is the mount table's, where the kernel gives one.
#[test]
fn statx_and_the_mount_table_agree_on_mount_points() {
    if *support() != Support::Root {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m");
    std::fs::create_dir(&path).unwrap();
    assert_ne!(mount_root(&path), Some(true));
    assert!(!mounted(&path));
    mount_tmpfs(&path, None, 0o755).unwrap();
    assert_ne!(mount_root(&path), Some(false));
    assert!(mounted(&path));
    assert_eq!(mounts_under(&path), vec![path.clone()]);
    rustix::mount::unmount(&path, rustix::mount::UnmountFlags::DETACH).unwrap();
    assert!(!mounted(&path));
}

/// A tear-down removes a pod's directory with a mount where the agent puts none: the mount
/// table finds it once the directory cannot be removed.
#[test]
fn tear_down_unmounts_what_is_mounted_outside_the_volume_directories() {
    if *support() != Support::Root {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pod = pod(serde_json::json!([
        {"name": "fast", "emptyDir": {"medium": "Memory"}}
    ]));
    set_up(tmp.path(), &pod, &NoClaims).unwrap();
    let stray = pod_dir(tmp.path(), "uid-1").join("stray").join("deep");
    std::fs::create_dir_all(&stray).unwrap();
    mount_tmpfs(&stray, None, 0o755).unwrap();
    std::fs::write(stray.join("kept"), "").unwrap();
    let seen = tmp.path().join("seen");
    std::fs::create_dir(&seen).unwrap();
    // What the stray mount holds is never removed through it: here, a second view of it.
    rustix::mount::mount_bind(&stray, &seen).unwrap();
    assert_eq!(mounts_under(&pod_dir(tmp.path(), "uid-1")).len(), 2);
    tear_down(tmp.path(), tmp.path(), "uid-1");
    assert!(!pod_dir(tmp.path(), "uid-1").exists());
    assert!(seen.join("kept").exists());
    rustix::mount::unmount(&seen, rustix::mount::UnmountFlags::DETACH).unwrap();
    assert!(mounts_under(tmp.path()).is_empty());
}

/// The pod's fsGroup on its volumes (kubelet's `SetVolumeOwnership`): group read for the
/// read-only ones, group read and write and setgid for an emptyDir, nothing for a hostPath;
/// the modes the atomic writer compares are those it leaves, so a re-sync writes nothing.
#[test]
fn fs_group_owns_the_volumes_files() {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    let mut pod = pod(serde_json::json!([
        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400,
            "items": [{"key": "password", "path": "pw"}, {"key": "user", "path": "user", "mode": 0o600}]}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": host, "type": "DirectoryOrCreate"}}
    ]));
    // Without root only the agent's own groups can be given; its primary one always can.
    let group = rustix::process::getegid().as_raw();
    pod.spec.as_mut().unwrap().security_context =
        Some(serde_json::from_value(serde_json::json!({"fsGroup": group})).unwrap());
    let made = set_up(tmp.path(), &pod, &NoClaims).unwrap();
    let gid = |p: &Path| std::os::unix::fs::MetadataExt::gid(&std::fs::metadata(p).unwrap());
    let creds = made.volumes["creds"].path.clone();
    assert_eq!(mode(&creds.join("pw")), 0o440);
    assert_eq!(mode(&creds.join("user")), 0o640);
    assert_eq!(mode(&creds), 0o2755);
    assert_eq!(gid(&creds.join("pw")), group);
    let scratch = made.volumes["scratch"].path.clone();
    assert_eq!(mode(&scratch), 0o2777);
    assert_eq!(gid(&scratch), group);
    assert_eq!(mode(&host), 0o755, "a hostPath is the host's");

    let version = std::fs::read_link(creds.join("..data")).unwrap();
    // A file the container made in its emptyDir is its own business after the set-up.
    std::fs::write(scratch.join("mine"), "x").unwrap();
    std::fs::set_permissions(scratch.join("mine"), std::fs::Permissions::from_mode(0o600)).unwrap();
    set_up(tmp.path(), &pod, &NoClaims).unwrap();
    assert_eq!(std::fs::read_link(creds.join("..data")).unwrap(), version);
    assert_eq!(mode(&scratch.join("mine")), 0o600);
    tear_down(tmp.path(), tmp.path(), "uid-1");
}

/// Shallower mount paths come first whatever the order of `volumeMounts`, so that
/// `/data` does not hide `/data/cache` (containerd's order).
#[test]
fn mounts_go_shallowest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let pod = pod(serde_json::json!([
        {"name": "a", "emptyDir": {}},
        {"name": "b", "emptyDir": {}}
    ]));
    let made = set_up(tmp.path(), &pod, &NoClaims).unwrap();
    let container: Container = serde_json::from_value(serde_json::json!({
        "name": "c",
        "volumeMounts": [
            {"name": "b", "mountPath": "/data/cache/"},
            {"name": "a", "mountPath": "/z"},
            {"name": "a", "mountPath": "/data"},
            {"name": "b", "mountPath": "/data/cache/x/y"},
            {"name": "b", "mountPath": "/y"}
        ]
    }))
    .unwrap();
    let order: Vec<PathBuf> = container_mounts(&container, &made, &[])
        .unwrap()
        .into_iter()
        .map(|m| m.destination)
        .collect();
    let want: Vec<PathBuf> = ["/z", "/data", "/y", "/data/cache/", "/data/cache/x/y"]
        .into_iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(order, want);
}

#[test]
fn disk_usage_counts_blocks_in_the_tree_and_not_what_links_point_at() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/a"), vec![1u8; 256 * 1024]).unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, vec![1u8; 1024 * 1024]).unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("link")).unwrap();
    let used = super::disk_usage(&tree);
    assert!(used >= 256 * 1024, "{used}");
    assert!(used < 1024 * 1024, "{used}");
    assert_eq!(super::disk_usage(&dir.path().join("missing")), 0);
}
