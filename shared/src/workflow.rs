//! What the deploy workflow's functions share: their error type, whose `error_type` is what the
//! state machine's Retry and Catch match, and the context the state machine passes.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::artifact::S3Error;
use crate::model::{ComponentName, DeployMode, EnvironmentName, Version};
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum WorkflowError {
    #[error("{0} {1} is not a registered release")]
    ReleaseNotFound(ComponentName, Version),
    #[error("environment {0} does not exist (create it with `ferry env put`)")]
    EnvironmentNotFound(EnvironmentName),
    #[error("promotion rule: {0}")]
    PromotionRefused(String),
    #[error("{component} in {environment} is locked by deployment {deployment} (requested by {requester}, since {since})")]
    LockHeld {
        component: ComponentName,
        environment: EnvironmentName,
        deployment: String,
        requester: String,
        since: String,
    },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The environment is frozen and the deployment is not an emergency.
    #[error("{0}")]
    Frozen(String),
    /// The gate let the workflow on, but Ferry's approval record does not back it.
    #[error("not applying: {0}")]
    ApprovalNotVerified(String),
    #[error("execution {execution} is not one Ferry recorded for deployment {deployment} (deployments are requested through the Ferry API, which records the requester)")]
    UnrecordedRequest {
        deployment: String,
        execution: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("{service}: {message}")]
    Aws {
        service: &'static str,
        message: String,
    },
}

impl WorkflowError {
    /// The `error_type` the state machine sees.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::ReleaseNotFound(..) => "Ferry.ReleaseNotFound",
            Self::EnvironmentNotFound(_) => "Ferry.EnvironmentNotFound",
            Self::PromotionRefused(_) => "Ferry.PromotionRefused",
            Self::LockHeld { .. } => "Ferry.LockHeld",
            Self::InvalidInput(_) => "Ferry.InvalidInput",
            Self::Frozen(_) => "Ferry.Frozen",
            Self::ApprovalNotVerified(_) => "Ferry.ApprovalNotVerified",
            Self::UnrecordedRequest { .. } => "Ferry.UnrecordedRequest",
            Self::Store(_) | Self::S3(_) | Self::Aws { .. } => "Ferry.Transient",
        }
    }

    pub fn aws<E: std::error::Error>(service: &'static str, err: E) -> Self {
        Self::Aws {
            service,
            message: aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
        }
    }
}

/// An error the workflow can match on: `error_type` is what the state machine's Retry and Catch
/// see (a Lambda's `errorType`; locally, the engine's error name).
pub trait TaskFailure: std::error::Error {
    fn error_type(&self) -> &'static str;
    /// The message reported with the error type.
    fn message(&self) -> String {
        self.to_string()
    }
}

/// Handlers that answer every request themselves (the approval function's HTTP responses).
impl TaskFailure for std::convert::Infallible {
    fn error_type(&self) -> &'static str {
        match *self {}
    }
}

impl TaskFailure for WorkflowError {
    fn error_type(&self) -> &'static str {
        WorkflowError::error_type(self)
    }
}

/// The per-environment context every workflow function receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvContext {
    pub deployment_id: String,
    pub component: ComponentName,
    pub version: Version,
    pub environment: EnvironmentName,
    pub requester: String,
    #[serde(default)]
    pub override_reason: Option<String>,
    /// The execution that owns the lock.
    pub execution_arn: String,
    /// What the execution does; check-and-lock holds it to what Ferry recorded.
    #[serde(default)]
    pub mode: DeployMode,
}

/// The plan build's summary (`deployments/<id>/<env>/plan-summary.json`): what the gate shows
/// and a plan-only deployment records.
pub async fn read_plan_summary(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    ctx: &EnvContext,
) -> Result<crate::model::PlanSummary, WorkflowError> {
    let key = format!(
        "{}plan-summary.json",
        crate::model::plan_prefix(&ctx.deployment_id, &ctx.environment)
    );
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| WorkflowError::aws("s3:GetObject", e))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| WorkflowError::aws("s3:GetObject", e))?
        .into_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| WorkflowError::InvalidInput(format!("{key} is not a plan summary: {e}")))
}
