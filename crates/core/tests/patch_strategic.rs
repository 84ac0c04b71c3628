//! Strategic merge patch against apimachinery's `strategicpatch` test cases (patch_test.go),
//! re-expressed on a Job: its `mergingList` is the containers list (merge key `name`, with
//! `value` as `image` and `other` as `workingDir`), a nested `mergingList` is a container's `env`,
//! `nonMergingList` a container's `envFrom` (atomic), `mergingIntList` `metadata.finalizers`
//! (a set), `nonMergingIntList` a container's `args` and `retainKeysMergingList` the volumes.

use kbatch_core::object::{JOB, POD};
use kbatch_core::patch::{PatchError, strategic_merge_patch};
use serde_json::{Value, json};

/// A Job whose pod spec is `spec`.
fn job(spec: Value) -> Value {
    json!({"spec": {"template": {"spec": spec}}})
}

fn smp(original: &Value, patch: &Value) -> Value {
    strategic_merge_patch(original, patch, &JOB).unwrap()
}

fn smp_err(original: &Value, patch: &Value) -> PatchError {
    strategic_merge_patch(original, patch, &JOB).unwrap_err()
}

fn finalizers(items: &[&str]) -> Value {
    json!({"metadata": {"finalizers": items}})
}

#[test]
fn kubectl_apply_body_replaces_the_command_and_keeps_the_rest() {
    let original = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "annotations": {"a": "1"}, "labels": {"app": "pi"}},
        "spec": {"backoffLimit": 4, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "1"]}]
        }}}
    });
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                     "labels": {"app": "pi2"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "pi"}],
            "containers": [{"command": ["sh", "-c", "echo changed"], "name": "pi"}]
        }}}
    });
    assert_eq!(
        smp(&original, &patch),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi",
                         "annotations": {"a": "1", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                         "labels": {"app": "pi2"}},
            "spec": {"backoffLimit": 4, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "pi", "image": "perl", "command": ["sh", "-c", "echo changed"]}]
            }}}
        })
    );
}

#[test]
fn maps_merge_and_null_deletes() {
    let original =
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"parallelism": 2}});
    let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"parallelism": null, "completions": 5}});
    assert_eq!(
        smp(&original, &patch),
        json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"completions": 5}})
    );
    // Nulls inside a value new to the object are dropped, not stored.
    let added = smp(
        &json!({}),
        &json!({"metadata": {"labels": {"x": null, "y": "1"}}}),
    );
    assert_eq!(added, json!({"metadata": {"labels": {"y": "1"}}}));
    // A null patch changes nothing.
    assert_eq!(smp(&original, &Value::Null), original);
}

#[test]
fn nested_patch_merge_with_empty_list() {
    let patch = job(json!({"containers": [
        {"name": "hello"},
        {"$patch": "delete", "name": "doesntexist"}
    ]}));
    assert_eq!(
        smp(&job(json!({"restartPolicy": "Never"})), &patch),
        job(json!({"restartPolicy": "Never", "containers": [{"name": "hello"}]}))
    );
    let three_way = job(json!({
        "$setElementOrder/containers": [{"name": "hello"}, {"name": "doesntexist"}],
        "containers": [{"name": "hello"}]
    }));
    assert_eq!(
        smp(
            &job(json!({"containers": [{"name": "hello2"}]})),
            &three_way
        ),
        job(json!({"containers": [{"name": "hello"}, {"name": "hello2"}]}))
    );
}

