//! Leases: `NAME HOLDER AGE` (`leaseColumnDefinitions` and `printLease`).

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{age_column, column, name_column};
use crate::table::TableColumnDefinition;

/// `coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]`.
const HOLDER_IDENTITY_DESCRIPTION: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";

pub(super) fn columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Holder", "string", 0, HOLDER_IDENTITY_DESCRIPTION),
        age_column(),
    ]
}

/// HOLDER is `spec.holderIdentity`, empty when unset.
pub(super) fn cells(lease: &Lease, now: Timestamp) -> Vec<Value> {
    vec![
        Value::from(lease.metadata.name.as_deref().unwrap_or("")),
        Value::from(
            lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                .unwrap_or(""),
        ),
        Value::from(translate_timestamp_since(
            lease.metadata.creation_timestamp.as_ref(),
            now,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lease_row() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let lease: Lease = serde_json::from_value(json!({
            "metadata": {"name": "kbatch-controller", "creationTimestamp": "2026-03-01T11:59:58Z"},
            "spec": {"holderIdentity": "kbatch-0_1234"}
        }))
        .unwrap();
        assert_eq!(
            Value::from(cells(&lease, now)),
            json!(["kbatch-controller", "kbatch-0_1234", "2s"])
        );
        let free: Lease =
            serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {}})).unwrap();
        assert_eq!(cells(&free, now)[1], "");
        let names: Vec<String> = columns().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Holder", "Age"]);
    }
}
