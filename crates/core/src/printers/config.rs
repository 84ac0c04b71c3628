//! ConfigMaps and Secrets: `NAME DATA AGE` and `NAME TYPE DATA AGE`
//! (`configMapColumnDefinitions`/`printConfigMap`, `secretColumnDefinitions`/`printSecret`).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::Value;

use super::duration::translate_timestamp_since;
use super::{age_column, column, name_column};
use crate::table::TableColumnDefinition;

/// `apiv1.ConfigMap{}.SwaggerDoc()["data"]`.
const CONFIG_MAP_DATA_DESCRIPTION: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
/// `apiv1.Secret{}.SwaggerDoc()["type"]`.
const SECRET_TYPE_DESCRIPTION: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
/// `apiv1.Secret{}.SwaggerDoc()["data"]`.
const SECRET_DATA_DESCRIPTION: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";

pub(super) fn config_map_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Data", "string", 0, CONFIG_MAP_DATA_DESCRIPTION),
        age_column(),
    ]
}

/// DATA counts the keys of `data` and `binaryData` together.
pub(super) fn config_map_cells(cm: &ConfigMap, now: Timestamp) -> Vec<Value> {
    let count =
        cm.data.as_ref().map_or(0, |d| d.len()) + cm.binary_data.as_ref().map_or(0, |d| d.len());
    vec![
        Value::from(cm.metadata.name.as_deref().unwrap_or("")),
        Value::from(count),
        Value::from(translate_timestamp_since(
            cm.metadata.creation_timestamp.as_ref(),
            now,
        )),
    ]
}

pub(super) fn secret_columns() -> Vec<TableColumnDefinition> {
    vec![
        name_column(0),
        column("Type", "string", 0, SECRET_TYPE_DESCRIPTION),
        column("Data", "string", 0, SECRET_DATA_DESCRIPTION),
        age_column(),
    ]
}

/// TYPE as stored; DATA the number of keys, never their values.
pub(super) fn secret_cells(secret: &Secret, now: Timestamp) -> Vec<Value> {
    vec![
        Value::from(secret.metadata.name.as_deref().unwrap_or("")),
        Value::from(secret.type_.as_deref().unwrap_or("")),
        Value::from(secret.data.as_ref().map_or(0, |d| d.len())),
        Value::from(translate_timestamp_since(
            secret.metadata.creation_timestamp.as_ref(),
            now,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn config_map_row_counts_both_maps() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "settings", "creationTimestamp": "2026-03-01T11:00:00Z"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}
        }))
        .unwrap();
        assert_eq!(
            Value::from(config_map_cells(&cm, now)),
            json!(["settings", 3, "60m"])
        );
        let names: Vec<String> = config_map_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Data", "Age"]);
    }

    #[test]
    fn secret_row_shows_type_and_count() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds", "creationTimestamp": "2026-03-01T11:59:30Z"},
            "type": "kubernetes.io/basic-auth", "data": {"username": "YQ==", "password": "Yg=="}
        }))
        .unwrap();
        assert_eq!(
            Value::from(secret_cells(&s, now)),
            json!(["creds", "kubernetes.io/basic-auth", 2, "30s"])
        );
        let names: Vec<String> = secret_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Type", "Data", "Age"]);
    }
}
