//! The standard OAuth 2.0 surface (SPEC §4), and how it interlocks with the WireCash
//! endpoints.

// RFC 8414 metadata, the RFC 6749 token endpoint's three grants with Basic and form
// client authentication, RFC 7009 revocation and RFC 7662 introspection.

use std::time::Duration;
use wirecash_core::events::Actor;

use serde_json::Value;

use crate::support::{Answer, TestApp, Tokens, claims};
use crate::support::{env, user};

const TOKEN: &str = "/sandbox/oauth2/token";

fn assert_oauth_error(a: &Answer, status: u16, error: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.error(), error, "{}", a.body);
    assert!(
        a.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        a.body
    );
    if status == 401 {
        let www = a.headers["www-authenticate"].to_str().unwrap();
        assert!(www.starts_with("Basic realm="), "{www}");
    }
}

fn oauth_tokens(a: &Answer) -> Tokens {
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.headers["cache-control"], "no-store");
    Tokens::from_json(&a.body)
}

async fn password_grant(app: &TestApp, user: &str, pw: &str) -> Tokens {
    oauth_tokens(
        &app.post_form(
            TOKEN,
            &[
                ("grant_type", "password"),
                ("username", user),
                ("password", pw),
            ],
            None,
        )
        .await,
    )
}

async fn refresh_grant(app: &TestApp, user: &str, pw: &str, refresh: &str) -> Answer {
    app.post_form(
        TOKEN,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((user, pw)),
    )
    .await
}

#[tokio::test]
async fn metadata_lists_the_endpoints_at_both_well_known_locations() {
    let app = TestApp::spawn().await;
    let a = app
        .get("/sandbox/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(a.status, 200);
    let issuer = format!("{}/sandbox", app.config.public_url.trim_end_matches('/'));
    let m = &a.body;
    assert_eq!(m["issuer"], issuer.as_str());
    assert_eq!(
        m["token_endpoint"],
        format!("{issuer}/oauth2/token").as_str()
    );
    assert_eq!(
        m["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json").as_str()
    );
    assert_eq!(
        m["revocation_endpoint"],
        format!("{issuer}/revoke").as_str()
    );
    assert_eq!(
        m["introspection_endpoint"],
        format!("{issuer}/introspect").as_str()
    );
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!(["client_credentials", "password", "refresh_token"])
    );
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(m["response_types_supported"], serde_json::json!([]));
    // RFC 8414 §3.1: for an issuer with a path, the well-known segment comes first.
    let rfc = app
        .get("/.well-known/oauth-authorization-server/sandbox")
        .await;
    assert_eq!(rfc.body, a.body);
    let prod = app
        .get("/production/.well-known/oauth-authorization-server")
        .await;
    assert_ne!(prod.body["issuer"], m["issuer"]);
    assert_eq!(
        app.get("/nope/.well-known/oauth-authorization-server")
            .await
            .status,
        404
    );
    assert_eq!(
        app.get("/.well-known/oauth-authorization-server/nope")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn client_credentials_by_basic_or_form_gives_an_access_token_only() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    for basic in [true, false] {
        let a = if basic {
            app.post_form(
                TOKEN,
                &[("grant_type", "client_credentials")],
                Some(("alice", &pw)),
            )
            .await
        } else {
            app.post_form(
                TOKEN,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "alice"),
                    ("client_secret", &pw),
                ],
                None,
            )
            .await
        };
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["token_type"], "Bearer");
        assert_eq!(a.body["expires_in"], 3600);
        assert!(a.body.get("refresh_token").is_none(), "RFC 6749 §4.4.3");
        assert_eq!(a.headers["cache-control"], "no-store");
        let c = claims(a.body["access_token"].as_str().unwrap());
        assert_eq!(c["username"], "alice");
        assert_eq!(c["client_id"], "alice");
        assert_eq!(c["env"], "sandbox");
    }
}

