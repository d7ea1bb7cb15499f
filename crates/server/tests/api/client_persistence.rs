//! A session persisted to a file continues in a new `Session` and in a new process (the
//! `wirecash-auth token` CLI) without authenticating again.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use wirecash_client::{FileTokenStore, Session};

use crate::client_session::{AUTH, Alice, REFRESH, client};
use crate::proxy::Proxy;
use crate::support::{TestApp, run_in};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_session_saved_to_a_file_continues_in_a_new_session_without_authenticate() {
    let Alice {
        app,
        password: pw,
        proxy,
        clock,
    } = Alice::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache").join("alice.json");

    let first = {
        let session = Session::builder(client(&proxy, &clock), "alice")
            .password(pw)
            .store(FileTokenStore::new(&file))
            .build()
            .unwrap();
        session.token().await.unwrap()
    };
    app.remember(first.as_str());
    assert_eq!(mode(&file), 0o600);
    assert_eq!(proxy.count(AUTH), 1);

    // A new session (as after a restart), without a password: same token, no request.
    let session = Session::builder(client(&proxy, &clock), "alice")
        .store(FileTokenStore::new(&file))
        .build()
        .unwrap();
    assert_eq!(session.token().await.unwrap(), first);
    assert_eq!(proxy.count(AUTH) + proxy.count(REFRESH), 1);

    // Once due, it refreshes the stored session and saves the successor.
    clock.advance(Duration::from_secs(3601));
    let second = session.token().await.unwrap();
    assert_ne!(second, first);
    assert_eq!((proxy.count(AUTH), proxy.count(REFRESH)), (1, 1));
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["tokens"]["access_token"], second.as_str());
    app.remember(stored["tokens"]["refresh_token"].as_str().unwrap());
    assert_eq!(mode(&file), 0o600);

    // A file written for another user is not used.
    let other = Session::builder(client(&proxy, &clock), "bob")
        .store(FileTokenStore::new(&file))
        .build();
    assert!(other.is_err(), "no stored session for bob and no password");
}

/// Runs `wirecash-auth token` in its own process, off the test's runtime thread (which
/// must keep serving the app and the proxy meanwhile).
async fn token_cli(
    url: &str,
    cache: &std::path::Path,
    stdin: Option<&str>,
) -> std::process::Output {
    // `token` is a client command: no --database (it refuses one).
    let dir = std::env::temp_dir();
    let url = url.to_string();
    let cache = cache.to_str().unwrap().to_string();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut args = vec![
            "token",
            "--url",
            &url,
            "--username",
            "alice",
            "--cache",
            &cache,
        ];
        if stdin.is_some() {
            args.push("--password-stdin");
        }
        run_in(&dir, &args, stdin.as_deref(), &[])
    })
    .await
    .unwrap()
}

fn printed_token(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let token = text.trim_end_matches('\n').to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT on stdout: {text:?}");
    assert!(!token.contains('\n'));
    token
}

#[tokio::test]
async fn the_token_cli_keeps_its_session_in_a_0600_cache_file_across_processes() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let proxy = Proxy::start(app.addr).await;
    let url = format!("{}/sandbox", proxy.base);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("wirecash").join("alice.json");

    // No cache and no password: a clear error, nothing sent.
    let out = token_cli(&url, &cache, None).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a password is needed"), "{err}");
    assert_eq!(proxy.count(AUTH), 0);

    let first = printed_token(&token_cli(&url, &cache, Some(&format!("{pw}\n"))).await);
    app.remember(&first);
    assert_eq!(crate::support::claims(&first)["username"], "alice");
    assert_eq!(mode(&cache), 0o600);
    assert_eq!(proxy.count(AUTH), 1);

    // A second process reuses the cached token: no request, no password.
    let again = printed_token(&token_cli(&url, &cache, None).await);
    assert_eq!(again, first);
    assert_eq!((proxy.count(AUTH), proxy.count(REFRESH)), (1, 0));

    // Time passes (the cached expiry is moved into the past): the next process
    // refreshes the session, it does not authenticate.
    let mut stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    app.remember(stored["tokens"]["refresh_token"].as_str().unwrap());
    let now_ms = wirecash_core::Clock::now(&wirecash_core::SystemClock);
    stored["tokens"]["expires_at_ms"] = serde_json::json!(now_ms - 1000);
    std::fs::write(&cache, serde_json::to_vec(&stored).unwrap()).unwrap();
    let refreshed = printed_token(&token_cli(&url, &cache, None).await);
    app.remember(&refreshed);
    assert_ne!(refreshed, first);
    assert_eq!((proxy.count(AUTH), proxy.count(REFRESH)), (1, 1));
    assert_eq!(
        crate::support::claims(&refreshed)["sid"],
        crate::support::claims(&first)["sid"],
        "the same session"
    );
    assert_eq!(mode(&cache), 0o600);
}
