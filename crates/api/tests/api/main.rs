//! Tests of the API crate below kubectl: the registry (Kubernetes' REST semantics over the
//! store) and the HTTP surface, on behaviour the kubectl suites in `crates/kbatch/tests` do not
//! reach. Section numbers refer to `kubectl-wire.md` (the contract); upstream behaviour is
//! cited where the contract is silent.

mod auth;
mod common;
mod delete;
mod events;
mod lists;
mod logs;
mod namespaces;
mod node_auth;
mod service_accounts;
mod watch;
mod writes;
