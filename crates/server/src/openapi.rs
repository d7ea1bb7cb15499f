//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! annotations and the wire types of `wirecash-proto`.

use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};
use wirecash_proto::{
    AuthenticateRequest, AuthenticateResponse, ErrorBody, Jwk, JwkSet, RefreshTokenRequest,
};

use crate::http::{docs, oauth, ops, tokens};

/// Tag of the WireCash endpoints of SPEC §2.
pub const TAG_WIRECASH: &str = "WireCash";
/// Tag of the standards endpoints (JWKS, RFC 8414 metadata, RFC 6749 token endpoint,
/// RFC 7009 revocation, RFC 7662 introspection).
pub const TAG_STANDARDS: &str = "Standards";
/// Tag of health, readiness, metrics and this documentation.
pub const TAG_OPERATIONS: &str = "Operations";

/// The document as the code declares it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wirecash-auth",
        description = "The token service of the WireCash API: exchange an API user's \
            credentials for an access token (`POST /{env}/authenticate`) and refresh it \
            (`POST /{env}/token`). Every error answer is JSON: \
            `{\"error\": \"<code>\", \"error_description\": \"<text>\"}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        tokens::authenticate,
        tokens::token,
        oauth::jwks,
        oauth::metadata,
        oauth::token,
        oauth::revoke,
        oauth::introspect,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        docs::openapi_json,
        docs::page,
    ),
    components(schemas(
        AuthenticateRequest,
        RefreshTokenRequest,
        AuthenticateResponse,
        ErrorBody,
        JwkSet,
        Jwk,
        Status,
        Unready,
        oauth::TokenForm,
        oauth::TokenHintForm,
        oauth::OAuthTokenResponse,
        oauth::IntrospectionResponse,
        oauth::AuthorizationServerMetadata,
    )),
    tags(
        (name = TAG_WIRECASH, description = "Authenticate and refresh (the published WireCash API)"),
        (name = TAG_STANDARDS, description = "OAuth 2.0 and JOSE standards endpoints"),
        (name = TAG_OPERATIONS, description = "Health, readiness, metrics and documentation"),
    ),
)]
/// `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
/// `#[utoipa::path]` annotations and the wire types of `wirecash-proto`. The WireCash
/// operations follow the published pages (docs/reference/) field for field and status
/// for status; a test compares them. Adding an endpoint is one entry in `paths(...)`
/// below (and its `#[utoipa::path]` on the handler).
pub struct ApiDoc;

/// The document served by this node: its own base URL as the server, and the configured
/// environments as the only values of `{env}`.
pub fn document(public_url: &str, environments: &[String]) -> Value {
    let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(v) => v,
        // Serializing plain data cannot fail; an empty document would show it at once.
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialize");
            return json!({});
        }
    };
    doc["servers"] = json!([{"url": public_url, "description": "this service"}]);
    // The token flow, as OpenAPI links: the tokens of a 200 feed the next refresh.
    let next_refresh = json!({"refreshToken": {
        "operationId": "refreshToken",
        "description": "Refresh with the tokens of this answer and the same username",
        "parameters": {"env": "$request.path.env"},
        "requestBody": {
            "username": "$request.body#/username",
            "access_token": "$response.body#/access_token",
            "refresh_token": "$response.body#/refresh_token",
        },
    }});
    for path in ["/{env}/authenticate", "/{env}/token"] {
        if let Some(ok) = doc
            .pointer_mut(&format!(
                "/paths/{}/post/responses/200",
                path.replace('/', "~1")
            ))
            .and_then(Value::as_object_mut)
        {
            ok.insert("links".into(), next_refresh.clone());
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let Some(params) = operation
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for p in params.iter_mut().filter(|p| p["name"] == "env") {
                    p["schema"] = json!({"type": "string", "enum": environments});
                }
            }
        }
    }
    doc
}

/// Liveness and readiness answer.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Status {
    /// `ok` (healthz) or `ready` (readyz).
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Readiness answer while storage is unreachable.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Unready {
    /// `unavailable`.
    pub status: &'static str,
    /// `temporarily_unavailable`.
    pub error: &'static str,
    /// What is wrong.
    pub error_description: &'static str,
}
