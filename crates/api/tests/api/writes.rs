//! Create, update and patch over HTTP: resourceVersion bookkeeping (kubectl-wire.md §4.14,
//! §5), preconditions, generation, the /status subresource, generateName, dry runs, field
//! validation (§5 "Strict field validation"), managedFields and server-side apply (§4.3).

use kbatch_api::registry::{PatchType, WriteOptions};
use kbatch_core::object::{CRONJOB, JOB};
use serde_json::{Value, json};

use crate::common::{T0, TestServer, create, cronjob, job, rv, rv_of, sqlite_registry};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const CRONJOBS: &str = "/apis/batch/v1/namespaces/default/cronjobs";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

async fn with_job() -> (TestServer, Value) {
    let s = TestServer::start(None).await;
    let r = s.json("POST", JOBS, &job("pi", json!({"app": "pi"}))).await;
    r.expect(201);
    (s, r.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_op_update_and_patches_keep_the_resource_version() {
    // §4.14: "a no-op patch must not bump resourceVersion (or change anything else)";
    // kubectl prints "patched (no change)" by comparing with its GET.
    let (s, _) = with_job().await;
    let got = s.get(&format!("{JOBS}/pi")).await.json();
    let before = rv_of(&got);
    let revision = s.store.current_revision().await.unwrap();

    let put = s.json("PUT", &format!("{JOBS}/pi"), &got).await;
    put.expect(200);
    assert_eq!(
        put.json(),
        got,
        "a no-op PUT answers the stored object unchanged"
    );

    for (content_type, body) in [
        (MERGE, json!({"metadata": {"labels": {"app": "pi"}}})),
        (STRATEGIC, json!({"spec": {"suspend": false}})),
        (
            JSON_PATCH,
            json!([{"op": "test", "path": "/metadata/name", "value": "pi"}]),
        ),
        (MERGE, json!({})),
    ] {
        let r = s.patch(&format!("{JOBS}/pi"), content_type, &body).await;
        r.expect(200);
        assert_eq!(rv_of(&r.json()), before, "{content_type} {body}");
        assert_eq!(r.json(), got, "{content_type} {body}");
    }
    assert_eq!(
        s.store.current_revision().await.unwrap(),
        revision,
        "nothing was written"
    );
    // A real change does bump it.
    let r = s
        .patch(
            &format!("{JOBS}/pi"),
            MERGE,
            &json!({"metadata": {"labels": {"app": "pi2"}}}),
        )
        .await;
    r.expect(200);
    assert!(rv_of(&r.json()) > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_without_a_resource_version_is_an_unconditional_update() {
    // Upstream genericregistry.Store.Update: when the strategy's AllowUnconditionalUpdate()
    // (true for Job and CronJob) and the body has no resourceVersion, the stored one is
    // filled in before validation (a replace from a hand-written manifest carries none).
    let (s, created) = with_job().await;
    let before = rv_of(&created);
    let mut body = created.clone();
    body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let r = s.json("PUT", &format!("{JOBS}/pi"), &body).await;
    r.expect(200);
    assert_eq!(rv_of(&r.json()), before, "a no-op stays a no-op");
    body["metadata"]["labels"]["changed"] = json!("yes");
    let r = s.json("PUT", &format!("{JOBS}/pi"), &body).await;
    r.expect(200);
    assert!(rv_of(&r.json()) > before);
    assert_eq!(r.json()["metadata"]["labels"]["changed"], "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_with_a_stale_resource_version_is_409_conflict() {
    // The apiserver's optimistic concurrency (storage.NewConflict via GuaranteedUpdate).
    let (s, created) = with_job().await;
    s.patch(
        &format!("{JOBS}/pi"),
        MERGE,
        &json!({"metadata": {"labels": {"step": "2"}}}),
    )
    .await
    .expect(200);
    let mut stale = created.clone();
    stale["metadata"]["labels"]["step"] = json!("stale");
    let r = s.json("PUT", &format!("{JOBS}/pi"), &stale).await;
    r.expect(409);
    let status = r.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["code"], 409);
    assert_eq!(
        status["message"],
        "Operation cannot be fulfilled on jobs.batch \"pi\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(status["details"]["name"], "pi");
    assert_eq!(status["details"]["group"], "batch");
    assert_eq!(status["details"]["kind"], "jobs");
    // A patch naming the stale version is a precondition too.
    let r = s
        .patch(
            &format!("{JOBS}/pi"),
            MERGE,
            &json!({"metadata": {"resourceVersion": created["metadata"]["resourceVersion"], "labels": {"x": "y"}}}),
        )
        .await;
    r.expect(409);
    assert_eq!(r.json()["reason"], "Conflict");
    let now = s.get(&format!("{JOBS}/pi")).await.json();
    assert_eq!(now["metadata"]["labels"]["step"], "2");
    assert!(now["metadata"]["labels"].get("x").is_none());
}

/// A patch that names no resourceVersion is applied again to the version a concurrent write
/// left, as GuaranteedUpdate re-runs the patch on the object it finds: it never fails with a
/// 409 because another writer got in between (kubectl-wire.md §4.14). Four patches at a time
/// each lose at most three rounds, inside the registry's five attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_without_a_resource_version_outlast_concurrent_writes() {
    let (s, _) = with_job().await;
    let path = format!("{JOBS}/pi");
    for round in 0..5 {
        let patches = (0..4).map(|i| {
            let (s, path) = (&s, &path);
            async move {
                let body = json!({"metadata": {"labels": {format!("r{round}-{i}"): "x"}}});
                s.patch(path, MERGE, &body).await
            }
        });
        for r in futures::future::join_all(patches).await {
            r.expect(200);
        }
    }
    let labels = &s.get(&path).await.json()["metadata"]["labels"];
    for round in 0..5 {
        for i in 0..4 {
            assert_eq!(labels[format!("r{round}-{i}")], "x", "{labels}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_moves_on_spec_changes_only() {
    // §5: generation is used by describe and status observers; the Job and CronJob
    // strategies bump it on a spec change only (job.md J-3).
    let (s, created) = with_job().await;
    assert_eq!(created["metadata"]["generation"], 1);
    let gen_after = |r: &crate::common::Resp| r.json()["metadata"]["generation"].clone();
    let r = s
        .patch(
            &format!("{JOBS}/pi"),
            MERGE,
            &json!({"metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}}),
        )
        .await;
    r.expect(200);
    assert_eq!(gen_after(&r), 1);
    let r = s
        .patch(
            &format!("{JOBS}/pi"),
            MERGE,
            &json!({"spec": {"suspend": true}}),
        )
        .await;
    r.expect(200);
    assert_eq!(gen_after(&r), 2);
    let r = s
        .patch(
            &format!("{JOBS}/pi"),
            STRATEGIC,
            &json!({"spec": {"activeDeadlineSeconds": 600}}),
        )
        .await;
    r.expect(200);
    assert_eq!(gen_after(&r), 3);

    let r = s.json("POST", CRONJOBS, &cronjob("cj", "0 * * * *")).await;
    r.expect(201);
    assert_eq!(r.json()["metadata"]["generation"], 1);
    let r = s
        .patch(
            &format!("{CRONJOBS}/cj"),
            MERGE,
            &json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .await;
    assert_eq!(gen_after(&r), 1);
    let r = s
        .patch(
            &format!("{CRONJOBS}/cj"),
            MERGE,
            &json!({"spec": {"schedule": "5 * * * *"}}),
        )
        .await;
    assert_eq!(gen_after(&r), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_subresource_keeps_spec_and_main_resource_keeps_status() {
    // §1 (`.../{name}/status`), §2 (status subresource verbs get/patch/update): the status
    // strategies keep the stored spec; the main strategies keep the stored status.
    let s = TestServer::start(None).await;
    s.json("POST", CRONJOBS, &cronjob("cj", "0 * * * *"))
        .await
        .expect(201);
    let mut body = s.get(&format!("{CRONJOBS}/cj/status")).await.json();
    assert_eq!(
        body["kind"], "CronJob",
        "GET /status answers the whole object"
    );
    body["spec"]["schedule"] = json!("30 * * * *");
    body["status"]["lastScheduleTime"] = json!("2026-11-27T09:00:00Z");
    let r = s.json("PUT", &format!("{CRONJOBS}/cj/status"), &body).await;
    r.expect(200);
    let out = r.json();
    assert_eq!(out["spec"]["schedule"], "0 * * * *");
    assert_eq!(out["status"]["lastScheduleTime"], "2026-11-27T09:00:00Z");
    assert_eq!(out["metadata"]["generation"], 1);

    let r = s
        .patch(
            &format!("{CRONJOBS}/cj/status"),
            MERGE,
            &json!({"spec": {"suspend": true}, "status": {"lastSuccessfulTime": "2026-11-27T09:00:05Z"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["spec"]["suspend"], false);
    assert_eq!(
        r.json()["status"]["lastSuccessfulTime"],
        "2026-11-27T09:00:05Z"
    );

    // The main resource: status in the body is ignored, spec changes apply.
    let mut main = r.json();
    main["status"] = json!({});
    main["spec"]["suspend"] = json!(true);
    let r = s.json("PUT", &format!("{CRONJOBS}/cj"), &main).await;
    r.expect(200);
    assert_eq!(r.json()["spec"]["suspend"], true);
    assert_eq!(
        r.json()["status"]["lastScheduleTime"],
        "2026-11-27T09:00:00Z"
    );
    assert_eq!(
        r.json()["status"]["lastSuccessfulTime"],
        "2026-11-27T09:00:05Z"
    );
    let r = s
        .patch(
            &format!("{CRONJOBS}/cj"),
            MERGE,
            &json!({"status": {"lastScheduleTime": null}}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json()["status"]["lastScheduleTime"],
        "2026-11-27T09:00:00Z"
    );

    // A Job created with a status starts with an empty one (PrepareForCreate).
    let mut j = job("with-status", json!({}));
    j["status"] = json!({"succeeded": 5});
    let r = s.json("POST", JOBS, &j).await;
    r.expect(201);
    assert!(
        r.json()["status"].get("succeeded").is_none(),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_name_gives_prefix_plus_five_characters() {
    // `names.SimpleNameGenerator`: prefix + 5 characters from "bcdfghjklmnpqrstvwxz2456789".
    let s = TestServer::start(None).await;
    let mut names = Vec::new();
    for _ in 0..5 {
        let mut body = job("", json!({}));
        body["metadata"] = json!({"generateName": "batch-run-"});
        let r = s.json("POST", JOBS, &body).await;
        r.expect(201);
        let out = r.json();
        let name = out["metadata"]["name"].as_str().unwrap().to_owned();
        let suffix = name.strip_prefix("batch-run-").expect(&name);
        assert_eq!(suffix.len(), 5, "{name}");
        assert!(
            suffix
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{name}"
        );
        assert_eq!(out["metadata"]["generateName"], "batch-run-");
        // The Job's generated labels name the generated name.
        assert_eq!(out["metadata"]["labels"]["job-name"], name.as_str());
        s.get(&format!("{JOBS}/{name}")).await.expect(200);
        names.push(name);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_all_stores_nothing() {
    // `dryRun=All` on create, update, patch and delete: the answer is what would have been
    // written; the store does not move.
    let (s, created) = with_job().await;
    let revision = s.store.current_revision().await.unwrap();

    let r = s
        .json(
            "POST",
            &format!("{JOBS}?dryRun=All"),
            &job("dry", json!({})),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json()["metadata"]["name"], "dry");
    assert!(r.json()["metadata"]["uid"].is_string());
    s.get(&format!("{JOBS}/dry")).await.expect(404);

    let mut changed = created.clone();
    changed["metadata"]["labels"]["dry"] = json!("put");
    let r = s
        .json("PUT", &format!("{JOBS}/pi?dryRun=All"), &changed)
        .await;
    r.expect(200);
    assert_eq!(r.json()["metadata"]["labels"]["dry"], "put");

    let r = s
        .patch(
            &format!("{JOBS}/pi?dryRun=All"),
            MERGE,
            &json!({"metadata": {"labels": {"dry": "patch"}}}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["metadata"]["labels"]["dry"], "patch");

    let r = s
        .request(
            "DELETE",
            &format!("{JOBS}/pi?dryRun=All&propagationPolicy=Background"),
            &[],
            None,
        )
        .await;
    r.expect(200);
    let r = s
        .request(
            "DELETE",
            &format!("{JOBS}/pi"),
            &[("Content-Type", "application/json")],
            Some(br#"{"dryRun":["All"],"propagationPolicy":"Foreground"}"#.to_vec()),
        )
        .await;
    r.expect(200);

    let now = s.get(&format!("{JOBS}/pi")).await;
    now.expect(200);
    assert_eq!(now.json(), created);
    assert_eq!(s.store.current_revision().await.unwrap(), revision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_validation_warn_ignore_and_strict() {
    // §5: Warn → 201 + `Warning: 299 - "unknown field \"spec.foo\""`; Ignore → dropped
    // silently; Strict → 400 with the strict decoding error. The apiserver defaults to Warn.
    let s = TestServer::start(None).await;
    let unknown = |name: &str| {
        let mut j = job(name, json!({}));
        j["spec"]["foo"] = json!(1);
        j
    };
    let r = s
        .json(
            "POST",
            &format!("{JOBS}?fieldValidation=Warn"),
            &unknown("warn"),
        )
        .await;
    r.expect(201);
    assert_eq!(
        r.headers_all("warning"),
        [r#"299 - "unknown field \"spec.foo\"""#]
    );
    assert!(r.json()["spec"].get("foo").is_none());

    let r = s.json("POST", JOBS, &unknown("default")).await;
    r.expect(201);
    assert_eq!(
        r.headers_all("warning"),
        [r#"299 - "unknown field \"spec.foo\"""#]
    );

    let r = s
        .json(
            "POST",
            &format!("{JOBS}?fieldValidation=Ignore"),
            &unknown("ignore"),
        )
        .await;
    r.expect(201);
    assert!(r.headers_all("warning").is_empty());

    let r = s
        .json(
            "POST",
            &format!("{JOBS}?fieldValidation=Strict"),
            &unknown("strict"),
        )
        .await;
    r.expect(400);
    assert_eq!(
        r.json()["message"],
        "Job in version \"v1\" cannot be handled as a Job: strict decoding error: unknown field \"spec.foo\""
    );
    s.get(&format!("{JOBS}/strict")).await.expect(404);

    // The same on patches.
    let r = s
        .patch(
            &format!("{JOBS}/warn?fieldValidation=Warn"),
            MERGE,
            &json!({"spec": {"bar": true}, "metadata": {"labels": {"p": "1"}}}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.headers_all("warning"),
        [r#"299 - "unknown field \"spec.bar\"""#]
    );
    assert_eq!(r.json()["metadata"]["labels"]["p"], "1");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_fields_record_the_field_manager_or_the_user_agent() {
    // The apiserver records each writer: `fieldManager`, else the user agent's program name
    // (`prefixFromUserAgent`).
    let s = TestServer::start(None).await;
    let r = s
        .json(
            "POST",
            &format!("{JOBS}?fieldManager=my-manager"),
            &job("managed", json!({"app": "x"})),
        )
        .await;
    r.expect(201);
    let out = r.json();
    assert_eq!(
        managers(&out),
        [("my-manager".to_owned(), "Update".to_owned())]
    );
    let entry = &out["metadata"]["managedFields"][0];
    assert_eq!(entry["apiVersion"], "batch/v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(entry["time"], T0);
    assert!(entry["fieldsV1"]["f:spec"].is_object(), "{entry}");
    assert!(
        entry["fieldsV1"]["f:metadata"]["f:labels"]["f:app"].is_object(),
        "{entry}"
    );

    let r = s
        .request(
            "POST",
            JOBS,
            &[
                ("Content-Type", "application/json"),
                ("User-Agent", "my-tool/1.2.3 (linux/amd64) extra"),
            ],
            Some(serde_json::to_vec(&job("agent", json!({}))).unwrap()),
        )
        .await;
    r.expect(201);
    assert_eq!(
        managers(&r.json()),
        [("my-tool".to_owned(), "Update".to_owned())]
    );

    // A second writer gets an entry of its own for the fields it changed; entries are
    // ordered by operation, then time (upstream sortEncodedManagedFields).
    s.clock.advance(1);
    let r = s
        .patch(
            &format!("{JOBS}/managed?fieldManager=labeler"),
            MERGE,
            &json!({"metadata": {"labels": {"team": "t"}}}),
        )
        .await;
    r.expect(200);
    let out = r.json();
    assert_eq!(
        managers(&out),
        [
            ("my-manager".to_owned(), "Update".to_owned()),
            ("labeler".to_owned(), "Update".to_owned())
        ]
    );
    let labeler = &out["metadata"]["managedFields"][1]["fieldsV1"];
    assert!(
        labeler["f:metadata"]["f:labels"]["f:team"].is_object(),
        "{labeler}"
    );
    assert!(labeler.get("f:spec").is_none(), "{labeler}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_are_409_and_force_takes_over() {
    // §4.3 (not verified there): conflicts are 409 Conflict with FieldManagerConflict causes;
    // `force=true` (--force-conflicts) moves the field to the new applier.
    let s = TestServer::start(None).await;
    let path =
        |manager: &str, force: bool| format!("{CRONJOBS}/cj?fieldManager={manager}&force={force}");
    let r = s
        .patch(&path("alice", false), APPLY, &cronjob("cj", "0 * * * *"))
        .await;
    r.expect(201);
    assert_eq!(
        managers(&r.json()),
        [("alice".to_owned(), "Apply".to_owned())]
    );

    // The same values are no conflict: shared ownership.
    let r = s
        .patch(&path("carol", false), APPLY, &cronjob("cj", "0 * * * *"))
        .await;
    r.expect(200);

    let r = s
        .patch(&path("bob", false), APPLY, &cronjob("cj", "5 * * * *"))
        .await;
    r.expect(409);
    let status = r.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["code"], 409);
    assert_eq!(
        status["message"],
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.schedule\nconflicts with \"carol\":\n- .spec.schedule"
    );
    let causes = status["details"]["causes"].as_array().unwrap();
    assert_eq!(causes.len(), 2);
    for (cause, manager) in causes.iter().zip(["alice", "carol"]) {
        assert_eq!(cause["reason"], "FieldManagerConflict");
        assert_eq!(cause["field"], ".spec.schedule");
        assert_eq!(cause["message"], format!("conflict with \"{manager}\""));
    }
    let unchanged = s.get(&format!("{CRONJOBS}/cj")).await.json();
    assert_eq!(unchanged["spec"]["schedule"], "0 * * * *");

    let r = s
        .patch(&path("bob", true), APPLY, &cronjob("cj", "5 * * * *"))
        .await;
    r.expect(200);
    let out = r.json();
    assert_eq!(out["spec"]["schedule"], "5 * * * *");
    for entry in out["metadata"]["managedFields"].as_array().unwrap() {
        if entry["manager"] != "bob" {
            assert!(
                entry["fieldsV1"]["f:spec"].get("f:schedule").is_none(),
                "the others lost .spec.schedule: {entry}"
            );
        }
    }

    // A conflict with an updater names its API version.
    s.patch(
        &format!("{CRONJOBS}/cj?fieldManager=editor"),
        MERGE,
        &json!({"spec": {"startingDeadlineSeconds": 100}}),
    )
    .await
    .expect(200);
    let mut body = cronjob("cj", "5 * * * *");
    body["spec"]["startingDeadlineSeconds"] = json!(50);
    let r = s.patch(&path("bob", false), APPLY, &body).await;
    r.expect(409);
    assert_eq!(
        r.json()["message"],
        "Apply failed with 1 conflict: conflict with \"editor\" using batch/v1: .spec.startingDeadlineSeconds"
    );
}

/// The managedFields entries owning `.spec.schedule`, as (manager, operation).
fn schedule_owners(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fieldsV1"]["f:spec"].get("f:schedule").is_some())
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_owned(),
                e["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_records_only_the_appliers_apply_entry() {
    // Upstream FieldManager.Apply: the applier's `Apply` entry owns every field of its
    // configuration; no `Update` entry is written for an apply, changed values or not.
    let s = TestServer::start(None).await;
    let path =
        |manager: &str, force: bool| format!("{CRONJOBS}/cj?fieldManager={manager}&force={force}");
    s.patch(&path("alice", false), APPLY, &cronjob("cj", "0 * * * *"))
        .await
        .expect(201);
    let r = s
        .patch(&path("alice", false), APPLY, &cronjob("cj", "1 * * * *"))
        .await;
    r.expect(200);
    assert_eq!(
        managers(&r.json()),
        [("alice".to_owned(), "Apply".to_owned())]
    );
    assert_eq!(
        schedule_owners(&r.json()),
        [("alice".to_owned(), "Apply".to_owned())]
    );
    let r = s
        .patch(&path("bob", true), APPLY, &cronjob("cj", "5 * * * *"))
        .await;
    r.expect(200);
    assert_eq!(
        schedule_owners(&r.json()),
        [("bob".to_owned(), "Apply".to_owned())]
    );
    assert!(
        managers(&r.json()).iter().all(|(_, op)| op == "Apply"),
        "{:?}",
        managers(&r.json())
    );
}

#[tokio::test]
async fn registry_writes_over_sqlite() {
    // The same bookkeeping over the durable store: create, no-op patch, stale update,
    // generation.
    let (registry, _, _dir) = sqlite_registry().await;
    let created = create(&registry, &JOB, job("pi", json!({"app": "pi"}))).await;
    let noop = registry
        .patch(
            &JOB,
            "default",
            "pi",
            PatchType::Merge,
            &json!({"metadata": {"labels": {"app": "pi"}}}),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(rv(&noop.object), rv(&created));
    let changed = registry
        .patch(
            &JOB,
            "default",
            "pi",
            PatchType::Strategic,
            &json!({"spec": {"suspend": true}}),
            &WriteOptions::default(),
        )
        .await
        .unwrap()
        .object;
    assert!(rv(&changed) > rv(&created));
    assert_eq!(changed.metadata().generation, Some(2));
    let err = registry
        .update(
            &JOB,
            "default",
            "pi",
            created,
            &WriteOptions::default(),
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 409);
    assert!(err.is_conflict());
    let cj = create(&registry, &CRONJOB, cronjob("cj", "@hourly")).await;
    assert_eq!(cj.metadata().generation, Some(1));
    assert_eq!(registry.get(&JOB, "default", "pi").await.unwrap(), changed);
}

/// `Registry::edit`, the typed try-update the controllers use instead of a patch: a change is
/// admitted, recorded for its field manager and stored; a change of nothing writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_writes_its_change_and_nothing_else() {
    let (registry, _) = crate::common::memory_registry().await;
    let creator = WriteOptions {
        field_manager: Some("creator".to_owned()),
        ..Default::default()
    };
    let obj =
        kbatch_core::object::Object::from_value(&JOB, job("pi", json!({"app": "pi"}))).unwrap();
    let created = registry
        .create(&JOB, "default", obj, &creator, Vec::new())
        .await
        .unwrap()
        .object;
    let opts = WriteOptions {
        field_manager: Some("editor".to_owned()),
        ..Default::default()
    };
    let edited = registry
        .edit(&JOB, "default", "pi", &opts, |obj| {
            let labels = obj
                .metadata_mut()
                .labels
                .get_or_insert_with(Default::default);
            labels
                .insert("edited".to_owned(), "yes".to_owned())
                .is_none()
        })
        .await
        .unwrap()
        .object;
    assert!(rv(&edited) > rv(&created));
    let labels = edited.metadata().labels.clone().unwrap();
    assert_eq!(labels["edited"], "yes");
    assert_eq!(labels["app"], "pi");
    let managers: Vec<_> = edited
        .metadata()
        .managed_fields
        .iter()
        .flatten()
        .map(|m| (m.manager.clone(), m.operation.clone()))
        .collect();
    let update = Some("Update".to_owned());
    assert_eq!(
        managers,
        [
            (Some("creator".to_owned()), update.clone()),
            (Some("editor".to_owned()), update)
        ]
    );
    // The same change again changes nothing: no write.
    let again = registry
        .edit(&JOB, "default", "pi", &opts, |obj| {
            let labels = obj
                .metadata_mut()
                .labels
                .get_or_insert_with(Default::default);
            labels
                .insert("edited".to_owned(), "yes".to_owned())
                .is_none()
        })
        .await
        .unwrap()
        .object;
    assert_eq!(rv(&again), rv(&edited));
    // A change that admission refuses is refused.
    let err = registry
        .edit(&JOB, "default", "pi", &opts, |obj| {
            obj.metadata_mut().name = Some("renamed".to_owned());
            true
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), 422, "{err}");
    let missing = registry
        .edit(&JOB, "default", "nope", &opts, |_| true)
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
}
