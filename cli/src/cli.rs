//! Command-line definition and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ferry_shared::config::LocalSettings;
use ferry_shared::store::Store;

use crate::output::Format;
use crate::{approval, deploy, package, release};

/// Any error: one `error: …` line on stderr.
pub const EXIT_FAILURE: u8 = 1;
/// `ferry release`: the upload was rejected (the reason is printed).
pub const EXIT_REJECTED: u8 = 3;
/// `ferry release`: registration was not seen before the timeout.
pub const EXIT_TIMEOUT: u8 = 4;
/// `ferry deploy --wait` / `ferry deployment --wait`: the deployment did not succeed.
pub const EXIT_DEPLOY_FAILED: u8 = 5;

/// Ferry ships Terraform-managed components: immutable release zips in S3, deployed
/// environment by environment through plan, approval and apply.
///
/// Exit codes: 0 success, 1 error, 2 usage error, 3 release rejected, 4 timed out waiting,
/// 5 deployment failed.
#[derive(Debug, Parser)]
#[command(name = "ferry", version)]
pub struct Cli {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    /// Read resource names from this CloudFormation stack's outputs (the SAM stack).
    #[arg(long, global = true, env = "FERRY_STACK")]
    pub stack: Option<String>,

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

/// How to reach the deploy workflow.
#[derive(Debug, Args)]
pub struct Workflow {
    /// The deploy state machine (the stack's StateMachineArn output).
    #[arg(long, env = "FERRY_STATE_MACHINE_ARN")]
    pub state_machine: String,
}

/// Who is acting. In AWS it is the caller's IAM identity; `--as` exists only in local mode.
#[derive(Debug, Args)]
pub struct Actor {
    /// Act as this user (local mode only, where there is no IAM).
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    #[arg(long, env = "FERRY_LOCAL", hide = true)]
    pub local: Option<String>,
}

impl Actor {
    fn is_local(&self) -> bool {
        self.local
            .as_deref()
            .is_some_and(|v| v == "1" || v == "true")
    }

