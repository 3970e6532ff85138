//! `ferry deploy`: record a deployment and start the deploy workflow for it.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use chrono::Utc;
use ferry_shared::model::{
    ComponentName, Deployment, DeploymentStatus, Environment, EnvironmentName, Version,
};
use ferry_shared::store::Store;

use super::deployment::follow;
use crate::args::{Actor, Resources, Workflow};
use crate::context::Context;
use crate::exit::Exit;
use crate::parse::VersionSpec;
use crate::stack::Resource;

/// Deploy a release to environments, in promotion order: plan, approve, apply.
///
/// Example: ferry deploy hello-service 1.2.0 --to staging,prod --wait
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// A registered version, or `latest`.
    #[arg(value_parser = crate::parse::version_spec)]
    version: VersionSpec,
    /// Target environments, comma-separated (deployed in promotion order).
    #[arg(long, value_delimiter = ',', required = true, value_parser = crate::parse::environment)]
    to: Vec<EnvironmentName>,
    /// Override the promotion rule, recording why.
    #[arg(long)]
    reason: Option<String>,
    /// Follow the deployment until it ends.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (seconds, or e.g. 30m).
    #[arg(long, default_value = "3600", value_parser = crate::parse::duration)]
    wait_timeout: Duration,
    #[command(flatten)]
    actor: Actor,
    #[command(flatten)]
    workflow: Workflow,
    #[command(flatten)]
    resources: Resources,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let store = ctx.store(args.resources.table.table.as_deref()).await?;
    let state_machine = ctx
        .resource(
            Resource::StateMachine,
            args.workflow.state_machine.as_deref(),
        )
        .await?;
    let sfn = ctx.sfn().await;
    let d = deploy(
        &store,
        &sfn,
        DeployRequest {
            component: &args.component,
            version: &args.version,
            targets: &args.to,
            reason: args.reason.as_deref(),
            requester: ctx.requester(&args.actor).await?,
            state_machine_arn: &state_machine,
        },
    )
    .await?;
    if ctx.json() {
        crate::output::json(&d)?;
    } else {
        println!("{}", d.id);
    }
    if args.wait && !follow(&store, &sfn, &d.id, args.wait_timeout).await? {
        return Ok(Exit::DeployFailed);
    }
    Ok(Exit::Success)
}

/// What `ferry deploy` needs beyond the store.
struct DeployRequest<'a> {
    component: &'a ComponentName,
    version: &'a VersionSpec,
    targets: &'a [EnvironmentName],
    reason: Option<&'a str>,
    requester: String,
    state_machine_arn: &'a str,
}

/// Execution names allow letters, digits, '-' and '_' up to 80 characters.
fn deployment_id(component: &ComponentName, version: &Version) -> String {
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
    id.chars()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

async fn deploy(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    req: DeployRequest<'_>,
) -> Result<Deployment> {
    let component = req.component.clone();
    let version = if let VersionSpec::Exact(v) = req.version {
        if store.get_release(&component, v).await?.is_none() {
            bail!("{component} {v} is not a registered release (see `ferry releases {component}`)");
        }
        v.clone()
    } else {
        let releases = store.list_releases(&component).await?;
        // Newest release; pre-releases only when nothing else exists.
        releases
            .iter()
            .find(|r| !r.version.is_prerelease())
            .or(releases.first())
            .map(|r| r.version.clone())
            .with_context(|| format!("{component} has no registered releases"))?
    };
    if req.targets.is_empty() {
        bail!("name at least one environment with --to");
    }
    let mut envs = Vec::new();
    for name in req.targets {
        let env = store.get_environment(name).await?.with_context(|| {
            format!("environment {name} does not exist (create it with `ferry env put`)")
        })?;
        if envs.iter().any(|e: &Environment| e.name == env.name) {
            bail!("environment {name} is named twice");
        }
        envs.push(env);
    }
    // Promotion order, whatever order they were typed in.
    envs.sort_by_key(|e| e.order);
    let reason = req.reason.map(str::trim).filter(|r| !r.is_empty());

    let id = deployment_id(&component, &version);
    let now = Utc::now();
    let mut deployment = Deployment {
        id: id.clone(),
        component: component.clone(),
        version: version.clone(),
        targets: envs.iter().map(|e| e.name.clone()).collect(),
        requester: req.requester.clone(),
        override_reason: reason.map(str::to_owned),
        execution_arn: None,
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
        "requester": req.requester,
        "override_reason": reason,
    });
    let started = sfn
        .start_execution()
        .state_machine_arn(req.state_machine_arn)
        .name(&id)
        .input(input.to_string())
        .send()
        .await;
    match started {
        Ok(out) => {
            deployment.execution_arn = Some(out.execution_arn().to_owned());
            store.put_deployment(&deployment).await?;
            Ok(deployment)
        }
        Err(e) => {
            let msg = aws_sdk_sfn::error::DisplayErrorContext(&e).to_string();
            store
                .set_deployment_status(&id, DeploymentStatus::Failed, Some(&msg))
                .await?;
            Err(anyhow::Error::new(e).context("starting the deploy workflow"))
        }
    }
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
}
