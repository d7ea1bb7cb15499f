//! The README's walk-through, run as written: its shell blocks, top to bottom, in one
//! bash session in a scratch directory, against the real binary.

// `cargo run --release --` and `cargo run -q --release --` are this build's binary, and
// every block that the README follows with its output must print that output (`…`
// stands for anything).
//
// A block right after `<!-- walkthrough: … -->` is not run by bash: `the service` is
// started here (`serve --listen 127.0.0.1:0` in the scratch directory), `the example
// API` is `protected_api::app` on a free port, and `skip` says why not. The README's
// `127.0.0.1:8080` and `127.0.0.1:8090` become the real addresses; the reuse demo's
// `sleep 11` is shortened with the grace window (1 s here).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::server_process::Server;
use crate::support::bin_command;

/// One fenced block of the README.
#[derive(Debug)]
struct Block {
    /// The line of the opening fence (1-based).
    line: usize,
    lang: String,
    text: String,
    /// What the `<!-- walkthrough: … -->` line right before it says.
    marker: Option<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((i, line)) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let mut text = String::new();
            for (_, l) in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            let marker = previous
                .strip_prefix("<!-- walkthrough:")
                .and_then(|m| m.strip_suffix("-->"))
                .map(|m| m.trim().to_string());
            out.push(Block {
                line: i + 1,
                lang: lang.trim().to_string(),
                text,
                marker,
            });
            previous = "";
            continue;
        }
        previous = line;
    }
    out
}

/// Whether `actual` is `expected` with each `…` standing for any text. Line breaks do
/// not count (curl's bodies end without one, so two answers share a line).
fn matches(expected: &str, actual: &str) -> bool {
    let flat = |s: &str| s.replace(['\r', '\n'], "");
    let (expected, actual) = (flat(expected), flat(actual));
    let parts: Vec<&str> = expected.split('…').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if parts.len() == 1 {
        return actual == expected;
    }
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn the_ellipsis_matches_anything_and_nothing_else_does() {
    assert!(matches("{\"a\":\"…\",\"b\":1}", "{\"a\":\"xyz\",\"b\":1}"));
    assert!(matches("x…", "x"));
    assert!(matches("a\n…\nb", "a\r\nzzz\r\nb"));
    assert!(!matches("{\"a\":\"…\",\"b\":1}", "{\"a\":\"xyz\",\"b\":2}"));
    assert!(!matches("abc", "abcd"));
    assert!(!matches("a…b…c", "a-c-b"));
}

/// The bash session the blocks run in, one after another, sharing variables.
struct Shell {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: BufReader<tokio::process::ChildStdout>,
}

impl Shell {
    fn start(dir: &Path, envs: &[(&str, &str)]) -> Shell {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg("--norc")
            .arg("--noprofile")
            .current_dir(dir)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("shell.err")).unwrap(),
            ))
            .kill_on_drop(true);
        for (var, _) in std::env::vars().filter(|(v, _)| v.starts_with("WIRECASH")) {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Shell {
            child,
            stdin,
            stdout,
        }
    }

    /// Runs `script` (any command failing fails it) and returns what it printed.
    async fn run(&mut self, script: &str, dir: &Path) -> Result<String, String> {
        let end = format!("<<<end of block {}>>>", uuid::Uuid::new_v4().simple());
        let wrapped = format!("set -eo pipefail\n{script}\nset +e\necho '{end}'\n");
        self.stdin.write_all(wrapped.as_bytes()).await.unwrap();
        let mut printed = String::new();
        let read = async {
            loop {
                let mut line = String::new();
                if self.stdout.read_line(&mut line).await.unwrap() == 0 {
                    return false;
                }
                printed.push_str(&line);
                if let Some(i) = printed.find(&end) {
                    printed.truncate(i);
                    return true;
                }
            }
        };
        let finished = tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .unwrap_or(false);
        if finished {
            return Ok(printed);
        }
        let errors = std::fs::read_to_string(dir.join("shell.err")).unwrap_or_default();
        let mut rest = String::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.stdout.read_to_string(&mut rest),
        )
        .await;
        let _ = self.child.start_kill();
        Err(format!(
            "the block failed or hung.\nstdout:\n{printed}{rest}\nstderr of the session:\n{errors}"
        ))
    }
}

