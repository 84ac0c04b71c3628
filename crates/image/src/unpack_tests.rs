//! Crafted layers, malicious and not, unpacked into a real store next to a "host" directory
//! that every attack aims at; each attack must fail naming the layer and the entry, leave
//! the host directory exactly as it was, and leave no layer behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::*;
use crate::store::Store;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    host: PathBuf,
    staging: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("images")).unwrap();
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("secret"), "host data").unwrap();
    let staging = dir.path().join("blobs");
    std::fs::create_dir(&staging).unwrap();
    Fixture {
        _dir: dir,
        store,
        host,
        staging,
    }
}

/// Every file under a directory with its content (or link target), to compare before/after.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let v = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_owned()
            } else if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                format!(
                    "{} nlink={}",
                    std::fs::read_to_string(&p).unwrap(),
                    m.nlink()
                )
            };
            out.insert(p, v);
        }
    }
    out
}

/// A tar header written as is: the tar crate's own helpers refuse `..` and absolute names,
/// which is exactly what these layers need.
fn raw(kind: EntryType, name: &str, link: Option<&str>, data: &[u8]) -> (Header, Vec<u8>) {
    let mut h = Header::new_gnu();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        old.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    (h, data.to_vec())
}

fn file(name: &str, data: &str) -> (Header, Vec<u8>) {
    raw(EntryType::Regular, name, None, data.as_bytes())
}

fn dir(name: &str) -> (Header, Vec<u8>) {
    raw(EntryType::Directory, name, None, b"")
}

fn symlink(name: &str, target: &str) -> (Header, Vec<u8>) {
    raw(EntryType::Symlink, name, Some(target), b"")
}

fn hardlink(name: &str, target: &str) -> (Header, Vec<u8>) {
    raw(EntryType::Link, name, Some(target), b"")
}

