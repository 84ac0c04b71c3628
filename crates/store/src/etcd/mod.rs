//! The etcd v3 backend: the store trait on a real etcd cluster, the way Kubernetes' etcd3
//! storage uses it. Keys are the store's keys under a configurable prefix; a version's
//! revisions are etcd's `create_revision`/`mod_revision`, so a resourceVersion is etcd's
//! revision as in Kubernetes; writes are transactions comparing revisions; watches are etcd's
//! watches; compaction is etcd's. etcd's revision is global to the etcd cluster: writes by
//! anything else to the same etcd (another prefix, another program) consume revisions too, so
//! revisions are strictly increasing but not gapless here (docs/store.md).

mod compaction;
mod errors;
mod keys;
mod members;
mod read;
mod tls;
mod txn;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::ConnectOptions;

use crate::{
    Deleted, Error, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream,
};
use errors::Failure;
use keys::Keys;
use members::{Member, Members};
pub use tls::EtcdTls;

/// Settings of [`EtcdStore::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Client URLs of the members (`http://127.0.0.1:2379`, `https://etcd-1:2379`); requests
    /// are balanced over them and move on when one is unreachable.
    pub endpoints: Vec<String>,
    /// Prepended to every key: empty (Kubernetes' layout, `/registry/…`) or `/name` so that
    /// several kbatch clusters can share one etcd.
    pub prefix: String,
    /// TLS for `https://` endpoints.
    pub tls: Option<EtcdTls>,
    /// How long to wait for a connection to a member.
    pub dial_timeout: Duration,
    /// How long one store operation may take, retries included, before it fails with
    /// [`Error::Unavailable`].
    pub request_timeout: Duration,
}

impl EtcdOptions {
    pub fn new(endpoints: Vec<String>) -> Self {
        EtcdOptions {
            endpoints,
            prefix: String::new(),
            tls: None,
            // A member that does not accept a connection within this is skipped for the
            // next one; connections within a data centre take milliseconds.
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A [`Store`] in an etcd v3 cluster. Clones share one client (one HTTP/2 connection per
/// member).
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    members: Members,
    keys: Keys,
    /// [`EtcdOptions::request_timeout`].
    patience: Duration,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.members.endpoints())
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to the cluster and checks that it answers (a linearizable read, so a member
    /// without a quorum does not count), within `request_timeout`.
    pub async fn connect(options: EtcdOptions) -> Result<Self> {
        if options.endpoints.is_empty() {
            return Err(Error::Config("no etcd endpoints given".to_owned()));
        }
        let keys = Keys::new(&options.prefix)?;
        // kube-apiserver's keepalive: a dead member is noticed on an idle watch within ~40 s.
        // Requiring a leader makes a member cut off from the quorum refuse at once ("no
        // leader": not applied, so even a write moves on to another member) and cancel its
        // watches, which then resume elsewhere; Kubernetes requires one for its watches.
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.dial_timeout)
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10))
            .with_require_leader(true);
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls.load()?);
        }
        let store = EtcdStore {
            inner: Arc::new(Inner {
                members: Members::new(&options.endpoints, &connect).await?,
                keys,
                patience: options.request_timeout,
            }),
        };
        store.inner.current_revision().await?;
        Ok(store)
    }

    /// The endpoints the store was given.
    pub fn endpoints(&self) -> &[String] {
        self.inner.members.endpoints()
    }
}

impl Inner {
    /// Runs one etcd call on the pinned member, failing over and retrying by the rules of
    /// [`errors`] within the request timeout.
    async fn retry<T, F, Fut>(&self, write: bool, call: F) -> std::result::Result<T, Failure>
    where
        F: FnMut(&Member) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        self.members.call(self.patience, write, call).await
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<KeyValue> {
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        self.inner.list(prefix, options).await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        self.inner.create(key, value).await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        self.inner.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        self.inner.delete(key, expected).await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        watch::watch(self.inner.clone(), prefix, after).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
}
