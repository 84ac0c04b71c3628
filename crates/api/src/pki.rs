//! The server's credentials, made on first start and kept in the data dir: a CA, a serving
//! certificate signed by it, the client certificate it shows node agents when it reads their
//! logs, the admin bearer token, the key that signs service account tokens, and a kubeconfig
//! that kubectl uses as is.
//!
//! kubectl sends credentials only over HTTPS (client-go applies user auth to `https` servers
//! only), so TLS is not optional for a server that wants a token.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

use crate::encryption;

/// Why the credentials could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("making certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{path}: not a valid PEM file: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the Secret encryption keys: {0}")]
    Keys(String),
}

/// What a server needs to serve HTTPS and check tokens.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// The admin bearer token.
    pub token: String,
    /// The P-256 key (PKCS#8 PEM) service account tokens are signed with.
    pub service_account_key_pem: String,
    pub kubeconfig: PathBuf,
    /// The client certificate (PEM) this server presents to node agents' log servers,
    /// signed by the CA (kube-apiserver's `--kubelet-client-certificate`).
    pub kubelet_client_cert_pem: String,
    /// Its private key (PEM).
    pub kubelet_client_key_pem: String,
}

const CA_CERT: &str = "pki/ca.crt";
const CA_KEY: &str = "pki/ca.key";
const SERVER_CERT: &str = "pki/server.crt";
const SERVER_KEY: &str = "pki/server.key";
const SERVER_SANS: &str = "pki/server.sans";
const TOKEN: &str = "pki/admin.token";
const SERVICE_ACCOUNT_KEY: &str = "pki/service-account.key";
const KUBELET_CLIENT_CERT: &str = "pki/kubelet-client.crt";
const KUBELET_CLIENT_KEY: &str = "pki/kubelet-client.key";
/// The common name of the kubelet client certificate, kubeadm's for kube-apiserver's.
pub const KUBELET_CLIENT_NAME: &str = "kube-apiserver-kubelet-client";

/// The service account signing key of `data_dir`, made when there is none yet.
fn service_account_key(data_dir: &Path) -> Result<String, PkiError> {
    if let Some(key) = read(data_dir, SERVICE_ACCOUNT_KEY)?
        && !key.trim().is_empty()
    {
        return Ok(key);
    }
    let key = KeyPair::generate()?.serialize_pem();
    write_private(data_dir, SERVICE_ACCOUNT_KEY, &key)?;
    Ok(key)
}

