//! Bench: the local loop, upload → registered → dev+staging+prod planned, auto-approved and
//! applied, timed wall-clock, and the state transitions one 3-environment deploy takes, counted
//! from the local engine's execution history. Then one environment's plan+apply through Ferry
//! against bare `terraform init && plan -out && apply` of the same component (local backend, a
//! fresh temp dir each run) in the same run, with where Ferry's time goes: execution history
//! timestamps, the build runner's records and timestamped log lines, and the terraform/aws
//! calls the builds make (logged by pass-through shims first on the stack's PATH).
//! Run: `cargo run -p ferry-tests --bin bench_deploy -- [runs] [--one-env-runs N]`.
//! Prints figures; asserts no time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_tests::repo_root;
use ferry_tests::stack::Stack;

const ENVS: [&str; 3] = ["dev", "staging", "prod"];
/// The goal: one environment's plan+apply within this factor of bare terraform.
const GOAL_RATIO: f64 = 5.0;

struct Opts {
    runs: usize,
    one_env_runs: usize,
}

fn opts() -> Opts {
    let mut o = Opts {
        runs: 3,
        one_env_runs: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let num = |v: Option<String>| -> usize {
            v.and_then(|v| v.parse().ok())
                .expect("usage: bench_deploy [runs] [--one-env-runs N]")
        };
        match a.as_str() {
            "--one-env-runs" => o.one_env_runs = num(args.next()),
            _ => o.runs = num(Some(a)),
        }
    }
    o
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Turns the shims on or off: off, the builds find the real tools further down PATH, so the
/// headline runs pay nothing for the breakdown.
fn shims_on(dir: &Path, on: bool) {
    for tool in ["terraform", "aws"] {
        let (live, parked) = (dir.join(tool), dir.join(format!("{tool}.off")));
        let (from, to) = if on { (parked, live) } else { (live, parked) };
        if from.exists() {
            std::fs::rename(&from, &to).expect("toggle shim");
        }
    }
}

/// Pass-through `terraform` and `aws` that append "start end tool args" to calls.log. Bash's
/// $EPOCHREALTIME needs no fork, so a shim adds about one bash start-up per call.
fn shims(dir: &Path) -> PathBuf {
    let log = dir.join("calls.log");
    for tool in ["terraform", "aws"] {
        let Some(real) = which(tool) else {
            eprintln!("bench: {tool} not on PATH; its calls are not broken out");
            continue;
        };
        let script = format!(
            "#!/bin/bash\ns=$EPOCHREALTIME\n\"{real}\" \"$@\"\nrc=$?\n\
             printf '%s %s {tool} %s\\n' \"$s\" \"$EPOCHREALTIME\" \"$*\" >> \"{log}\"\nexit $rc\n",
            real = real.display(),
            log = log.display()
        );
        let path = dir.join(tool);
        std::fs::write(&path, script).expect("write shim");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    log
}

/// One logged tool call.
struct Call {
    start: f64,
    end: f64,
    tool: String,
    args: String,
}

fn calls(log: &Path) -> Vec<Call> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            Some(Call {
                start: f.next()?.parse().ok()?,
                end: f.next()?.parse().ok()?,
                tool: f.next()?.to_owned(),
                args: f.next().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Which phase of the breakdown a tool call belongs to.
fn call_phase(c: &Call) -> String {
    let first = c.args.split_whitespace().find(|a| !a.starts_with('-'));
    match c.tool.as_str() {
        "terraform" => format!("terraform {}", first.unwrap_or("(flags)")),
        "aws" if c.args.contains("--version") => "aws --version".into(),
        "aws" => {
            // `s3 cp SRC DST`: a download when the source is the bucket.
            let words: Vec<&str> = c.args.split_whitespace().collect();
            let src_s3 = words
                .iter()
                .position(|w| *w == "cp")
                .and_then(|i| words.get(i + 1))
                .is_some_and(|w| w.starts_with("s3://"));
            let get = c.args.contains("get-object") || c.args.contains("head-object");
            if src_s3 || get {
                if c.args.contains("releases/") {
                    "aws download release".into()
                } else {
                    "aws download (plan, state)".into()
                }
            } else {
                "aws upload".into()
            }
        }
        t => t.to_owned(),
    }
}

/// A build as the local runner recorded it, with its log.
struct BuildRec {
    action: String,
    start: f64,
    end: f64,
    log: PathBuf,
}

async fn builds(stack: &Stack, deployment: &str) -> Vec<BuildRec> {
    let cb = aws_sdk_codebuild::Client::new(
        &ferry_shared::aws::local_sdk_config(
            stack
                .var("AWS_ENDPOINT_URL_CODEBUILD")
                .expect("codebuild endpoint"),
        )
        .await,
    );
    let ids = cb
        .list_builds_for_project()
        .project_name(stack.var("FERRY_TERRAFORM_PROJECT").expect("project"))
        .send()
        .await
        .expect("list builds")
        .ids
        .unwrap_or_default();
    let mut out = Vec::new();
    for chunk in ids.chunks(100) {
        let got = cb
            .batch_get_builds()
            .set_ids(Some(chunk.to_vec()))
            .send()
            .await
            .expect("batch get builds");
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
            let link = b.logs().and_then(|l| l.deep_link()).unwrap_or_default();
            out.push(BuildRec {
                action: var("FERRY_ACTION").unwrap_or_default(),
                start: b.start_time().map(|t| t.as_secs_f64()).unwrap_or(0.0),
                end: b.end_time().map(|t| t.as_secs_f64()).unwrap_or(0.0),
                log: PathBuf::from(link.strip_prefix("file://").unwrap_or(link)),
            });
        }
    }
    out
}

/// The runner's "[Container] 2026/11/27 21:03:29.123 Running command X" lines: (command,
/// start, seconds until the runner's next stamped line, i.e. the next command or phase).
fn commands(log: &Path, build_end: f64) -> Vec<(String, f64, f64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let stamped: Vec<(f64, String)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("[Container] ")?;
            let (stamp, msg) = rest.get(..23).zip(rest.get(24..))?;
            let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y/%m/%d %H:%M:%S%.3f").ok()?;
            Some((t.and_utc().timestamp_micros() as f64 / 1e6, msg.to_owned()))
        })
        .collect();
    let mut out = Vec::new();
    for (i, (t, msg)) in stamped.iter().enumerate() {
        if let Some(cmd) = msg.strip_prefix("Running command ") {
            let next = stamped.get(i + 1).map(|(n, _)| *n).unwrap_or(build_end);
            out.push((cmd.to_owned(), *t, next - t));
        }
    }
    out
}

/// The phase for a buildspec command's time outside terraform, by what the command
/// names (buildspec/terraform.yml runs one step per command).
fn command_phase(action: &str, cmd: &str) -> String {
    let phase = if cmd.contains("approved-plan") {
        "approved plan download + verify"
    } else if cmd.contains("release") {
        "release download + verify + unzip"
    } else if cmd.contains("tools") {
        "tool checks"
    } else if cmd.contains(" init") {
        "init step outside terraform"
    } else if cmd.contains("FERRY_ACTION") {
        return format!("{action} step outside terraform (summary, uploads)");
    } else {
        "other build commands"
    };
    phase.to_owned()
}

/// The execution's history: (start, end, per-task-state (name, entered, exited)).
type History = (f64, f64, Vec<(String, f64, f64)>, usize, usize);

async fn history(sfn: &aws_sdk_sfn::Client, arn: &str) -> History {
    let (mut start, mut end) = (0.0, 0.0);
    let mut open: BTreeMap<String, f64> = BTreeMap::new();
    let mut states = Vec::new();
    let (mut entered, mut events) = (0, 0);
    let mut token = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(arn)
            .set_next_token(token)
            .max_results(1000)
            .send()
            .await
            .expect("history");
        for e in page.events() {
            events += 1;
            let t = e.timestamp().as_secs_f64();
            let kind = e.r#type().as_str();
            if kind.ends_with("StateEntered") {
                entered += 1;
            }
            match kind {
                "ExecutionStarted" => start = t,
                "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted"
                | "ExecutionTimedOut" => end = t,
                "TaskStateEntered" => {
                    if let Some(d) = e.state_entered_event_details() {
                        open.insert(d.name().to_owned(), t);
                    }
                }
                "TaskStateExited" => {
                    if let Some(d) = e.state_exited_event_details() {
                        if let Some(s) = open.remove(d.name()) {
                            states.push((d.name().to_owned(), s, t));
                        }
                    }
                }
                _ => {}
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return (start, end, states, entered, events);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Bare terraform on the example in a fresh dir, local backend: (init, plan, apply) seconds.
fn bare(example: &Path) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(example.join("main.tf"), dir.path().join("main.tf")).expect("copy main.tf");
    let tf = |args: &[&str]| {
        let start = Instant::now();
        let out = Command::new("terraform")
            .args(args)
            .current_dir(dir.path())
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .output()
            .expect("run terraform");
        assert!(
            out.status.success(),
            "terraform {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        start.elapsed().as_secs_f64()
    };
    let init = tf(&["init", "-input=false", "-no-color"]);
    let plan = tf(&[
        "plan",
        "-input=false",
        "-no-color",
        "-out=tfplan",
        "-var",
        "environment=bare",
        "-var",
        "release_version=1.0.0",
    ]);
    let apply = tf(&["apply", "-input=false", "-no-color", "tfplan"]);
    (init, plan, apply)
}

/// Seconds spent per phase of one single-environment deployment.
type Phases = BTreeMap<String, f64>;

fn add(p: &mut Phases, k: &str, v: f64) {
    *p.entry(k.to_owned()).or_default() += v;
}

fn main() {
    let o = opts();
    let shim_dir = tempfile::tempdir().expect("temp dir");
    let calls_log = shims(shim_dir.path());
    let stack = Stack::up_with_tools(Some(shim_dir.path()));
    for (i, env) in ENVS.iter().enumerate() {
        let order = (i + 1).to_string();
        stack.ok(&["env", "put", env, "--order", &order, "--approval", "none"]);
    }
    let example = repo_root().join("examples/hello-service");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sfn = rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(
            stack.var("AWS_ENDPOINT_URL_SFN").expect("sfn endpoint"),
        )
        .await;
        aws_sdk_sfn::Client::new(&sdk)
    });
    let to = ENVS.join(",");

    shims_on(shim_dir.path(), false);
    let mut walls = Vec::new();
    let mut transitions = Vec::new();
    for run in 0..o.runs {
        let version = format!("1.0.{run}");
        let start = Instant::now();
        stack.release_dir(&example, &version);
        let registered = start.elapsed();
        let id = stack
            .ok(&["deploy", "hello-service", &version, "--to", &to])
            .trim()
            .to_owned();
        let d = stack.wait_finished(&id);
        let wall = start.elapsed();
        assert_eq!(d["status"], "succeeded", "{d:#}");
        let arn = d["execution_arn"].as_str().expect("execution arn");
        let (_, _, _, entered, events) = rt.block_on(history(&sfn, arn));
        println!(
            "run {run}: registered in {:.2}s, dev+staging+prod applied {:.2}s after upload; {entered} state transitions ({events} history events)",
            registered.as_secs_f64(),
            wall.as_secs_f64()
        );
        walls.push(wall);
        transitions.push(entered);
    }
    if !walls.is_empty() {
        walls.sort();
        let median_wall: Duration = walls[walls.len() / 2];
        println!(
            "median upload → dev+staging+prod applied: {:.2}s over {} runs; state transitions per 3-environment deploy: {:?}",
            median_wall.as_secs_f64(),
            o.runs,
            transitions
        );
        if let Some(t) = transitions.first() {
            println!("metric transitions_3env {t} transitions");
        }
    }

    // One environment, Ferry then bare terraform, alternating so both see the same machine:
    // each round a clean run (the headline), an instrumented run (the breakdown), bare terraform.
    let (mut ferry_exec, mut ferry_cli, mut bare_total) = (Vec::new(), Vec::new(), Vec::new());
    let mut instrumented = Vec::new();
    let mut phases: Vec<Phases> = Vec::new();
    let mut command_time: BTreeMap<String, f64> = BTreeMap::new();
    let mut bare_parts = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..o.one_env_runs {
        shims_on(shim_dir.path(), false);
        let version = format!("2.0.{run}");
        stack.release_dir(&example, &version);
        let t0 = Instant::now();
        let id = stack
            .ok(&["deploy", "hello-service", &version, "--to", "dev"])
            .trim()
            .to_owned();
        let d = stack.wait_finished(&id);
        let cli = t0.elapsed().as_secs_f64();
        assert_eq!(d["status"], "succeeded", "{d:#}");
        let arn = d["execution_arn"].as_str().expect("execution arn");
        let (start, end, _, _, _) = rt.block_on(history(&sfn, arn));
        ferry_exec.push(end - start);
        ferry_cli.push(cli);

        shims_on(shim_dir.path(), true);
        let version = format!("2.1.{run}");
        stack.release_dir(&example, &version);
        let _ = std::fs::remove_file(&calls_log);
        let id = stack
            .ok(&["deploy", "hello-service", &version, "--to", "dev"])
            .trim()
            .to_owned();
        let d = stack.wait_finished(&id);
        assert_eq!(d["status"], "succeeded", "{d:#}");
        let arn = d["execution_arn"].as_str().expect("execution arn");
        let (start, end, states, _, _) = rt.block_on(history(&sfn, arn));
        let blds = rt.block_on(builds(&stack, &id));
        let tool_calls = calls(&calls_log);

        let mut p = Phases::new();
        let mut in_states = 0.0;
        for (name, entered, exited) in &states {
            let took = exited - entered;
            in_states += took;
            let action = if name == "Plan" {
                Some("plan")
            } else if name.starts_with("Apply") {
                Some("apply")
            } else {
                None
            };
            match action.and_then(|a| blds.iter().find(|b| b.action == a)) {
                Some(b) => {
                    add(
                        &mut p,
                        "build start (task entered → build started)",
                        b.start - entered,
                    );
                    add(&mut p, "build end → task exited", exited - b.end);
                    let in_build: Vec<&Call> = tool_calls
                        .iter()
                        .filter(|c| c.start >= b.start && c.end <= b.end)
                        .collect();
                    for c in &in_build {
                        add(&mut p, &call_phase(c), c.end - c.start);
                    }
                    // Each command's time not spent in a logged tool call is the step's own.
                    let mut in_commands = 0.0;
                    for (cmd, at, took) in commands(&b.log, b.end) {
                        in_commands += took;
                        *command_time
                            .entry(format!("{} {cmd}", b.action))
                            .or_default() += took;
                        let tools: f64 = in_build
                            .iter()
                            .filter(|c| c.start >= at && c.end <= at + took)
                            .map(|c| c.end - c.start)
                            .sum();
                        add(&mut p, &command_phase(&b.action, &cmd), took - tools);
                    }
                    add(
                        &mut p,
                        "build runner (provisioning, phases, between commands)",
                        (b.end - b.start) - in_commands,
                    );
                }
                None if name.starts_with("Record") || name.starts_with("Mark") => {
                    add(&mut p, "record (record-result handler)", took)
                }
                None => add(&mut p, "other handlers (check+lock, gate)", took),
            }
        }
        add(
            &mut p,
            "engine transitions (outside task states)",
            (end - start) - in_states,
        );
        phases.push(p);
        instrumented.push(end - start);

        let (i, pl, a) = bare(&example);
        bare_parts.0.push(i);
        bare_parts.1.push(pl);
        bare_parts.2.push(a);
        bare_total.push(i + pl + a);
        println!(
            "one env run {run}: ferry execution {:.2}s (deploy command → finished seen {:.2}s; instrumented {:.2}s); bare terraform {:.2}s (init {:.2}, plan {:.2}, apply {:.2})",
            ferry_exec[run],
            ferry_cli[run],
            end - start,
            i + pl + a,
            i,
            pl,
            a
        );
    }
    if o.one_env_runs == 0 {
        return;
    }
    let f = median(ferry_exec.clone());
    let b = median(bare_total);
    println!();
    println!(
        "one environment plan+apply: ferry {:.2}s (execution, median of {}; {:.2}s deploy command → finished seen by polling), \
         bare terraform init+plan+apply {:.2}s (init {:.2}, plan {:.2}, apply {:.2}): {:.1}x (goal ≤ {GOAL_RATIO}x)",
        f,
        o.one_env_runs,
        median(ferry_cli),
        b,
        median(bare_parts.0),
        median(bare_parts.1),
        median(bare_parts.2),
        f / b,
    );
    let fi = median(instrumented);
    println!(
        "where ferry's time goes (instrumented runs, median {fi:.2}s: the shims add one bash start-up per \
         terraform call; median per phase over the runs; both builds together; terraform calls the helper \
         overlaps with a transfer are counted as terraform):"
    );
    let names: std::collections::BTreeSet<&String> = phases.iter().flat_map(|p| p.keys()).collect();
    let mut rows: Vec<(String, f64)> = names
        .into_iter()
        .map(|n| {
            let v = median(
                phases
                    .iter()
                    .map(|p| p.get(n).copied().unwrap_or(0.0))
                    .collect(),
            );
            (n.clone(), v)
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("| phase | seconds | share |");
    println!("|---|---|---|");
    for (n, v) in &rows {
        println!("| {n} | {v:.3} | {:.0}% |", v / fi * 100.0);
    }
    println!(
        "build commands (runner log, total over {} runs):",
        o.one_env_runs
    );
    for (cmd, took) in &command_time {
        println!("  {took:>7.3}s  {cmd}");
    }
    println!("metric one_env_ferry {f:.3} s");
    println!("metric one_env_bare {b:.3} s");
    println!("metric one_env_ratio {:.2} x", f / b);
}
