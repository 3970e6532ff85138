//! `ferry local up` in its own directory and ports, driven through the real `ferry` binary;
//! stopped on drop, even when a test fails.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{moto_program, workspace_bin};

/// `ferry env put` of a `prod` environment (order 1) whose every plan needs an approval.
pub const PROD_REQUIRED: [&str; 7] = [
    "env",
    "put",
    "prod",
    "--order",
    "1",
    "--approval",
    "required",
];

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub env: Vec<(String, String)>,
    /// Put first on PATH of the stack (and so of its builds).
    pub tools: Option<std::path::PathBuf>,
}

/// A base port whose next three ports are free too (the engine, build runner and approval
/// endpoint take them).
fn free_port_block() -> u16 {
    for _ in 0..50 {
        let base = crate::free_port();
        if base < 65000
            && (1..=3).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
    panic!("no block of four free loopback ports");
}

impl Stack {
    pub fn up() -> Self {
        Self::up_with_tools(None)
    }

    /// Like `up`, with `tools` first on the stack's PATH: its builds run the programs there.
    pub fn up_with_tools(tools: Option<&Path>) -> Self {
        crate::init_log();
        // Tests pick port blocks concurrently; a block taken between the check and the bind
        // makes `local up` fail cleanly, so try another block.
        let mut last = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut stack = Stack {
                dir,
                port: free_port_block(),
                env: Vec::new(),
                tools: tools.map(Path::to_path_buf),
            };
            let out = stack.ferry(&["local", "up"]);
            if !out.status.success() {
                last = String::from_utf8_lossy(&out.stderr).into_owned();
                continue;
            }
            stack.env = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("export "))
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            assert!(
                stack.var("AWS_ENDPOINT_URL").is_some(),
                "no exports: {out:?}"
            );
            return stack;
        }
        panic!("ferry local up failed five times; last error: {last}");
    }

    /// The usual gate scene: `prod` (order 1, approval required, plus `env_flags`), the example
    /// component's 1.0.0 released, deployed (`deploy_flags` added, e.g. `--as alice`) and waiting
    /// at prod's gate. Returns the deployment id.
    pub fn pending_prod_deploy(&self, env_flags: &[&str], deploy_flags: &[&str]) -> String {
        let mut env = PROD_REQUIRED.to_vec();
        env.extend(env_flags);
        self.ok(&env);
        self.release_dir(&crate::repo_root().join("examples/hello-service"), "1.0.0");
        let mut deploy = vec!["hello-service", "1.0.0", "--to", "prod"];
        deploy.extend(deploy_flags);
        let id = self.deploy(&deploy);
        self.wait_step(&id, "prod", "awaiting-approval");
        id
    }

    /// Stops a deployment's execution behind ferry's back (the console, the API): no Catch runs.
    pub fn stop_execution(&self, deployment: &str) {
        let (arn, rt, sfn) = self.execution(deployment);
        rt.block_on(sfn.stop_execution().execution_arn(&arn).send())
            .expect("stop");
    }

    /// A deployment's execution ARN and a Step Functions client aimed at the local engine.
    fn execution(
        &self,
        deployment: &str,
    ) -> (String, tokio::runtime::Runtime, aws_sdk_sfn::Client) {
        let arn = self.json(&["deployment", deployment])["execution_arn"]
            .as_str()
            .expect("execution arn")
            .to_owned();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let sfn = rt.block_on(async {
            let endpoint = self.var("AWS_ENDPOINT_URL_SFN").expect("sfn endpoint");
            aws_sdk_sfn::Client::new(&ferry_shared::aws::local_sdk_config(endpoint).await)
        });
        (arn, rt, sfn)
    }

    /// A deployment's execution history, as the Step Functions console shows it.
    fn history(&self, deployment: &str) -> Vec<aws_sdk_sfn::types::HistoryEvent> {
        let (arn, rt, sfn) = self.execution(deployment);
        rt.block_on(
            sfn.get_execution_history()
                .execution_arn(&arn)
                .max_results(1000)
                .send(),
        )
        .expect("execution history")
        .events
    }

    /// Every task token a deployment's execution issued (from the resolved parameters of its
    /// scheduled tasks, as the execution history records them).
    pub fn task_tokens(&self, deployment: &str) -> Vec<String> {
        self.history(deployment)
            .iter()
            .filter_map(|e| e.task_scheduled_event_details())
            .filter_map(|d| serde_json::from_str::<Value>(d.parameters()).ok())
            .filter_map(|p| p["Payload"]["task_token"].as_str().map(str::to_owned))
            .collect()
    }

    /// Everything the local stack logged: its own log, moto's, and every build's.
    pub fn all_logs(&self) -> String {
        fn walk(dir: &Path, out: &mut String) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "work") {
                        walk(&p, out);
                    }
                } else if p.extension().is_some_and(|x| x == "log") {
                    out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
                    out.push('\n');
                }
            }
        }
        let mut out = String::new();
        walk(&self.dir.path().join("local"), &mut out);
        out
    }

    /// The input a deployment's execution gave a state when it entered it (what the Step
    /// Functions console shows for the step), the first time it did.
    pub fn state_input(&self, deployment: &str, state: &str) -> Option<Value> {
        self.history(deployment).iter().find_map(|e| {
            let d = e.state_entered_event_details()?;
            (d.name() == state)
                .then(|| serde_json::from_str(d.input().unwrap_or("null")).ok())
                .flatten()
        })
    }

    /// `ferry deploy ARGS…`, insisting it starts; returns the deployment id.
    pub fn deploy(&self, args: &[&str]) -> String {
        let mut all = vec!["deploy"];
        all.extend(args);
        self.ok(&all).trim().to_owned()
    }

    /// The approval record of one environment of a deployment, as stored.
    pub async fn approval(
        &self,
        component: &str,
        deployment: &str,
        env: &str,
    ) -> Option<ferry_shared::model::Approval> {
        use ferry_shared::model::{ComponentName, EnvironmentName};
        self.store()
            .await
            .get_approval(
                &ComponentName::parse(component).expect("component"),
                deployment,
                &EnvironmentName::parse(env).expect("env"),
            )
            .await
            .expect("reading the approval")
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(workspace_bin("ferry"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", self.path())
            .env("HOME", self.dir.path())
            .env("USER", "tester")
            .env("FERRY_LOCAL_DIR", self.dir.path().join("local"))
            .env("FERRY_LOCAL_PORT", self.port.to_string())
            .env("FERRY_MOTO_SERVER", moto_program())
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("CHECKPOINT_DISABLE", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn path(&self) -> String {
        let path = std::env::var("PATH").unwrap_or_default();
        match &self.tools {
            Some(t) => format!("{}:{path}", t.display()),
            None => path,
        }
    }

    /// The pid of the stack's background process (`ferry local serve`).
    pub fn daemon_pid(&self) -> u32 {
        self.json(&["local", "env"])["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .expect("local stack pid")
    }

    pub fn ferry(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running ferry")
    }

    /// Runs ferry and insists it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args);
        assert!(
            out.status.success(),
            "ferry {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }

    /// Waits until `check` returns Some, polling `ferry deployment` output; fails after `timeout`.
    pub fn wait_deployment<T>(
        &self,
        id: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            let d = self.json(&["deployment", id]);
            if let Some(t) = check(&d) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "deployment {id} did not reach the expected state in {timeout:?}: {d:#}"
            );
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// Waits for the deployment's execution to end; returns the final deployment JSON.
    pub fn wait_finished(&self, id: &str) -> Value {
        self.wait_deployment(id, Duration::from_secs(180), |d| {
            (d["execution_status"].as_str() != Some("RUNNING") && d["status"] != "running")
                .then(|| d.clone())
        })
    }

    /// Waits until `env`'s step has `status`.
    pub fn wait_step(&self, id: &str, env: &str, status: &str) -> Value {
        self.wait_deployment(id, Duration::from_secs(180), |d| {
            let step = d["steps"]
                .as_array()?
                .iter()
                .find(|s| s["environment"] == env)?;
            if step["status"] == status {
                return Some(step.clone());
            }
            assert_ne!(
                d["execution_status"], "FAILED",
                "deployment failed early: {d:#}"
            );
            None
        })
    }

    pub fn step<'a>(d: &'a Value, env: &str) -> &'a Value {
        d["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["environment"] == env))
            .unwrap_or(&Value::Null)
    }

    /// Packages `dir` (a component with ferry.json) at `version` and releases it.
    pub fn release_dir(&self, dir: &Path, version: &str) {
        let zip = self.dir.path().join(format!(
            "{}-{version}.zip",
            dir.display().to_string().replace('/', "_")
        ));
        self.ok(&[
            "package",
            dir.to_str().unwrap_or_default(),
            "--set-version",
            version,
            "--out",
            zip.to_str().unwrap_or_default(),
        ]);
        let out = self.ok(&["release", zip.to_str().unwrap_or_default()]);
        assert!(out.starts_with("registered"), "{out}");
    }

    /// SDK clients aimed at this stack's moto.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let sdk =
            ferry_shared::aws::local_sdk_config(self.var("AWS_ENDPOINT_URL").unwrap_or_default())
                .await;
        ferry_shared::aws::s3_client(&sdk)
    }

    pub fn bucket(&self) -> String {
        self.var("FERRY_ARTIFACT_BUCKET")
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Never panics: a panic while unwinding would abort the test binary.
        let mut cmd = Command::new(crate::find_workspace_bin("ferry"));
        cmd.args(["local", "down"])
            .env("FERRY_LOCAL_DIR", self.dir.path().join("local"))
            .env("FERRY_LOCAL_PORT", self.port.to_string());
        let _ = cmd.output();
    }
}

impl Stack {
    /// The stack's table, for assertions the CLI doesn't expose (locks).
    pub async fn store(&self) -> ferry_shared::store::Store {
        let sdk =
            ferry_shared::aws::local_sdk_config(self.var("AWS_ENDPOINT_URL").unwrap_or_default())
                .await;
        ferry_shared::store::Store::new(
            ferry_shared::aws::dynamodb_client(&sdk),
            self.var("FERRY_TABLE").unwrap_or_default(),
        )
    }

    /// Whether anyone holds `component`'s lock in `env`.
    pub async fn locked(&self, component: &str, env: &str) -> bool {
        use ferry_shared::model::{ComponentName, EnvironmentName};
        self.store()
            .await
            .get_lock(
                &ComponentName::parse(component).expect("component"),
                &EnvironmentName::parse(env).expect("env"),
            )
            .await
            .expect("reading the lock")
            .is_some()
    }

    /// The terraform state object for component/env, if any.
    pub async fn state(&self, component: &str, env: &str) -> Option<String> {
        let out = self
            .s3()
            .await
            .get_object()
            .bucket(self.bucket())
            .key(format!("state/{component}/{env}/terraform.tfstate"))
            .send()
            .await
            .ok()?;
        let bytes = out.body.collect().await.ok()?.into_bytes();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Writes a component directory whose Terraform is `main_tf`.
pub fn component_dir(root: &Path, name: &str, main_tf: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("component dir");
    std::fs::write(
        dir.join("ferry.json"),
        format!(r#"{{"schema_version":1,"component":"{name}","version":"0.0.0"}}"#),
    )
    .expect("ferry.json");
    std::fs::write(dir.join("main.tf"), main_tf).expect("main.tf");
    dir
}

/// Every live process descending from `pid`, with its command line.
pub fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields.next().and_then(|f| f.parse::<u32>().ok());
        if let (Some(ppid), false) = (ppid, state == "Z") {
            parent_of.push((p, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, _) in parent_of.iter().filter(|(_, pp)| *pp == parent) {
            let cmd = std::fs::read(format!("/proc/{child}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            out.push((child, cmd));
            frontier.push(child);
        }
    }
    out
}

/// Whether a process is still alive (not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// A `terraform` that holds `plan` and `apply` at a gate the test opens, then runs the real
/// terraform: a deterministic way to catch a build in the middle of either.
pub struct GatedTerraform {
    pub dir: tempfile::TempDir,
}

impl GatedTerraform {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = which("terraform");
        let script = format!(
            r#"#!/bin/sh
# Test double: holds `terraform plan|apply` until the test creates <step>.open beside this file.
gate="{gate}"
for a in "$@"; do
  case "$a" in -*) ;; *) step="$a"; break ;; esac
done
case "${{step:-}}" in
  plan|apply)
    echo $$ > "$gate/$step.started"
    while [ ! -e "$gate/$step.open" ]; do sleep 0.1; done ;;
esac
exec "{real}" "$@"
"#,
            gate = dir.path().display(),
            real = real.display()
        );
        let path = dir.path().join("terraform");
        std::fs::write(&path, script).expect("write gated terraform");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Lets `step` (plan or apply) through from now on.
    pub fn open(&self, step: &str) {
        std::fs::write(self.dir.path().join(format!("{step}.open")), b"").expect("open gate");
    }

    /// Waits until a build's terraform reached `step`'s gate; returns that process's pid.
    pub fn wait_started(&self, step: &str, timeout: Duration) -> u32 {
        let file = self.dir.path().join(format!("{step}.started"));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pid) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            assert!(Instant::now() < deadline, "terraform {step} never started");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Default for GatedTerraform {
    fn default() -> Self {
        Self::new()
    }
}

fn which(program: &str) -> std::path::PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// Waits until none of `pids` is alive.
pub fn wait_gone(pids: &[u32], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes still alive after {timeout:?}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
