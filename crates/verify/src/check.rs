//! The extension point for online checks after offline verification.
//!
//! Offline verification cannot see a revocation until the token expires (one hour by
//! default). An API that must see revocations at once adds a [`TokenCheck`], which runs
//! after the signature and every claim have been verified. The intended implementation
//! is RFC 7662 token introspection against the token service with a short cache; the
//! token service has no `POST /{env}/introspect` yet (SPEC §4, a separate issue), so
//! this crate ships no introspection client rather than one that cannot be tested
//! against the real server. When the endpoint lands, an `Introspection` type
//! implementing this trait belongs here.

use std::future::Future;
use std::pin::Pin;

use wirecash_proto::AccessTokenClaims;

use crate::rejection::Rejection;

/// A boxed future, as returned by [`TokenCheck::check`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An extra check of an already verified token (revocation list, introspection, …).
pub trait TokenCheck: Send + Sync + 'static {
    /// `Ok(())` lets the request through; a [`Rejection`] refuses it.
    fn check<'a>(
        &'a self,
        token: &'a str,
        claims: &'a AccessTokenClaims,
    ) -> BoxFuture<'a, Result<(), Rejection>>;
}
