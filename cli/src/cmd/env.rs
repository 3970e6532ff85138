//! `ferry env`: environments as data — promotion order and approval rules.

use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use ferry_shared::model::{ApprovalPolicy, Environment, EnvironmentName};
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
    /// Create or update an environment.
    Put(PutArgs),
    /// List environments in promotion order.
    List,
}

#[derive(Debug, clap::Args)]
struct PutArgs {
    #[arg(value_parser = crate::parse::environment)]
    name: EnvironmentName,
    /// Promotion order: lower first.
    #[arg(long)]
    order: u32,
    /// How the approval gate decides.
    #[arg(long, value_enum)]
    approval: ApprovalPolicy,
    /// Who may approve (IAM ARNs or names), comma-separated; default anyone.
    #[arg(long, value_delimiter = ',')]
    approvers: Vec<String>,
    /// The requester may not approve their own deployment.
    #[arg(long)]
    four_eyes: bool,
    /// Deciding on the review page asks for the environment's name to be typed.
    #[arg(long)]
    confirm_name: bool,
    /// How many distinct permitted people must approve a plan (none of them the requester
    /// under --four-eyes); one rejection fails the gate.
    #[arg(long, default_value_t = 1, value_parser = approval_count)]
    required_approvals: u32,
    /// How many approvals a plan that destroys or replaces anything needs (at least
    /// --required-approvals).
    #[arg(long, value_parser = approval_count)]
    destroy_approvals: Option<u32>,
    /// Roles whose session names identify a person (names or prefix* patterns), comma-separated,
    /// e.g. AWSReservedSSO_* for IAM Identity Center; other roles' sessions count as the role.
    #[arg(long, value_delimiter = ',')]
    trusted_session_roles: Vec<String>,
    /// Approval timeout (e.g. 30m, 24h) [default: the stack's default, else 24h].
    #[arg(long, env = "FERRY_DEFAULT_APPROVAL_TIMEOUT", value_parser = crate::parse::duration)]
    timeout: Option<Duration>,
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
            let timeout = match put.timeout {
                Some(t) => t,
                None => match ctx
                    .optional_resource(Resource::DefaultApprovalTimeout)
                    .await?
                {
                    Some(v) => crate::parse::duration(&v).map_err(anyhow::Error::msg)?,
                    None => DEFAULT_TIMEOUT,
                },
            };
            env_put(&store, put, timeout, ctx.format).await?
        }
        EnvCommand::List => env_list(&store, ctx.format).await?,
    }
    Ok(Exit::Success)
}

async fn env_put(store: &Store, put: PutArgs, timeout: Duration, format: Format) -> Result<()> {
    let env = Environment {
        name: put.name,
        order: put.order,
        approval: put.approval,
        approvers: put
            .approvers
            .into_iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect(),
        four_eyes: put.four_eyes,
        confirm_name: put.confirm_name,
        required_approvals: put.required_approvals,
        destroy_approvals: put.destroy_approvals,
        trusted_session_roles: put
            .trusted_session_roles
            .into_iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect(),
        approval_timeout_secs: timeout.as_secs(),
        updated_at: Utc::now(),
    };
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
        &envs,
        "no environments: create one with `ferry env put <name> --order 1 --approval none`",
        &[
            "ORDER",
            "ENVIRONMENT",
            "APPROVAL",
            "APPROVERS",
            "FOUR EYES",
            "TIMEOUT",
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
            ]
        },
    )
}
