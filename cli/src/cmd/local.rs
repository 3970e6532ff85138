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
            if let Some(env) = ferry_local::daemon::running(&settings.dir) {
                abort_running(&env).await;
            }
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

/// Records every deployment still running as aborted, with why, before the stack stops — as
/// `ferry cancel` does, which also stops its builds. Best effort: the stack stops regardless,
/// and stopping it ends every build it runs.
async fn abort_running(env: &ferry_local::LocalEnv) {
    use aws_sdk_sfn::types::ExecutionStatus;
    use ferry_shared::operations::cancel_deployment;
    let data = ferry_shared::aws::local_sdk_config(&env.endpoint).await;
    let store =
        ferry_shared::store::Store::new(ferry_shared::aws::dynamodb_client(&data), &env.table);
    let sfn =
        aws_sdk_sfn::Client::new(&ferry_shared::aws::local_sdk_config(&env.sfn_endpoint).await);
    let running = match sfn
        .list_executions()
        .state_machine_arn(&env.state_machine_arn)
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
    {
        Ok(out) => out.executions,
        Err(e) => {
            eprintln!(
                "warning: could not list running deployments ({}); stopping the stack anyway",
                aws_sdk_sfn::error::DisplayErrorContext(&e)
            );
            return;
        }
    };
    for e in running {
        let cause = "the local stack was stopped (ferry local down) while it ran";
        match Box::pin(cancel_deployment(&store, &sfn, &e.name, cause)).await {
            Ok(d) => eprintln!("aborted deployment {} ({})", d.id, d.status),
            Err(err) => eprintln!("warning: deployment {}: {err}", e.name),
        }
    }
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
