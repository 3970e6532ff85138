//! Deciding a gate: who may (allowed approvers, four-eyes) and the decision recorded in step
//! with the workflow — claimed, sent to the gate, then settled, or withdrawn if the gate refused.

use aws_sdk_sfn::types::ExecutionStatus;
use chrono::Utc;
use ferry_shared::gate::{self, GateError};
use ferry_shared::model::{
    Approval, ApprovalStatus, Decision, DecisionRequest, DecisionResponse, Deployment, Environment,
    StepStatus, Verdict, MAX_COMMENT_BYTES,
};
use ferry_shared::operations::{execution_status, record_stopped};
use ferry_shared::store::ApprovalMove;
use tracing::{info, instrument, warn};

use crate::{ApiError, Gate};

/// Whether `identity` may decide `approval` in `env`; the reason when not. Identities match as
/// `ferry_shared::identity` describes: on what the caller cannot choose.
pub fn check_rules(env: &Environment, approval: &Approval, identity: &str) -> Result<(), String> {
    env.check_decider(&approval.requester, identity)
}

/// Decides one approval as `identity`.
#[instrument(skip(deps, req), fields(deployment = %req.deployment_id, identity = %identity))]
pub async fn decide(
    deps: &Gate,
    identity: &str,
    via: Option<&str>,
    req: &DecisionRequest,
) -> Result<DecisionResponse, ApiError> {
    let store = &deps.store;
    let deployment = store
        .get_deployment(&req.deployment_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no deployment {}", req.deployment_id)))?;
    let approvals = store.list_approvals(&deployment.component).await?;
    let pending: Vec<&Approval> = approvals
        .iter()
        .filter(|a| a.deployment_id == deployment.id && a.status == ApprovalStatus::Pending)
        .collect();
    let approval = match &req.environment {
        Some(env) => approvals
            .iter()
            .find(|a| a.deployment_id == deployment.id && &a.environment == env)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "deployment {} has no approval for {env}",
                    deployment.id
                ))
            })?,
        None => match pending.as_slice() {
            [one] => one,
            [] => {
                return Err(ApiError::Conflict(format!(
                    "deployment {} has no pending approval",
                    deployment.id
                )))
            }
            _ => {
                return Err(ApiError::BadRequest(
                    "several approvals are pending: name one with --env".into(),
                ))
            }
        },
    };
    if approval.status != ApprovalStatus::Pending {
        return Err(ApiError::Conflict(format!(
            "the approval for {} is already {}{}",
            approval.environment,
            approval.status,
            approval
                .decided_by
                .as_ref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default()
        )));
    }
    if Utc::now() > approval.expires_at {
        return Err(ApiError::Conflict(format!(
            "the approval for {} expired at {}",
            approval.environment, approval.expires_at
        )));
    }
    let env = store
        .get_environment(&approval.environment)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "environment {} no longer exists",
                approval.environment
            ))
        })?;
    check_rules(&env, approval, identity).map_err(ApiError::Forbidden)?;

    let comment = req
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if let Some(c) = comment.filter(|c| c.len() > MAX_COMMENT_BYTES) {
        return Err(ApiError::BadRequest(format!(
            "the comment is {} bytes; at most {MAX_COMMENT_BYTES} are kept with a decision",
            c.len()
        )));
    }
    let status = req.decision.status();
    // Claimed first and exactly once: a concurrent second decision loses here. The claim is
    // "deciding", not final, until the gate accepts it.
    if !store
        .move_approval(
            approval,
            ApprovalMove::Claim {
                by: identity,
                comment,
                verdict: status,
                via,
            },
        )
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "the approval for {} was decided meanwhile",
            approval.environment
        )));
    }

    let summary = approval.plan_summary.to_string();
    let completed = match deps
        .token_key
        .unseal(
            &approval.task_token,
            &approval.deployment_id,
            &approval.environment,
        )
        .await
    {
        Err(e) => Err(e),
        Ok(token) => match req.decision {
            Verdict::Approve => {
                let decision = Decision {
                    decision: status,
                    approver: identity.to_owned(),
                    comment: comment.map(str::to_owned),
                    plan_sha256: approval.plan_sha256.clone(),
                    plan_summary: summary.clone(),
                };
                gate::send_decision(&deps.sfn, &token, &decision).await
            }
            Verdict::Reject => {
                let cause = format!(
                    "rejected by {identity}{}",
                    comment.map(|c| format!(": {c}")).unwrap_or_default()
                );
                gate::send_rejection(&deps.sfn, &token, &cause).await
            }
        },
    };
    if let Err(e) = completed {
        warn!(error = %e, "the gate did not accept the decision");
        // The workflow did not move: neither may the record. A gate that is gone (its execution
        // ended) is closed; otherwise the claim is withdrawn and why is kept.
        let why = e.to_string();
        let m = match e {
            GateError::Gone => ApprovalMove::Close { why: &why },
            _ => ApprovalMove::Withdraw { gate_error: &why },
        };
        store.move_approval(approval, m).await?;
        if matches!(e, GateError::Gone) {
            record_if_stopped(deps, &deployment).await;
        }
        return Err(match e {
            GateError::Gone => ApiError::Conflict(e.to_string()),
            GateError::Sfn { .. } | GateError::Kms { .. } => ApiError::Sfn(e.to_string()),
        });
    }
    store
        .move_approval(approval, ApprovalMove::Settle(status))
        .await?;
    store
        .update_step(&deployment.id, &approval.environment, |s| {
            s.approver = Some(identity.to_owned());
            s.comment = comment.map(str::to_owned);
            s.decided_at = Some(Utc::now());
            // The workflow moves as soon as the gate accepts: never step its record back.
            if s.status == StepStatus::AwaitingApproval {
                s.status = match req.decision {
                    Verdict::Approve => StepStatus::Approved,
                    Verdict::Reject => StepStatus::Rejected,
                };
            }
        })
        .await?;
    info!(%status, environment = %approval.environment, "decision recorded");
    Ok(DecisionResponse {
        deployment_id: deployment.id,
        environment: approval.environment.clone(),
        status,
        decided_by: identity.to_owned(),
        comment: comment.map(str::to_owned),
        plan_summary: summary,
    })
}

