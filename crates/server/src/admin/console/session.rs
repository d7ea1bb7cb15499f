//! The console's sign-in state: a stateless session cookie signed with a key derived
//! from the master key, naming the admin key it was opened with, and a CSRF token bound
//! to the session.
//!
//! The cookie holds `v1.<admin key id>.<session id>.<opened ms>.<last seen ms>.<tag>`:
//! no secret (the admin key's id is its public half), nothing a browser script can read
//! (`HttpOnly`), never sent cross-site (`SameSite=Strict`), `Secure` with the `__Host-`
//! prefix under TLS. Every request re-reads the admin key, so revoking it ends its console
//! sessions on every node at the next click; a session also ends after
//! [`IDLE`] without a request and [`ABSOLUTE`] after sign-in.

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use wirecash_core::UnixMillis;
use wirecash_core::crypto::ct_eq;

/// A session ends after this long without a request.
pub const IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE: std::time::Duration = std::time::Duration::from_secs(12 * 3600);
/// How long the sign-in form stays usable.
pub const LOGIN_FORM_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// Longest cookie value looked at.
const MAX_COOKIE: usize = 256;

/// One console session, as its cookie holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The public id of the admin key it was opened with.
    pub key_id: String,
    /// 128 random bits, hex: what the CSRF token is bound to.
    pub id: String,
    /// Sign-in time.
    pub opened: UnixMillis,
    /// Last request.
    pub seen: UnixMillis,
}

/// The cookies' names: with the `__Host-` prefix (which the browser only accepts with
/// `Secure`, `Path=/` and no `Domain`) under TLS.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The session cookie.
    pub session: &'static str,
    /// The sign-in form's nonce.
    pub login: &'static str,
    /// Whether the cookies get `Secure`.
    pub secure: bool,
}

impl Names {
    /// The names for a listener with or without TLS.
    pub fn new(secure: bool) -> Self {
        if secure {
            Names {
                session: "__Host-wc_console",
                login: "__Host-wc_console_login",
                secure,
            }
        } else {
            Names {
                session: "wc_console",
                login: "wc_console_login",
                secure,
            }
        }
    }
}

fn tag(mac: &hmac::Key, domain: &str, data: &str) -> String {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(domain.as_bytes());
    ctx.update(&[0]);
    ctx.update(data.as_bytes());
    URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
}

