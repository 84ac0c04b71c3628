//! Fuzzes the label and field selector parsers (`labelSelector=` and `fieldSelector=` of every
//! list and watch): any text parses or gives an error with a message, and a parsed selector
//! can be matched against labels and fields taken from the same input.
#![no_main]

use std::collections::BTreeMap;

use kbatch_core::selector::{FieldSelector, LabelSelector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (selector, labels) = text.split_once('\n').unwrap_or((text, ""));
    let labels: BTreeMap<String, String> = labels
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    match LabelSelector::parse(selector) {
        Ok(parsed) => {
            let _ = parsed.matches(&labels);
            let _ = parsed.to_string();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match FieldSelector::parse(selector) {
        Ok(parsed) => {
            let _ = parsed.matches(&|field: &str| labels.get(field).cloned());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
