//! The manifest a run starts from: one Job or CronJob, read from a file or stdin and checked
//! as the API server admits it, with `kbatch validate`'s lines (file, document, field path,
//! Kubernetes' message and kbatch's hint) for whatever it rejects.

use std::path::Path;

use kbatch_core::decode;
use kbatch_core::object::Object;

use crate::cmd::validate::{check_document, read_source, syntax_error};

/// A manifest that passed admission.
#[derive(Debug)]
pub struct Manifest {
    /// `FILE: document 1 (Kind/name)`.
    pub label: String,
    /// The namespace it goes to: its own, or `default`.
    pub namespace: String,
    /// The object as decoded, before defaults: what a client sends.
    pub object: Object,
}

/// Reads and checks the manifest; on failure, the lines that say why.
pub fn load(path: &Path) -> Result<Manifest, Vec<String>> {
    let (name, text) = read_source(path).map_err(|line| vec![line])?;
    let docs = decode::parse_documents(&text).map_err(|e| vec![syntax_error(&name, &e)])?;
    let mut docs = decode::flatten_lists(docs);
    if docs.len() != 1 {
        return Err(vec![format!(
            "{name}: {} documents: kbatch run runs one Job or CronJob per manifest",
            docs.len()
        )]);
    }
    let doc = docs.remove(0);
    let namespace = doc
        .value
        .pointer("/metadata/namespace")
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_owned();
    let checked = check_document(&format!("{name}: document 1"), doc, &namespace);
    let accepted = checked.result?;
    for warning in &accepted.warnings {
        eprintln!("{}: warning: {warning}", checked.label);
    }
    match accepted.object {
        Object::Job(_) | Object::CronJob(_) => Ok(Manifest {
            label: checked.label,
            namespace,
            object: accepted.object,
        }),
        other => Err(vec![format!(
            "{}: kbatch run runs a Job or a CronJob, not a {}",
            checked.label,
            other.kind().kind
        )]),
    }
}
