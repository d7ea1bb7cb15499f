//! schemathesis (PyPI) against the live `/openapi.json` of the real binary: generated
//! valid and invalid requests for every operation, and request chains along the
//! documented links (authenticate → refresh → refresh …).

// Fails on any 5xx, any status the document does not list, any body, header or content
// type that does not match it, and any schema-violating request that is not refused.
// The pinned schemathesis is installed once into a virtualenv under the cargo target
// directory.

use std::time::{Duration, Instant};

use crate::server_process::start_node;
use crate::support::ScratchDb;

const VERSION: &str = "4.32.5";

/// The example credentials of the published pages and the OpenAPI document, also in the dictionaries of
/// tests/schemathesis/schemathesis.toml: with a user that has them, the examples phase
/// gets real 200 answers to check, and the stateful phase real tokens to follow the
/// links with.
const EXAMPLE_USERNAME: &str = "YOUR USERNAME";
const EXAMPLE_PASSWORD: &str = "YOUR PASSWORD";

/// `A` and `B` of a report line `label  A first / B second`.
fn counts(report: &str, label: &str, first: &str, second: &str) -> (u32, u32) {
    let line = report
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in the report:\n{report}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    // e.g. ["2", "covered", "/", "2", "selected", "/", "2", "total"]
    match words.as_slice() {
        [a, w1, "/", b, w2, ..] if *w1 == first && *w2 == second => {
            (a.parse().unwrap(), b.parse().unwrap())
        }
        _ => panic!("unexpected {label} line: {line}"),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let requirement = format!("schemathesis=={VERSION}");
    let python =
        crate::support::python_venv(&format!("py-schemathesis-{VERSION}"), &[&requirement])
            .await
            .join("bin/python");
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    db.init();
    // "YOUR USERNAME" has a space, which `user add` refuses today: a user of an
    // installation from before that rule, written into the store directly.
    for env in ["sandbox", "production"] {
        db.add_legacy_user(env, EXAMPLE_USERNAME, EXAMPLE_PASSWORD)
            .await;
    }
    // Lockout off (rate limits are off in every test server): thousands of wrong logins
    // from one address would otherwise turn most answers into 429s.
    let server = start_node(
        &dir.path().join("server.log"),
        &db,
        &[],
        &[
            ("WIRECASH_AUTH_SECURITY_LOGIN_MAX_FAILURES", "0"),
            ("WIRECASH_AUTH_SECURITY_ADDRESS_MAX_FAILURES", "0"),
        ],
    );
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/schemathesis/schemathesis.toml"
    );
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.args([
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        config,
        "run",
    ])
    .arg(format!("{}/openapi.json", server.base))
    // Every check but `positive_data_acceptance`: a schema-valid body with made-up
    // credentials or tokens is rightly refused (400), which that check counts as a
    // failure.
    .args([
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
    ])
    .args([
        "--max-examples",
        &env_or("WIRECASH_SCHEMATHESIS_EXAMPLES", "60"),
    ])
    .args(["--seed", &env_or("WIRECASH_SCHEMATHESIS_SEED", "20261126")])
    .args(["--request-timeout", "10"])
    .current_dir(dir.path()) // its .hypothesis cache
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .expect("schemathesis did not finish within 240 s")
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("schemathesis ran {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // It really tested: every operation, and real tokens along both links.
    let (selected, total) = counts(&report, "Operations:", "selected", "total");
    assert!(selected == total && total >= 7, "{report}");
    let (covered, links) = counts(&report, "API Links:", "covered", "selected");
    assert!(covered == links && links >= 2, "{report}");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    for event in [
        "event=\"refresh\"",
        "event=\"refresh_replayed\"",
        "event=\"login_ok\"",
    ] {
        assert!(log.contains(event), "no {event} in the server log");
    }
    assert!(
        !log.contains(EXAMPLE_PASSWORD),
        "the password reached the server log"
    );
}
