//! `ferry local`: run Ferry on this machine with no AWS account (moto, the local engine and
//! build runner), in the background, and print the variables that point `ferry` at it.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use ferry_shared::config::LocalSettings;

use crate::context::Context;
use crate::exit::Exit;

/// Run Ferry on this machine with no AWS account.
///
/// Example: eval "$(ferry local up)"
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: LocalCommand,
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Start the local stack in the background (or reuse it) and print the variables that
    /// point ferry at it: `eval "$(ferry local up)"`.
    Up,
    /// Stop the local stack.
    Down,
    /// Print the variables of the running local stack.
    Env,
    /// Run the local stack in the foreground (what `up` starts in the background).
    #[command(hide = true)]
    Serve,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let settings = LocalSettings::from_env();
    match args.command {
        LocalCommand::Up => {
            let exe = std::env::current_exe().context("locating the ferry binary")?;
            let (env, started) = ferry_local::daemon::up(&settings, &exe).await?;
            eprintln!(
                "local stack {} (pid {}, moto at {}); logs in {}",
                if started {
                    "started"
                } else {
                    "already running"
                },
                env.pid,
                env.endpoint,
                settings.dir.display()
            );
            print_exports(ctx, &env)?;
        }
        LocalCommand::Down => {
            if ferry_local::daemon::down(&settings).await? {
                eprintln!("local stack stopped");
            } else {
                eprintln!("no local stack running");
            }
        }
        LocalCommand::Env => match ferry_local::daemon::running(&settings.dir) {
            Some(env) => print_exports(ctx, &env)?,
            None => anyhow::bail!("no local stack running: start it with `ferry local up`"),
        },
        LocalCommand::Serve => ferry_local::daemon::serve(&settings).await?,
    }
    Ok(Exit::Success)
}

fn print_exports(ctx: &Context, env: &ferry_local::LocalEnv) -> Result<()> {
    if ctx.json() {
        return crate::output::json(env);
    }
    for (k, v) in env.exports() {
        println!("export {k}={v}");
    }
    Ok(())
}
