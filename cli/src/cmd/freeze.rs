//! `ferry freeze` / `ferry unfreeze`: stop deploys into environments (an incident, a release
//! week). check-and-lock refuses new deploys into a frozen environment and a waiting gate is
//! not approved while it is frozen; `--emergency "why"` on a deploy passes, recorded.

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use ferry_shared::model::{Environment, EnvironmentName, Freeze};

use crate::args::{Actor, TableArg};
use crate::context::Context;
use crate::exit::Exit;

/// Stop deploys into environments.
///
/// Example: ferry freeze prod --reason "incident 1234" --until 2026-12-01T00:00Z
#[derive(Debug, clap::Args)]
pub struct FreezeArgs {
    /// Environments to freeze.
    #[arg(value_parser = crate::parse::environment, required_unless_present = "all", conflicts_with = "all")]
    envs: Vec<EnvironmentName>,
    /// Every environment.
    #[arg(long)]
    all: bool,
    /// Why (shown to everyone whose deploy is refused).
    #[arg(long, required = true)]
    reason: String,
    /// When the freeze ends by itself (2026-12-01T00:00Z, or a duration like 4h) [default: at
    /// `ferry unfreeze`].
    #[arg(long, value_parser = crate::parse::moment)]
    until: Option<DateTime<Utc>>,
    #[command(flatten)]
    actor: Actor,
    #[command(flatten)]
    table: TableArg,
}

/// Let deploys into environments again.
///
/// Example: ferry unfreeze prod
#[derive(Debug, clap::Args)]
pub struct UnfreezeArgs {
    /// The environments.
    #[arg(value_parser = crate::parse::environment, required_unless_present = "all", conflicts_with = "all")]
    envs: Vec<EnvironmentName>,
    /// Every environment.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    actor: Actor,
    #[command(flatten)]
    table: TableArg,
}

/// The environments named, or all of them; an unknown name is an error before anything changes.
async fn chosen(
    store: &ferry_shared::store::Store,
    names: &[EnvironmentName],
    all: bool,
) -> Result<Vec<Environment>> {
    let envs = store.list_environments().await?;
    if all {
        return Ok(envs);
    }
    let mut out = Vec::new();
    for n in names {
        match envs.iter().find(|e| &e.name == n) {
            Some(e) => out.push(e.clone()),
            None => bail!("environment {n} does not exist (see `ferry env list`)"),
        }
    }
    Ok(out)
}

pub async fn freeze(ctx: &Context, args: FreezeArgs) -> Result<Exit> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        bail!("say why with --reason: it is what refused deploys show");
    }
    if args.until.is_some_and(|u| u <= Utc::now()) {
        bail!("--until is in the past: the freeze would already be over");
    }
    let by = ctx.requester(&args.actor).await?;
    let store = ctx.store(args.table.table.as_deref()).await?;
    let mut frozen = Vec::new();
    for mut env in chosen(&store, &args.envs, args.all).await? {
        env.freeze = Some(Freeze {
            reason: reason.to_owned(),
            by: by.clone(),
            frozen_at: Utc::now(),
            until_at: args.until,
        });
        env.updated_at = Utc::now();
        store.put_environment(&env).await?;
        frozen.push(env);
    }
    report(ctx, &frozen, "frozen")
}

pub async fn unfreeze(ctx: &Context, args: UnfreezeArgs) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    // Who unfroze is the caller; asking makes a local `--as` valid here as elsewhere.
    ctx.requester(&args.actor).await?;
    let mut thawed = Vec::new();
    for mut env in chosen(&store, &args.envs, args.all).await? {
        if env.freeze.take().is_some() {
            env.updated_at = Utc::now();
            store.put_environment(&env).await?;
        }
        thawed.push(env);
    }
    report(ctx, &thawed, "unfrozen")
}

fn report(ctx: &Context, envs: &[Environment], what: &str) -> Result<Exit> {
    if ctx.json() {
        crate::output::json(&serde_json::json!({ "environments": envs }))?;
    } else if envs.is_empty() {
        println!("no environments: create one with `ferry env put`");
    } else {
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        println!("{what}: {}", names.join(", "));
    }
    Ok(Exit::Success)
}
