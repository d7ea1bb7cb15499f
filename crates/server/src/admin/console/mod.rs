//! The console (SPEC §11): server-rendered pages on the admin listener for the people
//! who run the service. Plain HTML forms with post/redirect/get, no script at all,
//! nothing loaded from outside the binary.
//!
//! Sign-in takes an admin key (checked, counted and locked out like the API's bearer
//! keys) and opens a signed session cookie ([`session`]). Every page is drawn for the
//! key's role: what the role may not do is not offered, and every handler checks the role
//! again. Every form carries the session's CSRF token; a post without it, or one a browser
//! marks as cross-site, is refused before anything is read. Every answer carries a
//! Content-Security-Policy that allows this origin's stylesheet and nothing else, and
//! `Cache-Control: no-store` (pages can hold a generated password).

mod envs;
mod hooks;
mod page;
pub mod session;
mod users;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use wirecash_core::admin::AdminPrincipal;

use self::page::{Notice, layout};
use self::session::{Names, Session};
use super::AdminState;
use super::error::AdminError;
use crate::http::form::{Form, parse_form};

/// The console's routes (merged into the admin listener's router).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/console", get(envs::overview))
        .route("/console/style.css", get(stylesheet))
        .route("/console/login", get(sign_in_page).post(sign_in))
        .route("/console/logout", post(sign_out))
        .route(
            "/console/env/{env}/users",
            get(users::list).post(users::create),
        )
        .route("/console/env/{env}/users/{username}", get(users::show))
        .route(
            "/console/env/{env}/users/{username}/disable",
            post(users::disable),
        )
        .route(
            "/console/env/{env}/users/{username}/enable",
            post(users::enable),
        )
        .route(
            "/console/env/{env}/users/{username}/credentials",
            post(users::rotate),
        )
        .route(
            "/console/env/{env}/users/{username}/delete",
            post(users::delete),
        )
        .route(
            "/console/env/{env}/users/{username}/sessions/revoke",
            post(users::revoke_all),
        )
        .route(
            "/console/env/{env}/sessions/{id}/revoke",
            post(users::revoke_one),
        )
        .route("/console/env/{env}/keys", get(envs::keys))
        .route("/console/env/{env}/keys/rotate", post(envs::rotate_key))
        .route("/console/env/{env}/events", get(envs::events))
        .route(
            "/console/env/{env}/incident",
            get(envs::incident).post(envs::revoke_everything),
        )
        .route("/console/webhooks", get(hooks::list).post(hooks::create))
        .route("/console/webhooks/{id}", get(hooks::show))
        .route("/console/webhooks/{id}/pause", post(hooks::pause))
        .route("/console/webhooks/{id}/resume", post(hooks::resume))
        .route("/console/webhooks/{id}/test", post(hooks::test))
        .route("/console/webhooks/{id}/rotate-secret", post(hooks::rotate))
        .route("/console/webhooks/{id}/delete", post(hooks::delete))
        .route(
            "/console/webhooks/{id}/deliveries/{event_id}/resend",
            post(hooks::resend),
        )
}

/// The Content-Security-Policy of every console answer: this origin's stylesheet, forms
/// posted to this origin, no script, no frames, nothing else.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("style.css");

/// `GET /console/style.css`.
async fn stylesheet() -> Response {
    let mut response = STYLE.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// An HTML answer with the console's headers.
fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `303 See Other` to `location` (a path of ours).
fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn names(state: &AdminState) -> Names {
    Names::new(state.secure_cookies)
}

/// A signed-in console request: the admin key behind it, and its session.
pub struct Signed {
    /// The admin key's name and role, as stored now.
    pub who: AdminPrincipal,
    session: Session,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// The session cookie with its idle time restarted.
    refreshed: HeaderValue,
}

impl Signed {
    /// A page for this session: the console's headers and the refreshed cookie.
    pub fn page(&self, status: StatusCode, markup: Markup) -> Response {
        let mut response = html_response(status, markup);
        response
            .headers_mut()
            .insert(header::SET_COOKIE, self.refreshed.clone());
        response
    }

    /// `303` to `location`, refreshing the cookie.
    pub fn redirect(&self, location: &str) -> Response {
        let mut response = see_other(location);
        response
            .headers_mut()
            .insert(header::SET_COOKIE, self.refreshed.clone());
        response
    }

    /// Refuses with a page unless the key's role is at least `role`.
    pub fn require(&self, role: wirecash_core::store::AdminRole) -> Result<(), AdminError> {
        if self.who.role >= role {
            Ok(())
        } else {
            Err(AdminError::Forbidden(role.as_str()))
        }
    }

    /// The actor of what this session does: its admin key.
    pub fn actor(&self) -> wirecash_core::events::Actor {
        self.who.actor()
    }
}

/// Back to the sign-in page, with the session cookie removed.
fn to_sign_in(state: &AdminState, why: Option<&str>) -> Response {
    let location = match why {
        Some(why) => format!("/console/login?ended={why}"),
        None => "/console/login".to_string(),
    };
    let mut response = see_other(&location);
    let n = names(state);
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(n, n.session, "", std::time::Duration::ZERO),
    );
    response
}

