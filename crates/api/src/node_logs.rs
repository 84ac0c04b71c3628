//! Container logs of pods on any node, as kube-apiserver reaches kubelet (`pod.LogLocation`
//! and the `LocationStreamer` of `pkg/registry/core/pod/rest/log.go`): a pod on this
//! server's own node is read from its files; any other pod's log comes from the agent that
//! runs it, over TLS, from `https://<InternalIP>:<daemonEndpoints.kubeletEndpoint.Port>/
//! containerLogs/<namespace>/<pod>/<container>`.
//!
//! Both sides authenticate without a name to check: this server presents its kubelet client
//! certificate (signed by the cluster CA, clientAuth), which the agent checks against the CA;
//! the agent's certificate is self-signed, and this server accepts exactly the one whose
//! SHA-256 the agent published on its Node ([`LOG_SERVER_CERT_ANNOTATION`]). Only the node
//! itself (NodeRestriction) or the admin may write its Node, so the pin is the node's word.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kbatch_core::object::{NODE, Object};
use kbatch_core::status;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

use crate::error::{ApiError, Result};
use crate::logs::{LogOptions, LogStream, PodLogs, rfc3339_nano};
use crate::pki::PkiError;
use crate::registry::Registry;

/// The Node annotation where an agent publishes the SHA-256 (lowercase hex, of the DER) of its
/// log server's certificate.
pub const LOG_SERVER_CERT_ANNOTATION: &str = "kbatch.dev/log-server-cert-sha256";

/// How long connecting to an agent and the TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an agent's error body read (the apiserver's `maxReadLength` is 50 KiB).
const MAX_ERROR_BODY: usize = 50 * 1024;

/// Characters escaped in a path segment or a query value: everything but unreserved ones.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The SHA-256 of a certificate's DER, lowercase hex: what [`LOG_SERVER_CERT_ANNOTATION`]
/// holds.
pub fn cert_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The certificate and key this server shows agents (kube-apiserver's
/// `--kubelet-client-certificate` and `--kubelet-client-key`).
pub struct KubeletClient {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for KubeletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClient").finish_non_exhaustive()
    }
}

