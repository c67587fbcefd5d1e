//! Versioned schema migrations as an operator meets them, with the real binary: a database
//! from before versioned migrations is backed up and brought to the newest schema by `serve`
//! (and shown by `migrate --status`); a database written by a newer xkit-dash is refused by
//! `serve` and every data-directory command with exit 3, and nothing is written to it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::server::ServeProcess;
use xkit_dash::server::database_path;
use xkit_dash::server::store::migrations::LATEST_VERSION;

/// A data directory as the last commit before versioned migrations left it: its schema, schema
/// version 1 in `meta`, and a context.
fn legacy_data_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let db = rusqlite::Connection::open(database_path(dir)).unwrap();
    db.execute_batch(include_str!("../../src/server/store/legacy_schemas/eb9344a.sql")).unwrap();
    db.execute_batch(
        "INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('counted', '1');
         INSERT INTO platform (id, name, slug) VALUES (1, 'Legacy Co', 'legacy');
         INSERT INTO platform_counts (id, contexts) VALUES (1, 1);
         INSERT INTO contexts (id, external_id, created_at, updated_at) VALUES (1, 'kept', 't', 't');",
    )
    .unwrap();
    std::fs::set_permissions(database_path(dir), std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn recorded_version(database: &Path) -> i64 {
    let db = rusqlite::Connection::open(database).unwrap();
    db.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0)).unwrap()
}

fn backups(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".backup"))
        .collect();
    found.sort();
    found
}

/// Issue 14, item 2: `migrate --status` shows the pending steps without writing; `serve` backs
/// the database up (0600, named with the old version, said in its log) and migrates it; its
/// data is kept, and the next start has nothing to do.
#[test]
fn serve_backs_up_and_migrates_a_database_from_before_versioned_migrations() {
    let home = Home::new();
    let data = home.dir.path().join("platform");
    legacy_data_dir(&data);
    let database = database_path(&data);
    let before = std::fs::read(&database).unwrap();

    let data_arg = data.to_str().unwrap();
    let status = home.command(&["migrate", "--status", "--data-dir", data_arg]).output().unwrap();
    assert_eq!(exit_code(&status), 0, "{}", stderr(&status));
    let text = stdout(&status);
    assert!(text.contains(&format!("schema:   1 (this xkit-dash knows up to {LATEST_VERSION})")), "{text}");
    assert!(text.contains(&format!("pending:  {} steps", LATEST_VERSION - 1)), "{text}");
    assert!(text.contains("refresh claims"), "each pending step is named: {text}");
    assert_eq!(std::fs::read(&database).unwrap(), before, "--status writes nothing");
    let json = home.command(&["migrate", "--status", "--json", "--data-dir", data_arg]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["pending"].as_array().unwrap().len() as i64, LATEST_VERSION - 1);

    let server = ServeProcess::start(&data, &[]);
    let log = server.stderr();
    server.kill();
    let [backup] = backups(&data).try_into().unwrap_or_else(|found| panic!("one backup: {found:?}"));
    let backup_name = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(backup_name.starts_with("platform.sqlite3.schema-1."), "{backup_name}");
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(
        log.contains(&format!("migrating the database from schema 1 to {LATEST_VERSION}"))
            && log.contains(&backup_name),
        "the log says so: {log}"
    );
    assert_eq!(recorded_version(&database), LATEST_VERSION);
    let kept: String = rusqlite::Connection::open(&database)
        .unwrap()
        .query_row("SELECT external_id FROM contexts", [], |row| row.get(0))
        .unwrap();
    assert_eq!(kept, "kept");
    let old: String = rusqlite::Connection::open(&backup)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0))
        .unwrap();
    assert_eq!(old, "1", "the backup is the database as it was");

    let status = home.command(&["migrate", "--status", "--data-dir", data_arg]).output().unwrap();
    assert!(stdout(&status).contains("pending:  none"), "{}", stdout(&status));
    drop(ServeProcess::start(&data, &[]));
    assert_eq!(backups(&data).len(), 1, "a start with nothing to migrate copies nothing");
}

/// Issue 14, item 2: a database written by a newer xkit-dash is refused, with what to do, by
/// `serve`, `migrate` and the data-directory commands (exit 3), and left byte for byte as it was.
#[test]
fn a_database_from_a_newer_xkit_dash_is_refused_untouched_by_every_command() {
    let home = Home::new();
    let data = home.dir.path().join("platform");
    let data_arg = data.to_str().unwrap();
    let created = home.command(&["keys", "create", "--data-dir", data_arg]).output().unwrap();
    assert_eq!(exit_code(&created), 0, "{}", stderr(&created));
    let database = database_path(&data);
    let newer = LATEST_VERSION + 1;
    rusqlite::Connection::open(&database)
        .unwrap()
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'from the future', 't')",
            [newer],
        )
        .unwrap();
    let before = std::fs::read(&database).unwrap();
    let expected = format!(
        "this database was written by a newer xkit-dash (schema {newer}, this binary knows up to {LATEST_VERSION}); \
         upgrade xkit-dash or restore a backup"
    );

    let commands: [&[&str]; 7] = [
        &["serve", "--addr", "127.0.0.1:0", "--data-dir", data_arg],
        &["keys", "list", "--data-dir", data_arg],
        &["keys", "create", "--data-dir", data_arg],
        &["origins", "add", "https://app.example.com", "--data-dir", data_arg],
        &["webhooks", "list", "--data-dir", data_arg],
        &["migrate", "--data-dir", data_arg],
        &["migrate", "--status", "--data-dir", data_arg],
    ];
    for args in commands {
        let output = home.command(args).output().unwrap();
        assert_eq!(exit_code(&output), 3, "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(&expected), "{args:?}: {}", stderr(&output));
        assert_eq!(std::fs::read(&database).unwrap(), before, "{args:?} wrote to the database");
    }
    assert!(backups(&data).is_empty());
}