#[tokio::test]
async fn wrong_or_missing_client_credentials_are_invalid_client_401() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let cc = [("grant_type", "client_credentials")];
    assert_oauth_error(
        &app.post_form(TOKEN, &cc, Some(("alice", "wrong"))).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &app.post_form(TOKEN, &cc, Some(("nobody", "x"))).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &app.post_form(TOKEN, &cc, None).await,
        401,
        "invalid_client",
    );
    // A user of another environment is not a client here.
    assert_oauth_error(
        &app.post_form("/production/oauth2/token", &cc, Some(("alice", &pw)))
            .await,
        401,
        "invalid_client",
    );
    // Two authentication methods at once (RFC 6749 §2.3).
    let both = app
        .post_form(
            TOKEN,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "alice"),
                ("client_secret", &pw),
            ],
            Some(("alice", &pw)),
        )
        .await;
    assert_oauth_error(&both, 400, "invalid_request");
    // Malformed Basic.
    let r = app
        .client
        .post(format!("{}{TOKEN}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "Basic !!!not-base64")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(&crate::support::answer(r).await, 401, "invalid_client");
}

#[tokio::test]
async fn password_grant_then_refresh_grant_rotates_and_detects_reuse() {
    let app = TestApp::spawn_with(|c| c.tokens.refresh_reuse_grace = Duration::ZERO).await;
    let pw = app.add_user("sandbox", "alice").await;
    let t0 = password_grant(&app, "alice", &pw).await;
    assert_eq!(claims(&t0.access_token)["username"], "alice");
    let t1 = oauth_tokens(&refresh_grant(&app, "alice", &pw, &t0.refresh_token).await);
    assert_ne!(t1.refresh_token, t0.refresh_token);
    assert_eq!(
        claims(&t1.access_token)["sid"],
        claims(&t0.access_token)["sid"]
    );
    // The spent token again: reuse, the whole session ends (its successor too).
    let reuse = refresh_grant(&app, "alice", &pw, &t0.refresh_token).await;
    assert_oauth_error(&reuse, 400, "invalid_grant");
    assert!(
        reuse.body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_oauth_error(
        &refresh_grant(&app, "alice", &pw, &t1.refresh_token).await,
        400,
        "invalid_grant",
    );
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
}

#[tokio::test]
async fn refresh_grant_needs_the_owners_credentials_and_a_foreign_one_changes_nothing() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let pw_bob = app.add_user("sandbox", "bob").await;
    let t0 = password_grant(&app, "alice", &pw).await;
    let no_auth = app
        .post_form(
            TOKEN,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t0.refresh_token),
            ],
            None,
        )
        .await;
    assert_oauth_error(&no_auth, 401, "invalid_client");
    assert_oauth_error(
        &refresh_grant(&app, "alice", "wrong", &t0.refresh_token).await,
        401,
        "invalid_client",
    );
    // Bob's valid credentials with Alice's token: refused, and Alice's session lives on.
    assert_oauth_error(
        &refresh_grant(&app, "bob", &pw_bob, &t0.refresh_token).await,
        400,
        "invalid_grant",
    );
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
    oauth_tokens(&refresh_grant(&app, "alice", &pw, &t0.refresh_token).await);
    // Garbage and missing tokens.
    assert_oauth_error(
        &refresh_grant(&app, "alice", &pw, "not-a-token").await,
        400,
        "invalid_grant",
    );
    let missing = app
        .post_form(
            TOKEN,
            &[("grant_type", "refresh_token")],
            Some(("alice", &pw)),
        )
        .await;
    assert_oauth_error(&missing, 400, "invalid_request");
}

#[tokio::test]
async fn oauth_and_wirecash_refreshes_continue_each_others_sessions() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    // Form password grant → WireCash /token → form refresh grant → WireCash /token.
    let t0 = password_grant(&app, "alice", &pw).await;
    let t1 = app.refresh("sandbox", "alice", &t0).await.tokens();
    let t2 = oauth_tokens(&refresh_grant(&app, "alice", &pw, &t1.refresh_token).await);
    let t3 = app.refresh("sandbox", "alice", &t2).await.tokens();
    assert_eq!(
        claims(&t3.access_token)["sid"],
        claims(&t0.access_token)["sid"]
    );
    // A WireCash login refreshes through the form endpoint too.
    let w = app.login("sandbox", "alice", &pw).await;
    oauth_tokens(&refresh_grant(&app, "alice", &pw, &w.refresh_token).await);
    // Within the grace window, the form refresh replays like /token does.
    let u0 = password_grant(&app, "alice", &pw).await;
    let u1 = oauth_tokens(&refresh_grant(&app, "alice", &pw, &u0.refresh_token).await);
    let again = oauth_tokens(&refresh_grant(&app, "alice", &pw, &u0.refresh_token).await);
    assert_eq!(again.refresh_token, u1.refresh_token, "grace-window replay");
    assert_eq!(again.access_token, u1.access_token);
}