impl Clone for KubeletClient {
    fn clone(&self) -> Self {
        KubeletClient {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl KubeletClient {
    /// From PEM: the certificate (its chain after it) and its private key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> std::result::Result<Self, PkiError> {
        let pem = |message: String| PkiError::Pem {
            path: "kubelet client certificate".into(),
            message,
        };
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| pem(e.to_string()))?;
        if chain.is_empty() {
            return Err(pem("no certificate".to_owned()));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| pem(e.to_string()))?;
        Ok(KubeletClient { chain, key })
    }
}

/// What [`NodeLogs`] is made of beside the registry (`ApiConfig::node_logs`).
#[derive(Debug, Clone)]
pub struct NodeLogsConfig {
    /// This server's own node, whose logs the local reader has; `None` without one.
    pub node_name: Option<String>,
    pub client: KubeletClient,
}

/// The logs of every pod: this server's node's from `local`, the others' through their agents.
#[derive(Debug)]
pub struct NodeLogs {
    registry: Registry,
    /// This server's own node, whose logs `local` reads; `None` without one.
    node_name: Option<String>,
    local: Arc<dyn PodLogs>,
    client: KubeletClient,
    provider: Arc<CryptoProvider>,
}

impl NodeLogs {
    pub fn new(registry: Registry, config: NodeLogsConfig, local: Arc<dyn PodLogs>) -> NodeLogs {
        NodeLogs {
            registry,
            node_name: config.node_name,
            local,
            client: config.client,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// `GET /containerLogs/…` on the agent of `node_name`.
    async fn proxy(
        &self,
        node_name: &str,
        pod: &Pod,
        container: &str,
        options: &LogOptions,
    ) -> Result<LogStream> {
        let node = match self.registry.get(&NODE, "", node_name).await {
            Ok(Object::Node(node)) => node,
            Ok(_) => return Err(ApiError::internal("a node key holds another kind")),
            Err(e) if e.is_not_found() => {
                return Err(status::service_unavailable(format!(
                    "node {node_name:?} of pod {:?} is gone: its logs went with it",
                    pod.metadata.name.as_deref().unwrap_or("")
                ))
                .into());
            }
            Err(e) => return Err(e),
        };
        let endpoint = Endpoint::of(&node)?;
        let path = format!(
            "/containerLogs/{}/{}/{}?{}",
            encode(pod.metadata.namespace.as_deref().unwrap_or("")),
            encode(pod.metadata.name.as_deref().unwrap_or("")),
            encode(container),
            query(options)
        );
        let url = format!("https://{}{path}", endpoint.address);
        let unreachable = |why: String| -> ApiError {
            status::service_unavailable(format!(
                "reading the log from node {node_name:?}: Get {url:?}: {why}"
            ))
            .into()
        };
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                        sha256: endpoint.sha256.clone(),
                        provider: self.provider.clone(),
                    }))
                    .with_client_auth_cert(self.client.chain.clone(), self.client.key.clone_key())
            })
            .map_err(|e| ApiError::internal(format!("TLS set-up for node logs: {e}")))?;
        let connect = async {
            let tcp = TcpStream::connect(endpoint.address)
                .await
                .map_err(|e| unreachable(format!("dial tcp {}: {e}", endpoint.address)))?;
            let _ = tcp.set_nodelay(true);
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(ServerName::IpAddress(endpoint.address.ip().into()), tcp)
                .await
                .map_err(|e| unreachable(format!("TLS handshake: {e}")))
        };
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))??;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
        // The connection lives as long as the log stream: dropping the stream (the client
        // went away) aborts it, which closes the agent's connection and ends its reader.
        let connection = AbortOnDrop(tokio::spawn(connection));
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, endpoint.address.to_string())
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| ApiError::internal(format!("building the log request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let code = response.status();
        let body = response.into_body();
        if !code.is_success() {
            return Err(agent_error(code.as_u16(), body).await);
        }
        Ok(Box::pin(futures::stream::unfold(
            (body, connection),
            |(mut body, connection)| async move {
                loop {
                    match body.frame().await? {
                        Ok(frame) => {
                            if let Ok(data) = frame.into_data() {
                                return Some((Ok(data), (body, connection)));
                            }
                        }
                        Err(e) => return Some((Err(std::io::Error::other(e)), (body, connection))),
                    }
                }
            },
        )))
    }
}

#[async_trait]
impl PodLogs for NodeLogs {
    async fn logs(&self, pod: &Pod, container: &str, options: &LogOptions) -> Result<LogStream> {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        match node {
            Some(node) if Some(node) != self.node_name.as_deref() => {
                self.proxy(node, pod, container, options).await
            }
            // Not scheduled yet: the local reader answers that it is waiting to start.
            _ => self.local.logs(pod, container, options).await,
        }
    }
}

/// Where a node's agent serves logs, and the certificate it serves them with.
struct Endpoint {
    address: SocketAddr,
    sha256: String,
}

impl Endpoint {
    fn of(node: &Node) -> Result<Endpoint> {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let status = node.status.clone().unwrap_or_default();
        let no_endpoint = |what: &str| -> ApiError {
            status::service_unavailable(format!(
                "node {name:?} serves no logs: {what} (its agent has not published its log server yet, or predates it)"
            ))
            .into()
        };
        let ip: IpAddr = status
            .addresses
            .iter()
            .flatten()
            .find(|a| a.type_ == "InternalIP")
            .and_then(|a| a.address.parse().ok())
            .ok_or_else(|| no_endpoint("no InternalIP address in its status"))?;
        let port = status
            .daemon_endpoints
            .and_then(|d| d.kubelet_endpoint)
            .map(|e| e.port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| no_endpoint("no status.daemonEndpoints.kubeletEndpoint.Port"))?;
        let sha256 = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LOG_SERVER_CERT_ANNOTATION))
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                no_endpoint(&format!("no valid {LOG_SERVER_CERT_ANNOTATION} annotation"))
            })?;
        Ok(Endpoint {
            address: SocketAddr::new(ip, port),
            sha256,
        })
    }
}

