//! How an environment ends: the workflow's record-result function and `ferry cancel` record it
//! the same way.

use chrono::Utc;
use tracing::{info, warn};

use crate::model::{ApprovalStatus, HistoryEntry, Live, Outcome, StepStatus};
use crate::store::{ApprovalMove, Store, StoreError};
use crate::workflow::EnvContext;

/// How one environment of a deployment ended.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvOutcome {
    pub outcome: Outcome,
    pub approver: Option<String>,
    /// Why it did not succeed, in one line.
    pub reason: Option<String>,
    pub apply_build_id: Option<String>,
    /// Why the deployment passed a freeze, when it did (from its record).
    pub emergency: Option<String>,
}

/// The build an environment failed in, as the workflow's Catch and the build itself report it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FailedBuild {
    /// `plan` or `apply` (the build's `FERRY_ACTION`), when known.
    pub action: Option<String>,
    pub build_id: Option<String>,
    /// The build's one-line reason file (`deployments/<id>/<env>/<action>-failure.txt`).
    pub reason: Option<String>,
}

/// Records how an environment ended — live version on success, the pending approval closed on
/// a timeout, a history line, the step — and then releases the lock `ctx.execution_arn` holds.
/// Returns whether the lock was released (false: never taken, or taken over).
pub async fn record_environment_outcome(
    store: &Store,
    ctx: &EnvContext,
    o: &EnvOutcome,
) -> Result<bool, StoreError> {
    Box::pin(record_environment_outcome_with(store, ctx, o, None)).await
}

/// [`record_environment_outcome`], with what the failed build said about itself: its reason
/// goes on the step (`failure_reason`) and into the history line, its id on the step.
pub async fn record_environment_outcome_with(
    store: &Store,
    ctx: &EnvContext,
    o: &EnvOutcome,
    failed: Option<&FailedBuild>,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let failure_reason = failed.and_then(|f| f.reason.clone());
    let history_reason = match (&o.reason, &failure_reason) {
        (Some(r), Some(f)) => Some(format!("{r}: {f}")),
        (r, f) => r.clone().or_else(|| f.clone()),
    }
    // Otherwise why it was requested: a promotion override, a rollback's or a destroy's reason.
    .or_else(|| ctx.override_reason.clone());
    if o.outcome == Outcome::Destroyed {
        store.delete_live(&ctx.component, &ctx.environment).await?;
    }
    if o.outcome == Outcome::Succeeded && ctx.mode.makes_live() {
        store
            .put_live(&Live {
                component: ctx.component.clone(),
                environment: ctx.environment.clone(),
                version: ctx.version.clone(),
                deployment_id: ctx.deployment_id.clone(),
                deployed_at: now,
                requester: ctx.requester.clone(),
                approver: o.approver.clone(),
            })
            .await?;
    }
    if let Some(a) = store
        .get_approval(&ctx.component, &ctx.deployment_id, &ctx.environment)
        .await?
    {
        // The gate's end settles its record: a timeout closes it so nobody can approve it
        // later; a decision the gate accepted but whose final write was lost is settled from
        // what the workflow did with it.
        let settle = match (o.outcome, a.status) {
            (Outcome::TimedOut, ApprovalStatus::Pending | ApprovalStatus::Deciding) => {
                Some(ApprovalMove::Expire)
            }
            (Outcome::Rejected, ApprovalStatus::Deciding) => {
                Some(ApprovalMove::Settle(ApprovalStatus::Rejected))
            }
            (_, ApprovalStatus::Deciding) if o.approver.is_some() => {
                Some(ApprovalMove::Settle(ApprovalStatus::Approved))
            }
            // Any other end (cancelled, stopped, failed) closes a gate that was still open, so
            // it is neither listed as pending nor decidable.
            (_, ApprovalStatus::Pending | ApprovalStatus::Deciding) => Some(ApprovalMove::Close {
                why: o.reason.as_deref().unwrap_or("the deployment ended"),
            }),
            _ => None,
        };
        if let Some(m) = settle {
            store.move_approval(&a, m).await?;
        }
    }
    // A drift check that found nothing is kept in the drift record only: history would
    // otherwise fill with a line per check.
    if o.outcome != Outcome::InSync {
        store
            .add_history(&HistoryEntry {
                component: ctx.component.clone(),
                environment: ctx.environment.clone(),
                version: ctx.version.clone(),
                deployment_id: ctx.deployment_id.clone(),
                outcome: o.outcome,
                recorded_at: now,
                requester: ctx.requester.clone(),
                approver: o.approver.clone(),
                reason: history_reason,
                mode: Some(ctx.mode),
                emergency: o.emergency.clone(),
                terraform_lock: None,
            })
            .await?;
    }
    store
        .update_step(&ctx.deployment_id, &ctx.environment, |s| {
            s.status = StepStatus::from(o.outcome);
            s.finished_at = Some(now);
            if o.apply_build_id.is_some() {
                s.apply_build_id = o.apply_build_id.clone();
            }
            if o.reason.is_some() {
                s.error = o.reason.clone();
            }
            if failure_reason.is_some() {
                s.failure_reason = failure_reason.clone();
            }
            if let Some(f) = failed {
                match (f.action.as_deref(), &f.build_id) {
                    (Some("plan"), Some(id)) => s.plan_build_id = Some(id.clone()),
                    (Some("apply"), Some(id)) => s.apply_build_id = Some(id.clone()),
                    _ => {}
                }
            }
            if s.approver.is_none() {
                s.approver = o.approver.clone();
            }
        })
        .await?;
    let released = store
        .release_lock(&ctx.component, &ctx.environment, &ctx.execution_arn)
        .await?;
    if !released {
        warn!(
            deployment = %ctx.deployment_id,
            environment = %ctx.environment,
            "lock was not held by this execution (never taken, or taken over)"
        );
    }
    info!(deployment = %ctx.deployment_id, environment = %ctx.environment, outcome = %o.outcome, released, "environment result recorded");
    Ok(released)
}
