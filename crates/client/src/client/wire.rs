//! One exchange with the token service: the request bodies, in buffers wiped when
//! dropped, and the answer mapped to [`Tokens`] or an [`Error`].

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use wirecash_proto::{AuthenticateResponse, ErrorBody};
use zeroize::Zeroizing;

use super::{Client, Tokens};
use crate::error::Error;
use crate::header::AccessToken;

/// Largest answer read from the token service. Its answers are a few hundred bytes
/// (an access token is about 600); anything near this is not the token service.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The body of `POST /{env}/authenticate` (`wirecash_proto::AuthenticateRequest`),
/// borrowing the password instead of copying it into a `String` nobody wipes.
#[derive(Serialize)]
pub(super) struct AuthenticateBody<'a> {
    pub(super) username: &'a str,
    pub(super) password: &'a str,
}

/// The body of `POST /{env}/token` (`wirecash_proto::RefreshTokenRequest`), borrowed.
#[derive(Serialize)]
pub(super) struct RefreshBody<'a> {
    pub(super) username: &'a str,
    pub(super) access_token: &'a str,
    pub(super) refresh_token: &'a str,
}

/// `value` as JSON in a buffer that is wiped when dropped. `secret_bytes` is the length
/// of the strings in it: the buffer is allocated once, large enough for the worst JSON
/// escaping (6 bytes per input byte), so growing it never leaves an unwiped copy behind.
pub(super) fn json_body(
    value: &impl Serialize,
    secret_bytes: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let capacity = secret_bytes.saturating_mul(6).saturating_add(128);
    let mut buffer = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *buffer, value)
        .map_err(|e| Error::Config(format!("cannot encode the request: {e}")))?;
    Ok(buffer)
}

impl Client {
    /// Posts `json` to `url`: the 200 answer, or the [`Error`] its status and body mean.
    pub(super) async fn post(
        &self,
        url: &Url,
        json: Zeroizing<Vec<u8>>,
    ) -> Result<AuthenticateResponse, Error> {
        let response = self
            .inner
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            // The buffer is wiped when reqwest drops the body.
            .body(Bytes::from_owner(json))
            .send()
            .await
            .map_err(Error::transport)?;
        let status = response.status();
        if response.url() != url {
            // Only a caller's own reqwest client follows redirects; the request went
            // there already, but its answer is not taken.
            return Err(Error::Redirect {
                status: status.as_u16(),
                location: Some(response.url().to_string()),
            });
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| url.join(l).map_or_else(|_| l.to_string(), String::from));
            return Err(Error::Redirect {
                status: status.as_u16(),
                location,
            });
        }
        let retry_after = retry_after(response.headers());
        // Reading the body can fail too (the connection closes mid-answer): that is a
        // lost answer, like a failed send.
        let bytes = read_limited(response).await?;
        if status == StatusCode::OK {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::InvalidResponse(format!("the 200 body is not an AuthenticateResponse: {e}"))
            });
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        Err(match (status, body) {
            (StatusCode::BAD_REQUEST, Some(b)) if b.error == "invalid_grant" => {
                Error::InvalidGrant(b)
            }
            (StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS, body) => {
                Error::TemporarilyUnavailable {
                    status: status.as_u16(),
                    body,
                    retry_after,
                }
            }
            (_, body) => Error::Status {
                status: status.as_u16(),
                body,
            },
        })
    }

    /// The answer as [`Tokens`], its expiry by this client's clock.
    pub(super) fn tokens(&self, username: &str, r: AuthenticateResponse) -> Result<Tokens, Error> {
        // Checked once here so that every later use as a header value is infallible.
        AccessToken::new(&r.access_token)?;
        if r.refresh_token.is_empty() {
            return Err(Error::InvalidResponse("empty refresh_token".into()));
        }
        let lifetime_ms = i64::try_from(r.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(Tokens {
            username: username.to_string(),
            access_token: r.access_token,
            refresh_token: r.refresh_token,
            expires_in: r.expires_in,
            expires_at_ms: self.inner.clock.now_millis().saturating_add(lifetime_ms),
        })
    }
}

/// The answer's body, refused once it grows past [`MAX_ANSWER_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, Error> {
    let too_large = || {
        Error::InvalidResponse(format!(
            "the answer is larger than {MAX_ANSWER_BYTES} bytes; this is not the token service"
        ))
    };
    let announced = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Error::transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After` in seconds (the server sends seconds; an HTTP date is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn request_bodies_match_the_wire_types_and_never_grow_their_buffer() {
        // The borrowed bodies serialize exactly like the proto types.
        let nasty = "\u{1}\"\\\u{7f}é".repeat(50);
        let ours = json_body(
            &AuthenticateBody {
                username: "alice",
                password: &nasty,
            },
            5 + nasty.len(),
        )
        .unwrap();
        let proto = serde_json::to_vec(&wirecash_proto::AuthenticateRequest {
            username: "alice".into(),
            password: nasty.clone(),
        })
        .unwrap();
        assert_eq!(*ours, proto);
        let ours = json_body(
            &RefreshBody {
                username: "alice",
                access_token: "a.b.c",
                refresh_token: &nasty,
            },
            10 + nasty.len(),
        )
        .unwrap();
        let proto = serde_json::to_vec(&wirecash_proto::RefreshTokenRequest {
            username: "alice".into(),
            access_token: "a.b.c".into(),
            refresh_token: nasty.clone(),
        })
        .unwrap();
        assert_eq!(*ours, proto);
        // Worst case: every byte escaped as \u00XX. The buffer is the one allocated up
        // front (a reallocation would leave an unwiped copy of the password behind).
        let control = "\u{1}".repeat(1000);
        let body = json_body(
            &AuthenticateBody {
                username: "",
                password: &control,
            },
            control.len(),
        )
        .unwrap();
        assert!(body.len() > 6000, "{}", body.len());
        assert_eq!(
            body.capacity(),
            6 * 1000 + 128,
            "the buffer was reallocated"
        );
    }
}
