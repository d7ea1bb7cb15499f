//! The partner side of the WireCash token service: [`Client`] speaks `POST /{env}/authenticate`
//! and `POST /{env}/token`; [`Session`] hands out an access token that is always valid,
//! refreshing it once, ahead of expiry, for all its callers (its doc shows how to start).
#![warn(missing_docs)]

mod client;
mod clock;
mod error;
mod header;
mod session;
mod storage;

pub use client::{Client, ClientBuilder, Tokens};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use header::{AccessToken, RequestBuilderExt};
pub use session::{EndReason, RetryPolicy, Session, SessionBuilder, SessionEvent, WhenEnded};
pub use storage::{FileTokenStore, MemoryTokenStore, StoredSession, TokenStore};
pub use wirecash_proto::ErrorBody;
