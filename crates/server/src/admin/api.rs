//! The handlers of `/admin/v1` (SPEC §11). Each checks the caller's role first, then
//! its input, then asks `AdminService`; every write records its event with the admin
//! key's name as the actor.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use wirecash_core::UnixMillis;
use wirecash_core::admin::AdminService;
use wirecash_core::store::{
    AdminRole, EventKind, EventQuery, EventRecord, KeyRecord, SessionSummary, UserRecord,
};
use wirecash_core::validate::{EnvName, MAX_PASSWORD, MAX_USERNAME, Username};
use zeroize::Zeroizing;

use super::AdminState;
use super::auth::Caller;
use super::error::AdminError;
use super::idempotency::{self, json as answer};
use super::page::{self, Page};

/// Random bytes in a generated password (base64url: 32 characters).
const GENERATED_PASSWORD_BYTES: usize = 24;

/// An RFC 3339 time of a stored millisecond timestamp.
pub fn time(ms: UnixMillis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0).unsigned_abs());
    humantime::format_rfc3339_millis(t).to_string()
}

/// A served environment named by the path; anything else is 404.
pub(super) fn env(state: &AdminState, name: &str) -> Result<EnvName, AdminError> {
    state
        .service
        .environment(name)
        .and_then(|_| EnvName::parse(name).ok())
        .ok_or_else(|| AdminError::NotFound(format!("no environment {:?}", truncate(name))))
}

/// A username named by the path; anything that is not one is 404.
pub(super) fn username(name: &str) -> Result<Username, AdminError> {
    Username::parse(name).map_err(|_| AdminError::NotFound(format!("no user {:?}", truncate(name))))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn ok(body: impl serde::Serialize) -> Result<Response, AdminError> {
    let bytes = serde_json::to_vec(&body).map_err(|e| {
        AdminError::Api(crate::error::ApiError::Internal(format!(
            "serializing: {e}"
        )))
    })?;
    Ok(answer(StatusCode::OK, bytes, false))
}

/// A JSON body, or `{}` when there is none.
pub(super) fn body(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<crate::http::extract::JsonObject, AdminError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if bytes.is_empty() && content_type.is_none() {
        return Ok(crate::http::extract::parse_body(
            None,
            Some("application/json"),
            b"{}",
        )?);
    }
    Ok(crate::http::extract::parse_body(None, content_type, bytes)?)
}

fn user_json(u: &UserRecord) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "disabled": u.disabled,
        "created_at": time(u.created_at),
    })
}

fn session_json(state: &AdminState, s: &SessionSummary) -> Value {
    let expires =
        AdminService::session_expiry(state.service.policy(), s.created_at, s.last_used_at);
    json!({
        // A string: session ids use all 64 bits, beyond what a JSON number keeps exactly.
        "id": s.id.to_string(),
        "kind": s.kind.as_str(),
        "username": s.username,
        "created_at": time(s.created_at),
        "last_used_at": time(s.last_used_at),
        "generation": s.generation,
        "expires_at": time(expires),
        "client_address": s.client_addr,
        "revoked_at": s.revoked_at.map(time),
        "revoked_reason": s.revoked_reason,
    })
}

fn key_json(k: &KeyRecord, now: UnixMillis) -> Value {
    json!({
        "kid": k.kid,
        "alg": k.alg,
        "created_at": time(k.created_at),
        "activates_at": time(k.activates_at),
        "active": k.activates_at <= now,
    })
}

/// An event as the admin API and webhooks show it.
pub fn event_json(e: &EventRecord) -> Value {
    json!({
        "id": e.id,
        "type": e.kind.as_str(),
        "timestamp": time(e.at),
        "environment": e.env,
        "actor": e.actor,
        "username": e.username,
        "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null),
    })
}

/// `GET /admin/v1/environments`.
pub async fn environments(
    State(state): State<AdminState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Viewer)?;
    page::query(q.as_deref(), &[])?;
    let admin = state.service.admin();
    let mut items = Vec::new();
    for name in state.service.environment_names() {
        let env = env(&state, name)?;
        let stats = admin.env_stats(&env, state.service.policy()).await?;
        let keys: Vec<String> = admin.keys(&env).await?.into_iter().map(|k| k.kid).collect();
        items.push(json!({
            "name": name,
            "users": stats.users,
            "live_sessions": stats.live_sessions,
            "signing_key_ids": keys,
        }));
    }
    ok(Page {
        items,
        next_cursor: None,
    })
}

