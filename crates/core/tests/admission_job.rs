//! Job admission, table-driven: every default of job.md §1 and every validation rule with its
//! exact field path and message, through the public admission entry points. Each case names
//! the rule it pins (J-n in job.md, V-n in validation.md, E-n in test-cases.md).

mod common;

use common::{UID, assert_no_failures, check_errors, ctx, patched};
use kbatch_core::admission::{
    AdmitContext, Admitted, Rejected, admit_create, admit_update, admit_update_status,
};
use kbatch_core::k8s_openapi::api::batch::v1::Job;
use kbatch_core::object::Object;
use kbatch_core::patch::json_merge_patch;
use serde_json::{Value, json};

/// A valid Job named `pi`, with `patch` applied as a JSON merge patch (RFC 7396: `null`
/// removes a field).
fn job_json(patch: Value) -> Value {
    let base = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}]
                }
            }
        }
    });
    patched(base, patch)
}

fn job(patch: Value) -> Job {
    serde_json::from_value(job_json(patch)).unwrap()
}

fn create(patch: Value) -> Result<Job, Vec<String>> {
    match admit_create(Object::Job(job(patch)), &ctx()) {
        Ok(admitted) => match admitted.object {
            Object::Job(j) => Ok(j),
            other => panic!("admitted {other:?}"),
        },
        Err(rejected) => Err(rejected.errors.iter().map(|e| e.to_string()).collect()),
    }
}

// ---------------------------------------------------------------------------------------
// Defaults: (rule, patch, [(JSON pointer, expected value; null = absent)])
// ---------------------------------------------------------------------------------------

/// (rule, patch, [(JSON pointer, expected value; null = absent)]).
type DefaultCase = (&'static str, Value, Vec<(&'static str, Value)>);

