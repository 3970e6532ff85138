//! Starting a deployment: what the Ferry API does for `ferry deploy`. The requester is the
//! authenticated caller, recorded before the execution starts, so the workflow can refuse any
//! execution whose requester Ferry did not record (check-and-lock).

use chrono::Utc;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::info;

use crate::model::{
    ComponentName, DeployMode, Deployment, DeploymentStatus, Environment, EnvironmentName,
    FreezeRefusal, HistoryEntry, Outcome, Version, VersionSpec,
};
use crate::store::{Store, StoreError};

/// What a person asks to deploy (the API's request body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub component: ComponentName,
    /// Required to deploy or plan; a rollback without one goes back to the version live before
    /// the current one; a destroy takes the live version.
    #[serde(default)]
    pub version: Option<VersionSpec>,
    pub targets: Vec<EnvironmentName>,
    /// Why the promotion rule may be overridden, or why a rollback or destroy is done
    /// (recorded).
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub mode: DeployMode,
    /// Why this deployment may pass a freeze (recorded, highlighted in history).
    #[serde(default)]
    pub emergency: Option<String>,
}

#[derive(Debug, Error)]
pub enum DeployError {
    #[error("{0} {1} is not a registered release (see `ferry releases {0}`)")]
    NotRegistered(ComponentName, Version),
    #[error("{0} has no registered releases")]
    NoReleases(ComponentName),
    #[error("name at least one environment with --to")]
    NoTargets,
    #[error("environment {0} does not exist (create it with `ferry env put`)")]
    NoEnvironment(EnvironmentName),
    #[error("environment {0} is named twice")]
    NamedTwice(EnvironmentName),
    #[error("a {0} needs a registered version")]
    NoVersion(DeployMode),
    #[error("a {0} names exactly one environment with --env")]
    OneTarget(DeployMode),
    #[error("nothing of {0} is live in {1}")]
    NothingLive(ComponentName, EnvironmentName),
    #[error("nothing to roll back to: {component} {live} is live in {environment}, and no other version ever succeeded there (name one with --to)")]
    NothingToRollBackTo {
        component: ComponentName,
        environment: EnvironmentName,
        live: Version,
    },
    #[error(
        "{what} is not what is live in {environment} ({live}): a destroy plans away what is live"
    )]
    NotLive {
        what: Version,
        environment: EnvironmentName,
        live: Version,
    },
    #[error("{component} in {environment} is busy: deployment {deployment} holds its lock (wait for it, or `ferry cancel {deployment}`)")]
    Busy {
        component: ComponentName,
        environment: EnvironmentName,
        deployment: String,
    },
    #[error(transparent)]
    Frozen(FreezeRefusal),
    #[error("promotion rule: {component} {version} never succeeded in {missing} (earlier in the promotion order than {target}); deploy there first, or override with --reason \"why\"")]
    PromotionRefused {
        component: ComponentName,
        version: Version,
        missing: String,
        target: EnvironmentName,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("starting the deploy workflow failed: {0}")]
    Start(String),
}

/// Whether `version` ever succeeded in `env` (a deploy or a rollback; older history lines
/// carry no mode and were deploys).
pub fn succeeded_in(history: &[HistoryEntry], env: &EnvironmentName, version: &Version) -> bool {
    history.iter().any(|h| {
        &h.environment == env
            && &h.version == version
            && h.outcome == Outcome::Succeeded
            && h.mode.is_none_or(DeployMode::makes_live)
    })
}

/// Environments before `target` in promotion order where `version` never succeeded. The rule
/// is "passed every earlier environment at some time", not "live there now", so going back to
/// an older version never needs an override.
pub fn promotion_gaps(
    envs: &[Environment],
    history: &[HistoryEntry],
    target: &Environment,
    version: &Version,
) -> Vec<EnvironmentName> {
    envs.iter()
        .filter(|e| e.order < target.order)
        .filter(|e| !succeeded_in(history, &e.name, version))
        .map(|e| e.name.clone())
        .collect()
}

