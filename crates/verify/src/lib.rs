//! `wirecash-verify`: checks WireCash access tokens in the APIs behind the token
//! service. [`Verifier`] verifies offline against the environment's JWKS; [`VerifyLayer`]
//! and the [`Claims`] extractor put it in front of axum handlers ([`Verifier`] shows how).
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
