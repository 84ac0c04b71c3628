//! Server-side apply and managedFields through the public API, in the flows kubectl drives:
//! create, client-side apply, `apply --server-side`, conflicts, force, /status writes.

use jiff::Timestamp;
use kbatch_core::apply::{
    ApplyError, LAST_APPLIED_ANNOTATION, Request, apply, conflict_causes,
    ignore_managed_fields_timestamps, record_update,
};
use kbatch_core::object::{JOB, Kind};
use serde_json::{Value, json};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_795_000_000 + second).unwrap()
}

fn req<'a>(kind: &'a Kind, manager: &'a str, now: Timestamp) -> Request<'a> {
    Request {
        kind,
        manager,
        subresource: None,
        now,
    }
}

fn status_req<'a>(kind: &'a Kind, manager: &'a str, now: Timestamp) -> Request<'a> {
    Request {
        subresource: Some("status"),
        ..req(kind, manager, now)
    }
}

/// The managedFields entry of `manager` (and operation), with its fieldsV1 as compact JSON.
fn entry<'a>(obj: &'a Value, manager: &str, operation: &str) -> &'a Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} entry for {manager} in {obj:#}"))
}

fn fields(obj: &Value, manager: &str, operation: &str) -> String {
    serde_json::to_string(&entry(obj, manager, operation)["fieldsV1"]).unwrap()
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap().to_owned(),
                        e["operation"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `pi` Job of the Kubernetes docs, as the apiserver has it after decoding and defaulting.
fn defaulted_pi(annotations: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "annotations": annotations},
        "spec": {
            "backoffLimit": 4,
            "completionMode": "NonIndexed",
            "completions": 1,
            "manualSelector": false,
            "parallelism": 1,
            "podReplacementPolicy": "TerminatingOrFailed",
            "suspend": false,
            "template": {
                "spec": {
                    "containers": [{
                        "name": "pi",
                        "image": "perl:5.34.0",
                        "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"],
                        "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Never",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }
            }
        }
    })
}

/// What the store holds after a create: the server-set metadata on top.
fn stored(mut obj: Value) -> Value {
    let meta = obj["metadata"].as_object_mut().unwrap();
    meta.insert("uid".into(), json!("0b6a6c3e-5a5e-4f0c-9d2a-000000000001"));
    meta.insert("resourceVersion".into(), json!("1"));
    meta.insert("creationTimestamp".into(), json!("2026-11-19T00:00:00Z"));
    meta.insert("generation".into(), json!(1));
    obj
}

fn pi_manifest(parallelism: i64, suspend: bool) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {
            "parallelism": parallelism,
            "suspend": suspend,
            "template": {"spec": {
                "containers": [{"name": "pi", "image": "perl:5.34.0", "command": ["perl"]}],
                "restartPolicy": "Never"
            }}
        }
    })
}

/// `kubectl apply` (client-side) of a new manifest: POST with the annotation, recorded as an
/// Update by kubectl-client-side-apply, then stored.
fn client_side_create(manifest: &Value) -> Value {
    let mut obj = manifest.clone();
    obj["metadata"]["annotations"] = json!({
        LAST_APPLIED_ANNOTATION: serde_json::to_string(manifest).unwrap() + "\n"
    });
    record_update(
        None,
        &mut obj,
        &req(&JOB, "kubectl-client-side-apply", at(0)),
    );
    stored(obj)
}

#[test]
fn create_records_every_set_field_as_kubernetes_shows_it() {
    let mut job = defaulted_pi(json!({LAST_APPLIED_ANNOTATION: "{}\n"}));
    record_update(
        None,
        &mut job,
        &req(&JOB, "kubectl-client-side-apply", at(0)),
    );
    let e = entry(&job, "kubectl-client-side-apply", "Update");
    assert_eq!(e["apiVersion"], "batch/v1");
    assert_eq!(e["time"], "2026-11-18T11:06:40Z");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert_eq!(
        fields(&job, "kubectl-client-side-apply", "Update"),
        concat!(
            r#"{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"#,
            r#""f:spec":{"f:backoffLimit":{},"f:completionMode":{},"f:completions":{},"f:manualSelector":{},"#,
            r#""f:parallelism":{},"f:podReplacementPolicy":{},"f:suspend":{},"f:template":{"f:spec":{"#,
            r#""f:containers":{"k:{\"name\":\"pi\"}":{".":{},"f:command":{},"f:image":{},"f:imagePullPolicy":{},"#,
            r#""f:name":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"#,
            r#""f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"#,
            r#""f:terminationGracePeriodSeconds":{}}}}}"#
        )
    );
}

