//! Secrets encrypted at rest: what kube-apiserver's `EncryptionConfiguration` with the `aesgcm`
//! provider does (`k8s.io/apiserver/pkg/storage/value/encrypt/aes`), on by default.
//!
//! [`EncryptedStore`] wraps the store and transforms the values of the Secrets' keys only
//! (`/registry/secrets/…`), as Kubernetes' storage transformers work per resource at the storage
//! layer: the registry above it sees plain JSON (so its no-op detection compares plaintexts),
//! and every other kind is stored as before. A stored Secret is
//! `k8s:enc:aesgcm:v1:<key name>:` + a 12-byte random nonce + AES-256-GCM ciphertext and tag,
//! authenticated with the storage key as associated data (so one Secret's ciphertext cannot be
//! moved under another name), exactly Kubernetes' aesgcm layout. Values without the prefix are
//! plaintext (the `identity` provider) and are read as they are, so a store written before
//! encryption, or by another tool, stays readable.
//!
//! The keys live in one file (`secrets-encryption.keys` in the data dir, mode 0600): one
//! `name:base64(32 bytes)` per line, the first encrypting, all of them decrypting. At start
//! [`EncryptedStore::rewrite_stale`] rewrites every Secret that is plaintext or under another
//! key than the first, which is how a key is rotated (docs/secrets-encryption.md).

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use futures::StreamExt;
use kbatch_store::{
    Deleted, Error as StoreError, Event, KeyValue, ListOptions, ListResult, Revision, Store,
    WatchStream,
};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The key file's name in the data dir.
pub const KEY_FILE: &str = "secrets-encryption.keys";
/// Where the registry keeps Secrets (`Registry::prefix(&SECRET, None)`).
pub const SECRETS_PREFIX: &str = "/registry/secrets/";
/// Kubernetes' envelope prefix before the key name.
const PREFIX: &str = "k8s:enc:aesgcm:v1:";
const KEY_LEN: usize = 32;

/// Why the keys cannot be loaded or a value cannot be decrypted. Never carries a value.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {reason}")]
    BadKeyFile {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}: no key (a line `name:base64-of-32-bytes`)")]
    NoKeys(PathBuf),
    #[error("the system random number generator failed")]
    Random,
}

/// One named AES-256-GCM key.
struct NamedKey {
    name: String,
    key: LessSafeKey,
}

/// The keys of the key file: the first encrypts, every one decrypts.
pub struct Keys {
    keys: Vec<NamedKey>,
    random: SystemRandom,
}

impl fmt::Debug for Keys {
    /// Names only: key bytes never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        f.debug_struct("Keys").field("names", &names).finish()
    }
}

impl Keys {
    /// Reads `dir/secrets-encryption.keys`, creating it (mode 0600, one random key named
    /// `key1`) when absent.
    pub fn load_or_create(dir: &Path) -> Result<Keys, EncryptionError> {
        let text = Self::load_or_create_text(dir)?;
        Keys::parse(&text, &dir.join(KEY_FILE))
    }

