//! `ferry drift`: what the drift checks found (a plan of the live version: anything it would
//! change differs from what Ferry applied), a check now, and reconciling through the gate.

use anyhow::{Context as _, Result};
use ferry_shared::model::{ComponentName, DeployMode, DriftRecord, EnvironmentName, VersionSpec};
use ferry_shared::operations::DeployRequest;

use super::deploy::{request, RequestArgs};
use crate::args::TableArg;
use crate::context::Context;
use crate::exit::Exit;
use crate::output;

/// Drift: what runs and differs from what Ferry applied.
///
/// Example: ferry drift hello-service
/// Example: ferry drift check hello-service --env prod --wait
/// Example: ferry drift reconcile hello-service --env prod
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<DriftCommand>,
    /// One component [default: every component].
    #[arg(value_parser = crate::parse::component)]
    component: Option<ComponentName>,
    #[command(flatten)]
    table: TableArg,
}

#[derive(Debug, clap::Subcommand)]
enum DriftCommand {
    /// Check one environment now (scheduled checks follow `ferry env put --drift-check`).
    ///
    /// Example: ferry drift check hello-service --env prod --wait
    Check(CheckArgs),
    /// Plan and apply the live version again, through the approval gate, undoing the drift.
    ///
    /// Example: ferry drift reconcile hello-service --env prod --wait
    Reconcile(ReconcileArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// The environment.
    #[arg(long, value_parser = crate::parse::environment)]
    env: EnvironmentName,
    #[command(flatten)]
    request: RequestArgs,
}

#[derive(Debug, clap::Args)]
struct ReconcileArgs {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// The environment.
    #[arg(long, value_parser = crate::parse::environment)]
    env: EnvironmentName,
    /// Why (recorded) [default: "reconcile drift"].
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    request: RequestArgs,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    match args.command {
        None => list(ctx, args.component.as_ref(), &args.table).await,
        Some(DriftCommand::Check(c)) => {
            let req = DeployRequest {
                component: c.component,
                version: None,
                targets: vec![c.env],
                reason: None,
                mode: DeployMode::Drift,
                emergency: None,
            };
            request(ctx, &req, &c.request).await
        }
        Some(DriftCommand::Reconcile(r)) => {
            let store = ctx
                .store(r.request.resources.table.table.as_deref())
                .await?;
            let live = store
                .get_live(&r.component, &r.env)
                .await?
                .with_context(|| {
                    format!(
                        "nothing of {} is live in {}: nothing to reconcile",
                        r.component, r.env
                    )
                })?;
            let req = DeployRequest {
                component: r.component,
                version: Some(VersionSpec::Exact(live.version)),
                targets: vec![r.env],
                reason: Some(r.reason.unwrap_or_else(|| "reconcile drift".into())),
                mode: DeployMode::Deploy,
                emergency: None,
            };
            request(ctx, &req, &r.request).await
        }
    }
}

async fn list(ctx: &Context, component: Option<&ComponentName>, table: &TableArg) -> Result<Exit> {
    let store = ctx.store(table.table.as_deref()).await?;
    let mut records: Vec<DriftRecord> = match component {
        Some(c) => store.list_drift(c).await?,
        None => store.list_all_drift().await?,
    };
    records.sort_by(|a, b| (&a.component, &a.environment).cmp(&(&b.component, &b.environment)));
    output::listing(
        ctx.format,
        "drift",
        &records,
        "no drift checks yet: `ferry drift check <component> --env <env>`, or schedule them with `ferry env put <env> --drift-check 6h`",
        &[
            output::keep("COMPONENT"),
            output::keep("ENVIRONMENT"),
            output::keep("VERSION").hide(1),
            output::when("CHECKED"),
            output::keep("DRIFT"),
            output::text("WHAT DIFFERS"),
        ],
        |d| {
            let what: Vec<String> = d
                .resources
                .iter()
                .map(|r| {
                    if r.attributes.is_empty() {
                        format!("{} {}", r.actions.join("/"), r.address)
                    } else {
                        format!("{} {} ({})", r.actions.join("/"), r.address, r.attributes.join(", "))
                    }
                })
                .collect();
            vec![
                d.component.to_string(),
                d.environment.to_string(),
                d.version.to_string(),
                output::time(&d.checked_at),
                if d.drifted { "DRIFTED" } else { "in sync" }.into(),
                what.join("; "),
            ]
        },
    )?;
    Ok(Exit::Success)
}
