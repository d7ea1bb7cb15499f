//! The two error layers below HTTP: what a store can say (`StoreError`) and what the
//! lifecycle means (`Error`). The server maps `Error` to a status once, in `ApiError`.

/// What a storage backend can report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint or a compare-and-set failed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or is overloaded; retrying later may work.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reported.
    #[error("storage error: {0}")]
    Backend(String),
}

/// The domain meaning of a failed operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (RFC 6749 `invalid_request`).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Credentials or tokens are wrong, expired, revoked or do not belong together
    /// (RFC 6749 `invalid_grant`). The message is safe to show to the client.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// Client credentials of an OAuth 2.0 request are wrong or do not belong to the
    /// request (RFC 6749 `invalid_client`). The message is safe to show to the client.
    #[error("invalid client: {0}")]
    InvalidClient(&'static str),
    /// Something the admin asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// It exists already.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many failed logins for this username or client address; retry after this
    /// many seconds (HTTP 429).
    #[error("locked out for {0} s")]
    Locked(u64),
    /// Storage is unreachable or the service is overloaded.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug or a broken invariant; details are logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound("no such record".into()),
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::Unavailable(m) => Error::Unavailable(m),
            StoreError::Backend(m) => Error::Internal(m),
        }
    }
}