    /// The local user name, or an error when `--as` is used outside local mode.
    fn local_name(&self) -> Result<Option<String>> {
        match (&self.as_user, self.is_local()) {
            (Some(_), false) => anyhow::bail!("--as is only available in local mode (FERRY_LOCAL=1); in AWS your IAM identity is used"),
            (Some(u), true) => Ok(Some(u.clone())),
            (None, true) => Ok(Some(ferry_shared::config::os_user())),
            (None, false) => Ok(None),
        }
    }
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
    /// Manage environments (promotion order and approval rules).
    Env {
        #[command(subcommand)]
        command: EnvCommand,
        #[arg(long, env = "FERRY_TABLE", global = true, hide_env_values = true)]
        table: Option<String>,
    },
    /// Deploy a release to environments, in promotion order: plan, approve, apply.
    Deploy {
        component: String,
        /// A registered version, or `latest`.
        version: String,
        /// Target environments, comma-separated (deployed in promotion order).
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<String>,
        /// Override the promotion rule, recording why.
        #[arg(long)]
        reason: Option<String>,
        /// Follow the deployment until it ends.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, in seconds.
        #[arg(long, default_value_t = 3600)]
        wait_timeout: u64,
        #[command(flatten)]
        actor: Actor,
        #[command(flatten)]
        workflow: Workflow,
        #[command(flatten)]
        resources: Resources,
    },
    /// Stop a running deployment; what it started is recorded as aborted and its locks released.
    Cancel {
        deployment: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        actor: Actor,
        #[command(flatten)]
        resources: Resources,
    },
    /// Approve a deployment's pending plan.
    Approve(DecisionArgs),
    /// Reject a deployment's pending plan.
    Reject(DecisionArgs),
    /// What is live in each environment, and pending approvals with their plans.
    Status {
        component: Option<String>,
        #[command(flatten)]
        resources: Resources,
    },
    /// Every step of one deployment: builds, plan, approver, outcome.
    Deployment {
        id: String,
        /// Follow it until it ends.
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 3600)]
        wait_timeout: u64,
        #[command(flatten)]
        resources: Resources,
    },
    /// Deployment history of a component, newest first.
    History {
        component: String,
        #[arg(long)]
        env: Option<String>,
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
pub enum EnvCommand {
    /// Create or update an environment.
    Put {
        name: String,
        /// Promotion order: lower first.
        #[arg(long)]
        order: u32,
        /// required | auto (no-change plans pass) | none
        #[arg(long)]
        approval: String,
        /// Who may approve (IAM ARNs or names), comma-separated; default anyone.
        #[arg(long, value_delimiter = ',')]
        approvers: Vec<String>,
        /// The requester may not approve their own deployment.
        #[arg(long)]
        four_eyes: bool,
        /// Approval timeout (e.g. 30m, 24h; the stack's default when it sets one).
        #[arg(long, env = "FERRY_DEFAULT_APPROVAL_TIMEOUT", default_value = "24h")]
        timeout: String,
    },
    /// List environments in promotion order.
    List,
}

#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// The deployment id `ferry deploy` printed.
    pub deployment: String,
    /// The environment whose approval to decide (needed when several are pending).
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub comment: Option<String>,
    /// The approval function's URL (the stack's ApprovalUrl output).
    #[arg(long, env = "FERRY_APPROVAL_URL")]
    pub approval_url: String,
    #[command(flatten)]
    pub actor: Actor,
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

fn table_store(sdk: &aws_config::SdkConfig, table: &str) -> Store {
    Store::new(ferry_shared::aws::dynamodb_client(sdk), table)
}

/// Who is requesting: the local user in local mode, else the caller's IAM ARN.
async fn requester(actor: &Actor, sdk: &aws_config::SdkConfig) -> Result<String> {
    if let Some(name) = actor.local_name()? {
        return Ok(format!("local:{name}"));
    }
    let me = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .context("finding your AWS identity (sts:GetCallerIdentity)")?;
    me.arn().map(str::to_owned).context("STS returned no ARN")
}

async fn decide(args: DecisionArgs, verdict: approve::Verdict, format: Format) -> Result<ExitCode> {
    let caller = match args.actor.local_name()? {
        Some(name) => approval::Caller::Local(name),
        None => approval::Caller::Aws(Box::new(ferry_shared::aws::sdk_config().await)),
    };
    let req = approve::DecisionRequest {
        deployment_id: args.deployment.clone(),
        environment: args.env.clone(),
        decision: verdict,
        comment: args.comment.clone(),
    };
    let resp = approval::send(&args.approval_url, &req, &caller).await?;
    if format == Format::Json {
        crate::output::json(&resp)?;
    } else {
        println!(
            "{} {} in {} (plan {}) by {}",
            resp.status, resp.deployment_id, resp.environment, resp.plan_summary, resp.decided_by
        );
    }
    Ok(ExitCode::SUCCESS)
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
        Command::Env { command, table } => {
            let table = table.context("FERRY_TABLE is not set (or pass --table)")?;
            let sdk = ferry_shared::aws::sdk_config().await;
            let store = table_store(&sdk, &table);
            match command {
                EnvCommand::Put {
                    name,
                    order,
                    approval,
                    approvers,
                    four_eyes,
                    timeout,
                } => {
                    deploy::env_put(
                        &store, &name, order, &approval, approvers, four_eyes, &timeout, format,
                    )
                    .await?
                }
                EnvCommand::List => deploy::env_list(&store, format).await?,
            }
        }
        Command::Deploy {
            component,
            version,
            to,
            reason,
            wait,
            wait_timeout,
            actor,
            workflow,
            resources,
        } => {
            let sdk = ferry_shared::aws::sdk_config().await;
            let store = table_store(&sdk, &resources.table);
            let sfn = aws_sdk_sfn::Client::new(&sdk);
            let d = deploy::deploy(
                &store,
                &sfn,
                deploy::DeployRequest {
                    component: &component,
                    version: &version,
                    targets: &to,
                    reason: reason.as_deref(),
                    requester: requester(&actor, &sdk).await?,
                    state_machine_arn: &workflow.state_machine,
                },
            )
            .await?;
            if format == Format::Json {
                crate::output::json(&d)?;
            } else {
                println!("{}", d.id);
            }
            if wait
                && !deploy::follow(&store, &sfn, &d.id, Duration::from_secs(wait_timeout)).await?
            {
                return Ok(ExitCode::from(EXIT_DEPLOY_FAILED));
            }
        }
        Command::Cancel {
            deployment,
            reason,
            actor,
            resources,
        } => {
            let sdk = ferry_shared::aws::sdk_config().await;
            let store = table_store(&sdk, &resources.table);
            let sfn = aws_sdk_sfn::Client::new(&sdk);
            let who = requester(&actor, &sdk).await?;
            let d = deploy::cancel(&store, &sfn, &deployment, &who, reason.as_deref()).await?;
            if format == Format::Json {
                crate::output::json(&d)?;
            } else {
                println!("cancelled {} ({})", d.id, d.error.unwrap_or_default());
            }
        }
        Command::Approve(args) => return decide(args, approve::Verdict::Approve, format).await,
        Command::Reject(args) => return decide(args, approve::Verdict::Reject, format).await,
        Command::Status {
            component,
            resources,
        } => {
            let sdk = ferry_shared::aws::sdk_config().await;
            deploy::status(
                &table_store(&sdk, &resources.table),
                component.as_deref(),
                format,
            )
            .await?;
        }
        Command::Deployment {
            id,
            wait,
            wait_timeout,
            resources,
        } => {
            let sdk = ferry_shared::aws::sdk_config().await;
            let store = table_store(&sdk, &resources.table);
            let sfn = aws_sdk_sfn::Client::new(&sdk);
            if wait && !deploy::follow(&store, &sfn, &id, Duration::from_secs(wait_timeout)).await?
            {
                deploy::show_deployment(&store, &sfn, &id, format).await?;
                return Ok(ExitCode::from(EXIT_DEPLOY_FAILED));
            }
            deploy::show_deployment(&store, &sfn, &id, format).await?;
        }
        Command::History {
            component,
            env,
            resources,
        } => {
            let sdk = ferry_shared::aws::sdk_config().await;
            deploy::history(
                &table_store(&sdk, &resources.table),
                &component,
                env.as_deref(),
                format,
            )
            .await?;
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
