//! Access tokens (SPEC §3): minted as JWTs of the RFC 9068 profile, peeked at without a
//! signature check where a stored hash vouches for them, and verified against the keys.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use zeroize::Zeroizing;

use wirecash_proto::AccessTokenClaims;

use crate::clock::{UnixMillis, millis};
use crate::crypto::{EnvSecrets, HASH_LEN, keyed_hash};
use crate::error::Error;
use crate::keys::SigningKey;

/// Longest access token whose parts are looked at (ours are under 1 KiB): bounded work
/// for whatever a client sends.
pub const MAX_LEN: usize = 4096;

/// A freshly minted access token, with what the store keeps of it.
pub struct Minted {
    /// The JWT.
    pub token: Zeroizing<String>,
    /// Its keyed hash (the refresh binding).
    pub hash: [u8; HASH_LEN],
    /// The JWT, encrypted (a grace replay returns it).
    pub sealed: Vec<u8>,
    /// Its `exp`, in milliseconds.
    pub expires_at: UnixMillis,
}

/// Who an access token is for.
pub struct Subject<'a> {
    /// Environment name.
    pub env: &'a str,
    /// `{public_url}/{env}`.
    pub issuer: &'a str,
    /// Stable user id (`sub`).
    pub user_id: &'a str,
    /// The API user (also the OAuth 2.0 client).
    pub username: &'a str,
    /// Session id.
    pub sid: i64,
    /// Generation of the refresh token it is issued with.
    pub generation: i64,
}

/// The claims of `AccessTokenClaims`, borrowed for minting: the same fields in the same
/// order, so the same JSON, without a `String` per claim on the refresh hot path (a
/// test holds the two to the same bytes).
#[derive(serde::Serialize)]
struct MintClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    username: &'a str,
    sid: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
    env: &'a str,
}

/// Signs the claims of `subject` with `key`, valid for `ttl` from `now`, and seals the
/// result for the session's row.
pub fn mint(
    key: &SigningKey,
    secrets: &EnvSecrets,
    subject: &Subject<'_>,
    ttl: std::time::Duration,
    now: UnixMillis,
) -> Result<Minted, Error> {
    let iat = now / 1000;
    let exp = iat.saturating_add(millis(ttl) / 1000);
    let mut sid = ShortText::new();
    let mut jti = uuid::Uuid::encode_buffer();
    let claims = MintClaims {
        iss: subject.issuer,
        sub: subject.user_id,
        aud: subject.issuer,
        client_id: subject.username,
        username: subject.username,
        sid: sid.format(subject.sid).ok_or_else(too_long)?,
        iat,
        exp,
        jti: token_id()?.hyphenated().encode_lower(&mut jti),
        env: subject.env,
    };
    let token = Zeroizing::new(key.sign(&claims)?);
    crate::metrics::access_token_signed();
    let mut aad = ShortText::new();
    let sealed = secrets.access_seal.seal(
        aad.seal_aad(subject.env, subject.sid, subject.generation)
            .ok_or_else(too_long)?,
        token.as_bytes(),
    )?;
    Ok(Minted {
        hash: keyed_hash(&secrets.access_bind, token.as_bytes()),
        token,
        sealed,
        expires_at: exp.saturating_mul(1000),
    })
}

/// Opens an access token sealed by `mint` for this session and generation.
pub fn unseal(
    secrets: &EnvSecrets,
    env: &str,
    sid: i64,
    generation: i64,
    sealed: &[u8],
) -> Option<String> {
    let mut aad = ShortText::new();
    secrets
        .access_seal
        .open(aad.seal_aad(env, sid, generation)?, sealed)
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
}

fn too_long() -> Error {
    Error::Internal("an access token's session text does not fit its buffer".into())
}

/// A stack buffer for the short texts minting needs (a session id, the seal's
/// associated data: at most 27 + 32 + 2 × 20 + 2 bytes), so none needs an allocation.
struct ShortText {
    buf: [u8; 128],
}

