//! ObjectMeta validation: apimachinery's `pkg/api/validation/objectmeta.go` plus the extra
//! finalizer check that `pkg/apis/core/validation.ValidateObjectMeta` adds, which is the
//! function the batch and core validators call (V-1…V-8).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::json;

use crate::field::{BadValue, ErrorList, FieldError, Path, go_quote};
use crate::validation::names::{is_qualified_name, is_valid_label_value};

pub use crate::validation::names::{name_is_dns_label, name_is_dns_subdomain};

/// Validates a name (or, with `prefix`, a generateName); returns the problems.
pub type NameValidator = fn(name: &str, prefix: bool) -> Vec<String>;

/// apimachinery's `FieldImmutableErrorMsg`.
pub const FIELD_IMMUTABLE_ERROR_MSG: &str = "field is immutable";
/// apimachinery's `IsNegativeErrorMsg`.
pub const IS_NEGATIVE_ERROR_MSG: &str = "must be greater than or equal to 0";
/// `TotalAnnotationSizeLimitB`: 256 KiB over all keys and values (V-5).
pub const TOTAL_ANNOTATION_SIZE_LIMIT_B: usize = 256 * 1024;

/// The finalizers core Kubernetes accepts without a domain prefix (`helper.IsStandardFinalizerName`).
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// `ValidateNamespaceName`: namespaces are DNS-1123 labels.
pub fn validate_namespace_name(name: &str, prefix: bool) -> Vec<String> {
    name_is_dns_label(name, prefix)
}

/// `ValidateObjectMeta` for create (V-1…V-5, V-7, V-8).
pub fn validate_object_meta(
    meta: &ObjectMeta,
    requires_namespace: bool,
    name: NameValidator,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();

    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if !generate_name.is_empty() {
        let gn_path = path.child("generateName");
        errs.extend(
            name(generate_name, true)
                .into_iter()
                .map(|m| FieldError::invalid(&gn_path, generate_name, m)),
        );
    }
    let obj_name = meta.name.as_deref().unwrap_or("");
    let name_path = path.child("name");
    if obj_name.is_empty() {
        errs.push(FieldError::required(
            &name_path,
            "name or generateName is required",
        ));
    } else {
        errs.extend(
            name(obj_name, false)
                .into_iter()
                .map(|m| name_error(&name_path, obj_name, m, name)),
        );
    }

    let namespace = meta.namespace.as_deref().unwrap_or("");
    let ns_path = path.child("namespace");
    if requires_namespace {
        if namespace.is_empty() {
            errs.push(FieldError::required(&ns_path, ""));
        } else {
            errs.extend(
                validate_namespace_name(namespace, false)
                    .into_iter()
                    .map(|m| name_error(&ns_path, namespace, m, validate_namespace_name)),
            );
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(&ns_path, "not allowed on this type"));
    }

    let generation = meta.generation.unwrap_or(0);
    if generation < 0 {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            generation,
            IS_NEGATIVE_ERROR_MSG,
        ));
    }
    errs.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        meta.owner_references.as_deref().unwrap_or(&[]),
        &path.child("ownerReferences"),
    ));
    let finalizers = meta.finalizers.as_deref().unwrap_or(&[]);
    errs.extend(validate_finalizers(finalizers, &path.child("finalizers")));
    errs.extend(validate_kube_finalizer_names(
        finalizers,
        &path.child("finalizers"),
    ));
    if let Some(entries) = &meta.managed_fields {
        let value = serde_json::to_value(entries).unwrap_or_default();
        errs.extend(crate::apply::validate_managed_fields(
            Some(&value),
            &path.child("managedFields"),
        ));
    }
    errs
}

