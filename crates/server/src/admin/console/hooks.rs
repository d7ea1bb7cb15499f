//! Webhook subscriptions (owner): create, pause, test, rotate the secret, delete; each
//! one's deliveries with their state, and re-send.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use wirecash_core::store::{AdminRole, DeliveryStatus, EventKind, WebhookRecord, WebhookSource};

use super::page::{Nav, Notice, button, csrf, enc, layout, pager, shown_once, when};
use super::{Posted, Signed, error_page, explain, query};
use crate::admin::AdminState;
use crate::admin::error::AdminError;
use crate::admin::webhooks as ops;

/// Deliveries per page.
const DELIVERIES_PER_PAGE: u32 = 50;
/// The overlaps offered for a secret rotation.
const OVERLAPS: [(&str, &str); 4] = [
    ("24h", "24 hours"),
    ("1h", "1 hour"),
    ("7d", "7 days"),
    ("0s", "none: the old secret stops now"),
];

fn events_label(w: &WebhookRecord) -> String {
    if w.event_types.is_empty() {
        "every event".to_string()
    } else {
        w.event_types.join(", ")
    }
}

fn state_badge(w: &WebhookRecord) -> Markup {
    html! { @if w.paused { span.badge.off { "paused" } } @else { span.badge.ok { "active" } } }
}

/// `GET /console/webhooks`.
pub async fn list(
    State(state): State<AdminState>,
    signed: Signed,
    RawQuery(q): RawQuery,
) -> Response {
    let notice = query(q.as_deref(), &[]).ok().and_then(|f| Notice::done(&f));
    list_page(&state, &signed, StatusCode::OK, notice, None).await
}

