//! Completing an approval gate: the only code that reads a task token, and only to hand it to
//! Step Functions (SendTaskSuccess / SendTaskFailure).

use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use thiserror::Error;

use crate::model::{Decision, TaskToken, REJECTED_ERROR};

#[derive(Debug, Error)]
pub enum GateError {
    /// The gate is no longer waiting (timed out, stopped, already completed): the caller's
    /// conflict, not a fault.
    #[error("the workflow is no longer waiting for this approval (timed out or stopped)")]
    Gone,
    #[error("{op}: {message}")]
    Sfn { op: &'static str, message: String },
}

impl GateError {
    fn from_sdk<E, R>(op: &'static str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let gone = e
            .as_service_error()
            .and_then(|s| s.code())
            .is_some_and(|c| matches!(c, "TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken"));
        if gone {
            Self::Gone
        } else {
            Self::Sfn {
                op,
                message: DisplayErrorContext(e).to_string(),
            }
        }
    }
}

/// Completes the gate with `decision` as the approval task's output.
pub async fn send_decision(
    sfn: &aws_sdk_sfn::Client,
    token: &TaskToken,
    decision: &Decision,
) -> Result<(), GateError> {
    let output = serde_json::to_string(decision).map_err(|e| GateError::Sfn {
        op: "states:SendTaskSuccess",
        message: e.to_string(),
    })?;
    sfn.send_task_success()
        .task_token(token.expose())
        .output(output)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| GateError::from_sdk("states:SendTaskSuccess", e))
}

/// Fails the gate as rejected (`Ferry.Rejected`) with `cause`, which the workflow records.
pub async fn send_rejection(
    sfn: &aws_sdk_sfn::Client,
    token: &TaskToken,
    cause: &str,
) -> Result<(), GateError> {
    sfn.send_task_failure()
        .task_token(token.expose())
        .error(REJECTED_ERROR)
        .cause(cause)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| GateError::from_sdk("states:SendTaskFailure", e))
}
