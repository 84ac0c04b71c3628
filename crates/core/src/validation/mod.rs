//! Validation with Kubernetes' field paths and messages (`pkg/apis/*/validation`).

pub mod cronjob;
pub mod job;
pub mod meta;
pub mod names;
pub mod namespace;
pub mod pod;
