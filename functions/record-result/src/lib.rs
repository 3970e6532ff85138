//! record-result: the last step of every path. For an environment it records the outcome
//! (what is live, history, the deployment's step, and a failed build's own reason) and releases
//! the lock on success and on every failure path; for the whole deployment it records the final
//! status.
//!
//! Why a build failed comes back through S3: the buildspec writes a one-line reason file on
//! every failure path and uploads it to `deployments/<id>/<env>/<action>-failure.txt`. The
//! failed task's Cause (the Build) only names the phase, and CodeBuild's exported variables are
//! only promised for builds that succeed (they exist for CodePipeline's next stage), so they
//! cannot carry it.

use ferry_shared::model::{plan_prefix, DeployMode, DeploymentStatus, EnvironmentName, Outcome};
use ferry_shared::operations::{
    record_environment_outcome_with, recorded_deployment, EnvOutcome, FailedBuild,
};
use ferry_shared::store::Store;
use ferry_shared::workflow::{read_plan_summary, EnvContext, WorkflowError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, instrument, warn};

mod drift;

pub use drift::{ScheduleDrift, Scheduled, SCHEDULER};

#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    /// Reads failed builds' reason files from the artifact bucket.
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    /// Tells approvers about drift.
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: Option<String>,
    /// Starts scheduled drift checks.
    pub sfn: Option<aws_sdk_sfn::Client>,
    pub state_machine_arn: Option<String>,
}

/// A failed reason file is cut to this many characters: it is shown on one line.
const MAX_REASON: usize = 1000;

/// A Catch's `ResultPath` content: `{"Error": …, "Cause": …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl CaughtError {
    /// A one-line reason from whatever the failing task put in Cause: a Lambda's
    /// `{"errorMessage"}`, a CodeBuild build, or plain text.
    pub fn reason(&self) -> String {
        let cause = self.cause.as_deref().unwrap_or_default();
        let parsed: Option<Value> = serde_json::from_str(cause).ok();
        let detail = match &parsed {
            Some(v) if v.get("errorMessage").is_some() => {
                v["errorMessage"].as_str().unwrap_or_default().to_owned()
            }
            Some(v) if v.get("Build").is_some() || v.get("BuildStatus").is_some() => {
                let b = v.get("Build").unwrap_or(v);
                let phase = b
                    .get("Phases")
                    .and_then(Value::as_array)
                    .and_then(|ps| {
                        ps.iter().find(|p| {
                            p.get("PhaseStatus")
                                .and_then(Value::as_str)
                                .is_some_and(|s| s != "SUCCEEDED")
                                && p.get("PhaseStatus").is_some()
                        })
                    })
                    .and_then(|p| p.get("PhaseType").and_then(Value::as_str))
                    .unwrap_or("?");
                format!(
                    "build {} {} in phase {phase}",
                    b.get("Id").and_then(Value::as_str).unwrap_or("?"),
                    b.get("BuildStatus")
                        .and_then(Value::as_str)
                        .unwrap_or("FAILED")
                )
            }
            _ => cause.chars().take(500).collect(),
        };
        match (self.error.as_str(), detail.is_empty()) {
            ("", _) => detail,
            (e, true) => e.to_owned(),
            (e, false) => format!("{e}: {detail}"),
        }
    }
}

