//! The API's documentation: `GET /openapi.json` and `GET /docs`, the reference page that
//! renders it with its vendored Scalar bundle (nothing is loaded from elsewhere); and the
//! same page for the admin API, `GET /admin/docs` on the admin listener.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// The vendored release of `@scalar/api-reference` (see `assets/scalar/README.md`).
macro_rules! scalar_version {
    () => {
        "1.76.0"
    };
}

/// Where the bundle is served: the version is in the path, so it can be cached for good.
pub const SCALAR_JS: &str = concat!("/docs/scalar-api-reference-", scalar_version!(), ".js");
/// The page's start-up script (a file of its own, so the policy needs no inline script).
pub const INIT_JS: &str = "/docs/init.js";
/// The admin page's bundle (the same file, under the admin listener's prefix).
pub const ADMIN_SCALAR_JS: &str = concat!(
    "/admin/docs/scalar-api-reference-",
    scalar_version!(),
    ".js"
);
/// The admin page's start-up script.
pub const ADMIN_INIT_JS: &str = "/admin/docs/init.js";

static SCALAR_BUNDLE: &[u8] = include_bytes!("../../assets/scalar/standalone.js");

/// The page that renders the document at `$spec` with the assets under `$prefix`.
macro_rules! page {
    ($title:literal, $prefix:literal, $spec:literal) => {
        concat!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>"#,
            $title,
            r#"</title>
</head>
<body>
<noscript>This page renders <a href=""#,
            $spec,
            r#"">"#,
            $spec,
            r#"</a> with JavaScript.</noscript>
<div id="app"></div>
<script src=""#,
            $prefix,
            "/scalar-api-reference-",
            scalar_version!(),
            r#".js"></script>
<script src=""#,
            $prefix,
            r#"/init.js"></script>
</body>
</html>
"#
        )
    };
}

/// Scalar's options: the document from this origin, and every feature that would reach
/// out to another host turned off — its default web fonts, telemetry, the AI agent and
/// MCP panels; the request client is hidden (it offers a proxy on Scalar's servers).
macro_rules! init {
    ($spec:literal) => {
        concat!(
            "Scalar.createApiReference('#app', {\n  url: '",
            $spec,
            "',\n  withDefaultFonts: false,\n  telemetry: false,\n  hideClientButton: true,\n  \
             agent: { disabled: true },\n  mcp: { disabled: true },\n  showDeveloperTools: 'never',\n});\n"
        )
    };
}

const PAGE: &str = page!("wirecash-auth API reference", "/docs", "/openapi.json");
const INIT: &str = init!("/openapi.json");
const ADMIN_PAGE: &str = page!(
    "wirecash-auth admin API reference",
    "/admin/docs",
    "/admin/v1/openapi.json"
);
const ADMIN_INIT: &str = init!("/admin/v1/openapi.json");

/// Same origin only; inline styles because the bundle injects its stylesheet.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn with_headers(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /docs`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "Operations",
    operation_id = "docs",
    summary = "This API reference, rendered (works offline)",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
)]
/// `GET /docs`: the API reference page, rendered in the browser from `/openapi.json` by
/// the Scalar API Reference bundle vendored in `assets/scalar/` and served from the
/// binary. Nothing is loaded from elsewhere: operators' networks are often closed, and a
/// CDN should not learn who reads our documentation. The page's Content-Security-Policy
/// allows this origin only, so a later bundle that tried to fetch fonts or telemetry
/// would be stopped by the browser as well.
pub async fn page() -> Response {
    html_page(PAGE)
}

/// `GET /admin/docs` (admin listener): the admin API's reference, rendered like `/docs`.
pub async fn admin_page() -> Response {
    html_page(ADMIN_PAGE)
}

/// `GET /admin/docs/init.js`.
pub async fn admin_init() -> Response {
    with_headers(
        ADMIN_INIT.as_bytes(),
        "text/javascript; charset=utf-8",
        "no-cache",
    )
}

fn html_page(page: &'static str) -> Response {
    let mut response = with_headers(page.as_bytes(), "text/html; charset=utf-8", "no-cache");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /docs/init.js`.
pub async fn init() -> Response {
    with_headers(
        INIT.as_bytes(),
        "text/javascript; charset=utf-8",
        "no-cache",
    )
}

/// `GET /docs/scalar-api-reference-VERSION.js`: a year, immutable (a new version has a
/// new path).
pub async fn scalar() -> Response {
    with_headers(
        SCALAR_BUNDLE,
        "text/javascript; charset=utf-8",
        "public, max-age=31536000, immutable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_the_served_bundle_and_nothing_from_elsewhere() {
        assert!(PAGE.contains(&format!("<script src=\"{SCALAR_JS}\">")));
        assert!(PAGE.contains(&format!("<script src=\"{INIT_JS}\">")));
        assert!(ADMIN_PAGE.contains(&format!("<script src=\"{ADMIN_SCALAR_JS}\">")));
        assert!(ADMIN_PAGE.contains(&format!("<script src=\"{ADMIN_INIT_JS}\">")));
        assert!(INIT.contains("url: '/openapi.json',"), "{INIT}");
        assert!(ADMIN_INIT.contains("url: '/admin/v1/openapi.json',"));
        for text in [PAGE, INIT, ADMIN_PAGE, ADMIN_INIT] {
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        assert!(
            SCALAR_BUNDLE.len() > 1_000_000,
            "the vendored bundle is there"
        );
    }
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
