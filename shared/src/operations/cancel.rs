//! Stopping a deployment and recording it: `ferry cancel`, and `ferry local down` for whatever
//! is still running, do it one way.

use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::types::ExecutionStatus;
use thiserror::Error;

use super::{record_environment_outcome, EnvOutcome};
use crate::model::{Deployment, DeploymentStatus, Outcome, StepStatus};
use crate::store::{Store, StoreError};
use crate::workflow::EnvContext;

#[derive(Debug, Error)]
pub enum CancelError {
    #[error("no deployment {0}")]
    NotFound(String),
    #[error("deployment {0} has no execution")]
    NoExecution(String),
    #[error("deployment {id} already ended ({status})")]
    AlreadyEnded {
        id: String,
        status: DeploymentStatus,
    },
    #[error(
        "cannot tell whether deployment {id} is still running, so nothing was changed: {message}"
    )]
    Unreadable { id: String, message: String },
    #[error("could not stop the execution of deployment {id}: {message}")]
    Stop { id: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The execution's status; `None` when the execution does not exist. Any other failure to read
/// it is an error: callers that act on the answer must not guess.
pub async fn execution_status(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
) -> Result<Option<ExecutionStatus>, String> {
    match sfn.describe_execution().execution_arn(arn).send().await {
        Ok(o) => Ok(Some(o.status().clone())),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_execution_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!(
            "reading execution {arn} (states:DescribeExecution): {}",
            DisplayErrorContext(&e)
        )),
    }
}

/// Stops a running deployment and records it: each environment it had started is recorded as
/// aborted (history, step, open approval closed) and its lock released — what the workflow's
/// Catch paths do, which a stopped execution never reaches. `cause` says who and why. Stopping
/// the execution stops its running build too (Step Functions stops a `.sync` job with it). When
/// the execution's state cannot be read, nothing is changed: releasing locks under a live
/// execution is worse than refusing.
pub async fn cancel_deployment(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    id: &str,
    cause: &str,
) -> Result<Deployment, CancelError> {
    let d = store
        .get_deployment(id)
        .await?
        .ok_or_else(|| CancelError::NotFound(id.to_owned()))?;
    let arn = d
        .execution_arn
        .clone()
        .ok_or_else(|| CancelError::NoExecution(id.to_owned()))?;
    let status = execution_status(sfn, &arn)
        .await
        .map_err(|message| CancelError::Unreadable {
            id: id.to_owned(),
            message,
        })?;
    if status == Some(ExecutionStatus::Running) {
        sfn.stop_execution()
            .execution_arn(&arn)
            .error("Ferry.Cancelled")
            .cause(cause)
            .send()
            .await
            .map_err(|e| CancelError::Stop {
                id: id.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
    } else if d.status.is_final() {
        return Err(CancelError::AlreadyEnded {
            id: id.to_owned(),
            status: d.status,
        });
    }
    record_stopped(store, &d, &arn, cause).await
}

/// Records a deployment whose execution no longer runs as aborted, with `cause`: each
/// environment it had started (history, step, open approval closed, lock released), then the
/// deployment itself.
pub async fn record_stopped(
    store: &Store,
    d: &Deployment,
    arn: &str,
    cause: &str,
) -> Result<Deployment, CancelError> {
    let id = d.id.as_str();
    for env in &d.targets {
        let Some(step) = store.get_step(id, env).await? else {
            continue; // never started: nothing to record or release
        };
        if step.status.is_final() {
            continue;
        }
        // Approved means the apply may have started: say so rather than "aborted", which would
        // claim nothing changed.
        let outcome = if step.status == StepStatus::Approved {
            EnvOutcome {
                outcome: Outcome::ApplyInterrupted,
                approver: step.approver.clone(),
                reason: Some(format!(
                    "Ferry.Cancelled: {cause}; the apply was stopped and terraform may have \
                     changed some resources in {env}: its state for {} in {env} records what it \
                     did — deploy again (its plan shows what remains; if the stopped terraform \
                     left its state lock held, that deploy says so and `ferry unlock` clears \
                     it) or roll back",
                    d.component
                )),
                apply_build_id: None,
                emergency: d.emergency.clone(),
            }
        } else {
            EnvOutcome {
                outcome: Outcome::Aborted,
                approver: None,
                reason: Some(format!("Ferry.Cancelled: {cause}")),
                apply_build_id: None,
                emergency: d.emergency.clone(),
            }
        };
        let ctx = EnvContext {
            deployment_id: d.id.clone(),
            component: d.component.clone(),
            version: d.version.clone(),
            environment: env.clone(),
            requester: d.requester.clone(),
            override_reason: d.override_reason.clone(),
            execution_arn: arn.to_owned(),
            mode: d.mode,
        };
        record_environment_outcome(store, &ctx, &outcome).await?;
    }
    store
        .set_deployment_status(id, DeploymentStatus::Aborted, Some(cause))
        .await?;
    store
        .get_deployment(id)
        .await?
        .ok_or_else(|| CancelError::NotFound(id.to_owned()))
}
