//! Defaulting, as the apiserver applies it on create and update (`pkg/apis/*/v1/defaults.go`).

pub mod cronjob;
pub mod job;
pub mod pod;
pub mod secret;
pub mod storage;
