//! `ferry deploy`: ask the Ferry API to record a deployment and start the deploy workflow. The
//! API records the caller's authenticated identity as the requester; nothing this command
//! sends can name someone else.

use std::time::Duration;

use anyhow::Result;
use ferry_shared::model::{ComponentName, Deployment, EnvironmentName, VersionSpec};
use ferry_shared::operations::DeployRequest;

use super::deployment::follow;
use crate::api_client;
use crate::args::{Actor, Resources};
use crate::context::Context;
use crate::exit::Exit;
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
    /// The Ferry API's URL (the stack's ApprovalUrl output) [default: from --stack].
    #[arg(long, env = "FERRY_APPROVAL_URL", hide_env_values = true)]
    approval_url: Option<String>,
    #[command(flatten)]
    actor: Actor,
    #[command(flatten)]
    resources: Resources,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let url = ctx
        .resource(Resource::ApprovalUrl, args.approval_url.as_deref())
        .await?;
    let caller = ctx.caller(&args.actor).await?;
    let req = DeployRequest {
        component: args.component,
        version: args.version,
        targets: args.to,
        reason: args.reason,
    };
    let d: Deployment = api_client::post(&url, "deployments", &req, &caller).await?;
    if ctx.json() {
        crate::output::json(&d)?;
    } else {
        println!("{}", d.id);
    }
    if args.wait {
        let store = ctx.store(args.resources.table.table.as_deref()).await?;
        if !follow(&store, &ctx.sfn().await, &d.id, args.wait_timeout).await? {
            return Ok(Exit::DeployFailed);
        }
    }
    Ok(Exit::Success)
}
