//! `GET /metrics` of the real binary (the metrics recorder is process-global, so
//! in-process apps would share their counters).

// The exposition parses, every metric has its declared type, and counters move by
// exactly what a refresh, a reuse detection and a lockout add. Route labels are
// templates, never raw paths.

use std::collections::BTreeMap;

use serde_json::json;

use crate::server_process::{Server, post, start_node};
use crate::support::{ScratchDb, Tokens, add_user_cli};

/// One sample: metric name and labels (sorted).
type Series = (String, BTreeMap<String, String>);

/// A parsed text exposition (format 0.0.4).
#[derive(Debug, Default)]
pub struct Exposition {
    /// `# TYPE` of each metric family.
    pub types: BTreeMap<String, String>,
    pub samples: BTreeMap<Series, f64>,
}

impl Exposition {
    /// Parses the text; panics on anything that is not the format.
    pub fn parse(text: &str) -> Exposition {
        let mut e = Exposition::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
                assert!(
                    e.types.insert(name.into(), kind.into()).is_none(),
                    "two TYPE lines for {name}"
                );
                continue;
            }
            if line.starts_with('#') {
                assert!(line.starts_with("# HELP "), "unknown comment: {line}");
                continue;
            }
            let (series, value) = sample(line);
            assert!(
                e.samples.insert(series, value).is_none(),
                "duplicate sample: {line}"
            );
        }
        e
    }

    /// The value of `name` with exactly `labels` (0 if absent).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .get(&(name.to_string(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// Sum over every series of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|((n, l), _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

/// `name{k="v",…} value [timestamp]`, with the format's escapes in label values.
fn sample(line: &str) -> (Series, f64) {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name in {line}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let end = loop {
            // key
            let (start, c) = chars
                .next()
                .unwrap_or_else(|| panic!("open labels: {line}"));
            if c == '}' {
                break start + 1;
            }
            let mut key = String::from(c);
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars
                    .next()
                    .unwrap_or_else(|| panic!("open value: {line}"))
                    .1
                {
                    '"' => break,
                    '\\' => match chars.next().unwrap().1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => panic!("bad escape \\{c} in {line}"),
                    },
                    c => value.push(c),
                }
            }
            assert!(labels.insert(key, value).is_none(), "{line}");
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => break i + 1,
                other => panic!("unexpected {other:?} in {line}"),
            }
        };
        rest = &body[end..];
    }
    let mut fields = rest.split_whitespace();
    let value = match fields.next().unwrap_or_else(|| panic!("no value: {line}")) {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .unwrap_or_else(|_| panic!("bad timestamp in {line}"));
    }
    assert!(fields.next().is_none(), "{line}");
    ((name.to_string(), labels), value)
}

pub async fn scrape(client: &reqwest::Client, server: &Server) -> Exposition {
    scrape_base(client, &server.base).await
}

/// `GET {base}/metrics`, checked and parsed.
pub async fn scrape_base(client: &reqwest::Client, base: &str) -> Exposition {
    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    Exposition::parse(&r.text().await.unwrap())
}

