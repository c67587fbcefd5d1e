//! `xkit-dash migrate`: a data directory's schema version, and bringing it to this binary's.
//! (`serve` and the data-directory commands migrate too when they open the database; this
//! command does it, or only shows what it would do, without starting anything.)

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::database::{database_path, existing_store};
use super::store::NewerSchema;
use super::store::migrations::{self, SchemaStatus};

pub const EXAMPLES: &str = "\
Examples:
  xkit-dash migrate --status --data-dir ./platform     the schema version and the pending steps
  xkit-dash migrate --status --json | jq .pending
  xkit-dash migrate --data-dir ./platform              run them now (a backup is taken first)

Exits with 3 if the database was written by a newer xkit-dash (nothing is changed).";

/// `xkit-dash migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Show the schema version and the steps still to run; change nothing.
    #[arg(long)]
    pub status: bool,
    /// With --status: one JSON object (`database`, `version`, `latest`, `pending`).
    #[arg(long, requires = "status")]
    pub json: bool,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    database: &'a Path,
    version: i64,
    latest: i64,
    pending: Vec<PendingJson>,
}

#[derive(Serialize)]
struct PendingJson {
    version: i64,
    name: &'static str,
}

/// Runs `args` on the database of `data_dir`.
pub fn run(args: &MigrateArgs, data_dir: &Path) -> Result<()> {
    let database = database_path(data_dir);
    let before = migrations::status(&database)?;
    if args.status {
        print_status(&database, &before, args.json)?;
    } else if before.version <= before.latest {
        existing_store(data_dir)?;
        print_migrated(&database, &before);
    }
    if before.version > before.latest {
        return Err(NewerSchema { found: before.version, known: before.latest }.into());
    }
    Ok(())
}

fn print_status(database: &Path, status: &SchemaStatus, json: bool) -> Result<()> {
    if json {
        let pending = status.pending.iter().map(|&(version, name)| PendingJson { version, name }).collect();
        let json = StatusJson { database, version: status.version, latest: status.latest, pending };
        println!("{}", serde_json::to_string(&json)?);
        return Ok(());
    }
    println!("database: {}", database.display());
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

fn print_migrated(database: &Path, before: &SchemaStatus) {
    if before.pending.is_empty() {
        println!("{} is at schema {}: nothing to do", database.display(), before.version);
        return;
    }
    println!("{} migrated from schema {} to {}", database.display(), before.version, before.latest);
    if let Some(backup) = migrations::newest_backup(database, before.version) {
        println!("the database as it was is in {}", backup.display());
    }
}
