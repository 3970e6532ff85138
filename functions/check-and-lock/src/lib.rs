//! check-and-lock: the first step for each environment. The release must be registered, the
//! environment must exist, the promotion rule must hold (or be overridden with a recorded
//! reason), and the component+environment lock must be free (or held by a finished execution).

use chrono::Utc;
use ferry_shared::model::{
    DeploymentStatus, Environment, EnvironmentName, Live, Lock, LockAttempt, StepStatus, Version,
};
use ferry_shared::operations::recorded_deployment;
use ferry_shared::store::Store;
use ferry_shared::workflow::{EnvContext, WorkflowError};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument, warn};

#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    pub sfn: aws_sdk_sfn::Client,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutput {
    pub release_sha256: String,
    /// The S3 VersionId registered with the release, which the builds download; empty only for
    /// a release registered from an unversioned bucket (CodeBuild variables are strings).
    #[serde(default)]
    pub release_version_id: String,
    pub approval: String,
    pub approval_timeout_seconds: u64,
}

/// Environments before `target` in promotion order where `version` is not live.
pub fn promotion_gaps(
    envs: &[Environment],
    live: &[Live],
    target: &Environment,
    version: &Version,
) -> Vec<EnvironmentName> {
    envs.iter()
        .filter(|e| e.order < target.order)
        .filter(|e| {
            !live
                .iter()
                .any(|l| l.environment == e.name && &l.version == version)
        })
        .map(|e| e.name.clone())
        .collect()
}

#[instrument(skip(deps, ctx), fields(deployment = %ctx.deployment_id, component = %ctx.component, environment = %ctx.environment))]
pub async fn handle(deps: &Deps, ctx: EnvContext) -> Result<CheckOutput, WorkflowError> {
    let store = &deps.store;
    // Only a deployment Ferry recorded, with the requester it recorded, goes anywhere.
    if recorded_deployment(
        store,
        &ctx.deployment_id,
        &ctx.execution_arn,
        Some(&ctx.requester),
    )
    .await?
    .is_none()
    {
        return Err(WorkflowError::UnrecordedRequest {
            deployment: ctx.deployment_id.clone(),
            execution: ctx.execution_arn.clone(),
        });
    }
    let release = store
        .get_release(&ctx.component, &ctx.version)
        .await?
        .ok_or_else(|| {
            WorkflowError::ReleaseNotFound(ctx.component.clone(), ctx.version.clone())
        })?;
    let env = store
        .get_environment(&ctx.environment)
        .await?
        .ok_or_else(|| WorkflowError::EnvironmentNotFound(ctx.environment.clone()))?;

    let reason = ctx
        .override_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let gaps = promotion_gaps(
        &store.list_environments().await?,
        &store.list_live(&ctx.component).await?,
        &env,
        &ctx.version,
    );
    if !gaps.is_empty() {
        let names: Vec<&str> = gaps.iter().map(EnvironmentName::as_str).collect();
        match reason {
            Some(r) => warn!(skipped = ?names, reason = r, "promotion rule overridden"),
            None => {
                return Err(WorkflowError::PromotionRefused(format!(
                    "{} {} is not live in {} (earlier in the promotion order than {}); deploy \
                     there first or override with --reason",
                    ctx.component,
                    ctx.version,
                    names.join(", "),
                    ctx.environment
                )))
            }
        }
    }

    let lock = Lock {
        component: ctx.component.clone(),
        environment: ctx.environment.clone(),
        owner: ctx.execution_arn.clone(),
        deployment_id: ctx.deployment_id.clone(),
        requester: ctx.requester.clone(),
        acquired_at: Utc::now(),
    };
    if let LockAttempt::HeldBy(holder) = store.acquire_lock(&lock).await? {
        let held = || WorkflowError::LockHeld {
            component: ctx.component.clone(),
            environment: ctx.environment.clone(),
            deployment: holder.deployment_id.clone(),
            requester: holder.requester.clone(),
            since: holder.acquired_at.to_rfc3339(),
        };
        // A stopped execution runs no Catch; its lock is released here, lazily.
        if execution_running(&deps.sfn, &holder.owner).await? {
            return Err(held());
        }
        if !store.take_over_lock(&lock, &holder.owner).await? {
            return Err(held());
        }
        warn!(stale = %holder.deployment_id, "took over the lock of a finished execution");
        if let Some(d) = store.get_deployment(&holder.deployment_id).await? {
            if d.status == DeploymentStatus::Running {
                store
                    .set_deployment_status(
                        &d.id,
                        DeploymentStatus::Aborted,
                        Some("execution ended without releasing its lock"),
                    )
                    .await?;
            }
        }
    }

    store
        .update_step(&ctx.deployment_id, &ctx.environment, |s| {
            s.status = StepStatus::Checked;
            s.checked_at = Some(Utc::now());
        })
        .await?;
    info!(override = reason.is_some(), "checked and locked");
    Ok(CheckOutput {
        release_sha256: release.sha256,
        release_version_id: release.version_id.unwrap_or_default(),
        approval: env.approval.as_str().to_owned(),
        approval_timeout_seconds: env.approval_timeout_secs,
    })
}

/// Whether the lock owner's execution is still running; a vanished one is not.
async fn execution_running(sfn: &aws_sdk_sfn::Client, arn: &str) -> Result<bool, WorkflowError> {
    match sfn.describe_execution().execution_arn(arn).send().await {
        Ok(out) => Ok(out.status() == &aws_sdk_sfn::types::ExecutionStatus::Running),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_execution_does_not_exist() || s.is_invalid_arn()) =>
        {
            Ok(false)
        }
        Err(e) => Err(WorkflowError::aws("states:DescribeExecution", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_shared::model::{ApprovalPolicy, ComponentName};

    fn env(name: &str, order: u32) -> Environment {
        Environment {
            name: EnvironmentName::parse(name).unwrap(),
            order,
            approval: ApprovalPolicy::None,
            approvers: vec![],
            four_eyes: false,
            trusted_session_roles: vec![],
            approval_timeout_secs: 60,
            updated_at: Utc::now(),
        }
    }

    fn live(name: &str, version: &str) -> Live {
        Live {
            component: ComponentName::parse("web").unwrap(),
            environment: EnvironmentName::parse(name).unwrap(),
            version: Version::parse(version).unwrap(),
            deployment_id: "d".into(),
            deployed_at: Utc::now(),
            requester: "r".into(),
            approver: None,
        }
    }

    #[test]
    fn promotion_requires_every_earlier_environment() {
        let envs = [env("dev", 1), env("staging", 2), env("prod", 3)];
        let v = Version::parse("1.2.0").unwrap();
        assert!(promotion_gaps(&envs, &[], &envs[0], &v).is_empty());
        let gaps = promotion_gaps(
            &envs,
            &[live("dev", "1.2.0"), live("staging", "1.1.0")],
            &envs[2],
            &v,
        );
        assert_eq!(gaps, vec![EnvironmentName::parse("staging").unwrap()]);
        let ok = [live("dev", "1.2.0"), live("staging", "1.2.0")];
        assert!(promotion_gaps(&envs, &ok, &envs[2], &v).is_empty());
    }
}