/// `GET /admin/v1/{env}/users?q=&limit=&cursor=`.
pub async fn list_users(
    State(state): State<AdminState>,
    caller: Caller,
    Path(env_name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Viewer)?;
    let env = env(&state, &env_name)?;
    let form = page::query(q.as_deref(), &["q", "limit", "cursor"])?;
    let limit = page::limit(&form)?;
    let prefix = form.get("q").unwrap_or("");
    if prefix.len() > MAX_USERNAME {
        return Err(AdminError::BadRequest(format!(
            "`q` is longer than {MAX_USERNAME} bytes"
        )));
    }
    let after = form
        .get("cursor")
        .map(|c| page::decode('u', c))
        .transpose()?;
    let rows = state
        .service
        .admin()
        .users_page(&env, prefix, after.as_deref(), limit + 1)
        .await?;
    ok(page::finish(
        rows,
        limit,
        'u',
        |u| u.username.clone(),
        |u| user_json(&u),
    ))
}

/// `POST /admin/v1/{env}/users` `{"username", "password"?}`.
pub async fn create_user(
    State(state): State<AdminState>,
    caller: Caller,
    Path(env_name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Operator)?;
    let env = env(&state, &env_name)?;
    let path = format!("/admin/v1/{env}/users");
    idempotency::run(
        &state,
        &caller,
        &headers,
        ("POST", &path, &bytes),
        || async {
            let body = body(&headers, &bytes)?;
            body.only(&["username", "password"])?;
            let name = Username::parse_new(body.required_str("username", MAX_USERNAME)?)?;
            let given = body.optional_str("password", MAX_PASSWORD)?;
            let password = match given {
                Some(p) => Zeroizing::new(p.to_string()),
                None => generated_password()?,
            };
            let user = state
                .service
                .admin()
                .add_user(
                    &caller.principal.actor(),
                    state.service.hasher(),
                    &env,
                    &name,
                    password.clone(),
                )
                .await?;
            let mut out = user_json(&user);
            if given.is_none() {
                // Shown once: stored only as an Argon2id hash.
                out["password"] = Value::String(password.to_string());
            }
            Ok((StatusCode::CREATED, out))
        },
    )
    .await
}

/// A generated password: 24 random bytes, base64url.
pub fn generated_password() -> Result<Zeroizing<String>, AdminError> {
    use base64::Engine as _;
    let mut raw = Zeroizing::new([0u8; GENERATED_PASSWORD_BYTES]);
    wirecash_core::crypto::random_bytes(raw.as_mut())?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref()),
    ))
}

/// `GET /admin/v1/{env}/users/{username}`.
pub async fn get_user(
    State(state): State<AdminState>,
    caller: Caller,
    Path((env_name, name)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Viewer)?;
    let env = env(&state, &env_name)?;
    let user = state.service.admin().user(&env, &username(&name)?).await?;
    ok(user_json(&user))
}

/// `PATCH /admin/v1/{env}/users/{username}` `{"disabled": bool}`.
pub async fn patch_user(
    State(state): State<AdminState>,
    caller: Caller,
    Path((env_name, name)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Operator)?;
    let env = env(&state, &env_name)?;
    let name = username(&name)?;
    let body = body(&headers, &bytes)?;
    body.only(&["disabled"])?;
    let disabled = body.required_bool("disabled")?;
    let admin = state.service.admin();
    admin
        .set_disabled(&caller.principal.actor(), &env, &name, disabled)
        .await?;
    ok(user_json(&admin.user(&env, &name).await?))
}

/// `DELETE /admin/v1/{env}/users/{username}`.
pub async fn delete_user(
    State(state): State<AdminState>,
    caller: Caller,
    Path((env_name, name)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Operator)?;
    let env = env(&state, &env_name)?;
    state
        .service
        .admin()
        .delete_user(&caller.principal.actor(), &env, &username(&name)?)
        .await?;
    Ok(no_content())
}

