//! Items 1–3 of issue #17: where the keys come from (no redirects, no plain http off
//! loopback), what callers get while the JWKS is down, how long stale keys are
//! trusted, and which clock decides.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use wirecash_verify::{Clock, ManualClock, RejectionKind, Verifier};

use crate::support::{JwksServer, ed25519, token};

fn now_s(clock: &ManualClock) -> i64 {
    clock.now_millis() / 1000
}

#[tokio::test]
async fn the_jwks_client_follows_no_redirect() {
    // Whoever answers at the redirect's target would supply the signing keys.
    let (evil, evil_jwk) = ed25519();
    let attacker = JwksServer::start(vec![evil_jwk], "max-age=300").await;
    let edge = JwksServer::start(vec![], "max-age=300").await;
    edge.redirect_to(&attacker.url);
    let clock = ManualClock::starting_now();
    let verifier = Verifier::builder(&edge.issuer)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let forged = token(Algorithm::EdDSA, "ed", &evil, &edge.issuer, now_s(&clock));
    match verifier.verify(&forged).await {
        Err(e) => assert_eq!(e.kind(), RejectionKind::KeysUnavailable, "{e}"),
        Ok(claims) => panic!("a token signed with the redirect target's key passed: {claims:?}"),
    }
    assert_eq!(attacker.fetches(), 0, "the redirect was followed");
    assert_eq!(edge.fetches(), 1);
}

#[tokio::test]
async fn plain_http_keys_are_refused_except_on_loopback_or_when_allowed() {
    for (issuer, jwks) in [
        ("http://auth.example/sandbox", None),
        (
            "https://auth.example/sandbox",
            Some("http://auth.example/sandbox/jwks"),
        ),
        (
            "https://auth.example/sandbox",
            Some("http://10.1.2.3/sandbox/jwks"),
        ),
    ] {
        let mut b = Verifier::builder(issuer);
        if let Some(j) = jwks {
            b = b.jwks_url(j);
        }
        let e = b.build().unwrap_err();
        assert!(e.to_string().contains("https"), "{issuer} {jwks:?}: {e}");
    }
    for (issuer, jwks) in [
        ("https://auth.example/sandbox", None),
        ("http://127.0.0.1:8080/sandbox", None),
        ("http://localhost:8080/sandbox", None),
        (
            "https://auth.example/sandbox",
            Some("http://[::1]:8080/sandbox/jwks"),
        ),
    ] {
        let mut b = Verifier::builder(issuer);
        if let Some(j) = jwks {
            b = b.jwks_url(j);
        }
        b.build().unwrap();
    }
}

#[tokio::test]
async fn every_request_waiting_on_a_failed_first_fetch_gets_503() {
    let (ed, ed_jwk) = ed25519();
    let server = JwksServer::start(vec![ed_jwk], "max-age=30").await;
    server.fail(true);
    server.delay(Duration::from_millis(300)); // the others queue behind the first fetch
    let clock = ManualClock::starting_now();
    let verifier = Verifier::builder(&server.issuer)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let good = token(Algorithm::EdDSA, "ed", &ed, &server.issuer, now_s(&clock));
    let results = futures_join(&verifier, &good, 5).await;
    let kinds: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map(|_| ()).map_err(|e| e.kind()))
        .collect();
    assert_eq!(
        kinds,
        vec![Err(RejectionKind::KeysUnavailable); 5],
        "a valid token must never get 401 because the keys are unreachable"
    );
    assert_eq!(server.fetches(), 1, "one fetch for all of them");
}

/// `n` concurrent verifications of `token`.
async fn futures_join(
    verifier: &Verifier,
    token: &str,
    n: usize,
) -> Vec<Result<wirecash_verify::AccessTokenClaims, wirecash_verify::Rejection>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let v = verifier.clone();
            let t = token.to_string();
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn stale_keys_are_trusted_for_a_bounded_time_only() {
    let (ed, ed_jwk) = ed25519();
    let server = JwksServer::start(vec![ed_jwk], "max-age=30").await;
    let clock = ManualClock::starting_now();
    let verifier = Verifier::builder(&server.issuer)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let good = token(Algorithm::EdDSA, "ed", &ed, &server.issuer, now_s(&clock));
    verifier.verify(&good).await.unwrap();
    // The verifier is cut off from the JWKS.
    server.fail(true);
    clock.advance(Duration::from_secs(30 + 3600 - 60));
    verifier.verify(&good).await.unwrap(); // stale, within the default bound (1 h)
    server.until_fetches(2).await;
    clock.advance(Duration::from_secs(120));
    let e = verifier.verify(&good).await.unwrap_err();
    assert_eq!(
        e.kind(),
        RejectionKind::KeysUnavailable,
        "keys an hour past their max-age, unconfirmed, are still trusted: {e}"
    );
    // Once the JWKS answers again, the key is confirmed and trusted again.
    server.fail(false);
    clock.advance(Duration::from_secs(11));
    verifier.verify(&good).await.unwrap();
}

