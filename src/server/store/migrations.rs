//! Brings a database to the newest schema version: the steps of `schema::MIGRATIONS` it has not
//! run, each in its own transaction, recorded in `schema_migrations` (version, name, when).
//!
//! A database newer than this binary knows is refused before anything is written to it; an
//! existing database is copied beside itself (`VACUUM INTO`, 0600) before its first step runs.
//! Databases made before versioned migrations have no `schema_migrations` table and say
//! `meta.schema_version = 1` whatever they hold; the steps they may already hold are idempotent
//! (see `schema.rs`).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rusqlite::{Connection as Db, OpenFlags, OptionalExtension as _, TransactionBehavior};

use super::schema::{self, MIGRATIONS};

/// The newest schema version this binary knows.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
);";

/// A database written by a newer xkit-dash: this binary would misread it, so it is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewerSchema {
    pub found: i64,
    pub known: i64,
}

impl fmt::Display for NewerSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this database was written by a newer xkit-dash (schema {}, this binary knows up to {}); upgrade \
             xkit-dash or restore a backup",
            self.found, self.known
        )
    }
}

impl std::error::Error for NewerSchema {}

/// Where a database stands: its version and the steps this binary would run on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// 0 for a database that does not exist yet.
    pub version: i64,
    pub latest: i64,
    /// `(version, name)` of each step still to run, oldest first.
    pub pending: Vec<(i64, &'static str)>,
}

/// The status of the database at `path`, read without writing anything (nor creating it).
pub fn status(path: &Path) -> anyhow::Result<SchemaStatus> {
    let version = match open_read_only(path)? {
        Some(db) => recorded_version(&db)?,
        None => 0,
    };
    let pending = MIGRATIONS.iter().filter(|step| step.version > version).map(|step| (step.version, step.name));
    Ok(SchemaStatus { version, latest: LATEST_VERSION, pending: pending.collect() })
}

/// Refuses a database newer than this binary, before the store opens it for writing.
pub(super) fn refuse_newer(path: &Path) -> anyhow::Result<()> {
    let Some(db) = open_read_only(path)? else { return Ok(()) };
    check_known(recorded_version(&db)?).with_context(|| path.display().to_string())
}

fn check_known(version: i64) -> Result<(), NewerSchema> {
    if version > LATEST_VERSION { Err(NewerSchema { found: version, known: LATEST_VERSION }) } else { Ok(()) }
}

/// A read-only connection to an existing, non-empty database; `None` when there is none yet.
fn open_read_only(path: &Path) -> anyhow::Result<Option<Db>> {
    if !std::fs::metadata(path).is_ok_and(|metadata| metadata.len() > 0) {
        return Ok(None);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let db = Db::open_with_flags(path, flags).with_context(|| format!("cannot open database {}", path.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(Some(db))
}

/// The version a database records: the newest step in `schema_migrations`; for a database from
/// before versioned migrations, its `meta.schema_version` (1); 0 for an empty one.
fn recorded_version(db: &Db) -> rusqlite::Result<i64> {
    if table_exists(db, "schema_migrations")? {
        return db.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0));
    }
    if !table_exists(db, "meta")? {
        return Ok(0);
    }
    let recorded: Option<String> =
        db.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0)).optional()?;
    Ok(recorded.and_then(|value| value.parse().ok()).unwrap_or(1))
}

fn table_exists(db: &Db, name: &str) -> rusqlite::Result<bool> {
    db.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)", [name], |row| {
        row.get(0)
    })
}

/// Runs every step `db` (the database at `path`) has not run, backing an existing database up
/// first. Another process migrating the same database at once is waited for, not repeated.
pub(super) fn migrate(db: &mut Db, path: &Path) -> anyhow::Result<()> {
    // Without an fsync per step: a step lost to a power cut is run again at the next open (each
    // is atomic and recorded with its changes), and the first acknowledged write after it
    // syncs the log with every step in it.
    let synchronous: i64 = db.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
    db.execute_batch("PRAGMA synchronous = NORMAL")?;
    let migrated = migrate_to(db, path, LATEST_VERSION);
    db.execute_batch(&format!("PRAGMA synchronous = {synchronous}"))?;
    migrated
}

