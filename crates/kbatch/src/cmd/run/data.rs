//! Where a run keeps its data: a temporary directory removed at the end, unless `--keep`
//! (then it stays, with the store in it, and the run says where), or the user's
//! `--data-dir`, which stays as a server's would.
//!
//! A temporary run that is not kept holds its objects in memory: nothing reads them after
//! the run, so writing them to disk would only cost time. A kept or given data dir gets the
//! SQLite store, so `kbatch server --data-dir DIR` can show the run afterwards.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// The directory this run made, and removes unless kept.
    temp: Option<TempDir>,
    keep: bool,
}

impl DataDir {
    pub fn prepare(data_dir: Option<PathBuf>, keep: bool) -> std::io::Result<DataDir> {
        if let Some(path) = data_dir {
            std::fs::create_dir_all(&path)?;
            return Ok(DataDir {
                path,
                temp: None,
                keep: true,
            });
        }
        let temp = tempfile::Builder::new().prefix("kbatch-run-").tempdir()?;
        Ok(DataDir {
            path: temp.path().to_owned(),
            temp: Some(temp),
            keep,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store must be on disk.
    pub fn persistent(&self) -> bool {
        self.keep
    }

    /// Removes the directory unless it is kept; returns the path of a temporary directory
    /// that was kept, for the run to print.
    pub fn finish(self) -> std::io::Result<Option<PathBuf>> {
        match self.temp {
            Some(temp) if self.keep => Ok(Some(temp.keep())),
            Some(temp) => temp.close().map(|()| None),
            None => Ok(None),
        }
    }
}
