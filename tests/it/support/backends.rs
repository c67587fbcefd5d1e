//! One store on each backend, for the suites that hold PostgreSQL's answers against SQLite's
//! (`postgres_platform`, `postgres_connections`): the same calls on both, the outcomes compared.

use std::path::PathBuf;

use xkit_dash::server::seed;
use xkit_dash::server::store::{Store, StoreError, actor};

use super::postgres::fresh_database;

/// A SQLite store in a temporary directory and a PostgreSQL store on a fresh database.
pub struct Backends {
    pub sqlite: Store,
    pub postgres: Store,
    /// The PostgreSQL database's URL, for statements under the store's API.
    pub url: String,
    dir: tempfile::TempDir,
}

impl Backends {
    pub async fn new() -> Backends {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open(&dir.path().join("platform.sqlite3"), 2).unwrap();
        let url = fresh_database().await;
        let postgres = Store::connect_postgres(&url, 4).await.unwrap();
        Backends { sqlite, postgres, url, dir }
    }

    /// Both stores with the bundled demo platform, imported as actor `pk_seed` from one parse
    /// (the same times on both).
    pub async fn with_demo() -> Backends {
        let backends = Backends::new().await;
        let batch = seed::parse(seed::DEMO, "the demo").unwrap();
        for (_, store) in backends.both() {
            let report = actor::acting_as("pk_seed".into(), store.import(batch.clone())).await.unwrap();
            assert_eq!((report.contexts_added, report.connections_added), (68, 356));
        }
        backends
    }

    /// The SQLite database's file, for statements under the store's API.
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("platform.sqlite3")
    }

    pub fn both(&self) -> [(&'static str, &Store); 2] {
        [("sqlite", &self.sqlite), ("postgres", &self.postgres)]
    }
}

/// An error's variant, as the routes map it to a status.
pub fn error_kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::NotFound(_) => "NotFound",
        StoreError::Conflict(_) => "Conflict",
        StoreError::Invalid(_) => "Invalid",
        StoreError::Busy(_) => "Busy",
        StoreError::Unavailable(_) => "Unavailable",
        StoreError::Internal(_) => "Internal",
    }
}
