//! `Verifier`: checks one access token the way RFC 9068 §4 asks, then any extra
//! [`TokenCheck`]s ([`Verifier::verify`] lists the checks).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use wirecash_proto::AccessTokenClaims;

use crate::check::TokenCheck;
use crate::clock::Clock;
use crate::jwks::JwksCache;
use crate::rejection::{Rejection, RejectionKind};

mod builder;

pub use builder::{BuildError, VerifierBuilder};

/// Longest token accepted (a WireCash access token is about 600 bytes).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The signature algorithms a verifier may accept. Only asymmetric ones exist here, so
/// `none` and HMAC (`HS256` with the public key as the secret) cannot be allowed even
/// by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// Ed25519 (the token service's default).
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

impl Alg {
    fn jwt(self) -> Algorithm {
        match self {
            Alg::EdDSA => Algorithm::EdDSA,
            Alg::ES256 => Algorithm::ES256,
        }
    }
}

/// Verifies access tokens of one environment. Cheap to clone (shares its key cache).
///
/// It verifies offline against the environment's JWKS (fetched, cached per
/// `Cache-Control`, re-fetched on an unknown `kid`); [`VerifyLayer`] and the [`Claims`]
/// extractor put it in front of axum handlers:
///
/// ```no_run
/// # fn demo() -> Result<(), wirecash_verify::BuildError> {
/// use axum::{Router, routing::get};
/// use wirecash_verify::{Claims, Verifier, VerifyLayer};
///
/// async fn whoami(claims: Claims) -> String {
///     format!("hello {}", claims.username)
/// }
///
/// let verifier = Verifier::builder("https://api.wirecash.com/sandbox").build()?;
/// let app: Router = Router::new()
///     .route("/sandbox/whoami", get(whoami))
///     .layer(VerifyLayer::new(verifier));
/// # drop(app);
/// # Ok(())
/// # }
/// ```
///
/// [`VerifyLayer`]: crate::VerifyLayer
/// [`Claims`]: crate::Claims
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("environment", &self.inner.environment)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// Unique in the process: which verifier produced a request's claims.
    id: u64,
    issuer: String,
    environment: String,
    leeway_s: i64,
    allowed: Vec<Algorithm>,
    validations: Vec<(Algorithm, Validation)>,
    jwks: Arc<JwksCache>,
    clock: Arc<dyn Clock>,
    checks: Vec<Arc<dyn TokenCheck>>,
}

