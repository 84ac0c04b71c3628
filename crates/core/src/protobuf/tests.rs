use std::collections::BTreeMap;

use k8s_pb::api::batch::v1 as batchv1;
use k8s_pb::api::core::v1 as corev1;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as metav1;
use k8s_pb::apimachinery::pkg::runtime::TypeMeta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::decode::Document;

/// The four bodies of /work/shared/spec/kubectl-wire.md §6, captured from kubectl 1.32.4.
const CREATE_JOB: &str = "azhzAAoPCghiYXRjaC92MRIDSm9iEoQBChIKAmoxEgAaACIAKgAyADgAQgASZDJiChAKABIAGgAiACoAMgA4AEIAEk4SKwoCajESB2J1c3lib3gaBGVjaG8aAmhpKgBCAGoAcgCAAQCIAQCQAQCiAQAaBU5ldmVyMgBCAEoAUgBYAGAAaACCAQCKAQCaAQDCAQAaCCAAKAAwADoAGgAiAA==";
const CREATE_CRONJOB: &str = "azhzAAoTCghiYXRjaC92MRIHQ3JvbkpvYhKyAQoVCgVoZWxsbxIAGgAiACoAMgA4AEIAEpYBCgsqLzEgKiAqICogKhoAKoQBChUKBWhlbGxvEgAaACIAKgAyADgAQgASazJpChAKABIAGgAiACoAMgA4AEIAElUSLgoFaGVsbG8SB2J1c3lib3gaBGVjaG8aAmhpKgBCAGoAcgCAAQCIAQCQAQCiAQAaCU9uRmFpbHVyZTIAQgBKAFIAWABgAGgAggEAigEAmgEAwgEAGgAaACIA";
const CREATE_JOB_FROM_CRONJOB: &str = "azhzAAoPCghiYXRjaC92MRIDSm9iEoMCCokBCghtYW51YWwtMRIAGgAiACoAMgA4AEIAYisKIWNyb25qb2Iua3ViZXJuZXRlcy5pby9pbnN0YW50aWF0ZRIGbWFudWFsakIKB0Nyb25Kb2IaBWhlbGxvIiRmZTQxODJiMC1iNTdkLTRhZDMtOTRiMy0zYWI5ZDE3NWRlZTgqCGJhdGNoL3YxMAESazJpChAKABIAGgAiACoAMgA4AEIAElUSLgoFaGVsbG8SB2J1c3lib3gaBGVjaG8aAmhpKgBCAGoAcgCAAQCIAQCQAQCiAQAaCU9uRmFpbHVyZTIAQgBKAFIAWABgAGgAggEAigEAmgEAwgEAGgggACgAMAA6ABoAIgA=";
const CREATE_NAMESPACE: &str =
    "azhzAAoPCgJ2MRIJTmFtZXNwYWNlEh4KFgoGdGVhbS1hEgAaACIAKgAyADgAQgASABoCCgAaACIA";

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let digit = ALPHABET.iter().position(|&a| a == c).expect("base64 digit");
        acc = (acc << 6) | digit as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// What kubectl's typed client sends: the magic, then a runtime.Unknown around the message.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: s(api_version),
            kind: s(kind),
        }),
        raw: Some(raw),
        content_encoding: s(""),
        content_type: s(""),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

/// The JSON passes the API server's strict decode with no unknown or duplicate fields.
fn assert_strictly_decodes(value: &Value) {
    let decoded = crate::decode::decode(&Document {
        value: value.clone(),
        duplicates: vec![],
    })
    .expect("decodes");
    assert_eq!(decoded.strict_problems, Vec::<String>::new());
}

/// Decodes and compares with the JSON text Go would write, field order included.
fn assert_decodes_to(body: &[u8], want: Value) {
    let got = decode(body).expect("decodes");
    assert_eq!(
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&want).unwrap()
    );
    assert_strictly_decodes(&got);
}

fn s(value: &str) -> Option<String> {
    Some(value.to_owned())
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity { string: s(v) }))
        .collect()
}

fn time(seconds: i64) -> Option<metav1::Time> {
    Some(metav1::Time {
        seconds: Some(seconds),
        nanos: None,
    })
}

fn named(name: &str) -> Option<corev1::LocalObjectReference> {
    Some(corev1::LocalObjectReference { name: s(name) })
}

fn merged(mut first: Value, second: Value) -> Value {
    if let (Value::Object(first), Value::Object(second)) = (&mut first, second) {
        first.extend(second);
    }
    first
}

fn pod_with_container(container: corev1::Container) -> Vec<u8> {
    let pod = corev1::Pod {
        spec: Some(corev1::PodSpec {
            containers: vec![container],
            ..Default::default()
        }),
        ..Default::default()
    };
    envelope("v1", "Pod", pod.encode_to_vec())
}

// kubectl 1.32's JSON path also wrote `"creationTimestamp": null` into both metadata objects;
// since 1.34 the field is `omitzero`, so the 1.35 types leave it out. Both mean "unset".

