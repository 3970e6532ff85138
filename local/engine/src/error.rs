//! Error types: API errors (returned to Step Functions clients with AWS's codes) and the
//! `{Error, Cause}` pairs that states raise and Retry/Catch match.

use serde_json::Value;

/// Error codes exactly as Step Functions names them; SDKs match on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    StateMachineDoesNotExist,
    StateMachineAlreadyExists,
    ExecutionDoesNotExist,
    ExecutionAlreadyExists,
    TaskDoesNotExist,
    TaskTimedOut,
    InvalidToken,
    InvalidOutput,
    InvalidDefinition,
    InvalidExecutionInput,
    InvalidArn,
    InvalidName,
    ValidationException,
    UnknownOperation,
    InternalFailure,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StateMachineDoesNotExist => "StateMachineDoesNotExist",
            Self::StateMachineAlreadyExists => "StateMachineAlreadyExists",
            Self::ExecutionDoesNotExist => "ExecutionDoesNotExist",
            Self::ExecutionAlreadyExists => "ExecutionAlreadyExists",
            Self::TaskDoesNotExist => "TaskDoesNotExist",
            Self::TaskTimedOut => "TaskTimedOut",
            Self::InvalidToken => "InvalidToken",
            Self::InvalidOutput => "InvalidOutput",
            Self::InvalidDefinition => "InvalidDefinition",
            Self::InvalidExecutionInput => "InvalidExecutionInput",
            Self::InvalidArn => "InvalidArn",
            Self::InvalidName => "InvalidName",
            Self::ValidationException => "ValidationException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::InternalFailure => "InternalFailure",
        }
    }
}

/// An error answered by the Step Functions API.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// An error raised inside an execution: what `Retry`/`Catch` match and what a failed
/// execution reports as `error`/`cause`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// `States.Runtime`: a data error no Retry or Catch may handle (as in AWS).
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }

    /// `States.DataLimitExceeded`: a payload over [`MAX_PAYLOAD_BYTES`]; terminal, so
    /// `States.ALL` does not catch it (AWS's error-handling page).
    pub fn data_limit(state: &str) -> Self {
        Self::new(
            names::DATA_LIMIT_EXCEEDED,
            format!("The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."),
        )
    }

    pub fn task_failed(cause: impl Into<String>) -> Self {
        Self::new(names::TASK_FAILED, cause)
    }

    /// The Cause AWS writes for a Lambda function error: the function's error payload.
    pub fn lambda(error_type: &str, error_message: &str) -> Self {
        // Written by hand so the key order is Lambda's whatever serde_json features are on.
        let cause = format!(
            "{{\"errorMessage\":{},\"errorType\":{}}}",
            Value::from(error_message),
            Value::from(error_type)
        );
        Self::new(error_type, cause)
    }
}

/// Step Functions' payload quota: 256 KiB of UTF-8 for any execution, state or task input,
/// output or result.
pub const MAX_PAYLOAD_BYTES: usize = 262_144;

/// Predefined error names of the Amazon States Language.
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const RUNTIME: &str = "States.Runtime";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const EXCEED_TOLERATED_FAILURE: &str = "States.ExceedToleratedFailureThreshold";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
}
