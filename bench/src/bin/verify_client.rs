//! `wirecash-bench-verify`: CPU cost of the two hot paths of issue 5, on one core —
//! `Verifier::verify` with the key cached (EdDSA and ES256), and `Session::token()`
//! while no refresh is due — and, for reference, of the bare aws-lc-rs signature the
//! server makes for every access token, with either algorithm. Self-contained: it makes
//! its own keys, mints tokens with jsonwebtoken and serves the JWKS on 127.0.0.1:0, so
//! no token service is needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use clap::Parser;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use wirecash_client::{Client, Session, Tokens};
use wirecash_proto::AccessTokenClaims;
use wirecash_verify::Verifier;

/// Measures verifier throughput and the Session::token() hot path.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Measured seconds per figure.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent tasks for the contended Session::token() figure (on 2 threads).
    #[arg(long, default_value_t = 64)]
    tasks: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let measured = Duration::from_secs(args.seconds);
    // One thread: "per core" figures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "== wirecash-bench-verify: {}s per figure, one core (current-thread runtime)",
        args.seconds
    );
    println!("  (per CPU-second of the measuring thread; wall-clock rate in brackets)");
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let (rate, raw) = rt.block_on(verify_rate(alg, measured))?;
        println!(
            "  verify {alg:?} (cached key)       {:>10.0} verifications/s  ({:.2} µs each)  [wall {:.0}/s]",
            rate.cpu,
            1e6 / rate.cpu,
            rate.wall
        );
        println!(
            "    of which the signature alone  {:>10.0} verifications/s  ({:.2} µs each, bare aws-lc-rs)",
            raw,
            1e6 / raw
        );
    }
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let rate = sign_rate(alg, measured)?;
        println!(
            "  sign {alg:?}, the signature alone {:>10.0} signatures/s     ({:.2} µs each, bare aws-lc-rs)",
            rate,
            1e6 / rate
        );
    }
    let rate = rt.block_on(token_rate(measured))?;
    println!(
        "  Session::token() hot path       {:>10.0} calls/s          ({:.1} ns each)  [wall {:.0}/s]",
        rate.cpu,
        1e9 / rate.cpu,
        rate.wall
    );
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let rate = multi.block_on(token_rate_contended(measured, args.tasks))?;
    println!(
        "  Session::token() {} tasks on 2 threads: {:.0} calls/s in all (wall clock)",
        args.tasks, rate
    );
    Ok(())
}

/// CPU time (user + system) this thread has used, from /proc/thread-self/stat: the
/// per-core figures are divided by it, so other load on the box does not lower them.
fn thread_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc/thread-self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let ticks: u64 = fields
        .get(11..13)
        .ok_or_else(|| anyhow!("short /proc/thread-self/stat"))?
        .iter()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .sum();
    // USER_HZ is 100 on Linux.
    Ok(Duration::from_millis(ticks * 10))
}

/// Calls per wall-clock second and per CPU second of this thread.
struct Rate {
    wall: f64,
    cpu: f64,
}

fn now_s() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(0)
}

/// A key pair: the signing key, its public JWK, a verifier of raw signatures with the
/// same public key (the crypto-only reference figure), and the aws-lc-rs pair itself.
fn key(alg: Algorithm) -> anyhow::Result<(EncodingKey, Jwk, RawVerify, SigningPair)> {
    let rng = SystemRandom::new();
    let (enc, jose, raw, pair) = match alg {
        Algorithm::EdDSA => {
            // PKCS#8 v1: jsonwebtoken's JWK export rejects v2 (DEPENDENCIES.md).
            let doc = Ed25519KeyPair::generate_pkcs8v1(&rng).map_err(|_| anyhow!("Ed25519"))?;
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(doc.as_ref())
                .map_err(|_| anyhow!("Ed25519"))?;
            let message = b"header.payload of about the size of an access token".repeat(10);
            let signature = pair.sign(&message).as_ref().to_vec();
            let public = pair.public_key().as_ref().to_vec();
            (
                EncodingKey::from_ed_der(doc.as_ref()),
                Algorithm::EdDSA,
                RawVerify {
                    alg: &aws_lc_rs::signature::ED25519,
                    public,
                    message,
                    signature,
                },
                SigningPair::Ed(pair),
            )
        }
        _ => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| anyhow!("P-256"))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|_| anyhow!("P-256"))?;
            let message = b"header.payload of about the size of an access token".repeat(10);
            let signature = pair
                .sign(&rng, &message)
                .map_err(|_| anyhow!("P-256"))?
                .as_ref()
                .to_vec();
            let public = pair.public_key().as_ref().to_vec();
            (
                EncodingKey::from_ec_der(doc.as_ref()),
                Algorithm::ES256,
                RawVerify {
                    alg: &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                    public,
                    message,
                    signature,
                },
                SigningPair::Es(pair),
            )
        }
    };
    let mut jwk = Jwk::from_encoding_key(&enc, jose).context("JWK export")?;
    jwk.common.key_id = Some("bench".into());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok((enc, jwk, raw, pair))
}

/// The aws-lc-rs key pair behind a JWK, for the bare signing figure.
enum SigningPair {
    Ed(Ed25519KeyPair),
    Es(EcdsaKeyPair),
}

