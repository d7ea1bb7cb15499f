//! The console (SPEC §11) over real HTTP on the admin listener, as a browser without
//! scripts would use it: sign-in and its cookie, CSRF, roles, every form and its effect
//! on the service, timeouts and revocation of the session. The same flows in Chromium
//! are in `console_browser.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use wirecash_core::events::Actor;
use wirecash_core::store::AdminRole;
use wirecash_core::validate::AdminKeyName;

use crate::support::TestApp;

/// Makes an admin key with `role`; remembered as a secret (it must reach no log line).
pub async fn admin_key(app: &TestApp, name: &str, role: AdminRole) -> String {
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

/// A browser without scripts: follows nothing by itself, keeps its cookies.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub jar: BTreeMap<String, String>,
    /// The `Set-Cookie` lines of the last answer.
    pub set_cookies: Vec<String>,
}

/// An answer: status, headers, body.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a redirect points.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        field(&self.body, "csrf").unwrap_or_else(|| panic!("no csrf field in {}", self.body))
    }

    /// What the page shows once (a generated password or secret).
    pub fn shown_once(&self) -> String {
        let open = "<output id=\"shown-once\">";
        let start = self.body.find(open).expect("shown once") + open.len();
        let end = self.body[start..].find("</output>").unwrap() + start;
        self.body[start..end].to_string()
    }
}

/// The value of the first `<input name=NAME value=…>`.
fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.admin_base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            jar: BTreeMap::new(),
            set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> Page {
        let status = r.status();
        let headers = r.headers().clone();
        self.set_cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for line in &self.set_cookies {
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_string(), v.to_string());
            }
        }
        let body = r.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// Posts a form as a browser on one of our pages would (`Sec-Fetch-Site: same-origin`).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[("sec-fetch-site", "same-origin")])
            .await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::support::form_body(fields));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    /// Signs in with `key`; panics unless it works.
    pub async fn sign_in(&mut self, key: &str) {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, 200);
        let token = form.csrf();
        let r = self
            .post("/console/login", &[("admin_key", key), ("csrf", &token)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), "/console");
    }

    /// Gets `page` and posts one of its forms (its CSRF token added).
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let p = self.get(page).await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains(&format!("action=\"{action}\"")),
            "no form posting to {action} on {page}"
        );
        let token = p.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf", &token));
        self.post(action, &all).await
    }
}

/// A browser signed in with a new key of `role` (named `console-ROLE`, then `-2`, …).
async fn signed_in(app: &TestApp, role: AdminRole) -> Browser {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = match n {
        0 => format!("console-{}", role.as_str()),
        n => format!("console-{}-{n}", role.as_str()),
    };
    let key = admin_key(app, &name, role).await;
    let mut b = Browser::new(app);
    b.sign_in(&key).await;
    b
}

