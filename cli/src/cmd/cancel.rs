//! `ferry cancel`: stop a running deployment and record what it had started as aborted.

use anyhow::Result;
use ferry_shared::operations::cancel_deployment;

use crate::args::{Actor, TableArg};
use crate::context::Context;
use crate::exit::Exit;

/// Stop a running deployment; what it started is recorded as aborted and its locks released.
///
/// Example: ferry cancel hello-service-1-2-0-20261127120000-ab12cd --reason "wrong version"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deployment id (`ferry deploy` prints it).
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
    let cause = format!(
        "cancelled by {who}{}",
        args.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    let d = Box::pin(cancel_deployment(&store, &sfn, &args.deployment, &cause)).await?;
    if ctx.json() {
        crate::output::json(&d)?;
    } else {
        println!("cancelled {} ({})", d.id, d.error.unwrap_or_default());
    }
    Ok(Exit::Success)
}
