//! Continue tokens for paged lists.
//!
//! Like Kubernetes' etcd3 storage (`storage.EncodeContinue`), a token records the revision the
//! first page was read at and the last key returned, so every later page is read at that same
//! revision and starts right after that key: the pages form one snapshot whatever is written in
//! between. The token is opaque to clients (versioned, hex-encoded) and checked on the way back.

use crate::{Error, KeyValue, ListOptions, ListResult, Result, Revision};

const VERSION: &str = "kbs1";

/// Where the next page of a list starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Continuation {
    pub revision: Revision,
    /// The last key of the previous page; the next page holds keys strictly after it.
    pub last_key: String,
}

impl Continuation {
    pub fn encode(&self) -> String {
        let plain = format!("{VERSION}\n{}\n{}", self.revision, self.last_key);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses a token and checks that it belongs to a list of `prefix`.
    pub fn decode(token: &str, prefix: &str) -> Result<Self> {
        let bytes = decode_hex(token).ok_or(Error::InvalidContinue("not a continue token"))?;
        let plain =
            String::from_utf8(bytes).map_err(|_| Error::InvalidContinue("not a continue token"))?;
        let mut parts = plain.splitn(3, '\n');
        if parts.next() != Some(VERSION) {
            return Err(Error::InvalidContinue("unknown token version"));
        }
        let revision = parts
            .next()
            .and_then(|r| r.parse::<Revision>().ok())
            .filter(|r| *r > 0)
            .ok_or(Error::InvalidContinue("bad revision"))?;
        let last_key = parts
            .next()
            .ok_or(Error::InvalidContinue("missing key"))?
            .to_owned();
        if !last_key.starts_with(prefix) {
            return Err(Error::InvalidContinue("token belongs to another prefix"));
        }
        Ok(Continuation { revision, last_key })
    }

    /// The smallest key after `last_key` (Kubernetes appends "\x00" the same way).
    pub fn start_key(&self) -> String {
        format!("{}\0", self.last_key)
    }
}

/// Where a list page reads: at which revision (`None`: the latest) and from which key on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageStart {
    pub revision: Option<Revision>,
    /// The first key the page may hold (inclusive).
    pub from_key: String,
    /// At most this many items (`None`: all, which is also what a limit of 0 means in Kubernetes).
    pub limit: Option<usize>,
}

impl PageStart {
    /// Resolves a list's options: a continue token fixes both revision and start key.
    pub fn resolve(prefix: &str, options: &ListOptions) -> Result<Self> {
        let limit = options.limit.filter(|l| *l > 0);
        let token = options.continue_token.as_deref().filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Ok(PageStart {
                revision: options.revision.filter(|r| *r > 0),
                from_key: prefix.to_owned(),
                limit,
            });
        };
        let continuation = Continuation::decode(token, prefix)?;
        if options
            .revision
            .is_some_and(|r| r > 0 && r != continuation.revision)
        {
            return Err(Error::InvalidContinue(
                "a continue token fixes the revision; do not pass another one",
            ));
        }
        Ok(PageStart {
            revision: Some(continuation.revision),
            from_key: continuation.start_key(),
            limit,
        })
    }
}

/// Checks that the state at `requested` can still be read: not compacted away, not in the future.
pub(crate) fn check_readable(
    requested: Revision,
    current: Revision,
    compacted: Revision,
) -> Result<()> {
    if requested < compacted {
        return Err(Error::Compacted {
            requested,
            compacted,
        });
    }
    if requested > current {
        return Err(Error::FutureRevision { requested, current });
    }
    Ok(())
}

impl PageStart {
    /// How many items a backend reads: one more than the limit, see [`finish_page`].
    pub fn fetch(&self) -> Option<usize> {
        self.limit.map(|l| l.saturating_add(1))
    }
}

/// Builds a page from items read with one more than `limit` allowed: that extra item only tells
/// that another page follows (which avoids handing out a token to an empty last page).
pub(crate) fn finish_page(
    mut items: Vec<KeyValue>,
    limit: Option<usize>,
    revision: Revision,
) -> ListResult {
    let continue_token = match limit {
        Some(limit) if items.len() > limit => {
            items.truncate(limit);
            items.last().map(|last| {
                Continuation {
                    revision,
                    last_key: last.key.clone(),
                }
                .encode()
            })
        }
        _ => None,
    };
    ListResult {
        items,
        revision,
        continue_token,
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(digits, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Continuation {
            revision: 42,
            last_key: "/registry/jobs/ns/a\nb".to_owned(),
        };
        assert_eq!(
            Continuation::decode(&c.encode(), "/registry/jobs/").unwrap(),
            c
        );
    }

    #[test]
    fn rejects_garbage_and_foreign_prefix() {
        for bad in ["", "zz", "abc", "00", "6b627331"] {
            assert!(matches!(
                Continuation::decode(bad, ""),
                Err(Error::InvalidContinue(_))
            ));
        }
        let c = Continuation {
            revision: 3,
            last_key: "/a/x".to_owned(),
        };
        assert!(matches!(
            Continuation::decode(&c.encode(), "/b/"),
            Err(Error::InvalidContinue(_))
        ));
    }
}
