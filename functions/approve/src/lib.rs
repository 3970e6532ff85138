//! approve: the only way a person completes an approval gate. Behind a Lambda Function URL with
//! AWS_IAM auth, the caller's IAM ARN is their identity; the function checks the environment's
//! rules (allowed approvers, requester ≠ approver under four-eyes), records who decided, when and
//! why, and only then completes the workflow's task token.

use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine as _;
use chrono::Utc;
use ferry_shared::gate::{self, GateError};
use ferry_shared::model::{
    Approval, ApprovalStatus, Decision, DecisionRequest, DecisionResponse, Environment, StepStatus,
    Verdict,
};
use ferry_shared::store::{Store, StoreError};
use serde::Serialize;
use tracing::{info, instrument, warn};

#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    pub sfn: aws_sdk_sfn::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error("no caller identity: the approval URL must use AWS_IAM auth")]
    Unauthenticated,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("completing the approval task failed: {0}")]
    Sfn(String),
}

impl ApproveError {
    pub fn status(&self) -> i64 {
        match self {
            Self::Unauthenticated => 401,
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::Forbidden(_) => 403,
            Self::Conflict(_) => 409,
            Self::Store(_) | Self::Sfn(_) => 500,
        }
    }
}

/// The principal's short name: `arn:…:user/alice` → alice; `arn:…:assumed-role/Role/alice` →
/// alice (the session name); a plain name stays as it is.
pub fn principal_name(identity: &str) -> &str {
    identity.rsplit('/').next().unwrap_or(identity)
}

/// Whether `identity` may decide `approval` in `env`; the reason when not.
pub fn check_rules(env: &Environment, approval: &Approval, identity: &str) -> Result<(), String> {
    if !env.approvers.is_empty()
        && !env
            .approvers
            .iter()
            .any(|a| a == identity || a == principal_name(identity))
    {
        return Err(format!(
            "{identity} is not an approver for {} (approvers: {})",
            env.name,
            env.approvers.join(", ")
        ));
    }
    if env.four_eyes && principal_name(identity) == principal_name(&approval.requester) {
        return Err(format!(
            "{} requires four eyes: {identity} requested this deployment and cannot approve it",
            env.name
        ));
    }
    Ok(())
}

/// Decides one approval as `identity`.
#[instrument(skip(deps, req), fields(deployment = %req.deployment_id, identity = %identity))]
pub async fn decide(
    deps: &Deps,
    identity: &str,
    req: &DecisionRequest,
) -> Result<DecisionResponse, ApproveError> {
    let store = &deps.store;
    let deployment = store
        .get_deployment(&req.deployment_id)
        .await?
        .ok_or_else(|| ApproveError::NotFound(format!("no deployment {}", req.deployment_id)))?;
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
                ApproveError::NotFound(format!(
                    "deployment {} has no approval for {env}",
                    deployment.id
                ))
            })?,
        None => match pending.as_slice() {
            [one] => one,
            [] => {
                return Err(ApproveError::Conflict(format!(
                    "deployment {} has no pending approval",
                    deployment.id
                )))
            }
            _ => {
                return Err(ApproveError::BadRequest(
                    "several approvals are pending: name one with --env".into(),
                ))
            }
        },
    };
    if approval.status != ApprovalStatus::Pending {
        return Err(ApproveError::Conflict(format!(
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
        return Err(ApproveError::Conflict(format!(
            "the approval for {} expired at {}",
            approval.environment, approval.expires_at
        )));
    }
    let env = store
        .get_environment(&approval.environment)
        .await?
        .ok_or_else(|| {
            ApproveError::NotFound(format!(
                "environment {} no longer exists",
                approval.environment
            ))
        })?;
    check_rules(&env, approval, identity).map_err(ApproveError::Forbidden)?;

    let comment = req
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let status = req.decision.status();
    // Recorded first and exactly once: a concurrent second decision loses here.
    if !store
        .decide_approval(approval, status, identity, comment)
        .await?
    {
        return Err(ApproveError::Conflict(format!(
            "the approval for {} was decided meanwhile",
            approval.environment
        )));
    }
    store
        .update_step(&deployment.id, &approval.environment, |s| {
            s.approver = Some(identity.to_owned());
            s.comment = comment.map(str::to_owned);
            s.decided_at = Some(Utc::now());
            s.status = match req.decision {
                Verdict::Approve => StepStatus::Approved,
                Verdict::Reject => StepStatus::Rejected,
            };
        })
        .await?;

    let summary = approval.plan_summary.to_string();
    let completed = match req.decision {
        Verdict::Approve => {
            let decision = Decision {
                decision: status,
                approver: identity.to_owned(),
                comment: comment.map(str::to_owned),
                plan_sha256: approval.plan_sha256.clone(),
                plan_summary: summary.clone(),
            };
            gate::send_decision(&deps.sfn, &approval.task_token, &decision).await
        }
        Verdict::Reject => {
            let cause = format!(
                "rejected by {identity}{}",
                comment.map(|c| format!(": {c}")).unwrap_or_default()
            );
            gate::send_rejection(&deps.sfn, &approval.task_token, &cause).await
        }
    }
    .map_err(|e| match e {
        GateError::Gone => ApproveError::Conflict(e.to_string()),
        GateError::Sfn { .. } => ApproveError::Sfn(e.to_string()),
    });
    if let Err(e) = completed {
        warn!(error = %e, "the gate did not accept the decision");
        return Err(e);
    }
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

fn respond(status: i64, body: &impl Serialize) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = status;
    r.headers.insert(
        "content-type",
        aws_lambda_events::http::HeaderValue::from_static("application/json"),
    );
    r.body = serde_json::to_string(body).ok();
    r
}

/// The Function URL handler: identity from the IAM authorizer, decision from the JSON body.
pub async fn handle(
    deps: &Deps,
    event: LambdaFunctionUrlRequest,
) -> Result<LambdaFunctionUrlResponse, std::convert::Infallible> {
    let identity = event
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone()));
    let result = async {
        let identity = identity.ok_or(ApproveError::Unauthenticated)?;
        let body = event.body.clone().unwrap_or_default();
        let body = if event.is_base64_encoded {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .map_err(|e| ApproveError::BadRequest(format!("body is not base64: {e}")))?;
            String::from_utf8(raw).map_err(|e| ApproveError::BadRequest(e.to_string()))?
        } else {
            body
        };
        let req: DecisionRequest = serde_json::from_str(&body)
            .map_err(|e| ApproveError::BadRequest(format!("invalid request body: {e}")))?;
        // Boxed: the decision future is deep enough to overflow rustc's layout query limit.
        Box::pin(decide(deps, &identity, &req)).await
    }
    .await;
    Ok(match result {
        Ok(r) => respond(200, &r),
        Err(e) => {
            warn!(error = %e, "decision refused");
            respond(e.status(), &serde_json::json!({"error": e.to_string()}))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
            approval_timeout_secs: 60,
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
