//! What every Ferry Lambda's `main` shares: tracing and SDK set-up once at cold start, and the mapping of Ferry's errors to the `Diagnostic` whose `error_type` the state
//! machine's Retry and Catch match. Kept out of `ferry-shared`, so the CLI and local mode do not
//! link the Lambda runtime.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use ferry_shared::aws;
use ferry_shared::workflow::TaskFailure;
use lambda_runtime::Diagnostic;
use tracing_subscriber::filter::LevelFilter;

/// Tracing (JSON when `json_logs`, i.e. `config::json_logs()`) and the SDK configuration, once
/// per cold start. The caller reads the configuration, so each `main` shows what it reads.
pub async fn cold_start(json_logs: bool) -> SdkConfig {
    init_tracing(json_logs);
    sdk_config()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The SDK configuration from what Lambda puts in a function's environment: `AWS_REGION`, the
/// execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`) and, for tests against moto, `AWS_ENDPOINT_URL`. Built directly rather
/// by aws-config's loader: its provider chain (profile files, STS, IMDS, ECS) is never used in
/// Lambda and is ~0.5 MB of every bootstrap (docs/bench.md). The rest is the loader's defaults
/// for the latest behavior version: standard retries, a 3.1 s connect timeout, a lazy
/// credentials cache.
pub fn sdk_config() -> SdkConfig {
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(Region::new))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .http_client(aws::https_client(aws::Trust::AwsRoots))
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .build(),
        );
    if let Some(url) = env("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

/// The level `AWS_LAMBDA_LOG_LEVEL` (Lambda's log-level setting) or `RUST_LOG` names, `info`
/// otherwise. A level only: `EnvFilter`'s directives would link a regex engine into every
/// bootstrap (docs/bench.md).
fn log_level() -> LevelFilter {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|v| env(v))
        .and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
            "fatal" => Some(LevelFilter::ERROR),
            other => other.parse().ok(),
        })
        .unwrap_or(LevelFilter::INFO)
}

/// JSON in Lambda (without time: CloudWatch stamps each line), compact text elsewhere.
fn init_tracing(json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(log_level())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().without_time().try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Serves `handler(&deps, payload)` for events of type `$event` until the runtime stops:
/// `ferry_lambda::serve!(deps, handle, EnvContext)`. A macro, so each function's handler keeps
/// its plain `async fn handle(&Deps, Input)` shape without boxing its future.
#[macro_export]
macro_rules! serve {
    ($deps:ident, $handler:path, $event:ty) => {
        $crate::__private::lambda_runtime::run($crate::__private::lambda_runtime::service_fn(
            |event: $crate::__private::lambda_runtime::LambdaEvent<$event>| {
                let deps = &$deps;
                async move {
                    $handler(deps, event.payload)
                        .await
                        .map_err($crate::diagnostic)
                }
            },
        ))
        .await
    };
}

/// A function's whole `main`: cold start, its dependencies built from the SDK configuration,
/// then [`serve!`]. The caller passes `config::json_logs()` and reads its resource names in
/// `$deps`, so each `main.rs` shows every variable it reads.
///
/// `ferry_lambda::main!(EnvContext, handle, config::json_logs(), |sdk| Deps { … });`
#[macro_export]
macro_rules! main {
    ($event:ty, $handler:path, $json_logs:expr, |$sdk:ident| $deps:expr) => {
        fn main() -> Result<(), $crate::__private::lambda_runtime::Error> {
            // One thread: Lambda hands a function one event at a time, and a handler's
            // concurrent reads are I/O. No worker threads to start at cold start.
            $crate::__private::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    let sdk_config = $crate::cold_start($json_logs).await;
                    let $sdk = &sdk_config;
                    let deps = $deps;
                    $crate::serve!(deps, $handler, $event)
                })
        }
    };
}

/// What the macros expand to, so function crates need no direct dependency on these.
#[doc(hidden)]
pub mod __private {
    pub use lambda_runtime;
    pub use tokio;
}

/// A Ferry error as Lambda reports it: `errorType` is the name the state machine matches.
pub fn diagnostic<E: TaskFailure>(e: E) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().to_owned(),
        error_message: e.message(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_shared::workflow::WorkflowError;

    #[test]
    fn diagnostics_carry_the_error_type_the_state_machine_matches() {
        let d = diagnostic(WorkflowError::InvalidInput("x".into()));
        assert_eq!(d.error_type, "Ferry.InvalidInput");
        assert_eq!(d.error_message, "invalid input: x");
    }
}
