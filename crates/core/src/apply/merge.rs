//! structured-merge-diff's `merge.Updater`: who owns what after a write, the conflicts an apply
//! meets, and the fields an applier stops applying.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fieldset::FieldSet;
use super::managed::VersionedSet;
use super::typed::{self, Comparison, errors_text};
use crate::object::Kind;

/// The managers' sets, keyed by manager identifier.
pub(crate) type ManagedFields = BTreeMap<String, VersionedSet>;

#[derive(Debug)]
pub(crate) enum UpdateError {
    /// The objects could not be walked (a list item without its keys, a repeated key in the
    /// applied configuration).
    Typed(String),
    /// Fields the write changes that other managers own, per manager.
    Conflicts(ManagedFields),
}

/// The updater for one kind and endpoint.
pub(crate) struct Updater<'k> {
    pub kind: &'k Kind,
    pub version: String,
    /// The reset fields of the endpoint (`IgnoreFilter`): owned by nobody, conflicting never.
    pub ignored: FieldSet,
}

impl Updater<'_> {
    /// `reconcileManagedFieldsWithSchemaChanges`: the schema is fixed, but entries of an API
    /// version the kind is not served at cannot be converted and are dropped.
    fn reconcile(&self, managers: &mut ManagedFields) {
        managers.retain(|_, vs| vs.api_version == self.version);
    }

    /// `Updater.update`: takes the fields `new` changes from every manager but `workflow`,
    /// refusing with the conflicts unless `force`.
    fn update(
        &self,
        old: &Value,
        new: &Value,
        managers: &mut ManagedFields,
        workflow: &str,
        force: bool,
    ) -> Result<Comparison, UpdateError> {
        let compare = typed::compare(self.kind, old, new)
            .map_err(|e| {
                UpdateError::Typed(format!("failed to compare objects: {}", errors_text(&e)))
            })?
            .exclude(&self.ignored);
        let changed = compare.modified.union(&compare.added);
        let mut conflicts = ManagedFields::new();
        for (manager, vs) in managers.iter() {
            if manager == workflow {
                continue;
            }
            let conflict = vs.set.intersection(&changed);
            if !conflict.is_empty() {
                conflicts.insert(
                    manager.clone(),
                    VersionedSet {
                        set: conflict,
                        api_version: vs.api_version.clone(),
                        applied: false,
                    },
                );
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(UpdateError::Conflicts(conflicts));
        }
        for (manager, vs) in managers.iter_mut() {
            if manager == workflow {
                continue;
            }
            if let Some(conflict) = conflicts.get(manager) {
                vs.set = vs.set.difference(&conflict.set);
            }
            if !compare.removed.is_empty() {
                vs.set = vs.set.difference(&compare.removed);
            }
        }
        managers.retain(|_, vs| !vs.set.is_empty());
        Ok(compare)
    }

    /// `Updater.Update`, for every write but apply: `manager` takes what changed from `old` to
    /// `new` (both as Go objects show).
    pub(crate) fn update_write(
        &self,
        old: &Value,
        new: &Value,
        managers: &mut ManagedFields,
        manager: &str,
    ) -> Result<(), UpdateError> {
        self.reconcile(managers);
        let compare = self.update(old, new, managers, manager, true)?;
        let previous = managers
            .remove(manager)
            .map(|vs| vs.set)
            .unwrap_or_default();
        let set = previous
            .difference(&compare.removed)
            .union(&compare.modified)
            .union(&compare.added)
            .recursive_difference(&self.ignored);
        if !set.is_empty() {
            managers.insert(
                manager.to_owned(),
                VersionedSet {
                    set,
                    api_version: self.version.clone(),
                    applied: false,
                },
            );
        }
        Ok(())
    }

    /// `Updater.Apply`: merges `config` into the live object and prunes what `manager` applied
    /// before but no longer does. Ownership is computed on `live` as Go shows it; the same
    /// merge on `live_raw`, the stored form, is what is returned, or `None` when the apply
    /// changes nothing.
    pub(crate) fn apply(
        &self,
        live: &Value,
        live_raw: &Value,
        config: &Value,
        managers: &mut ManagedFields,
        manager: &str,
        force: bool,
    ) -> Result<Option<Value>, UpdateError> {
        self.reconcile(managers);
        let merge = |base: &Value| {
            typed::merge(self.kind, base, config).map_err(|e| {
                UpdateError::Typed(format!("failed to merge config: {}", errors_text(&e)))
            })
        };
        let merged = merge(live)?;
        let merged_raw = merge(live_raw)?;
        let last = managers.get(manager).map(|vs| vs.set.clone());
        let set = typed::to_field_set(self.kind, config).recursive_difference(&self.ignored);
        managers.insert(
            manager.to_owned(),
            VersionedSet {
                set,
                api_version: self.version.clone(),
                applied: true,
            },
        );
        let pruned = self.prune(&merged, managers, last.as_ref());
        let pruned_raw = self.prune(&merged_raw, managers, last.as_ref());
        self.update(live, &pruned, managers, manager, force)?;
        if super::fieldset::values_equal(live, &pruned) {
            return Ok(None);
        }
        Ok(Some(pruned_raw))
    }

    /// `Updater.prune`: removes a field or item the applier applied last time and not this
    /// time, unless some manager (the applier's new configuration included) owns it or
    /// something below it.
    fn prune(&self, merged: &Value, managers: &ManagedFields, last: Option<&FieldSet>) -> Value {
        let Some(last) = last.filter(|l| !l.is_empty()) else {
            return merged.clone();
        };
        let last = last.ensure_named_fields_are_members();
        let pruned = typed::remove_items(self.kind, merged, &last);

        // addBackOwnedItems
        let owned = managers
            .values()
            .fold(FieldSet::new(), |acc, vs| acc.union(&vs.set))
            .ensure_named_fields_are_members();
        let merged_set = typed::to_field_set(self.kind, merged).ensure_named_fields_are_members();
        let pruned_set = typed::to_field_set(self.kind, &pruned).ensure_named_fields_are_members();
        let pruned = typed::remove_items(
            self.kind,
            merged,
            &merged_set.difference(&pruned_set.union(&owned)),
        );

        // addBackDanglingItems
        let pruned_set = typed::to_field_set(self.kind, &pruned).ensure_named_fields_are_members();
        typed::remove_items(
            self.kind,
            merged,
            &merged_set.difference(&pruned_set).intersection(&last),
        )
    }
}
