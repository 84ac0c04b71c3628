//! A run's bundle and its pod's files. The pod's files live in `<dir>/pods/<pod uid>/` and
//! are shared by its containers: `hosts`, `resolv.conf`, `hostname` (bind-mounted over the
//! image's). The pod's volumes are the agent's (crates/agent/src/volumes), the same for both
//! runtimes, and arrive as the run's mounts. A run's bundle is
//! `<dir>/bundles/<container id>/config.json`; its root filesystem is the image store's
//! `containers/<container id>/merged`.

use std::path::{Path, PathBuf};

use kbatch_image::Store;

use super::cleanup::{Paths, cgroups_path};
use super::spec::{self, SpecInput, pod_hostname};
use crate::runtime::{ContainerSpec, ImageRun};

/// The pod's directory of files shared by its containers.
pub fn pod_dir(dir: &Path, uid: &str) -> PathBuf {
    dir.join("pods").join(uid)
}

/// A run's bundle directory.
pub fn bundle_dir(dir: &Path, container_id: &str) -> PathBuf {
    dir.join("bundles").join(container_id)
}

/// kubelet's managed hosts file (`managedHostsFileContent`), with the node's address as
/// the pod's: the pod shares the host's network.
fn hosts_file(pod_ip: &str, hostname: &str, subdomain: Option<&str>, namespace: &str) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    match subdomain.filter(|s| !s.is_empty()) {
        Some(sub) => out.push_str(&format!(
            "{pod_ip}\t{hostname}.{sub}.{namespace}.svc.cluster.local\t{hostname}\n"
        )),
        None => out.push_str(&format!("{pod_ip}\t{hostname}\n")),
    }
    out
}

/// Writes the pod's shared files (again: each run's start leaves them as the pod says).
fn pod_files(dir: &Path, image: &ImageRun) -> Result<PathBuf, String> {
    let pod = &image.pod;
    let uid = pod.metadata.uid.as_deref().unwrap_or("");
    let pod_dir = pod_dir(dir, uid);
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    std::fs::create_dir_all(&pod_dir).map_err(|e| io("creating", &pod_dir, e))?;
    let spec = pod.spec.clone().unwrap_or_default();
    let hostname = pod_hostname(pod);
    let pod_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let mut hosts = hosts_file(
        &pod_ip,
        &hostname,
        spec.subdomain.as_deref(),
        pod.metadata.namespace.as_deref().unwrap_or(""),
    );
    for alias in spec.host_aliases.iter().flatten() {
        let names = alias.hostnames.clone().unwrap_or_default().join("\t");
        hosts.push_str(&format!(
            "\n# Entries added by HostAliases.\n{}\t{names}\n",
            alias.ip
        ));
    }
    let write = |name: &str, content: &[u8]| {
        let p = pod_dir.join(name);
        std::fs::write(&p, content).map_err(|e| io("writing", &p, e))
    };
    write("hosts", hosts.as_bytes())?;
    // The host's resolver: the pod has the host's network and there is no cluster DNS.
    let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    write("resolv.conf", &resolv)?;
    write("hostname", format!("{hostname}\n").as_bytes())?;
    Ok(pod_dir)
}

/// A file of the image's `/etc`, read without following a symlink out of the rootfs (a
/// symlinked file is treated as absent).
fn image_file(rootfs: &Path, name: &str) -> Option<String> {
    let p = rootfs.join("etc").join(name);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    if !meta.is_file() {
        return None;
    }
    std::fs::read_to_string(p).ok()
}

/// Prepares everything run `spec` needs: the pod's files, the rootfs, the bundle. Returns
/// the bundle's directory.
pub async fn prepare(
    paths: &Paths,
    spec: &ContainerSpec,
    image: &ImageRun,
    container_id: &str,
    pids_limit: Option<i64>,
    now: jiff::Timestamp,
) -> Result<PathBuf, String> {
    let pod_dir = pod_files(&paths.dir, image)?;
    let store: Store = paths.store.clone();
    let id = container_id.to_owned();
    let img = image.image.clone();
    let rootfs = tokio::task::spawn_blocking(move || store.prepare_rootfs(&id, &img, now))
        .await
        .map_err(|e| format!("preparing the root filesystem: {e}"))?
        .map_err(|e| format!("preparing the root filesystem: {e}"))?;
    let passwd = image_file(&rootfs.path, "passwd");
    let group = image_file(&rootfs.path, "group");
    let config = spec::generate(&SpecInput {
        pod: &image.pod,
        container: &image.container,
        image: &image.image,
        env: &spec.env,
        command: image.command.clone(),
        args: image.args.clone(),
        rootfs: &rootfs.path,
        passwd: passwd.as_deref(),
        group: group.as_deref(),
        etc_hosts: &pod_dir.join("hosts"),
        resolv_conf: &pod_dir.join("resolv.conf"),
        hostname_file: &pod_dir.join("hostname"),
        mounts: &spec.mounts,
        cgroups_path: cgroups_path(container_id),
        limits: spec.limits,
        pids_limit,
    })
    .map_err(|e| e.to_string())?;
    let bundle = bundle_dir(&paths.dir, container_id);
    std::fs::create_dir_all(&bundle).map_err(|e| format!("creating {}: {e}", bundle.display()))?;
    config
        .save(bundle.join("config.json"))
        .map_err(|e| format!("writing the container's config.json: {e}"))?;
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_names_the_pod() {
        let h = hosts_file("127.0.0.1", "job-0", Some("svc"), "ns");
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(
            h.ends_with("127.0.0.1\tjob-0.svc.ns.svc.cluster.local\tjob-0\n"),
            "{h}"
        );
        let h = hosts_file("10.0.0.1", "p", None, "ns");
        assert!(h.ends_with("10.0.0.1\tp\n"), "{h}");
    }
}
