//! A Pod's QoS class on create (`ComputePodQOS`, stored by the pod strategy's
//! `PrepareForCreate`) and the rules of a write to its `/status` (`ValidatePodStatusUpdate`),
//! through admission as the API server runs it.

mod common;

use common::{assert_no_failures, check_errors, ctx, patched};
use kbatch_core::admission::{admit_create, admit_update_status};
use kbatch_core::k8s_openapi::api::core::v1::Pod;
use kbatch_core::object::Object;
use serde_json::{Value, json};

fn pod(patch: Value) -> Pod {
    let base = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "a", "image": "busybox"}]
        }
    });
    serde_json::from_value(patched(base, patch)).unwrap()
}

fn create(patch: Value) -> Pod {
    match admit_create(Object::Pod(pod(patch)), &ctx()) {
        Ok(admitted) => match admitted.object {
            Object::Pod(p) => p,
            other => panic!("admitted {other:?}"),
        },
        Err(rejected) => panic!("create rejected: {:#?}", rejected.errors),
    }
}

fn resources(limits: Value, requests: Value) -> Value {
    json!({"limits": limits, "requests": requests})
}

#[test]
fn qos_class_on_create() {
    let none = json!(null);
    // (case, containers, init containers, expected class)
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        (
            "no resources",
            json!([{"name": "a", "image": "i"}]),
            none.clone(),
            "BestEffort",
        ),
        (
            "a CPU request only",
            json!([{"name": "a", "image": "i", "resources": resources(json!(null), json!({"cpu": "100m"}))}]),
            none.clone(),
            "Burstable",
        ),
        (
            "limits on both, requests defaulted from them",
            json!([{"name": "a", "image": "i", "resources": resources(json!({"cpu": "1", "memory": "64Mi"}), json!(null))}]),
            none.clone(),
            "Guaranteed",
        ),
        (
            "equal values written differently",
            json!([{"name": "a", "image": "i", "resources": resources(json!({"cpu": "1", "memory": "1Gi"}), json!({"cpu": "1000m", "memory": "1073741824"}))}]),
            none.clone(),
            "Guaranteed",
        ),
        (
            "requests below the limits",
            json!([{"name": "a", "image": "i", "resources": resources(json!({"cpu": "1", "memory": "64Mi"}), json!({"cpu": "500m", "memory": "64Mi"}))}]),
            none.clone(),
            "Burstable",
        ),
        (
            "a memory limit only",
            json!([{"name": "a", "image": "i", "resources": resources(json!({"memory": "64Mi"}), json!(null))}]),
            none.clone(),
            "Burstable",
        ),
        (
            "two containers, one without resources",
            json!([
                {"name": "a", "image": "i", "resources": resources(json!({"cpu": "1", "memory": "64Mi"}), json!(null))},
                {"name": "b", "image": "i"}
            ]),
            none.clone(),
            "Burstable",
        ),
        (
            "two guaranteed containers",
            json!([
                {"name": "a", "image": "i", "resources": resources(json!({"cpu": "1", "memory": "64Mi"}), json!(null))},
                {"name": "b", "image": "i", "resources": resources(json!({"cpu": "250m", "memory": "1Gi"}), json!(null))}
            ]),
            none.clone(),
            "Guaranteed",
        ),
        (
            "an init container counts",
            json!([{"name": "a", "image": "i", "resources": resources(json!({"cpu": "1", "memory": "64Mi"}), json!(null))}]),
            json!([{"name": "init", "image": "i", "resources": resources(json!(null), json!({"cpu": "1"}))}]),
            "Burstable",
        ),
        (
            "only an extended resource",
            json!([{"name": "a", "image": "i", "resources": resources(json!({"example.com/gpu": "1"}), json!({"example.com/gpu": "1"}))}]),
            none.clone(),
            "BestEffort",
        ),
        (
            "zero requests do not count",
            json!([{"name": "a", "image": "i", "resources": resources(json!(null), json!({"cpu": "0", "memory": "0"}))}]),
            none.clone(),
            "BestEffort",
        ),
    ];
    let mut failures = Vec::new();
    for (case, containers, init, expected) in cases {
        let created = create(json!({"spec": {"containers": containers, "initContainers": init}}));
        let class = created.status.and_then(|s| s.qos_class);
        if class.as_deref() != Some(expected) {
            failures.push(format!("{case}: expected {expected}, got {class:?}"));
        }
    }
    assert_no_failures(failures);
}

/// Admits a status write: `create_patch` makes the pod, `stored` is the status it holds,
/// `written` the status the write sends.
fn update_status(create_patch: Value, stored: Value, written: Value) -> Result<Pod, Vec<String>> {
    let created = serde_json::to_value(create(create_patch)).unwrap();
    let old = patched(
        created,
        json!({"metadata": {"resourceVersion": "1"}, "status": stored}),
    );
    let new: Pod =
        serde_json::from_value(patched(old.clone(), json!({"status": written}))).unwrap();
    let old: Pod = serde_json::from_value(old).unwrap();
    match admit_update_status(Object::Pod(new), &Object::Pod(old), &ctx()) {
        Ok(admitted) => match admitted.object {
            Object::Pod(p) => Ok(p),
            other => panic!("admitted {other:?}"),
        },
        Err(rejected) => Err(rejected.errors.iter().map(|e| e.to_string()).collect()),
    }
}

