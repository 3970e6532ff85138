//! Environments, deployments, approvals and what is live: `ferry env`, `deploy`, `approve`,
//! `reject`, `status`, `deployment`, `history`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use ferry_shared::deploy::{ApprovalPolicy, Deployment, Environment, Step};
use ferry_shared::model::{ComponentName, EnvironmentName, Version};
use ferry_shared::store::Store;
use serde::Serialize;

use crate::output::{self, Format};

/// Parses "90s", "15m", "24h", "2d" or plain seconds.
pub fn parse_duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("invalid duration {s:?}: use e.g. 90s, 15m, 24h, 2d"))?;
    if n == 0 {
        bail!("a duration must be positive");
    }
    Ok(n * mult)
}

#[allow(clippy::too_many_arguments)]
pub async fn env_put(
    store: &Store,
    name: &str,
    order: u32,
    approval: &str,
    approvers: Vec<String>,
    four_eyes: bool,
    timeout: &str,
    format: Format,
) -> Result<()> {
    let env = Environment {
        name: EnvironmentName::parse(name)?,
        order,
        approval: ApprovalPolicy::parse(approval).with_context(|| {
            format!("invalid approval policy {approval:?}: use required, auto or none")
        })?,
        approvers: approvers
            .into_iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect(),
        four_eyes,
        approval_timeout_secs: parse_duration(timeout)?,
        updated_at: Utc::now(),
    };
    store.put_environment(&env).await?;
    if format == Format::Json {
        return output::json(&env);
    }
    println!(
        "environment {} saved (order {}, approval {})",
        env.name, env.order, env.approval
    );
    Ok(())
}

pub async fn env_list(store: &Store, format: Format) -> Result<()> {
    let envs = store.list_environments().await?;
    if format == Format::Json {
        return output::json(&envs);
    }
    if envs.is_empty() {
        println!(
            "no environments: create one with `ferry env put <name> --order 1 --approval none`"
        );
        return Ok(());
    }
    let mut t = output::table(&[
        "ORDER",
        "ENVIRONMENT",
        "APPROVAL",
        "APPROVERS",
        "FOUR EYES",
        "TIMEOUT",
    ]);
    for e in envs {
        t.add_row(vec![
            e.order.to_string(),
            e.name.to_string(),
            e.approval.to_string(),
            if e.approvers.is_empty() {
                "anyone".into()
            } else {
                e.approvers.join(", ")
            },
            if e.four_eyes { "yes" } else { "no" }.into(),
            format_secs(e.approval_timeout_secs),
        ]);
    }
    println!("{t}");
    Ok(())
}

fn format_secs(s: u64) -> String {
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// What `ferry deploy` needs beyond the store.
pub struct DeployRequest<'a> {
    pub component: &'a str,
    pub version: &'a str,
    pub targets: &'a [String],
    pub reason: Option<&'a str>,
    pub requester: String,
    pub state_machine_arn: &'a str,
}

