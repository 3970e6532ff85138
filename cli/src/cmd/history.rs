//! `ferry history`: how a component's deployments ended, newest first.

use anyhow::Result;
use ferry_shared::model::{ComponentName, EnvironmentName};
use ferry_shared::store::Store;

use crate::args::TableArg;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{self, Format};

/// Deployment history of a component, newest first.
///
/// Example: ferry history hello-service --env prod
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// Only this environment.
    #[arg(long, value_parser = crate::parse::environment)]
    env: Option<EnvironmentName>,
    #[command(flatten)]
    table: TableArg,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    history(&store, &args.component, args.env.as_ref(), ctx.format).await?;
    Ok(Exit::Success)
}

async fn history(
    store: &Store,
    c: &ComponentName,
    env: Option<&EnvironmentName>,
    format: Format,
) -> Result<()> {
    let entries = store.list_history(c, env).await?;
    output::listing(
        format,
        "history",
        &entries,
        &format!("no deployments of {c} yet"),
        &[
            output::when("WHEN"),
            output::keep("ENVIRONMENT"),
            output::keep("VERSION"),
            output::keep("MODE").hide(2),
            output::keep("OUTCOME"),
            output::keep("REQUESTED BY").hide(3),
            output::keep("APPROVED BY").hide(4),
            output::id("DEPLOYMENT").hide(1),
            output::text("REASON").hide(5),
        ],
        |h| {
            vec![
                output::time(&h.recorded_at),
                h.environment.to_string(),
                h.version.to_string(),
                h.mode.map(|m| m.to_string()).unwrap_or_default(),
                h.outcome.to_string(),
                h.requester.clone(),
                h.approver.clone().unwrap_or_default(),
                h.deployment_id.clone(),
                // An emergency passed a freeze: said first, in capitals, so it stands out.
                match (&h.emergency, &h.reason) {
                    (Some(e), Some(r)) => format!("EMERGENCY: {e}; {r}"),
                    (Some(e), None) => format!("EMERGENCY: {e}"),
                    (None, r) => r.clone().unwrap_or_default(),
                },
            ]
        },
    )
}
