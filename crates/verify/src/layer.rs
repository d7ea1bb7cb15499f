//! The tower `Layer` that puts a [`Verifier`] in front of a service, and the axum
//! extractor that hands handlers the verified claims.

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use wirecash_proto::{AccessTokenClaims, ErrorBody};

use crate::check::BoxFuture;
use crate::verifier::Verifier;

/// The verified claims of the request's access token.
///
/// As an extractor it takes what [`VerifyLayer`] verified; on a route with a
/// [`Verifier`] in the request extensions (add one with `axum::Extension(verifier)`),
/// it verifies the request itself unless that very verifier's layer already did — so
/// an outer layer of another environment cannot hand its claims to a route that asks
/// for its own. That also suits routers where only some handlers need a token. With
/// neither layer nor extension, the route is misconfigured: `500`.
#[derive(Debug, Clone)]
pub struct Claims(pub Arc<AccessTokenClaims>);

/// What a verifier put into a request: the claims, and which verifier it was.
///
/// The layer records in the request which verifier produced the claims (this private
/// extension type, which nobody else can insert); the extractor takes them only from
/// there, and only when they come from the verifier the route asks for.
#[derive(Clone)]
struct Verified {
    by: u64,
    claims: Arc<AccessTokenClaims>,
}

impl Deref for Claims {
    type Target = AccessTokenClaims;
    fn deref(&self) -> &AccessTokenClaims {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let wanted = parts.extensions.get::<Verifier>().cloned();
        let recorded = parts.extensions.get::<Verified>().cloned();
        match (recorded, wanted) {
            (Some(v), None) => return Ok(Claims(v.claims)),
            (Some(v), Some(verifier)) if v.by == verifier.id() => return Ok(Claims(v.claims)),
            (_, Some(verifier)) => {
                let claims = verifier
                    .verify_headers(&parts.headers)
                    .await
                    .map_err(IntoResponse::into_response)?;
                let claims = Arc::new(claims);
                parts.extensions.insert(Verified {
                    by: verifier.id(),
                    claims: Arc::clone(&claims),
                });
                return Ok(Claims(claims));
            }
            (None, None) => {}
        }
        tracing::error!(
            "Claims extractor used on a route without VerifyLayer or a Verifier extension"
        );
        Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(ErrorBody {
                error: "server_error".into(),
                error_description: "internal server error".into(),
            }),
        )
            .into_response())
    }
}

/// Verifies the `Authorization` header of every request; lets verified requests through
/// (handlers take the claims with the [`Claims`] extractor) and answers the others
/// itself (`401`, `400` for a malformed or repeated header, or `503` when the keys
/// cannot be fetched).
#[derive(Debug, Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    /// A layer verifying with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;
    fn layer(&self, inner: S) -> VerifyService<S> {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service made by [`VerifyLayer`].
#[derive(Debug, Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; the readied one goes into the future (tower's rule
        // for services that call their inner service later).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match verifier.verify_headers(request.headers()).await {
                Ok(claims) => {
                    request.extensions_mut().insert(Verified {
                        by: verifier.id(),
                        claims: Arc::new(claims),
                    });
                    inner.call(request).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
