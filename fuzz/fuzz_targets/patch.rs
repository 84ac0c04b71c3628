//! Fuzzes the writes that change a stored object by a client's document: a JSON patch, a
//! JSON merge patch, a strategic merge patch and a server-side apply, each on a stored Job,
//! CronJob and Pod with managedFields, followed by the decode and update admission the
//! registry runs on the result. The first byte picks the object and the kind of write.
#![no_main]

use kbatch_core::admission::{AdmitContext, admit_create, admit_update};
use kbatch_core::apply::{Request, apply, record_update};
use kbatch_core::decode::{Document, decode, parse_documents};
use kbatch_core::object::{CRONJOB, JOB, Object, POD};
use kbatch_core::patch::{json_merge_patch, json_patch, strategic_merge_patch};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const JOB_YAML: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n  labels: {a: b}\nspec:\n  completions: 3\n  parallelism: 2\n  completionMode: Indexed\n  backoffLimitPerIndex: 1\n  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onExitCodes: {operator: In, values: [3]}\n  template:\n    spec:\n      restartPolicy: Never\n      initContainers:\n      - {name: side, image: busybox, restartPolicy: Always, command: [sleep, '9']}\n      containers:\n      - name: c\n        image: busybox\n        command: [sh, -c, 'echo $JOB_COMPLETION_INDEX']\n        env: [{name: A, value: '1'}, {name: B, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n        ports: [{containerPort: 80, protocol: TCP}]\n";
const CRONJOB_YAML: &str = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cj\nspec:\n  schedule: '*/5 * * * *'\n  timeZone: Europe/Berlin\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - {name: c, image: busybox, command: [date]}\n";
const POD_YAML: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  finalizers: [batch.kubernetes.io/job-tracking]\nspec:\n  nodeName: vm\n  containers:\n  - name: c\n    image: busybox\n    command: ['true']\n    resources: {limits: {memory: 64Mi, cpu: 100m}}\n  volumes:\n  - {name: v, configMap: {name: cm, items: [{key: k, path: p}]}}\n";

fn stored(yaml: &str, ctx: &AdmitContext) -> Object {
    let doc = parse_documents(yaml).unwrap().remove(0);
    let obj = decode(&doc).unwrap().strict().unwrap();
    let kind = obj.kind();
    let mut json = admit_create(obj, ctx).unwrap().object.to_json();
    let req = Request {
        kind: &kind,
        manager: "kubectl-client-side-apply",
        subresource: None,
        now: ctx.now,
    };
    record_update(None, &mut json, &req);
    Object::from_value(&kind, json).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(patch) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    let ctx = AdmitContext {
        uid: "7d0a1c2e-0000-4000-8000-000000000001".to_owned(),
        now,
        namespace: "default".to_owned(),
    };
    // Each stored object is admitted once per process, not once per input.
    static STORED: OnceLock<[Object; 3]> = OnceLock::new();
    let objects =
        STORED.get_or_init(|| [JOB_YAML, CRONJOB_YAML, POD_YAML].map(|yaml| stored(yaml, &ctx)));
    let kind = [JOB, CRONJOB, POD][usize::from(selector % 3)];
    let old = &objects[usize::from(selector % 3)];
    let live = old.to_json();
    let manager = if selector & 0x40 == 0 {
        "kubectl"
    } else {
        "other"
    };
    let req = Request {
        kind: &kind,
        manager,
        subresource: None,
        now,
    };
    let patched = match (selector / 3) % 4 {
        0 => json_patch(&live, &patch).map_err(|e| e.to_string()),
        1 => {
            let mut target = live.clone();
            json_merge_patch(&mut target, patch);
            Ok(target)
        }
        2 => strategic_merge_patch(&live, &patch, &kind).map_err(|e| e.to_string()),
        _ => apply(Some(&live), &patch, &req, selector & 0x80 != 0).map_err(|e| e.to_string()),
    };
    let mut new = match patched {
        Ok(new) => new,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    record_update(Some(&live), &mut new, &req);
    let doc = Document {
        value: new,
        duplicates: Vec::new(),
    };
    let Ok(decoded) = decode(&doc) else {
        return;
    };
    if decoded.object.kind() != kind {
        return;
    }
    if let Ok(admitted) = admit_update(decoded.object, old, &ctx) {
        let json = admitted.object.to_json();
        Object::from_value(&kind, json).expect("an admitted object decodes again");
    }
});
