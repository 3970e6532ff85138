//! `ferry cancel`: stop a running deployment and record what it had started as aborted.

use anyhow::{bail, Context as _, Result};
use aws_sdk_sfn::types::ExecutionStatus;
use ferry_shared::model::{Deployment, DeploymentStatus, Outcome};
use ferry_shared::operations::{record_environment_outcome, EnvOutcome};
use ferry_shared::store::Store;
use ferry_shared::workflow::EnvContext;

use super::deployment::{execution_status, started_deployment};
use crate::args::{Actor, TableArg};
use crate::context::Context;
use crate::exit::Exit;

/// Stop a running deployment; what it started is recorded as aborted and its locks released.
///
/// Example: ferry cancel hello-service-1-2-0-20261127120000-ab12cd --reason "wrong version"
#[derive(Debug, clap::Args)]
pub struct Args {
    deployment: String,
    /// Why, recorded in the deployment and its history.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    actor: Actor,
    #[command(flatten)]
    table: TableArg,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    let sfn = ctx.sfn().await;
    let who = ctx.requester(&args.actor).await?;
    let d = Box::pin(cancel(
        &store,
        &sfn,
        &args.deployment,
        &who,
        args.reason.as_deref(),
    ))
    .await?;
    if ctx.json() {
        crate::output::json(&d)?;
    } else {
        println!("cancelled {} ({})", d.id, d.error.unwrap_or_default());
    }
    Ok(Exit::Success)
}

/// Stops a running deployment and records it: each environment it had started is recorded as
/// aborted (history, step, pending approval closed) and its lock released — what the workflow's
/// Catch paths do, which a stopped execution never reaches. When the execution's state cannot
/// be read, nothing is changed: releasing locks under a live execution is worse than refusing.
async fn cancel(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    id: &str,
    who: &str,
    reason: Option<&str>,
) -> Result<Deployment> {
    let (d, arn) = started_deployment(store, id).await?;
    let cause = format!(
        "cancelled by {who}{}",
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    );
    let status = execution_status(sfn, &arn).await.with_context(|| {
        format!("cannot tell whether deployment {id} is still running, so nothing was changed")
    })?;
    if status == Some(ExecutionStatus::Running) {
        sfn.stop_execution()
            .execution_arn(&arn)
            .error("Ferry.Cancelled")
            .cause(&cause)
            .send()
            .await
            .context("stopping the execution")?;
    } else if d.status.is_final() {
        bail!("deployment {id} already ended ({})", d.status);
    }
    let outcome = EnvOutcome {
        outcome: Outcome::Aborted,
        approver: None,
        reason: Some(format!("Ferry.Cancelled: {cause}")),
        apply_build_id: None,
    };
    for env in &d.targets {
        let Some(step) = store.get_step(id, env).await? else {
            continue; // never started: nothing to record or release
        };
        if step.status.is_final() {
            continue;
        }
        let ctx = EnvContext {
            deployment_id: d.id.clone(),
            component: d.component.clone(),
            version: d.version.clone(),
            environment: env.clone(),
            requester: d.requester.clone(),
            override_reason: d.override_reason.clone(),
            execution_arn: arn.clone(),
        };
        record_environment_outcome(store, &ctx, &outcome).await?;
    }
    store
        .set_deployment_status(id, DeploymentStatus::Aborted, Some(&cause))
        .await?;
    store
        .get_deployment(id)
        .await?
        .with_context(|| format!("deployment {id} vanished"))
}
