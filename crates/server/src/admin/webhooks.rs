//! `/admin/v1/webhooks` (owner): subscriptions made, listed, paused, deleted, their
//! secrets rotated with an overlap, a test event sent, and their deliveries listed and
//! re-sent (SPEC §12).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use wirecash_core::clock::millis;
use wirecash_core::events::Actor;
use wirecash_core::store::{
    AdminRole, DeliveryRecord, EventKind, EventRecord, WebhookRecord, WebhookSource,
};

use super::AdminState;
use super::api::{body, time};
use super::auth::Caller;
use super::error::AdminError;
use super::idempotency;
use super::page::{self, Page};
use zeroize::Zeroizing;

use crate::webhooks::{egress, seal, sign};

/// Longest URL accepted.
const MAX_URL: usize = 2048;
/// Longest overlap of a secret rotation.
const MAX_OVERLAP: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

fn json_of(w: &WebhookRecord) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "events": w.event_types,
        "paused": w.paused,
        "source": w.source.as_str(),
        "created_at": time(w.created_at),
        "previous_secret_valid_until": w.previous_secret.as_ref().map(|p| time(p.1)),
    })
}

fn delivery_json(d: &DeliveryRecord) -> Value {
    json!({
        "event_id": d.event_id,
        "type": d.event_kind,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "created_at": time(d.created_at),
        "next_attempt_at": (d.status == wirecash_core::store::DeliveryStatus::Pending).then(|| time(d.next_attempt_at)),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at.map(time),
    })
}

fn ok(status: StatusCode, body: &impl serde::Serialize) -> Result<Response, AdminError> {
    let bytes = serde_json::to_vec(body).map_err(|e| {
        AdminError::Api(crate::error::ApiError::Internal(format!(
            "serializing: {e}"
        )))
    })?;
    Ok(idempotency::json(status, bytes, false))
}

pub async fn find(state: &AdminState, id: &str) -> Result<WebhookRecord, AdminError> {
    state
        .service
        .admin()
        .store
        .list_webhooks()
        .await
        .map_err(wirecash_core::Error::from)?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no webhook {:?}",
                id.chars().take(64).collect::<String>()
            ))
        })
}

/// `GET /admin/v1/webhooks`.
pub async fn list(State(state): State<AdminState>, caller: Caller) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    let all = state
        .service
        .admin()
        .store
        .list_webhooks()
        .await
        .map_err(wirecash_core::Error::from)?;
    ok(
        StatusCode::OK,
        &Page {
            items: all.iter().map(json_of).collect(),
            next_cursor: None,
        },
    )
}

/// `POST /admin/v1/webhooks` `{"url", "events"?}`: the secret is in the answer, once.
pub async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    idempotency::run(
        &state,
        &caller,
        &headers,
        ("POST", "/admin/v1/webhooks", &bytes),
        || async {
            let body = body(&headers, &bytes)?;
            body.only(&["url", "events"])?;
            let url = body.required_str("url", MAX_URL)?;
            let events = event_types(body.get("events"))?;
            let (record, secret) =
                subscribe(&state, &caller.principal.actor(), url, events).await?;
            let mut out = json_of(&record);
            out["secret"] = Value::String(secret.to_string());
            Ok((StatusCode::CREATED, out))
        },
    )
    .await
}