impl Verifier {
    /// A builder for tokens issued by `issuer`, i.e. `{public_url}/{env}` of the token
    /// service, e.g. `https://api.wirecash.com/sandbox`.
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer.into())
    }

    /// The issuer this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The environment this verifier accepts.
    pub fn environment(&self) -> &str {
        &self.inner.environment
    }

    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// Fetches the JWKS now, so that the first request does not wait for it.
    pub async fn prefetch(&self) -> Result<(), String> {
        self.inner.jwks.prefetch().await
    }

    /// How long ago the keys in use were fetched from the JWKS (`None` before the first
    /// successful fetch, and for a [static](VerifierBuilder::static_jwks) key set): for
    /// a health check; compare with [`max_stale`](VerifierBuilder::max_stale).
    pub fn jwks_age(&self) -> Option<Duration> {
        self.inner.jwks.age()
    }

    /// Verifies a request's `Authorization` header, as [`VerifyLayer`] and the
    /// [`Claims`] extractor do: more than one such header is a bad request (RFC 6750
    /// §3.1, `invalid_request`), then as [`verify_header`](Self::verify_header).
    ///
    /// [`VerifyLayer`]: crate::VerifyLayer
    /// [`Claims`]: crate::Claims
    pub async fn verify_headers(
        &self,
        headers: &HeaderMap,
    ) -> Result<AccessTokenClaims, Rejection> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(Rejection::new(
                RejectionKind::InvalidRequest,
                "more than one Authorization header: send exactly one",
            ));
        }
        self.verify_header(first).await
    }

    /// Verifies the value of one `Authorization` header: the raw token (as WireCash
    /// clients send it) or `Bearer <token>` (RFC 6750 §2.1). `None`, an empty value or
    /// another scheme (`Basic …`) is no token (`401` without an error code, RFC 6750
    /// §3.1); a value that is neither form is a bad request (`400 invalid_request`).
    pub async fn verify_header(
        &self,
        header: Option<&HeaderValue>,
    ) -> Result<AccessTokenClaims, Rejection> {
        let token = token_of(header)?;
        self.verify(token).await
    }

    /// Verifies one token (without any `Bearer ` prefix) the way RFC 9068 §4 asks —
    /// signature with an allow-listed asymmetric algorithm and a JWKS key of that
    /// algorithm, `typ: at+jwt`, `iss` and `aud` of the configured environment, the
    /// WireCash `env` claim, and `exp` with leeway — then any extra [`TokenCheck`]s.
    /// Signatures are jsonwebtoken's.
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims, Rejection> {
        let inner = &self.inner;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::invalid("the access token is too long"));
        }
        // The header is read before any key is chosen; its `alg` must be allowed and its
        // key must be of that very algorithm (no algorithm confusion).
        let header = decode_header(token).map_err(|_| {
            Rejection::invalid(
                "the access token is malformed or uses an algorithm that is not accepted",
            )
        })?;
        if !inner.allowed.contains(&header.alg) {
            return Err(Rejection::invalid(
                "the access token uses an algorithm that is not accepted",
            ));
        }
        match header.typ.as_deref() {
            Some(t)
                if t.eq_ignore_ascii_case("at+jwt")
                    || t.eq_ignore_ascii_case("application/at+jwt") => {}
            _ => return Err(Rejection::invalid("the token is not an access token (typ)")),
        }
        if header.crit.is_some() {
            return Err(Rejection::invalid(
                "the access token has critical header parameters we do not understand",
            ));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| Rejection::invalid("the access token names no key (kid)"))?;
        let key = inner.jwks.key(kid).await?;
        if key.alg != header.alg {
            return Err(Rejection::invalid(
                "the access token's algorithm does not match its key",
            ));
        }
        let validation = inner
            .validations
            .iter()
            .find(|(a, _)| *a == header.alg)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                Rejection::invalid("the access token uses an algorithm that is not accepted")
            })?;
        let data = decode::<AccessTokenClaims>(token, &key.key, validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            Rejection::invalid(match e.kind() {
                K::InvalidSignature => "the access token's signature does not verify",
                K::InvalidIssuer => "the access token is from another issuer or environment",
                K::InvalidAudience => "the access token is for another audience",
                K::MissingRequiredClaim(_) | K::InvalidClaimFormat(_) | K::Json(_) => {
                    "the access token lacks required claims"
                }
                _ => "the access token is invalid",
            })
        })?;
        let claims = data.claims;
        let now_s = inner.clock.now_millis().div_euclid(1000);
        if now_s > claims.exp.saturating_add(inner.leeway_s) {
            return Err(Rejection::new(
                RejectionKind::Expired,
                "the access token has expired",
            ));
        }
        if claims.env != inner.environment {
            return Err(Rejection::invalid(
                "the access token is for another environment",
            ));
        }
        if !inner.checks.is_empty() {
            // One ES256 token has two valid signatures (s and n - s): the checks get one
            // spelling of it, so that a deny-list keyed on the string cannot be walked
            // around. (Keying on `jti` or `sid` is better still.)
            let canonical = canonical_token(token, header.alg);
            for check in &inner.checks {
                check.check(&canonical, &claims).await?;
            }
        }
        Ok(claims)
    }
}

/// The token in an `Authorization` header value: `Bearer <t>` (scheme in any case, one
/// or more spaces, RFC 6750 §2.1) or the raw token, which must be a `b64token`.
fn token_of(header: Option<&HeaderValue>) -> Result<&str, Rejection> {
    let missing = |why: &'static str| Rejection::new(RejectionKind::Missing, why);
    let malformed = |why: &'static str| Rejection::new(RejectionKind::InvalidRequest, why);
    let value =
        header.ok_or_else(|| missing("no access token: send it in the Authorization header"))?;
    let text = value
        .to_str()
        .map_err(|_| malformed("the Authorization header is not visible ASCII text"))?
        .trim();
    if text.is_empty() {
        return Err(missing(
            "no access token: send it in the Authorization header",
        ));
    }
    let token = match text.split_once(' ') {
        None if text.eq_ignore_ascii_case("bearer") => {
            return Err(malformed(
                "no token after Bearer in the Authorization header",
            ));
        }
        None => text,
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim_start(),
        // Another authentication scheme (`Basic …`): no bearer token at all.
        Some((scheme, _)) if is_scheme_name(scheme) => {
            return Err(missing(
                "no access token: the Authorization header uses another scheme than Bearer",
            ));
        }
        Some(_) => {
            return Err(malformed(
                "the Authorization header holds more than a token: send `<token>` or `Bearer <token>`",
            ));
        }
    };
    if !is_b64token(token) {
        return Err(malformed(
            "the Authorization header's token has characters a token cannot have",
        ));
    }
    Ok(token)
}

