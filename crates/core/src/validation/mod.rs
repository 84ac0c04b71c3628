//! Validation with Kubernetes' field paths and messages (`pkg/apis/*/validation`).

pub mod configmap;
pub mod cronjob;
pub mod event;
pub mod job;
pub mod lease;
pub mod meta;
pub mod names;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod runtimeclass;
pub mod secret;
pub mod serviceaccount;
pub mod storage;