#[test]
fn defaults() {
    let pfp =
        json!({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]});
    let cases: Vec<DefaultCase> = vec![
        (
            "J-§1 completions and parallelism both unset: both 1",
            json!({}),
            vec![
                ("/spec/completions", json!(1)),
                ("/spec/parallelism", json!(1)),
            ],
        ),
        (
            "J-§1 only parallelism set: completions stay nil (work queue)",
            json!({"spec": {"parallelism": 3}}),
            vec![
                ("/spec/completions", Value::Null),
                ("/spec/parallelism", json!(3)),
            ],
        ),
        (
            "J-§1 only completions set: parallelism 1",
            json!({"spec": {"completions": 5}}),
            vec![
                ("/spec/completions", json!(5)),
                ("/spec/parallelism", json!(1)),
            ],
        ),
        (
            "J-§1 parallelism 0 is kept",
            json!({"spec": {"parallelism": 0}}),
            vec![
                ("/spec/parallelism", json!(0)),
                ("/spec/completions", Value::Null),
            ],
        ),
        (
            "J-§1 backoffLimit defaults to 6",
            json!({}),
            vec![("/spec/backoffLimit", json!(6))],
        ),
        (
            "E11 backoffLimit defaults to 2147483647 with backoffLimitPerIndex",
            json!({"spec": {"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1}}),
            vec![("/spec/backoffLimit", json!(2147483647))],
        ),
        (
            "E11 an explicit backoffLimit is kept with backoffLimitPerIndex",
            json!({"spec": {"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1, "backoffLimit": 3}}),
            vec![("/spec/backoffLimit", json!(3))],
        ),
        (
            "J-§1 completionMode defaults to NonIndexed",
            json!({}),
            vec![("/spec/completionMode", json!("NonIndexed"))],
        ),
        (
            "J-§1 suspend defaults to false",
            json!({}),
            vec![("/spec/suspend", json!(false))],
        ),
        (
            "J-§1 podReplacementPolicy defaults to TerminatingOrFailed",
            json!({}),
            vec![("/spec/podReplacementPolicy", json!("TerminatingOrFailed"))],
        ),
        (
            "J-§1 podReplacementPolicy defaults to Failed with a podFailurePolicy",
            json!({"spec": {"podFailurePolicy": pfp}}),
            vec![("/spec/podReplacementPolicy", json!("Failed"))],
        ),
        (
            "J-§1 manualSelector defaults to false",
            json!({}),
            vec![("/spec/manualSelector", json!(false))],
        ),
        (
            "J-62 onPodConditions status defaults to True",
            json!({"spec": {"podFailurePolicy": pfp}}),
            vec![(
                "/spec/podFailurePolicy/rules/0/onPodConditions/0/status",
                json!("True"),
            )],
        ),
        (
            "J-§1 activeDeadlineSeconds, ttlSecondsAfterFinished, backoffLimitPerIndex, maxFailedIndexes, managedBy have no default",
            json!({}),
            vec![
                ("/spec/activeDeadlineSeconds", Value::Null),
                ("/spec/ttlSecondsAfterFinished", Value::Null),
                ("/spec/backoffLimitPerIndex", Value::Null),
                ("/spec/maxFailedIndexes", Value::Null),
                ("/spec/managedBy", Value::Null),
                ("/spec/successPolicy", Value::Null),
            ],
        ),
        (
            "J-1 a Job without labels takes the template labels (with the generated ones)",
            json!({"spec": {"template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                ("/metadata/labels/app", json!("x")),
                ("/metadata/labels/job-name", json!("pi")),
                (
                    "/metadata/labels/batch.kubernetes.io~1controller-uid",
                    json!(UID),
                ),
            ],
        ),
        (
            "J-1 a Job with labels keeps them",
            json!({"metadata": {"labels": {"team": "a"}}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                ("/metadata/labels/team", json!("a")),
                ("/metadata/labels/app", Value::Null),
                ("/metadata/labels/job-name", Value::Null),
            ],
        ),
        (
            "J-10 the template gets the four generated labels",
            json!({}),
            vec![
                ("/spec/template/metadata/labels/job-name", json!("pi")),
                (
                    "/spec/template/metadata/labels/batch.kubernetes.io~1job-name",
                    json!("pi"),
                ),
                ("/spec/template/metadata/labels/controller-uid", json!(UID)),
                (
                    "/spec/template/metadata/labels/batch.kubernetes.io~1controller-uid",
                    json!(UID),
                ),
            ],
        ),
        (
            "J-10 the generated selector selects only batch.kubernetes.io/controller-uid",
            json!({}),
            vec![(
                "/spec/selector",
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}),
            )],
        ),
        (
            "J-10 a user label equal to the generated value is kept",
            json!({"spec": {"template": {"metadata": {"labels": {"job-name": "pi"}}}}}),
            vec![("/spec/template/metadata/labels/job-name", json!("pi"))],
        ),
        (
            "J-10 manualSelector true: no generated labels or selector",
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"app": "x"}},
                   "template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                ("/spec/selector", json!({"matchLabels": {"app": "x"}})),
                ("/spec/template/metadata/labels", json!({"app": "x"})),
            ],
        ),
        (
            "J-3 generation starts at 1 and status is reset on create",
            json!({"metadata": {"generation": 7}, "status": {"active": 5, "succeeded": 2}}),
            vec![
                ("/metadata/generation", json!(1)),
                ("/status/active", Value::Null),
                ("/status/succeeded", Value::Null),
            ],
        ),
        (
            "V-2 namespace, uid and creationTimestamp are set on create",
            json!({}),
            vec![
                ("/metadata/namespace", json!("default")),
                ("/metadata/uid", json!(UID)),
                ("/metadata/creationTimestamp", json!("2016-05-19T10:00:00Z")),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (id, patch, expectations) in cases {
        let value = match create(patch) {
            Ok(job) => serde_json::to_value(&job).unwrap(),
            Err(errors) => {
                failures.push(format!("{id}: rejected: {errors:#?}"));
                continue;
            }
        };
        for (pointer, expected) in expectations {
            let actual = value.pointer(pointer).cloned().unwrap_or(Value::Null);
            if actual != expected {
                failures.push(format!(
                    "{id}: {pointer}: expected {expected}, got {actual}"
                ));
            }
        }
    }
    assert_no_failures(failures);
}

// ---------------------------------------------------------------------------------------
// Validation on create: (rule, patch, exact errors in order; empty = admitted)
// ---------------------------------------------------------------------------------------

const RESTART_REQUIRED: &str =
    r#"spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#;

fn rules(rules: Value) -> Value {
    json!({"spec": {"podFailurePolicy": {"rules": rules}}})
}

fn exit_codes(operator: &str, values: Value) -> Value {
    rules(json!([{"action": "FailJob", "onExitCodes": {"operator": operator, "values": values}}]))
}

fn indexed(extra: Value) -> Value {
    let mut patch = json!({"spec": {"completionMode": "Indexed", "completions": 5}});
    json_merge_patch(&mut patch, json!({"spec": extra}));
    patch
}

fn success(policy: Value) -> Value {
    indexed(json!({"successPolicy": policy}))
}

#[test]
fn validation_on_create() {
    let twenty_one_rules: Vec<Value> = (0..21)
        .map(|_| json!({"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}))
        .collect();
    let twenty_one_patterns: Vec<Value> = (0..21)
        .map(|_| json!({"type": "DisruptionTarget"}))
        .collect();
    let many_codes: Vec<i32> = (1..=256).collect();
    let twenty_one_success_rules: Vec<Value> =
        (0..21).map(|_| json!({"succeededCount": 1})).collect();
    let long_managed_by = format!("acme.io/{}", "a".repeat(56));
    let long_name_error = format!(
        r#"metadata.name: Invalid value: "{0}": will not able to create pod with invalid DNS label: {0}-9"#,
        "a".repeat(62)
    );

    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("J-§1 a valid Job is admitted", json!({}), vec![]),
        // J-5 restartPolicy.
        (
            "J-5, V-23 restartPolicy unset",
            json!({"spec": {"template": {"spec": {"restartPolicy": null}}}}),
            vec![RESTART_REQUIRED],
        ),
        (
            "J-5, V-23 restartPolicy Always",
            json!({"spec": {"template": {"spec": {"restartPolicy": "Always"}}}}),
            vec![RESTART_REQUIRED],
        ),
        (
            "J-5 restartPolicy OnFailure is valid",
            json!({"spec": {"template": {"spec": {"restartPolicy": "OnFailure"}}}}),
            vec![],
        ),
        (
            "J-5 unknown restartPolicy: the pod spec's and the Job's NotSupported",
            json!({"spec": {"template": {"spec": {"restartPolicy": "Sometimes"}}}}),
            vec![
                r#"spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
                r#"spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never""#,
            ],
        ),
        (
            "J-5 podFailurePolicy with restartPolicy OnFailure",
            json!({"spec": {"template": {"spec": {"restartPolicy": "OnFailure"}},
                   "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
            vec![
                r#"spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified"#,
            ],
        ),
        // V-30 non-negative fields.
        (
            "V-30 parallelism -1",
            json!({"spec": {"parallelism": -1}}),
            vec!["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "V-30 completions -1",
            json!({"spec": {"completions": -1}}),
            vec!["spec.completions: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "V-30 activeDeadlineSeconds -5",
            json!({"spec": {"activeDeadlineSeconds": -5}}),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: -5: must be greater than or equal to 0",
            ],
        ),
        (
            "V-30 backoffLimit -1",
            json!({"spec": {"backoffLimit": -1}}),
            vec!["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "V-30 ttlSecondsAfterFinished -1",
            json!({"spec": {"ttlSecondsAfterFinished": -1}}),
            vec![
                "spec.ttlSecondsAfterFinished: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "V-30 backoffLimitPerIndex -1",
            indexed(json!({"backoffLimitPerIndex": -1})),
            vec![
                "spec.backoffLimitPerIndex: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "V-30 maxFailedIndexes -1",
            indexed(json!({"backoffLimitPerIndex": 1, "maxFailedIndexes": -1})),
            vec!["spec.maxFailedIndexes: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "V-30 zero values are valid",
            json!({"spec": {"parallelism": 0, "completions": 0, "backoffLimit": 0, "activeDeadlineSeconds": 0, "ttlSecondsAfterFinished": 0}}),
            vec![],
        ),
        // backoffLimitPerIndex / maxFailedIndexes.
        (
            "J-§1 maxFailedIndexes needs backoffLimitPerIndex",
            indexed(json!({"maxFailedIndexes": 1})),
            vec!["spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified"],
        ),
        (
            "J-§1 backoffLimitPerIndex requires Indexed",
            json!({"spec": {"backoffLimitPerIndex": 1}}),
            vec!["spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"],
        ),
        (
            "J-§1 maxFailedIndexes requires Indexed",
            json!({"spec": {"backoffLimitPerIndex": 1, "maxFailedIndexes": 1}}),
            vec![
                "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode",
                "spec.maxFailedIndexes: Invalid value: 1: requires indexed completion mode",
            ],
        ),
        (
            "J-§1 maxFailedIndexes greater than completions",
            indexed(json!({"backoffLimitPerIndex": 1, "maxFailedIndexes": 6})),
            vec![
                "spec.maxFailedIndexes: Invalid value: 6: must be less than or equal to completions",
            ],
        ),
        (
            "J-§1 maxFailedIndexes equal to completions is valid",
            indexed(json!({"backoffLimitPerIndex": 1, "maxFailedIndexes": 5})),
            vec![],
        ),
        (
            "J-§1 completions above 10^5 with backoffLimitPerIndex need maxFailedIndexes and parallelism ≤ 10^4",
            indexed(
                json!({"completions": 200000, "parallelism": 20000, "backoffLimitPerIndex": 1}),
            ),
            vec![
                "spec.maxFailedIndexes: Required value: must be specified when completions is above 100000",
                "spec.parallelism: Invalid value: 20000: must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index",
            ],
        ),
        (
            "J-§1 maxFailedIndexes above 10^5, and above 10^4 with high completions",
            indexed(
                json!({"completions": 200000, "backoffLimitPerIndex": 1, "maxFailedIndexes": 100001}),
            ),
            vec![
                "spec.maxFailedIndexes: Invalid value: 100001: must be less than or equal to 100000",
                "spec.maxFailedIndexes: Invalid value: 100001: must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index",
            ],
        ),
        // completionMode / completions.
        (
            "J-§1 unknown completionMode",
            json!({"spec": {"completionMode": "Weird"}}),
            vec![
                r#"spec.completionMode: Unsupported value: "Weird": supported values: "NonIndexed", "Indexed""#,
            ],
        ),
        (
            "J-§1 Indexed with parallelism but without completions",
            json!({"spec": {"completionMode": "Indexed", "parallelism": 2}}),
            vec!["spec.completions: Required value: when completion mode is Indexed"],
        ),
        (
            "J-§1 Indexed without completions and parallelism: both default to 1",
            json!({"spec": {"completionMode": "Indexed"}}),
            vec![],
        ),
        (
            "J-§1 Indexed parallelism above 100000",
            indexed(json!({"parallelism": 100001})),
            vec![
                "spec.parallelism: Invalid value: 100001: must be less than or equal to 100000 when completion mode is Indexed",
            ],
        ),
        // managedBy.
        (
            "J-§1 managedBy must be a domain-prefixed path",
            json!({"spec": {"managedBy": "foo"}}),
            vec![
                r#"spec.managedBy: Invalid value: "foo": must be a domain-prefixed path (such as "acme.io/foo")"#,
            ],
        ),
        (
            "J-§1 managedBy path part with a space",
            json!({"spec": {"managedBy": "acme.io/foo bar"}}),
            vec![
                r#"spec.managedBy: Invalid value: "foo bar": Invalid path (regex used for validation is '[A-Za-z0-9/\-._~%!$&'()*+,;=:]+')"#,
            ],
        ),
        (
            "J-§1 managedBy longer than 63",
            json!({"spec": {"managedBy": long_managed_by}}),
            vec!["spec.managedBy: Too long: may not be more than 63 bytes"],
        ),
        (
            "J-§1 a valid managedBy",
            json!({"spec": {"managedBy": "kueue.x-k8s.io/multikueue"}}),
            vec![],
        ),
        // podReplacementPolicy.
        (
            "J-§1 unknown podReplacementPolicy",
            json!({"spec": {"podReplacementPolicy": "Sometimes"}}),
            vec![
                r#"spec.podReplacementPolicy: Unsupported value: "Sometimes": supported values: "Failed", "TerminatingOrFailed""#,
            ],
        ),
        (
            "J-§1 podReplacementPolicy must be Failed with a podFailurePolicy",
            json!({"spec": {"podReplacementPolicy": "TerminatingOrFailed",
                   "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
            vec![
                r#"spec.podReplacementPolicy: Unsupported value: "TerminatingOrFailed": supported values: "Failed""#,
            ],
        ),
        // Pod failure policy.
        (
            "J-60 more than 20 rules",
            rules(json!(twenty_one_rules)),
            vec!["spec.podFailurePolicy.rules: Too many: 21: must have at most 20 items"],
        ),
        (
            "J-60 both onExitCodes and onPodConditions",
            rules(
                json!([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]},
                          "onPodConditions": [{"type": "DisruptionTarget"}]}]),
            ),
            vec![
                "spec.podFailurePolicy.rules[0]: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported",
            ],
        ),
        (
            "J-60 neither onExitCodes nor onPodConditions",
            rules(json!([{"action": "FailJob"}])),
            vec![
                "spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
            ],
        ),
        (
            "J-60 empty onPodConditions counts as none",
            rules(json!([{"action": "FailJob", "onPodConditions": []}])),
            vec![
                "spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
            ],
        ),
        (
            "J-60 action required",
            rules(json!([{"action": "", "onPodConditions": [{"type": "DisruptionTarget"}]}])),
            vec![
                r#"spec.podFailurePolicy.rules[0].action: Required value: valid values: ["Count" "FailIndex" "FailJob" "Ignore"]"#,
            ],
        ),
        (
            "J-60 unknown action",
            rules(
                json!([{"action": "Explode", "onPodConditions": [{"type": "DisruptionTarget"}]}]),
            ),
            vec![
                r#"spec.podFailurePolicy.rules[0].action: Unsupported value: "Explode": supported values: "Count", "FailIndex", "FailJob", "Ignore""#,
            ],
        ),
        (
            "E6 FailIndex without backoffLimitPerIndex",
            rules(
                json!([{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}}]),
            ),
            vec![
                r#"spec.podFailurePolicy.rules[0].action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set"#,
            ],
        ),
        (
            "J-60 FailIndex with backoffLimitPerIndex is valid",
            {
                let mut p = indexed(json!({"backoffLimitPerIndex": 1}));
                json_merge_patch(
                    &mut p,
                    rules(
                        json!([{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}}]),
                    ),
                );
                p
            },
            vec![],
        ),
        (
            "J-60 Count and the rules' order are accepted",
            rules(
                json!([{"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [0, 1]}},
                         {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "False"}]}]),
            ),
            vec![],
        ),
        (
            "E4 In with exit code 0",
            exit_codes("In", json!([0, 1])),
            vec![
                "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
            ],
        ),
        (
            "E4 NotIn with exit code 0 is valid",
            exit_codes("NotIn", json!([0])),
            vec![],
        ),
        (
            "E5 unordered values",
            exit_codes("In", json!([5, 3])),
            vec![
                "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: [5,3]: must be ordered",
            ],
        ),
        (
            "J-61 duplicate values",
            exit_codes("In", json!([1, 1])),
            vec!["spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Duplicate value: 1"],
        ),
        (
            "J-61 no values",
            exit_codes("In", json!([])),
            vec![
                "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []: at least one value is required",
            ],
        ),
        (
            "J-61 more than 255 values",
            exit_codes("In", json!(many_codes)),
            vec![
                "spec.podFailurePolicy.rules[0].onExitCodes.values: Too many: 256: must have at most 255 items",
            ],
        ),
        (
            "J-61 operator required",
            exit_codes("", json!([1])),
            vec![
                r#"spec.podFailurePolicy.rules[0].onExitCodes.operator: Required value: valid values: ["In" "NotIn"]"#,
            ],
        ),
        (
            "J-61 unknown operator",
            exit_codes("Maybe", json!([1])),
            vec![
                r#"spec.podFailurePolicy.rules[0].onExitCodes.operator: Unsupported value: "Maybe": supported values: "In", "NotIn""#,
            ],
        ),
        (
            "J-61 containerName not found",
            rules(
                json!([{"action": "FailJob", "onExitCodes": {"containerName": "ghost", "operator": "In", "values": [1]}}]),
            ),
            vec![
                r#"spec.podFailurePolicy.rules[0].onExitCodes.containerName: Invalid value: "ghost": must be one of the container or initContainer names in the pod template"#,
            ],
        ),
        (
            "J-61 containerName naming an initContainer is valid",
            {
                let mut p = rules(
                    json!([{"action": "FailJob", "onExitCodes": {"containerName": "init", "operator": "In", "values": [1]}}]),
                );
                json_merge_patch(
                    &mut p,
                    json!({"spec": {"template": {"spec": {"initContainers": [{"name": "init", "image": "busybox"}]}}}}),
                );
                p
            },
            vec![],
        ),
        (
            "J-62 unknown condition status",
            rules(
                json!([{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "Maybe"}]}]),
            ),
            vec![
                r#"spec.podFailurePolicy.rules[0].onPodConditions[0].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown""#,
            ],
        ),
        (
            "J-62 more than 20 patterns",
            rules(json!([{"action": "Ignore", "onPodConditions": twenty_one_patterns}])),
            vec![
                "spec.podFailurePolicy.rules[0].onPodConditions: Too many: 21: must have at most 20 items",
            ],
        ),
        (
            "J-60 every error of every rule is reported",
            rules(
                json!([{"action": "Explode"}, {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3, 0]}}]),
            ),
            vec![
                r#"spec.podFailurePolicy.rules[0].action: Unsupported value: "Explode": supported values: "Count", "FailIndex", "FailJob", "Ignore""#,
                "spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
                "spec.podFailurePolicy.rules[1].onExitCodes.values[1]: Invalid value: 0: must not be 0 for the In operator",
                "spec.podFailurePolicy.rules[1].onExitCodes.values: Invalid value: [3,0]: must be ordered",
            ],
        ),
        // Success policy.
        (
            "J-70 successPolicy on a NonIndexed Job",
            json!({"spec": {"successPolicy": {"rules": [{"succeededCount": 1}]}}}),
            vec![
                r#"spec.successPolicy: Invalid value: {"rules":[{"succeededCount":1}]}: requires indexed completion mode"#,
            ],
        ),
        (
            "J-70 no rules",
            success(json!({"rules": []})),
            vec![
                "spec.successPolicy.rules: Required value: at least one rules must be specified when the successPolicy is specified",
            ],
        ),
        (
            "J-70 more than 20 rules",
            success(json!({"rules": twenty_one_success_rules})),
            vec!["spec.successPolicy.rules: Too many: 21: must have at most 20 items"],
        ),
        (
            "J-70 a rule with neither field",
            success(json!({"rules": [{}]})),
            vec![
                "spec.successPolicy.rules[0]: Required value: at least one of succeededCount or succeededIndexes must be specified",
            ],
        ),
        (
            "J-70 succeededCount greater than completions",
            success(json!({"rules": [{"succeededCount": 6}]})),
            vec![
                "spec.successPolicy.rules[0].succeededCount: Invalid value: 6: must be less than or equal to 5 (the number of specified completions)",
            ],
        ),
        (
            "J-70 succeededCount negative",
            success(json!({"rules": [{"succeededCount": -1}]})),
            vec![
                "spec.successPolicy.rules[0].succeededCount: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "J-70 succeededCount greater than the number of succeededIndexes",
            success(json!({"rules": [{"succeededIndexes": "0-2", "succeededCount": 4}]})),
            vec![
                "spec.successPolicy.rules[0].succeededCount: Invalid value: 4: must be less than or equal to 3 (the number of indexes in the specified succeededIndexes field)",
            ],
        ),
        (
            "J-70 succeededIndexes not increasing",
            success(json!({"rules": [{"succeededIndexes": "3,1"}]})),
            vec![
                r#"spec.successPolicy.rules[0].succeededIndexes: Invalid value: "3,1": error parsing succeededIndexes: non-increasing order, previous: 3, current: 1"#,
            ],
        ),
        (
            "J-70 succeededIndexes interval not increasing",
            success(json!({"rules": [{"succeededIndexes": "2-1"}]})),
            vec![
                r#"spec.successPolicy.rules[0].succeededIndexes: Invalid value: "2-1": error parsing succeededIndexes: non-increasing order, previous: 2, current: 1"#,
            ],
        ),
        (
            "J-70 succeededIndexes at or above completions",
            success(json!({"rules": [{"succeededIndexes": "0-9"}]})),
            vec![
                r#"spec.successPolicy.rules[0].succeededIndexes: Invalid value: "0-9": error parsing succeededIndexes: too large index: "9""#,
            ],
        ),
        (
            "J-81 succeededIndexes with three parts",
            success(json!({"rules": [{"succeededIndexes": "1-2-3"}]})),
            vec![
                r#"spec.successPolicy.rules[0].succeededIndexes: Invalid value: "1-2-3": error parsing succeededIndexes: the fragment "1-2-3" violates the requirement that an index interval can have at most two parts separated by '-'"#,
            ],
        ),
        (
            "J-81 succeededIndexes not a number",
            success(json!({"rules": [{"succeededIndexes": "a"}]})),
            vec![
                r#"spec.successPolicy.rules[0].succeededIndexes: Invalid value: "a": error parsing succeededIndexes: cannot convert string to integer for index: "a""#,
            ],
        ),
        (
            "J-70 unparsable succeededIndexes count as zero indexes for succeededCount",
            success(json!({"rules": [{"succeededIndexes": "x", "succeededCount": 1}]})),
            vec![
                r#"spec.successPolicy.rules[0].succeededIndexes: Invalid value: "x": error parsing succeededIndexes: cannot convert string to integer for index: "x""#,
                "spec.successPolicy.rules[0].succeededCount: Invalid value: 1: must be less than or equal to 0 (the number of indexes in the specified succeededIndexes field)",
            ],
        ),
        (
            "J-70 a valid success policy",
            success(
                json!({"rules": [{"succeededIndexes": "0,2-4", "succeededCount": 2}, {"succeededCount": 5}]}),
            ),
            vec![],
        ),
        // Selector.
        (
            "J-§2 manualSelector without selector",
            json!({"spec": {"manualSelector": true}}),
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`",
            ],
        ),
        (
            "J-§2 manual selector matching the template labels",
            json!({"spec": {"manualSelector": true, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x", "y"]}]},
                   "template": {"metadata": {"labels": {"app": "y"}}}}}),
            vec![],
        ),
        (
            "J-§2 manual selector not matching the template labels",
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"app": "y"}},
                   "template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                r#"spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match template `labels`"#,
            ],
        ),
        (
            "J-10 a user selector without manualSelector is not the generated one",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                r#"spec.selector: Invalid value: {"matchLabels":{"app":"x","batch.kubernetes.io/controller-uid":"uid-1"}}: `selector` not auto-generated"#,
            ],
        ),
        (
            "J-10 a conflicting controller-uid template label",
            json!({"spec": {"template": {"metadata": {"labels": {"controller-uid": "other"}}}}}),
            vec![
                r#"spec.template.metadata.labels[controller-uid]: Invalid value: {"batch.kubernetes.io/controller-uid":"uid-1","batch.kubernetes.io/job-name":"pi","controller-uid":"other","job-name":"pi"}: must be 'uid-1'"#,
            ],
        ),
        (
            "J-10 a conflicting batch.kubernetes.io/job-name template label",
            json!({"spec": {"template": {"metadata": {"labels": {"batch.kubernetes.io/job-name": "other"}}}}}),
            vec![
                r#"spec.template.metadata.labels[batch.kubernetes.io/job-name]: Invalid value: {…}: must be 'pi'"#,
            ],
        ),
        (
            "J-§2 unknown selector operator",
            json!({"spec": {"manualSelector": true, "selector": {"matchExpressions": [{"key": "app", "operator": "Maybe", "values": ["x"]}]},
                   "template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                r#"spec.selector.matchExpressions[0].operator: Invalid value: "Maybe": not a valid selector operator"#,
            ],
        ),
        (
            "J-§2 In selector without values",
            json!({"spec": {"manualSelector": true, "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
                   "template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ],
        ),
        (
            "J-§2 Exists selector with values",
            json!({"spec": {"manualSelector": true, "selector": {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
                   "template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ],
        ),
        (
            "J-§2 selector key not a qualified name",
            json!({"spec": {"manualSelector": true, "selector": {"matchExpressions": [{"key": "a b", "operator": "Exists"}]}}}),
            vec![
                "spec.selector.matchExpressions[0].key: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ],
        ),
        (
            "J-§2 selector matchLabels value not a label value",
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"app": "-x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}}),
            vec![
                "spec.selector.matchLabels: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ],
        ),
        (
            "J-62 condition type not a qualified name",
            rules(
                json!([{"action": "Ignore", "onPodConditions": [{"type": "Disruption Target"}]}]),
            ),
            vec![
                "spec.podFailurePolicy.rules[0].onPodConditions[0].type: Invalid value: \"Disruption Target\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ],
        ),
        (
            "J-62 a prefixed condition type is valid",
            rules(
                json!([{"action": "Ignore", "onPodConditions": [{"type": "example.com/Evicted"}]}]),
            ),
            vec![],
        ),
        (
            "J-§1 managedBy host not a DNS subdomain",
            json!({"spec": {"managedBy": "Acme.io/foo"}}),
            vec![
                "spec.managedBy: Invalid value: \"Acme.io\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ],
        ),
        (
            "V-1 Job name must be a DNS subdomain",
            json!({"metadata": {"name": "Pi"}}),
            vec![
                "metadata.name: Invalid value: \"Pi\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            ],
        ),
        (
            "J-§2 an empty manual selector matches everything",
            json!({"spec": {"manualSelector": true, "selector": {}}}),
            vec![],
        ),
        // J-2 names of Indexed Jobs.
        (
            "J-2 Indexed: <name>-<completions-1> of 63 characters is valid",
            json!({"metadata": {"name": "a".repeat(61)}, "spec": {"completionMode": "Indexed", "completions": 10}}),
            vec![],
        ),
        (
            "J-2 Indexed: <name>-<completions-1> longer than 63 characters",
            json!({"metadata": {"name": "a".repeat(62)}, "spec": {"completionMode": "Indexed", "completions": 10}}),
            vec![long_name_error.as_str()],
        ),
        (
            "J-2 NonIndexed Jobs may have long names",
            json!({"metadata": {"name": "a".repeat(62)}, "spec": {"completions": 10}}),
            vec![],
        ),
    ];
    let mut failures = Vec::new();
    for (id, patch, expected) in cases {
        let errors = match create(patch) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        check_errors(&mut failures, id, &errors, &expected);
    }
    assert_no_failures(failures);
}

#[test]
fn restart_policy_error_carries_a_hint() {
    // J-5: Kubernetes' first line unchanged, then kbatch's hint.
    let err = admit_create(
        Object::Job(job(
            json!({"spec": {"template": {"spec": {"restartPolicy": null}}}}),
        )),
        &ctx(),
    )
    .unwrap_err();
    let e = &err.errors[0];
    assert_eq!(e.to_string(), RESTART_REQUIRED);
    let message = e.message();
    let mut lines = message.lines();
    assert_eq!(
        lines.next(),
        Some(r#"Required value: valid values: "OnFailure", "Never""#)
    );
    assert!(
        lines
            .next()
            .unwrap()
            .contains("`restartPolicy: Never` (or `OnFailure`) under spec.template.spec:")
    );
}

#[test]
fn warnings_on_create() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("J-2 a DNS-label name gives no warning", json!({}), vec![]),
        (
            "J-2 a name that is a subdomain but not a label gives Kubernetes' warning",
            json!({"metadata": {"name": "my.job"}}),
            vec![
                "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]",
            ],
        ),
        (
            "J-§1 Indexed with completions above 10^5 and parallelism above 10^4",
            indexed(json!({"completions": 200000, "parallelism": 10001})),
            vec![
                "spec: In Indexed Jobs with a number of completions higher than 10^5 and a parallelism higher than 10^4, Kubernetes might not be able to track completedIndexes when a big number of indexes fail",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (id, patch, expected) in cases {
        match admit_create(Object::Job(job(patch)), &ctx()) {
            Ok(admitted) if admitted.warnings == expected => {}
            Ok(admitted) => failures.push(format!(
                "{id}\n  expected: {expected:#?}\n  actual:   {:#?}",
                admitted.warnings
            )),
            Err(e) => failures.push(format!("{id}: rejected: {:#?}", e.errors)),
        }
    }
    assert_no_failures(failures);
}

// ---------------------------------------------------------------------------------------
// Updates: (rule, patch of the created Job, patch of the update, exact errors)
// ---------------------------------------------------------------------------------------

/// Creates the Job from `create_patch`, then applies `stored_patch` to what was stored (to
/// give it status a client cannot set) and `update_patch` to make the new version.
fn update(
    create_patch: Value,
    stored_patch: Value,
    update_patch: Value,
) -> Result<Job, Vec<String>> {
    change(admit_update, create_patch, stored_patch, update_patch)
}

/// Like `update`, through the `/status` subresource.
fn update_status(
    create_patch: Value,
    stored_status: Value,
    new_status: Value,
) -> Result<Job, Vec<String>> {
    change(
        admit_update_status,
        create_patch,
        json!({ "status": stored_status }),
        json!({ "status": new_status }),
    )
}

type Admit = fn(Object, &Object, &AdmitContext) -> Result<Admitted, Rejected>;

fn change(
    admit: Admit,
    create_patch: Value,
    stored_patch: Value,
    update_patch: Value,
) -> Result<Job, Vec<String>> {
    let created = create(create_patch).unwrap_or_else(|e| panic!("create rejected: {e:#?}"));
    let mut stored = serde_json::to_value(&created).unwrap();
    // The store gives every stored object a resourceVersion (V-6 requires one on update).
    json_merge_patch(&mut stored, json!({"metadata": {"resourceVersion": "1"}}));
    json_merge_patch(&mut stored, stored_patch);
    let old: Job = serde_json::from_value(stored.clone()).unwrap();
    let mut new = stored;
    json_merge_patch(&mut new, update_patch);
    let new: Job = serde_json::from_value(new).unwrap();
    match admit(Object::Job(new), &Object::Job(old), &ctx()) {
        Ok(admitted) => match admitted.object {
            Object::Job(j) => Ok(j),
            other => panic!("admitted {other:?}"),
        },
        Err(rejected) => Err(rejected.errors.iter().map(|e| e.to_string()).collect()),
    }
}

#[test]
fn updates() {
    let indexed3 =
        json!({"spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3}});
    let suspended = json!({"spec": {"suspend": true}});
    let started = json!({"status": {"startTime": "2016-05-19T10:00:00Z"}});
    let pfp =
        json!({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]});
    let cases: Vec<(&str, Value, Value, Value, Vec<&str>)> = vec![
        (
            "J-§1 mutable fields: parallelism, backoffLimit, activeDeadlineSeconds, ttl, suspend",
            json!({}),
            json!({}),
            json!({"spec": {"parallelism": 4, "backoffLimit": 1, "activeDeadlineSeconds": 60, "ttlSecondsAfterFinished": 100, "suspend": true}}),
            vec![],
        ),
        (
            "J-§1 podReplacementPolicy is mutable",
            json!({}),
            json!({}),
            json!({"spec": {"podReplacementPolicy": "Failed"}}),
            vec![],
        ),
        (
            "J-§1 maxFailedIndexes is mutable",
            json!({"spec": {"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1, "maxFailedIndexes": 1}}),
            json!({}),
            json!({"spec": {"maxFailedIndexes": 2}}),
            vec![],
        ),
        (
            "J-§1 NonIndexed completions are immutable",
            json!({}),
            json!({}),
            json!({"spec": {"completions": 5}}),
            vec!["spec.completions: Invalid value: 5: field is immutable"],
        ),
        (
            "J-§1 Indexed completions may change in tandem with parallelism",
            indexed3.clone(),
            json!({}),
            json!({"spec": {"completions": 5, "parallelism": 5}}),
            vec![],
        ),
        (
            "J-§1 Indexed completions changed alone",
            indexed3.clone(),
            json!({}),
            json!({"spec": {"completions": 5}}),
            vec![
                "spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism",
            ],
        ),
        (
            "J-§1 completionMode is immutable",
            json!({}),
            json!({}),
            json!({"spec": {"completionMode": "Indexed"}}),
            vec![r#"spec.completionMode: Invalid value: "Indexed": field is immutable"#],
        ),
        (
            "J-§1 backoffLimitPerIndex is immutable",
            json!({"spec": {"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1}}),
            json!({}),
            json!({"spec": {"backoffLimitPerIndex": 2}}),
            vec!["spec.backoffLimitPerIndex: Invalid value: 2: field is immutable"],
        ),
        (
            "J-§1 managedBy is immutable",
            json!({}),
            json!({}),
            json!({"spec": {"managedBy": "acme.io/x"}}),
            vec![r#"spec.managedBy: Invalid value: "acme.io/x": field is immutable"#],
        ),
        (
            "J-§1 successPolicy is immutable",
            json!({"spec": {"completionMode": "Indexed", "completions": 3, "successPolicy": {"rules": [{"succeededCount": 1}]}}}),
            json!({}),
            json!({"spec": {"successPolicy": {"rules": [{"succeededCount": 2}]}}}),
            vec![
                r#"spec.successPolicy: Invalid value: {"rules":[{"succeededCount":2}]}: field is immutable"#,
            ],
        ),
        (
            "J-§1 podFailurePolicy is immutable (and the stored podReplacementPolicy no longer fits; spec errors appear twice like in Kubernetes)",
            json!({}),
            json!({}),
            json!({"spec": {"podFailurePolicy": pfp}}),
            vec![
                r#"spec.podReplacementPolicy: Unsupported value: "TerminatingOrFailed": supported values: "Failed""#,
                r#"spec.podReplacementPolicy: Unsupported value: "TerminatingOrFailed": supported values: "Failed""#,
                r#"spec.podFailurePolicy: Invalid value: {"rules":[{"action":"Ignore","onPodConditions":[{"status":"True","type":"DisruptionTarget"}]}]}: field is immutable"#,
            ],
        ),
        (
            "J-§1 selector is immutable",
            json!({}),
            json!({}),
            json!({"spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "other"}}}}),
            vec![
                r#"spec.selector: Invalid value: {"matchLabels":{"batch.kubernetes.io/controller-uid":"other"}}: `selector` not auto-generated"#,
                "spec.template.metadata.labels: Invalid value: {…}: `selector` does not match template `labels`",
                "spec.template.metadata.labels: Invalid value: {…}: `selector` does not match template `labels`",
                r#"spec.selector: Invalid value: {"matchLabels":{"batch.kubernetes.io/controller-uid":"other"}}: field is immutable"#,
            ],
        ),
        (
            "J-§1 the template is immutable",
            json!({}),
            json!({}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "alpine"}]}}}}),
            vec![r#"spec.template: Invalid value: {…"image":"alpine"…}: field is immutable"#],
        ),
        (
            "J-§1 suspended and never started: scheduling directives, labels and annotations may change",
            suspended.clone(),
            json!({}),
            json!({"spec": {"template": {
                "metadata": {"labels": {"tier": "batch"}, "annotations": {"note": "x"}},
                "spec": {"nodeSelector": {"disk": "ssd"},
                         "tolerations": [{"key": "k", "operator": "Exists"}],
                         "schedulingGates": [{"name": "example.com/gate"}],
                         "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}}}}),
            vec![],
        ),
        (
            "J-§1 suspended and never started: the image stays immutable",
            suspended.clone(),
            json!({}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "alpine"}]}}}}),
            vec![r#"spec.template: Invalid value: {…}: field is immutable"#],
        ),
        (
            "J-§1 suspended but started once: nodeSelector is immutable",
            suspended.clone(),
            started.clone(),
            json!({"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}}),
            vec![
                r#"spec.template: Invalid value: {…"nodeSelector":{"disk":"ssd"}…}: field is immutable"#,
            ],
        ),
        (
            "J-§1 not suspended: template labels are immutable",
            json!({}),
            json!({}),
            json!({"spec": {"template": {"metadata": {"labels": {"tier": "batch"}}}}}),
            vec![r#"spec.template: Invalid value: {…}: field is immutable"#],
        ),
        (
            "J-3 status is kept from the stored Job on update",
            json!({}),
            json!({"status": {"active": 2}}),
            json!({"status": {"active": 9}}),
            vec![],
        ),
        (
            "J-5 the spec rules still apply on update (reported twice, as Kubernetes does)",
            json!({}),
            json!({}),
            json!({"spec": {"backoffLimit": -1}}),
            vec![
                "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (id, create_patch, stored_patch, update_patch, expected) in cases {
        let errors = match update(create_patch, stored_patch, update_patch) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        check_errors(&mut failures, id, &errors, &expected);
    }
    assert_no_failures(failures);
}

#[test]
fn update_generation_and_status() {
    // J-3: a spec change moves generation, a metadata-only change does not; status comes
    // from the stored object.
    let moved = update(
        json!({}),
        json!({"status": {"active": 2}}),
        json!({"spec": {"parallelism": 2}, "status": {"active": 9}}),
    )
    .unwrap();
    assert_eq!(moved.metadata.generation, Some(2));
    assert_eq!(moved.status.unwrap().active, Some(2));
    let same = update(
        json!({}),
        json!({}),
        json!({"metadata": {"annotations": {"a": "b"}}}),
    )
    .unwrap();
    assert_eq!(same.metadata.generation, Some(1));
}

/// ValidateObjectMeta includes ValidateManagedFields: entries a client sends are checked.
#[test]
fn managed_fields_entries_are_validated() {
    let errs = create(json!({"metadata": {"managedFields": [
        {"manager": "kubectl", "operation": "Bogus", "fieldsType": "FieldsV1", "fieldsV1": {}}
    ]}}))
    .unwrap_err();
    assert_eq!(
        errs,
        [
            r#"metadata.managedFields[0].operation: Unsupported value: "Bogus": supported values: "Apply", "Update""#
        ]
    );
    assert!(
        create(json!({"metadata": {"managedFields": [
            {"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {}}
        ]}}))
        .is_ok()
    );
}

fn condition(type_: &str) -> Value {
    json!({"type": type_, "status": "True", "reason": "R", "message": "m",
           "lastProbeTime": "2016-05-19T10:00:00Z", "lastTransitionTime": "2016-05-19T10:00:00Z"})
}

/// J-92: the Job status transitions the API server refuses with JobManagedBy on
/// (`ValidateJobStatusUpdate` with `getStatusValidationOptions`), whoever writes them. Each
/// case: (rule, the Job's spec patch, the stored status, the status written, errors).
#[test]
fn status_updates() {
    let start = "2016-05-19T10:00:00Z";
    let later = "2016-05-19T10:05:00Z";
    let earlier = "2016-05-19T09:00:00Z";
    let complete = json!([condition("SuccessCriteriaMet"), condition("Complete")]);
    let failed = json!([condition("FailureTarget"), condition("Failed")]);
    let indexed4 =
        json!({"spec": {"completionMode": "Indexed", "completions": 4, "parallelism": 2}});
    let per_index = json!({"spec": {"completionMode": "Indexed", "completions": 4, "parallelism": 2, "backoffLimitPerIndex": 1}});
    let done = json!({"startTime": start, "completionTime": later, "succeeded": 1, "conditions": complete});
    let cases: Vec<(&str, Value, Value, Value, Vec<&str>)> = vec![
        (
            "J-26 the controller's two steps to Complete are accepted",
            json!({}),
            json!({"startTime": start, "active": 1, "ready": 1}),
            json!({"active": 0, "ready": 0, "succeeded": 1, "conditions": [condition("SuccessCriteriaMet")]}),
            vec![],
        ),
        (
            "J-26 then Complete with completionTime",
            json!({}),
            json!({"startTime": start, "succeeded": 1, "conditions": [condition("SuccessCriteriaMet")]}),
            json!({"completionTime": later, "conditions": complete}),
            vec![],
        ),
        (
            "J-26 FailureTarget then Failed",
            json!({}),
            json!({"startTime": start, "failed": 1, "conditions": [condition("FailureTarget")]}),
            json!({"conditions": failed}),
            vec![],
        ),
        (
            "J-92 the terminal conditions cannot be removed",
            json!({}),
            done.clone(),
            json!({"conditions": [], "completionTime": null}),
            vec![
                "status.conditions: Invalid value: cannot disable the terminal Complete=True condition",
                "status.conditions: Invalid value: cannot disable the SuccessCriteriaMet=True condition",
            ],
        ),
        (
            "J-92 nor turned False",
            json!({}),
            json!({"startTime": start, "failed": 1, "conditions": failed}),
            json!({"conditions": [condition("FailureTarget"), {"type": "Failed", "status": "False"}]}),
            vec![
                "status.conditions: Invalid value: cannot disable the terminal Failed=True condition",
            ],
        ),
        (
            "J-92 a FailureTarget stays too",
            json!({}),
            json!({"startTime": start, "active": 1, "conditions": [condition("FailureTarget")]}),
            json!({"conditions": []}),
            vec![
                "status.conditions: Invalid value: cannot disable the terminal FailureTarget=True condition",
            ],
        ),
        (
            "J-92 counters never decrease",
            json!({}),
            json!({"startTime": start, "succeeded": 2, "failed": 3}),
            json!({"succeeded": 1, "failed": 2}),
            vec![
                "status.failed: Invalid value: 2: cannot decrease the failed counter",
                "status.succeeded: Invalid value: 1: cannot decrease the succeeded counter",
            ],
        ),
        (
            "J-92 an elastic Indexed Job's succeeded may decrease (scale-down)",
            json!({"spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3}}),
            json!({"startTime": start, "succeeded": 3, "completedIndexes": "0-2"}),
            json!({"succeeded": 2, "completedIndexes": "0,1"}),
            vec![],
        ),
        (
            "J-92 but not one whose parallelism differs from completions",
            indexed4.clone(),
            json!({"startTime": start, "succeeded": 2, "completedIndexes": "0,1"}),
            json!({"succeeded": 1, "completedIndexes": "0"}),
            vec!["status.succeeded: Invalid value: 1: cannot decrease the succeeded counter"],
        ),
        (
            "J-92 Complete and Failed are exclusive; Complete needs SuccessCriteriaMet without FailureTarget",
            json!({}),
            json!({"startTime": start, "failed": 1, "conditions": failed}),
            json!({"completionTime": later, "conditions": [condition("FailureTarget"), condition("Failed"), condition("Complete")]}),
            vec![
                "status.conditions: Invalid value: cannot set Complete=True and Failed=true conditions",
                "status.conditions: Invalid value: cannot set Complete=True and FailureTarget=true conditions",
                "status.conditions: Invalid value: cannot set Complete=True condition without the SuccessCriteriaMet=true condition",
            ],
        ),
        (
            "J-92 Failed needs FailureTarget",
            json!({}),
            json!({"startTime": start, "failed": 1}),
            json!({"conditions": [condition("Failed")]}),
            vec![
                "status.conditions: Invalid value: cannot set Failed=True condition without the FailureTarget=true condition",
            ],
        ),
        (
            "J-92 Complete needs completionTime, and completionTime needs Complete",
            json!({}),
            json!({"startTime": start, "succeeded": 1, "conditions": [condition("SuccessCriteriaMet")]}),
            json!({"conditions": complete}),
            vec![
                "status.completionTime: Required value: completionTime is required for Complete jobs",
            ],
        ),
        (
            "J-92 completionTime only with Complete",
            json!({}),
            json!({"startTime": start, "active": 1}),
            json!({"completionTime": later}),
            vec![
                "status.completionTime: Invalid value: 2016-05-19 10:05:00 +0000 UTC: cannot set completionTime when there is no Complete=True condition",
            ],
        ),
        (
            "J-92 completionTime never before startTime, and never changed",
            json!({}),
            done.clone(),
            json!({"completionTime": earlier}),
            vec![
                "status.completionTime: Invalid value: 2016-05-19 09:00:00 +0000 UTC: completionTime cannot be set before startTime",
                "status.completionTime: Invalid value: 2016-05-19 09:00:00 +0000 UTC: completionTime cannot be mutated",
            ],
        ),
        (
            "J-92 a finished Job has a startTime, no active, terminating or uncounted pods",
            json!({}),
            json!({"active": 1, "terminating": 1, "uncountedTerminatedPods": {"succeeded": ["a"]}, "conditions": [condition("SuccessCriteriaMet")]}),
            json!({"completionTime": later, "conditions": complete}),
            vec![
                "status.active: Invalid value: 1: active>0 is invalid for finished job",
                "status.startTime: Required value: startTime is required for finished job",
                r#"status.uncountedTerminatedPods: Invalid value: batch.UncountedTerminatedPods{Succeeded:[]types.UID{"a"}, Failed:[]types.UID(nil)}: uncountedTerminatedPods needs to be empty for finished job"#,
                "status.terminating: Invalid value: 1: terminating>0 is invalid for finished job",
            ],
        ),
        (
            "J-92 a suspended Job of zero completions completes without a startTime",
            json!({"spec": {"completions": 0, "suspend": true}}),
            json!({}),
            json!({"completionTime": later, "conditions": complete}),
            vec![],
        ),
        (
            "J-92 startTime cannot change while the Job is not suspended",
            json!({}),
            json!({"startTime": start, "active": 1}),
            json!({"startTime": later}),
            vec![
                "status.startTime: Required value: startTime cannot be removed for unsuspended job",
            ],
        ),
        (
            "J-41 it may while suspended",
            json!({"spec": {"suspend": true}}),
            json!({"startTime": start}),
            json!({"startTime": null}),
            vec![],
        ),
        (
            "J-92 ready <= active",
            json!({}),
            json!({"startTime": start, "active": 2, "ready": 1}),
            json!({"ready": 3}),
            vec!["status.ready: Invalid value: 3: cannot set more ready pods than active"],
        ),
        (
            "J-92 rules on unchanged fields do not block other writes",
            json!({}),
            json!({"startTime": start, "active": 1, "ready": 2}),
            json!({"failed": 1}),
            vec![],
        ),
        (
            "J-81 completedIndexes are checked when they change",
            indexed4.clone(),
            json!({"startTime": start}),
            json!({"completedIndexes": "1,0,7"}),
            vec![
                r#"status.completedIndexes: Invalid value: "1,0,7": error parsing completedIndexes: non-increasing order, previous: 1, current: 0"#,
            ],
        ),
        (
            "J-81 completedIndexes only for Indexed Jobs",
            json!({"spec": {"completions": 4}}),
            json!({"startTime": start}),
            json!({"completedIndexes": "0"}),
            vec![
                r#"status.completedIndexes: Invalid value: "0": cannot set non-empty completedIndexes when non-indexed completion mode"#,
            ],
        ),
        (
            "J-92 failedIndexes only with backoffLimitPerIndex",
            indexed4.clone(),
            json!({"startTime": start}),
            json!({"failedIndexes": "1"}),
            vec![
                r#"status.failedIndexes: Invalid value: "1": cannot set non-null failedIndexes when backoffLimitPerIndex is null"#,
            ],
        ),
        (
            "J-92 failedIndexes apart from completedIndexes",
            per_index.clone(),
            json!({"startTime": start, "completedIndexes": "0,2-3"}),
            json!({"failedIndexes": "1,3"}),
            vec![
                r#"status.failedIndexes: Invalid value: "1,3": failedIndexes and completedIndexes overlap at index: 3"#,
            ],
        ),
        (
            "J-81 a failedIndexes that does not parse",
            per_index.clone(),
            json!({"startTime": start}),
            json!({"failedIndexes": "9"}),
            vec![
                r#"status.failedIndexes: Invalid value: "9": error parsing failedIndexes: too large index: "9""#,
            ],
        ),
        (
            "J-92 SuccessCriteriaMet never with a failure condition",
            json!({}),
            json!({"startTime": start, "active": 1, "conditions": [condition("FailureTarget")]}),
            json!({"conditions": [condition("FailureTarget"), condition("SuccessCriteriaMet")]}),
            vec![
                "status.conditions: Invalid value: cannot set SuccessCriteriaMet=True and FailureTarget=true conditions",
            ],
        ),
        (
            "J-92 uncounted pods are named once each, never empty",
            json!({}),
            json!({"startTime": start}),
            json!({"uncountedTerminatedPods": {"succeeded": ["a", ""], "failed": ["a"]}}),
            vec![
                r#"status.uncountedTerminatedPods.succeeded[1]: Invalid value: "": must not be empty"#,
                r#"status.uncountedTerminatedPods.failed[0]: Duplicate value: "a""#,
            ],
        ),
        (
            "J-92 counters are never negative",
            json!({}),
            json!({}),
            json!({"active": -1, "ready": -1}),
            vec![
                "status.active: Invalid value: -1: must be greater than or equal to 0",
                "status.ready: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (id, create_patch, stored, written, expected) in cases {
        let actual = match update_status(create_patch, stored, written) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        check_errors(&mut failures, id, &actual, &expected);
    }
    assert_no_failures(failures);
}