/// Execution names allow letters, digits, '-' and '_' up to 80 characters.
fn deployment_id(component: &ComponentName, version: &Version) -> String {
    let v: String = version
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let id = format!(
        "{component}-{v}-{}-{suffix}",
        Utc::now().format("%Y%m%d%H%M%S")
    );
    id.chars()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

pub async fn deploy(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    req: DeployRequest<'_>,
) -> Result<Deployment> {
    let component = ComponentName::parse(req.component)?;
    let version = if req.version == "latest" {
        let releases = store.list_releases(&component).await?;
        // Newest release; pre-releases only when nothing else exists.
        releases
            .iter()
            .find(|r| !r.version.is_prerelease())
            .or(releases.first())
            .map(|r| r.version.clone())
            .with_context(|| format!("{component} has no registered releases"))?
    } else {
        let v = Version::parse(req.version)?;
        if store.get_release(&component, &v).await?.is_none() {
            bail!("{component} {v} is not a registered release (see `ferry releases {component}`)");
        }
        v
    };
    if req.targets.is_empty() {
        bail!("name at least one environment with --to");
    }
    let mut envs = Vec::new();
    for t in req.targets {
        let name = EnvironmentName::parse(t.trim())?;
        let env = store.get_environment(&name).await?.with_context(|| {
            format!("environment {name} does not exist (create it with `ferry env put`)")
        })?;
        if envs.iter().any(|e: &Environment| e.name == env.name) {
            bail!("environment {name} is named twice");
        }
        envs.push(env);
    }
    // Promotion order, whatever order they were typed in.
    envs.sort_by_key(|e| e.order);
    let reason = req.reason.map(str::trim).filter(|r| !r.is_empty());

    let id = deployment_id(&component, &version);
    let now = Utc::now();
    let mut deployment = Deployment {
        id: id.clone(),
        component: component.clone(),
        version: version.clone(),
        targets: envs.iter().map(|e| e.name.clone()).collect(),
        requester: req.requester.clone(),
        override_reason: reason.map(str::to_owned),
        execution_arn: None,
        status: "running".into(),
        created_at: now,
        updated_at: now,
        error: None,
    };
    store.put_deployment(&deployment).await?;
    let input = serde_json::json!({
        "deployment_id": id,
        "component": component,
        "version": version,
        "targets": deployment.targets,
        "requester": req.requester,
        "override_reason": reason,
    });
    let started = sfn
        .start_execution()
        .state_machine_arn(req.state_machine_arn)
        .name(&id)
        .input(input.to_string())
        .send()
        .await;
    match started {
        Ok(out) => {
            deployment.execution_arn = Some(out.execution_arn().to_owned());
            store.put_deployment(&deployment).await?;
            Ok(deployment)
        }
        Err(e) => {
            let msg = aws_sdk_sfn::error::DisplayErrorContext(&e).to_string();
            store
                .set_deployment_status(&id, "failed", Some(&msg))
                .await?;
            Err(anyhow::Error::new(e).context("starting the deploy workflow"))
        }
    }
}

/// A deployment and its execution ARN.
async fn started_deployment(store: &Store, id: &str) -> Result<(Deployment, String)> {
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

/// Step statuses after which nothing more happens to an environment.
const FINAL: [&str; 5] = ["succeeded", "failed", "rejected", "timed-out", "aborted"];

/// Stops a running deployment and records it: each environment it had started is recorded as
/// aborted (history, step, pending approval closed) and its lock released — what the workflow's
/// Catch paths do, which a stopped execution never reaches.
pub async fn cancel(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    id: &str,
    who: &str,
    reason: Option<&str>,
) -> Result<Deployment> {
    let (d, arn) = started_deployment(store, id).await?;
    let cause = format!(
        "cancelled by {who}{}",
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    );
    let running = execution_status(sfn, Some(&arn)).await.as_deref() == Some("RUNNING");
    if running {
        sfn.stop_execution()
            .execution_arn(&arn)
            .error("Ferry.Cancelled")
            .cause(&cause)
            .send()
            .await
            .context("stopping the execution")?;
    } else if d.status != "running" {
        bail!("deployment {id} already ended ({})", d.status);
    }
    let deps = record_result::Deps {
        store: store.clone(),
    };
    let error = record_result::CaughtError {
        error: "Ferry.Cancelled".into(),
        cause: Some(cause.clone()),
    };
    for env in &d.targets {
        let Some(step) = store.get_step(id, env.as_str()).await? else {
            continue; // never started: nothing to record or release
        };
        if FINAL.contains(&step.status.as_str()) {
            continue;
        }
        let ctx = ferry_shared::workflow::EnvContext {
            deployment_id: d.id.clone(),
            component: d.component.clone(),
            version: d.version.clone(),
            environment: env.clone(),
            requester: d.requester.clone(),
            override_reason: d.override_reason.clone(),
            execution_arn: arn.clone(),
        };
        record_result::handle(
            &deps,
            record_result::RecordInput::Environment(Box::new(record_result::EnvResult {
                outcome: "aborted".into(),
                ctx,
                approval: None,
                error: Some(error.clone()),
                apply_build_id: None,
            })),
        )
        .await?;
    }
    store
        .set_deployment_status(id, "aborted", Some(&cause))
        .await?;
    store
        .get_deployment(id)
        .await?
        .with_context(|| format!("deployment {id} vanished"))
}

#[derive(Serialize)]
struct DeploymentView {
    #[serde(flatten)]
    deployment: Deployment,
    execution_status: Option<String>,
    steps: Vec<Step>,
}

async fn execution_status(sfn: &aws_sdk_sfn::Client, arn: Option<&str>) -> Option<String> {
    let arn = arn?;
    sfn.describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .ok()
        .map(|o| o.status().as_str().to_owned())
}

fn ordered_steps(d: &Deployment, mut steps: Vec<Step>) -> Vec<Step> {
    steps.sort_by_key(|s| {
        d.targets
            .iter()
            .position(|t| t.as_str() == s.environment)
            .unwrap_or(usize::MAX)
    });
    steps
}

pub async fn show_deployment(
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
    let execution_status = execution_status(sfn, d.execution_arn.as_deref()).await;
    if format == Format::Json {
        return output::json(&DeploymentView {
            deployment: d,
            execution_status,
            steps,
        });
    }
    println!("deployment  {}", d.id);
    println!("release     {} {}", d.component, d.version);
    let targets: Vec<&str> = d.targets.iter().map(EnvironmentName::as_str).collect();
    println!("targets     {}", targets.join(" → "));
    println!(
        "requested   {} by {}",
        output::time(&d.created_at),
        d.requester
    );
    if let Some(r) = &d.override_reason {
        println!("override    {r}");
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
        println!("execution   {arn}");
    }
    let mut t = output::table(&[
        "ENVIRONMENT",
        "STATUS",
        "PLAN",
        "PLAN BUILD",
        "APPROVED BY",
        "COMMENT",
        "APPLY BUILD",
        "FINISHED",
        "ERROR",
    ]);
    for s in &steps {
        t.add_row(vec![
            s.environment.clone(),
            s.status.clone(),
            s.plan_summary
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            s.plan_build_id.clone().unwrap_or_default(),
            s.approver.clone().unwrap_or_default(),
            s.comment.clone().unwrap_or_default(),
            s.apply_build_id.clone().unwrap_or_default(),
            s.finished_at.as_ref().map(output::time).unwrap_or_default(),
            s.error.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
    for s in &steps {
        if let Some(p) = &s.plan_summary {
            if !p.resources.is_empty() {
                println!(
                    "plan for {} ({p}, sha256 {}):",
                    s.environment, &p.plan_sha256
                );
                for r in &p.resources {
                    println!("  {:<10} {}", r.actions.join("/"), r.address);
                }
            }
        }
    }
    Ok(())
}

/// Follows a deployment step by step until its execution ends; returns whether it succeeded.
pub async fn follow(
    store: &Store,
    sfn: &aws_sdk_sfn::Client,
    id: &str,
    timeout: Duration,
) -> Result<bool> {
    let (d, arn) = started_deployment(store, id).await?;
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<(String, String)> = Vec::new();
    loop {
        let steps = ordered_steps(&d, store.list_steps(id).await?);
        for s in &steps {
            let key = (s.environment.clone(), s.status.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let detail = match s.status.as_str() {
                "awaiting-approval" => format!(
                    "plan {} — approve with `ferry approve {id} --env {}`",
                    s.plan_summary
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    s.environment
                ),
                "approved" => format!(
                    "plan {} approved by {}",
                    s.plan_summary
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    s.approver.clone().unwrap_or_default()
                ),
                "succeeded" => "applied".into(),
                _ => s.error.clone().unwrap_or_default(),
            };
            eprintln!("{:<12} {:<18} {detail}", s.environment, s.status);
        }
        let out = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .context("reading the execution")?;
        let status = out.status().as_str().to_owned();
        if status != "RUNNING" {
            // The last steps may have been recorded after our read.
            for s in ordered_steps(&d, store.list_steps(id).await?) {
                if !seen.contains(&(s.environment.clone(), s.status.clone())) {
                    eprintln!(
                        "{:<12} {:<18} {}",
                        s.environment,
                        s.status,
                        s.error.clone().unwrap_or_default()
                    );
                }
            }
            eprintln!("deployment {id}: {status}");
            return Ok(status == "SUCCEEDED");
        }
        if Instant::now() > deadline {
            bail!("deployment {id} still running after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[derive(Serialize)]
struct StatusView {
    component: ComponentName,
    environments: Vec<EnvStatus>,
}

#[derive(Serialize)]
struct EnvStatus {
    environment: EnvironmentName,
    order: u32,
    live: Option<ferry_shared::deploy::Live>,
    pending_approval: Option<ferry_shared::deploy::Approval>,
}

pub async fn status(store: &Store, component: Option<&str>, format: Format) -> Result<()> {
    let components = match component {
        Some(c) => vec![ComponentName::parse(c)?],
        None => store.list_components().await?,
    };
    let envs = store.list_environments().await?;
    let mut views = Vec::new();
    for c in components {
        let live = store.list_live(&c).await?;
        let approvals = store.list_approvals(&c).await?;
        let environments = envs
            .iter()
            .map(|e| EnvStatus {
                environment: e.name.clone(),
                order: e.order,
                live: live.iter().find(|l| l.environment == e.name).cloned(),
                pending_approval: approvals
                    .iter()
                    .find(|a| a.environment == e.name && a.status == "pending")
                    .map(ferry_shared::deploy::Approval::redacted),
            })
            .collect();
        views.push(StatusView {
            component: c,
            environments,
        });
    }
    if format == Format::Json {
        return output::json(&views);
    }
    if views.is_empty() {
        println!("nothing deployed yet");
    }
    for v in views {
        println!("{}", v.component);
        let mut t = output::table(&[
            "ENVIRONMENT",
            "VERSION",
            "DEPLOYED",
            "REQUESTED BY",
            "APPROVED BY",
            "PENDING APPROVAL",
        ]);
        for e in &v.environments {
            let pending = e
                .pending_approval
                .as_ref()
                .map(|a| {
                    format!(
                        "{} {} ({}) — deployment {}",
                        a.component, a.version, a.plan_summary, a.deployment_id
                    )
                })
                .unwrap_or_default();
            match &e.live {
                Some(l) => t.add_row(vec![
                    e.environment.to_string(),
                    l.version.to_string(),
                    output::time(&l.deployed_at),
                    l.requester.clone(),
                    l.approver.clone().unwrap_or_default(),
                    pending,
                ]),
                None => t.add_row(vec![
                    e.environment.to_string(),
                    "-".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    pending,
                ]),
            };
        }
        println!("{t}");
        for e in &v.environments {
            if let Some(a) = &e.pending_approval {
                println!(
                    "awaiting approval in {}: {} {} plan {} (sha256 {}), requested by {}, expires {}",
                    e.environment,
                    a.component,
                    a.version,
                    a.plan_summary,
                    a.plan_sha256,
                    a.requester,
                    output::time(&a.expires_at)
                );
                for r in &a.plan_summary.resources {
                    println!("  {:<10} {}", r.actions.join("/"), r.address);
                }
            }
        }
    }
    Ok(())
}

pub async fn history(
    store: &Store,
    component: &str,
    env: Option<&str>,
    format: Format,
) -> Result<()> {
    let c = ComponentName::parse(component)?;
    let env = env.map(EnvironmentName::parse).transpose()?;
    let entries = store.list_history(&c, env.as_ref()).await?;
    if format == Format::Json {
        return output::json(&entries);
    }
    if entries.is_empty() {
        println!("no deployments of {c} yet");
        return Ok(());
    }
    let mut t = output::table(&[
        "WHEN",
        "ENVIRONMENT",
        "VERSION",
        "OUTCOME",
        "REQUESTED BY",
        "APPROVED BY",
        "DEPLOYMENT",
        "REASON",
    ]);
    for h in entries {
        t.add_row(vec![
            output::time(&h.at),
            h.environment.to_string(),
            h.version.to_string(),
            h.outcome,
            h.requester,
            h.approver.unwrap_or_default(),
            h.deployment_id,
            h.reason.unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), 86400);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("2d").unwrap(), 172800);
        assert_eq!(parse_duration("30").unwrap(), 30);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(format_secs(86400), "1d");
        assert_eq!(format_secs(90), "90s");
    }

    #[test]
    fn deployment_ids_are_valid_execution_names() {
        let id = deployment_id(
            &ComponentName::parse(&"a".repeat(64)).unwrap(),
            &Version::parse("1.2.3-rc.1+build.7").unwrap(),
        );
        assert!(id.len() <= 80);
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{id}"
        );
    }
}
