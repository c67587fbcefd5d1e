//! `xkit-dash migrate --from-sqlite DIR --database URL`: moves a data directory's platform into
//! a PostgreSQL database that holds no platform yet.
//!
//! The SQLite database is first brought to the newest schema (as `serve` would), then read in
//! one read transaction (one consistent snapshot), table by table, with the columns both
//! schemas share (`store/postgres/schema.rs` maps the types), by a thread that hands the rows
//! over in chunks as the copy takes them: the memory used stays the same whatever the
//! platform's size. Everything is written in ONE PostgreSQL transaction: the rows with
//! `COPY ... (FORMAT binary)`, the identity
//! sequences moved past the copied ids (and past SQLite's AUTOINCREMENT high-water marks, so a
//! pruned event's seq is never reused), the data directory's signing key into `signing_keys`
//! (context tokens minted before the move stay valid), then every table's count compared with
//! the source's: any difference, or any failure, rolls the whole copy back.
//!
//! The rows are copied as they are, events included, so no trigger may add to them. The
//! `xkit.quiet_rows` and `xkit.counters_paused` settings do not cover every trigger: the
//! administrative events (`key.created`, `origin.added`, `webhook.created`), the outbox queued
//! for every inserted event, its announcement and `status_changed_at` fire regardless, and
//! `session_replication_role` needs a superuser. So the copy runs with `ALTER TABLE ... DISABLE
//! TRIGGER USER` on every table, which needs only ownership (the role that migrated the schema
//! owns it), keeps the foreign keys checked (those triggers are internal), is transactional (the
//! triggers are enabled again before commit, or the rollback restores them) and is never seen
//! by another session: the ACCESS EXCLUSIVE lock it takes keeps every node off the tables until
//! the copy commits, which also makes the emptiness check and the copy one atomic step.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::OpenFlags;
use rusqlite::types::ValueRef;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::database::{database_path, existing_store};
use super::store::{Store, postgres};
use super::{private_file, tokens};
use crate::config::ConfigError;

/// Every table of a platform, in an order that satisfies the foreign keys.
const TABLES: &[&str] = &[
    "meta",
    "platform",
    "api_keys",
    "connectors",
    "contexts",
    "connections",
    "authorizations",
    "refresh_claims",
    "oauth_flows",
    "repair_tokens",
    "sandbox_clients",
    "sandbox_grants",
    "sandbox_codes",
    "sandbox_refresh_tokens",
    "one_time_tokens",
    "web_origins",
    "events",
    "refresh_counts",
    "connector_refresh_counts",
    "health_counts",
    "platform_counts",
    "webhook_endpoints",
    "webhook_outbox",
    "webhook_deliveries",
];

/// The schema bookkeeping each backend keeps for itself (SQLite's own `sqlite_*` tables, such
/// as `sqlite_sequence` and `ANALYZE`'s statistics, are not copied either).
const NOT_COPIED: &[&str] = &["schema_migrations"];

/// Tables a new PostgreSQL database already has rows in (the default platform, the zero
/// counters, a node's settings): they are replaced by the source's rows.
const REPLACED: &[&str] = &["meta", "platform", "platform_counts"];

/// What `migrate --from-sqlite` prints (`--json`).
#[derive(Serialize)]
struct Report {
    source: String,
    database: String,
    tables: Vec<TableCount>,
    signing_key: bool,
}

#[derive(Serialize)]
struct TableCount {
    table: &'static str,
    rows: usize,
}

/// Rows handed from the reader to the copy at once, and chunks read ahead of the copy.
const CHUNK_ROWS: usize = 1_000;
const CHUNKS_AHEAD: usize = 4;

/// What the reader hands over, table after table, in [`TABLES`]' order.
enum Read {
    /// A table begins: the columns copied, with their PostgreSQL types.
    Table {
        name: &'static str,
        columns: Vec<(String, Type)>,
    },
    Rows(Vec<Vec<Cell>>),
    /// The table ended after `rows` rows; `high_water` is the highest id SQLite's
    /// AUTOINCREMENT ever handed out in it (pruned rows included).
    End {
        rows: usize,
        high_water: i64,
    },
}

/// What the reader meets when the copy has stopped (and says why itself).
#[derive(Debug, thiserror::Error)]
#[error("the copy stopped")]
struct CopyStopped;

/// A table as copied.
struct Copied {
    name: &'static str,
    rows: usize,
    high_water: i64,
}