fn tar_of(entries: Vec<(Header, Vec<u8>)>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (h, data) in entries {
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

impl Fixture {
    /// Unpacks an uncompressed layer; returns its digest and the result.
    fn unpack(&self, tar: &[u8]) -> (Digest, Result<()>) {
        self.unpack_as(tar, tar, Compression::None)
    }

    fn unpack_as(&self, tar: &[u8], blob: &[u8], c: Compression) -> (Digest, Result<()>) {
        let layer = Digest::sha256(blob);
        let diff_id = Digest::sha256(tar);
        let path = self.staging.join(layer.hex());
        std::fs::write(&path, blob).unwrap();
        let r = self.store.unpack_layer(&path, c, &layer, &diff_id);
        (diff_id, r)
    }

    fn layer_fs(&self, diff_id: &Digest) -> PathBuf {
        self.store.layer_path(diff_id).join(LAYER_FS)
    }

    /// Runs an attack: it must fail as an unsafe entry naming this layer and `entry`, with
    /// the host untouched and no layer stored.
    fn refuses(&self, entries: Vec<(Header, Vec<u8>)>, entry: &str, reason: &str) {
        let before = snapshot(&self.host);
        let tar = tar_of(entries);
        let (diff_id, r) = self.unpack(&tar);
        match r {
            Err(Error::UnsafeEntry {
                layer,
                entry: e,
                reason: why,
            }) => {
                assert_eq!(layer, diff_id.to_string());
                assert_eq!(e, entry);
                assert!(why.contains(reason), "reason {why:?} lacks {reason:?}");
            }
            other => panic!("{entry}: expected an unsafe-entry error, got {other:?}"),
        }
        assert_eq!(snapshot(&self.host), before, "the host directory changed");
        assert!(!self.store.has_layer(&diff_id));
        assert!(!self.store.layer_path(&diff_id).exists());
        let staging: Vec<_> = std::fs::read_dir(self.store.root().join("tmp"))
            .unwrap()
            .collect();
        assert!(staging.is_empty(), "staging left behind: {staging:?}");
    }
}

#[test]
fn dot_dot_paths_are_refused() {
    let f = fixture();
    f.refuses(
        vec![file("../../host/pwned", "x")],
        "../../host/pwned",
        "\"..\" in path",
    );
    f.refuses(
        vec![dir("a"), file("a/../../../host/secret", "x")],
        "a/../../../host/secret",
        "\"..\"",
    );
}

#[test]
fn absolute_paths_are_refused() {
    let f = fixture();
    let target = format!("{}/pwned", f.host.display());
    f.refuses(vec![file(&target, "x")], &target, "absolute path");
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let f = fixture();
    let host = f.host.display().to_string();
    f.refuses(
        vec![symlink("evil", &host), file("evil/pwned", "x")],
        "evil/pwned",
        "writes through the symlink \"evil\"",
    );
    f.refuses(
        vec![
            dir("a"),
            symlink("a/b", &host),
            file("a/b/secret", "overwritten"),
        ],
        "a/b/secret",
        "writes through the symlink \"a/b\"",
    );
    // A relative link that stays inside the layer is still not followed.
    f.refuses(
        vec![dir("d"), symlink("l", "d"), file("l/x", "x")],
        "l/x",
        "writes through the symlink",
    );
}

#[test]
fn symlinks_climbing_out_of_the_layer_are_refused() {
    let f = fixture();
    f.refuses(
        vec![symlink("up", "../../host")],
        "up",
        "leads outside the layer",
    );
    f.refuses(
        vec![dir("a"), symlink("a/up", "../../x")],
        "a/up",
        "leads outside the layer",
    );
}

#[test]
fn hard_links_outside_or_through_symlinks_are_refused() {
    let f = fixture();
    let host = f.host.display().to_string();
    f.refuses(
        vec![hardlink("hl", "../../host/secret")],
        "hl",
        "hard link target \"..\" in path",
    );
    f.refuses(
        vec![hardlink("hl", &format!("{host}/secret"))],
        "hl",
        "hard link target absolute path",
    );
    f.refuses(
        vec![symlink("evil", &host), hardlink("hl", "evil/secret")],
        "hl",
        "writes through the symlink",
    );
    f.refuses(vec![hardlink("hl", "missing")], "hl", "not in this layer");
    f.refuses(vec![dir("d"), hardlink("hl", "d")], "hl", "to a directory");
    assert_eq!(std::fs::metadata(f.host.join("secret")).unwrap().nlink(), 1);
}

#[test]
fn whiteouts_cannot_reach_outside() {
    let f = fixture();
    let host = f.host.display().to_string();
    f.refuses(
        vec![symlink("evil", &host), file("evil/.wh.secret", "")],
        "evil/.wh.secret",
        "writes through the symlink",
    );
    f.refuses(vec![file(".wh...", "")], ".wh...", "whiteout of no name");
}

#[test]
fn the_root_must_be_a_directory() {
    let f = fixture();
    f.refuses(vec![file("./", "x")], "./", "root must be a directory");
}

#[test]
fn later_entries_replace_symlinks_instead_of_following_them() {
    let f = fixture();
    let before = snapshot(&f.host);
    let secret = format!("{}/secret", f.host.display());
    let tar = tar_of(vec![
        symlink("link", &secret),
        file("link", "layer data"),
        symlink("d", &f.host.display().to_string()),
        dir("d"),
        file("d/inside", "y"),
    ]);
    let (diff_id, r) = f.unpack(&tar);
    r.unwrap();
    assert_eq!(snapshot(&f.host), before);
    let fs = f.layer_fs(&diff_id);
    assert_eq!(
        std::fs::read_to_string(fs.join("link")).unwrap(),
        "layer data"
    );
    assert!(std::fs::symlink_metadata(fs.join("d")).unwrap().is_dir());
    assert_eq!(std::fs::read_to_string(fs.join("d/inside")).unwrap(), "y");
}

#[test]
fn device_nodes_are_skipped_and_recorded() {
    let f = fixture();
    let mut null = raw(EntryType::Char, "dev/null", None, b"");
    null.0.set_device_major(1).unwrap();
    null.0.set_device_minor(3).unwrap();
    null.0.set_cksum();
    let tar = tar_of(vec![
        dir("dev"),
        null,
        raw(EntryType::Block, "dev/sda", None, b""),
        hardlink("dev/null2", "dev/null"),
        file("ok", "fine"),
    ]);
    let (diff_id, r) = f.unpack(&tar);
    r.unwrap();
    let fs = f.layer_fs(&diff_id);
    assert!(std::fs::symlink_metadata(fs.join("dev/null")).is_err());
    assert!(std::fs::symlink_metadata(fs.join("dev/sda")).is_err());
    assert!(std::fs::symlink_metadata(fs.join("dev/null2")).is_err());
    assert_eq!(std::fs::read_to_string(fs.join("ok")).unwrap(), "fine");
    let meta = f.store.layer_meta(&diff_id).unwrap();
    assert_eq!(meta.skipped, ["dev/null", "dev/null2", "dev/sda"]);
}

#[test]
fn trusted_xattrs_from_a_layer_are_dropped() {
    let f = fixture();
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
        ("SCHILY.xattr.user.note", &b"kept"[..]),
    ])
    .unwrap();
    let (h, d) = dir("d");
    b.append(&h, d.as_slice()).unwrap();
    let tar = b.into_inner().unwrap();
    let (diff_id, r) = f.unpack(&tar);
    r.unwrap();
    let d = f.layer_fs(&diff_id).join("d");
    let fd = rustix::fs::open(&d, DIR_FLAGS, Mode::empty()).unwrap();
    let mut buf = [0u8; 16];
    assert!(rustix::fs::fgetxattr(&fd, OVERLAY_OPAQUE_XATTR, &mut buf).is_err());
    if let Ok(n) = rustix::fs::fgetxattr(&fd, "user.note", &mut buf) {
        assert_eq!(&buf[..n], b"kept");
    }
}

/// A well-formed layer: the tree, modes, owners, links and whiteouts come out as written.
#[test]
fn a_normal_layer_unpacks_faithfully() {
    normal_layer(None);
}

