//! The access token as handed out by a [`Session`](crate::Session), and the helper that
//! puts it into a reqwest request's `Authorization` header raw, as WireCash clients
//! send it (the APIs also accept `Bearer <token>`).

use std::fmt;
use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::error::Error;

/// A valid access token. Cloning is one reference-count increment (the hot path of
/// [`Session::token`](crate::Session::token) hands out clones). `Debug` hides it.
#[derive(Clone)]
pub struct AccessToken(Arc<Inner>);

struct Inner {
    raw: Box<str>,
    header: HeaderValue,
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.raw == other.0.raw
    }
}

impl Eq for AccessToken {}

impl AccessToken {
    /// Wraps a token, checking that it can be sent as a header value.
    pub fn new(raw: &str) -> Result<Self, Error> {
        let mut header = HeaderValue::from_str(raw).map_err(|_| {
            Error::InvalidResponse("the access token is not a valid header value".into())
        })?;
        if raw.is_empty() {
            return Err(Error::InvalidResponse("empty access_token".into()));
        }
        // Keeps it out of HTTP/2 header compression tables and of reqwest's Debug output.
        header.set_sensitive(true);
        Ok(Self(Arc::new(Inner {
            raw: Box::from(raw),
            header,
        })))
    }

    /// The token text (a JWT).
    pub fn as_str(&self) -> &str {
        &self.0.raw
    }

    /// The raw `Authorization` header value (marked sensitive).
    pub fn header_value(&self) -> HeaderValue {
        self.0.header.clone()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Adds the WireCash `Authorization` header to a reqwest request.
pub trait RequestBuilderExt {
    /// Sets `Authorization: <token>` (raw, as WireCash clients send it).
    fn wirecash_token(self, token: &AccessToken) -> Self;
}

impl RequestBuilderExt for reqwest::RequestBuilder {
    fn wirecash_token(self, token: &AccessToken) -> Self {
        self.header(AUTHORIZATION, token.header_value())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_header_is_the_raw_token_and_sensitive() {
        let t = AccessToken::new("eyJ.a.b").unwrap();
        let req = reqwest::Client::new()
            .get("http://127.0.0.1:1/x")
            .wirecash_token(&t)
            .build()
            .unwrap();
        let h = req.headers().get(AUTHORIZATION).unwrap();
        assert_eq!(h.to_str().unwrap(), "eyJ.a.b");
        assert!(h.is_sensitive());
        assert_eq!(format!("{t:?}"), "AccessToken(<redacted>)");
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused() {
        assert!(AccessToken::new("a\nb").is_err());
        assert!(AccessToken::new("").is_err());
    }
}