#[tokio::test]
async fn sign_in_opens_a_strict_http_only_session_and_pages_load_nothing_from_elsewhere() {
    let app = TestApp::spawn().await;
    let key = admin_key(&app, "ops", AdminRole::Operator).await;
    let mut b = Browser::new(&app);
    // Not signed in: every page sends to the sign-in form.
    for path in [
        "/console",
        "/console/env/sandbox/users",
        "/console/webhooks",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/console/login");
    }
    let form = b.get("/console/login").await;
    assert_eq!(form.status, 200);
    let csp = form.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(form.headers["cache-control"], "no-store");
    assert_eq!(form.headers["x-frame-options"], "DENY");
    assert!(
        b.set_cookies[0].starts_with("wc_console_login=")
            && b.set_cookies[0].contains("; HttpOnly; SameSite=Strict"),
        "{:?}",
        b.set_cookies
    );
    // A wrong key: the form again, with the reason, and no session.
    let token = form.csrf();
    let wrong = format!("{}x", &key[..key.len() - 1]);
    let r = b
        .post("/console/login", &[("admin_key", &wrong), ("csrf", &token)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("not a live admin key"), "{}", r.body);
    assert!(!b.jar.contains_key("wc_console"));
    // The right one.
    let token = r.csrf();
    let r = b
        .post("/console/login", &[("admin_key", &key), ("csrf", &token)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = b
        .set_cookies
        .iter()
        .find(|c| c.starts_with("wc_console="))
        .unwrap();
    assert!(
        session.ends_with("; Path=/; Max-Age=1800; HttpOnly; SameSite=Strict"),
        "{session}"
    );
    assert!(!session.contains(&key[5..]), "the key is not in the cookie");
    // Every page: the CSP, no script, only our stylesheet, no key in any URL.
    for path in [
        "/console",
        "/console/env/sandbox/users",
        "/console/env/sandbox/keys",
        "/console/env/sandbox/events",
        "/console/env/sandbox/incident",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert_eq!(p.headers["content-security-policy"].to_str().unwrap(), csp);
        assert!(!p.body.contains("<script"), "{path}");
        assert!(
            !p.body.contains("http://") && !p.body.contains("https://"),
            "{path}"
        );
        assert!(p.body.contains("href=\"/console/style.css\""), "{path}");
        assert!(
            p.body
                .contains("Signed in as <strong>ops</strong> (operator)")
        );
    }
    let css = b.get("/console/style.css").await;
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert!(!css.body.contains("url("), "the stylesheet loads nothing");
    // Sign out ends it.
    let token = b.get("/console").await.csrf();
    let r = b.post("/console/logout", &[("csrf", &token)]).await;
    assert_eq!(r.location(), "/console/login?ended=out");
    assert!(!b.jar.contains_key("wc_console"));
    assert_eq!(b.get("/console").await.status, StatusCode::SEE_OTHER);
    // Nothing of the console on the public listener.
    let public = app
        .client
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
}

#[tokio::test]
async fn a_form_post_without_its_csrf_token_or_from_another_site_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.add_user("sandbox", "alice").await;
    let mut b = signed_in(&app, AdminRole::Operator).await;
    let mut other = signed_in(&app, AdminRole::Owner).await;
    let action = "/console/env/sandbox/users/alice/disable";
    let token = b.get("/console/env/sandbox/users/alice").await.csrf();
    let foreign = other.get("/console").await.csrf();
    assert_ne!(token, foreign);
    for (fields, headers) in [
        (vec![], vec![("sec-fetch-site", "same-origin")]),
        (vec![("csrf", "")], vec![("sec-fetch-site", "same-origin")]),
        (
            vec![("csrf", foreign.as_str())],
            vec![("sec-fetch-site", "same-origin")],
        ),
        (vec![("csrf", "x")], vec![]),
        // The right token, but the browser says another site sent it.
        (
            vec![("csrf", token.as_str())],
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            vec![("csrf", token.as_str())],
            vec![("sec-fetch-site", "same-site")],
        ),
    ] {
        let r = b.post_with(action, &fields, &headers).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{fields:?} {headers:?}");
        assert!(r.body.contains("CSRF"), "{}", r.body);
        assert!(
            !app.admin()
                .user(
                    &crate::support::env("sandbox"),
                    &crate::support::user("alice")
                )
                .await
                .unwrap()
                .disabled
        );
    }
    // The sign-in form is bound to its nonce cookie: a token without it is refused.
    let mut fresh = Browser::new(&app);
    let token_elsewhere = fresh.get("/console/login").await.csrf();
    let mut stranger = Browser::new(&app);
    let r = stranger
        .post(
            "/console/login",
            &[("admin_key", "wcak_x"), ("csrf", &token_elsewhere)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // With its token the same post works.
    let r = b.post(action, &[("csrf", &token)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        app.admin()
            .user(
                &crate::support::env("sandbox"),
                &crate::support::user("alice")
            )
            .await
            .unwrap()
            .disabled
    );
}

#[tokio::test]
async fn what_a_role_may_not_do_is_not_offered_and_is_refused() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    app.login("sandbox", "alice", &pw).await;
    let mut viewer = signed_in(&app, AdminRole::Viewer).await;
    let users = viewer.get("/console/env/sandbox/users").await;
    assert!(users.body.contains("alice"));
    assert!(!users.body.contains("Create a user"));
    let alice = viewer.get("/console/env/sandbox/users/alice").await;
    assert!(alice.body.contains("<td>refresh</td>"), "{}", alice.body);
    for offered in [
        "Disable user",
        "Revoke",
        "Rotate credentials",
        "Delete user",
    ] {
        assert!(
            !alice.body.contains(offered),
            "{offered} offered to a viewer"
        );
    }
    assert!(
        !viewer
            .get("/console/env/sandbox/keys")
            .await
            .body
            .contains("Rotate the signing key")
    );
    assert!(
        !viewer
            .get("/console/env/sandbox/incident")
            .await
            .body
            .contains("Revoke every session")
    );
    assert!(
        !viewer
            .get("/console")
            .await
            .body
            .contains("/console/webhooks")
    );
    assert_eq!(
        viewer.get("/console/webhooks").await.status,
        StatusCode::FORBIDDEN
    );
    // Posted anyway (with a valid token): refused, nothing changes.
    let token = alice.csrf();
    let r = viewer
        .post(
            "/console/env/sandbox/users/alice/disable",
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("needs the operator role"), "{}", r.body);
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);
    let r = viewer
        .post(
            "/console/env/sandbox/incident",
            &[("csrf", &token), ("confirm", "sandbox")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.live_sessions("sandbox", "alice").await, 1);

    let mut operator = signed_in(&app, AdminRole::Operator).await;
    let page = operator.get("/console/env/sandbox/users/alice").await;
    assert!(page.body.contains("Disable user") && page.body.contains("Revoke"));
    let keys = operator.get("/console/env/sandbox/keys").await;
    assert!(!keys.body.contains("Rotate the signing key"));
    let r = operator
        .post(
            "/console/env/sandbox/keys/rotate",
            &[("csrf", &keys.csrf())],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.admin()
            .keys(&crate::support::env("sandbox"))
            .await
            .unwrap()
            .len(),
        1
    );

    let mut owner = signed_in(&app, AdminRole::Owner).await;
    assert!(
        owner
            .get("/console/env/sandbox/keys")
            .await
            .body
            .contains("Rotate the signing key")
    );
    assert!(
        owner
            .get("/console")
            .await
            .body
            .contains("/console/webhooks")
    );
}

#[tokio::test]
async fn a_created_user_gets_a_generated_password_shown_once_that_logs_in() {
    let app = TestApp::spawn().await;
    let mut b = signed_in(&app, AdminRole::Operator).await;
    let r = b
        .submit(
            "/console/env/sandbox/users",
            "/console/env/sandbox/users",
            &[("username", "acme")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    let password = r.shown_once();
    app.remember(&password);
    assert_eq!(password.len(), 32, "{password:?}");
    app.login("sandbox", "acme", &password).await;
    // Shown once: not on the next page.
    assert!(
        !b.get("/console/env/sandbox/users")
            .await
            .body
            .contains(&password)
    );
    // A given password is not shown; a taken name is an error in place.
    let r = b
        .submit(
            "/console/env/sandbox/users",
            "/console/env/sandbox/users",
            &[("username", "acme"), ("password", "another password 1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("class=\"notice error\""), "{}", r.body);
    assert!(!r.body.contains("shown-once"));
    let r = b
        .submit(
            "/console/env/sandbox/users",
            "/console/env/sandbox/users",
            &[("username", "bravo"), ("password", "a chosen password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(!r.body.contains("shown-once"));
    app.login("sandbox", "bravo", "a chosen password").await;
    // Search by prefix, with an empty state.
    let found = b.get("/console/env/sandbox/users?q=br").await;
    assert!(found.body.contains("bravo") && !found.body.contains(">acme<"));
    let none = b.get("/console/env/sandbox/users?q=zz").await;
    assert!(
        none.body.contains("No username starts with"),
        "{}",
        none.body
    );
}

#[tokio::test]
async fn users_page_through_more_than_one_page() {
    let app = TestApp::spawn().await;
    for i in 0..55 {
        app.admin()
            .add_user(
                &Actor::Cli,
                app.service.hasher(),
                &crate::support::env("sandbox"),
                &crate::support::user(&format!("user-{i:02}")),
                zeroize::Zeroizing::new("a password of a test".to_string()),
            )
            .await
            .unwrap();
    }
    let mut b = signed_in(&app, AdminRole::Viewer).await;
    let first = b.get("/console/env/sandbox/users").await;
    assert!(first.body.contains("user-00") && first.body.contains("user-49"));
    assert!(!first.body.contains("user-50"));
    let at = first
        .body
        .find("href=\"/console/env/sandbox/users?cursor=")
        .unwrap()
        + 6;
    let next = &first.body[at..at + first.body[at..].find('"').unwrap()];
    let second = b.get(next).await;
    assert!(second.body.contains("user-50") && second.body.contains("user-54"));
    assert!(!second.body.contains("user-49") && !second.body.contains("Next page"));
}

#[tokio::test]
async fn sessions_appear_after_a_login_and_are_revoked_one_or_all() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let mut b = signed_in(&app, AdminRole::Operator).await;
    let empty = b.get("/console/env/sandbox/users/alice").await;
    assert!(empty.body.contains("No live sessions"));
    let one = app.login("sandbox", "alice", &pw).await;
    let two = app.login("sandbox", "alice", &pw).await;
    let page = b.get("/console/env/sandbox/users/alice").await;
    let ids: Vec<&str> = page
        .body
        .match_indices("/console/env/sandbox/sessions/")
        .map(|(i, _)| {
            let rest = &page.body[i + 30..];
            &rest[..rest.find('/').unwrap()]
        })
        .collect();
    assert_eq!(ids.len(), 2, "{}", page.body);
    assert!(
        page.body.contains("127.0.0.1"),
        "the client address is shown"
    );
    let r = b
        .post(
            &format!("/console/env/sandbox/sessions/{}/revoke", ids[0]),
            &[("csrf", &page.csrf()), ("username", "alice")],
        )
        .await;
    assert_eq!(
        r.location(),
        "/console/env/sandbox/users/alice?done=revoked&n=1"
    );
    // One of the two ended, the other lives on.
    let (a, b2) = (
        app.refresh("sandbox", "alice", &one).await,
        app.refresh("sandbox", "alice", &two).await,
    );
    let mut statuses = [a.status.as_u16(), b2.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
    let one = if a.status == 200 {
        a.tokens()
    } else {
        b2.tokens()
    };
    let after = b.get(r.location()).await;
    assert!(after.body.contains("Ended 1 session."), "{}", after.body);
    // The event of one session's revocation is found under its user's name.
    let events = b
        .get("/console/env/sandbox/events?type=sessions_revoked&username=alice")
        .await;
    assert!(
        events
            .body
            .contains(&format!("scope=session session_id={}", ids[0])),
        "{}",
        events.body
    );
    let r = b
        .submit(
            "/console/env/sandbox/users/alice",
            "/console/env/sandbox/users/alice/sessions/revoke",
            &[],
        )
        .await;
    assert_eq!(
        r.location(),
        "/console/env/sandbox/users/alice?done=revoked&n=1"
    );
    assert_eq!(app.refresh("sandbox", "alice", &one).await.status, 400);
    assert_eq!(app.live_sessions("sandbox", "alice").await, 0);
}

#[tokio::test]
async fn disable_enable_and_credential_rotation_with_and_without_overlap() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let t = app.login("sandbox", "alice", &pw).await;
    let mut b = signed_in(&app, AdminRole::Operator).await;
    let page = "/console/env/sandbox/users/alice";
    let r = b
        .submit(page, "/console/env/sandbox/users/alice/disable", &[])
        .await;
    assert_eq!(
        r.location(),
        "/console/env/sandbox/users/alice?done=disabled"
    );
    assert_eq!(app.refresh("sandbox", "alice", &t).await.status, 400);
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &pw).await.status,
        400
    );
    assert!(b.get(page).await.body.contains("disabled"));
    b.submit(page, "/console/env/sandbox/users/alice/enable", &[])
        .await;
    let t = app.login("sandbox", "alice", &pw).await;

    // Rotation with a 1 h overlap, password generated: both work, the session lives.
    let r = b
        .submit(
            page,
            "/console/env/sandbox/users/alice/credentials",
            &[("overlap", "1h")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = r.shown_once();
    app.remember(&new);
    assert!(
        r.body.contains("keeps working for logins until"),
        "{}",
        r.body
    );
    app.login("sandbox", "alice", &new).await;
    app.login("sandbox", "alice", &pw).await;
    let t = app.refresh("sandbox", "alice", &t).await.tokens();
    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &pw).await.status,
        400
    );
    app.login("sandbox", "alice", &new).await;
    // (The console session did not outlive the hour either.)
    assert_eq!(b.get(page).await.location(), "/console/login?ended=expired");
    let mut b = signed_in(&app, AdminRole::Operator).await;

    // A reset ("0s") with a chosen password: only it works, every session ends.
    let r = b
        .submit(
            page,
            "/console/env/sandbox/users/alice/credentials",
            &[("overlap", "0s"), ("password", "the reset password")],
        )
        .await;
    assert!(
        r.body.contains("every session of this user has ended"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("shown-once"));
    assert_eq!(app.refresh("sandbox", "alice", &t).await.status, 400);
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &new).await.status,
        400
    );
    app.login("sandbox", "alice", "the reset password").await;
    // A bad overlap is an error in place.
    let r = b
        .submit(
            page,
            "/console/env/sandbox/users/alice/credentials",
            &[("overlap", "soon")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("The overlap is a duration"), "{}", r.body);
}

#[tokio::test]
async fn delete_and_the_incident_button_need_their_typed_confirmation() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    let bob = app.add_user("sandbox", "bob").await;
    let prod = app.add_user("production", "alice").await;
    let mut b = signed_in(&app, AdminRole::Operator).await;
    let page = "/console/env/sandbox/users/alice";
    let r = b
        .submit(
            page,
            "/console/env/sandbox/users/alice/delete",
            &[("confirm", "alic")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Nothing was deleted"), "{}", r.body);
    app.login("sandbox", "alice", &pw).await;
    let r = b
        .submit(
            page,
            "/console/env/sandbox/users/alice/delete",
            &[("confirm", "alice")],
        )
        .await;
    assert_eq!(r.location(), "/console/env/sandbox/users?done=deleted");
    assert_eq!(
        app.authenticate_raw("sandbox", "alice", &pw).await.status,
        400
    );
    assert_eq!(b.get(page).await.status, StatusCode::NOT_FOUND);

    let sandbox = app.login("sandbox", "bob", &bob).await;
    let production = app.login("production", "alice", &prod).await;
    let incident = "/console/env/sandbox/incident";
    let r = b
        .submit(incident, incident, &[("confirm", "production")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.live_sessions("sandbox", "bob").await, 1);
    let r = b
        .submit(incident, incident, &[("confirm", "sandbox")])
        .await;
    assert_eq!(
        r.location(),
        "/console/env/sandbox/incident?done=revoked&n=1"
    );
    assert_eq!(app.refresh("sandbox", "bob", &sandbox).await.status, 400);
    app.refresh("production", "alice", &production)
        .await
        .tokens();
}

#[tokio::test]
async fn a_console_session_ends_when_idle_when_old_or_when_its_key_is_revoked() {
    let app = TestApp::spawn().await;
    let mut b = signed_in(&app, AdminRole::Viewer).await;
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(b.get("/console").await.status, 200);
    // Each click restarts the idle time...
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(b.get("/console").await.status, 200);
    app.clock.advance(Duration::from_secs(31 * 60));
    let r = b.get("/console").await;
    assert_eq!(r.location(), "/console/login?ended=expired");
    assert!(
        b.get(r.location())
            .await
            .body
            .contains("Your console session ended")
    );

    // ...but not beyond 12 hours.
    let mut b = signed_in(&app, AdminRole::Viewer).await;
    let mut ended_after = None;
    for clicks in 1..=30 {
        app.clock.advance(Duration::from_secs(29 * 60));
        let r = b.get("/console").await;
        if r.status != 200 {
            assert_eq!(r.location(), "/console/login?ended=expired");
            ended_after = Some(clicks);
            break;
        }
    }
    // 24 × 29 min = 11 h 36 min: still open; 25 × 29 min = 12 h 5 min: ended.
    assert_eq!(ended_after, Some(25));

    // Revoking the key ends its sessions at the next request.
    let key = admin_key(&app, "short-lived", AdminRole::Operator).await;
    let mut b = Browser::new(&app);
    b.sign_in(&key).await;
    assert_eq!(b.get("/console").await.status, 200);
    app.admin()
        .revoke_admin_key(&Actor::Cli, &AdminKeyName::parse("short-lived").unwrap())
        .await
        .unwrap();
    assert_eq!(
        b.get("/console").await.location(),
        "/console/login?ended=revoked"
    );
    // A cookie from another installation (or changed) is not a session.
    let mut forged = Browser::new(&app);
    forged.jar.insert(
        "wc_console".into(),
        "v1.0123456789abcdef.00112233445566778899aabbccddeeff.1.1.AAAA".into(),
    );
    assert_eq!(
        forged.get("/console").await.location(),
        "/console/login?ended=expired"
    );
}

#[tokio::test]
async fn keys_rotate_with_the_activation_time_shown_and_events_filter() {
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "alice").await;
    app.add_user("sandbox", "bob").await;
    let mut b = signed_in(&app, AdminRole::Owner).await;
    let r = b
        .submit(
            "/console/env/sandbox/keys",
            "/console/env/sandbox/keys/rotate",
            &[],
        )
        .await;
    assert_eq!(r.location(), "/console/env/sandbox/keys?done=key_rotated");
    let keys = b.get(r.location()).await;
    assert!(keys.body.contains("badge wait\">pending"), "{}", keys.body);
    assert!(keys.body.contains("badge ok\">active"));
    assert_eq!(keys.body.matches("<td class=\"mono\">").count(), 2);
    let t = app.login("sandbox", "alice", &pw).await;
    b.submit(
        "/console/env/sandbox/users/alice",
        "/console/env/sandbox/users/alice/sessions/revoke",
        &[],
    )
    .await;
    drop(t);
    let all = b.get("/console/env/sandbox/events").await;
    for kind in ["signing_key_rotated", "sessions_revoked", "user_created"] {
        assert!(all.body.contains(kind), "{kind}: {}", all.body);
    }
    assert!(all.body.contains("admin_key:console-owner"), "{}", all.body);
    let revoked = b
        .get("/console/env/sandbox/events?type=sessions_revoked&username=alice")
        .await;
    assert!(revoked.body.contains("sessions_revoked</span>"));
    assert!(!revoked.body.contains("user_created</span>"));
    let bob = b.get("/console/env/sandbox/events?username=bob").await;
    assert!(bob.body.contains("user_created</span>") && !bob.body.contains("alice</a>"));
    let later = b
        .get("/console/env/sandbox/events?since=2999-01-01T00:00:00Z")
        .await;
    assert!(
        later.body.contains("No event matches these filters"),
        "{}",
        later.body
    );
    let bad = b.get("/console/env/sandbox/events?type=nope").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn webhooks_are_managed_and_their_deliveries_shown_and_resent() {
    let receiver = crate::webhooks::Receiver::start().await;
    receiver.answer(&[500]);
    let app = TestApp::spawn_with(|c| {
        c.webhook.allowed_networks =
            vec![wirecash_auth::webhooks::egress::Network::parse("127.0.0.0/8").unwrap()];
        c.webhook.retry_base = Duration::from_secs(3600);
    })
    .await;
    let mut b = signed_in(&app, AdminRole::Owner).await;
    let empty = b.get("/console/webhooks").await;
    assert!(empty.body.contains("No subscriptions yet"));
    let url = receiver.url.clone();
    let r = b
        .submit(
            "/console/webhooks",
            "/console/webhooks",
            &[("url", &url), ("event.sessions_revoked", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.shown_once();
    app.remember(&secret);
    assert!(secret.starts_with("whsec_"));
    let listed = b.get("/console/webhooks").await;
    let at = listed.body.find("href=\"/console/webhooks/wh_").unwrap() + 6;
    let page = listed.body[at..at + listed.body[at..].find('"').unwrap()].to_string();
    let id = page.trim_start_matches("/console/webhooks/").to_string();
    assert!(listed.body.contains("sessions_revoked"));
    // A test event: the first attempt gets a 500, shown with the next try.
    let r = b.submit(&page, &format!("{page}/test"), &[]).await;
    assert_eq!(r.location(), format!("{page}?done=test_sent"));
    let mut shown = String::new();
    for _ in 0..100 {
        shown = b.get(&page).await.body;
        if shown.contains("HTTP 500") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        shown.contains("HTTP 500") && shown.contains("pending"),
        "{shown}"
    );
    assert_eq!(receiver.received().len(), 1);
    // Retried now from the page: the receiver answers 204 this time.
    let event = shown[shown.find("/deliveries/").unwrap() + 12..]
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let r = b
        .submit(&page, &format!("{page}/deliveries/{event}/resend"), &[])
        .await;
    assert_eq!(r.location(), format!("{page}?done=resent"));
    receiver.wait_for(2, || {}).await;
    for _ in 0..100 {
        shown = b.get(&page).await.body;
        if shown.contains("badge ok\">delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        shown.contains("badge ok\">delivered") && shown.contains("Re-send"),
        "{shown}"
    );
    assert_eq!(
        receiver.received()[0].header("webhook-id"),
        receiver.received()[1].header("webhook-id")
    );
    // Pause and resume.
    b.submit(&page, &format!("{page}/pause"), &[]).await;
    assert!(b.get(&page).await.body.contains("badge off\">paused"));
    b.submit(&page, &format!("{page}/resume"), &[]).await;
    // Rotate the secret: a new one, shown once, the old one signing for the overlap.
    let r = b
        .submit(
            &page,
            &format!("{page}/rotate-secret"),
            &[("overlap", "1h")],
        )
        .await;
    let rotated = r.shown_once();
    app.remember(&rotated);
    assert_ne!(rotated, secret);
    assert!(r.body.contains("also signs until"), "{}", r.body);
    // Delete needs the id typed.
    let r = b
        .submit(&page, &format!("{page}/delete"), &[("confirm", "wh_")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = b
        .submit(&page, &format!("{page}/delete"), &[("confirm", &id)])
        .await;
    assert_eq!(r.location(), "/console/webhooks?done=unsubscribed");
    assert_eq!(b.get(&page).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_oversized_form_or_a_bad_username_is_refused_with_a_page() {
    let app = TestApp::spawn().await;
    let mut b = signed_in(&app, AdminRole::Operator).await;
    let token = b.get("/console").await.csrf();
    let big = "x".repeat(64 * 1024);
    let r = b
        .post(
            "/console/env/sandbox/users",
            &[("csrf", &token), ("username", &big)],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(
        r.body.contains("The form is larger than 16 KiB."),
        "{}",
        r.body
    );
    assert!(r.body.contains("class=\"notice error\""), "{}", r.body);
    // A username that is not one: the users page again, the reason in place.
    let r = b
        .post(
            "/console/env/sandbox/users",
            &[("csrf", &token), ("username", "a\u{0}b")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("class=\"notice error\""), "{}", r.body);
    let users = app
        .admin()
        .users(&crate::support::env("sandbox"))
        .await
        .unwrap();
    assert!(users.is_empty());
}
