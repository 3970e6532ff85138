//! `ferry deployment`: every step of one deployment, and following one until it ends (also
//! `ferry deploy --wait`).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use aws_sdk_sfn::types::ExecutionStatus;
use ferry_shared::model::{DeployMode, Deployment, EnvironmentName, Step, StepStatus};
use ferry_shared::store::Store;
use serde::Serialize;

use crate::args::TableArg;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{self, Format};

/// Every step of one deployment: builds, plan, approver, outcome.
///
/// Example: ferry deployment hello-service-1-2-0-20261127120000-ab12cd --wait
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deployment id (`ferry deploy` prints it).
    id: String,
    /// Follow it until it ends.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (seconds, or e.g. 30m).
    #[arg(long, default_value = "3600", value_parser = crate::parse::duration)]
    wait_timeout: Duration,
    #[command(flatten)]
    table: TableArg,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let store = ctx.store(args.table.table.as_deref()).await?;
    let sfn = ctx.sfn().await;
    let followed = match args.wait {
        true => follow(&store, &sfn, &args.id, args.wait_timeout).await?,
        false => Followed::Succeeded,
    };
    show_deployment(&store, &sfn, &args.id, ctx.format).await?;
    Ok(followed.exit())
}

/// A deployment and its execution ARN.
pub(crate) async fn started_deployment(store: &Store, id: &str) -> Result<(Deployment, String)> {
    let d = store
        .get_deployment(id)
        .await?
        .with_context(|| format!("no deployment {id}"))?;
    let arn = d
        .execution_arn
        .clone()
        .context("the deployment has no execution")?;
    Ok((d, arn))
}

#[derive(Serialize)]
struct DeploymentView {
    #[serde(flatten)]
    deployment: Deployment,
    execution_status: Option<String>,
    steps: Vec<Step>,
}

/// The execution's status; `None` when the execution does not exist.
pub(crate) async fn execution_status(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
) -> Result<Option<ExecutionStatus>> {
    ferry_shared::operations::execution_status(sfn, arn)
        .await
        .map_err(anyhow::Error::msg)
}

fn ordered_steps(d: &Deployment, mut steps: Vec<Step>) -> Vec<Step> {
    steps.sort_by_key(|s| {
        d.targets
            .iter()
            .position(|t| t == &s.environment)
            .unwrap_or(usize::MAX)
    });
    steps
}

pub(crate) async fn show_deployment(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    id: &str,
    format: Format,
) -> Result<()> {
    let d = store
        .get_deployment(id)
        .await?
        .with_context(|| format!("no deployment {id}"))?;
    let steps = ordered_steps(&d, store.list_steps(id).await?);
    // Shown for information only: an unreadable execution is left out, never guessed.
    let execution_status = match d.execution_arn.as_deref() {
        Some(arn) => execution_status(sfn, arn)
            .await
            .ok()
            .flatten()
            .map(|s| s.as_str().to_owned()),
        None => None,
    };
    if format == Format::Json {
        return output::json(&DeploymentView {
            deployment: d,
            execution_status,
            steps,
        });
    }
    println!("deployment  {}", d.id);
    println!("release     {} {}", d.component, d.version);
    if d.mode != DeployMode::Deploy {
        println!("mode        {}", d.mode);
    }
    let targets: Vec<&str> = d.targets.iter().map(EnvironmentName::as_str).collect();
    println!("targets     {}", targets.join(" → "));
    println!(
        "requested   {} by {}",
        output::time(&d.created_at),
        d.requester
    );
    if let Some(r) = &d.override_reason {
        println!("reason      {r}");
    }
    if let Some(r) = &d.emergency {
        println!("EMERGENCY   {r} (passed a freeze)");
    }
    println!(
        "status      {}{}",
        d.status,
        execution_status
            .map(|s| format!(" (execution {s})"))
            .unwrap_or_default()
    );
    if let Some(e) = &d.error {
        println!("error       {e}");
    }
    if let Some(arn) = &d.execution_arn {
        output::field("execution  ", arn);
    }
    let mut t = output::table(&[
        output::keep("ENVIRONMENT"),
        output::keep("STATUS"),
        output::keep("PLAN"),
        output::id("PLAN BUILD").hide(3),
        output::text("APPROVED BY"),
        output::text("COMMENT").hide(4),
        output::id("APPLY BUILD").hide(2),
        output::when("FINISHED").hide(1),
        output::text("ERROR").hide(5),
    ]);
    for s in &steps {
        t.add_row(vec![
            s.environment.to_string(),
            s.status.to_string(),
            s.plan_summary
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            s.plan_build_id.clone().unwrap_or_default(),
            s.approvals_text(),
            s.comment.clone().unwrap_or_default(),
            s.apply_build_id.clone().unwrap_or_default(),
            s.finished_at.as_ref().map(output::time).unwrap_or_default(),
            s.error.clone().unwrap_or_default(),
        ]);
    }
    output::print(&t);
    for s in &steps {
        if let Some(why) = &s.failure_reason {
            println!("{} failed: {why}", s.environment);
        }
    }
    for s in &steps {
        if let Some(p) = &s.plan_summary {
            if !p.resources.is_empty() {
                println!("plan for {}: {p}", s.environment);
                output::field("  sha256", &p.plan_sha256);
                for r in &p.resources {
                    println!("  {:<10} {}", r.actions.join("/"), r.address);
                }
            }
        }
    }
    Ok(())
}

