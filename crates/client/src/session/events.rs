//! What a [`Session`](crate::Session) tells the application about the life of its
//! server-side session, and what it does when the server ends it.

use wirecash_proto::ErrorBody;

/// Something the application should know about the session, passed to the callback
/// of [`SessionBuilder::on_event`](crate::SessionBuilder::on_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The token service refused the refresh token (`400 invalid_grant`): the session
    /// is over. What happens next is the [`WhenEnded`] policy.
    Ended {
        /// Why, as far as the server's answer tells.
        reason: EndReason,
        /// The server's answer.
        body: ErrorBody,
    },
    /// After an end, a new session was started with the password.
    Restarted,
    /// The token service refused the password (`400 invalid_grant`): wrong password,
    /// disabled or deleted user, or credentials rotated. Final: the session returns
    /// [`Error::InvalidGrant`](crate::Error::InvalidGrant) from then on.
    PasswordRefused {
        /// The server's answer.
        body: ErrorBody,
    },
}

/// Why the token service ended a session. The token service says so only in its
/// `error_description`, so this is read from that text (best effort: an unknown
/// wording is [`Other`](EndReason::Other)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// A spent refresh token was presented again after the grace window: the server
    /// revoked the whole session (reuse detection). Either a retry came too late, or
    /// someone else holds a copy of the refresh token.
    ReuseDetected,
    /// An operator revoked the session, or the user was disabled.
    Revoked,
    /// The session reached its idle or absolute lifetime.
    Expired,
    /// Anything else (an unknown or mismatched refresh token).
    Other,
}

impl EndReason {
    /// The reason an `invalid_grant` answer to a refresh gives.
    pub fn of(body: &ErrorBody) -> Self {
        let text = body.error_description.to_ascii_lowercase();
        if text.contains("already used") || text.contains("reuse") {
            EndReason::ReuseDetected
        } else if text.contains("revoked") {
            EndReason::Revoked
        } else if text.contains("expired") {
            EndReason::Expired
        } else {
            EndReason::Other
        }
    }
}

/// What a session with a password does when the token service ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhenEnded {
    /// Authenticate again at once with the password (the default). A revoked or
    /// reused session was ended to cut off whoever else might hold its refresh token;
    /// the holder of the password carries on with a new session. To stop such a
    /// client, an operator disables the user or changes the password.
    #[default]
    Reauthenticate,
    /// Stop: every call returns [`Error::SessionEnded`](crate::Error::SessionEnded)
    /// from then on, as without a password, so that an operator's "revoke this
    /// session" stops this client until the application decides otherwise.
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(description: &str) -> ErrorBody {
        ErrorBody {
            error: "invalid_grant".into(),
            error_description: description.into(),
        }
    }

    #[test]
    fn the_token_services_descriptions_give_the_reason() {
        // The wording of crates/core (Reject::description and reuse detection).
        for (text, reason) in [
            (
                "the refresh token was already used; the session has been revoked, authenticate again",
                EndReason::ReuseDetected,
            ),
            (
                "the session has been revoked; authenticate again",
                EndReason::Revoked,
            ),
            (
                "the session has expired; authenticate again",
                EndReason::Expired,
            ),
            (
                "the refresh token is invalid, or does not belong to this username and access token",
                EndReason::Other,
            ),
        ] {
            assert_eq!(EndReason::of(&body(text)), reason, "{text}");
        }
    }
}