impl Credentials {
    /// Loads the credentials under `data_dir`, making what is missing: the CA and token once,
    /// the serving certificate again whenever the names it must cover change (another listen
    /// address). Writes `data_dir/kubeconfig` pointing at `listen` every time.
    pub fn load_or_create(data_dir: &Path, listen: SocketAddr) -> Result<Self, PkiError> {
        let pki = data_dir.join("pki");
        fs::create_dir_all(&pki).map_err(|source| PkiError::Io {
            path: pki.clone(),
            source,
        })?;
        let (ca_pem, ca_key) = match (read(data_dir, CA_CERT)?, read(data_dir, CA_KEY)?) {
            (Some(cert), Some(key)) => {
                let key_pair = KeyPair::from_pem(&key).map_err(|e| PkiError::Pem {
                    path: data_dir.join(CA_KEY),
                    message: e.to_string(),
                })?;
                (cert, key_pair)
            }
            _ => {
                let key = KeyPair::generate()?;
                let cert = ca_params().self_signed(&key)?;
                write_private(data_dir, CA_KEY, &key.serialize_pem())?;
                write_public(data_dir, CA_CERT, &cert.pem())?;
                // A new CA invalidates any certificate signed by an old one.
                let _ = fs::remove_file(data_dir.join(SERVER_CERT));
                let _ = fs::remove_file(data_dir.join(KUBELET_CLIENT_CERT));
                (cert.pem(), key)
            }
        };
        let sans = subject_alt_names(listen);
        let sans_text = sans.join("\n");
        let (cert_pem, key_pem) = match (
            read(data_dir, SERVER_CERT)?,
            read(data_dir, SERVER_KEY)?,
            read(data_dir, SERVER_SANS)?,
        ) {
            (Some(cert), Some(key), Some(stored)) if stored == sans_text => (cert, key),
            _ => {
                let key = KeyPair::generate()?;
                let issuer = Issuer::new(ca_params(), &ca_key);
                let cert = server_params(&sans)?.signed_by(&key, &issuer)?;
                write_private(data_dir, SERVER_KEY, &key.serialize_pem())?;
                write_public(data_dir, SERVER_CERT, &cert.pem())?;
                write_public(data_dir, SERVER_SANS, &sans_text)?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let (kubelet_client_cert_pem, kubelet_client_key_pem) = match (
            read(data_dir, KUBELET_CLIENT_CERT)?,
            read(data_dir, KUBELET_CLIENT_KEY)?,
        ) {
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                let key = KeyPair::generate()?;
                let issuer = Issuer::new(ca_params(), &ca_key);
                let cert = kubelet_client_params().signed_by(&key, &issuer)?;
                write_private(data_dir, KUBELET_CLIENT_KEY, &key.serialize_pem())?;
                write_public(data_dir, KUBELET_CLIENT_CERT, &cert.pem())?;
                (cert.pem(), key.serialize_pem())
            }
        };
        let token = match read(data_dir, TOKEN)? {
            Some(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => {
                let token = new_token();
                write_private(data_dir, TOKEN, &token)?;
                token
            }
        };
        let service_account_key_pem = service_account_key(data_dir)?;
        let kubeconfig = data_dir.join("kubeconfig");
        let text = kubeconfig_text(&server_url(listen), &ca_pem, &token);
        write_private_path(&kubeconfig, &text)?;
        Ok(Credentials {
            ca_pem,
            cert_pem,
            key_pem,
            token,
            service_account_key_pem,
            kubeconfig,
            kubelet_client_cert_pem,
            kubelet_client_key_pem,
        })
    }

    /// A rustls server configuration for the serving certificate (HTTP/1.1 only: kubectl does
    /// not need h2).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| PkiError::Pem {
                    path: PathBuf::from(SERVER_CERT),
                    message: e.to_string(),
                })?;
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| PkiError::Pem {
                path: PathBuf::from(SERVER_KEY),
                message: e.to_string(),
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// `sha256:<hex>` of the CA certificate's DER, as `kubeadm join --discovery-token-ca-cert-hash`
    /// prints it (agents on other machines pin the CA by it).
    pub fn ca_cert_hash(&self) -> String {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(self.ca_pem.as_bytes())
            .map(|d| d.to_vec())
            .unwrap_or_default();
        format!("sha256:{}", hex(&Sha256::digest(der)))
    }
}

/// What every server of one cluster shares: the CA (certificate and key), the admin token and
/// the service account signing key, so that each server's serving certificate is trusted by
/// one kubeconfig, one token works on all of them, and so does a pod's service account token.
/// Each server still makes its own serving certificate for its own address.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterCredentials {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub token: String,
    pub service_account_key_pem: String,
    /// The text of `secrets-encryption.keys`: every server must read the Secrets any of
    /// them wrote (and a node's credential is checked against its Secret).
    pub secrets_encryption_keys: String,
}

impl std::fmt::Debug for ClusterCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCredentials")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .finish_non_exhaustive()
    }
}

