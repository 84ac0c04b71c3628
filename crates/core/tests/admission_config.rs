//! Admission of the configuration and storage kinds: every new kind updates as itself (no
//! "cannot change kind"), PVC status is the system's, a Secret's stringData is merged.

use kbatch_core::admission::{AdmitContext, admit_create, admit_update, admit_update_status};
use kbatch_core::decode::{decode, parse_documents};
use kbatch_core::object::Object;

fn ctx() -> AdmitContext {
    AdmitContext {
        uid: "u1".to_owned(),
        now: "2026-03-01T12:00:00Z".parse().unwrap(),
        namespace: "default".to_owned(),
    }
}

fn object(text: &str) -> Object {
    let docs = parse_documents(text).unwrap();
    decode(&docs[0]).unwrap().strict().unwrap()
}

fn stored(text: &str) -> Object {
    let mut obj = admit_create(object(text), &ctx()).unwrap().object;
    obj.metadata_mut().resource_version = Some("5".to_owned());
    obj
}

#[test]
fn every_new_kind_updates_as_itself() {
    for text in [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot}\n",
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: d}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: example.com/x\n",
    ] {
        let old = stored(text);
        let mut new = old.clone();
        new.metadata_mut().labels = Some([("a".to_owned(), "b".to_owned())].into());
        let admitted = admit_update(new, &old, &ctx()).unwrap_or_else(|r| panic!("{text}: {r:?}"));
        assert_eq!(admitted.object.kind(), old.kind());
    }
}

#[test]
fn claims_start_pending_and_keep_their_status_on_update() {
    let text = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: d}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\nstatus: {phase: Bound}\n";
    let old = stored(text);
    let json = old.to_json();
    assert_eq!(json["status"]["phase"], "Pending");
    assert_eq!(json["spec"]["volumeMode"], "Filesystem");
    // A status write cannot change the spec; a spec write cannot change the status.
    let mut bound = json.clone();
    bound["status"]["phase"] = "Bound".into();
    bound["spec"]["volumeName"] = "pvc-x".into();
    let new = Object::from_value(&old.kind(), bound).unwrap();
    let status = admit_update_status(new.clone(), &old, &ctx())
        .unwrap()
        .object
        .to_json();
    assert_eq!(status["status"]["phase"], "Bound");
    assert_eq!(status["spec"].get("volumeName"), None);
    let spec = admit_update(new, &old, &ctx()).unwrap().object.to_json();
    assert_eq!(spec["status"]["phase"], "Pending");
    assert_eq!(spec["spec"]["volumeName"], "pvc-x");
}

#[test]
fn secrets_default_to_opaque_with_string_data_merged() {
    let s = stored(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: eA==}\nstringData: {a: q, b: z}\n",
    );
    let json = s.to_json();
    assert_eq!(json["type"], "Opaque");
    assert_eq!(json["data"], serde_json::json!({"a": "cQ==", "b": "eg=="}));
    assert_eq!(json.get("stringData"), None);
}
