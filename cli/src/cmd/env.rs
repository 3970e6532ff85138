//! `ferry env`: environments as data — promotion order and approval rules.

use std::time::Duration;

use anyhow::{bail, Result};
use chrono::Utc;
use clap::Subcommand;
use ferry_shared::model::{
    ApprovalPolicy, ComponentName, Environment, EnvironmentName, HistoryEntry, Outcome, Version,
};
use ferry_shared::store::Store;

use crate::context::Context;
use crate::exit::Exit;
use crate::output::{self, Format};
use crate::parse::format_secs;
use crate::stack::Resource;

/// Manage environments (promotion order and approval rules).
///
/// Example: ferry env put prod --order 3 --approval required --four-eyes --timeout 4h
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EnvCommand,
    /// DynamoDB table Ferry keeps its records in [default: from --stack].
    #[arg(long, env = "FERRY_TABLE", global = true, hide_env_values = true)]
    table: Option<String>,
}

#[derive(Debug, Subcommand)]
enum EnvCommand {
    /// Create an environment, or change the fields given on an existing one.
    ///
    /// Example: ferry env put prod --order 3 --approval required --four-eyes --required-approvals 2
    Put(PutArgs),
    /// List environments in promotion order.
    ///
    /// Example: ferry env list
    List,
    /// Everything about one environment: rules, approvers, freeze.
    ///
    /// Example: ferry env show prod
    Show {
        /// The environment's name.
        #[arg(value_parser = crate::parse::environment)]
        name: EnvironmentName,
    },
    /// Delete an environment; refused while anything is live or locked there unless --force.
    ///
    /// Example: ferry env delete dev2 --force --reason "merged into dev"
    Delete(DeleteArgs),
}

#[derive(Debug, clap::Args)]
struct PutArgs {
    /// The environment's name.
    #[arg(value_parser = crate::parse::environment)]
    name: EnvironmentName,
    /// Promotion order: lower first (required for a new environment).
    #[arg(long)]
    order: Option<u32>,
    /// How the approval gate decides (required for a new environment).
    #[arg(long, value_enum)]
    approval: Option<ApprovalPolicy>,
    /// Who may approve (IAM ARNs or names), comma-separated; `--approvers ""` lets anyone.
    #[arg(long, value_delimiter = ',')]
    approvers: Option<Vec<String>>,
    /// The requester may not approve their own deployment.
    #[arg(long, overrides_with = "no_four_eyes")]
    four_eyes: bool,
    /// The requester may approve their own deployment.
    #[arg(long)]
    no_four_eyes: bool,
    /// Deciding on the review page asks for the environment's name to be typed.
    #[arg(long, overrides_with = "no_confirm_name")]
    confirm_name: bool,
    #[arg(long, hide = true)]
    no_confirm_name: bool,
    /// How many distinct permitted people must approve a plan (none of them the requester
    /// under --four-eyes); one rejection fails the gate [new environments: 1].
    #[arg(long, value_parser = approval_count)]
    required_approvals: Option<u32>,
    /// How many approvals a plan that destroys or replaces anything needs (at least
    /// --required-approvals).
    #[arg(long, value_parser = approval_count)]
    destroy_approvals: Option<u32>,
    /// Roles whose session names identify a person (names or prefix* patterns), comma-separated,
    /// e.g. AWSReservedSSO_* for IAM Identity Center; other roles' sessions count as the role.
    #[arg(long, value_delimiter = ',')]
    trusted_session_roles: Option<Vec<String>>,
    /// Check what is live here for drift this often (e.g. 6h): a plan of the live version.
    #[arg(long, value_parser = crate::parse::duration, conflicts_with = "no_drift_check")]
    drift_check: Option<Duration>,
    /// Stop checking for drift.
    #[arg(long)]
    no_drift_check: bool,
    /// Approval timeout (e.g. 30m, 24h) [new environments: $FERRY_DEFAULT_APPROVAL_TIMEOUT, the
    /// stack's default, else 24h].
    #[arg(long, value_parser = crate::parse::duration)]
    timeout: Option<Duration>,
}

#[derive(Debug, clap::Args)]
struct DeleteArgs {
    /// The environment's name.
    #[arg(value_parser = crate::parse::environment)]
    name: EnvironmentName,
    /// Delete even though something is live or locked there (needs --reason; recorded in each
    /// such component's history).
    #[arg(long, requires = "reason")]
    force: bool,
    /// Why (recorded).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    actor: crate::args::Actor,
}

fn approval_count(s: &str) -> Result<u32, String> {
    use ferry_shared::model::MAX_REQUIRED_APPROVALS as MAX;
    match s.parse::<u32>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of approvals from 1 to {MAX}")),
    }
}