/// `ValidateObjectMetaUpdate` (V-6, V-7): identity fields are immutable, an update must carry a
/// resourceVersion, generation never decreases, no new finalizers once deletion started.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let new_finalizers = new.finalizers.as_deref().unwrap_or(&[]);

    if old.deletion_timestamp.is_some() {
        let old_set: BTreeSet<&str> = old
            .finalizers
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let extra: BTreeSet<&str> = new_finalizers
            .iter()
            .map(String::as_str)
            .filter(|f| !old_set.contains(f))
            .collect();
        if !extra.is_empty() {
            // Go prints the sorted set with %#v: []string{"a", "b"}.
            let list: Vec<String> = extra.iter().map(|f| go_quote(f)).collect();
            errs.push(FieldError::forbidden(
                &path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }

    let resource_version = new.resource_version.as_deref().unwrap_or("");
    if resource_version.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("resourceVersion"),
            resource_version,
            "must be specified for an update",
        ));
    }

    let (new_gen, old_gen) = (new.generation.unwrap_or(0), old.generation.unwrap_or(0));
    if new_gen < old_gen {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            new_gen,
            "must not be decremented",
        ));
    }

    let immutable_str = |field: &str, new_v: &Option<String>, old_v: &Option<String>| {
        let (n, o) = (
            new_v.as_deref().unwrap_or(""),
            old_v.as_deref().unwrap_or(""),
        );
        (n != o).then(|| FieldError::invalid(&path.child(field), n, FIELD_IMMUTABLE_ERROR_MSG))
    };
    errs.extend(immutable_str("name", &new.name, &old.name));
    errs.extend(immutable_str("namespace", &new.namespace, &old.namespace));
    errs.extend(immutable_str("uid", &new.uid, &old.uid));
    for (field, n, o) in [
        (
            "creationTimestamp",
            &new.creation_timestamp,
            &old.creation_timestamp,
        ),
        (
            "deletionTimestamp",
            &new.deletion_timestamp,
            &old.deletion_timestamp,
        ),
    ] {
        if n != o {
            // metav1.Time marshals as an RFC 3339 string, a nil one as null.
            let value = serde_json::to_value(n).unwrap_or(serde_json::Value::Null);
            errs.push(FieldError::invalid(
                &path.child(field),
                value,
                FIELD_IMMUTABLE_ERROR_MSG,
            ));
        }
    }
    if new.deletion_grace_period_seconds != old.deletion_grace_period_seconds {
        let value = new
            .deletion_grace_period_seconds
            .map_or(BadValue::Null, BadValue::Int);
        errs.push(FieldError::invalid(
            &path.child("deletionGracePeriodSeconds"),
            value,
            FIELD_IMMUTABLE_ERROR_MSG,
        ));
    }

    errs.extend(validate_labels(new.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(
        new.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        new.owner_references.as_deref().unwrap_or(&[]),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_kube_finalizer_names(
        new_finalizers,
        &path.child("finalizers"),
    ));
    errs
}

/// A name error, with a hint when the only problem is upper-case letters: Kubernetes' regex
/// message does not say so, and "MyJob" is the most common mistake.
fn name_error(path: &Path, value: &str, msg: String, rule: NameValidator) -> FieldError {
    let err = FieldError::invalid(path, value, msg);
    let lower = value.to_ascii_lowercase();
    if lower != value && rule(&lower, false).is_empty() {
        err.with_hint(format!(
            "names must be lower case, e.g. {}",
            go_quote(&lower)
        ))
    } else {
        err
    }
}

/// `ValidateLabels` (`apis/meta/v1/validation`): errors on the labels map itself, with the bad
/// key or value as the value (V-3, V-4). Go iterates a map; keys are checked here in sorted order.
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for (k, v) in labels.into_iter().flatten() {
        errs.extend(validate_label_name(k, path));
        errs.extend(
            is_valid_label_value(v)
                .into_iter()
                .map(|m| FieldError::invalid(path, v, m)),
        );
    }
    errs
}

/// apimachinery's `ValidateQualifiedName`: one Invalid error per problem of `value`.
pub fn validate_qualified_name(value: &str, path: &Path) -> ErrorList {
    is_qualified_name(value)
        .into_iter()
        .map(|m| FieldError::invalid(path, value, m))
        .collect()
}

/// `ValidateLabelName`: a label key (qualified name) at `path`.
pub fn validate_label_name(key: &str, path: &Path) -> ErrorList {
    validate_qualified_name(key, path)
}

/// `ValidateAnnotations`: keys are qualified names compared case-insensitively, and the total
/// size of keys and values is at most 256 KiB (V-3, V-5).
pub fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        errs.extend(
            is_qualified_name(&k.to_lowercase())
                .into_iter()
                .map(|m| FieldError::invalid(path, k, m)),
        );
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B));
    }
    errs
}

