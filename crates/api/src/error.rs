//! The API's one error type: a meta/v1 Status with its HTTP code. Every failure of a request
//! becomes one of these (core's builders give Kubernetes' reasons and texts), and the HTTP
//! layer writes it as the response body; nothing else turns errors into responses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kbatch_core::admission::Rejected;
use kbatch_core::decode::ObjectError;
use kbatch_core::object::Kind;
use kbatch_core::status;

/// A failed API call, as the meta/v1 Status the client receives.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.message.as_deref().unwrap_or("error"))]
pub struct ApiError(pub Box<Status>);

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// The HTTP status code (the Status' `code`, 500 if a builder forgot it).
    pub fn code(&self) -> u16 {
        self.0
            .code
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500)
    }

    pub fn reason(&self) -> &str {
        self.0.reason.as_deref().unwrap_or("")
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == 404
    }

    pub fn is_conflict(&self) -> bool {
        self.reason() == "Conflict"
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        status::bad_request(message).into()
    }

    pub fn internal(message: impl Into<String>) -> Self {
        status::internal(message).into()
    }

    /// A store failure on `kind`/`name`, in Kubernetes' words (`storage.InterpretGetError` and
    /// friends): missing → NotFound, taken → AlreadyExists, stale revision → Conflict,
    /// compacted → 410 Gone.
    pub fn from_store(err: kbatch_store::Error, kind: &Kind, name: &str) -> Self {
        use kbatch_store::Error as E;
        match err {
            E::NotFound { .. } => status::not_found(kind, name).into(),
            E::AlreadyExists { .. } => status::already_exists(kind, name).into(),
            E::Conflict { .. } => status::conflict(kind, name).into(),
            E::Compacted { .. } => {
                status::gone("The resourceVersion for the provided watch is too old.").into()
            }
            E::FutureRevision { requested, current } => {
                status::timeout_resource_version(requested, current).into()
            }
            E::InvalidContinue(why) => {
                status::bad_request(format!("invalid continue token: {why}")).into()
            }
            E::InvalidKey { reason, .. } => {
                status::bad_request(format!("invalid name: {reason}")).into()
            }
            E::Closed => status::service_unavailable("the server is shutting down").into(),
            other => status::internal(other.to_string()).into(),
        }
    }
}

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        ApiError(Box::new(s))
    }
}

impl From<&Rejected> for ApiError {
    fn from(r: &Rejected) -> Self {
        Status::from(r).into()
    }
}

impl From<&ObjectError> for ApiError {
    fn from(e: &ObjectError) -> Self {
        Status::from(e).into()
    }
}
