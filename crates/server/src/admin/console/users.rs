//! Users: search and create; one user's state, credentials and sessions.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use wirecash_core::admin::AdminService;
use wirecash_core::store::{AdminRole, SessionSummary, UserRecord};
use wirecash_core::validate::{MAX_PASSWORD, MAX_USERNAME, Username};
use zeroize::Zeroizing;

use super::page::{Nav, Notice, Tab, button, csrf, enc, layout, pager, shown_once, when};
use super::{Posted, Signed, error_page, explain, query};
use crate::admin::AdminState;
use crate::admin::api::{env, username};
use crate::admin::error::AdminError;

/// Users per page.
const USERS_PER_PAGE: u32 = 50;
/// Sessions listed on a user's page.
const SESSIONS_PER_PAGE: u32 = 100;
/// The overlaps offered for a credential rotation.
const OVERLAPS: [(&str, &str); 5] = [
    ("24h", "24 hours"),
    ("1h", "1 hour"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("0s", "none: a reset that ends every session now"),
];

fn user_path(env: &str, name: &str) -> String {
    format!("/console/env/{env}/users/{}", enc(name))
}

/// `GET /console/env/{env}/users?q=&cursor=`.
pub async fn list(
    State(state): State<AdminState>,
    signed: Signed,
    Path(env_name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let result = async {
        let form = query(q.as_deref(), &["q", "cursor"])?;
        let notice = Notice::done(&form);
        let prefix = form.get("q").unwrap_or("").trim().to_string();
        let cursor = form.get("cursor").map(str::to_string);
        list_page(
            &state,
            &signed,
            &env_name,
            &prefix,
            cursor.as_deref(),
            notice,
            None,
        )
        .await
    }
    .await;
    match result {
        Ok(markup) => signed.page(StatusCode::OK, markup),
        Err(e) => error_page(Some(&signed), e),
    }
}

/// The users page, with a notice and what a creation showed once (its password).
async fn list_page(
    state: &AdminState,
    signed: &Signed,
    env_name: &str,
    prefix: &str,
    cursor: Option<&str>,
    notice: Option<Notice>,
    shown: Option<Markup>,
) -> Result<Markup, AdminError> {
    let env = env(state, env_name)?;
    if prefix.len() > MAX_USERNAME {
        return Err(AdminError::BadRequest(format!(
            "Search for at most {MAX_USERNAME} bytes."
        )));
    }
    let after = cursor
        .map(|c| crate::admin::page::decode('u', c))
        .transpose()?;
    let mut rows = state
        .service
        .admin()
        .users_page(&env, prefix, after.as_deref(), USERS_PER_PAGE + 1)
        .await?;
    let next = if rows.len() > USERS_PER_PAGE as usize {
        rows.truncate(USERS_PER_PAGE as usize);
        rows.last()
            .map(|u| crate::admin::page::encode('u', &u.username))
    } else {
        None
    };
    let base = if prefix.is_empty() {
        format!("/console/env/{env}/users")
    } else {
        format!("/console/env/{env}/users?q={}", enc(prefix))
    };
    let content = html! {
        @if let Some(shown) = shown { (shown) }
        h1 { "Users" }
        p.sub { "API users of " strong { (env) } ": the partners' credentials." }
        section.card {
            form.inline method="get" action={ "/console/env/" (env) "/users" } {
                label { "Username starts with"
                    input type="text" name="q" value=(prefix) placeholder="search" spellcheck="false";
                }
                button.quiet type="submit" { "Search" }
                @if !prefix.is_empty() { a href={ "/console/env/" (env) "/users" } { "Clear" } }
            }
        }
        section.card {
            @if rows.is_empty() {
                p.empty {
                    @if prefix.is_empty() && cursor.is_none() { "No users yet." @if signed.who.role >= AdminRole::Operator { " Create the first one below." } }
                    @else if prefix.is_empty() { "No more users." }
                    @else { "No username starts with \u{201c}" (prefix) "\u{201d}." }
                }
            } @else {
                table {
                    thead { tr { th { "Username" } th { "State" } th { "Created" } } }
                    tbody {
                        @for u in &rows {
                            tr {
                                td { a href=(user_path(env.as_str(), &u.username)) { strong { (u.username) } } }
                                td { @if u.disabled { span.badge.off { "disabled" } } @else { span.badge.ok { "active" } } }
                                td { (when(u.created_at)) }
                            }
                        }
                    }
                }
                (pager(&base, next.as_deref()))
            }
        }
        @if signed.who.role >= AdminRole::Operator {
            section.card {
                h2 { "Create a user" }
                form.stack method="post" action={ "/console/env/" (env) "/users" } autocomplete="off" {
                    (csrf(signed))
                    label { "Username"
                        input type="text" name="username" required maxlength=(MAX_USERNAME) spellcheck="false" placeholder="acme-payments";
                    }
                    label { "Password (leave empty to generate a strong one)"
                        input type="password" name="password" maxlength=(MAX_PASSWORD) autocomplete="new-password";
                    }
                    button type="submit" { "Create user" }
                }
            }
        }
    };
    Ok(layout(
        "Users",
        Some(signed),
        Nav::Env(env_name, Tab::Users),
        notice.as_ref(),
        content,
    ))
}

/// `POST /console/env/{env}/users` `username=&password=`: the generated password, if
/// any, is on the answer page, once (not a redirect: it must not reach a URL).
pub async fn create(
    State(state): State<AdminState>,
    Path(env_name): Path<String>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Operator)?;
        let env = env(&state, &env_name)?;
        let name = posted
            .form
            .get("username")
            .map(str::trim)
            .ok_or_else(|| AdminError::BadRequest("Give the new user a username.".into()))?;
        let name = Username::parse_new(name)?;
        let given = posted.form.get("password");
        if given.is_some_and(|p| p.len() > MAX_PASSWORD) {
            return Err(AdminError::BadRequest(format!(
                "A password has at most {MAX_PASSWORD} bytes."
            )));
        }
        let password = match given {
            Some(p) => Zeroizing::new(p.to_string()),
            None => crate::admin::api::generated_password()?,
        };
        let user = state
            .service
            .admin()
            .add_user(
                &signed.actor(),
                state.service.hasher(),
                &env,
                &name,
                password.clone(),
            )
            .await?;
        Ok::<_, AdminError>((user, given.is_none().then_some(password)))
    }
    .await;
    let (status, notice, shown) = match result {
        Ok((user, generated)) => (
            StatusCode::CREATED,
            Notice::ok(format!("User {} created.", user.username)),
            generated.map(|p| {
                shown_once(
                    &format!("The password of {}", user.username),
                    &p,
                    &format!(
                        "Give it to the partner over a channel you trust; they log in with it at POST /{env_name}/authenticate."
                    ),
                )
            }),
        ),
        Err(e) => {
            let (status, text) = explain(e);
            (status, Notice::error(text), None)
        }
    };
    match list_page(&state, signed, &env_name, "", None, Some(notice), shown).await {
        Ok(markup) => signed.page(status, markup),
        Err(e) => error_page(Some(signed), e),
    }
}

