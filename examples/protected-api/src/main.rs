//! `protected-api`: runs the example API against a token service.

use clap::Parser;
use wirecash_verify::Verifier;

/// An example WireCash API that accepts the token service's access tokens.
#[derive(Debug, Parser)]
#[command(name = "protected-api", version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// The token service, where the JWKS is fetched from.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    token_service: String,
    /// The token service's `public_url` (the issuer base), if it differs from
    /// --token-service.
    #[arg(long)]
    public_url: Option<String>,
    /// Environments to serve (repeat the flag).
    #[arg(long = "env", default_values = ["sandbox", "production"])]
    envs: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let service = args.token_service.trim_end_matches('/');
    let public = args
        .public_url
        .as_deref()
        .unwrap_or(service)
        .trim_end_matches('/');
    let mut verifiers = Vec::new();
    for env in &args.envs {
        let verifier = Verifier::builder(format!("{public}/{env}"))
            .jwks_url(format!("{service}/{env}/.well-known/jwks.json"))
            .build()?;
        if let Err(e) = verifier.prefetch().await {
            tracing::warn!(%env, error = %e, "JWKS not reachable yet; will retry on the first request");
        }
        verifiers.push(verifier);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!("protected-api listening on {}", listener.local_addr()?);
    axum::serve(listener, protected_api::app(verifiers)).await?;
    Ok(())
}