/// Makes a subscription to `events` (wire names; empty for all) at `url`, which is
/// checked now rather than at every delivery: a URL that leads into our own network
/// (unless allowed) or nowhere is refused. Returns it and its `whsec_` secret (shown once).
pub async fn subscribe(
    state: &AdminState,
    actor: &Actor,
    url: &str,
    events: Vec<String>,
) -> Result<(WebhookRecord, Zeroizing<String>), AdminError> {
    let url = url.trim().to_string();
    if url.len() > MAX_URL {
        return Err(AdminError::BadRequest(format!(
            "`url` is longer than {MAX_URL} bytes"
        )));
    }
    let parsed = reqwest::Url::parse(&url)
        .map_err(|_| AdminError::BadRequest("`url` is not a URL".into()))?;
    egress::resolve(&parsed, &state.webhook.allowed_networks)
        .await
        .map_err(|e| AdminError::BadRequest(format!("`url` {e}")))?;
    let (secret, text) = sign::Secret::generate()?;
    let mut raw = [0u8; 8];
    wirecash_core::crypto::random_bytes(&mut raw)?;
    let id = format!(
        "wh_{}",
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let record = WebhookRecord {
        secret_sealed: seal(&state.service, &id, &secret)?,
        id,
        url,
        event_types: events,
        previous_secret: None,
        paused: false,
        source: WebhookSource::Api,
        created_at: state.service.admin().clock.now(),
    };
    state
        .service
        .admin()
        .store
        .create_webhook(record.clone())
        .await
        .map_err(wirecash_core::Error::from)?;
    tracing::info!(target: "audit", event = "webhook_created", webhook = %record.id, actor = %actor, "webhook subscription created");
    Ok((record, text))
}

/// The `events` field: known type names, or absent/empty for all.
pub fn event_types(value: Option<&Value>) -> Result<Vec<String>, AdminError> {
    let bad = || {
        let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        AdminError::BadRequest(format!("`events` is a list of: {}", known.join(", ")))
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= EventKind::ALL.len() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(EventKind::parse)
                    .map(|k| k.as_str().to_string())
                    .ok_or_else(bad)
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// `PATCH /admin/v1/webhooks/{id}` `{"paused": bool}`.
pub async fn patch(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    let body = body(&headers, &bytes)?;
    body.only(&["paused"])?;
    let paused = body.required_bool("paused")?;
    let record = set_paused(&state, &caller.principal.actor(), &id, paused).await?;
    ok(StatusCode::OK, &json_of(&record))
}

/// Pauses or resumes subscription `id`; returns it as it is now.
pub async fn set_paused(
    state: &AdminState,
    actor: &Actor,
    id: &str,
    paused: bool,
) -> Result<WebhookRecord, AdminError> {
    find(state, id).await?;
    state
        .service
        .admin()
        .store
        .set_webhook_paused(id, paused)
        .await
        .map_err(wirecash_core::Error::from)?;
    tracing::info!(target: "audit", event = "webhook_paused", webhook = %id, paused, actor = %actor, "webhook subscription paused or resumed");
    find(state, id).await
}

/// `DELETE /admin/v1/webhooks/{id}` (not the configuration's: they come back at start).
pub async fn delete(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    unsubscribe(&state, &caller.principal.actor(), &id).await?;
    Ok(crate::http::no_store(
        axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT),
    ))
}

/// Deletes subscription `id` and its deliveries; a configured one is a 409.
pub async fn unsubscribe(state: &AdminState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let w = find(state, id).await?;
    if w.source == WebhookSource::Config {
        return Err(AdminError::Conflict(
            "this subscription is configured in [[webhooks]]; remove it there (pause it here)"
                .into(),
        ));
    }
    state
        .service
        .admin()
        .store
        .delete_webhook(id)
        .await
        .map_err(wirecash_core::Error::from)?;
    tracing::info!(target: "audit", event = "webhook_deleted", webhook = %id, actor = %actor, "webhook subscription deleted");
    Ok(())
}

/// `POST /admin/v1/webhooks/{id}/rotate-secret` `{"overlap"?}`: the new secret signs at
/// once; the previous one signs too until the overlap (default 24 h) ends.
pub async fn rotate_secret(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    let path = format!("/admin/v1/webhooks/{id}/rotate-secret");
    idempotency::run(&state, &caller, &headers, ("POST", &path, &bytes), || async {
        let body = body(&headers, &bytes)?;
        body.only(&["overlap"])?;
        let overlap = secret_overlap(body.optional_str("overlap", 32)?)?;
        let (text, until) = new_secret(&state, &caller.principal.actor(), &id, overlap).await?;
        Ok((
            StatusCode::OK,
            json!({"id": id, "secret": text.as_str(), "previous_secret_valid_until": time(until)}),
        ))
    })
    .await
}

/// The overlap of a secret rotation: a duration up to 7 days, 24 h when not given.
pub fn secret_overlap(given: Option<&str>) -> Result<std::time::Duration, AdminError> {
    match given {
        None => Ok(std::time::Duration::from_secs(24 * 3600)),
        Some(s) => humantime::parse_duration(s.trim())
            .ok()
            .filter(|d| *d <= MAX_OVERLAP)
            .ok_or_else(|| {
                AdminError::BadRequest("`overlap` is a duration up to 7d, e.g. \"24h\"".into())
            }),
    }
}

/// Gives subscription `id` a new secret (returned once); the previous one keeps signing
/// until the returned time.
pub async fn new_secret(
    state: &AdminState,
    actor: &Actor,
    id: &str,
    overlap: std::time::Duration,
) -> Result<(Zeroizing<String>, wirecash_core::UnixMillis), AdminError> {
    let w = find(state, id).await?;
    if w.source == WebhookSource::Config {
        return Err(AdminError::Conflict(
            "this subscription's secret is its [[webhooks]] secret_file".into(),
        ));
    }
    let (secret, text) = sign::Secret::generate()?;
    let until = state
        .service
        .admin()
        .clock
        .now()
        .saturating_add(millis(overlap));
    state
        .service
        .admin()
        .store
        .rotate_webhook_secret(id, seal(&state.service, id, &secret)?, until)
        .await
        .map_err(wirecash_core::Error::from)?;
    tracing::info!(target: "audit", event = "webhook_secret_rotated", webhook = %id, overlap_s = overlap.as_secs(), actor = %actor, "webhook secret rotated");
    Ok((text, until))
}

/// `POST /admin/v1/webhooks/{id}/test`: a `webhook_test` event to this subscription only.
pub async fn test(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    let event_id = send_test(&state, &caller.principal.actor(), &id).await?;
    ok(StatusCode::ACCEPTED, &json!({"event_id": event_id}))
}

/// Queues a `webhook_test` event for subscription `id` only; returns the event's id.
pub async fn send_test(state: &AdminState, actor: &Actor, id: &str) -> Result<String, AdminError> {
    let admin = state.service.admin();
    let event = EventRecord {
        id: uuid::Uuid::now_v7().to_string(),
        env: state
            .service
            .environment_names()
            .first()
            .map_or_else(String::new, |e| (*e).to_string()),
        kind: EventKind::WebhookTest,
        at: admin.clock.now(),
        actor: actor.to_string(),
        username: None,
        data: json!({"webhook_id": id, "message": "a test delivery from wirecash-auth"})
            .to_string(),
    };
    let event_id = event.id.clone();
    if !admin
        .store
        .enqueue_test_event(id, event)
        .await
        .map_err(wirecash_core::Error::from)?
    {
        return Err(AdminError::NotFound(format!(
            "no webhook {:?}",
            id.chars().take(64).collect::<String>()
        )));
    }
    Ok(event_id)
}

/// `GET /admin/v1/webhooks/{id}/deliveries?limit=&cursor=`, newest first.
pub async fn deliveries(
    State(state): State<AdminState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    let form = page::query(q.as_deref(), &["limit", "cursor"])?;
    let limit = page::limit(&form)?;
    let before = match form.get("cursor") {
        None => None,
        Some(c) => {
            let p = page::decode('d', c)?;
            Some(
                p.split_once(':')
                    .and_then(|(at, e)| Some((at.parse::<i64>().ok()?, e.to_string())))
                    .ok_or_else(|| {
                        AdminError::BadRequest("`cursor` is not a cursor this list gave out".into())
                    })?,
            )
        }
    };
    find(&state, &id).await?;
    let rows = state
        .service
        .admin()
        .store
        .list_deliveries(&id, before, limit + 1)
        .await
        .map_err(wirecash_core::Error::from)?;
    let page = page::finish(
        rows,
        limit,
        'd',
        |d| format!("{}:{}", d.created_at, d.event_id),
        |d| delivery_json(&d),
    );
    ok(StatusCode::OK, &page)
}

/// `POST /admin/v1/webhooks/{id}/deliveries/{event_id}/resend`: pending again, now.
pub async fn resend(
    State(state): State<AdminState>,
    caller: Caller,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.require(AdminRole::Owner)?;
    send_again(&state, &id, &event_id).await?;
    ok(StatusCode::ACCEPTED, &json!({"event_id": event_id}))
}

/// Makes delivery `event_id` of subscription `id` pending again, due now.
pub async fn send_again(state: &AdminState, id: &str, event_id: &str) -> Result<(), AdminError> {
    let admin = state.service.admin();
    if !admin
        .store
        .resend_delivery(id, event_id, admin.clock.now())
        .await
        .map_err(wirecash_core::Error::from)?
    {
        return Err(AdminError::NotFound("no such delivery".into()));
    }
    Ok(())
}
