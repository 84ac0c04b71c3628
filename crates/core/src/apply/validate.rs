//! The validation of field manager names and managedFields entries (meta/v1 validation's
//! `ValidateFieldManager` and `ValidateManagedFields`).

use serde_json::Value;

use crate::field::{ErrorList, FieldError, Path};

/// `FieldManagerMaxLength`.
const FIELD_MANAGER_MAX_LENGTH: usize = 128;
/// `MaxSubresourceNameLength`.
const MAX_SUBRESOURCE_NAME_LENGTH: usize = 256;

/// `ValidateFieldManager`: at most 128 bytes, every character printable. Applies to the
/// `fieldManager` parameter of creates, updates and patches and to each entry's manager.
pub fn validate_field_manager(manager: &str, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(FieldError::too_long(path, FIELD_MANAGER_MAX_LENGTH));
    }
    for (i, c) in manager.char_indices() {
        if !printable(c) {
            errs.push(FieldError::invalid(
                path,
                manager,
                format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    errs
}

/// Go's `unicode.IsPrint` as far as characters sent in names go: the ASCII space is the only
/// printable space, control characters are not printable.
fn printable(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace())
}

/// `ValidateManagedFields`, part of ObjectMeta validation: each entry's operation is `Apply` or
/// `Update`, its fieldsType (when set) `FieldsV1`, its manager a valid field manager, its
/// subresource at most 256 bytes. The field manager keeps entries that do not decode out of
/// stored objects, so of a written object only the manager and subresource checks can fail.
pub fn validate_managed_fields(entries: Option<&Value>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let Some(Value::Array(entries)) = entries else {
        return errs;
    };
    for (i, entry) in entries.iter().enumerate() {
        let at = path.index(i);
        let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
        match text("operation") {
            "" => errs.push(FieldError::required(
                &at.child("operation"),
                "must not be empty",
            )),
            "Apply" | "Update" => {}
            other => errs.push(FieldError::not_supported(
                &at.child("operation"),
                other,
                &["Apply", "Update"],
            )),
        }
        let fields_type = text("fieldsType");
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            errs.push(FieldError::invalid(
                &at.child("fieldsType"),
                fields_type,
                "must be `FieldsV1`",
            ));
        }
        errs.extend(validate_field_manager(
            text("manager"),
            &at.child("manager"),
        ));
        if text("subresource").len() > MAX_SUBRESOURCE_NAME_LENGTH {
            errs.push(FieldError::too_long(
                &at.child("subresource"),
                MAX_SUBRESOURCE_NAME_LENGTH,
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn field_managers() {
        let p = Path::new("fieldManager");
        assert!(validate_field_manager("kubectl-client-side-apply", &p).is_empty());
        assert_eq!(
            texts(&validate_field_manager(&"m".repeat(129), &p)),
            ["fieldManager: Too long: may not be more than 128 bytes"]
        );
        assert_eq!(
            texts(&validate_field_manager("a\tb", &p)),
            [r#"fieldManager: Invalid value: "a\tb": invalid character U+0009 (at position 1)"#]
        );
    }

    #[test]
    fn entries() {
        let p = Path::new("metadata").child("managedFields");
        let entries = json!([
            {"manager": "a", "operation": "Apply", "fieldsType": "FieldsV1"},
            {"manager": "b", "operation": "Patch", "fieldsType": "FieldsV2"},
            {"manager": "c"}
        ]);
        assert_eq!(
            texts(&validate_managed_fields(Some(&entries), &p)),
            [
                r#"metadata.managedFields[1].operation: Unsupported value: "Patch": supported values: "Apply", "Update""#,
                r#"metadata.managedFields[1].fieldsType: Invalid value: "FieldsV2": must be `FieldsV1`"#,
                "metadata.managedFields[2].operation: Required value: must not be empty",
            ]
        );
    }
}
