//! What operators and orchestrators poll: `GET /healthz`, `GET /readyz` and
//! `GET /metrics` (Prometheus text exposition).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::openapi::{Status, Unready};

/// `GET /healthz`: the process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Operations",
    operation_id = "healthz",
    summary = "Liveness: the process is alive",
    responses((status = 200, description = "Alive", body = crate::openapi::Status)),
)]
pub async fn healthz() -> Response {
    Json(Status { status: "ok" }).into_response()
}

/// `GET /readyz`: storage answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    operation_id = "readyz",
    summary = "Readiness: the database answers",
    responses(
        (status = 200, description = "Ready", body = crate::openapi::Status),
        (status = 503, description = "Storage is not reachable", body = crate::openapi::Unready),
    ),
)]
pub async fn readyz(State(app): State<AppState>) -> Response {
    match app.service.ready().await {
        Ok(()) => Json(Status { status: "ready" }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Unready {
                    status: "unavailable",
                    error: "temporarily_unavailable",
                    error_description: "storage is not reachable",
                }),
            )
                .into_response()
        }
    }
}

/// The Prometheus text exposition format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: every metric of this process (docs/metrics.md).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Operations",
    operation_id = "metrics",
    summary = "Prometheus metrics (text exposition format 0.0.4)",
    responses((status = 200, description = "The metrics", body = String,
        content_type = "text/plain")),
)]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut response = crate::http::no_store(app.metrics.render().into_response());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    response
}