struct RawVerify {
    alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
    public: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
}

/// Bare aws-lc-rs signature verifications per CPU-second.
fn raw_rate(raw: &RawVerify, measured: Duration) -> anyhow::Result<f64> {
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(raw.alg, &raw.public);
    let cpu0 = thread_cpu()?;
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < measured {
        for _ in 0..256 {
            key.verify(&raw.message, &raw.signature)
                .map_err(|_| anyhow!("raw signature does not verify"))?;
        }
        n += 256;
    }
    Ok(n as f64 / (thread_cpu()? - cpu0).as_secs_f64())
}

/// Bare aws-lc-rs signatures per CPU-second, made as the server makes an access token's
/// (`SigningKey::sign` in wirecash-core: a fresh `SystemRandom` handle for ECDSA's nonce).
fn sign_rate(alg: Algorithm, measured: Duration) -> anyhow::Result<f64> {
    let (_, _, raw, pair) = key(alg)?;
    let message = raw.message;
    let cpu0 = thread_cpu()?;
    let start = Instant::now();
    let mut n: u64 = 0;
    // Folds every signature's first byte in, so that no signing can be optimized away.
    let mut fold = 0u8;
    while start.elapsed() < measured {
        for _ in 0..256 {
            let first = match &pair {
                SigningPair::Ed(k) => k.sign(&message).as_ref().first().copied(),
                SigningPair::Es(k) => k
                    .sign(&SystemRandom::new(), &message)
                    .map_err(|_| anyhow!("ECDSA signing failed"))?
                    .as_ref()
                    .first()
                    .copied(),
            };
            fold ^= first.ok_or_else(|| anyhow!("empty signature"))?;
        }
        n += 256;
    }
    std::hint::black_box(fold);
    Ok(n as f64 / (thread_cpu()? - cpu0).as_secs_f64())
}

async fn verify_rate(alg: Algorithm, measured: Duration) -> anyhow::Result<(Rate, f64)> {
    let (enc, jwk, raw, _) = key(alg)?;
    let set = serde_json::to_string(&JwkSet { keys: vec![jwk] })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/sandbox/.well-known/jwks.json",
        axum::routing::get(move || {
            let set = set.clone();
            async move {
                (
                    [
                        ("content-type", "application/json"),
                        ("cache-control", "public, max-age=3600"),
                    ],
                    set,
                )
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let issuer = format!("{base}/sandbox");
    let now = now_s();
    let claims = AccessTokenClaims {
        iss: issuer.clone(),
        sub: "0198b3c2-0000-7000-8000-000000000000".into(),
        aud: issuer.clone(),
        client_id: "bench".into(),
        username: "bench".into(),
        sid: "1".into(),
        iat: now,
        exp: now + 3600,
        jti: "0198b3c2-0000-7000-8000-000000000001".into(),
        env: "sandbox".into(),
    };
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(&header, &claims, &enc)?;
    let verifier = Verifier::builder(issuer).build()?;
    verifier.prefetch().await.map_err(|e| anyhow!(e))?;
    // Warm-up, and a check that the figure is of successful verifications.
    for _ in 0..1000 {
        verifier.verify(&token).await?;
    }
    let cpu0 = thread_cpu()?;
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < measured {
        for _ in 0..256 {
            verifier.verify(&token).await?;
        }
        n += 256;
    }
    let rate = Rate {
        wall: n as f64 / start.elapsed().as_secs_f64(),
        cpu: n as f64 / (thread_cpu()? - cpu0).as_secs_f64(),
    };
    server.abort();
    Ok((rate, raw_rate(&raw, measured)?))
}

fn session() -> anyhow::Result<Session> {
    // Far from expiry: no refresh is due, so every call is the hot path; the client
    // never contacts the (unused) URL.
    let client = Client::builder()
        .base_url("http://127.0.0.1:9/sandbox")
        .build()?;
    let tokens = Tokens {
        username: "bench".into(),
        access_token: "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJiZW5jaCJ9.c2ln".into(),
        refresh_token: "bench".into(),
        expires_in: 3600,
        expires_at_ms: (now_s() + 3600) * 1000,
    };
    Ok(Session::builder(client, "bench").tokens(tokens).build()?)
}

async fn token_rate(measured: Duration) -> anyhow::Result<Rate> {
    let s = session()?;
    let cpu0 = thread_cpu()?;
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < measured {
        for _ in 0..1024 {
            std::hint::black_box(s.token().await?);
        }
        n += 1024;
    }
    Ok(Rate {
        wall: n as f64 / start.elapsed().as_secs_f64(),
        cpu: n as f64 / (thread_cpu()? - cpu0).as_secs_f64(),
    })
}

async fn token_rate_contended(measured: Duration, tasks: usize) -> anyhow::Result<f64> {
    let s = session()?;
    let total = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + measured;
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let s = s.clone();
        let total = total.clone();
        set.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                for _ in 0..256 {
                    std::hint::black_box(s.token().await?);
                }
                n += 256;
                tokio::task::yield_now().await;
            }
            total.fetch_add(n, Ordering::Relaxed);
            Ok::<(), wirecash_client::Error>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}
