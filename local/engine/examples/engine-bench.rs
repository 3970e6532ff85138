//! Benchmark: state transitions per second on a Pass/Choice/Map machine over N items, on this
//! engine and on moto's Step Functions interpreter (same definition, same run), and peak
//! memory with N parked `.waitForTaskToken` executions.
//!
//! `cargo run --release -p ferry-engine --example engine-bench -- --moto .venv/bin/moto_server`

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use aws_config::BehaviorVersion;
use aws_sdk_sfn::config::{Credentials, Region};
use aws_sdk_sfn::types::ExecutionStatus;
use clap::Parser;
use ferry_engine::{Engine, EngineConfig, LambdaFn};
use futures::FutureExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Measure the local Step Functions engine against moto.
#[derive(Parser)]
struct Cli {
    /// Items in the Map state.
    #[arg(long, default_value_t = 1000)]
    items: usize,
    /// Parked waitForTaskToken executions for the memory figure.
    #[arg(long, default_value_t = 1000)]
    parked: usize,
    /// Runs on this engine (the best one is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Path to moto_server (moto 5.2.5); without it the comparison is skipped.
    #[arg(long)]
    moto: Option<String>,
    /// Give up on moto after this many seconds.
    #[arg(long, default_value_t = 900)]
    moto_timeout: u64,
}

fn definition() -> String {
    json!({
        "Comment": "Pass/Choice/Map benchmark",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Parameters": {"items.$": "$.items", "label": "bench"}, "Next": "Each item"},
            "Each item": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0, "ResultPath": "$.results",
                "ItemProcessor": {"StartAt": "Even?", "States": {
                    "Even?": {"Type": "Choice", "Choices": [{"Variable": "$.even", "BooleanEquals": true, "Next": "Even"}], "Default": "Odd"},
                    "Even": {"Type": "Pass", "Result": "even", "End": true},
                    "Odd": {"Type": "Pass", "Result": "odd", "End": true}
                }},
                "Next": "Done"
            },
            "Done": {"Type": "Pass", "Parameters": {"label.$": "$.label"}, "End": true}
        }
    })
    .to_string()
}

fn input(items: usize) -> String {
    let items: Vec<_> = (0..items)
        .map(|i| json!({"i": i, "even": i % 2 == 0}))
        .collect();
    json!({ "items": items }).to_string()
}

async fn client(endpoint: &str) -> aws_sdk_sfn::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(ferry_shared::aws::https_client(
            ferry_shared::aws::Trust::System,
        ))
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .load()
        .await;
    aws_sdk_sfn::Client::new(&config)
}

struct RunResult {
    transitions: usize,
    server_secs: f64,
    wall_secs: f64,
}

/// Creates the machine, runs one execution to the end and counts `*StateEntered` events.
async fn run_once(
    client: &aws_sdk_sfn::Client,
    name: &str,
    items: usize,
    poll: Duration,
    limit: Duration,
) -> anyhow::Result<RunResult> {
    let sm = client
        .create_state_machine()
        .name(name)
        .definition(definition())
        .role_arn("arn:aws:iam::123456789012:role/bench")
        .send()
        .await
        .context("CreateStateMachine")?;
    let started = Instant::now();
    let exec = client
        .start_execution()
        .state_machine_arn(sm.state_machine_arn())
        .input(input(items))
        .send()
        .await
        .context("StartExecution")?;
    let info = loop {
        let info = client
            .describe_execution()
            .execution_arn(exec.execution_arn())
            .send()
            .await
            .context("DescribeExecution")?;
        if info.status() != &ExecutionStatus::Running {
            break info;
        }
        if started.elapsed() > limit {
            bail!("execution still RUNNING after {limit:?}");
        }
        tokio::time::sleep(poll).await;
    };
    let wall_secs = started.elapsed().as_secs_f64();
    if info.status() != &ExecutionStatus::Succeeded {
        bail!(
            "execution ended {:?}: {:?} {:?}",
            info.status(),
            info.error(),
            info.cause()
        );
    }
    let server_secs = match (info.start_date(), info.stop_date()) {
        (start, Some(stop)) => (stop.as_secs_f64() - start.as_secs_f64()).max(1e-6),
        _ => wall_secs,
    };
    let mut transitions = 0;
    let mut token = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(exec.execution_arn())
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .context("GetExecutionHistory")?;
        transitions += page
            .events()
            .iter()
            .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
            .count();
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(RunResult {
        transitions,
        server_secs,
        wall_secs,
    })
}

fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn parked_memory(engine: &Engine, n: usize) -> anyhow::Result<()> {
    let park: LambdaFn = Arc::new(|_| async { Ok(json!({})) }.boxed());
    engine.register_lambda("park", park);
    let def = json!({"StartAt": "Approve?", "States": {"Approve?": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token", "plan": "0123456789abcdef"}},
        "End": true}}});
    let sm = engine.create_state_machine(
        "parked",
        &def.to_string(),
        "arn:aws:iam::123456789012:role/bench",
    )?;
    let (rss0, hwm0) = (
        proc_status("VmRSS:").unwrap_or(0),
        proc_status("VmHWM:").unwrap_or(0),
    );
    let started = Instant::now();
    let mut arns = Vec::with_capacity(n);
    for i in 0..n {
        arns.push(
            engine
                .start_execution(&sm.arn, Some(&format!("p-{i}")), Some(r#"{"env":"prod"}"#))?
                .arn,
        );
    }
    // Parked = the Lambda ran and the token wait began (TaskSubmitted is the last event).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let parked = arns
            .iter()
            .filter(|a| {
                engine
                    .execution_history(a)
                    .ok()
                    .and_then(|h| h.last().map(|e| e.event_type() == "TaskSubmitted"))
                    .unwrap_or(false)
            })
            .count();
        if parked == n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {parked} of {n} executions parked");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (rss1, hwm1) = (
        proc_status("VmRSS:").unwrap_or(0),
        proc_status("VmHWM:").unwrap_or(0),
    );
    println!(
        "parked: {n} waitForTaskToken executions parked in {:.2}s; VmRSS {} → {} KiB (+{:.1} KiB/execution); VmHWM {} → {} KiB",
        started.elapsed().as_secs_f64(),
        rss0,
        rss1,
        rss1.saturating_sub(rss0) as f64 / n as f64,
        hwm0,
        hwm1
    );
    for a in &arns {
        engine.stop_execution(a, None, None)?;
    }
    Ok(())
}

async fn free_port() -> anyhow::Result<u16> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(l.local_addr()?.port())
}

/// Turns on moto's real interpreter (server mode): POST /moto-api/config.
async fn enable_moto_execution(port: u16) -> anyhow::Result<()> {
    let body = r#"{"stepfunctions": {"execute_state_machine": true}}"#;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let req = format!(
        "POST /moto-api/config HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).await?;
    if !resp.starts_with("HTTP/1.1 2") && !resp.starts_with("HTTP/1.0 2") {
        bail!(
            "moto config refused: {}",
            resp.lines().next().unwrap_or_default()
        );
    }
    Ok(())
}

async fn bench_moto(cli: &Cli, moto: &str) -> anyhow::Result<RunResult> {
    let port = free_port().await?;
    let mut child = tokio::process::Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {moto}"))?;
    let up = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if up.elapsed() > Duration::from_secs(60) {
            bail!("moto_server did not listen within 60s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    enable_moto_execution(port).await?;
    let client = client(&format!("http://127.0.0.1:{port}")).await;
    let result = run_once(
        &client,
        "bench-moto",
        cli.items,
        Duration::from_millis(100),
        Duration::from_secs(cli.moto_timeout),
    )
    .await;
    child.kill().await.ok();
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let engine = Engine::new(EngineConfig::default());
    parked_memory(&engine, cli.parked).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ferry_engine::serve(
        engine.clone(),
        listener,
        shutdown.clone(),
    ));
    let sfn = client(&endpoint).await;
    let mut best: Option<RunResult> = None;
    for i in 0..cli.runs.max(1) {
        let r = run_once(
            &sfn,
            &format!("bench-{i}"),
            cli.items,
            Duration::from_millis(2),
            Duration::from_secs(120),
        )
        .await?;
        println!(
            "ferry-engine run {i}: {} transitions in {:.3}s (server) / {:.3}s (client) = {:.0} transitions/s",
            r.transitions,
            r.server_secs,
            r.wall_secs,
            r.transitions as f64 / r.server_secs
        );
        if best.as_ref().is_none_or(|b| r.server_secs < b.server_secs) {
            best = Some(r);
        }
    }
    shutdown.cancel();
    server.await.context("engine server task")??;
    let best = best.context("no engine run")?;
    let ours = best.transitions as f64 / best.server_secs;

    match &cli.moto {
        None => println!("moto: skipped (pass --moto .venv/bin/moto_server)"),
        Some(moto) => {
            let m = bench_moto(&cli, moto).await?;
            let theirs = m.transitions as f64 / m.server_secs;
            println!(
                "moto: {} transitions in {:.3}s (server) / {:.3}s (client) = {:.1} transitions/s",
                m.transitions, m.server_secs, m.wall_secs, theirs
            );
            if m.transitions != best.transitions {
                println!(
                    "note: moto recorded {} transitions, ferry-engine {}",
                    m.transitions, best.transitions
                );
            }
            println!(
                "ratio: ferry-engine / moto = {:.0}x (server time), {:.0}x (client wall time)",
                ours / theirs,
                (best.transitions as f64 / best.wall_secs) / (m.transitions as f64 / m.wall_secs)
            );
        }
    }
    println!("peak VmHWM: {} KiB", proc_status("VmHWM:").unwrap_or(0));
    Ok(())
}
