//! Patches the apiserver applies to stored objects: JSON merge patch (RFC 7386) in `merge`,
//! strategic merge patch in `strategic`, JSON patch (RFC 6902) in `json`, and the list semantics
//! of the served types in `lists`, which strategic merge patch and server-side apply share.

mod json;
pub mod lists;
mod merge;
mod strategic;

pub use json::json_patch;
pub use merge::json_merge_patch;
pub use strategic::strategic_merge_patch;

use serde_json::Value;

/// Why a strategic merge patch or a JSON patch could not be applied, worded as the apiserver
/// words it. [`PatchError::code`] is the HTTP status Kubernetes answers with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A strategic merge patch body that is not a JSON object (`null` is an empty patch).
    #[error("json: cannot unmarshal {found} into Go value of type map[string]interface {{}}")]
    NotAnObject { found: &'static str },
    /// An item of a list merged by key lacks the key (`mergepatch.ErrNoMergeKey`); `item` is
    /// printed as Go prints a map.
    #[error("map: {item} does not contain declared merge key: {key}")]
    NoMergeKey { item: String, key: String },
    /// A `$patch` directive other than `replace` and `delete` on a map, or than `replace`,
    /// `delete` and `merge` in a list (`mergepatch.ErrBadPatchType`).
    #[error("unknown patch type: {directive} in map: {item}")]
    UnknownDirective { directive: String, item: String },
    /// A `$deleteFromPrimitiveList/<field>` directive in the wrong shape.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// A `$retainKeys` directive that is not a list, or a patch setting a key it does not retain.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// A `$setElementOrder/<field>` directive in the wrong shape.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    /// A list whose items are lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// Any other strategic merge patch the merge cannot apply: a patch list out of the order
    /// its `$setElementOrder` gives, `$patch: merge` in a list, mismatched value types.
    #[error("{0}")]
    Merge(String),
    /// A JSON patch body that does not decode as a list of operations.
    #[error("error decoding patch: {0}")]
    JsonPatchDecode(String),
    /// More operations than the apiserver accepts in one JSON patch.
    #[error(
        "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {got}"
    )]
    TooManyOperations { got: usize },
    /// A JSON patch operation that failed: a missing path, a failed `test`, an unknown `op`.
    #[error("{0}")]
    JsonPatchOperation(String),
}

/// The most operations one JSON patch may carry (`maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

impl PatchError {
    /// The status code of the apiserver's answer (`interpretStrategicMergePatchError`,
    /// `jsonPatcher.applyJSPatch`):
    /// * 400 `BadRequest` with this error's text;
    /// * 413 `RequestEntityTooLarge`, message `Request entity too large: ` and this text;
    /// * 422 `Invalid` from `NewGenericServerResponse`, whose message is the generic "the server
    ///   rejected our request due to an error in our request": Kubernetes drops this text;
    /// * 500 for errors Kubernetes returns unconverted: a Status without reason whose message is
    ///   this text (kubectl prints `Error from server: map: ... does not contain declared merge
    ///   key: name`).
    pub fn code(&self) -> u16 {
        match self {
            PatchError::NotAnObject { .. }
            | PatchError::BadPrimitiveList
            | PatchError::BadRetainKeys
            | PatchError::BadSetElementOrder
            | PatchError::JsonPatchDecode(_) => 400,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::ListOfLists | PatchError::JsonPatchOperation(_) => 422,
            PatchError::NoMergeKey { .. }
            | PatchError::UnknownDirective { .. }
            | PatchError::Merge(_) => 500,
        }
    }
}

/// The JSON type name Go's `encoding/json` puts in "cannot unmarshal X into ..." errors.
fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