/// A gate is gone when its execution ended. One stopped behind Ferry's back (console, API)
/// ran no Catch, so nothing recorded it: record it aborted now, closing its gates and releasing
/// its locks. Best effort — the decision is refused either way.
async fn record_if_stopped(deps: &Gate, d: &Deployment) {
    let Some(arn) = d.execution_arn.as_deref().filter(|_| !d.status.is_final()) else {
        return;
    };
    let status = match execution_status(&deps.sfn, arn).await {
        Ok(Some(s)) if s != ExecutionStatus::Running => s,
        Ok(_) => return,
        Err(e) => return warn!(error = %e, "cannot tell whether the execution still runs"),
    };
    let cause = format!(
        "its execution ended ({}) outside Ferry; found when a decision could not reach the gate",
        status.as_str()
    );
    if let Err(e) = record_stopped(&deps.store, d, arn, &cause).await {
        warn!(error = %e, "recording the stopped deployment failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
    use ferry_shared::model::{
        ApprovalPolicy, ComponentName, EnvironmentName, PlanSummary, Version,
    };

    fn env(approvers: &[&str], four_eyes: bool) -> Environment {
        Environment {
            name: EnvironmentName::parse("prod").unwrap(),
            order: 3,
            approval: ApprovalPolicy::Required,
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
            four_eyes,
            trusted_session_roles: vec![],
            approval_timeout_secs: 60,
            confirm_name: false,
            updated_at: Utc::now(),
        }
    }

    fn approval(requester: &str) -> Approval {
        Approval {
            deployment_id: "d".into(),
            component: ComponentName::parse("web").unwrap(),
            version: Version::parse("1.0.0").unwrap(),
            environment: EnvironmentName::parse("prod").unwrap(),
            requester: requester.into(),
            status: ApprovalStatus::Pending,
            plan_sha256: "x".into(),
            plan_summary: PlanSummary::default(),
            requested_at: Utc::now(),
            expires_at: Utc::now(),
            task_token: Default::default(),
            decided_by: None,
            comment: None,
            decided_at: None,
            gate_error: None,
            verdict: None,
            via: None,
        }
    }

    #[test]
    fn rules() {
        let bob = "arn:aws:iam::123456789012:user/bob";
        let alice = "arn:aws:sts::123456789012:assumed-role/Deployer/alice";
        assert!(check_rules(&env(&[], false), &approval(alice), alice).is_ok());
        assert!(check_rules(&env(&[], true), &approval(alice), alice).is_err());
        assert!(check_rules(&env(&[], true), &approval("alice"), alice).is_err());
        assert!(check_rules(&env(&[], true), &approval(alice), bob).is_ok());
        assert!(check_rules(&env(&["bob"], false), &approval(alice), bob).is_ok());
        assert!(check_rules(&env(&[bob], false), &approval(alice), bob).is_ok());
        let err = check_rules(&env(&["carol"], false), &approval(alice), bob).unwrap_err();
        assert!(err.contains("not an approver"), "{err}");
    }

    #[test]
    fn session_names_count_only_for_trusted_roles() {
        // Anyone who can assume the CI role may name their session "bob".
        let spoof = "arn:aws:sts::123456789012:assumed-role/ci-deployer/bob";
        let alice = "arn:aws:iam::123456789012:user/alice";
        let err = check_rules(&env(&["bob"], false), &approval(alice), spoof).unwrap_err();
        assert!(err.contains("not an approver"), "{err}");
        // IAM Identity Center sets the session name to the user: trusted, it identifies bob.
        let sso = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1/bob";
        let mut trusting = env(&["bob"], true);
        trusting.trusted_session_roles = vec!["AWSReservedSSO_*".into()];
        assert!(check_rules(&trusting, &approval(alice), sso).is_ok());
        assert!(check_rules(&env(&["bob"], false), &approval(alice), sso).is_err());
        // The role itself may be listed: every session of it approves.
        let ci_role = "arn:aws:iam::123456789012:role/ci-deployer";
        assert!(check_rules(&env(&[ci_role], false), &approval(alice), spoof).is_ok());
        // Four eyes: two sessions of one untrusted role are one principal.
        let requester = "arn:aws:sts::123456789012:assumed-role/ci-deployer/alice";
        let err = check_rules(&env(&[], true), &approval(requester), spoof).unwrap_err();
        assert!(err.contains("four eyes"), "{err}");
    }

    #[test]
    fn function_url_event_with_iam_authorizer_parses() {
        let event: LambdaFunctionUrlRequest =
            serde_json::from_str(include_str!("../tests/fixtures/function-url-iam.json")).unwrap();
        let iam = event.request_context.authorizer.unwrap().iam.unwrap();
        assert_eq!(
            iam.user_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/bob")
        );
    }
}
