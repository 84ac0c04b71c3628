//! The SQLite file: its schema, the pragmas that make a commit durable, and the checks that refuse
//! a file that is not ours.
//!
//! The model is kine's: one append-only table `kv` whose integer primary key *is* the revision.
//! Each write appends a row naming the key, the revision of the row it supersedes
//! (`prev_revision`, 0 for a create) and the incarnation's `create_revision`; a delete appends a
//! tombstone (`deleted = 1`). Unlike kine there is no `old_value` column: a row's predecessor is
//! kept as long as the row itself (see the compaction rule in `writer.rs`), so watch events get
//! their previous value by joining on `prev_revision`. The compaction point lives in `meta`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{Error, Result};

/// The store's file inside the data directory.
pub(crate) const FILE_NAME: &str = "kbatch.db";

/// `PRAGMA application_id` of a kbatch store ("kbst"), so a foreign SQLite file is recognised.
const APPLICATION_ID: i64 = 0x6b62_7374;

/// `PRAGMA user_version`: the layout below. A file with another version is refused, not guessed.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE kv (
    id              INTEGER PRIMARY KEY,
    name            BLOB    NOT NULL,
    deleted         INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
-- Latest version of a key (get, the writer's checks) and per-key scans at a revision (list).
CREATE UNIQUE INDEX kv_name_id ON kv (name, id);
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('compact_revision', 0);
";

/// Opens (creating if needed) the store file for the writer: checks that it is a kbatch store,
/// creates the schema in a new file, and sets WAL with synchronous=FULL, so that a commit returns
/// only after the WAL is fsynced.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    let incompatible = |reason: String| Error::Incompatible {
        path: path.to_owned(),
        reason,
    };
    let (application_id, user_version, objects) = identify(&conn)
        .map_err(|e| incompatible(format!("cannot read it as an SQLite database ({e})")))?;
    let journal: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(incompatible(format!(
            "cannot switch it to WAL mode (journal mode is {journal})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    match (application_id, objects) {
        (0, 0) => create(&conn)?,
        (APPLICATION_ID, _) if user_version == SCHEMA_VERSION => {}
        (APPLICATION_ID, _) => {
            return Err(incompatible(format!(
                "schema version {user_version}, this kbatch reads version {SCHEMA_VERSION}"
            )));
        }
        _ => {
            return Err(incompatible(format!(
                "an SQLite database of another application (application_id {application_id:#x})"
            )));
        }
    }
    Ok(conn)
}

/// Opens a connection for readers; the writer has created and checked the file already.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    Ok(conn)
}

/// application_id, user_version and the number of schema objects.
fn identify(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    let application_id = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let user_version = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let objects = conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
    Ok((application_id, user_version, objects))
}

fn create(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         {SCHEMA}
         PRAGMA application_id = {APPLICATION_ID};
         PRAGMA user_version = {SCHEMA_VERSION};
         COMMIT;"
    ))?;
    Ok(())
}
