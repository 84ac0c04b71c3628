//! Store keys as etcd keys: the configured prefix (one per kbatch cluster sharing an etcd) is
//! prepended on the way in and stripped on the way out, and a store prefix becomes the etcd
//! range `[prefix, prefix_end)`, as Kubernetes' etcd3 storage and etcdctl's `--prefix` do.

use etcd_client::proto::PbKeyValue;

use crate::{Error, KeyValue, Result};

/// Maps store keys to etcd keys under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` is empty (keys as they are: `/registry/jobs/…`, Kubernetes' own layout) or
    /// starts with `/` and does not end with one (`/kbatch-a` → `/kbatch-a/registry/jobs/…`).
    pub fn new(prefix: &str) -> Result<Self> {
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.ends_with('/')) {
            return Err(Error::Config(format!(
                "etcd key prefix {prefix:?} must be empty or start with '/' and not end with '/'"
            )));
        }
        Ok(Keys {
            prefix: prefix.to_owned(),
        })
    }

    /// The etcd key of a store key (`"\0"` for the empty key: etcd refuses an empty key, and
    /// `"\0"` is the smallest there is).
    pub fn key(&self, key: &str) -> Vec<u8> {
        if self.prefix.is_empty() && key.is_empty() {
            return vec![0];
        }
        let mut out = Vec::with_capacity(self.prefix.len() + key.len());
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(key.as_bytes());
        out
    }

    /// The etcd range `[start, end)` of every key that starts with the store prefix `prefix`.
    pub fn range(&self, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        let start = self.key(prefix);
        let end = if self.prefix.is_empty() && prefix.is_empty() {
            vec![0]
        } else {
            range_end(&start)
        };
        (start, end)
    }

    /// The range from the store key `from` (inclusive) to the end of the store prefix `prefix`.
    pub fn range_from(&self, from: &str, prefix: &str) -> (Vec<u8>, Vec<u8>) {
        (self.key(from), self.range(prefix).1)
    }

    /// The store key of an etcd key, or `Corrupt` for a key outside the prefix or not UTF-8
    /// (another application's key in a shared etcd; the store keeps UTF-8 keys only).
    pub fn store_key(&self, key: &[u8]) -> Result<String> {
        let rest = key
            .strip_prefix(self.prefix.as_bytes())
            .ok_or_else(|| Error::Corrupt(format!("etcd key {key:?} is outside the prefix")))?;
        String::from_utf8(rest.to_vec())
            .map_err(|_| Error::Corrupt(format!("etcd key {key:?} is not UTF-8")))
    }

    /// A stored version as the store reports it.
    pub fn key_value(&self, kv: PbKeyValue) -> Result<KeyValue> {
        Ok(KeyValue {
            key: self.store_key(&kv.key)?,
            value: kv.value,
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
        })
    }
}

/// The first key after every key that starts with `start` (etcd's `GetPrefixRangeEnd`);
/// `"\0"` means "to the end of the key space" in a range request.
fn range_end(start: &[u8]) -> Vec<u8> {
    let mut end = start.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_checked() {
        for good in ["", "/kbatch", "/a/b"] {
            assert!(Keys::new(good).is_ok(), "{good}");
        }
        for bad in ["kbatch", "/kbatch/", "/"] {
            assert!(matches!(Keys::new(bad), Err(Error::Config(_))), "{bad}");
        }
    }

    #[test]
    fn keys_and_ranges_carry_the_prefix() {
        let keys = Keys::new("/c1").unwrap();
        assert_eq!(keys.key("/registry/x"), b"/c1/registry/x");
        assert_eq!(
            keys.range("/registry/jobs/"),
            (
                b"/c1/registry/jobs/".to_vec(),
                b"/c1/registry/jobs0".to_vec()
            )
        );
        assert_eq!(keys.range(""), (b"/c1".to_vec(), b"/c2".to_vec()));
        assert_eq!(
            keys.range_from("/registry/jobs/a\0", "/registry/jobs/"),
            (
                b"/c1/registry/jobs/a\0".to_vec(),
                b"/c1/registry/jobs0".to_vec()
            )
        );
        assert_eq!(keys.store_key(b"/c1/registry/x").unwrap(), "/registry/x");
        assert!(matches!(keys.store_key(b"/c2/x"), Err(Error::Corrupt(_))));
        assert!(matches!(
            keys.store_key(b"/c1/\xff"),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn the_whole_key_space() {
        let keys = Keys::new("").unwrap();
        assert_eq!(keys.range(""), (vec![0], vec![0]));
        assert_eq!(keys.key(""), vec![0]);
        assert_eq!(keys.range("/a"), (b"/a".to_vec(), b"/b".to_vec()));
        assert_eq!(range_end(b"a\xff\xff"), b"b");
    }
}
