//! A real third-party OAuth 2.0 client library against the service: Authlib (PyPI), run
//! by `tests/third_party/authlib_flow.py`, obtains tokens with `client_credentials` and
//! `password`, refreshes with `refresh_token`, revokes and introspects. The library is
//! installed once into a virtualenv under the cargo target directory (pinned versions;
//! PyPI must be reachable the first time).

use std::path::{Path, PathBuf};

use crate::support::TestApp;

const PACKAGES: &[&str] = &["authlib==1.9.10", "requests==2.34.2"];

/// A virtualenv with `PACKAGES`, created on first use. Virtualenvs hard-code their
/// path, so it is built in place; a marker file written last tells a finished install
/// from an interrupted one, which is rebuilt.
async fn authlib_venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-authlib-1.9.10");
    let done = venv.join("installed");
    if done.exists() {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let status = tokio::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .await
        .expect("python3 is needed for the third-party client test");
    assert!(status.success(), "python3 -m venv failed");
    let out = tokio::process::Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "pip install {PACKAGES:?} failed (is PyPI reachable?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&done, PACKAGES.join("\n")).unwrap();
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_gets_refreshes_revokes_and_introspects_tokens() {
    let venv = authlib_venv().await;
    let app = TestApp::spawn().await;
    let pw = app.add_user("sandbox", "partner-1").await;
    let secret = app
        .admin()
        .add_introspector("sandbox", "orders-api")
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