async fn list_page(
    state: &AdminState,
    signed: &Signed,
    status: StatusCode,
    notice: Option<Notice>,
    shown: Option<Markup>,
) -> Response {
    if let Err(e) = signed.require(AdminRole::Owner) {
        return error_page(Some(signed), e);
    }
    let all = match state.service.admin().store.list_webhooks().await {
        Ok(all) => all,
        Err(e) => return error_page(Some(signed), wirecash_core::Error::from(e).into()),
    };
    let content = html! {
        @if let Some(shown) = shown { (shown) }
        h1 { "Webhooks" }
        p.sub { "Security events, signed in the Standard Webhooks format, delivered at least once to each subscription." }
        section.card {
            @if all.is_empty() {
                p.empty { "No subscriptions yet. Add one below, or in the configuration's " code { "[[webhooks]]" } "." }
            } @else {
                table {
                    thead { tr { th { "Subscription" } th { "URL" } th { "Events" } th { "State" } th { "Source" } th { "Created" } } }
                    tbody {
                        @for w in &all {
                            tr {
                                td.mono { a href={ "/console/webhooks/" (enc(&w.id)) } { (w.id) } }
                                td.mono { (w.url) }
                                td { (events_label(w)) }
                                td { (state_badge(w)) }
                                td { (w.source.as_str()) }
                                td { (when(w.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Subscribe" }
            form.stack method="post" action="/console/webhooks" autocomplete="off" {
                (csrf(signed))
                label { "URL (https; private and loopback addresses only where allowed)"
                    input type="url" name="url" required placeholder="https://siem.example.com/hooks/wirecash";
                }
                fieldset {
                    legend { "Events (none checked: every event)" }
                    @for k in EventKind::ALL {
                        @if k != EventKind::WebhookTest {
                            label.check { input type="checkbox" name=(format!("event.{}", k.as_str())) value="on"; (k.as_str()) }
                        }
                    }
                }
                button type="submit" { "Subscribe" }
            }
        }
    };
    signed.page(
        status,
        layout(
            "Webhooks",
            Some(signed),
            Nav::Webhooks,
            notice.as_ref(),
            content,
        ),
    )
}

/// `POST /console/webhooks` `url=&event.TYPE=on…`: the secret is on the answer page, once.
pub async fn create(State(state): State<AdminState>, posted: Posted) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Owner)?;
        let url = posted
            .form
            .get("url")
            .ok_or_else(|| AdminError::BadRequest("Give the URL to deliver to.".into()))?;
        let events: Vec<String> = EventKind::ALL
            .iter()
            .filter(|k| posted.form.get(&format!("event.{}", k.as_str())).is_some())
            .map(|k| k.as_str().to_string())
            .collect();
        ops::subscribe(&state, &signed.actor(), url, events).await
    }
    .await;
    match result {
        Ok((record, secret)) => {
            let shown = shown_once(
                &format!("The signing secret of {}", record.id),
                &secret,
                "Configure it in the receiver to verify the webhook-signature header.",
            );
            list_page(
                &state,
                signed,
                StatusCode::CREATED,
                Some(Notice::ok(format!(
                    "Subscribed {} to {}.",
                    record.url,
                    events_label(&record)
                ))),
                Some(shown),
            )
            .await
        }
        Err(e) => {
            let (status, text) = explain(e);
            list_page(&state, signed, status, Some(Notice::error(text)), None).await
        }
    }
}

/// `GET /console/webhooks/{id}?cursor=`.
pub async fn show(
    State(state): State<AdminState>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let form = match query(q.as_deref(), &["cursor"]) {
        Ok(f) => f,
        Err(e) => return error_page(Some(&signed), e),
    };
    let notice = Notice::done(&form);
    detail_page(
        &state,
        &signed,
        &id,
        form.get("cursor"),
        StatusCode::OK,
        notice,
        None,
    )
    .await
}

async fn detail_page(
    state: &AdminState,
    signed: &Signed,
    id: &str,
    cursor: Option<&str>,
    status: StatusCode,
    notice: Option<Notice>,
    shown: Option<Markup>,
) -> Response {
    let result = async {
        signed.require(AdminRole::Owner)?;
        let w = ops::find(state, id).await?;
        let before = match cursor {
            None => None,
            Some(c) => {
                let p = crate::admin::page::decode('d', c)?;
                Some(
                    p.split_once(':')
                        .and_then(|(at, e)| Some((at.parse::<i64>().ok()?, e.to_string())))
                        .ok_or_else(|| {
                            AdminError::BadRequest("That page link is broken.".into())
                        })?,
                )
            }
        };
        let mut rows = state
            .service
            .admin()
            .store
            .list_deliveries(id, before, DELIVERIES_PER_PAGE + 1)
            .await
            .map_err(wirecash_core::Error::from)?;
        let next = if rows.len() > DELIVERIES_PER_PAGE as usize {
            rows.truncate(DELIVERIES_PER_PAGE as usize);
            rows.last().map(|d| {
                crate::admin::page::encode('d', &format!("{}:{}", d.created_at, d.event_id))
            })
        } else {
            None
        };
        Ok::<_, AdminError>((w, rows, next))
    }
    .await;
    let (w, rows, next) = match result {
        Ok(r) => r,
        Err(e) => return error_page(Some(signed), e),
    };
    let base = format!("/console/webhooks/{}", enc(&w.id));
    let configured = w.source == WebhookSource::Config;
    let content = html! {
        @if let Some(shown) = shown { (shown) }
        div.crumbs { a href="/console/webhooks" { "Webhooks" } " / " strong.mono { (w.id) } }
        h1 { "Subscription " (state_badge(&w)) }
        section.card {
            dl.facts {
                dt { "URL" } dd.mono { (w.url) }
                dt { "Events" } dd { (events_label(&w)) }
                dt { "Source" } dd { @if configured { "configuration ([[webhooks]])" } @else { "admin API / console" } }
                dt { "Created" } dd { (when(w.created_at)) }
                @if let Some((_, until)) = &w.previous_secret {
                    dt { "Previous secret" } dd { "also signs until " (when(*until)) }
                }
            }
        }
        section.card {
            h2 { "Deliveries" }
            @if rows.is_empty() {
                p.empty { "No deliveries yet. Events this subscription gets show up here; send a test event to try the receiver." }
            } @else {
                table {
                    thead { tr { th { "Event" } th { "Type" } th { "State" } th.num { "Attempts" } th { "Last answer" } th { "Next try" } th { "Delivered" } th {} } }
                    tbody {
                        @for d in &rows {
                            tr {
                                td.mono { (d.event_id) }
                                td { (d.event_kind) }
                                td { span class={ "badge " (match d.status { DeliveryStatus::Delivered => "ok", DeliveryStatus::Failed => "bad", _ => "wait" }) } { (d.status.as_str()) } }
                                td.num { (d.attempts) }
                                td {
                                    @if let Some(s) = d.last_status { "HTTP " (s) " " }
                                    @if let Some(e) = &d.last_error { span.hint { (e) } }
                                }
                                td { @if d.status == DeliveryStatus::Pending { (when(d.next_attempt_at)) } }
                                td { @if let Some(t) = d.delivered_at { (when(t)) } }
                                td {
                                    (button(
                                        signed,
                                        &format!("{base}/deliveries/{}/resend", enc(&d.event_id)),
                                        if d.status == DeliveryStatus::Pending { "Retry now" } else { "Re-send" },
                                        "quiet small",
                                    ))
                                }
                            }
                        }
                    }
                }
                (pager(&base, next.as_deref()))
            }
        }
        div.grid {
            section.card {
                h2 { "Try it" }
                p { "Queue a " code { "webhook_test" } " event for this subscription only." }
                (button(signed, &format!("{base}/test"), "Send a test event", ""))
            }
            section.card {
                h2 { @if w.paused { "Resume" } @else { "Pause" } }
                @if w.paused {
                    p { "Deliver events again. Events from while it was paused are not sent." }
                    (button(signed, &format!("{base}/resume"), "Resume", ""))
                } @else {
                    p { "Stop deliveries; events are not queued for it meanwhile." }
                    (button(signed, &format!("{base}/pause"), "Pause", "quiet"))
                }
            }
            @if !configured {
                section.card {
                    h2 { "Rotate the secret" }
                    form.stack method="post" action={ (base) "/rotate-secret" } {
                        (csrf(signed))
                        label { "The old secret keeps signing for"
                            select name="overlap" { @for (v, l) in OVERLAPS { option value=(v) { (l) } } }
                        }
                        button type="submit" { "Rotate the secret" }
                    }
                    p.hint { "During the overlap every delivery carries both signatures, so the receiver can switch at its own pace." }
                }
            }
        }
        @if !configured {
            section.card.danger {
                h2 { "Delete" }
                form.inline method="post" action={ (base) "/delete" } autocomplete="off" {
                    (csrf(signed))
                    label { span { "Type the subscription's id, " strong.mono { (w.id) } ", to confirm" }
                        input type="text" name="confirm" required spellcheck="false";
                    }
                    button.danger type="submit" { "Delete subscription" }
                }
            }
        }
    };
    signed.page(
        status,
        layout(
            "Webhook",
            Some(signed),
            Nav::Webhooks,
            notice.as_ref(),
            content,
        ),
    )
}

/// After a form on a subscription's page: back to it with a notice, or the page again
/// with the error in place.
async fn finish(
    state: &AdminState,
    signed: &Signed,
    id: &str,
    result: Result<&str, AdminError>,
) -> Response {
    match result {
        Ok(done) => signed.redirect(&format!("/console/webhooks/{}?done={done}", enc(id))),
        Err(e) => {
            let (status, text) = explain(e);
            detail_page(
                state,
                signed,
                id,
                None,
                status,
                Some(Notice::error(text)),
                None,
            )
            .await
        }
    }
}

async fn paused(state: &AdminState, posted: &Posted, id: &str, paused: bool) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Owner)?;
        ops::set_paused(state, &signed.actor(), id, paused).await
    }
    .await;
    let done = if paused { "paused" } else { "resumed" };
    finish(state, signed, id, result.map(|_| done)).await
}

/// `POST /console/webhooks/{id}/pause`.
pub async fn pause(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    paused(&state, &posted, &id, true).await
}

/// `POST /console/webhooks/{id}/resume`.
pub async fn resume(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    paused(&state, &posted, &id, false).await
}

/// `POST /console/webhooks/{id}/test`.
pub async fn test(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Owner)?;
        ops::send_test(&state, &signed.actor(), &id).await
    }
    .await;
    finish(&state, signed, &id, result.map(|_| "test_sent")).await
}

