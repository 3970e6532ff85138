//! Starting a deployment: what the Ferry API does for `ferry deploy`. The requester is the
//! authenticated caller, recorded before the execution starts, so the workflow can refuse any
//! execution whose requester Ferry did not record (check-and-lock).

use chrono::Utc;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::info;

use crate::model::{
    ComponentName, Deployment, DeploymentStatus, Environment, EnvironmentName, Version, VersionSpec,
};
use crate::store::{Store, StoreError};

/// What a person asks to deploy (the API's request body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub component: ComponentName,
    pub version: VersionSpec,
    pub targets: Vec<EnvironmentName>,
    /// Why the promotion rule may be overridden (recorded).
    #[serde(default)]
    pub reason: Option<String>,
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
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("starting the deploy workflow failed: {0}")]
    Start(String),
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
    let version = match &req.version {
        VersionSpec::Exact(v) => {
            if store.get_release(&component, v).await?.is_none() {
                return Err(DeployError::NotRegistered(component, v.clone()));
            }
            v.clone()
        }
        VersionSpec::Latest => {
            let releases = store.list_releases(&component).await?;
            // Newest release; pre-releases only when nothing else exists.
            releases
                .iter()
                .find(|r| !r.version.is_prerelease())
                .or(releases.first())
                .map(|r| r.version.clone())
                .ok_or_else(|| DeployError::NoReleases(component.clone()))?
        }
    };
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
    // Promotion order, whatever order they were typed in.
    envs.sort_by_key(|e| e.order);
    let reason = req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());

    let id = deployment_id(&component, &version);
    let now = Utc::now();
    let deployment = Deployment {
        id: id.clone(),
        component: component.clone(),
        version: version.clone(),
        targets: envs.iter().map(|e| e.name.clone()).collect(),
        requester: requester.to_owned(),
        override_reason: reason.map(str::to_owned),
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
        assert_eq!(r.version, VersionSpec::Latest);
        for bad in [
            serde_json::json!({"component": "web", "version": "1.0", "targets": []}),
            serde_json::json!({"component": "Web", "version": "latest", "targets": []}),
            serde_json::json!({"component": "web", "version": "latest", "targets": [], "requester": "bob"}),
        ] {
            assert!(serde_json::from_value::<DeployRequest>(bad).is_err());
        }
    }
}
