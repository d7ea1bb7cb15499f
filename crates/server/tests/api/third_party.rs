//! A real third-party OAuth 2.0 client library against the service: Authlib (PyPI), run
//! by `tests/third_party/authlib_flow.py`, obtains tokens with `client_credentials` and
//! `password`, refreshes with `refresh_token`, revokes and introspects.

// The library is installed once into a virtualenv under the cargo target directory
// (pinned versions; PyPI must be reachable the first time).

use std::path::{Path, PathBuf};
use wirecash_core::events::Actor;

use crate::support::TestApp;

const PACKAGES: &[&str] = &["authlib==1.9.10", "requests==2.34.2"];

/// A virtualenv with `PACKAGES` (Authlib and `requests`; the published-samples test
/// runs its Python sample in it too), created on first use.
pub async fn authlib_venv() -> PathBuf {
    crate::support::python_venv("py-authlib-1.9.10", PACKAGES).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_gets_refreshes_revokes_and_introspects_tokens() {
    let venv = authlib_venv().await;
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "partner-1").await;
    let secret = app
        .admin()
        .add_introspector(
            &Actor::Cli,
            &crate::support::env("sandbox"),
            &crate::support::introspector("orders-api"),
        )
        .await
        .unwrap();
    app.remember(&secret);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/third_party/authlib_flow.py");
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .arg(script)
        .args([
            &app.base,
            "sandbox",
            "partner-1",
            &pw,
            "orders-api",
            &secret,
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Authlib flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    for step in [
        "client_credentials_basic",
        "client_credentials_post",
        "wrong_secret_invalid_client",
        "password_and_refresh",
        "introspect_active",
        "revoke",
    ] {
        assert_eq!(summary[step], true, "step {step} did not run: {summary}");
    }
}
