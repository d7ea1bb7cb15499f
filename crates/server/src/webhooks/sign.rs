//! Standard Webhooks signing (standardwebhooks.com): `whsec_` secrets, and
//! `webhook-signature: v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// What every secret starts with.
pub const PREFIX: &str = "whsec_";
/// Random bytes in a generated secret.
const SECRET_BYTES: usize = 32;
/// Shortest secret key accepted (bytes), as the reference libraries do.
const MIN_KEY: usize = 24;
/// Longest secret accepted (characters).
const MAX_SECRET: usize = 256;

/// A signing secret's key bytes (the base64 part of `whsec_…`, decoded).
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_***)")
    }
}

impl Secret {
    /// A new random secret and its `whsec_` form (shown once).
    pub fn generate() -> Result<(Self, Zeroizing<String>), wirecash_core::Error> {
        let mut key = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        wirecash_core::crypto::random_bytes(&mut key)?;
        let text = Zeroizing::new(format!("{PREFIX}{}", STANDARD.encode(key.as_slice())));
        Ok((Self(key), text))
    }

    /// A `whsec_` secret; `None` for anything else (its text is never quoted back).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() > MAX_SECRET {
            return None;
        }
        let key = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (key.len() >= MIN_KEY).then(|| Self(Zeroizing::new(key)))
    }

    /// The key bytes (sealed for storage).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// From stored key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// `v1,<signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }
}

/// The `webhook-signature` header: one `v1,…` per secret, space-separated (during a
/// secret rotation both the new and the previous secret sign).
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let secret = secret.map(|s| {
            s.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
        });
        assert_eq!(
            secret.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn only_whsec_secrets_of_enough_bytes_parse_and_debug_hides_them() {
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_none());
        assert!(Secret::parse("whsec_not base64!").is_none());
        let (s, text) = Secret::generate()
            .ok()
            .unwrap_or_else(|| (Secret::from_bytes(&[0; 32]), Zeroizing::new(String::new())));
        assert!(text.starts_with(PREFIX));
        assert_eq!(
            Secret::parse(&text).map(|p| p.bytes().to_vec()),
            Some(s.bytes().to_vec())
        );
        assert_eq!(format!("{s:?}"), "Secret(whsec_***)");
    }

    #[test]
    fn a_rotation_signs_with_both() {
        let (a, b) = (Secret::from_bytes(&[1; 32]), Secret::from_bytes(&[2; 32]));
        let h = signature_header(&[a.clone(), b.clone()], "id", 5, b"{}");
        assert_eq!(
            h,
            format!("{} {}", a.sign("id", 5, b"{}"), b.sign("id", 5, b"{}"))
        );
    }
}
