//! The credentials servers sharing one etcd share (`--cluster-secret-file`), kept in etcd the
//! way k3s keeps its bootstrap data: the first server puts its CA, admin token, service
//! account signing key and Secret encryption keys there,
//! encrypted with a key derived from the cluster secret every server is given; the others read
//! them, so every server's certificate chains to one CA and every kubeconfig holds one token.
//!
//! The record, at [`KEY`] (outside `/registry/`, so the API never serves it), is JSON:
//! `{"version":1,"kdf":"pbkdf2-sha256","iterations":N,"salt":…,"nonce":…,"ciphertext":…}`
//! (base64 fields). The key is PBKDF2-HMAC-SHA256 of the secret with the record's salt, as k3s
//! derives its bootstrap key (which uses SHA-1 and AES-GCM); the cipher is ChaCha20-Poly1305,
//! whose tag makes a wrong secret or an altered record fail instead of yielding garbage. The key
//! and the version are the associated data, so the ciphertext means nothing under another key.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::num::NonZeroU32;

use kbatch_api::pki::ClusterCredentials;
use kbatch_store::Store;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde_json::{Value, json};

/// Where the record lives in the store (under the server's `--etcd-prefix`).
pub const KEY: &str = "/kbatch/bootstrap";
const VERSION: u64 = 1;
/// PBKDF2 rounds for new records; a record says which it was made with.
const ITERATIONS: NonZeroU32 = NonZeroU32::new(100_000).unwrap();

/// Reads the shared credentials, or, when there are none yet, stores `own` (the server's own
/// credentials, or new ones) as them. Of servers racing to store theirs, one wins and the
/// others read its.
pub async fn shared_credentials(
    store: &dyn Store,
    secret: &[u8],
    own: impl FnOnce() -> anyhow::Result<ClusterCredentials>,
) -> anyhow::Result<ClusterCredentials> {
    let mut own = Some(own);
    let mut mine: Option<ClusterCredentials> = None;
    loop {
        match store.get(KEY).await {
            Ok(kv) => match open(&kv.value, secret)? {
                Opened::Complete(credentials) => return Ok(credentials),
                // A record from before the servers shared these keys: what it lacks is
                // added, by whichever server gets there first, so that all use the same. The
                // Secret encryption keys are that server's own, under which the Secrets
                // already stored were written.
                Opened::Incomplete(mut credentials) => {
                    if credentials.service_account_key_pem.is_empty() {
                        credentials.service_account_key_pem =
                            kbatch_api::serviceaccount::generate_key_pem()?;
                    }
                    if credentials.secrets_encryption_keys.is_empty() {
                        if mine.is_none() {
                            let make = own.take().context("own credentials asked twice")?;
                            mine = Some(make()?);
                        }
                        credentials.secrets_encryption_keys = mine
                            .as_ref()
                            .map(|m| m.secrets_encryption_keys.clone())
                            .unwrap_or_default();
                    }
                    match store
                        .update(KEY, seal(&credentials, secret)?, kv.mod_revision)
                        .await
                    {
                        Ok(_) => return Ok(credentials),
                        Err(kbatch_store::Error::Conflict { .. }) => continue,
                        Err(e) => {
                            return Err(e).context("completing the cluster's credentials");
                        }
                    }
                }
            },
            Err(kbatch_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).context("reading the cluster's credentials from the store"),
        }
        let credentials = match (mine.take(), own.take()) {
            (Some(credentials), _) => credentials,
            (None, Some(make)) => make()?,
            (None, None) => {
                bail!("the cluster's credentials vanished from the store while being stored")
            }
        };
        match store.create(KEY, seal(&credentials, secret)?).await {
            Ok(_) => return Ok(credentials),
            Err(kbatch_store::Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e).context("storing the cluster's credentials"),
        }
    }
}

/// The cluster secret from its file: its bytes, less a final line break.
pub fn read_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut secret = std::fs::read(path)
        .with_context(|| format!("reading the cluster secret {}", path.display()))?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if secret.is_empty() {
        bail!("the cluster secret {} is empty", path.display());
    }
    Ok(secret)
}

