//! `xkit-dash migrate`: a platform's schema version, and bringing it to this binary's, on a
//! data directory (SQLite) or a PostgreSQL database; and `--from-sqlite`, which moves a data
//! directory's platform into PostgreSQL (`migrate_postgres.rs`). (`serve` and the
//! data-directory commands migrate too when they open the database; this command does it, or
//! only shows what it would do, without starting anything.)

use std::path::PathBuf;

use anyhow::Result;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use super::database::{PlatformArgs, PlatformLocation, database_path, existing_store};
use super::migrate_postgres;
use super::store::migrations::{self, SchemaStatus};
use super::store::{NewerSchema, Store, postgres};

pub const EXAMPLES: &str = "\
Examples:
  xkit-dash migrate --status --data-dir ./platform     the schema version and the pending steps
  xkit-dash migrate --status --json | jq .pending
  xkit-dash migrate --data-dir ./platform              run them now (a backup is taken first)
  xkit-dash migrate --status --database postgres://xkit@db/xkit
  xkit-dash migrate --from-sqlite ./platform --database postgres://xkit@db/xkit
                                                       move a data directory's platform into PostgreSQL

Exits with 3 if the database was written by a newer xkit-dash (nothing is changed).";

/// `xkit-dash migrate`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("reports").args(["status", "from_sqlite"]).multiple(true)))]
pub struct MigrateArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Show the schema version and the steps still to run; change nothing.
    #[arg(long)]
    pub status: bool,
    /// With --status: one JSON object (`database`, `version`, `latest`, `pending`); with
    /// --from-sqlite: the copied rows per table.
    #[arg(long, requires = "reports")]
    pub json: bool,
    /// Copy the platform of this data directory (every table, its events and its signing key)
    /// into --database, which must hold no platform yet; one transaction, counts verified.
    #[arg(long, value_name = "DIR", requires = "database", conflicts_with = "status")]
    pub from_sqlite: Option<PathBuf>,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    database: &'a str,
    version: i64,
    latest: i64,
    pending: Vec<PendingJson>,
}

#[derive(Serialize)]
struct PendingJson {
    version: i64,
    name: &'static str,
}

/// Runs `args`.
pub async fn run(args: &MigrateArgs) -> Result<()> {
    if let (Some(source), Some(url)) = (&args.from_sqlite, &args.platform.database) {
        return migrate_postgres::run(source, url, args.json).await;
    }
    let location = args.platform.location()?;
    let before = match &location {
        PlatformLocation::DataDir(dir) => {
            let database = database_path(dir);
            tokio::task::spawn_blocking(move || migrations::status(&database)).await??
        }
        PlatformLocation::Postgres(url) => postgres::schema_status(url.expose_secret()).await?,
    };
    if args.status {
        print_status(&location, &before, args.json)?;
    } else if before.version <= before.latest {
        match &location {
            PlatformLocation::DataDir(dir) => migrate_sqlite(dir.clone(), &before).await?,
            PlatformLocation::Postgres(url) => migrate_postgres(url, &location, &before).await?,
        }
    }
    if before.version > before.latest {
        return Err(NewerSchema { found: before.version, known: before.latest }.into());
    }
    Ok(())
}

async fn migrate_sqlite(dir: PathBuf, before: &SchemaStatus) -> Result<()> {
    let database = database_path(&dir);
    tokio::task::spawn_blocking(move || existing_store(&dir)).await??;
    if before.pending.is_empty() {
        println!("{} is at schema {}: nothing to do", database.display(), before.version);
        return Ok(());
    }
    println!("{} migrated from schema {} to {}", database.display(), before.version, before.latest);
    if let Some(backup) = migrations::newest_backup(&database, before.version) {
        println!("the database as it was is in {}", backup.display());
    }
    Ok(())
}

/// PostgreSQL: connecting runs the pending steps (each in a transaction of its own; take a
/// `pg_dump` first to keep the database as it was).
async fn migrate_postgres(url: &SecretString, location: &PlatformLocation, before: &SchemaStatus) -> Result<()> {
    Store::connect_postgres(url.expose_secret(), 1).await?;
    let database = location.describe();
    if before.pending.is_empty() {
        println!("{database} is at schema {}: nothing to do", before.version);
    } else {
        println!("{database} migrated from schema {} to {}", before.version, before.latest);
    }
    Ok(())
}

fn print_status(location: &PlatformLocation, status: &SchemaStatus, json: bool) -> Result<()> {
    let database = match location {
        PlatformLocation::DataDir(dir) => database_path(dir).display().to_string(),
        PlatformLocation::Postgres(_) => location.describe(),
    };
    if json {
        let pending = status.pending.iter().map(|&(version, name)| PendingJson { version, name }).collect();
        let json = StatusJson { database: &database, version: status.version, latest: status.latest, pending };
        println!("{}", serde_json::to_string(&json)?);
        return Ok(());
    }
    println!("database: {database}");
    match status.version {
        0 => println!("schema:   none yet (no platform here; `serve` creates it)"),
        version => println!("schema:   {version} (this xkit-dash knows up to {})", status.latest),
    }
    if status.pending.is_empty() {
        println!("pending:  none");
    } else {
        println!("pending:  {} steps, run by `xkit-dash migrate` or the next `serve`:", status.pending.len());
        for (version, name) in &status.pending {
            println!("  {version:>3}  {name}");
        }
    }
    Ok(())
}