#[test]
fn scalar_sets_delete_add_and_keep_order() {
    let patch = json!({"metadata": {
        "$setElementOrder/finalizers": ["1", "2"],
        "$deleteFromPrimitiveList/finalizers": ["3"]
    }});
    assert_eq!(
        smp(&finalizers(&["1", "2", "3"]), &patch),
        finalizers(&["1", "2"])
    );
    assert_eq!(
        smp(&finalizers(&["1", "2", "3", "4"]), &patch),
        finalizers(&["1", "2", "4"])
    );
    assert_eq!(
        smp(&finalizers(&["1", "2", "3", "3", "4"]), &patch),
        finalizers(&["1", "2", "4"])
    );
    let add_and_delete = json!({"metadata": {
        "$setElementOrder/finalizers": ["1", "2", "4"],
        "$deleteFromPrimitiveList/finalizers": ["3"],
        "finalizers": ["4"]
    }});
    assert_eq!(
        smp(&finalizers(&["1", "2", "3"]), &add_and_delete),
        finalizers(&["1", "2", "4"])
    );
    // Unique scalars when merging lists.
    assert_eq!(
        smp(&finalizers(&["1", "2"]), &finalizers(&["2", "3"])),
        finalizers(&["1", "2", "3"])
    );
    // The patch's order wins; items only stored keep their place relative to the others.
    assert_eq!(
        smp(&finalizers(&["1", "2", "3"]), &finalizers(&["3", "1", "2"])),
        finalizers(&["3", "1", "2"])
    );
    assert_eq!(
        smp(&finalizers(&["1", "2", "3"]), &finalizers(&["3", "1"])),
        finalizers(&["2", "3", "1"])
    );
}

#[test]
fn delete_from_primitive_list_edge_cases() {
    let delete3 = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}});
    assert_eq!(
        smp(&finalizers(&["1", "2"]), &delete3),
        finalizers(&["1", "2"])
    );
    let null_list = json!({"metadata": {"finalizers": null}});
    assert_eq!(smp(&null_list, &delete3), null_list);
    let other = json!({"metadata": {"name": "x"}});
    assert_eq!(smp(&other, &delete3), other);
    // Lists without a merge strategy lose the items too.
    let args = |a: &[&str]| job(json!({"containers": [{"name": "c", "args": a}]}));
    let patch = job(json!({"containers": [{"name": "c", "$deleteFromPrimitiveList/args": ["2"]}]}));
    assert_eq!(smp(&args(&["1", "2", "3"]), &patch), args(&["1", "3"]));
}

#[test]
fn merge_lists_of_maps_orders_by_set_element_order() {
    let current = job(json!({"containers": [
        {"name": "1", "workingDir": "a"},
        {"name": "2", "image": "2", "workingDir": "b"}
    ]}));
    let patch = job(json!({
        "$setElementOrder/containers": [{"name": "4"}, {"name": "1"}, {"name": "2"}, {"name": "3"}],
        "containers": [{"name": "4", "image": "4"}, {"name": "3", "image": "3"}]
    }));
    assert_eq!(
        smp(&current, &patch),
        job(json!({"containers": [
            {"name": "4", "image": "4"},
            {"name": "1", "workingDir": "a"},
            {"name": "2", "image": "2", "workingDir": "b"},
            {"name": "3", "image": "3"}
        ]}))
    );
}

#[test]
fn add_map_and_delete_map_from_merging_list() {
    let current = job(json!({"containers": [
        {"name": "1"},
        {"name": "2", "workingDir": "b"},
        {"name": "4", "workingDir": "c"}
    ]}));
    let patch = job(json!({
        "$setElementOrder/containers": [{"name": "2"}, {"name": "3"}],
        "containers": [{"name": "3"}, {"name": "1", "$patch": "delete"}]
    }));
    assert_eq!(
        smp(&current, &patch),
        job(json!({"containers": [
            {"name": "2", "workingDir": "b"},
            {"name": "4", "workingDir": "c"},
            {"name": "3"}
        ]}))
    );
}

