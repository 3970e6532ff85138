//! Command-line definition and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ferry_shared::config::LocalSettings;
use ferry_shared::store::Store;

use crate::output::Format;
use crate::{package, release};

/// Any error: one `error: …` line on stderr.
pub const EXIT_FAILURE: u8 = 1;
/// `ferry release`: the upload was rejected (the reason is printed).
pub const EXIT_REJECTED: u8 = 3;
/// `ferry release`: registration was not seen before the timeout.
pub const EXIT_TIMEOUT: u8 = 4;

/// Ferry ships Terraform-managed components: immutable release zips in S3, deployed
/// environment by environment through plan, approval and apply.
///
/// Exit codes: 0 success, 1 error, 2 usage error, 3 release rejected, 4 timed out waiting.
#[derive(Debug, Parser)]
#[command(name = "ferry", version)]
pub struct Cli {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(subcommand)]
    pub command: Command,
}

/// Where Ferry's resources are (printed by `ferry local up`, or the stack's outputs).
#[derive(Debug, Args)]
pub struct Resources {
    /// DynamoDB table Ferry keeps its records in.
    #[arg(long, env = "FERRY_TABLE")]
    pub table: String,
    /// S3 bucket holding release zips, plans and state.
    #[arg(long, env = "FERRY_ARTIFACT_BUCKET")]
    pub bucket: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a release zip from a component directory holding ferry.json and its Terraform.
    Package {
        /// The component directory.
        dir: PathBuf,
        /// Where to write the zip (default: <component>-<version>.zip).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the manifest's version.
        #[arg(long)]
        version: Option<String>,
        /// Record this commit in the manifest.
        #[arg(long)]
        commit: Option<String>,
    },
    /// Upload a release zip and wait until it is registered or rejected.
    Release {
        /// The release zip (ferry.json at its root).
        zip: PathBuf,
        /// Return right after the upload.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for registration, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        #[command(flatten)]
        resources: Resources,
    },
    /// List a component's releases, newest first, and any rejected uploads.
    Releases {
        component: String,
        #[command(flatten)]
        resources: Resources,
    },
    /// Run Ferry on this machine with no AWS account.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
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

async fn store_for(resources: &Resources) -> (aws_sdk_s3::Client, Store) {
    let sdk = ferry_shared::aws::sdk_config().await;
    (
        ferry_shared::aws::s3_client(&sdk),
        Store::new(ferry_shared::aws::dynamodb_client(&sdk), &resources.table),
    )
}

fn print_exports(env: &ferry_local::LocalEnv, format: Format) -> Result<()> {
    if format == Format::Json {
        return crate::output::json(env);
    }
    for (k, v) in env.exports() {
        println!("export {k}={v}");
    }
    Ok(())
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let format = cli.output;
    match cli.command {
        Command::Package {
            dir,
            out,
            version,
            commit,
        } => {
            let (path, manifest) =
                package::build(&dir, out.as_deref(), version.as_deref(), commit.as_deref())?;
            if format == Format::Json {
                crate::output::json(&serde_json::json!({
                    "zip": path, "component": manifest.component, "version": manifest.version
                }))?;
            } else {
                println!("{}", path.display());
            }
        }
        Command::Release {
            zip,
            no_wait,
            timeout,
            resources,
        } => {
            let (s3, store) = store_for(&resources).await;
            let wait = (!no_wait).then(|| Duration::from_secs(timeout));
            let outcome =
                release::release(&s3, &store, &resources.bucket, &zip, wait, format).await?;
            return Ok(match outcome {
                release::Registered::Yes | release::Registered::Uploaded => ExitCode::SUCCESS,
                release::Registered::Rejected => ExitCode::from(EXIT_REJECTED),
                release::Registered::TimedOut => ExitCode::from(EXIT_TIMEOUT),
            });
        }
        Command::Releases {
            component,
            resources,
        } => {
            let (_, store) = store_for(&resources).await;
            release::list(&store, &component, format).await?;
        }
        Command::Local { command } => {
            let settings = LocalSettings::from_env();
            match command {
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
                    print_exports(&env, format)?;
                }
                LocalCommand::Down => {
                    if ferry_local::daemon::down(&settings).await? {
                        eprintln!("local stack stopped");
                    } else {
                        eprintln!("no local stack running");
                    }
                }
                LocalCommand::Env => match ferry_local::daemon::running(&settings.dir) {
                    Some(env) => print_exports(&env, format)?,
                    None => anyhow::bail!("no local stack running: start it with `ferry local up`"),
                },
                LocalCommand::Serve => ferry_local::daemon::serve(&settings).await?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