#[test]
fn template_labels_are_an_added_map_but_the_template_is_not() {
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "x", "labels": {"app": "x"}},
        "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"active": 1}
    });
    record_update(None, &mut job, &req(&JOB, "kubectl-create", at(0)));
    assert_eq!(
        fields(&job, "kubectl-create", "Update"),
        concat!(
            r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"#,
            r#""f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{}}}}}}}"#
        )
    );
}

#[test]
fn server_side_create_owns_exactly_the_applied_fields() {
    let config = pi_manifest(2, false);
    let job = apply(None, &config, &req(&JOB, "kubectl", at(5)), false).unwrap();
    assert_eq!(managers(&job), [("kubectl".into(), "Apply".into())]);
    let e = entry(&job, "kubectl", "Apply");
    assert_eq!(e["apiVersion"], "batch/v1");
    assert_eq!(e["time"], "2026-11-18T11:06:45Z");
    assert_eq!(
        fields(&job, "kubectl", "Apply"),
        concat!(
            r#"{"f:spec":{"f:parallelism":{},"f:suspend":{},"f:template":{"f:spec":{"f:containers":"#,
            r#"{"k:{\"name\":\"pi\"}":{".":{},"f:command":{},"f:image":{},"f:name":{}}},"f:restartPolicy":{}}}}}"#
        )
    );
    let mut without = job.clone();
    without["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    assert_eq!(without, config);
}

#[test]
fn server_side_apply_twice_with_a_changed_value() {
    let first = stored(
        apply(
            None,
            &pi_manifest(2, false),
            &req(&JOB, "kubectl", at(0)),
            false,
        )
        .unwrap(),
    );
    let second = apply(
        Some(&first),
        &pi_manifest(3, false),
        &req(&JOB, "kubectl", at(60)),
        false,
    )
    .unwrap();
    assert_eq!(second["spec"]["parallelism"], 3);
    assert_eq!(second["metadata"]["uid"], first["metadata"]["uid"]);
    assert_eq!(managers(&second), [("kubectl".into(), "Apply".into())]);
    assert_eq!(
        entry(&second, "kubectl", "Apply")["time"],
        "2026-11-18T11:07:40Z"
    );
    assert_eq!(
        fields(&second, "kubectl", "Apply"),
        fields(&first, "kubectl", "Apply")
    );
}

#[test]
fn an_apply_that_changes_nothing_keeps_the_entry_time() {
    let first = stored(
        apply(
            None,
            &pi_manifest(2, false),
            &req(&JOB, "kubectl", at(0)),
            false,
        )
        .unwrap(),
    );
    let again = apply(
        Some(&first),
        &pi_manifest(2, false),
        &req(&JOB, "kubectl", at(60)),
        false,
    )
    .unwrap();
    assert_eq!(again, first);
}

#[test]
fn fields_the_applier_stops_applying_are_removed_unless_someone_else_owns_them() {
    let mut config = pi_manifest(2, false);
    config["metadata"]["labels"] = json!({"team": "a", "shared": "x"});
    let live = stored(apply(None, &config, &req(&JOB, "kubectl", at(0)), false).unwrap());
    // Another applier also sets the shared label.
    let other = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "labels": {"shared": "x"}}});
    let live = apply(Some(&live), &other, &req(&JOB, "labeler", at(1)), false).unwrap();

    let mut next = pi_manifest(2, false);
    next["spec"].as_object_mut().unwrap().remove("suspend");
    next["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("command");
    let out = apply(Some(&live), &next, &req(&JOB, "kubectl", at(2)), false).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"shared": "x"}));
    assert!(out["spec"].get("suspend").is_none());
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "pi", "image": "perl:5.34.0"}])
    );
    assert_eq!(
        fields(&out, "labeler", "Apply"),
        r#"{"f:metadata":{"f:labels":{"f:shared":{}}}}"#
    );
}

#[test]
fn fields_set_by_others_stay_when_the_applier_drops_its_own() {
    let live = stored(
        apply(
            None,
            &pi_manifest(2, false),
            &req(&JOB, "kubectl", at(0)),
            false,
        )
        .unwrap(),
    );
    // The stored object also carries defaults nobody applied.
    let mut live = live;
    live["spec"]["backoffLimit"] = json!(6);
    let mut next = pi_manifest(2, false);
    next["spec"].as_object_mut().unwrap().remove("parallelism");
    let out = apply(Some(&live), &next, &req(&JOB, "kubectl", at(1)), false).unwrap();
    assert!(out["spec"].get("parallelism").is_none());
    assert_eq!(out["spec"]["backoffLimit"], 6);
}