/// An owner reference as Go's `json.Marshal` renders it (fields in Go's declaration order).
fn owner_reference_json(r: &OwnerReference) -> serde_json::Value {
    let mut v = json!({"apiVersion": r.api_version, "kind": r.kind, "name": r.name, "uid": r.uid});
    if let Some(obj) = v.as_object_mut() {
        if let Some(c) = r.controller {
            obj.insert("controller".into(), c.into());
        }
        if let Some(b) = r.block_owner_deletion {
            obj.insert("blockOwnerDeletion".into(), b.into());
        }
    }
    v
}

/// `ValidateOwnerReferences` as of Kubernetes 1.35/1.36 (V-8): errors carry the list path
/// without an index, as Go's do.
pub fn validate_owner_references(refs: &[OwnerReference], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        // schema.FromAPIVersionAndKind: an unparsable apiVersion yields an empty version.
        let (group, version) = match r.api_version.as_str() {
            "" | "/" => ("", ""),
            v => match v.matches('/').count() {
                0 => ("", v),
                1 => v.split_once('/').unwrap_or(("", "")),
                _ => ("", ""),
            },
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                r.api_version.as_str(),
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                r.kind.as_str(),
                "must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("name"),
                r.name.as_str(),
                "must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("uid"),
                r.uid.as_str(),
                "must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && r.kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                owner_reference_json(r),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.controller == Some(true) {
            let current = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    serde_json::Value::Array(refs.iter().map(owner_reference_json).collect()),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// `ValidateFinalizerName`: a finalizer is a qualified name; errors on the list path (V-7).
pub fn validate_finalizer_name(name: &str, path: &Path) -> ErrorList {
    validate_qualified_name(name, path)
}

/// `ValidateFinalizers`: each name, and not both `orphan` and `foregroundDeletion`.
fn validate_finalizers(finalizers: &[String], path: &Path) -> ErrorList {
    let mut errs: ErrorList = finalizers
        .iter()
        .flat_map(|f| validate_finalizer_name(f, path))
        .collect();
    if finalizers.iter().any(|f| f == "orphan")
        && finalizers.iter().any(|f| f == "foregroundDeletion")
    {
        errs.push(FieldError::invalid(
            path,
            serde_json::Value::from(finalizers.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// `validateKubeFinalizerName`: a finalizer without a '/' must be one of the standard names.
pub fn validate_kube_finalizer_name(name: &str, path: &Path) -> ErrorList {
    if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        vec![FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        )]
    } else {
        Vec::new()
    }
}

fn validate_kube_finalizer_names(finalizers: &[String], path: &Path) -> ErrorList {
    finalizers
        .iter()
        .enumerate()
        .flat_map(|(i, f)| validate_kube_finalizer_name(f, &path.index(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn meta(name: &str, ns: &str) -> ObjectMeta {
        ObjectMeta {
            name: (!name.is_empty()).then(|| name.to_owned()),
            namespace: (!ns.is_empty()).then(|| ns.to_owned()),
            ..Default::default()
        }
    }

    fn texts(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn md() -> Path {
        Path::new("metadata")
    }

    #[test]
    fn name_required_v1() {
        let errs = validate_object_meta(&meta("", "default"), true, name_is_dns_subdomain, &md());
        assert_eq!(
            texts(&errs),
            ["metadata.name: Required value: name or generateName is required"]
        );
    }

    #[test]
    fn upper_case_name_gets_a_hint_v1() {
        let errs = validate_object_meta(&meta("Pi", "default"), true, name_is_dns_subdomain, &md());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].to_string().starts_with(
                "metadata.name: Invalid value: \"Pi\": a lowercase RFC 1123 subdomain"
            )
        );
        assert_eq!(
            errs[0].hint.as_deref(),
            Some("names must be lower case, e.g. \"pi\"")
        );
    }

    #[test]
    fn namespace_rules_v2() {
        let errs = validate_object_meta(&meta("pi", ""), true, name_is_dns_subdomain, &md());
        assert_eq!(texts(&errs), ["metadata.namespace: Required value"]);
        let errs = validate_object_meta(&meta("pi", "a.b"), true, name_is_dns_subdomain, &md());
        assert_eq!(
            texts(&errs),
            ["metadata.namespace: Invalid value: \"a.b\": must not contain dots"]
        );
        let errs = validate_object_meta(&meta("pi", "x"), false, name_is_dns_label, &md());
        assert_eq!(
            texts(&errs),
            ["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn labels_on_the_map_path_v3_v4() {
        let mut m = meta("pi", "default");
        m.labels = Some(BTreeMap::from([
            ("a/b/c".to_owned(), "ok".to_owned()),
            ("k".to_owned(), "-bad".to_owned()),
        ]));
        let errs = validate_object_meta(&m, true, name_is_dns_subdomain, &md());
        let t = texts(&errs);
        assert_eq!(t.len(), 2);
        assert!(t[0].starts_with(
            "metadata.labels: Invalid value: \"a/b/c\": a valid label key must consist"
        ));
        assert!(t[1].starts_with(
            "metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string"
        ));
    }

    #[test]
    fn annotations_too_long_v5() {
        let mut m = meta("pi", "default");
        m.annotations = Some(BTreeMap::from([(
            "a".to_owned(),
            "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B),
        )]));
        let errs = validate_object_meta(&m, true, name_is_dns_subdomain, &md());
        assert_eq!(
            texts(&errs),
            ["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
        // Annotation keys are compared case-insensitively.
        m.annotations = Some(BTreeMap::from([(
            "Example.COM/Key".to_owned(),
            String::new(),
        )]));
        assert!(validate_object_meta(&m, true, name_is_dns_subdomain, &md()).is_empty());
    }

    #[test]
    fn finalizers_v7() {
        let mut m = meta("pi", "default");
        m.finalizers = Some(vec![
            "foo".to_owned(),
            "example.com/x".to_owned(),
            "orphan".to_owned(),
        ]);
        let errs = validate_object_meta(&m, true, name_is_dns_subdomain, &md());
        assert_eq!(
            texts(&errs),
            [
                "metadata.finalizers[0]: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }

    #[test]
    fn owner_references_v8() {
        let owner = |kind: &str, controller: bool| OwnerReference {
            api_version: "batch/v1".into(),
            kind: kind.into(),
            name: "a".into(),
            uid: "u".into(),
            controller: Some(controller),
            block_owner_deletion: None,
        };
        let mut m = meta("pi", "default");
        m.owner_references = Some(vec![
            OwnerReference {
                api_version: String::new(),
                uid: String::new(),
                ..owner("Job", false)
            },
            owner("Job", true),
            owner("CronJob", true),
        ]);
        let errs = validate_object_meta(&m, true, name_is_dns_subdomain, &md());
        let t = texts(&errs);
        assert_eq!(
            t[0],
            "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty"
        );
        assert_eq!(
            t[1],
            "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
        );
        assert!(t[2].starts_with("metadata.ownerReferences: Invalid value: [{\"apiVersion\":\"\""));
        assert!(t[2].ends_with("Only one reference can have Controller set to true. Found \"true\" in references for Job/a and CronJob/a"));
    }

    #[test]
    fn update_rules_v6() {
        let mut old = meta("pi", "default");
        old.uid = Some("u1".into());
        old.generation = Some(3);
        old.resource_version = Some("7".into());
        old.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        old.finalizers = Some(vec!["a.io/x".into()]);
        let mut new = old.clone();
        new.name = Some("other".into());
        new.uid = Some("u2".into());
        new.generation = Some(2);
        new.resource_version = None;
        new.deletion_timestamp = None;
        new.finalizers = Some(vec!["a.io/x".into(), "b.io/y".into()]);
        let errs = validate_object_meta_update(&new, &old, &md());
        assert_eq!(
            texts(&errs),
            [
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}",
                "metadata.resourceVersion: Invalid value: \"\": must be specified for an update",
                "metadata.generation: Invalid value: 2: must not be decremented",
                "metadata.name: Invalid value: \"other\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable",
                "metadata.deletionTimestamp: Invalid value: null: field is immutable",
            ]
        );
    }
}
