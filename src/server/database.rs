//! Where a platform lives (a data directory's SQLite database, or a PostgreSQL database), and
//! opening it safely: the one place `serve` and every data-directory command (`keys`, `origins`,
//! `webhooks`, `migrate`) ask.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use secrecy::{ExposeSecret as _, SecretString};
use tokio_util::task::AbortOnDropHandle;

use super::store::{Store, postgres};
use super::{private_file, seed, tokens};
use crate::config::Paths;

/// Where a platform lives.
#[derive(Clone)]
pub enum PlatformLocation {
    /// SQLite in a data directory (with the signing key file beside it).
    DataDir(PathBuf),
    /// A PostgreSQL database, shared by every node; its URL may hold a password.
    Postgres(SecretString),
}

impl std::fmt::Debug for PlatformLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `--data-dir DIR` or `--database URL`: flattened into every data-directory command, so that
/// each names its platform the same way.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PlatformArgs {
    /// The bundled server's data directory (default: the data directory of `xkit-dash info`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The platform's PostgreSQL database (`postgres://user:password@host/db`) instead of a
    /// data directory.
    #[arg(long, value_name = "URL", env = DATABASE_URL_ENV, hide_env_values = true, conflicts_with = "data_dir",
          value_parser = database_url)]
    pub database: Option<SecretString>,
}

/// The environment variable `--database` falls back to.
pub const DATABASE_URL_ENV: &str = "XKIT_DATABASE_URL";

/// `--database`'s value, kept secret from the moment it is parsed (it may hold a password).
pub fn database_url(text: &str) -> Result<SecretString, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(text.to_owned()))
}

impl PlatformArgs {
    /// The database if one is named, else the data directory (the default one if none is).
    pub fn location(&self) -> Result<PlatformLocation> {
        match &self.database {
            Some(url) => Ok(PlatformLocation::Postgres(url.clone())),
            None => Ok(PlatformLocation::DataDir(data_dir_or_default(self.data_dir.clone())?)),
        }
    }
}

impl PlatformLocation {
    /// The directory, or the database URL with its password hidden: for messages and logs.
    pub fn describe(&self) -> String {
        match self {
            Self::DataDir(dir) => dir.display().to_string(),
            Self::Postgres(url) => postgres::redacted(url.expose_secret()),
        }
    }

    /// The flag naming this platform again, for the hints commands print.
    pub fn flag(&self) -> String {
        match self {
            Self::DataDir(dir) => format!("--data-dir {}", dir.display()),
            // Never the URL itself: it holds the password, and a redacted one is no command to copy.
            Self::Postgres(_) => "--database URL".to_owned(),
        }
    }

