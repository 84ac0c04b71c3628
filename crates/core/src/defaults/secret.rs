//! Secret defaulting and conversion: `SetDefaults_Secret` (pkg/apis/core/v1/defaults.go) and
//! the `stringData` merge of `Convert_v1_Secret_To_core_Secret` (pkg/apis/core/v1/conversion.go).

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use crate::validation::secret::TYPE_OPAQUE;

/// An empty type becomes `Opaque`; `stringData` is write-only: its entries replace those of
/// `data` with the same key and the field itself is never stored or returned.
pub fn default_secret(secret: &mut Secret) {
    if secret.type_.as_deref().unwrap_or("").is_empty() {
        secret.type_ = Some(TYPE_OPAQUE.to_owned());
    }
    if let Some(strings) = secret.string_data.take()
        && !strings.is_empty()
    {
        let data = secret.data.get_or_insert_with(Default::default);
        for (key, value) in strings {
            data.insert(key, ByteString(value.into_bytes()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_wins_over_data_and_disappears() {
        let mut s: Secret = serde_json::from_value(json!({
            "metadata": {"name": "s"},
            "data": {"a": "MQ==", "b": "Mg=="},
            "stringData": {"b": "two", "c": "three"}
        }))
        .unwrap();
        default_secret(&mut s);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s"},
                "data": {"a": "MQ==", "b": "dHdv", "c": "dGhyZWU="},
                "type": "Opaque"
            })
        );
    }
}
