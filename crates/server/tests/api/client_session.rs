//! `wirecash-client` against the real service: typed errors, and a `Session` that
//! refreshes once for all its callers (counted by the test proxy).

use std::sync::Arc;
use std::time::Duration;

use wirecash_client::{Client, Error, ManualClock, RetryPolicy, Session};

use crate::proxy::Proxy;
use crate::support::TestApp;

pub const AUTH: &str = "POST /sandbox/authenticate";
pub const REFRESH: &str = "POST /sandbox/token";

/// The app with the user alice, a proxy in front of it, and a client clock.
pub struct Alice {
    pub app: TestApp,
    pub password: String,
    pub proxy: Proxy,
    pub clock: ManualClock,
}

impl Alice {
    pub async fn spawn() -> Alice {
        let app = TestApp::spawn().await;
        let password = app.add_user("sandbox", "alice").await;
        let proxy = Proxy::start(app.addr).await;
        Alice {
            app,
            password,
            proxy,
            clock: ManualClock::starting_now(),
        }
    }
}

/// Waits, for at most 2 s, until `done()` holds (for work a background task does).
pub async fn until(done: impl Fn() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A client of the app's sandbox through `proxy`, on `clock`.
pub fn client(proxy: &Proxy, clock: &ManualClock) -> Client {
    Client::builder()
        .sandbox(&proxy.base)
        .clock(Arc::new(clock.clone()))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn client_authenticates_and_refreshes_and_reports_typed_errors() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let client = client(&proxy, &clock);

    let t0 = client.authenticate("alice", &pw).await.unwrap();
    app.remember(&t0.access_token);
    app.remember(&t0.refresh_token);
    assert_eq!(t0.username, "alice");
    assert_eq!(t0.expires_in, 3600);
    assert_eq!(
        t0.expires_at_ms,
        wirecash_client::Clock::now_millis(&clock) + 3_600_000
    );
    let t1 = client.refresh(&t0).await.unwrap();
    assert_ne!(t1.refresh_token, t0.refresh_token);

    // Wrong password: invalid_grant with the server's body.
    match client.authenticate("alice", "wrong").await.unwrap_err() {
        Error::InvalidGrant(body) => assert_eq!(body.error, "invalid_grant"),
        other => panic!("expected InvalidGrant, got {other:?}"),
    }
    // A spent refresh token after the grace window: invalid_grant, not retryable.
    app.clock.advance(Duration::from_secs(11));
    let e = client.refresh(&t0).await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidGrant(b) if b.error == "invalid_grant"),
        "{e:?}"
    );
    assert!(!e.is_retryable());

    // 503 temporarily_unavailable with Retry-After.
    proxy.unavailable_next(AUTH);
    match client.authenticate("alice", &pw).await.unwrap_err() {
        Error::TemporarilyUnavailable {
            status,
            body,
            retry_after,
        } => {
            assert_eq!(status, 503);
            assert_eq!(body.unwrap().error, "temporarily_unavailable");
            assert_eq!(retry_after, Some(Duration::ZERO));
        }
        other => panic!("expected TemporarilyUnavailable, got {other:?}"),
    }
    // Another status with a JSON body: 404 for an unknown environment.
    let nowhere = Client::builder()
        .base_url(format!("{}/nowhere", proxy.base))
        .build()
        .unwrap();
    match nowhere.authenticate("alice", &pw).await.unwrap_err() {
        Error::Status { status, body } => {
            assert_eq!(status, 404);
            assert_eq!(body.unwrap().error, "not_found");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    // Nobody listening: a transport error, retryable.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = Client::builder()
        .sandbox(&dead)
        .build()
        .unwrap()
        .authenticate("alice", &pw)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_tasks_after_expiry_cause_exactly_one_refresh() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .build()
        .unwrap();
    let first = session.token().await.unwrap();
    assert_eq!((proxy.count(AUTH), proxy.count(REFRESH)), (1, 0));
    // Served from the snapshot: no request.
    assert_eq!(session.token().await.unwrap(), first);
    assert_eq!(proxy.count(REFRESH), 0);

    clock.advance(Duration::from_secs(3601)); // the access token has expired
    let barrier = Arc::new(tokio::sync::Barrier::new(500));
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let s = session.clone();
            let b = barrier.clone();
            tokio::spawn(async move {
                b.wait().await;
                s.token().await
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().unwrap());
    }
    assert_eq!(proxy.count(REFRESH), 1, "exactly one refresh request");
    assert_eq!(proxy.count(AUTH), 1, "no new authenticate");
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "every task got the same token"
    );
    assert_ne!(tokens[0], first);
    app.remember(tokens[0].as_str());
    // The token they got is the live one: its session refreshes on.
    let now = session.current_tokens().unwrap();
    assert_eq!(now.access_token, tokens[0].as_str());
    let next = app
        .refresh_raw("sandbox", "alice", &now.access_token, &now.refresh_token)
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
}

