//! Server-side apply and `metadata.managedFields`, as the apiserver's field manager keeps them
//! (k8s.io/apimachinery `util/managedfields/internal` over sigs.k8s.io/structured-merge-diff).
//!
//! Every write records who set what: [`record_update`] for creates, updates and non-apply
//! patches (operation `Update`), [`apply`] for `application/apply-patch+yaml` patches (operation
//! `Apply`), which also merges the configuration into the live object, removes what the same
//! manager applied before and no longer applies, and refuses to change fields other managers
//! own unless forced.
//!
//! Objects are the JSON of the served kinds. Callers keep the apiserver's order: the field
//! manager runs on the decoded, defaulted request object before the strategy's
//! PrepareForCreate/PrepareForUpdate (which reset status or spec and fill in generated fields,
//! none of which is tracked) and before admission and validation; the result of [`apply`] is
//! undefaulted and goes through defaulting, the strategy, admission and validation like any
//! other write.
//!
//! Not done here: a value of the wrong type in an applied configuration fails Kubernetes'
//! typed conversion (`.spec.parallelism: expected numeric (int or float), got string`); here it
//! is left to the caller's decoding of the result. managedFields entries at an API version other
//! than the kind's are dropped rather than converted (kbatch serves one version per kind).
//! Subresources other than `status` reset no fields.

mod fieldset;
mod gojson;
mod managed;
mod merge;
mod schema;
mod typed;
mod validate;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
use serde_json::{Map, Value};

pub use fieldset::{FieldPath, FieldSet, PathElement, path_string};
use managed::{APPLY, Managed, UPDATE};
use merge::{ManagedFields, UpdateError, Updater};
pub use validate::{validate_field_manager, validate_managed_fields};

use crate::field::go_quote;
use crate::object::Kind;

/// `kubectl.kubernetes.io/last-applied-configuration`.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `TotalAnnotationSizeLimitB`.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// The manager kubectl's `--server-side` uses; applies by it adopt client-side-applied fields.
const KUBECTL: &str = "kubectl";

/// Where the fields of a manager nobody has recorded yet go on the first apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The placeholder a write is recorded under before joining its manager's entry.
const CURRENT_OPERATION: &str = "current-operation";

/// One write, as the field manager sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub kind: &'a Kind,
    /// `fieldManager`. For non-apply writes without one the apiserver uses the user agent up
    /// to its first `/`; that is the caller's to resolve. Empty is recorded as `unknown`.
    pub manager: &'a str,
    /// `Some("status")` for writes to /status: the entries carry `subresource: status`, the
    /// main resource's fields are not tracked, and a managedFields in the request is ignored.
    pub subresource: Option<&'a str>,
    /// The time recorded in the writer's entry.
    pub now: Timestamp,
}

/// Whether a managedFields entry records applies or other writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

/// A field an apply would change that another manager owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// The subresource the other manager wrote through, if any.
    pub subresource: Option<String>,
    /// The field, as Kubernetes prints it: `.spec.suspend`,
    /// `.spec.template.spec.containers[name="pi"].image`.
    pub field: String,
}

impl Conflict {
    /// `printManager`: `"kubectl-client-side-apply" using batch/v1` for an updater, `"kubectl"`
    /// for an applier, with `with subresource "status"` after the name when there is one.
    pub fn manager_description(&self) -> String {
        let mut out = go_quote(&self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {}", go_quote(sub)));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    fn identifier(&self) -> String {
        let operation = match self.operation {
            Operation::Apply => APPLY,
            Operation::Update => UPDATE,
        };
        managed::identifier(
            &self.manager,
            operation,
            &self.api_version,
            self.subresource.as_deref().unwrap_or(""),
        )
    }
}

/// Why an apply was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// 409 Conflict: fields other managers own would change (`NewConflictError`).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// 400 BadRequest: `metadata.managedFields must be nil`, `invalid object type: ...`.
    #[error("{0}")]
    BadRequest(String),
    /// A 500 without a reason, as the apiserver answers errors that are not Status errors:
    /// `failed to create typed patch object (default/pi; batch/v1, Kind=Job): ...`.
    #[error("{0}")]
    Internal(String),
}

