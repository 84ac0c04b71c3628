//! Container logs on disk, and the API's log endpoint over them.
//!
//! Layout: `DATA/logs/<namespace>_<pod>_<uid>/<container>/<attempt>.log`, one file per run,
//! so the previous run of a restarted container stays readable. Lines are in the CRI log
//! format containerd writes and kubelet reads (`<RFC3339Nano> <stdout|stderr> <F|P>
//! <content>`, `P` for a partial line). The writer holds an exclusive `flock` on its file
//! for as long as the run's output can still grow, so a follower knows the run has ended
//! when it can take a shared lock — even when the agent that wrote it died.
//!
//! A pod's log directory outlives the pod object for a retention period (a `.deleted`
//! marker records when the pod went), so a finished Job's output is not lost the moment
//! its pods are cleaned up.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kbatch_api::clock::Clock;
use kbatch_api::error::{ApiError, Result};
use kbatch_api::logs::{LogOptions, LogStream, PodLogs, rfc3339_nano};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::runtime::{PodRef, run_id};

/// The longest line kept whole; longer output is split into partial (`P`) lines, as
/// containerd's `maxMsgSize` does.
pub const MAX_LINE: usize = 16 * 1024;

/// How often a follower looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Output is sent to the client in chunks of about this size.
const CHUNK: usize = 32 * 1024;

const DELETED_MARKER: &str = ".deleted";

/// The directory of a pod's logs.
pub fn pod_dir(data_dir: &Path, pod: &PodRef) -> PathBuf {
    data_dir
        .join("logs")
        .join(format!("{}_{}_{}", pod.namespace, pod.name, pod.uid))
}

/// The log file of one run of a container.
pub fn run_path(data_dir: &Path, pod: &PodRef, container: &str, attempt: u32) -> PathBuf {
    pod_dir(data_dir, pod)
        .join(container)
        .join(format!("{attempt}.log"))
}

/// Which of a process's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Writes one run's log file. Dropping it releases the file's lock: the run's log is
/// complete.
#[derive(Debug)]
pub struct LogWriter {
    file: Mutex<File>,
    clock: Arc<dyn Clock>,
}

impl LogWriter {
    /// Creates the file, locked before anyone can open it under its name.
    pub fn create(path: &Path, clock: Arc<dyn Clock>) -> io::Result<LogWriter> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let fresh = path.with_extension("log.new");
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&fresh)?;
        file.lock()?;
        std::fs::rename(&fresh, path)?;
        Ok(LogWriter {
            file: Mutex::new(file),
            clock,
        })
    }

    /// Appends one CRI log line, stamped with the current time.
    pub fn write(&self, stream: Stream, content: &[u8], partial: bool) -> io::Result<()> {
        let stamp = rfc3339_nano(self.clock.now());
        let tag = if partial { "P" } else { "F" };
        let mut line = Vec::with_capacity(stamp.len() + content.len() + 12);
        line.extend_from_slice(stamp.as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.as_str().as_bytes());
        line.push(b' ');
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(content);
        line.push(b'\n');
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(&line)
    }
}

/// Copies a process's output into its log, a line at a time, until the output closes.
/// An unterminated last line is written as partial, as containerd does.
pub async fn copy_lines<R: AsyncRead + Unpin>(mut reader: R, stream: Stream, writer: &LogWriter) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    let mut failed = false;
    let mut write = |content: &[u8], partial: bool| {
        if let Err(e) = writer.write(stream, content, partial)
            && !failed
        {
            failed = true;
            tracing::warn!(error = %e, "writing a container log");
        }
    };
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            write(&pending[start..start + end], false);
            start += end + 1;
        }
        pending.drain(..start);
        while pending.len() >= MAX_LINE {
            write(&pending[..MAX_LINE], true);
            pending.drain(..MAX_LINE);
        }
    }
    if !pending.is_empty() {
        write(&pending, true);
    }
}

/// The container logs of one node's data directory, behind the API's log endpoint.
#[derive(Debug, Clone)]
pub struct FileLogs {
    data_dir: PathBuf,
}

impl FileLogs {
    pub fn new(data_dir: impl Into<PathBuf>) -> FileLogs {
        FileLogs {
            data_dir: data_dir.into(),
        }
    }