/// The record's cipher under the PBKDF2-HMAC-SHA256 key of `secret` (ring, which TLS and the
/// Secrets' encryption at rest already use).
fn cipher(secret: &[u8], salt: &[u8], iterations: NonZeroU32) -> anyhow::Result<LessSafeKey> {
    let mut key = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        secret,
        &mut key,
    );
    let key = UnboundKey::new(&CHACHA20_POLY1305, &key)
        .map_err(|_| anyhow::anyhow!("making the cluster secret's key"))?;
    Ok(LessSafeKey::new(key))
}

fn aad() -> Vec<u8> {
    format!("{KEY} v{VERSION}").into_bytes()
}

/// The record for `credentials` under `secret`.
pub fn seal(credentials: &ClusterCredentials, secret: &[u8]) -> anyhow::Result<Vec<u8>> {
    let salt: [u8; 16] = rand::random();
    let nonce: [u8; 12] = rand::random();
    let mut ciphertext = serde_json::to_vec(&json!({
        "caCert": credentials.ca_cert_pem,
        "caKey": credentials.ca_key_pem,
        "adminToken": credentials.token,
        "serviceAccountKey": credentials.service_account_key_pem,
        "secretsEncryptionKeys": credentials.secrets_encryption_keys,
    }))?;
    cipher(secret, &salt, ITERATIONS)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad()),
            &mut ciphertext,
        )
        .map_err(|_| anyhow::anyhow!("encrypting the cluster's credentials"))?;
    Ok(serde_json::to_vec(&json!({
        "version": VERSION,
        "kdf": "pbkdf2-sha256",
        "iterations": ITERATIONS,
        "salt": STANDARD.encode(salt),
        "nonce": STANDARD.encode(nonce),
        "ciphertext": STANDARD.encode(ciphertext),
    }))?)
}

/// What a record holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Complete(ClusterCredentials),
    /// A record written before servers shared a service account key or the Secret
    /// encryption keys (what it lacks is empty).
    Incomplete(ClusterCredentials),
}