/// `POST /admin/v1/{env}/users/{username}/credentials` `{"password"?, "overlap"?}`: a
/// planned credential rotation (default overlap 24 h; `"0s"` is a reset that ends every
/// session). Without `password` one is generated and returned once.
pub async fn rotate_credentials(
    State(state): State<AdminState>,
    caller: Caller,
    Path((env_name, name)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Operator)?;
    let env = env(&state, &env_name)?;
    let name = username(&name)?;
    let path = format!("/admin/v1/{env}/users/{name}/credentials");
    idempotency::run(
        &state,
        &caller,
        &headers,
        ("POST", &path, &bytes),
        || async {
            let body = body(&headers, &bytes)?;
            body.only(&["password", "overlap"])?;
            let overlap = match body.optional_str("overlap", 32)? {
                None => std::time::Duration::from_secs(24 * 3600),
                Some(s) => humantime::parse_duration(s.trim()).map_err(|_| {
                    AdminError::BadRequest(
                        "`overlap` is a duration such as \"24h\", \"7d\" or \"0s\"".into(),
                    )
                })?,
            };
            let given = body.optional_str("password", MAX_PASSWORD)?;
            let password = match given {
                Some(p) => Zeroizing::new(p.to_string()),
                None => generated_password()?,
            };
            let until = state
                .service
                .admin()
                .rotate_credentials(
                    &caller.principal.actor(),
                    state.service.hasher(),
                    &env,
                    &name,
                    password.clone(),
                    overlap,
                )
                .await?;
            let mut out = json!({
                "username": name.as_str(),
                "previous_password_valid_until": until.map(time),
                "sessions_ended": until.is_none(),
            });
            if given.is_none() {
                out["password"] = Value::String(password.to_string());
            }
            Ok((StatusCode::OK, out))
        },
    )
    .await
}

/// `GET /admin/v1/{env}/users/{username}/sessions?limit=&cursor=`.
pub async fn list_sessions(
    State(state): State<AdminState>,
    caller: Caller,
    Path((env_name, name)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Viewer)?;
    let env = env(&state, &env_name)?;
    let name = username(&name)?;
    let form = page::query(q.as_deref(), &["limit", "cursor"])?;
    let limit = page::limit(&form)?;
    let before = session_cursor(&form)?;
    let admin = state.service.admin();
    admin.user(&env, &name).await?;
    let rows = admin.sessions(&env, Some(&name), before, limit + 1).await?;
    ok(page::finish(
        rows,
        limit,
        's',
        |s| s.id.to_string(),
        |s| session_json(&state, &s),
    ))
}

/// `GET /admin/v1/{env}/sessions?limit=&cursor=`: every user's sessions, as
/// `GET …/users/{username}/sessions` lists one user's.
pub async fn list_env_sessions(
    State(state): State<AdminState>,
    caller: Caller,
    Path(env_name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Viewer)?;
    let env = env(&state, &env_name)?;
    let form = page::query(q.as_deref(), &["limit", "cursor"])?;
    let limit = page::limit(&form)?;
    let before = session_cursor(&form)?;
    let rows = state
        .service
        .admin()
        .sessions(&env, None, before, limit + 1)
        .await?;
    ok(page::finish(
        rows,
        limit,
        's',
        |s| s.id.to_string(),
        |s| session_json(&state, &s),
    ))
}

/// The `cursor` of a sessions list: the last id of the previous page.
fn session_cursor(form: &crate::http::form::Form) -> Result<Option<i64>, AdminError> {
    form.get("cursor")
        .map(|c| {
            page::decode('s', c)?.parse::<i64>().map_err(|_| {
                AdminError::BadRequest("`cursor` is not a cursor this list gave out".into())
            })
        })
        .transpose()
}

/// `DELETE /admin/v1/{env}/users/{username}/sessions`.
pub async fn revoke_user_sessions(
    State(state): State<AdminState>,
    caller: Caller,
    Path((env_name, name)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Operator)?;
    let env = env(&state, &env_name)?;
    let n = state
        .service
        .admin()
        .revoke_user_sessions(&caller.principal.actor(), &env, &username(&name)?)
        .await?;
    ok(json!({ "revoked": n }))
}

