//! JSON patch (RFC 6902) as the apiserver applies it: the RFC's examples, evanphx/json-patch's
//! deviations the apiserver inherits, and the apiserver's error texts and status codes.

use kbatch_core::patch::{MAX_JSON_PATCH_OPERATIONS, PatchError, json_patch};
use serde_json::{Value, json};

fn apply(doc: Value, patch: Value) -> Value {
    json_patch(&doc, &patch).unwrap()
}

fn fail(doc: Value, patch: Value) -> PatchError {
    json_patch(&doc, &patch).unwrap_err()
}

#[test]
fn rfc_6902_appendix_a() {
    assert_eq!(
        apply(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}])
        ),
        json!({"foo": "bar", "baz": "qux"})
    );
    assert_eq!(
        apply(
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}])
        ),
        json!({"foo": ["bar", "qux", "baz"]})
    );
    assert_eq!(
        apply(
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}])
        ),
        json!({"foo": "bar"})
    );
    assert_eq!(
        apply(
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}])
        ),
        json!({"foo": ["bar", "baz"]})
    );
    assert_eq!(
        apply(
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}])
        ),
        json!({"baz": "boo", "foo": "bar"})
    );
    assert_eq!(
        apply(
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}])
        ),
        json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})
    );
    assert_eq!(
        apply(
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}])
        ),
        json!({"foo": ["all", "cows", "eat", "grass"]})
    );
    assert_eq!(
        apply(
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            json!([
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2}
            ])
        ),
        json!({"baz": "qux", "foo": ["a", 2, "c"]})
    );
    assert_eq!(
        apply(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}])
        ),
        json!({"foo": "bar", "child": {"grandchild": {}}})
    );
    assert_eq!(
        apply(
            json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}])
        ),
        json!({"foo": ["bar", ["abc", "def"]]})
    );
    assert_eq!(
        apply(
            json!({"foo": {"bar": 1}}),
            json!([{"op": "copy", "from": "/foo", "path": "/baz"}])
        ),
        json!({"foo": {"bar": 1}, "baz": {"bar": 1}})
    );
    assert_eq!(
        apply(
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": 10}])
        ),
        json!({"/": 9, "~1": 10})
    );
}

#[test]
fn kubectl_patch_type_json_and_evanphx_quirks() {
    let cronjob =
        json!({"metadata": {"name": "hello", "labels": {"a": "1"}}, "spec": {"suspend": false}});
    assert_eq!(
        apply(
            cronjob.clone(),
            json!([{"op": "replace", "path": "/spec/suspend", "value": true}])
        ),
        json!({"metadata": {"name": "hello", "labels": {"a": "1"}}, "spec": {"suspend": true}})
    );
    // `replace` of an absent member of an existing object adds it, as evanphx/json-patch does.
    assert_eq!(
        apply(
            cronjob.clone(),
            json!([{"op": "replace", "path": "/metadata/labels/b", "value": "2"}])
        ),
        json!({"metadata": {"name": "hello", "labels": {"a": "1", "b": "2"}}, "spec": {"suspend": false}})
    );
    // A missing `value` is null.
    assert_eq!(
        apply(cronjob.clone(), json!([{"op": "add", "path": "/spec/x"}])),
        json!({"metadata": {"name": "hello", "labels": {"a": "1"}}, "spec": {"suspend": false, "x": null}})
    );
    // A null patch is an empty one.
    assert_eq!(apply(cronjob.clone(), Value::Null), cronjob);
    assert_eq!(apply(cronjob.clone(), json!([])), cronjob);
}

#[test]
fn undecodable_patches_are_bad_requests() {
    let cases = [
        (
            json!({"op": "add"}),
            "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
        ),
        (
            json!(["add"]),
            "error decoding patch: json: cannot unmarshal string into Go value of type handlers.jsonPatchOp",
        ),
        (
            json!([{"op": "add", "path": 5, "value": 1}]),
            "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string",
        ),
        (
            json!([{"op": ["add"], "path": "/a"}]),
            "error decoding patch: json: cannot unmarshal array into Go struct field jsonPatchOp.op of type string",
        ),
    ];
    for (patch, want) in cases {
        let err = fail(json!({}), patch);
        assert_eq!(err.to_string(), want);
        assert_eq!(err.code(), 400);
    }
}

