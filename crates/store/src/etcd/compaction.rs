//! etcd's compaction as the store's: `compact(R)` is etcd's Compact RPC (non-physical: reads
//! below R are refused as soon as it returns, the space is reclaimed in the background), and
//! a read or watch below etcd's compaction point is the store's `Compacted` — 410 Gone at the
//! API. Which revision to compact to is decided by the shared [`crate::Compactor`], as for
//! SQLite; several servers running it against one etcd each compact to a revision their own
//! retention allows, and compacting to or below the current point is a no-op, so they need no
//! coordination.
//!
//! etcd's errors do not carry the compaction point; a watch from a compacted revision does
//! (`WatchResponse.compact_revision`, which clientv3 users read the same way).

use std::time::Duration;

use etcd_client::WatchOptions;

use super::Inner;
use super::errors::Failure;
use crate::{Error, Result, Revision};

impl Inner {
    pub async fn compact(&self, revision: Revision) -> Result<()> {
        let result = self
            .retry(false, |member| {
                let mut kv = member.kv.clone();
                async move { kv.compact(revision, None).await }
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            // Compacting to the current point or below it changes nothing (the trait's rule).
            Err(Failure::Compacted) => Ok(()),
            Err(failure) => Err(self.revision_error(failure, Some(revision)).await),
        }
    }

    /// etcd's compaction point, asked after etcd refused `requested` as compacted: a watch from
    /// `requested` is cancelled at once with the point. (Only on that error path: a watch from
    /// a kept revision would simply start.)
    pub async fn compacted_revision(&self, requested: Revision) -> Result<Revision> {
        let start = requested.max(1);
        let ask = async {
            let (_, member) = self.members.pinned();
            let mut client = member.watch.clone();
            let options = WatchOptions::new().with_start_revision(start);
            let mut stream = client
                .watch(self.keys.key(""), Some(options))
                .await
                .map_err(|e| Failure::of(&e).into_error())?;
            loop {
                let Some(response) = stream
                    .message()
                    .await
                    .map_err(|e| Failure::of(&e).into_error())?
                else {
                    return Err(Error::Unavailable(
                        "etcd closed the watch that reports its compaction point".to_owned(),
                    ));
                };
                let response = response.0;
                if response.compact_revision > 0 {
                    return Ok(response.compact_revision);
                }
                if response.canceled {
                    return Err(Error::Etcd(format!(
                        "etcd cancelled the watch that reports its compaction point: {}",
                        response.cancel_reason
                    )));
                }
            }
        };
        // etcd answers within its watch sync interval (100 ms); this only bounds a hung member.
        tokio::time::timeout(self.patience.max(Duration::from_secs(1)), ask)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Unavailable(format!(
                    "etcd refused revision {requested} as compacted but did not report its compaction point"
                )))
            })
    }
}
