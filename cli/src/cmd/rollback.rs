//! `ferry rollback`: deploy, to one environment, the version that was live there before the
//! current one (from history) or the one named — through plan and the approval gate like any
//! deploy, recorded as a rollback with its reason.

use anyhow::Result;
use ferry_shared::model::{ComponentName, DeployMode, EnvironmentName, Version, VersionSpec};
use ferry_shared::operations::DeployRequest;

use super::deploy::{request, RequestArgs};
use crate::context::Context;
use crate::exit::Exit;

/// Roll an environment back to the version live before the current one (or --to VERSION).
///
/// Example: ferry rollback hello-service --env prod --reason "1.4.2 breaks checkout" --wait
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// The environment.
    #[arg(long, value_parser = crate::parse::environment)]
    env: EnvironmentName,
    /// A version that succeeded in the environment before [default: the one live before the
    /// current one].
    #[arg(long, value_parser = crate::parse::version)]
    to: Option<Version>,
    /// Why (recorded with the rollback).
    #[arg(long)]
    reason: Option<String>,
    /// Roll back into a frozen environment, recording why.
    #[arg(long, value_name = "WHY")]
    emergency: Option<String>,
    #[command(flatten)]
    request: RequestArgs,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let req = DeployRequest {
        component: args.component,
        version: args.to.map(VersionSpec::Exact),
        targets: vec![args.env],
        reason: args.reason,
        mode: DeployMode::Rollback,
        emergency: args.emergency,
    };
    request(ctx, &req, &args.request).await
}