impl ShortText {
    fn new() -> Self {
        Self { buf: [0; 128] }
    }

    /// The text of `args`; `None` if it does not fit (never cut short).
    fn write(&mut self, args: std::fmt::Arguments<'_>) -> Option<&[u8]> {
        use std::io::Write as _;
        let mut rest = &mut self.buf[..];
        rest.write_fmt(args).ok()?;
        let len = 128 - rest.len();
        Some(&self.buf[..len])
    }

    fn format(&mut self, n: i64) -> Option<&str> {
        std::str::from_utf8(self.write(format_args!("{n}"))?).ok()
    }

    /// The associated data a session's access token is sealed under.
    fn seal_aad(&mut self, env: &str, sid: i64, generation: i64) -> Option<&[u8]> {
        self.write(format_args!(
            "wirecash-auth access token|{env}|{sid}|{generation}"
        ))
    }
}

/// The three parts of a compact JWS, split once (bounded by `MAX_LEN`).
struct Parts<'a> {
    /// `header.payload`, what the signature covers.
    signing_input: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn split(token: &str) -> Option<Parts<'_>> {
    if token.len() > MAX_LEN {
        return None;
    }
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    if payload.contains('.') {
        return None;
    }
    Some(Parts {
        signing_input,
        header,
        payload,
        signature,
    })
}

/// A fresh `jti`: a version 4 UUID from pooled system randomness (see
/// `crypto::pooled_random`; `Uuid::new_v4` makes a system call per token).
fn token_id() -> Result<uuid::Uuid, Error> {
    let mut bytes = [0u8; 16];
    crate::crypto::pooled_random(&mut bytes)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// The claims of a payload segment. The JSON must be UTF-8 throughout: serde_json skips
/// a string of a claim it does not read without checking its bytes, so they are checked
/// here first.
fn claims_of(payload: &str) -> Option<AccessTokenClaims> {
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_str(object_text(&bytes)?).ok()
}

/// `bytes` as text if it can be a JSON object. serde's derived structs also take a JSON
/// array of their fields in order (`["sub", "alice", …]`); JWT claims are an object
/// (RFC 7519 §7.2), so anything else is refused before it is parsed.
fn object_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
        .then_some(text)
}

/// The claims of a compact JWS, read without verifying it: only ever used together with
/// a check that the token is one this service minted (the refresh hot path applies a
/// rotation only if the token's keyed hash is the session's live access token).
pub fn peek(token: &str) -> Option<AccessTokenClaims> {
    claims_of(split(token)?.payload)
}

/// The claims of a presented access token that the refresh hot path reads, borrowed
/// from its decoded payload (see [`peek_owner`]).
#[derive(Deserialize)]
pub struct Owner<'a> {
    /// Stable user id.
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    /// The API user's username.
    #[serde(borrow)]
    pub username: Cow<'a, str>,
    /// Session id.
    #[serde(borrow)]
    pub sid: Cow<'a, str>,
    /// The environment.
    #[serde(borrow)]
    pub env: Cow<'a, str>,
}

