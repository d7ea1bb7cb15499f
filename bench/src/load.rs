//! The two load loops: a refresh chain (authenticate once, before the clock starts,
//! then spend each new refresh token exactly once) and an authenticate loop. Each loop
//! owns one connection and records only requests that started inside the measured
//! window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout};
use wirecash_proto::{AuthenticateRequest, AuthenticateResponse, ErrorBody, RefreshTokenRequest};

use crate::conn::Conn;
use crate::stats::{Record, count, record};

/// After a transport failure or a failed authenticate, wait this long before trying
/// again, so a dead server is not hammered in a tight loop.
const BACKOFF: Duration = Duration::from_millis(50);

/// What every loop shares.
pub struct Plan {
    /// Requests that start before this are warm-up and not recorded.
    pub measure_start: Instant,
    /// No request starts at or after this.
    pub end: Instant,
    /// Give up on one request after this long (counted as `timeout`).
    pub request_timeout: Duration,
    /// `/{env}/authenticate` under `--url`.
    pub authenticate_path: String,
    /// `/{env}/token` under `--url`.
    pub token_path: String,
    /// The bench users' names; loop `i` uses `users[i % users.len()]`.
    pub users: Vec<String>,
    /// The password every bench user has.
    pub password: String,
    /// Refresh chains that hold a session (each counted once, at its first login).
    pub chains_started: AtomicUsize,
    /// Refresh chains in the run; the login flood waits for all of them to start.
    pub chains: usize,
    /// An interleaved flood's phase length: from the window's start, phases cycle
    /// through no flood, the control flood and the hashing flood.
    pub phase: Option<Duration>,
    /// Refresh chains present every refresh a second time (a grace replay).
    pub replay: bool,
}

impl Plan {
    /// The flood phase at `t`: `QUIET` before the window and then in turn `QUIET`,
    /// `CONTROL`, `HASHING`.
    pub fn phase_of(&self, t: Instant) -> usize {
        let (Some(phase), Some(since)) = (self.phase, t.checked_duration_since(self.measure_start))
        else {
            return QUIET;
        };
        let n = since.as_nanos() / phase.as_nanos().max(1);
        usize::try_from(n % 3).unwrap_or(QUIET)
    }

    /// When the phase that `t` is in ends.
    fn phase_end(&self, t: Instant) -> Instant {
        let Some(phase) = self.phase else {
            return self.end;
        };
        match t.checked_duration_since(self.measure_start) {
            None => self.measure_start,
            Some(since) => {
                let n = since.as_nanos() / phase.as_nanos().max(1);
                let n = u32::try_from(n + 1).unwrap_or(u32::MAX);
                (self.measure_start + phase.saturating_mul(n)).min(self.end)
            }
        }
    }

