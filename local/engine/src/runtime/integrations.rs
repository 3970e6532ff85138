//! Task integrations: the seam between the interpreter and whatever runs a Task's `Resource`.
//!
//! The engine calls [`Integrations::invoke`]; [`Builtin`] dispatches Lambda (to registered
//! in-process functions), CodeBuild (to a [`BuildRunner`]) and SNS/DynamoDB (to an
//! [`AwsForwarder`]). Callback waiting (`.waitForTaskToken`) is done by the engine itself.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use parking_lot::RwLock;
use serde_json::{json, Value};

use crate::error::TaskError;

/// An in-process Lambda handler: receives the `Payload`, returns the function's result.
/// Its `TaskError::error` is the function's error type (`Ferry.Transient`, …) and
/// `TaskError::cause` its message.
pub type LambdaFn =
    Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, TaskError>> + Send + Sync>;

/// Runs CodeBuild builds (ferry-local runs the buildspec with bash).
pub trait BuildRunner: Send + Sync {
    /// Starts a build from `StartBuild` parameters; returns the `Build` object (with `Id`).
    fn start_build(&self, params: Value) -> BoxFuture<'_, Result<Value, TaskError>>;
    /// Waits until the build ends; returns the final `Build` object (`BuildStatus` set).
    fn wait_build(&self, id: String) -> BoxFuture<'_, Result<Value, TaskError>>;
    /// Stops a build (`StopBuild`): its processes are ended, it ends STOPPED.
    fn stop_build(&self, id: String) -> BoxFuture<'_, Result<(), TaskError>>;
}

/// Stops the build when the task waiting on it is dropped before it ended — the execution was
/// stopped or the engine is shutting down — as Step Functions stops a `.sync` CodeBuild job
/// when its execution stops.
struct StopOnDrop {
    runner: Arc<dyn BuildRunner>,
    id: Option<String>,
}

impl StopOnDrop {
    fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let runner = self.runner.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = runner.stop_build(id.clone()).await {
                        tracing::warn!(build = %id, error = %e.cause, "stopping the build of a stopped task failed");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(build = %id, "no runtime left to stop the build of a stopped task")
            }
        }
    }
}

/// Forwards an AWS service call (`sns:publish`, `dynamodb:putItem`, …) to a real endpoint.
pub trait AwsForwarder: Send + Sync {
    /// `service` is e.g. `sns`/`dynamodb`, `action` e.g. `publish`/`putItem`; `params` are the
    /// Task's effective parameters in the API's own (PascalCase) shape. Returns the response.
    fn call(
        &self,
        service: &str,
        action: &str,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, TaskError>>;
}

/// How Step Functions waits on a service integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    RequestResponse,
    Sync,
    WaitForTaskToken,
}

/// A Task's resource, split the way history events name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The full `Resource` ARN.
    pub arn: String,
    /// `lambda`, `codebuild`, `sns`, `dynamodb`, … (the `resourceType` of history events).
    pub service: String,
    /// `invoke`, `startBuild`, `publish`, … without the pattern suffix.
    pub action: String,
    pub pattern: Pattern,
    /// True for a bare Lambda function ARN used as the resource.
    pub direct_lambda: bool,
}

impl Resource {
    pub fn parse(arn: &str) -> Self {
        if let Some(rest) = arn.strip_prefix("arn:aws:states:::") {
            let (service, action) = rest.split_once(':').unwrap_or((rest, ""));
            let (action, pattern) = if let Some(a) = action.strip_suffix(".waitForTaskToken") {
                (a, Pattern::WaitForTaskToken)
            } else if let Some((a, _)) = action.split_once(".sync") {
                (a, Pattern::Sync)
            } else {
                (action, Pattern::RequestResponse)
            };
            return Self {
                arn: arn.to_string(),
                service: service.to_string(),
                action: action.to_string(),
                pattern,
                direct_lambda: false,
            };
        }
        let direct_lambda = arn.starts_with("arn:aws:lambda:") && arn.contains(":function:");
        Self {
            arn: arn.to_string(),
            service: if direct_lambda {
                "lambda".into()
            } else {
                arn.split(':').nth(2).unwrap_or("").to_string()
            },
            action: if direct_lambda {
                "invoke".into()
            } else {
                String::new()
            },
            pattern: Pattern::RequestResponse,
            direct_lambda,
        }
    }

    /// The `resource` field of Task history events: `invoke.waitForTaskToken`, `startBuild.sync`…
    pub fn event_name(&self) -> String {
        if self.direct_lambda {
            return self.arn.clone();
        }
        match self.pattern {
            Pattern::RequestResponse => self.action.clone(),
            Pattern::Sync => format!("{}.sync", self.action),
            Pattern::WaitForTaskToken => format!("{}.waitForTaskToken", self.action),
        }
    }
}

/// What a Task asks an integration to do.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub resource: Resource,
    /// Effective parameters (after InputPath and Parameters).
    pub parameters: Value,
}

/// The seam the engine calls for every Task state.
pub trait Integrations: Send + Sync {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, TaskError>>;
}

/// The integrations Ferry's local mode needs.
#[derive(Default)]
pub struct Builtin {
    lambdas: RwLock<HashMap<String, LambdaFn>>,
    build_runner: RwLock<Option<Arc<dyn BuildRunner>>>,
    forwarder: RwLock<Option<Arc<dyn AwsForwarder>>>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().clone()
}