#[test]
fn conflict_with_a_client_side_applier_reads_as_kubernetes_writes_it() {
    let live = client_side_create(&pi_manifest(1, true));
    let err = apply(
        Some(&live),
        &pi_manifest(1, false),
        &req(&JOB, "ci", at(1)),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using batch/v1: .spec.suspend"#
    );
    let ApplyError::Conflicts(conflicts) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(conflicts[0].manager, "kubectl-client-side-apply");
    assert_eq!(conflicts[0].api_version, "batch/v1");
    assert_eq!(conflicts[0].field, ".spec.suspend");
    let causes = conflict_causes(conflicts);
    assert_eq!(causes[0].reason.as_deref(), Some("FieldManagerConflict"));
    assert_eq!(
        causes[0].message.as_deref(),
        Some(r#"conflict with "kubectl-client-side-apply" using batch/v1"#)
    );
    assert_eq!(causes[0].field.as_deref(), Some(".spec.suspend"));
    let status = err.status();
    assert_eq!(status.code, Some(409));
    assert_eq!(status.reason.as_deref(), Some("Conflict"));
    assert_eq!(status.details.unwrap().causes.unwrap().len(), 1);
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let live = client_side_create(&pi_manifest(1, true));
    let err = apply(
        Some(&live),
        &pi_manifest(4, false),
        &req(&JOB, "ci", at(1)),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using batch/v1:\n- .spec.parallelism\n- .spec.suspend"
    );
}

#[test]
fn force_moves_ownership() {
    let live = client_side_create(&pi_manifest(1, true));
    let out = apply(
        Some(&live),
        &pi_manifest(1, false),
        &req(&JOB, "ci", at(1)),
        true,
    )
    .unwrap();
    assert_eq!(out["spec"]["suspend"], false);
    assert!(fields(&out, "ci", "Apply").contains(r#""f:suspend":{}"#));
    let csa = fields(&out, "kubectl-client-side-apply", "Update");
    assert!(!csa.contains("f:suspend"), "{csa}");
    assert!(csa.contains("f:parallelism"), "{csa}");
    // Appliers come first, then updaters by time.
    assert_eq!(
        managers(&out),
        [
            ("ci".into(), "Apply".into()),
            ("kubectl-client-side-apply".into(), "Update".into())
        ]
    );
}

#[test]
fn kubectl_server_side_takes_over_what_it_applied_client_side() {
    let live = client_side_create(&pi_manifest(1, true));
    // `kubectl apply --server-side` of the edited manifest: the changed fields still hold the
    // client-side-applied values, so they are not conflicts.
    let m2 = pi_manifest(3, false);
    let out = apply(Some(&live), &m2, &req(&JOB, "kubectl", at(1)), false).unwrap();
    assert_eq!(out["spec"]["parallelism"], 3);
    assert_eq!(out["spec"]["suspend"], false);
    assert!(fields(&out, "kubectl", "Apply").contains(r#""f:parallelism":{}"#));
    assert!(!fields(&out, "kubectl-client-side-apply", "Update").contains("f:parallelism"));
    // The annotation follows the server-side applied configuration.
    assert_eq!(
        out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        concat!(
            r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi","namespace":"default"},"#,
            r#""spec":{"parallelism":3,"suspend":false,"template":{"spec":{"containers":[{"command":["perl"],"#,
            r#""image":"perl:5.34.0","name":"pi"}],"restartPolicy":"Never"}}}}"#,
            "\n"
        )
    );
}

#[test]
fn kubectl_server_side_still_conflicts_on_fields_someone_else_changed() {
    let created = client_side_create(&pi_manifest(1, true));
    // `kubectl edit` changes parallelism after the client-side apply.
    let mut edited = created.clone();
    edited["spec"]["parallelism"] = json!(5);
    record_update(
        Some(&created),
        &mut edited,
        &req(&JOB, "kubectl-edit", at(1)),
    );
    assert_eq!(
        fields(&edited, "kubectl-edit", "Update"),
        r#"{"f:spec":{"f:parallelism":{}}}"#
    );
    let err = apply(
        Some(&edited),
        &pi_manifest(3, false),
        &req(&JOB, "kubectl", at(2)),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using batch/v1: .spec.parallelism"#
    );
}

#[test]
fn the_first_apply_to_an_untracked_object_records_its_fields_first() {
    let mut live = stored(defaulted_pi(json!({})));
    live["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let config = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"backoffLimit": 2}});
    let err = apply(Some(&live), &config, &req(&JOB, "ci", at(1)), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using batch/v1: .spec.backoffLimit"#
    );
    let out = apply(Some(&live), &config, &req(&JOB, "ci", at(1)), true).unwrap();
    assert_eq!(
        managers(&out),
        [
            ("ci".into(), "Apply".into()),
            ("before-first-apply".into(), "Update".into())
        ]
    );
}

#[test]
fn apply_rejects_managed_fields_and_other_kinds() {
    let mut config = pi_manifest(1, false);
    config["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        apply(None, &config, &req(&JOB, "kubectl", at(0)), false),
        Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into()
        ))
    );
    let mut cronjob = pi_manifest(1, false);
    cronjob["kind"] = json!("CronJob");
    let err = apply(None, &cronjob, &req(&JOB, "kubectl", at(0)), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid object type: batch/v1, Kind=CronJob"
    );
    assert_eq!(err.status().code, Some(400));
}

#[test]
fn duplicate_list_keys_fail_the_typed_conversion() {
    let mut config = pi_manifest(1, false);
    config["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "pi", "image": "a"}, {"name": "pi", "image": "b"}]);
    let err = apply(None, &config, &req(&JOB, "kubectl", at(0)), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"failed to create typed patch object (default/pi; batch/v1, Kind=Job): .spec.template.spec.containers: duplicate entries for key [name="pi"]"#
    );
    let status = err.status();
    assert_eq!(status.code, Some(500));
    assert_eq!(status.reason, None);
}

#[test]
fn status_is_not_tracked_on_the_main_resource() {
    let old = client_side_create(&pi_manifest(1, false));
    let mut new = old.clone();
    new["status"] = json!({"active": 1});
    new["metadata"]["labels"] = json!({"x": "y"});
    record_update(Some(&old), &mut new, &req(&JOB, "kubectl-label", at(1)));
    assert_eq!(
        fields(&new, "kubectl-label", "Update"),
        r#"{"f:metadata":{"f:labels":{".":{},"f:x":{}}}}"#
    );
}

#[test]
fn status_writes_record_the_subresource_and_only_status() {
    let old = client_side_create(&pi_manifest(1, false));
    let mut new = old.clone();
    new["status"] = json!({
        "active": 1,
        "startTime": "2026-11-19T00:00:01Z",
        "conditions": [{"type": "Suspended", "status": "False"}],
        "uncountedTerminatedPods": {}
    });
    new["spec"]["parallelism"] = json!(9);
    record_update(
        Some(&old),
        &mut new,
        &status_req(&JOB, "kube-controller-manager", at(1)),
    );
    let e = entry(&new, "kube-controller-manager", "Update");
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        fields(&new, "kube-controller-manager", "Update"),
        r#"{"f:status":{"f:active":{},"f:conditions":{},"f:startTime":{},"f:uncountedTerminatedPods":{}}}"#
    );
    // A status applier's conflicts name the subresource.
    let config = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "status": {"active": 2}});
    let err = apply(Some(&new), &config, &status_req(&JOB, "ci", at(2)), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource "status" using batch/v1: .status.active"#
    );
}

#[test]
fn an_empty_managed_fields_list_stops_tracking_on_update() {
    let old = client_side_create(&pi_manifest(1, false));
    for reset in [json!([]), json!([{}])] {
        let mut new = old.clone();
        new["metadata"]["managedFields"] = reset;
        new["spec"]["suspend"] = json!(true);
        record_update(Some(&old), &mut new, &req(&JOB, "kubectl-patch", at(1)));
        assert!(new["metadata"].get("managedFields").is_none(), "{new:#}");
    }
    // On create the reset only means "start from nothing".
    let mut created = pi_manifest(1, false);
    created["metadata"]["managedFields"] = json!([]);
    record_update(None, &mut created, &req(&JOB, "kubectl-create", at(0)));
    assert_eq!(
        managers(&created),
        [("kubectl-create".into(), "Update".into())]
    );
}

#[test]
fn managed_fields_sent_by_the_client_replace_the_stored_ones_when_valid() {
    let old = client_side_create(&pi_manifest(1, false));
    let mut renamed = old.clone();
    renamed["metadata"]["managedFields"][0]["manager"] = json!("someone-else");
    record_update(
        Some(&old),
        &mut renamed,
        &req(&JOB, "kubectl-replace", at(1)),
    );
    assert_eq!(
        managers(&renamed),
        [("someone-else".into(), "Update".into())]
    );

    let mut invalid = old.clone();
    invalid["metadata"]["managedFields"][0]["operation"] = json!("Patch");
    record_update(
        Some(&old),
        &mut invalid,
        &req(&JOB, "kubectl-replace", at(1)),
    );
    assert_eq!(
        invalid["metadata"]["managedFields"],
        old["metadata"]["managedFields"]
    );

    // Through /status the request's entries never count.
    let mut via_status = renamed.clone();
    record_update(Some(&old), &mut via_status, &status_req(&JOB, "x", at(1)));
    assert_eq!(
        managers(&via_status),
        [("kubectl-client-side-apply".into(), "Update".into())]
    );
}

#[test]
fn writes_that_change_nothing_keep_the_stored_times() {
    let old = client_side_create(&pi_manifest(1, false));
    let mut same = old.clone();
    same["metadata"]["managedFields"][0]["time"] = json!("2030-01-01T00:00:00Z");
    ignore_managed_fields_timestamps(&old, &mut same);
    assert_eq!(same, old);

    let mut changed = same.clone();
    changed["metadata"]["managedFields"][0]["time"] = json!("2030-01-01T00:00:00Z");
    changed["spec"]["suspend"] = json!(true);
    let before = changed.clone();
    ignore_managed_fields_timestamps(&old, &mut changed);
    assert_eq!(changed, before);
}

#[test]
fn owner_references_are_atomic_items_and_finalizers_a_set() {
    let mut job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": "hello-29000000",
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "hello", "uid": "u1", "controller": true, "blockOwnerDeletion": true}],
            "finalizers": ["batch.kubernetes.io/job-tracking"]
        },
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
    });
    record_update(None, &mut job, &req(&JOB, "kube-controller-manager", at(0)));
    assert_eq!(
        fields(&job, "kube-controller-manager", "Update"),
        concat!(
            r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"batch.kubernetes.io/job-tracking\"":{}},"#,
            r#""f:ownerReferences":{".":{},"k:{\"uid\":\"u1\"}":{}}},"#,
            r#""f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{},"f:resources":{}}}}}}}"#
        )
    );
}

