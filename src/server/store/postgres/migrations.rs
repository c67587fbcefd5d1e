//! Brings a PostgreSQL database to the newest schema version: the steps of
//! `postgres::schema::MIGRATIONS` it has not run, each in its own transaction, recorded in
//! `schema_migrations` (version, name, when).
//!
//! The whole run holds a session advisory lock, so nodes starting at once on one database
//! migrate it once: the others wait, then find nothing to do. A database newer than this binary
//! is refused with SQLite's error (`store::migrations::NewerSchema`) before anything is written.

use anyhow::Context as _;
use tokio_postgres::Client;

use super::super::migrations::{NewerSchema, SchemaStatus};
use super::schema::MIGRATIONS;

/// The newest PostgreSQL schema version this binary knows (not SQLite's numbering).
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// The session advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x786b_6974_0002;

const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);";

/// Runs every step the database has not run; the versions it ran (none when another node had
/// already migrated). `client` is a connection of its own: the lock is its session's.
pub async fn migrate(client: &mut Client) -> anyhow::Result<Vec<i64>> {
    // A long step must not be cut by the pool's statement timeout, nor the wait for the lock.
    client.batch_execute("SET statement_timeout = 0").await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let migrated = run_steps(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    let applied = migrated?;
    unlocked?;
    Ok(applied)
}

async fn run_steps(client: &mut Client) -> anyhow::Result<Vec<i64>> {
    client.batch_execute(BOOKKEEPING).await?;
    let current = recorded_version(client).await?;
    check_known(current)?;
    let mut applied = Vec::new();
    for step in MIGRATIONS.iter().filter(|step| step.version > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(&(step.sql)())
            .await
            .with_context(|| format!("cannot migrate the database to schema {} ({})", step.version, step.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())",
            &[&step.version, &step.name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = step.version, name = step.name, "migrated the PostgreSQL database");
        applied.push(step.version);
    }
    Ok(applied)
}

/// Where the database stands, read without writing anything: for `migrate --status`.
pub async fn status(client: &Client) -> anyhow::Result<SchemaStatus> {
    let version = recorded_version(client).await?;
    let pending = MIGRATIONS.iter().filter(|step| step.version > version).map(|step| (step.version, step.name));
    Ok(SchemaStatus { version, latest: LATEST_VERSION, pending: pending.collect() })
}

/// The newest step recorded; 0 for a database without `schema_migrations`.
async fn recorded_version(client: &Client) -> anyhow::Result<i64> {
    let bookkept: bool = client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[]).await?.get(0);
    if !bookkept {
        return Ok(0);
    }
    Ok(client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0))
}

fn check_known(version: i64) -> Result<(), NewerSchema> {
    if version > LATEST_VERSION { Err(NewerSchema { found: version, known: LATEST_VERSION }) } else { Ok(()) }
}
