//! Item 4 of issue #17: retries follow the server's `Retry-After`, and a retry policy
//! that would hammer the server is refused when the session is built.

use std::sync::Arc;
use std::time::Duration;

use wirecash_client::{Client, Error, ManualClock, RetryPolicy, Session, Tokens};

use crate::support::{Stub, answer};

const UNAVAILABLE: &str =
    r#"{"error":"temporarily_unavailable","error_description":"come back later"}"#;

fn unavailable(
    retry_after: &'static str,
) -> impl Fn(&crate::support::Seen) -> axum::http::Response<axum::body::Body> + Clone {
    move |_| {
        answer(
            503,
            &[
                ("content-type", "application/json"),
                ("retry-after", retry_after),
            ],
            UNAVAILABLE,
        )
    }
}

#[tokio::test]
async fn after_a_503_with_retry_after_no_new_attempt_starts_before_it_has_passed() {
    let stub = Stub::serve(unavailable("30")).await;
    let client = Client::builder().sandbox(&stub.base).build().unwrap();
    let session = Session::builder(client, "alice")
        .password("pw")
        .retry(RetryPolicy {
            window: Duration::from_millis(500),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let e = session.token().await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)), "{e:?}");
    // Well past max_backoff, well before the 30 s: every caller gets the error, and no
    // request is sent.
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let e = session.token().await.unwrap_err();
        assert!(matches!(e, Error::TemporarilyUnavailable { .. }), "{e:?}");
    }
    assert_eq!(stub.count(), 1, "the server asked for 30 s of quiet");
}

#[tokio::test]
async fn a_retry_policy_without_back_off_is_refused_when_building() {
    let client = Client::builder()
        .sandbox("http://127.0.0.1:9")
        .build()
        .unwrap();
    for bad in [
        RetryPolicy {
            initial_backoff: Duration::ZERO,
            ..RetryPolicy::default()
        },
        RetryPolicy {
            initial_backoff: Duration::from_secs(3),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        },
    ] {
        let built = Session::builder(client.clone(), "alice")
            .password("pw")
            .retry(bad)
            .build();
        assert!(
            matches!(built, Err(Error::Config(_))),
            "{bad:?} was accepted"
        );
    }
}

#[tokio::test]
async fn retry_after_is_capped_by_the_policy() {
    let stub = Stub::serve(unavailable("86400")).await;
    let client = Client::builder().sandbox(&stub.base).build().unwrap();
    let session = Session::builder(client, "alice")
        .password("pw")
        .retry(RetryPolicy {
            window: Duration::from_millis(100), // the capped 150 ms do not fit: no retry inside
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(150),
        })
        .build()
        .unwrap();
    session.token().await.unwrap_err();
    session.token().await.unwrap_err();
    assert_eq!(stub.count(), 1, "held");
    tokio::time::sleep(Duration::from_millis(300)).await;
    session.token().await.unwrap_err();
    assert_eq!(stub.count(), 2, "a day is capped at 150 ms");
    assert!(
        stub.seen()
            .iter()
            .all(|s| s.method == "POST" && s.path == "/sandbox/authenticate")
    );
}

#[tokio::test]
async fn the_pause_after_a_failure_runs_on_a_monotonic_clock() {
    // The wall clock is stepped back by five minutes after a failed refresh: the
    // pause must still end after max_backoff, not five minutes later.
    let stub = Stub::serve(unavailable("0")).await;
    let clock = ManualClock::starting_now();
    let now = wirecash_client::Clock::now_millis(&clock);
    let client = Client::builder()
        .sandbox(&stub.base)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let expired = Tokens {
        username: "alice".into(),
        access_token: "a.b.c".into(),
        refresh_token: "r".into(),
        expires_in: 3600,
        expires_at_ms: now - 600_000,
    };
    let session = Session::builder(client, "alice")
        .tokens(expired)
        .retry(RetryPolicy {
            window: Duration::from_millis(50),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    session.token().await.unwrap_err();
    let tried = stub.count();
    assert!(tried >= 1);
    clock.set_millis(now - 300_000); // NTP steps the clock back; the token is still expired
    tokio::time::sleep(Duration::from_millis(200)).await;
    session.token().await.unwrap_err();
    assert!(
        stub.count() > tried,
        "no new attempt after the pause: the wall-clock step stretched it"
    );
}
