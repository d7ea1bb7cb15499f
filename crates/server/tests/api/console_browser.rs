//! The console in a real browser (Debian's `chromium`, headless, every host but
//! 127.0.0.1 unresolvable), driven over the DevTools protocol on a pipe: sign in, create
//! a user and read the generated password, see the session of a login appear and revoke
//! it, disable the user, rotate a key, subscribe a webhook; a form posted without its
//! CSRF token is refused; the cookie's attributes are as meant; the pages load nothing
//! from another origin and no script runs.
//!
//! With `CONSOLE_SCREENSHOTS=1` the screenshots go to `docs/console/` (the docs show
//! them); otherwise to a scratch directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use wirecash_core::store::AdminRole;

use crate::console::admin_key;
use crate::support::TestApp;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A headless Chromium and its DevTools pipe (`--remote-debugging-pipe`: the browser
/// reads commands on fd 3 and writes answers on fd 4, each a JSON text ending in NUL).
struct Browser {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    next_id: u64,
    pending: Pending,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Browser {
    async fn launch(profile: &Path) -> Browser {
        let chromium = crate::docs_page::chromium();
        // fd 3 and 4 are the pipe's; a shell sets them up from our stdin and stdout.
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg("exec \"$0\" \"$@\" 3<&0 4>&1 0</dev/null 1>&2")
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox", // we run as root in CI
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let pending: Pending = Arc::default();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (p, e) = (pending.clone(), events.clone());
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match stdout.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Value = serde_json::from_slice(&buf[..end]).unwrap();
                    buf.drain(..=end);
                    match msg["id"].as_u64() {
                        Some(id) => {
                            if let Some(tx) = p.lock().unwrap().remove(&id) {
                                let _ = tx.send(msg);
                            }
                        }
                        None => e.lock().unwrap().push(msg),
                    }
                }
            }
        });
        Browser {
            _child: child,
            stdin,
            next_id: 0,
            pending,
            events,
        }
    }

    /// One DevTools command (to the page's session, if given); its result.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let answer = self.call_raw(session, method, params).await;
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// One DevTools command; its whole answer (`result` or `error`).
    async fn call_raw(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.stdin.write_all(&bytes).await.unwrap();
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .unwrap_or_else(|_| panic!("no answer to {method} within 60 s"))
            .unwrap()
    }
}

/// One tab.
struct Tab {
    browser: Browser,
    session: String,
    shots: PathBuf,
}

impl Tab {
    async fn open(mut browser: Browser, shots: PathBuf) -> Tab {
        let target = browser
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await["targetId"]
            .as_str()
            .unwrap()
            .to_string();
        let session = browser
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        let mut tab = Tab {
            browser,
            session,
            shots,
        };
        for domain in ["Page.enable", "Network.enable", "Runtime.enable"] {
            tab.call(domain, json!({})).await;
        }
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        tab
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.browser.call(Some(&session), method, params).await
    }

