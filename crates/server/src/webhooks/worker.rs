//! The node's delivery work: a dispatcher that turns committed events into deliveries,
//! and a sender per subscription — so that a slow or dead endpoint only ever holds up
//! its own deliveries, at most `max_in_flight` at a time, behind its own circuit breaker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::{AbortHandle, JoinSet};
use wirecash_core::AuthService;
use wirecash_core::clock::millis;
use wirecash_core::store::{DeliveryJob, DeliveryOutcome};

use super::{
    ATTEMPT_TIMEOUT, MAX_RESPONSE, RETRY_WINDOW, Settings, backoff, body, egress, open, sign,
};

/// How often idle loops look for work.
const POLL: Duration = Duration::from_millis(250);
/// How often the list of subscriptions is read.
const RESCAN: Duration = Duration::from_secs(2);
/// A lease outlasts an attempt (resolution, connection, the 10 s deadline).
const LEASE: Duration = Duration::from_secs(60);
/// Events dispatched per transaction.
const DISPATCH_BATCH: u32 = 200;
/// Failed attempts in a row that open a subscription's breaker.
const BREAKER_AFTER: u32 = 5;
/// The breaker's first pause; each next one doubles, up to `BREAKER_MAX`.
const BREAKER_FIRST: Duration = Duration::from_secs(30);
/// Its longest pause.
const BREAKER_MAX: Duration = Duration::from_secs(600);

/// Runs until aborted: the dispatcher and one sender per active subscription (started
/// and stopped as subscriptions come, go, pause and resume).
pub async fn run(service: Arc<AuthService>, settings: Settings) {
    let settings = Arc::new(settings);
    let mut tasks = JoinSet::new();
    tasks.spawn(dispatch(Arc::clone(&service)));
    let mut senders: HashMap<String, AbortHandle> = HashMap::new();
    let mut tick = tokio::time::interval(RESCAN);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let webhooks = match service.admin().store.list_webhooks().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "reading webhook subscriptions failed");
                continue;
            }
        };
        senders.retain(|id, handle| {
            let keep = !handle.is_finished() && webhooks.iter().any(|w| &w.id == id && !w.paused);
            if !keep {
                handle.abort();
            }
            keep
        });
        for w in webhooks.iter().filter(|w| !w.paused) {
            if !senders.contains_key(&w.id) {
                let handle = tasks.spawn(send_loop(
                    Arc::clone(&service),
                    Arc::clone(&settings),
                    w.id.clone(),
                ));
                senders.insert(w.id.clone(), handle);
            }
        }
        // Reap finished tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
}

/// Turns committed events into deliveries (a read when there are none).
async fn dispatch(service: Arc<AuthService>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let admin = service.admin();
        loop {
            match admin
                .store
                .dispatch_events(DISPATCH_BATCH, admin.clock.now())
                .await
            {
                Ok(n) if n == u64::from(DISPATCH_BATCH) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatching events to webhooks failed");
                    break;
                }
            }
        }
    }
}

/// A subscription's circuit breaker: after `BREAKER_AFTER` failures in a row its
/// deliveries wait (they stay pending), then one is tried; a success closes it.
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    opened: u32,
    until: Option<Instant>,
}

impl Breaker {
    fn record(&mut self, delivered: bool, webhook: &str) {
        if delivered {
            *self = Self::default();
            return;
        }
        self.failures += 1;
        if self.failures >= BREAKER_AFTER {
            let pause = BREAKER_FIRST
                .saturating_mul(1u32 << self.opened.min(10))
                .min(BREAKER_MAX);
            self.opened += 1;
            self.failures = BREAKER_AFTER - 1; // the next failure opens it again
            self.until = Some(Instant::now() + pause);
            crate::observe::webhook_breaker(true);
            tracing::warn!(
                webhook,
                pause_s = pause.as_secs(),
                "webhook endpoint failing; pausing its deliveries"
            );
        }
    }

    /// How many attempts may start now.
    fn allowance(&mut self, free: usize) -> usize {
        match self.until {
            Some(t) if Instant::now() < t => 0,
            Some(_) => {
                self.until = None;
                crate::observe::webhook_breaker(false);
                free.min(1)
            }
            None if self.opened > 0 && self.failures > 0 => free.min(1),
            None => free,
        }
    }
}

/// A client per set of checked addresses (reused while the name resolves the same).
type ClientCache = Arc<Mutex<Option<(Vec<SocketAddr>, reqwest::Client)>>>;

/// Sends one subscription's deliveries, at most `max_in_flight` at a time.
async fn send_loop(service: Arc<AuthService>, settings: Arc<Settings>, id: String) {
    let mut inflight: JoinSet<bool> = JoinSet::new();
    let mut breaker = Breaker::default();
    let cache: ClientCache = Arc::default();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                breaker.record(done.unwrap_or(false), &id);
            }
        }
        let free = settings.max_in_flight.saturating_sub(inflight.len());
        let allowed = breaker.allowance(free);
        if allowed == 0 {
            continue;
        }
        let admin = service.admin();
        let now = admin.clock.now();
        let lease_until = now.saturating_add(millis(LEASE));
        let limit = u32::try_from(allowed).unwrap_or(1);
        let jobs = match admin
            .store
            .claim_deliveries(Some(&id), now, lease_until, limit)
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, webhook = %id, "claiming webhook deliveries failed");
                continue;
            }
        };
        for job in jobs {
            inflight.spawn(attempt(
                Arc::clone(&service),
                Arc::clone(&settings),
                Arc::clone(&cache),
                job,
            ));
        }
    }
}