/// [`migrate`] up to version `target` only.
fn migrate_to(db: &mut Db, path: &Path, target: i64) -> anyhow::Result<()> {
    let current = recorded_version(db)?;
    check_known(current).with_context(|| path.display().to_string())?;
    if current >= target {
        return Ok(());
    }
    let mut backed_up = current == 0;
    for step in MIGRATIONS.iter().filter(|step| step.version <= target) {
        // The write lock first, then the version: another process migrating at the same time
        // is waited for (up to the busy timeout), and its steps are not run twice.
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = recorded_version(&tx)?;
        check_known(version).with_context(|| path.display().to_string())?;
        if version >= step.version {
            continue;
        }
        // A new database has nothing to back up; an existing one is copied once, unless another
        // process has begun migrating it meanwhile (that process took the copy).
        if !backed_up {
            if version == current {
                // Copied while this transaction holds the write lock: the copy is exactly the
                // database the first step changes.
                let backup = back_up(path, version)?;
                tracing::info!(
                    backup = %backup.display(),
                    "migrating the database from schema {version} to {target}; the database before it is copied to \
                     the backup"
                );
            }
            backed_up = true;
        }
        tx.execute_batch(BOOKKEEPING)?;
        if version > 0 && !any_step_recorded(&tx)? {
            // A database from before versioned migrations: its first version is recorded as it
            // is adopted, and the `meta` key that stood for it goes.
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![version, MIGRATIONS[version as usize - 1].name, now()],
            )?;
            tx.execute("DELETE FROM meta WHERE key = 'schema_version'", [])?;
        }
        schema::add_missing_columns(&tx, step)
            .and_then(|()| tx.execute_batch(step.sql))
            .and_then(|()| step.then.map_or(Ok(()), |then| then(&tx)))
            .with_context(|| format!("cannot migrate the database to schema {} ({})", step.version, step.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![step.version, step.name, now()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

const BACKUP_SUFFIX: &str = ".backup";

/// The start of the names of the backups taken before migrating `database` from `version`.
fn backup_prefix(database: &Path, version: i64) -> String {
    let name = database.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{name}.schema-{version}.")
}

/// The newest backup taken before migrating `database` from `version`, if there is one.
pub fn newest_backup(database: &Path, version: i64) -> Option<PathBuf> {
    let prefix = backup_prefix(database, version);
    std::fs::read_dir(database.parent()?)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name().is_some_and(|file| {
                let file = file.to_string_lossy();
                file.starts_with(&prefix) && file.ends_with(BACKUP_SUFFIX)
            })
        })
        .max()
}

/// A database in memory at the newest schema, for tests of statements and their query plans.
#[cfg(test)]
pub(super) fn in_memory() -> Db {
    let mut db = Db::open_in_memory().expect("an in-memory database");
    migrate(&mut db, Path::new(":memory:")).expect("a new database migrates");
    db
}

fn any_step_recorded(db: &Db) -> rusqlite::Result<bool> {
    db.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations)", [], |row| row.get(0))
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Copies the database at `path`, as committed, beside it: `platform.sqlite3.schema-1.
/// 20261129T090512Z.backup`, 0600 like the database. Restoring it is copying it back over the
/// database with the older xkit-dash.
fn back_up(path: &Path, version: i64) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let backup = path.with_file_name(format!("{}{stamp}{BACKUP_SUFFIX}", backup_prefix(path, version)));
    // VACUUM INTO writes into an empty file as it finds it, so the copy is private from the start.
    // (A name taken means a copy of this version from this very second by a migration that
    // failed before its first step: refused rather than trusted, as it may be partial.)
    crate::server::private_file::write_new(&backup, &[])?;
    // A connection of its own: the writer holds the write lock, and VACUUM INTO reads outside
    // any transaction of its connection.
    let db = open_read_only(path)?.context("the database to back up is gone")?;
    let target = backup.to_str().context("the backup's path is not UTF-8")?;
    db.execute("VACUUM INTO ?1", [target]).with_context(|| format!("cannot back the database up to {target}"))?;
    // On disk before the first step commits, whatever SQLite's own syncing of the copy.
    std::fs::File::open(&backup).and_then(|file| file.sync_all()).with_context(|| format!("cannot sync {target}"))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::server::store::Store;

    /// What a schema is, whatever order its statements ran in: every table's columns (by name:
    /// an added column comes last, a legacy table may hold it earlier), foreign keys, indexes
    /// (the implicit ones of UNIQUE included) and rowid kind, and every index's and trigger's
    /// statement.
    fn fingerprint(db: &Db) -> Vec<String> {
        let rows = |sql: &str, name: &str| -> Vec<String> {
            let mut statement = db.prepare(sql).unwrap();
            let count = statement.column_count();
            statement
                .query_map([name], |row| {
                    (0..count)
                        .map(|i| {
                            row.get::<_, rusqlite::types::Value>(i).map(|value| match value {
                                rusqlite::types::Value::Text(text) => text,
                                rusqlite::types::Value::Integer(number) => number.to_string(),
                                other => format!("{other:?}"),
                            })
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|values| values.join(" "))
                })
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap()
        };
        let normalized = |sql: &str| sql.replace("IF NOT EXISTS ", "").split_whitespace().collect::<Vec<_>>().join(" ");
        let objects = db
            .prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name")
            .unwrap()
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        let mut print = Vec::new();
        for (kind, name, sql) in objects {
            if kind != "table" {
                print.push(format!("{kind} {name}: {}", normalized(&sql)));
                continue;
            }
            let flags = ["WITHOUT ROWID", "AUTOINCREMENT"].into_iter().filter(|flag| sql.contains(flag));
            print.push(format!("table {name} {}", flags.collect::<Vec<_>>().join(" ")));
            let columns =
                "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY name";
            print.extend(rows(columns, &name).into_iter().map(|column| format!("  column {column}")));
            let keys = "SELECT \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY \"from\"";
            print.extend(rows(keys, &name).into_iter().map(|key| format!("  foreign key {key}")));
            let indexes = "SELECT \"unique\", origin, partial, (SELECT group_concat(name) FROM pragma_index_info(il.name)) \
                           FROM pragma_index_list(?1) il ORDER BY 4, 2";
            print.extend(rows(indexes, &name).into_iter().map(|index| format!("  index {index}")));
        }
        print
    }

    fn fingerprint_of(path: &Path) -> Vec<String> {
        fingerprint(&Db::open(path).unwrap())
    }

    fn fresh(dir: &Path) -> Vec<String> {
        let path = dir.join("fresh.sqlite3");
        drop(Store::open(&path, 1).unwrap());
        fingerprint_of(&path)
    }

    fn recorded_steps(path: &Path) -> Vec<i64> {
        Db::open(path)
            .unwrap()
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn backups(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().ends_with(".backup"))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn the_steps_are_numbered_one_after_another() {
        for (index, step) in MIGRATIONS.iter().enumerate() {
            assert_eq!(step.version, index as i64 + 1, "{}", step.name);
        }
    }

    /// The schemas of databases made before versioned migrations (each said schema 1), as the
    /// first release, an early commit (events without `actor`), the counters' commit and the
    /// last commit before this one left them, with a connection in each: every one opens at the
    /// newest version with the schema of a new database, its data kept and counted, its
    /// version recorded, and a private copy of it as it was beside it.
    #[tokio::test]
    async fn databases_from_before_versioned_migrations_end_with_the_schema_of_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let expected = fresh(dir.path());
        let legacy = [
            ("first-release", schema::MIGRATIONS[0].sql),
            ("1495c92", include_str!("legacy_schemas/1495c92.sql")),
            ("9ae5d00", include_str!("legacy_schemas/9ae5d00.sql")),
            ("eb9344a", include_str!("legacy_schemas/eb9344a.sql")),
        ];
        for (commit, sql) in legacy {
            let home = dir.path().join(commit);
            std::fs::create_dir(&home).unwrap();
            let path = home.join("platform.sqlite3");
            let db = Db::open(&path).unwrap();
            db.execute_batch(sql).unwrap();
            db.execute_batch(
                "INSERT INTO meta (key, value) VALUES ('schema_version', '1');
                 INSERT INTO platform (id, name, slug) VALUES (1, 'Old', 'old');
                 INSERT INTO contexts (id, external_id, created_at, updated_at) VALUES (1, 'u1', 't', 't');
                 INSERT INTO connectors (slug, name) VALUES ('crm', 'CRM');
                 INSERT INTO connections (seq, id, context_id, connector_slug, enabled, health, created_at, updated_at)
                     VALUES (1, 'c1', 1, 'crm', 1, 0, 't', 't');
                 INSERT INTO authorizations (connection_seq, status, updated_at) VALUES (1, 'active', '2026-01-02T00:00:00Z');",
            )
            .unwrap();
            drop(db);

            let store = Store::open(&path, 1).unwrap();
            assert_eq!(store.stats().await.unwrap().connections, 1, "{commit}: counted");
            assert_eq!(store.platform().await.unwrap().name, "Old", "{commit}: data kept");
            drop(store);
            assert_eq!(fingerprint_of(&path), expected, "{commit}: the schema of a new database");
            assert_eq!(recorded_steps(&path), (1..=LATEST_VERSION).collect::<Vec<_>>(), "{commit}");
            assert_eq!(status(&path).unwrap().pending, vec![], "{commit}");

            let [backup] = backups(&home).try_into().unwrap_or_else(|found| panic!("{commit}: one backup: {found:?}"));
            assert!(backup.to_string_lossy().contains("platform.sqlite3.schema-1."), "{}", backup.display());
            assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
            let copy = Db::open(&backup).unwrap();
            assert_eq!(recorded_version(&copy).unwrap(), 1, "{commit}: the backup is the database as it was");
            // Opening again runs nothing and copies nothing.
            drop(Store::open(&path, 1).unwrap());
            assert_eq!(backups(&home).len(), 1, "{commit}");
        }
    }

    /// Two processes opening the same old database at once: both open it, each step runs once,
    /// and one copy is taken.
    #[test]
    fn two_openers_at_once_migrate_once_with_one_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.sqlite3");
        let db = Db::open(&path).unwrap();
        db.execute_batch(schema::MIGRATIONS[0].sql).unwrap();
        db.execute_batch("INSERT INTO meta (key, value) VALUES ('schema_version', '1')").unwrap();
        drop(db);
        let openers: Vec<_> = (0..2)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Store::open(&path, 1).map(drop))
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
        assert_eq!(recorded_steps(&path), (1..=LATEST_VERSION).collect::<Vec<_>>());
        assert_eq!(backups(dir.path()).len(), 1, "{:?}", backups(dir.path()));
    }

    /// A database at each recorded version (as this binary's steps leave it, stopped there)
    /// opens at the newest version with the schema of a new database.
    #[test]
    fn a_database_at_every_recorded_version_ends_with_the_schema_of_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let expected = fresh(dir.path());
        for version in 1..LATEST_VERSION {
            let path = dir.path().join(format!("v{version}.sqlite3"));
            migrate_to(&mut Db::open(&path).unwrap(), &path, version).unwrap();
            assert_eq!(status(&path).unwrap().version, version);
            drop(Store::open(&path, 1).unwrap());
            assert_eq!(fingerprint_of(&path), expected, "from schema {version}");
            assert_eq!(recorded_steps(&path), (1..=LATEST_VERSION).collect::<Vec<_>>());
        }
    }

    /// Schema 12 fills `status_changed_at` from the latest status event (else the last update);
    /// later status changes keep it current.
    #[test]
    fn status_changed_at_is_backfilled_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.sqlite3");
        let mut db = Db::open(&path).unwrap();
        migrate_to(&mut db, &path, 11).unwrap();
        db.execute_batch(
            "INSERT INTO contexts (id, external_id, created_at, updated_at) VALUES (1, 'u1', 't', 't');
             INSERT INTO connectors (slug, name) VALUES ('crm', 'CRM');
             INSERT INTO connections (seq, id, context_id, connector_slug, enabled, health, created_at, updated_at)
                 VALUES (1, 'c1', 1, 'crm', 1, 0, 't', 't'), (2, 'c2', 1, 'crm', 1, 0, 't', 't');
             INSERT INTO authorizations (connection_seq, status, updated_at) VALUES
                 (1, 'error', '2026-01-02T00:00:00Z'), (2, 'active', '2026-01-03T00:00:00Z');
             INSERT INTO events (id, event_type, occurred_at, connection_id, payload)
                 VALUES ('e1', 'connection.error', '2026-01-01T12:00:00Z', 'c1', '{}');",
        )
        .unwrap();
        migrate(&mut db, &path).unwrap();
        let changed_at = |seq: i64| -> String {
            db.query_row("SELECT status_changed_at FROM authorizations WHERE connection_seq = ?1", [seq], |row| {
                row.get(0)
            })
            .unwrap()
        };
        assert_eq!(changed_at(1), "2026-01-01T12:00:00Z", "from the history");
        assert_eq!(changed_at(2), "2026-01-03T00:00:00Z", "from the last update");
        db.execute_batch("UPDATE authorizations SET updated_at = 'x' WHERE connection_seq = 1").unwrap();
        assert_eq!(changed_at(1), "2026-01-01T12:00:00Z", "no status change, no new time");
        db.execute_batch("UPDATE authorizations SET status = 'active' WHERE connection_seq = 1").unwrap();
        let now = chrono::Utc::now().format("%Y-%m-%dT%H").to_string();
        assert!(changed_at(1).starts_with(&now), "a status change sets it to now: {}", changed_at(1));
    }

    /// A database a newer binary wrote is refused, and its file is left byte for byte as it was.
    #[test]
    fn a_newer_database_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.sqlite3");
        drop(Store::open(&path, 1).unwrap());
        let newer = LATEST_VERSION + 1;
        Db::open(&path)
            .unwrap()
            .execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', 't')", [newer])
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let error = Store::open(&path, 1).err().expect("refused");
        assert_eq!(
            error.downcast_ref::<NewerSchema>(),
            Some(&NewerSchema { found: newer, known: LATEST_VERSION }),
            "{error:#}"
        );
        assert!(format!("{error:#}").contains("upgrade xkit-dash or restore a backup"), "{error:#}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(backups(dir.path()).is_empty());
        assert_eq!(status(&path).unwrap().version, newer);
    }

    /// A new database needs no backup, and `status` creates nothing.
    #[test]
    fn a_new_database_is_created_at_the_newest_version_without_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.sqlite3");
        let pending = status(&path).unwrap();
        assert_eq!((pending.version, pending.pending.len() as i64), (0, LATEST_VERSION));
        assert!(!path.exists(), "status creates nothing");
        drop(Store::open(&path, 1).unwrap());
        assert_eq!(
            status(&path).unwrap(),
            SchemaStatus { version: LATEST_VERSION, latest: LATEST_VERSION, pending: vec![] }
        );
        assert!(backups(dir.path()).is_empty());
    }
}