#[test]
fn create_job_decodes_to_the_json_kubectl_sends() {
    assert_decodes_to(
        &base64(CREATE_JOB),
        json!({
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": {"name": "j1"},
            "spec": {
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [
                            {"name": "j1", "image": "busybox", "command": ["echo", "hi"], "resources": {}}
                        ],
                        "restartPolicy": "Never"
                    }
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn create_cronjob_decodes_to_the_json_kubectl_sends() {
    assert_decodes_to(
        &base64(CREATE_CRONJOB),
        json!({
            "kind": "CronJob",
            "apiVersion": "batch/v1",
            "metadata": {"name": "hello"},
            "spec": {
                "schedule": "*/1 * * * *",
                "jobTemplate": {
                    "metadata": {"name": "hello"},
                    "spec": {
                        "template": {
                            "metadata": {},
                            "spec": {
                                "containers": [
                                    {"name": "hello", "image": "busybox", "command": ["echo", "hi"], "resources": {}}
                                ],
                                "restartPolicy": "OnFailure"
                            }
                        }
                    }
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn create_job_from_cronjob_decodes_to_the_json_kubectl_sends() {
    assert_decodes_to(
        &base64(CREATE_JOB_FROM_CRONJOB),
        json!({
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": {
                "name": "manual-1",
                "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
                "ownerReferences": [{
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": "hello",
                    "uid": "fe4182b0-b57d-4ad3-94b3-3ab9d175dee8",
                    "controller": true
                }]
            },
            "spec": {
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [
                            {"name": "hello", "image": "busybox", "command": ["echo", "hi"], "resources": {}}
                        ],
                        "restartPolicy": "OnFailure"
                    }
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn create_namespace_decodes_to_the_json_kubectl_sends() {
    assert_decodes_to(
        &base64(CREATE_NAMESPACE),
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": "team-a"},
            "spec": {},
            "status": {}
        }),
    );
}

/// `kubectl create configmap settings --from-literal=mode=fast --from-file=blob` with a non-UTF-8
/// file: text in `data`, bytes in `binaryData` (base64 in JSON).
#[test]
fn create_configmap_decodes_to_json() {
    let cm = corev1::ConfigMap {
        metadata: Some(metav1::ObjectMeta {
            name: s("settings"),
            ..Default::default()
        }),
        immutable: None,
        data: labels(&[("mode", "fast")]),
        binary_data: [("blob".to_owned(), vec![0xff, 0x00, 0x01])].into(),
    };
    assert_decodes_to(
        &envelope("v1", "ConfigMap", cm.encode_to_vec()),
        json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "settings"},
            "data": {"mode": "fast"},
            "binaryData": {"blob": "/wAB"}
        }),
    );
}

/// `kubectl create secret generic|docker-registry`: `data` is bytes, `type` a plain string,
/// `immutable` a pointer kept even when false.
#[test]
fn create_secret_decodes_to_json() {
    let secret = corev1::Secret {
        metadata: Some(metav1::ObjectMeta {
            name: s("creds"),
            ..Default::default()
        }),
        immutable: Some(false),
        data: [("password".to_owned(), b"s3cr3t".to_vec())].into(),
        string_data: labels(&[("user", "admin")]),
        r#type: s("kubernetes.io/basic-auth"),
    };
    assert_decodes_to(
        &envelope("v1", "Secret", secret.encode_to_vec()),
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "creds"},
            "immutable": false,
            "data": {"password": "czNjcjN0"},
            "stringData": {"user": "admin"},
            "type": "kubernetes.io/basic-auth"
        }),
    );
    let untyped = corev1::Secret {
        r#type: s(""),
        ..Default::default()
    };
    assert_decodes_to(
        &envelope("v1", "Secret", untyped.encode_to_vec()),
        json!({"kind": "Secret", "apiVersion": "v1", "metadata": {}}),
    );
}

#[test]
fn an_empty_object_is_go_zero_value() {
    // Non-pointer structs are always written and `containers` has no omitempty: a nil slice.
    let body = envelope("v1", "Pod", Vec::new());
    assert_decodes_to(
        &body,
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {},
            "spec": {"containers": null},
            "status": {}
        }),
    );
}

#[test]
fn pointer_zero_values_are_kept_and_non_pointer_zero_values_dropped() {
    let template = corev1::PodTemplateSpec {
        metadata: Some(metav1::ObjectMeta {
            labels: labels(&[("job", "pi")]),
            ..Default::default()
        }),
        spec: Some(corev1::PodSpec {
            containers: vec![corev1::Container {
                name: s("main"),
                image: s("perl"),
                ..Default::default()
            }],
            restart_policy: s("Never"),
            termination_grace_period_seconds: Some(0),
            host_network: Some(false),
            node_name: s(""),
            ..Default::default()
        }),
    };
    let job = batchv1::Job {
        metadata: Some(metav1::ObjectMeta {
            name: s("pi"),
            namespace: s(""),
            generation: Some(0),
            ..Default::default()
        }),
        spec: Some(batchv1::JobSpec {
            parallelism: Some(0),
            completions: Some(0),
            active_deadline_seconds: Some(0),
            pod_failure_policy: Some(batchv1::PodFailurePolicy {
                rules: vec![
                    batchv1::PodFailurePolicyRule {
                        action: s("FailJob"),
                        on_exit_codes: Some(batchv1::PodFailurePolicyOnExitCodesRequirement {
                            container_name: s("main"),
                            operator: s("In"),
                            values: vec![1, 42],
                        }),
                        on_pod_conditions: vec![],
                    },
                    batchv1::PodFailurePolicyRule {
                        action: s("Ignore"),
                        on_exit_codes: None,
                        on_pod_conditions: vec![batchv1::PodFailurePolicyOnPodConditionsPattern {
                            r#type: s("DisruptionTarget"),
                            status: s("True"),
                        }],
                    },
                ],
            }),
            success_policy: Some(batchv1::SuccessPolicy {
                rules: vec![batchv1::SuccessPolicyRule {
                    succeeded_indexes: s("0-2"),
                    succeeded_count: Some(0),
                }],
            }),
            backoff_limit: Some(0),
            backoff_limit_per_index: Some(0),
            max_failed_indexes: Some(0),
            selector: Some(metav1::LabelSelector {
                match_labels: labels(&[("job", "pi")]),
                match_expressions: vec![metav1::LabelSelectorRequirement {
                    key: s("tier"),
                    operator: s("Exists"),
                    values: vec![],
                }],
            }),
            manual_selector: Some(false),
            template: Some(template.clone()),
            ttl_seconds_after_finished: Some(0),
            completion_mode: s("Indexed"),
            suspend: Some(false),
            pod_replacement_policy: s("Failed"),
            managed_by: s("kubernetes.io/job-controller"),
        }),
        status: Some(batchv1::JobStatus {
            conditions: vec![batchv1::JobCondition {
                r#type: s("Complete"),
                status: s("True"),
                last_probe_time: time(1_714_561_200),
                last_transition_time: None,
                reason: s(""),
                message: s("done"),
            }],
            start_time: time(1_714_561_200),
            completion_time: time(1_714_564_800),
            active: Some(0),
            succeeded: Some(1),
            failed: Some(0),
            terminating: Some(0),
            completed_indexes: s("0"),
            failed_indexes: s(""),
            uncounted_terminated_pods: Some(batchv1::UncountedTerminatedPods::default()),
            ready: Some(0),
        }),
    };
    let template_json = json!({
        "metadata": {"labels": {"job": "pi"}},
        "spec": {
            "containers": [{"name": "main", "image": "perl", "resources": {}}],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0
        }
    });
    assert_decodes_to(
        &envelope("batch/v1", "Job", job.encode_to_vec()),
        json!({
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": {"name": "pi"},
            "spec": {
                "parallelism": 0,
                "completions": 0,
                "activeDeadlineSeconds": 0,
                "podFailurePolicy": {"rules": [
                    {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [1, 42]}},
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
                ]},
                "successPolicy": {"rules": [{"succeededIndexes": "0-2", "succeededCount": 0}]},
                "backoffLimit": 0,
                "backoffLimitPerIndex": 0,
                "maxFailedIndexes": 0,
                "selector": {
                    "matchLabels": {"job": "pi"},
                    "matchExpressions": [{"key": "tier", "operator": "Exists"}]
                },
                "manualSelector": false,
                "template": template_json,
                "ttlSecondsAfterFinished": 0,
                "completionMode": "Indexed",
                "suspend": false,
                "podReplacementPolicy": "Failed",
                "managedBy": "kubernetes.io/job-controller"
            },
            "status": {
                "conditions": [{
                    "type": "Complete",
                    "status": "True",
                    "lastProbeTime": "2024-05-01T11:00:00Z",
                    "lastTransitionTime": null,
                    "message": "done"
                }],
                "startTime": "2024-05-01T11:00:00Z",
                "completionTime": "2024-05-01T12:00:00Z",
                "succeeded": 1,
                "terminating": 0,
                "completedIndexes": "0",
                "failedIndexes": "",
                "uncountedTerminatedPods": {},
                "ready": 0
            }
        }),
    );

    let cronjob = batchv1::CronJob {
        metadata: Some(metav1::ObjectMeta {
            name: s("hourly"),
            ..Default::default()
        }),
        spec: Some(batchv1::CronJobSpec {
            schedule: s("0 * * * *"),
            time_zone: s("Etc/UTC"),
            starting_deadline_seconds: Some(0),
            concurrency_policy: s("Forbid"),
            suspend: Some(false),
            job_template: Some(batchv1::JobTemplateSpec {
                metadata: Some(metav1::ObjectMeta {
                    labels: labels(&[("team", "a")]),
                    ..Default::default()
                }),
                spec: Some(batchv1::JobSpec {
                    template: Some(template),
                    ..Default::default()
                }),
            }),
            successful_jobs_history_limit: Some(0),
            failed_jobs_history_limit: Some(0),
        }),
        status: Some(batchv1::CronJobStatus {
            active: vec![corev1::ObjectReference {
                kind: s("Job"),
                namespace: s("default"),
                name: s("hourly-28571520"),
                uid: s("0d4c"),
                api_version: s("batch/v1"),
                resource_version: s("7"),
                field_path: s(""),
            }],
            last_schedule_time: time(1_714_564_800),
            last_successful_time: None,
        }),
    };
    assert_decodes_to(
        &envelope("batch/v1", "CronJob", cronjob.encode_to_vec()),
        json!({
            "kind": "CronJob",
            "apiVersion": "batch/v1",
            "metadata": {"name": "hourly"},
            "spec": {
                "schedule": "0 * * * *",
                "timeZone": "Etc/UTC",
                "startingDeadlineSeconds": 0,
                "concurrencyPolicy": "Forbid",
                "suspend": false,
                "jobTemplate": {
                    "metadata": {"labels": {"team": "a"}},
                    "spec": {"template": template_json}
                },
                "successfulJobsHistoryLimit": 0,
                "failedJobsHistoryLimit": 0
            },
            "status": {
                "active": [{
                    "kind": "Job",
                    "namespace": "default",
                    "name": "hourly-28571520",
                    "uid": "0d4c",
                    "apiVersion": "batch/v1",
                    "resourceVersion": "7"
                }],
                "lastScheduleTime": "2024-05-01T12:00:00Z"
            }
        }),
    );
}

fn volume(name: &str, source: corev1::VolumeSource) -> corev1::Volume {
    corev1::Volume {
        name: s(name),
        volume_source: Some(source),
    }
}

fn wide_pod() -> corev1::Pod {
    let metadata = metav1::ObjectMeta {
        name: s("web-0"),
        generate_name: s(""),
        namespace: s("team-a"),
        self_link: s(""),
        uid: s("5e1f"),
        resource_version: s("42"),
        generation: Some(3),
        creation_timestamp: time(1_714_564_800),
        // metav1.Time drops nanos when it unmarshals.
        deletion_timestamp: Some(metav1::Time {
            seconds: Some(1_714_564_860),
            nanos: Some(999),
        }),
        deletion_grace_period_seconds: Some(0),
        labels: labels(&[("app", "web"), ("tier", "front")]),
        annotations: labels(&[("b", "2"), ("a", "1")]),
        owner_references: vec![metav1::OwnerReference {
            kind: s("StatefulSet"),
            name: s("web"),
            uid: s("9a7b"),
            api_version: s("apps/v1"),
            controller: Some(false),
            block_owner_deletion: Some(true),
        }],
        finalizers: strings(&["example.com/keep"]),
        managed_fields: vec![metav1::ManagedFieldsEntry {
            manager: s("kubectl"),
            operation: s("Update"),
            api_version: s("v1"),
            time: time(1_714_564_800),
            fields_type: s("FieldsV1"),
            fields_v1: Some(metav1::FieldsV1 {
                raw: Some(br#"{"f:metadata":{"f:labels":{"f:app":{}}}}"#.to_vec()),
            }),
            subresource: s(""),
        }],
    };
    let volumes = vec![
        volume(
            "config",
            corev1::VolumeSource {
                config_map: Some(corev1::ConfigMapVolumeSource {
                    local_object_reference: named("app-config"),
                    items: vec![corev1::KeyToPath {
                        key: s("a"),
                        path: s("a.txt"),
                        mode: Some(0o400),
                    }],
                    default_mode: Some(0o644),
                    optional: Some(false),
                }),
                ..Default::default()
            },
        ),
        volume(
            "scratch",
            corev1::VolumeSource {
                empty_dir: Some(corev1::EmptyDirVolumeSource {
                    medium: s("Memory"),
                    size_limit: Some(Quantity {
                        string: s("1024Mi"),
                    }),
                }),
                ..Default::default()
            },
        ),
        volume(
            "token",
            corev1::VolumeSource {
                projected: Some(corev1::ProjectedVolumeSource {
                    sources: vec![
                        corev1::VolumeProjection {
                            service_account_token: Some(corev1::ServiceAccountTokenProjection {
                                audience: s("vault"),
                                expiration_seconds: Some(3600),
                                path: s("token"),
                            }),
                            ..Default::default()
                        },
                        corev1::VolumeProjection {
                            downward_api: Some(corev1::DownwardAPIProjection {
                                items: vec![corev1::DownwardAPIVolumeFile {
                                    path: s("labels"),
                                    field_ref: Some(corev1::ObjectFieldSelector {
                                        api_version: s("v1"),
                                        field_path: s("metadata.labels"),
                                    }),
                                    resource_field_ref: None,
                                    mode: None,
                                }],
                            }),
                            ..Default::default()
                        },
                    ],
                    default_mode: None,
                }),
                ..Default::default()
            },
        ),
        volume(
            "cache",
            corev1::VolumeSource {
                ephemeral: Some(corev1::EphemeralVolumeSource {
                    volume_claim_template: Some(corev1::PersistentVolumeClaimTemplate {
                        metadata: Some(metav1::ObjectMeta {
                            labels: labels(&[("app", "web")]),
                            ..Default::default()
                        }),
                        spec: Some(corev1::PersistentVolumeClaimSpec {
                            access_modes: strings(&["ReadWriteOnce"]),
                            resources: Some(corev1::VolumeResourceRequirements {
                                limits: BTreeMap::new(),
                                requests: quantities(&[("storage", "1Gi")]),
                            }),
                            storage_class_name: s("fast"),
                            ..Default::default()
                        }),
                    }),
                }),
                ..Default::default()
            },
        ),
        volume(
            "logs",
            corev1::VolumeSource {
                host_path: Some(corev1::HostPathVolumeSource {
                    path: s("/var/log"),
                    r#type: s(""),
                }),
                ..Default::default()
            },
        ),
    ];
    let web = corev1::Container {
        name: s("web"),
        image: s("nginx:1.27"),
        command: strings(&["nginx"]),
        args: strings(&["-g", "daemon off;"]),
        working_dir: s("/srv"),
        ports: vec![corev1::ContainerPort {
            name: s("http"),
            host_port: Some(0),
            container_port: Some(8080),
            protocol: s("TCP"),
            host_ip: s(""),
        }],
        env_from: vec![corev1::EnvFromSource {
            prefix: s("CFG_"),
            config_map_ref: Some(corev1::ConfigMapEnvSource {
                local_object_reference: named("app-config"),
                optional: Some(true),
            }),
            secret_ref: None,
        }],
        env: vec![
            corev1::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                value_from: None,
            },
            corev1::EnvVar {
                name: s("POD_IP"),
                value: s(""),
                value_from: Some(corev1::EnvVarSource {
                    field_ref: Some(corev1::ObjectFieldSelector {
                        api_version: s("v1"),
                        field_path: s("status.podIP"),
                    }),
                    ..Default::default()
                }),
            },
            corev1::EnvVar {
                name: s("CPU"),
                value: None,
                value_from: Some(corev1::EnvVarSource {
                    resource_field_ref: Some(corev1::ResourceFieldSelector {
                        container_name: s("web"),
                        resource: s("limits.cpu"),
                        divisor: None,
                    }),
                    ..Default::default()
                }),
            },
            corev1::EnvVar {
                name: s("PASSWORD"),
                value: None,
                value_from: Some(corev1::EnvVarSource {
                    secret_key_ref: Some(corev1::SecretKeySelector {
                        local_object_reference: named("db"),
                        key: s("password"),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(corev1::ResourceRequirements {
            limits: quantities(&[("memory", "512Mi"), ("cpu", "1000m")]),
            requests: quantities(&[("cpu", "250m")]),
            claims: vec![],
        }),
        resize_policy: vec![corev1::ContainerResizePolicy {
            resource_name: s("cpu"),
            restart_policy: s("NotRequired"),
        }],
        volume_mounts: vec![corev1::VolumeMount {
            name: s("config"),
            read_only: Some(true),
            mount_path: s("/etc/app"),
            sub_path: s(""),
            ..Default::default()
        }],
        liveness_probe: Some(corev1::Probe {
            handler: Some(corev1::ProbeHandler {
                http_get: Some(corev1::HttpGetAction {
                    path: s("/healthz"),
                    port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: None,
                        str_val: s("http"),
                    }),
                    host: s(""),
                    scheme: s("HTTP"),
                    http_headers: vec![corev1::HttpHeader {
                        name: s("X-Probe"),
                        value: s("1"),
                    }],
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(5),
            timeout_seconds: Some(0),
            period_seconds: Some(10),
            success_threshold: None,
            failure_threshold: Some(3),
            termination_grace_period_seconds: Some(0),
        }),
        readiness_probe: Some(corev1::Probe {
            handler: Some(corev1::ProbeHandler {
                tcp_socket: Some(corev1::TcpSocketAction {
                    port: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(8080),
                        str_val: None,
                    }),
                    host: s(""),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        startup_probe: Some(corev1::Probe {
            handler: Some(corev1::ProbeHandler {
                grpc: Some(corev1::GrpcAction {
                    port: Some(9090),
                    service: s(""),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        lifecycle: Some(corev1::Lifecycle {
            post_start: Some(corev1::LifecycleHandler {
                exec: Some(corev1::ExecAction {
                    command: strings(&["sh", "-c", "true"]),
                }),
                ..Default::default()
            }),
            pre_stop: Some(corev1::LifecycleHandler {
                sleep: Some(corev1::SleepAction { seconds: Some(5) }),
                ..Default::default()
            }),
            stop_signal: None,
        }),
        termination_message_path: s("/dev/termination-log"),
        termination_message_policy: s("File"),
        image_pull_policy: s("IfNotPresent"),
        security_context: Some(corev1::SecurityContext {
            capabilities: Some(corev1::Capabilities {
                add: strings(&["NET_ADMIN"]),
                drop: strings(&["ALL"]),
            }),
            privileged: Some(false),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            seccomp_profile: Some(corev1::SeccompProfile {
                r#type: s("RuntimeDefault"),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(true),
        ..Default::default()
    };
    let affinity = corev1::Affinity {
        node_affinity: Some(corev1::NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(corev1::NodeSelector {
                node_selector_terms: vec![corev1::NodeSelectorTerm {
                    match_expressions: vec![corev1::NodeSelectorRequirement {
                        key: s("zone"),
                        operator: s("In"),
                        values: strings(&["a", "b"]),
                    }],
                    match_fields: vec![],
                }],
            }),
            preferred_during_scheduling_ignored_during_execution: vec![
                corev1::PreferredSchedulingTerm {
                    weight: Some(10),
                    preference: Some(corev1::NodeSelectorTerm {
                        match_expressions: vec![],
                        match_fields: vec![corev1::NodeSelectorRequirement {
                            key: s("metadata.name"),
                            operator: s("NotIn"),
                            values: strings(&["n1"]),
                        }],
                    }),
                },
            ],
        }),
        pod_affinity: None,
        pod_anti_affinity: Some(corev1::PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: vec![],
            preferred_during_scheduling_ignored_during_execution: vec![
                corev1::WeightedPodAffinityTerm {
                    weight: Some(100),
                    pod_affinity_term: Some(corev1::PodAffinityTerm {
                        label_selector: Some(metav1::LabelSelector {
                            match_labels: labels(&[("app", "web")]),
                            match_expressions: vec![],
                        }),
                        topology_key: s("kubernetes.io/hostname"),
                        match_label_keys: strings(&["pod-template-hash"]),
                        ..Default::default()
                    }),
                },
            ],
        }),
    };
    let spec = corev1::PodSpec {
        volumes,
        init_containers: vec![corev1::Container {
            name: s("setup"),
            image: s("busybox"),
            restart_policy: s("Always"),
            ..Default::default()
        }],
        containers: vec![web],
        ephemeral_containers: vec![corev1::EphemeralContainer {
            ephemeral_container_common: Some(corev1::EphemeralContainerCommon {
                name: s("debug"),
                image: s("busybox"),
                stdin: Some(true),
                ..Default::default()
            }),
            target_container_name: s("web"),
        }],
        restart_policy: s("Always"),
        termination_grace_period_seconds: Some(0),
        active_deadline_seconds: Some(600),
        dns_policy: s("ClusterFirst"),
        node_selector: labels(&[("disk", "ssd")]),
        service_account_name: s("web"),
        service_account: s(""),
        automount_service_account_token: Some(false),
        node_name: s(""),
        host_network: Some(true),
        host_pid: Some(false),
        host_ipc: Some(true),
        share_process_namespace: Some(false),
        security_context: Some(corev1::PodSecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(0),
            fs_group: Some(2000),
            supplemental_groups: vec![3000],
            sysctls: vec![corev1::Sysctl {
                name: s("net.ipv4.ip_forward"),
                value: s("0"),
            }],
            fs_group_change_policy: s("OnRootMismatch"),
            ..Default::default()
        }),
        image_pull_secrets: vec![corev1::LocalObjectReference { name: s("regcred") }],
        hostname: s("web-0"),
        subdomain: s("web"),
        affinity: Some(affinity),
        scheduler_name: s("default-scheduler"),
        tolerations: vec![corev1::Toleration {
            key: s("dedicated"),
            operator: s("Equal"),
            value: s("web"),
            effect: s("NoExecute"),
            toleration_seconds: Some(0),
        }],
        host_aliases: vec![corev1::HostAlias {
            ip: s("10.0.0.1"),
            hostnames: strings(&["db.local"]),
        }],
        priority_class_name: s(""),
        priority: Some(0),
        dns_config: Some(corev1::PodDnsConfig {
            nameservers: strings(&["1.1.1.1"]),
            searches: vec![],
            options: vec![corev1::PodDnsConfigOption {
                name: s("ndots"),
                value: s("2"),
            }],
        }),
        readiness_gates: vec![corev1::PodReadinessGate {
            condition_type: s("example.com/ready"),
        }],
        runtime_class_name: s("gvisor"),
        enable_service_links: Some(false),
        preemption_policy: s("Never"),
        overhead: quantities(&[("memory", "64Mi")]),
        topology_spread_constraints: vec![corev1::TopologySpreadConstraint {
            max_skew: Some(1),
            topology_key: s("zone"),
            when_unsatisfiable: s("DoNotSchedule"),
            label_selector: Some(metav1::LabelSelector {
                match_labels: labels(&[("app", "web")]),
                match_expressions: vec![],
            }),
            min_domains: Some(2),
            node_affinity_policy: s("Honor"),
            node_taints_policy: s("Ignore"),
            match_label_keys: strings(&["rev"]),
        }],
        set_hostname_as_fqdn: Some(false),
        os: Some(corev1::PodOs { name: s("linux") }),
        host_users: Some(false),
        scheduling_gates: vec![corev1::PodSchedulingGate {
            name: s("example.com/gate"),
        }],
        ..Default::default()
    };
    let status = corev1::PodStatus {
        observed_generation: Some(3),
        phase: s("Running"),
        conditions: vec![corev1::PodCondition {
            r#type: s("Ready"),
            observed_generation: Some(0),
            status: s("True"),
            last_probe_time: None,
            last_transition_time: time(1_714_564_800),
            reason: s(""),
            message: s(""),
        }],
        host_ip: s("10.0.0.5"),
        host_ips: vec![corev1::HostIp { ip: s("10.0.0.5") }],
        pod_ip: s("10.244.0.7"),
        pod_ips: vec![
            corev1::PodIp {
                ip: s("10.244.0.7"),
            },
            corev1::PodIp { ip: s("fd00::7") },
        ],
        start_time: time(1_714_564_800),
        init_container_statuses: vec![corev1::ContainerStatus {
            name: s("setup"),
            ..Default::default()
        }],
        container_statuses: vec![corev1::ContainerStatus {
            name: s("web"),
            state: Some(corev1::ContainerState {
                running: Some(corev1::ContainerStateRunning {
                    started_at: time(1_714_564_860),
                }),
                ..Default::default()
            }),
            last_state: Some(corev1::ContainerState {
                terminated: Some(corev1::ContainerStateTerminated {
                    exit_code: Some(137),
                    signal: Some(9),
                    reason: s("OOMKilled"),
                    message: s(""),
                    started_at: time(1_714_564_800),
                    finished_at: time(1_714_564_830),
                    container_id: s("containerd://abc"),
                }),
                ..Default::default()
            }),
            ready: Some(false),
            restart_count: None,
            image: s("nginx:1.27"),
            image_id: s("sha256:0f"),
            container_id: s("containerd://def"),
            started: Some(true),
            ..Default::default()
        }],
        qos_class: s("Burstable"),
        ..Default::default()
    };
    corev1::Pod {
        metadata: Some(metadata),
        spec: Some(spec),
        status: Some(status),
    }
}

#[test]
fn a_pod_using_most_fields_round_trips() {
    let got = decode(&envelope("v1", "Pod", wide_pod().encode_to_vec())).expect("decodes");
    let metadata = json!({
        "name": "web-0",
        "namespace": "team-a",
        "uid": "5e1f",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2024-05-01T12:00:00Z",
        "deletionTimestamp": "2024-05-01T12:01:00Z",
        "deletionGracePeriodSeconds": 0,
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"a": "1", "b": "2"},
        "ownerReferences": [{
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "web",
            "uid": "9a7b",
            "controller": false,
            "blockOwnerDeletion": true
        }],
        "finalizers": ["example.com/keep"],
        "managedFields": [{
            "manager": "kubectl",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2024-05-01T12:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}
        }]
    });
    let volumes = json!([
        {"name": "config", "configMap": {
            "name": "app-config",
            "items": [{"key": "a", "path": "a.txt", "mode": 256}],
            "defaultMode": 420,
            "optional": false
        }},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {"name": "token", "projected": {"sources": [
            {"serviceAccountToken": {"audience": "vault", "expirationSeconds": 3600, "path": "token"}},
            {"downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}}
            ]}}
        ]}},
        {"name": "cache", "ephemeral": {"volumeClaimTemplate": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "fast"
            }
        }}},
        {"name": "logs", "hostPath": {"path": "/var/log", "type": ""}}
    ]);
    let web = json!({
        "name": "web",
        "image": "nginx:1.27",
        "command": ["nginx"],
        "args": ["-g", "daemon off;"],
        "workingDir": "/srv",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "app-config", "optional": true}}],
        "env": [
            {"name": "MODE", "value": "prod"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {
                "containerName": "web", "resource": "limits.cpu", "divisor": "0"
            }}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {
                "name": "db", "key": "password", "optional": false
            }}}
        ],
        "resources": {
            "limits": {"cpu": "1", "memory": "512Mi"},
            "requests": {"cpu": "250m"}
        },
        "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
        "volumeMounts": [{"name": "config", "readOnly": true, "mountPath": "/etc/app"}],
        "livenessProbe": {
            "httpGet": {
                "path": "/healthz",
                "port": "http",
                "scheme": "HTTP",
                "httpHeaders": [{"name": "X-Probe", "value": "1"}]
            },
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "failureThreshold": 3,
            "terminationGracePeriodSeconds": 0
        },
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        "startupProbe": {"grpc": {"port": 9090, "service": ""}},
        "lifecycle": {
            "postStart": {"exec": {"command": ["sh", "-c", "true"]}},
            "preStop": {"sleep": {"seconds": 5}}
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "privileged": false,
            "runAsUser": 0,
            "runAsNonRoot": false,
            "readOnlyRootFilesystem": true,
            "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "tty": true
    });
    let affinity = json!({
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
            ]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 10,
                "preference": {"matchFields": [
                    {"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}
                ]}
            }]
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname",
                    "matchLabelKeys": ["pod-template-hash"]
                }
            }]
        }
    });
    let status = json!({
        "observedGeneration": 3,
        "phase": "Running",
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "lastProbeTime": null,
            "lastTransitionTime": "2024-05-01T12:00:00Z"
        }],
        "hostIP": "10.0.0.5",
        "hostIPs": [{"ip": "10.0.0.5"}],
        "podIP": "10.244.0.7",
        "podIPs": [{"ip": "10.244.0.7"}, {"ip": "fd00::7"}],
        "startTime": "2024-05-01T12:00:00Z",
        "initContainerStatuses": [{
            "name": "setup",
            "state": {},
            "lastState": {},
            "ready": false,
            "restartCount": 0,
            "image": "",
            "imageID": ""
        }],
        "containerStatuses": [{
            "name": "web",
            "state": {"running": {"startedAt": "2024-05-01T12:01:00Z"}},
            "lastState": {"terminated": {
                "exitCode": 137,
                "signal": 9,
                "reason": "OOMKilled",
                "startedAt": "2024-05-01T12:00:00Z",
                "finishedAt": "2024-05-01T12:00:30Z",
                "containerID": "containerd://abc"
            }},
            "ready": false,
            "restartCount": 0,
            "image": "nginx:1.27",
            "imageID": "sha256:0f",
            "containerID": "containerd://def",
            "started": true
        }],
        "qosClass": "Burstable"
    });
    // One json! per half: a single literal this size exceeds the macro recursion limit.
    let spec_rest = json!({
        "imagePullSecrets": [{"name": "regcred"}],
        "hostname": "web-0",
        "subdomain": "web",
        "affinity": affinity,
        "schedulerName": "default-scheduler",
        "tolerations": [{
            "key": "dedicated", "operator": "Equal", "value": "web",
            "effect": "NoExecute", "tolerationSeconds": 0
        }],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.local"]}],
        "priority": 0,
        "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]},
        "readinessGates": [{"conditionType": "example.com/ready"}],
        "runtimeClassName": "gvisor",
        "enableServiceLinks": false,
        "preemptionPolicy": "Never",
        "overhead": {"memory": "64Mi"},
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
            "minDomains": 2,
            "nodeAffinityPolicy": "Honor",
            "nodeTaintsPolicy": "Ignore",
            "matchLabelKeys": ["rev"]
        }],
        "setHostnameAsFQDN": false,
        "os": {"name": "linux"},
        "hostUsers": false,
        "schedulingGates": [{"name": "example.com/gate"}]
    });
    let want = json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": metadata,
        "spec": merged(json!({
            "volumes": volumes,
            "initContainers": [
                {"name": "setup", "image": "busybox", "resources": {}, "restartPolicy": "Always"}
            ],
            "containers": [web],
            "ephemeralContainers": [
                {"name": "debug", "image": "busybox", "resources": {}, "stdin": true, "targetContainerName": "web"}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 0,
            "activeDeadlineSeconds": 600,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"disk": "ssd"},
            "serviceAccountName": "web",
            "automountServiceAccountToken": false,
            "hostNetwork": true,
            "hostIPC": true,
            "shareProcessNamespace": false,
            "securityContext": {
                "runAsUser": 1000,
                "runAsGroup": 0,
                "supplementalGroups": [3000],
                "fsGroup": 2000,
                "sysctls": [{"name": "net.ipv4.ip_forward", "value": "0"}],
                "fsGroupChangePolicy": "OnRootMismatch"
            }
        }), spec_rest),
        "status": status
    });
    assert_eq!(got, want);
    assert_strictly_decodes(&got);
}

