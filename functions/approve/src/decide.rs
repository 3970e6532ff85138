//! Deciding a gate: who may (allowed approvers, four-eyes) and the decision recorded in step
//! with the workflow — claimed, sent to the gate, then settled, or withdrawn if the gate refused.

use aws_sdk_sfn::types::ExecutionStatus;
use chrono::Utc;
use ferry_shared::gate::{self, GateError};
use ferry_shared::identity::maybe_same_person;
use ferry_shared::model::{
    Approval, ApprovalStatus, Decision, DecisionRequest, DecisionResponse, Deployment, Environment,
    StepStatus, Verdict, Vote, MAX_COMMENT_BYTES,
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

/// How often a decision is made again when a concurrent approval of the same gate won the
/// write: each retry reads what is recorded now.
const ATTEMPTS: usize = 4;

/// Decides one approval as `identity`. Where several approvals are needed, an approval that is
/// not the last is recorded as a vote and the gate keeps waiting; the one that completes the
/// count (or any rejection) decides the gate.
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
    let who = Decider {
        identity,
        via,
        comment,
        verdict: req.decision,
    };
    for _ in 0..ATTEMPTS {
        let approval = find_approval(deps, &deployment, req.environment.as_ref()).await?;
        if let Some(done) = decide_once(deps, &deployment, &approval, &who).await? {
            return Ok(done);
        }
    }
    Err(ApiError::Conflict(
        "others were deciding the same gate at the same moment; try again".into(),
    ))
}

/// Who decides what, as the caller's request and identity say.
struct Decider<'a> {
    identity: &'a str,
    via: Option<&'a str>,
    comment: Option<&'a str>,
    verdict: Verdict,
}

/// The approval a request is about: the one named, or the only pending one.
pub(crate) async fn find_approval(
    deps: &Gate,
    deployment: &Deployment,
    env: Option<&ferry_shared::model::EnvironmentName>,
) -> Result<Approval, ApiError> {
    let approvals = deps.store.list_approvals(&deployment.component).await?;
    let mut mine = approvals
        .into_iter()
        .filter(|a| a.deployment_id == deployment.id);
    match env {
        Some(env) => mine.find(|a| &a.environment == env).ok_or_else(|| {
            ApiError::NotFound(format!(
                "deployment {} has no approval for {env}",
                deployment.id
            ))
        }),
        None => {
            let mut pending = mine.filter(|a| a.status == ApprovalStatus::Pending);
            match (pending.next(), pending.next()) {
                (Some(one), None) => Ok(one),
                (None, _) => Err(ApiError::Conflict(format!(
                    "deployment {} has no pending approval",
                    deployment.id
                ))),
                (Some(_), Some(_)) => Err(ApiError::BadRequest(
                    "several approvals are pending: name one with --env".into(),
                )),
            }
        }
    }
}

/// One attempt at a decision on `approval` as read: `None` when a concurrent decision changed
/// the record first (the caller reads it again and retries).
async fn decide_once(
    deps: &Gate,
    deployment: &Deployment,
    approval: &Approval,
    who: &Decider<'_>,
) -> Result<Option<DecisionResponse>, ApiError> {
    let store = &deps.store;
    let identity = who.identity;
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
    // A freeze stops approvals too (an emergency deployment passes it); rejecting is allowed.
    if who.verdict == Verdict::Approve && deployment.emergency.is_none() {
        if let Some(refusal) = env.frozen_now(Utc::now()) {
            return Err(ApiError::Forbidden(format!(
                "not approved: {refusal}; unfreeze it first (`ferry unfreeze {}`)",
                env.name
            )));
        }
    }
    let status = who.verdict.status();
    let mut approved_by: Vec<String> = approval
        .approved_by()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if who.verdict == Verdict::Approve {
        let trusted = &env.trusted_session_roles;
        if let Some(earlier) = approved_by
            .iter()
            .find(|a| maybe_same_person(a, identity, trusted))
        {
            return Err(ApiError::Conflict(format!(
                "{earlier} has already approved this plan; it needs {} distinct people ({})",
                approval.required_approvals,
                approval.progress()
            )));
        }
        approved_by.push(identity.to_owned());
    }
    let seen = approval.approvals.len();
    let needed = usize::try_from(approval.required_approvals.max(1)).unwrap_or(usize::MAX);
    let response = |status| DecisionResponse {
        deployment_id: deployment.id.clone(),
        environment: approval.environment.clone(),
        status,
        decided_by: identity.to_owned(),
        comment: who.comment.map(str::to_owned),
        plan_summary: approval.plan_summary.clone(),
        approved_by: approved_by.clone(),
        required_approvals: approval.required_approvals,
    };

    if who.verdict == Verdict::Approve && approved_by.len() < needed {
        // Not the last approval needed: counted, and the gate keeps waiting.
        let vote = Vote {
            by: identity.to_owned(),
            comment: who.comment.map(str::to_owned),
            via: who.via.map(str::to_owned),
            voted_at: Utc::now(),
        };
        if !store
            .move_approval(approval, ApprovalMove::Vote { vote: &vote, seen })
            .await?
        {
            return Ok(None);
        }
        store
            .update_step(&deployment.id, &approval.environment, |s| {
                s.approved_by = approved_by.clone();
                s.required_approvals = approval.required_approvals;
            })
            .await?;
        info!(environment = %approval.environment, approvals = approved_by.len(), needed, "approval counted; more needed");
        return Ok(Some(response(ApprovalStatus::Pending)));
    }

    // Claimed first and exactly once: a concurrent second decision loses here. The claim is
    // "deciding", not final, until the gate accepts it.
    if !store
        .move_approval(
            approval,
            ApprovalMove::Claim {
                by: identity,
                comment: who.comment,
                verdict: status,
                via: who.via,
                seen,
            },
        )
        .await?
    {
        return Ok(None);
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
        Ok(token) => match who.verdict {
            Verdict::Approve => {
                let decision = Decision {
                    decision: status,
                    approver: identity.to_owned(),
                    comment: who.comment.map(str::to_owned),
                    plan_sha256: approval.plan_sha256.clone(),
                    plan_summary: summary.clone(),
                    approved_by: approved_by.clone(),
                };
                gate::send_decision(&deps.sfn, &token, &decision).await
            }
            Verdict::Reject => {
                let cause = format!(
                    "rejected by {identity}{}",
                    who.comment.map(|c| format!(": {c}")).unwrap_or_default()
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
            record_if_stopped(deps, deployment).await;
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
            s.comment = who.comment.map(str::to_owned);
            s.decided_at = Some(Utc::now());
            s.approved_by = approved_by.clone();
            s.required_approvals = approval.required_approvals;
            // The workflow moves as soon as the gate accepts: never step its record back.
            if s.status == StepStatus::AwaitingApproval {
                s.status = match who.verdict {
                    Verdict::Approve => StepStatus::Approved,
                    Verdict::Reject => StepStatus::Rejected,
                };
            }
        })
        .await?;
    info!(%status, environment = %approval.environment, "decision recorded");
    Ok(Some(response(status)))
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
            required_approvals: 1,
            destroy_approvals: None,
            freeze: None,
            drift_check_secs: None,
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
            required_approvals: 1,
            approvals: vec![],
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
