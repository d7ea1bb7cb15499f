//! An example API behind the token service: `GET /{env}/country/list` with demo data
//! and `GET /{env}/whoami`, each environment behind its own [`Verifier`], so a token of
//! one environment is refused by every other.

use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use wirecash_verify::{Claims, Verifier, VerifyLayer};

/// One country of the demo list.
#[derive(Debug, Clone, Serialize)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code.
    pub code: &'static str,
    /// English name.
    pub name: &'static str,
    /// ISO 4217 currency code.
    pub currency: &'static str,
}

/// The demo data.
pub const COUNTRIES: &[Country] = &[
    Country {
        code: "AT",
        name: "Austria",
        currency: "EUR",
    },
    Country {
        code: "CH",
        name: "Switzerland",
        currency: "CHF",
    },
    Country {
        code: "DE",
        name: "Germany",
        currency: "EUR",
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        currency: "GBP",
    },
    Country {
        code: "US",
        name: "United States",
        currency: "USD",
    },
];

async fn country_list() -> Json<serde_json::Value> {
    Json(json!({ "countries": COUNTRIES }))
}

async fn whoami(claims: Claims) -> Json<serde_json::Value> {
    Json(json!({
        "username": claims.username,
        "sub": claims.sub,
        "env": claims.env,
        "sid": claims.sid,
        "exp": claims.exp,
    }))
}

async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not_found", "error_description": format!("no such endpoint: {}", uri.path())})),
    )
        .into_response()
}

/// The API: every route of an environment sits behind that environment's verifier.
pub fn app(verifiers: Vec<Verifier>) -> Router {
    let mut router = Router::new();
    for verifier in verifiers {
        let env = verifier.environment().to_string();
        let api = Router::new()
            .route("/country/list", get(country_list))
            .route("/whoami", get(whoami))
            .layer(VerifyLayer::new(verifier));
        router = router.nest(&format!("/{env}"), api);
    }
    router.fallback(not_found)
}
