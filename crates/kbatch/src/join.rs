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
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What a server's kubeconfig (its `data-dir/kubeconfig`) says.
#[derive(Debug, Clone)]
pub struct Kubeconfig {
    pub server: String,
    pub ca_pem: String,
    pub token: String,
}

impl Kubeconfig {
    /// Reads the current context's cluster and user from a kubeconfig with a CA and a token.
    pub fn read(path: &Path) -> anyhow::Result<Kubeconfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: Value = serde_saphyr::from_str(&text)
            .with_context(|| format!("{}: not a kubeconfig", path.display()))?;
        let current = doc["current-context"].as_str().unwrap_or_default();
        let named = |list: &str, name: &str| -> Value {
            doc[list]
                .as_array()
                .and_then(|items| items.iter().find(|i| i["name"] == name).cloned())
                .unwrap_or(Value::Null)
        };
        let context = &named("contexts", current)["context"];
        let cluster =
            &named("clusters", context["cluster"].as_str().unwrap_or_default())["cluster"];
        let user = &named("users", context["user"].as_str().unwrap_or_default())["user"];
        let field = |v: &Value, what: &str| -> anyhow::Result<String> {
            v.as_str()
                .map(str::to_owned)
                .with_context(|| format!("{}: the current context has no {what}", path.display()))
        };
        let ca = field(
            &cluster["certificate-authority-data"],
            "certificate-authority-data",
        )?;
        let ca_pem = String::from_utf8(STANDARD.decode(ca.trim())?)
            .context("certificate-authority-data is not PEM")?;
        Ok(Kubeconfig {
            server: field(&cluster["server"], "server")?,
            ca_pem,
            token: field(&user["token"], "user token")?,
        })
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
    let response = client(Some(&kubeconfig.ca_pem))?
        .post(url)
        .bearer_auth(&kubeconfig.token)
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