/// An authentication scheme's name (`Basic`, `Digest`, `AWS4-HMAC-SHA256`, …), as
/// opposed to a JWT (which has dots).
fn is_scheme_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The order n of P-256, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// ⌊n / 2⌋ of P-256, big-endian: an `s` above it is "high".
const P256_HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// One spelling of a verified token. An ES256 signature `(r, s)` verifies as well as
/// `(r, n − s)`; the low one (`s ≤ n/2`) is the canonical one. (The token service's
/// signatures are not normalised — aws-lc-rs does not — so high-S ones cannot simply be
/// refused.) EdDSA needs nothing: `S < L` is enforced when verifying, and base64url
/// with stray trailing bits is refused when decoding.
fn canonical_token(token: &str, alg: Algorithm) -> Cow<'_, str> {
    if alg != Algorithm::ES256 {
        return Cow::Borrowed(token);
    }
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return Cow::Borrowed(token);
    };
    let Ok(raw) = URL_SAFE_NO_PAD.decode(signature) else {
        return Cow::Borrowed(token);
    };
    let Some((r, s)) = raw.split_at_checked(32) else {
        return Cow::Borrowed(token);
    };
    if s.len() != 32 || s <= &P256_HALF_N[..] {
        return Cow::Borrowed(token);
    }
    let mut low = [0u8; 32];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let (a, b) = (u16::from(P256_N[i]), u16::from(s[i]) + borrow);
        let (digit, next) = if a >= b { (a - b, 0) } else { (a + 256 - b, 1) };
        low[i] = u8::try_from(digit).unwrap_or(0);
        borrow = next;
    }
    let mut out = String::with_capacity(token.len());
    out.push_str(signed);
    out.push('.');
    let mut sig = Vec::with_capacity(64);
    sig.extend_from_slice(r);
    sig.extend_from_slice(&low);
    URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parsed(value: &str) -> Result<&str, RejectionKind> {
        // Leaked: the test's header values live as long as the test process.
        let header: &'static HeaderValue =
            Box::leak(Box::new(HeaderValue::from_str(value).unwrap()));
        token_of(Some(header)).map_err(|e| e.kind())
    }

    #[test]
    fn raw_and_bearer_headers_yield_the_token() {
        assert_eq!(parsed("a.b.c"), Ok("a.b.c"));
        assert_eq!(parsed("Bearer a.b.c"), Ok("a.b.c"));
        assert_eq!(parsed("bearer   a.b.c "), Ok("a.b.c"));
        assert_eq!(parsed("Bearer a+b/c=="), Ok("a+b/c=="));
        assert_eq!(parsed("Basic abc"), Err(RejectionKind::Missing));
        assert_eq!(parsed("  "), Err(RejectionKind::Missing));
        assert_eq!(
            token_of(None).map_err(|e| e.kind()),
            Err(RejectionKind::Missing)
        );
        for bad in [
            "Bearer",
            "Bearer a b",
            "a.b.c d",
            "Bearer a=b",
            "=",
            "Bearer\ta.b.c",
        ] {
            assert_eq!(parsed(bad), Err(RejectionKind::InvalidRequest), "{bad:?}");
        }
    }

    #[test]
    fn half_n_is_half_of_n() {
        // 2·⌊n/2⌋ + 1 = n (n is odd).
        let mut doubled = [0u8; 32];
        let mut carry = 1u16;
        for i in (0..32).rev() {
            let v = u16::from(P256_HALF_N[i]) * 2 + carry;
            doubled[i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        assert_eq!(doubled, P256_N);
    }

    #[test]
    fn the_environment_defaults_to_the_issuer_path() {
        let v = Verifier::builder("http://127.0.0.1:8080/sandbox/")
            .build()
            .unwrap();
        assert_eq!(v.environment(), "sandbox");
        assert_eq!(v.issuer(), "http://127.0.0.1:8080/sandbox");
        assert!(Verifier::builder("http://127.0.0.1:8080").build().is_err());
        assert!(
            Verifier::builder("http://h/sandbox")
                .algorithms(&[])
                .build()
                .is_err()
        );
    }
}
