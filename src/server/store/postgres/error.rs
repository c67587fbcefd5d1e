//! PostgreSQL's failures as the store's one error type: the database unreachable (refused,
//! closed, shutting down, the pool's wait or a statement timed out) is `Unavailable` (503, try
//! again), a unique violation `Conflict`, a deadlock or serialization failure `Busy` (503), a NUL
//! character in a value `Invalid` (400), anything else `Internal`.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::super::error::StoreError;

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if let Some(code) = error.code() {
            if *code == SqlState::UNIQUE_VIOLATION {
                let message = error.as_db_error().map_or_else(|| error.to_string(), |db| db.message().to_owned());
                return StoreError::Conflict(message);
            }
            if *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE {
                return StoreError::Busy("the database was busy with a concurrent change; try again".into());
            }
            // PostgreSQL's text cannot hold a NUL character (SQLite's can): a value with one names
            // nothing stored, and is the request's fault, not the server's.
            if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE {
                return StoreError::Invalid("a value holds a NUL character, which is not allowed".into());
            }
            if unavailable_code(code) {
                return StoreError::Unavailable(error.to_string());
            }
            return StoreError::Internal(error.into());
        }
        if error.is_closed() || has_io_source(&error) || error.to_string().contains("timeout") {
            return StoreError::Unavailable(error.to_string());
        }
        StoreError::Internal(error.into())
    }
}

impl From<PoolError> for StoreError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Backend(error) => error.into(),
            PoolError::Timeout(_) | PoolError::Closed => StoreError::Unavailable(error.to_string()),
            PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => StoreError::Internal(error.into()),
        }
    }
}

/// Codes of a server that cannot answer now: connection exceptions (class 08), shutting down or
/// starting (57P01-57P03), too many connections, and a statement cancelled by its timeout.
fn unavailable_code(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::QUERY_CANCELED,
        ]
        .contains(code)
}

/// A socket error somewhere in the chain: the database refused or dropped the connection.
fn has_io_source(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}
