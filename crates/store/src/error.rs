//! Store errors: each says what is wrong in words a person can act on.

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NotFound(String),
    #[error("domain {0} is not served here: add it with `estafeta domain add {0}`")]
    DomainNotServed(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// The mailbox owner's quota would be exceeded.
    #[error("{0}")]
    OverQuota(String),
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// SQLite through rusqlite (the body readers).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("password hashing failed: {0}")]
    Password(String),
}

impl StoreError {
    /// True when the database refused a row because its key already exists.
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        match err {
            sqlx::Error::Database(db) => {
                matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
            }
            _ => false,
        }
    }
}
