//! request-approval: the approval gate (`lambda:invoke.waitForTaskToken`). It records the plan
//! the approver will see and decides by the environment's policy: `none`, or `auto` with a plan
//! that changes nothing, completes the gate at once; otherwise it stores the pending approval
//! (with the task token, which is never logged) and notifies approvers. People decide through
//! the approval function, never with SendTaskSuccess themselves.

use chrono::{Duration, Utc};
use ferry_shared::gate::{self, GateError, TokenKey};
use ferry_shared::model::{
    plan_prefix, Approval, ApprovalPolicy, ApprovalStatus, Decision, PlanSummary, SealedToken,
    StepStatus, TaskToken,
};
use ferry_shared::store::Store;
use ferry_shared::workflow::{EnvContext, WorkflowError};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    pub token_key: TokenKey,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: String,
    pub sfn: aws_sdk_sfn::Client,
}

/// The gate's input; the token's `Debug` is redacted, so the whole input may be debug-printed.
#[derive(Debug, Clone, Deserialize)]
pub struct GateInput {
    pub task_token: TaskToken,
    #[serde(flatten)]
    pub ctx: EnvContext,
    pub plan_build_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutput {
    /// Approved when the policy decided, pending when a person must.
    pub status: ApprovalStatus,
    pub plan_summary: String,
}

/// Who (or what rule) decides a plan under `policy`: `Some(rule)` when no person is needed.
pub fn automatic_decision(policy: ApprovalPolicy, plan: &PlanSummary) -> Option<&'static str> {
    match policy {
        ApprovalPolicy::None => Some("policy:none"),
        ApprovalPolicy::Auto if plan.no_changes => Some("policy:auto (plan has no changes)"),
        ApprovalPolicy::Auto | ApprovalPolicy::Required => None,
    }
}

async fn read_plan_summary(deps: &Deps, ctx: &EnvContext) -> Result<PlanSummary, WorkflowError> {
    let key = format!(
        "{}plan-summary.json",
        plan_prefix(&ctx.deployment_id, &ctx.environment)
    );
    let out = deps
        .s3
        .get_object()
        .bucket(&deps.bucket)
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

#[instrument(skip(deps, input), fields(deployment = %input.ctx.deployment_id, environment = %input.ctx.environment))]
pub async fn handle(deps: &Deps, input: GateInput) -> Result<GateOutput, WorkflowError> {
    let ctx = &input.ctx;
    let store = &deps.store;
    let env = store
        .get_environment(&ctx.environment)
        .await?
        .ok_or_else(|| WorkflowError::EnvironmentNotFound(ctx.environment.clone()))?;
    let plan = read_plan_summary(deps, ctx).await?;
    let now = Utc::now();
    // The stored timeout is data: bound it before it meets date arithmetic.
    let expires_at = i64::try_from(env.approval_timeout_secs)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| {
            WorkflowError::InvalidInput(format!(
                "environment {} has an approval timeout of {} s, which no date can hold",
                env.name, env.approval_timeout_secs
            ))
        })?;
    let auto = automatic_decision(env.approval, &plan);

    // Sealed for the record (only the approval function unseals it); the auto path needs none.
    let sealed = match auto {
        Some(_) => SealedToken::default(),
        None => deps
            .token_key
            .seal(&input.task_token, &ctx.deployment_id, &ctx.environment)
            .await
            .map_err(|e| WorkflowError::Aws {
                service: "kms:Encrypt",
                message: e.to_string(),
            })?,
    };
    let mut approval = Approval {
        deployment_id: ctx.deployment_id.clone(),
        component: ctx.component.clone(),
        version: ctx.version.clone(),
        environment: ctx.environment.clone(),
        requester: ctx.requester.clone(),
        status: ApprovalStatus::Pending,
        plan_sha256: plan.plan_sha256.clone(),
        plan_summary: plan.clone(),
        requested_at: now,
        expires_at,
        task_token: sealed,
        decided_by: None,
        comment: None,
        decided_at: None,
        gate_error: None,
    };
    if let Some(rule) = auto {
        approval.status = ApprovalStatus::Approved;
        approval.decided_by = Some(rule.into());
        approval.decided_at = Some(now);
    }
    store.put_approval(&approval).await?;
    store
        .update_step(&ctx.deployment_id, &ctx.environment, |s| {
            s.status = if auto.is_some() {
                StepStatus::Approved
            } else {
                StepStatus::AwaitingApproval
            };
            s.plan_build_id = Some(input.plan_build_id.clone());
            s.plan_summary = Some(plan.clone());
            s.planned_at = Some(now);
            s.approval_requested_at = Some(now);
            if let Some(rule) = auto {
                s.approver = Some(rule.into());
                s.decided_at = Some(now);
            }
        })
        .await?;

    if let Some(rule) = auto {
        let decision = Decision {
            decision: ApprovalStatus::Approved,
            approver: rule.into(),
            comment: None,
            plan_sha256: plan.plan_sha256.clone(),
            plan_summary: plan.to_string(),
        };
        gate::send_decision(&deps.sfn, &input.task_token, &decision)
            .await
            .map_err(|e| WorkflowError::Aws {
                service: "states:SendTaskSuccess",
                message: match e {
                    GateError::Sfn { message, .. } => message,
                    other => other.to_string(),
                },
            })?;
        info!(rule, plan = %plan, "approved by policy");
        return Ok(GateOutput {
            status: ApprovalStatus::Approved,
            plan_summary: plan.to_string(),
        });
    }

    let subject = format!(
        "Ferry: approve {} {} in {}? ({})",
        ctx.component, ctx.version, ctx.environment, plan
    );
    let mut message = format!(
        "{} {} is planned for {} (deployment {}, requested by {}).\n\nPlan: {plan}\n",
        ctx.component, ctx.version, ctx.environment, ctx.deployment_id, ctx.requester
    );
    for r in &plan.resources {
        message.push_str(&format!("  {} {}\n", r.actions.join("/"), r.address));
    }
    message.push_str(&format!(
        "\nApprove:  ferry approve {id} --env {env}\nReject:   ferry reject {id} --env {env}\n\
         The request expires at {exp}.\n",
        id = ctx.deployment_id,
        env = ctx.environment,
        exp = approval.expires_at.to_rfc3339()
    ));
    deps.sns
        .publish()
        .topic_arn(&deps.topic_arn)
        .subject(subject.chars().take(100).collect::<String>())
        .message(message)
        .send()
        .await
        .map_err(|e| WorkflowError::aws("sns:Publish", e))?;
    info!(plan = %plan, "approval requested");
    Ok(GateOutput {
        status: ApprovalStatus::Pending,
        plan_summary: plan.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let mut plan = PlanSummary {
            no_changes: true,
            ..PlanSummary::default()
        };
        assert!(automatic_decision(ApprovalPolicy::None, &plan).is_some());
        assert!(automatic_decision(ApprovalPolicy::Auto, &plan).is_some());
        assert!(automatic_decision(ApprovalPolicy::Required, &plan).is_none());
        plan.no_changes = false;
        assert!(automatic_decision(ApprovalPolicy::Auto, &plan).is_none());
        assert!(automatic_decision(ApprovalPolicy::None, &plan).is_some());
    }

    #[test]
    fn token_never_shows_in_debug() {
        let input: GateInput = serde_json::from_value(serde_json::json!({
            "task_token": "SECRET", "deployment_id": "d", "component": "web", "version": "1.0.0",
            "environment": "prod", "requester": "alice", "execution_arn": "arn", "plan_build_id": "b"
        }))
        .unwrap();
        assert!(!format!("{input:?}").contains("SECRET"));
    }
}