#[test]
fn appliers_share_fields_they_set_alike_and_conflict_on_the_rest() {
    let first = stored(
        apply(
            None,
            &pi_manifest(2, false),
            &req(&JOB, "first", at(0)),
            false,
        )
        .unwrap(),
    );
    // The same value is no conflict: both own the field.
    let shared = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"parallelism": 2}});
    let both = apply(Some(&first), &shared, &req(&JOB, "second", at(1)), false).unwrap();
    assert_eq!(
        fields(&both, "second", "Apply"),
        r#"{"f:spec":{"f:parallelism":{}}}"#
    );
    assert!(fields(&both, "first", "Apply").contains("f:parallelism"));
    // An applier's entry names no API version in a conflict.
    let changed = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"parallelism": 7}});
    let err = apply(Some(&first), &changed, &req(&JOB, "second", at(1)), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "first": .spec.parallelism"#
    );
}

#[test]
fn conflicts_with_several_managers_are_listed_per_manager() {
    let live = client_side_create(&pi_manifest(1, true));
    let live = apply(
        Some(&live),
        &json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "labels": {"a": "1"}}}),
        &req(&JOB, "labeler", at(1)),
        false,
    )
    .unwrap();
    let mut config = pi_manifest(1, false);
    config["metadata"]["labels"] = json!({"a": "2"});
    let err = apply(Some(&live), &config, &req(&JOB, "ci", at(2)), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using batch/v1:\n- .spec.suspend\nconflicts with \"labeler\":\n- .metadata.labels.a"
    );
}

#[test]
fn dropping_a_container_from_the_applied_list_removes_it() {
    let mut two = pi_manifest(1, false);
    two["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "a", "image": "1"},
        {"name": "b", "image": "2"}
    ]);
    let live = stored(apply(None, &two, &req(&JOB, "kubectl", at(0)), false).unwrap());
    let mut one = two.clone();
    one["spec"]["template"]["spec"]["containers"] = json!([{"name": "a", "image": "1"}]);
    let out = apply(Some(&live), &one, &req(&JOB, "kubectl", at(1)), false).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "1"}])
    );
    assert!(!fields(&out, "kubectl", "Apply").contains(r#"\"b\""#));
}

#[test]
fn undeclared_fields_fail_the_typed_conversion() {
    let mut config = pi_manifest(1, false);
    config["spec"]["parallelsim"] = json!(2);
    let err = apply(None, &config, &req(&JOB, "kubectl", at(0)), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to create typed patch object (default/pi; batch/v1, Kind=Job): .spec.parallelsim: field not declared in schema"
    );
}
