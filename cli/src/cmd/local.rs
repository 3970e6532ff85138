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

impl Args {
    /// The daemon (`ferry local serve`), not a command a person runs.
    pub fn is_serve(&self) -> bool {
        matches!(self.command, LocalCommand::Serve)
    }
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Start the local stack in the background (or reuse it) and print the variables that
    /// point ferry at it: `eval "$(ferry local up)"`.
    ///
    /// Example: eval "$(ferry local up)"
    Up,
    /// Stop the local stack (running deployments are recorded aborted first).
    ///
    /// Example: ferry local down
    Down,
    /// Print the variables of the running local stack (or, with --unset, the commands that
    /// remove them from your shell, so your own AWS credentials and region apply again).
    ///
    /// Example: eval "$(ferry local env)"
    /// Example: eval "$(ferry local env --unset)"
    Env {
        /// Print `unset …` for every variable `ferry local up` exports.
        #[arg(long)]
        unset: bool,
    },
    /// Print the approval notifications the stack sent, as approvers receive them (each
    /// approver's message carries their own review link). Reading a message removes it.
    ///
    /// Example: ferry local outbox --follow
    Outbox {
        /// Keep waiting for new messages (Ctrl-C to stop).
        #[arg(long)]
        follow: bool,
    },
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
        LocalCommand::Env { unset: true } => {
            for (k, _) in ferry_local::LocalEnv::default().exports() {
                println!("unset {k}");
            }
        }
        LocalCommand::Env { unset: false } => match ferry_local::daemon::running(&settings.dir) {
            Some(env) => print_exports(ctx, &env)?,
            None => anyhow::bail!("no local stack running: start it with `ferry local up`"),
        },
        LocalCommand::Outbox { follow } => match ferry_local::daemon::running(&settings.dir) {
            Some(env) => outbox(ctx, &env, follow).await?,
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

/// Prints (and removes) the approvals topic's messages from the local outbox queue.
async fn outbox(ctx: &Context, env: &ferry_local::LocalEnv, follow: bool) -> Result<()> {
    let sdk = ferry_shared::aws::local_sdk_config(&env.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&env.outbox_queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .wait_time_seconds(if follow { 10 } else { 1 })
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "could not read the outbox: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })?;
        if out.messages().is_empty() && !follow {
            return Ok(());
        }
        for m in out.messages() {
            let envelope: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            let to = envelope["MessageAttributes"]["approver"]["Value"]
                .as_str()
                .unwrap_or("every subscriber");
            // When the message reached the outbox (SQS SentTimestamp, Unix milliseconds).
            let sent_at = m
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                .and_then(|ms| ms.parse::<i64>().ok())
                .and_then(chrono::DateTime::from_timestamp_millis);
            if ctx.json() {
                println!(
                    "{}",
                    serde_json::json!({
                        "to": to,
                        "subject": envelope["Subject"],
                        "message": envelope["Message"],
                        "sent_at": sent_at,
                    })
                );
            } else {
                println!(
                    "To: {to}\nSubject: {}\n\n{}\n----",
                    envelope["Subject"].as_str().unwrap_or_default(),
                    envelope["Message"].as_str().unwrap_or_default().trim_end()
                );
            }
            if let Some(h) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&env.outbox_queue_url)
                    .receipt_handle(h)
                    .send()
                    .await;
            }
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