impl FromRequestParts<AdminState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Response> {
        let n = names(state);
        let Some(value) = session::cookie(&parts.headers, n.session) else {
            return Err(to_sign_in(state, None));
        };
        let mac = &state.service.admin_secrets().console_mac;
        let admin = state.service.admin();
        let now = admin.clock.now();
        let Some(mut session) = Session::open(mac, value, now) else {
            return Err(to_sign_in(state, Some("expired")));
        };
        let who = match admin.live_admin_key(&session.key_id).await {
            Ok(Some(who)) => who,
            Ok(None) => return Err(to_sign_in(state, Some("revoked"))),
            Err(e) => return Err(error_page(None, AdminError::from(e))),
        };
        session.seen = now;
        let refreshed = session::set_cookie(n, n.session, &session.seal(mac), session::IDLE);
        let csrf = session.csrf(mac);
        Ok(Signed {
            who,
            session,
            csrf,
            refreshed,
        })
    }
}

/// Whether the browser says the request came from another site (`Sec-Fetch-Site`, sent
/// by every current browser). A form post from elsewhere is refused even before its
/// CSRF token is looked at.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !matches!(v, "same-origin" | "none"))
}

/// A form post of a signed-in session, its CSRF token checked.
pub struct Posted {
    /// Who posted it.
    pub signed: Signed,
    /// The form's fields (the CSRF token among them).
    pub form: Form,
}

/// Reads a form body (bounded in size and time, as the API's bodies) without its CSRF
/// check.
async fn read_form(parts: &Parts, body: axum::body::Body) -> Result<Form, Response> {
    let bytes = crate::http::extract::read_body(parts, body)
        .await
        .map_err(|e| error_page(None, AdminError::from(e)))?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    parse_form(None, content_type, &bytes).map_err(|e| error_page(None, AdminError::from(e)))
}

fn csrf_refused(client: Option<std::net::IpAddr>) -> Response {
    tracing::warn!(target: "audit", event = "console_form_refused", client = ?client, "console form without a valid CSRF token refused");
    let markup = layout(
        "Form refused",
        None,
        page::Nav::None,
        Some(&Notice::error(
            "This form was refused: it did not come from a page of this console (its \
             CSRF token was missing or stale). Go back, reload the page and try again.",
        )),
        html! { p { a href="/console" { "Back to the console" } } },
    );
    html_response(StatusCode::FORBIDDEN, markup)
}

impl FromRequest<AdminState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AdminState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let client = super::auth::client_addr(&parts, state);
        if cross_site(&parts.headers) {
            return Err(csrf_refused(client));
        }
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let form = read_form(&parts, body).await?;
        let mac = &state.service.admin_secrets().console_mac;
        if !form
            .get("csrf")
            .is_some_and(|t| signed.session.csrf_ok(mac, t))
        {
            return Err(csrf_refused(client));
        }
        Ok(Posted { signed, form })
    }
}

/// What an error looks like to a person: its status and a sentence.
pub fn explain(e: AdminError) -> (StatusCode, String) {
    use crate::error::ApiError;
    match e {
        AdminError::BadRequest(m) | AdminError::Api(ApiError::InvalidRequest(m)) => {
            (StatusCode::BAD_REQUEST, m)
        }
        AdminError::NotFound(m) => (StatusCode::NOT_FOUND, m),
        AdminError::Conflict(m) => (StatusCode::CONFLICT, m),
        AdminError::Forbidden(needs) => (
            StatusCode::FORBIDDEN,
            format!("Your admin key's role may not do this; it needs the {needs} role."),
        ),
        AdminError::Locked(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many bad admin keys from this address; try again in {secs} s."),
        ),
        AdminError::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "That is not a live admin key.".into(),
        ),
        AdminError::IdempotencyMismatch => (StatusCode::CONFLICT, "Try again.".into()),
        AdminError::Api(ApiError::PayloadTooLarge(max)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The form is larger than {} KiB.", max / 1024),
        ),
        AdminError::Api(ApiError::RequestTimeout) => (
            StatusCode::REQUEST_TIMEOUT,
            "The form did not arrive in time; try again.".into(),
        ),
        AdminError::Api(ApiError::FormMediaType) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The console takes forms posted by its own pages only.".into(),
        ),
        AdminError::Api(other) => {
            // Its own answer logs a server error; only the status is kept.
            let status = other.into_response().status();
            let text = if status == StatusCode::SERVICE_UNAVAILABLE {
                "The store is unavailable right now; try again in a moment."
            } else {
                "Something failed on the server; the service's log has the details."
            };
            (status, text.into())
        }
    }
}

