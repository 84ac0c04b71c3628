//! Registry credentials from a docker-style `config.json` on the node, matched to images the
//! way kubelet's keyring does (pkg/credentialprovider `BasicDockerKeyring`): keys are
//! registry hosts, optionally with a path prefix; a `*` in a host label is a glob; `/v1/` and
//! `/v2/` paths mean the whole host; more specific keys come first; Docker Hub's
//! `index.docker.io` key serves `docker.io` images. Only `auths` is read — credential helper
//! programs (`credsStore`, `credHelpers`) are not run, as kubelet does not run them either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::reference::ImageRef;

/// Docker Hub's key in config files (`https://index.docker.io/v1/` once normalised).
const DEFAULT_REGISTRY_HOST: &str = "index.docker.io";

/// The credentials a config file holds, indexed for lookup.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// Normalised key (`host[:port][/path]`) → credentials, most specific key first.
    entries: Vec<(String, Credential)>,
}

/// One registry's credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// A registry token (`registrytoken`), sent as a bearer token.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::Bearer(_) => write!(f, "Bearer(<redacted>)"),
        }
    }
}

impl Credential {
    pub(crate) fn to_registry_auth(&self) -> RegistryAuth {
        match self {
            Credential::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credential::Bearer(t) => RegistryAuth::Bearer(t.clone()),
        }
    }
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl Keyring {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => dirs::home_dir().map(|h| h.join(".docker").join("config.json")),
        }
    }

    /// Reads a config file; a missing file is an empty keyring.
    pub fn load(path: &Path) -> Result<Keyring> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keyring::default()),
            Err(e) => return Err(Error::at(path, "reading", e)),
        };
        Keyring::parse(&text).map_err(|message| Error::Credentials {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses a config file's text.
    pub fn parse(text: &[u8]) -> Result<Keyring, String> {
        let file: ConfigFile = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for (key, entry) in file.auths {
            let Some(cred) = credential(&key, &entry)? else {
                continue;
            };
            entries.push((normalise_key(&key), cred));
        }
        // Reverse lexical order puts `host/team` before `host`, as kubelet sorts its index.
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        Ok(Keyring { entries })
    }

    /// The credentials to try for an image, best first; empty means anonymous.
    pub fn lookup(&self, image: &ImageRef) -> Vec<Credential> {
        let target = image.name();
        let found: Vec<Credential> = self
            .entries
            .iter()
            .filter(|(k, _)| key_matches(k, &target))
            .map(|(_, c)| c.clone())
            .collect();
        if !found.is_empty() {
            return found;
        }
        if image.registry() == "docker.io" {
            return self
                .entries
                .iter()
                .filter(|(k, _)| k == DEFAULT_REGISTRY_HOST)
                .map(|(_, c)| c.clone())
                .collect();
        }
        Vec::new()
    }
}

fn credential(key: &str, e: &AuthEntry) -> Result<Option<Credential>, String> {
    if let Some(t) = e.registrytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::Bearer(t.to_owned())));
    }
    if let Some(auth) = e.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|err| format!("auths[{key:?}].auth: {err}"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| format!("auths[{key:?}].auth: not UTF-8"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("auths[{key:?}].auth: not username:password"))?;
        return Ok(Some(Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credential::Basic {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

/// `https://host:port/v1/` → `host:port`; `host/team` stays.
fn normalise_key(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path
        .strip_prefix("/v1")
        .or_else(|| path.strip_prefix("/v2"))
        .filter(|p| p.is_empty() || p.starts_with('/'))
        .unwrap_or(path);
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        host.to_owned()
    } else {
        format!("{host}{path}")
    }
}

/// kubelet's `URLsMatch`: same number of host labels, each matching as a glob, same port,
/// and the key's path a prefix of the image's.
fn key_matches(key: &str, target: &str) -> bool {
    let split = |s: &str| -> (String, String) {
        match s.find('/') {
            Some(i) => (s[..i].to_owned(), s[i..].to_owned()),
            None => (s.to_owned(), String::new()),
        }
    };
    let (khost, kpath) = split(key);
    let (thost, tpath) = split(target);
    let port = |h: &str| -> (String, String) {
        match h.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.to_owned()),
            None => (h.to_owned(), String::new()),
        }
    };
    let (khost, kport) = port(&khost);
    let (thost, tport) = port(&thost);
    if kport != tport {
        return false;
    }
    let klabels: Vec<&str> = khost.split('.').collect();
    let tlabels: Vec<&str> = thost.split('.').collect();
    klabels.len() == tlabels.len()
        && klabels.iter().zip(&tlabels).all(|(k, t)| glob(k, t))
        && tpath.starts_with(&kpath)
}

/// `filepath.Match` for one host label: `*` any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn keyring(json: &str) -> Keyring {
        Keyring::parse(json.as_bytes()).unwrap()
    }

    fn lookup(k: &Keyring, image: &str) -> Vec<Credential> {
        k.lookup(&ImageRef::parse(image).unwrap())
    }

    #[test]
    fn reads_auth_and_username_password_and_tokens() {
        let k = keyring(&format!(
            r#"{{"auths": {{
                "a.example": {{"auth": "{}"}},
                "b.example": {{"username": "u", "password": "p:w"}},
                "c.example": {{"registrytoken": "tok"}},
                "d.example": {{"identitytoken": "refresh"}}
            }}, "credsStore": "desktop"}}"#,
            b64("alice:s3cr:et")
        ));
        assert_eq!(lookup(&k, "a.example/x"), vec![basic("alice", "s3cr:et")]);
        assert_eq!(lookup(&k, "b.example/x"), vec![basic("u", "p:w")]);
        assert_eq!(
            lookup(&k, "c.example/x"),
            vec![Credential::Bearer("tok".into())]
        );
        assert!(lookup(&k, "d.example/x").is_empty());
        assert!(lookup(&k, "e.example/x").is_empty());
    }

    #[test]
    fn matches_hosts_ports_paths_and_globs_like_kubelet() {
        let k = keyring(&format!(
            r#"{{"auths": {{
                "https://reg.example:5000/v2/": {{"auth": "{}"}},
                "reg.example:5000/team": {{"auth": "{}"}},
                "*.corp.example": {{"auth": "{}"}},
                "https://index.docker.io/v1/": {{"auth": "{}"}}
            }}}}"#,
            b64("host:1"),
            b64("team:2"),
            b64("glob:3"),
            b64("hub:4")
        ));
        assert_eq!(
            lookup(&k, "reg.example:5000/team/app:v1"),
            vec![basic("team", "2"), basic("host", "1")]
        );
        assert_eq!(
            lookup(&k, "reg.example:5000/other"),
            vec![basic("host", "1")]
        );
        assert!(lookup(&k, "reg.example/other").is_empty(), "port differs");
        assert_eq!(lookup(&k, "eu.corp.example/app"), vec![basic("glob", "3")]);
        assert!(lookup(&k, "a.eu.corp.example/app").is_empty());
        assert_eq!(lookup(&k, "busybox"), vec![basic("hub", "4")]);
        assert_eq!(lookup(&k, "docker.io/user/app"), vec![basic("hub", "4")]);
    }

    #[test]
    fn bad_files_are_errors_and_missing_files_are_empty() {
        assert!(Keyring::parse(b"{").is_err());
        assert!(Keyring::parse(br#"{"auths": {"x": {"auth": "%%%"}}}"#).is_err());
        let dir = tempfile::tempdir().unwrap();
        let k = Keyring::load(&dir.path().join("none.json")).unwrap();
        assert!(k.entries.is_empty());
        std::fs::write(dir.path().join("bad.json"), r#"{"auths": 5}"#).unwrap();
        let e = Keyring::load(&dir.path().join("bad.json")).unwrap_err();
        assert!(e.to_string().starts_with("registry credentials "), "{e}");
    }

    #[test]
    fn glob_matches_within_a_label() {
        assert!(glob("*", "anything"));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob("x*", "yx"));
    }
}