/// What went wrong in a step, in one line: where it failed and, for a build, the build's reason.
fn step_error(s: &Step) -> String {
    match (&s.error, &s.failure_reason) {
        (Some(e), Some(why)) => format!("{e}: {why}"),
        (e, why) => e.clone().or_else(|| why.clone()).unwrap_or_default(),
    }
}

/// Follows a deployment step by step until its execution ends; returns whether it succeeded.
/// How following a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    Succeeded,
    /// It ended any other way (failed, aborted, timed out in Step Functions).
    DidNotSucceed,
    /// `--wait-timeout` passed first; the deployment goes on.
    TimedOut,
    /// Ctrl-C: ferry stopped following; the deployment goes on.
    Interrupted,
}

impl Followed {
    /// How `ferry` exits after following.
    pub fn exit(self) -> Exit {
        match self {
            Self::Succeeded => Exit::Success,
            Self::DidNotSucceed => Exit::DeployFailed,
            Self::TimedOut => Exit::TimedOut,
            Self::Interrupted => Exit::Interrupted,
        }
    }
}

/// Follows a deployment step by step until its execution ends, `timeout` passes, or Ctrl-C;
/// the last two leave the deployment running and say how to re-attach.
pub async fn follow(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    id: &str,
    timeout: Duration,
) -> Result<Followed> {
    let again = format!("re-attach with `ferry deployment {id} --wait`");
    tokio::select! {
        r = follow_steps(store, sfn, id, timeout) => match r? {
            Some(true) => Ok(Followed::Succeeded),
            Some(false) => Ok(Followed::DidNotSucceed),
            None => {
                eprintln!("stopped waiting after {}: deployment {id} continues; {again}", humantime::format_duration(timeout));
                Ok(Followed::TimedOut)
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\nstopped following: deployment {id} continues; {again}, or stop it with `ferry cancel {id}`");
            Ok(Followed::Interrupted)
        }
    }
}

/// `Some(succeeded)` once the execution ended; `None` when `timeout` passed first. Each step
/// reached is said once, with the time; on a terminal a spinner below says where every
/// environment is now and for how long the deployment has been followed.
async fn follow_steps(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    id: &str,
    timeout: Duration,
) -> Result<Option<bool>> {
    let (d, arn) = started_deployment(store, id).await?;
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<(EnvironmentName, StepStatus)> = Vec::new();
    let spinner = crate::progress::spinner(&format!("following {}", output::shorten(id, 24)));
    let say = |s: &Step, detail: &str| {
        crate::progress::say(
            &spinner,
            &format!(
                "{} {:<12} {:<18} {detail}",
                chrono::Utc::now().format("%H:%M:%S"),
                s.environment,
                s.status
            ),
        );
    };
    let result = loop {
        let steps = ordered_steps(&d, store.list_steps(id).await?);
        for s in &steps {
            let key = (s.environment.clone(), s.status);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let plan = s
                .plan_summary
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let detail = match s.status {
                StepStatus::AwaitingApproval => format!(
                    "plan {plan} — {}approve with `ferry approve {id} --env {}`",
                    match s.required_approvals {
                        0 | 1 => String::new(),
                        n => format!("needs {n} approvals; "),
                    },
                    s.environment
                ),
                StepStatus::Approved => format!(
                    "plan {plan} approved by {}",
                    s.approver.as_deref().unwrap_or_default()
                ),
                StepStatus::Succeeded => "applied".into(),
                _ => step_error(s),
            };
            say(s, &detail);
        }
        let now: Vec<String> = steps
            .iter()
            .map(|s| format!("{} {}", s.environment, s.status))
            .collect();
        if !now.is_empty() {
            spinner.set_message(now.join(" · "));
        }
        let out = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .context("reading the execution")?;
        let status = out.status().clone();
        if status != ExecutionStatus::Running {
            // The last steps may have been recorded after our read.
            for s in ordered_steps(&d, store.list_steps(id).await?) {
                if !seen.contains(&(s.environment.clone(), s.status)) {
                    say(&s, &step_error(&s));
                }
            }
            crate::progress::say(&spinner, &format!("deployment {id}: {}", status.as_str()));
            break Some(status == ExecutionStatus::Succeeded);
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    spinner.finish_and_clear();
    Ok(result)
}
