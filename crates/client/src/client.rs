//! `Client`: one call per method to the two WireCash endpoints, `POST /{env}/authenticate`
//! and `POST /{env}/token`, with the server's error bodies mapped to [`Error`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use wirecash_proto::{AuthenticateResponse, ErrorBody};
use zeroize::Zeroizing;

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::header::AccessToken;

/// Largest answer read from the token service. Its answers are a few hundred bytes
/// (an access token is about 600); anything near this is not the token service.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The token pair of one session, as the last `authenticate` or `refresh` returned it.
///
/// `Debug` shows neither token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// The API user the tokens were issued to (`POST /token` needs it).
    pub username: String,
    /// The access token (a JWT), sent raw in the `Authorization` header.
    pub access_token: String,
    /// The refresh token: good for exactly one `POST /token`.
    pub refresh_token: String,
    /// The lifetime the server announced (`expires_in`), in seconds.
    pub expires_in: u64,
    /// When the access token expires, in milliseconds since the Unix epoch, by this
    /// client's clock at the moment the answer arrived (so server clock skew does not
    /// matter).
    pub expires_at_ms: i64,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("username", &self.username)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    base_url: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    allow_insecure_http: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            user_agent: concat!("wirecash-client/", env!("CARGO_PKG_VERSION")).to_string(),
            http: None,
            clock: Arc::new(SystemClock),
            allow_insecure_http: false,
        }
    }
}

impl ClientBuilder {
    /// The base URL of one environment, e.g. `https://api.wirecash.com/sandbox`: the
    /// client posts to `{base_url}/authenticate` and `{base_url}/token`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The environment `env` of the token service at `host`
    /// (`https://api.wirecash.com` + `sandbox` → `https://api.wirecash.com/sandbox`).
    pub fn environment(self, host: &str, env: &str) -> Self {
        let base = format!("{}/{}", host.trim_end_matches('/'), env.trim_matches('/'));
        self.base_url(base)
    }

    /// The `sandbox` environment of `host` (the Java client's `developmentBaseUrl()`).
    pub fn sandbox(self, host: &str) -> Self {
        self.environment(host, "sandbox")
    }

    /// The `production` environment of `host` (the Java client's `productionBaseUrl()`).
    pub fn production(self, host: &str) -> Self {
        self.environment(host, "production")
    }

    /// Limit for a whole request, from connecting to the last byte of the answer
    /// (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Limit for establishing a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `wirecash-client/VERSION`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Use this reqwest client (its own timeouts and user agent then apply).
    ///
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`: a client that
    /// follows redirects sends the password or refresh token wherever a redirect
    /// points before this crate sees the answer. (Such an answer is still refused, with
    /// [`Error::Redirect`], but the request has been sent.) The default client follows
    /// no redirects.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock used to turn `expires_in` into an expiry time (tests inject a
    /// [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Allow a plain `http://` base URL on a host other than a loopback address
    /// (default: refused). Over plain HTTP the password and the tokens cross the
    /// network unencrypted; `http://127.0.0.1`, `http://[::1]` and `http://localhost`
    /// are allowed without this, for a token service on the same machine.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let raw = self
            .base_url
            .ok_or_else(|| Error::Config("no base URL: call base_url(…) or sandbox(…)".into()))?;
        let base = parse_base(&raw, self.allow_insecure_http)?;
        let join = |path: &str| {
            Url::parse(&format!("{}/{path}", base.as_str().trim_end_matches('/')))
                .map_err(|e| Error::Config(format!("base URL {raw:?}: {e}")))
        };
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.connect_timeout)
                .user_agent(self.user_agent)
                // Never: a 307/308 would re-send the JSON body (password, refresh
                // token) to wherever the Location points, also from https to http.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(ClientInner {
                authenticate_url: join("authenticate")?,
                token_url: join("token")?,
                base_url: base.as_str().trim_end_matches('/').to_string(),
                http,
                clock: self.clock,
            }),
        })
    }
}

fn parse_base(raw: &str, allow_insecure_http: bool) -> Result<Url, Error> {
    let url = Url::parse(raw).map_err(|e| Error::Config(format!("base URL {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "base URL {raw:?}: the scheme must be http or https"
        )));
    }
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) {
        return Err(Error::Config(format!(
            "base URL {raw:?}: plain http would send the password and tokens unencrypted; \
             use https (http is allowed for loopback addresses, or with allow_insecure_http(true))"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "base URL {raw:?}: no query or fragment, only scheme, host and path"
        )));
    }
    if url.path().trim_matches('/').is_empty() {
        return Err(Error::Config(format!(
            "base URL {raw:?}: name the environment, e.g. {}/sandbox",
            raw.trim_end_matches('/')
        )));
    }
    Ok(url)
}