/// One value, converted to its PostgreSQL column's type.
enum Cell {
    Int(Option<i64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    Bytes(Option<Vec<u8>>),
    Json(Option<serde_json::Value>),
    Text(Option<String>),
}

impl Cell {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Int(value) => value,
            Cell::Bool(value) => value,
            Cell::Time(value) => value,
            Cell::Bytes(value) => value,
            Cell::Json(value) => value,
            Cell::Text(value) => value,
        }
    }
}

/// Copies the platform of the data directory `source` into the database at `url`.
pub async fn run(source: &Path, url: &SecretString, json: bool) -> Result<()> {
    let url_text = url.expose_secret();
    let dir = source.to_owned();
    // As `Store::open` would: the newest SQLite schema (a backup of an older one is kept).
    tokio::task::spawn_blocking(move || existing_store(&dir).map(drop)).await??;
    // The newest PostgreSQL schema, and its default rows.
    drop(Store::connect_postgres(url_text, 1).await?);
    let (mut client, _driver) = postgres::single_connection(url_text).await?;
    client.batch_execute("SET statement_timeout = 0").await?;
    let columns = target_columns(&client).await?;
    let signing_key = read_signing_key(source)?;
    let database = postgres::redacted(url_text);

    let (sender, mut reads) = mpsc::channel(CHUNKS_AHEAD);
    let dir = source.to_owned();
    let reader = tokio::task::spawn_blocking(move || read_source(&dir, &columns, &sender));
    let copied = copy(&mut client, &mut reads, signing_key.as_ref(), &database).await;
    drop(reads);
    let copied = match reader.await? {
        // The reader failed (a value with no place in PostgreSQL): the copy, rolled back, ran
        // out of rows because of it.
        Err(error) if !error.is::<CopyStopped>() => return Err(error),
        _ => copied?,
    };

    let report = Report {
        source: source.display().to_string(),
        database,
        tables: copied.iter().map(|table| TableCount { table: table.name, rows: table.rows }).collect(),
        signing_key: signing_key.is_some(),
    };
    print_report(&report, json)
}

/// The columns of every table of the PostgreSQL schema, in order, with their types.
async fn target_columns(client: &tokio_postgres::Client) -> Result<BTreeMap<String, Vec<(String, Type)>>> {
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
            &[],
        )
        .await?;
    let mut columns: BTreeMap<String, Vec<(String, Type)>> = BTreeMap::new();
    for row in rows {
        let (table, column, data_type): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let kind = match data_type.as_str() {
            "bigint" => Type::INT8,
            "boolean" => Type::BOOL,
            "timestamp with time zone" => Type::TIMESTAMPTZ,
            "bytea" => Type::BYTEA,
            "jsonb" => Type::JSONB,
            "text" => Type::TEXT,
            other => bail!("the PostgreSQL column {table}.{column} has a type the copy does not know: {other}"),
        };
        columns.entry(table).or_default().push((column, kind));
    }
    Ok(columns)
}

/// Reads every table of the SQLite database in `dir`, in one read transaction, handing the
/// rows to `copy` as it goes; stops when the copy stops taking them.
fn read_source(dir: &Path, target: &BTreeMap<String, Vec<(String, Type)>>, copy: &mpsc::Sender<Read>) -> Result<()> {
    let path = database_path(dir);
    let db = rusqlite::Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", path.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    db.execute_batch("BEGIN")?;
    let mut names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let names: Vec<String> = names.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    let copied_or_skipped =
        |name: &str| TABLES.contains(&name) || NOT_COPIED.contains(&name) || name.starts_with("sqlite_");
    if let Some(unknown) = names.iter().find(|name| !copied_or_skipped(name)) {
        bail!("{} has a table this xkit-dash does not know how to copy: {unknown}", path.display());
    }
    let autoincrement = names.iter().any(|name| name == "sqlite_sequence");
    for table in TABLES {
        read_table(&db, table, target, autoincrement, copy)?;
    }
    Ok(())
}

