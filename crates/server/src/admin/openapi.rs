//! `GET /admin/v1/openapi.json`: the admin API as an OpenAPI 3.1 document, written out
//! from one table of its operations (a test checks the table against the router).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AdminState;

/// One operation: method, path, least role, summary, whether it takes a JSON body, and
/// its success status.
pub const OPERATIONS: &[(&str, &str, &str, &str, bool, u16)] = &[
    (
        "get",
        "/admin/v1/environments",
        "viewer",
        "Environments with their users, live sessions and signing key ids",
        false,
        200,
    ),
    (
        "get",
        "/admin/v1/{env}/users",
        "viewer",
        "Users by name; `q` is a name prefix; paginated",
        false,
        200,
    ),
    (
        "post",
        "/admin/v1/{env}/users",
        "operator",
        "Create a user; without `password` one is generated and shown once",
        true,
        201,
    ),
    (
        "get",
        "/admin/v1/{env}/users/{username}",
        "viewer",
        "One user",
        false,
        200,
    ),
    (
        "patch",
        "/admin/v1/{env}/users/{username}",
        "operator",
        "Disable or enable a user (`{\"disabled\": bool}`); disabling ends every session",
        true,
        200,
    ),
    (
        "delete",
        "/admin/v1/{env}/users/{username}",
        "operator",
        "Delete a user and their sessions",
        false,
        204,
    ),
    (
        "post",
        "/admin/v1/{env}/users/{username}/credentials",
        "operator",
        "Planned credential rotation `{\"password\"?, \"overlap\"?}`: the new password works at once, the old one for logins until the overlap (default 24h) ends; `\"0s\"` is a reset that ends every session. Without `password` one is generated and shown once",
        true,
        200,
    ),
    (
        "get",
        "/admin/v1/{env}/users/{username}/sessions",
        "viewer",
        "A user's sessions, newest first; paginated",
        false,
        200,
    ),
    (
        "delete",
        "/admin/v1/{env}/users/{username}/sessions",
        "operator",
        "Revoke every session of a user",
        false,
        200,
    ),
    (
        "get",
        "/admin/v1/{env}/sessions",
        "viewer",
        "Every user's sessions in the environment, newest first; paginated",
        false,
        200,
    ),
    (
        "delete",
        "/admin/v1/{env}/sessions/{id}",
        "operator",
        "Revoke one session",
        false,
        204,
    ),
    (
        "post",
        "/admin/v1/{env}/sessions/revoke-all",
        "operator",
        "Revoke every session of the environment (the incident button)",
        false,
        200,
    ),
    (
        "get",
        "/admin/v1/{env}/keys",
        "viewer",
        "Signing keys, oldest first",
        false,
        200,
    ),
    (
        "post",
        "/admin/v1/{env}/keys/rotate",
        "owner",
        "Make a new signing key: published now, signing after the activation delay",
        false,
        201,
    ),
    (
        "get",
        "/admin/v1/{env}/events",
        "viewer",
        "Security and audit events, newest first; filter by `type`, `username`, `since`; paginated",
        false,
        200,
    ),
    (
        "get",
        "/admin/v1/webhooks",
        "owner",
        "Webhook subscriptions",
        false,
        200,
    ),
    (
        "post",
        "/admin/v1/webhooks",
        "owner",
        "Subscribe `{\"url\", \"events\"?}` (no events: all); the `whsec_` secret is in the answer, once",
        true,
        201,
    ),
    (
        "patch",
        "/admin/v1/webhooks/{id}",
        "owner",
        "Pause or resume `{\"paused\": bool}`",
        true,
        200,
    ),
    (
        "delete",
        "/admin/v1/webhooks/{id}",
        "owner",
        "Delete a subscription made here, with its deliveries",
        false,
        204,
    ),
    (
        "post",
        "/admin/v1/webhooks/{id}/rotate-secret",
        "owner",
        "A new secret `{\"overlap\"?}`: deliveries carry both signatures until the overlap (default 24h) ends",
        true,
        200,
    ),
    (
        "post",
        "/admin/v1/webhooks/{id}/test",
        "owner",
        "Send a `webhook_test` event to this subscription",
        false,
        202,
    ),
    (
        "get",
        "/admin/v1/webhooks/{id}/deliveries",
        "owner",
        "Deliveries newest first: status, attempts, last error, next try; paginated",
        false,
        200,
    ),
    (
        "post",
        "/admin/v1/webhooks/{id}/deliveries/{event_id}/resend",
        "owner",
        "Send a delivery again (e.g. a failed one)",
        false,
        202,
    ),
];

fn parameters(path: &str, method: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for name in ["env", "username", "id", "event_id"] {
        if path.contains(&format!("{{{name}}}")) {
            out.push(
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}),
            );
        }
    }
    let query: &[&str] = match (method, path) {
        ("get", "/admin/v1/{env}/users") => &["q", "limit", "cursor"],
        ("get", "/admin/v1/{env}/users/{username}/sessions") => &["limit", "cursor"],
        ("get", "/admin/v1/{env}/sessions") => &["limit", "cursor"],
        ("get", "/admin/v1/{env}/events") => &["type", "username", "since", "limit", "cursor"],
        ("get", "/admin/v1/webhooks/{id}/deliveries") => &["limit", "cursor"],
        _ => &[],
    };
    for name in query {
        out.push(
            json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}}),
        );
    }
    if method == "post" {
        out.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "A retry with the same key and request gets the first answer again (kept 24 h)",
            "schema": {"type": "string", "maxLength": 255}
        }));
    }
    out
}

/// The document.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let mut paths = Map::new();
    for (method, path, role, summary, takes_body, status) in OPERATIONS {
        let mut op = json!({
            "summary": summary,
            "description": format!("Needs an admin key with the `{role}` role or higher."),
            "tags": ["Admin"],
            "parameters": parameters(path, method),
            "responses": {
                status.to_string(): {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}},
                "400": {"description": "malformed input", "content": {"application/json": {"schema": error}}},
                "401": {"description": "no live admin key", "content": {"application/json": {"schema": error}}},
                "403": {"description": "the key's role is too low", "content": {"application/json": {"schema": error}}},
                "404": {"description": "no such environment or record", "content": {"application/json": {"schema": error}}},
                "429": {"description": "too many bad admin keys from this address", "content": {"application/json": {"schema": error}}}
            }
        });
        if *takes_body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths
            .entry((*path).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wirecash-auth admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operator plane (SPEC §11), served on `admin_listen` only. Lists are `{\"items\": [...], \"next_cursor\": ...}`; pass `next_cursor` back as `cursor`."
        },
        "security": [{"adminKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer", "description": "An admin key from `wirecash-auth admin-key create`"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "error_description"], "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}}
        }
    })
}

/// Serves the document.
pub async fn serve(State(state): State<AdminState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi,
    )
        .into_response()
}
