//! The extension point for online checks after offline verification: a [`TokenCheck`]
//! runs after the signature and every claim are verified (e.g. a deny-list, or RFC 7662
//! introspection against the token service's `POST /{env}/introspect`, not shipped yet).

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
