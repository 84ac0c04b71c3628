//! Fuzzes the path every request body and every `kbatch validate` file takes: parse (YAML,
//! JSON or the `k8s\0` protobuf envelope), flatten Lists, decode strictly and leniently,
//! admit as a create, track managedFields, print the table row, then admit the same object as
//! an update and a status update of itself. Any input must give a value or an error with a
//! message, never a panic; an admitted object must survive its own JSON round trip.
#![no_main]

use kbatch_core::admission::{AdmitContext, admit_create, admit_update, admit_update_status};
use kbatch_core::apply::{Request, record_update};
use kbatch_core::decode::{Document, decode, flatten_lists, parse_documents};
use kbatch_core::object::Object;
use kbatch_core::printers::{IncludeObject, row};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
    let ctx = AdmitContext {
        uid: "7d0a1c2e-0000-4000-8000-000000000001".to_owned(),
        now,
        namespace: "default".to_owned(),
    };
    let docs = if data.starts_with(b"k8s\0") {
        match kbatch_core::protobuf::decode(data) {
            Ok(value) => vec![Document {
                value,
                duplicates: Vec::new(),
            }],
            Err(e) => {
                assert!(!e.to_string().is_empty());
                return;
            }
        }
    } else {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match parse_documents(text) {
            Ok(docs) => docs,
            Err(e) => {
                assert!(!e.message.is_empty());
                return;
            }
        }
    };
    for doc in flatten_lists(docs) {
        let decoded = match decode(&doc) {
            Ok(decoded) => decoded,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                continue;
            }
        };
        let lenient = decoded.object.clone();
        let _ = decoded.strict();
        let kind = lenient.kind();
        let admitted = match admit_create(lenient, &ctx) {
            Ok(admitted) => admitted.object,
            Err(rejected) => {
                assert!(!rejected.errors.is_empty());
                continue;
            }
        };
        let mut json = admitted.to_json();
        let req = Request {
            kind: &kind,
            manager: "fuzz",
            subresource: None,
            now,
        };
        record_update(None, &mut json, &req);
        let stored = Object::from_value(&kind, json).expect("an admitted object decodes again");
        let _ = row(&stored, now, IncludeObject::Object);
        let _ = admit_update(stored.clone(), &stored, &ctx);
        let _ = admit_update_status(stored.clone(), &stored, &ctx);
    }
});