/// `POST /console/webhooks/{id}/rotate-secret` `overlap=`: the new secret is on the answer
/// page, once.
pub async fn rotate(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Owner)?;
        let overlap = ops::secret_overlap(posted.form.get("overlap"))?;
        ops::new_secret(&state, &signed.actor(), &id, overlap).await
    }
    .await;
    match result {
        Ok((secret, until)) => {
            let shown = shown_once(
                "The new signing secret",
                &secret,
                "Configure it in the receiver; deliveries carry signatures with both secrets until the overlap ends.",
            );
            let notice = Notice::ok(format!(
                "Secret rotated; the previous one also signs until {}.",
                when(until)
            ));
            detail_page(
                &state,
                signed,
                &id,
                None,
                StatusCode::OK,
                Some(notice),
                Some(shown),
            )
            .await
        }
        Err(e) => finish(&state, signed, &id, Err(e)).await,
    }
}

/// `POST /console/webhooks/{id}/delete` `confirm=ID`.
pub async fn delete(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Owner)?;
        if posted.form.get("confirm").map(str::trim) != Some(id.as_str()) {
            return Err(AdminError::BadRequest(format!(
                "Nothing was deleted: type {:?} exactly to confirm.",
                id.chars().take(64).collect::<String>()
            )));
        }
        ops::unsubscribe(&state, &signed.actor(), &id).await
    }
    .await;
    match result {
        Ok(()) => signed.redirect("/console/webhooks?done=unsubscribed"),
        Err(e) => finish(&state, signed, &id, Err(e)).await,
    }
}

/// `POST /console/webhooks/{id}/deliveries/{event_id}/resend`.
pub async fn resend(
    State(state): State<AdminState>,
    Path((id, event_id)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let signed = &posted.signed;
    let result = async {
        signed.require(AdminRole::Owner)?;
        ops::send_again(&state, &id, &event_id).await
    }
    .await;
    finish(&state, signed, &id, result.map(|()| "resent")).await
}
