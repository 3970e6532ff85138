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