fn read_table(
    db: &rusqlite::Connection,
    table: &'static str,
    target: &BTreeMap<String, Vec<(String, Type)>>,
    autoincrement: bool,
    copy: &mpsc::Sender<Read>,
) -> Result<()> {
    let hand_over = |read: Read| copy.blocking_send(read).map_err(|_| anyhow::Error::new(CopyStopped));
    let target = target.get(table).with_context(|| format!("the PostgreSQL schema has no table {table}"))?;
    let mut info = db.prepare(&format!("PRAGMA table_info({table})"))?;
    let source: Vec<String> = info.query_map([], |row| row.get(1))?.collect::<rusqlite::Result<_>>()?;
    if let Some(missing) = source.iter().find(|column| !target.iter().any(|(name, _)| name == *column)) {
        bail!("the SQLite column {table}.{missing} has no place in the PostgreSQL schema");
    }
    let columns: Vec<(String, Type)> = target.iter().filter(|(name, _)| source.contains(name)).cloned().collect();
    let list = columns.iter().map(|(name, _)| format!("\"{name}\"")).collect::<Vec<_>>().join(", ");
    // The schema version is each backend's own (PostgreSQL's is in `schema_migrations`).
    let only = if table == "meta" { " WHERE key <> 'schema_version'" } else { "" };
    let mut select = db.prepare(&format!("SELECT {list} FROM {table}{only}"))?;
    let mut cursor = select.query([])?;
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    let mut rows = 0;
    let kinds = columns.clone();
    hand_over(Read::Table { name: table, columns })?;
    while let Some(row) = cursor.next()? {
        let cells = kinds
            .iter()
            .enumerate()
            .map(|(index, (name, kind))| {
                cell(row.get_ref(index)?, kind).with_context(|| format!("cannot copy a value of {table}.{name}"))
            })
            .collect::<Result<Vec<_>>>()?;
        chunk.push(cells);
        rows += 1;
        if chunk.len() == CHUNK_ROWS {
            hand_over(Read::Rows(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS))))?;
        }
    }
    if !chunk.is_empty() {
        hand_over(Read::Rows(chunk))?;
    }
    let high_water = if autoincrement {
        db.query_row("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?1", [table], |row| row.get(0))?
    } else {
        0
    };
    hand_over(Read::End { rows, high_water })
}

/// A SQLite value as the PostgreSQL type of its column (`postgres/schema.rs`'s table).
fn cell(value: ValueRef<'_>, kind: &Type) -> Result<Cell> {
    let text = |value: ValueRef<'_>| -> Result<Option<String>> {
        Ok(match value {
            ValueRef::Null => None,
            ValueRef::Text(bytes) => Some(std::str::from_utf8(bytes)?.to_owned()),
            ValueRef::Integer(number) => Some(number.to_string()),
            ValueRef::Real(number) => Some(number.to_string()),
            ValueRef::Blob(_) => bail!("a blob where text was expected"),
        })
    };
    Ok(match *kind {
        Type::INT8 => Cell::Int(match value {
            ValueRef::Null => None,
            ValueRef::Integer(number) => Some(number),
            _ => bail!("not an integer"),
        }),
        Type::BOOL => Cell::Bool(match value {
            ValueRef::Null => None,
            ValueRef::Integer(number) => Some(number != 0),
            _ => bail!("not a 0 or 1 flag"),
        }),
        Type::TIMESTAMPTZ => Cell::Time(match text(value)? {
            None => None,
            Some(time) => {
                Some(DateTime::parse_from_rfc3339(&time).context("not an RFC 3339 time")?.with_timezone(&Utc))
            }
        }),
        Type::BYTEA => Cell::Bytes(match value {
            ValueRef::Null => None,
            ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            _ => bail!("not a blob"),
        }),
        Type::JSONB => Cell::Json(match text(value)? {
            None => None,
            Some(json) => Some(serde_json::from_str(&json).context("not JSON")?),
        }),
        _ => Cell::Text(text(value)?),
    })
}

/// The data directory's context-token signing key, if it has one.
fn read_signing_key(dir: &Path) -> Result<Option<secrecy::SecretSlice<u8>>> {
    let path = dir.join(tokens::KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(secrecy::SecretSlice::from(private_file::read(&path)?)))
}

