//! Item 1 of issue #17: credentials must never follow a redirect. The "edge" answers
//! every request with a redirect to a second local server, which records what it gets.

use wirecash_client::{Client, Error, Tokens};

use crate::support::{Stub, answer, tokens};

fn some_tokens() -> Tokens {
    Tokens {
        username: "alice".into(),
        access_token: "a.b.c".into(),
        refresh_token: "SECRET-refresh".into(),
        expires_in: 3600,
        expires_at_ms: 0,
    }
}

#[tokio::test]
async fn credentials_and_refresh_tokens_are_never_sent_where_a_redirect_points() {
    let elsewhere = Stub::serve(|_| tokens("eyJ.from.elsewhere")).await;
    for status in [301u16, 302, 303, 307, 308] {
        let target = format!("{}/sandbox/capture", elsewhere.base);
        let location = target.clone();
        let edge = Stub::serve(move |_| answer(status, &[("location", &location)], "")).await;
        let client = Client::builder().sandbox(&edge.base).build().unwrap();

        let e = client
            .authenticate("alice", "SECRET-password")
            .await
            .unwrap_err();
        assert!(e.to_string().contains(&target), "{status}: {e}");
        assert!(!e.is_retryable(), "{status}: {e}");
        match &e {
            Error::Redirect {
                status: s,
                location: Some(l),
            } => assert_eq!((*s, l.as_str()), (status, target.as_str())),
            other => panic!("{status}: expected Error::Redirect, got {other:?}"),
        }
        let e = client.refresh(&some_tokens()).await.unwrap_err();
        assert!(e.to_string().contains(&target), "{status}: {e}");
        assert!(matches!(e, Error::Redirect { .. }), "{status}: {e:?}");
        assert_eq!(edge.count(), 2, "{status}: one request each, not followed");
    }
    assert!(
        elsewhere.seen().is_empty(),
        "the redirect target received {:?}",
        elsewhere.seen()
    );
}

#[tokio::test]
async fn a_relative_location_is_reported_as_an_absolute_url() {
    let edge = Stub::serve(|_| answer(308, &[("location", "/elsewhere/authenticate")], "")).await;
    let client = Client::builder().sandbox(&edge.base).build().unwrap();
    let e = client.authenticate("alice", "pw").await.unwrap_err();
    let expected = format!("{}/elsewhere/authenticate", edge.base);
    assert!(
        matches!(&e, Error::Redirect { status: 308, location: Some(l) } if *l == expected),
        "{e:?}"
    );
    assert_eq!(edge.count(), 1);
}

#[tokio::test]
async fn with_a_callers_client_that_follows_redirects_the_answer_is_still_refused() {
    // The documented caveat: a reqwest client of the caller's own that follows
    // redirects has sent the body before this crate sees the answer. Its tokens are
    // refused all the same.
    let elsewhere = Stub::serve(|_| tokens("eyJ.from.elsewhere")).await;
    let target = format!("{}/capture", elsewhere.base);
    let edge = Stub::serve(move |_| answer(307, &[("location", &target)], "")).await;
    let client = Client::builder()
        .sandbox(&edge.base)
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    let e = client
        .authenticate("alice", "pw-followed")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Redirect { .. }), "{e:?}");
    let seen = elsewhere.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/capture")
    );
    assert!(seen[0].body.contains("pw-followed"), "why the docs warn");
}
