//! Login timing reveals nothing about whether a username exists, also after the
//! `[password_hash]` parameters changed while stored hashes keep their old ones (SPEC
//! §2, §10).

// Measured as a client would: wrong-password logins for a real user against those for
// unknown names, interleaved.

use std::time::{Duration, Instant};

use crate::support::TestApp;

/// Rounds measured. A round is three failed logins for an existing user and three for
/// unknown names, alternating, and compares the fastest of each kind: the fastest of
/// three is what a check costs when nothing else got in its way, so a burst of load
/// from tests running alongside moves it little; and load that lasts the whole round
/// moves both kinds alike.
const ROUNDS: usize = 15;

/// Users are created with `created` (memory KiB, iterations); the server then runs with
/// `serving`. Returns the median, over rounds, of (existing-user time / unknown-name
/// time) of a failed login, and the two medians for the message.
async fn ratio(created: (u32, u32), serving: (u32, u32)) -> (f64, Duration, Duration) {
    let app = TestApp::spawn_with(|c| {
        c.security.login_max_failures = 0;
        c.security.address_max_failures = 0;
        c.security.username_max_failures = 0;
        c.password_hash.memory_kib = created.0;
        c.password_hash.iterations = created.1;
    })
    .await;
    for i in 0..3 {
        app.add_user("sandbox", &format!("dormant{i}")).await;
    }
    let app = app
        .restart_with(|c| {
            c.password_hash.memory_kib = serving.0;
            c.password_hash.iterations = serving.1;
        })
        .await;
    let time = async |name: &str| {
        let started = Instant::now();
        let a = app
            .authenticate_raw("sandbox", name, "wrong password")
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
        started.elapsed()
    };
    // The first pair warms connections and caches up.
    time("dormant0").await;
    time("nobody").await;
    let (mut ratios, mut existing, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let (mut e, mut u) = (Duration::MAX, Duration::MAX);
        for j in 0..3 {
            let existing_first = (i + j) % 2 == 0;
            for kind in [existing_first, !existing_first] {
                if kind {
                    e = e.min(time(&format!("dormant{}", (i + j) % 3)).await);
                } else {
                    u = u.min(time(&format!("nobody{i}-{j}")).await);
                }
            }
        }
        ratios.push(e.as_secs_f64() / u.as_secs_f64());
        existing.push(e);
        unknown.push(u);
    }
    ratios.sort_by(f64::total_cmp);
    (ratios[ROUNDS / 2], median(existing), median(unknown))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Before the timing defence the ratio was about 0.25 (raised) and 4 (lowered).
fn assert_alike((ratio, existing, unknown): (f64, Duration, Duration), what: &str) {
    assert!(
        (0.6..=1.67).contains(&ratio),
        "{what}: a wrong password takes {existing:?} (median of the fastest) for an \
         existing user and {unknown:?} for an unknown name; median ratio {ratio:.2}"
    );
}

#[tokio::test]
async fn failed_logins_take_as_long_for_dormant_users_as_for_unknown_names_after_a_raise() {
    // Users made with the defaults, the server then at stronger parameters.
    assert_alike(ratio((19_456, 2), (47_104, 3)).await, "parameters raised");
}

#[tokio::test]
async fn failed_logins_take_as_long_for_dormant_users_as_for_unknown_names_after_a_cut() {
    assert_alike(ratio((47_104, 3), (19_456, 2)).await, "parameters lowered");
}