/// kubelet's query for `PodLogOptions` (`pod.LogLocation`'s `params`).
fn query(options: &LogOptions) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if options.follow {
        pairs.push(("follow", "true".to_owned()));
    }
    if options.previous {
        pairs.push(("previous", "true".to_owned()));
    }
    if options.timestamps {
        pairs.push(("timestamps", "true".to_owned()));
    }
    if let Some(since) = options.since {
        pairs.push(("sinceTime", rfc3339_nano(since)));
    }
    if let Some(n) = options.tail_lines {
        pairs.push(("tailLines", n.to_string()));
    }
    if let Some(n) = options.limit_bytes {
        pairs.push(("limitBytes", n.to_string()));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// An agent's refusal as the client's Status: the agent's own Status when it sent one (its
/// code, reason and message pass through, as "container … is waiting to start" does from
/// kubelet), else the body as the message (`GenericHttpResponseChecker`).
async fn agent_error(code: u16, body: Incoming) -> ApiError {
    let mut bytes = Vec::new();
    let mut body = body;
    while bytes.len() < MAX_ERROR_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            _ => break,
        }
    }
    bytes.truncate(MAX_ERROR_BODY);
    if let Ok(status) = serde_json::from_slice::<Status>(&bytes)
        && status.code.is_some()
        && status.message.is_some()
    {
        return ApiError(Box::new(status));
    }
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    match code {
        400 => ApiError::bad_request(text),
        _ => ApiError::internal(format!("the node's agent answered {code}: {text}")),
    }
}

/// Accepts exactly the certificate with the pinned SHA-256, and checks that the agent holds
/// its key (the handshake signatures, through the provider's algorithms).
#[derive(Debug)]
struct PinnedCertificate {
    sha256: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The fingerprint is public (it is on the Node): no need for a constant-time compare.
        let seen = cert_fingerprint(end_entity);
        if seen == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the node's log server certificate has SHA-256 {seen}, not the {} its Node publishes",
                self.sha256
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(ip: Option<&str>, port: Option<i32>, sha: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("far".to_owned()),
                annotations: sha.map(|s| {
                    [(LOG_SERVER_CERT_ANNOTATION.to_owned(), s.to_owned())]
                        .into_iter()
                        .collect()
                }),
                ..Default::default()
            },
            status: Some(NodeStatus {
                addresses: ip.map(|ip| {
                    vec![
                        NodeAddress {
                            type_: "Hostname".to_owned(),
                            address: "far".to_owned(),
                        },
                        NodeAddress {
                            type_: "InternalIP".to_owned(),
                            address: ip.to_owned(),
                        },
                    ]
                }),
                daemon_endpoints: port.map(|port| NodeDaemonEndpoints {
                    kubelet_endpoint: Some(DaemonEndpoint { port }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_endpoint_is_the_internal_ip_the_kubelet_port_and_the_pinned_certificate() {
        let sha = "ab".repeat(32);
        let e = Endpoint::of(&node(Some("10.0.0.2"), Some(10250), Some(&sha))).unwrap();
        assert_eq!(e.address, "10.0.0.2:10250".parse().unwrap());
        assert_eq!(e.sha256, sha);
        for (broken, says) in [
            (node(None, Some(10250), Some(&sha)), "InternalIP"),
            (node(Some("10.0.0.2"), None, Some(&sha)), "daemonEndpoints"),
            (
                node(Some("10.0.0.2"), Some(0), Some(&sha)),
                "daemonEndpoints",
            ),
            (
                node(Some("10.0.0.2"), Some(10250), None),
                LOG_SERVER_CERT_ANNOTATION,
            ),
            (
                node(Some("10.0.0.2"), Some(10250), Some("abc")),
                LOG_SERVER_CERT_ANNOTATION,
            ),
        ] {
            let Err(e) = Endpoint::of(&broken) else {
                panic!("accepted a node without {says}");
            };
            assert_eq!(e.code(), 503);
            let message = e.0.message.clone().unwrap_or_default();
            assert!(message.contains(says), "{message}");
            assert!(message.contains("\"far\""), "{message}");
        }
    }

    #[test]
    fn the_query_carries_every_option() {
        assert_eq!(query(&LogOptions::default()), "");
        let options = LogOptions {
            follow: true,
            tail_lines: Some(0),
            limit_bytes: Some(10),
            since: Some("2026-11-27T10:00:01.5Z".parse().unwrap()),
            timestamps: true,
            previous: true,
        };
        assert_eq!(
            query(&options),
            "follow=true&previous=true&timestamps=true&sinceTime=2026-11-27T10%3A00%3A01.5Z&tailLines=0&limitBytes=10"
        );
    }
}
