//! Joining an agent on another machine to a server, the client side of
//! `kbatch_api::node_credentials`:
//!
//! - [`create_bootstrap_token`] (`kbatch token create`, on a server's machine): a bootstrap
//!   token Secret as kubeadm makes them, through the API with the server's admin kubeconfig,
//!   and the join command to print.
//! - [`join`] (`kbatch agent --token … --ca-cert-hash …`): the CA from `/kbatch/v1/cacerts`,
//!   accepted only if its hash is the one given (the first request cannot verify the server,
//!   the hash does), then the node's own credential for the bootstrap token, over TLS verified
//!   against that CA.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbatch_agent::api::Credentials;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What a kubeconfig's current context says: the server, the CA that signed its
/// certificate, and the user's credential.
#[derive(Debug)]
pub struct Kubeconfig {
    pub server: String,
    pub ca_pem: Vec<u8>,
    pub credentials: Credentials,
}

impl Kubeconfig {
    /// The current context of a kubeconfig: its cluster's server (unless `server` is given)
    /// and CA, its user's token or client certificate. Files a kubeconfig names are relative
    /// to it, as kubectl reads them.
    pub fn read(path: &Path, server: Option<&str>) -> anyhow::Result<Kubeconfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Value = serde_saphyr::from_str(&text)
            .with_context(|| format!("reading {} as YAML", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let context_name = config["current-context"]
            .as_str()
            .context("the kubeconfig has no current-context")?;
        let context = named(&config, "contexts", context_name, "context")?;
        let cluster_name = context["cluster"]
            .as_str()
            .context("the current context names no cluster")?;
        let user_name = context["user"]
            .as_str()
            .context("the current context names no user")?;
        let cluster = named(&config, "clusters", cluster_name, "cluster")?;
        let user = named(&config, "users", user_name, "user")?;
        let server = match server {
            Some(s) => s.to_owned(),
            None => cluster["server"]
                .as_str()
                .context("the kubeconfig's cluster has no server")?
                .to_owned(),
        };
        let ca_pem = data_or_file(cluster, "certificate-authority", base)?
            .context("the kubeconfig's cluster has no certificate-authority(-data)")?;
        let credentials = if let Some(token) = user["token"].as_str() {
            Credentials::Token(token.to_owned())
        } else if let Some(cert_pem) = data_or_file(user, "client-certificate", base)? {
            let key_pem = data_or_file(user, "client-key", base)?
                .context("the kubeconfig's user has a client certificate but no key")?;
            Credentials::ClientCertificate { cert_pem, key_pem }
        } else {
            bail!("the kubeconfig's user has neither a token nor a client certificate");
        };
        Ok(Kubeconfig {
            server,
            ca_pem,
            credentials,
        })
    }
}

/// The `field` of the entry named `name` in the kubeconfig's list `list`.
fn named<'a>(config: &'a Value, list: &str, name: &str, field: &str) -> anyhow::Result<&'a Value> {
    config[list]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["name"].as_str() == Some(name)))
        .map(|i| &i[field])
        .filter(|v| v.is_object())
        .with_context(|| format!("the kubeconfig has no {field} named {name:?}"))
}

/// `<key>-data` (base64) or the file `<key>` names.
fn data_or_file(section: &Value, key: &str, base: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(data) = section[format!("{key}-data")].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .with_context(|| format!("{key}-data is not base64"))?;
        return Ok(Some(bytes));
    }
    match section[key].as_str() {
        Some(file) => {
            let file = base.join(file);
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            Ok(Some(bytes))
        }
        None => Ok(None),
    }
}

/// `sha256:<hex>` of a PEM certificate's DER, as `kubeadm join --discovery-token-ca-cert-hash`.
pub fn ca_cert_hash(ca_pem: &str) -> anyhow::Result<String> {
    let der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("the CA is not a PEM certificate: {e}"))?;
    let digest = Sha256::digest(der.as_ref());
    Ok(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

fn client(ca_pem: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    let builder = match ca_pem {
        Some(pem) => builder
            .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes())
                .context("reading the CA certificate")?]),
        // Only for the CA itself, which the caller then checks against the hash it was given.
        None => builder.tls_danger_accept_invalid_certs(true),
    };
    builder.build().context("making the HTTPS client")
}

/// An answer's JSON body, or the Status message of a failure.
async fn answer(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let code = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !code.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        bail!("{what}: the server answered {code}: {message}");
    }
    Ok(body)
}