#[tokio::test]
async fn a_wall_clock_stepped_back_delays_neither_refresh_nor_refetch() {
    let (ed, ed_jwk) = ed25519();
    let server = JwksServer::start(vec![ed_jwk], "max-age=30").await;
    let clock = ManualClock::starting_now();
    let verifier = Verifier::builder(&server.issuer)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let good = token(Algorithm::EdDSA, "ed", &ed, &server.issuer, now_s(&clock));
    verifier.verify(&good).await.unwrap();
    assert_eq!(server.fetches(), 1);
    // NTP steps the clock back an hour; then 31 s pass.
    clock.set_millis(clock.now_millis() - 3_600_000);
    clock.advance(Duration::from_secs(31));
    verifier.verify(&good).await.unwrap();
    server.until_fetches(2).await;
    assert_eq!(
        server.fetches(),
        2,
        "the set went stale after 31 s: refreshed"
    );
    // And an unknown kid may look again once min_refetch_interval (10 s) has passed.
    clock.advance(Duration::from_secs(11));
    let (other, _) = ed25519();
    let unknown = token(
        Algorithm::EdDSA,
        "new",
        &other,
        &server.issuer,
        now_s(&clock),
    );
    verifier.verify(&unknown).await.unwrap_err();
    assert_eq!(server.fetches(), 3, "the unknown kid was looked up");
}

#[tokio::test]
async fn the_staleness_bound_is_configurable_and_reported() {
    let metrics = crate::recorder::values();
    let (ed, ed_jwk) = ed25519();
    let server = JwksServer::start(vec![ed_jwk], "max-age=30").await;
    let clock = ManualClock::starting_now();
    let verifier = Verifier::builder(&server.issuer)
        .clock(Arc::new(clock.clone()))
        .max_stale(Duration::from_secs(60))
        .build()
        .unwrap();
    let issuer = format!("issuer={:?}", server.issuer);
    let ok = format!("{issuer},outcome=\"ok\"");
    let failed = format!("{issuer},outcome=\"error\"");
    assert_eq!(verifier.jwks_age(), None);
    let good = token(Algorithm::EdDSA, "ed", &ed, &server.issuer, now_s(&clock));
    verifier.verify(&good).await.unwrap();
    assert_eq!(verifier.jwks_age(), Some(Duration::ZERO));
    assert_eq!(
        metrics.counter("wirecash_verify_jwks_fetches_total", &ok),
        1
    );
    let last = metrics
        .gauge(
            "wirecash_verify_jwks_last_success_timestamp_seconds",
            &issuer,
        )
        .unwrap();
    assert_eq!(last.floor() as i64, now_s(&clock));

    server.fail(true);
    clock.advance(Duration::from_secs(30 + 59));
    verifier.verify(&good).await.unwrap(); // stale, within the 60 s
    server.until_fetches(2).await;
    assert_eq!(verifier.jwks_age(), Some(Duration::from_secs(89)));
    assert_eq!(
        metrics.counter("wirecash_verify_jwks_fetches_total", &failed),
        1
    );
    clock.advance(Duration::from_secs(2));
    let e = verifier.verify(&good).await.unwrap_err();
    assert_eq!(e.kind(), RejectionKind::KeysUnavailable);
    assert_eq!(
        metrics.counter("wirecash_verify_jwks_stale_refusals_total", &issuer),
        1
    );
    // The last success did not move.
    assert_eq!(
        metrics.gauge(
            "wirecash_verify_jwks_last_success_timestamp_seconds",
            &issuer
        ),
        Some(last)
    );
}
