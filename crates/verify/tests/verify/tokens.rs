//! Item 5 of issue #17: one ES256 token has two valid signatures (`s` and `n − s`);
//! what a `TokenCheck` is handed must not tell them apart.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use wirecash_verify::{
    AccessTokenClaims, BoxFuture, Clock, ManualClock, Rejection, RejectionKind, TokenCheck,
    Verifier,
};

use crate::support::{ed25519, p256, token};

const ISSUER: &str = "https://auth.example/sandbox";

/// The order of P-256 (big-endian).
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order of the Ed25519 group, L (little-endian, as in signatures).
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a - b` of big-endian 256-bit numbers (a ≥ b).
fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// `a + b` of little-endian 256-bit numbers (no overflow expected).
fn add_le(a: &[u8], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

/// The same token with its signature changed by `f` (on the raw signature bytes).
fn resigned(token: &str, f: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let raw = B64.decode(sig).unwrap();
    format!("{signed}.{}", B64.encode(f(&raw)))
}

/// `(r, s)` → `(r, n − s)`: the other valid ECDSA signature of the same message.
fn malleated_es256(token: &str) -> String {
    resigned(token, |raw| {
        let mut out = raw[..32].to_vec();
        out.extend_from_slice(&sub_be(&P256_N, &raw[32..]));
        out
    })
}

/// Remembers every token string it is handed, and refuses those on its deny-list: a
/// revocation list keyed on the token string, as `TokenCheck` receives it.
#[derive(Clone, Default)]
struct DenyList {
    seen: Arc<Mutex<Vec<String>>>,
    denied: Arc<Mutex<HashSet<String>>>,
}

impl TokenCheck for DenyList {
    fn check<'a>(
        &'a self,
        token: &'a str,
        _claims: &'a AccessTokenClaims,
    ) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(token.to_string());
            if self.denied.lock().unwrap().contains(token) {
                Err(Rejection::invalid("the token is on the deny-list"))
            } else {
                Ok(())
            }
        })
    }
}

fn static_verifier(keys: Vec<Jwk>, clock: &ManualClock, check: Option<DenyList>) -> Verifier {
    let mut b = Verifier::builder(ISSUER)
        .static_jwks(serde_json::to_string(&JwkSet { keys }).unwrap())
        .clock(Arc::new(clock.clone()));
    if let Some(c) = check {
        b = b.check(c);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn an_es256_token_and_its_malleated_twin_are_one_token_to_a_check() {
    let (ec, ec_jwk) = p256();
    let clock = ManualClock::starting_now();
    let now_s = clock.now_millis() / 1000;
    let plain = static_verifier(vec![ec_jwk.clone()], &clock, None);
    let deny = DenyList::default();
    let checked = static_verifier(vec![ec_jwk], &clock, Some(deny.clone()));
    for _ in 0..8 {
        let original = token(Algorithm::ES256, "ec", &ec, ISSUER, now_s);
        let twin = malleated_es256(&original);
        assert_ne!(twin, original);
        // Both are genuine signatures of the same claims: ECDSA allows both.
        plain.verify(&original).await.unwrap();
        plain.verify(&twin).await.unwrap();

        deny.seen.lock().unwrap().clear();
        checked.verify(&original).await.unwrap();
        checked.verify(&twin).await.unwrap();
        let seen = deny.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], seen[1], "the check told the two strings apart");

        // A deny-list fed what the check saw stops both strings.
        deny.denied.lock().unwrap().insert(seen[0].clone());
        for t in [&original, &twin] {
            let e = checked.verify(t).await.unwrap_err();
            assert_eq!(e.kind(), RejectionKind::Invalid);
            assert_eq!(e.description(), "the token is on the deny-list");
        }
    }
}

#[tokio::test]
async fn an_ed25519_signature_with_s_plus_l_is_refused() {
    // RFC 8032 §5.1.7: S must be below L. (This held before; it stays tested.)
    let (ed, ed_jwk) = ed25519();
    let clock = ManualClock::starting_now();
    let now_s = clock.now_millis() / 1000;
    let verifier = static_verifier(vec![ed_jwk], &clock, None);
    let original = token(Algorithm::EdDSA, "ed", &ed, ISSUER, now_s);
    verifier.verify(&original).await.unwrap();
    let twin = resigned(&original, |raw| {
        let mut out = raw[..32].to_vec();
        out.extend_from_slice(&add_le(&raw[32..], &ED25519_L));
        out
    });
    let e = verifier.verify(&twin).await.unwrap_err();
    assert!(e.description().contains("signature"), "{e}");
}

#[tokio::test]
async fn a_signature_with_non_canonical_base64_is_refused() {
    // 64 bytes are 86 base64url characters with 4 spare bits: setting them gives a
    // second spelling of the same signature, which the decoder refuses.
    let (ed, ed_jwk) = ed25519();
    let clock = ManualClock::starting_now();
    let now_s = clock.now_millis() / 1000;
    let verifier = static_verifier(vec![ed_jwk], &clock, None);
    let original = token(Algorithm::EdDSA, "ed", &ed, ISSUER, now_s);
    let (signed, sig) = original.rsplit_once('.').unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = sig.as_bytes()[sig.len() - 1];
    let index = alphabet.iter().position(|c| *c == last).unwrap();
    let respelled = alphabet[index | 0b11] as char;
    if respelled as u8 != last {
        let twin = format!("{signed}.{}{respelled}", &sig[..sig.len() - 1]);
        verifier.verify(&twin).await.unwrap_err();
    }
}

#[test]
fn the_token_services_es256_signatures_are_not_low_s_normalised() {
    // Why the verifier canonicalises instead of refusing high-S signatures: the token
    // service signs with aws-lc-rs's EcdsaKeyPair (crates/core/src/keys.rs), whose
    // `s` is not normalised, so about half of its genuine ES256 tokens are high-S.
    // Should this ever fail, aws-lc-rs normalises and low-S only could be required.
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let half_n = {
        // (n - 1) / 2, big-endian: n is odd.
        let mut h = sub_be(&P256_N, &[0; 32]);
        let mut carry = 0u8;
        for b in h.iter_mut() {
            let next = *b & 1;
            *b = (*b >> 1) | (carry << 7);
            carry = next;
        }
        h
    };
    let high = (0..200)
        .filter(|i| {
            let sig = key.sign(&rng, format!("message {i}").as_bytes()).unwrap();
            sig.as_ref()[32..] > half_n[..]
        })
        .count();
    eprintln!("{high} of 200 signatures are high-S");
    assert!(
        (40..=160).contains(&high),
        "{high} of 200 signatures are high-S"
    );
}
