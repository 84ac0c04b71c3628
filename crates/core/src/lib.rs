//! kbatch's object model: the batch/v1 and core/v1 types from k8s-openapi, with Kubernetes'
//! strict decoding, defaulting and validation, and the meta/v1 Status errors they turn into.
//!
//! Pure: no IO and no clock. Callers pass `now` and generated identifiers in.

pub mod admission;
pub mod apply;
pub mod decode;
pub mod defaults;
pub mod field;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod printers;
pub mod protobuf;
pub mod qos;
pub mod selector;
pub mod status;
pub mod table;
pub mod validation;

pub use k8s_openapi;
