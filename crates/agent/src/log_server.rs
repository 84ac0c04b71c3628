//! The agent's log server: kubelet's `GET /containerLogs/{namespace}/{pod}/{container}`
//! (`follow`, `tailLines`, `limitBytes`, `sinceTime`, `sinceSeconds`, `timestamps`,
//! `previous`) over TLS, for the API server to read the logs of the pods this node runs
//! (`kbatch_api::node_logs`).
//!
//! Authentication is kubelet's `--client-ca-file`: a caller must present a certificate that
//! chains to the cluster CA with the clientAuth usage; without one the handshake fails. API
//! servers make such a certificate from the CA (`pki/kubelet-client.crt`); nodes hold bearer
//! tokens, never one, so a node cannot read another node's logs.
//!
//! The serving certificate is self-signed and kept in the agent's data dir; its SHA-256 is
//! published on the Node ([`LOG_SERVER_CERT_ANNOTATION`]) with the port
//! (`status.daemonEndpoints.kubeletEndpoint.Port`), and the API server accepts exactly that
//! certificate.
//!
//! Errors are meta/v1 Status bodies, which the API server hands on to its client as they are.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kbatch_api::clock::Clock;
use kbatch_api::error::ApiError;
use kbatch_api::logs::{LogOptions, PodLogs};
pub use kbatch_api::node_logs::LOG_SERVER_CERT_ANNOTATION;
use kbatch_api::node_logs::cert_fingerprint;
use kbatch_core::object::{Object, POD};
use percent_encoding::percent_decode_str;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::api::NodeApi;

/// kubelet's port (`--port`), the default of `kbatch agent --log-port`.
pub const KUBELET_PORT: u16 = 10250;

/// The serving certificate and its key, in the agent's data dir.
const CERT_FILE: &str = "log-server.crt";
const KEY_FILE: &str = "log-server.key";

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the log server could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogServerError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listening on {addr} for log requests: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the log server's certificate: {0}")]
    Certificate(String),
    #[error("the cluster CA that callers' certificates must chain to: {0}")]
    ClientCa(String),
    #[error("TLS set-up of the log server: {0}")]
    Tls(#[from] rustls::Error),
}

/// A bound log server, not yet serving: [`crate::Agent::with_log_server`] publishes its port and
/// certificate on the Node and serves it while the agent runs.
pub struct LogServer {
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    port: u16,
    fingerprint: String,
}

impl std::fmt::Debug for LogServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogServer")
            .field("port", &self.port)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl LogServer {
    /// Binds `listen` (port 0: any free port) with the serving certificate kept in
    /// `data_dir` (made on first use), accepting callers whose certificates chain to the CA
    /// certificates in `client_ca_pem`.
    pub async fn bind(
        data_dir: &Path,
        listen: SocketAddr,
        client_ca_pem: &[u8],
    ) -> Result<LogServer, LogServerError> {
        let (cert_pem, key_pem) = serving_certificate(data_dir, listen)?;
        let bad_cert = |e: &dyn std::fmt::Display| LogServerError::Certificate(e.to_string());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| bad_cert(&e))?;
        let leaf = chain
            .first()
            .ok_or_else(|| bad_cert(&"no certificate in the PEM"))?;
        let fingerprint = cert_fingerprint(leaf);
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad_cert(&e))?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(client_ca_pem) {
            let ca = ca.map_err(|e| LogServerError::ClientCa(e.to_string()))?;
            roots
                .add(ca)
                .map_err(|e| LogServerError::ClientCa(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(LogServerError::ClientCa(
                "no certificate in the PEM".to_owned(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Requires a certificate (no anonymous callers) chaining to the CA, valid for
        // clientAuth: webpki's verification for client certificates.
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| LogServerError::ClientCa(e.to_string()))?;
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| LogServerError::Bind {
                addr: listen,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| LogServerError::Bind {
                addr: listen,
                source,
            })?
            .port();
        Ok(LogServer {
            listener,
            tls: Arc::new(tls),
            port,
            fingerprint,
        })
    }

    /// The port it listens on (the one picked, when asked for 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The SHA-256 (lowercase hex) of its certificate's DER.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Answers log requests for the pods bound to `node_name` (read through `api`) with
    /// what `logs` gives, until the future is dropped, which ends every connection.
    pub async fn serve(
        self,
        api: Arc<dyn NodeApi>,
        node_name: String,
        logs: Arc<dyn PodLogs>,
        clock: Arc<dyn Clock>,
    ) {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls);
        let handler = Arc::new(Handler {
            api,
            node_name,
            logs,
            clock,
        });
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                Some(_) = connections.join_next() => continue,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a log connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            connections.spawn(async move {
                let tls =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "refused a log connection");
                            return;
                        }
                        Err(_) => return,
                    };
                let service = hyper::service::service_fn(move |request| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler.handle(request).await) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "log connection ended with an error");
                }
            });
        }
    }
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

