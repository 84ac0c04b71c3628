//! The agent's log server and the API server's side of it (`kbatch_api::node_logs`): callers
//! without a certificate of the cluster CA for clientAuth are refused in the handshake; the
//! API server pins the certificate the Node publishes; the options reach the agent's reader
//! as given; a follow streams until the caller goes, and then the agent's reader is dropped;
//! the agent's refusals reach the client as the same Status.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kbatch_agent::LogServer;
use kbatch_agent::api::LocalApi;
use kbatch_agent::log_server::LOG_SERVER_CERT_ANNOTATION;
use kbatch_api::clock::SystemClock;
use kbatch_api::error::{ApiError, Result};
use kbatch_api::logs::{LogOptions, LogStream, NoLogs, PodLogs};
use kbatch_api::node_logs::{KubeletClient, NodeLogs, NodeLogsConfig};
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_core::object::{NODE, Object, POD};
use kbatch_store::MemoryStore;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

const AGENT_NODE: &str = "n1";

/// A CA that issues certificates for one usage.
struct Ca {
    pem: String,
    params: CertificateParams,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { pem, params, key }
    }

    /// A certificate (PEM) and its key (PEM).
    fn issue(&self, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver-kubelet-client");
        params.extended_key_usages = vec![usage];
        let issuer = Issuer::new(self.params.clone(), &self.key);
        (
            params.signed_by(&key, &issuer).unwrap().pem(),
            key.serialize_pem(),
        )
    }
}

/// What the agent's reader was asked, and whether the stream it gave is still alive.
#[derive(Debug, Default)]
struct Recording {
    asked: Mutex<Vec<(String, String, LogOptions)>>,
    live_streams: Arc<()>,
}

/// The agent's reader in these tests: "waiting" is waiting to start; other pods' logs are two
/// lines and, when followed, a third that never comes.
#[derive(Debug, Default)]
struct Recorder(Arc<Recording>);

#[async_trait]
impl PodLogs for Recorder {
    async fn logs(&self, pod: &Pod, container: &str, options: &LogOptions) -> Result<LogStream> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.0
            .asked
            .lock()
            .unwrap()
            .push((name.clone(), container.to_owned(), options.clone()));
        if name == "waiting" {
            return Err(ApiError::bad_request(format!(
                "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
            )));
        }
        let alive = self.0.live_streams.clone();
        let lines = futures::stream::iter([Ok(Bytes::from("one\ntwo\n"))]);
        if options.follow {
            let pending = futures::stream::pending().map(move |x: std::io::Result<Bytes>| {
                let _ = &alive;
                x
            });
            Ok(Box::pin(lines.chain(pending)))
        } else {
            Ok(Box::pin(lines))
        }
    }
}

struct Setup {
    registry: Registry,
    ca: Ca,
    addr: SocketAddr,
    fingerprint: String,
    recording: Arc<Recording>,
    _dir: tempfile::TempDir,
}

async fn pod(registry: &Registry, name: &str, node: &str) {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
    }))
    .unwrap();
    registry
        .create(
            &POD,
            "default",
            Object::Pod(pod),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
}

/// Node `n1` as its agent publishes it: the port and certificate of its log server.
async fn node(registry: &Registry, name: &str, port: u16, sha256: &str) {
    let node: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "annotations": {LOG_SERVER_CERT_ANNOTATION: sha256}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        },
    }))
    .unwrap();
    registry
        .create(
            &NODE,
            "",
            Object::Node(node),
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap();
}

/// A registry with pods on n1 and n2, and n1's agent serving logs on a loopback port.
async fn setup() -> Setup {
    let registry = Registry::new(Arc::new(MemoryStore::new()), Arc::new(SystemClock));
    registry.bootstrap().await.unwrap();
    for (name, node) in [
        ("p", AGENT_NODE),
        ("waiting", AGENT_NODE),
        ("elsewhere", "n2"),
    ] {
        pod(&registry, name, node).await;
    }
    let ca = Ca::new("cluster-ca");
    let dir = tempfile::tempdir().unwrap();
    let server = LogServer::bind(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        ca.pem.as_bytes(),
    )
    .await
    .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], server.port()).into();
    let fingerprint = server.fingerprint().to_owned();
    let recording = Arc::new(Recording::default());
    tokio::spawn(server.serve(
        Arc::new(LocalApi::new(registry.clone())),
        AGENT_NODE.to_owned(),
        Arc::new(Recorder(recording.clone())),
        Arc::new(SystemClock),
    ));
    Setup {
        registry,
        ca,
        addr,
        fingerprint,
        recording,
        _dir: dir,
    }
}

