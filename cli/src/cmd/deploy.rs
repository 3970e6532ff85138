//! `ferry deploy`: ask the Ferry API to record a deployment and start the deploy workflow. The
//! API records the caller's authenticated identity as the requester; nothing this command
//! sends can name someone else.

use std::time::Duration;

use anyhow::Result;
use ferry_shared::model::{ComponentName, DeployMode, Deployment, EnvironmentName, VersionSpec};
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
    /// The component (the name in its ferry.json).
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
    /// Check and plan only: show what the version would change, apply nothing (`ferry plan`).
    #[arg(long)]
    plan_only: bool,
    /// Deploy into a frozen environment, recording why (highlighted in history).
    #[arg(long, value_name = "WHY")]
    emergency: Option<String>,
    #[command(flatten)]
    request: RequestArgs,
}

/// What every command that starts a deployment shares: following it, and how to reach the API.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// Follow the deployment until it ends.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits (seconds, or e.g. 30m).
    #[arg(long, default_value = "3600", value_parser = crate::parse::duration)]
    pub wait_timeout: Duration,
    /// The Ferry API's URL (the stack's ApprovalUrl output) [default: from --stack].
    #[arg(long, env = "FERRY_APPROVAL_URL", hide_env_values = true)]
    pub approval_url: Option<String>,
    #[command(flatten)]
    pub actor: Actor,
    #[command(flatten)]
    pub resources: Resources,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let req = DeployRequest {
        component: args.component,
        version: Some(args.version),
        targets: args.to,
        reason: args.reason,
        mode: if args.plan_only {
            DeployMode::PlanOnly
        } else {
            DeployMode::Deploy
        },
        emergency: args.emergency,
    };
    request(ctx, &req, &args.request).await
}

/// Asks the Ferry API to record and start `req`, prints the deployment (its id, or JSON),
/// and with `--wait` follows it to its end.
pub async fn request(ctx: &Context, req: &DeployRequest, args: &RequestArgs) -> Result<Exit> {
    let url = ctx
        .resource(Resource::ApprovalUrl, args.approval_url.as_deref())
        .await?;
    let caller = ctx.caller(&args.actor).await?;
    let d: Deployment = api_client::post(&url, "deployments", req, &caller).await?;
    if !args.wait {
        if ctx.json() {
            crate::output::json(&d)?;
        } else {
            println!("{}", d.id);
        }
        return Ok(Exit::Success);
    }
    if !ctx.json() {
        println!("{}", d.id);
    }
    let store = ctx.store(args.resources.table.table.as_deref()).await?;
    let sfn = ctx.sfn().await;
    let followed = follow(&store, &sfn, &d.id, args.wait_timeout).await?;
    // What it did, once it ended: the plan for a plan-only, the steps for the rest.
    super::deployment::show_deployment(&store, &sfn, &d.id, ctx.format).await?;
    Ok(followed.exit())
}