/// `GET /console/env/{env}/users/{username}`.
pub async fn show(
    State(state): State<AdminState>,
    signed: Signed,
    Path((env_name, name)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let notice = query(q.as_deref(), &[]).ok().and_then(|f| Notice::done(&f));
    user_page(
        &state,
        &signed,
        &env_name,
        &name,
        StatusCode::OK,
        notice,
        None,
    )
    .await
}

async fn user_page(
    state: &AdminState,
    signed: &Signed,
    env_name: &str,
    name: &str,
    status: StatusCode,
    notice: Option<Notice>,
    extra: Option<Markup>,
) -> Response {
    let result = async {
        let env = env(state, env_name)?;
        let name = username(name)?;
        let admin = state.service.admin();
        let user = admin.user(&env, &name).await?;
        let sessions = admin
            .sessions(&env, Some(&name), None, SESSIONS_PER_PAGE + 1)
            .await?;
        Ok::<_, AdminError>((env, user, sessions))
    }
    .await;
    let (env, user, mut sessions) = match result {
        Ok(r) => r,
        Err(e) => return error_page(Some(signed), e),
    };
    let more = sessions.len() > SESSIONS_PER_PAGE as usize;
    sessions.truncate(SESSIONS_PER_PAGE as usize);
    // Live ones only: revoked and expired sessions are kept a while for the API's
    // history, but nothing can be done with them here.
    let now = state.service.admin().clock.now();
    let policy = state.service.policy();
    sessions.retain(|s| {
        s.revoked_at.is_none()
            && AdminService::session_expiry(policy, s.created_at, s.last_used_at) > now
    });
    let content = user_content(state, signed, env.as_str(), &user, &sessions, more, extra);
    signed.page(
        status,
        layout(
            &user.username,
            Some(signed),
            Nav::Env(env_name, Tab::Users),
            notice.as_ref(),
            content,
        ),
    )
}

fn session_row(state: &AdminState, signed: &Signed, env: &str, s: &SessionSummary) -> Markup {
    let expires =
        AdminService::session_expiry(state.service.policy(), s.created_at, s.last_used_at);
    html! {
        tr {
            td.mono { (s.id) }
            td { (s.kind.as_str()) }
            td { (when(s.created_at)) }
            td { (when(s.last_used_at)) }
            td.num { (s.generation) }
            td { (when(expires)) }
            td.mono { (s.client_addr.as_deref().unwrap_or("—")) }
            td {
                @if signed.who.role >= AdminRole::Operator {
                    form method="post" action={ "/console/env/" (env) "/sessions/" (s.id) "/revoke" } {
                        (csrf(signed))
                        input type="hidden" name="username" value=(s.username);
                        button.quiet.small type="submit" { "Revoke" }
                    }
                }
            }
        }
    }
}

fn user_content(
    state: &AdminState,
    signed: &Signed,
    env: &str,
    user: &UserRecord,
    sessions: &[SessionSummary],
    more: bool,
    extra: Option<Markup>,
) -> Markup {
    let path = user_path(env, &user.username);
    let operator = signed.who.role >= AdminRole::Operator;
    html! {
        @if let Some(extra) = extra { (extra) }
        h1 { (user.username) " "
            @if user.disabled { span.badge.off { "disabled" } } @else { span.badge.ok { "active" } }
        }
        p.sub { "Created " (when(user.created_at)) " in " (env) "." }
        section.card {
            h2 { "Sessions" }
            @if sessions.is_empty() {
                p.empty { "No live sessions. A session appears here when the user logs in." }
            } @else {
                table {
                    thead { tr { th { "Session" } th { "Kind" } th { "Created" } th { "Last used" } th.num { "Generation" } th { "Expires" } th { "Client address" } th {} } }
                    tbody { @for s in sessions { (session_row(state, signed, env, s)) } }
                }
                @if more { p.hint { "Only the newest " (SESSIONS_PER_PAGE) " are listed." } }
                @if operator {
                    div.pager { (button(signed, &format!("{path}/sessions/revoke"), "Revoke all sessions of this user", "danger")) }
                }
            }
        }
        @if operator {
            div.grid {
                section.card {
                    h2 { @if user.disabled { "Enable" } @else { "Disable" } }
                    @if user.disabled {
                        p { "Let the user log in again. Sessions ended by the disabling stay ended." }
                        (button(signed, &format!("{path}/enable"), "Enable user", ""))
                    } @else {
                        p { "Refuse the user's logins and end every session now." }
                        (button(signed, &format!("{path}/disable"), "Disable user", "danger"))
                    }
                }
                section.card {
                    h2 { "Rotate credentials" }
                    form.stack method="post" action={ (path) "/credentials" } autocomplete="off" {
                        (csrf(signed))
                        label { "New password (leave empty to generate one)"
                            input type="password" name="password" maxlength=(MAX_PASSWORD) autocomplete="new-password";
                        }
                        label { "The old password keeps working for"
                            select name="overlap" {
                                @for (value, label) in OVERLAPS { option value=(value) { (label) } }
                            }
                        }
                        button type="submit" { "Rotate credentials" }
                    }
                    p.hint { "The new password works at once. During the overlap the partner can switch without downtime; its sessions keep working." }
                }
            }
            section.card.danger {
                h2 { "Delete" }
                p { "Deletes the user and every session of theirs. This cannot be undone." }
                form.inline method="post" action={ (path) "/delete" } autocomplete="off" {
                    (csrf(signed))
                    label { span { "Type the username, " strong { (user.username) } ", to confirm" }
                        input type="text" name="confirm" required spellcheck="false";
                    }
                    button.danger type="submit" { "Delete user" }
                }
            }
        }
    }
}

/// After a form on a user's page: back to it with a notice, or the page again with the
/// error in place.
async fn finish(
    state: &AdminState,
    signed: &Signed,
    env_name: &str,
    name: &str,
    result: Result<&str, AdminError>,
) -> Response {
    match result {
        Ok(query) => signed.redirect(&format!("{}?{query}", user_path(env_name, name))),
        Err(e) => {
            let (status, text) = explain(e);
            user_page(
                state,
                signed,
                env_name,
                name,
                status,
                Some(Notice::error(text)),
                None,
            )
            .await
        }
    }
}

async fn set_disabled(
    state: &AdminState,
    posted: &Posted,
    env_name: &str,
    name: &str,
    disabled: bool,
) -> Result<(), AdminError> {
    posted.signed.require(AdminRole::Operator)?;
    let env = env(state, env_name)?;
    state
        .service
        .admin()
        .set_disabled(&posted.signed.actor(), &env, &username(name)?, disabled)
        .await?;
    Ok(())
}

/// `POST /console/env/{env}/users/{username}/disable`.
pub async fn disable(
    State(state): State<AdminState>,
    Path((env_name, name)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let result = set_disabled(&state, &posted, &env_name, &name, true).await;
    finish(
        &state,
        &posted.signed,
        &env_name,
        &name,
        result.map(|()| "done=disabled"),
    )
    .await
}

/// `POST /console/env/{env}/users/{username}/enable`.
pub async fn enable(
    State(state): State<AdminState>,
    Path((env_name, name)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let result = set_disabled(&state, &posted, &env_name, &name, false).await;
    finish(
        &state,
        &posted.signed,
        &env_name,
        &name,
        result.map(|()| "done=enabled"),
    )
    .await
}

/// `POST /console/env/{env}/users/{username}/credentials` `password=&overlap=`: the
/// generated password, if any, is on the answer page, once.
pub async fn rotate(
    State(state): State<AdminState>,
    Path((env_name, name)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Operator)?;
        let env = env(&state, &env_name)?;
        let user = username(&name)?;
        let overlap = posted.form.get("overlap").unwrap_or("24h");
        let overlap = humantime::parse_duration(overlap.trim()).map_err(|_| {
            AdminError::BadRequest("The overlap is a duration such as 24h, 7d or 0s.".into())
        })?;
        let given = posted.form.get("password");
        if given.is_some_and(|p| p.len() > MAX_PASSWORD) {
            return Err(AdminError::BadRequest(format!(
                "A password has at most {MAX_PASSWORD} bytes."
            )));
        }
        let password = match given {
            Some(p) => Zeroizing::new(p.to_string()),
            None => crate::admin::api::generated_password()?,
        };
        let until = state
            .service
            .admin()
            .rotate_credentials(
                &signed.actor(),
                state.service.hasher(),
                &env,
                &user,
                password.clone(),
                overlap,
            )
            .await?;
        Ok::<_, AdminError>((until, given.is_none().then_some(password)))
    }
    .await;
    match result {
        Ok((until, generated)) => {
            let text = match until {
                Some(t) => format!(
                    "Credentials rotated. The new password works now; the old one keeps working for logins until {}.",
                    when(t)
                ),
                None => "Credentials reset: only the new password works, and every session of this user has ended.".to_string(),
            };
            let extra = generated.map(|p| {
                shown_once(
                    &format!("The new password of {name}"),
                    &p,
                    "Give it to the partner over a channel you trust.",
                )
            });
            user_page(
                &state,
                signed,
                &env_name,
                &name,
                StatusCode::OK,
                Some(Notice::ok(text)),
                extra,
            )
            .await
        }
        Err(e) => finish(&state, signed, &env_name, &name, Err(e)).await,
    }
}

/// `POST /console/env/{env}/users/{username}/delete` `confirm=USERNAME`.
pub async fn delete(
    State(state): State<AdminState>,
    Path((env_name, name)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Operator)?;
        let env = env(&state, &env_name)?;
        let user = username(&name)?;
        if posted.form.get("confirm").map(str::trim) != Some(user.as_str()) {
            return Err(AdminError::BadRequest(format!(
                "Nothing was deleted: type {:?} exactly to confirm.",
                user.as_str()
            )));
        }
        state
            .service
            .admin()
            .delete_user(&signed.actor(), &env, &user)
            .await?;
        Ok::<_, AdminError>(())
    }
    .await;
    match result {
        Ok(()) => signed.redirect(&format!("/console/env/{env_name}/users?done=deleted")),
        Err(e) => finish(&state, signed, &env_name, &name, Err(e)).await,
    }
}

/// `POST /console/env/{env}/users/{username}/sessions/revoke`.
pub async fn revoke_all(
    State(state): State<AdminState>,
    Path((env_name, name)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Operator)?;
        let env = env(&state, &env_name)?;
        Ok::<_, AdminError>(
            state
                .service
                .admin()
                .revoke_user_sessions(&signed.actor(), &env, &username(&name)?)
                .await?,
        )
    }
    .await;
    let query = result.map(|n| format!("done=revoked&n={n}"));
    match query {
        Ok(q) => finish(&state, signed, &env_name, &name, Ok(&q)).await,
        Err(e) => finish(&state, signed, &env_name, &name, Err(e)).await,
    }
}

/// `POST /console/env/{env}/sessions/{id}/revoke` (back to its user's page).
pub async fn revoke_one(
    State(state): State<AdminState>,
    Path((env_name, id)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Operator)?;
        let env = env(&state, &env_name)?;
        let id: i64 = id
            .parse()
            .map_err(|_| AdminError::NotFound("There is no such live session.".into()))?;
        state
            .service
            .admin()
            .revoke_session(&signed.actor(), &env, id)
            .await?;
        Ok::<_, AdminError>(())
    }
    .await;
    // Back to the user's page the form was on.
    let back = posted
        .form
        .get("username")
        .and_then(|u| Username::parse(u).ok());
    match (result, back) {
        (Ok(()), Some(user)) => signed.redirect(&format!(
            "{}?done=revoked&n=1",
            user_path(&env_name, user.as_str())
        )),
        (Ok(()), None) => {
            signed.redirect(&format!("/console/env/{env_name}/users?done=revoked&n=1"))
        }
        (Err(e), Some(user)) => finish(&state, signed, &env_name, user.as_str(), Err(e)).await,
        (Err(e), None) => error_page(Some(signed), e),
    }
}
