//! CronJob admission, table-driven: the defaults of C-1 (and what is NOT defaulted in the job
//! template), every validation rule of cronjob.md §1 with its exact field path and message,
//! and updates. Each case names the rule it pins (C-n in cronjob.md, J-n in job.md, V-n in
//! validation.md, E-n in test-cases.md).

mod common;

use common::{UID, assert_no_failures, check_errors, ctx, patched};
use kbatch_core::admission::{admit_create, admit_update};
use kbatch_core::k8s_openapi::api::batch::v1::CronJob;
use kbatch_core::object::Object;
use kbatch_core::patch::json_merge_patch;
use kbatch_core::validation::cronjob::{warnings_on_create, warnings_on_update};
use serde_json::{Value, json};

/// A valid hourly CronJob named `hello`, with `patch` applied as a JSON merge patch.
fn cronjob_json(patch: Value) -> Value {
    let base = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "hello"},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [{"name": "c", "image": "busybox"}]
                        }
                    }
                }
            }
        }
    });
    patched(base, patch)
}

fn cronjob(patch: Value) -> CronJob {
    serde_json::from_value(cronjob_json(patch)).unwrap()
}

fn create(patch: Value) -> Result<CronJob, Vec<String>> {
    match admit_create(Object::CronJob(cronjob(patch)), &ctx()) {
        Ok(admitted) => match admitted.object {
            Object::CronJob(cj) => Ok(cj),
            other => panic!("admitted {other:?}"),
        },
        Err(rejected) => Err(rejected.errors.iter().map(|e| e.to_string()).collect()),
    }
}

/// A patch of the job template's spec.
fn template(spec: Value) -> Value {
    json!({"spec": {"jobTemplate": {"spec": spec}}})
}

/// (rule, patch, [(JSON pointer, expected value; null = absent)]).
type DefaultCase = (&'static str, Value, Vec<(&'static str, Value)>);

