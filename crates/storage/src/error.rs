//! Storage errors, and the two questions services ask of a database error.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong in the storage mechanism outside a caller's own queries.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The settings cannot work (bad schema name, zero pool size, ...).
    #[error("invalid database settings: {0}")]
    InvalidSettings(String),
    /// The database could not be reached, or no pooled connection was free in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] DieselError),
    /// Migrations could not be run.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl StorageError {
    /// True when the database is unreachable or the pool timed out (answer 503 / back off),
    /// as opposed to a query or constraint error.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Unavailable(_) => true,
            StorageError::Query(err) => is_unavailable(err),
            StorageError::InvalidSettings(_) | StorageError::Migration(_) => false,
        }
    }
}

/// True when the error means the database is unreachable or the pool timed out, as opposed
/// to a query or constraint error.
pub fn is_unavailable(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | DieselError::BrokenTransactionManager => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            is_operator_intervention(info.message())
        }
        _ => false,
    }
}

/// The server ended or refused the session (SQLSTATE class 57P: a restart, a failover,
/// `pg_terminate_backend`, start-up or shut-down in progress). diesel-async keeps only
/// the message of these errors, not their code, so they are known by their (server
/// default, English) text.
fn is_operator_intervention(message: &str) -> bool {
    const MESSAGES: [&str; 3] = [
        "terminating connection",
        "the database system is",
        "canceling statement due to conflict with recovery",
    ];
    MESSAGES.iter().any(|m| message.starts_with(m))
}

/// Name of the violated constraint for a unique, foreign-key, check or exclusion violation.
pub fn violated_constraint(err: &DieselError) -> Option<&str> {
    match err {
        DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation
            | DatabaseErrorKind::ForeignKeyViolation
            | DatabaseErrorKind::CheckViolation
            | DatabaseErrorKind::ExclusionViolation,
            info,
        ) => info.constraint_name(),
        _ => None,
    }
}

/// Pool failures reach callers as a diesel error, so service code handles one error type;
/// the kind chosen is one that [`is_unavailable`] recognises.
pub(crate) fn unavailable(reason: impl std::fmt::Display) -> DieselError {
    DieselError::DatabaseError(
        DatabaseErrorKind::ClosedConnection,
        Box::new(format!("database unavailable: {reason}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_failures_count_as_unavailable() {
        assert!(is_unavailable(&unavailable("timed out")));
        assert!(StorageError::Query(unavailable("timed out")).is_unavailable());
        assert!(!is_unavailable(&DieselError::NotFound));
        assert!(!StorageError::Migration("x".into()).is_unavailable());
    }
}