impl ApplyError {
    /// The meta/v1 Status the apiserver answers with.
    pub fn status(&self) -> Status {
        let (code, reason, details) = match self {
            ApplyError::Conflicts(c) => (
                409,
                Some("Conflict".to_owned()),
                Some(StatusDetails {
                    causes: Some(conflict_causes(c)),
                    ..Default::default()
                }),
            ),
            ApplyError::BadRequest(_) => (400, Some("BadRequest".to_owned()), None),
            ApplyError::Internal(_) => (500, None, None),
        };
        Status {
            status: Some("Failure".to_owned()),
            code: Some(code),
            reason,
            message: Some(self.to_string()),
            details,
            ..Default::default()
        }
    }
}

/// The Status causes of a conflict error, one per field: reason `FieldManagerConflict`,
/// message `conflict with "mgr" using batch/v1`, field `.spec.suspend`.
pub fn conflict_causes(conflicts: &[Conflict]) -> Vec<StatusCause> {
    conflicts
        .iter()
        .map(|c| StatusCause {
            reason: Some("FieldManagerConflict".to_owned()),
            message: Some(format!("conflict with {}", c.manager_description())),
            field: Some(c.field.clone()),
        })
        .collect()
}

/// `getConflictMessage`: one conflict on one line; several grouped by manager, managers in the
/// order of their identifiers.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager_description(),
            c.field
        );
    }
    let mut by_manager: std::collections::BTreeMap<String, Vec<&Conflict>> = Default::default();
    for c in conflicts {
        by_manager.entry(c.identifier()).or_default().push(c);
    }
    let mut lines = Vec::new();
    for group in by_manager.values() {
        lines.push(format!(
            "conflicts with {}:",
            group[0].manager_description()
        ));
        lines.extend(group.iter().map(|c| format!("- {}", c.field)));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The result of a server-side apply (`FieldManager.Apply`): `config` (the request body,
/// already parsed) merged into `live` (`None` when the object does not exist yet), with the
/// applier's managedFields entry. With `force`, conflicting fields change hands instead.
///
/// As upstream, an apply by `kubectl` may take over fields kubectl client-side-applied: a
/// conflict on a field whose live value is still the one the `last-applied-configuration`
/// annotation records is no conflict, and when the live object carries that annotation it is
/// rewritten to the applied configuration.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    req: &Request,
    force: bool,
) -> Result<Value, ApplyError> {
    let fm = FieldManager::new(req);
    let live_raw = live.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
    let managed = managed::decode(managed_fields(live))
        .map_err(|e| ApplyError::Internal(format!("failed to decode managed fields: {e}")))?;
    fm.check_type(config)?;

    let (mut object, managed) = match fm.apply_once(&live_raw, config, managed.clone(), force) {
        Err(Refusal::Conflicts(conflicts)) if req.manager == KUBECTL => {
            match allowed_by_last_applied(req.kind, live) {
                Some(allowed) => {
                    let remaining: Vec<(String, FieldPath)> = conflicts
                        .iter()
                        .filter(|(_, p)| !allowed.has(p))
                        .cloned()
                        .collect();
                    if remaining.is_empty() {
                        fm.apply_once(&live_raw, config, managed, true)
                    } else {
                        Err(Refusal::Conflicts(remaining))
                    }
                }
                None => Err(Refusal::Conflicts(conflicts)),
            }
        }
        other => other,
    }
    .map_err(|r| r.into_error(&fm))?;

    if req.manager == KUBECTL && last_applied(&object).is_some() {
        set_last_applied(&mut object, &build_last_applied(config));
    }
    strip_nulls(&mut object);
    set_managed_fields(&mut object, &managed);
    Ok(object)
}

/// What every write but apply does to managedFields (`FieldManager.UpdateNoErrors`): the fields
/// that change from `old` (`None` on create) to `new` become `manager`'s, in its `Update`
/// entry, and leave every other manager's set.
///
/// A managedFields the client sent in `new` is kept as the starting point when it decodes (it
/// replaces the stored one); `[]` or `[{}]` clears tracking (on an update, the object then has
/// no managedFields until the next apply); anything that does not decode, or none at all,
/// means the stored entries. On /status the stored entries are always used. If the objects
/// cannot be compared (a list item without its key), `new` gets the stored entries unchanged.
pub fn record_update(old: Option<&Value>, new: &mut Value, req: &Request) {
    let fm = FieldManager::new(req);
    let stored = managed::decode(managed_fields(old)).unwrap_or_default();
    // The write's own entries leave the object here; it is compared and stored without them.
    let sent = take_managed_fields(new);
    let managed = if req.subresource.is_some() {
        stored
    } else if managed::is_reset(sent.as_ref()) {
        Managed::default()
    } else {
        match managed::decode(sent.as_ref()) {
            Ok(m) if !m.fields.is_empty() => m,
            _ => stored,
        }
    };

    // skipNonAppliedManager: an existing object without entries stays untracked until an apply.
    let has_uid = old
        .and_then(|o| o.pointer("/metadata/uid"))
        .and_then(Value::as_str)
        .is_some_and(|u| !u.is_empty());
    if managed.fields.is_empty() && has_uid {
        return;
    }
    // One copy of each object, in the form structured-merge-diff compares.
    let mut old_form = old.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
    schema::materialize_in_place(req.kind, &mut old_form);
    let new_form = fm.materialize(new);
    match fm.record_materialized(&old_form, &new_form, managed, req.manager) {
        Ok(m) => set_managed_fields(new, &m),
        Err(_) => {
            if let Some(entries) = managed_fields(old) {
                set_field(new, entries.clone());
            }
        }
    }
}

/// `IgnoreManagedFieldsTimestampsTransformer`: when a write changes nothing but the times in
/// managedFields, puts the stored times back so the write is a no-op (no resourceVersion bump).
pub fn ignore_managed_fields_timestamps(old: &Value, new: &mut Value) {
    let (Some(Value::Array(old_entries)), Some(Value::Array(new_entries))) =
        (managed_fields(Some(old)), managed_fields(Some(new)))
    else {
        return;
    };
    if old_entries.len() != new_entries.len() || new_entries.is_empty() {
        return;
    }
    let time = |e: &Value| e.get("time").and_then(Value::as_str).map(str::to_owned);
    if old_entries
        .iter()
        .zip(new_entries)
        .all(|(o, n)| time(o) == time(n))
    {
        return;
    }
    let old_times: Vec<Option<Value>> =
        old_entries.iter().map(|e| e.get("time").cloned()).collect();
    if without_times(old) != without_times(new) {
        return;
    }
    if let Some(Value::Array(entries)) = new.pointer_mut("/metadata/managedFields") {
        for (entry, t) in entries.iter_mut().zip(old_times) {
            if let Value::Object(e) = entry {
                match t {
                    Some(t) => {
                        e.insert("time".to_owned(), t);
                    }
                    None => {
                        e.remove("time");
                    }
                }
            }
        }
    }
}

fn without_times(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(Value::Array(entries)) = out.pointer_mut("/metadata/managedFields") {
        for e in entries.iter_mut().filter_map(Value::as_object_mut) {
            e.remove("time");
        }
    }
    out
}

/// Why one pass of an apply stopped.
enum Refusal {
    Conflicts(Vec<(String, FieldPath)>),
    Error(ApplyError),
}

impl Refusal {
    fn into_error(self, fm: &FieldManager) -> ApplyError {
        match self {
            Refusal::Error(e) => e,
            Refusal::Conflicts(conflicts) => ApplyError::Conflicts(
                conflicts
                    .into_iter()
                    .map(|(id, path)| {
                        let who = managed::parse_identifier(&id);
                        Conflict {
                            operation: if who.operation == APPLY {
                                Operation::Apply
                            } else {
                                Operation::Update
                            },
                            manager: who.manager,
                            api_version: if who.api_version.is_empty() {
                                fm.updater.version.clone()
                            } else {
                                who.api_version
                            },
                            subresource: (!who.subresource.is_empty()).then_some(who.subresource),
                            field: path_string(&path),
                        }
                    })
                    .collect(),
            ),
        }
    }
}

/// The field manager of one kind and endpoint (`NewDefaultFieldManager`'s chain).
struct FieldManager<'r> {
    req: &'r Request<'r>,
    updater: Updater<'r>,
}