fn state(s: Value) -> Value {
    json!({"containerStatuses": [{"name": "a", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": s}]})
}

#[test]
fn status_updates() {
    let terminated = |code: i32| json!({"terminated": {"exitCode": code}});
    let running = json!({"running": {}});
    let waiting = json!({"waiting": {"reason": "CrashLoopBackOff"}});
    let never = json!({});
    let on_failure = json!({"spec": {"restartPolicy": "OnFailure"}});
    let always = json!({"spec": {"restartPolicy": "Always"}});
    let forbidden = "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state";
    let init = |policy: Option<&str>| json!({"spec": {"initContainers": [{"name": "i", "image": "i", "restartPolicy": policy}]}});
    let init_state = |s: Value| json!({"initContainerStatuses": [{"name": "i", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": s}]});
    // (case, create patch, stored status, written status, expected errors)
    let cases: Vec<(&str, Value, Value, Value, Vec<&str>)> = vec![
        (
            "Never: terminated stays terminated",
            never.clone(),
            state(terminated(0)),
            state(running.clone()),
            vec![forbidden],
        ),
        (
            "Never: a failed container too",
            never.clone(),
            state(terminated(1)),
            state(waiting.clone()),
            vec![forbidden],
        ),
        (
            "Never: running to terminated",
            never.clone(),
            state(running.clone()),
            state(terminated(0)),
            vec![],
        ),
        (
            "OnFailure: a failed container restarts",
            on_failure.clone(),
            state(terminated(1)),
            state(waiting.clone()),
            vec![],
        ),
        (
            "OnFailure: a succeeded one does not",
            on_failure.clone(),
            state(terminated(0)),
            state(running.clone()),
            vec![forbidden],
        ),
        (
            "Always: anything goes",
            always.clone(),
            state(terminated(0)),
            state(running.clone()),
            vec![],
        ),
        (
            "the index is the stored status's",
            never.clone(),
            json!({"containerStatuses": [
                {"name": "b", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}},
                {"name": "a", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}
            ]}),
            state(running.clone()),
            vec![
                "status.containerStatuses[1].state: Forbidden: may not be transitioned to non-terminated state",
            ],
        ),
        (
            "an init container stays terminated",
            init(None),
            init_state(terminated(0)),
            init_state(running.clone()),
            vec![
                "status.initContainerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
            ],
        ),
        (
            "a sidecar restarts",
            init(Some("Always")),
            init_state(terminated(0)),
            init_state(running.clone()),
            vec![],
        ),
        (
            "an ephemeral container never restarts, even in an Always pod",
            always.clone(),
            json!({"ephemeralContainerStatuses": [{"name": "e", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]}),
            json!({"ephemeralContainerStatuses": [{"name": "e", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}]}),
            vec![
                "status.ephemeralContainerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
            ],
        ),
        (
            "the QoS class is immutable",
            never.clone(),
            json!({}),
            json!({"qosClass": "Guaranteed"}),
            vec!["status.qosClass: Invalid value: \"Guaranteed\": field is immutable"],
        ),
        (
            "a custom condition's type is a qualified name, at upstream's path",
            never.clone(),
            json!({}),
            json!({"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "example.com/Custom", "status": "True"},
                {"type": "bad type", "status": "True"}
            ]}),
            vec![
                "metadata.conditions[2].Type: Invalid value: \"bad type\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character …",
            ],
        ),
        (
            "the nominated node is a DNS subdomain",
            never.clone(),
            json!({}),
            json!({"nominatedNodeName": "Node_1"}),
            vec![
                "status.nominatedNodeName: Invalid value: \"Node_1\": a lowercase RFC 1123 subdomain must consist of …",
            ],
        ),
        (
            "resource claim statuses name the pod's claims, once",
            json!({"spec": {"resourceClaims": [{"name": "gpu", "resourceClaimName": "c"}]}}),
            json!({}),
            json!({"resourceClaimStatuses": [
                {"name": "gpu", "resourceClaimName": "c"},
                {"name": "gpu", "resourceClaimName": "c"},
                {"name": "other"}
            ]}),
            vec![
                "status.resourceClaimStatuses[1].name: Duplicate value: \"gpu\"",
                "status.resourceClaimStatuses[2].name: Invalid value: \"other\": must match the name of an entry in `spec.resourceClaims`",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (case, create_patch, stored, written, expected) in cases {
        let actual = update_status(create_patch, stored, written)
            .err()
            .unwrap_or_default();
        check_errors(&mut failures, case, &actual, &expected);
    }
    assert_no_failures(failures);
}
