//! A refresh whose answer is lost on the way back: retried with the same refresh token
//! inside the grace window (the session survives); after it, the session is gone and
//! the client authenticates again with its password, or says clearly that it cannot.

// An ended session is reported to the application (`SessionEvent`), and a policy
// (`WhenEnded`) says whether the session starts again.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use wirecash_core::events::Actor;

use wirecash_client::{Error, Session, SessionEvent, WhenEnded};

use crate::client_session::{AUTH, Alice, REFRESH, client};

#[tokio::test]
async fn a_refresh_whose_answer_is_lost_is_retried_and_the_session_survives() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    // No password: surviving must not rely on a fresh authenticate.
    let t0 = client(&proxy, &clock)
        .authenticate("alice", &pw)
        .await
        .unwrap();
    app.remember(&t0.access_token);
    app.remember(&t0.refresh_token);
    let session = Session::builder(client(&proxy, &clock), "alice")
        .tokens(t0.clone())
        .build()
        .unwrap();

    clock.advance(Duration::from_secs(3601));
    proxy.drop_next_answer(REFRESH, || {});
    let t1 = session.token().await.unwrap();
    assert_eq!(proxy.count(REFRESH), 2, "the lost one and its retry");
    let after = session.current_tokens().unwrap();
    assert_ne!(after.refresh_token, t0.refresh_token);
    assert_eq!(after.access_token, t1.as_str());
    app.remember(&after.refresh_token);

    // Same session, still live, and it refreshes on.
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
    clock.advance(Duration::from_secs(3601));
    let t2 = session.token().await.unwrap();
    assert_ne!(t2, t1);
    assert_eq!(proxy.count(REFRESH), 3);
    assert_eq!(proxy.count(AUTH), 1, "never authenticated again");
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
}

#[tokio::test]
async fn a_retry_outside_the_grace_window_authenticates_again_with_the_password() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let (events, sink) = recorder();
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .on_event(sink)
        .build()
        .unwrap();
    let t0 = session.token().await.unwrap();
    app.remember(t0.as_str());
    let old_sid = crate::support::claims(t0.as_str())["sid"].clone();

    clock.advance(Duration::from_secs(3601));
    // The answer is lost and the retry reaches the server after its grace window.
    let server_clock = app.clock.clone();
    proxy.drop_next_answer(REFRESH, move || {
        server_clock.advance(Duration::from_secs(11));
    });
    let t1 = session.token().await.unwrap();
    app.remember(t1.as_str());
    assert_eq!(proxy.count(REFRESH), 2);
    assert_eq!(
        proxy.count(AUTH),
        2,
        "the retry was reuse; a new session was started"
    );
    let new_sid = crate::support::claims(t1.as_str())["sid"].clone();
    assert_ne!(new_sid, old_sid);
    // The old session was revoked by reuse detection; only the new one lives.
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
    // And the application was told.
    assert_eq!(kinds(&events), ["ended:ReuseDetected", "restarted"]);
}

#[tokio::test]
async fn a_retry_outside_the_grace_window_without_a_password_is_a_clear_error() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let t0 = client(&proxy, &clock)
        .authenticate("alice", &pw)
        .await
        .unwrap();
    app.remember(&t0.access_token);
    app.remember(&t0.refresh_token);
    let session = Session::builder(client(&proxy, &clock), "alice")
        .tokens(t0)
        .build()
        .unwrap();

    clock.advance(Duration::from_secs(3601));
    let server_clock = app.clock.clone();
    proxy.drop_next_answer(REFRESH, move || {
        server_clock.advance(Duration::from_secs(11));
    });
    let e = session.token().await.unwrap_err();
    match &e {
        Error::SessionEnded(body) => assert_eq!(body.error, "invalid_grant"),
        other => panic!("expected SessionEnded, got {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("session has ended") && text.contains("no password"),
        "{text}"
    );
    // It stays ended, without asking the server again.
    let again = session.token().await.unwrap_err();
    assert!(matches!(again, Error::SessionEnded(_)));
    assert_eq!(proxy.count(REFRESH), 2);
    assert_eq!(proxy.count(AUTH), 1);
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
}

/// Collects a session's events.
fn recorder() -> (
    Arc<Mutex<Vec<SessionEvent>>>,
    impl Fn(&SessionEvent) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (events, move |e: &SessionEvent| {
        sink.lock().unwrap().push(e.clone())
    })
}

fn kinds(events: &Mutex<Vec<SessionEvent>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            SessionEvent::Ended { reason, body } => {
                assert_eq!(body.error, "invalid_grant");
                format!("ended:{reason:?}")
            }
            SessionEvent::Restarted => "restarted".to_string(),
            SessionEvent::PasswordRefused { .. } => "password_refused".to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn an_operators_revoke_is_reported_and_by_default_the_session_starts_again() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let (events, sink) = recorder();
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .on_event(sink)
        .build()
        .unwrap();
    let t0 = session.token().await.unwrap();
    app.remember(t0.as_str());
    app.admin()
        .revoke_user_sessions(
            &Actor::Cli,
            &crate::support::env("sandbox"),
            &crate::support::user("alice"),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3601));
    let t1 = session.token().await.unwrap();
    app.remember(t1.as_str());
    assert_eq!(proxy.count(AUTH), 2, "authenticated again (the default)");
    assert_eq!(kinds(&events), ["ended:Revoked", "restarted"]);
}

#[tokio::test]
async fn with_the_stop_policy_an_operators_revoke_ends_the_session_for_good() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let (events, sink) = recorder();
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .when_ended(WhenEnded::Stop)
        .on_event(sink)
        .build()
        .unwrap();
    app.remember(session.token().await.unwrap().as_str());
    app.admin()
        .revoke_user_sessions(
            &Actor::Cli,
            &crate::support::env("sandbox"),
            &crate::support::user("alice"),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3601));
    for _ in 0..3 {
        let e = session.token().await.unwrap_err();
        assert!(
            matches!(&e, Error::SessionEnded(b) if b.error_description.contains("revoked")),
            "{e:?}"
        );
    }
    assert_eq!(proxy.count(AUTH), 1, "never authenticated again");
    assert_eq!(proxy.count(REFRESH), 1);
    assert_eq!(kinds(&events), ["ended:Revoked"]);
}

#[tokio::test]
async fn a_disabled_user_is_reported_as_a_refused_password() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let (events, sink) = recorder();
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .on_event(sink)
        .build()
        .unwrap();
    app.remember(session.token().await.unwrap().as_str());
    app.admin()
        .set_disabled(
            &Actor::Cli,
            &crate::support::env("sandbox"),
            &crate::support::user("alice"),
            true,
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3601));
    let e = session.token().await.unwrap_err();
    assert!(matches!(e, Error::InvalidGrant(_)), "{e:?}");
    assert_eq!(kinds(&events), ["ended:Revoked", "password_refused"]);
}