/// Execution names allow letters, digits, '-' and '_' up to 80 characters.
pub fn deployment_id(component: &ComponentName, version: &Version) -> String {
    let v: String = version
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let id = format!(
        "{component}-{v}-{}-{suffix}",
        Utc::now().format("%Y%m%d%H%M%S")
    );
    let skip = id.len().saturating_sub(80);
    id[skip..].to_owned()
}

/// The ARN an execution named `name` of `state_machine_arn` gets, known before it starts so the
/// deployment record can name it first.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Validates `req`, records the deployment with `requester` (the authenticated caller) and
/// starts the workflow. A start that fails is recorded as failed.
pub async fn start_deployment(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    req: &DeployRequest,
    requester: &str,
) -> Result<Deployment, DeployError> {
    let component = req.component.clone();
    if req.targets.is_empty() {
        return Err(DeployError::NoTargets);
    }
    let mut envs: Vec<Environment> = Vec::new();
    for name in &req.targets {
        let env = store
            .get_environment(name)
            .await?
            .ok_or_else(|| DeployError::NoEnvironment(name.clone()))?;
        if envs.iter().any(|e| e.name == env.name) {
            return Err(DeployError::NamedTwice(name.clone()));
        }
        envs.push(env);
    }
    let emergency = req
        .emergency
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    // Refused before anything starts; check-and-lock checks again when each environment's
    // turn comes (a freeze may begin meanwhile).
    if emergency.is_none() && !matches!(req.mode, DeployMode::PlanOnly | DeployMode::Drift) {
        if let Some(refusal) = envs.iter().find_map(|e| e.frozen_now(Utc::now())) {
            return Err(DeployError::Frozen(refusal));
        }
    }
    let version = resolve_version(store, req, &envs).await?;
    // Promotion order, whatever order they were typed in.
    envs.sort_by_key(|e| e.order);
    let reason = req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    // The promotion rule is checked before anything starts (check-and-lock checks again when
    // each environment's turn comes): an earlier environment this deployment also targets
    // counts, since it deploys first.
    if req.mode == DeployMode::Deploy && reason.is_none() {
        let all = store.list_environments().await?;
        let history = store.list_history(&component, None).await?;
        for (i, target) in envs.iter().enumerate() {
            let gaps = promotion_gaps(&all, &history, target, &version);
            let missing: Vec<&str> = gaps
                .iter()
                .filter(|g| !envs[..i].iter().any(|e| &e.name == *g))
                .map(EnvironmentName::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(DeployError::PromotionRefused {
                    component,
                    version,
                    missing: missing.join(", "),
                    target: target.name.clone(),
                });
            }
        }
    }

    let id = deployment_id(&component, &version);
    let now = Utc::now();
    let deployment = Deployment {
        id: id.clone(),
        component: component.clone(),
        version: version.clone(),
        targets: envs.iter().map(|e| e.name.clone()).collect(),
        requester: requester.to_owned(),
        override_reason: reason.map(str::to_owned),
        mode: req.mode,
        emergency: emergency.map(str::to_owned),
        execution_arn: Some(execution_arn(state_machine_arn, &id)),
        status: DeploymentStatus::Running,
        created_at: now,
        updated_at: now,
        error: None,
    };
    store.put_deployment(&deployment).await?;
    let input = serde_json::json!({
        "deployment_id": id,
        "component": component,
        "version": version,
        "targets": deployment.targets,
        "requester": requester,
        "override_reason": reason,
        "mode": req.mode,
    });
    let started = sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(&id)
        .input(input.to_string())
        .send()
        .await;
    match started {
        Ok(out) if Some(out.execution_arn()) == deployment.execution_arn.as_deref() => {
            info!(deployment = %id, requester, "deployment started");
            Ok(deployment)
        }
        Ok(out) => {
            // Not the ARN this record names: the workflow will refuse it, so say so now.
            let msg = format!(
                "the execution started as {}, not as recorded",
                out.execution_arn()
            );
            store
                .set_deployment_status(&id, DeploymentStatus::Failed, Some(&msg))
                .await?;
            Err(DeployError::Start(msg))
        }
        Err(e) => {
            let msg = aws_sdk_sfn::error::DisplayErrorContext(&e).to_string();
            store
                .set_deployment_status(&id, DeploymentStatus::Failed, Some(&msg))
                .await?;
            Err(DeployError::Start(msg))
        }
    }
}

