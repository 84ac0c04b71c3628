//! Create, update and patch: `genericregistry.Store.Create/Update` with the per-kind strategy
//! (admission from core), preconditions on resourceVersion, `generateName`, dry runs, field
//! ownership, and "a write that changes nothing is not a write".

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
use kbatch_core::admission::{self, AdmitContext, Admitted};
use kbatch_core::decode::{self, Decoded, Document};
use kbatch_core::object::{Kind, NAMESPACE, Object, POD};
use kbatch_core::{apply, patch, status};
use kbatch_store::Revision;
use serde_json::Value;
use std::sync::Arc;

use super::{Registry, check_name, encode_stored, set_resource_version};
use crate::error::{ApiError, Result};

/// How unknown and duplicate fields in a body are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Fail the request with 400 (kubectl's default).
    Strict,
    /// Succeed, and report each problem in a `Warning` header. The apiserver's default.
    #[default]
    Warn,
    /// Drop them silently.
    Ignore,
}

impl FieldValidation {
    /// Parses the query parameter (case-sensitive, as the apiserver is).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "Strict" => Ok(FieldValidation::Strict),
            "Warn" | "" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// Turns a decoded body into the object to admit and the warnings to send.
    pub fn accept(self, decoded: Decoded) -> Result<(Object, Vec<String>)> {
        match self {
            FieldValidation::Strict => {
                let obj = decoded.strict().map_err(|e| ApiError::from(&e))?;
                Ok((obj, Vec::new()))
            }
            FieldValidation::Warn => Ok((decoded.object, decoded.strict_problems)),
            FieldValidation::Ignore => Ok((decoded.object, Vec::new())),
        }
    }
}

/// Options every write takes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: admit and answer as if written, store nothing.
    pub dry_run: bool,
    /// `fieldManager`; when absent the user agent's program name, as the apiserver does.
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    /// `force` for server-side apply: take over conflicting fields.
    pub force: bool,
    /// `status` for writes to the /status subresource.
    pub subresource: Option<String>,
}

impl WriteOptions {
    fn manager(&self) -> &str {
        self.field_manager.as_deref().unwrap_or("unknown")
    }

    fn is_status(&self) -> bool {
        self.subresource.as_deref() == Some("status")
    }
}

/// The content types of PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Object,
    pub warnings: Vec<String>,
    /// Whether the write created the object (201 rather than 200).
    pub created: bool,
}

/// How many times a patch or an unconditional update is retried when another writer got in
/// between (the apiserver's `GuaranteedUpdate` loops; patches give up after 5 conflicts).
const MAX_RETRIES: usize = 5;

