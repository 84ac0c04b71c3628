//! kbatch's Kubernetes API: the registry (Kubernetes' REST semantics over the store, in
//! process), its HTTP surface for kubectl and the client libraries, and the server's
//! credentials.
//!
//! Data flows one way: a request is decoded and admitted (core), stored (store), and the
//! controllers and the agent see it through watches and write back through the registry.

pub mod authn;
pub mod authz;
pub mod clock;
pub mod encryption;
pub mod error;
mod http;
pub mod logs;
pub mod node_credentials;
mod node_graph;
pub mod node_logs;
pub mod pki;
pub mod registry;
pub mod server;
pub mod serviceaccount;

pub use http::Metrics;