/// Whether `url` names this machine: a loopback address or `localhost`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The body of `POST /{env}/authenticate` (`wirecash_proto::AuthenticateRequest`),
/// borrowing the password instead of copying it into a `String` nobody wipes.
#[derive(Serialize)]
struct AuthenticateBody<'a> {
    username: &'a str,
    password: &'a str,
}

/// The body of `POST /{env}/token` (`wirecash_proto::RefreshTokenRequest`), borrowed.
#[derive(Serialize)]
struct RefreshBody<'a> {
    username: &'a str,
    access_token: &'a str,
    refresh_token: &'a str,
}

/// `value` as JSON in a buffer that is wiped when dropped. `secret_bytes` is the length
/// of the strings in it: the buffer is allocated once, large enough for the worst JSON
/// escaping (6 bytes per input byte), so growing it never leaves an unwiped copy behind.
fn json_body(value: &impl Serialize, secret_bytes: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let capacity = secret_bytes.saturating_mul(6).saturating_add(128);
    let mut buffer = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *buffer, value)
        .map_err(|e| Error::Config(format!("cannot encode the request: {e}")))?;
    Ok(buffer)
}

/// A client of one environment of the token service. Cheap to clone (shares its
/// connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    base_url: String,
    authenticate_url: Url,
    token_url: Url,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl Client {
    /// A builder; set at least the base URL.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The environment's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// `POST /{env}/authenticate`: exchanges a username and password for a new session.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Tokens, Error> {
        let json = json_body(
            &AuthenticateBody { username, password },
            username.len() + password.len(),
        )?;
        let answer = self.post(&self.inner.authenticate_url, json).await?;
        self.tokens(username, answer)
    }

    /// `POST /{env}/token`: rotates the session's refresh token. One call, no retry;
    /// [`Session`](crate::Session) adds the retry of a lost answer.
    pub async fn refresh(&self, tokens: &Tokens) -> Result<Tokens, Error> {
        let body = RefreshBody {
            username: &tokens.username,
            access_token: &tokens.access_token,
            refresh_token: &tokens.refresh_token,
        };
        let secret_bytes =
            tokens.username.len() + tokens.access_token.len() + tokens.refresh_token.len();
        let json = json_body(&body, secret_bytes)?;
        let answer = self.post(&self.inner.token_url, json).await?;
        self.tokens(&tokens.username, answer)
    }

    async fn post(
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

    fn tokens(&self, username: &str, r: AuthenticateResponse) -> Result<Tokens, Error> {
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
    fn environment_urls_are_joined_like_the_published_ones() {
        let c = Client::builder()
            .sandbox("https://api.wirecash.com/")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "https://api.wirecash.com/sandbox");
        assert_eq!(
            c.inner.token_url.as_str(),
            "https://api.wirecash.com/sandbox/token"
        );
        let p = Client::builder()
            .production("https://api.wirecash.com")
            .build()
            .unwrap();
        assert_eq!(
            p.inner.authenticate_url.as_str(),
            "https://api.wirecash.com/production/authenticate"
        );
    }

    #[test]
    fn a_base_url_without_environment_or_with_a_query_is_refused() {
        for bad in [
            "https://api.wirecash.com",
            "https://api.wirecash.com/sandbox?x=1",
            "ftp://api.wirecash.com/sandbox",
            "not a url",
        ] {
            let e = Client::builder().base_url(bad).build().unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e}");
        }
        assert!(matches!(
            Client::builder().build().unwrap_err(),
            Error::Config(_)
        ));
    }

    #[test]
    fn plain_http_is_refused_except_for_loopback_or_when_allowed() {
        for remote in [
            "http://api.wirecash.example/sandbox",
            "http://10.0.0.1:8080/sandbox",
            "http://[2001:db8::1]/sandbox",
            "http://localhost.evil.example/sandbox",
        ] {
            let e = Client::builder().base_url(remote).build().unwrap_err();
            assert!(
                matches!(&e, Error::Config(m) if m.contains("https")),
                "{remote}: {e}"
            );
            Client::builder()
                .base_url(remote)
                .allow_insecure_http(true)
                .build()
                .unwrap();
        }
        for local in [
            "http://127.0.0.1:8080/sandbox",
            "http://127.1.2.3/sandbox",
            "http://[::1]:8080/sandbox",
            "http://[::ffff:127.0.0.1]/sandbox",
            "http://localhost:8080/sandbox",
            "https://api.wirecash.example/sandbox",
        ] {
            Client::builder().base_url(local).build().unwrap();
        }
    }

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

    #[test]
    fn tokens_debug_hides_the_tokens() {
        let t = Tokens {
            username: "alice".into(),
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            expires_in: 3600,
            expires_at_ms: 0,
        };
        let s = format!("{t:?}");
        assert!(!s.contains("secret"), "{s}");
        assert!(s.contains("alice"));
    }
}
