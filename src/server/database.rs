//! A data directory's database: where it lives, and opening it safely.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::store::Store;
use super::{private_file, tokens};

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