    /// Waits until every refresh chain holds a session, or until the window opens if
    /// some never do. A flood that began at once would take the chains' own first
    /// logins with it (they too get 503 while the hash queue is full), and the run
    /// would measure a handful of chains instead of a flood beside running sessions.
    async fn flood_may_start(&self) {
        while self.chains_started.load(Ordering::Acquire) < self.chains {
            if Instant::now() >= self.measure_start {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Phases of the interleaved flood: none, malformed logins, wrong-password logins.
pub const QUIET: usize = 0;
/// See [`QUIET`].
pub const CONTROL: usize = 1;
/// See [`QUIET`].
pub const HASHING: usize = 2;

/// Why a request did not yield tokens, with detail for the first occurrence.
struct Failure {
    cause: String,
    detail: String,
    /// The connection is unusable or the server unreachable: back off.
    transport: bool,
}

/// Posts `body` and reads a token response out of a 200.
async fn grant(
    conn: &mut Conn,
    plan: &Plan,
    path: &str,
    body: Vec<u8>,
) -> Result<AuthenticateResponse, Failure> {
    let reply = match timeout(plan.request_timeout, conn.post(path, body)).await {
        Err(_) => {
            // The request is abandoned half-way: the connection cannot be reused.
            conn.reset();
            return Err(Failure {
                cause: "timeout".into(),
                detail: format!("no answer within {:?}", plan.request_timeout),
                transport: true,
            });
        }
        Ok(Err(e)) => {
            return Err(Failure {
                cause: "transport".into(),
                detail: format!("{e:#}"),
                transport: true,
            });
        }
        Ok(Ok(reply)) => reply,
    };
    if reply.status != 200 {
        let code = serde_json::from_slice::<ErrorBody>(&reply.body)
            .map(|b| b.error)
            .unwrap_or_else(|_| "?".into());
        return Err(Failure {
            cause: format!("http {} {code}", reply.status),
            detail: String::from_utf8_lossy(&reply.body)
                .chars()
                .take(300)
                .collect(),
            transport: false,
        });
    }
    serde_json::from_slice::<AuthenticateResponse>(&reply.body).map_err(|e| Failure {
        cause: "bad 200 body".into(),
        detail: format!("{e}: {}", String::from_utf8_lossy(&reply.body)),
        transport: false,
    })
}

fn note(rec: &mut Record, into_reauth: bool, f: &Failure) {
    let map = if into_reauth {
        &mut rec.reauth_errors
    } else {
        &mut rec.errors
    };
    count(map, f.cause.clone());
    rec.details
        .entry(f.cause.clone())
        .or_insert_with(|| f.detail.clone());
}

async fn back_off(plan: &Plan) {
    sleep_until((Instant::now() + BACKOFF).min(plan.end)).await;
}

async fn authenticate(
    conn: &mut Conn,
    plan: &Plan,
    user: &str,
) -> Result<AuthenticateResponse, Failure> {
    let req = AuthenticateRequest {
        username: user.to_owned(),
        password: plan.password.clone(),
    };
    let body = serde_json::to_vec(&req).map_err(|e| Failure {
        cause: "encode".into(),
        detail: e.to_string(),
        transport: false,
    })?;
    grant(conn, plan, &plan.authenticate_path, body).await
}

/// A refresh chain: refresh with the tokens of its first login (taken before the clock
/// started, see [`first_logins`]), then with the tokens just received, for as long as
/// the run lasts. Any failed refresh drops the session and re-authenticates, since its
/// refresh token may already be spent.
pub async fn refresh_chain(
    id: usize,
    mut conn: Conn,
    plan: Arc<Plan>,
    first: AuthenticateResponse,
) -> anyhow::Result<Record> {
    let mut rec = Record::new()?;
    let user = &plan.users[id % plan.users.len()];
    plan.chains_started.fetch_add(1, Ordering::AcqRel);
    let mut tokens = Some(first);
    loop {
        let t0 = Instant::now();
        if t0 >= plan.end {
            break;
        }
        let measured = t0 >= plan.measure_start;
        match tokens.take() {
            None => match authenticate(&mut conn, &plan, user).await {
                Ok(t) => {
                    if measured {
                        record(&mut rec.reauth, t0.elapsed());
                    }
                    tokens = Some(t);
                }
                Err(f) => {
                    if measured {
                        note(&mut rec, true, &f);
                    }
                    back_off(&plan).await;
                }
            },
            Some(t) => {
                let req = RefreshTokenRequest {
                    username: user.clone(),
                    access_token: t.access_token,
                    refresh_token: t.refresh_token,
                };
                let body = serde_json::to_vec(&req)?;
                let again = plan.replay.then(|| body.clone());
                match grant(&mut conn, &plan, &plan.token_path, body).await {
                    Ok(next) => {
                        if measured {
                            let took = t0.elapsed();
                            record(&mut rec.ok, took);
                            if plan.phase.is_some() {
                                record(&mut rec.by_phase[plan.phase_of(t0)], took);
                            }
                        }
                        if let Some(body) = again {
                            replay(&mut conn, &plan, &mut rec, body, &next).await;
                        }
                        tokens = Some(next);
                    }
                    Err(f) => {
                        if measured {
                            note(&mut rec, false, &f);
                        }
                        if f.transport {
                            back_off(&plan).await;
                        }
                    }
                }
            }
        }
    }
    Ok(rec)
}

/// A grace replay of the refresh just answered: the same request again must get the same
/// successor. Counted like a refresh (a different answer counts as a failure).
async fn replay(
    conn: &mut Conn,
    plan: &Plan,
    rec: &mut Record,
    body: Vec<u8>,
    expected: &AuthenticateResponse,
) {
    let t0 = Instant::now();
    if t0 >= plan.end {
        return;
    }
    let measured = t0 >= plan.measure_start;
    match grant(conn, plan, &plan.token_path, body).await {
        Ok(same) if same.refresh_token == expected.refresh_token => {
            if measured {
                record(&mut rec.ok, t0.elapsed());
            }
        }
        Ok(_) => {
            if measured {
                note(
                    rec,
                    false,
                    &Failure {
                        cause: "replay_other_successor".into(),
                        detail: "a grace replay was answered with another successor".into(),
                        transport: false,
                    },
                );
            }
        }
        Err(f) => {
            if measured {
                note(rec, false, &f);
            }
        }
    }
}

/// An authenticate loop: one password login after another.
pub async fn authenticate_loop(
    id: usize,
    mut conn: Conn,
    plan: Arc<Plan>,
) -> anyhow::Result<Record> {
    let mut rec = Record::new()?;
    let user = &plan.users[id % plan.users.len()];
    loop {
        let t0 = Instant::now();
        if t0 >= plan.end {
            break;
        }
        let measured = t0 >= plan.measure_start;
        match authenticate(&mut conn, &plan, user).await {
            Ok(_) => {
                if measured {
                    record(&mut rec.ok, t0.elapsed());
                }
            }
            Err(f) => {
                if measured {
                    note(&mut rec, false, &f);
                }
                if f.transport {
                    back_off(&plan).await;
                }
            }
        }
    }
    Ok(rec)
}

/// A login-flood loop: one wrong-password authenticate after another (each costs the
/// server a full Argon2 verification), from the moment every refresh chain holds a
/// session. Returns the answers seen inside the window, by cause (`http 400
/// invalid_grant`, `http 503 temporarily_unavailable` when the hash queue is full, …).
pub async fn flood_loop(
    id: usize,
    mut conn: Conn,
    plan: Arc<Plan>,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut answers = BTreeMap::new();
    let req = AuthenticateRequest {
        username: plan.users[id % plan.users.len()].clone(),
        password: format!("{}-wrong", plan.password),
    };
    let body = serde_json::to_vec(&req)?;
    plan.flood_may_start().await;
    loop {
        let t0 = Instant::now();
        if t0 >= plan.end {
            break;
        }
        let result = grant(&mut conn, &plan, &plan.authenticate_path, body.clone()).await;
        if t0 >= plan.measure_start {
            let cause = match &result {
                Ok(_) => "http 200 (a wrong password was accepted!)".to_string(),
                Err(f) => f.cause.clone(),
            };
            count(&mut answers, cause);
        }
        if let Err(f) = result
            && f.transport
        {
            back_off(&plan).await;
        }
    }
    Ok(answers)
}

/// A loop of the interleaved flood: one login after another, each on a connection of
/// its own from the next of `sources`, never reusing one (so no per-connection hold
/// applies) and from many addresses (so no single address's limit cuts it). Quiet
/// phases send nothing; control phases a malformed login that the server refuses
/// before any hashing (`{"username"}` alone: 400 `invalid_request`); hashing phases a
/// wrong password for a username of its own (a full Argon2 check, `400 invalid_grant`).
/// Same shape, same connections; only the hashing differs. Returns the answers by
/// phase and cause.
pub async fn interleaved_flood_loop(
    id: usize,
    server: std::net::SocketAddr,
    sources: Arc<Vec<std::net::IpAddr>>,
    plan: Arc<Plan>,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut answers = BTreeMap::new();
    plan.flood_may_start().await;
    let mut n = id;
    loop {
        let t0 = Instant::now();
        if t0 >= plan.end {
            break;
        }
        let phase = plan.phase_of(t0);
        if phase == QUIET {
            sleep_until(plan.phase_end(t0)).await;
            continue;
        }
        let username = format!("flood-{id}-{n}");
        let body = if phase == CONTROL {
            serde_json::json!({ "username": username })
        } else {
            serde_json::json!({ "username": username, "password": "wrong password" })
        };
        let source = sources[n % sources.len()];
        n += 1;
        let result = timeout(
            plan.request_timeout,
            crate::conn::post_fresh(
                server,
                source,
                &plan.authenticate_path,
                serde_json::to_vec(&body)?,
            ),
        )
        .await;
        if t0 < plan.measure_start {
            continue;
        }
        let kind = if phase == CONTROL {
            "control"
        } else {
            "hashing"
        };
        let cause = match result {
            Err(_) => "timeout".to_string(),
            Ok(Err(_)) => "transport".to_string(),
            Ok(Ok(reply)) => {
                let code = serde_json::from_slice::<ErrorBody>(&reply.body)
                    .map(|b| b.error)
                    .unwrap_or_else(|_| "?".into());
                format!("http {} {code}", reply.status)
            }
        };
        let transport = cause == "timeout" || cause == "transport";
        count(&mut answers, format!("{kind}: {cause}"));
        if transport {
            back_off(&plan).await;
        }
    }
    Ok(answers)
}

/// Every refresh chain's first login, taken before the clock starts and all at once, as
/// the chains would take them: `conns[i]` logs in as chain `i`'s user. The measured window
/// then holds refreshes only. (Taken inside the warm-up instead, the 64 logins' Argon2
/// work outlasted a 2 s warm-up on a slow box and was counted as refresh work, a little
/// more or less from one run to the next.) A login that fails, e.g. with 503 while the
/// server's hash queue is full, is tried again until `deadline`.
pub async fn first_logins(
    conns: Vec<Conn>,
    plan: Arc<Plan>,
    deadline: Instant,
) -> anyhow::Result<Vec<(Conn, AuthenticateResponse)>> {
    let mut logins = tokio::task::JoinSet::new();
    for (id, mut conn) in conns.into_iter().enumerate() {
        let plan = Arc::clone(&plan);
        logins.spawn(async move {
            let user = &plan.users[id % plan.users.len()];
            loop {
                match authenticate(&mut conn, &plan, user).await {
                    Ok(tokens) => return Ok((id, conn, tokens)),
                    Err(_) if Instant::now() + BACKOFF < deadline => {
                        tokio::time::sleep(BACKOFF).await;
                    }
                    Err(f) => {
                        anyhow::bail!(
                            "chain {id} could not log in as {user:?}: {}: {}",
                            f.cause,
                            f.detail
                        )
                    }
                }
            }
        });
    }
    let mut done = Vec::new();
    while let Some(login) = logins.join_next().await {
        done.push(login??);
    }
    done.sort_by_key(|(id, _, _)| *id);
    Ok(done
        .into_iter()
        .map(|(_, conn, tokens)| (conn, tokens))
        .collect())
}

/// One authenticate before the clock starts, so wrong credentials or a wrong URL fail
/// at once with the server's own words instead of as a run full of errors.
pub async fn preflight(mut conn: Conn, plan: &Plan) -> anyhow::Result<()> {
    let user = plan.users.first().map_or("", String::as_str);
    authenticate(&mut conn, plan, user)
        .await
        .map(drop)
        .map_err(|f| anyhow::anyhow!("authenticate as {user:?} failed: {}: {}", f.cause, f.detail))
}
