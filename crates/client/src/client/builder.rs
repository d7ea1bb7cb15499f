//! Building a [`Client`]: the environment's base URL (checked before anything is sent),
//! timeouts, the HTTP client and the clock.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::{Client, ClientInner};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;

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
}