struct Handler {
    api: Arc<dyn NodeApi>,
    node_name: String,
    logs: Arc<dyn PodLogs>,
    clock: Arc<dyn Clock>,
}

impl Handler {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        match self.container_logs(&request).await {
            Ok(response) => response,
            Err(e) => status_response(&e.0),
        }
    }

    /// kubelet's `getContainerLogs`.
    async fn container_logs(
        &self,
        request: &Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        let path = request.uri().path();
        let segments: Vec<String> = path
            .strip_prefix("/containerLogs/")
            .map(|rest| {
                rest.split('/')
                    .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let [namespace, pod_name, container] = segments.as_slice() else {
            return Err(failure(404, "NotFound", format!("no such path: {path}")));
        };
        if request.method() != Method::GET {
            return Err(failure(
                405,
                "MethodNotAllowed",
                format!("{} is not supported on container logs", request.method()),
            ));
        }
        let options = options(request.uri().query().unwrap_or(""), self.clock.now())?;
        let pod = self.pod(namespace, pod_name).await?;
        if !has_container(&pod, container) {
            return Err(failure(
                404,
                "NotFound",
                format!("container {container:?} not found in pod {pod_name:?}"),
            ));
        }
        let stream = self.logs.logs(&pod, container, &options).await?;
        let body = StreamBody::new(stream.map(|chunk| chunk.map(Frame::data)));
        Ok(Response::builder()
            .header(CONTENT_TYPE, "text/plain")
            .body(BodyExt::boxed_unsync(body))
            .unwrap_or_else(|_| Response::new(empty())))
    }

    /// The pod, if this node runs it (kubelet's `GetPodByName` over the pods bound to it).
    async fn pod(&self, namespace: &str, name: &str) -> Result<Pod, ApiError> {
        let not_here = || {
            failure(
                404,
                "NotFound",
                format!(
                    "pod \"{namespace}/{name}\" does not exist on node {:?}",
                    self.node_name
                ),
            )
        };
        match self.api.get(&POD, namespace, name).await {
            Ok(Object::Pod(pod)) => {
                let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
                if node == Some(self.node_name.as_str()) {
                    Ok(pod)
                } else {
                    Err(not_here())
                }
            }
            Ok(_) => Err(not_here()),
            Err(e) if e.is_not_found() => Err(not_here()),
            Err(e) => Err(e),
        }
    }
}

fn has_container(pod: &Pod, name: &str) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.containers.iter().any(|c| c.name == name)
        || spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == name)
        || spec
            .ephemeral_containers
            .iter()
            .flatten()
            .any(|c| c.name == name)
}

