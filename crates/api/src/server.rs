//! Serving the API: a TCP listener, TLS (rustls) unless turned off, HTTP/1.1 connections
//! (kubectl needs nothing else), and the background work an apiserver does for itself
//! (system namespaces, store compaction).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use kbatch_core::openapi::OpenApi;
use kbatch_store::{Compactor, Retention, Store};
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::error::ApiError;
use crate::http::{AppState, Metrics, router};
use crate::logs::PodLogs;
use crate::node_logs::{NodeLogs, NodeLogsConfig};
use crate::registry::Registry;
use crate::registry::plugins::DefaultTolerations;
use crate::serviceaccount::TokenIssuer;

/// What the API server is built from.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The logs of this server's own node (or none).
    pub logs: Arc<dyn PodLogs>,
    /// With it, the logs of pods on other nodes are read from their agents
    /// ([`NodeLogs`]); without, only `logs` answers.
    pub node_logs: Option<NodeLogsConfig>,
    /// The bearer token every request but the health and version probes must carry;
    /// `None` disables authentication (only for plain-HTTP tests).
    pub token: Option<String>,
    /// Issues and accepts service account tokens (with `token`; `None`: no tokens, and pods
    /// get no token volume).
    pub token_issuer: Option<Arc<TokenIssuer>>,
    /// The tolerations pods get for lost nodes (DefaultTolerationSeconds).
    pub default_tolerations: DefaultTolerations,
    pub metrics: Arc<Metrics>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("preparing the API: {0}")]
    Api(#[from] ApiError),
}

/// A running API, ready to serve connections.
#[derive(Debug, Clone)]
pub struct Api {
    state: AppState,
}

impl Api {
    /// Builds the API over its store and makes sure the system namespaces exist.
    pub async fn new(config: ApiConfig, server_address: String) -> Result<Self, ServeError> {
        let mut registry = Registry::new(config.store, config.clock)
            .with_default_tolerations(config.default_tolerations);
        if let Some(issuer) = config.token_issuer {
            registry = registry.with_token_issuer(issuer);
        }
        registry.bootstrap().await?;
        let logs = match config.node_logs {
            Some(node_logs) => Arc::new(NodeLogs::new(registry.clone(), node_logs, config.logs)),
            None => config.logs,
        };
        Ok(Api {
            state: AppState {
                registry,
                token: config.token.map(Arc::from),
                openapi: Arc::new(OpenApi::build()),
                logs,
                metrics: config.metrics,
                server_address: Arc::from(server_address),
            },
        })
    }

    /// The registry: the in-process API that controllers and the agent use.
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// Compacts the store's history in the background (10 minutes / 100,000 events kept,
    /// checked every minute), as kube-apiserver asks etcd to.
    pub fn spawn_compactor(&self) {
        let store = self.state.registry.store().clone();
        tokio::spawn(async move {
            let result = Compactor::new(Retention::default())
                .run(
                    store,
                    Arc::new(kbatch_store::SystemClock),
                    Duration::from_secs(60),
                )
                .await;
            let Err(e) = result;
            tracing::error!(error = %e, "store compaction stopped");
        });
    }

    /// The request handler on its own, for callers that bring their own connections (the
    /// HTTP fuzz target drives it request by request).
    pub fn router(&self) -> axum::Router {
        router(self.state.clone())
    }

    /// Serves connections from `listener` until `shutdown` completes. With `tls`, every
    /// connection is HTTPS.
    pub async fn serve(
        &self,
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: impl Future<Output = ()>,
    ) {
        let app = self.router();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let result = match acceptor {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls) => {
                            builder
                                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                                .await
                        }
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    },
                    None => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
}

/// Binds the listen address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })
}
