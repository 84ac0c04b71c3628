//! kubelet's `AtomicWriter` (pkg/volume/util/atomic_writer.go): the files of a ConfigMap,
//! Secret, downward API or projected volume change all at once or not at all, as a reader
//! in the container sees them.
//!
//! The layout of a volume directory:
//!
//! ```text
//! ..2026_11_27_17_30_00.1234   the payload of one version (the "timestamped directory")
//! ..data -> ..2026_11_27_17_30_00.1234
//! key   -> ..data/key          one link per top-level name of the payload
//! ```
//!
//! A new version is written into a new timestamped directory, then `..data` is replaced by
//! renaming a new link over it (one atomic step), then the links for new names are made,
//! and the old version and the links of names that went are removed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU64, Ordering};

const DATA_DIR: &str = "..data";
const NEW_DATA_DIR: &str = "..data_tmp";

/// One file of a volume's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    /// The file's permission bits.
    pub mode: u32,
}

/// Relative path → file.
pub type Payload = BTreeMap<String, FileProjection>;

/// `validatePath`: a payload path is relative, has no `..` element, and does not start
/// with `..` (the writer's own names do).
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("invalid path: must not be empty".to_owned());
    }
    if path.len() > 4096 {
        return Err("invalid path: must be less than or equal to 4096 characters".to_owned());
    }
    if Path::new(path).is_absolute() {
        return Err("invalid path: must be relative path".to_owned());
    }
    for part in path.split('/') {
        if part.len() > 255 {
            return Err(
                "invalid path: path segment must be less than or equal to 255 characters"
                    .to_owned(),
            );
        }
        if part == ".." {
            return Err("invalid path: must not contain '..'".to_owned());
        }
    }
    if path.starts_with("..") {
        return Err("invalid path: must not start with '..'".to_owned());
    }
    Ok(())
}

/// Writes `payload` as the volume's current version in `dir` (created if missing).
pub fn write(dir: &Path, payload: &Payload) -> std::io::Result<()> {
    for path in payload.keys() {
        validate_path(path).map_err(std::io::Error::other)?;
    }
    std::fs::create_dir_all(dir)?;
    let old = std::fs::read_link(dir.join(DATA_DIR)).ok();
    if let Some(old) = &old
        && same(&dir.join(old), payload)
    {
        return Ok(());
    }
    let version = new_version_dir(dir)?;
    let written = (|| {
        for (path, file) in payload {
            let target = version.join(path);
            if let Some(parent) = target.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)?;
            f.write_all(&file.data)?;
            f.sync_all()?;
            // Set after the write, not through the umask.
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))?;
        }
        let name = version
            .file_name()
            .ok_or_else(|| std::io::Error::other("version directory without a name"))?;
        let tmp = dir.join(NEW_DATA_DIR);
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(name, &tmp)?;
        std::fs::rename(&tmp, dir.join(DATA_DIR))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&version);
        return Err(e);
    }
    let wanted: BTreeSet<String> = payload.keys().map(|p| top_level(p).to_owned()).collect();
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_DIR).join(name), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || wanted.contains(&name) {
            continue;
        }
        // A name the payload no longer has: only the writer's own links are removed.
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            std::fs::remove_file(entry.path())?;
        }
    }
    if let Some(old) = old {
        let old = dir.join(old);
        if old != version {
            std::fs::remove_dir_all(old)?;
        }
    }
    Ok(())
}

fn top_level(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// Whether the version in `dir` holds exactly `payload`.
fn same(dir: &Path, payload: &Payload) -> bool {
    let mut found = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            return false;
        };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(dir) else {
                return false;
            };
            let rel: String = rel
                .components()
                .filter_map(|c| match c {
                    Component::Normal(p) => p.to_str(),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("/");
            let Some(want) = payload.get(&rel) else {
                return false;
            };
            let mode = e.metadata().map(|m| m.permissions().mode() & 0o7777);
            if mode.ok() != Some(want.mode)
                || std::fs::read(&path).ok().as_ref() != Some(&want.data)
            {
                return false;
            }
            found += 1;
        }
    }
    found == payload.len()
}

/// A new timestamped directory (`..YYYY_MM_DD_HH_MM_SS.<unique>`, as kubelet names them).
fn new_version_dir(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let stamp = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .strftime("%Y_%m_%d_%H_%M_%S")
        .to_string();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("..{stamp}.{}{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o755).create(&path) {
            Ok(()) => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                (
                    (*p).to_owned(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn layout_and_update() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        write(
            &dir,
            &payload(&[
                ("a", "1", 0o644),
                ("sub/b", "2", 0o400),
                ("gone", "x", 0o644),
            ]),
        )
        .unwrap();
        let listed = names(&dir);
        assert_eq!(listed.len(), 5, "{listed:?}");
        assert!(listed[0].starts_with("..20"), "{listed:?}");
        assert_eq!(&listed[1..], ["..data", "a", "gone", "sub"]);
        let first = std::fs::read_link(dir.join("..data")).unwrap();
        assert_eq!(first.to_str().unwrap(), listed[0]);
        assert_eq!(
            std::fs::read_link(dir.join("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(std::fs::read_to_string(dir.join("sub/b")).unwrap(), "2");
        let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("a"), 0o644);
        assert_eq!(mode("sub/b"), 0o400);

        // The same payload again changes nothing.
        write(
            &dir,
            &payload(&[
                ("a", "1", 0o644),
                ("sub/b", "2", 0o400),
                ("gone", "x", 0o644),
            ]),
        )
        .unwrap();
        assert_eq!(std::fs::read_link(dir.join("..data")).unwrap(), first);

        // A new version replaces the old one whole; a name that went loses its link.
        write(&dir, &payload(&[("a", "new", 0o600), ("c", "3", 0o644)])).unwrap();
        let listed = names(&dir);
        assert_eq!(&listed[1..], ["..data", "a", "c"], "{listed:?}");
        assert_ne!(std::fs::read_link(dir.join("..data")).unwrap(), first);
        assert!(!dir.join(&first).exists(), "the old version is removed");
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "new");
        assert_eq!(mode("a"), 0o600);
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "/abs", "../x", "a/../b", "..x"] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
        assert!(validate_path("a/b.c").is_ok());
        let tmp = tempfile::tempdir().unwrap();
        assert!(write(tmp.path(), &payload(&[("../x", "1", 0o644)])).is_err());
    }
}
