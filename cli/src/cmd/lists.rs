//! The lists across components: `ferry deployments`, `ferry approvals`, `ferry components`
//! (the dashboard view).

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::Utc;
use ferry_shared::model::{
    Approval, ComponentName, Deployment, DeploymentStatus, EnvironmentName, StepStatus,
};
use serde::Serialize;

use crate::args::{Actor, TableArg};
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{self, Format};

/// Which deployments `ferry deployments --status` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Filter {
    /// Still running (waiting at a gate included).
    Running,
    /// Running and waiting for an approval.
    Waiting,
    Succeeded,
    Failed,
    Aborted,
}

/// Deployments, newest first.
///
/// Example: ferry deployments --component hello-service --status waiting --limit 20
#[derive(Debug, clap::Args)]
pub struct DeploymentsArgs {
    /// The component (the name in its ferry.json).
    #[arg(long, value_parser = crate::parse::component)]
    component: Option<ComponentName>,
    /// Only deployments in this state.
    #[arg(long, value_enum)]
    status: Option<Filter>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    table: TableArg,
}

#[derive(Serialize)]
struct DeploymentRow {
    #[serde(flatten)]
    deployment: Deployment,
    /// Environments waiting for an approval.
    waiting_in: Vec<EnvironmentName>,
}

pub async fn deployments(ctx: &Context, args: DeploymentsArgs) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    let mut rows = Vec::new();
    for d in store.list_deployments().await? {
        if args.component.as_ref().is_some_and(|c| *c != d.component) {
            continue;
        }
        let status_ok = match args.status {
            None => true,
            Some(Filter::Running | Filter::Waiting) => d.status == DeploymentStatus::Running,
            Some(Filter::Succeeded) => d.status == DeploymentStatus::Succeeded,
            Some(Filter::Failed) => d.status == DeploymentStatus::Failed,
            Some(Filter::Aborted) => d.status == DeploymentStatus::Aborted,
        };
        if !status_ok {
            continue;
        }
        // Only running deployments can wait; their steps say where.
        let waiting_in = if d.status == DeploymentStatus::Running {
            store
                .list_steps(&d.id)
                .await?
                .into_iter()
                .filter(|s| s.status == StepStatus::AwaitingApproval)
                .map(|s| s.environment)
                .collect()
        } else {
            vec![]
        };
        if args.status == Some(Filter::Waiting) && waiting_in.is_empty() {
            continue;
        }
        rows.push(DeploymentRow {
            deployment: d,
            waiting_in,
        });
        if rows.len() >= args.limit {
            break;
        }
    }
    output::listing(
        ctx.format,
        "deployments",
        &rows,
        "no deployments match",
        &[
            output::when("CREATED"),
            output::id("DEPLOYMENT"),
            output::keep("MODE").hide(1),
            output::text("TARGETS"),
            output::keep("STATUS"),
            output::keep("REQUESTED BY").hide(2),
        ],
        |r| {
            let d = &r.deployment;
            let targets: Vec<&str> = d.targets.iter().map(EnvironmentName::as_str).collect();
            let status = if r.waiting_in.is_empty() {
                d.status.to_string()
            } else {
                let w: Vec<&str> = r.waiting_in.iter().map(EnvironmentName::as_str).collect();
                format!("waiting for approval in {}", w.join(", "))
            };
            vec![
                output::time(&d.created_at),
                d.id.clone(),
                d.mode.to_string(),
                targets.join(" → "),
                status,
                d.requester.clone(),
            ]
        },
    )?;
    Ok(Exit::Success)
}

/// Gates waiting for a decision, the longest waiting first.
///
/// Example: ferry approvals --mine
#[derive(Debug, clap::Args)]
pub struct ApprovalsArgs {
    /// Only those you may decide (you are an approver, and not the requester under four eyes).
    #[arg(long)]
    mine: bool,
    #[command(flatten)]
    actor: Actor,
    #[command(flatten)]
    table: TableArg,
}

pub async fn approvals(ctx: &Context, args: ApprovalsArgs) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    let now = Utc::now();
    let mut pending: Vec<Approval> = store
        .list_pending_approvals()
        .await?
        .into_iter()
        .filter(|a| a.expires_at > now)
        .map(|a| a.redacted())
        .collect();
    if args.mine {
        let me = ctx.requester(&args.actor).await?;
        let envs = store.list_environments().await?;
        pending.retain(|a| {
            envs.iter()
                .find(|e| e.name == a.environment)
                .is_some_and(|e| e.check_decider(&a.requester, &me).is_ok())
        });
    }
    output::listing(
        ctx.format,
        "approvals",
        &pending,
        if args.mine {
            "nothing waits for your decision"
        } else {
            "no gate is waiting for a decision"
        },
        &[
            output::when("WAITING SINCE").hide(3),
            output::id("DEPLOYMENT"),
            output::keep("ENVIRONMENT"),
            output::keep("RELEASE"),
            output::keep("PLAN"),
            output::keep("REQUESTED BY").hide(2),
            output::keep("APPROVALS").hide(1),
            output::when("EXPIRES").hide(4),
        ],
        |a| {
            vec![
                output::time(&a.requested_at),
                a.deployment_id.clone(),
                a.environment.to_string(),
                format!("{} {}", a.component, a.version),
                a.plan_summary.to_string(),
                a.requester.clone(),
                a.progress(),
                output::time(&a.expires_at),
            ]
        },
    )?;
    Ok(Exit::Success)
}

/// Every component and what is live where: the dashboard view.
///
/// Example: ferry components
#[derive(Debug, clap::Args)]
pub struct ComponentsArgs {
    #[command(flatten)]
    table: TableArg,
}

#[derive(Serialize)]
struct ComponentRow {
    /// The component (the name in its ferry.json).
    component: ComponentName,
    /// Environment → live version (`null` where nothing is live), in promotion order.
    environments: BTreeMap<String, Option<String>>,
}

pub async fn components(ctx: &Context, args: ComponentsArgs) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    let envs = store.list_environments().await?;
    let mut rows = Vec::new();
    for c in store.list_known_components().await? {
        let live = store.list_live(&c).await?;
        let environments = envs
            .iter()
            .map(|e| {
                (
                    e.name.to_string(),
                    live.iter()
                        .find(|l| l.environment == e.name)
                        .map(|l| l.version.to_string()),
                )
            })
            .collect();
        rows.push(ComponentRow {
            component: c,
            environments,
        });
    }
    if ctx.format == Format::Json {
        return output::json(&serde_json::json!({ "components": rows })).map(|()| Exit::Success);
    }
    if rows.is_empty() {
        println!("no components yet: release one with `ferry release`");
        return Ok(Exit::Success);
    }
    let mut header = vec![output::keep("COMPONENT")];
    header.extend(
        envs.iter()
            .map(|e| output::Col::named(e.name.to_string().to_uppercase(), output::Fit::Keep)),
    );
    let mut t = output::table(&header);
    for r in &rows {
        let mut row = vec![r.component.to_string()];
        row.extend(envs.iter().map(|e| {
            r.environments
                .get(e.name.as_str())
                .cloned()
                .flatten()
                .unwrap_or_else(|| "-".into())
        }));
        t.add_row(row);
    }
    output::print(&t);
    Ok(Exit::Success)
}