#[test]
fn times_follow_metav1_time() {
    let at = |time: metav1::Time| {
        let pod = corev1::Pod {
            metadata: Some(metav1::ObjectMeta {
                creation_timestamp: Some(time),
                ..Default::default()
            }),
            ..Default::default()
        };
        decode(&envelope("v1", "Pod", pod.encode_to_vec())).map(|v| v["metadata"].clone())
    };
    // Any non-empty Time message is a real time; only nanos set is the Unix epoch.
    assert_eq!(
        at(metav1::Time {
            seconds: None,
            nanos: Some(5)
        }),
        Ok(json!({"creationTimestamp": "1970-01-01T00:00:00Z"}))
    );
    assert_eq!(
        at(metav1::Time {
            seconds: Some(-62_135_596_799),
            nanos: None
        }),
        Ok(json!({"creationTimestamp": "0001-01-01T00:00:01Z"}))
    );
    assert_eq!(
        at(metav1::Time {
            seconds: Some(253_402_300_799),
            nanos: None
        }),
        Ok(json!({"creationTimestamp": "9999-12-31T23:59:59Z"}))
    );
    // Go's zero time is `IsZero`, so `omitzero` drops it.
    assert_eq!(
        at(metav1::Time {
            seconds: Some(-62_135_596_800),
            nanos: None
        }),
        Ok(json!({}))
    );
    let err = at(metav1::Time {
        seconds: Some(253_402_300_800),
        nanos: None,
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed protobuf v1 Pod: metadata.creationTimestamp: time 253402300800s since the Unix \
         epoch is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z"
    );
}

#[test]
fn body_without_the_magic_is_refused() {
    for body in [&b""[..], b"k8s", b"{\"kind\":\"Job\"}", b"K8s\0\n\x00"] {
        assert_eq!(decode(body), Err(ProtobufError::MissingMagic));
    }
    assert_eq!(
        ProtobufError::MissingMagic.to_string(),
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] (\"k8s\\x00\")"
    );
}

#[test]
fn truncated_envelope_is_malformed() {
    let body = base64(CREATE_JOB);
    let err = decode(&body[..10]).unwrap_err();
    assert!(
        matches!(&err, ProtobufError::Envelope(m) if m.contains("buffer underflow")),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("malformed protobuf envelope (runtime.Unknown): ")
    );
}

#[test]
fn envelope_without_type_meta_names_no_kind() {
    assert_eq!(
        decode(&MAGIC).unwrap_err().to_string(),
        "no kind \"\" is registered for version \"\" in protobuf bodies; accepted kinds are \
         batch/v1 Job, batch/v1 CronJob, v1 Namespace, v1 Pod, v1 ConfigMap, v1 Secret, v1 ServiceAccount, \
         authentication.k8s.io/v1 TokenRequest, authorization.k8s.io/v1 SelfSubjectAccessReview, \
         authorization.k8s.io/v1 SelfSubjectRulesReview"
    );
}

#[test]
fn other_kinds_are_unsupported() {
    for (api_version, kind) in [
        ("apps/v1", "Deployment"),
        ("v1", "Job"),
        ("batch/v1beta1", "CronJob"),
        ("batch/v1", "job"),
        ("v1", "Event"),
    ] {
        assert_eq!(
            decode(&envelope(api_version, kind, Vec::new())),
            Err(ProtobufError::UnsupportedKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })
        );
    }
}

