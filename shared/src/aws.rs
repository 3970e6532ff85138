//! SDK clients. Endpoints come only from the standard `AWS_ENDPOINT_URL*` variables that
//! aws-config reads; when one is set (moto, local mode) S3 switches to path-style addressing.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{proxy::ProxyConfig, Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Which certificate authorities a TLS connection may chain to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The system's store (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured): the CLI and local mode,
    /// which may sit behind a proxy with a CA of its own.
    System,
    /// Only the roots AWS endpoints chain to, built in: the Lambdas talk to AWS alone, and
    /// skipping the system store saves ~2 ms of a cold start (docs/bench.md). Setting
    /// `SSL_CERT_FILE` or `SSL_CERT_DIR` on a function switches it back to the system store.
    AwsRoots,
}

/// Amazon Root CA 1–4 and Starfield Services Root CA G2.
pub const AWS_ROOTS_PEM: &str = include_str!("aws-roots.pem");

/// The SDK's HTTP client: the SDK's own hyper client (connection pool, proxy from the
/// environment as its default client does) on rustls with ring rather than aws-lc, which
/// is the bulk of a Lambda bootstrap's size. Certificates load when the first client uses it.
pub fn https_client(trust: Trust) -> SharedHttpClient {
    let system = trust == Trust::System
        || std::env::var_os("SSL_CERT_FILE").is_some()
        || std::env::var_os("SSL_CERT_DIR").is_some();
    let store = if system {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AWS_ROOTS_PEM.as_bytes())
    };
    let tls = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a TLS context of PEM roots and options only");
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut conn = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls.clone());
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

/// The SDK configuration from the environment (credentials, region, `AWS_ENDPOINT_URL*`).
pub async fn sdk_config(trust: Trust) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(trust))
        .load()
        .await
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
        .http_client(https_client(Trust::System))
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

#[cfg(test)]
mod tests {
    use super::AWS_ROOTS_PEM;
    use rustls::pki_types::{pem::PemObject, CertificateDer};

    #[test]
    fn the_built_in_roots_are_five_certificates_rustls_accepts() {
        let certs = CertificateDer::pem_slice_iter(AWS_ROOTS_PEM.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM");
        assert_eq!(certs.len(), 5);
        let mut store = rustls::RootCertStore::empty();
        assert_eq!(store.add_parsable_certificates(certs), (5, 0));
    }
}
