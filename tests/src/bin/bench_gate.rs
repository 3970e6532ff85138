//! Gate latency on the local stack, per deploy of the example to a `prod` that needs approval:
//! plan build ending (the build runner's record, via the CodeBuild API) → the approval visible
//! in the store (its `requested_at`), in `ferry status`, and its notification published (the
//! outbox queue's SentTimestamp); then `ferry approve` → the apply build starting.
//! Run: `cargo run -p ferry-tests --bin bench_gate -- [runs]` (builds `ferry` first:
//! `cargo build -p ferry-cli --bin ferry`). Prints figures; asserts no time.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ferry_tests::repo_root;
use ferry_tests::stack::{Stack, PROD_REQUIRED};
use serde_json::Value;

/// The goal for both latencies.
const GOAL_S: f64 = 0.5;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One build as the local runner records it.
struct BuildRec {
    action: String,
    start: f64,
    end: Option<f64>,
}

/// The deployment's builds on the stack's Terraform project.
async fn builds(stack: &Stack, deployment: &str) -> Result<Vec<BuildRec>> {
    let endpoint = stack
        .var("AWS_ENDPOINT_URL_CODEBUILD")
        .context("no AWS_ENDPOINT_URL_CODEBUILD in the stack's exports")?;
    let project = stack
        .var("FERRY_TERRAFORM_PROJECT")
        .context("no FERRY_TERRAFORM_PROJECT in the stack's exports")?;
    let cb = aws_sdk_codebuild::Client::new(&ferry_shared::aws::local_sdk_config(endpoint).await);
    let ids = cb
        .list_builds_for_project()
        .project_name(project)
        .send()
        .await?
        .ids
        .unwrap_or_default();
    let mut out = Vec::new();
    for chunk in ids.chunks(100) {
        let got = cb
            .batch_get_builds()
            .set_ids(Some(chunk.to_vec()))
            .send()
            .await?;
        for b in got.builds() {
            let vars = b
                .environment()
                .map(|e| e.environment_variables())
                .unwrap_or_default();
            let var = |n: &str| {
                vars.iter()
                    .find(|v| v.name() == n)
                    .map(|v| v.value().to_owned())
            };
            if var("FERRY_DEPLOYMENT_ID").as_deref() != Some(deployment) {
                continue;
            }
            out.push(BuildRec {
                action: var("FERRY_ACTION").unwrap_or_default(),
                start: b.start_time().map(|t| t.as_secs_f64()).unwrap_or(0.0),
                end: b.end_time().map(|t| t.as_secs_f64()),
            });
        }
    }
    Ok(out)
}

/// One gate's figures, in seconds.
struct Gate {
    build_to_store: f64,
    build_to_status: f64,
    build_to_notified: f64,
    approve_to_apply: f64,
    decided_to_apply: f64,
    approve_command: f64,
}

fn has_pending(status: &Value, deployment: &str) -> bool {
    status["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["environments"].as_array().into_iter().flatten())
        .any(|e| e["pending_approval"]["deployment_id"] == deployment)
}

fn one_gate(stack: &Stack, rt: &tokio::runtime::Runtime, version: &str) -> Result<Gate> {
    stack.release_dir(&repo_root().join("examples/hello-service"), version);
    let id = stack.deploy(&["hello-service", version, "--to", "prod"]);

    // `ferry status` as a user would poll it; a call that shows the gate bounds when it opened.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status_seen = loop {
        // Named: bare `ferry status` lists only components live somewhere, so a first deploy's
        // gate is missing from it.
        let s = stack.json(&["status", "hello-service"]);
        let at = now();
        if has_pending(&s, &id) {
            break at;
        }
        if Instant::now() > deadline {
            let d = stack.json(&["deployment", &id]);
            bail!("deployment {id} never reached the gate: {d:#}\nferry status: {s:#}");
        }
        // Leaves the two cores to the build being waited for.
        std::thread::sleep(Duration::from_millis(20));
    };
    // The notification: the outbox drains the approvals topic's queue, so collect until ours.
    let notified = loop {
        ensure!(
            Instant::now() < deadline,
            "no notification for {id} in the outbox"
        );
        let out = stack.ok(&["local", "outbox", "--output", "json"]);
        let sent = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["message"].as_str().is_some_and(|t| t.contains(&id)))
            .filter_map(|m| {
                chrono::DateTime::parse_from_rfc3339(m["sent_at"].as_str()?)
                    .ok()
                    .map(|t| t.timestamp_micros() as f64 / 1e6)
            })
            .reduce(f64::min);
        if let Some(t) = sent {
            break t;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let approval = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .context("no approval record")?;
    let requested = approval.requested_at.timestamp_micros() as f64 / 1e6;
    let plan_end = rt
        .block_on(builds(stack, &id))?
        .iter()
        .find(|b| b.action == "plan")
        .and_then(|b| b.end)
        .context("no finished plan build")?;

    let approve_at = now();
    stack.ok(&["approve", &id, "--env", "prod"]);
    let approve_command = now() - approve_at;
    let apply_start = loop {
        ensure!(Instant::now() < deadline, "no apply build for {id}");
        if let Some(b) = rt
            .block_on(builds(stack, &id))?
            .into_iter()
            .find(|b| b.action == "apply")
        {
            break b.start;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let decided = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .and_then(|a| a.decided_at)
        .map(|t| t.timestamp_micros() as f64 / 1e6)
        .context("the approval has no decided_at")?;
    let d = stack.wait_finished(&id);
    if d["status"] != "succeeded" {
        bail!("deployment {id} did not succeed: {d:#}");
    }
    Ok(Gate {
        build_to_store: requested - plan_end,
        build_to_status: status_seen - plan_end,
        build_to_notified: notified - plan_end,
        approve_to_apply: apply_start - approve_at,
        decided_to_apply: apply_start - decided,
        approve_command,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run() -> Result<()> {
    let runs: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().context("usage: bench_gate [runs]")?,
        None => 3,
    };
    ensure!(runs > 0, "runs must be at least 1");
    let stack = Stack::up();
    stack.ok(&PROD_REQUIRED);
    let rt = tokio::runtime::Runtime::new()?;
    let mut gates = Vec::new();
    for run in 0..runs {
        let g = one_gate(&stack, &rt, &format!("1.0.{run}"))?;
        println!(
            "run {run}: plan build end → store {:.0} ms, → ferry status {:.0} ms, → notification {:.0} ms; \
             ferry approve → apply build start {:.0} ms (decided_at → start {:.0} ms; the approve command took {:.0} ms)",
            g.build_to_store * 1e3,
            g.build_to_status * 1e3,
            g.build_to_notified * 1e3,
            g.approve_to_apply * 1e3,
            g.decided_to_apply * 1e3,
            g.approve_command * 1e3,
        );
        gates.push(g);
    }
    let m = |f: fn(&Gate) -> f64| median(gates.iter().map(f).collect());
    let open = m(|g| g.build_to_status.max(g.build_to_notified));
    let decide = m(|g| g.approve_to_apply);
    println!(
        "gate latency (median of {runs}): plan build end → approval visible and notified {:.0} ms \
         (store {:.0}, ferry status {:.0}, notification {:.0}); ferry approve → apply build start {:.0} ms \
         (goal ≤ {:.0} ms each)",
        open * 1e3,
        m(|g| g.build_to_store) * 1e3,
        m(|g| g.build_to_status) * 1e3,
        m(|g| g.build_to_notified) * 1e3,
        decide * 1e3,
        GOAL_S * 1e3,
    );
    println!("metric gate_open {:.3} s", open);
    println!("metric gate_decide {:.3} s", decide);
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