impl CaughtError {
    /// The build the failing task ran, when the Cause is a CodeBuild build: its id and its
    /// `FERRY_ACTION` (from the build's environment variables, which include the overrides).
    pub fn build(&self) -> Option<FailedBuild> {
        let v: Value = serde_json::from_str(self.cause.as_deref()?).ok()?;
        let b = match v.get("Build") {
            Some(b) => b,
            None if v.get("BuildStatus").is_some() => &v,
            None => return None,
        };
        let action = b
            .pointer("/Environment/EnvironmentVariables")
            .and_then(Value::as_array)
            .and_then(|vars| {
                vars.iter()
                    .filter(|e| e.get("Name").and_then(Value::as_str) == Some("FERRY_ACTION"))
                    .filter_map(|e| e.get("Value").and_then(Value::as_str))
                    .next_back()
            })
            .filter(|a| matches!(*a, "plan" | "apply"))
            .map(str::to_owned);
        Some(FailedBuild {
            action,
            build_id: b.get("Id").and_then(Value::as_str).map(str::to_owned),
            reason: None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvResult {
    pub outcome: Outcome,
    #[serde(flatten)]
    pub ctx: EnvContext,
    #[serde(default)]
    pub approval: Option<Value>,
    #[serde(default)]
    pub error: Option<CaughtError>,
    #[serde(default)]
    pub apply_build_id: Option<String>,
    /// A plan-only deployment's plan build, recorded with its plan.
    #[serde(default)]
    pub plan_build_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentResult {
    pub deployment_id: String,
    /// The execution reporting (`$$.Execution.Id`): only Ferry's own execution of a deployment
    /// may write its record.
    pub execution_arn: String,
    pub status: DeploymentStatus,
    #[serde(default)]
    pub error: Option<CaughtError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum RecordInput {
    Environment(Box<EnvResult>),
    Deployment(DeploymentResult),
    /// From the scheduler: start the drift checks that are due.
    ScheduleDrift(ScheduleDrift),
}

/// Returned so a Fail state can show the reason (`CausePath`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordOutput {
    pub outcome: String,
    pub reason: String,
}

pub async fn handle(deps: &Deps, input: RecordInput) -> Result<RecordOutput, WorkflowError> {
    match input {
        RecordInput::Environment(r) => record_environment(deps, *r).await,
        RecordInput::Deployment(r) => record_deployment(deps, r).await,
        RecordInput::ScheduleDrift(_) => {
            let s = drift::schedule(deps, chrono::Utc::now()).await?;
            Ok(RecordOutput {
                outcome: "scheduled".into(),
                reason: format!("{} drift checks started", s.started.len()),
            })
        }
    }
}

/// Who approved, as history shows it: everyone whose approval counted ("local:bob,
/// local:carol"), else the one approver or rule.
fn approvers(verified: &Value) -> Option<String> {
    let several: Vec<&str> = verified
        .get("approved_by")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if several.len() > 1 {
        return Some(several.join(", "));
    }
    verified
        .get("approver")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[instrument(skip(deps, r), fields(deployment = %r.ctx.deployment_id, environment = %r.ctx.environment, outcome = %r.outcome))]
async fn record_environment(deps: &Deps, r: EnvResult) -> Result<RecordOutput, WorkflowError> {
    let approver = r.approval.as_ref().and_then(approvers);
    let Some(recorded) = recorded_deployment(
        &deps.store,
        &r.ctx.deployment_id,
        &r.ctx.execution_arn,
        None,
    )
    .await?
    .filter(|d| d.mode == r.ctx.mode) else {
        warn!(execution = %r.ctx.execution_arn, "not a Ferry-recorded execution: nothing recorded");
        return Ok(not_recorded(
            r.outcome.as_str(),
            &r.ctx.execution_arn,
            r.error.as_ref(),
        ));
    };
    // A plan-only deployment or a drift check never reached the gate, which records the plan
    // for the others; a drift check's plan says whether what runs drifted.
    let mut planned = None;
    if r.outcome == Outcome::Planned {
        let plan = read_plan_summary(&deps.s3, &deps.bucket, &r.ctx).await?;
        deps.store
            .update_step(&r.ctx.deployment_id, &r.ctx.environment, |s| {
                s.plan_summary = Some(plan.clone());
                s.plan_build_id = r.plan_build_id.clone();
                s.planned_at = Some(chrono::Utc::now());
            })
            .await?;
        if r.ctx.mode == DeployMode::Drift {
            planned = Some(if drift::record(deps, &r.ctx, &plan).await? {
                Outcome::Drifted
            } else {
                Outcome::InSync
            });
        }
    }
    let outcome = EnvOutcome {
        // A destroy that applied leaves nothing live: recorded as such, not as a version.
        outcome: match (r.outcome, r.ctx.mode) {
            (Outcome::Succeeded, DeployMode::Destroy) => Outcome::Destroyed,
            (o, _) => planned.unwrap_or(o),
        },
        approver,
        reason: r.error.as_ref().map(CaughtError::reason),
        apply_build_id: r.apply_build_id,
        emergency: recorded.emergency,
    };
    let mut failed = r.error.as_ref().and_then(CaughtError::build);
    if let Some(f) = failed.as_mut() {
        f.reason = failure_reason(deps, &r.ctx, f.action.as_deref()).await;
    }
    // Boxed: the recording future is deep enough to overflow rustc's layout query limit.
    Box::pin(record_environment_outcome_with(
        &deps.store,
        &r.ctx,
        &outcome,
        failed.as_ref(),
    ))
    .await?;
    let reason = outcome
        .reason
        .unwrap_or_else(|| format!("{} in {}", r.outcome, r.ctx.environment));
    Ok(RecordOutput {
        outcome: r.outcome.to_string(),
        reason: match failed.and_then(|f| f.reason) {
            Some(why) => format!("{reason}: {why}"),
            None => reason,
        },
    })
}

/// The failed build's reason file, when it wrote one. Reading it never fails the recording: the
/// outcome and the released lock matter more than the detail, so a read error is logged.
async fn failure_reason(deps: &Deps, ctx: &EnvContext, action: Option<&str>) -> Option<String> {
    // Without the build's action, apply is the later step: a plan failure never reaches apply.
    let actions: &[&str] = match action {
        Some(a) => &[a][..],
        None => &["apply", "plan"],
    };
    for action in actions {
        match read_reason(deps, &ctx.deployment_id, &ctx.environment, action).await {
            Ok(Some(reason)) => return Some(reason),
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, action, "could not read the build's failure reason");
                return None;
            }
        }
    }
    None
}

async fn read_reason(
    deps: &Deps,
    deployment: &str,
    env: &EnvironmentName,
    action: &str,
) -> Result<Option<String>, WorkflowError> {
    let key = format!("{}{action}-failure.txt", plan_prefix(deployment, env));
    let out = match deps
        .s3
        .get_object()
        .bucket(&deps.bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(WorkflowError::aws("s3:GetObject", e)),
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| WorkflowError::aws("s3:GetObject", e))?
        .into_bytes();
    Ok(one_line(&String::from_utf8_lossy(&bytes)))
}

/// The reason as one line: whitespace runs collapsed, cut to [`MAX_REASON`] characters.
fn one_line(text: &str) -> Option<String> {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = line.chars();
    let cut: String = chars.by_ref().take(MAX_REASON).collect();
    match (cut.is_empty(), chars.next().is_some()) {
        (true, _) => None,
        (false, true) => Some(format!("{cut}…")),
        (false, false) => Some(cut),
    }
}

#[instrument(skip(deps, r), fields(deployment = %r.deployment_id, status = %r.status))]
async fn record_deployment(
    deps: &Deps,
    r: DeploymentResult,
) -> Result<RecordOutput, WorkflowError> {
    if recorded_deployment(&deps.store, &r.deployment_id, &r.execution_arn, None)
        .await?
        .is_none()
    {
        warn!(execution = %r.execution_arn, "not a Ferry-recorded execution: nothing recorded");
        return Ok(not_recorded(
            r.status.as_str(),
            &r.execution_arn,
            r.error.as_ref(),
        ));
    }
    let reason = r.error.as_ref().map(CaughtError::reason);
    deps.store
        .set_deployment_status(&r.deployment_id, r.status, reason.as_deref())
        .await?;
    info!("deployment result recorded");
    Ok(RecordOutput {
        outcome: r.status.to_string(),
        reason: reason.unwrap_or_else(|| r.status.to_string()),
    })
}

/// What an execution Ferry did not record is told: its result changes no record.
fn not_recorded(outcome: &str, execution: &str, error: Option<&CaughtError>) -> RecordOutput {
    let why = error
        .map(CaughtError::reason)
        .unwrap_or_else(|| format!("{execution} is not an execution Ferry recorded"));
    RecordOutput {
        outcome: outcome.to_owned(),
        reason: format!("{why}; nothing was recorded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_each_kind_of_cause() {
        let lambda = CaughtError {
            error: "Ferry.LockHeld".into(),
            cause: Some(r#"{"errorType":"Ferry.LockHeld","errorMessage":"web in prod is locked by deployment d-1"}"#.into()),
        };
        assert_eq!(
            lambda.reason(),
            "Ferry.LockHeld: web in prod is locked by deployment d-1"
        );
        let build = CaughtError {
            error: "States.TaskFailed".into(),
            cause: Some(r#"{"Build":{"Id":"p:1","BuildStatus":"FAILED","Phases":[{"PhaseType":"INSTALL","PhaseStatus":"SUCCEEDED"},{"PhaseType":"BUILD","PhaseStatus":"FAILED"}]}}"#.into()),
        };
        assert_eq!(
            build.reason(),
            "States.TaskFailed: build p:1 FAILED in phase BUILD"
        );
        let plain = CaughtError {
            error: "Ferry.Rejected".into(),
            cause: Some("rejected by bob: not today".into()),
        };
        assert_eq!(plain.reason(), "Ferry.Rejected: rejected by bob: not today");
        let timeout = CaughtError {
            error: "States.Timeout".into(),
            cause: None,
        };
        assert_eq!(timeout.reason(), "States.Timeout");
    }

    #[test]
    fn a_failed_build_is_found_in_the_cause() {
        let build = CaughtError {
            error: "States.TaskFailed".into(),
            cause: Some(r#"{"Build":{"Id":"p:1","BuildStatus":"FAILED","Environment":{"EnvironmentVariables":[{"Name":"FERRY_ARTIFACT_BUCKET","Value":"b"},{"Name":"FERRY_ACTION","Value":"apply"}]}}}"#.into()),
        };
        assert_eq!(
            build.build(),
            Some(FailedBuild {
                action: Some("apply".into()),
                build_id: Some("p:1".into()),
                reason: None
            })
        );
        let lambda = CaughtError {
            error: "Ferry.LockHeld".into(),
            cause: Some(r#"{"errorMessage":"locked"}"#.into()),
        };
        assert_eq!(lambda.build(), None);
        assert_eq!(
            one_line("release zip entry '../x' contains '..';\n  refusing to unzip\n"),
            Some("release zip entry '../x' contains '..'; refusing to unzip".into())
        );
        assert_eq!(one_line(" \n"), None);
        assert_eq!(
            one_line(&"x".repeat(1001)).map(|s| s.chars().count()),
            Some(1001)
        );
    }

    #[test]
    fn history_names_everyone_who_approved() {
        let v = |j| approvers(&j);
        assert_eq!(
            v(
                serde_json::json!({"approver": "local:carol", "approved_by": ["local:bob", "local:carol"]})
            ),
            Some("local:bob, local:carol".into())
        );
        assert_eq!(
            v(serde_json::json!({"approver": "local:carol", "approved_by": ["local:carol"]})),
            Some("local:carol".into())
        );
        assert_eq!(
            v(serde_json::json!({"approver": "policy:none"})),
            Some("policy:none".into())
        );
        assert_eq!(v(serde_json::json!({})), None);
    }

    #[test]
    fn input_shapes() {
        let env: RecordInput = serde_json::from_value(serde_json::json!({
            "action": "environment", "outcome": "succeeded", "deployment_id": "d", "component": "web",
            "version": "1.0.0", "environment": "prod", "requester": "alice", "execution_arn": "arn",
            "approval": {"approver": "bob"}, "apply_build_id": "b"
        }))
        .unwrap();
        assert!(matches!(env, RecordInput::Environment(_)));
        let dep: RecordInput = serde_json::from_value(serde_json::json!({
            "action": "deployment", "deployment_id": "d", "status": "failed", "execution_arn": "arn",
            "error": {"Error": "States.TaskFailed", "Cause": "x"}
        }))
        .unwrap();
        assert!(matches!(dep, RecordInput::Deployment(_)));
    }
}
