//! SDK clients. Endpoints come only from the standard `AWS_ENDPOINT_URL*` variables that
//! aws-config reads; when one is set (moto, local mode) S3 switches to path-style addressing.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder =
        aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// Initialises tracing once: JSON in Lambda, compact text elsewhere; `RUST_LOG` filters.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: tests and local mode may initialise more than once.
    let _ = if json {
        builder.json().without_time().try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Logging for the `ferry` command line: `FERRY_LOG`, else `RUST_LOG`, else `default` (an
/// `EnvFilter` directive); colour only on a terminal and never with `NO_COLOR` set.
pub fn init_cli_tracing(default: &str) {
    use std::io::IsTerminal;
    let filter = ["FERRY_LOG", "RUST_LOG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .compact()
        .try_init();
}

/// Region and dummy credentials local mode and tests use with moto.
pub const LOCAL_REGION: &str = "us-east-1";

/// An SDK config aimed at a local endpoint (moto) with dummy credentials, independent of the
/// caller's environment.
pub async fn local_sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(LOCAL_REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "ferry-local",
        ))
        .load()
        .await
}
