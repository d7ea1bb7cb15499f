//! The admin API (SPEC §11) over real HTTP on the admin listener: the 401/403 matrix of
//! every endpoint and role, pagination, users, sessions, keys, events, idempotent
//! retries, lockout of bad keys, and the two listeners kept apart.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wirecash_core::events::Actor;
use wirecash_core::store::AdminRole;
use wirecash_core::validate::AdminKeyName;

use crate::support::TestApp;

/// Makes an admin key with `role`; remembered as a secret (it must reach no log line).
async fn key(app: &TestApp, name: &str, role: AdminRole) -> String {
    let issued = app
        .service
        .admin()
        .create_admin_key(
            &Actor::Cli,
            &app.service.admin_secrets().key_mac,
            &AdminKeyName::parse(name).unwrap(),
            role,
        )
        .await
        .unwrap();
    app.remember(&issued.key);
    issued.key.to_string()
}

/// One admin request; `(status, body, headers)`.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.admin_base));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body, headers)
}

/// Every operation, the least role it needs, and a request that role can make.
fn operations() -> Vec<(Method, &'static str, AdminRole, Option<Value>)> {
    use AdminRole::*;
    vec![
        (Method::GET, "/admin/v1/environments", Viewer, None),
        (Method::GET, "/admin/v1/sandbox/users", Viewer, None),
        (
            Method::POST,
            "/admin/v1/sandbox/users",
            Operator,
            Some(json!({"username": "matrix-{role}"})),
        ),
        (Method::GET, "/admin/v1/sandbox/users/alice", Viewer, None),
        (
            Method::PATCH,
            "/admin/v1/sandbox/users/alice",
            Operator,
            Some(json!({"disabled": false})),
        ),
        (
            Method::POST,
            "/admin/v1/sandbox/users/alice/credentials",
            Operator,
            Some(json!({"password": "a new password for {role}", "overlap": "1h"})),
        ),
        (
            Method::GET,
            "/admin/v1/sandbox/users/alice/sessions",
            Viewer,
            None,
        ),
        (Method::GET, "/admin/v1/sandbox/sessions", Viewer, None),
        (
            Method::DELETE,
            "/admin/v1/sandbox/users/alice/sessions",
            Operator,
            None,
        ),
        (
            Method::DELETE,
            "/admin/v1/sandbox/sessions/1",
            Operator,
            None,
        ),
        (
            Method::POST,
            "/admin/v1/sandbox/sessions/revoke-all",
            Operator,
            None,
        ),
        (Method::GET, "/admin/v1/sandbox/keys", Viewer, None),
        (Method::POST, "/admin/v1/sandbox/keys/rotate", Owner, None),
        (Method::GET, "/admin/v1/sandbox/events", Viewer, None),
        (
            Method::DELETE,
            "/admin/v1/sandbox/users/matrix-delete",
            Operator,
            None,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_is_401_without_a_live_key_and_403_below_its_role() {
    let app = TestApp::spawn().await;
    app.add_user("sandbox", "alice").await;
    let viewer = key(&app, "v", AdminRole::Viewer).await;
    let operator = key(&app, "o", AdminRole::Operator).await;
    let owner = key(&app, "w", AdminRole::Owner).await;
    let revoked = key(&app, "gone", AdminRole::Owner).await;
    app.service
        .admin()
        .revoke_admin_key(&Actor::Cli, &AdminKeyName::parse("gone").unwrap())
        .await
        .unwrap();
    // A well-formed key that does not exist, one with a wrong secret, and garbage.
    let (id, _) = owner.trim_start_matches("wcak_").split_once('_').unwrap();
    let wrong_secret = format!("wcak_{id}_{}", "A".repeat(43));
    let unknown = format!("wcak_0000000000000000_{}", "A".repeat(43));
    let mut refused = 0;
    for (method, path, least, body) in operations() {
        for bad in [
            None,
            Some(revoked.as_str()),
            Some(&wrong_secret),
            Some(&unknown),
            Some("Bearer"),
        ] {
            let (status, b, headers) =
                call(&app, method.clone(), path, bad, body.clone(), &[]).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {bad:?}: {b}"
            );
            assert_eq!(b["error"], "unauthorized");
            assert!(headers.get("www-authenticate").is_some());
            refused += 1;
        }
        for (role, k) in [
            (AdminRole::Viewer, &viewer),
            (AdminRole::Operator, &operator),
            (AdminRole::Owner, &owner),
        ] {
            let body = body.clone().map(|b| {
                serde_json::from_str(&b.to_string().replace("{role}", role.as_str())).unwrap()
            });
            let (status, b, _) = call(&app, method.clone(), path, Some(k), body, &[]).await;
            if role < least {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role:?}: {b}"
                );
                assert_eq!(b["error"], "forbidden");
            } else {
                assert!(
                    status.is_success() || status == StatusCode::NOT_FOUND,
                    "{method} {path} as {role:?}: {status} {b}"
                );
            }
        }
    }
    assert_eq!(refused, 5 * operations().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_with_a_generated_password_paged_searched_disabled_and_deleted() {
    let app = TestApp::spawn().await;
    let op = key(&app, "ops", AdminRole::Operator).await;
    let (status, created, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&op),
        Some(json!({"username": "partner-a"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let password = created["password"].as_str().unwrap().to_string();
    app.remember(&password);
    assert!(password.len() >= 32, "{password}");
    // The generated password works at once on the public API.
    app.login("sandbox", "partner-a", &password).await;
    let (status, dup, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&op),
        Some(json!({"username": "partner-a"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{dup}");
    // A chosen password is not echoed.
    let chosen = "a chosen password of some length";
    app.remember(chosen);
    let (status, b, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&op),
        Some(json!({"username": "partner-b", "password": chosen})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(b.get("password").is_none(), "{b}");
    for name in ["other-1", "other-2", "other-3", "partner-c"] {
        app.add_user("sandbox", name).await;
    }
    app.add_user("production", "partner-z").await;
    // Every page walked once, in name order.
    let mut names = Vec::new();
    let mut path = "/admin/v1/sandbox/users?limit=2".to_string();
    let mut pages = 0;
    loop {
        let (status, page, _) = call(&app, Method::GET, &path, Some(&op), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for u in page["items"].as_array().unwrap() {
            names.push(u["username"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/v1/sandbox/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "other-1",
            "other-2",
            "other-3",
            "partner-a",
            "partner-b",
            "partner-c"
        ]
    );
    assert_eq!(pages, 3);
    let (_, found, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/users?q=partner-",
        Some(&op),
        None,
        &[],
    )
    .await;
    let found: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["partner-a", "partner-b", "partner-c"]);
    for bad in ["?cursor=zzz", "?limit=0", "?limit=500", "?x=1", "?q=a&q=b"] {
        let (status, b, _) = call(
            &app,
            Method::GET,
            &format!("/admin/v1/sandbox/users{bad}"),
            Some(&op),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert_eq!(b["error"], "invalid_request");
    }
    // Disable: the login is refused; enable: it works again.
    let (status, b, _) = call(
        &app,
        Method::PATCH,
        "/admin/v1/sandbox/users/partner-a",
        Some(&op),
        Some(json!({"disabled": true})),
        &[],
    )
    .await;
    assert_eq!(
        (status, &b["disabled"]),
        (StatusCode::OK, &json!(true)),
        "{b}"
    );
    let refused = app
        .authenticate_raw("sandbox", "partner-a", &password)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.body
    );
    for bad in [
        json!({"disabled": "yes"}),
        json!({}),
        json!({"disabled": true, "x": 1}),
    ] {
        let (status, _, _) = call(
            &app,
            Method::PATCH,
            "/admin/v1/sandbox/users/partner-a",
            Some(&op),
            Some(bad),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    call(
        &app,
        Method::PATCH,
        "/admin/v1/sandbox/users/partner-a",
        Some(&op),
        Some(json!({"disabled": false})),
        &[],
    )
    .await;
    app.login("sandbox", "partner-a", &password).await;
    // Delete; then it is gone.
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        "/admin/v1/sandbox/users/partner-a",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, b, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/users/partner-a",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{b}");
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/admin/v1/nowhere/users",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The events name the admin key as the actor.
    let (_, events, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events",
        Some(&op),
        None,
        &[],
    )
    .await;
    let kinds: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "admin_key:ops")
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["username"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("user_deleted", "partner-a"),
            ("user_enabled", "partner-a"),
            ("user_disabled", "partner-a"),
            ("user_created", "partner-b"),
            ("user_created", "partner-a"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_appear_after_a_login_and_revocations_are_scoped() {
    let app = TestApp::spawn().await;
    let op = key(&app, "ops", AdminRole::Operator).await;
    let pw = app.add_user("sandbox", "alice").await;
    let pw_prod = app.add_user("production", "alice").await;
    // Session ids are time-ordered: a second apart, the newest is the second one.
    let first = app.login("sandbox", "alice", &pw).await;
    app.clock.advance(std::time::Duration::from_secs(1));
    let second = app.login("sandbox", "alice", &pw).await;
    let prod = app.login("production", "alice", &pw_prod).await;
    let (status, page, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/users/alice/sessions?limit=1",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let newest = &page["items"][0];
    assert_eq!(newest["kind"], "refresh");
    assert_eq!(newest["client_address"], "127.0.0.1");
    assert_eq!(newest["generation"], 0);
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(
            newest[field].as_str().unwrap().ends_with('Z'),
            "{field}: {newest}"
        );
    }
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest, _) = call(
        &app,
        Method::GET,
        &format!("/admin/v1/sandbox/users/alice/sessions?limit=1&cursor={cursor}"),
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    // Revoke the newest one: its refresh token dies, the other lives.
    let id = newest["id"].as_str().unwrap();
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        &format!("/admin/v1/sandbox/sessions/{id}"),
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(
        &app,
        Method::DELETE,
        &format!("/admin/v1/sandbox/sessions/{id}"),
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only once");
    assert_eq!(
        app.refresh("sandbox", "alice", &second).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.refresh("sandbox", "alice", &first).await.status,
        StatusCode::OK
    );
    // The incident button ends every sandbox session and none in production.
    let (status, b, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/sessions/revoke-all",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!((status, &b["revoked"]), (StatusCode::OK, &json!(1)), "{b}");
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
    assert_eq!(
        app.refresh("production", "alice", &prod).await.status,
        StatusCode::OK
    );
    let (_, envs, _) = call(
        &app,
        Method::GET,
        "/admin/v1/environments",
        Some(&op),
        None,
        &[],
    )
    .await;
    let by_name = |n: &str| {
        envs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("sandbox")["live_sessions"], 0);
    assert_eq!(by_name("production")["live_sessions"], 1);
    assert_eq!(by_name("production")["users"], 1);
    // Revoke every session of a user.
    app.login("sandbox", "alice", &pw).await;
    let (status, b, _) = call(
        &app,
        Method::DELETE,
        "/admin/v1/sandbox/users/alice/sessions",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!((status, &b["revoked"]), (StatusCode::OK, &json!(1)), "{b}");
    let (_, events, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events?type=sessions_revoked",
        Some(&op),
        None,
        &[],
    )
    .await;
    let scopes: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["user", "environment", "session"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_reuse_and_lockouts_are_events_and_pages_of_events_walk_once() {
    let app = TestApp::spawn_with(|c| c.security.login_max_failures = 2).await;
    let owner = key(&app, "root", AdminRole::Owner).await;
    let (status, k, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/keys/rotate",
        Some(&owner),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{k}");
    assert_eq!(k["active"], false, "{k}");
    let (_, keys, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/keys",
        Some(&owner),
        None,
        &[],
    )
    .await;
    let kids: Vec<&Value> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], &k["kid"]);
    // Reuse detection.
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    assert_eq!(
        app.refresh("sandbox", "alice", &t).await.status,
        StatusCode::OK
    );
    app.clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(
        app.refresh("sandbox", "alice", &t).await.status,
        StatusCode::BAD_REQUEST
    );
    // A lockout.
    for _ in 0..2 {
        app.authenticate_raw("sandbox", "alice", "wrong password!")
            .await;
    }
    let (_, events, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events?limit=1",
        Some(&owner),
        None,
        &[],
    )
    .await;
    assert_eq!(events["items"][0]["type"], "user_locked_out", "{events}");
    let mut seen = Vec::new();
    let mut path = "/admin/v1/sandbox/events?limit=1".to_string();
    loop {
        let (status, page, _) = call(&app, Method::GET, &path, Some(&owner), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["type"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/v1/sandbox/events?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "user_locked_out",
            "refresh_token_reuse_detected",
            "user_created",
            "signing_key_rotated"
        ]
    );
    let (_, only, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events?type=refresh_token_reuse_detected",
        Some(&owner),
        None,
        &[],
    )
    .await;
    let reuse = &only["items"][0];
    assert_eq!(reuse["actor"], "service");
    assert!(reuse["data"]["session_id"].is_i64(), "{reuse}");
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events?type=nope",
        Some(&owner),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, later, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events?since=2999-01-01T00:00:00Z",
        Some(&owner),
        None,
        &[],
    )
    .await;
    assert_eq!(later["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_makes_nothing_twice() {
    let app = TestApp::spawn().await;
    let op = key(&app, "ops", AdminRole::Operator).await;
    let other = key(&app, "ci", AdminRole::Operator).await;
    let create = |k: &'static str, name: &'static str| (k, json!({"username": name}));
    let (k1, body) = create("retry-1", "partner-a");
    let (s1, first, h1) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&op),
        Some(body.clone()),
        &[("Idempotency-Key", k1)],
    )
    .await;
    let (s2, second, h2) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&op),
        Some(body.clone()),
        &[("Idempotency-Key", k1)],
    )
    .await;
    app.remember(first["password"].as_str().unwrap());
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(
        first, second,
        "the same answer, generated password included"
    );
    assert!(h1.get("idempotent-replayed").is_none());
    assert_eq!(h2.get("idempotent-replayed").unwrap(), "true");
    // Another request with that key is refused; another admin key's same key is its own.
    let (status, b, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&op),
        Some(json!({"username": "partner-b"})),
        &[("Idempotency-Key", k1)],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (status, b, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&other),
        Some(body),
        &[("Idempotency-Key", k1)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a new request of the other key: the user exists: {b}"
    );
    // A failed request frees its key.
    let (status, b, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users",
        Some(&other),
        Some(json!({"username": "partner-c"})),
        &[("Idempotency-Key", k1)],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    app.remember(b["password"].as_str().unwrap());
    let (_, users, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/users",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(users["items"].as_array().unwrap().len(), 2);
    let (_, events, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events?type=user_created",
        Some(&op),
        None,
        &[],
    )
    .await;
    assert_eq!(
        events["items"].as_array().unwrap().len(),
        2,
        "one event per user made"
    );
    for bad in ["", "é", &"k".repeat(256)] {
        let resp = app
            .client
            .post(format!("{}/admin/v1/sandbox/users", app.admin_base))
            .bearer_auth(&op)
            .header("Idempotency-Key", bad.as_bytes())
            .json(&json!({"username": "partner-d"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_keys_lock_the_address_and_the_listeners_stay_apart() {
    let app = TestApp::spawn().await;
    let viewer = key(&app, "v", AdminRole::Viewer).await;
    // The admin API is not on the public listener, the public API not on the admin one.
    let public = app
        .client
        .get(format!("{}/admin/v1/environments", app.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let jwks = app
        .client
        .get(format!("{}/sandbox/.well-known/jwks.json", app.admin_base))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::NOT_FOUND);
    let health = app
        .client
        .get(format!("{}/healthz", app.admin_base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (status, doc, _) = call(&app, Method::GET, "/admin/v1/openapi.json", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, _, _) in operations() {
        let templated = path
            .replace("/sandbox/", "/{env}/")
            .replace("/alice", "/{username}")
            .replace("/matrix-delete", "/{username}")
            .replace("/sessions/1", "/sessions/{id}");
        let m = method.as_str().to_ascii_lowercase();
        assert!(
            doc["paths"][&templated][&m].is_object(),
            "{m} {templated} is not documented"
        );
    }
    for _ in 0..10 {
        let (status, _, _) = call(
            &app,
            Method::GET,
            "/admin/v1/environments",
            Some("wcak_nope"),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, b, headers) = call(
        &app,
        Method::GET,
        "/admin/v1/environments",
        Some(&viewer),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{b}");
    assert_eq!(headers.get("retry-after").unwrap(), "60");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_lists_and_revokes_admin_keys_shown_once() {
    let app = TestApp::spawn().await;
    let out = app.cli(&["admin-key", "create", "ci-bot", "--role", "viewer"], None);
    let key = crate::support::ok_stdout(&out).trim().to_string();
    app.remember(&key);
    assert!(key.starts_with("wcak_"), "{key}");
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/admin/v1/environments",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/sessions/revoke-all",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let again = app.cli(&["admin-key", "create", "ci-bot", "--role", "owner"], None);
    assert!(!again.status.success());
    assert!(crate::support::stderr(&again).contains("exists already"));
    let list = crate::support::ok_stdout(&app.cli(&["admin-key", "list"], None));
    assert!(list.contains("ci-bot") && list.contains("viewer"), "{list}");
    assert!(!list.contains(&key), "the list never shows a key");
    crate::support::ok_stdout(&app.cli(&["admin-key", "revoke", "ci-bot"], None));
    let (status, _, _) = call(
        &app,
        Method::GET,
        "/admin/v1/environments",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_rotation_lets_both_passwords_in_until_the_overlap_ends() {
    let app = TestApp::spawn().await;
    let op = key(&app, "ops", AdminRole::Operator).await;
    let old = app.add_user("sandbox", "alice").await;
    let session = app.login("sandbox", "alice", &old).await;
    let (status, b, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users/alice/credentials",
        Some(&op),
        Some(json!({"overlap": "2h"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let new = b["password"].as_str().unwrap().to_string();
    app.remember(&new);
    assert_eq!(b["sessions_ended"], false);
    assert!(
        b["previous_password_valid_until"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{b}"
    );
    // Both work at once; the session made before lives on.
    app.login("sandbox", "alice", &new).await;
    app.login("sandbox", "alice", &old).await;
    assert_eq!(
        app.refresh("sandbox", "alice", &session).await.status,
        StatusCode::OK
    );
    let wrong = app
        .authenticate_raw("sandbox", "alice", "neither of the two")
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    // After the overlap only the new one.
    app.clock
        .advance(std::time::Duration::from_secs(2 * 3600 + 1));
    let late = app.authenticate_raw("sandbox", "alice", &old).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{:?}", late.body);
    let t = app.login("sandbox", "alice", &new).await;
    // A zero overlap is a reset: the given password only, and every session ends.
    let reset = "a reset password of some length";
    app.remember(reset);
    let (status, b, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users/alice/credentials",
        Some(&op),
        Some(json!({"password": reset, "overlap": "0s"})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (&b["sessions_ended"], b.get("password")),
        (&json!(true), None)
    );
    assert_eq!(
        app.refresh("sandbox", "alice", &t).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &new).await.status,
        StatusCode::BAD_REQUEST
    );
    app.login("sandbox", "alice", reset).await;
    for bad in [
        json!({"overlap": "soon"}),
        json!({"overlap": "31d"}),
        json!({"password": "short"}),
        json!({"passwd": "x"}),
    ] {
        let (status, b, _) = call(
            &app,
            Method::POST,
            "/admin/v1/sandbox/users/alice/credentials",
            Some(&op),
            Some(bad.clone()),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/admin/v1/sandbox/users/nobody/credentials",
        Some(&op),
        Some(json!({})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, events, _) = call(
        &app,
        Method::GET,
        "/admin/v1/sandbox/events?type=credentials_rotated",
        Some(&op),
        None,
        &[],
    )
    .await;
    let ended: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["data"]["sessions_ended"])
        .collect();
    assert_eq!(ended, [&json!(true), &json!(false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_older_than_the_retention_are_purged() {
    let app = TestApp::spawn().await;
    let viewer = key(&app, "v", AdminRole::Viewer).await;
    app.add_user("sandbox", "old").await;
    app.clock
        .advance(std::time::Duration::from_secs(89 * 86_400));
    app.add_user("sandbox", "recent").await;
    app.clock
        .advance(std::time::Duration::from_secs(2 * 86_400));
    // The purge runs at start and then every minute: a restart runs it now.
    let app = app.restart_with(|_| {}).await;
    let mut names = Vec::new();
    for _ in 0..100 {
        let (_, events, _) = call(
            &app,
            Method::GET,
            "/admin/v1/sandbox/events?type=user_created",
            Some(&viewer),
            None,
            &[],
        )
        .await;
        names = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["username"].as_str().unwrap().to_string())
            .collect();
        if names.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        names,
        ["recent"],
        "90 days (the default) keep the recent event only"
    );
}

#[tokio::test]
async fn an_environments_sessions_page_through_every_users_and_no_other_environments() {
    let app = TestApp::spawn().await;
    let viewer = key(&app, "env-sessions", AdminRole::Viewer).await;
    let mut expected = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let pw = app.add_user("sandbox", name).await;
        for _ in 0..2 {
            let t = app.login("sandbox", name, &pw).await;
            expected.push(crate::support::claims(&t.access_token)["sid"].to_string());
        }
    }
    let other = app.add_user("production", "alice").await;
    app.login("production", "alice", &other).await;
    let mut seen = Vec::new();
    let mut path = "/admin/v1/sandbox/sessions?limit=4".to_string();
    let mut pages = 0;
    loop {
        let (status, page, _) = call(&app, Method::GET, &path, Some(&viewer), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for s in page["items"].as_array().unwrap() {
            seen.push(s["id"].clone());
            assert!(["alice", "bob", "carol"].contains(&s["username"].as_str().unwrap()));
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/v1/sandbox/sessions?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    let mut seen: Vec<String> = seen
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = expected
        .iter()
        .map(|s| s.trim_matches('"').to_string())
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}
