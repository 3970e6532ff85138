//! `ferry logs`: a deployment's build output — CloudWatch Logs of the CodeBuild build in AWS,
//! the local build runner's log file locally (its `deepLink` is a `file://` URL) — and with
//! `-f` following it while it runs, stopping by itself when the build ends.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use aws_sdk_codebuild::types::Build;
use ferry_shared::model::{Deployment, EnvironmentName};
use ferry_shared::store::Store;

use crate::args::TableArg;
use crate::context::Context;
use crate::exit::Exit;
use crate::stack::Resource;

/// Which build of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BuildStep {
    Plan,
    Apply,
}

impl BuildStep {
    fn action(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Apply => "apply",
        }
    }
}

/// Print a deployment's build output (terraform plan or apply), following it with -f.
///
/// Example: ferry logs hello-service-1-2-0-20261127120000-ab12cd --env prod --step plan -f
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deployment id (`ferry deploy` prints it).
    deployment: String,
    /// The environment [default: the one the deployment is at, or its last].
    #[arg(long, value_parser = crate::parse::environment)]
    env: Option<EnvironmentName>,
    /// The build [default: apply when there is one, else plan].
    #[arg(long, value_enum)]
    step: Option<BuildStep>,
    /// Keep printing while the build runs; stops when it ends (waits for it to start).
    #[arg(short = 'f', long)]
    follow: bool,
    /// How long -f waits at most.
    #[arg(long, default_value = "3600", value_parser = crate::parse::duration)]
    timeout: Duration,
    /// The CodeBuild project (the stack's TerraformProjectName output) [default: from --stack].
    #[arg(long, env = "FERRY_TERRAFORM_PROJECT", hide_env_values = true)]
    project: Option<String>,
    #[command(flatten)]
    table: TableArg,
}

/// How often a follower looks for new output and for the build's end.
const POLL: Duration = Duration::from_millis(500);

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    let project = ctx
        .resource(Resource::Project, args.project.as_deref())
        .await?;
    let d = store
        .get_deployment(&args.deployment)
        .await?
        .with_context(|| format!("no deployment {}", args.deployment))?;
    let env = match &args.env {
        Some(e) if d.targets.contains(e) => e.clone(),
        Some(e) => bail!(
            "deployment {} does not target {e} (it targets {})",
            d.id,
            targets(&d)
        ),
        None => current_env(&store, &d).await?,
    };
    let codebuild = aws_sdk_codebuild::Client::new(ctx.sdk().await);
    let deadline = Instant::now() + args.timeout;
    let build = loop {
        if let Some(b) = find_build(&codebuild, &project, &d, &env, args.step).await? {
            break b;
        }
        let ended = store
            .get_deployment(&d.id)
            .await?
            .is_some_and(|d| d.status.is_final());
        if !args.follow || ended {
            bail!(
                "deployment {} has no {} build in {env}{}",
                d.id,
                args.step.map_or("", BuildStep::action),
                if ended {
                    " (it has ended)"
                } else {
                    " yet: add -f to wait for it"
                }
            );
        }
        if Instant::now() >= deadline {
            return Ok(Exit::TimedOut);
        }
        tokio::time::sleep(POLL).await;
    };
    let mut source = LogSource::of(ctx, &build).await?;
    let mut build = build;
    loop {
        source.print_new().await?;
        if !args.follow || build.build_complete() {
            // The last lines may have landed after the read that saw the build end.
            source.print_new().await?;
            return Ok(Exit::Success);
        }
        if Instant::now() >= deadline {
            return Ok(Exit::TimedOut);
        }
        tokio::time::sleep(POLL).await;
        build = get_build(&codebuild, build.id().unwrap_or_default())
            .await?
            .context("the build disappeared")?;
    }
}

fn targets(d: &Deployment) -> String {
    let t: Vec<&str> = d.targets.iter().map(EnvironmentName::as_str).collect();
    t.join(", ")
}

/// The environment a deployment is at: the first whose step has not ended, else the last
/// one it reached.
async fn current_env(store: &Store, d: &Deployment) -> Result<EnvironmentName> {
    let steps = store.list_steps(&d.id).await?;
    let mut reached = None;
    for t in &d.targets {
        match steps.iter().find(|s| &s.environment == t) {
            Some(s) if !s.status.is_final() => return Ok(t.clone()),
            Some(_) => reached = Some(t.clone()),
            None => return Ok(reached.unwrap_or_else(|| t.clone())),
        }
    }
    reached.with_context(|| format!("deployment {} has no environments", d.id))
}

