//! Watch over HTTP: `200`, chunked, one JSON watch event per line (`{"type":..,"object":..}`),
//! objects as JSON or as one-row Tables; bookmarks when asked for; open until
//! `timeoutSeconds` or the client leaves — kubectl exits quietly when a watch closes, so a
//! watch without a timeout never ends on its own.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use kbatch_core::object::{Kind, Object};
use kbatch_core::printers::{self, IncludeObject};
use kbatch_core::table::Table;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::negotiate::Output;
use super::resources::{Call, list_params};
use super::respond;
use crate::error::Result;
use crate::registry::{SharedWatchEvent, WatchEventType, WatchParams};

/// How often a watch that allows bookmarks gets one (the apiserver sends them about once a
/// minute).
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

pub(super) async fn watch(call: &Call<'_>) -> Result<axum::response::Response> {
    let params = list_params(&call.query)?;
    let bookmarks = call.query.flag("allowWatchBookmarks")?;
    let timeout = call
        .query
        .number("timeoutSeconds")?
        .map(|s| Duration::from_secs(s.unsigned_abs()));
    let include = call.include_object()?;
    let output = call.output;
    let kind = *call.kind();
    let (mut events, start) = call
        .state
        .registry
        .watch_shared(
            &kind,
            call.target.namespace.as_deref(),
            WatchParams {
                label_selector: params.label_selector,
                field_selector: params.field_selector,
                resource_version: params.resource_version,
            },
        )
        .await?;
    let clock = call.state.registry.clock().clone();
    let metrics = call.state.metrics.clone();
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let _watching = metrics.watch_started(kind.plural);
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut last_revision = start;
        let mut first_table = true;
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + BOOKMARK_INTERVAL,
            BOOKMARK_INTERVAL,
        );
        loop {
            let line = tokio::select! {
                _ = tx.closed() => return,
                _ = sleep_until(deadline) => return,
                _ = ticker.tick(), if bookmarks => bookmark(&kind, last_revision),
                event = events.next() => match event {
                    None => return,
                    Some(SharedWatchEvent::Error(status)) => {
                        let mut value = serde_json::to_value(&*status).unwrap_or_default();
                        value["kind"] = json!("Status");
                        value["apiVersion"] = json!("v1");
                        let line = event_line("ERROR", value);
                        let _ = tx.send(line).await;
                        return;
                    }
                    Some(SharedWatchEvent::Object(t, obj)) => {
                        if let Some(rv) = obj.metadata().resource_version.as_deref().and_then(|r| r.parse().ok()) {
                            last_revision = last_revision.max(rv);
                        }
                        match output {
                            Output::Table => {
                                let table = table_event(&obj, clock.now(), include, first_table);
                                first_table = false;
                                event_line(t.as_str(), serde_json::to_value(table).unwrap_or_default())
                            }
                            _ => object_line(t.as_str(), &obj),
                        }
                    }
                },
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(Ok::<Bytes, std::convert::Infallible>);
    let content_type = match output {
        Output::Table => "application/json;as=Table;v=v1;g=meta.k8s.io",
        _ => "application/json",
    };
    Ok(respond::stream(content_type, Body::from_stream(stream)))
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => futures::future::pending().await,
    }
}

fn event_line(type_: &str, object: Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// An event line around an object serialised once, straight to bytes.
fn object_line(type_: &str, object: &Object) -> Bytes {
    let body = object.to_json_vec();
    let mut line = Vec::with_capacity(body.len() + type_.len() + 24);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(type_.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(&body);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// A BOOKMARK: an object of the watched kind carrying only the resourceVersion the watch
/// has reached.
fn bookmark(kind: &Kind, revision: i64) -> Bytes {
    let object = json!({
        "kind": kind.kind,
        "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": revision.to_string()},
    });
    event_line(WatchEventType::Bookmark.as_str(), object)
}

/// A watch event's Table: one row; the column definitions ride on the first event only
/// (kubectl keeps the headers of the list it printed first).
fn table_event(
    obj: &Object,
    now: jiff::Timestamp,
    include: IncludeObject,
    with_columns: bool,
) -> Table {
    let mut table = printers::object_table(obj, now, include);
    if !with_columns {
        table.column_definitions.clear();
    }
    table
}