/// The version a request deploys: the one named (registered), the newest for `latest`; for a
/// rollback without one, the version that succeeded in the environment before the live one;
/// for a destroy, the live version (whose Terraform plans the destroy).
async fn resolve_version(
    store: &Store,
    req: &DeployRequest,
    envs: &[Environment],
) -> Result<Version, DeployError> {
    let component = &req.component;
    let single = || match envs {
        [one] => Ok(&one.name),
        _ => Err(DeployError::OneTarget(req.mode)),
    };
    let registered = |v: Version| async move {
        match store.get_release(component, &v).await? {
            Some(_) => Ok(v),
            None => Err(DeployError::NotRegistered(component.clone(), v)),
        }
    };
    match (req.mode, &req.version) {
        (DeployMode::Destroy, named) => {
            let env = single()?;
            let live = store
                .get_live(component, env)
                .await?
                .ok_or_else(|| DeployError::NothingLive(component.clone(), env.clone()))?;
            if let Some(VersionSpec::Exact(v)) = named
                .as_ref()
                .filter(|v| **v != VersionSpec::Exact(live.version.clone()))
            {
                return Err(DeployError::NotLive {
                    what: v.clone(),
                    environment: env.clone(),
                    live: live.version,
                });
            }
            if let Some(lock) = store.get_lock(component, env).await? {
                return Err(DeployError::Busy {
                    component: component.clone(),
                    environment: env.clone(),
                    deployment: lock.deployment_id,
                });
            }
            registered(live.version).await
        }
        (DeployMode::Drift, _) => {
            let env = single()?;
            let live = store
                .get_live(component, env)
                .await?
                .ok_or_else(|| DeployError::NothingLive(component.clone(), env.clone()))?;
            registered(live.version).await
        }
        (DeployMode::Rollback, None) => {
            let env = single()?;
            let live = store
                .get_live(component, env)
                .await?
                .ok_or_else(|| DeployError::NothingLive(component.clone(), env.clone()))?;
            let previous = store
                .list_history(component, Some(env))
                .await?
                .into_iter()
                .filter(|h| {
                    h.outcome == Outcome::Succeeded && h.mode.is_none_or(DeployMode::makes_live)
                })
                .map(|h| h.version)
                .find(|v| *v != live.version)
                .ok_or_else(|| DeployError::NothingToRollBackTo {
                    component: component.clone(),
                    environment: env.clone(),
                    live: live.version.clone(),
                })?;
            registered(previous).await
        }
        (DeployMode::Rollback, Some(VersionSpec::Exact(v))) => {
            single()?;
            registered(v.clone()).await
        }
        (_, Some(VersionSpec::Exact(v))) => registered(v.clone()).await,
        (DeployMode::Deploy | DeployMode::PlanOnly, Some(VersionSpec::Latest)) => {
            let releases = store.list_releases(component).await?;
            // Newest release; pre-releases only when nothing else exists.
            releases
                .iter()
                .find(|r| !r.version.is_prerelease())
                .or(releases.first())
                .map(|r| r.version.clone())
                .ok_or_else(|| DeployError::NoReleases(component.clone()))
        }
        (mode, _) => Err(DeployError::NoVersion(mode)),
    }
}