#[test]
fn preserve_the_order_from_the_patch_in_a_merging_list() {
    let original = job(json!({"containers": [
        {"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}
    ]}));
    let all = job(json!({"containers": [
        {"name": "3", "image": "c"}, {"name": "1", "image": "a"}, {"name": "2", "workingDir": "x"}
    ]}));
    assert_eq!(
        smp(&original, &all),
        job(json!({"containers": [
            {"name": "3", "image": "c"},
            {"name": "1", "image": "a"},
            {"name": "2", "image": "b", "workingDir": "x"}
        ]}))
    );
    let some = job(json!({"containers": [
        {"name": "3", "image": "c"}, {"name": "1", "image": "a"}
    ]}));
    assert_eq!(
        smp(&original, &some),
        job(json!({"containers": [
            {"name": "2", "image": "b"},
            {"name": "3", "image": "c"},
            {"name": "1", "image": "a"}
        ]}))
    );
}

#[test]
fn set_element_order_with_server_only_items() {
    let order = job(json!({"$setElementOrder/containers": [
        {"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}
    ]}));
    let current = job(json!({"containers": [
        {"name": "1", "workingDir": "a"},
        {"name": "2", "image": "2"},
        {"name": "7"},
        {"name": "9"},
        {"name": "8"},
        {"name": "3", "image": "3"},
        {"name": "4", "image": "4"}
    ]}));
    assert_eq!(
        smp(&current, &order),
        job(json!({"containers": [
            {"name": "2", "image": "2"},
            {"name": "1", "workingDir": "a"},
            {"name": "7"},
            {"name": "9"},
            {"name": "8"},
            {"name": "4", "image": "4"},
            {"name": "3", "image": "3"}
        ]}))
    );
    let order = job(json!({"$setElementOrder/containers": [
        {"name": "4"}, {"name": "2"}, {"name": "3"}, {"name": "1"}
    ]}));
    let current = job(json!({"containers": [
        {"name": "1", "workingDir": "a"},
        {"name": "3"},
        {"name": "4"},
        {"name": "2"},
        {"name": "9"}
    ]}));
    assert_eq!(
        smp(&current, &order),
        job(json!({"containers": [
            {"name": "4"},
            {"name": "2"},
            {"name": "3"},
            {"name": "1", "workingDir": "a"},
            {"name": "9"}
        ]}))
    );
}

#[test]
fn set_element_order_naming_absent_items() {
    let original = job(json!({"containers": [{"name": "1"}, {"name": "3"}]}));
    let patch = job(json!({
        "$setElementOrder/containers": [{"name": "3"}, {"name": "2"}, {"name": "1"}],
        "containers": [{"name": "3", "image": "3"}, {"name": "1", "image": "1"}]
    }));
    assert_eq!(
        smp(&original, &patch),
        job(json!({"containers": [{"name": "3", "image": "3"}, {"name": "1", "image": "1"}]}))
    );
    let ints = json!({"metadata": {"$setElementOrder/finalizers": ["3", "2", "1"]}});
    assert_eq!(
        smp(&finalizers(&["1", "3"]), &ints),
        finalizers(&["3", "1"])
    );
}

#[test]
fn set_element_order_with_duplicates() {
    let original = job(json!({"containers": [
        {"name": "1"}, {"name": "2", "image": "dup1"}, {"name": "3"},
        {"name": "2", "image": "dup2"}, {"name": "4"}
    ]}));
    let order = job(json!({"$setElementOrder/containers": [
        {"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}, {"name": "2"}
    ]}));
    assert_eq!(
        smp(&original, &order),
        job(json!({"containers": [
            {"name": "2", "image": "dup1"}, {"name": "2", "image": "dup2"},
            {"name": "1"}, {"name": "4"}, {"name": "3"}
        ]}))
    );
    let ints = json!({"metadata": {"$setElementOrder/finalizers": ["2", "1", "4", "3", "2"]}});
    assert_eq!(
        smp(&finalizers(&["1", "2", "3", "2", "4"]), &ints),
        finalizers(&["2", "2", "1", "4", "3"])
    );
}

#[test]
fn delete_and_reorder_in_one_list_reorder_in_another() {
    let original = job(json!({
        "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}],
        "initContainers": [{"name": "c", "image": "c"}, {"name": "d", "image": "d"}]
    }));
    let patch = job(json!({
        "$setElementOrder/containers": [{"name": "b"}],
        "$setElementOrder/initContainers": [{"name": "d"}, {"name": "c"}],
        "containers": [{"$patch": "delete", "name": "a"}]
    }));
    assert_eq!(
        smp(&original, &patch),
        job(json!({
            "containers": [{"name": "b", "image": "b"}],
            "initContainers": [{"name": "d", "image": "d"}, {"name": "c", "image": "c"}]
        }))
    );
}

#[test]
fn lists_nested_in_merging_lists() {
    // A nested merge list (env) merges; a nested atomic list (envFrom) is replaced.
    let current = job(json!({"containers": [
        {"name": "1", "workingDir": "a",
         "env": [{"name": "1"}, {"name": "2", "value": "2"}],
         "envFrom": [{"prefix": "1"}, {"prefix": "2", "configMapRef": {"name": "2"}}]},
        {"name": "2", "workingDir": "b"}
    ]}));
    let patch = job(json!({
        "$setElementOrder/containers": [{"name": "1"}, {"name": "2"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "1"}, {"name": "2"}],
            "name": "1",
            "env": [{"name": "1", "value": "1"}],
            "envFrom": [{"prefix": "1", "configMapRef": {"name": "1"}}]
        }]
    }));
    assert_eq!(
        smp(&current, &patch),
        job(json!({"containers": [
            {"name": "1", "workingDir": "a",
             "env": [{"name": "1", "value": "1"}, {"name": "2", "value": "2"}],
             "envFrom": [{"prefix": "1", "configMapRef": {"name": "1"}}]},
            {"name": "2", "workingDir": "b"}
        ]}))
    );
}

#[test]
fn delete_field_and_missing_map_in_merging_list() {
    let current = job(json!({"containers": [
        {"name": "1", "image": "1", "workingDir": "a"},
        {"name": "2", "image": "2"}
    ]}));
    let patch = job(json!({"containers": [
        {"name": "1", "image": null},
        {"name": "3", "$patch": "delete"}
    ]}));
    assert_eq!(
        smp(&current, &patch),
        job(json!({"containers": [
            {"name": "1", "workingDir": "a"},
            {"name": "2", "image": "2"}
        ]}))
    );
}

#[test]
fn patch_directives_on_maps_and_lists() {
    // `$patch: delete` on a map empties it; `$patch: replace` swaps it for the patch.
    let labelled = json!({"metadata": {"labels": {"key1": "1", "key2": "1"}}});
    assert_eq!(
        smp(
            &labelled,
            &json!({"metadata": {"labels": {"$patch": "delete"}}})
        ),
        json!({"metadata": {"labels": {}}})
    );
    assert_eq!(
        smp(
            &labelled,
            &json!({"metadata": {"labels": {"$patch": "replace", "other": "a"}}})
        ),
        json!({"metadata": {"labels": {"other": "a"}}})
    );
    assert_eq!(smp(&labelled, &json!({"$patch": "replace"})), json!({}));
    // `$patch: replace` as a list item replaces the list with the other items.
    let two = job(json!({"containers": [{"name": "1"}, {"name": "2"}]}));
    assert_eq!(
        smp(&two, &job(json!({"containers": [{"$patch": "replace"}]}))),
        job(json!({"containers": []}))
    );
    assert_eq!(
        smp(
            &two,
            &job(json!({"containers": [{"name": "3", "image": "x"}, {"$patch": "replace"}]}))
        ),
        job(json!({"containers": [{"name": "3", "image": "x"}]}))
    );
    // `$patch: delete` items remove every item with the key.
    let dups = job(json!({"containers": [
        {"name": "1"}, {"name": "1"}, {"name": "2", "image": "a"}, {"name": "3"}, {"name": "3"}
    ]}));
    let patch = job(json!({"containers": [
        {"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}
    ]}));
    assert_eq!(
        smp(&dups, &patch),
        job(json!({"containers": [{"name": "2", "image": "a"}]}))
    );
    // Empty merge lists stay empty.
    let empty = job(json!({"containers": []}));
    assert_eq!(smp(&empty, &empty), empty);
}

#[test]
fn retain_keys_clears_the_other_members_of_a_volume() {
    let current = job(json!({"volumes": [
        {"name": "bar"},
        {"name": "foo", "emptyDir": {}, "hostPath": {"path": "/x"}}
    ]}));
    let patch = job(json!({
        "$setElementOrder/volumes": [{"name": "bar"}, {"name": "foo"}],
        "volumes": [{"$retainKeys": ["name", "configMap"], "name": "foo", "configMap": {"name": "cm"}}]
    }));
    assert_eq!(
        smp(&current, &patch),
        job(json!({"volumes": [
            {"name": "bar"},
            {"name": "foo", "configMap": {"name": "cm"}}
        ]}))
    );
    // Without the directive the members merge.
    let plain = job(json!({"volumes": [{"name": "foo", "configMap": {"name": "cm"}}]}));
    assert_eq!(
        smp(&current, &plain),
        job(json!({"volumes": [
            {"name": "bar"},
            {"name": "foo", "emptyDir": {}, "hostPath": {"path": "/x"}, "configMap": {"name": "cm"}}
        ]}))
    );
}

#[test]
fn atomic_lists_are_replaced() {
    let current = job(json!({"tolerations": [{"key": "a"}, {"key": "b"}],
                             "containers": [{"name": "c", "command": ["a", "b"]}]}));
    let patch = job(json!({"tolerations": [{"key": "c"}],
                           "containers": [{"name": "c", "command": ["x"]}]}));
    assert_eq!(
        smp(&current, &patch),
        job(json!({"tolerations": [{"key": "c"}],
                   "containers": [{"name": "c", "command": ["x"]}]}))
    );
}

#[test]
fn directives_never_reach_the_result() {
    let original = job(json!({"restartPolicy": "Never"}));
    let patch = job(json!({
        "initContainers": [
            {"name": "a", "$setElementOrder/env": [{"name": "x"}], "env": [{"name": "x"}, {"name": "y", "$patch": "delete"}]},
            {"name": "gone", "$patch": "delete"}
        ],
        "containers": [{"name": "c", "env": [{"name": "e", "$patch": "delete"}]}],
        "tolerations": [{"key": "t"}, {"$patch": "delete"}],
        "nodeSelector": {"$patch": "replace", "zone": "a"}
    }));
    assert_eq!(
        smp(&original, &patch),
        job(json!({
            "restartPolicy": "Never",
            "initContainers": [{"name": "a", "env": [{"name": "x"}]}],
            "containers": [{"name": "c", "env": []}],
            "tolerations": [{"key": "t"}]
        }))
    );
    // Appended items and replaced lists are cleaned too.
    let current = job(json!({"containers": [{"name": "c"}], "tolerations": [{"key": "a"}]}));
    let patch = job(json!({
        "containers": [{"name": "d", "env": [{"name": "z", "$patch": "delete"}], "$retainKeys": ["name"]}],
        "tolerations": [{"key": "t", "$setElementOrder/x": []}]
    }));
    // Without `$setElementOrder`, items new to the list come before the stored ones.
    assert_eq!(
        smp(&current, &patch),
        job(json!({
            "containers": [{"name": "d", "env": []}, {"name": "c"}],
            "tolerations": [{"key": "t"}]
        }))
    );
}

#[test]
fn pod_and_job_status_lists_merge_by_type() {
    let pod = json!({"status": {"conditions": [
        {"type": "Ready", "status": "False"},
        {"type": "PodScheduled", "status": "True"}
    ]}});
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(
        strategic_merge_patch(&pod, &patch, &POD).unwrap(),
        json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "PodScheduled", "status": "True"}
        ]}})
    );
}