/// The example API of the README's last part, on a free port, as `cargo run -p
/// protected-api` runs it (its JWKS from the token service at `token_service`).
async fn example_api(token_service: &str) -> String {
    let mut verifiers = Vec::new();
    for env in ["sandbox", "production"] {
        verifiers.push(
            wirecash_verify::Verifier::builder(format!("{token_service}/{env}"))
                .build()
                .unwrap(),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, protected_api::app(verifiers)).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walk_through_runs_as_written_and_every_answer_is_the_one_shown() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_wirecash-auth");
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // Cheap Argon2 (the walk-through's few logins need no OWASP cost to mean the same),
    // a 1 s grace window so the reuse demo waits 2 s instead of 11.
    let envs = [
        ("WIRECASH_AUTH_PASSWORD_HASH_MEMORY_KIB", "64"),
        ("WIRECASH_AUTH_PASSWORD_HASH_ITERATIONS", "1"),
        ("WIRECASH_AUTH_TOKENS_REFRESH_REUSE_GRACE", "1s"),
        // Tests run side by side: no fixed admin port.
        ("WIRECASH_AUTH_ADMIN_LISTEN", "127.0.0.1:0"),
        ("HOME", home.to_str().unwrap()),
        ("XDG_CACHE_HOME", ""),
        ("RUST_LOG", "warn"),
    ];
    let mut substitutions: Vec<(String, String)> = vec![
        ("cargo run -q --release --".into(), bin.into()),
        ("cargo run --release --".into(), bin.into()),
        ("sleep 11".into(), "sleep 2".into()),
    ];
    let mut shell = Shell::start(dir.path(), &envs);
    let mut server: Option<Server> = None;
    let mut ran = 0;
    let all = blocks(&readme);
    let mut used = vec![false; substitutions.len()];
    for (i, block) in all.iter().enumerate() {
        if block.lang != "sh" {
            continue;
        }
        let at = format!("README.md:{}", block.line);
        match block.marker.as_deref() {
            Some(m) if m.starts_with("skip") => continue,
            Some(m) if m.starts_with("the service") => {
                assert_eq!(block.text.trim(), "cargo run --release -- serve", "{at}");
                let mut cmd = bin_command(&envs);
                cmd.args(["serve", "--listen", "127.0.0.1:0"])
                    .current_dir(dir.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::from(
                        std::fs::File::create(dir.path().join("server.log")).unwrap(),
                    ));
                let started = crate::server_process::spawn_ready(cmd);
                let addr = started.base.trim_start_matches("http://").to_string();
                substitutions.push(("127.0.0.1:8080".into(), addr));
                used.push(true);
                server = Some(started);
                continue;
            }
            Some(m) if m.starts_with("the example API") => {
                assert_eq!(
                    block.text.trim(),
                    "cargo run --release -p protected-api",
                    "{at}"
                );
                let service = substitutions
                    .iter()
                    .find(|(from, _)| from == "127.0.0.1:8080")
                    .map(|(_, to)| format!("http://{to}"))
                    .unwrap_or_else(|| panic!("{at}: the example API before the service"));
                substitutions.push(("127.0.0.1:8090".into(), example_api(&service).await));
                used.push(true);
                continue;
            }
            Some(m) => panic!("{at}: unknown walkthrough marker {m:?}"),
            None => {}
        }
        let substitute = |text: &str, used: &mut Vec<bool>| {
            let mut text = text.to_string();
            for (k, (from, to)) in substitutions.iter().enumerate() {
                if text.contains(from.as_str()) {
                    used[k] = true;
                    text = text.replace(from.as_str(), to);
                }
            }
            text
        };
        let script = substitute(&block.text, &mut used);
        assert!(
            !script.contains("cargo "),
            "{at}: a cargo command the test cannot run; mark the block:\n{script}"
        );
        let printed = shell
            .run(&script, dir.path())
            .await
            .unwrap_or_else(|e| panic!("{at}:\n{script}\n{e}"));
        ran += 1;
        // The output the README shows: the next block, if it is one.
        let shown = all
            .get(i + 1)
            .filter(|next| ["json", "text", ""].contains(&next.lang.as_str()));
        match shown {
            Some(expected) => {
                let expected = substitute(&expected.text, &mut used);
                assert!(
                    matches(&expected, &printed),
                    "{at}: the block printed\n{printed}\nbut README.md:{} shows\n{expected}",
                    all[i + 1].line
                );
            }
            None => assert!(
                !script.contains("curl "),
                "{at}: every curl's answer is shown in the README; this one's is not"
            ),
        }
    }
    for (k, (from, _)) in substitutions.iter().enumerate() {
        assert!(
            used[k],
            "the README no longer has {from:?}: update this test"
        );
    }
    assert!(ran >= 15, "only {ran} blocks ran");
    let server = server.expect("the README starts the service");
    assert!(crate::server_process::terminate(server).success());
}
