//! request-approval: the approval gate (`lambda:invoke.waitForTaskToken`). It records the plan
//! the approver will see and decides by the environment's policy: `none`, or `auto` with a plan
//! that changes nothing, completes the gate at once; otherwise it stores the pending approval
//! (with the task token, which is never logged) and notifies approvers. People decide through
//! the approval function, never with SendTaskSuccess themselves.

use chrono::{Duration, Utc};
use ferry_shared::gate::{self, GateError, TokenKey};
use ferry_shared::links::{LinkClaims, LinkKey, SignedLink};
use ferry_shared::model::{
    Approval, ApprovalPolicy, ApprovalStatus, Decision, DeployMode, PlanSummary, SealedToken,
    StepStatus, TaskToken,
};
use ferry_shared::store::{ApprovalMove, Store};
use ferry_shared::workflow::{read_plan_summary, EnvContext, WorkflowError};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument, warn};

#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    pub token_key: TokenKey,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: String,
    pub sfn: aws_sdk_sfn::Client,
    /// Mints review-page links for the notification; without it, messages carry commands only.
    pub links: Option<Links>,
}

/// What minting approvers' review links needs.
#[derive(Clone, Debug)]
pub struct Links {
    pub key: LinkKey,
    /// The review page's address; a link is `<review_url>?l=<token>`.
    pub review_url: String,
    /// Local mode: a bare `--approvers` name is the identity `local:<name>`.
    pub local_identities: bool,
}

impl Links {
    /// The identity a decision link is minted for, from one `--approvers` entry: a full IAM ARN
    /// as written; a bare name only in local mode. A pattern names no one person: no link.
    fn identity(&self, entry: &str) -> Option<String> {
        if entry.contains('*') {
            None
        } else if entry.starts_with("arn:") {
            Some(entry.to_owned())
        } else if self.local_identities && ferry_shared::identity::valid_local_name(entry) {
            Some(format!("local:{entry}"))
        } else {
            None
        }
    }

    async fn mint(&self, claims: &LinkClaims) -> Result<SignedLink, WorkflowError> {
        self.key.mint(claims).await.map_err(|e| WorkflowError::Aws {
            service: "kms:GenerateMac",
            message: e.to_string(),
        })
    }

    fn url(&self, link: &SignedLink) -> String {
        link.url(&self.review_url)
    }
}

/// The gate's input; the token's `Debug` is redacted, so the whole input may be debug-printed.
#[derive(Debug, Clone, Deserialize)]
pub struct GateInput {
    pub task_token: TaskToken,
    #[serde(flatten)]
    pub ctx: EnvContext,
    pub plan_build_id: String,
}

/// What the workflow asks of this function: open the gate, or, after it, check that Ferry's
/// approval record backs what the gate said before anything is applied.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Request {
    ReviewLink(ReviewLinkInput),
    Gate(GateInput),
    Verify(VerifyInput),
}

/// Before the gate opens: what the Step Functions console shows with the "Approve?" step.
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewLinkInput {
    #[serde(flatten)]
    pub ctx: EnvContext,
    pub plan_exports: Vec<ExportedVariable>,
    /// The gate's timeout: the link expires with it.
    pub timeout_seconds: u64,
}

/// The console's way to the review page: a view-only link (it shows the plan and who has
/// approved, and cannot decide) and the commands that decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewLink {
    /// `None` when the stack has no review page, or the link could not be made just now.
    pub review_url: Option<String>,
    pub approve: String,
    pub reject: String,
    pub approve_in_browser: String,
}

/// The verification's input: the context, what the gate's task output claims (whoever holds
/// the task token can write that), and the plan build's exported variables.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifyInput {
    #[serde(flatten)]
    pub ctx: EnvContext,
    pub claimed: Decision,
    pub plan_exports: Vec<ExportedVariable>,
}

/// One of CodeBuild's `ExportedEnvironmentVariables`.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportedVariable {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Value", default)]
    pub value: Option<String>,
}

