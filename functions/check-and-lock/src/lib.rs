//! check-and-lock: the first step for each environment. The release must be registered, the
//! environment must exist, the promotion rule must hold (or be overridden with a recorded
//! reason), the component+environment lock must be free (or held by a finished execution), and
//! terraform's own state lock must not be left behind by a build that died.

use chrono::Utc;
use ferry_shared::model::{
    terraform_lock_key, unlock_command, ApprovalPolicy, ComponentName, DeployMode, EnvironmentName,
    Lock, LockAttempt, StepStatus, TerraformLockInfo,
};
use ferry_shared::operations::{
    promotion_gaps, record_stopped, recorded_deployment, succeeded_in, CancelError,
};
use ferry_shared::store::{Store, StoreError};
use ferry_shared::workflow::{EnvContext, TaskFailure, WorkflowError};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::{info, instrument, warn};

#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    pub sfn: aws_sdk_sfn::Client,
    /// Reads terraform's lock file (`state/<component>/<env>/terraform.tfstate.tflock`).
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

/// Why the check refused: the workflow's own errors, and terraform's state lock left behind.
#[derive(Debug, Error)]
pub enum CheckError {
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// Ferry's lock says no build of this component+environment runs, yet terraform's lock file
    /// is there: a build was killed mid-terraform. Terraform would refuse every plan with only
    /// "Error acquiring the state lock", so the check refuses first, saying how to clear it.
    #[error("terraform's state lock on {key} is held ({lock}), but no Ferry build of {component} in {environment} is running{last}: a build died holding it; once nothing runs terraform on this state, clear it with `{command}`")]
    TerraformLocked {
        key: String,
        lock: String,
        component: ComponentName,
        environment: EnvironmentName,
        /// " (last build: … of deployment …, failed)" when Ferry recorded one.
        last: String,
        command: String,
    },
}

impl From<StoreError> for CheckError {
    fn from(e: StoreError) -> Self {
        Self::Workflow(e.into())
    }
}

impl TaskFailure for CheckError {
    fn error_type(&self) -> &'static str {
        match self {
            Self::Workflow(e) => e.error_type(),
            Self::TerraformLocked { .. } => "Ferry.TerraformLocked",
        }
    }
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

#[instrument(skip(deps, ctx), fields(deployment = %ctx.deployment_id, component = %ctx.component, environment = %ctx.environment))]
pub async fn handle(deps: &Deps, ctx: EnvContext) -> Result<CheckOutput, CheckError> {
    let store = &deps.store;
    // Three independent reads at once (one round trip instead of three); what they found is
    // judged in the same order as before.
    let (recorded, release, env) = tokio::try_join!(
        recorded_deployment(
            store,
            &ctx.deployment_id,
            &ctx.execution_arn,
            Some(&ctx.requester),
        ),
        store.get_release(&ctx.component, &ctx.version),
        store.get_environment(&ctx.environment),
    )?;
    // Only a deployment Ferry recorded, with the requester it recorded, goes anywhere.
    let Some(recorded) = recorded.filter(|d| d.mode == ctx.mode) else {
        return Err(WorkflowError::UnrecordedRequest {
            deployment: ctx.deployment_id.clone(),
            execution: ctx.execution_arn.clone(),
        }
        .into());
    };
    let release = release.ok_or_else(|| {
        WorkflowError::ReleaseNotFound(ctx.component.clone(), ctx.version.clone())
    })?;
    let env = env.ok_or_else(|| WorkflowError::EnvironmentNotFound(ctx.environment.clone()))?;

    // A plan changes nothing, so it is neither frozen nor held to the promotion rule.
    let plans_only = matches!(ctx.mode, DeployMode::PlanOnly | DeployMode::Drift);
    if !plans_only && recorded.emergency.is_none() {
        if let Some(refusal) = env.frozen_now(Utc::now()) {
            return Err(WorkflowError::Frozen(refusal.to_string()).into());
        }
    }
    let reason = ctx
        .override_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    match ctx.mode {
        DeployMode::Deploy => {
            let (history, envs) = tokio::try_join!(
                store.list_history(&ctx.component, None),
                store.list_environments()
            )?;
            let gaps = promotion_gaps(&envs, &history, &env, &ctx.version);
            if !gaps.is_empty() {
                let names: Vec<&str> = gaps.iter().map(EnvironmentName::as_str).collect();
                match reason {
                    Some(r) => warn!(skipped = ?names, reason = r, "promotion rule overridden"),
                    None => {
                        return Err(WorkflowError::PromotionRefused(format!(
                            "{} {} never succeeded in {} (earlier in the promotion order than \
                             {}); deploy there first or override with --reason",
                            ctx.component,
                            ctx.version,
                            names.join(", "),
                            ctx.environment
                        ))
                        .into())
                    }
                }
            }
        }
        DeployMode::Rollback => {
            let history = store
                .list_history(&ctx.component, Some(&ctx.environment))
                .await?;
            if !succeeded_in(&history, &ctx.environment, &ctx.version) {
                return Err(WorkflowError::PromotionRefused(format!(
                    "{} {} never succeeded in {}, so it is not a rollback there; deploy it with \
                     `ferry deploy`",
                    ctx.component, ctx.version, ctx.environment
                ))
                .into());
            }
        }
        DeployMode::Destroy | DeployMode::Drift => {
            let live = store.get_live(&ctx.component, &ctx.environment).await?;
            if live.as_ref().map(|l| &l.version) != Some(&ctx.version) {
                return Err(WorkflowError::InvalidInput(format!(
                    "{} {} is not what is live in {} any more; nothing to {}",
                    ctx.component, ctx.version, ctx.environment, ctx.mode
                ))
                .into());
            }
        }
        DeployMode::PlanOnly => {}
    }

    let lock = Lock {
        component: ctx.component.clone(),
        environment: ctx.environment.clone(),
        owner: ctx.execution_arn.clone(),
        deployment_id: ctx.deployment_id.clone(),
        requester: ctx.requester.clone(),
        acquired_at: Utc::now(),
    };
    take_lock(deps, &ctx, &lock).await?;

    // Ferry's lock guarantees no other Ferry build of this component+environment runs now, so a
    // terraform lock file present at this point was left behind by one that died. The refusal
    // goes through the workflow's Catch to "Record failure", which releases Ferry's lock as on
    // every failure path (so this function needs no DeleteItem).
    if let Some(info) = terraform_lock(deps, &ctx.component, &ctx.environment).await? {
        let last = last_build(store, &ctx).await.unwrap_or_else(|e| {
            warn!(error = %e, "could not read the last recorded build");
            String::new()
        });
        warn!(lock = %info.describe(), "terraform's state lock was left behind");
        return Err(CheckError::TerraformLocked {
            key: terraform_lock_key(&ctx.component, &ctx.environment),
            lock: info.describe(),
            component: ctx.component.clone(),
            environment: ctx.environment.clone(),
            last,
            command: unlock_command(&ctx.component, &ctx.environment),
        });
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
        // A destroy always waits for people, whatever the environment's policy.
        approval: match ctx.mode {
            DeployMode::Destroy => ApprovalPolicy::Required.as_str().to_owned(),
            _ => env.approval.as_str().to_owned(),
        },
        approval_timeout_seconds: env.approval_timeout_secs,
    })
}