#[tokio::test]
async fn password_grant_checks_optional_client_credentials_against_the_user() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", pw.as_str()),
    ];
    // As libraries send it: client id (and secret) naming the same user.
    oauth_tokens(&app.post_form(TOKEN, &form, Some(("alice", &pw))).await);
    oauth_tokens(&app.post_form(TOKEN, &form, Some(("alice", ""))).await);
    assert_oauth_error(
        &app.post_form(TOKEN, &form, Some(("mallory", &pw))).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &app.post_form(TOKEN, &form, Some(("alice", "other"))).await,
        401,
        "invalid_client",
    );
    // Wrong password: invalid_grant, as on /authenticate.
    let wrong = app
        .post_form(
            TOKEN,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "nope"),
            ],
            None,
        )
        .await;
    assert_oauth_error(&wrong, 400, "invalid_grant");
}

#[tokio::test]
async fn malformed_token_requests_get_the_rfc_6749_errors() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let basic = Some(("alice", pw.as_str()));
    assert_oauth_error(
        &app.post_form(TOKEN, &[("grant_type", "authorization_code")], basic)
            .await,
        400,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &app.post_form(TOKEN, &[("x", "y")], basic).await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &app.post_form(
            TOKEN,
            &[("grant_type", "client_credentials"), ("scope", "admin")],
            basic,
        )
        .await,
        400,
        "invalid_scope",
    );
    // RFC 6749 §3.1: repeated parameters are an error.
    let r = app
        .client
        .post(format!("{}{TOKEN}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(&crate::support::answer(r).await, 400, "invalid_request");
    // JSON is not this endpoint's encoding.
    let json = app.post_raw(TOKEN, r#"{"grant_type":"password"}"#).await;
    assert_eq!(json.status, 415);
    assert_eq!(json.error(), "invalid_request");
    // Credentials in the query string are refused, before anything else.
    let q = app
        .post_form(
            &format!("{TOKEN}?password=x"),
            &[("grant_type", "password")],
            None,
        )
        .await;
    assert_oauth_error(&q, 400, "invalid_request");
    assert_eq!(app.get(TOKEN).await.status, 405);
    assert_eq!(
        app.post_form("/nope/oauth2/token", &[("grant_type", "password")], None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn failed_client_authentications_count_towards_the_lockout() {
    let app = TestApp::spawn_with(|c| c.security.login_max_failures = 3).await;
    let pw = app.add_user("sandbox", "alice").await;
    let cc = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        assert_oauth_error(
            &app.post_form(TOKEN, &cc, Some(("alice", "wrong"))).await,
            401,
            "invalid_client",
        );
    }
    // Locked: the right secret gets 429 too, on every endpoint that checks it.
    let locked = app.post_form(TOKEN, &cc, Some(("alice", &pw))).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.headers.contains_key("retry-after"));
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &pw).await.status,
        429
    );
    let revoke = app
        .post_form("/sandbox/revoke", &[("token", "x")], Some(("alice", &pw)))
        .await;
    assert_eq!(revoke.status, 429);
    app.clock.advance(Duration::from_secs(61));
    oauth_tokens_access_only(&app.post_form(TOKEN, &cc, Some(("alice", &pw))).await);
}

fn oauth_tokens_access_only(a: &Answer) {
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["access_token"].is_string());
}

