//! `wirecash-verify`: checks WireCash access tokens in the APIs behind the token
//! service. [`Verifier`] verifies offline against the environment's JWKS (fetched,
//! cached per `Cache-Control`, re-fetched on an unknown `kid`); [`VerifyLayer`] and the
//! [`Claims`] extractor put it in front of axum handlers.
//!
//! ```no_run
//! # fn demo() -> Result<(), wirecash_verify::BuildError> {
//! use axum::{Router, routing::get};
//! use wirecash_verify::{Claims, Verifier, VerifyLayer};
//!
//! async fn whoami(claims: Claims) -> String {
//!     format!("hello {}", claims.username)
//! }
//!
//! let verifier = Verifier::builder("https://api.wirecash.com/sandbox").build()?;
//! let app: Router = Router::new()
//!     .route("/sandbox/whoami", get(whoami))
//!     .layer(VerifyLayer::new(verifier));
//! # drop(app);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod check;
mod clock;
mod jwks;
mod layer;
mod rejection;
mod verifier;

pub use check::{BoxFuture, TokenCheck};
pub use clock::{Clock, ManualClock, SystemClock};
pub use layer::{Claims, VerifyLayer, VerifyService};
pub use rejection::{Rejection, RejectionKind};
pub use verifier::{Alg, BuildError, Verifier, VerifierBuilder};
pub use wirecash_proto::AccessTokenClaims;