/// Writes what `reads` hands over (and the signing key) in one transaction, refusing a database
/// that holds a platform already; rolled back on any failure, any count that differs, or reads
/// that end before the last table.
async fn copy(
    client: &mut tokio_postgres::Client,
    reads: &mut mpsc::Receiver<Read>,
    signing_key: Option<&secrecy::SecretSlice<u8>>,
    database: &str,
) -> Result<Vec<Copied>> {
    let tx = client.transaction().await?;
    for table in TABLES.iter().chain(&["signing_keys"]) {
        tx.batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await.with_context(|| {
            format!("cannot turn the triggers of {table} off for the copy (the role must own the tables it migrated)")
        })?;
    }
    for table in TABLES.iter().filter(|table| !REPLACED.contains(table)).chain(&["signing_keys"]) {
        let holds: bool = tx.query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[]).await?.get(0);
        if holds {
            return Err(ConfigError(format!(
                "{database} already holds a platform (its table {table} has rows): --from-sqlite copies only into a \
                 database without one; nothing was written"
            ))
            .into());
        }
    }
    for table in REPLACED {
        tx.batch_execute(&format!("DELETE FROM {table}")).await?;
    }
    let mut copied = Vec::new();
    while let Some(Read::Table { name, columns }) = reads.recv().await {
        let table =
            copy_table(&tx, name, &columns, reads).await.with_context(|| format!("cannot copy the table {name}"))?;
        copied.push(table);
    }
    if copied.len() != TABLES.len() {
        bail!("the SQLite database was not read to its end: the copy was rolled back");
    }
    move_identities(&tx, &copied).await?;
    if let Some(key) = signing_key {
        // The key of the platform's slug, which the nodes look up to sign and verify.
        tx.execute(
            "INSERT INTO signing_keys (platform_slug, key, created_at) SELECT slug, $1, now() FROM platform",
            &[&key.expose_secret()],
        )
        .await?;
    }
    for table in &copied {
        let rows: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {}", table.name), &[]).await?.get(0);
        if rows != table.rows as i64 {
            bail!(
                "the table {} has {rows} rows in {database} but {} in the source: the copy was rolled back",
                table.name,
                table.rows
            );
        }
    }
    for table in TABLES.iter().chain(&["signing_keys"]) {
        tx.batch_execute(&format!("ALTER TABLE {table} ENABLE TRIGGER USER")).await?;
    }
    tx.commit().await?;
    Ok(copied)
}

/// Copies the rows of the table `name` that `reads` hands over, up to the table's end.
async fn copy_table(
    tx: &tokio_postgres::Transaction<'_>,
    name: &'static str,
    columns: &[(String, Type)],
    reads: &mut mpsc::Receiver<Read>,
) -> Result<Copied> {
    let list = columns.iter().map(|(column, _)| format!("\"{column}\"")).collect::<Vec<_>>().join(", ");
    let sink = tx.copy_in(&format!("COPY {name} ({list}) FROM STDIN (FORMAT binary)")).await?;
    let types: Vec<Type> = columns.iter().map(|(_, kind)| kind.clone()).collect();
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures::pin_mut!(writer);
    loop {
        match reads.recv().await {
            Some(Read::Rows(rows)) => {
                for row in &rows {
                    let values: Vec<&(dyn ToSql + Sync)> = row.iter().map(Cell::as_sql).collect();
                    writer.as_mut().write(&values).await?;
                }
            }
            Some(Read::End { rows, high_water }) => {
                writer.finish().await?;
                return Ok(Copied { name, rows, high_water });
            }
            Some(Read::Table { .. }) | None => bail!("the table's rows ended early"),
        }
    }
}

/// Moves every identity sequence past the copied ids and SQLite's high-water marks, so that
/// the next row of each table gets an id neither backend has given.
async fn move_identities(tx: &tokio_postgres::Transaction<'_>, tables: &[Copied]) -> Result<()> {
    let identities = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
            &[],
        )
        .await?;
    for identity in identities {
        let (table, column): (String, String) = (identity.get(0), identity.get(1));
        let high_water = tables.iter().find(|source| source.name == table).map_or(0, |source| source.high_water);
        let copied: i64 =
            tx.query_one(&format!("SELECT COALESCE(MAX(\"{column}\"), 0) FROM {table}"), &[]).await?.get(0);
        let last = copied.max(high_water);
        let sequence = format!("{table}.{column}");
        if last > 0 {
            tx.execute("SELECT setval(pg_get_serial_sequence($1, $2), $3, true)", &[&table, &column, &last]).await
        } else {
            tx.execute("SELECT setval(pg_get_serial_sequence($1, $2), 1, false)", &[&table, &column]).await
        }
        .with_context(|| format!("cannot move the sequence of {sequence}"))?;
    }
    Ok(())
}

fn print_report(report: &Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    println!("copied the platform of {} into {}:", report.source, report.database);
    println!("{:<26}  {:>9}", "TABLE", "ROWS");
    for table in &report.tables {
        println!("{:<26}  {:>9}", table.table, table.rows);
    }
    if report.signing_key {
        println!("signing key: copied (context tokens minted before the move stay valid)");
    } else {
        println!("signing key: none in {} (the nodes make one)", report.source);
    }
    Ok(())
}
