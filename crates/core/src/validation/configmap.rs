//! ConfigMap validation: `ValidateConfigMap` and `ValidateConfigMapUpdate` in
//! `pkg/apis/core/validation/validation.go`.

use k8s_openapi::api::core::v1::ConfigMap;

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};
use crate::validation::names::{is_config_map_key, name_is_dns_subdomain};

/// `core.MaxSecretSize`: ConfigMaps and Secrets hold at most 1 MiB of data.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// `FieldImmutableErrorMsg`'s sibling for `immutable: true` objects.
pub(crate) const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

/// `ValidateConfigMap`: keys are `IsConfigMapKey`, a key lives in `data` or `binaryData` but
/// not both, and the values together stay within [`MAX_SECRET_SIZE`].
pub fn validate_config_map(cm: &ConfigMap) -> ErrorList {
    let mut errs = validate_object_meta(
        &cm.metadata,
        true,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    );
    let data_path = Path::new("data");
    let binary_path = Path::new("binaryData");
    let mut total = 0usize;
    for (key, value) in cm.data.iter().flatten() {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(&data_path.key(key), key, msg));
        }
        if cm.binary_data.as_ref().is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(
                &data_path.key(key),
                key,
                "duplicate of key present in binaryData",
            ));
        }
        total += value.len();
    }
    for (key, value) in cm.binary_data.iter().flatten() {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(&binary_path.key(key), key, msg));
        }
        total += value.0.len();
    }
    if total > MAX_SECRET_SIZE {
        // Kubernetes reports the whole object, on the empty path.
        errs.push(FieldError::too_long(&Path::root(), MAX_SECRET_SIZE));
    }
    errs
}

/// `ValidateConfigMapUpdate`: once `immutable` is true, it stays true and neither `data` nor
/// `binaryData` may change; then the create rules.
pub fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                &Path::new("immutable"),
                IMMUTABLE_WHEN_SET,
            ));
        }
        // reflect.DeepEqual tells a nil map from an empty one; so does Option.
        if new.data != old.data {
            errs.push(FieldError::forbidden(
                &Path::new("data"),
                IMMUTABLE_WHEN_SET,
            ));
        }
        if new.binary_data != old.binary_data {
            errs.push(FieldError::forbidden(
                &Path::new("binaryData"),
                IMMUTABLE_WHEN_SET,
            ));
        }
    }
    errs.extend(validate_config_map(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(value: serde_json::Value) -> ConfigMap {
        let mut v = json!({"metadata": {"name": "settings", "namespace": "default", "resourceVersion": "7"}});
        if let (Some(o), Some(extra)) = (v.as_object_mut(), value.as_object()) {
            o.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn texts(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn valid_keys_pass() {
        let c = cm(json!({"data": {"a.conf": "x", "B_2": "y", "-x": "z"},
                          "binaryData": {"blob": "AAE="}}));
        assert!(validate_config_map(&c).is_empty());
    }

    /// `ValidateConfigMap`: each bad key is reported on its own path with `IsConfigMapKey`'s text.
    #[test]
    fn bad_keys_are_reported_with_their_path() {
        let c = cm(json!({"data": {"a b": "x", "..": "y"}, "binaryData": {".": "AA=="}}));
        assert_eq!(
            texts(&validate_config_map(&c)),
            [
                "data[..]: Invalid value: \"..\": must not be '..'",
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "binaryData[.]: Invalid value: \".\": must not be '.'",
            ]
        );
    }

    #[test]
    fn a_key_in_data_and_binary_data_is_a_duplicate() {
        let c = cm(json!({"data": {"k": "x"}, "binaryData": {"k": "AA=="}}));
        assert_eq!(
            texts(&validate_config_map(&c)),
            ["data[k]: Invalid value: \"k\": duplicate of key present in binaryData"]
        );
    }

    #[test]
    fn more_than_one_mebibyte_is_too_long() {
        let half = "x".repeat(MAX_SECRET_SIZE / 2);
        let c = cm(json!({"data": {"a": half, "b": half}}));
        assert!(validate_config_map(&c).is_empty());
        let c = cm(json!({"data": {"a": half, "b": format!("{half}x")}}));
        assert_eq!(
            texts(&validate_config_map(&c)),
            ["Too long: may not be more than 1048576 bytes"]
        );
    }

    /// `ValidateConfigMapUpdate`: an immutable ConfigMap keeps its data and its flag.
    #[test]
    fn immutable_config_maps_keep_their_data() {
        let old = cm(json!({"immutable": true, "data": {"k": "v"}}));
        let mut new =
            cm(json!({"immutable": false, "data": {"k": "w"}, "binaryData": {"b": "AA=="}}));
        new.metadata.labels = Some([("a".to_owned(), "b".to_owned())].into());
        assert_eq!(
            texts(&validate_config_map_update(&new, &old)),
            [
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
                "binaryData: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        let relabelled = cm(json!({"immutable": true, "data": {"k": "v"},
                                   "metadata": {"name": "settings", "namespace": "default", "resourceVersion": "7",
                                                "labels": {"a": "b"}}}));
        assert!(validate_config_map_update(&relabelled, &old).is_empty());
        let mutable = cm(json!({"data": {"k": "v"}}));
        assert!(validate_config_map_update(&new, &mutable).is_empty());
    }
}