    /// Opens the platform's store, creating (and migrating) it if needed: SQLite with
    /// `connections` read connections, PostgreSQL with a pool of `connections`.
    pub async fn open(&self, connections: usize) -> Result<Store> {
        match self {
            Self::DataDir(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || open_store(&dir, connections)).await?
            }
            Self::Postgres(url) => Store::connect_postgres(url.expose_secret(), connections).await,
        }
    }

    /// The store of a platform that must exist already: listing or revoking keys never
    /// creates a data directory (a PostgreSQL database is migrated if it needs to be).
    pub async fn existing(&self) -> Result<Store> {
        match self {
            Self::DataDir(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || existing_store(&dir)).await?
            }
            Self::Postgres(_) => self.open(1).await,
        }
    }

    /// Loads the bundled demo (`demo`) and a seed file into the platform at startup.
    ///
    /// SQLite: the demo into an empty platform, the seed file always (it updates the platform
    /// and connectors and adds what is absent). PostgreSQL: both only into an empty platform,
    /// since every node of a platform starts with the same flags; and under a session advisory
    /// lock (the import alone is one transaction, but the emptiness check before it is not), so
    /// that nodes starting at once on an empty database seed it once: the others wait for the
    /// lock, then find the platform seeded.
    pub(super) async fn seed(&self, store: &Store, demo: bool, seed_file: Option<&Path>) -> Result<()> {
        if !demo && seed_file.is_none() {
            return Ok(());
        }
        let _lock = self.seeding_lock().await?;
        let empty = store.is_empty().await?;
        if matches!(self, Self::Postgres(_)) && !empty {
            tracing::info!("the platform's database is not empty: --demo and --seed left it as it is");
            return Ok(());
        }
        if demo && empty {
            let report = store.import(seed::parse(seed::DEMO, "the bundled demo platform")?).await?;
            tracing::info!(?report, "seeded the demo platform");
        }
        if let Some(path) = seed_file {
            let text = tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("cannot read the seed file {}", path.display()))?;
            let report = store.import(seed::parse(&text, &path.display().to_string())?).await?;
            tracing::info!(?report, path = %path.display(), "loaded the seed file");
        }
        Ok(())
    }

    /// On PostgreSQL, a connection of its own holding the seeding lock until it is dropped (or
    /// the process dies); nothing on SQLite, whose one server owns its directory.
    async fn seeding_lock(&self) -> Result<Option<(tokio_postgres::Client, AbortOnDropHandle<()>)>> {
        /// The session advisory lock of seeding (beside the store's own, `0x786b_6974_000N`).
        const SEEDING_LOCK: i64 = 0x786b_6974_0010;
        let Self::Postgres(url) = self else { return Ok(None) };
        let (client, driver) = postgres::single_connection(url.expose_secret()).await?;
        client.batch_execute("SET statement_timeout = 0").await?;
        client.execute("SELECT pg_advisory_lock($1)", &[&SEEDING_LOCK]).await?;
        Ok(Some((client, driver)))
    }
}

/// `--data-dir`, else the bundled server's directory under the data directory.
pub(super) fn data_dir_or_default(data_dir: Option<PathBuf>) -> Result<PathBuf> {
    match data_dir {
        Some(dir) => Ok(dir),
        None => Ok(Paths::discover()?.server_data_dir()),
    }
}

/// The SQLite database of a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("platform.sqlite3")
}

/// Opens the store of a data directory, creating both if needed. Refuses a database that was
/// emptied under a platform's signing key: starting on it would silently be a new, empty
/// platform where every key and context of the old one is gone.
pub(super) fn open_store(data_dir: &Path, readers: usize) -> Result<Store> {
    private_file::create_private_dir(data_dir)?;
    if let Some(warning) = private_file::exposed_dir_warning(data_dir) {
        tracing::warn!("{warning}");
    }
    let database = database_path(data_dir);
    let emptied = std::fs::metadata(&database).is_ok_and(|metadata| metadata.len() == 0);
    let signing_key = data_dir.join(tokens::KEY_FILE);
    if emptied && signing_key.exists() {
        anyhow::bail!(
            "{} is empty (0 bytes) but {} holds the signing key of an existing platform: the database was \
             truncated or replaced. Check that --data-dir names the right directory and restore the database \
             from a backup; to start a new, empty platform there on purpose, delete the database file first",
            database.display(),
            signing_key.display()
        );
    }
    Store::open(&database, readers)
}

/// The store of a data directory that must already hold a platform (listing or revoking keys
/// never creates one).
pub(super) fn existing_store(data_dir: &Path) -> Result<Store> {
    anyhow::ensure!(
        database_path(data_dir).exists(),
        "no platform in {} (no {}); pass the server's --data-dir",
        data_dir.display(),
        database_path(data_dir).display()
    );
    open_store(data_dir, 1)
}

/// Runs `future` to completion on a runtime of its own, on a thread of its own, so that a
/// blocking caller gets its answer whether or not it runs inside a tokio runtime already
/// (where blocking on another runtime would panic).
pub(super) fn block_on_own_thread<F>(future: F) -> Result<F::Output>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                Ok(runtime.block_on(future))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the store's thread panicked"))?
    })
}
