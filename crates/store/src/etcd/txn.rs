//! Writes as etcd transactions, the way Kubernetes' etcd3 storage writes: a create succeeds only
//! if the key has no live version (`create_revision == 0`), an update or a conditional delete
//! only if the key's `mod_revision` is the expected one; the failure branch reads the key so the
//! answer says whether it was absent or changed. One write is one etcd revision; a transaction
//! whose comparison fails writes nothing and consumes no revision.

use etcd_client::proto::{PbDeleteResponse, PbResponseOp, PbTxnOpResponse, PbTxnResponse};
use etcd_client::{Compare, CompareOp, DeleteOptions, Txn, TxnOp};

use super::Inner;
use super::errors::Failure;
use super::read::header_revision;
use crate::op::check_key;
use crate::{Deleted, Error, Result, Revision};

impl Inner {
    async fn txn(&self, txn: Txn) -> Result<PbTxnResponse> {
        let response = self
            .retry(true, |member| {
                let mut kv = member.kv.clone();
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await
            .map_err(Failure::into_error)?;
        Ok(response.0)
    }

    pub async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision> {
        check_key(key)?;
        let k = self.keys.key(key);
        let txn = Txn::new()
            .when([Compare::create_revision(k.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(k, value, None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded {
            return Err(Error::AlreadyExists {
                key: key.to_owned(),
            });
        }
        header_revision(response.header.as_ref())
    }

    pub async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision> {
        check_key(key)?;
        if expected <= 0 {
            // An absent key's mod_revision is 0: comparing with 0 would create it.
            return Err(self.refusal(key, expected).await);
        }
        let k = self.keys.key(key);
        let txn = Txn::new()
            .when([Compare::mod_revision(k.clone(), CompareOp::Equal, expected)])
            .and_then([TxnOp::put(k.clone(), value, None)])
            .or_else([TxnOp::get(k, None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded {
            return Err(self.refused(key, expected, response.responses)?);
        }
        header_revision(response.header.as_ref())
    }

    pub async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        check_key(key)?;
        let k = self.keys.key(key);
        let delete = TxnOp::delete(k.clone(), Some(DeleteOptions::new().with_prev_key()));
        let txn = match expected {
            Some(expected) if expected <= 0 => return Err(self.refusal(key, expected).await),
            Some(expected) => Txn::new()
                .when([Compare::mod_revision(k.clone(), CompareOp::Equal, expected)])
                .and_then([delete])
                .or_else([TxnOp::get(k, None)]),
            // Unconditional, but only of a live key, so that a missing key is NotFound.
            None => Txn::new()
                .when([Compare::create_revision(k, CompareOp::Greater, 0)])
                .and_then([delete]),
        };
        let response = self.txn(txn).await?;
        if !response.succeeded {
            return Err(match expected {
                Some(expected) => self.refused(key, expected, response.responses)?,
                None => Error::NotFound {
                    key: key.to_owned(),
                },
            });
        }
        let revision = header_revision(response.header.as_ref())?;
        let prev = match response
            .responses
            .into_iter()
            .next()
            .and_then(|r| r.response)
        {
            Some(PbTxnOpResponse::ResponseDeleteRange(PbDeleteResponse { prev_kvs, .. })) => {
                prev_kvs.into_iter().next()
            }
            _ => None,
        }
        .ok_or_else(|| Error::Corrupt(format!("etcd deleted {key:?} without its last version")))?;
        Ok(Deleted {
            revision,
            prev: self.keys.key_value(prev)?,
        })
    }

    /// Why a compare-and-swap failed, from the failure branch's read of the key.
    fn refused(
        &self,
        key: &str,
        expected: Revision,
        responses: Vec<PbResponseOp>,
    ) -> Result<Error> {
        let current = match responses.into_iter().next().and_then(|r| r.response) {
            Some(PbTxnOpResponse::ResponseRange(range)) => range.kvs.into_iter().next(),
            _ => {
                return Err(Error::Corrupt(format!(
                    "etcd refused a write of {key:?} without reading it"
                )));
            }
        };
        Ok(match current {
            Some(kv) => Error::Conflict {
                key: key.to_owned(),
                expected,
                actual: kv.mod_revision,
            },
            None => Error::NotFound {
                key: key.to_owned(),
            },
        })
    }

    /// The answer to a write that expects a revision no live key can have.
    async fn refusal(&self, key: &str, expected: Revision) -> Error {
        match self.get(key).await {
            Ok(kv) => Error::Conflict {
                key: key.to_owned(),
                expected,
                actual: kv.mod_revision,
            },
            Err(error) => error,
        }
    }
}
