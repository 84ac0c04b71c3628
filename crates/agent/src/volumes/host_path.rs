//! hostPath volumes' `type` checks (kubelet's `checkTypeInternal` in
//! pkg/volume/hostpath): what must be at the path before the pod may use it, and what is
//! created when the type says so.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Checks (and for the `…OrCreate` types makes) what `path` must be. An empty or absent
/// type checks nothing.
pub fn check_type(path: &Path, kind: Option<&str>) -> Result<(), String> {
    let shown = path.display();
    let meta = || std::fs::metadata(path).ok();
    let is = |test: fn(&std::fs::FileType) -> bool| meta().is_some_and(|m| test(&m.file_type()));
    match kind.unwrap_or("") {
        "" => Ok(()),
        "DirectoryOrCreate" if meta().is_none() => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(path)
            .map_err(|e| format!("mkdir {shown}: {e}")),
        "DirectoryOrCreate" | "Directory" if is(std::fs::FileType::is_dir) => Ok(()),
        "DirectoryOrCreate" | "Directory" => Err(format!(
            "hostPath type check failed: {shown} is not a directory"
        )),
        // Like kubelet, only the file: its directory must exist.
        "FileOrCreate" if meta().is_none() => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map(drop)
            .map_err(|e| format!("open {shown}: {e}")),
        "FileOrCreate" | "File" if is(std::fs::FileType::is_file) => Ok(()),
        "FileOrCreate" | "File" => {
            Err(format!("hostPath type check failed: {shown} is not a file"))
        }
        "Socket" if is(std::fs::FileType::is_socket) => Ok(()),
        "Socket" => Err(format!(
            "hostPath type check failed: {shown} is not a socket file"
        )),
        "CharDevice" if is(std::fs::FileType::is_char_device) => Ok(()),
        "CharDevice" => Err(format!(
            "hostPath type check failed: {shown} is not a character device"
        )),
        "BlockDevice" if is(std::fs::FileType::is_block_device) => Ok(()),
        "BlockDevice" => Err(format!(
            "hostPath type check failed: {shown} is not a block device"
        )),
        other => Err(format!("{other} is an invalid volume type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_checks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let file = dir.join("f");
        std::fs::write(&file, "x").unwrap();
        let socket = dir.join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();

        assert_eq!(check_type(&dir.join("nothing"), None), Ok(()));
        assert_eq!(check_type(dir, Some("Directory")), Ok(()));
        assert_eq!(
            check_type(&file, Some("Directory")),
            Err(format!(
                "hostPath type check failed: {} is not a directory",
                file.display()
            ))
        );
        assert_eq!(
            check_type(&dir.join("missing"), Some("Directory")),
            Err(format!(
                "hostPath type check failed: {} is not a directory",
                dir.join("missing").display()
            ))
        );
        assert_eq!(check_type(&file, Some("File")), Ok(()));
        assert_eq!(
            check_type(dir, Some("File")),
            Err(format!(
                "hostPath type check failed: {} is not a file",
                dir.display()
            ))
        );
        assert_eq!(check_type(&socket, Some("Socket")), Ok(()));
        assert_eq!(
            check_type(&file, Some("Socket")),
            Err(format!(
                "hostPath type check failed: {} is not a socket file",
                file.display()
            ))
        );
        assert!(check_type(&file, Some("CharDevice")).is_err());
        assert_eq!(
            check_type(Path::new("/dev/null"), Some("CharDevice")),
            Ok(())
        );
        assert!(check_type(&file, Some("BlockDevice")).is_err());
        assert_eq!(
            check_type(&file, Some("Fifo")),
            Err("Fifo is an invalid volume type".to_owned())
        );

        let made = dir.join("a/b");
        assert_eq!(check_type(&made, Some("DirectoryOrCreate")), Ok(()));
        assert!(made.is_dir());
        assert_eq!(check_type(&made, Some("DirectoryOrCreate")), Ok(()));
        assert!(check_type(&file, Some("DirectoryOrCreate")).is_err());

        let new_file = dir.join("new");
        assert_eq!(check_type(&new_file, Some("FileOrCreate")), Ok(()));
        assert!(new_file.is_file());
        assert!(check_type(&made, Some("FileOrCreate")).is_err());
        // FileOrCreate makes the file, not its directory.
        assert!(check_type(&dir.join("no/such"), Some("FileOrCreate")).is_err());
    }
}
