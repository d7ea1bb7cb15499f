//! Checks that need tokens the token service would never sign: a key of our own, its
//! JWKS served on 127.0.0.1:0, and tokens with a wrong `typ`, no `kid`, a `crit`
//! header, a wrong audience, missing claims, or an algorithm that does not match the key.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;
use wirecash_verify::{ManualClock, RejectionKind, Verifier};

use crate::support::{claims, ed25519, jwks, p256, sign};

#[tokio::test]
async fn only_well_formed_access_tokens_of_the_right_key_and_audience_pass() {
    let (ed, ed_jwk) = ed25519();
    let (ec, ec_jwk) = p256();
    let (issuer, _) = jwks(vec![ed_jwk, ec_jwk], "public, max-age=30").await;
    let clock = ManualClock::starting_now();
    let now_s = wirecash_verify::Clock::now_millis(&clock) / 1000;
    let verifier = Verifier::builder(&issuer)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let good = claims(&issuer, now_s);

    // Both algorithms, each with its own key.
    let t = sign(Algorithm::EdDSA, Some("ed"), Some("at+jwt"), &good, &ed);
    assert_eq!(verifier.verify(&t).await.unwrap().username, "alice");
    let t = sign(
        Algorithm::ES256,
        Some("ec"),
        Some("application/at+jwt"),
        &good,
        &ec,
    );
    assert_eq!(verifier.verify(&t).await.unwrap().sid, "7");

    let refused = |token: String| {
        let v = verifier.clone();
        async move { v.verify(&token).await.unwrap_err() }
    };
    // typ must say access token (RFC 9068 §4).
    for typ in [None, Some("JWT")] {
        let e = refused(sign(Algorithm::EdDSA, Some("ed"), typ, &good, &ed)).await;
        assert!(e.description().contains("typ"), "{e}");
    }
    // kid is required.
    let e = refused(sign(Algorithm::EdDSA, None, Some("at+jwt"), &good, &ed)).await;
    assert!(e.description().contains("kid"), "{e}");
    // The header's algorithm must match the key named by kid.
    let e = refused(sign(
        Algorithm::ES256,
        Some("ed"),
        Some("at+jwt"),
        &good,
        &ec,
    ))
    .await;
    assert!(e.description().contains("does not match"), "{e}");
    // A critical header we do not understand.
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some("at+jwt".into());
    h.kid = Some("ed".into());
    h.crit = Some(vec!["exp-ext".into()]);
    let e = refused(jsonwebtoken::encode(&h, &good, &ed).unwrap()).await;
    assert!(e.description().contains("critical"), "{e}");
    // Another audience.
    let mut other = good.clone();
    other["aud"] = json!("https://elsewhere.example/sandbox");
    let e = refused(sign(
        Algorithm::EdDSA,
        Some("ed"),
        Some("at+jwt"),
        &other,
        &ed,
    ))
    .await;
    assert!(e.description().contains("audience"), "{e}");
    // No exp at all.
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let e = refused(sign(
        Algorithm::EdDSA,
        Some("ed"),
        Some("at+jwt"),
        &no_exp,
        &ed,
    ))
    .await;
    assert!(e.description().contains("claims"), "{e}");
    // Expired by the verifier's clock.
    clock.advance(std::time::Duration::from_secs(3600 + 31));
    let e = refused(sign(
        Algorithm::EdDSA,
        Some("ed"),
        Some("at+jwt"),
        &good,
        &ed,
    ))
    .await;
    assert_eq!(e.kind(), RejectionKind::Expired);
}

#[tokio::test]
async fn the_jwks_is_cached_for_its_max_age_and_refetched_after() {
    let (ed, ed_jwk) = ed25519();
    let (issuer, fetches) = jwks(vec![ed_jwk], "public, max-age=30").await;
    let clock = ManualClock::starting_now();
    let now_s = wirecash_verify::Clock::now_millis(&clock) / 1000;
    let verifier = Verifier::builder(&issuer)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let token = sign(
        Algorithm::EdDSA,
        Some("ed"),
        Some("at+jwt"),
        &claims(&issuer, now_s),
        &ed,
    );
    for _ in 0..10 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    clock.advance(std::time::Duration::from_secs(29));
    verifier.verify(&token).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "still fresh");
    // Stale: still accepted at once, and one background fetch renews the set.
    clock.advance(std::time::Duration::from_secs(2));
    verifier.verify(&token).await.unwrap();
    for _ in 0..200 {
        if fetches.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    verifier.verify(&token).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "fresh again");
}

#[tokio::test]
async fn a_static_jwks_verifies_without_fetching_and_knows_no_other_key() {
    let (ed, ed_jwk) = ed25519();
    let (other, _) = ed25519();
    // Nothing listens at this address: any fetch would fail.
    let issuer = "http://127.0.0.1:9/sandbox";
    let doc = serde_json::to_string(&JwkSet { keys: vec![ed_jwk] }).unwrap();
    let clock = ManualClock::starting_now();
    let now_s = wirecash_verify::Clock::now_millis(&clock) / 1000;
    let verifier = Verifier::builder(issuer)
        .static_jwks(doc)
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    verifier.prefetch().await.unwrap();
    let good = claims(issuer, now_s);
    let t = sign(Algorithm::EdDSA, Some("ed"), Some("at+jwt"), &good, &ed);
    assert_eq!(verifier.verify(&t).await.unwrap().username, "alice");
    // Another key under the same kid, and an unknown kid: invalid, not "unavailable".
    for t in [
        sign(Algorithm::EdDSA, Some("ed"), Some("at+jwt"), &good, &other),
        sign(Algorithm::EdDSA, Some("new"), Some("at+jwt"), &good, &ed),
    ] {
        let e = verifier.verify(&t).await.unwrap_err();
        assert_eq!(e.kind(), RejectionKind::Invalid, "{e}");
    }
    // A document with no usable key is refused when building.
    for bad in [
        "{}",
        "not json",
        r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#,
    ] {
        assert!(
            Verifier::builder(issuer).static_jwks(bad).build().is_err(),
            "{bad}"
        );
    }
}
