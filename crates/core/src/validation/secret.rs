//! Secret validation: `ValidateSecret` and `ValidateSecretUpdate` in
//! `pkg/apis/core/validation/validation.go`, with the type constants and required keys of
//! `pkg/apis/core/types.go`.

use k8s_openapi::api::core::v1::Secret;

use crate::field::{ErrorList, FieldError, Path};
use crate::validation::configmap::{IMMUTABLE_WHEN_SET, MAX_SECRET_SIZE};
use crate::validation::job::immutable;
use crate::validation::meta::{validate_object_meta, validate_object_meta_update};
use crate::validation::names::{is_config_map_key, name_is_dns_subdomain};

pub const TYPE_OPAQUE: &str = "Opaque";
pub const TYPE_SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";
pub const TYPE_DOCKERCFG: &str = "kubernetes.io/dockercfg";
pub const TYPE_DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const TYPE_BASIC_AUTH: &str = "kubernetes.io/basic-auth";
pub const TYPE_SSH_AUTH: &str = "kubernetes.io/ssh-auth";
pub const TYPE_TLS: &str = "kubernetes.io/tls";
pub const TYPE_BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";

/// `ServiceAccountNameKey`: the annotation a service-account-token Secret must carry.
pub const SERVICE_ACCOUNT_NAME_KEY: &str = "kubernetes.io/service-account.name";
/// `ServiceAccountUIDKey`.
pub const SERVICE_ACCOUNT_UID_KEY: &str = "kubernetes.io/service-account.uid";
pub const DOCKERCFG_KEY: &str = ".dockercfg";
pub const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
pub const BASIC_AUTH_USERNAME_KEY: &str = "username";
pub const BASIC_AUTH_PASSWORD_KEY: &str = "password";
pub const SSH_AUTH_PRIVATE_KEY: &str = "ssh-privatekey";
pub const TLS_CERT_KEY: &str = "tls.crt";
pub const TLS_PRIVATE_KEY_KEY: &str = "tls.key";

/// What Kubernetes shows instead of a Secret's value in an Invalid error.
const REDACTED: &str = "<secret contents redacted>";