// --- RFC 7009 revocation ---

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let other = app.login("sandbox", "alice", &pw).await;
    let a = app
        .post_form(
            "/sandbox/revoke",
            &[
                ("token", &t.refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
            Some(("alice", &pw)),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, Value::Null, "RFC 7009: an empty body");
    let r = app.refresh("sandbox", "alice", &t).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    // Only that session.
    assert_eq!(app.refresh("sandbox", "alice", &other).await.status, 200);
    // Revoking again is fine, and changes nothing.
    let again = app
        .post_form(
            "/sandbox/revoke",
            &[("token", &t.refresh_token)],
            Some(("alice", &pw)),
        )
        .await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn revoking_an_access_token_ends_its_session_too() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    // Client credentials in the form this time, and a wrong hint (ignored, RFC 7009 §2.1).
    let a = app
        .post_form(
            "/sandbox/revoke",
            &[
                ("token", &t.access_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", "alice"),
                ("client_secret", &pw),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(app.refresh("sandbox", "alice", &t).await.status, 400);
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
}

#[tokio::test]
async fn revocation_needs_the_owner_and_ignores_unknown_tokens() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let pw_bob = app.add_user("sandbox", "bob").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let form = [("token", t.refresh_token.as_str())];
    let none = app.post_form("/sandbox/revoke", &form, None).await;
    assert_oauth_error(&none, 401, "invalid_client");
    assert_oauth_error(
        &app.post_form("/sandbox/revoke", &form, Some(("alice", "x")))
            .await,
        401,
        "invalid_client",
    );
    // Bob cannot end Alice's session, and is not told whether the token exists.
    for token in [t.refresh_token.as_str(), t.access_token.as_str()] {
        let a = app
            .post_form(
                "/sandbox/revoke",
                &[("token", token)],
                Some(("bob", &pw_bob)),
            )
            .await;
        assert_eq!(a.status, 200);
    }
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
    // Garbage is not an error either (RFC 7009 §2.2); a missing token is.
    let garbage = app
        .post_form(
            "/sandbox/revoke",
            &[("token", "garbage")],
            Some(("alice", &pw)),
        )
        .await;
    assert_eq!(garbage.status, 200);
    let missing = app
        .post_form("/sandbox/revoke", &[], Some(("alice", &pw)))
        .await;
    assert_oauth_error(&missing, 400, "invalid_request");
    // Another environment's endpoint does not know the token, even for a namesake.
    let pw_p = app.add_user("production", "alice").await;
    let p = app
        .post_form(
            "/production/revoke",
            &[("token", &t.refresh_token)],
            Some(("alice", &pw_p)),
        )
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(app.refresh("sandbox", "alice", &t).await.status, 200);
}

// --- RFC 7662 introspection ---

async fn introspector(app: &TestApp, name: &str) -> String {
    let secret = app
        .admin()
        .add_introspector(
            &Actor::Cli,
            &env("sandbox"),
            &crate::support::introspector(name),
        )
        .await
        .unwrap();
    app.remember(&secret);
    secret.to_string()
}

async fn introspect(app: &TestApp, creds: (&str, &str), token: &str) -> Answer {
    app.post_form("/sandbox/introspect", &[("token", token)], Some(creds))
        .await
}

#[tokio::test]
async fn introspection_reports_active_tokens_with_their_claims() {
    let app = TestApp::spawn().await;
    let secret = introspector(&app, "orders-api").await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let a = introspect(&app, ("orders-api", &secret), &t.access_token).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.headers["cache-control"], "no-store");
    let c = claims(&t.access_token);
    let b = &a.body;
    assert_eq!(b["active"], true);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["token_kind"], "access_token");
    for k in [
        "sub",
        "username",
        "client_id",
        "iss",
        "aud",
        "jti",
        "sid",
        "env",
        "exp",
        "iat",
    ] {
        assert_eq!(b[k], c[k], "claim {k}");
    }
    // The refresh token: active while it is the live one.
    let r = introspect(&app, ("orders-api", &secret), &t.refresh_token).await;
    assert_eq!(r.body["active"], true, "{}", r.body);
    assert_eq!(r.body["token_kind"], "refresh_token");
    assert_eq!(r.body["username"], "alice");
    assert_eq!(r.body["sid"], c["sid"]);
    assert!(r.body["exp"].as_i64().unwrap() > c["exp"].as_i64().unwrap());
    // Spent by a rotation: no longer active; its successor is.
    let t1 = app.refresh("sandbox", "alice", &t).await.tokens();
    let spent = introspect(&app, ("orders-api", &secret), &t.refresh_token).await;
    assert_eq!(spent.body, serde_json::json!({"active": false}));
    assert_eq!(
        introspect(&app, ("orders-api", &secret), &t1.refresh_token)
            .await
            .body["active"],
        true
    );
    // The old access token has not expired and its session lives: still active.
    assert_eq!(
        introspect(&app, ("orders-api", &secret), &t.access_token)
            .await
            .body["active"],
        true
    );
}

#[tokio::test]
async fn revoked_sessions_and_expired_tokens_are_inactive() {
    let app = TestApp::spawn().await;
    let secret = introspector(&app, "rs").await;
    let creds = ("rs", secret.as_str());
    let pw = app.add_user("sandbox", "alice").await;
    let revoked = app.login("sandbox", "alice", &pw).await;
    let live = app.login("sandbox", "alice", &pw).await;
    app.post_form(
        "/sandbox/revoke",
        &[("token", &revoked.refresh_token)],
        Some(("alice", &pw)),
    )
    .await;
    for token in [&revoked.access_token, &revoked.refresh_token] {
        assert_eq!(
            introspect(&app, creds, token).await.body,
            serde_json::json!({"active": false})
        );
    }
    assert_eq!(
        introspect(&app, creds, &live.access_token).await.body["active"],
        true
    );
    // An hour later the access token has expired; the refresh token still lives.
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        introspect(&app, creds, &live.access_token).await.body["active"],
        false
    );
    assert_eq!(
        introspect(&app, creds, &live.refresh_token).await.body["active"],
        true
    );
    // A disabled user's tokens are inactive.
    app.admin()
        .set_disabled(&Actor::Cli, &env("sandbox"), &user("alice"), true)
        .await
        .unwrap();
    assert_eq!(
        introspect(&app, creds, &live.refresh_token).await.body["active"],
        false
    );
    // Garbage, a forged signature and a foreign environment's token: inactive.
    let mut forged = live.access_token.clone();
    forged.pop();
    forged.push(if live.access_token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    for token in ["garbage", forged.as_str()] {
        assert_eq!(introspect(&app, creds, token).await.body["active"], false);
    }
    let pw_p = app.add_user("production", "carol").await;
    let foreign = app.login("production", "carol", &pw_p).await;
    assert_eq!(
        introspect(&app, creds, &foreign.access_token).await.body["active"],
        false
    );
    assert_eq!(
        introspect(&app, creds, &foreign.refresh_token).await.body["active"],
        false
    );
}

#[tokio::test]
async fn introspection_needs_introspector_credentials() {
    let app = TestApp::spawn().await;
    let secret = introspector(&app, "rs").await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let form = [("token", t.access_token.as_str())];
    let none = app.post_form("/sandbox/introspect", &form, None).await;
    assert_oauth_error(&none, 401, "invalid_client");
    assert_oauth_error(
        &introspect(&app, ("rs", "wrong"), &t.access_token).await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &introspect(&app, ("nobody", &secret), &t.access_token).await,
        401,
        "invalid_client",
    );
    // An API user is not a resource server.
    assert_oauth_error(
        &introspect(&app, ("alice", &pw), &t.access_token).await,
        401,
        "invalid_client",
    );
    // Another environment's endpoint does not know this introspector.
    let prod = app
        .post_form("/production/introspect", &form, Some(("rs", &secret)))
        .await;
    assert_oauth_error(&prod, 401, "invalid_client");
    // Form credentials work as well as Basic.
    let post = app
        .post_form(
            "/sandbox/introspect",
            &[
                ("token", &t.access_token),
                ("client_id", "rs"),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    assert_eq!(post.body["active"], true);
    // Removed: refused at once.
    app.admin()
        .remove_introspector(
            &Actor::Cli,
            &env("sandbox"),
            &crate::support::introspector("rs"),
        )
        .await
        .unwrap();
    assert_oauth_error(
        &introspect(&app, ("rs", &secret), &t.access_token).await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn introspector_cli_adds_lists_and_removes() {
    let app = TestApp::spawn().await;
    let out = app.cli(
        &["introspector", "add", "orders-api", "--env", "sandbox"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    app.remember(&secret);
    assert_eq!(secret.len(), 43, "256 random bits, base64url");
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    assert_eq!(
        introspect(&app, ("orders-api", &secret), &t.access_token)
            .await
            .body["active"],
        true
    );
    let dup = app.cli(
        &["introspector", "add", "orders-api", "--env", "sandbox"],
        None,
    );
    assert!(!dup.status.success());
    let bad = app.cli(
        &["introspector", "add", "has space", "--env", "sandbox"],
        None,
    );
    assert!(!bad.status.success());
    let list = app.cli(&["introspector", "list", "--env", "sandbox"], None);
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.contains("orders-api"), "{listed}");
    assert!(!listed.contains(&secret), "list must not show secrets");
    let rm = app.cli(
        &["introspector", "remove", "orders-api", "--env", "sandbox"],
        None,
    );
    assert!(rm.status.success());
    assert_eq!(
        introspect(&app, ("orders-api", &secret), &t.access_token)
            .await
            .status,
        401
    );
    let rm_again = app.cli(
        &["introspector", "remove", "orders-api", "--env", "sandbox"],
        None,
    );
    assert!(!rm_again.status.success());
}