#[test]
fn garbage_object_bytes_are_malformed() {
    let err = decode(&envelope("batch/v1", "Job", vec![0xff; 8])).unwrap_err();
    assert!(
        matches!(&err, ProtobufError::Object { kind, .. } if *kind == JOB),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("malformed protobuf batch/v1 Job: failed to decode Protobuf message"),
        "{err}"
    );

    // The job fixture with its object cut short inside `status`.
    let fixture = base64(CREATE_JOB);
    let unknown = Unknown::decode(&fixture[4..]).unwrap();
    let raw = unknown.raw.unwrap();
    let err = decode(&envelope("batch/v1", "Job", raw[..raw.len() - 5].to_vec())).unwrap_err();
    assert!(matches!(err, ProtobufError::Object { .. }), "{err}");
}

#[test]
fn values_the_go_types_reject_are_malformed() {
    let bad_quantity = pod_with_container(corev1::Container {
        name: s("c"),
        resources: Some(corev1::ResourceRequirements {
            limits: quantities(&[("cpu", "one")]),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(
        decode(&bad_quantity).unwrap_err().to_string(),
        "malformed protobuf v1 Pod: spec.containers[0].resources.limits[cpu]: quantities must \
         match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );

    let bad_port = pod_with_container(corev1::Container {
        name: s("c"),
        liveness_probe: Some(corev1::Probe {
            handler: Some(corev1::ProbeHandler {
                tcp_socket: Some(corev1::TcpSocketAction {
                    port: Some(IntOrString {
                        r#type: Some(2),
                        int_val: Some(80),
                        str_val: None,
                    }),
                    host: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(
        decode(&bad_port).unwrap_err().to_string(),
        "malformed protobuf v1 Pod: spec.containers[0].livenessProbe.tcpSocket.port: impossible \
         IntOrString.Type 2"
    );

    let bad_fields = corev1::Namespace {
        metadata: Some(metav1::ObjectMeta {
            managed_fields: vec![metav1::ManagedFieldsEntry {
                fields_v1: Some(metav1::FieldsV1 {
                    raw: Some(b"{not json".to_vec()),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = decode(&envelope("v1", "Namespace", bad_fields.encode_to_vec())).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "malformed protobuf v1 Namespace: metadata.managedFields[0].fieldsV1: fieldsV1 is not JSON: "
        ),
        "{err}"
    );
}

#[test]
fn every_truncation_of_the_fixtures_is_handled() {
    for fixture in [
        CREATE_JOB,
        CREATE_CRONJOB,
        CREATE_JOB_FROM_CRONJOB,
        CREATE_NAMESPACE,
    ] {
        let body = base64(fixture);
        for len in 0..body.len() {
            if let Ok(value) = decode(&body[..len]) {
                assert!(value["kind"].is_string());
            }
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let mut body = MAGIC.to_vec();
        body.extend(&bytes);
        let _ = decode(&body);
    }

    #[test]
    fn random_object_bytes_never_panic(
        kind in 0..ACCEPTED_KINDS.len(),
        raw in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let kind = ACCEPTED_KINDS[kind];
        let _ = decode(&envelope(&kind.api_version(), kind.kind, raw));
    }

    #[test]
    fn corrupted_fixtures_never_panic(
        fixture in 0..4usize,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = base64(
            [CREATE_JOB, CREATE_CRONJOB, CREATE_JOB_FROM_CRONJOB, CREATE_NAMESPACE][fixture],
        );
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        let _ = decode(&body);
    }
}

#[test]
fn token_request_as_kubectl_create_token_sends_it() {
    use k8s_pb::api::authentication::v1 as authv1;
    let request = authv1::TokenRequest {
        metadata: Some(metav1::ObjectMeta {
            name: Some("builder".to_owned()),
            namespace: Some("default".to_owned()),
            ..Default::default()
        }),
        spec: Some(authv1::TokenRequestSpec {
            audiences: vec!["vault".to_owned()],
            expiration_seconds: Some(7200),
            bound_object_ref: Some(authv1::BoundObjectReference {
                kind: Some("Pod".to_owned()),
                api_version: Some("v1".to_owned()),
                name: Some("p".to_owned()),
                u_id: Some("u".to_owned()),
            }),
        }),
        status: None,
    };
    let body = envelope(
        "authentication.k8s.io/v1",
        "TokenRequest",
        request.encode_to_vec(),
    );
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": "builder", "namespace": "default"},
            "spec": {
                "audiences": ["vault"],
                "expirationSeconds": 7200,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"},
            },
        })
    );
}

#[test]
fn self_reviews_as_kubectl_auth_can_i_sends_them() {
    use k8s_pb::api::authorization::v1 as authzv1;
    let access = authzv1::SelfSubjectAccessReview {
        metadata: Some(metav1::ObjectMeta::default()),
        spec: Some(authzv1::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authzv1::ResourceAttributes {
                namespace: s("default"),
                verb: s("get"),
                group: s(""),
                version: s(""),
                resource: s("pods"),
                subresource: s("log"),
                name: s(""),
                field_selector: None,
                label_selector: None,
            }),
            non_resource_attributes: None,
        }),
        status: Some(authzv1::SubjectAccessReviewStatus {
            allowed: Some(false),
            ..Default::default()
        }),
    };
    let body = envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        access.encode_to_vec(),
    );
    // The status is the server's: not carried over.
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {},
            "spec": {
                "resourceAttributes": {
                    "namespace": "default",
                    "verb": "get",
                    "resource": "pods",
                    "subresource": "log",
                },
            },
        })
    );

    let rules = authzv1::SelfSubjectRulesReview {
        metadata: Some(metav1::ObjectMeta::default()),
        spec: Some(authzv1::SelfSubjectRulesReviewSpec {
            namespace: s("team-a"),
        }),
        status: None,
    };
    let body = envelope(
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        rules.encode_to_vec(),
    );
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "kind": "SelfSubjectRulesReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {},
            "spec": {"namespace": "team-a"},
        })
    );
}