const DEFAULT_TIMEOUT: Duration =
    Duration::from_secs(ferry_shared::model::DEFAULT_APPROVAL_TIMEOUT_SECS);

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let store = ctx.store(args.table.as_deref()).await?;
    match args.command {
        EnvCommand::Put(put) => {
            let existing = store.get_environment(&put.name).await?;
            let timeout = match (put.timeout, &existing) {
                (Some(t), _) => Some(t),
                (None, Some(_)) => None,
                (None, None) => Some(default_timeout(ctx).await?),
            };
            env_put(&store, put, existing, timeout, ctx.format).await?
        }
        EnvCommand::List => env_list(&store, ctx.format).await?,
        EnvCommand::Show { name } => env_show(&store, &name, ctx.format).await?,
        EnvCommand::Delete(d) => env_delete(ctx, &store, d).await?,
    }
    Ok(Exit::Success)
}

/// A new environment's approval timeout when none is given.
async fn default_timeout(ctx: &Context) -> Result<Duration> {
    let configured = match std::env::var("FERRY_DEFAULT_APPROVAL_TIMEOUT") {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            ctx.optional_resource(Resource::DefaultApprovalTimeout)
                .await?
        }
    };
    match configured {
        Some(v) => crate::parse::duration(&v).map_err(anyhow::Error::msg),
        None => Ok(DEFAULT_TIMEOUT),
    }
}

