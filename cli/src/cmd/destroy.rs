//! `ferry destroy`: plan `-destroy` of what is live in one environment, always approved by
//! people (whatever the environment's policy; `--destroy-approvals` applies), apply exactly
//! that plan, and record the environment as having nothing live.

use anyhow::Result;
use ferry_shared::model::{ComponentName, DeployMode, EnvironmentName};
use ferry_shared::operations::DeployRequest;

use super::deploy::{request, RequestArgs};
use crate::context::Context;
use crate::exit::Exit;

/// Destroy what a component has in one environment, through plan and approval.
///
/// Example: ferry destroy hello-service --env dev --reason "environment retired" --wait
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// The environment.
    #[arg(long, value_parser = crate::parse::environment)]
    env: EnvironmentName,
    /// Why (recorded).
    #[arg(long, required = true)]
    reason: String,
    /// Destroy in a frozen environment, recording why.
    #[arg(long, value_name = "WHY")]
    emergency: Option<String>,
    #[command(flatten)]
    request: RequestArgs,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let req = DeployRequest {
        component: args.component,
        version: None,
        targets: vec![args.env],
        reason: Some(args.reason),
        mode: DeployMode::Destroy,
        emergency: args.emergency,
    };
    request(ctx, &req, &args.request).await
}
