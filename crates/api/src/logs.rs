//! The interface between the API and whoever keeps container logs (the node agent): the API
//! resolves the pod and container and checks the request; a [`PodLogs`] reads the bytes.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Pod;

use crate::error::{ApiError, Result};

/// `PodLogOptions`, checked and parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Stream until the container ends.
    pub follow: bool,
    /// The last N lines only.
    pub tail_lines: Option<i64>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<i64>,
    /// Only lines written at or after this time (`sinceSeconds` / `sinceTime`).
    pub since: Option<jiff::Timestamp>,
    /// Prefix each line with its RFC3339Nano time and a space.
    pub timestamps: bool,
    /// The previous (terminated) instance of a restarted container.
    pub previous: bool,
}

/// A log body: chunks of bytes, ending when the log (or a followed container) ends.
pub type LogStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Reads a container's log. The agent implements it over its log files; the API calls it.
#[async_trait]
pub trait PodLogs: Send + Sync + std::fmt::Debug {
    /// The log of `container` in `pod` (already known to exist in the pod's spec).
    async fn logs(&self, pod: &Pod, container: &str, options: &LogOptions) -> Result<LogStream>;
}

/// A server without a node: no container has ever run, so there are no logs.
#[derive(Debug, Default)]
pub struct NoLogs;

#[async_trait]
impl PodLogs for NoLogs {
    async fn logs(&self, pod: &Pod, container: &str, _: &LogOptions) -> Result<LogStream> {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: no node runs this pod"
        )))
    }
}

/// A container's log: (namespace, pod, container) → timestamped lines.
type LogBook = HashMap<(String, String, String), Vec<(jiff::Timestamp, String)>>;

/// Fixed logs kept in memory, for tests of the API before (and without) an agent.
#[derive(Debug, Default)]
pub struct MemoryLogs {
    logs: Mutex<LogBook>,
}

impl MemoryLogs {
    /// Appends a line (without its newline) to a container's log.
    pub fn push(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        at: jiff::Timestamp,
        line: &str,
    ) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.entry((namespace.to_owned(), pod.to_owned(), container.to_owned()))
            .or_default()
            .push((at, line.to_owned()));
    }
}

#[async_trait]
impl PodLogs for MemoryLogs {
    async fn logs(&self, pod: &Pod, container: &str, options: &LogOptions) -> Result<LogStream> {
        let key = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
            container.to_owned(),
        );
        let lines = self
            .logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let body = render(&lines, options);
        Ok(Box::pin(futures::stream::iter([Ok(Bytes::from(body))])))
    }
}

/// Applies sinceTime, tailLines, timestamps and limitBytes to timestamped lines, in the order
/// kubelet does (`kuberuntime.ReadLogs`): select by time, keep the tail, format, then cut at
/// the byte limit.
pub fn render(lines: &[(jiff::Timestamp, String)], options: &LogOptions) -> Vec<u8> {
    let selected: Vec<&(jiff::Timestamp, String)> = lines
        .iter()
        .filter(|(t, _)| options.since.is_none_or(|s| *t >= s))
        .collect();
    let start = match options.tail_lines {
        Some(n) => selected
            .len()
            .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
        None => 0,
    };
    let mut out = Vec::new();
    for (t, line) in &selected[start..] {
        if options.timestamps {
            out.extend_from_slice(format!("{} ", rfc3339_nano(*t)).as_bytes());
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    if let Some(limit) = options.limit_bytes {
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    out
}

/// Go's `time.RFC3339Nano`: nanoseconds without trailing zeros, `Z` for UTC.
pub fn rfc3339_nano(t: jiff::Timestamp) -> String {
    let whole = t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.subsec_nanosecond();
    if nanos == 0 {
        format!("{whole}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{whole}.{}Z", frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn tail_since_timestamps_and_limit() {
        let lines = vec![
            (at("2026-11-27T10:00:00Z"), "one".to_owned()),
            (at("2026-11-27T10:00:01.5Z"), "two".to_owned()),
            (at("2026-11-27T10:00:02Z"), "three".to_owned()),
        ];
        let all = render(&lines, &LogOptions::default());
        assert_eq!(all, b"one\ntwo\nthree\n");
        let tail = render(
            &lines,
            &LogOptions {
                tail_lines: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(tail, b"two\nthree\n");
        let since = render(
            &lines,
            &LogOptions {
                since: Some(at("2026-11-27T10:00:01Z")),
                timestamps: true,
                ..Default::default()
            },
        );
        assert_eq!(
            String::from_utf8(since).unwrap(),
            "2026-11-27T10:00:01.5Z two\n2026-11-27T10:00:02Z three\n"
        );
        let limited = render(
            &lines,
            &LogOptions {
                limit_bytes: Some(5),
                ..Default::default()
            },
        );
        assert_eq!(limited, b"one\nt");
    }
}
