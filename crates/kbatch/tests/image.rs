//! `kbatch image` end to end: a busybox image built here, pushed to Debian's docker-registry
//! on loopback (open, basic auth, token auth), pulled back with `kbatch image pull`, imported
//! from an OCI layout and a `docker save` archive, listed, removed — and a root filesystem
//! prepared from it whose /bin/busybox runs.

#[path = "image/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use kbatch_image::{ImageRef, Store};
use oci_client::secrets::RegistryAuth;
use support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn skip_without_registry() -> bool {
    if !Path::new(REGISTRY_BIN).exists() {
        eprintln!(
            "SKIPPED: {REGISTRY_BIN} is not installed (apt-get install docker-registry); \
             the image pull tests need a registry"
        );
        return true;
    }
    false
}

fn ok(o: &std::process::Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

fn fails(o: &std::process::Output, what: &str) -> String {
    assert!(
        !o.status.success(),
        "{what} should have failed:\nstdout: {}",
        stdout(o)
    );
    stderr(o)
}

/// Releases a rootfs however the test ends, so no overlay mount outlives it.
struct Release<'a>(&'a Store, &'a str);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let _ = self.0.release_rootfs(self.1);
    }
}

#[test]
fn pull_import_list_remove_and_run_from_a_prepared_rootfs() {
    if skip_without_registry() {
        return;
    }
    let registry = Registry::start(Auth::None).unwrap();
    let reg = registry.addr.clone();
    let img = busybox_image();
    let other = other_arch_image("s390x");
    let rt = runtime();
    let (digest, _) = rt.block_on(async {
        let c = push_client();
        let anon = RegistryAuth::Anonymous;
        let (d, size) = push(
            &c,
            &format!("{reg}/kbatch-test/busybox:v1"),
            &img,
            GZIP,
            &anon,
        )
        .await;
        push(
            &c,
            &format!("{reg}/kbatch-test/busybox:zstd"),
            &img,
            ZSTD,
            &anon,
        )
        .await;
        let (od, osize) = push(
            &c,
            &format!("{reg}/kbatch-test/busybox:s390x"),
            &other,
            GZIP,
            &anon,
        )
        .await;
        push_index(
            &c,
            &format!("{reg}/kbatch-test/busybox:multi"),
            &[(od, osize, "s390x"), (d.clone(), size, goarch())],
        )
        .await;
        (d, size)
    });

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let insecure = ["--insecure-registry", reg.as_str()];

    // Pull: by tag, through a multi-platform index (this node's entry), zstd layers.
    let v1 = format!("{reg}/kbatch-test/busybox:v1");
    let out = ok(
        &kbatch_image(&data, &[&["pull", &v1][..], &insecure].concat()),
        "pull v1",
    );
    assert!(
        out.starts_with(&format!("Pulled {v1} ({digest}, ")),
        "{out}"
    );
    let multi = format!("{reg}/kbatch-test/busybox:multi");
    let out = ok(
        &kbatch_image(&data, &[&["pull", &multi][..], &insecure].concat()),
        "pull multi",
    );
    assert!(
        out.contains(&digest),
        "the index resolves to this node's manifest: {out}"
    );
    let zst = format!("{reg}/kbatch-test/busybox:zstd");
    ok(
        &kbatch_image(&data, &[&["pull", &zst][..], &insecure].concat()),
        "pull zstd",
    );

    // Failures: a missing tag, plain HTTP not allowed, a name that does not parse.
    let missing = format!("{reg}/kbatch-test/busybox:missing");
    let err = fails(
        &kbatch_image(&data, &[&["pull", &missing][..], &insecure].concat()),
        "pull missing",
    );
    assert!(err.contains("not found"), "{err}");
    let err = fails(&kbatch_image(&data, &["pull", &v1]), "pull over https");
    assert!(err.contains(&v1), "{err}");
    let err = fails(
        &kbatch_image(&data, &["pull", "Bad/Name"]),
        "pull a bad name",
    );
    assert!(
        err.contains("couldn't parse image reference \"Bad/Name\""),
        "{err}"
    );

    // Import: a docker save archive and an OCI layout.
    let saved = work.path().join("busybox.tar");
    write_docker_save(&saved, &busybox_image(), &["kbatch-test/busybox:saved"]);
    let out = ok(
        &kbatch_image(&data, &["import", saved.to_str().unwrap()]),
        "import docker save",
    );
    assert!(
        out.starts_with("Imported docker.io/kbatch-test/busybox:saved (sha256:"),
        "{out}"
    );
    let layout = work.path().join("layout");
    write_oci_layout(
        &layout,
        &busybox_image(),
        "localhost/kbatch-test/busybox:layout",
    );
    let out = ok(
        &kbatch_image(&data, &["import", layout.to_str().unwrap()]),
        "import layout",
    );
    assert!(
        out.starts_with("Imported localhost/kbatch-test/busybox:layout (sha256:"),
        "{out}"
    );

    // List: table and JSON.
    let table = ok(&kbatch_image(&data, &["ls"]), "ls");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REFERENCE"), "{table}");
    assert!(
        lines[0].contains("DIGEST") && lines[0].contains("SIZE") && lines[0].contains("CREATED")
    );
    assert_eq!(lines.len(), 6, "{table}");
    let row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{v1} ")))
        .unwrap();
    assert!(row.contains(&digest[7..19]), "{table}");
    assert!(table.contains("2025-01-02T03:04:05Z"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&kbatch_image(&data, &["ls", "-o", "json"]), "ls json")).unwrap();
    let refs: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        [
            multi.as_str(),
            v1.as_str(),
            zst.as_str(),
            "docker.io/kbatch-test/busybox:saved",
            "localhost/kbatch-test/busybox:layout"
        ]
    );
    assert!(json[0]["size"].as_u64().unwrap() > 1000);

    // A root filesystem from the pulled image runs its own busybox, entrypoint and command.
    let store = Store::open(data.join("images")).unwrap();
    let image = store
        .image(&ImageRef::parse(&v1).unwrap())
        .unwrap()
        .expect("v1 is stored");
    assert_eq!(image.entrypoint(), ["/bin/busybox"]);
    assert_eq!(image.cmd(), ["echo", "hello from the image"]);
    let rootfs = store
        .prepare_rootfs("it-c1", &image, jiff::Timestamp::now())
        .unwrap();
    let _unmount = Release(&store, "it-c1");
    let entry = rootfs
        .path
        .join(image.entrypoint()[0].trim_start_matches('/'));
    let run = Command::new(&entry).args(image.cmd()).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from the image\n"
    );
    let cat = Command::new(rootfs.path.join("bin/cat"))
        .arg(rootfs.path.join("etc/motd"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "layer two\n");
    assert!(!rootfs.path.join("etc/old").exists(), "whited out");
    assert!(std::fs::symlink_metadata(rootfs.path.join("etc/old")).is_err());

    // Remove: a tag goes; the image's last reference is refused while the rootfs uses it.
    let out = ok(&kbatch_image(&data, &["rm", &v1]), "rm v1");
    assert_eq!(out, format!("Deleted: {v1}\n"));
    let err = fails(
        &kbatch_image(&data, &["rm", &multi]),
        "rm multi while in use",
    );
    assert!(err.contains("is in use by container it-c1"), "{err}");
    store.release_rootfs("it-c1").unwrap();
    ok(&kbatch_image(&data, &["rm", &multi]), "rm multi");
    let saved_digest = json[3]["digest"].as_str().unwrap();
    let out = ok(
        &kbatch_image(&data, &["rm", &saved_digest[7..19]]),
        "rm by digest",
    );
    assert_eq!(out, "Deleted: docker.io/kbatch-test/busybox:saved\n");
    let err = fails(&kbatch_image(&data, &["rm", "nothing:here"]), "rm missing");
    assert!(err.contains("is not present"), "{err}");
    let table = ok(&kbatch_image(&data, &["ls"]), "ls after rm");
    assert!(!table.contains(":v1") && !table.contains(":multi") && !table.contains(":saved"));
    assert!(
        table.contains(":zstd") && table.contains(":layout"),
        "{table}"
    );
}

