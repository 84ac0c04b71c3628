//! The one place where errors become meta/v1 Status objects (apimachinery
//! `pkg/api/errors/errors.go`), with Kubernetes' codes, reasons and messages.

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use crate::admission::Rejected;
use crate::decode::ObjectError;
use crate::field::ErrorList;
use crate::object::Kind;

fn failure(code: i32, reason: &str, message: String, details: Option<StatusDetails>) -> Status {
    Status {
        status: Some("Failure".to_owned()),
        code: Some(code),
        reason: Some(reason.to_owned()),
        message: Some(message),
        details,
        ..Default::default()
    }
}

fn details(kind: &Kind, name: &str) -> StatusDetails {
    StatusDetails {
        group: Some(kind.group.to_owned()),
        kind: Some(kind.plural.to_owned()),
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

/// `NewInvalid`: 422 with one cause per field error (V-40…V-43). Status.message is Kubernetes'
/// text exactly; kbatch's hints ride only in the causes' messages, on a line of their own.
pub fn invalid(kind: &Kind, name: &str, errors: &ErrorList) -> Status {
    let causes = errors
        .iter()
        .map(|e| StatusCause {
            reason: Some(e.kind.reason().to_owned()),
            message: Some(e.message()),
            field: Some(e.field.to_string()),
        })
        .collect();
    let message = format!(
        "{} \"{}\" is invalid: {}",
        kind.qualified(),
        name,
        aggregate(errors)
    );
    let details = StatusDetails {
        group: Some(kind.group.to_owned()),
        kind: Some(kind.kind.to_owned()),
        name: Some(name.to_owned()),
        causes: Some(causes),
        ..Default::default()
    };
    failure(422, "Invalid", message, Some(details))
}

/// `utilerrors.NewAggregate(errs).Error()`: one error alone, several as `[e1, e2]` with
/// duplicates removed.
fn aggregate(errors: &ErrorList) -> String {
    let mut seen = HashSet::new();
    let texts: Vec<String> = errors
        .iter()
        .map(ToString::to_string)
        .filter(|t| seen.insert(t.clone()))
        .collect();
    if texts.len() == 1 {
        texts.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", texts.join(", "))
    }
}

impl From<&Rejected> for Status {
    fn from(r: &Rejected) -> Self {
        invalid(&r.kind, &r.name, &r.errors)
    }
}

impl From<&ObjectError> for Status {
    fn from(e: &ObjectError) -> Self {
        bad_request(e.to_string())
    }
}

/// `NewBadRequest`: 400.
pub fn bad_request(message: impl Into<String>) -> Status {
    failure(400, "BadRequest", message.into(), None)
}

/// `NewNotFound`: 404 `jobs.batch "pi" not found`.
pub fn not_found(kind: &Kind, name: &str) -> Status {
    failure(
        404,
        "NotFound",
        format!("{} \"{}\" not found", resource(kind), name),
        Some(details(kind, name)),
    )
}

/// `NewAlreadyExists`: 409 `jobs.batch "pi" already exists`.
pub fn already_exists(kind: &Kind, name: &str) -> Status {
    failure(
        409,
        "AlreadyExists",
        format!("{} \"{}\" already exists", resource(kind), name),
        Some(details(kind, name)),
    )
}

/// `NewConflict` for a stale resourceVersion.
pub fn conflict(kind: &Kind, name: &str) -> Status {
    failure(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
            resource(kind),
            name
        ),
        Some(details(kind, name)),
    )
}

/// `NewConflict` with a reason of its own (`Precondition failed: ...`, apply conflicts).
pub fn conflict_with(kind: &Kind, name: &str, reason: impl std::fmt::Display) -> Status {
    failure(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{}\": {}",
            resource(kind),
            name,
            reason
        ),
        Some(details(kind, name)),
    )
}

/// `NewForbidden`: 403 `jobs.batch "pi" is forbidden: <reason>`.
pub fn forbidden(kind: &Kind, name: &str, reason: impl std::fmt::Display) -> Status {
    failure(
        403,
        "Forbidden",
        format!("{} \"{}\" is forbidden: {}", resource(kind), name, reason),
        Some(details(kind, name)),
    )
}

/// The authorizer's refusal (`responsewriters.Forbidden`): 403 `jobs.batch "pi" is
/// forbidden: <reason>`, or `jobs.batch is forbidden: <reason>` for a collection.
pub fn forbidden_request(
    kind: &Kind,
    subresource: Option<&str>,
    name: Option<&str>,
    reason: impl std::fmt::Display,
) -> Status {
    let mut what = resource(kind);
    if let Some(sub) = subresource {
        what = format!("{}/{sub}", what);
    }
    let message = match name {
        Some(name) => format!("{what} \"{name}\" is forbidden: {reason}"),
        None => format!("{what} is forbidden: {reason}"),
    };
    failure(
        403,
        "Forbidden",
        message,
        Some(details(kind, name.unwrap_or(""))),
    )
}

