//! Kubernetes protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`).
//!
//! kubectl ≥ 1.32 sends them for `create job`, `create job --from=cronjob/x`, `create cronjob`,
//! `create namespace`, `create configmap`, `create secret`, `create serviceaccount` and
//! `create token`, and does not fall back to JSON. The body is apimachinery's protobuf
//! serializer framing: the prefix `k8s\0`, then a `runtime.Unknown` whose `raw` holds the object
//! message from k8s.io/api's `generated.proto`. The messages are decoded with k8s-pb (1.35) and
//! turned into the JSON the same object would have had on the JSON path, so the API server runs
//! one strict decode and admission for both.

mod authenticationv1;
mod authorizationv1;
mod batchv1;
mod convert;
mod corev1;
mod metav1;
#[cfg(test)]
mod tests;

use k8s_pb::api::authentication::v1::TokenRequest;
use k8s_pb::api::authorization::v1::{SelfSubjectAccessReview, SelfSubjectRulesReview};
use k8s_pb::api::batch::v1::{CronJob, Job};
use k8s_pb::api::core::v1::{ConfigMap, Namespace, Pod, Secret, ServiceAccount};
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value};

use crate::object::{
    CONFIGMAP, CRONJOB, JOB, Kind, NAMESPACE, POD, SECRET, SELFSUBJECTACCESSREVIEW,
    SELFSUBJECTRULESREVIEW, SERVICEACCOUNT, TOKENREQUEST,
};
use convert::ToJson;

/// The four bytes before every Kubernetes protobuf body (apimachinery's protobuf serializer).
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// The kinds a protobuf body may carry: what kubectl's typed client creates (`create job`,
/// `cronjob`, `namespace`, `configmap`, `secret …`, `serviceaccount`, `token`, and the reviews
/// of `auth can-i`), and Pods.
pub const ACCEPTED_KINDS: [Kind; 10] = [
    JOB,
    CRONJOB,
    NAMESPACE,
    POD,
    CONFIGMAP,
    SECRET,
    SERVICEACCOUNT,
    TOKENREQUEST,
    SELFSUBJECTACCESSREVIEW,
    SELFSUBJECTRULESREVIEW,
];

/// A protobuf body the API server cannot turn into an object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0` (the protobuf serializer's own wording).
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] (\"k8s\\x00\")"
    )]
    MissingMagic,
    /// The bytes after the prefix are not a `runtime.Unknown` message.
    #[error("malformed protobuf envelope (runtime.Unknown): {0}")]
    Envelope(String),
    /// The envelope names a kind this server does not decode from protobuf.
    #[error(
        "no kind \"{kind}\" is registered for version \"{api_version}\" in protobuf bodies; accepted kinds are {}",
        accepted_kinds()
    )]
    UnsupportedKind { api_version: String, kind: String },
    /// The object bytes are not a valid message of the named kind, or hold a value the Go type
    /// rejects (an unparsable quantity, an impossible IntOrString, a time past year 9999).
    #[error("malformed protobuf {} {}: {message}", kind.api_version(), kind.kind)]
    Object { kind: Kind, message: String },
}

fn accepted_kinds() -> String {
    let names: Vec<String> = ACCEPTED_KINDS
        .iter()
        .map(|k| format!("{} {}", k.api_version(), k.kind))
        .collect();
    names.join(", ")
}

/// Decodes a protobuf request body into the JSON object it stands for, `kind` and `apiVersion`
/// first. `contentEncoding` and `contentType` of the envelope are ignored, as apimachinery's
/// protobuf serializer ignores them when decoding into a typed object.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let data = body
        .strip_prefix(&MAGIC[..])
        .ok_or(ProtobufError::MissingMagic)?;
    let envelope = Unknown::decode(data).map_err(|e| ProtobufError::Envelope(e.to_string()))?;
    let type_meta = envelope.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind_name = type_meta.kind.unwrap_or_default();
    let Some(kind) = ACCEPTED_KINDS
        .into_iter()
        .find(|k| k.kind == kind_name && k.api_version() == api_version)
    else {
        return Err(ProtobufError::UnsupportedKind {
            api_version,
            kind: kind_name,
        });
    };
    let raw = envelope.raw.unwrap_or_default();
    let fields = match kind.kind {
        "Job" => object::<Job>(kind, &raw)?,
        "CronJob" => object::<CronJob>(kind, &raw)?,
        "Namespace" => object::<Namespace>(kind, &raw)?,
        "ConfigMap" => object::<ConfigMap>(kind, &raw)?,
        "Secret" => object::<Secret>(kind, &raw)?,
        "ServiceAccount" => object::<ServiceAccount>(kind, &raw)?,
        "TokenRequest" => object::<TokenRequest>(kind, &raw)?,
        "SelfSubjectAccessReview" => object::<SelfSubjectAccessReview>(kind, &raw)?,
        "SelfSubjectRulesReview" => object::<SelfSubjectRulesReview>(kind, &raw)?,
        _ => object::<Pod>(kind, &raw)?,
    };
    let mut out = Map::new();
    out.insert("kind".to_owned(), Value::String(kind_name));
    out.insert("apiVersion".to_owned(), Value::String(api_version));
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Ok(Value::Object(out))
}

fn object<M: Message + Default + ToJson>(kind: Kind, raw: &[u8]) -> Result<Value, ProtobufError> {
    let malformed = |message: String| ProtobufError::Object { kind, message };
    let message = M::decode(raw).map_err(|e| malformed(e.to_string()))?;
    message.to_json().map_err(|e| malformed(e.describe()))
}
