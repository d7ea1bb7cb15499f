//! The environments overview, and each environment's signing keys, events and incident
//! button.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use wirecash_core::store::{AdminRole, EventKind, EventQuery};
use wirecash_core::validate::Username;

use super::page::{Nav, Notice, Tab, button, csrf, enc, layout, pager, when};
use super::{Posted, Signed, error_page, explain, query};
use crate::admin::AdminState;
use crate::admin::api::env;
use crate::admin::error::AdminError;

/// Events per page.
const EVENTS_PER_PAGE: u32 = 50;

/// `GET /console`: every environment with its counts, or the sign-in page.
pub async fn overview(
    State(state): State<AdminState>,
    signed: Signed,
    RawQuery(q): RawQuery,
) -> Response {
    let notice = query(q.as_deref(), &[]).ok().and_then(|f| Notice::done(&f));
    let admin = state.service.admin();
    let mut rows = Vec::new();
    for name in state.service.environment_names() {
        let result = async {
            let env = env(&state, name)?;
            let stats = admin.env_stats(&env, state.service.policy()).await?;
            let keys = admin.keys(&env).await?.len();
            Ok::<_, AdminError>((name, stats, keys))
        }
        .await;
        match result {
            Ok(row) => rows.push(row),
            Err(e) => return error_page(Some(&signed), e),
        }
    }
    let content = html! {
        h1 { "Environments" }
        p.sub { "Each environment has its own users, sessions and signing keys." }
        section.card {
            table {
                thead { tr { th { "Environment" } th.num { "Users" } th.num { "Live sessions" } th.num { "Signing keys" } th {} } }
                tbody {
                    @for (name, stats, keys) in &rows {
                        tr {
                            td { a href={ "/console/env/" (name) "/users" } { strong { (name) } } }
                            td.num { (stats.users) }
                            td.num { (stats.live_sessions) }
                            td.num { (keys) }
                            td { div.row-actions {
                                a href={ "/console/env/" (name) "/users" } { "Users" }
                                " · " a href={ "/console/env/" (name) "/keys" } { "Keys" }
                                " · " a href={ "/console/env/" (name) "/events" } { "Events" }
                            } }
                        }
                    }
                }
            }
        }
    };
    signed.page(
        StatusCode::OK,
        layout(
            "Environments",
            Some(&signed),
            Nav::Overview,
            notice.as_ref(),
            content,
        ),
    )
}

/// `GET /console/env/{env}/keys`.
pub async fn keys(
    State(state): State<AdminState>,
    signed: Signed,
    Path(env_name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let notice = query(q.as_deref(), &[]).ok().and_then(|f| Notice::done(&f));
    keys_page(&state, &signed, &env_name, StatusCode::OK, notice).await
}

async fn keys_page(
    state: &AdminState,
    signed: &Signed,
    env_name: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let env = match env(state, env_name) {
        Ok(e) => e,
        Err(e) => return error_page(Some(signed), e),
    };
    let admin = state.service.admin();
    let now = admin.clock.now();
    let keys = match admin.keys(&env).await {
        Ok(k) => k,
        Err(e) => return error_page(Some(signed), e.into()),
    };
    let delay = state.service.policy().key_activation_delay;
    let content = html! {
        h1 { "Signing keys" }
        p.sub { "Access tokens are signed with the newest active key; every key listed here is published in the JWKS so that tokens it signed still verify." }
        section.card {
            @if keys.is_empty() {
                p.empty { "No signing keys yet: the service makes the first one when it starts." }
            } @else {
                table {
                    thead { tr { th { "Key id" } th { "Algorithm" } th { "Created" } th { "Activates" } th { "State" } } }
                    tbody {
                        @for k in keys.iter().rev() {
                            tr {
                                td.mono { (k.kid) }
                                td { (k.alg) }
                                td { (when(k.created_at)) }
                                td { (when(k.activates_at)) }
                                td { @if k.activates_at <= now { span.badge.ok { "active" } } @else { span.badge.wait { "pending" } } }
                            }
                        }
                    }
                }
            }
        }
        @if signed.who.role >= AdminRole::Owner {
            section.card {
                h2 { "Rotate" }
                p { "A new key is published at once and starts signing after the activation delay ("
                    (humantime::format_duration(delay)) "), so that every verifier has fetched it first." }
                (button(signed, &format!("/console/env/{env}/keys/rotate"), "Rotate the signing key", ""))
            }
        }
    };
    signed.page(
        status,
        layout(
            "Signing keys",
            Some(signed),
            Nav::Env(env_name, Tab::Keys),
            notice.as_ref(),
            content,
        ),
    )
}

/// `POST /console/env/{env}/keys/rotate` (owner).
pub async fn rotate_key(
    State(state): State<AdminState>,
    Path(env_name): Path<String>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Owner)?;
        let env = env(&state, &env_name)?;
        state.service.rotate_key(&signed.actor(), &env).await?;
        Ok::<_, AdminError>(())
    }
    .await;
    match result {
        Ok(()) => signed.redirect(&format!("/console/env/{env_name}/keys?done=key_rotated")),
        Err(e) => {
            let (status, text) = explain(e);
            keys_page(&state, signed, &env_name, status, Some(Notice::error(text))).await
        }
    }
}