/// 128 random bits as hex.
pub fn random_id() -> Result<String, wirecash_core::Error> {
    let mut raw = [0u8; 16];
    wirecash_core::crypto::random_bytes(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Session {
    /// The cookie value.
    pub fn seal(&self, mac: &hmac::Key) -> String {
        let payload = format!(
            "v1.{}.{}.{}.{}",
            self.key_id, self.id, self.opened, self.seen
        );
        let t = tag(mac, "session", &payload);
        format!("{payload}.{t}")
    }

    /// The session a cookie value holds, if its tag is ours and it has not ended at `now`.
    pub fn open(mac: &hmac::Key, value: &str, now: UnixMillis) -> Option<Session> {
        if value.len() > MAX_COOKIE {
            return None;
        }
        let (payload, presented) = value.rsplit_once('.')?;
        if !ct_eq(
            tag(mac, "session", payload).as_bytes(),
            presented.as_bytes(),
        ) {
            return None;
        }
        let mut parts = payload.split('.');
        let (version, key_id, id, opened, seen) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if version != "v1" || parts.next().is_some() || !is_hex(key_id, 16) || !is_hex(id, 32) {
            return None;
        }
        let (opened, seen) = (opened.parse::<i64>().ok()?, seen.parse::<i64>().ok()?);
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let live = now >= opened.saturating_sub(ms(IDLE))
            && now.saturating_sub(seen) < ms(IDLE)
            && now.saturating_sub(opened) < ms(ABSOLUTE);
        live.then(|| Session {
            key_id: key_id.to_string(),
            id: id.to_string(),
            opened,
            seen,
        })
    }

    /// The CSRF token of this session's forms.
    pub fn csrf(&self, mac: &hmac::Key) -> String {
        tag(mac, "csrf", &self.id)
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, mac: &hmac::Key, presented: &str) -> bool {
        ct_eq(self.csrf(mac).as_bytes(), presented.as_bytes())
    }
}

/// The sign-in form's CSRF token: bound to a random nonce in a cookie of its own, since
/// there is no session yet (login CSRF would sign a victim in as the attacker).
pub fn login_token(mac: &hmac::Key, nonce: &str) -> String {
    tag(mac, "login", nonce)
}

/// Whether `presented` is the sign-in token of `nonce` (constant time).
pub fn login_token_ok(mac: &hmac::Key, nonce: &str, presented: &str) -> bool {
    is_hex(nonce, 32) && ct_eq(login_token(mac, nonce).as_bytes(), presented.as_bytes())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` under TLS;
/// `max_age` 0 deletes it.
pub fn set_cookie(
    names: Names,
    name: &str,
    value: &str,
    max_age: std::time::Duration,
) -> HeaderValue {
    let secure = if names.secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.as_secs()
    );
    // Every part is ours: names are constants, values hex, base64url and digits.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, b"a test key of the console's cookies")
    }

    fn session(now: UnixMillis) -> Session {
        Session {
            key_id: "0123456789abcdef".into(),
            id: "00112233445566778899aabbccddeeff".into(),
            opened: now,
            seen: now,
        }
    }

    #[test]
    fn a_sealed_session_opens_until_idle_or_absolute_timeout() {
        let now = 1_800_000_000_000;
        let s = session(now);
        let value = s.seal(&mac());
        assert_eq!(Session::open(&mac(), &value, now), Some(s.clone()));
        let idle = i64::try_from(IDLE.as_millis()).unwrap_or(0);
        assert!(Session::open(&mac(), &value, now + idle - 1).is_some());
        assert_eq!(Session::open(&mac(), &value, now + idle), None);
        // Kept alive by requests, it still ends at the absolute limit.
        let absolute = i64::try_from(ABSOLUTE.as_millis()).unwrap_or(0);
        let late = Session {
            seen: now + absolute - 1000,
            ..s
        };
        assert!(Session::open(&mac(), &late.seal(&mac()), now + absolute - 1).is_some());
        assert_eq!(
            Session::open(&mac(), &late.seal(&mac()), now + absolute),
            None
        );
    }

    #[test]
    fn a_changed_or_foreign_cookie_does_not_open() {
        let now = 1_800_000_000_000;
        let value = session(now).seal(&mac());
        let other = hmac::Key::new(hmac::HMAC_SHA256, b"another installation");
        assert_eq!(Session::open(&other, &value, now), None);
        let forged = value.replacen("0123456789abcdef", "0123456789abcdee", 1);
        assert_eq!(Session::open(&mac(), &forged, now), None);
        for bad in ["", ".", "v1", &"a".repeat(300), "v1.x.y.1.2.tag"] {
            assert_eq!(Session::open(&mac(), bad, now), None, "{bad}");
        }
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let now = 1_800_000_000_000;
        let a = session(now);
        let b = Session {
            id: "ffeeddccbbaa99887766554433221100".into(),
            ..a.clone()
        };
        assert!(a.csrf_ok(&mac(), &a.csrf(&mac())));
        assert!(!a.csrf_ok(&mac(), &b.csrf(&mac())));
        assert!(!a.csrf_ok(&mac(), ""));
        let nonce = "00112233445566778899aabbccddeeff";
        assert!(login_token_ok(&mac(), nonce, &login_token(&mac(), nonce)));
        assert!(!login_token_ok(&mac(), nonce, &a.csrf(&mac())));
        assert!(!login_token_ok(
            &mac(),
            "short",
            &login_token(&mac(), "short")
        ));
    }

    proptest::proptest! {
        /// Any cookie value: no panic, and only what the key sealed opens.
        #[test]
        fn only_sealed_values_open(value in ".{0,300}", skew in -3_600_000i64..50_000_000) {
            let now = 1_800_000_000_000 + skew;
            if let Some(s) = Session::open(&mac(), &value, now) {
                proptest::prop_assert_eq!(s.seal(&mac()), value);
            }
        }

        /// Any session seals and opens to itself while live.
        #[test]
        fn sessions_round_trip(
            key_id in "[0-9a-f]{16}",
            id in "[0-9a-f]{32}",
            idle in 0i64..1_799_999,
        ) {
            let s = Session { key_id, id, opened: 1_800_000_000_000, seen: 1_800_000_000_000 };
            let opened = Session::open(&mac(), &s.seal(&mac()), s.seen + idle);
            proptest::prop_assert_eq!(opened, Some(s));
        }
    }

    #[test]
    fn cookies_are_found_among_others_and_set_with_their_attributes() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; wc_console=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, "wc_console"), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "wc"), None);
        let plain = set_cookie(Names::new(false), "wc_console", "v", IDLE);
        assert_eq!(
            plain.to_str().unwrap_or(""),
            "wc_console=v; Path=/; Max-Age=1800; HttpOnly; SameSite=Strict"
        );
        let tls = Names::new(true);
        let secure = set_cookie(tls, tls.session, "v", IDLE);
        assert!(
            secure
                .to_str()
                .unwrap_or("")
                .starts_with("__Host-wc_console=v; Path=/;")
        );
        assert!(secure.to_str().unwrap_or("").ends_with("; Secure"));
    }
}