impl<'r> FieldManager<'r> {
    fn new(req: &'r Request<'r>) -> Self {
        FieldManager {
            req,
            updater: Updater {
                kind: req.kind,
                version: req.kind.api_version(),
                ignored: schema::reset_fields(req.kind, req.subresource),
            },
        }
    }

    fn subresource(&self) -> &str {
        self.req.subresource.unwrap_or("")
    }

    /// `buildManagerInfoManager`.
    fn identifier(&self, manager: &str, operation: &str) -> String {
        let manager = if manager.is_empty() {
            "unknown"
        } else {
            manager
        };
        managed::identifier(
            manager,
            operation,
            &self.updater.version,
            self.subresource(),
        )
    }

    fn materialize(&self, obj: &Value) -> Value {
        schema::materialize(self.req.kind, obj)
    }

    /// `versionCheckManager`: the configuration must be of the endpoint's kind.
    fn check_type(&self, config: &Value) -> Result<(), ApplyError> {
        let text = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or("");
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        if api_version == self.updater.version && kind == self.req.kind.kind {
            return Ok(());
        }
        let (group, version) = match api_version.split_once('/') {
            None => ("", api_version),
            Some((_, v)) if v.contains('/') => ("", ""),
            Some((g, v)) => (g, v),
        };
        Err(ApplyError::BadRequest(format!(
            "invalid object type: {group}/{version}, Kind={kind}"
        )))
    }