/// The credentials in `record`, if `secret` is the one it was sealed with.
pub fn open(record: &[u8], secret: &[u8]) -> anyhow::Result<Opened> {
    let malformed = || format!("the cluster's credentials in the store ({KEY}) are malformed");
    let record: Value = serde_json::from_slice(record).with_context(malformed)?;
    if record["version"] != VERSION || record["kdf"] != "pbkdf2-sha256" {
        bail!(
            "the cluster's credentials in the store ({KEY}) are of another kind (version {}, kdf {})",
            record["version"],
            record["kdf"]
        );
    }
    let bytes = |field: &str| -> anyhow::Result<Vec<u8>> {
        let text = record[field].as_str().with_context(malformed)?;
        STANDARD.decode(text).with_context(malformed)
    };
    let iterations = record["iterations"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .and_then(NonZeroU32::new)
        .with_context(malformed)?;
    let (salt, nonce, mut ciphertext) = (bytes("salt")?, bytes("nonce")?, bytes("ciphertext")?);
    let nonce =
        Nonce::try_assume_unique_for_key(&nonce).map_err(|_| anyhow::anyhow!(malformed()))?;
    let plaintext = cipher(secret, &salt, iterations)?
        .open_in_place(nonce, Aad::from(aad()), &mut ciphertext)
        .map_err(|_| {
            anyhow::anyhow!(
                "the cluster secret does not open the cluster's credentials in the store: \
                 every server of a cluster needs the secret the first one started with"
            )
        })?;
    let fields: Value = serde_json::from_slice(plaintext).with_context(malformed)?;
    let field = |name: &str| -> anyhow::Result<String> {
        fields[name]
            .as_str()
            .map(str::to_owned)
            .with_context(malformed)
    };
    let optional = |name: &str| fields[name].as_str().unwrap_or_default().to_owned();
    let credentials = ClusterCredentials {
        ca_cert_pem: field("caCert")?,
        ca_key_pem: field("caKey")?,
        token: field("adminToken")?,
        service_account_key_pem: optional("serviceAccountKey"),
        secrets_encryption_keys: optional("secretsEncryptionKeys"),
    };
    Ok(
        if credentials.service_account_key_pem.is_empty()
            || credentials.secrets_encryption_keys.is_empty()
        {
            Opened::Incomplete(credentials)
        } else {
            Opened::Complete(credentials)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kbatch_store::MemoryStore;

    fn credentials() -> ClusterCredentials {
        ClusterCredentials::generate().unwrap()
    }

    #[test]
    fn a_sealed_record_opens_with_its_secret_only() {
        let c = credentials();
        let record = seal(&c, b"s3cret").unwrap();
        assert_eq!(
            open(&record, b"s3cret").unwrap(),
            Opened::Complete(c.clone())
        );
        let wrong = open(&record, b"s3cret!").unwrap_err().to_string();
        assert!(wrong.contains("does not open"), "{wrong}");
        // Nothing secret is in the record as such.
        let text = String::from_utf8(record.clone()).unwrap();
        assert!(
            !text.contains(&c.token) && !text.contains("PRIVATE KEY"),
            "{text}"
        );
        // A changed ciphertext fails the tag.
        let mut value: Value = serde_json::from_slice(&record).unwrap();
        let mut ct = STANDARD
            .decode(value["ciphertext"].as_str().unwrap())
            .unwrap();
        ct[0] ^= 1;
        value["ciphertext"] = STANDARD.encode(ct).into();
        let altered = serde_json::to_vec(&value).unwrap();
        assert!(open(&altered, b"s3cret").is_err());
        // Two seals differ (fresh salt and nonce).
        assert_ne!(seal(&c, b"s3cret").unwrap(), record);
    }

    #[tokio::test]
    async fn the_first_server_stores_its_credentials_and_the_others_read_them() {
        let store = MemoryStore::new();
        let first = credentials();
        let got = shared_credentials(&store, b"k", || Ok(first.clone()))
            .await
            .unwrap();
        assert_eq!(got, first);
        let second = shared_credentials(&store, b"k", || panic!("the cluster has credentials"))
            .await
            .unwrap();
        assert_eq!(second, first);
        let wrong = shared_credentials(&store, b"other", || panic!("not asked"))
            .await
            .unwrap_err();
        assert!(wrong.to_string().contains("does not open"), "{wrong}");
    }

    #[tokio::test]
    async fn a_record_without_the_shared_keys_gets_them_and_every_server_shares_them() {
        let store = MemoryStore::new();
        let old = credentials();
        // A record as servers wrote it before they shared a signing key.
        let salt: [u8; 16] = rand::random();
        let nonce: [u8; 12] = rand::random();
        let mut ciphertext = serde_json::to_vec(&json!({
            "caCert": old.ca_cert_pem,
            "caKey": old.ca_key_pem,
            "adminToken": old.token,
        }))
        .unwrap();
        cipher(b"k", &salt, ITERATIONS)
            .unwrap()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad()),
                &mut ciphertext,
            )
            .unwrap();
        let record = serde_json::to_vec(&json!({
            "version": VERSION, "kdf": "pbkdf2-sha256", "iterations": ITERATIONS,
            "salt": STANDARD.encode(salt), "nonce": STANDARD.encode(nonce),
            "ciphertext": STANDARD.encode(ciphertext),
        }))
        .unwrap();
        assert!(matches!(
            open(&record, b"k").unwrap(),
            Opened::Incomplete(_)
        ));
        store.create(KEY, record).await.unwrap();
        // The server that completes the record brings its own Secret encryption keys.
        let own = credentials();
        let first = shared_credentials(&store, b"k", || Ok(own.clone()))
            .await
            .unwrap();
        assert_eq!(first.token, old.token);
        assert!(first.service_account_key_pem.contains("PRIVATE KEY"));
        assert_eq!(first.secrets_encryption_keys, own.secrets_encryption_keys);
        let second = shared_credentials(&store, b"k", || panic!("not asked"))
            .await
            .unwrap();
        assert_eq!(second, first);
    }

    #[test]
    fn the_secret_file_loses_its_line_break_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(read_secret(&path).unwrap(), b"abc");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_secret(&path).is_err());
    }
}
