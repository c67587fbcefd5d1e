//! The store's one error type: what a route can turn into a status code.

/// A failure the routes can turn into a status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// A bounded resource is in use; try again later.
    #[error("{0}")]
    Busy(String),
    /// The database cannot be reached now (PostgreSQL down, restarting, or too slow): retry.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Internal(error.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
