//! `Idempotency-Key` on admin POSTs: the first request with a key runs and its answer
//! is kept (sealed: it can hold a generated password) for a day; a retry with the same
//! key and request gets that answer again, one with another request a 422, one while
//! the first is still running a 409.

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use wirecash_core::crypto::keyed_hash;
use wirecash_core::store::IdempotencyRecord;

use super::AdminState;
use super::auth::Caller;
use super::error::AdminError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Longest key accepted.
const MAX_KEY: usize = 255;
/// How long a key is remembered.
pub const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The key of a request, if it sent one; 400 if it is not 1–255 visible ASCII characters.
fn key(headers: &HeaderMap) -> Result<Option<String>, AdminError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = || {
        AdminError::BadRequest(format!(
            "`Idempotency-Key` must be sent once, 1 to {MAX_KEY} visible ASCII characters"
        ))
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let s = value.to_str().map_err(|_| bad())?;
    let ok = !s.is_empty() && s.len() <= MAX_KEY && s.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(Some(s.to_string()))
    } else {
        Err(bad())
    }
}

/// Runs `handler` at most once per `Idempotency-Key` of this admin key: see the module
/// comment. Without the header it simply runs. Only successful answers are kept; a
/// failed request frees its key for a retry.
pub async fn run<F, Fut>(
    state: &AdminState,
    caller: &Caller,
    headers: &HeaderMap,
    request: (&str, &str, &[u8]),
    handler: F,
) -> Result<Response, AdminError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), AdminError>>,
{
    let Some(key) = key(headers)? else {
        let (status, body) = handler().await?;
        return Ok(json(status, body.to_string().into_bytes(), false));
    };
    let secrets = state.service.admin_secrets();
    let (method, path, body) = request;
    let mut material = Vec::with_capacity(method.len() + path.len() + body.len() + 2);
    for part in [method.as_bytes(), path.as_bytes(), body] {
        material.extend_from_slice(part);
        material.push(0);
    }
    let request_hash = keyed_hash(&secrets.key_mac, &material);
    let owner = caller.principal.name.clone();
    let admin = state.service.admin();
    let claimed = admin
        .store
        .claim_idempotency_key(IdempotencyRecord {
            owner: owner.clone(),
            key: key.clone(),
            request_hash,
            created_at: admin.clock.now(),
            response: None,
        })
        .await
        .map_err(wirecash_core::Error::from)?;
    if let Some(earlier) = claimed {
        if !wirecash_core::crypto::ct_eq(&earlier.request_hash, &request_hash) {
            return Err(AdminError::IdempotencyMismatch);
        }
        let Some((status, sealed)) = earlier.response else {
            return Err(AdminError::Conflict(
                "a request with this Idempotency-Key is still running; retry shortly".into(),
            ));
        };
        let aad = format!("{owner}\0{key}");
        let body = secrets
            .sealer
            .open(aad.as_bytes(), &sealed)
            .ok_or_else(|| {
                AdminError::Api(crate::error::ApiError::Internal(
                    "a stored idempotent answer does not open".into(),
                ))
            })?;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        return Ok(json(status, body.to_vec(), true));
    }
    match handler().await {
        Ok((status, body)) => {
            let bytes = body.to_string().into_bytes();
            let aad = format!("{owner}\0{key}");
            let sealed = secrets.sealer.seal(aad.as_bytes(), &bytes)?;
            admin
                .store
                .complete_idempotency_key(&owner, &key, status.as_u16(), sealed)
                .await
                .map_err(wirecash_core::Error::from)?;
            Ok(json(status, bytes, false))
        }
        Err(e) => {
            if let Err(release) = admin.store.release_idempotency_key(&owner, &key).await {
                tracing::warn!(error = %release, "could not free an idempotency key after a failed request");
            }
            Err(e)
        }
    }
}

/// A JSON answer, never cached; `replayed` marks an answer given again.
pub fn json(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    crate::http::no_store(response)
}
