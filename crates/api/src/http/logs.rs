//! `GET …/pods/{name}/log`: picks the container as the apiserver's pod log REST does
//! (`pod.ValidateContainer`, the `kubectl.kubernetes.io/default-container` annotation is
//! kubectl's business), checks the options, and streams what the [`PodLogs`] gives.

use axum::body::Body;
use axum::response::Response;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kbatch_core::object::Object;

use super::resources::Call;
use super::respond;
use crate::error::{ApiError, Result};
use crate::logs::LogOptions;

pub(super) async fn get(call: &Call<'_>) -> Result<Response> {
    let obj = call
        .state
        .registry
        .get(call.kind(), call.namespace(), call.name())
        .await?;
    let Object::Pod(pod) = obj else {
        return Err(ApiError::internal("log of an object that is not a pod"));
    };
    let container = container(&pod, call.query.get("container").unwrap_or(""))?;
    let options = options(call)?;
    let stream = call.state.logs.logs(&pod, &container, &options).await?;
    let body = Body::from_stream(stream.map(|chunk| chunk.map_err(std::io::Error::other)));
    Ok(respond::stream("text/plain", body))
}

/// The container a log request means: the one named, or the only one.
fn container(pod: &Pod, requested: &str) -> Result<String> {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let spec = pod.spec.clone().unwrap_or_default();
    let names = |cs: &[k8s_openapi::api::core::v1::Container]| -> Vec<String> {
        cs.iter().map(|c| c.name.clone()).collect()
    };
    let regular = names(&spec.containers);
    let init = names(spec.init_containers.as_deref().unwrap_or(&[]));
    let ephemeral: Vec<String> = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    if requested.is_empty() {
        return match regular.as_slice() {
            [only] => Ok(only.clone()),
            _ => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    regular.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        };
    }
    if regular
        .iter()
        .chain(&init)
        .chain(&ephemeral)
        .any(|c| c == requested)
    {
        Ok(requested.to_owned())
    } else {
        Err(ApiError::bad_request(format!(
            "container {requested} is not valid for pod {name}"
        )))
    }
}

fn options(call: &Call<'_>) -> Result<LogOptions> {
    let q = &call.query;
    let since_seconds = match q.get("sinceSeconds") {
        None | Some("") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "PodLogOptions \"\" is invalid: sinceSeconds: Invalid value: {v}: must be greater than 0"
                )));
            }
        },
    };
    let since_time = match q.get("sinceTime") {
        None | Some("") => None,
        Some(v) => Some(v.parse::<jiff::Timestamp>().map_err(|_| {
            ApiError::bad_request(format!("sinceTime: invalid RFC3339 time {v:?}"))
        })?),
    };
    if since_seconds.is_some() && since_time.is_some() {
        return Err(ApiError::bad_request(
            "PodLogOptions \"\" is invalid: sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    let now = call.now();
    let since = since_time.or_else(|| {
        since_seconds.and_then(|s| now.checked_sub(jiff::SignedDuration::from_secs(s)).ok())
    });
    let positive = |key: &str| -> Result<Option<i64>> {
        match q.get(key) {
            None | Some("") => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 || (key == "tailLines" && n >= 0) => Ok(Some(n)),
                _ => Err(ApiError::bad_request(format!(
                    "PodLogOptions \"\" is invalid: {key}: Invalid value: {v}: must be greater than {}",
                    if key == "tailLines" {
                        "or equal to 0"
                    } else {
                        "0"
                    }
                ))),
            },
        }
    };
    Ok(LogOptions {
        follow: q.flag("follow")?,
        tail_lines: positive("tailLines")?,
        limit_bytes: positive("limitBytes")?,
        since,
        timestamps: q.flag("timestamps")?,
        previous: q.flag("previous")?,
    })
}