/// What apply may use: the plan and the approver as Ferry recorded them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    pub plan_sha256: String,
    pub approver: String,
    /// Everyone whose approval counted, in order (several where the environment needs more
    /// than one); what history records.
    #[serde(default)]
    pub approved_by: Vec<String>,
}

/// The function's answer to either request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    ReviewLink(ReviewLink),
    Gate(GateOutput),
    Verified(Verified),
}

pub async fn handle(deps: &Deps, request: Request) -> Result<Response, WorkflowError> {
    match request {
        Request::ReviewLink(input) => Ok(Response::ReviewLink(review_link(deps, &input).await)),
        Request::Gate(input) => open_gate(deps, input).await.map(Response::Gate),
        Request::Verify(input) => verify(deps, input).await.map(Response::Verified),
    }
}

/// Mints the console's view-only link. Best effort: without it the console still shows the
/// commands, so a failure here never stops the deployment.
#[instrument(skip(deps, input), fields(deployment = %input.ctx.deployment_id, environment = %input.ctx.environment))]
pub async fn review_link(deps: &Deps, input: &ReviewLinkInput) -> ReviewLink {
    let ctx = &input.ctx;
    let decide = |verb: &str| {
        format!(
            "ferry {verb} {} --env {}",
            ctx.deployment_id, ctx.environment
        )
    };
    let now = Utc::now();
    let plan = input
        .plan_exports
        .iter()
        .find(|v| v.name == "FERRY_PLAN_SHA256")
        .and_then(|v| v.value.as_deref());
    let expires = i64::try_from(input.timeout_seconds)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| now.checked_add_signed(d));
    let review_url = match (&deps.links, plan, expires) {
        (Some(links), Some(plan), Some(expires)) => {
            match LinkClaims::view_of_plan(
                &ctx.component,
                &ctx.deployment_id,
                &ctx.environment,
                plan,
                expires,
                now,
            ) {
                Ok(claims) => match links.mint(&claims).await {
                    Ok(link) => Some(links.url(&link)),
                    Err(e) => {
                        warn!(error = %e, "no review link for the console");
                        None
                    }
                },
                Err(e) => {
                    warn!(error = %e, "no review link for the console");
                    None
                }
            }
        }
        _ => None,
    };
    ReviewLink {
        review_url,
        approve: decide("approve"),
        reject: decide("reject"),
        approve_in_browser: format!("{} --browser", decide("approve")),
    }
}

/// Checks the approval the apply is about to act on against Ferry's own record: approved (or
/// accepted by the gate and not yet settled), for exactly the plan that was built, by someone
/// today's rules allow — and the gate's output says the same. Anything else stops the apply.
#[instrument(skip(deps, input), fields(deployment = %input.ctx.deployment_id, environment = %input.ctx.environment))]
pub async fn verify(deps: &Deps, input: VerifyInput) -> Result<Verified, WorkflowError> {
    let ctx = &input.ctx;
    let refuse = WorkflowError::ApprovalNotVerified;
    let built = input
        .plan_exports
        .iter()
        .find(|v| v.name == "FERRY_PLAN_SHA256")
        .and_then(|v| v.value.as_deref())
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| refuse("the plan build exported no FERRY_PLAN_SHA256".into()))?;
    // Independent reads, one round trip.
    let (env, a) = tokio::try_join!(
        deps.store.get_environment(&ctx.environment),
        deps.store
            .get_approval(&ctx.component, &ctx.deployment_id, &ctx.environment),
    )?;
    let env = env.ok_or_else(|| WorkflowError::EnvironmentNotFound(ctx.environment.clone()))?;
    let a = a.ok_or_else(|| {
        refuse(format!(
            "Ferry recorded no approval for {}",
            ctx.environment
        ))
    })?;
    if a.plan_sha256 != built {
        return Err(refuse(format!(
            "the recorded approval is for plan {}, but the plan built is {built}",
            a.plan_sha256
        )));
    }
    let approver = a.decided_by.clone().unwrap_or_default();
    match (a.status, a.verdict) {
        (ApprovalStatus::Approved, _) => {}
        // The gate accepted a person's approval whose final write has not landed yet.
        (ApprovalStatus::Deciding, Some(ApprovalStatus::Approved)) => {
            deps.store
                .move_approval(&a, ApprovalMove::Settle(ApprovalStatus::Approved))
                .await?;
        }
        (status, _) => {
            return Err(refuse(format!(
                "the approval for {} is {status} in Ferry's record, not approved",
                ctx.environment
            )))
        }
    }
    match approver.strip_prefix("policy:") {
        Some(_) => {
            if automatic_decision(policy(&env, ctx.mode), &a.plan_summary).is_none() {
                return Err(refuse(format!(
                    "{} now needs a person's approval (policy {}), but {approver} decided it",
                    env.name, env.approval
                )));
            }
        }
        None => check_approvers(&env, &a).map_err(refuse)?,
    }
    let c = &input.claimed;
    if c.decision != ApprovalStatus::Approved
        || c.approver != approver
        || c.plan_sha256.to_ascii_lowercase() != a.plan_sha256
    {
        warn!(claimed_approver = %c.approver, recorded_approver = %approver, "the gate's output does not match the approval record");
        return Err(refuse(format!(
            "the gate's output (approved by {}, plan {}) does not match Ferry's record (approved by {approver}, plan {})",
            c.approver, c.plan_sha256, a.plan_sha256
        )));
    }
    info!(approver = %approver, "approval verified against the record");
    let approved_by = a.approved_by().into_iter().map(str::to_owned).collect();
    Ok(Verified {
        plan_sha256: a.plan_sha256,
        approver,
        approved_by,
    })
}