    /// The Update chain below the version check: capManagers(buildManagerInfo(
    /// managedFieldsUpdater(stripMeta(structuredMerge)))). `old` and `new` are stored forms.
    fn record(
        &self,
        old: &Value,
        new: &Value,
        managed: Managed,
        manager: &str,
    ) -> Result<Managed, UpdateError> {
        self.record_materialized(
            &self.materialize(old),
            &self.materialize(new),
            managed,
            manager,
        )
    }

    /// [`FieldManager::record`] of objects already in their compared form.
    fn record_materialized(
        &self,
        old: &Value,
        new: &Value,
        mut managed: Managed,
        manager: &str,
    ) -> Result<Managed, UpdateError> {
        let id = self.identifier(manager, UPDATE);
        let mut fields: ManagedFields = std::mem::take(&mut managed.fields);
        self.updater
            .update_write(old, new, &mut fields, CURRENT_OPERATION)?;
        strip_meta(&mut fields, CURRENT_OPERATION);
        if let Some(current) = fields.remove(CURRENT_OPERATION) {
            let set = match fields.get(&id) {
                Some(previous) => current.set.union(&previous.set),
                None => current.set,
            };
            fields.insert(
                id.clone(),
                managed::VersionedSet {
                    set,
                    api_version: current.api_version,
                    applied: current.applied,
                },
            );
            managed.times.insert(id, Some(self.req.now));
        }
        managed.fields = fields;
        managed::cap_update_managers(&mut managed);
        Ok(managed)
    }