#[test]
fn the_parser_reads_escapes_braces_and_refuses_garbage() {
    let e = Exposition::parse(
        "# HELP x_total help\n# TYPE x_total counter\n\
         x_total{route=\"/{env}/token\",q=\"a\\\"b\\\\c\"} 3\nx_total 1 1700000000000\n\
         # TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\n",
    );
    assert_eq!(
        e.get("x_total", &[("q", "a\"b\\c"), ("route", "/{env}/token")]),
        3.0
    );
    assert_eq!(e.get("x_total", &[]), 1.0);
    assert_eq!(e.get("h_bucket", &[("le", "+Inf")]), 2.0);
    assert_eq!(e.types["h"], "histogram");
    for bad in [
        "x{a=\"1\" 2",
        "x{a=1} 2",
        "x 1 2 3",
        "x{a=\"1\"} nope",
        "# TYPE x bogus",
    ] {
        assert!(
            std::panic::catch_unwind(|| Exposition::parse(bad)).is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn counters_move_with_refresh_reuse_and_lockout() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let password = "a long enough password";
    db.init();
    add_user_cli(&db, "alice", &format!("{password}\n"));
    // Grace 0: a spent token presented again is a reuse at once. Lockout at its defaults
    // (10 failures per username).
    let server = start_node(
        &dir.path().join("server.log"),
        &db,
        &[],
        &[("WIRECASH_AUTH_TOKENS_REFRESH_REUSE_GRACE", "0s")],
    );
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    let before = scrape(&client, &server).await;

    // One login, one rotation, one reuse of the spent token, then its successor refused.
    let t0 = post(
        &client,
        url("/sandbox/authenticate"),
        json!({"username": "alice", "password": password}),
    )
    .await
    .unwrap()
    .tokens();
    let refresh = |t: &Tokens| {
        post(
            &client,
            url("/sandbox/token"),
            json!({"username": "alice", "access_token": t.access_token, "refresh_token": t.refresh_token}),
        )
    };
    let t1 = refresh(&t0).await.unwrap().tokens();
    let reuse = refresh(&t0).await.unwrap();
    assert_eq!(reuse.status, 400);
    let after_revoke = refresh(&t1).await.unwrap();
    assert_eq!(after_revoke.status, 400);
    // A garbage refresh token: refused before any lookup.
    let garbage = post(
        &client,
        url("/sandbox/token"),
        json!({"username": "alice", "access_token": "x", "refresh_token": "not-a-token"}),
    )
    .await
    .unwrap();
    assert_eq!(garbage.status, 400);

    // Ten wrong passwords lock the username; the eleventh attempt is refused as locked.
    for _ in 0..10 {
        let a = post(
            &client,
            url("/sandbox/authenticate"),
            json!({"username": "mallory", "password": "guess"}),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 400);
    }
    let locked = post(
        &client,
        url("/sandbox/authenticate"),
        json!({"username": "mallory", "password": "guess"}),
    )
    .await
    .unwrap();
    assert_eq!(locked.status, 429);

    // A path no route has: counted as `unmatched`, the path itself appears nowhere.
    let r = client
        .get(url("/sandbox/secret-looking-path"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let text = client
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("secret-looking-path"));
    for secret in [password, &t0.refresh_token, &t1.refresh_token, "mallory"] {
        assert!(!text.contains(secret));
    }
    let after = Exposition::parse(&text);
    let delta =
        |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);

    let refreshes = "wirecash_refreshes_total";
    assert_eq!(delta(refreshes, &[("outcome", "rotated")]), 1.0);
    assert_eq!(delta(refreshes, &[("outcome", "reuse_detected")]), 1.0);
    assert_eq!(delta(refreshes, &[("outcome", "grace_replay")]), 0.0);
    assert_eq!(delta(refreshes, &[("outcome", "refused")]), 2.0);
    assert_eq!(delta(refreshes, &[("outcome", "error")]), 0.0);
    let refusals = "wirecash_refresh_refusals_total";
    assert_eq!(delta(refusals, &[("reason", "revoked")]), 1.0);
    assert_eq!(delta(refusals, &[("reason", "invalid_token")]), 1.0);
    assert_eq!(delta(refusals, &[("reason", "mismatch")]), 0.0);

    let logins = "wirecash_logins_total";
    assert_eq!(delta(logins, &[("outcome", "ok")]), 1.0);
    assert_eq!(delta(logins, &[("outcome", "failed")]), 10.0);
    assert_eq!(delta(logins, &[("outcome", "locked")]), 1.0);
    assert_eq!(delta(logins, &[("outcome", "error")]), 0.0);
    assert_eq!(
        delta("wirecash_lockouts_total", &[("kind", "username")]),
        1.0
    );
    assert_eq!(
        delta("wirecash_lockouts_total", &[("kind", "address")]),
        0.0
    );

    // By route template and status: 4 refresh requests, 12 logins.
    let requests = "wirecash_http_requests_total";
    let token = [("method", "POST"), ("route", "/{env}/token")];
    assert_eq!(
        delta(requests, &[token[0], token[1], ("status", "200")]),
        1.0
    );
    assert_eq!(
        delta(requests, &[token[0], token[1], ("status", "400")]),
        3.0
    );
    let auth = [("method", "POST"), ("route", "/{env}/authenticate")];
    assert_eq!(
        delta(requests, &[auth[0], auth[1], ("status", "400")]),
        10.0
    );
    assert_eq!(delta(requests, &[auth[0], auth[1], ("status", "429")]), 1.0);
    assert_eq!(
        delta(
            requests,
            &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    let latency = "wirecash_http_request_duration_seconds_count";
    assert_eq!(delta(latency, &token), 4.0);
    assert_eq!(delta(latency, &auth), 12.0);
    // Histogram buckets are cumulative and end in +Inf = count.
    assert_eq!(
        after.get(
            "wirecash_http_request_duration_seconds_bucket",
            &[token[0], token[1], ("le", "+Inf")]
        ),
        after.get(latency, &token)
    );

    // The Argon2 pool: 11 checks (the locked attempt checks no password), all waited for
    // and timed; nothing left in the queue, nothing refused.
    assert_eq!(
        delta("wirecash_password_hash_wait_seconds_count", &[]),
        11.0
    );
    assert_eq!(
        delta(
            "wirecash_password_hash_duration_seconds_count",
            &[("operation", "verify")]
        ),
        11.0
    );
    assert_eq!(after.get("wirecash_password_hash_queue_depth", &[]), 0.0);
    assert_eq!(delta("wirecash_password_hash_rejected_total", &[]), 0.0);

    // Store latency per operation: the one-statement refresh and the reads behind reuse.
    let store = "wirecash_store_operation_duration_seconds_count";
    assert_eq!(delta(store, &[("operation", "create_session")]), 1.0);
    assert!(delta(store, &[("operation", "rotate_guarded")]) >= 1.0);
    assert!(delta(store, &[("operation", "load_session")]) >= 2.0);
    assert_eq!(delta(store, &[("operation", "revoke_session")]), 1.0);
    // Failed-login counters: every login reserved first (11 admitted, 1 refused), then
    // settled as a failure (10); the success settles in create_session's commit.
    assert_eq!(delta(store, &[("operation", "update_login_guards")]), 22.0);
    assert_eq!(after.sum("wirecash_store_errors_total", &[]), 0.0);

    // Every family has its declared type.
    for (name, kind) in [
        ("wirecash_http_requests_total", "counter"),
        ("wirecash_http_request_duration_seconds", "histogram"),
        ("wirecash_http_requests_held_total", "counter"),
        ("wirecash_logins_total", "counter"),
        ("wirecash_lockouts_total", "counter"),
        ("wirecash_refreshes_total", "counter"),
        ("wirecash_refresh_refusals_total", "counter"),
        ("wirecash_access_tokens_signed_total", "counter"),
        ("wirecash_password_hash_queue_depth", "gauge"),
        ("wirecash_password_hash_wait_seconds", "histogram"),
        ("wirecash_password_hash_duration_seconds", "histogram"),
        ("wirecash_password_hash_rejected_total", "counter"),
        ("wirecash_store_operation_duration_seconds", "histogram"),
        ("wirecash_build_info", "gauge"),
    ] {
        assert_eq!(
            after.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }
    // …and nothing outside the documented families (docs/metrics.md).
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .unwrap();
    for name in after.types.keys() {
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is not documented"
        );
    }
}

/// Every request signs at most one access token (issue 16 item 8): a login and a rotation
/// one each; a grace replay on the node that rotated none (it answers the stored token);
/// refreshes refused before minting none; a burst of refreshes of one pair (one rotates,
/// the rest are replays, some of which may have tried the one-statement path) one each
/// at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_signs_at_most_one_access_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create(dir.path()).await;
    let password = "a long enough password";
    db.init();
    add_user_cli(&db, "alice", &format!("{password}\n"));
    add_user_cli(&db, "bob", &format!("{password}\n"));
    let server = start_node(&dir.path().join("server.log"), &db, &[], &[]);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    let signed = |e: &Exposition| e.get("wirecash_access_tokens_signed_total", &[]);
    let login = |user: &'static str| {
        post(
            &client,
            url("/sandbox/authenticate"),
            json!({"username": user, "password": password}),
        )
    };
    let refresh = |user: &str, access: &str, refresh: &str| {
        post(
            &client,
            url("/sandbox/token"),
            json!({"username": user, "access_token": access, "refresh_token": refresh}),
        )
    };

    let s0 = signed(&scrape(&client, &server).await);
    let a0 = login("alice").await.unwrap().tokens();
    let b0 = login("bob").await.unwrap().tokens();
    let s1 = signed(&scrape(&client, &server).await);
    assert_eq!(s1 - s0, 2.0, "one signature per login");

    let a1 = refresh("alice", &a0.access_token, &a0.refresh_token)
        .await
        .unwrap()
        .tokens();
    let s2 = signed(&scrape(&client, &server).await);
    assert_eq!(s2 - s1, 1.0, "one signature per rotation");

    // The previous pair again, within the grace: the same successor, from storage.
    let replay = refresh("alice", &a0.access_token, &a0.refresh_token)
        .await
        .unwrap()
        .tokens();
    assert_eq!(replay.refresh_token, a1.refresh_token);
    assert_eq!(replay.access_token, a1.access_token);
    let s3 = signed(&scrape(&client, &server).await);
    assert_eq!(
        s3 - s2,
        0.0,
        "a replay of a pair this node rotated away signs nothing"
    );

    // Refused before the one-statement path could mint: another user's access token, the
    // wrong username.
    let foreign = refresh("alice", &b0.access_token, &a1.refresh_token)
        .await
        .unwrap();
    assert_eq!(foreign.status, 400);
    let wrong_name = refresh("bob", &a1.access_token, &a1.refresh_token)
        .await
        .unwrap();
    assert_eq!(wrong_name.status, 400);
    let s4 = signed(&scrape(&client, &server).await);
    assert_eq!(s4 - s3, 0.0, "a refused refresh signs nothing");

    // Eight refreshes of one pair at once: each signs at most one token, and the one
    // that rotates signs the token every answer carries.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url) = (client.clone(), url("/sandbox/token"));
        let body = json!({"username": "alice", "access_token": a1.access_token, "refresh_token": a1.refresh_token});
        burst.spawn(async move { post(&client, url, body).await });
    }
    let mut issued = std::collections::BTreeSet::new();
    while let Some(a) = burst.join_next().await {
        issued.insert(a.unwrap().unwrap().tokens().access_token);
    }
    assert_eq!(
        issued.len(),
        1,
        "every answer of the burst is the same successor"
    );
    let s5 = signed(&scrape(&client, &server).await);
    assert!(
        (1.0..=8.0).contains(&(s5 - s4)),
        "8 refreshes signed {} tokens",
        s5 - s4
    );
}
