//! The admin API as the remote commands call it: requests with the admin key, no
//! redirects, `Idempotency-Key` on POSTs, pages read to the end, and its answers and
//! errors as a person reads them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wirecash_core::UnixMillis;

/// Attempts of a request that is safe to repeat (a GET, or a POST with its
/// `Idempotency-Key`) when the connection fails, breaks or times out.
const ATTEMPTS: u32 = 2;
/// Largest answer read.
const MAX_ANSWER: usize = 8 * 1024 * 1024;
/// Items asked for per page (the admin API's largest `limit`).
const PAGE: u32 = 200;
/// Longest piece of a server's error description shown.
const MAX_DESCRIPTION: usize = 300;

/// An admin API and the admin key to call it with.
pub struct AdminApi {
    http: reqwest::Client,
    base: Url,
    key_file: PathBuf,
    /// `Bearer <key>`, marked sensitive (left out of any debug output).
    authorization: HeaderValue,
}

/// A list's page (SPEC §11).
#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// An error answer (SPEC §2).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl AdminApi {
    /// The admin API at `base`, called with `authorization` (`Bearer <key>`, marked
    /// sensitive) from `key_file`.
    pub(super) fn new(
        http: reqwest::Client,
        base: Url,
        key_file: PathBuf,
        authorization: HeaderValue,
    ) -> AdminApi {
        AdminApi {
            http,
            base,
            key_file,
            authorization,
        }
    }

    /// `GET` of one thing.
    pub async fn get<T: DeserializeOwned>(&self, path: &[&str]) -> anyhow::Result<T> {
        let url = self.url(path, &[])?;
        decode(self.send(Method::GET, url, None, "read this").await?, path)
    }

    /// `POST` of a JSON body.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &[&str],
        body: &Value,
        action: &str,
    ) -> anyhow::Result<T> {
        let url = self.url(path, &[])?;
        decode(
            self.send(Method::POST, url, Some(body), action).await?,
            path,
        )
    }

    /// `PATCH` of a JSON body.
    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &[&str],
        body: &Value,
        action: &str,
    ) -> anyhow::Result<T> {
        let url = self.url(path, &[])?;
        decode(
            self.send(Method::PATCH, url, Some(body), action).await?,
            path,
        )
    }

    /// `DELETE` (an answer without a body reads as `null`).
    pub async fn delete<T: DeserializeOwned>(
        &self,
        path: &[&str],
        action: &str,
    ) -> anyhow::Result<T> {
        let url = self.url(path, &[])?;
        decode(self.send(Method::DELETE, url, None, action).await?, path)
    }

    /// Every item of a list, page after page (at most `at_most` when given).
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &[&str],
        at_most: Option<usize>,
    ) -> anyhow::Result<Vec<T>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let wanted = at_most.map_or(PAGE, |n| {
                u32::try_from(n.saturating_sub(items.len()))
                    .map_or(PAGE, |left| left.clamp(1, PAGE))
            });
            let mut query = vec![("limit", wanted.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let url = self.url(path, &query)?;
            let page: Page<T> =
                decode(self.send(Method::GET, url, None, "read this").await?, path)?;
            items.extend(page.items);
            if let Some(n) = at_most.filter(|n| items.len() >= *n) {
                items.truncate(n);
                return Ok(items);
            }
            match page.next_cursor {
                None => return Ok(items),
                Some(next) if cursor.as_ref() == Some(&next) => {
                    bail!(
                        "the admin API gave the same page of /{} twice",
                        path.join("/")
                    )
                }
                Some(next) => cursor = Some(next),
            }
        }
    }

    /// `base` + `path` (each part percent-encoded as one segment) + `query`.
    fn url(&self, path: &[&str], query: &[(&str, String)]) -> anyhow::Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("--admin-url {} cannot take a path", self.base))?
            .pop_if_empty()
            .extend(path);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// One request and its JSON answer (`null` when it has none), or the error as a
    /// person reads it; `action` completes "the admin key's role may not …". A GET, and
    /// a POST under a fresh `Idempotency-Key`, are repeated when the connection fails:
    /// the server runs a POST at most once per key, so a retry cannot act twice.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        action: &str,
    ) -> anyhow::Result<Value> {
        let idempotency_key =
            (method == Method::POST).then(|| uuid::Uuid::new_v4().simple().to_string());
        let repeatable = method == Method::GET || idempotency_key.is_some();
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, self.authorization.clone())
                .header(ACCEPT, "application/json");
            if let Some(key) = &idempotency_key {
                request = request.header("Idempotency-Key", key.as_str());
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let retry = repeatable && attempt < ATTEMPTS;
            match request.send().await {
                Err(e) if retry && (e.is_connect() || e.is_timeout() || e.is_request()) => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot reach the admin API at {}", self.base)));
                }
                Ok(response) => {
                    let status = response.status();
                    let location = response.headers().get(LOCATION).cloned();
                    let bytes = read_answer(response).await.with_context(|| {
                        format!("cannot read the answer of the admin API at {}", self.base)
                    })?;
                    // An earlier attempt of this request is still running on the server.
                    let running = status == StatusCode::CONFLICT
                        && idempotency_key.is_some()
                        && String::from_utf8_lossy(&bytes).contains("Idempotency-Key");
                    if !(retry && running) {
                        return self.answer(status, location, &bytes, action);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            attempt += 1;
        }
    }

    fn answer(
        &self,
        status: StatusCode,
        location: Option<HeaderValue>,
        bytes: &[u8],
        action: &str,
    ) -> anyhow::Result<Value> {
        let base = &self.base;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(bytes).map_err(|_| {
                anyhow!("the answer of {base} is not JSON: is it a server's admin listener (admin_listen)?")
            });
        }
        let error = serde_json::from_slice::<ErrorBody>(bytes)
            .ok()
            .filter(|e| !e.error.is_empty());
        let description = error
            .as_ref()
            .map(|e| shown(&e.error_description))
            .filter(|d| !d.is_empty());
        match (status, description) {
            (StatusCode::UNAUTHORIZED, _) => bail!(
                "the admin API refused the admin key (unknown, revoked or malformed; it came from {})",
                self.key_file.display()
            ),
            (StatusCode::FORBIDDEN, description) => {
                // "this admin key's role may not do this; it needs the operator role"
                let needs = description
                    .as_deref()
                    .and_then(|d| d.rsplit_once("; "))
                    .map(|(_, needs)| format!(" ({needs})"))
                    .unwrap_or_default();
                bail!("the admin key's role may not {action}{needs}")
            }
            (s, _) if s.is_redirection() => {
                let to = location
                    .as_ref()
                    .and_then(|l| l.to_str().ok())
                    .map(|l| format!(" to {}", shown(l)))
                    .unwrap_or_default();
                bail!(
                    "{base} answered with a redirect{to}, which is not followed: give the admin \
                     listener's own URL as --admin-url"
                )
            }
            (_, Some(description)) => bail!("{description}"),
            (s, None) if s.is_server_error() => {
                bail!("the admin API at {base} failed (status {})", s.as_u16())
            }
            (s, None) => bail!(
                "{base} answered with status {} and no admin API error: is it a server's admin \
                 listener (admin_listen)?",
                s.as_u16()
            ),
        }
    }
}

