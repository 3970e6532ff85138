//! `ferry plan`: what a version would change in an environment — check and plan only, recorded
//! as a plan-only deployment; nothing is applied, and the lock is held only while planning.

use anyhow::Result;
use ferry_shared::model::{ComponentName, DeployMode, EnvironmentName, VersionSpec};
use ferry_shared::operations::DeployRequest;

use super::deploy::{request, RequestArgs};
use crate::context::Context;
use crate::exit::Exit;

/// Show what a version would change in an environment, applying nothing.
///
/// Example: ferry plan hello-service 1.5.0 --env staging
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// A registered version, or `latest`.
    #[arg(value_parser = crate::parse::version_spec)]
    version: VersionSpec,
    /// The environment.
    #[arg(long, value_parser = crate::parse::environment)]
    env: EnvironmentName,
    /// Return once the plan is requested instead of waiting for it.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    request: RequestArgs,
}

pub async fn run(ctx: &Context, mut args: Args) -> Result<Exit> {
    let req = DeployRequest {
        component: args.component,
        version: Some(args.version),
        targets: vec![args.env],
        reason: None,
        mode: DeployMode::PlanOnly,
        emergency: None,
    };
    // The plan is what was asked for: wait for it unless told not to.
    args.request.wait = !args.no_wait;
    request(ctx, &req, &args.request).await
}
