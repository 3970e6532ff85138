//! `ferry status`: what is live in each environment, and pending approvals with their plans.

use anyhow::Result;
use chrono::Utc;
use ferry_shared::model::{Approval, ApprovalStatus, ComponentName, EnvironmentName, Live, Lock};
use ferry_shared::store::Store;
use serde::Serialize;

use crate::args::TableArg;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{self, Format};

/// What is live in each environment, and pending approvals with their plans.
///
/// Example: ferry status hello-service
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One component (default: every component with anything live).
    #[arg(value_parser = crate::parse::component)]
    component: Option<ComponentName>,
    #[command(flatten)]
    table: TableArg,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    status(&store, args.component.as_ref(), ctx.format).await?;
    Ok(Exit::Success)
}

#[derive(Serialize)]
struct StatusView {
    /// The component (the name in its ferry.json).
    component: ComponentName,
    environments: Vec<EnvStatus>,
}

#[derive(Serialize)]
struct EnvStatus {
    environment: EnvironmentName,
    order: u32,
    live: Option<Live>,
    pending_approval: Option<Approval>,
    /// Ferry's lock on the component here, while a deployment holds it.
    lock: Option<Lock>,
}

async fn status(store: &Store, component: Option<&ComponentName>, format: Format) -> Result<()> {
    let components = match component {
        Some(c) => vec![c.clone()],
        // Released ones too: a first deploy waits at a gate before anything is live.
        None => store.list_known_components().await?,
    };
    let envs = store.list_environments().await?;
    let mut views = Vec::new();
    for c in components {
        let live = store.list_live(&c).await?;
        let approvals = store.list_approvals(&c).await?;
        let mut environments = Vec::new();
        for e in &envs {
            environments.push(EnvStatus {
                environment: e.name.clone(),
                order: e.order,
                live: live.iter().find(|l| l.environment == e.name).cloned(),
                pending_approval: approvals
                    .iter()
                    .find(|a| a.environment == e.name && a.status == ApprovalStatus::Pending)
                    .map(Approval::redacted),
                lock: store.get_lock(&c, &e.name).await?,
            });
        }
        views.push(StatusView {
            component: c,
            environments,
        });
    }
    if format == Format::Json {
        return output::json(&serde_json::json!({ "components": views }));
    }
    if views.is_empty() {
        println!("nothing released yet: release a component with `ferry release`");
    }
    for v in views {
        println!("{}", v.component);
        let mut t = output::table(&[
            output::keep("ENVIRONMENT"),
            output::keep("VERSION"),
            output::when("DEPLOYED"),
            output::keep("REQUESTED BY").hide(2),
            output::keep("APPROVED BY").hide(1),
            output::id("PENDING APPROVAL"),
        ]);
        for e in &v.environments {
            // The deployment waiting here; what it is waiting with is said below the table.
            let pending = e
                .pending_approval
                .as_ref()
                .map(|a| a.deployment_id.clone())
                .unwrap_or_default();
            match &e.live {
                Some(l) => t.add_row(vec![
                    e.environment.to_string(),
                    l.version.to_string(),
                    output::time(&l.deployed_at),
                    l.requester.clone(),
                    l.approver.clone().unwrap_or_default(),
                    pending,
                ]),
                None => t.add_row(vec![
                    e.environment.to_string(),
                    "-".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    pending,
                ]),
            };
        }
        output::print(&t);
        for e in &v.environments {
            if let Some(l) = &e.lock {
                let age = (Utc::now() - l.acquired_at).num_seconds().max(0);
                println!(
                    "locked in {} by deployment {}",
                    e.environment, l.deployment_id
                );
                println!(
                    "  requested by {}, held for {}",
                    l.requester,
                    crate::parse::format_age(age)
                );
            }
            if let Some(a) = &e.pending_approval {
                // Short lines: readable at 80 columns; the id whole so it can be copied.
                println!(
                    "awaiting approval in {}: deployment {}",
                    e.environment, a.deployment_id
                );
                println!(
                    "  {} {}, plan {}, requested by {}",
                    a.component, a.version, a.plan_summary, a.requester
                );
                output::field("  plan sha256", &a.plan_sha256);
                println!(
                    "  {}, expires {}",
                    a.progress(),
                    output::time(&a.expires_at)
                );
                for r in &a.plan_summary.resources {
                    println!("  {:<10} {}", r.actions.join("/"), r.address);
                }
            }
        }
    }
    Ok(())
}