/// How many times a lock taken over under our feet is read again before giving up: each retry
/// means another execution won a race, so a handful is plenty.
const LOCK_ATTEMPTS: usize = 5;

/// Takes Ferry's component+environment lock for `lock.owner`, taking over a lock whose execution
/// is no longer running (a stopped execution runs no Catch). When another deployment wins the
/// race for a stale lock, the error names that winner, never the stale holder both read.
async fn take_lock(deps: &Deps, ctx: &EnvContext, lock: &Lock) -> Result<(), CheckError> {
    let store = &deps.store;
    let mut attempt = store.acquire_lock(lock).await?;
    for _ in 0..LOCK_ATTEMPTS {
        let holder = match attempt {
            LockAttempt::Acquired => return Ok(()),
            LockAttempt::HeldBy(holder) => holder,
        };
        if execution_running(&deps.sfn, &holder.owner).await? {
            return Err(lock_held(ctx, &holder).into());
        }
        attempt = store.take_over_lock(lock, &holder.owner).await?;
        if attempt == LockAttempt::Acquired {
            warn!(stale = %holder.deployment_id, "took over the lock of a finished execution");
            abort_stale(store, &holder.deployment_id, &ctx.deployment_id).await?;
        }
    }
    match attempt {
        LockAttempt::Acquired => Ok(()),
        LockAttempt::HeldBy(holder) => Err(lock_held(ctx, &holder).into()),
    }
}

fn lock_held(ctx: &EnvContext, holder: &Lock) -> WorkflowError {
    WorkflowError::LockHeld {
        component: ctx.component.clone(),
        environment: ctx.environment.clone(),
        deployment: holder.deployment_id.clone(),
        requester: holder.requester.clone(),
        since: holder.acquired_at.to_rfc3339(),
    }
}

/// The deployment whose stale lock was taken over ended without saying so (stopped outside
/// Ferry: no Catch ran): record it aborted — its steps, history, and any gate it left open, so
/// nobody sees a pending approval for a workflow that is gone.
async fn abort_stale(store: &Store, deployment: &str, taker: &str) -> Result<(), StoreError> {
    let Some(d) = store.get_deployment(deployment).await? else {
        return Ok(());
    };
    let Some(arn) = d.execution_arn.clone().filter(|_| !d.status.is_final()) else {
        return Ok(());
    };
    let cause = format!(
        "its execution ended without Ferry recording it; found when deployment {taker} took over its lock"
    );
    match record_stopped(store, &d, &arn, &cause).await {
        Ok(_) => Ok(()),
        Err(CancelError::Store(e)) => Err(e),
        Err(e) => {
            warn!(error = %e, "recording the stale deployment failed");
            Ok(())
        }
    }
}

/// Terraform's lock file for component+environment, if there is one.
async fn terraform_lock(
    deps: &Deps,
    component: &ComponentName,
    env: &EnvironmentName,
) -> Result<Option<TerraformLockInfo>, CheckError> {
    let key = terraform_lock_key(component, env);
    match deps
        .s3
        .get_object()
        .bucket(&deps.bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(out) => {
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| WorkflowError::aws("s3:GetObject", e))?
                .into_bytes();
            Ok(Some(TerraformLockInfo::from_bytes(&bytes)))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(WorkflowError::aws("s3:GetObject", e).into()),
    }
}

/// " (last build: ferry-terraform:… of deployment D, failed)": the newest build Ferry recorded for
/// component+environment — the likeliest to have died holding terraform's lock. Looks at a few
/// recent history entries only (refusals like this one ran no build).
async fn last_build(store: &Store, ctx: &EnvContext) -> Result<String, StoreError> {
    let history = store
        .list_history(&ctx.component, Some(&ctx.environment))
        .await?;
    for h in history.iter().take(10) {
        let Some(step) = store.get_step(&h.deployment_id, &ctx.environment).await? else {
            continue;
        };
        if let Some(build) = step.apply_build_id.or(step.plan_build_id) {
            return Ok(format!(
                " (last build: {build} of deployment {}, {})",
                h.deployment_id, h.outcome
            ));
        }
    }
    Ok(String::new())
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
