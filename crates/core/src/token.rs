//! The refresh-token format: 49 bytes, base64url without padding,
//! `version(1) | session id(8) | generation(8) | nonce(16) | mac(16)`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::{EnvSecrets, HASH_LEN, ct_eq, keyed_hash, random_bytes};
use crate::error::Error;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 16;
const MAC_LEN: usize = 16;
const BODY_LEN: usize = 1 + 8 + 8 + NONCE_LEN;
const RAW_LEN: usize = BODY_LEN + MAC_LEN;
/// Length of an encoded refresh token in characters.
pub const ENCODED_LEN: usize = (RAW_LEN * 4).div_ceil(3);

/// The refresh-token format. A refresh token is 49 bytes, base64url without padding:
/// `version(1) | session id(8) | generation(8) | nonce(16) | mac(16)`.
///
/// * The MAC (HMAC-SHA256 under the environment's key, truncated to 128 bits) makes a
///   forged or altered token fail before any database work, and lets the service tell a
///   genuine but spent token (reuse, revoke the session) from garbage (just refuse).
/// * The successor of a token is derived from it with a keyed hash, so rotating the same
///   token twice gives the same successor: the grace window is idempotent without ever
///   storing a token in plaintext (only keyed hashes are stored).
/// * The session id lets the store find the session by primary key.
///
/// A refresh token whose MAC has been checked (or which was just minted).
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    raw: [u8; RAW_LEN],
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret parts.
        f.debug_struct("RefreshToken")
            .field("session_id", &self.session_id())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl RefreshToken {
    /// Decodes and authenticates a presented token; `None` for anything that was not
    /// minted by this environment's keys. Work is bounded: the length is checked before
    /// decoding.
    pub fn parse(s: &str, secrets: &EnvSecrets) -> Option<Self> {
        if s.len() != ENCODED_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN];
        let n = URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut raw).ok()?;
        if n != RAW_LEN || raw[0] != VERSION {
            return None;
        }
        let mac = keyed_hash(&secrets.token_mac, &raw[..BODY_LEN]);
        if !ct_eq(&mac[..MAC_LEN], &raw[BODY_LEN..]) {
            return None;
        }
        let t = Self { raw };
        (t.generation() >= 0).then_some(t)
    }

    /// The first refresh token of a new session: generation 0, random nonce.
    pub fn first(session_id: i64, secrets: &EnvSecrets) -> Result<Self, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        Ok(Self::build(session_id, 0, &nonce, secrets))
    }

    /// The token that replaces this one on rotation. Deterministic: the same token
    /// always has the same successor.
    pub fn successor(&self, secrets: &EnvSecrets) -> Self {
        let derived = keyed_hash(&secrets.successor, &self.raw);
        Self::build(
            self.session_id(),
            self.generation().saturating_add(1),
            &derived[..NONCE_LEN],
            secrets,
        )
    }

    fn build(session_id: i64, generation: i64, nonce: &[u8], secrets: &EnvSecrets) -> Self {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1..9].copy_from_slice(&session_id.to_be_bytes());
        raw[9..17].copy_from_slice(&generation.to_be_bytes());
        raw[17..BODY_LEN].copy_from_slice(nonce);
        let mac = keyed_hash(&secrets.token_mac, &raw[..BODY_LEN]);
        raw[BODY_LEN..].copy_from_slice(&mac[..MAC_LEN]);
        Self { raw }
    }

    /// The session (token family) this token belongs to.
    pub fn session_id(&self) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.raw[1..9]);
        i64::from_be_bytes(b)
    }

    /// How many rotations precede this token in its session.
    pub fn generation(&self) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.raw[9..17]);
        i64::from_be_bytes(b)
    }

    /// The keyed hash that the store keeps instead of the token.
    pub fn hash(&self, secrets: &EnvSecrets) -> [u8; HASH_LEN] {
        keyed_hash(&secrets.token_hash, &self.raw)
    }

    /// The string handed to the client.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use proptest::prelude::*;

    fn secrets(env: &str) -> EnvSecrets {
        #[allow(clippy::unwrap_used)]
        MasterKey::from_bytes([3; 32]).env_secrets(env).unwrap()
    }

    #[test]
    fn round_trip_and_successor_is_deterministic() -> Result<(), Error> {
        let s = secrets("sandbox");
        let t = RefreshToken::first(42, &s)?;
        let enc = t.encode();
        assert_eq!(enc.len(), ENCODED_LEN);
        let back = RefreshToken::parse(&enc, &s);
        assert_eq!(back.as_ref(), Some(&t));
        let a = t.successor(&s);
        let b = t.successor(&s);
        assert_eq!(a, b);
        assert_eq!(a.generation(), 1);
        assert_eq!(a.session_id(), 42);
        assert_ne!(a.encode(), t.encode());
        assert_ne!(a.successor(&s), a);
        Ok(())
    }

    #[test]
    fn other_environment_or_altered_token_is_refused() -> Result<(), Error> {
        let s = secrets("sandbox");
        let p = secrets("production");
        let enc = RefreshToken::first(1, &s)?.encode();
        assert!(RefreshToken::parse(&enc, &p).is_none());
        for i in 0..enc.len() {
            let mut bytes = enc.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8_lossy(&bytes).into_owned();
            if altered != enc {
                assert!(RefreshToken::parse(&altered, &s).is_none(), "position {i}");
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_no_garbage(input in ".{0,200}") {
            let s = secrets("sandbox");
            prop_assert!(RefreshToken::parse(&input, &s).is_none());
        }

        #[test]
        fn parse_of_right_length_garbage_is_refused(input in "[A-Za-z0-9_-]{66}") {
            let s = secrets("sandbox");
            prop_assert!(RefreshToken::parse(&input, &s).is_none());
        }
    }
}
