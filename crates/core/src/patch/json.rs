//! JSON patch (RFC 6902, `application/json-patch+json`) as the apiserver applies it
//! (`jsonPatcher.applyJSPatch`): the body decodes as a list of `{op, path, from, value}`
//! operations, at most 10000 of them, applied in order; a failing operation fails the patch.
//! The operations run through the `json-patch` crate; failures are worded as evanphx/json-patch
//! (the library the apiserver uses) words them.
//!
//! Like evanphx/json-patch v4, `replace` of a missing member of an existing object adds it, and
//! `add`, `move` and `copy` cannot target the document root.

use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, CopyOperation, MoveOperation, PatchErrorKind, PatchOperation, RemoveOperation,
    ReplaceOperation, TestOperation,
};
use serde_json::{Map, Value};

use super::{MAX_JSON_PATCH_OPERATIONS, PatchError, json_type_name};

/// Applies the JSON patch `patch` (a list of operations; `null` is an empty list) to `doc`.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Array(ops) => ops.as_slice(),
        Value::Null => &[],
        other => {
            return Err(PatchError::JsonPatchDecode(format!(
                "json: cannot unmarshal {} into Go value of type []handlers.jsonPatchOp",
                json_type_name(other)
            )));
        }
    };
    for op in ops {
        decode_check(op)?;
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { got: ops.len() });
    }
    let mut doc = doc.clone();
    for op in ops {
        apply(&mut doc, op.as_object())?;
    }
    Ok(doc)
}

/// What decoding into the apiserver's `jsonPatchOp` struct rejects: operations that are not
/// objects, and `op`, `path` or `from` that are not strings.
fn decode_check(op: &Value) -> Result<(), PatchError> {
    let fields = match op {
        Value::Object(fields) => fields,
        Value::Null => return Ok(()),
        other => {
            return Err(PatchError::JsonPatchDecode(format!(
                "json: cannot unmarshal {} into Go value of type handlers.jsonPatchOp",
                json_type_name(other)
            )));
        }
    };
    for (name, value) in fields {
        if matches!(name.as_str(), "op" | "path" | "from")
            && !matches!(value, Value::String(_) | Value::Null)
        {
            return Err(PatchError::JsonPatchDecode(format!(
                "json: cannot unmarshal {} into Go struct field jsonPatchOp.{name} of type string",
                json_type_name(value)
            )));
        }
    }
    Ok(())
}

fn failed(message: String) -> PatchError {
    PatchError::JsonPatchOperation(message)
}

/// A string member of an operation; `null` counts as absent.
fn member<'a>(op: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a str> {
    op.and_then(|o| o.get(name)).and_then(Value::as_str)
}

/// Applies one operation (`None` for a `null` one, whose kind is unknown).
fn apply(doc: &mut Value, op: Option<&Map<String, Value>>) -> Result<(), PatchError> {
    let kind = member(op, "op").unwrap_or("unknown");
    let value = op
        .and_then(|o| o.get("value"))
        .cloned()
        .unwrap_or(Value::Null);
    // evanphx/json-patch's texts for a missing "path" differ between operations.
    let path_missing = match kind {
        "add" | "remove" | "copy" => {
            format!("{kind} operation failed to decode path: missing value")
        }
        _ => format!(
            "{kind} operation failed to decode path: operation missing path field: missing value"
        ),
    };
    let from_missing = format!(
        "{kind} operation failed to decode from: operation, missing from field: missing value"
    );
    let path_text = member(op, "path");
    let from_text = member(op, "from");
    let missing_target = |path: &str| match kind {
        "add" | "remove" => format!(
            "{kind} operation does not apply: doc is missing path: \"{path}\": missing value"
        ),
        "replace" => {
            format!("replace operation does not apply: doc is missing path: {path}: missing value")
        }
        "test" => format!("test operation does not apply: is missing path: {path}: missing value"),
        _ => format!(
            "{kind} operation does not apply: doc is missing destination path: {path}: missing value"
        ),
    };
    let missing_source = |from: &str| {
        format!("{kind} operation does not apply: doc is missing from path: {from}: missing value")
    };

    let operation = match kind {
        "add" | "remove" | "replace" | "test" => {
            let raw = path_text.ok_or_else(|| failed(path_missing))?;
            let path = PointerBuf::parse(raw).map_err(|_| failed(missing_target(raw)))?;
            if kind == "add" && path.is_root() {
                return Err(failed(missing_target(raw)));
            }
            match kind {
                "add" => PatchOperation::Add(AddOperation { path, value }),
                "remove" => PatchOperation::Remove(RemoveOperation { path }),
                "test" => PatchOperation::Test(TestOperation { path, value }),
                _ if replaces_missing_member(doc, &path) => {
                    PatchOperation::Add(AddOperation { path, value })
                }
                _ => PatchOperation::Replace(ReplaceOperation { path, value }),
            }
        }
        "move" | "copy" => {
            let raw_from = from_text.ok_or_else(|| failed(from_missing))?;
            let raw = path_text.ok_or_else(|| failed(path_missing))?;
            let from = PointerBuf::parse(raw_from).map_err(|_| failed(missing_source(raw_from)))?;
            let path = PointerBuf::parse(raw).map_err(|_| failed(missing_target(raw)))?;
            if path.is_root() {
                return Err(failed(missing_target(raw)));
            }
            if kind == "move" {
                PatchOperation::Move(MoveOperation { from, path })
            } else {
                PatchOperation::Copy(CopyOperation { from, path })
            }
        }
        other => return Err(failed(format!("Unexpected kind: {other}"))),
    };
    json_patch::patch(doc, std::slice::from_ref(&operation)).map_err(|e| {
        let path = path_text.unwrap_or_default();
        failed(match e.kind {
            PatchErrorKind::TestFailed => format!("testing value {path} failed: test failed"),
            PatchErrorKind::InvalidFromPointer => missing_source(from_text.unwrap_or_default()),
            _ => missing_target(path),
        })
    })
}

/// Whether `path` names an absent member of an existing object, which evanphx/json-patch's
/// `replace` adds instead of failing.
fn replaces_missing_member(doc: &Value, path: &PointerBuf) -> bool {
    if doc.pointer(path.as_str()).is_some() {
        return false;
    }
    path.parent()
        .and_then(|parent| doc.pointer(parent.as_str()))
        .is_some_and(Value::is_object)
}