#[test]
fn malformed_patches_fail_as_the_apiserver_fails_them() {
    let original = job(json!({"containers": [{"name": "1", "image": "a"}]}));

    let err = smp_err(&original, &json!([1]));
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(err.code(), 400);
    assert_eq!(
        smp_err(&original, &json!("x")).to_string(),
        "json: cannot unmarshal string into Go value of type map[string]interface {}"
    );

    let err = smp_err(&original, &job(json!({"containers": [{"image": "b"}]})));
    assert_eq!(
        err.to_string(),
        "map: map[image:b] does not contain declared merge key: name"
    );
    assert_eq!(err.code(), 500);
    // Values print as Go's %v prints decoded JSON.
    assert_eq!(
        smp_err(
            &original,
            &job(json!({"containers": [{"image": 1.5, "x": 1e-7, "y": 2e6, "z": null, "l": [true, 3]}]}))
        )
        .to_string(),
        "map: map[image:1.5 l:[true 3] x:1e-07 y:2e+06 z:<nil>] does not contain declared merge key: name"
    );
    assert_eq!(
        smp_err(
            &original,
            &job(json!({"containers": [{"$patch": "delete", "image": "b"}]}))
        )
        .to_string(),
        "map: map[$patch:delete image:b] does not contain declared merge key: name"
    );

    let err = smp_err(
        &json!({"metadata": {"name": "x"}}),
        &json!({"metadata": {"$patch": "merge"}}),
    );
    assert_eq!(
        err.to_string(),
        "unknown patch type: merge in map: map[$patch:merge]"
    );
    // A directive map for a field the object lacks is dropped before it is ever read.
    assert_eq!(
        smp(&original, &json!({"metadata": {"$patch": "merge"}})),
        original
    );
    assert_eq!(
        smp_err(
            &json!({"metadata": {}}),
            &json!({"metadata": {"$patch": 5}})
        )
        .to_string(),
        "unknown patch type: %!s(int64=5) in map: map[$patch:5]"
    );
    assert_eq!(
        smp_err(
            &original,
            &job(json!({"containers": [{"name": "1", "$patch": "oops"}]}))
        )
        .to_string(),
        "unknown patch type: oops in map: map[$patch:oops name:1]"
    );
    assert_eq!(
        smp_err(
            &original,
            &job(json!({"containers": [{"$patch": "merge"}]}))
        )
        .to_string(),
        "merging lists cannot yet be specified in the patch"
    );

    let err = smp_err(
        &original,
        &job(
            json!({"$setElementOrder/containers": [{"name": "1"}], "containers": [{"name": "2"}]}),
        ),
    );
    assert_eq!(
        err.to_string(),
        "The order in patch list:\n[map[name:2]]\n doesn't match $setElementOrder list:\n[map[name:1]]\n"
    );
    let err = smp_err(
        &finalizers(&["1", "3", "2"]),
        &json!({"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3", "1"]}}),
    );
    assert!(err.to_string().contains("doesn't match"), "{err}");

    let bad_order = smp_err(&original, &job(json!({"$setElementOrder": []})));
    assert_eq!(bad_order, PatchError::BadSetElementOrder);
    assert_eq!(bad_order.code(), 400);
    assert_eq!(
        bad_order.to_string(),
        "invalid patch format of setElementOrder list"
    );
    assert_eq!(
        smp_err(
            &finalizers(&["a"]),
            &json!({"metadata": {"$deleteFromPrimitiveList": ["x"]}})
        ),
        PatchError::BadPrimitiveList
    );
    assert_eq!(
        smp_err(&original, &job(json!({"$retainKeys": "name"}))),
        PatchError::BadRetainKeys
    );
    assert_eq!(
        smp_err(
            &original,
            &job(json!({"$retainKeys": ["name"], "restartPolicy": "Never"}))
        ),
        PatchError::BadRetainKeys
    );
    assert_eq!(
        smp_err(
            &finalizers(&["a"]),
            &json!({"metadata": {"$setElementOrder/finalizers": "a"}})
        )
        .to_string(),
        "expected a []interface {}, but received a string"
    );

    assert_eq!(
        smp_err(
            &job(json!({"tolerations": [{"key": "a"}]})),
            &job(json!({"$deleteFromPrimitiveList/tolerations": [{"key": "a"}]}))
        )
        .to_string(),
        "cannot merge lists without merge key for struct"
    );

    let err = smp_err(
        &finalizers(&[]),
        &json!({"metadata": {"finalizers": [["b"]]}}),
    );
    assert_eq!(err, PatchError::ListOfLists);
    assert_eq!(err.code(), 422);
    assert_eq!(
        smp_err(
            &finalizers(&["a"]),
            &json!({"metadata": {"finalizers": [1]}})
        )
        .to_string(),
        "list element types are not identical: [[a] [1]]"
    );
    assert_eq!(
        smp_err(
            &finalizers(&["a"]),
            &json!({"metadata": {"finalizers": [["b"]]}})
        )
        .to_string(),
        "list element types are not identical: [[a] [[b]]]"
    );
}
