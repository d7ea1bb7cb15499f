//! The client's one error type. The server's JSON error body (RFC 6749 §5.2) travels
//! in the variants that came from an answer, so callers can tell `invalid_grant` (the
//! session is gone) from `temporarily_unavailable` (retry) from a transport failure.

use std::sync::Arc;
use std::time::Duration;

use wirecash_proto::ErrorBody;

/// What went wrong talking to the token service or keeping a session.
///
/// `Clone`, so that every task waiting on one shared refresh gets the same answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `400 invalid_grant`: wrong credentials, or the refresh token is no longer good
    /// (spent, revoked, expired). Retrying the same request cannot succeed.
    #[error("the token service refused the grant (invalid_grant): {}", .0.error_description)]
    InvalidGrant(ErrorBody),
    /// `503` (`temporarily_unavailable`) or `429`: retry later, after `retry_after` if
    /// the server sent one.
    #[error("the token service is temporarily unavailable (HTTP {status}){}", describe(.body))]
    TemporarilyUnavailable {
        /// The HTTP status (503 or 429).
        status: u16,
        /// The error body, when the server sent a JSON one.
        body: Option<ErrorBody>,
        /// The server's `Retry-After`, in seconds.
        retry_after: Option<Duration>,
    },
    /// Any other non-2xx answer (`400 invalid_request`, `404`, `500`, …).
    #[error("the token service answered HTTP {status}{}", describe(.body))]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error body, when the server sent a JSON one.
        body: Option<ErrorBody>,
    },
    /// No answer: connection refused or reset, timeout, or the connection closed before
    /// the whole answer arrived. The request may or may not have reached the server.
    #[error("no answer from the token service: {message}")]
    Transport {
        /// The error and its causes, on one line.
        message: String,
        /// The underlying error.
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// The token service answered with a redirect (3xx). Redirects are never followed:
    /// on a 307/308 the request body (the password, or the refresh token) would go to
    /// wherever the redirect points. Configure the final URL instead.
    #[error(
        "the token service answered with a redirect (HTTP {status}) to {}; redirects are not followed: configure the final URL",
        .location.as_deref().unwrap_or("an unnamed location")
    )]
    Redirect {
        /// The HTTP status (301, 302, 303, 307, 308, …).
        status: u16,
        /// Where the redirect pointed (absolute), if it said.
        location: Option<String>,
    },
    /// A 200 whose body is not the documented `AuthenticateResponse`, or an answer
    /// larger than any the token service sends.
    #[error("unexpected answer from the token service: {0}")]
    InvalidResponse(String),
    /// The session is gone (the server refused its refresh token) and the [`Session`]
    /// does not authenticate again: it has no password, or its policy is
    /// [`WhenEnded::Stop`](crate::WhenEnded::Stop). Build a new session to go on.
    ///
    /// [`Session`]: crate::Session
    #[error(
        "the session has ended and is not started again: no password was given, or the policy is to stop (server said: {}: {})",
        .0.error,
        .0.error_description
    )]
    SessionEnded(ErrorBody),
    /// The client or session was configured wrongly (bad URL, nothing to start from).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing the token storage failed.
    #[error("token storage: {0}")]
    Storage(String),
}

fn describe(body: &Option<ErrorBody>) -> String {
    match body {
        Some(b) => format!(": {}: {}", b.error, b.error_description),
        None => String::new(),
    }
}

impl Error {
    /// Whether the same request may succeed if sent again: transport failures, `429`,
    /// and `5xx`. Sending a refresh again is safe because rotation is idempotent
    /// within the server's grace window.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::TemporarilyUnavailable { .. } => true,
            Error::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::TemporarilyUnavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The server's JSON error body, if this error came with one.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Error::InvalidGrant(b) | Error::SessionEnded(b) => Some(b),
            Error::TemporarilyUnavailable { body, .. } | Error::Status { body, .. } => {
                body.as_ref()
            }
            _ => None,
        }
    }

    pub(crate) fn transport(e: reqwest::Error) -> Self {
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        Error::Transport {
            message,
            source: Arc::new(e),
        }
    }
}