    /// The log file of the run a request means (kubelet's `validateContainerLogStatus`:
    /// the running or last terminated run, or with `previous` the one before).
    fn pick(&self, pod: &Pod, container: &str, previous: bool) -> Result<PathBuf> {
        let pod_name = pod.metadata.name.as_deref().unwrap_or("");
        let status = pod.status.as_ref().and_then(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
                .chain(s.ephemeral_container_statuses.iter().flatten())
                .find(|c| c.name == container)
        });
        let Some(status) = status else {
            return Err(ApiError::bad_request(format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: ContainerCreating"
            )));
        };
        let id = container_id_to_read(status, container, pod_name, previous)?;
        let pod_ref = PodRef {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod_name.to_owned(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        };
        let hex = id.rsplit("://").next().unwrap_or("");
        let dir = pod_dir(&self.data_dir, &pod_ref).join(container);
        let attempts = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok());
        for attempt in attempts {
            if run_id(&pod_ref.uid, container, attempt) == hex {
                return Ok(dir.join(format!("{attempt}.log")));
            }
        }
        Err(ApiError::bad_request(format!(
            "the log of container {container:?} in pod {pod_name:?} is not on this node (run {hex} has no log file)"
        )))
    }
}

/// The containerID whose log a request reads, with kubelet's errors when there is none.
fn container_id_to_read(
    status: &ContainerStatus,
    container: &str,
    pod: &str,
    previous: bool,
) -> Result<String> {
    let state = status.state.clone().unwrap_or_default();
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.container_id.clone())
        .filter(|id| !id.is_empty());
    let terminated = || {
        ApiError::bad_request(format!(
            "container {container:?} in pod {pod:?} is terminated"
        ))
    };
    if previous {
        return last.ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container {container:?} in pod {pod:?} not found"
            ))
        });
    }
    if state.running.is_some()
        && let Some(id) = status.container_id.clone().filter(|id| !id.is_empty())
    {
        return Ok(id);
    }
    if let Some(t) = &state.terminated {
        return t
            .container_id
            .clone()
            .filter(|id| !id.is_empty())
            .or(last)
            .ok_or_else(terminated);
    }
    if status
        .last_state
        .as_ref()
        .is_some_and(|s| s.terminated.is_some())
    {
        return last.ok_or_else(terminated);
    }
    match &state.waiting {
        Some(w) => Err(ApiError::bad_request(format!(
            "container {container:?} in pod {pod:?} is waiting to start: {}",
            w.reason.as_deref().unwrap_or("")
        ))),
        None => Err(ApiError::bad_request(format!(
            "container {container:?} in pod {pod:?} is waiting to start - no logs yet"
        ))),
    }
}

#[async_trait]
impl PodLogs for FileLogs {
    async fn logs(&self, pod: &Pod, container: &str, options: &LogOptions) -> Result<LogStream> {
        let path = self.pick(pod, container, options.previous)?;
        let file = File::open(&path)
            .map_err(|e| ApiError::internal(format!("opening log file {}: {e}", path.display())))?;
        let watch = File::open(&path)
            .map_err(|e| ApiError::internal(format!("opening log file {}: {e}", path.display())))?;
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = read_log(file, &watch, &options, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })))
    }
}

