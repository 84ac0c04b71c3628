//! Reads: linearizable ranges (etcd's default, what Kubernetes' etcd3 storage uses), optionally
//! at a past revision. A list is one range `[from, prefix_end)` with `limit + 1` so the shared
//! paging code hands out a continue token only when another item follows; every page of a list
//! is read at the first page's revision, which etcd serves until it is compacted.

use etcd_client::GetOptions;
use etcd_client::proto::PbRangeResponse;

use super::Inner;
use super::errors::Failure;
use crate::continuation::{PageStart, finish_page};
use crate::{Error, KeyValue, ListOptions, ListResult, Result, Revision};

impl Inner {
    /// One range request, retried while etcd is unreachable.
    async fn range(
        &self,
        key: Vec<u8>,
        options: GetOptions,
    ) -> std::result::Result<PbRangeResponse, Failure> {
        let response = self
            .retry(false, |member| {
                let mut kv = member.kv.clone();
                let (key, options) = (key.clone(), options.clone());
                async move { kv.get(key, Some(options)).await }
            })
            .await?;
        Ok(response.0)
    }

    pub async fn get(&self, key: &str) -> Result<KeyValue> {
        let response = self
            .range(self.keys.key(key), GetOptions::new())
            .await
            .map_err(Failure::into_error)?;
        match response.kvs.into_iter().next() {
            Some(kv) => self.keys.key_value(kv),
            None => Err(Error::NotFound {
                key: key.to_owned(),
            }),
        }
    }

    pub async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        let start = PageStart::resolve(prefix, &options)?;
        let (from, end) = self.keys.range_from(&start.from_key, prefix);
        let mut request = GetOptions::new()
            .with_range(end)
            .with_revision(start.revision.unwrap_or(0));
        if let Some(fetch) = start.fetch() {
            request = request.with_limit(i64::try_from(fetch).unwrap_or(i64::MAX));
        }
        let response = match self.range(from, request).await {
            Ok(response) => response,
            Err(failure) => return Err(self.revision_error(failure, start.revision).await),
        };
        let revision = match start.revision {
            Some(revision) => revision,
            None => header_revision(response.header.as_ref())?,
        };
        let items = response
            .kvs
            .into_iter()
            .map(|kv| self.keys.key_value(kv))
            .collect::<Result<Vec<_>>>()?;
        Ok(finish_page(items, start.limit, revision))
    }

    /// The revision etcd is at: the header of a count-only read of one key (what
    /// Kubernetes' `GetCurrentResourceVersion` reads), linearizable like every read here.
    pub async fn current_revision(&self) -> Result<Revision> {
        let response = self
            .range(self.keys.key(""), GetOptions::new().with_count_only())
            .await
            .map_err(Failure::into_error)?;
        header_revision(response.header.as_ref())
    }

    /// The store error for a failed read or compaction at `requested`: etcd says only that the
    /// revision is compacted or in the future, so the bound is asked for.
    pub async fn revision_error(&self, failure: Failure, requested: Option<Revision>) -> Error {
        let Some(requested) = requested else {
            return failure.into_error();
        };
        match failure {
            Failure::Compacted => match self.compacted_revision(requested).await {
                Ok(compacted) => Error::Compacted {
                    requested,
                    compacted,
                },
                Err(error) => error,
            },
            Failure::FutureRevision => match self.current_revision().await {
                Ok(current) => Error::FutureRevision { requested, current },
                Err(error) => error,
            },
            other => other.into_error(),
        }
    }
}

/// The revision in a response's header; etcd always sends one.
pub(crate) fn header_revision(
    header: Option<&etcd_client::proto::PbResponseHeader>,
) -> Result<Revision> {
    header
        .map(|h| h.revision)
        .ok_or_else(|| Error::Corrupt("etcd answered without a response header".to_owned()))
}
