//! apimachinery's meta/v1 messages, and the four types whose JSON is not their message's shape:
//! `Time`, `FieldsV1`, `resource.Quantity` and `intstr.IntOrString`.

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::convert::{Malformed, ToJson, Zero, to_json};
use crate::validation::pod::quantity::parse_quantity;

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which `Time` writes as `null`.
const ZERO_TIME_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the last second `Timestamp` admits and RFC 3339 can write.
const MAX_TIME_SECONDS: i64 = 253_402_300_799;

/// metav1.Time's protobuf `Unmarshal`: an empty message is the zero time, anything else is whole
/// seconds (nanos are dropped, because the JSON form only ever carried seconds).
fn time_seconds(time: &pb::Time) -> Option<i64> {
    if time.seconds.is_none() && time.nanos.is_none() {
        return None;
    }
    Some(time.seconds.unwrap_or(0)).filter(|&s| s != ZERO_TIME_SECONDS)
}

impl ToJson for pb::Time {
    /// metav1.Time's `MarshalJSON`: RFC 3339 in UTC, `null` for the zero time.
    fn to_json(&self) -> Result<Value, Malformed> {
        let Some(seconds) = time_seconds(self) else {
            return Ok(Value::Null);
        };
        if !(ZERO_TIME_SECONDS..=MAX_TIME_SECONDS).contains(&seconds) {
            return Err(Malformed::new(format!(
                "time {seconds}s since the Unix epoch is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z"
            )));
        }
        // Civil arithmetic, because jiff's Timestamp stops a day short of 9999-12-31.
        let utc = jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0)
            .checked_add(jiff::SignedDuration::from_secs(seconds))
            .map_err(|e| Malformed::new(format!("time {seconds}s: {e}")))?;
        Ok(Value::String(
            utc.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ))
    }
}

impl Zero for pb::Time {
    fn is_zero(&self) -> bool {
        time_seconds(self).is_none()
    }
}

impl ToJson for pb::FieldsV1 {
    /// FieldsV1's `MarshalJSON` writes the raw bytes, which encoding/json then checks are JSON.
    fn to_json(&self) -> Result<Value, Malformed> {
        let raw = self.raw.as_deref().unwrap_or_default();
        serde_json::from_slice(raw)
            .map_err(|e| Malformed::new(format!("fieldsV1 is not JSON: {e}")))
    }
}

impl ToJson for Quantity {
    /// Quantity's protobuf `Unmarshal` parses the string (a bad one fails the whole body), and
    /// `MarshalJSON` writes the canonical form; an absent string is the zero quantity, `"0"`.
    fn to_json(&self) -> Result<Value, Malformed> {
        match &self.string {
            None => Ok(Value::String("0".to_owned())),
            Some(s) => parse_quantity(s)
                .map(|q| Value::String(q.canonical()))
                .map_err(Malformed::new),
        }
    }
}

impl ToJson for IntOrString {
    /// IntOrString's `MarshalJSON`: type 0 writes intVal, type 1 writes strVal.
    fn to_json(&self) -> Result<Value, Malformed> {
        match self.r#type.unwrap_or(0) {
            0 => Ok(Value::from(self.int_val.unwrap_or(0))),
            1 => Ok(Value::String(self.str_val.clone().unwrap_or_default())),
            other => Err(Malformed::new(format!(
                "impossible IntOrString.Type {other}"
            ))),
        }
    }
}

to_json! {
    pb::ObjectMeta {
        omit name: "name",
        omit generate_name: "generateName",
        omit namespace: "namespace",
        omit self_link: "selfLink",
        omit uid: "uid",
        omit resource_version: "resourceVersion",
        omit generation: "generation",
        // `omitzero` since 1.34: left out when unset (kubectl 1.32's JSON path wrote `null`).
        omit creation_timestamp: "creationTimestamp",
        ptr deletion_timestamp: "deletionTimestamp",
        ptr deletion_grace_period_seconds: "deletionGracePeriodSeconds",
        map labels: "labels",
        map annotations: "annotations",
        list owner_references: "ownerReferences",
        list finalizers: "finalizers",
        list managed_fields: "managedFields",
    }
    pb::OwnerReference {
        req api_version: "apiVersion",
        req kind: "kind",
        req name: "name",
        req uid: "uid",
        ptr controller: "controller",
        ptr block_owner_deletion: "blockOwnerDeletion",
    }
    pb::ManagedFieldsEntry {
        omit manager: "manager",
        omit operation: "operation",
        omit api_version: "apiVersion",
        ptr time: "time",
        omit fields_type: "fieldsType",
        ptr fields_v1: "fieldsV1",
        omit subresource: "subresource",
    }
    pb::LabelSelector {
        map match_labels: "matchLabels",
        list match_expressions: "matchExpressions",
    }
    pb::LabelSelectorRequirement {
        req key: "key",
        req operator: "operator",
        list values: "values",
    }
}