/// `GET /console/env/{env}/events?type=&username=&since=&cursor=`.
pub async fn events(
    State(state): State<AdminState>,
    signed: Signed,
    Path(env_name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    match events_page(&state, &signed, &env_name, q.as_deref()).await {
        Ok(markup) => signed.page(StatusCode::OK, markup),
        Err(e) => error_page(Some(&signed), e),
    }
}

async fn events_page(
    state: &AdminState,
    signed: &Signed,
    env_name: &str,
    q: Option<&str>,
) -> Result<Markup, AdminError> {
    let env = env(state, env_name)?;
    let form = query(q, &["type", "username", "since", "cursor"])?;
    let kind =
        match form.get("type") {
            None => None,
            Some(t) => Some(EventKind::parse(t).ok_or_else(|| {
                AdminError::BadRequest("Pick an event type from the list.".into())
            })?),
        };
    let username = match form.get("username") {
        None => None,
        Some(u) => Some(
            Username::parse(u.trim())
                .map_err(|_| AdminError::BadRequest(format!("{u:?} is not a username.")))?
                .to_string(),
        ),
    };
    let since = match form.get("since") {
        None => None,
        Some(s) => Some(
            humantime::parse_rfc3339_weak(s.trim())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_millis()).ok())
                .ok_or_else(|| {
                    AdminError::BadRequest(
                        "\"Since\" is a time such as 2026-12-05 10:00:00 (UTC).".into(),
                    )
                })?,
        ),
    };
    let before = match form.get("cursor") {
        None => None,
        Some(c) => {
            let position = crate::admin::page::decode('e', c)?;
            Some(
                position
                    .split_once(':')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
                    .ok_or_else(|| AdminError::BadRequest("That page link is broken.".into()))?,
            )
        }
    };
    let mut rows = state
        .service
        .admin()
        .events(EventQuery {
            env: env.to_string(),
            kind,
            username: username.clone(),
            since,
            before,
            limit: EVENTS_PER_PAGE + 1,
        })
        .await?;
    let next = if rows.len() > EVENTS_PER_PAGE as usize {
        rows.truncate(EVENTS_PER_PAGE as usize);
        rows.last()
            .map(|e| crate::admin::page::encode('e', &format!("{}:{}", e.at, e.id)))
    } else {
        None
    };
    let mut base = format!("/console/env/{env}/events?");
    for key in ["type", "username", "since"] {
        if let Some(v) = form.get(key) {
            base.push_str(&format!("{key}={}&", enc(v)));
        }
    }
    let base = base.trim_end_matches(['&', '?']).to_string();
    let filtered = kind.is_some() || username.is_some() || since.is_some();
    let content = html! {
        h1 { "Events" }
        p.sub { "Security and audit events, newest first. They are kept for the configured retention and delivered to webhooks." }
        section.card {
            form.inline method="get" action={ "/console/env/" (env) "/events" } {
                label { "Type"
                    select name="type" {
                        option value="" { "Any" }
                        @for k in EventKind::ALL {
                            option value=(k.as_str()) selected[kind == Some(k)] { (k.as_str()) }
                        }
                    }
                }
                label { "User" input type="text" name="username" value=[form.get("username")] placeholder="username"; }
                label { "Since (UTC)" input type="text" name="since" value=[form.get("since")] placeholder="2026-12-05 10:00:00"; }
                button type="submit" { "Filter" }
                @if filtered { a href={ "/console/env/" (env) "/events" } { "Clear" } }
            }
        }
        section.card {
            @if rows.is_empty() {
                p.empty { @if filtered { "No event matches these filters." } @else { "No events yet. User changes, revocations, lockouts, reuse detections and key rotations show up here." } }
            } @else {
                table {
                    thead { tr { th { "Time" } th { "Type" } th { "User" } th { "Actor" } th { "Details" } } }
                    tbody {
                        @for e in &rows {
                            tr {
                                td { (when(e.at)) }
                                td { span class={ "badge " (badge(e.kind)) } { (e.kind.as_str()) } }
                                td { @if let Some(u) = &e.username { a href={ "/console/env/" (env) "/users/" (enc(u)) } { (u) } } }
                                td.mono { (e.actor) }
                                td.mono { (details(&e.data)) }
                            }
                        }
                    }
                }
                (pager(&base, next.as_deref()))
            }
        }
    };
    Ok(layout(
        "Events",
        Some(signed),
        Nav::Env(env_name, Tab::Events),
        Notice::done(&form).as_ref(),
        content,
    ))
}