/// Accepts any server certificate (these tests are about the client's), still checking the
/// handshake signatures.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// GET `path` on the log server with `client` (a certificate and key) or none: the status and
/// body, or why the exchange failed.
async fn get(
    addr: SocketAddr,
    client: Option<(String, String)>,
    path: &str,
) -> std::result::Result<(u16, String), String> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyServer));
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let code = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn only_certificates_of_the_cluster_ca_for_client_auth_get_in() {
    let s = setup().await;
    let path = "/containerLogs/default/p/c";
    let good = s.ca.issue(ExtendedKeyUsagePurpose::ClientAuth);
    assert_eq!(
        get(s.addr, Some(good.clone()), path).await,
        Ok((200, "one\ntwo\n".to_owned()))
    );
    let refused = [
        ("no certificate", None),
        (
            "another CA's",
            Some(Ca::new("other-ca").issue(ExtendedKeyUsagePurpose::ClientAuth)),
        ),
        (
            "a serving certificate of the CA",
            Some(s.ca.issue(ExtendedKeyUsagePurpose::ServerAuth)),
        ),
    ];
    for (what, client) in refused {
        let answer = get(s.addr, client, path).await;
        assert!(answer.is_err(), "{what} was let in: {answer:?}");
    }
    // Only the good request reached the reader.
    assert_eq!(s.recording.asked.lock().unwrap().len(), 1);

    // Pods this node does not run, and containers a pod does not have, are not found.
    let (code, body) = get(
        s.addr,
        Some(good.clone()),
        "/containerLogs/default/elsewhere/c",
    )
    .await
    .unwrap();
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("does not exist on node \\\"n1\\\""), "{body}");
    let (code, body) = get(s.addr, Some(good), "/containerLogs/default/p/nope")
        .await
        .unwrap();
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("container \\\"nope\\\" not found"), "{body}");
}

fn proxy(s: &Setup, client: (String, String)) -> NodeLogs {
    NodeLogs::new(
        s.registry.clone(),
        NodeLogsConfig {
            node_name: Some("server-node".to_owned()),
            client: KubeletClient::from_pem(&client.0, &client.1).unwrap(),
        },
        Arc::new(NoLogs),
    )
}

async fn get_pod(registry: &Registry, name: &str) -> Pod {
    match registry.get(&POD, "default", name).await.unwrap() {
        Object::Pod(pod) => pod,
        _ => unreachable!(),
    }
}

async fn read_all(mut stream: LogStream) -> String {
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(text).unwrap()
}

#[tokio::test]
async fn the_api_server_reads_through_the_agent_with_the_pinned_certificate() {
    let s = setup().await;
    node(&s.registry, AGENT_NODE, s.addr.port(), &s.fingerprint).await;
    let logs = proxy(&s, s.ca.issue(ExtendedKeyUsagePurpose::ClientAuth));
    let p = get_pod(&s.registry, "p").await;

    // Every option reaches the agent's reader as it was given.
    let options = LogOptions {
        follow: false,
        tail_lines: Some(1),
        limit_bytes: Some(7),
        since: Some("2026-11-27T10:00:01.5Z".parse().unwrap()),
        timestamps: true,
        previous: true,
    };
    let body = read_all(logs.logs(&p, "c", &options).await.unwrap()).await;
    assert_eq!(body, "one\ntwo\n");
    assert_eq!(
        s.recording.asked.lock().unwrap().last().cloned(),
        Some(("p".to_owned(), "c".to_owned(), options))
    );

    // A follow streams what there is and waits; when the reader of the API side goes, the
    // agent's stream goes too.
    let follow = LogOptions {
        follow: true,
        ..Default::default()
    };
    let mut stream = logs.logs(&p, "c", &follow).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), "one\ntwo\n");
    assert_eq!(Arc::strong_count(&s.recording.live_streams), 2);
    drop(stream);
    wait_until("the agent drops the followed stream", || {
        Arc::strong_count(&s.recording.live_streams) == 1
    })
    .await;

    // The agent's refusal is the client's Status.
    let waiting = get_pod(&s.registry, "waiting").await;
    let e = refused(&logs, &waiting).await;
    assert_eq!(e.code(), 400);
    assert_eq!(e.reason(), "BadRequest");
    assert_eq!(
        e.0.message.as_deref(),
        Some("container \"c\" in pod \"waiting\" is waiting to start: ContainerCreating")
    );
}

#[tokio::test]
async fn a_certificate_other_than_the_published_one_is_refused() {
    let s = setup().await;
    node(&s.registry, AGENT_NODE, s.addr.port(), &"0".repeat(64)).await;
    let logs = proxy(&s, s.ca.issue(ExtendedKeyUsagePurpose::ClientAuth));
    let p = get_pod(&s.registry, "p").await;
    let e = refused(&logs, &p).await;
    assert_eq!(e.code(), 503);
    let message = e.0.message.clone().unwrap_or_default();
    assert!(message.contains(&s.fingerprint), "{message}");
    assert!(message.contains("node \"n1\""), "{message}");
    assert!(s.recording.asked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_agent_that_does_not_answer_is_named_with_its_address() {
    let s = setup().await;
    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    node(&s.registry, AGENT_NODE, closed, &s.fingerprint).await;
    let logs = proxy(&s, s.ca.issue(ExtendedKeyUsagePurpose::ClientAuth));
    let p = get_pod(&s.registry, "p").await;
    let e = refused(&logs, &p).await;
    assert_eq!(e.code(), 503);
    let message = e.0.message.clone().unwrap_or_default();
    assert!(message.contains("node \"n1\""), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{closed}")),
        "{message}"
    );

    // A node that is gone.
    let elsewhere = get_pod(&s.registry, "elsewhere").await;
    let e = refused(&logs, &elsewhere).await;
    assert_eq!(e.code(), 503);
    assert!(
        e.0.message.clone().unwrap_or_default().contains("\"n2\""),
        "{e}"
    );
}

/// The error reading `pod`'s log gives.
async fn refused(logs: &NodeLogs, pod: &Pod) -> ApiError {
    match logs.logs(pod, "c", &LogOptions::default()).await {
        Ok(_) => panic!("read the log of {:?}", pod.metadata.name),
        Err(e) => e,
    }
}

/// Polls `check` until it holds; fails after a generous while.
async fn wait_until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..6000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}