/// The body of `response`, up to `MAX_ANSWER` bytes.
async fn read_answer(mut response: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            bail!("the answer is longer than {MAX_ANSWER} bytes");
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(value: Value, path: &[&str]) -> anyhow::Result<T> {
    serde_json::from_value(value).map_err(|e| {
        anyhow!(
            "the admin API's answer for /{} is not what this version of wirecash-auth reads: {e}",
            path.join("/")
        )
    })
}

/// Text from the server for a terminal: no control characters, bounded.
fn shown(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_DESCRIPTION)
        .collect()
}

/// A time of the admin API (RFC 3339, milliseconds) as milliseconds.
pub fn millis(text: &str) -> anyhow::Result<UnixMillis> {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| UnixMillis::try_from(d.as_millis()).ok())
        .ok_or_else(|| anyhow!("the admin API gave {:?} as a time", shown(text)))
}

/// A time of the admin API as the local commands print times (RFC 3339, seconds).
pub fn time(text: &str) -> String {
    match millis(text) {
        Ok(ms) => super::super::admin::time(ms),
        Err(_) => shown(text),
    }
}

/// `GET /admin/v1/{env}/users` and `…/users/{username}` items.
#[derive(Debug, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub disabled: bool,
    pub created_at: String,
    /// Only in a creation's answer without a password: the generated one.
    #[serde(default)]
    pub password: Option<String>,
}

/// `GET /admin/v1/{env}/sessions` and `GET /admin/v1/{env}/users/{username}/sessions` items.
#[derive(Debug, Deserialize)]
pub struct Session {
    pub id: String,
    pub kind: String,
    pub username: String,
    pub created_at: String,
    pub last_used_at: String,
    pub generation: i64,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

/// `GET /admin/v1/{env}/keys` items.
#[derive(Debug, Deserialize)]
pub struct Key {
    pub kid: String,
    pub alg: String,
    pub created_at: String,
    pub activates_at: String,
}

/// `POST /admin/v1/{env}/users/{username}/credentials`.
#[derive(Debug, Deserialize)]
pub struct Rotated {
    #[serde(default)]
    pub password: Option<String>,
    pub previous_password_valid_until: Option<String>,
}

/// `{"revoked": n}`.
#[derive(Debug, Deserialize)]
pub struct Revoked {
    pub revoked: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn paths_are_segments_under_the_base() {
        let api = |base: &str| AdminApi {
            http: reqwest::Client::new(),
            base: super::super::parse_base(base).unwrap(),
            key_file: PathBuf::new(),
            authorization: HeaderValue::from_static("Bearer x"),
        };
        let url = api("http://h:1")
            .url(
                &["admin", "v1", "sandbox", "users", "a/b?"],
                &[("limit", "2".into())],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://h:1/admin/v1/sandbox/users/a%2Fb%3F?limit=2"
        );
        let url = api("https://h/behind/proxy/").url(&["admin"], &[]).unwrap();
        assert_eq!(url.as_str(), "https://h/behind/proxy/admin");
    }

    #[test]
    fn times_print_as_the_local_commands_print_them() {
        assert_eq!(time("2026-01-02T03:04:05.678Z"), "2026-01-02T03:04:05Z");
        assert_eq!(millis("1970-01-01T00:00:01.500Z").unwrap(), 1500);
        assert_eq!(time("\u{1b}[31mnot a time"), "[31mnot a time");
    }
}
