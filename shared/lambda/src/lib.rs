//! What every Ferry Lambda's `main` shares: tracing and SDK set-up once at cold start, and the mapping of Ferry's errors to the `Diagnostic` whose `error_type` the state
//! machine's Retry and Catch match. Kept out of `ferry-shared`, so the CLI and local mode do not
//! link the Lambda runtime.

use ferry_shared::aws;
use ferry_shared::workflow::TaskFailure;
use lambda_runtime::Diagnostic;

/// Tracing (JSON when `json_logs`, i.e. `config::json_logs()`) and the SDK configuration, once
/// per cold start. The caller reads the configuration, so each `main` shows what it reads.
pub async fn cold_start(json_logs: bool) -> aws_config::SdkConfig {
    aws::init_tracing(json_logs);
    aws::sdk_config().await
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
            $crate::__private::tokio::runtime::Builder::new_multi_thread()
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