async fn get_build(c: &aws_sdk_codebuild::Client, id: &str) -> Result<Option<Build>> {
    let out = c.batch_get_builds().ids(id).send().await.map_err(|e| {
        anyhow::anyhow!(
            "reading build {id}: {}",
            aws_sdk_codebuild::error::DisplayErrorContext(&e)
        )
    })?;
    Ok(out.builds().first().cloned())
}

/// The deployment's build of `step` in `env` (the newest; apply before plan when no step is
/// named), found by the variables the workflow starts builds with.
async fn find_build(
    c: &aws_sdk_codebuild::Client,
    project: &str,
    d: &Deployment,
    env: &EnvironmentName,
    step: Option<BuildStep>,
) -> Result<Option<Build>> {
    let ids = c
        .list_builds_for_project()
        .project_name(project)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "listing builds of {project}: {}",
                aws_sdk_codebuild::error::DisplayErrorContext(&e)
            )
        })?
        .ids
        .unwrap_or_default();
    // Newest first; a deployment's builds are among the project's latest ones.
    let ids: Vec<String> = ids.into_iter().take(100).collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let builds = c
        .batch_get_builds()
        .set_ids(Some(ids))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "reading builds: {}",
                aws_sdk_codebuild::error::DisplayErrorContext(&e)
            )
        })?
        .builds
        .unwrap_or_default();
    let var = |b: &Build, name: &str| -> Option<String> {
        b.environment()?
            .environment_variables()
            .iter()
            .rfind(|v| v.name() == name)
            .map(|v| v.value().to_owned())
    };
    let ours: Vec<Build> = builds
        .into_iter()
        .filter(|b| {
            var(b, "FERRY_DEPLOYMENT_ID").as_deref() == Some(d.id.as_str())
                && var(b, "FERRY_ENVIRONMENT").as_deref() == Some(env.as_str())
        })
        .collect();
    let wanted: &[&str] = match step {
        Some(s) => &[s.action()][..],
        None => &["apply", "plan"],
    };
    Ok(wanted.iter().find_map(|action| {
        ours.iter()
            .filter(|b| var(b, "FERRY_ACTION").as_deref() == Some(*action))
            .max_by_key(|b| b.start_time().map(|t| (t.secs(), t.subsec_nanos())))
            .cloned()
    }))
}

/// Where a build's output is: the local runner's file, or its CloudWatch Logs stream.
enum LogSource {
    File {
        path: std::path::PathBuf,
        offset: u64,
    },
    CloudWatch {
        client: aws_sdk_cloudwatchlogs::Client,
        group: String,
        stream: String,
        token: Option<String>,
    },
}

impl LogSource {
    async fn of(ctx: &Context, b: &Build) -> Result<Self> {
        let logs = b.logs().context("the build has no logs")?;
        if let Some(path) = logs.deep_link().and_then(|l| l.strip_prefix("file://")) {
            return Ok(Self::File {
                path: path.into(),
                offset: 0,
            });
        }
        match (logs.group_name(), logs.stream_name()) {
            (Some(g), Some(s)) => Ok(Self::CloudWatch {
                client: aws_sdk_cloudwatchlogs::Client::new(ctx.sdk().await),
                group: g.to_owned(),
                stream: s.to_owned(),
                token: None,
            }),
            _ => bail!("the build's logs are not in CloudWatch Logs (no group or stream yet)"),
        }
    }

    /// Prints what was written since the last call.
    async fn print_new(&mut self) -> Result<()> {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        match self {
            Self::File { path, offset } => {
                let bytes = match std::fs::read(&*path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
                };
                let start = usize::try_from(*offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                out.write_all(&bytes[start..])?;
                *offset = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            }
            Self::CloudWatch {
                client,
                group,
                stream,
                token,
            } => loop {
                let resp = client
                    .get_log_events()
                    .log_group_name(group.as_str())
                    .log_stream_name(stream.as_str())
                    .start_from_head(true)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "reading the build's log: {}",
                            aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e)
                        )
                    })?;
                for e in resp.events() {
                    writeln!(
                        out,
                        "{}",
                        e.message().unwrap_or_default().trim_end_matches('\n')
                    )?;
                }
                let next = resp.next_forward_token().map(str::to_owned);
                // The same token back means nothing more for now.
                if next == *token || resp.events().is_empty() {
                    *token = next;
                    break;
                }
                *token = next;
            },
        }
        out.flush()?;
        Ok(())
    }
}