    /// The text of `dir/secrets-encryption.keys`, made as [`Keys::load_or_create`] makes it
    /// when absent: what the servers of one cluster share.
    pub fn load_or_create_text(dir: &Path) -> Result<String, EncryptionError> {
        let path = dir.join(KEY_FILE);
        let io = |source| EncryptionError::Io {
            path: path.clone(),
            source,
        };
        match fs::read_to_string(&path) {
            Ok(text) => {
                Keys::parse(&text, &path)?;
                Ok(text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io)?;
                let text = Self::generate_text()?;
                write_private(&path, &text).map_err(io)?;
                Ok(text)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A new key file's text: one random key named `key1`.
    pub fn generate_text() -> Result<String, EncryptionError> {
        let random = SystemRandom::new();
        let mut bytes = [0u8; KEY_LEN];
        random
            .fill(&mut bytes)
            .map_err(|_| EncryptionError::Random)?;
        Ok(format!(
            "# kbatch's Secret encryption keys (AES-256-GCM): name:base64, the first \
             encrypts. See docs/secrets-encryption.md before editing.\nkey1:{}\n",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Parses the key file's text; blank lines and `#` comments are skipped.
    pub fn parse(text: &str, path: &Path) -> Result<Keys, EncryptionError> {
        let mut keys: Vec<NamedKey> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| EncryptionError::BadKeyFile {
                path: path.to_owned(),
                line: i + 1,
                reason: reason.to_owned(),
            };
            let (name, secret) = line
                .split_once(':')
                .ok_or_else(|| bad("expected name:base64-key"))?;
            let name = name.trim();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad("a key name is letters, digits, '-' and '_'"));
            }
            if keys.iter().any(|k| k.name == name) {
                return Err(bad("a key name appears twice"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .map_err(|_| bad("the key is not base64"))?;
            if bytes.len() != KEY_LEN {
                return Err(bad("the key must be 32 bytes (AES-256)"));
            }
            let unbound =
                UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| bad("unusable AES-256 key"))?;
            keys.push(NamedKey {
                name: name.to_owned(),
                key: LessSafeKey::new(unbound),
            });
        }
        if keys.is_empty() {
            return Err(EncryptionError::NoKeys(path.to_owned()));
        }
        Ok(Keys {
            keys,
            random: SystemRandom::new(),
        })
    }

    /// The name of the key new writes use.
    pub fn write_key_name(&self) -> &str {
        &self.keys[0].name
    }

    /// The envelope of `plain` stored under `key`.
    fn seal(&self, key: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
        let write = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| "the system random number generator failed".to_owned())?;
        let mut sealed = plain.to_vec();
        write
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| "encryption failed".to_owned())?;
        let mut out =
            Vec::with_capacity(PREFIX.len() + write.name.len() + 1 + NONCE_LEN + sealed.len());
        out.extend_from_slice(PREFIX.as_bytes());
        out.extend_from_slice(write.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of a stored value and whether it is stale (plaintext, or under another key
    /// than the write key), as Kubernetes' transformers report `stale`.
    fn open(&self, key: &str, stored: &[u8]) -> Result<(Vec<u8>, bool), String> {
        let Some(rest) = stored.strip_prefix(PREFIX.as_bytes()) else {
            return Ok((stored.to_vec(), true));
        };
        let colon = rest
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| "the envelope names no key".to_owned())?;
        let name = String::from_utf8_lossy(&rest[..colon]);
        let named = self
            .keys
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| format!("no key named {name:?} in {KEY_FILE}"))?;
        let body = &rest[colon + 1..];
        if body.len() < NONCE_LEN {
            return Err("the envelope is truncated".to_owned());
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| "the envelope is truncated".to_owned())?;
        let mut buf = sealed.to_vec();
        let plain = named
            .key
            .open_in_place(nonce, Aad::from(key.as_bytes()), &mut buf)
            .map_err(|_| format!("decryption with key {name:?} failed"))?;
        let stale = named.name != self.keys[0].name;
        Ok((plain.to_vec(), stale))
    }
}

/// Writes a new file with mode 0600 from the start, through a temporary name.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// A store whose values under one prefix (the Secrets') are encrypted.
#[derive(Debug, Clone)]
pub struct EncryptedStore {
    inner: Arc<dyn Store>,
    keys: Arc<Keys>,
    prefix: &'static str,
}

impl EncryptedStore {
    /// Encrypts the Secrets of `inner` with `keys`.
    pub fn new(inner: Arc<dyn Store>, keys: Keys) -> EncryptedStore {
        Self::with_prefix(inner, keys, SECRETS_PREFIX)
    }

    /// Encrypts the values of every key under `prefix` (tests use "/").
    pub fn with_prefix(inner: Arc<dyn Store>, keys: Keys, prefix: &'static str) -> EncryptedStore {
        EncryptedStore {
            inner,
            keys: Arc::new(keys),
            prefix,
        }
    }

    fn covers(&self, key: &str) -> bool {
        key.starts_with(self.prefix)
    }

    fn seal(&self, key: &str, value: Vec<u8>) -> kbatch_store::Result<Vec<u8>> {
        if !self.covers(key) {
            return Ok(value);
        }
        self.keys
            .seal(key, &value)
            .map_err(|why| StoreError::Corrupt(format!("unable to transform key {key:?}: {why}")))
    }

    fn open(&self, mut kv: KeyValue) -> kbatch_store::Result<KeyValue> {
        // A delete's tombstone has no value to open.
        if self.covers(&kv.key) && !kv.value.is_empty() {
            kv.value = self
                .keys
                .open(&kv.key, &kv.value)
                .map_err(|why| {
                    StoreError::Corrupt(format!("unable to transform key {:?}: {why}", kv.key))
                })?
                .0;
        }
        Ok(kv)
    }

    /// Rewrites every value under the prefix that is plaintext or sealed with another key than
    /// the write key, with compare-and-swap (a value written meanwhile is already current).
    /// Returns how many were rewritten. The content does not change, only its envelope.
    pub async fn rewrite_stale(&self) -> kbatch_store::Result<usize> {
        let mut rewritten = 0;
        let mut continue_token = None;
        loop {
            let page = self
                .inner
                .list(
                    self.prefix,
                    ListOptions {
                        revision: None,
                        limit: Some(500),
                        continue_token: continue_token.take(),
                    },
                )
                .await?;
            for kv in page.items {
                let (plain, stale) = self.keys.open(&kv.key, &kv.value).map_err(|why| {
                    StoreError::Corrupt(format!("unable to transform key {:?}: {why}", kv.key))
                })?;
                if !stale {
                    continue;
                }
                let sealed = self.seal(&kv.key, plain)?;
                match self.inner.update(&kv.key, sealed, kv.mod_revision).await {
                    Ok(_) => rewritten += 1,
                    Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            match page.continue_token {
                Some(token) => continue_token = Some(token),
                None => return Ok(rewritten),
            }
        }
    }
}

#[async_trait]
impl Store for EncryptedStore {
    async fn get(&self, key: &str) -> kbatch_store::Result<KeyValue> {
        self.open(self.inner.get(key).await?)
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> kbatch_store::Result<ListResult> {
        let mut page = self.inner.list(prefix, options).await?;
        page.items = page
            .items
            .into_iter()
            .map(|kv| self.open(kv))
            .collect::<kbatch_store::Result<_>>()?;
        Ok(page)
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> kbatch_store::Result<Revision> {
        let value = self.seal(key, value)?;
        self.inner.create(key, value).await
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> kbatch_store::Result<Revision> {
        let value = self.seal(key, value)?;
        self.inner.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> kbatch_store::Result<Deleted> {
        let deleted = self.inner.delete(key, expected).await?;
        Ok(Deleted {
            revision: deleted.revision,
            prev: self.open(deleted.prev)?,
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> kbatch_store::Result<WatchStream> {
        let this = self.clone();
        let events = self.inner.watch(prefix, after).await?;
        Ok(events
            .map(move |event| {
                let event = event?;
                Ok(Event {
                    kind: event.kind,
                    kv: this.open(event.kv)?,
                    prev: event.prev.map(|kv| this.open(kv)).transpose()?,
                })
            })
            .boxed())
    }

    async fn current_revision(&self) -> kbatch_store::Result<Revision> {
        self.inner.current_revision().await
    }

    async fn compact(&self, revision: Revision) -> kbatch_store::Result<()> {
        self.inner.compact(revision).await
    }
}

#[cfg(test)]
mod tests {
    use kbatch_store::MemoryStore;

    use super::*;

    fn keys(text: &str) -> Keys {
        Keys::parse(text, Path::new("keys")).unwrap()
    }

    const K1: &str = "key1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const K2: &str = "key2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    #[tokio::test]
    async fn secrets_are_sealed_and_other_kinds_are_not() {
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let store = EncryptedStore::new(inner.clone(), keys(K1));
        let secret = b"{\"data\":{\"password\":\"czNjcjN0\"}}".to_vec();
        store
            .create("/registry/secrets/default/db", secret.clone())
            .await
            .unwrap();
        store
            .create("/registry/configmaps/default/c", b"{}".to_vec())
            .await
            .unwrap();
        let raw = inner.get("/registry/secrets/default/db").await.unwrap();
        assert!(raw.value.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
        assert!(!raw.value.windows(8).any(|w| w == b"czNjcjN0"));
        assert_eq!(
            store
                .get("/registry/secrets/default/db")
                .await
                .unwrap()
                .value,
            secret
        );
        assert_eq!(
            inner
                .get("/registry/configmaps/default/c")
                .await
                .unwrap()
                .value,
            b"{}"
        );
        let listed = store
            .list("/registry/", ListOptions::default())
            .await
            .unwrap();
        assert_eq!(listed.items[1].value, secret);
        let deleted = store
            .delete("/registry/secrets/default/db", None)
            .await
            .unwrap();
        assert_eq!(deleted.prev.value, secret);
        let mut events = store.watch("/registry/secrets/", 0).await.unwrap();
        let created = events.next().await.unwrap().unwrap();
        assert_eq!(created.kv.value, secret);
        let gone = events.next().await.unwrap().unwrap();
        assert_eq!(gone.prev.unwrap().value, secret);
    }

    /// The storage key is authenticated: a ciphertext moved under another name does not open.
    #[tokio::test]
    async fn a_value_moved_to_another_key_does_not_open() {
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let store = EncryptedStore::new(inner.clone(), keys(K1));
        store
            .create("/registry/secrets/a/x", b"{}".to_vec())
            .await
            .unwrap();
        let sealed = inner.get("/registry/secrets/a/x").await.unwrap().value;
        inner.create("/registry/secrets/b/x", sealed).await.unwrap();
        let err = store.get("/registry/secrets/b/x").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt store: unable to transform key \"/registry/secrets/b/x\": decryption with key \"key1\" failed"
        );
    }

    /// Rotation: plaintext and values under an older key are read, then rewritten under the
    /// first key; a key that is gone is named in the error.
    #[tokio::test]
    async fn rotation_rewrites_stale_values() {
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
        inner
            .create("/registry/secrets/default/plain", b"{\"p\":1}".to_vec())
            .await
            .unwrap();
        let old = EncryptedStore::new(inner.clone(), keys(K1));
        old.create("/registry/secrets/default/old", b"{\"o\":1}".to_vec())
            .await
            .unwrap();
        let rotated = EncryptedStore::new(inner.clone(), keys(&format!("{K2}\n{K1}\n")));
        assert_eq!(rotated.keys.write_key_name(), "key2");
        assert_eq!(rotated.rewrite_stale().await.unwrap(), 2);
        assert_eq!(rotated.rewrite_stale().await.unwrap(), 0);
        for (name, plain) in [("plain", "{\"p\":1}"), ("old", "{\"o\":1}")] {
            let key = format!("/registry/secrets/default/{name}");
            assert!(
                inner
                    .get(&key)
                    .await
                    .unwrap()
                    .value
                    .starts_with(b"k8s:enc:aesgcm:v1:key2:")
            );
            assert_eq!(rotated.get(&key).await.unwrap().value, plain.as_bytes());
        }
        let only_k1 = EncryptedStore::new(inner, keys(K1));
        let err = only_k1
            .get("/registry/secrets/default/old")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("no key named \"key2\" in secrets-encryption.keys"),
            "{err}"
        );
    }

    #[test]
    fn key_files_are_checked_and_created_private() {
        for (text, want) in [
            ("", "keys: no key (a line `name:base64-of-32-bytes`)"),
            ("key1", "keys, line 1: expected name:base64-key"),
            (
                "key1:AAAA",
                "keys, line 1: the key must be 32 bytes (AES-256)",
            ),
            (
                "k y:AAAA",
                "keys, line 1: a key name is letters, digits, '-' and '_'",
            ),
            (
                &format!("{K1}\n{K1}"),
                "keys, line 2: a key name appears twice",
            ),
        ] {
            let err = Keys::parse(text, Path::new("keys")).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
        let dir = tempfile::tempdir().unwrap();
        let created = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(created.write_key_name(), "key1");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Loaded again, the same key opens what the first one sealed.
        let sealed = created.seal("/k", b"v").unwrap();
        let again = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open("/k", &sealed).unwrap(), (b"v".to_vec(), false));
        // Debug output names keys, never their bytes.
        assert_eq!(format!("{again:?}"), "Keys { names: [\"key1\"] }");
    }
}
