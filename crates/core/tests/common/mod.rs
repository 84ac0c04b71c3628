//! Helpers shared by the admission table tests.

#![allow(dead_code)]

use kbatch_core::admission::AdmitContext;
use serde_json::Value;

pub const UID: &str = "uid-1";

/// Admission at test-cases.md's anchor T = 2016-05-19T10:00:00Z, in namespace `default`.
pub fn ctx() -> AdmitContext {
    AdmitContext {
        uid: UID.to_owned(),
        now: "2016-05-19T10:00:00Z".parse().unwrap(),
        namespace: "default".to_owned(),
    }
}

/// `base` with `patch` applied as a JSON merge patch (`null` removes a field).
pub fn patched(mut base: Value, patch: Value) -> Value {
    kbatch_core::patch::json_merge_patch(&mut base, patch);
    base
}

/// Compares errors with expectations; an expectation may hold `…` for a stretch of text
/// (long JSON bad values).
pub fn check_errors(failures: &mut Vec<String>, id: &str, actual: &[String], expected: &[&str]) {
    let ok = actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| matches_pattern(a, e));
    if !ok {
        failures.push(format!(
            "{id}\n  expected: {expected:#?}\n  actual:   {actual:#?}"
        ));
    }
}

/// Fails with every failed case of a table, not only the first.
pub fn assert_no_failures(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failed case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn matches_pattern(actual: &str, pattern: &str) -> bool {
    let mut parts = pattern.split('…');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(pos) => rest = &rest[pos + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}
