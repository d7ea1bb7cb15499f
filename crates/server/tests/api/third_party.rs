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
/// runs its Python sample in it too), created on first use: built beside its final
/// place and renamed into it, so that an interrupted install is never mistaken for a
/// finished one and two tests (or test processes) making it at once do not collide. It
/// is only ever run as `bin/python`, which finds its packages after the move.
pub async fn authlib_venv() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = root.join("py-authlib-1.9.10");
    if venv.join("installed").exists() {
        return venv;
    }
    let partial = root.join(format!(
        "py-authlib-1.9.10.partial-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let status = tokio::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&partial)
        .status()
        .await
        .expect("python3 is needed for the third-party client and published-samples tests");
    assert!(status.success(), "python3 -m venv failed");
    let out = tokio::process::Command::new(partial.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PACKAGES)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "pip install {PACKAGES:?} failed (is PyPI reachable?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(partial.join("installed"), PACKAGES.join("\n")).unwrap();
    // An older, unfinished venv in place (from before the rename) is replaced.
    if venv.exists() && !venv.join("installed").exists() {
        let _ = std::fs::remove_dir_all(&venv);
    }
    // Another test may have won the race; its venv is as good as ours.
    if std::fs::rename(&partial, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    assert!(venv.join("installed").exists());
    venv
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