    /// The Apply chain below the last-applied handling: skipNonApplied(capManagers(
    /// buildManagerInfo(managedFieldsUpdater(stripMeta(structuredMerge))))).
    fn apply_once(
        &self,
        live: &Value,
        config: &Value,
        mut managed: Managed,
        force: bool,
    ) -> Result<(Value, Managed), Refusal> {
        if managed.fields.is_empty() {
            let empty = Value::Object(Map::new());
            managed = self
                .record(&empty, live, managed, BEFORE_FIRST_APPLY)
                .map_err(|e| {
                    Refusal::Error(ApplyError::Internal(format!(
                        "failed to create manager for existing fields: {}",
                        update_error_text(e)
                    )))
                })?;
        }
        let id = self.identifier(self.req.manager, APPLY);

        if config
            .pointer("/metadata/managedFields")
            .is_some_and(|v| !v.is_null())
        {
            return Err(Refusal::Error(ApplyError::BadRequest(
                "metadata.managedFields must be nil".to_owned(),
            )));
        }
        let errors = typed::validate(self.req.kind, config);
        if !errors.is_empty() {
            let meta = |k: &str| {
                config
                    .pointer(&format!("/metadata/{k}"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            return Err(Refusal::Error(ApplyError::Internal(format!(
                "failed to create typed patch object ({}/{}; {}, Kind={}): {}",
                meta("namespace"),
                meta("name"),
                self.group_version(),
                self.req.kind.kind,
                typed::errors_text(&errors)
            ))));
        }

        let mut fields = std::mem::take(&mut managed.fields);
        let result = self
            .updater
            .apply(
                &self.materialize(live),
                live,
                config,
                &mut fields,
                &id,
                force,
            )
            .map_err(|e| match e {
                UpdateError::Conflicts(c) => Refusal::Conflicts(
                    c.into_iter()
                        .flat_map(|(id, vs)| {
                            vs.set.paths().into_iter().map(move |p| (id.clone(), p))
                        })
                        .collect(),
                ),
                e @ UpdateError::Typed(_) => {
                    Refusal::Error(ApplyError::Internal(update_error_text(e)))
                }
            })?;
        strip_meta(&mut fields, &id);
        managed.fields = fields;
        let object = match result {
            Some(object) => {
                managed.times.insert(id, Some(self.req.now));
                object
            }
            None => live.clone(),
        };
        Ok((object, managed))
    }

    /// `batch/v1` as a GroupVersionKind prints it (`/v1` for the core group).
    fn group_version(&self) -> String {
        format!("{}/{}", self.req.kind.group, self.req.kind.version)
    }
}

fn update_error_text(e: UpdateError) -> String {
    match e {
        UpdateError::Typed(text) => text,
        UpdateError::Conflicts(_) => "conflicts on a forced write".to_owned(),
    }
}

/// `stripMetaManager.stripFields`.
fn strip_meta(fields: &mut ManagedFields, manager: &str) {
    if let Some(vs) = fields.get_mut(manager) {
        vs.set = vs.set.difference(&schema::strip_set());
        if vs.set.is_empty() {
            fields.remove(manager);
        }
    }
}

/// `lastAppliedManager.allowedConflictsFromLastApplied`: the fields of the last-applied
/// configuration whose live values are still the applied ones.
fn allowed_by_last_applied(kind: &Kind, live: Option<&Value>) -> Option<FieldSet> {
    let live = live?;
    let text = last_applied(live)?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        || last.get("apiVersion").and_then(Value::as_str) != Some(kind.api_version().as_str())
        || !typed::validate(kind, &last).is_empty()
    {
        return None;
    }
    let set = typed::to_field_set(kind, &last);
    let live = schema::materialize(kind, &without_managed_fields(live));
    let c = typed::compare(kind, &last, &live).ok()?;
    Some(
        set.difference(&c.modified)
            .difference(&c.added)
            .difference(&c.removed),
    )
}

/// The non-empty last-applied annotation of an object.
fn last_applied(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// `buildLastApplied`: the applied configuration without the annotation itself, as Go's JSON
/// encoder writes it (sorted keys, trailing newline).
fn build_last_applied(config: &Value) -> String {
    let mut c = config.clone();
    if let Some(Value::Object(meta)) = c.get_mut("metadata") {
        match meta.get_mut("annotations") {
            Some(Value::Object(a)) if a.values().all(Value::is_string) => {
                a.remove(LAST_APPLIED_ANNOTATION);
            }
            Some(_) => {
                meta.remove("annotations");
            }
            None => {}
        }
    }
    let mut out = gojson::to_string(&c);
    out.push('\n');
    out
}

/// `SetLastApplied`: dropped instead when the annotations would exceed their size limit.
fn set_last_applied(obj: &mut Value, value: &str) {
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(a) = annotations else {
        return;
    };
    a.insert(LAST_APPLIED_ANNOTATION.to_owned(), Value::from(value));
    let size: usize = a
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
}

fn managed_fields(obj: Option<&Value>) -> Option<&Value> {
    obj?.pointer("/metadata/managedFields")
}

/// A copy of `obj` without `metadata.managedFields`, which is never copied.
fn without_managed_fields(obj: &Value) -> Value {
    let Value::Object(map) = obj else {
        return obj.clone();
    };
    let copy = map
        .iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("metadata", Value::Object(meta)) => Value::Object(
                    meta.iter()
                        .filter(|(k, _)| *k != "managedFields")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    Value::Object(copy)
}

/// Removes `metadata.managedFields` from `obj` and returns it.
fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    match obj.get_mut("metadata") {
        Some(Value::Object(meta)) => meta.remove("managedFields"),
        _ => None,
    }
}

/// `EncodeObjectManagedFields`.
fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    match managed::encode(managed) {
        Some(entries) => set_field(obj, entries),
        None => {
            if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                meta.remove("managedFields");
            }
        }
    }
}

fn set_field(obj: &mut Value, entries: Value) {
    if let Value::Object(o) = obj {
        let meta = o
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert("managedFields".to_owned(), entries);
        }
    }
}

/// Null fields are unset fields once the result is a Go object again.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, child| !child.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