/// The query as `PodLogOptions` (kubelet decodes it with the API's parameter codec).
fn options(query: &str, now: jiff::Timestamp) -> Result<LogOptions, ApiError> {
    let mut options = LogOptions::default();
    let mut since_seconds = None;
    for (key, value) in query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
    {
        let value = percent_decode_str(value).decode_utf8_lossy();
        let invalid = || {
            failure(
                400,
                "BadRequest",
                format!("unable to decode query parameter {key}={value:?}"),
            )
        };
        let number = || value.parse::<i64>().map_err(|_| invalid());
        let flag = || match value.as_ref() {
            "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(invalid()),
        };
        match key {
            "follow" => options.follow = flag()?,
            "previous" => options.previous = flag()?,
            "timestamps" => options.timestamps = flag()?,
            "tailLines" => options.tail_lines = Some(number()?),
            "limitBytes" => options.limit_bytes = Some(number()?),
            "sinceSeconds" => since_seconds = Some(number()?),
            "sinceTime" => {
                options.since = Some(value.parse::<jiff::Timestamp>().map_err(|_| invalid())?)
            }
            _ => {}
        }
    }
    if options.since.is_none()
        && let Some(seconds) = since_seconds
    {
        options.since = now
            .checked_sub(jiff::SignedDuration::from_secs(seconds))
            .ok();
    }
    Ok(options)
}

fn failure(code: u16, reason: &str, message: String) -> ApiError {
    ApiError(Box::new(Status {
        status: Some("Failure".to_owned()),
        code: Some(i32::from(code)),
        reason: Some(reason.to_owned()),
        message: Some(message),
        ..Default::default()
    }))
}

fn status_response(status: &Status) -> Response<Body> {
    let code = status
        .code
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| hyper::StatusCode::from_u16(c).ok())
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(status).unwrap_or_default();
    Response::builder()
        .status(code)
        .header(CONTENT_TYPE, "application/json")
        .body(BodyExt::boxed_unsync(
            Full::new(Bytes::from(body)).map_err(|never| match never {}),
        ))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn empty() -> Body {
    BodyExt::boxed_unsync(Full::new(Bytes::new()).map_err(|never| match never {}))
}

/// The certificate and key in `data_dir`, or a new self-signed pair for the address.
fn serving_certificate(
    data_dir: &Path,
    listen: SocketAddr,
) -> Result<(String, String), LogServerError> {
    let cert_path = data_dir.join(CERT_FILE);
    let key_path = data_dir.join(KEY_FILE);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| LogServerError::Io { path, source }
    };
    match (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        (Ok(cert), Ok(key)) => return Ok((cert, key)),
        (Err(e), _) | (_, Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(LogServerError::Io {
                path: cert_path,
                source: e,
            });
        }
        _ => {}
    }
    let key = KeyPair::generate().map_err(|e| LogServerError::Certificate(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kbatch-agent-log-server");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::IpAddress(listen.ip())];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    let cert = params
        .self_signed(&key)
        .map_err(|e| LogServerError::Certificate(e.to_string()))?;
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    write_private(&key_path, &key.serialize_pem()).map_err(io(&key_path))?;
    std::fs::write(&cert_path, cert.pem()).map_err(io(&cert_path))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a key readable by its owner only, through a temporary name.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_read_as_pod_log_options() {
        let now: jiff::Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        let o = options(
            "follow=true&tailLines=3&limitBytes=100&sinceTime=2026-11-27T09%3A00%3A00.5Z&timestamps=1&previous=false&other=x",
            now,
        )
        .unwrap();
        assert_eq!(
            o,
            LogOptions {
                follow: true,
                tail_lines: Some(3),
                limit_bytes: Some(100),
                since: Some("2026-11-27T09:00:00.5Z".parse().unwrap()),
                timestamps: true,
                previous: false,
            }
        );
        let o = options("sinceSeconds=60", now).unwrap();
        assert_eq!(o.since, Some("2026-11-27T09:59:00Z".parse().unwrap()));
        for bad in ["tailLines=x", "follow=maybe", "sinceTime=yesterday"] {
            let e = options(bad, now).unwrap_err();
            assert_eq!(e.code(), 400, "{bad}");
        }
    }

    #[test]
    fn the_serving_certificate_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.2:0".parse().unwrap();
        let first = serving_certificate(dir.path(), listen).unwrap();
        assert_eq!(serving_certificate(dir.path(), listen).unwrap(), first);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