/// The characters `names.SimpleNameGenerator` draws from: no vowels, no confusable digits.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub(super) fn generated_name(prefix: &str) -> String {
    let prefix = if prefix.len() > 58 {
        &prefix[..58]
    } else {
        prefix
    };
    let suffix: String = (0..5)
        .map(|_| NAME_ALPHABET[rand::random_range(0..NAME_ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

impl Registry {
    fn context(&self, namespace: &str) -> AdmitContext {
        AdmitContext {
            uid: uuid::Uuid::new_v4().to_string(),
            now: self.clock.now(),
            namespace: namespace.to_owned(),
        }
    }

    /// Creates an object (POST). `namespace` is the request's; an object naming another one
    /// is rejected by the caller before this point.
    pub async fn create(
        &self,
        kind: &Kind,
        namespace: &str,
        mut obj: Object,
        opts: &WriteOptions,
        mut warnings: Vec<String>,
    ) -> Result<Written> {
        if kind.namespaced {
            self.check_namespace_open(kind, namespace, obj.name())
                .await?;
        }
        if *kind == POD {
            super::runtime_classes::admit_pod(self, &obj).await?;
        }
        self.mutate_on_create(namespace, &mut obj).await?;
        let generate = obj.name().is_empty()
            && !obj
                .metadata()
                .generate_name
                .as_deref()
                .unwrap_or("")
                .is_empty();
        // With generateName a taken name is retried with a fresh suffix, as the apiserver's
        // RetryGenerateName does, instead of failing the create.
        for attempt in 0..8 {
            let mut candidate = obj.clone();
            if generate {
                let prefix = candidate
                    .metadata()
                    .generate_name
                    .clone()
                    .unwrap_or_default();
                candidate.metadata_mut().name = Some(generated_name(&prefix));
            }
            let Admitted {
                object: mut admitted,
                warnings: admit_warnings,
            } = admission::admit_create(candidate, &self.context(namespace))
                .map_err(|r| ApiError::from(&r))?;
            let name = admitted.name().to_owned();
            check_name(kind, &name)?;
            self.track_fields(None, &mut admitted, opts)?;
            if opts.dry_run {
                warnings.extend(admit_warnings);
                return Ok(Written {
                    object: admitted,
                    warnings,
                    created: true,
                });
            }
            let ns = admitted.metadata().namespace.clone().unwrap_or_default();
            let key = Self::key(kind, &ns, &name);
            match self.store.create(&key, encode_stored(&mut admitted)).await {
                Ok(revision) => {
                    set_resource_version(&mut admitted, revision);
                    warnings.extend(admit_warnings);
                    return Ok(Written {
                        object: admitted,
                        warnings,
                        created: true,
                    });
                }
                Err(kbatch_store::Error::AlreadyExists { .. }) if generate && attempt < 7 => {
                    continue;
                }
                Err(e) => return Err(ApiError::from_store(e, kind, &name)),
            }
        }
        Err(ApiError::internal("could not generate a free name"))
    }

    /// Replaces an object (PUT). A resourceVersion in the body is a precondition; without one
    /// the update is unconditional and retried over concurrent writes.
    pub async fn update(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        obj: Object,
        opts: &WriteOptions,
        warnings: Vec<String>,
    ) -> Result<Written> {
        let precondition = match obj.metadata().resource_version.as_deref() {
            None | Some("") => None,
            Some(rv) => Some(super::parse_resource_version(rv)?),
        };
        for _ in 0..MAX_RETRIES {
            let (old, old_rev, old_bytes) = self.read_stored(kind, namespace, name).await?;
            if let Some(p) = precondition
                && p != old_rev
            {
                return Err(status::conflict(kind, name).into());
            }
            // Without a resourceVersion the update is unconditional: it applies to the
            // version just read (AllowUnconditionalUpdate, true for every kind served).
            let mut new = obj.clone();
            if precondition.is_none() {
                new.metadata_mut().resource_version = Some(old_rev.to_string());
            }
            let stored = (&*old, old_rev, old_bytes.as_slice());
            match self
                .commit_update(kind, stored, new, opts, warnings.clone(), true)
                .await
            {
                Err(Commit::Retry) if precondition.is_none() => continue,
                Err(Commit::Retry) => return Err(status::conflict(kind, name).into()),
                Err(Commit::Failed(e)) => return Err(e),
                Ok(w) => return Ok(w),
            }
        }
        Err(status::conflict(kind, name).into())
    }

    /// Patches an object (PATCH). Server-side apply creates a missing object.
    pub async fn patch(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        body: &Value,
        opts: &WriteOptions,
    ) -> Result<Written> {
        for _ in 0..MAX_RETRIES {
            let (old, old_rev, old_bytes) = match self.read_stored(kind, namespace, name).await {
                Ok(found) => found,
                Err(e)
                    if e.is_not_found() && patch_type == PatchType::Apply && !opts.is_status() =>
                {
                    return self.apply_create(kind, namespace, name, body, opts).await;
                }
                Err(e) => return Err(e),
            };
            let current = old.to_json();
            let patched = self.patched(kind, name, &current, patch_type, body, opts)?;
            // A resourceVersion in the patch is a precondition (the patch names the version
            // it was made against).
            let precondition = patched
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|rv| !rv.is_empty())
                .map(super::parse_resource_version)
                .transpose()?;
            if let Some(p) = precondition
                && p != old_rev
            {
                return Err(status::conflict(kind, name).into());
            }
            let (new, warnings) = self.decode_patched(kind, name, patched, opts)?;
            // An apply records its own ownership; every other patch is an Update.
            let record = patch_type != PatchType::Apply;
            let stored = (&*old, old_rev, old_bytes.as_slice());
            match self
                .commit_update(kind, stored, new, opts, warnings, record)
                .await
            {
                // Another write got in: the patch is applied again to the version it left
                // (GuaranteedUpdate's retry). The patched object carries the version it was
                // applied to unless the patch names one, so only a patch that names one ends
                // in a conflict, at the check above.
                Err(Commit::Retry) => continue,
                Err(Commit::Failed(e)) => return Err(e),
                Ok(w) => return Ok(w),
            }
        }
        Err(status::conflict(kind, name).into())
    }

    /// Changes the stored object with `change`, as a patch does but without its JSON: the
    /// apiserver's `GuaranteedUpdate` with a try-update function. The latest version is read,
    /// changed, admitted and stored with it as precondition; when another write got in
    /// between, it is read and changed again. `change` returns whether it changed anything: a
    /// change of nothing writes nothing and returns the stored object.
    pub async fn edit(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        opts: &WriteOptions,
        change: impl Fn(&mut Object) -> bool,
    ) -> Result<Written> {
        for _ in 0..MAX_RETRIES {
            let (old, old_rev, old_bytes) = self.read_stored(kind, namespace, name).await?;
            let mut new = (*old).clone();
            if !change(&mut new) {
                return Ok(Written {
                    object: Arc::unwrap_or_clone(old),
                    warnings: Vec::new(),
                    created: false,
                });
            }
            let stored = (&*old, old_rev, old_bytes.as_slice());
            match self
                .commit_update(kind, stored, new, opts, Vec::new(), true)
                .await
            {
                Err(Commit::Retry) => continue,
                Err(Commit::Failed(e)) => return Err(e),
                Ok(w) => return Ok(w),
            }
        }
        Err(status::conflict(kind, name).into())
    }

    /// The JSON of `current` with the patch applied.
    fn patched(
        &self,
        kind: &Kind,
        name: &str,
        current: &Value,
        patch_type: PatchType,
        body: &Value,
        opts: &WriteOptions,
    ) -> Result<Value> {
        let bad = patch_error;
        match patch_type {
            PatchType::Json => patch::json_patch(current, body).map_err(bad),
            PatchType::Merge => {
                if !body.is_object() {
                    return Err(ApiError::bad_request(
                        "error decoding patch: a merge patch must be a JSON object",
                    ));
                }
                let mut target = current.clone();
                patch::json_merge_patch(&mut target, body.clone());
                Ok(target)
            }
            PatchType::Strategic => patch::strategic_merge_patch(current, body, kind).map_err(bad),
            PatchType::Apply => {
                check_apply_body(kind, name, body)?;
                let req = self.field_request(kind, opts.manager(), opts);
                apply::apply(Some(current), body, &req, opts.force).map_err(apply_error)
            }
        }
    }

    /// Decodes a patched object like a request body, under the request's field validation.
    fn decode_patched(
        &self,
        kind: &Kind,
        name: &str,
        patched: Value,
        opts: &WriteOptions,
    ) -> Result<(Object, Vec<String>)> {
        let decoded = decode::decode(&Document {
            value: patched,
            duplicates: Vec::new(),
        })
        .map_err(|e| ApiError::from(&e))?;
        if decoded.object.kind() != *kind {
            return Err(ApiError::bad_request(format!(
                "the patch changes the kind of {} {name:?}",
                kind.kind
            )));
        }
        if decoded.object.name() != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                decoded.object.name()
            )));
        }
        opts.field_validation.accept(decoded)
    }

    /// Server-side apply of an object that does not exist yet: a create from the applied
    /// configuration, owned by the applier.
    async fn apply_create(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        body: &Value,
        opts: &WriteOptions,
    ) -> Result<Written> {
        check_apply_body(kind, name, body)?;
        // An applied configuration naming a uid names an object that is gone (the
        // apiserver's patch handler refuses to create another one under that uid).
        if let Some(uid) = body
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            return Err(status::conflict_with(
                kind,
                name,
                format!(
                    "uid mismatch: the provided object specified uid {uid}, and no existing object was found"
                ),
            )
            .into());
        }
        let req = self.field_request(kind, opts.manager(), opts);
        let value = apply::apply(None, body, &req, opts.force).map_err(apply_error)?;
        let (obj, warnings) = self.decode_patched(kind, name, value, opts)?;
        // The applier already owns every field it set; creating must not re-attribute them.
        let create_opts = WriteOptions {
            field_manager: None,
            ..opts.clone()
        };
        self.create(kind, namespace, obj, &create_opts, warnings)
            .await
    }

    /// Admits and stores a new version of `old`, the stored object, the revision it was read
    /// at and the bytes stored.
    async fn commit_update(
        &self,
        kind: &Kind,
        (old, old_rev, old_bytes): (&Object, Revision, &[u8]),
        new: Object,
        opts: &WriteOptions,
        mut warnings: Vec<String>,
        record_fields: bool,
    ) -> std::result::Result<Written, Commit> {
        let ns = old.metadata().namespace.clone().unwrap_or_default();
        let name = old.name().to_owned();
        let ctx = self.context(&ns);
        let admitted = if opts.is_status() {
            admission::admit_update_status(new, old, &ctx)
        } else {
            admission::admit_update(new, old, &ctx)
        };
        let Admitted {
            object: mut new,
            warnings: admit_warnings,
        } = admitted.map_err(|r| Commit::Failed(ApiError::from(&r)))?;
        warnings.extend(admit_warnings);
        let tracked = record_fields && opts.field_manager.is_some();
        if tracked {
            self.track_fields(Some(old), &mut new, opts)
                .map_err(Commit::Failed)?;
        }
        let bytes = encode_stored(&mut new);
        // A write that changes nothing is not a write: same resourceVersion, no event
        // (kubectl prints "patched (no change)"). Tracking has already put back the times of
        // managedFields entries that nothing else changed, so, as the apiserver does, the
        // bytes to store are compared with those stored; other writes (apply, no manager)
        // compare the objects without those times.
        let same = if tracked {
            bytes == old_bytes
        } else {
            unchanged(old, &new)
        };
        if same {
            return Ok(Written {
                object: old.clone(),
                warnings,
                created: false,
            });
        }
        let key = Self::key(kind, &ns, &name);
        let deleting = new.metadata().deletion_timestamp.is_some()
            && new
                .metadata()
                .finalizers
                .as_ref()
                .is_none_or(|f| f.is_empty())
            && !waits_for_namespace_lifecycle(&new)
            // A graceful deletion (a pod on a node) ends with the kubelet's delete at grace 0,
            // not with its last finalizer.
            && new.metadata().deletion_grace_period_seconds.unwrap_or(0) == 0;
        if opts.dry_run {
            set_resource_version(&mut new, old_rev);
            return Ok(Written {
                object: new,
                warnings,
                created: false,
            });
        }
        // The last finalizer of an object being deleted is gone: the update completes the
        // delete (genericregistry's deleteWithoutFinalizers path).
        if deleting {
            return match self.store.delete(&key, Some(old_rev)).await {
                Ok(deleted) => {
                    set_resource_version(&mut new, deleted.revision);
                    Ok(Written {
                        object: new,
                        warnings,
                        created: false,
                    })
                }
                Err(kbatch_store::Error::Conflict { .. }) => Err(Commit::Retry),
                Err(e) => Err(Commit::Failed(ApiError::from_store(e, kind, &name))),
            };
        }
        match self.store.update(&key, bytes, old_rev).await {
            Ok(revision) => {
                set_resource_version(&mut new, revision);
                Ok(Written {
                    object: new,
                    warnings,
                    created: false,
                })
            }
            Err(kbatch_store::Error::Conflict { .. }) => Err(Commit::Retry),
            Err(e) => Err(Commit::Failed(ApiError::from_store(e, kind, &name))),
        }
    }

    /// Records which manager owns the fields a write set (`metadata.managedFields`).
    /// Server-side apply records its own ownership; writes without a manager (internal
    /// bookkeeping) record none.
    fn track_fields(
        &self,
        old: Option<&Object>,
        new: &mut Object,
        opts: &WriteOptions,
    ) -> Result<()> {
        let Some(manager) = opts.field_manager.as_deref() else {
            return Ok(());
        };
        let kind = new.kind();
        if opts.subresource.is_some() {
            // A subresource write's own managedFields are ignored (`record_update`): they
            // need not be converted.
            new.metadata_mut().managed_fields = None;
        }
        let old_json = old.map(Object::to_json);
        let mut new_json = new.to_json();
        let req = self.field_request(&kind, manager, opts);
        apply::record_update(old_json.as_ref(), &mut new_json, &req);
        if let Some(old_json) = &old_json {
            apply::ignore_managed_fields_timestamps(old_json, &mut new_json);
        }
        // Only metadata.managedFields changed: read back that array, not the whole object.
        let entries = new_json
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|m| m.remove("managedFields"));
        new.metadata_mut().managed_fields = entries
            .map(managed_fields_entries)
            .transpose()
            .map_err(|e| ApiError::internal(format!("recording managed fields: {e}")))?;
        Ok(())
    }

    fn field_request<'a>(
        &self,
        kind: &'a Kind,
        manager: &'a str,
        opts: &'a WriteOptions,
    ) -> apply::Request<'a> {
        apply::Request {
            kind,
            manager,
            subresource: opts.subresource.as_deref(),
            now: self.clock.now(),
        }
    }

    /// Rejects a create in a namespace that does not exist or is being deleted (the
    /// NamespaceLifecycle admission plugin).
    async fn check_namespace_open(&self, kind: &Kind, namespace: &str, name: &str) -> Result<()> {
        let ns = match self.get_cached(&NAMESPACE, "", namespace).await {
            Ok(ns) => ns,
            Err(e) if e.is_not_found() => {
                return Err(status::not_found(&NAMESPACE, namespace).into());
            }
            Err(e) => return Err(e),
        };
        if ns.metadata().deletion_timestamp.is_some() {
            return Err(status::forbidden(
                kind,
                name,
                format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            )
            .into());
        }
        Ok(())
    }
}

