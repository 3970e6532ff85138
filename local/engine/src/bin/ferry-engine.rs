//! `ferry-engine`: serves the local Step Functions API on a loopback port until Ctrl-C.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use ferry_engine::{serve, Engine, EngineConfig};
use tokio_util::sync::CancellationToken;

/// Local Step Functions engine (AWS JSON 1.0 API). State is in memory: a restart keeps nothing;
/// Ctrl-C or SIGTERM aborts running executions and exits.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8083, env = "FERRY_ENGINE_PORT")]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Region used in ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account id used in ARNs.
    #[arg(long, default_value = "123456789012")]
    account_id: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind((cli.host.as_str(), cli.port))
        .await
        .with_context(|| format!("binding {}:{}", cli.host, cli.port))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    println!("ferry-engine listening on http://{addr}");
    let engine = Engine::new(EngineConfig {
        region: cli.region,
        account_id: cli.account_id,
    });
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    // Ctrl-C or SIGTERM (how `ferry local` stops it) both stop gracefully.
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        trigger.cancel();
    });
    serve(engine, listener, shutdown).await.context("serving")?;
    Ok(ExitCode::SUCCESS)
}
