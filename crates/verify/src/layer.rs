//! The tower `Layer` that puts a [`Verifier`] in front of a service, and the axum
//! extractor that hands handlers the verified claims.

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use wirecash_proto::{AccessTokenClaims, ErrorBody};

use crate::check::BoxFuture;
use crate::verifier::Verifier;

/// The verified claims of the request's access token.
///
/// As an extractor it takes what [`VerifyLayer`] stored; without the layer it verifies
/// the request itself with a [`Verifier`] found in the request extensions (add one with
/// `axum::Extension(verifier)`), which suits routers where only some handlers need a
/// token. With neither, the route is misconfigured: `500`.
#[derive(Debug, Clone)]
pub struct Claims(pub Arc<AccessTokenClaims>);

impl Deref for Claims {
    type Target = AccessTokenClaims;
    fn deref(&self) -> &AccessTokenClaims {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if let Some(claims) = parts.extensions.get::<Claims>() {
            return Ok(claims.clone());
        }
        if let Some(verifier) = parts.extensions.get::<Verifier>().cloned() {
            let claims = verifier
                .verify_header(parts.headers.get(header::AUTHORIZATION))
                .await
                .map_err(IntoResponse::into_response)?;
            let claims = Claims(Arc::new(claims));
            parts.extensions.insert(claims.clone());
            return Ok(claims);
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
/// with [`Claims`] in their extensions and answers the others itself (`401`, or `503`
/// when the keys cannot be fetched).
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
            match verifier
                .verify_header(request.headers().get(header::AUTHORIZATION))
                .await
            {
                Ok(claims) => {
                    request.extensions_mut().insert(Claims(Arc::new(claims)));
                    inner.call(request).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