/// [`peek`] for the refresh hot path, without an allocation: `f` gets the claims that
/// name the token's owner, borrowed from the payload decoded on the stack. `None` if
/// the token does not parse. The same trust rule as `peek`: only ever used together
/// with a check that the token is one this service minted.
pub fn peek_owner<R>(token: &str, f: impl FnOnce(&Owner<'_>) -> R) -> Option<R> {
    let payload = split(token)?.payload;
    // `split` bounds the token to MAX_LEN characters, so this holds any payload.
    let mut buf = [0u8; MAX_LEN / 4 * 3];
    let n = URL_SAFE_NO_PAD.decode_slice(payload, &mut buf).ok()?;
    let owner: Owner<'_> = serde_json::from_str(object_text(&buf[..n])?).ok()?;
    Some(f(&owner))
}

#[derive(Deserialize)]
struct JwsHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// The claims of `token` if it is an access token of the environment `env` (issuer
/// `issuer`) signed by one of `keys` (expired or not: the caller decides what expiry
/// means). A pure function of what a client sends to `/revoke` and `/introspect` (the
/// `verify_access` fuzz target calls it).
pub fn verify(
    keys: &[&Arc<SigningKey>],
    issuer: &str,
    env: &str,
    token: &str,
) -> Option<AccessTokenClaims> {
    let parts = split(token)?;
    let header: JwsHeader =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.header).ok()?).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let key = keys.iter().find(|k| k.kid == header.kid)?;
    if header.alg != key.alg.as_str() {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(parts.signature).ok()?;
    if !key.verify(parts.signing_input.as_bytes(), &signature) {
        return None;
    }
    let claims = claims_of(parts.payload)?;
    (claims.iss == issuer && claims.env == env).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minted_claims_serialise_as_the_claims_type_and_the_aad_as_before() {
        let mut sid = ShortText::new();
        let mut jti = uuid::Uuid::encode_buffer();
        let id = uuid::Uuid::new_v4();
        let borrowed = MintClaims {
            iss: "https://a.example/sandbox",
            sub: "u-1",
            aud: "https://a.example/sandbox",
            client_id: "alice",
            username: "alice",
            sid: sid.format(-9_223_372_036_854_775_808).unwrap_or_default(),
            iat: 1,
            exp: 2,
            jti: id.hyphenated().encode_lower(&mut jti),
            env: "sandbox",
        };
        let owned = AccessTokenClaims {
            iss: "https://a.example/sandbox".into(),
            sub: "u-1".into(),
            aud: "https://a.example/sandbox".into(),
            client_id: "alice".into(),
            username: "alice".into(),
            sid: i64::MIN.to_string(),
            iat: 1,
            exp: 2,
            jti: id.to_string(),
            env: "sandbox".into(),
        };
        assert_eq!(
            serde_json::to_string(&borrowed).ok(),
            serde_json::to_string(&owned).ok()
        );
        // Rows sealed by earlier versions open: the same associated data, byte for byte.
        let env = "e".repeat(32);
        let mut aad = ShortText::new();
        assert_eq!(
            aad.seal_aad(&env, i64::MIN, i64::MAX),
            Some(format!("wirecash-auth access token|{env}|{}|{}", i64::MIN, i64::MAX).as_bytes())
        );
        // What does not fit is refused, never cut short.
        assert_eq!(ShortText::new().seal_aad(&"e".repeat(100), 1, 1), None);
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn peek_reads_the_claims_of_a_compact_jws_and_nothing_else() {
        let claims = AccessTokenClaims {
            iss: "i".into(),
            sub: "u1".into(),
            aud: "i".into(),
            client_id: "alice".into(),
            username: "alice".into(),
            sid: "42".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
            env: "sandbox".into(),
        };
        let payload = serde_json::to_string(&claims).unwrap_or_default();
        let token = format!("{}.{}.c2ln", b64("{}"), b64(&payload));
        assert_eq!(peek(&token), Some(claims.clone()));
        assert_eq!(peek_owner(&token, owner_of), Some(owner_of_claims(&claims)));
        for bad in [
            String::new(),
            "a.b".into(),
            format!("{}.{}", b64("{}"), b64(&payload)),
            format!("{}.{}.s.x", b64("{}"), b64(&payload)),
            format!("{}.{}=.s", b64("{}"), b64(&payload)),
            format!("{}.{}.s", b64("{}"), b64("{\"sub\":1}")),
            format!("h.{}.s", "A".repeat(MAX_LEN)),
            // Found by fuzzing: invalid UTF-8 in a claim that is not read.
            format!(
                "{}.{}.s",
                b64("{}"),
                URL_SAFE_NO_PAD.encode(
                    [
                        &payload.as_bytes()[..payload.len() - 1],
                        b",\"x\":\"\x83\"}"
                    ]
                    .concat()
                )
            ),
        ] {
            assert_eq!(peek(&bad), None, "{bad}");
            assert_eq!(peek_owner(&bad, owner_of), None, "{bad}");
        }
    }

    type OwnerClaims = (String, String, String, String);

    fn owner_of(o: &Owner<'_>) -> OwnerClaims {
        (
            o.sub.to_string(),
            o.username.to_string(),
            o.sid.to_string(),
            o.env.to_string(),
        )
    }

    fn owner_of_claims(c: &AccessTokenClaims) -> OwnerClaims {
        (
            c.sub.clone(),
            c.username.clone(),
            c.sid.clone(),
            c.env.clone(),
        )
    }

    #[test]
    fn token_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| token_id().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122)
        );
    }

    #[test]
    fn escaped_claims_are_read_unescaped() {
        let payload = r#"{"sub":"u\u0041","username":"al\"ice","sid":"4\u0032","env":"sand\/box"}"#;
        let token = format!("{}.{}.c2ln", b64("{}"), b64(payload));
        assert_eq!(
            peek_owner(&token, owner_of),
            Some((
                "uA".into(),
                "al\"ice".into(),
                "42".into(),
                "sand/box".into()
            ))
        );
    }

    proptest! {
        #[test]
        fn peek_never_panics(s in "\\PC{0,300}", parts in proptest::collection::vec("[A-Za-z0-9_-]{0,80}", 0..5)) {
            let _ = peek(&s);
            let _ = peek(&parts.join("."));
            let _ = peek_owner(&s, owner_of);
        }

        /// Claims sent as an array of their values in field order are no claims
        /// (found by the `access_token` fuzz target).
        #[test]
        fn claims_as_an_array_are_refused(sub in "[a-z]{1,8}", name in "[a-z]{1,8}") {
            let owner = serde_json::json!([sub, name, "7", "sandbox"]);
            let token = format!("{}.{}.c2ln", b64("{}"), b64(&owner.to_string()));
            prop_assert!(peek_owner(&token, owner_of).is_none());
            let all = serde_json::json!(["i", sub, "a", name, name, "7", 1, 2, "j", "sandbox"]);
            let token = format!("{}.{}.c2ln", b64("{}"), b64(&all.to_string()));
            prop_assert!(peek(&token).is_none());
            prop_assert!(peek_owner(&token, owner_of).is_none());
            // The fuzz target's input.
            prop_assert!(peek_owner(".WyJpNygiLCJpNygiLCJtNygtNygiLCJtNygiXQ.", owner_of).is_none());
        }

        /// Whatever `peek` reads, `peek_owner` reads the same owner from.
        #[test]
        fn peek_owner_agrees_with_peek(
            sub in "\\PC{0,20}", username in "[a-z\"\\\\]{1,12}", sid in "[0-9]{1,5}",
            drop_field in 0usize..6, extra in proptest::option::of("[a-z]{1,6}"),
        ) {
            let mut claims = serde_json::json!({
                "iss": "https://x/sandbox", "sub": sub, "aud": "https://x/sandbox",
                "client_id": username, "username": username, "sid": sid, "iat": 1,
                "exp": 2, "jti": "j", "env": "sandbox",
            });
            let names = ["sub", "username", "sid", "env", "iat", "jti"];
            if let (Some(map), Some(name)) = (claims.as_object_mut(), names.get(drop_field)) {
                map.remove(*name);
            }
            if let (Some(map), Some(extra)) = (claims.as_object_mut(), extra) {
                map.insert(format!("x_{extra}"), serde_json::json!([1, {"a": null}]));
            }
            let token = format!("{}.{}.c2ln", b64("{}"), b64(&claims.to_string()));
            let full = peek(&token);
            let owner = peek_owner(&token, owner_of);
            if let Some(full) = &full {
                prop_assert_eq!(owner, Some(owner_of_claims(full)));
            } else {
                // Only a missing claim the hot path does not read can tell them apart.
                prop_assert_eq!(owner.is_some(), drop_field >= 4);
            }
        }
    }
}
