//! The SQL reads, shared by the writer (its checks) and the read connections.
//!
//! Keys are stored as BLOBs and a prefix becomes the byte range `[prefix, prefix_end)` — etcd's
//! `GetPrefixRangeEnd` — so SQLite compares with memcmp and uses the `(name, id)` index. (A LIKE
//! pattern would treat `_` and `%` in keys as wildcards.)

use rusqlite::{Connection, OptionalExtension, Row};

use crate::continuation::{PageStart, check_readable, finish_page};
use crate::{Error, Event, EventKind, KeyValue, ListResult, Result, Revision};

/// The newest revision in the file and the compaction point, read in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks {
    pub current: Revision,
    pub compacted: Revision,
}

pub(crate) fn marks(conn: &Connection) -> Result<Marks> {
    let (newest, compacted): (Revision, Revision) = conn
        .prepare_cached(
            "SELECT (SELECT IFNULL(MAX(id), 0) FROM kv),
                    (SELECT value FROM meta WHERE name = 'compact_revision')",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    // Compaction may remove the newest row (a tombstone), never the revision it reached.
    Ok(Marks {
        current: newest.max(compacted),
        compacted,
    })
}

/// The latest live version of `key`.
pub(crate) fn latest_live(conn: &Connection, key: &str) -> Result<Option<KeyValue>> {
    let row = conn
        .prepare_cached(
            "SELECT id, create_revision, deleted, value FROM kv
             WHERE name = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([key.as_bytes()], |r| {
            Ok((
                r.get::<_, Revision>(0)?,
                r.get::<_, Revision>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?;
    Ok(row.and_then(|(id, create_revision, deleted, value)| {
        (!deleted).then(|| KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: id,
        })
    }))
}

/// One page of live keys under `prefix` as of the page's revision.
pub(crate) fn list(conn: &Connection, prefix: &str, start: &PageStart) -> Result<ListResult> {
    let marks = marks(conn)?;
    let revision = start.revision.unwrap_or(marks.current);
    check_readable(revision, marks.current, marks.compacted)?;
    let limit = start
        .fetch()
        .and_then(|n| i64::try_from(n).ok())
        .unwrap_or(-1);
    // The inner query finds each key's newest row at or below the revision from the covering
    // index alone; only those rows are then read.
    let mut statement = conn.prepare_cached(
        "SELECT k.id, k.name, k.create_revision, k.value
         FROM (SELECT MAX(id) AS id FROM kv
               WHERE name >= ?1 AND name < ?2 AND id <= ?3 GROUP BY name) AS latest
         JOIN kv AS k ON k.id = latest.id
         WHERE k.deleted = 0
         ORDER BY k.name
         LIMIT ?4",
    )?;
    let rows = statement.query_map(
        rusqlite::params![
            start.from_key.as_bytes(),
            prefix_end(prefix),
            revision,
            limit
        ],
        |r| {
            Ok((
                r.get::<_, Revision>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Revision>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        },
    )?;
    let mut items = Vec::new();
    for row in rows {
        let (id, name, create_revision, value) = row?;
        items.push(KeyValue {
            key: key_of(name)?,
            value,
            create_revision,
            mod_revision: id,
        });
    }
    Ok(finish_page(items, start.limit, revision))
}

/// Up to `limit` events under `prefix` after revision `after`, each with its predecessor.
pub(crate) fn events_after(
    conn: &Connection,
    prefix: &str,
    after: Revision,
    limit: usize,
) -> Result<Vec<Event>> {
    let marks = marks(conn)?;
    if after < marks.compacted {
        return Err(Error::Compacted {
            requested: after,
            compacted: marks.compacted,
        });
    }
    let mut statement = conn.prepare_cached(
        "SELECT k.id, k.name, k.deleted, k.create_revision, k.value,
                p.id, p.create_revision, p.value
         FROM kv AS k LEFT JOIN kv AS p ON p.id = k.prev_revision
         WHERE k.id > ?1 AND k.name >= ?2 AND k.name < ?3
         ORDER BY k.id
         LIMIT ?4",
    )?;
    let rows = statement.query_map(
        rusqlite::params![
            after,
            prefix.as_bytes(),
            prefix_end(prefix),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        read_event,
    )?;
    let mut events = Vec::new();
    for row in rows {
        let (id, name, deleted, create_revision, value, prev) = row?;
        let key = key_of(name)?;
        let prev = prev.map(|(prev_id, prev_create, prev_value)| KeyValue {
            key: key.clone(),
            value: prev_value,
            create_revision: prev_create,
            mod_revision: prev_id,
        });
        let kind = match (deleted, &prev) {
            (true, _) => EventKind::Delete,
            (false, None) => EventKind::Create,
            (false, Some(_)) => EventKind::Update,
        };
        events.push(Event {
            kind,
            kv: KeyValue {
                key,
                value,
                create_revision,
                mod_revision: id,
            },
            prev,
        });
    }
    Ok(events)
}

type EventRow = (
    Revision,
    Vec<u8>,
    bool,
    Revision,
    Vec<u8>,
    Option<(Revision, Revision, Vec<u8>)>,
);

fn read_event(r: &Row<'_>) -> rusqlite::Result<EventRow> {
    let prev = match r.get::<_, Option<Revision>>(5)? {
        Some(prev_id) => Some((prev_id, r.get(6)?, r.get(7)?)),
        None => None,
    };
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, prev))
}

fn key_of(name: Vec<u8>) -> Result<String> {
    String::from_utf8(name).map_err(|e| Error::Corrupt(format!("key is not UTF-8: {e}")))
}

/// The first byte string after every string that starts with `prefix` (etcd's
/// `GetPrefixRangeEnd`). Keys are UTF-8, which never contains 0xff, so `[0xff]` bounds them all.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff]
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(""), vec![0xff]);
        assert_eq!(prefix_end("é"), vec![0xc3, 0xaa]);
    }
}