impl ClusterCredentials {
    /// A new CA, token and keys.
    pub fn generate() -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        Ok(ClusterCredentials {
            ca_cert_pem: cert.pem(),
            ca_key_pem: key.serialize_pem(),
            token: new_token(),
            service_account_key_pem: KeyPair::generate()?.serialize_pem(),
            secrets_encryption_keys: encryption::Keys::generate_text()
                .map_err(|e| PkiError::Keys(e.to_string()))?,
        })
    }

    /// The CA and token `data_dir` holds, if it holds both (with its service account key and
    /// Secret encryption keys, made now if a data dir from before there were such keys has
    /// none).
    pub fn load(data_dir: &Path) -> Result<Option<Self>, PkiError> {
        match (
            read(data_dir, CA_CERT)?,
            read(data_dir, CA_KEY)?,
            read(data_dir, TOKEN)?,
        ) {
            (Some(ca_cert_pem), Some(ca_key_pem), Some(token)) if !token.trim().is_empty() => {
                Ok(Some(ClusterCredentials {
                    ca_cert_pem,
                    ca_key_pem,
                    token: token.trim().to_owned(),
                    service_account_key_pem: service_account_key(data_dir)?,
                    secrets_encryption_keys: encryption::Keys::load_or_create_text(data_dir)
                        .map_err(|e| PkiError::Keys(e.to_string()))?,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Makes these the CA and token of `data_dir`, for [`Credentials::load_or_create`] to use;
    /// a serving certificate signed by another CA is dropped, to be made again.
    pub fn install(&self, data_dir: &Path) -> Result<(), PkiError> {
        KeyPair::from_pem(&self.ca_key_pem).map_err(|e| PkiError::Pem {
            path: data_dir.join(CA_KEY),
            message: e.to_string(),
        })?;
        if Self::load(data_dir)?.as_ref() == Some(self) {
            return Ok(());
        }
        let pki = data_dir.join("pki");
        fs::create_dir_all(&pki).map_err(|source| PkiError::Io { path: pki, source })?;
        write_private(data_dir, CA_KEY, &self.ca_key_pem)?;
        write_public(data_dir, CA_CERT, &self.ca_cert_pem)?;
        write_private(data_dir, TOKEN, &self.token)?;
        write_private(data_dir, SERVICE_ACCOUNT_KEY, &self.service_account_key_pem)?;
        write_private(
            data_dir,
            encryption::KEY_FILE,
            &self.secrets_encryption_keys,
        )?;
        for signed in [SERVER_CERT, KUBELET_CLIENT_CERT] {
            match fs::remove_file(data_dir.join(signed)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(PkiError::Io {
                        path: data_dir.join(signed),
                        source: e,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kbatch-ca");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    params
}

fn server_params(sans: &[String]) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kbatch-apiserver");
    params.distinguished_name = dn;
    params.subject_alt_names = sans
        .iter()
        .map(|s| match s.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => s.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    Ok(params)
}

/// kubeadm's `apiserver-kubelet-client`: clientAuth only, in `system:masters` (the admin's
/// group), which is what a node agent's log server asks of its callers.
fn kubelet_client_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, KUBELET_CLIENT_NAME);
    dn.push(DnType::OrganizationName, "system:masters");
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    params
}

/// 127.0.0.1, ::1, localhost, the host name, and the listen address when it names one.
fn subject_alt_names(listen: SocketAddr) -> Vec<String> {
    let mut sans = vec![
        Ipv4Addr::LOCALHOST.to_string(),
        Ipv6Addr::LOCALHOST.to_string(),
        "localhost".to_owned(),
    ];
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    if !host.is_empty() && host.parse::<IpAddr>().is_err() && rcgen_dns_ok(&host) {
        sans.push(host);
    }
    let ip = listen.ip();
    if !ip.is_unspecified() && !sans.contains(&ip.to_string()) {
        sans.push(ip.to_string());
    }
    sans
}

fn rcgen_dns_ok(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The URL kubectl should use: loopback when the server listens on every address.
pub fn server_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("https://{}", SocketAddr::new(ip, listen.port()))
}

fn kubeconfig_text(server: &str, ca_pem: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kbatch
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: kbatch-admin
  user:
    token: {token}
contexts:
- name: kbatch
  context:
    cluster: kbatch
    user: kbatch-admin
    namespace: default
current-context: kbatch
"
    )
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read(dir: &Path, rel: &str) -> Result<Option<String>, PkiError> {
    let path = dir.join(rel);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io { path, source }),
    }
}

fn write_public(dir: &Path, rel: &str, text: &str) -> Result<(), PkiError> {
    let path = dir.join(rel);
    fs::write(&path, text).map_err(|source| PkiError::Io { path, source })
}

fn write_private(dir: &Path, rel: &str, text: &str) -> Result<(), PkiError> {
    write_private_path(&dir.join(rel), text)
}

/// Writes a secret file with mode 0600 from the start (never briefly world-readable), through
/// a temporary name so a crash never leaves half a file.
fn write_private_path(path: &Path, text: &str) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_makes_everything_and_restart_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.1:6443".parse().unwrap();
        let first = Credentials::load_or_create(dir.path(), listen).unwrap();
        assert_eq!(first.token.len(), 64);
        for secret in [TOKEN, CA_KEY, SERVER_KEY, KUBELET_CLIENT_KEY, "kubeconfig"] {
            let mode = fs::metadata(dir.path().join(secret))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{secret}");
        }
        let kubeconfig = fs::read_to_string(&first.kubeconfig).unwrap();
        assert!(kubeconfig.contains("server: https://127.0.0.1:6443"));
        assert!(kubeconfig.contains(&first.token));
        first.server_config().unwrap();

        let second = Credentials::load_or_create(dir.path(), listen).unwrap();
        assert_eq!(second.token, first.token);
        assert_eq!(second.ca_pem, first.ca_pem);
        assert_eq!(second.cert_pem, first.cert_pem);
        assert_eq!(
            second.kubelet_client_cert_pem,
            first.kubelet_client_cert_pem
        );

        // Another listen address gets a new serving certificate from the same CA.
        let other: SocketAddr = "0.0.0.0:7443".parse().unwrap();
        let third = Credentials::load_or_create(dir.path(), other).unwrap();
        assert_eq!(third.ca_pem, first.ca_pem);
        assert!(
            fs::read_to_string(&third.kubeconfig)
                .unwrap()
                .contains("server: https://127.0.0.1:7443")
        );
        assert!(first.ca_cert_hash().starts_with("sha256:"));
    }

    #[test]
    fn servers_given_the_cluster_credentials_share_the_ca_and_token() {
        let listen: SocketAddr = "127.0.0.1:6443".parse().unwrap();
        let shared = ClusterCredentials::generate().unwrap();
        // One server had credentials of its own already; another is new.
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let own = Credentials::load_or_create(a.path(), listen).unwrap();
        for dir in [&a, &b] {
            shared.install(dir.path()).unwrap();
            assert_eq!(
                ClusterCredentials::load(dir.path()).unwrap().as_ref(),
                Some(&shared)
            );
        }
        let in_a = Credentials::load_or_create(a.path(), listen).unwrap();
        let in_b = Credentials::load_or_create(b.path(), listen).unwrap();
        assert_eq!(in_a.token, shared.token);
        assert_eq!(in_a.ca_pem, shared.ca_cert_pem);
        assert_eq!(in_b.ca_pem, shared.ca_cert_pem);
        // The serving certificate signed by the old CA was made again, by the shared one.
        assert_ne!(in_a.cert_pem, own.cert_pem);
        assert_ne!(in_a.kubelet_client_cert_pem, own.kubelet_client_cert_pem);
        assert_eq!(
            fs::read_to_string(&in_a.kubeconfig).unwrap(),
            fs::read_to_string(&in_b.kubeconfig).unwrap()
        );
        // Installing the same again changes nothing.
        shared.install(a.path()).unwrap();
        let again = Credentials::load_or_create(a.path(), listen).unwrap();
        assert_eq!(again.cert_pem, in_a.cert_pem);
    }
}
