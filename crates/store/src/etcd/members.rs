//! Which etcd member a request goes to: one pinned member until it fails, then the next — the
//! way clientv3's balancer pinned an endpoint (etcd 3.3/3.4). Each member has its own client
//! (one lazily opened HTTP/2 connection), so a stopped member costs one failed connection
//! attempt and is then left alone while the others serve, instead of failing a share of all
//! requests as a load balancer that keeps picking it would.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, KvClient, WatchClient};
use tokio::time::Instant;

use super::errors::{Failure, backoff};
use crate::{Error, Result};

/// The largest response a member may send: as large as gRPC allows (`math.MaxInt32`).
const MAX_RECEIVE: usize = i32::MAX as usize;

/// One member's clients.
pub(crate) struct Member {
    pub kv: KvClient,
    pub watch: WatchClient,
}

pub(crate) struct Members {
    endpoints: Vec<String>,
    members: Vec<Member>,
    /// The member requests go to until it fails.
    pinned: AtomicUsize,
}

impl Members {
    /// Clients for `endpoints`; nothing is dialled until the first request.
    pub async fn new(endpoints: &[String], options: &ConnectOptions) -> Result<Self> {
        let mut members = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let client = Client::connect([endpoint], Some(options.clone()))
                .await
                .map_err(|e| match e {
                    etcd_client::Error::InvalidArgs(why) => {
                        Error::Config(format!("etcd endpoint {endpoint}: {why}"))
                    }
                    etcd_client::Error::InvalidUri(why) => {
                        Error::Config(format!("etcd endpoint {endpoint}: {why}"))
                    }
                    other => Failure::of(&other).into_error(),
                })?;
            // kube-apiserver's `MaxCallRecvMsgSize` (math.MaxInt32): a list of a few
            // thousand pods, or a watch response carrying many events, is larger than gRPC's
            // default 4 MiB.
            members.push(Member {
                kv: client.kv_client().max_decoding_message_size(MAX_RECEIVE),
                watch: client.watch_client().max_decoding_message_size(MAX_RECEIVE),
            });
        }
        Ok(Members {
            endpoints: endpoints.to_vec(),
            members,
            pinned: AtomicUsize::new(0),
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The pinned member and its index (to report a failure of that very member).
    pub fn pinned(&self) -> (usize, &Member) {
        let index = self.pinned.load(Ordering::Relaxed) % self.members.len();
        (index, &self.members[index])
    }

    /// Moves on from member `index` after it failed, unless another request already did.
    pub fn failed(&self, index: usize) {
        let next = (index + 1) % self.members.len();
        let _ = self
            .pinned
            .compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Pauses before attempt `attempt + 1`: none while untried members remain in this round,
    /// then the growing backoff.
    pub fn pause(&self, attempt: u32) -> Duration {
        let n = u32::try_from(self.members.len()).unwrap_or(u32::MAX);
        if !(attempt + 1).is_multiple_of(n) {
            Duration::ZERO
        } else {
            backoff(attempt / n)
        }
    }

    /// Runs `call` against the pinned member until it succeeds, fails for good, or `patience`
    /// has passed, moving to the next member whenever one is unavailable. Reads are sent again
    /// after any unavailability, writes only when they provably never left (see `errors`).
    pub async fn call<T, F, Fut>(
        &self,
        patience: Duration,
        write: bool,
        mut call: F,
    ) -> std::result::Result<T, Failure>
    where
        F: FnMut(&Member) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + patience;
        let mut attempt = 0;
        loop {
            let (index, member) = self.pinned();
            let failure = match tokio::time::timeout_at(deadline, call(member)).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => Failure::of(&error),
                Err(_) => Failure::Unavailable {
                    message: format!(
                        "no answer from etcd at {} within {patience:?}",
                        self.endpoints[index]
                    ),
                    not_sent: false,
                },
            };
            if matches!(failure, Failure::Unavailable { .. }) {
                self.failed(index);
            }
            let pause = self.pause(attempt);
            if !failure.retriable(write) || Instant::now() + pause >= deadline {
                return Err(failure);
            }
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn members(n: usize) -> Members {
        let endpoints: Vec<String> = (0..n)
            .map(|i| format!("http://127.0.0.1:{}", i + 1))
            .collect();
        Members::new(&endpoints, &ConnectOptions::new())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_failure_moves_the_pin_once() {
        let m = members(3).await;
        assert_eq!(m.pinned().0, 0);
        m.failed(0);
        assert_eq!(m.pinned().0, 1);
        // A late report about member 0 does not skip member 1.
        m.failed(0);
        assert_eq!(m.pinned().0, 1);
        m.failed(1);
        m.failed(2);
        assert_eq!(m.pinned().0, 0);
    }

    #[tokio::test]
    async fn every_member_is_tried_before_backing_off() {
        let m = members(3).await;
        assert_eq!(m.pause(0), Duration::ZERO);
        assert_eq!(m.pause(1), Duration::ZERO);
        assert_eq!(m.pause(2), backoff(0));
        assert_eq!(m.pause(5), backoff(1));
        let one = members(1).await;
        assert_eq!(one.pause(0), backoff(0));
        assert_eq!(one.pause(1), backoff(1));
    }
}