/// Whether the run's writer still holds its lock (its output can still grow).
fn writer_active(file: &File) -> bool {
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// kubelet's `ReadLogs`: start `tailLines` lines before the end, skip lines before
/// `since`, prefix timestamps, stop after `limitBytes`; with `follow`, wait for more until
/// the run has ended.
fn read_log(
    mut file: File,
    watch: &File,
    options: &LogOptions,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    let start = match options.tail_lines {
        Some(n) => tail_start(&mut file, n)?,
        None => 0,
    };
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::new(file);
    let limited = options.tail_lines.is_some() && !options.follow;
    let mut left_lines = options.tail_lines.unwrap_or(0);
    let mut remaining = options.limit_bytes.unwrap_or(i64::MAX);
    let mut out: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut ended = false;
    let send = |out: &mut Vec<u8>| -> bool {
        if out.is_empty() {
            return true;
        }
        tx.blocking_send(Ok(Bytes::from(std::mem::take(out))))
            .is_ok()
    };
    loop {
        if limited && left_lines == 0 {
            break;
        }
        line.clear();
        reader.read_until(b'\n', &mut line)?;
        let complete = line.last() == Some(&b'\n');
        if !complete {
            if options.follow {
                // Read the incomplete line again once it is complete.
                reader.seek_relative(-(line.len() as i64))?;
                if !send(&mut out) {
                    return Ok(());
                }
                if ended {
                    break;
                }
                if writer_active(watch) {
                    std::thread::sleep(FOLLOW_POLL);
                    if tx.is_closed() {
                        return Ok(());
                    }
                } else {
                    // The run has ended: what is in the file now is all there will be.
                    ended = true;
                }
                continue;
            }
            if line.is_empty() {
                break;
            }
        }
        let Some(entry) = parse_cri(&line) else {
            continue;
        };
        if limited {
            left_lines -= 1;
        }
        if options.since.is_some_and(|since| entry.time < since) {
            continue;
        }
        let mut text = Vec::new();
        if options.timestamps {
            text.extend_from_slice(rfc3339_nano(entry.time).as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(entry.content);
        let take = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(text.len());
        out.extend_from_slice(&text[..take]);
        remaining -= take as i64;
        if remaining <= 0 {
            break;
        }
        if out.len() >= CHUNK && !send(&mut out) {
            return Ok(());
        }
        if !complete {
            break;
        }
    }
    send(&mut out);
    Ok(())
}

/// One parsed CRI log line.
struct Entry<'a> {
    time: jiff::Timestamp,
    /// The content, with its newline for a full line, without for a partial one.
    content: &'a [u8],
}

/// kubelet's `parseCRILog`.
fn parse_cri(line: &[u8]) -> Option<Entry<'_>> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let stream = parts.next()?;
    if stream != b"stdout" && stream != b"stderr" {
        return None;
    }
    let tag = parts.next()?;
    let mut content = parts.next()?;
    let partial = tag.split(|&b| b == b':').next() == Some(b"P");
    if partial && content.last() == Some(&b'\n') {
        content = &content[..content.len() - 1];
    }
    Some(Entry { time, content })
}

/// kubelet's `tail.FindTailLineStartIndex`: where the last `n` lines start.
fn tail_start(file: &mut File, n: i64) -> io::Result<u64> {
    if n < 0 {
        return Ok(0);
    }
    const BLOCK: u64 = 1024;
    let size = file.seek(SeekFrom::End(0))?;
    let mut count: i64 = 0;
    let mut left = size;
    let mut right = size;
    let mut buf: Vec<u8> = Vec::new();
    while right > 0 && count <= n {
        left = right.saturating_sub(BLOCK);
        let mut block = vec![0u8; (right - left) as usize];
        file.seek(SeekFrom::Start(left))?;
        file.read_exact(&mut block)?;
        count += block.iter().filter(|&&b| b == b'\n').count() as i64;
        buf = block;
        right = left;
    }
    let mut start = 0usize;
    while count > n {
        match buf[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => break,
        }
        count -= 1;
    }
    Ok(left + start as u64)
}

/// Removes the log directories of pods that have been gone for longer than `retention`;
/// marks the ones whose pod just went. `live` holds the uids of the pods on the node.
pub fn collect_garbage(
    data_dir: &Path,
    live: &HashSet<String>,
    now: jiff::Timestamp,
    retention: Duration,
) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("logs")) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(uid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.rsplit('_').next().map(str::to_owned))
        else {
            continue;
        };
        let marker = dir.join(DELETED_MARKER);
        if live.contains(&uid) {
            let _ = std::fs::remove_file(&marker);
            continue;
        }
        let deleted_at = std::fs::read_to_string(&marker)
            .ok()
            .and_then(|s| s.trim().parse::<jiff::Timestamp>().ok());
        match deleted_at {
            None => {
                if let Err(e) = std::fs::write(&marker, now.to_string()) {
                    tracing::warn!(dir = %dir.display(), error = %e, "marking a pod's logs for removal");
                }
            }
            Some(at) => {
                let expired = jiff::SignedDuration::try_from(retention)
                    .ok()
                    .and_then(|r| at.checked_add(r).ok())
                    .is_some_and(|until| until <= now);
                if expired && let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "removing old pod logs");
                }
            }
        }
    }
}