/// What one attempt got: the status, if any, and an error to keep if not a 2xx.
async fn send(
    service: &AuthService,
    settings: &Settings,
    cache: &ClientCache,
    job: &DeliveryJob,
) -> (Option<u16>, Option<String>) {
    let Ok(url) = reqwest::Url::parse(&job.webhook.url) else {
        return (None, Some("the subscription's URL does not parse".into()));
    };
    let addrs = match egress::resolve(&url, &settings.allowed_networks).await {
        Ok(a) => a,
        Err(e) => return (None, Some(e.to_string())),
    };
    let client = {
        let mut cached = cache.lock().unwrap_or_else(|p| p.into_inner());
        match cached.as_ref() {
            Some((a, c)) if *a == addrs => c.clone(),
            _ => {
                let host = url.host_str().unwrap_or_default().to_string();
                let built = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(ATTEMPT_TIMEOUT)
                    .connect_timeout(ATTEMPT_TIMEOUT)
                    .user_agent(concat!(
                        "wirecash-auth/",
                        env!("CARGO_PKG_VERSION"),
                        " (webhooks)"
                    ))
                    .resolve_to_addrs(&host, &addrs)
                    .build();
                match built {
                    Ok(c) => {
                        *cached = Some((addrs, c.clone()));
                        c
                    }
                    Err(e) => return (None, Some(format!("cannot make an HTTP client: {e}"))),
                }
            }
        }
    };
    let mut secrets = Vec::with_capacity(2);
    match open(service, &job.webhook.id, &job.webhook.secret_sealed) {
        Some(s) => secrets.push(s),
        None => return (None, Some("the subscription's secret does not open".into())),
    }
    let now = service.admin().clock.now();
    if let Some((sealed, until)) = &job.webhook.previous_secret
        && *until > now
        && let Some(s) = open(service, &job.webhook.id, sealed)
    {
        secrets.push(s);
    }
    let payload = body(&job.event);
    // The receiver checks this against its own clock: the wall clock, always.
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let signature = sign::signature_header(&secrets, &job.event.id, timestamp, &payload);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &job.event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(payload)
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => return (None, Some(short_error(&e))),
    };
    let status = response.status();
    // Read a little of the body (a receiver may want it read), never more.
    let mut read = 0usize;
    while read < MAX_RESPONSE {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    if status.is_success() {
        (Some(status.as_u16()), None)
    } else {
        (
            Some(status.as_u16()),
            Some(format!("HTTP {}", status.as_u16())),
        )
    }
}

/// An error as kept and shown: its kind, without the URL (which may hold a token).
fn short_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirect (not followed)"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    match deepest {
        Some(d) => format!("{kind}: {}", d.chars().take(160).collect::<String>()),
        None => kind.to_string(),
    }
}

/// One attempt at one delivery, recorded; true if it was delivered.
async fn attempt(
    service: Arc<AuthService>,
    settings: Arc<Settings>,
    cache: ClientCache,
    job: DeliveryJob,
) -> bool {
    let started = Instant::now();
    let (status, error) = send(&service, &settings, &cache, &job).await;
    let admin = service.admin();
    let now = admin.clock.now();
    let outcome = match error {
        None => DeliveryOutcome::Delivered {
            at: now,
            status: status.unwrap_or(200),
        },
        Some(error) => {
            let jitter = jitter_of(&job.event.id, job.attempts);
            let wait = backoff(settings.retry_base, job.attempts, jitter);
            let next = now.saturating_add(millis(wait));
            if next > job.created_at.saturating_add(millis(RETRY_WINDOW)) {
                DeliveryOutcome::Failed { status, error }
            } else {
                DeliveryOutcome::Retry {
                    next_attempt_at: next,
                    status,
                    error,
                }
            }
        }
    };
    let delivered = matches!(outcome, DeliveryOutcome::Delivered { .. });
    crate::observe::webhook_attempt(&outcome, started.elapsed());
    if let DeliveryOutcome::Failed { error, .. } = &outcome {
        tracing::warn!(webhook = %job.webhook.id, event_id = %job.event.id, error = %error,
            "webhook delivery failed for good after the retry window");
    }
    match admin
        .store
        .finish_delivery(&job.webhook.id, &job.event.id, job.lease_until, outcome)
        .await
    {
        Ok(true) => {}
        // The attempt outlived its lease and another claim owns the delivery now.
        Ok(false) => {
            tracing::debug!(event_id = %job.event.id, "webhook attempt finished after its lease")
        }
        // The lease runs out and the delivery is tried again: at least once.
        Err(e) => tracing::warn!(error = %e, "recording a webhook delivery failed"),
    }
    delivered
}

/// Jitter in 0..1 from the event and attempt (spreads retries without a random source).
fn jitter_of(event_id: &str, attempts: u32) -> f64 {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{event_id}/{attempts}").as_bytes(),
    );
    let b = d.as_ref();
    f64::from(u16::from_be_bytes([b[0], b[1]])) / f64::from(u16::MAX)
}