#[test]
fn a_normal_layer_with_marker_whiteouts() {
    normal_layer(Some(WhiteoutFormat::Marker));
}

fn normal_layer(format: Option<WhiteoutFormat>) {
    let f = fixture();
    if let Some(format) = format {
        f.store.whiteouts.set(format).unwrap();
    }
    let mut exe = file("bin/tool", "#!/bin/sh\n");
    exe.0.set_mode(0o4755);
    exe.0.set_uid(1000);
    exe.0.set_gid(1000);
    exe.0.set_cksum();
    let mut ro = dir("ro");
    ro.0.set_mode(0o555);
    ro.0.set_cksum();
    let tar = tar_of(vec![
        dir("./"),
        dir("bin"),
        exe,
        symlink("bin/sh", "/bin/tool"),
        symlink("bin/rel", "tool"),
        hardlink("bin/tool2", "bin/tool"),
        ro,
        file("ro/inside", "z"),
        file("implicit/parent/file", "p"),
        file(".wh.gone", ""),
        dir("opq"),
        file("opq/.wh..wh..opq", ""),
        raw(EntryType::Fifo, "fifo", None, b""),
    ]);
    let (diff_id, r) = f.unpack(&tar);
    r.unwrap();
    let fs = f.layer_fs(&diff_id);
    let tool = std::fs::metadata(fs.join("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(tool.mtime(), 1_700_000_000);
    if fsutil::is_root() {
        assert_eq!((tool.uid(), tool.gid()), (1000, 1000));
    }
    assert_eq!(tool.nlink(), 2);
    assert_eq!(
        std::fs::read_link(fs.join("bin/sh")).unwrap(),
        Path::new("/bin/tool")
    );
    assert_eq!(
        std::fs::metadata(fs.join("ro"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o555
    );
    assert_eq!(std::fs::read_to_string(fs.join("ro/inside")).unwrap(), "z");
    assert_eq!(
        std::fs::read_to_string(fs.join("implicit/parent/file")).unwrap(),
        "p"
    );
    assert!(
        std::fs::symlink_metadata(fs.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let meta = f.store.layer_meta(&diff_id).unwrap();
    assert_eq!(meta.size, "#!/bin/sh\n".len() as u64 + 2);
    if let Some(format) = format {
        assert_eq!(meta.whiteouts, format);
    }
    match meta.whiteouts {
        WhiteoutFormat::Overlay => {
            let gone = std::fs::symlink_metadata(fs.join("gone")).unwrap();
            assert!(gone.file_type().is_char_device());
            assert_eq!(gone.rdev(), 0);
            let opq = rustix::fs::open(fs.join("opq"), DIR_FLAGS, Mode::empty()).unwrap();
            let mut buf = [0u8; 2];
            assert_eq!(
                rustix::fs::fgetxattr(&opq, OVERLAY_OPAQUE_XATTR, &mut buf).unwrap(),
                1
            );
            assert!(!fs.join("opq/.wh..wh..opq").exists());
        }
        WhiteoutFormat::Marker => {
            assert!(fs.join(".wh.gone").is_file());
            assert!(fs.join("opq/.wh..wh..opq").is_file());
        }
    }
    // Unpacking the same layer again is a no-op.
    let (_, again) = f.unpack(&tar);
    again.unwrap();
}

use std::os::unix::fs::FileTypeExt;

#[test]
fn compressed_layers_and_diff_id_verification() {
    let f = fixture();
    let tar = tar_of(vec![file("a", "gz")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let (diff_id, r) = f.unpack_as(&tar, &gz, Compression::Gzip);
    r.unwrap();
    assert_eq!(
        std::fs::read_to_string(f.layer_fs(&diff_id).join("a")).unwrap(),
        "gz"
    );

    let tar = tar_of(vec![file("b", "zstd")]);
    let zst = zstd::stream::encode_all(tar.as_slice(), 3).unwrap();
    let (diff_id, r) = f.unpack_as(&tar, &zst, Compression::Zstd);
    r.unwrap();
    assert_eq!(
        std::fs::read_to_string(f.layer_fs(&diff_id).join("b")).unwrap(),
        "zstd"
    );

    // A layer whose content is not its diff id is refused and not stored.
    let tar = tar_of(vec![file("c", "x")]);
    let path = f.staging.join("c");
    std::fs::write(&path, &tar).unwrap();
    let claimed = Digest::sha256(b"something else");
    let e = f
        .store
        .unpack_layer(&path, Compression::None, &Digest::sha256(&tar), &claimed)
        .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(!f.store.has_layer(&claimed));

    // Corrupt compression is a layer error naming the layer.
    let mut bad = gz.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    let path = f.staging.join("bad");
    std::fs::write(&path, &bad).unwrap();
    let layer = Digest::sha256(&bad);
    let e = f
        .store
        .unpack_layer(&path, Compression::Gzip, &layer, &Digest::sha256(b"x"))
        .unwrap_err();
    assert!(e.to_string().starts_with(&format!("layer {layer}")), "{e}");
}