fn cleaned(list: Vec<String>) -> Vec<String> {
    list.into_iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// Creates the environment, or changes only the fields `put` names on the one that exists.
async fn env_put(
    store: &Store,
    put: PutArgs,
    existing: Option<Environment>,
    timeout: Option<Duration>,
    format: Format,
) -> Result<()> {
    let mut env = match existing {
        Some(e) => e,
        None => {
            let (Some(order), Some(approval)) = (put.order, put.approval) else {
                bail!(
                    "{} is a new environment: give it --order and --approval (e.g. `ferry env put {} --order 1 --approval none`)",
                    put.name,
                    put.name
                );
            };
            Environment {
                name: put.name.clone(),
                order,
                approval,
                approvers: vec![],
                four_eyes: false,
                trusted_session_roles: vec![],
                approval_timeout_secs: DEFAULT_TIMEOUT.as_secs(),
                confirm_name: false,
                required_approvals: 1,
                destroy_approvals: None,
                freeze: None,
                drift_check_secs: None,
                updated_at: Utc::now(),
            }
        }
    };
    if let Some(o) = put.order {
        env.order = o;
    }
    if let Some(a) = put.approval {
        env.approval = a;
    }
    if let Some(list) = put.approvers {
        env.approvers = cleaned(list);
    }
    if put.four_eyes || put.no_four_eyes {
        env.four_eyes = put.four_eyes;
    }
    if put.confirm_name || put.no_confirm_name {
        env.confirm_name = put.confirm_name;
    }
    if let Some(n) = put.required_approvals {
        env.required_approvals = n;
    }
    if let Some(n) = put.destroy_approvals {
        env.destroy_approvals = Some(n);
    }
    if let Some(list) = put.trusted_session_roles {
        env.trusted_session_roles = cleaned(list);
    }
    if let Some(t) = timeout {
        env.approval_timeout_secs = t.as_secs();
    }
    if let Some(every) = put.drift_check {
        env.drift_check_secs = Some(every.as_secs());
    }
    if put.no_drift_check {
        env.drift_check_secs = None;
    }
    env.updated_at = Utc::now();

    if env.approval == ApprovalPolicy::None && !env.approvers.is_empty() {
        bail!(
            "{} has approvers ({}) but --approval none lets every plan through unseen: use --approval required or auto, or clear them with --approvers \"\"",
            env.name,
            env.approvers.join(", ")
        );
    }
    if let Some(other) = store
        .list_environments()
        .await?
        .into_iter()
        .find(|e| e.order == env.order && e.name != env.name)
    {
        bail!(
            "{} already has order {}: promotion order must be unambiguous, pick another --order",
            other.name,
            env.order
        );
    }
    store.put_environment(&env).await?;
    if format == Format::Json {
        return output::json(&env);
    }
    println!(
        "environment {} saved (order {}, approval {})",
        env.name,
        env.order,
        approval_rule(&env)
    );
    Ok(())
}

async fn env_show(store: &Store, name: &EnvironmentName, format: Format) -> Result<()> {
    let Some(e) = store.get_environment(name).await? else {
        bail!("environment {name} does not exist (see `ferry env list`)");
    };
    if format == Format::Json {
        return output::json(&e);
    }
    let approvers = if e.approvers.is_empty() {
        "anyone who can call the Ferry API".to_owned()
    } else {
        e.approvers.join(", ")
    };
    println!("environment     {}", e.name);
    println!("order           {}", e.order);
    println!("approval        {}", approval_rule(&e));
    println!("approvers       {approvers}");
    println!("four eyes       {}", if e.four_eyes { "yes" } else { "no" });
    println!(
        "confirm name    {}",
        if e.confirm_name { "yes" } else { "no" }
    );
    if !e.trusted_session_roles.is_empty() {
        println!("trusted roles   {}", e.trusted_session_roles.join(", "));
    }
    println!("timeout         {}", format_secs(e.approval_timeout_secs));
    match e.drift_check_secs {
        Some(s) => println!("drift check     every {}", format_secs(s)),
        None => println!("drift check     not scheduled"),
    }
    match e.frozen_now(Utc::now()) {
        Some(f) => println!("frozen          {f}"),
        None => println!("frozen          no"),
    }
    println!("updated         {}", output::time(&e.updated_at));
    Ok(())
}

/// What holds an environment: components live there, and Ferry locks on it.
async fn holds(store: &Store, name: &EnvironmentName) -> Result<Vec<(ComponentName, String)>> {
    let mut out = Vec::new();
    for c in store.list_components().await? {
        if let Some(l) = store.get_live(&c, name).await? {
            out.push((c.clone(), format!("{c} {} is live", l.version)));
        }
        if let Some(lock) = store.get_lock(&c, name).await? {
            out.push((
                c.clone(),
                format!("{c} is locked by deployment {}", lock.deployment_id),
            ));
        }
    }
    Ok(out)
}

async fn env_delete(ctx: &Context, store: &Store, d: DeleteArgs) -> Result<()> {
    if store.get_environment(&d.name).await?.is_none() {
        bail!(
            "environment {} does not exist (see `ferry env list`)",
            d.name
        );
    }
    let held = holds(store, &d.name).await?;
    let reason = d.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if !held.is_empty() {
        let what: Vec<&str> = held.iter().map(|(_, w)| w.as_str()).collect();
        let Some(reason) = reason.filter(|_| d.force) else {
            bail!(
                "not deleting {}: {}; destroy or move those first, or pass --force --reason \"why\"",
                d.name,
                what.join("; ")
            );
        };
        let who = ctx.requester(&d.actor).await?;
        for (c, what) in &held {
            let version = store
                .get_live(c, &d.name)
                .await?
                .map(|l| l.version)
                .unwrap_or_else(Version::none);
            store
                .add_history(&HistoryEntry {
                    component: c.clone(),
                    environment: d.name.clone(),
                    version,
                    deployment_id: String::new(),
                    outcome: Outcome::EnvironmentDeleted,
                    recorded_at: Utc::now(),
                    requester: who.clone(),
                    approver: None,
                    reason: Some(format!("{reason} (forced while {what})")),
                    mode: None,
                    emergency: None,
                    terraform_lock: None,
                })
                .await?;
        }
    }
    store.delete_environment(&d.name).await?;
    if ctx.json() {
        return output::json(
            &serde_json::json!({ "deleted": d.name, "forced_over": held.iter().map(|(_, w)| w).collect::<Vec<_>>() }),
        );
    }
    println!("environment {} deleted", d.name);
    Ok(())
}

/// "required", or with counts: "required, 2 people (3 to destroy)".
fn approval_rule(e: &Environment) -> String {
    let mut s = e.approval.to_string();
    let destroy = e.destroy_approvals.filter(|d| *d > e.required_approvals);
    if e.approval != ApprovalPolicy::None && (e.required_approvals > 1 || destroy.is_some()) {
        s.push_str(&format!(", {} ", e.required_approvals));
        s.push_str(if e.required_approvals == 1 {
            "person"
        } else {
            "people"
        });
        if let Some(d) = destroy {
            s.push_str(&format!(" ({d} to destroy)"));
        }
    }
    s
}

async fn env_list(store: &Store, format: Format) -> Result<()> {
    let envs = store.list_environments().await?;
    output::listing(
        format,
        "environments",
        &envs,
        "no environments: create one with `ferry env put <name> --order 1 --approval none`",
        &[
            output::keep("ORDER"),
            output::keep("ENVIRONMENT"),
            output::text("APPROVAL"),
            output::text("APPROVERS"),
            output::keep("FOUR EYES").hide(2),
            output::keep("TIMEOUT").hide(1),
            output::text("FROZEN").hide(3),
        ],
        |e| {
            vec![
                e.order.to_string(),
                e.name.to_string(),
                approval_rule(e),
                if e.approvers.is_empty() {
                    "anyone".into()
                } else {
                    e.approvers.join(", ")
                },
                if e.four_eyes { "yes" } else { "no" }.into(),
                format_secs(e.approval_timeout_secs),
                match e.frozen_now(Utc::now()) {
                    Some(f) => f.reason,
                    None => String::new(),
                },
            ]
        },
    )
}