#[tokio::test]
async fn a_refresh_due_ahead_of_expiry_runs_in_the_background_while_callers_keep_the_valid_token() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .refresh_ahead(Duration::from_secs(60))
        .build()
        .unwrap();
    let first = session.token().await.unwrap();
    app.remember(first.as_str());
    clock.advance(Duration::from_secs(3600 - 30)); // due (60 s ahead), still valid
    assert_eq!(session.token().await.unwrap(), first, "no caller waits");
    until(|| session.current_tokens().unwrap().access_token != first.as_str()).await;
    let second = session.token().await.unwrap();
    assert_ne!(second, first, "the background refresh replaced the token");
    assert_eq!(proxy.count(REFRESH), 1);
}

#[tokio::test]
async fn a_refresh_refused_for_now_with_503_is_retried_with_the_same_tokens() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .retry(RetryPolicy {
            window: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let first = session.token().await.unwrap();
    app.remember(first.as_str());
    clock.advance(Duration::from_secs(3601));
    proxy.unavailable_next(REFRESH);
    proxy.unavailable_next(REFRESH);
    let second = session.token().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(
        proxy.count(REFRESH),
        3,
        "two 503s, then the one that reached the app"
    );
    assert_eq!(proxy.count(AUTH), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_path_does_not_wait_for_a_refresh_in_flight() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .build()
        .unwrap();
    let first = session.token().await.unwrap();
    app.remember(first.as_str());

    // The refresh's answer is held at the proxy: the refresh lock stays taken.
    let release = proxy.hold_next_answer(REFRESH);
    clock.advance(Duration::from_secs(3600 - 30));
    assert_eq!(session.token().await.unwrap(), first);
    until(|| proxy.count(REFRESH) == 1).await;
    assert_eq!(
        proxy.count(REFRESH),
        1,
        "the background refresh is in flight"
    );
    // Meanwhile every call answers at once with the still-valid token.
    for _ in 0..1000 {
        let t = tokio::time::timeout(Duration::from_millis(200), session.token())
            .await
            .expect("token() waited for the refresh in flight")
            .unwrap();
        assert_eq!(t, first);
    }
    release.send(()).unwrap();
    until(|| session.current_tokens().unwrap().access_token != first.as_str()).await;
    assert_ne!(session.token().await.unwrap(), first);
    assert_eq!(proxy.count(REFRESH), 1);
}

#[tokio::test]
async fn when_refreshes_keep_failing_a_still_valid_token_is_handed_out_and_attempts_pause() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let session = Session::builder(client(&proxy, &clock), "alice")
        .password(pw)
        .retry(RetryPolicy {
            window: Duration::from_millis(300),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let first = session.token().await.unwrap();
    app.remember(first.as_str());
    for _ in 0..100 {
        proxy.unavailable_next(REFRESH);
    }
    clock.advance(Duration::from_secs(3600 - 30)); // due, still valid for 30 s
    // fresh_token() waits for the refresh; it fails, so the valid token is the answer.
    assert_eq!(session.fresh_token().await.unwrap(), first);
    let tried = proxy.count(REFRESH);
    assert!(
        tried >= 2,
        "the 503s were retried within the window ({tried})"
    );
    // Right after a failed attempt no new one starts (max_backoff): no request.
    assert_eq!(session.token().await.unwrap(), first);
    assert_eq!(proxy.count(REFRESH), tried);
    // Once the token is no longer usable, the failure is reported.
    clock.advance(Duration::from_secs(30));
    let e = session.token().await.unwrap_err();
    assert!(
        matches!(e, Error::TemporarilyUnavailable { status: 503, .. }),
        "{e:?}"
    );
}