/// A namespace with `spec.finalizers` left is deleted by the namespace lifecycle, not by an
/// update that removes its last metadata finalizer.
fn waits_for_namespace_lifecycle(obj: &Object) -> bool {
    matches!(obj, Object::Namespace(ns)
        if ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).is_some_and(|f| !f.is_empty()))
}

/// Why an update could not be committed.
enum Commit {
    /// Another write got in between: read again and retry.
    Retry,
    Failed(ApiError),
}

/// Whether `new` differs from `old` only in what a no-op write may touch: its
/// resourceVersion and the timestamps of field managers (the apiserver drops such updates).
fn unchanged(old: &Object, new: &Object) -> bool {
    fn comparable(obj: &Object) -> Value {
        let mut v = obj.to_json();
        if let Some(Value::Object(meta)) = v.get_mut("metadata") {
            meta.remove("resourceVersion");
            if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
                for e in entries {
                    if let Value::Object(e) = e {
                        e.remove("time");
                    }
                }
            }
        }
        v
    }
    comparable(old) == comparable(new)
}

/// The typed managedFields of their JSON. Each entry's `fieldsV1`, most of its size, is moved
/// rather than decoded again: the type holds it as the JSON value it is.
fn managed_fields_entries(entries: Value) -> serde_json::Result<Vec<ManagedFieldsEntry>> {
    let Value::Array(items) = entries else {
        return serde_json::from_value(entries);
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(mut entry) = item else {
                return serde_json::from_value(item);
            };
            let fields = entry.remove("fieldsV1");
            let mut typed: ManagedFieldsEntry = serde_json::from_value(Value::Object(entry))?;
            typed.fields_v1 = fields.filter(|f| !f.is_null()).map(FieldsV1);
            Ok(typed)
        })
        .collect()
}

