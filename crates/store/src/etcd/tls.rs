//! TLS to etcd from PEM files, as kube-apiserver's `--etcd-cafile`, `--etcd-certfile` and
//! `--etcd-keyfile` take them: the CA that signed the members' serving certificates, and
//! optionally a client certificate and key for members started with `--client-cert-auth`.
//! rustls (ring) does the handshake, as for the API server's own TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use etcd_client::{Certificate, Identity, TlsOptions};

use crate::{Error, Result};

/// Certificate files for TLS to etcd (`https://` endpoints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA bundle that verifies the members' certificates. Required: kbatch carries no
    /// system root store, and etcd clusters have their own CA.
    pub ca_file: PathBuf,
    /// A client certificate, for members that check them (`--client-cert-auth`).
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key; given exactly when `cert_file` is.
    pub key_file: Option<PathBuf>,
}

impl EtcdTls {
    /// Reads the files into the client's TLS settings.
    pub(crate) fn load(&self) -> Result<TlsOptions> {
        let mut options =
            TlsOptions::new().ca_certificate(Certificate::from_pem(read(&self.ca_file)?));
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                options = options.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => {
                return Err(Error::Config(
                    "an etcd client certificate needs both its certificate and its key file"
                        .to_owned(),
                ));
            }
        }
        Ok(options)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source: Arc::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, b"").unwrap();
        let tls = EtcdTls {
            ca_file: ca,
            cert_file: Some(dir.path().join("client.pem")),
            key_file: None,
        };
        assert!(matches!(tls.load(), Err(Error::Config(_))));
    }

    #[test]
    fn a_missing_file_names_itself() {
        let tls = EtcdTls {
            ca_file: PathBuf::from("/nonexistent/ca.pem"),
            ..EtcdTls::default()
        };
        match tls.load() {
            Err(Error::Io { path, .. }) => assert_eq!(path, Path::new("/nonexistent/ca.pem")),
            other => panic!("{other:?}"),
        }
    }
}