/// `NewMethodNotSupported`: 405 `the server does not allow this method on the requested resource`.
pub fn method_not_supported(kind: Option<&Kind>, action: &str) -> Status {
    let message = match kind {
        Some(k) => format!(
            "{action} is not supported on resources of kind \"{}\"",
            resource(k)
        ),
        None => "the server does not allow this method on the requested resource".to_owned(),
    };
    failure(405, "MethodNotAllowed", message, None)
}

/// 404 for a path that names no resource: `the server could not find the requested resource`.
/// `details` is there and empty, as the apiserver's (`NewNotFound(schema.GroupResource{}, "")`):
/// kubectl tells a missing route from a missing object by the empty name in it, and
/// `kubectl debug` dereferences it.
pub fn no_route() -> Status {
    unserved("the server could not find the requested resource".to_owned())
}

/// A 404 like [`no_route`]'s, for a route Kubernetes has and kbatch does not, saying why.
pub fn unserved(message: String) -> Status {
    failure(404, "NotFound", message, Some(StatusDetails::default()))
}

/// `NewUnsupportedMediaType`: 415.
pub fn unsupported_media_type(content_type: &str) -> Status {
    failure(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
        ),
        None,
    )
}

/// `NewNotAcceptable`: 406.
pub fn not_acceptable(message: impl Into<String>) -> Status {
    failure(406, "NotAcceptable", message.into(), None)
}

/// `NewRequestEntityTooLargeError`: 413.
pub fn request_entity_too_large(message: impl Into<String>) -> Status {
    failure(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: {}", message.into()),
        None,
    )
}

/// `storage.NewTooLargeResourceVersionError`: 504 Timeout, retry after a second, for a read
/// at a resourceVersion the server has not reached.
pub fn timeout_resource_version(requested: i64, current: i64) -> Status {
    failure(
        504,
        "Timeout",
        format!("Too large resource version: {requested}, current: {current}"),
        Some(StatusDetails {
            retry_after_seconds: Some(1),
            causes: Some(vec![StatusCause {
                reason: Some("ResourceVersionTooLarge".to_owned()),
                message: Some("Too large resource version".to_owned()),
                field: None,
            }]),
            ..Default::default()
        }),
    )
}

/// `NewServiceUnavailable`: 503.
pub fn service_unavailable(message: impl Into<String>) -> Status {
    failure(503, "ServiceUnavailable", message.into(), None)
}

/// `NewResourceExpired`: 410 for a watch or list from a compacted resourceVersion.
pub fn gone(message: impl Into<String>) -> Status {
    failure(410, "Expired", message.into(), None)
}

/// `NewUnauthorized`: 401.
pub fn unauthorized() -> Status {
    failure(401, "Unauthorized", "Unauthorized".to_owned(), None)
}

/// `NewInternalError`: 500.
pub fn internal(message: impl Into<String>) -> Status {
    failure(
        500,
        "InternalError",
        format!("Internal error occurred: {}", message.into()),
        None,
    )
}

/// `jobs.batch` or `pods`: the group-qualified resource of messages.
fn resource(kind: &Kind) -> String {
    if kind.group.is_empty() {
        kind.plural.to_owned()
    } else {
        format!("{}.{}", kind.plural, kind.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{FieldError, Path};
    use crate::object::JOB;

    #[test]
    fn invalid_matches_the_apiserver() {
        let errs = vec![
            FieldError::not_supported(
                &Path::new("spec")
                    .child("template")
                    .child("spec")
                    .child("restartPolicy"),
                "Always",
                &["OnFailure", "Never"],
            ),
            FieldError::required(
                &Path::new("spec")
                    .child("template")
                    .child("spec")
                    .child("containers"),
                "",
            )
            .with_hint("add a container"),
        ];
        let s = invalid(&JOB, "bad", &errs);
        assert_eq!(s.code, Some(422));
        assert_eq!(
            s.message.as_deref(),
            Some(
                r#"Job.batch "bad" is invalid: [spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never", spec.template.spec.containers: Required value]"#
            )
        );
        let causes = s.details.unwrap().causes.unwrap();
        assert_eq!(causes[1].reason.as_deref(), Some("FieldValueRequired"));
        assert_eq!(
            causes[1].message.as_deref(),
            Some("Required value\nhint: add a container")
        );
        assert_eq!(
            causes[1].field.as_deref(),
            Some("spec.template.spec.containers")
        );
    }

    #[test]
    fn single_errors_are_not_bracketed_and_duplicates_collapse() {
        let e = FieldError::required(&Path::new("spec").child("schedule"), "");
        let s = invalid(&crate::object::CRONJOB, "c", &vec![e.clone(), e]);
        assert_eq!(
            s.message.as_deref(),
            Some(r#"CronJob.batch "c" is invalid: spec.schedule: Required value"#)
        );
    }

    #[test]
    fn not_found_names_the_group_resource() {
        assert_eq!(
            not_found(&JOB, "pi").message.as_deref(),
            Some(r#"jobs.batch "pi" not found"#)
        );
    }
}