    /// Evaluates `js` in the page (DevTools evaluation: the page's CSP allows no script
    /// of its own) and returns its value.
    async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until the page that replaced the current one has loaded.
    async fn wait_for_new_page(&mut self) {
        let session = self.session.clone();
        for _ in 0..300 {
            // While the old page goes, an evaluation can fail ("Inspected target
            // navigated or closed"): that is "not yet".
            let answer = self
                .browser
                .call_raw(
                    Some(&session),
                    "Runtime.evaluate",
                    json!({
                        "expression": "window.__old !== true && document.readyState === 'complete'",
                        "returnByValue": true,
                    }),
                )
                .await;
            if answer["result"]["result"]["value"] == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the next page did not load");
    }

    async fn goto(&mut self, url: &str) {
        self.eval("window.__old = true").await;
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for_new_page().await;
    }

    /// Clicks the element `selector` (a submit button) and waits for the next page.
    async fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; \
             window.__old = true; e.click(); return true; }})()",
            json!(selector)
        );
        assert_eq!(
            self.eval(&js).await,
            json!(true),
            "nothing matches {selector} on {}",
            self.url().await
        );
        self.wait_for_new_page().await;
    }

    async fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; \
             e.value = {}; return true; }})()",
            json!(selector),
            json!(value)
        );
        assert_eq!(self.eval(&js).await, json!(true), "no field {selector}");
    }

    async fn text(&mut self, selector: &str) -> String {
        let js = format!(
            "(document.querySelector({}) || {{}}).innerText || ''",
            json!(selector)
        );
        self.eval(&js).await.as_str().unwrap_or("").to_string()
    }

    async fn url(&mut self) -> String {
        self.eval("location.href")
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The whole page as a PNG.
    async fn screenshot(&mut self, name: &str) {
        let height = self.eval("document.documentElement.scrollHeight").await;
        let height = height.as_f64().unwrap().clamp(400.0, 4000.0);
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Every URL the pages requested so far.
    fn requested(&self) -> Vec<String> {
        self.browser
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(String::from))
            .collect()
    }

    /// Events of `method` so far.
    fn events(&self, method: &str) -> Vec<Value> {
        self.browser
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["method"] == method)
            .cloned()
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_chromium_with_its_cookie_csrf_and_nothing_from_elsewhere() {
    let receiver = crate::webhooks::Receiver::start().await;
    let app = TestApp::spawn_with(|c| {
        c.webhook.allowed_networks =
            vec![wirecash_auth::webhooks::egress::Network::parse("127.0.0.0/8").unwrap()];
    })
    .await;
    let key = admin_key(&app, "alex", AdminRole::Owner).await;
    // Some history, so that the pages show what they are for.
    let partner = app.add_user("sandbox", "globex").await;
    app.login("sandbox", "globex", &partner).await;
    for i in 0..3 {
        app.add_user("sandbox", &format!("initech-{i}")).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let shots = if std::env::var_os("CONSOLE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
        std::fs::create_dir_all(&docs).unwrap();
        docs
    } else {
        dir.path().to_path_buf()
    };
    let browser = Browser::launch(&dir.path().join("profile")).await;
    let mut tab = Tab::open(browser, shots).await;
    let base = app.admin_base.clone();

    // Not signed in: the sign-in form.
    tab.goto(&format!("{base}/console")).await;
    assert_eq!(tab.url().await, format!("{base}/console/login"));
    tab.screenshot("sign-in").await;
    tab.fill("input[name=admin_key]", "wcak_not_a_key").await;
    tab.click("form[action='/console/login'] button").await;
    assert!(
        tab.text(".notice.error")
            .await
            .contains("not a live admin key")
    );
    tab.fill("input[name=admin_key]", &key).await;
    tab.click("form[action='/console/login'] button").await;
    assert_eq!(tab.url().await, format!("{base}/console"));
    assert!(tab.text("main").await.contains("sandbox"));
    // The stylesheet applied (the CSP let it in) and no script ran or was refused.
    assert_eq!(
        tab.eval("getComputedStyle(document.querySelector('header.top')).backgroundColor")
            .await,
        json!("rgb(17, 24, 39)")
    );
    tab.screenshot("environments").await;

    // The session cookie: HttpOnly (no script sees it), SameSite=Strict, not Secure on
    // plain HTTP (the TLS test checks `Secure` and `__Host-`).
    let cookies = tab
        .call(
            "Network.getCookies",
            json!({"urls": [format!("{base}/console")]}),
        )
        .await;
    let session = cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "wc_console")
        .unwrap_or_else(|| panic!("no session cookie: {cookies}"))
        .clone();
    assert_eq!(session["httpOnly"], json!(true));
    assert_eq!(session["sameSite"], json!("Strict"));
    assert_eq!(session["path"], json!("/"));
    assert_eq!(session["secure"], json!(false));
    assert_eq!(tab.eval("document.cookie").await, json!(""));

    // Create a user; the generated password is on the page, once, and logs in.
    tab.goto(&format!("{base}/console/env/sandbox/users")).await;
    tab.screenshot("users").await;
    tab.fill("input[name=username]", "acme-payments").await;
    tab.click("form[action='/console/env/sandbox/users'][method=post] button")
        .await;
    let password = tab.text("#shown-once").await.trim().to_string();
    app.remember(&password);
    assert_eq!(password.len(), 32, "{password:?}");
    tab.screenshot("user-created").await;
    let tokens = app.login("sandbox", "acme-payments", &password).await;

    // The login's session appears on the user's page; revoke it.
    tab.goto(&format!("{base}/console/env/sandbox/users/acme-payments"))
        .await;
    let rows = tab
        .eval(
            "document.querySelectorAll('form[action^=\"/console/env/sandbox/sessions/\"]').length",
        )
        .await;
    assert_eq!(rows, json!(1), "one session listed");
    assert!(tab.text("table").await.contains("refresh"));
    tab.screenshot("user").await;
    tab.click("form[action*='/console/env/sandbox/sessions/'] button")
        .await;
    assert!(tab.text(".notice.ok").await.contains("Ended 1 session"));
    assert!(tab.text("main").await.contains("No live sessions"));
    assert_eq!(
        app.refresh("sandbox", "acme-payments", &tokens)
            .await
            .status,
        400
    );

    // Disable the user.
    tab.click("form[action$='/disable'] button").await;
    assert!(tab.text("h1").await.contains("disabled"));
    assert_eq!(
        app.authenticate_raw("sandbox", "acme-payments", &password)
            .await
            .status,
        400
    );

    // A form posted without its CSRF token is refused and changes nothing.
    tab.eval("document.querySelector('form[action$=\"/enable\"] input[name=csrf]').remove()")
        .await;
    tab.click("form[action$='/enable'] button").await;
    assert!(
        tab.text("main").await.contains("CSRF"),
        "{}",
        tab.text("main").await
    );
    assert!(
        app.admin()
            .user(
                &crate::support::env("sandbox"),
                &crate::support::user("acme-payments")
            )
            .await
            .unwrap()
            .disabled
    );
    tab.screenshot("csrf-refused").await;

    // Rotate the signing key: a second key, pending until its activation time.
    tab.goto(&format!("{base}/console/env/sandbox/keys")).await;
    tab.click("form[action='/console/env/sandbox/keys/rotate'] button")
        .await;
    assert!(tab.text(".notice.ok").await.contains("new signing key"));
    assert!(tab.text("table").await.contains("pending"));
    assert_eq!(
        app.admin()
            .keys(&crate::support::env("sandbox"))
            .await
            .unwrap()
            .len(),
        2
    );
    tab.screenshot("keys").await;

    // Events, the incident page, webhooks.
    tab.goto(&format!("{base}/console/env/sandbox/events"))
        .await;
    for kind in [
        "signing_key_rotated",
        "user_disabled",
        "sessions_revoked",
        "user_created",
    ] {
        assert!(tab.text("table").await.contains(kind), "{kind}");
    }
    tab.screenshot("events").await;
    tab.goto(&format!("{base}/console/env/sandbox/incident"))
        .await;
    tab.screenshot("incident").await;
    tab.goto(&format!("{base}/console/webhooks")).await;
    tab.fill("input[name=url]", &receiver.url).await;
    tab.eval("document.querySelector('input[name=\"event.refresh_token_reuse_detected\"]').checked = true")
        .await;
    tab.click("form[action='/console/webhooks'] button").await;
    let secret = tab.text("#shown-once").await.trim().to_string();
    app.remember(&secret);
    assert!(secret.starts_with("whsec_"), "{secret}");
    tab.screenshot("webhook-created").await;
    tab.click("table a[href^='/console/webhooks/wh_']").await;
    tab.click("form[action$='/test'] button").await;
    receiver.wait_for(1, || {}).await;
    let page = tab.url().await;
    for _ in 0..100 {
        tab.goto(&page).await;
        if tab.text("table").await.contains("delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tab.text("table").await.contains("delivered"));
    tab.screenshot("webhook").await;

    // Nothing came from anywhere but the admin listener, and nothing failed to load.
    let requested = tab.requested();
    assert!(requested.len() >= 20, "{requested:?}");
    for url in &requested {
        assert!(url.starts_with(&format!("{base}/")), "requested {url}");
    }
    assert_eq!(tab.events("Network.loadingFailed"), Vec::<Value>::new());
    // The pages carry no script: nothing ran that could log or be refused.
    assert_eq!(tab.events("Runtime.consoleAPICalled"), Vec::<Value>::new());
    assert_eq!(tab.events("Runtime.exceptionThrown"), Vec::<Value>::new());
}
