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
mod read;
mod tls;
mod txn;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{Client, ConnectOptions, KvClient, WatchClient};

use crate::{
    Deleted, Error, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream,
};
use errors::Failure;
use keys::Keys;
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
            // kube-apiserver's etcd dial timeout.
            dial_timeout: Duration::from_secs(20),
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
    kv: KvClient,
    watch: WatchClient,
    keys: Keys,
    /// [`EtcdOptions::request_timeout`].
    patience: Duration,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.endpoints)
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
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.dial_timeout)
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10));
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls.load()?);
        }
        let client = Client::connect(&options.endpoints, Some(connect))
            .await
            .map_err(|e| match e {
                etcd_client::Error::InvalidArgs(why) => Error::Config(why),
                etcd_client::Error::InvalidUri(why) => Error::Config(why.to_string()),
                other => Failure::of(&other).into_error(),
            })?;
        let store = EtcdStore {
            inner: Arc::new(Inner {
                kv: client.kv_client(),
                watch: client.watch_client(),
                keys,
                patience: options.request_timeout,
                endpoints: options.endpoints,
            }),
        };
        store.inner.current_revision().await?;
        Ok(store)
    }

    /// The endpoints the store was given.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }
}

impl Inner {
    /// Runs one etcd call with the retry rules of [`errors`] within the request timeout.
    async fn retry<T, F, Fut>(&self, write: bool, call: F) -> std::result::Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        errors::with_retries(self.patience, write, call).await
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