/// An apply body must be an object of the URL's kind and name (`apply.go` checks).
fn check_apply_body(kind: &Kind, name: &str, body: &Value) -> Result<()> {
    let Some(map) = body.as_object() else {
        return Err(ApiError::bad_request(
            "error decoding YAML: the applied configuration is not an object",
        ));
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let body_kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != kind.api_version() || body_kind != kind.kind {
        return Err(ApiError::bad_request(format!(
            "the apiVersion and kind of the applied configuration ({api_version}, {body_kind}) must be {}, {}",
            kind.api_version(),
            kind.kind
        )));
    }
    let body_name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

/// A patch that cannot be applied. Kubernetes answers some of these with a 500 (errors it
/// passes through unconverted); bad input is never a server error here, so those are 400s.
fn patch_error(e: patch::PatchError) -> ApiError {
    match e.code() {
        413 => status::request_entity_too_large(e.to_string()).into(),
        422 => {
            let mut s = status::bad_request(e.to_string());
            s.code = Some(422);
            s.reason = Some("Invalid".to_owned());
            s.into()
        }
        _ => ApiError::bad_request(e.to_string()),
    }
}

fn apply_error(e: apply::ApplyError) -> ApiError {
    let status = e.status();
    // Kubernetes answers an apply body it cannot type with a 500; it is bad input, so 400.
    if status.code == Some(500) {
        return ApiError::bad_request(e.to_string());
    }
    status.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Moving `fieldsV1` gives what decoding the whole entry gives.
    #[test]
    fn managed_fields_entries_read_as_the_type_reads_them() {
        let entries = json!([
            {"manager": "kubectl", "operation": "Apply", "apiVersion": "batch/v1",
             "time": "2026-11-28T10:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:suspend": {}}}},
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
             "fieldsType": "FieldsV1", "fieldsV1": null, "subresource": "status"},
            {"manager": "x", "operation": "Update"}
        ]);
        let expected: Vec<ManagedFieldsEntry> = serde_json::from_value(entries.clone()).unwrap();
        assert_eq!(managed_fields_entries(entries).unwrap(), expected);
        assert!(managed_fields_entries(json!([{"time": "yesterday"}])).is_err());
        assert!(managed_fields_entries(json!({"manager": "x"})).is_err());
    }
}
