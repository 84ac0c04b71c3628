//! meta.k8s.io/v1 Table: what the apiserver returns to `kubectl get` when asked for
//! `application/json;as=Table;g=meta.k8s.io;v=v1`. k8s-openapi has no Table type.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `metav1.Table`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// Always `Table`.
    pub kind: String,
    /// Always `meta.k8s.io/v1`.
    pub api_version: String,
    pub metadata: ListMeta,
    pub column_definitions: Vec<TableColumnDefinition>,
    pub rows: Vec<TableRow>,
}

impl Table {
    pub fn new(column_definitions: Vec<TableColumnDefinition>, rows: Vec<TableRow>) -> Self {
        Table {
            kind: "Table".to_owned(),
            api_version: "meta.k8s.io/v1".to_owned(),
            metadata: ListMeta::default(),
            column_definitions,
            rows,
        }
    }
}

/// `metav1.TableColumnDefinition`. `priority` 1 columns show only with `-o wide`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableColumnDefinition {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: i32,
}

/// `metav1.TableRow`: cells in column order, and the object (full or PartialObjectMetadata).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRow {
    pub cells: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<TableRowCondition>,
    /// Go's `omitempty` never drops a `RawExtension`: with `includeObject=None` it is written as
    /// `"object": null`.
    #[serde(default)]
    pub object: Value,
}

/// `metav1.TableRowCondition`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRowCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_meta_v1_table() {
        let t = Table::new(
            vec![TableColumnDefinition {
                name: "Name".into(),
                type_: "string".into(),
                format: "name".into(),
                ..Default::default()
            }],
            vec![TableRow {
                cells: vec![Value::from("pi")],
                ..Default::default()
            }],
        );
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(v["kind"], "Table");
        assert_eq!(v["columnDefinitions"][0]["type"], "string");
        assert_eq!(v["rows"][0]["cells"][0], "pi");
        let back: Table = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
    }
}
