//! Drift: recording what a drift check's plan found, telling approvers when what runs differs
//! from what Ferry applied, and starting the checks that are due (`schedule-drift`, which
//! EventBridge Scheduler sends in AWS and the local stack sends on the same rhythm).

use chrono::{DateTime, Duration, Utc};
use ferry_shared::model::{DeployMode, DriftRecord, PlanSummary, ResourceChange};
use ferry_shared::operations::{start_deployment, DeployRequest};
use ferry_shared::workflow::{EnvContext, WorkflowError};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::Deps;

/// Who starts scheduled drift checks, as their deployments record it.
pub const SCHEDULER: &str = "ferry:drift-schedule";

/// What a drift check's plan means: whether it drifted, and what differs.
pub fn judge(plan: &PlanSummary) -> (bool, Vec<ResourceChange>) {
    let mut differs = plan.resources.clone();
    differs.extend(plan.drift.iter().cloned());
    (plan.shows_drift(), differs)
}

/// Records a drift check's result and, when it drifted, tells approvers.
pub async fn record(
    deps: &Deps,
    ctx: &EnvContext,
    plan: &PlanSummary,
) -> Result<bool, WorkflowError> {
    let (drifted, resources) = judge(plan);
    let record = DriftRecord {
        component: ctx.component.clone(),
        environment: ctx.environment.clone(),
        version: ctx.version.clone(),
        deployment_id: ctx.deployment_id.clone(),
        checked_at: Utc::now(),
        drifted,
        resources,
    };
    deps.store.put_drift(&record).await?;
    if drifted {
        notify(deps, &record).await;
    }
    info!(drifted, "drift check recorded");
    Ok(drifted)
}

/// Best effort: the record is what `ferry drift` shows; a lost message loses no record.
async fn notify(deps: &Deps, r: &DriftRecord) {
    let Some(topic) = deps.topic_arn.as_deref() else {
        return;
    };
    let mut body = format!(
        "{} {} in {} differs from what Ferry applied (drift check {}):\n",
        r.component, r.version, r.environment, r.deployment_id
    );
    for c in &r.resources {
        body.push_str(&format!("  {} {}", c.actions.join("/"), c.address));
        if !c.attributes.is_empty() {
            body.push_str(&format!(" ({})", c.attributes.join(", ")));
        }
        body.push('\n');
    }
    body.push_str(&format!(
        "\nSee it:     ferry drift {}\nReconcile:  ferry drift reconcile {} --env {}  (plans and applies {} again, through the approval gate)\n",
        r.component, r.component, r.environment, r.version
    ));
    let subject = format!("Drift: {} in {}", r.component, r.environment);
    if let Err(e) = deps
        .sns
        .publish()
        .topic_arn(topic)
        .subject(subject)
        .message(body)
        .send()
        .await
    {
        warn!(error = %aws_sdk_sns::error::DisplayErrorContext(&e), "the drift notification was not sent");
    }
}

/// The scheduler's request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDrift {}

/// What the scheduler started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    pub started: Vec<String>,
}

/// Starts a drift check of every live component in every environment whose `--drift-check`
/// interval has passed since its last check. A component whose lock is held (a deployment
/// runs) is left for the next round.
pub async fn schedule(deps: &Deps, now: DateTime<Utc>) -> Result<Scheduled, WorkflowError> {
    let (Some(sfn), Some(machine)) = (&deps.sfn, &deps.state_machine_arn) else {
        return Err(WorkflowError::InvalidInput(
            "this function is not configured to start drift checks (FERRY_STATE_MACHINE_ARN)"
                .into(),
        ));
    };
    let store = &deps.store;
    let envs = store.list_environments().await?;
    let mut started = Vec::new();
    for c in store.list_components().await? {
        let live = store.list_live(&c).await?;
        let last = store.list_drift(&c).await?;
        for env in &envs {
            let Some(every) = env
                .drift_check_secs
                .and_then(|s| i64::try_from(s).ok())
                .and_then(Duration::try_seconds)
            else {
                continue;
            };
            if !live.iter().any(|l| l.environment == env.name) {
                continue;
            }
            let due = last
                .iter()
                .find(|d| d.environment == env.name)
                .is_none_or(|d| {
                    d.checked_at
                        .checked_add_signed(every)
                        .is_none_or(|at| at <= now)
                });
            if !due || store.get_lock(&c, &env.name).await?.is_some() {
                continue;
            }
            let req = DeployRequest {
                component: c.clone(),
                version: None,
                targets: vec![env.name.clone()],
                reason: Some(format!(
                    "scheduled drift check (every {}s)",
                    every.num_seconds()
                )),
                mode: DeployMode::Drift,
                emergency: None,
            };
            match start_deployment(store, sfn, machine, &req, SCHEDULER).await {
                Ok(d) => started.push(d.id),
                Err(e) => {
                    warn!(component = %c, environment = %env.name, error = %e, "drift check not started")
                }
            }
        }
    }
    info!(started = started.len(), "drift checks scheduled");
    Ok(Scheduled { started })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_or_refresh_drift_mean_drift() {
        let mut plan = PlanSummary {
            no_changes: true,
            ..PlanSummary::default()
        };
        assert_eq!(judge(&plan), (false, vec![]));
        let drifted = ResourceChange {
            address: "terraform_data.service".into(),
            actions: vec!["update".into()],
            attributes: vec!["input".into()],
        };
        plan.drift = vec![drifted.clone()];
        assert_eq!(judge(&plan), (true, vec![drifted.clone()]));
        plan.drift.clear();
        plan.no_changes = false;
        plan.resources = vec![drifted.clone()];
        assert_eq!(judge(&plan), (true, vec![drifted]));
    }
}
