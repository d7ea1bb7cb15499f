//! `wirecash-client`: the partner side of the WireCash token service. [`Client`] speaks
//! `POST /{env}/authenticate` and `POST /{env}/token`; [`Session`] hands out an access
//! token that is always valid, refreshing it once, ahead of expiry, for all its callers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wirecash_client::Error> {
//! use wirecash_client::{Client, FileTokenStore, RequestBuilderExt, Session};
//!
//! let client = Client::builder().sandbox("https://api.wirecash.com").build()?;
//! let session = Session::builder(client, "alice")
//!     .password("correct horse battery staple")
//!     .store(FileTokenStore::new("/var/lib/partner/wirecash-session.json"))
//!     .build()?;
//! let token = session.token().await?;
//! let http = reqwest::Client::new();
//! let answer = http
//!     .get("https://api.wirecash.com/sandbox/country/list")
//!     .wirecash_token(&token)
//!     .send()
//!     .await;
//! # drop(answer);
//! # Ok(())
//! # }
//! ```
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
