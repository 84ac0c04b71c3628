//! The runc binary every `runc` of the runtime is executed from: a sealed in-memory copy.
//!
//! runc 1.1 guards the host's binary against a container overwriting it through
//! `/proc/self/exe` (CVE-2019-5736): every `runc init`, before anything else, copies its own
//! binary (8.7 MB for Debian's) into a memfd, seals it and executes itself again from the
//! copy, about 0.9 ms of every container start. It skips that when `/proc/self/exe` already
//! is a memfd sealed exactly against writes, growing, shrinking and further seals
//! (`is_self_cloned` in runc's `libcontainer/nsenter/cloned_binary.c`; runc names bind-mounting
//! such a memfd over the binary as the way to share one copy). The runtime makes that copy
//! once, so each `runc run` and its init start from it and the guard holds unchanged: nothing
//! can write to a sealed memfd.
//!
//! The copy is executed through a symbolic link named `runc` in the runtime's directory to
//! `/proc/<this process>/fd/<the memfd>`, so the processes keep runc's name in `ps`. A runc
//! installed while the server runs is taken at the next start of the server.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{MemfdFlags, SealFlags};

/// A sealed copy of a binary, held open for as long as any clone of it lives.
#[derive(Debug, Clone)]
pub struct SealedBinary {
    /// The link the copy is executed through.
    link: PathBuf,
    _memfd: Arc<OwnedFd>,
}

/// The seals runc checks for, all four of them: with any missing it copies itself again.
const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

impl SealedBinary {
    /// Copies `binary` into a sealed memfd and links `<dir>/<binary's file name>` to it.
    pub fn create(binary: &Path, dir: &Path) -> io::Result<SealedBinary> {
        let name = binary
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let memfd = rustix::fs::memfd_create(
            "kbatch-sealed-runc",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let mut copy = File::from(memfd);
        io::copy(&mut File::open(binary)?, &mut copy)?;
        rustix::fs::fcntl_add_seals(&copy, SEALS)?;
        let memfd = OwnedFd::from(copy);
        std::fs::create_dir_all(dir)?;
        let link = dir.join(name);
        let staged = dir.join(format!(".{}.new", name.to_string_lossy()));
        let target = format!("/proc/{}/fd/{}", std::process::id(), memfd.as_raw_fd());
        match std::fs::remove_file(&staged) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::os::unix::fs::symlink(&target, &staged)?;
        std::fs::rename(&staged, &link)?;
        Ok(SealedBinary {
            link,
            _memfd: Arc::new(memfd),
        })
    }

    /// The path to execute.
    pub fn path(&self) -> &Path {
        &self.link
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_runs_and_is_sealed_as_runc_checks() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = SealedBinary::create(Path::new("/bin/sh"), dir.path()).unwrap();
        assert_eq!(sealed.path(), dir.path().join("sh"));
        let out = std::process::Command::new(sealed.path())
            .args(["-c", "echo ran"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
        let opened = File::open(sealed.path()).unwrap();
        assert_eq!(rustix::fs::fcntl_get_seals(&opened).unwrap(), SEALS);
        assert!(
            std::fs::OpenOptions::new()
                .write(true)
                .open(sealed.path())
                .and_then(|mut f| io::Write::write_all(&mut f, b"x"))
                .is_err(),
            "a sealed copy takes no writes"
        );
        // A second runtime on the same directory replaces the link.
        let again = SealedBinary::create(Path::new("/bin/sh"), dir.path()).unwrap();
        drop(sealed);
        let out = std::process::Command::new(again.path())
            .args(["-c", "echo again"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "again\n");
    }
}
