//! Test images built on the spot: layers as tars, written as OCI layouts or docker archives.

use std::io::Write;
use std::path::Path;

use crate::digest::Digest;
use crate::unpack::Compression;

/// One entry of a test layer.
pub(crate) enum E<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Link(&'a str, &'a str),
}

pub(crate) fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::File(p, c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(c.len() as u64);
                b.append_data(&mut h, p, c.as_bytes()).unwrap();
            }
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

pub(crate) fn compress(tar: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(tar).unwrap();
            gz.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(tar, 3).unwrap(),
    }
}

pub(crate) fn config(layers: &[Vec<u8>], cmd: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "created": "2024-05-01T10:00:00Z",
        "architecture": crate::platform::Platform::host().architecture,
        "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| Digest::sha256(l).to_string()).collect::<Vec<_>>()
        }
    }))
    .unwrap()
}

fn put(dir: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::sha256(bytes);
    let p = dir.join("blobs/sha256");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join(d.hex()), bytes).unwrap();
    d
}

/// Writes an OCI layout holding one image; returns its manifest digest.
pub(crate) fn oci_layout(
    dir: &Path,
    layers: &[Vec<u8>],
    c: Compression,
    ref_name: Option<&str>,
) -> Digest {
    let cfg = config(layers, &["sh"]);
    let cfg_d = put(dir, &cfg);
    let descs: Vec<_> = layers
        .iter()
        .map(|l| {
            let blob = compress(l, c);
            let d = put(dir, &blob);
            serde_json::json!({"mediaType": c.media_type(), "digest": d.to_string(), "size": blob.len()})
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d.to_string(), "size": cfg.len()},
        "layers": descs
    }))
    .unwrap();
    let md = put(dir, &manifest);
    let mut entry = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md.to_string(),
        "size": manifest.len(),
    });
    if let Some(r) = ref_name {
        entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": r});
    }
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [entry]})).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    md
}

/// Writes a `docker save` archive holding one image.
pub(crate) fn docker_archive(path: &Path, layers: &[Vec<u8>], tags: &[&str]) {
    let cfg = config(layers, &["sh"]);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    let cfg_name = format!("{}.json", Digest::sha256(&cfg).hex());
    add(&cfg_name, &cfg);
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let n = format!("{i}/layer.tar");
        add(&n, l);
        names.push(n);
    }
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": tags, "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.finish().unwrap();
}