#[test]
fn basic_auth_from_a_docker_config() {
    if skip_without_registry() {
        return;
    }
    let registry = Registry::start(Auth::Basic {
        user: "alice".into(),
        password: "s3cret".into(),
    })
    .unwrap();
    let reg = registry.addr.clone();
    let reference = format!("{reg}/private/busybox:v1");
    let basic = RegistryAuth::Basic("alice".into(), "s3cret".into());
    let (digest, _) = runtime().block_on(push(
        &push_client(),
        &reference,
        &busybox_image(),
        GZIP,
        &basic,
    ));
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let pull = |extra: &[&str]| {
        kbatch_image(
            &data,
            &[
                &[
                    "pull",
                    reference.as_str(),
                    "--insecure-registry",
                    reg.as_str(),
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    let err = fails(&pull(&[]), "anonymous pull");
    assert!(err.to_lowercase().contains("authoriz"), "{err}");
    let wrong = docker_config(&work.path().join("wrong"), &reg, "alice", "nope");
    let err = fails(
        &pull(&["--docker-config", wrong.to_str().unwrap()]),
        "wrong password",
    );
    assert!(err.to_lowercase().contains("authoriz"), "{err}");
    let right = docker_config(work.path(), &reg, "alice", "s3cret");
    let out = ok(
        &pull(&["--docker-config", right.to_str().unwrap()]),
        "pull with credentials",
    );
    assert!(out.contains(&digest), "{out}");
}

#[test]
fn token_auth_with_credentials() {
    if skip_without_registry() {
        return;
    }
    let tokens = TokenServer::start("bob", "hunter2");
    let registry = Registry::start(Auth::Token {
        realm: tokens.realm.clone(),
        cert: tokens.cert.clone(),
    })
    .unwrap();
    let reg = registry.addr.clone();
    let reference = format!("{reg}/tokens/busybox:v1");
    let basic = RegistryAuth::Basic("bob".into(), "hunter2".into());
    let (digest, _) = runtime().block_on(push(
        &push_client(),
        &reference,
        &busybox_image(),
        GZIP,
        &basic,
    ));
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let pull = |extra: &[&str]| {
        kbatch_image(
            &data,
            &[
                &[
                    "pull",
                    reference.as_str(),
                    "--insecure-registry",
                    reg.as_str(),
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    fails(&pull(&[]), "pull without a token");
    let creds = docker_config(work.path(), &reg, "bob", "hunter2");
    let out = ok(
        &pull(&["--docker-config", creds.to_str().unwrap()]),
        "pull with a token",
    );
    assert!(out.contains(&digest), "{out}");
}

#[test]
fn a_registry_serving_corrupt_content_is_refused() {
    if skip_without_registry() {
        return;
    }
    let registry = Registry::start(Auth::None).unwrap();
    let reg = registry.addr.clone();
    let img = busybox_image();
    let reference = format!("{reg}/kbatch-test/corrupt:v1");
    runtime().block_on(push(
        &push_client(),
        &reference,
        &img,
        GZIP,
        &RegistryAuth::Anonymous,
    ));
    // Flip a byte of the big layer where the registry keeps it: it serves what it has.
    let big = gzip(&img.layers[0]);
    let hex = &sha256(&big)[7..];
    let blob = registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let err = fails(
        &kbatch_image(&data, &["pull", &reference, "--insecure-registry", &reg]),
        "pull of corrupt content",
    );
    assert!(err.to_lowercase().contains("digest"), "{err}");
    let table = ok(&kbatch_image(&data, &["ls"]), "ls");
    assert_eq!(table.lines().count(), 1, "nothing stored: {table}");
    let layers = std::fs::read_dir(data.join("images/layers/sha256")).unwrap();
    for l in layers {
        let l = l.unwrap();
        assert_ne!(
            l.file_name().to_string_lossy(),
            &sha256(&img.layers[0])[7..],
            "the corrupt layer was not kept"
        );
    }
    assert_eq!(
        std::fs::read_dir(data.join("images/tmp")).unwrap().count(),
        0
    );
}

#[test]
fn an_archive_with_a_malicious_layer_is_refused_and_the_host_untouched() {
    let work = tempfile::tempdir().unwrap();
    let host = work.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("secret"), "host data").unwrap();
    // A symlink to the host directory, then a file written through it.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    b.append_link(&mut h, "evil", &host).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(5);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "evil/secret", &b"pwned"[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let img = TestImage {
        config: serde_json::to_vec(&serde_json::json!({
            "architecture": goarch(), "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]}
        }))
        .unwrap(),
        layers: vec![layer.clone()],
    };
    let archive = work.path().join("evil.tar");
    write_docker_save(&archive, &img, &["evil:v1"]);
    let data = work.path().join("data");
    let err = fails(
        &kbatch_image(&data, &["import", archive.to_str().unwrap()]),
        "import of a malicious layer",
    );
    assert!(
        err.contains(&format!(
            "layer {}: entry \"evil/secret\": writes through the symlink \"evil\"",
            sha256(&layer)
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("secret")).unwrap(),
        "host data"
    );
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 1);
    let table = ok(&kbatch_image(&data, &["ls"]), "ls");
    assert_eq!(table.lines().count(), 1, "nothing stored: {table}");
}