#[test]
fn defaults() {
    let cases: Vec<DefaultCase> = vec![
        (
            "C-1 concurrencyPolicy, suspend and history limits",
            json!({}),
            vec![
                ("/spec/concurrencyPolicy", json!("Allow")),
                ("/spec/suspend", json!(false)),
                ("/spec/successfulJobsHistoryLimit", json!(3)),
                ("/spec/failedJobsHistoryLimit", json!(1)),
            ],
        ),
        (
            "C-1 an empty concurrencyPolicy becomes Allow",
            json!({"spec": {"concurrencyPolicy": ""}}),
            vec![("/spec/concurrencyPolicy", json!("Allow"))],
        ),
        (
            "C-1 startingDeadlineSeconds and timeZone have no default",
            json!({}),
            vec![
                ("/spec/startingDeadlineSeconds", Value::Null),
                ("/spec/timeZone", Value::Null),
            ],
        ),
        (
            "C-1 explicit values, including zero limits, are kept",
            json!({"spec": {"concurrencyPolicy": "Forbid", "suspend": true,
                   "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0}}),
            vec![
                ("/spec/concurrencyPolicy", json!("Forbid")),
                ("/spec/suspend", json!(true)),
                ("/spec/successfulJobsHistoryLimit", json!(0)),
                ("/spec/failedJobsHistoryLimit", json!(0)),
            ],
        ),
        (
            "C-6 SetDefaults_Job does not reach the job template: its Job fields stay unset",
            json!({}),
            vec![
                ("/spec/jobTemplate/spec/completions", Value::Null),
                ("/spec/jobTemplate/spec/parallelism", Value::Null),
                ("/spec/jobTemplate/spec/backoffLimit", Value::Null),
                ("/spec/jobTemplate/spec/completionMode", Value::Null),
                ("/spec/jobTemplate/spec/suspend", Value::Null),
                ("/spec/jobTemplate/spec/manualSelector", Value::Null),
                ("/spec/jobTemplate/spec/podReplacementPolicy", Value::Null),
                ("/spec/jobTemplate/spec/selector", Value::Null),
                (
                    "/spec/jobTemplate/spec/template/metadata/labels",
                    Value::Null,
                ),
            ],
        ),
        (
            "J-62 the nested pattern defaulter does reach the job template",
            template(
                json!({"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
                            "template": {"spec": {"restartPolicy": "Never"}}}),
            ),
            vec![(
                "/spec/jobTemplate/spec/podFailurePolicy/rules/0/onPodConditions/0/status",
                json!("True"),
            )],
        ),
        (
            "C-1 generation 1, status reset, system fields",
            json!({"metadata": {"generation": 4}, "status": {"lastScheduleTime": "2016-05-19T09:00:00Z"}}),
            vec![
                ("/metadata/generation", json!(1)),
                ("/status/lastScheduleTime", Value::Null),
                ("/metadata/namespace", json!("default")),
                ("/metadata/uid", json!(UID)),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (id, patch, expectations) in cases {
        let value = match create(patch) {
            Ok(cj) => serde_json::to_value(&cj).unwrap(),
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

#[test]
fn validation_on_create() {
    let name52 = "a".repeat(52);
    let name53 = "a".repeat(53);
    let name53_error =
        format!(r#"metadata.name: Invalid value: "{name53}": must be no more than 52 characters"#);
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("C-§1 a valid CronJob is admitted", json!({}), vec![]),
        // C-3 name length.
        (
            "C-3 a 52-character name is valid",
            json!({"metadata": {"name": name52}}),
            vec![],
        ),
        (
            "C-3 a 53-character name is too long on create",
            json!({"metadata": {"name": name53}}),
            vec![&name53_error],
        ),
        // C-2 schedule.
        (
            "C-2 schedule required",
            json!({"spec": {"schedule": ""}}),
            vec!["spec.schedule: Required value"],
        ),
        (
            "C-10 wrong number of fields",
            json!({"spec": {"schedule": "* * *"}}),
            vec![
                r#"spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]"#,
            ],
        ),
        (
            "C-10 a seconds field does not exist",
            json!({"spec": {"schedule": "0 0 * * * *"}}),
            vec![
                r#"spec.schedule: Invalid value: "0 0 * * * *": expected exactly 5 fields, found 6: [0 0 * * * *]"#,
            ],
        ),
        (
            "C-11 minute above maximum",
            json!({"spec": {"schedule": "60 * * * *"}}),
            vec![
                r#"spec.schedule: Invalid value: "60 * * * *": end of range (60) above maximum (59): 60"#,
            ],
        ),
        (
            "C-11 7 is not Sunday",
            json!({"spec": {"schedule": "0 0 * * 7"}}),
            vec![
                r#"spec.schedule: Invalid value: "0 0 * * 7": end of range (7) above maximum (6): 7"#,
            ],
        ),
        (
            "C-13 unknown descriptor",
            json!({"spec": {"schedule": "@fortnightly"}}),
            vec![
                r#"spec.schedule: Invalid value: "@fortnightly": unrecognized descriptor: @fortnightly"#,
            ],
        ),
        (
            "C-12 names and descriptors are valid",
            json!({"spec": {"schedule": "30 9 * jan-jun mon-fri"}}),
            vec![],
        ),
        (
            "C-13 @every is valid",
            json!({"spec": {"schedule": "@every 1h30m"}}),
            vec![],
        ),
        (
            "C-13 @hourly is valid",
            json!({"spec": {"schedule": "@hourly"}}),
            vec![],
        ),
        // C-8 TZ in the schedule.
        (
            "C-8 TZ= in the schedule on create",
            json!({"spec": {"schedule": "TZ=UTC 0 * * * *"}}),
            vec![
                r#"spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"#,
            ],
        ),
        (
            "C-8 CRON_TZ= in the schedule on create",
            json!({"spec": {"schedule": "CRON_TZ=Europe/Berlin 0 * * * *"}}),
            vec![
                r#"spec.schedule: Invalid value: "CRON_TZ=Europe/Berlin 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"#,
            ],
        ),
        // C-4 non-negative fields.
        (
            "C-4 startingDeadlineSeconds -1",
            json!({"spec": {"startingDeadlineSeconds": -1}}),
            vec![
                "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "C-4 successfulJobsHistoryLimit -1",
            json!({"spec": {"successfulJobsHistoryLimit": -1}}),
            vec![
                "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "C-4 failedJobsHistoryLimit -1",
            json!({"spec": {"failedJobsHistoryLimit": -1}}),
            vec![
                "spec.failedJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "C-4 zero is valid",
            json!({"spec": {"startingDeadlineSeconds": 0, "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 0}}),
            vec![],
        ),
        // C-5 concurrencyPolicy.
        (
            "C-5 unknown concurrencyPolicy",
            json!({"spec": {"concurrencyPolicy": "Sometimes"}}),
            vec![
                r#"spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace""#,
            ],
        ),
        (
            "C-5 Replace is valid",
            json!({"spec": {"concurrencyPolicy": "Replace"}}),
            vec![],
        ),
        // C-7 timeZone.
        (
            "C-7 empty timeZone",
            json!({"spec": {"timeZone": ""}}),
            vec![r#"spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string"#],
        ),
        (
            "C-7 Local",
            json!({"spec": {"timeZone": "Local"}}),
            vec![
                r#"spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"#,
            ],
        ),
        (
            "C-7 local (any case) is also not loadable",
            json!({"spec": {"timeZone": "local"}}),
            vec![
                r#"spec.timeZone: Invalid value: "local": timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"#,
                r#"spec.timeZone: Invalid value: "local": unknown time zone local"#,
            ],
        ),
        (
            "C-7 path traversal",
            json!({"spec": {"timeZone": "../etc"}}),
            vec![r#"spec.timeZone: Invalid value: "../etc": unknown time zone ../etc"#],
        ),
        (
            "C-7 a part starting with -",
            json!({"spec": {"timeZone": "-Europe"}}),
            vec![r#"spec.timeZone: Invalid value: "-Europe": unknown time zone -Europe"#],
        ),
        (
            "C-7 a part longer than 14 characters",
            json!({"spec": {"timeZone": "America/Argentinaaaaaaaaa"}}),
            vec![
                r#"spec.timeZone: Invalid value: "America/Argentinaaaaaaaaa": unknown time zone America/Argentinaaaaaaaaa"#,
            ],
        ),
        (
            "C-7 a syntactically valid zone missing from the tz database",
            json!({"spec": {"timeZone": "Mars/Olympus"}}),
            vec![r#"spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus"#],
        ),
        (
            "C-7 an IANA zone",
            json!({"spec": {"timeZone": "America/New_York"}}),
            vec![],
        ),
        (
            "C-7 a legacy zone with digits and +",
            json!({"spec": {"timeZone": "Etc/GMT+5"}}),
            vec![],
        ),
        ("C-7 UTC", json!({"spec": {"timeZone": "UTC"}}), vec![]),
        // C-6 / J-6 the job template.
        (
            "J-6 selector in a CronJob's job template",
            template(json!({"selector": {"matchLabels": {"a": "b"}}})),
            vec![
                r#"spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: `selector` will be auto-generated"#,
            ],
        ),
        (
            "J-6 manualSelector true in a CronJob's job template",
            template(json!({"manualSelector": true})),
            vec![
                r#"spec.jobTemplate.spec.manualSelector: Unsupported value: true: supported values: "nil", "false""#,
            ],
        ),
        (
            "J-6 manualSelector false is valid",
            template(json!({"manualSelector": false})),
            vec![],
        ),
        (
            "C-6 J-5 restartPolicy of the job template",
            template(json!({"template": {"spec": {"restartPolicy": "Always"}}})),
            vec![
                r#"spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#,
            ],
        ),
        (
            "C-6 V-30 negative backoffLimit in the job template",
            template(json!({"backoffLimit": -1})),
            vec![
                "spec.jobTemplate.spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "C-6 Indexed template without completions is not defaulted, so it is rejected",
            template(json!({"completionMode": "Indexed"})),
            vec![
                "spec.jobTemplate.spec.completions: Required value: when completion mode is Indexed",
            ],
        ),
        (
            "C-6 E6 FailIndex without backoffLimitPerIndex in the job template",
            template(
                json!({"podFailurePolicy": {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}}]},
                            "template": {"spec": {"restartPolicy": "Never"}}}),
            ),
            vec![
                r#"spec.jobTemplate.spec.podFailurePolicy.rules[0].action: Invalid value: "FailIndex": requires the backoffLimitPerIndex to be set"#,
            ],
        ),
        (
            "C-6 J-5 podFailurePolicy with restartPolicy OnFailure in the job template",
            template(
                json!({"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}),
            ),
            vec![
                r#"spec.jobTemplate.spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified"#,
            ],
        ),
        (
            "C-6 J-70 successPolicy needs Indexed (completionMode not defaulted in templates)",
            template(json!({"successPolicy": {"rules": [{"succeededCount": 1}]}})),
            vec![
                r#"spec.jobTemplate.spec.successPolicy: Invalid value: {"rules":[{"succeededCount":1}]}: requires indexed completion mode"#,
            ],
        ),
        (
            "C-6 J-70 succeededCount above completions in the job template",
            template(
                json!({"completionMode": "Indexed", "completions": 2, "successPolicy": {"rules": [{"succeededCount": 3}]}}),
            ),
            vec![
                "spec.jobTemplate.spec.successPolicy.rules[0].succeededCount: Invalid value: 3: must be less than or equal to 2 (the number of specified completions)",
            ],
        ),
        (
            "C-6 a full Indexed template with per-index backoff is valid",
            template(
                json!({"completionMode": "Indexed", "completions": 4, "parallelism": 2, "backoffLimitPerIndex": 1, "maxFailedIndexes": 2}),
            ),
            vec![],
        ),
        (
            "C-6 E4 In with 0 in the job template",
            template(
                json!({"podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0]}}]},
                            "template": {"spec": {"restartPolicy": "Never"}}}),
            ),
            vec![
                "spec.jobTemplate.spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator",
            ],
        ),
        (
            "C-§1 every error is collected, in Kubernetes' order",
            json!({"spec": {"schedule": "", "startingDeadlineSeconds": -1, "timeZone": "", "concurrencyPolicy": "Never",
                   "successfulJobsHistoryLimit": -2, "failedJobsHistoryLimit": -3}}),
            vec![
                "spec.schedule: Required value",
                "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
                r#"spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string"#,
                r#"spec.concurrencyPolicy: Unsupported value: "Never": supported values: "Allow", "Forbid", "Replace""#,
                "spec.successfulJobsHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
                "spec.failedJobsHistoryLimit: Invalid value: -3: must be greater than or equal to 0",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (id, patch, expected) in cases {
        let errors = create(patch).err().unwrap_or_default();
        check_errors(&mut failures, id, &errors, &expected);
    }
    assert_no_failures(failures);
}

/// Admits an update of `stored` (a CronJob as the store holds it, built from `stored_patch`
/// and defaulted, bypassing create validation so that objects created under older rules can
/// be stored) with `update_patch` applied.
fn update(stored_patch: Value, update_patch: Value) -> Result<CronJob, Vec<String>> {
    let mut stored = cronjob_json(stored_patch);
    json_merge_patch(
        &mut stored,
        json!({"metadata": {"uid": UID, "resourceVersion": "1", "namespace": "default",
                             "creationTimestamp": "2016-05-19T09:00:00Z", "generation": 1}}),
    );
    let mut old = Object::CronJob(serde_json::from_value(stored).unwrap());
    kbatch_core::admission::apply_defaults(&mut old);
    let mut new = match &old {
        Object::CronJob(cj) => serde_json::to_value(cj).unwrap(),
        _ => unreachable!(),
    };
    json_merge_patch(&mut new, update_patch);
    let new: CronJob = serde_json::from_value(new).unwrap();
    match admit_update(Object::CronJob(new), &old, &ctx()) {
        Ok(admitted) => match admitted.object {
            Object::CronJob(cj) => Ok(cj),
            other => panic!("admitted {other:?}"),
        },
        Err(rejected) => Err(rejected.errors.iter().map(|e| e.to_string()).collect()),
    }
}

#[test]
fn updates() {
    let long_name = json!({"metadata": {"name": "a".repeat(60)}});
    let cases: Vec<(&str, Value, Value, Vec<&str>)> = vec![
        (
            "C-9 everything in spec is mutable",
            json!({}),
            json!({"spec": {"schedule": "*/5 * * * *", "timeZone": "Europe/Berlin", "suspend": true,
                   "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 30,
                   "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 5,
                   "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": {"containers": [{"name": "c", "image": "alpine"}]}}}}}}),
            vec![],
        ),
        (
            "C-3 the 52-character limit is not checked on update",
            long_name.clone(),
            json!({"spec": {"suspend": true}}),
            vec![],
        ),
        (
            "C-8 TZ kept in a schedule that already had it",
            json!({"spec": {"schedule": "TZ=UTC 0 * * * *"}}),
            json!({"spec": {"schedule": "TZ=UTC 30 * * * *"}}),
            vec![],
        ),
        (
            "C-8 TZ in the schedule cannot be combined with timeZone",
            json!({"spec": {"schedule": "TZ=UTC 0 * * * *"}}),
            json!({"spec": {"timeZone": "UTC"}}),
            vec![
                r#"spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use both timeZone field and TZ or CRON_TZ in schedule"#,
            ],
        ),
        (
            "C-8 TZ added to a schedule that had none",
            json!({}),
            json!({"spec": {"schedule": "TZ=UTC 0 * * * *"}}),
            vec![
                r#"spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"#,
            ],
        ),
        (
            "C-7 an unchanged timeZone is not revalidated",
            json!({"spec": {"timeZone": "Local"}}),
            json!({"spec": {"schedule": "15 * * * *"}}),
            vec![],
        ),
        (
            "C-7 a changed timeZone is validated",
            json!({"spec": {"timeZone": "UTC"}}),
            json!({"spec": {"timeZone": ""}}),
            vec![r#"spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string"#],
        ),
        (
            "C-2 the schedule is validated on update",
            json!({}),
            json!({"spec": {"schedule": "61 * * * *"}}),
            vec![
                r#"spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61"#,
            ],
        ),
        (
            "C-6 J-6 the job template is validated on update",
            json!({}),
            json!({"spec": {"jobTemplate": {"spec": {"selector": {"matchLabels": {"a": "b"}}}}}}),
            vec![
                r#"spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: `selector` will be auto-generated"#,
            ],
        ),
        (
            "C-4 negative limits on update",
            json!({}),
            json!({"spec": {"failedJobsHistoryLimit": -1}}),
            vec![
                "spec.failedJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (id, stored_patch, update_patch, expected) in cases {
        let errors = update(stored_patch, update_patch).err().unwrap_or_default();
        check_errors(&mut failures, id, &errors, &expected);
    }
    assert_no_failures(failures);
}

#[test]
fn update_moves_generation_on_spec_change() {
    let changed = update(json!({}), json!({"spec": {"suspend": true}})).unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
    let same = update(json!({}), json!({"metadata": {"labels": {"a": "b"}}})).unwrap();
    assert_eq!(same.metadata.generation, Some(1));
}

#[test]
fn warnings() {
    // J-2 for CronJobs: the strategy's WarningsOnCreate.
    assert!(warnings_on_create(&cronjob(json!({}))).is_empty());
    assert_eq!(
        warnings_on_create(&cronjob(json!({"metadata": {"name": "hello.world"}}))),
        vec![
            "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label is recommended: [must not contain dots]"
        ]
    );
    // C-8: WarningsOnUpdate for TZ in the schedule, with Kubernetes' field name verbatim.
    let old = cronjob(json!({"spec": {"schedule": "TZ=UTC 0 * * * *"}}));
    assert_eq!(
        warnings_on_update(&old, &old),
        vec![
            "cannot use TZ or CRON_TZ in spec.spec.schedule, use timeZone instead, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details"
        ]
    );
}

#[test]
fn restart_policy_hint_names_the_job_template_path() {
    // J-5 inside a CronJob: the hint points at the field where the line goes.
    let err = admit_create(
        Object::CronJob(cronjob(template(
            json!({"template": {"spec": {"restartPolicy": null}}}),
        ))),
        &ctx(),
    )
    .unwrap_err();
    let e = &err.errors[0];
    assert_eq!(
        e.to_string(),
        r#"spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never""#
    );
    assert!(
        e.message()
            .lines()
            .nth(1)
            .unwrap()
            .contains("under spec.jobTemplate.spec.template.spec:"),
        "{}",
        e.message()
    );
}