/// The deployment `deployment_id` as Ferry recorded it, if `execution_arn` is the execution
/// Ferry started for it (and `requester`, when given, the requester it recorded). Anyone who can
/// call StartExecution could otherwise name any requester, or any deployment, in the input.
pub async fn recorded_deployment(
    store: &Store,
    deployment_id: &str,
    execution_arn: &str,
    requester: Option<&str>,
) -> Result<Option<Deployment>, StoreError> {
    Ok(store.get_deployment(deployment_id).await?.filter(|d| {
        d.execution_arn.as_deref() == Some(execution_arn)
            && requester.is_none_or(|r| r == d.requester)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApprovalPolicy;

    fn env(name: &str, order: u32) -> Environment {
        Environment {
            name: EnvironmentName::parse(name).unwrap(),
            order,
            approval: ApprovalPolicy::None,
            approvers: vec![],
            four_eyes: false,
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

    fn line(name: &str, version: &str, outcome: Outcome, mode: Option<DeployMode>) -> HistoryEntry {
        HistoryEntry {
            component: ComponentName::parse("web").unwrap(),
            environment: EnvironmentName::parse(name).unwrap(),
            version: Version::parse(version).unwrap(),
            deployment_id: "d".into(),
            outcome,
            recorded_at: Utc::now(),
            requester: "r".into(),
            approver: None,
            reason: None,
            mode,
            emergency: None,
            terraform_lock: None,
        }
    }

    #[test]
    fn promotion_requires_a_success_in_every_earlier_environment() {
        let envs = [env("dev", 1), env("staging", 2), env("prod", 3)];
        let v = Version::parse("1.2.0").unwrap();
        assert!(promotion_gaps(&envs, &[], &envs[0], &v).is_empty());
        let ok = Outcome::Succeeded;
        let gaps = promotion_gaps(
            &envs,
            &[
                line("dev", "1.2.0", ok, None),
                line("staging", "1.1.0", ok, Some(DeployMode::Deploy)),
                // Neither a failure nor a plan passes an environment.
                line(
                    "staging",
                    "1.2.0",
                    Outcome::Failed,
                    Some(DeployMode::Deploy),
                ),
                line(
                    "staging",
                    "1.2.0",
                    Outcome::Planned,
                    Some(DeployMode::PlanOnly),
                ),
            ],
            &envs[2],
            &v,
        );
        assert_eq!(gaps, vec![EnvironmentName::parse("staging").unwrap()]);
        // A success at some time counts, whatever is live now (older lines have no mode).
        let passed = [
            line("dev", "1.2.0", ok, None),
            line("staging", "1.2.0", ok, Some(DeployMode::Rollback)),
            line("staging", "1.3.0", ok, Some(DeployMode::Deploy)),
        ];
        assert!(promotion_gaps(&envs, &passed, &envs[2], &v).is_empty());
    }

    #[test]
    fn deployment_ids_are_valid_execution_names() {
        let id = deployment_id(
            &ComponentName::parse(&"a".repeat(64)).unwrap(),
            &Version::parse("1.2.3-rc.1+build.7").unwrap(),
        );
        assert!(id.len() <= 80);
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{id}"
        );
    }

    #[test]
    fn execution_arns_follow_the_state_machine() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:eu-west-1:1:stateMachine:ferry-deploy",
                "d-1"
            ),
            "arn:aws:states:eu-west-1:1:execution:ferry-deploy:d-1"
        );
    }

    #[test]
    fn requests_parse_strictly() {
        let r: DeployRequest = serde_json::from_value(serde_json::json!({
            "component": "web", "version": "latest", "targets": ["prod"]
        }))
        .unwrap();
        assert_eq!(r.version, Some(VersionSpec::Latest));
        assert_eq!(r.mode, DeployMode::Deploy);
        for bad in [
            serde_json::json!({"component": "web", "version": "1.0", "targets": []}),
            serde_json::json!({"component": "Web", "version": "latest", "targets": []}),
            serde_json::json!({"component": "web", "version": "latest", "targets": [], "requester": "bob"}),
        ] {
            assert!(serde_json::from_value::<DeployRequest>(bad).is_err());
        }
    }
}
