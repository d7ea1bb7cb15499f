//! `wirecash-bench-webhooks`: does a slow webhook endpoint delay a fast one (issue 13)?
//!
//! Runs a fast receiver (answers 204 at once) and, with `--slow`, a slow one (answers
//! nothing until the service gives up after its 10 s delivery timeout), subscribes them
//! through the admin API, and causes `--rate` events per second for `--duration` by
//! disabling and enabling a user of its own (each a `user_disabled` / `user_enabled`
//! event, no password hashing). It reports the fast endpoint's delivery latency — from
//! the event's `timestamp` to its arrival, both on this machine's wall clock — and the
//! deliveries each endpoint saw. `bench/run.sh` runs it beside the `/token` load
//! (`MODES="refresh hooks hooks-slow"`), so the same run shows `/token` with and without
//! webhooks being delivered.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use axum::extract::State;
use axum::http::StatusCode;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Subscribes receivers and causes events.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The admin listener, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    admin_url: String,
    /// A file holding an owner admin key.
    #[arg(long)]
    admin_key_file: std::path::PathBuf,
    /// Environment.
    #[arg(long, default_value = "sandbox")]
    env: String,
    /// Events per second.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// How long to cause events.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    duration: Duration,
    /// Also subscribe an endpoint that never answers in time.
    #[arg(long)]
    slow: bool,
    /// Write the results as JSON here too.
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
}

#[derive(Default)]
struct Seen {
    /// Milliseconds from each event's timestamp to its arrival.
    latency: Vec<i64>,
    /// Requests (retries included).
    requests: u64,
}

async fn fast(State(seen): State<Arc<Mutex<Seen>>>, body: String) -> StatusCode {
    let arrived = now_ms();
    let stamp = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["timestamp"].as_str().map(str::to_string))
        .and_then(|t| humantime::parse_rfc3339(&t).ok())
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64);
    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
    s.requests += 1;
    if let Some(at) = stamp {
        s.latency.push(arrived - at);
    }
    StatusCode::NO_CONTENT
}

async fn slow(State(seen): State<Arc<Mutex<Seen>>>) -> StatusCode {
    seen.lock().unwrap_or_else(|p| p.into_inner()).requests += 1;
    // Longer than the service waits (10 s): every delivery times out.
    tokio::time::sleep(Duration::from_secs(15)).await;
    StatusCode::NO_CONTENT
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn receiver(
    handler: axum::routing::MethodRouter<Arc<Mutex<Seen>>>,
) -> anyhow::Result<(String, Arc<Mutex<Seen>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route("/hook", handler)
        .with_state(seen.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, seen))
}

struct Admin {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Admin {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn summary(name: &str, seen: &Seen) -> anyhow::Result<Value> {
    let mut h = Histogram::<u64>::new(3)?;
    for &ms in &seen.latency {
        let _ = h.record(ms.max(0) as u64);
    }
    Ok(json!({
        "endpoint": name,
        "requests": seen.requests,
        "events": seen.latency.len(),
        "latency_ms": {
            "p50": h.value_at_quantile(0.5),
            "p99": h.value_at_quantile(0.99),
            "max": h.max(),
        },
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let key = std::fs::read_to_string(&args.admin_key_file)
        .context("cannot read --admin-key-file")?
        .trim()
        .to_string();
    let admin = Admin {
        base: args.admin_url.trim_end_matches('/').to_string(),
        key,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    let (fast_url, fast_seen) = receiver(axum::routing::post(fast)).await?;
    let mut ids = Vec::new();
    let events = json!(["user_disabled", "user_enabled"]);
    let sub = admin
        .call(
            reqwest::Method::POST,
            "/admin/v1/webhooks",
            Some(json!({"url": fast_url, "events": events})),
        )
        .await?;
    ids.push(sub["id"].as_str().unwrap_or_default().to_string());
    let slow_seen = if args.slow {
        let (url, seen) = receiver(axum::routing::post(slow)).await?;
        let sub = admin
            .call(
                reqwest::Method::POST,
                "/admin/v1/webhooks",
                Some(json!({"url": url, "events": events})),
            )
            .await?;
        ids.push(sub["id"].as_str().unwrap_or_default().to_string());
        Some(seen)
    } else {
        None
    };
    // The user whose toggling makes the events (made once, kept across runs).
    let target = "webhook-bench-target";
    let users = format!("/admin/v1/{}/users", args.env);
    if admin
        .call(reqwest::Method::GET, &format!("{users}/{target}"), None)
        .await
        .is_err()
    {
        admin
            .call(
                reqwest::Method::POST,
                &users,
                Some(json!({"username": target})),
            )
            .await?;
    }
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = std::time::Instant::now();
    let mut caused = 0u64;
    let mut disabled = false;
    while started.elapsed() < args.duration {
        tick.tick().await;
        disabled = !disabled;
        admin
            .call(
                reqwest::Method::PATCH,
                &format!("{users}/{target}"),
                Some(json!({"disabled": disabled})),
            )
            .await?;
        caused += 1;
    }
    // Stragglers: the fast endpoint should have everything within a second or two.
    for _ in 0..50 {
        if fast_seen
            .lock()
            .map(|s| s.latency.len() as u64)
            .unwrap_or(0)
            >= caused
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &ids {
        admin
            .call(
                reqwest::Method::DELETE,
                &format!("/admin/v1/webhooks/{id}"),
                None,
            )
            .await
            .ok();
    }
    let mut report = vec![summary(
        "fast",
        &fast_seen.lock().unwrap_or_else(|p| p.into_inner()),
    )?];
    if let Some(s) = &slow_seen {
        report.push(summary(
            "slow",
            &s.lock().unwrap_or_else(|p| p.into_inner()),
        )?);
    }
    let out = json!({"events_caused": caused, "rate": args.rate, "endpoints": report});
    let fast = &out["endpoints"][0];
    println!(
        "   webhooks: {caused} events caused at {}/s; fast endpoint got {} (p50 {} ms, p99 {} ms, max {} ms from event to arrival){}",
        args.rate,
        fast["events"],
        fast["latency_ms"]["p50"],
        fast["latency_ms"]["p99"],
        fast["latency_ms"]["max"],
        match out["endpoints"].get(1) {
            Some(s) => format!(
                "; slow endpoint (no answer within the 10 s timeout) got {} requests",
                s["requests"]
            ),
            None => String::new(),
        }
    );
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)?;
    }
    Ok(())
}
