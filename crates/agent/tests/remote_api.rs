//! The remote API's TLS: the server is checked against the CA given, and the node's
//! credential is presented either as a bearer token or as a client certificate in the
//! handshake. The server here is a rustls listener that requires (or does not require) a
//! client certificate from the cluster's CA and answers a Node for `GET /api/v1/nodes/{name}`,
//! recording what each request presented; kbatch's own server is the other end in
//! crates/kbatch/tests/remote_agent.rs (token only: client certificates are not verified by
//! it yet).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kbatch_agent::api::{Credentials, NodeApi, RemoteApi};
use kbatch_api::clock::SystemClock;
use kbatch_core::object::{NODE, Object, POD};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

struct Pki {
    ca_pem: String,
    ca_params: CertificateParams,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test-ca");
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        Pki {
            ca_pem,
            ca_params,
            ca_key,
        }
    }

    /// A certificate (PEM) and its key (PEM) signed by the CA.
    fn issue(&self, san: &str, cn: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![san.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let issuer = Issuer::new(self.ca_params.clone(), &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// What the server saw of one request: the Authorization header and whether a client
/// certificate was presented.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    authorization: Option<String>,
    client_certificate: bool,
}

/// Serves HTTPS on a loopback port with the CA's certificate for 127.0.0.1; with
/// `require_client_cert`, only clients with a certificate from the CA get through.
async fn serve(pki: &Pki, require_client_cert: bool) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (cert_pem, key_pem) = pki.issue("127.0.0.1", "server", ExtendedKeyUsagePurpose::ServerAuth);
    let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(chain, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let client_certificate = tls.get_ref().1.peer_certificates().is_some();
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        log.lock().unwrap().push(Seen {
                            authorization: req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                            client_certificate,
                        });
                        let name = req.uri().path().rsplit('/').next().unwrap_or("");
                        let body = if req.uri().path().starts_with("/api/v1/nodes/") {
                            format!(
                                r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}","resourceVersion":"5"}}}}"#
                            )
                        } else {
                            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":404,"reason":"NotFound","message":"not here"}"#.to_owned()
                        };
                        let code = if body.contains("\"Node\"") { 200 } else { 404 };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(code)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn client(addr: SocketAddr, ca_pem: &str, credentials: Credentials) -> RemoteApi {
    RemoteApi::new(
        &format!("https://{addr}"),
        ca_pem.as_bytes(),
        credentials,
        Arc::new(SystemClock),
    )
    .unwrap()
}

#[tokio::test]
async fn a_bearer_token_goes_in_the_authorization_header() {
    let pki = Pki::new();
    let (addr, seen) = serve(&pki, false).await;
    let api = client(addr, &pki.ca_pem, Credentials::Token("t0ken".to_owned()));
    let node = api.get(&NODE, "", "n1").await.unwrap();
    assert!(matches!(node, Object::Node(_)));
    assert_eq!(node.name(), "n1");
    // An error answer keeps its Status.
    let missing = api.get(&POD, "default", "p").await;
    assert!(missing.is_err_and(|e| e.is_not_found()));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for s in seen {
        assert_eq!(s.authorization.as_deref(), Some("Bearer t0ken"));
        assert!(!s.client_certificate);
    }
}

#[tokio::test]
async fn a_client_certificate_is_presented_in_the_handshake() {
    let pki = Pki::new();
    let (addr, seen) = serve(&pki, true).await;
    let (cert_pem, key_pem) = pki.issue(
        "node-1",
        "system:node:node-1",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let api = client(
        addr,
        &pki.ca_pem,
        Credentials::ClientCertificate {
            cert_pem: cert_pem.into_bytes(),
            key_pem: key_pem.into_bytes(),
        },
    );
    let node = api.get(&NODE, "", "n1").await.unwrap();
    assert_eq!(node.name(), "n1");
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![Seen {
            authorization: None,
            client_certificate: true,
        }]
    );

    // Without a certificate the server refuses the handshake: the call fails as the server
    // being unavailable, never as a missing object.
    let anonymous = client(addr, &pki.ca_pem, Credentials::Token("t".to_owned()));
    let refused = anonymous.get(&NODE, "", "n1").await.unwrap_err();
    assert_eq!(refused.code(), 503, "{refused}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_server_signed_by_another_ca_is_refused() {
    let pki = Pki::new();
    let (addr, seen) = serve(&pki, false).await;
    let other = Pki::new();
    let api = client(addr, &other.ca_pem, Credentials::Token("t".to_owned()));
    let refused = api.get(&NODE, "", "n1").await.unwrap_err();
    assert_eq!(refused.code(), 503, "{refused}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn bad_set_ups_are_refused() {
    let pki = Pki::new();
    let clock = Arc::new(SystemClock);
    let token = || Credentials::Token("t".to_owned());
    assert!(
        RemoteApi::new(
            "http://127.0.0.1:1",
            pki.ca_pem.as_bytes(),
            token(),
            clock.clone()
        )
        .is_err()
    );
    assert!(RemoteApi::new("https://127.0.0.1:1", b"not a pem", token(), clock.clone()).is_err());
    let no_key = Credentials::ClientCertificate {
        cert_pem: pki.ca_pem.clone().into_bytes(),
        key_pem: Vec::new(),
    };
    assert!(RemoteApi::new("https://127.0.0.1:1", pki.ca_pem.as_bytes(), no_key, clock).is_err());
}

/// Of several servers, a request goes to the first that can be reached, and later ones go
/// straight to it.
#[tokio::test]
async fn a_server_that_cannot_be_reached_is_passed_over_for_the_next() {
    let pki = Pki::new();
    let (addr, seen) = serve(&pki, false).await;
    // A port nothing listens on: bound, then closed.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let api = RemoteApi::with_servers(
        &[&format!("https://{gone}"), &format!("https://{addr}")],
        pki.ca_pem.as_bytes(),
        Credentials::Token("t".to_owned()),
        Arc::new(SystemClock),
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(api.get(&NODE, "", "n1").await.unwrap().name(), "n1");
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert!(format!("{api:?}").contains(&addr.to_string()), "{api:?}");

    // With no server left, the call fails as unavailable.
    let none = RemoteApi::with_servers(
        &[&format!("https://{gone}")],
        pki.ca_pem.as_bytes(),
        Credentials::Token("t".to_owned()),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert_eq!(none.get(&NODE, "", "n1").await.unwrap_err().code(), 503);
}