/// `ValidateSecret`: keys as ConfigMap keys, at most 1 MiB in all, and each known type's
/// required keys (unknown types are accepted, as in Kubernetes).
pub fn validate_secret(secret: &Secret) -> ErrorList {
    let mut errs = validate_object_meta(
        &secret.metadata,
        true,
        name_is_dns_subdomain,
        &Path::new("metadata"),
    );
    let data_path = Path::new("data");
    let data = secret.data.as_ref();
    let mut total = 0usize;
    for (key, value) in data.into_iter().flatten() {
        for msg in is_config_map_key(key) {
            errs.push(FieldError::invalid(&data_path.key(key), key, msg));
        }
        total += value.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_SECRET_SIZE));
    }
    let value = |key: &str| data.and_then(|d| d.get(key)).map(|v| v.0.as_slice());
    match secret.type_.as_deref().unwrap_or("") {
        TYPE_SERVICE_ACCOUNT_TOKEN => {
            // The uid annotation and the token are filled in later by the token controller.
            let named = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SERVICE_ACCOUNT_NAME_KEY))
                .is_some_and(|v| !v.is_empty());
            if !named {
                errs.push(FieldError::required(
                    &Path::new("metadata")
                        .child("annotations")
                        .key(SERVICE_ACCOUNT_NAME_KEY),
                    "",
                ));
            }
        }
        TYPE_DOCKERCFG => errs.extend(json_object_key(value(DOCKERCFG_KEY), DOCKERCFG_KEY)),
        TYPE_DOCKER_CONFIG_JSON => errs.extend(json_object_key(
            value(DOCKER_CONFIG_JSON_KEY),
            DOCKER_CONFIG_JSON_KEY,
        )),
        // Either may be empty, but one of them must be present.
        TYPE_BASIC_AUTH
            if value(BASIC_AUTH_USERNAME_KEY).is_none()
                && value(BASIC_AUTH_PASSWORD_KEY).is_none() =>
        {
            errs.push(FieldError::required(
                &data_path.key(BASIC_AUTH_USERNAME_KEY),
                "",
            ));
            errs.push(FieldError::required(
                &data_path.key(BASIC_AUTH_PASSWORD_KEY),
                "",
            ));
        }
        TYPE_SSH_AUTH if value(SSH_AUTH_PRIVATE_KEY).is_none_or(<[u8]>::is_empty) => {
            errs.push(FieldError::required(
                &data_path.key(SSH_AUTH_PRIVATE_KEY),
                "",
            ));
        }
        TYPE_TLS => {
            for key in [TLS_CERT_KEY, TLS_PRIVATE_KEY_KEY] {
                if value(key).is_none() {
                    errs.push(FieldError::required(&data_path.key(key), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// The docker config types: the key must be present and hold a JSON object
/// (`json.Unmarshal` into `map[string]interface{}`); the value itself is never echoed.
fn json_object_key(bytes: Option<&[u8]>, key: &str) -> Option<FieldError> {
    let path = Path::new("data").key(key);
    let Some(bytes) = bytes else {
        return Some(FieldError::required(&path, ""));
    };
    let message = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(_)) => return None,
        // Go's `UnmarshalTypeError` text for the JSON types it meets.
        Ok(other) => format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match other {
                serde_json::Value::Array(_) => "array",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                serde_json::Value::Bool(_) => "bool",
                _ => return None,
            }
        ),
        Err(e) if e.is_eof() => "unexpected end of JSON input".to_owned(),
        // serde_json's position-bearing text; Go's scanner words these differently.
        Err(e) => e.to_string(),
    };
    Some(FieldError::invalid(&path, REDACTED, message))
}

/// `ValidateSecretUpdate`: the type never changes; once `immutable` is true it stays true and
/// `data` stays as it is (`stringData` was merged into `data` before this runs); then the
/// create rules.
pub fn validate_secret_update(new: &Secret, old: &Secret) -> ErrorList {
    let mut errs =
        validate_object_meta_update(&new.metadata, &old.metadata, &Path::new("metadata"));
    errs.extend(immutable(&new.type_, &old.type_, &Path::new("type")));
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                &Path::new("immutable"),
                IMMUTABLE_WHEN_SET,
            ));
        }
        if new.data != old.data {
            errs.push(FieldError::forbidden(
                &Path::new("data"),
                IMMUTABLE_WHEN_SET,
            ));
        }
    }
    errs.extend(validate_secret(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(value: serde_json::Value) -> Secret {
        let mut v =
            json!({"metadata": {"name": "creds", "namespace": "default", "resourceVersion": "7"}});
        if let (Some(o), Some(extra)) = (v.as_object_mut(), value.as_object()) {
            o.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn texts(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn opaque_with_good_keys_passes() {
        let s = secret(json!({"type": "Opaque", "data": {"password": "czNjcjN0"}}));
        assert!(validate_secret(&s).is_empty());
        let untyped = secret(json!({"type": "example.com/custom"}));
        assert!(validate_secret(&untyped).is_empty());
    }

    #[test]
    fn bad_keys_and_size() {
        let big = k8s_openapi::ByteString(vec![b'x'; MAX_SECRET_SIZE + 1]);
        let s = secret(json!({"data": {"a/b": "eA==", "big": big}}));
        assert_eq!(
            texts(&validate_secret(&s)),
            [
                "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data: Too long: may not be more than 1048576 bytes",
            ]
        );
    }

    /// `ValidateSecret`'s switch over the types: each one's required keys.
    #[test]
    fn typed_secrets_need_their_keys() {
        let cases = [
            (
                json!({"type": "kubernetes.io/basic-auth"}),
                vec![
                    "data[username]: Required value",
                    "data[password]: Required value",
                ],
            ),
            (
                json!({"type": "kubernetes.io/basic-auth", "data": {"password": ""}}),
                vec![],
            ),
            (
                json!({"type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": ""}}),
                vec!["data[ssh-privatekey]: Required value"],
            ),
            (
                json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}),
                vec!["data[tls.key]: Required value"],
            ),
            (
                json!({"type": "kubernetes.io/dockerconfigjson"}),
                vec!["data[.dockerconfigjson]: Required value"],
            ),
            (
                // base64 of `[1]`
                json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "WzFd"}}),
                vec![
                    "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": json: cannot unmarshal array into Go value of type map[string]interface {}",
                ],
            ),
            (
                // base64 of `{"auths"`
                json!({"type": "kubernetes.io/dockercfg", "data": {".dockercfg": "eyJhdXRocyI="}}),
                vec![
                    "data[.dockercfg]: Invalid value: \"<secret contents redacted>\": unexpected end of JSON input",
                ],
            ),
            (
                json!({"type": "kubernetes.io/service-account-token"}),
                vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                texts(&validate_secret(&secret(value.clone()))),
                want,
                "{value}"
            );
        }
    }

    /// `ValidateSecretUpdate`: the type is immutable; an immutable Secret keeps its data.
    #[test]
    fn updates() {
        let old = secret(json!({"type": "Opaque", "immutable": true, "data": {"k": "eA=="}}));
        let new = secret(json!({"type": "kubernetes.io/tls", "data": {"k": "eQ=="}}));
        assert_eq!(
            texts(&validate_secret_update(&new, &old)),
            [
                "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
                "data[tls.crt]: Required value",
                "data[tls.key]: Required value",
            ]
        );
        assert!(validate_secret_update(&old, &old).is_empty());
    }
}