/// Whether the people recorded as approving `a` pass `env`'s rules today: each may decide, none
/// twice, and there are as many as the gate asked for and as the rules ask for this plan now.
fn check_approvers(env: &ferry_shared::model::Environment, a: &Approval) -> Result<(), String> {
    let who = a.approved_by();
    for (i, approver) in who.iter().enumerate() {
        env.check_decider(&a.requester, approver)?;
        if let Some(twice) = who[..i].iter().find(|earlier| {
            ferry_shared::identity::maybe_same_person(earlier, approver, &env.trusted_session_roles)
        }) {
            return Err(format!(
                "{approver} and {twice} may be one person, but the approvals must come from distinct people"
            ));
        }
    }
    let needed = a
        .required_approvals
        .max(env.approvals_needed(&a.plan_summary));
    if u32::try_from(who.len()).is_ok_and(|n| n >= needed) {
        Ok(())
    } else {
        Err(format!(
            "{} needs {needed} distinct approvals for this plan; Ferry recorded {}",
            env.name,
            a.progress()
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutput {
    /// Approved when the policy decided, pending when a person must.
    pub status: ApprovalStatus,
    pub plan_summary: String,
}

/// The policy a gate follows: the environment's, except that a destroy always waits for people.
fn policy(env: &ferry_shared::model::Environment, mode: DeployMode) -> ApprovalPolicy {
    match mode {
        DeployMode::Destroy => ApprovalPolicy::Required,
        _ => env.approval,
    }
}

/// Who (or what rule) decides a plan under `policy`: `Some(rule)` when no person is needed.
pub fn automatic_decision(policy: ApprovalPolicy, plan: &PlanSummary) -> Option<&'static str> {
    match policy {
        ApprovalPolicy::None => Some("policy:none"),
        ApprovalPolicy::Auto if plan.no_changes => Some("policy:auto (plan has no changes)"),
        ApprovalPolicy::Auto | ApprovalPolicy::Required => None,
    }
}

#[instrument(skip(deps, input), fields(deployment = %input.ctx.deployment_id, environment = %input.ctx.environment))]
pub async fn open_gate(deps: &Deps, input: GateInput) -> Result<GateOutput, WorkflowError> {
    let ctx = &input.ctx;
    let store = &deps.store;
    // Independent reads, one round trip.
    let (env, plan) = tokio::try_join!(
        async {
            store
                .get_environment(&ctx.environment)
                .await
                .map_err(WorkflowError::from)
        },
        read_plan_summary(&deps.s3, &deps.bucket, ctx),
    )?;
    let env = env.ok_or_else(|| WorkflowError::EnvironmentNotFound(ctx.environment.clone()))?;
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
    let auto = automatic_decision(policy(&env, ctx.mode), &plan);

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
        verdict: None,
        via: None,
        required_approvals: env.approvals_needed(&plan),
        approvals: vec![],
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
            s.required_approvals = approval.required_approvals;
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
            approved_by: vec![],
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

    notify(deps, ctx, &approval, &env, &plan).await?;
    info!(plan = %plan, "approval requested");
    Ok(GateOutput {
        status: ApprovalStatus::Pending,
        plan_summary: plan.to_string(),
    })
}

/// Tells approvers a gate is open. With links, each approver the environment names gets their own
/// message (SNS attribute `approver`, for subscription filter policies) with a decision link
/// bound to them and this plan; the requester of a four-eyes environment gets none. Without
/// named approvers, one message carries a view-only link. Every message also gives the commands.
async fn notify(
    deps: &Deps,
    ctx: &EnvContext,
    approval: &Approval,
    env: &ferry_shared::model::Environment,
    plan: &PlanSummary,
) -> Result<(), WorkflowError> {
    let subject = format!(
        "Approve {} {} → {}? ({plan})",
        ctx.component, ctx.version, ctx.environment
    );
    let mut head = format!(
        "{} {} is planned for {} (deployment {}, requested by {}).\n\nPlan: {plan}\n",
        ctx.component, ctx.version, ctx.environment, ctx.deployment_id, ctx.requester
    );
    for r in &plan.resources {
        head.push_str(&format!("  {} {}\n", r.actions.join("/"), r.address));
    }
    let exp = approval.expires_at.to_rfc3339();
    let commands = format!(
        "Or decide in a terminal:  ferry approve {id} --env {env}   |   ferry reject {id} --env {env}\n\
         The request expires at {exp}.\n",
        id = ctx.deployment_id,
        env = ctx.environment,
    );
    let mut messages: Vec<(Option<&str>, String)> = Vec::new();
    if let Some(links) = &deps.links {
        let now = Utc::now();
        for entry in &env.approvers {
            let Some(who) = links.identity(entry) else {
                continue;
            };
            let claims = match LinkClaims::decide(approval, env, &who, Duration::days(366), now) {
                Ok(c) => c,
                Err(e) => {
                    info!(approver = %entry, why = %e, "no decision link for this approver");
                    continue;
                }
            };
            let link = links.mint(&claims).await?;
            messages.push((
                Some(entry.as_str()),
                format!(
                    "{head}\nReview and decide: {}\n(This link is yours: it decides once, as {who}, for this plan only.)\n\n{commands}",
                    links.url(&link)
                ),
            ));
        }
        if messages.is_empty() {
            let claims = LinkClaims::view(approval, Duration::days(366), now).map_err(|e| {
                WorkflowError::InvalidInput(format!("cannot link to the gate: {e}"))
            })?;
            let link = links.mint(&claims).await?;
            messages.push((
                None,
                format!(
                    "{head}\nReview: {} (view only)\n\n{commands}",
                    links.url(&link)
                ),
            ));
        }
    } else {
        messages.push((None, format!("{head}\n{commands}")));
    }
    for (approver, message) in messages {
        let mut publish = deps
            .sns
            .publish()
            .topic_arn(&deps.topic_arn)
            .subject(subject.chars().take(99).collect::<String>())
            .message(message);
        if let Some(a) = approver {
            let attr = aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(a)
                .build()
                .map_err(|e| WorkflowError::InvalidInput(e.to_string()))?;
            publish = publish.message_attributes("approver", attr);
        }
        publish
            .send()
            .await
            .map_err(|e| WorkflowError::aws("sns:Publish", e))?;
    }
    Ok(())
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
        let input: Request = serde_json::from_value(serde_json::json!({
            "action": "gate", "task_token": "SECRET", "deployment_id": "d", "component": "web", "version": "1.0.0",
            "environment": "prod", "requester": "alice", "execution_arn": "arn", "plan_build_id": "b"
        }))
        .unwrap();
        assert!(!format!("{input:?}").contains("SECRET"));
    }
}
