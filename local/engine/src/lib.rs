//! Ferry's local Step Functions engine: an Amazon States Language interpreter (JSONPath
//! query language) behind the Step Functions JSON 1.0 API, so `aws-sdk-sfn` and
//! `aws stepfunctions` work against it unchanged.
//!
//! Split by phase: [`asl`](crate::asl) is the pure language (document, compiled definition,
//! paths, templates, intrinsics, Choice rules) and `runtime` runs it (registry, history,
//! task tokens, integrations, interpreter); `api` puts the engine behind HTTP.
//!
//! **What a restart keeps: nothing.** State machines, executions, histories and task tokens
//! live in memory for the life of the process. A graceful stop ([`Engine::shutdown`], or the
//! shutdown token given to [`serve`]) stops accepting requests and marks every running
//! execution `ABORTED` with an `ExecutionAborted` event, so no execution is left half-written.
//!
//! Task integrations sit behind [`Integrations`]; the built-in one runs registered in-process
//! Lambda handlers ([`Engine::register_lambda`]), CodeBuild through a [`BuildRunner`] and
//! SNS/DynamoDB through an [`AwsForwarder`].

mod api;
mod asl;
mod error;
mod runtime;

pub use api::{router, serve, ServeError};
pub use error::{names, ApiError, ErrorCode, TaskError};
pub use runtime::engine::Engine;
pub use runtime::history::{Event, Failure, HistoryEvent, StateType, TaskTarget};
pub use runtime::integrations::{
    function_name, AwsForwarder, BuildRunner, Builtin, Integrations, LambdaFn, Pattern, Resource,
    TaskRequest,
};
pub use runtime::registry::{EngineConfig, ExecutionInfo, ExecutionStatus, StateMachineInfo};

/// Validates an ASL definition the way CreateStateMachine does; `Err` holds the reason.
pub fn validate_definition(definition: &str) -> Result<(), String> {
    asl::compile::parse(definition).map(|_| ())
}
