//! Downloading the JWK set: one `GET` of the JWKS URL, redirects refused, the body
//! size-limited, and its freshness from `Cache-Control`.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::header::{CACHE_CONTROL, HeaderMap, LOCATION};

use super::parse::{RawSet, parse_keys};
use super::{CachedKey, JwksCache};

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

impl JwksCache {
    /// Fetches the JWK set: its usable keys, and for how long it is fresh (ms).
    pub(super) async fn download(&self) -> Result<(HashMap<String, Arc<CachedKey>>, i64), String> {
        let s = &self.settings;
        let mut response = s
            .http
            .get(s.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {}: {e}", s.url))?;
        let status = response.status();
        // Whoever a redirect points to would supply the signing keys: never followed
        // (the default client has redirects off; a caller's own client may not).
        if response.url() != &s.url {
            return Err(format!(
                "GET {}: the HTTP client followed a redirect to {}; refused (build it with redirect::Policy::none())",
                s.url,
                response.url()
            ));
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere");
            return Err(format!(
                "GET {}: HTTP {status} redirect to {location}; redirects are not followed: set jwks_url to the final URL",
                s.url
            ));
        }
        if !status.is_success() {
            return Err(format!("GET {}: HTTP {status}", s.url));
        }
        let max_age = max_age_ms(response.headers())
            .unwrap_or(s.default_max_age_ms)
            .min(s.max_max_age_ms);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {}: {e}", s.url))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("GET {}: larger than {MAX_JWKS_BYTES} bytes", s.url));
            }
            body.extend_from_slice(&chunk);
        }
        let raw: RawSet = serde_json::from_slice(&body)
            .map_err(|e| format!("GET {}: not a JWK set: {e}", s.url))?;
        Ok((parse_keys(raw.keys, &s.allowed), max_age))
    }
}

/// `max-age` of `Cache-Control` in ms; `no-cache`/`no-store` count as 0.
fn max_age_ms(headers: &HeaderMap) -> Option<i64> {
    let mut age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            if d == "no-cache" || d == "no-store" {
                return Some(0);
            }
            if let Some(n) = d.strip_prefix("max-age=")
                && let Ok(secs) = n.trim_matches('"').parse::<i64>()
            {
                age = Some(secs.max(0).saturating_mul(1000));
            }
        }
    }
    age
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(max_age_ms(&headers("public, max-age=30")), Some(30_000));
        assert_eq!(max_age_ms(&headers("Max-Age=5")), Some(5_000));
        assert_eq!(max_age_ms(&headers("no-store")), Some(0));
        assert_eq!(
            max_age_ms(&headers("public, max-age=60, no-cache")),
            Some(0)
        );
        assert_eq!(max_age_ms(&headers("public")), None);
        assert_eq!(max_age_ms(&HeaderMap::new()), None);
    }
}
