//! `GET /metrics` (Prometheus text exposition) and `GET /openapi.json`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

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

/// `GET /openapi.json`: the OpenAPI 3.1 document of this service.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Operations",
    operation_id = "openapi",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3.1 document",
        body = serde_json::Value, content_type = "application/json")),
)]
pub async fn openapi_json(State(app): State<AppState>) -> Response {
    let mut response = app.openapi.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
