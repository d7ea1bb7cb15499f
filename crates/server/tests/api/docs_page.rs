//! `GET /docs` in a real headless browser (Debian's `chromium`) with every host but
//! 127.0.0.1 unresolvable.

// The page renders the `POST /token` operation with its schema from the assets the
// binary serves, and the browser's network log shows that the page requested nothing
// from anywhere else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::server_process::start;
use crate::support::ScratchDb;

/// The browser: `$CHROMIUM`, else Debian's.
pub(crate) fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: install Debian's Chromium with `apt-get install -y chromium` \
         (.ci/run does this), or point CHROMIUM at a Chromium binary",
        path.display()
    );
    path
}

/// Loads `url` headless and returns the DOM after scripts ran; the network log goes to
/// `net_log`.
async fn render(url: &str, profile: &Path, net_log: &Path) -> String {
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox", // we run as root in CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        // Nothing but loopback resolves: a CDN request fails (and shows in the log).
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--log-net-log={}", net_log.display()))
    .arg(url)
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("chromium did not finish within 90 s")
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The visible text of a DOM: no scripts or styles, tags removed without spaces (the
/// renderer breaks long names with inline elements), entities decoded.
fn text(dom: &str) -> String {
    let mut out = String::with_capacity(dom.len() / 4);
    let mut rest = dom;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let skip_to = ["script", "style"].iter().find_map(|t| {
            tail.strip_prefix(&format!("<{t}"))
                .and_then(|_| tail.find(&format!("</{t}>")).map(|e| e + t.len() + 3))
        });
        let end = match skip_to {
            Some(e) => e,
            None => tail.find('>').map_or(tail.len(), |e| e + 1),
        };
        rest = &tail[end..];
    }
    out.push_str(rest);
    out.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

/// URLs of the requests the page (initiator: the server's origin) made.
fn page_requests(net_log: &Path, origin: &str) -> Vec<String> {
    let log: Value = serde_json::from_slice(&std::fs::read(net_log).unwrap()).unwrap();
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .unwrap();
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start_job))
        .filter(|e| e["params"]["initiator"].as_str() == Some(origin))
        .filter_map(|e| e["params"]["url"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn docs_page_renders_post_token_with_its_schema_offline() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let server = start(dir.path(), &db, "10s");
    let origin = server.base.clone();

    // First the page as it opens, to find the operation's link in the navigation…
    let dom = render(
        &format!("{origin}/docs"),
        &dir.path().join("profile-1"),
        &dir.path().join("net-1.json"),
    )
    .await;
    let link = dom
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|h| h.starts_with('#') && h.ends_with("POST/{env}/token"))
        .unwrap_or_else(|| panic!("no link to POST /{{env}}/token in the page ({browser:?})"))
        .to_string();

    // …then that operation, as a reader following the link sees it.
    let net_log = dir.path().join("net-2.json");
    let dom = render(
        &format!("{origin}/docs{link}"),
        &dir.path().join("profile-2"),
        &net_log,
    )
    .await;
    let text = text(&dom);
    for expected in [
        "Refresh the access token",
        "Used to refresh the access_token",
        "/{env}/token",
        "RefreshTokenRequest",
        "username",
        "access_token",
        "refresh_token",
        "required",
        "Successful response",
        "Invalid data provided",
        "Internal server error",
        "expires_in",
        "token_type",
    ] {
        assert!(
            text.contains(expected),
            "the rendered page lacks {expected:?}"
        );
    }

    // The page loaded its script and the document from the server, and nothing from
    // anywhere else (no CDN, fonts, telemetry).
    let requests = page_requests(&net_log, &origin);
    assert!(
        requests.iter().any(|u| u.ends_with("/openapi.json")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|u| u.contains("/docs/scalar-api-reference-")),
        "{requests:?}"
    );
    let foreign: Vec<&String> = requests
        .iter()
        .filter(|u| !u.starts_with(&format!("{origin}/")))
        .collect();
    assert!(
        foreign.is_empty(),
        "the page fetched from elsewhere: {foreign:?}"
    );
}

#[tokio::test]
async fn docs_assets_are_served_with_their_types_and_caching() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let server = start(dir.path(), &db, "10s");
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{}/docs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let script = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let bundle = client
        .get(format!("{}{script}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert_eq!(
        bundle.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        bundle.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let bytes = bundle.bytes().await.unwrap();
    let vendored = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scalar/standalone.js"
    ))
    .unwrap();
    assert!(bytes == vendored, "the served bundle is the vendored file");
    let init = client
        .get(format!("{}/docs/init.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    let init = init.text().await.unwrap();
    for option in ["withDefaultFonts: false", "telemetry: false"] {
        assert!(init.contains(option), "{init}");
    }
}

/// `GET /admin/docs` on the admin listener renders the admin API's document the same
/// way, offline; the public listener has no such page.
#[tokio::test]
async fn admin_docs_page_renders_the_admin_api_offline_on_the_admin_listener_only() {
    chromium();
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let server = start(dir.path(), &db, "10s");
    let admin = server.admin_base.clone().expect("the admin listener is on");
    let public = reqwest::get(format!("{}/admin/docs", server.base))
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let net_log = dir.path().join("net-admin.json");
    let dom = render(
        &format!("{admin}/admin/docs"),
        &dir.path().join("profile-admin"),
        &net_log,
    )
    .await;
    let text = text(&dom);
    for expected in [
        "wirecash-auth admin API",
        "Planned credential rotation",
        "/admin/v1/{env}/sessions/revoke-all",
    ] {
        assert!(
            text.contains(expected),
            "the rendered admin page lacks {expected:?}"
        );
    }
    let requests = page_requests(&net_log, &admin);
    assert!(
        requests
            .iter()
            .any(|u| u.ends_with("/admin/v1/openapi.json")),
        "{requests:?}"
    );
    let foreign: Vec<&String> = requests
        .iter()
        .filter(|u| !u.starts_with(&format!("{admin}/")))
        .collect();
    assert!(
        foreign.is_empty(),
        "the page fetched from elsewhere: {foreign:?}"
    );
}