fn badge(kind: EventKind) -> &'static str {
    match kind {
        EventKind::RefreshTokenReuseDetected | EventKind::UserLockedOut => "bad",
        EventKind::SessionsRevoked | EventKind::UserDisabled | EventKind::UserDeleted => "wait",
        _ => "off",
    }
}

/// An event's data as `key=value` pairs.
fn details(data: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// `GET /console/env/{env}/incident`: the incident button, behind a typed confirmation.
pub async fn incident(
    State(state): State<AdminState>,
    signed: Signed,
    Path(env_name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let notice = query(q.as_deref(), &[]).ok().and_then(|f| Notice::done(&f));
    incident_page(&state, &signed, &env_name, StatusCode::OK, notice).await
}

async fn incident_page(
    state: &AdminState,
    signed: &Signed,
    env_name: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let env = match env(state, env_name) {
        Ok(e) => e,
        Err(e) => return error_page(Some(signed), e),
    };
    let live = match state
        .service
        .admin()
        .env_stats(&env, state.service.policy())
        .await
    {
        Ok(s) => s.live_sessions,
        Err(e) => return error_page(Some(signed), e.into()),
    };
    let content = html! {
        h1 { "Incident: end every session" }
        p.sub { "For a leaked database, a compromised partner system, or any time every refresh token of " strong { (env) } " must stop working now." }
        section.card.danger {
            p { "This revokes all " strong { (live) } " live sessions of " strong { (env) } ": every refresh token stops working at once, on every node. Access tokens already issued stay valid until they expire (at most the access-token lifetime). Users can sign in again with their passwords; to stop them too, disable them or rotate their credentials." }
            @if signed.who.role >= AdminRole::Operator {
                form.stack method="post" action={ "/console/env/" (env) "/incident" } {
                    (csrf(signed))
                    label { span { "Type the environment's name, " strong { (env) } ", to confirm" }
                        input type="text" name="confirm" required autocomplete="off" spellcheck="false";
                    }
                    button.danger type="submit" { "Revoke every session of " (env) }
                }
            } @else {
                p.hint { "Your role (viewer) may not revoke sessions." }
            }
        }
    };
    signed.page(
        status,
        layout(
            "Incident",
            Some(signed),
            Nav::Env(env_name, Tab::Incident),
            notice.as_ref(),
            content,
        ),
    )
}

/// `POST /console/env/{env}/incident` `confirm=ENV`.
pub async fn revoke_everything(
    State(state): State<AdminState>,
    Path(env_name): Path<String>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Operator)?;
        let env = env(&state, &env_name)?;
        if posted.form.get("confirm").map(str::trim) != Some(env.as_str()) {
            return Err(AdminError::BadRequest(format!(
                "Nothing was revoked: type {:?} exactly to confirm.",
                env.as_str()
            )));
        }
        Ok(state
            .service
            .admin()
            .revoke_env_sessions(&signed.actor(), &env)
            .await?)
    }
    .await;
    match result {
        Ok(n) => signed.redirect(&format!(
            "/console/env/{env_name}/incident?done=revoked&n={n}"
        )),
        Err(e) => {
            let (status, text) = explain(e);
            incident_page(&state, signed, &env_name, status, Some(Notice::error(text))).await
        }
    }
}