/// A page that only says what went wrong.
pub fn error_page(signed: Option<&Signed>, e: AdminError) -> Response {
    let (status, text) = explain(e);
    let markup = layout(
        "Error",
        signed,
        page::Nav::None,
        Some(&Notice::error(text)),
        html! { p { a href="/console" { "Back to the console" } } },
    );
    match signed {
        Some(s) => s.page(status, markup),
        None => html_response(status, markup),
    }
}

/// The query of a console page, refusing names not in `known` (`done` and `n`, the
/// notice of a redirect, are always allowed).
pub fn query(raw: Option<&str>, known: &[&str]) -> Result<Form, AdminError> {
    let mut all: Vec<&str> = known.to_vec();
    all.extend(["done", "n"]);
    super::page::query(raw, &all)
}

/// `GET /console/login`: the sign-in form, with a fresh nonce cookie its token is bound to.
async fn sign_in_page(State(state): State<AdminState>, RawQuery(q): RawQuery) -> Response {
    let ended = query(q.as_deref(), &["ended"])
        .ok()
        .and_then(|f| f.get("ended").map(str::to_string));
    let notice = match ended.as_deref() {
        Some("expired") => Some(Notice::error(
            "Your console session ended (30 minutes idle or 12 hours in all). Sign in again.",
        )),
        Some("revoked") => Some(Notice::error(
            "The admin key of your session was revoked. Sign in with a live one.",
        )),
        Some("out") => Some(Notice::ok("You are signed out.")),
        _ => None,
    };
    login_form(&state, StatusCode::OK, notice)
}

fn login_form(state: &AdminState, status: StatusCode, notice: Option<Notice>) -> Response {
    let nonce = match session::random_id() {
        Ok(n) => n,
        Err(e) => return error_page(None, e.into()),
    };
    let token = session::login_token(&state.service.admin_secrets().console_mac, &nonce);
    let markup = page::sign_in(&token, notice.as_ref());
    let mut response = html_response(status, markup);
    let n = names(state);
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(n, n.login, &nonce, session::LOGIN_FORM_TTL),
    );
    response
}

/// `POST /console/login` `admin_key=…&csrf=…`: opens a session for a live admin key.
async fn sign_in(State(state): State<AdminState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = super::auth::client_addr(&parts, &state);
    if cross_site(&parts.headers) {
        return csrf_refused(client);
    }
    let form = match read_form(&parts, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let n = names(&state);
    let mac = &state.service.admin_secrets().console_mac;
    let nonce = session::cookie(&parts.headers, n.login).unwrap_or("");
    if !form
        .get("csrf")
        .is_some_and(|t| session::login_token_ok(mac, nonce, t))
    {
        return csrf_refused(client);
    }
    let key = form.get("admin_key").map(str::trim);
    let who = match super::auth::authenticate(&state, key, client).await {
        Ok(who) => who,
        Err(e) => {
            let (status, text) = explain(e);
            return login_form(&state, status, Some(Notice::error(text)));
        }
    };
    let Some(key_id) = key.and_then(wirecash_core::admin::parse_admin_key) else {
        return login_form(&state, StatusCode::UNAUTHORIZED, None);
    };
    let id = match session::random_id() {
        Ok(id) => id,
        Err(e) => return error_page(None, e.into()),
    };
    let now = state.service.admin().clock.now();
    let opened = Session {
        key_id: key_id.to_string(),
        id,
        opened: now,
        seen: now,
    };
    tracing::info!(target: "audit", event = "console_signed_in", admin_key = %who.name, client = ?client, "console session opened");
    let mut response = see_other("/console");
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(n, n.session, &opened.seal(mac), session::IDLE),
    );
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(n, n.login, "", std::time::Duration::ZERO),
    );
    response
}

/// `POST /console/logout`.
async fn sign_out(State(state): State<AdminState>, posted: Posted) -> Response {
    tracing::info!(target: "audit", event = "console_signed_out", admin_key = %posted.signed.who.name, "console session closed");
    to_sign_in(&state, Some("out"))
}
