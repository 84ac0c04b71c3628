//! The write operations and the rules that decide them, shared by every embedded backend so that
//! SQLite and memory cannot drift apart. This mirrors kine's `LogStructured` Create/Update/Delete:
//! a write reads the key's latest version, checks it, and appends one row at the next revision.

use crate::{Error, Event, EventKind, KeyValue, Result, Revision};

/// A write as queued to a backend's writer.
#[derive(Debug)]
pub(crate) enum Op {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Create { key, .. } | Op::Update { key, .. } | Op::Delete { key, .. } => key,
        }
    }

    /// Decides the write against the key's latest live version (`None` when absent or deleted)
    /// and, if allowed, returns the event it appends at `revision`.
    pub fn apply(self, live: Option<KeyValue>, revision: Revision) -> Result<Event> {
        match (self, live) {
            (Op::Create { key, .. }, Some(_)) => Err(Error::AlreadyExists { key }),
            (Op::Create { key, value }, None) => Ok(Event {
                kind: EventKind::Create,
                kv: KeyValue {
                    key,
                    value,
                    create_revision: revision,
                    mod_revision: revision,
                },
                prev: None,
            }),
            (Op::Update { key, .. } | Op::Delete { key, .. }, None) => Err(Error::NotFound { key }),
            (
                Op::Update { key, expected, .. }
                | Op::Delete {
                    key,
                    expected: Some(expected),
                },
                Some(prev),
            ) if prev.mod_revision != expected => Err(Error::Conflict {
                key,
                expected,
                actual: prev.mod_revision,
            }),
            (Op::Update { key, value, .. }, Some(prev)) => Ok(Event {
                kind: EventKind::Update,
                kv: KeyValue {
                    key,
                    value,
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                },
                prev: Some(prev),
            }),
            (Op::Delete { key, .. }, Some(prev)) => Ok(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    value: Vec::new(),
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                },
                prev: Some(prev),
            }),
        }
    }
}

/// Rejects keys no backend can store meaningfully.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey {
            key: key.to_owned(),
            reason: "keys must not be empty",
        });
    }
    Ok(())
}

/// Turns a writer's answer into what [`crate::Store::create`]/`update` return.
pub(crate) fn revision_of(event: Result<Event>) -> Result<Revision> {
    event.map(|e| e.kv.mod_revision)
}

/// Turns a writer's answer into what [`crate::Store::delete`] returns.
pub(crate) fn deleted_of(event: Result<Event>) -> Result<crate::Deleted> {
    let event = event?;
    let prev = event
        .prev
        .ok_or_else(|| Error::Corrupt("delete event without a previous version".to_owned()))?;
    Ok(crate::Deleted {
        revision: event.kv.mod_revision,
        prev,
    })
}
