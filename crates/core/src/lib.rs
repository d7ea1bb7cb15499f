//! The token lifecycle of wirecash-auth: sessions (token families), rotation, reuse
//! detection, lifetimes, signing keys, password hashing and the store traits.
//! No HTTP and no SQL live here: the server and the storage backends depend on this crate.

pub mod access_token;
pub mod addr;
pub mod admin;
pub mod audit;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod events;
pub mod keys;
pub mod lifecycle;
pub mod lockout;
pub mod metrics;
pub mod password;
pub mod policy;
pub mod service;
pub mod store;
pub mod token;
pub mod validate;

pub use clock::{Clock, FakeClock, SystemClock, UnixMillis};
pub use error::{Error, StoreError};
pub use policy::{PasswordParams, SigningAlg, TokenPolicy};
pub use service::{AuthService, TokenGrant};
pub use store::Store;