/// A new bootstrap token valid for `ttl`, stored through the API of the server `kubeconfig`
/// names; returns the token.
pub async fn create_bootstrap_token(
    kubeconfig: &Kubeconfig,
    ttl: Duration,
    description: &str,
) -> anyhow::Result<String> {
    let Credentials::Token(admin) = &kubeconfig.credentials else {
        bail!("the kubeconfig's user has no token: use the server's own kubeconfig");
    };
    let ca_pem = String::from_utf8_lossy(&kubeconfig.ca_pem).into_owned();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let random = |n: usize| -> String {
        (0..n)
            .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
            .collect()
    };
    let (id, secret) = (random(6), random(16));
    let expiration = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::try_from(ttl)?)?
        .round(jiff::Unit::Second)?;
    let b64 = |s: &str| STANDARD.encode(s);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {
            "token-id": b64(&id),
            "token-secret": b64(&secret),
            "expiration": b64(&expiration.to_string()),
            "usage-bootstrap-authentication": b64("true"),
            "auth-extra-groups": b64("system:bootstrappers:kbatch:default-node-token"),
            "description": b64(description),
        },
    });
    let url = format!(
        "{}/api/v1/namespaces/kube-system/secrets",
        kubeconfig.server.trim_end_matches('/')
    );
    let response = client(Some(&ca_pem))?
        .post(url)
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("reaching the server at {}", kubeconfig.server))?;
    answer(response, "storing the bootstrap token").await?;
    Ok(format!("{id}.{secret}"))
}

/// What joining gives an agent: the CA it trusts and its own credential.
#[derive(Debug, Clone)]
pub struct Joined {
    pub ca_pem: String,
    pub token: String,
}

/// Joins node `node_name` to the server at `server` with a bootstrap token, trusting only the
/// CA whose hash is `expected_hash`.
pub async fn join(
    server: &str,
    bootstrap_token: &str,
    expected_hash: &str,
    node_name: &str,
) -> anyhow::Result<Joined> {
    let server = server.trim_end_matches('/');
    let wanted = expected_hash.trim().to_ascii_lowercase();
    if !wanted.starts_with("sha256:") {
        bail!("--ca-cert-hash must be sha256:<hex>, as `kbatch token create` prints it");
    }
    let ca_pem = client(None)?
        .get(format!("{server}/kbatch/v1/cacerts"))
        .send()
        .await
        .with_context(|| format!("reaching the server at {server}"))?
        .error_for_status()
        .context("reading the server's CA")?
        .text()
        .await
        .context("reading the server's CA")?;
    let got = ca_cert_hash(&ca_pem)?;
    if got != wanted {
        bail!(
            "the server's CA has hash {got}, not {wanted}: this is not the server the token is for (or the hash is wrong)"
        );
    }
    let response = client(Some(&ca_pem))?
        .post(format!("{server}/kbatch/v1/node-credentials"))
        .bearer_auth(bootstrap_token)
        .json(&json!({"nodeName": node_name}))
        .send()
        .await
        .with_context(|| format!("reaching the server at {server}"))?;
    let body = answer(response, "obtaining the node's credential").await?;
    let token = body["token"]
        .as_str()
        .context("the server's answer holds no token")?
        .to_owned();
    Ok(Joined { ca_pem, token })
}

/// A kubeconfig for `server` with `ca_pem` and `token`, as the server writes its own.
pub fn kubeconfig_text(server: &str, ca_pem: &str, token: &str, user: &str) -> String {
    let ca = STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kbatch
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: kbatch
  context:
    cluster: kbatch
    user: {user}
current-context: kbatch
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubeconfig_gives_server_ca_and_credential() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "CA PEM").unwrap();
        let path = dir.path().join("config");
        let token_config = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.crt
users:
- name: u
  user:
    token: abc
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
";
        std::fs::write(&path, token_config).unwrap();
        let join = Kubeconfig::read(&path, None).unwrap();
        assert_eq!(join.server, "https://10.0.0.1:6443");
        assert_eq!(join.ca_pem, b"CA PEM");
        assert!(matches!(join.credentials, Credentials::Token(ref t) if t == "abc"));
        let join = Kubeconfig::read(&path, Some("https://10.0.0.2:1")).unwrap();
        assert_eq!(join.server, "https://10.0.0.2:1");

        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cert_config = format!(
            "clusters:
- name: c
  cluster:
    server: https://h:1
    certificate-authority-data: {}
users:
- name: u
  user:
    client-certificate-data: {}
    client-key-data: {}
contexts:
- name: x
  context: {{cluster: c, user: u}}
current-context: x
",
            b64("CA"),
            b64("CERT"),
            b64("KEY")
        );
        std::fs::write(&path, cert_config).unwrap();
        let join = Kubeconfig::read(&path, None).unwrap();
        match join.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                assert_eq!(cert_pem, b"CERT");
                assert_eq!(key_pem, b"KEY");
            }
            other => panic!("unexpected {other:?}"),
        }
        std::fs::write(&path, "current-context: nowhere\n").unwrap();
        assert!(Kubeconfig::read(&path, None).is_err());
    }
}