#[test]
fn too_many_operations_are_refused() {
    let ops = vec![json!({"op": "test", "path": "/a", "value": 1}); MAX_JSON_PATCH_OPERATIONS + 1];
    let err = fail(json!({"a": 1}), Value::Array(ops));
    assert_eq!(
        err.to_string(),
        "The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
    assert_eq!(err.code(), 413);
    let ops = vec![json!({"op": "test", "path": "/a", "value": 1}); MAX_JSON_PATCH_OPERATIONS];
    assert_eq!(apply(json!({"a": 1}), Value::Array(ops)), json!({"a": 1}));
}

#[test]
fn failing_operations_are_unprocessable_and_worded_as_evanphx() {
    let doc = json!({"a": {"b": 1}, "l": [1]});
    let cases = [
        (
            json!([{"op": "frob", "path": "/a"}]),
            "Unexpected kind: frob",
        ),
        (json!([{"path": "/a"}]), "Unexpected kind: unknown"),
        (json!([null]), "Unexpected kind: unknown"),
        (
            json!([{"op": "test", "path": "/a/b", "value": 2}]),
            "testing value /a/b failed: test failed",
        ),
        (
            json!([{"op": "test", "path": "/x", "value": 2}]),
            "test operation does not apply: is missing path: /x: missing value",
        ),
        (
            json!([{"op": "add", "value": 1}]),
            "add operation failed to decode path: missing value",
        ),
        (
            json!([{"op": "replace", "value": 1}]),
            "replace operation failed to decode path: operation missing path field: missing value",
        ),
        (
            json!([{"op": "add", "path": "/x/y", "value": 1}]),
            "add operation does not apply: doc is missing path: \"/x/y\": missing value",
        ),
        (
            json!([{"op": "add", "path": "", "value": 1}]),
            "add operation does not apply: doc is missing path: \"\": missing value",
        ),
        (
            json!([{"op": "remove", "path": "/a/c"}]),
            "remove operation does not apply: doc is missing path: \"/a/c\": missing value",
        ),
        (
            json!([{"op": "replace", "path": "/x/y", "value": 1}]),
            "replace operation does not apply: doc is missing path: /x/y: missing value",
        ),
        (
            json!([{"op": "replace", "path": "/l/3", "value": 1}]),
            "replace operation does not apply: doc is missing path: /l/3: missing value",
        ),
        (
            json!([{"op": "move", "path": "/c"}]),
            "move operation failed to decode from: operation, missing from field: missing value",
        ),
        (
            json!([{"op": "move", "from": "/x", "path": "/c"}]),
            "move operation does not apply: doc is missing from path: /x: missing value",
        ),
        (
            json!([{"op": "copy", "from": "/a", "path": "/x/y"}]),
            "copy operation does not apply: doc is missing destination path: /x/y: missing value",
        ),
        (
            json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
            "move operation does not apply: doc is missing destination path: /a/b/c: missing value",
        ),
        (
            json!([{"op": "add", "path": "a", "value": 1}]),
            "add operation does not apply: doc is missing path: \"a\": missing value",
        ),
    ];
    for (patch, want) in cases {
        let err = fail(doc.clone(), patch.clone());
        assert_eq!(err.to_string(), want, "{patch}");
        assert_eq!(err.code(), 422);
    }
    // A failing operation fails the whole patch, including operations before it.
    let err = fail(
        doc,
        json!([
            {"op": "add", "path": "/z", "value": 1},
            {"op": "test", "path": "/z", "value": 2}
        ]),
    );
    assert_eq!(
        err,
        PatchError::JsonPatchOperation("testing value /z failed: test failed".to_owned())
    );
}