impl Builtin {
    pub fn register_lambda(&self, name: impl Into<String>, f: LambdaFn) {
        self.lambdas.write().insert(name.into(), f);
    }

    pub fn set_build_runner(&self, runner: Arc<dyn BuildRunner>) {
        *self.build_runner.write() = Some(runner);
    }

    pub fn set_aws_forwarder(&self, forwarder: Arc<dyn AwsForwarder>) {
        *self.forwarder.write() = Some(forwarder);
    }

    fn lambda(&self, function: &str) -> Result<LambdaFn, TaskError> {
        let name = function_name(function);
        self.lambdas.read().get(name).cloned().ok_or_else(|| {
            TaskError::new(
                "Lambda.ResourceNotFoundException",
                format!(
                    "Function not found: {function} (no local handler registered under '{name}')"
                ),
            )
        })
    }

    async fn invoke_lambda(&self, request: TaskRequest) -> Result<Value, TaskError> {
        if request.resource.direct_lambda {
            let f = self.lambda(&request.resource.arn)?;
            return f(request.parameters).await.map_err(lambda_error);
        }
        let function = request
            .parameters
            .get("FunctionName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                TaskError::new(
                    "Lambda.InvalidParameterValueException",
                    "FunctionName is required",
                )
            })?;
        let f = self.lambda(function)?;
        let payload = request
            .parameters
            .get("Payload")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let result = f(payload).await.map_err(lambda_error)?;
        Ok(json!({
            "ExecutedVersion": "$LATEST",
            "Payload": result,
            "SdkHttpMetadata": {"HttpHeaders": {}, "HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": uuid::Uuid::new_v4().to_string()},
            "StatusCode": 200,
        }))
    }

    async fn invoke_codebuild(&self, request: TaskRequest) -> Result<Value, TaskError> {
        let runner = read(&self.build_runner).ok_or_else(|| {
            TaskError::task_failed(
                "No build runner is configured in the local engine for codebuild:startBuild",
            )
        })?;
        if request.resource.action != "startBuild" {
            return Err(unknown(&request.resource));
        }
        let build = runner.start_build(request.parameters).await?;
        if request.resource.pattern != Pattern::Sync {
            return Ok(json!({ "Build": build }));
        }
        let id = build
            .get("Id")
            .and_then(Value::as_str)
            .ok_or_else(|| TaskError::task_failed("the build runner returned a build without Id"))?
            .to_string();
        let guard = StopOnDrop {
            runner: runner.clone(),
            id: Some(id.clone()),
        };
        let done = runner.wait_build(id).await;
        guard.disarm();
        let done = done?;
        if done.get("BuildStatus").and_then(Value::as_str) == Some("SUCCEEDED") {
            Ok(json!({ "Build": done }))
        } else {
            Err(TaskError::task_failed(json!({ "Build": done }).to_string()))
        }
    }
}

/// Lambda reports function errors with the function's own error type as Error, and its
/// error payload as Cause — unless the handler already produced such a payload.
fn lambda_error(e: TaskError) -> TaskError {
    if e.error.starts_with("Lambda.") || e.error.starts_with("States.") || e.cause.starts_with('{')
    {
        e
    } else {
        TaskError::lambda(&e.error, &e.cause)
    }
}

/// `name`, `name:alias`, or `arn:aws:lambda:<region>:<acct>:function:<name>[:qualifier]`.
pub fn function_name(function: &str) -> &str {
    let rest = match function.split_once(":function:") {
        Some((_, r)) => r,
        None => function,
    };
    rest.split(':').next().unwrap_or(rest)
}

fn unknown(resource: &Resource) -> TaskError {
    TaskError::task_failed(format!(
        "The local engine has no integration for resource '{}'",
        resource.arn
    ))
}

impl Integrations for Builtin {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<'_, Result<Value, TaskError>> {
        Box::pin(async move {
            let r = &request.resource;
            match (r.service.as_str(), r.action.as_str()) {
                ("lambda", "invoke") => self.invoke_lambda(request).await,
                ("codebuild", _) => self.invoke_codebuild(request).await,
                ("sns", "publish")
                | ("dynamodb", "putItem" | "updateItem" | "getItem" | "deleteItem")
                    if r.pattern == Pattern::RequestResponse =>
                {
                    let forwarder = read(&self.forwarder).ok_or_else(|| {
                        TaskError::task_failed(format!(
                            "No AWS forwarder is configured for resource '{}'",
                            r.arn
                        ))
                    })?;
                    let (service, action) = (r.service.clone(), r.action.clone());
                    forwarder.call(&service, &action, request.parameters).await
                }
                _ => Err(unknown(r)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources() {
        let r = Resource::parse("arn:aws:states:::lambda:invoke.waitForTaskToken");
        assert_eq!(
            (r.service.as_str(), r.action.as_str(), r.pattern),
            ("lambda", "invoke", Pattern::WaitForTaskToken)
        );
        assert_eq!(r.event_name(), "invoke.waitForTaskToken");
        let r = Resource::parse("arn:aws:states:::codebuild:startBuild.sync");
        assert_eq!(
            (r.action.as_str(), r.pattern),
            ("startBuild", Pattern::Sync)
        );
        let r = Resource::parse("arn:aws:lambda:us-east-1:123456789012:function:f:live");
        assert!(r.direct_lambda);
        assert_eq!(function_name(&r.arn), "f");
        assert_eq!(function_name("f:alias"), "f");
        assert_eq!(function_name("f"), "f");
    }
}
