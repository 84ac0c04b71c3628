//! etcd's answers as the store's errors, and which failures are worth another attempt.
//!
//! etcd reports a compacted or future revision as gRPC `OutOfRange` with a fixed message
//! (`rpctypes.ErrGRPCCompacted`, `ErrGRPCFutureRev`); an unreachable member, a lost leader or a
//! timed-out proposal as `Unavailable`. Like clientv3's retry interceptor, reads are retried on
//! `Unavailable`, writes only when the request never left this process (the connection to the
//! member could not be made), so a retry can never apply a write twice.

use std::error::Error as _;
use std::time::Duration;

use crate::Error;

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const FUTURE_REVISION: &str = "etcdserver: mvcc: required revision is a future revision";
/// A member without a leader refuses a request that requires one before proposing it.
const NO_LEADER: &str = "etcdserver: no leader";

/// What an etcd client error means for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The requested revision is older than etcd's compaction point.
    Compacted,
    /// The requested revision is newer than etcd's current revision.
    FutureRevision,
    /// The request may succeed against another member or a little later.
    Unavailable {
        message: String,
        /// True when the request provably was not applied: it never reached etcd, or the
        /// member refused it before proposing it.
        not_sent: bool,
    },
    /// Anything else: a refusal that another attempt would not change.
    Refused(String),
}

impl Failure {
    pub fn of(error: &etcd_client::Error) -> Failure {
        use etcd_client::Error as E;
        match error {
            E::GRpcStatus(status) => {
                let message = status.message();
                match status.code() {
                    tonic::Code::OutOfRange if message == COMPACTED => Failure::Compacted,
                    tonic::Code::OutOfRange if message == FUTURE_REVISION => {
                        Failure::FutureRevision
                    }
                    tonic::Code::Unavailable if message == NO_LEADER => Failure::Unavailable {
                        message: error.to_string(),
                        not_sent: true,
                    },
                    // Unknown is what tonic reports for a connection that broke mid-request
                    // (an h2 reset, a closed socket) — the etcd member went away.
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
                        Failure::Unavailable {
                            message: error.to_string(),
                            not_sent: never_sent(status),
                        }
                    }
                    tonic::Code::DeadlineExceeded => Failure::Unavailable {
                        message: error.to_string(),
                        not_sent: false,
                    },
                    _ => Failure::Refused(error.to_string()),
                }
            }
            E::TransportError(_) | E::IoError(_) => Failure::Unavailable {
                message: error.to_string(),
                not_sent: false,
            },
            _ => Failure::Refused(error.to_string()),
        }
    }

    /// Whether a read (`write == false`) or a write may be sent again after this failure.
    pub fn retriable(&self, write: bool) -> bool {
        match self {
            Failure::Unavailable { not_sent, .. } => !write || *not_sent,
            _ => false,
        }
    }

    /// The store error for a failure that needs no revision bookkeeping (compacted and future
    /// revisions are turned into errors by the callers, which know the revisions involved).
    pub fn into_error(self) -> Error {
        match self {
            Failure::Unavailable { message, .. } => Error::Unavailable(message),
            Failure::Refused(message) => Error::Etcd(message),
            Failure::Compacted => Error::Etcd(COMPACTED.to_owned()),
            Failure::FutureRevision => Error::Etcd(FUTURE_REVISION.to_owned()),
        }
    }
}

/// tonic puts its `ConnectError` in the source chain when no connection to the member could be
/// made: nothing was sent.
fn never_sent(status: &tonic::Status) -> bool {
    let mut source = status.source();
    while let Some(error) = source {
        if error.downcast_ref::<tonic::ConnectError>().is_some() {
            return true;
        }
        source = error.source();
    }
    false
}

/// How long to wait before the next attempt: 50 ms doubling up to 1 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: tonic::Code, message: &str) -> etcd_client::Error {
        etcd_client::Error::GRpcStatus(tonic::Status::new(code, message))
    }

    #[test]
    fn revisions_out_of_range() {
        assert_eq!(
            Failure::of(&status(tonic::Code::OutOfRange, COMPACTED)),
            Failure::Compacted
        );
        assert_eq!(
            Failure::of(&status(tonic::Code::OutOfRange, FUTURE_REVISION)),
            Failure::FutureRevision
        );
        assert!(matches!(
            Failure::of(&status(tonic::Code::OutOfRange, "something else")),
            Failure::Refused(_)
        ));
    }

    #[test]
    fn only_unsent_writes_are_retried() {
        let lost = Failure::of(&status(
            tonic::Code::Unavailable,
            "etcdserver: request timed out",
        ));
        assert!(lost.retriable(false));
        assert!(!lost.retriable(true), "the write may have been applied");
        let leaderless = Failure::of(&status(tonic::Code::Unavailable, NO_LEADER));
        assert!(leaderless.retriable(true), "refused before it was proposed");

        let refused = tonic::Status::from_error(Box::new(tonic::ConnectError(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
        )));
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        let unsent = Failure::of(&etcd_client::Error::GRpcStatus(refused));
        assert!(unsent.retriable(true));

        let denied = Failure::of(&status(tonic::Code::PermissionDenied, "no"));
        assert!(!denied.retriable(false));
        assert!(matches!(denied.into_error(), Error::Etcd(_)));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(50));
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(30), Duration::from_secs(1));
    }
}