/// `DELETE /admin/v1/{env}/sessions/{id}`.
pub async fn revoke_session(
    State(state): State<AdminState>,
    caller: Caller,
    Path((env_name, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Operator)?;
    let env = env(&state, &env_name)?;
    let id: i64 = id
        .parse()
        .map_err(|_| AdminError::NotFound(format!("no live session {:?}", truncate(&id))))?;
    state
        .service
        .admin()
        .revoke_session(&caller.principal.actor(), &env, id)
        .await?;
    Ok(no_content())
}

/// `POST /admin/v1/{env}/sessions/revoke-all`: the incident button.
pub async fn revoke_all_sessions(
    State(state): State<AdminState>,
    caller: Caller,
    Path(env_name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Operator)?;
    let env = env(&state, &env_name)?;
    let path = format!("/admin/v1/{env}/sessions/revoke-all");
    idempotency::run(
        &state,
        &caller,
        &headers,
        ("POST", &path, &bytes),
        || async {
            body(&headers, &bytes)?.only(&[])?;
            let n = state
                .service
                .admin()
                .revoke_env_sessions(&caller.principal.actor(), &env)
                .await?;
            Ok((StatusCode::OK, json!({ "revoked": n })))
        },
    )
    .await
}

/// `GET /admin/v1/{env}/keys`.
pub async fn list_keys(
    State(state): State<AdminState>,
    caller: Caller,
    Path(env_name): Path<String>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Viewer)?;
    let env = env(&state, &env_name)?;
    let admin = state.service.admin();
    let now = admin.clock.now();
    let items: Vec<Value> = admin
        .keys(&env)
        .await?
        .iter()
        .map(|k| key_json(k, now))
        .collect();
    ok(Page {
        items,
        next_cursor: None,
    })
}

/// `POST /admin/v1/{env}/keys/rotate`.
pub async fn rotate_key(
    State(state): State<AdminState>,
    caller: Caller,
    Path(env_name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    let env = env(&state, &env_name)?;
    let path = format!("/admin/v1/{env}/keys/rotate");
    idempotency::run(
        &state,
        &caller,
        &headers,
        ("POST", &path, &bytes),
        || async {
            body(&headers, &bytes)?.only(&[])?;
            let key = state
                .service
                .rotate_key(&caller.principal.actor(), &env)
                .await?;
            let now = state.service.admin().clock.now();
            Ok((StatusCode::CREATED, key_json(&key, now)))
        },
    )
    .await
}

/// `GET /admin/v1/{env}/events?type=&username=&since=&limit=&cursor=`.
pub async fn list_events(
    State(state): State<AdminState>,
    caller: Caller,
    Path(env_name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Viewer)?;
    let env = env(&state, &env_name)?;
    let form = page::query(
        q.as_deref(),
        &["type", "username", "since", "limit", "cursor"],
    )?;
    let limit = page::limit(&form)?;
    let kind = form
        .get("type")
        .map(|t| {
            EventKind::parse(t).ok_or_else(|| {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                AdminError::BadRequest(format!("`type` is one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let since = form
        .get("since")
        .map(|s| {
            humantime::parse_rfc3339_weak(s)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_millis()).ok())
                .ok_or_else(|| {
                    AdminError::BadRequest(
                        "`since` is an RFC 3339 time, e.g. 2026-12-05T10:00:00Z".into(),
                    )
                })
        })
        .transpose()?;
    let username = form
        .get("username")
        .map(|u| {
            Username::parse(u)
                .map(|u| u.to_string())
                .map_err(|_| AdminError::BadRequest("`username` is not a username".into()))
        })
        .transpose()?;
    let before = match form.get("cursor") {
        None => None,
        Some(c) => {
            let position = page::decode('e', c)?;
            let parsed = position
                .split_once(':')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())));
            Some(parsed.ok_or_else(|| {
                AdminError::BadRequest("`cursor` is not a cursor this list gave out".into())
            })?)
        }
    };
    let rows = state
        .service
        .admin()
        .events(EventQuery {
            env: env.to_string(),
            kind,
            username,
            since,
            before,
            limit: limit + 1,
        })
        .await?;
    ok(page::finish(
        rows,
        limit,
        'e',
        |e| format!("{}:{}", e.at, e.id),
        |e| event_json(&e),
    ))
}

/// `204 No Content`, never cached.
fn no_content() -> Response {
    crate::http::no_store(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}
