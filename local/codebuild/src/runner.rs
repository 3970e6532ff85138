//! The build runner: projects, builds and their lifecycle. A build runs the project's buildspec
//! in a fresh scratch directory with CodeBuild's phase semantics; its record lives in a watch
//! channel so readers get snapshots and waiters wake on completion without polling.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::buildspec::{Buildspec, OnFailure, PhaseSpec};
use crate::error::RunnerError;
use crate::model::{
    Build, BuildEnvironment, BuildLogs, BuildPhase, BuildSource, EnvironmentVariable,
    ExportedEnvironmentVariable, PhaseContext, PhaseType, StatusType,
};
use crate::shell::{LogSink, Shell};

/// How the runner is set up; `ferry local up` fills it in.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Region used in ARNs and given to builds as AWS_REGION / AWS_DEFAULT_REGION.
    pub region: String,
    pub account_id: String,
    /// Start every build from this process's environment (PATH, HOME, …).
    pub inherit_env: bool,
    /// Added to every build's environment (e.g. AWS_ENDPOINT_URL and dummy credentials).
    pub base_env: BTreeMap<String, String>,
    /// Scratch directories are created under this directory.
    pub work_root: PathBuf,
    /// Build logs are written to `<log_dir>/<project>/<build uuid>.log`.
    pub log_dir: PathBuf,
    /// Timeout of projects that set none (CodeBuild's default is 60 minutes).
    pub default_timeout: Duration,
    /// Keep scratch directories after builds (for debugging).
    pub keep_workdirs: bool,
}

impl RunnerConfig {
    /// Defaults: us-east-1, account 000000000000, inherited environment, scratch and logs
    /// under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            inherit_env: true,
            base_env: BTreeMap::new(),
            work_root: root.join("work"),
            log_dir: root.join("logs"),
            default_timeout: Duration::from_secs(60 * 60),
            keep_workdirs: false,
        }
    }
}

/// Where a project's buildspec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildspecSource {
    /// Read at every build start, so edits apply to the next build.
    File(PathBuf),
    Inline(String),
}

/// A registered project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub buildspec: BuildspecSource,
    pub env: Vec<EnvironmentVariable>,
    pub timeout: Option<Duration>,
    pub created: DateTime<Utc>,
}

/// A StartBuild request.
#[derive(Debug, Clone, Default)]
pub struct StartBuild {
    pub project_name: String,
    pub env_overrides: Vec<EnvironmentVariable>,
    pub buildspec_override: Option<String>,
    pub timeout: Option<Duration>,
    pub initiator: Option<String>,
}

impl StartBuild {
    pub fn new(project_name: impl Into<String>) -> Self {
        Self {
            project_name: project_name.into(),
            ..Self::default()
        }
    }

    /// Adds a PLAINTEXT environment variable override.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env_overrides
            .push(EnvironmentVariable::plaintext(name, value));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn buildspec_override(mut self, buildspec: impl Into<String>) -> Self {
        self.buildspec_override = Some(buildspec.into());
        self
    }

    /// From the CodeBuild API request (`projectName`, `environmentVariablesOverride`, …).
    pub fn from_api_json(v: &Value) -> Result<Self, RunnerError> {
        Self::from_json(v, false)
    }

    /// From the `Parameters` of a `codebuild:startBuild(.sync)` Task state (PascalCase).
    pub fn from_sfn_parameters(v: &Value) -> Result<Self, RunnerError> {
        Self::from_json(v, true)
    }

    fn from_json(v: &Value, pascal: bool) -> Result<Self, RunnerError> {
        let key = |camel: &str| -> String {
            if pascal {
                let mut c = camel.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            } else {
                camel.to_string()
            }
        };
        let project_name = v
            .get(key("projectName"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                RunnerError::InvalidInput(format!("{} is required", key("projectName")))
            })?
            .to_string();
        let mut env_overrides = Vec::new();
        if let Some(list) = v.get(key("environmentVariablesOverride")) {
            let list = list.as_array().ok_or_else(|| {
                RunnerError::InvalidInput(format!(
                    "{} must be a list",
                    key("environmentVariablesOverride")
                ))
            })?;
            for item in list {
                let field = |f: &str| item.get(key(f)).and_then(Value::as_str);
                let name = field("name").ok_or_else(|| {
                    RunnerError::InvalidInput("environment variable without a name".into())
                })?;
                let value = field("value").unwrap_or_default();
                let kind = field("type").unwrap_or("PLAINTEXT");
                env_overrides.push(EnvironmentVariable {
                    name: name.to_string(),
                    value: value.to_string(),
                    kind: kind.to_string(),
                });
            }
        }
        let timeout = match v.get(key("timeoutInMinutesOverride")) {
            None | Some(Value::Null) => None,
            Some(t) => {
                let minutes = t
                    .as_u64()
                    .filter(|m| (5..=2160).contains(m))
                    .ok_or_else(|| {
                        RunnerError::InvalidInput("timeoutInMinutesOverride must be 5..2160".into())
                    })?;
                Some(Duration::from_secs(minutes * 60))
            }
        };
        Ok(Self {
            project_name,
            env_overrides,
            buildspec_override: v
                .get(key("buildspecOverride"))
                .and_then(Value::as_str)
                .map(String::from),
            timeout,
            initiator: None,
        })
    }
}

/// Runs buildspecs locally and remembers every build. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct BuildRunner {
    inner: Arc<Inner>,
}

struct Inner {
    config: RunnerConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    projects: HashMap<String, ProjectEntry>,
    builds: HashMap<String, BuildEntry>,
}

struct ProjectEntry {
    project: Project,
    /// Build ids, oldest first.
    builds: Vec<String>,
}

struct BuildEntry {
    tx: watch::Sender<Build>,
    cancel: CancellationToken,
    log: LogSink,
}

impl BuildRunner {
    pub fn new(config: RunnerConfig) -> Result<Self, RunnerError> {
        for dir in [&config.work_root, &config.log_dir] {
            std::fs::create_dir_all(dir).map_err(|source| RunnerError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
            }),
        })
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    /// Registers (or replaces) a project whose buildspec is a file; it is parsed now so a broken
    /// buildspec fails here rather than at the first build.
    pub fn register_project<I, K, V>(
        &self,
        name: &str,
        buildspec_path: impl Into<PathBuf>,
        env: I,
    ) -> Result<Project, RunnerError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let project = Project {
            name: name.to_string(),
            buildspec: BuildspecSource::File(buildspec_path.into()),
            env: env
                .into_iter()
                .map(|(k, v)| EnvironmentVariable::plaintext(k, v))
                .collect(),
            timeout: None,
            created: Utc::now(),
        };
        self.put_project(project, true)
    }

    /// Adds a project as CodeBuild's CreateProject does: fails if the name is taken.
    pub fn create_project(&self, project: Project) -> Result<Project, RunnerError> {
        self.put_project(project, false)
    }

    fn put_project(&self, project: Project, replace: bool) -> Result<Project, RunnerError> {
        if project.name.is_empty() || project.name.contains(':') || project.name.contains('/') {
            return Err(RunnerError::InvalidInput(format!(
                "invalid project name '{}'",
                project.name
            )));
        }
        load_buildspec(&project.buildspec)?;
        let mut state = self.lock();
        if !replace && state.projects.contains_key(&project.name) {
            return Err(RunnerError::ProjectExists(project.name));
        }
        let builds = state
            .projects
            .remove(&project.name)
            .map(|old| old.builds)
            .unwrap_or_default();
        state.projects.insert(
            project.name.clone(),
            ProjectEntry {
                project: project.clone(),
                builds,
            },
        );
        Ok(project)
    }

    pub fn get_project(&self, name: &str) -> Option<Project> {
        self.lock().projects.get(name).map(|p| p.project.clone())
    }

    pub fn list_projects(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().projects.keys().cloned().collect();
        names.sort();
        names
    }

    /// Starts a build and returns its first snapshot (IN_PROGRESS). Needs a Tokio runtime.
    pub async fn start_build(&self, request: StartBuild) -> Result<Build, RunnerError> {
        if let Some(v) = request.env_overrides.iter().find(|v| v.kind != "PLAINTEXT") {
            return Err(RunnerError::InvalidInput(format!(
                "environment variable {} has type {}; only PLAINTEXT is supported locally",
                v.name, v.kind
            )));
        }
        let project = self
            .get_project(&request.project_name)
            .ok_or_else(|| RunnerError::ProjectNotFound(request.project_name.clone()))?;
        let spec = match &request.buildspec_override {
            Some(text) => load_buildspec(&BuildspecSource::Inline(text.clone()))?,
            None => load_buildspec(&project.buildspec)?,
        };
        let config = &self.inner.config;
        let timeout = request
            .timeout
            .or(project.timeout)
            .unwrap_or(config.default_timeout);
        let uuid = uuid::Uuid::new_v4().to_string();
        let id = format!("{}:{uuid}", project.name);
        let arn = format!(
            "arn:aws:codebuild:{}:{}:build/{id}",
            config.region, config.account_id
        );
        let log_dir = config.log_dir.join(&project.name);
        std::fs::create_dir_all(&log_dir).map_err(|source| RunnerError::Io {
            path: log_dir.clone(),
            source,
        })?;
        let log_path = log_dir.join(format!("{uuid}.log"));
        let log = LogSink::to_file(&log_path).map_err(|source| RunnerError::Io {
            path: log_path.clone(),
            source,
        })?;

        // Precedence as in CodeBuild: StartBuild overrides > project > buildspec env.
        let mut shown_env = project.env.clone();
        for o in &request.env_overrides {
            shown_env.retain(|v| v.name != o.name);
            shown_env.push(o.clone());
        }
        let now = Utc::now();
        let cancel = CancellationToken::new();
        let build = {
            let mut state = self.lock();
            let entry = state
                .projects
                .get_mut(&project.name)
                .ok_or_else(|| RunnerError::ProjectNotFound(project.name.clone()))?;
            entry.builds.push(id.clone());
            let build = Build {
                id: id.clone(),
                arn: arn.clone(),
                build_number: entry.builds.len() as u64,
                start_time: now,
                end_time: None,
                current_phase: PhaseType::Submitted,
                build_status: StatusType::InProgress,
                project_name: project.name.clone(),
                phases: vec![BuildPhase {
                    phase_type: PhaseType::Submitted,
                    phase_status: Some(StatusType::Succeeded),
                    start_time: now,
                    end_time: Some(now),
                    duration_in_seconds: Some(0),
                    contexts: vec![],
                }],
                source: BuildSource {
                    kind: "NO_SOURCE".into(),
                },
                environment: BuildEnvironment {
                    kind: "LINUX_CONTAINER".into(),
                    image: "ferry-local-bash".into(),
                    compute_type: "BUILD_GENERAL1_SMALL".into(),
                    environment_variables: shown_env,
                },
                logs: BuildLogs {
                    group_name: format!("/aws/codebuild/{}", project.name),
                    stream_name: uuid.clone(),
                    deep_link: format!("file://{}", log_path.display()),
                },
                timeout_in_minutes: timeout.as_secs().div_ceil(60),
                build_complete: false,
                initiator: request
                    .initiator
                    .clone()
                    .unwrap_or_else(|| "ferry-local".into()),
                exported_environment_variables: vec![],
                log_path,
            };
            let (tx, _) = watch::channel(build.clone());
            state.builds.insert(
                id.clone(),
                BuildEntry {
                    tx: tx.clone(),
                    cancel: cancel.clone(),
                    log: log.clone(),
                },
            );
            (build, tx)
        };
        let (snapshot, tx) = build;

        let mut env: BTreeMap<String, String> = if config.inherit_env {
            std::env::vars().collect()
        } else {
            BTreeMap::new()
        };
        env.extend(config.base_env.clone());
        env.entry("AWS_REGION".into())
            .or_insert_with(|| config.region.clone());
        env.entry("AWS_DEFAULT_REGION".into())
            .or_insert_with(|| config.region.clone());
        env.extend(spec.env.variables.clone());
        env.extend(
            project
                .env
                .iter()
                .map(|v| (v.name.clone(), v.value.clone())),
        );
        env.extend(
            request
                .env_overrides
                .iter()
                .map(|v| (v.name.clone(), v.value.clone())),
        );
        env.insert("CODEBUILD_BUILD_ID".into(), id.clone());
        env.insert("CODEBUILD_BUILD_ARN".into(), arn);
        env.insert(
            "CODEBUILD_BUILD_NUMBER".into(),
            snapshot.build_number.to_string(),
        );
        env.insert("CODEBUILD_INITIATOR".into(), snapshot.initiator.clone());
        env.insert("CODEBUILD_LOG_PATH".into(), uuid);
        env.insert("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into());

        info!(build_id = %id, project = %project.name, "build started");
        let job = Job {
            spec,
            env,
            timeout,
            cancel,
            rec: Recorder { tx, log },
            config: config.clone(),
        };
        tokio::spawn(job.run());
        Ok(snapshot)
    }

    /// The latest snapshot of a build.
    pub fn get_build(&self, id: &str) -> Option<Build> {
        self.lock().builds.get(id).map(|b| b.tx.borrow().clone())
    }

    /// The build's log so far.
    pub fn build_log(&self, id: &str) -> Option<String> {
        self.lock().builds.get(id).map(|b| b.log.text())
    }

    /// Waits until the build is complete and returns its final record.
    pub async fn wait_build(&self, id: &str) -> Result<Build, RunnerError> {
        let mut rx = {
            let state = self.lock();
            let entry = state
                .builds
                .get(id)
                .ok_or_else(|| RunnerError::BuildNotFound(id.to_string()))?;
            entry.tx.subscribe()
        };
        // The sender lives in the runner's map for as long as the runner, so this cannot close
        // early; if it ever did, the last snapshot is still the truth we have.
        let done = rx.wait_for(|b| b.build_complete).await.map(|b| b.clone());
        Ok(done.unwrap_or_else(|_| rx.borrow().clone()))
    }

    /// Stops a running build (STOPPED); returns its current snapshot.
    pub fn stop_build(&self, id: &str) -> Result<Build, RunnerError> {
        let state = self.lock();
        let entry = state
            .builds
            .get(id)
            .ok_or_else(|| RunnerError::BuildNotFound(id.to_string()))?;
        entry.cancel.cancel();
        let build = entry.tx.borrow().clone();
        Ok(build)
    }

    /// Build ids of a project, newest first (CodeBuild's default order).
    pub fn list_builds_for_project(&self, project: &str) -> Result<Vec<String>, RunnerError> {
        let state = self.lock();
        let entry = state
            .projects
            .get(project)
            .ok_or_else(|| RunnerError::ProjectNotFound(project.to_string()))?;
        Ok(entry.builds.iter().rev().cloned().collect())
    }

    /// What a `codebuild:startBuild.sync` Task does: start from the state's `Parameters`, wait,
    /// and return the build. The caller turns a non-SUCCEEDED build into the Task's failure
    /// (`States.TaskFailed`, cause = `to_sfn_json()` as a string) as Step Functions does.
    pub async fn run_sync(&self, parameters: &Value) -> Result<Build, RunnerError> {
        let mut request = StartBuild::from_sfn_parameters(parameters)?;
        request.initiator.get_or_insert_with(|| "states".into());
        let build = self.start_build(request).await?;
        self.wait_build(&build.id).await
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn load_buildspec(source: &BuildspecSource) -> Result<Buildspec, RunnerError> {
    match source {
        BuildspecSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| RunnerError::Io {
                path: path.clone(),
                source,
            })?;
            Buildspec::parse(&text).map_err(|source| RunnerError::Buildspec {
                path: path.display().to_string(),
                source,
            })
        }
        BuildspecSource::Inline(text) => {
            Buildspec::parse(text).map_err(|source| RunnerError::Buildspec {
                path: "(inline)".into(),
                source,
            })
        }
    }
}

/// Updates the build record and writes CodeBuild-style runner lines to the log.
struct Recorder {
    tx: watch::Sender<Build>,
    log: LogSink,
}

impl Recorder {
    fn say(&self, msg: &str) {
        self.log.line(&format!(
            "[Container] {} {msg}",
            Utc::now().format("%Y/%m/%d %H:%M:%S%.3f")
        ));
    }

    fn enter(&self, phase: PhaseType) {
        self.say(&format!("Entering phase {}", phase.as_str()));
        let now = Utc::now();
        self.tx.send_modify(|b| {
            b.current_phase = phase;
            b.phases.push(BuildPhase {
                phase_type: phase,
                phase_status: None,
                start_time: now,
                end_time: None,
                duration_in_seconds: None,
                contexts: vec![],
            });
        });
    }

    /// Closes the open phase, if any.
    fn finish(&self, status: StatusType, context: Option<PhaseContext>) {
        let now = Utc::now();
        let mut closed = None;
        self.tx.send_modify(|b| {
            if let Some(p) = b.phases.last_mut().filter(|p| p.phase_status.is_none()) {
                p.phase_status = Some(status);
                p.end_time = Some(now);
                p.duration_in_seconds = Some((now - p.start_time).num_seconds());
                p.contexts.extend(context);
                closed = Some(p.phase_type);
            }
        });
        if let Some(phase) = closed {
            self.say(&format!(
                "Phase complete: {} State: {}",
                phase.as_str(),
                status.as_str()
            ));
        }
    }
}

/// One build's execution.
struct Job {
    spec: Buildspec,
    env: BTreeMap<String, String>,
    timeout: Duration,
    cancel: CancellationToken,
    rec: Recorder,
    config: RunnerConfig,
}

enum Ending {
    Ran { failed: bool },
    Fault(String),
    Stopped,
    TimedOut,
}

impl Job {
    async fn run(self) {
        let Job {
            spec,
            env,
            timeout,
            cancel,
            rec,
            config,
        } = self;
        rec.enter(PhaseType::Provisioning);
        let dirs = (
            tempfile::Builder::new()
                .prefix("src-")
                .tempdir_in(&config.work_root),
            tempfile::Builder::new()
                .prefix("ctl-")
                .tempdir_in(&config.work_root),
        );
        let (src, ctl) = match dirs {
            (Ok(src), Ok(ctl)) => (src, ctl),
            (Err(e), _) | (_, Err(e)) => {
                rec.finish(
                    StatusType::Fault,
                    Some(context(
                        "CLIENT_ERROR",
                        &format!("cannot create scratch dir: {e}"),
                    )),
                );
                return complete(&rec, StatusType::Fault, vec![]);
            }
        };
        let mut env = env;
        env.insert("CODEBUILD_SRC_DIR".into(), src.path().display().to_string());
        let mut shell = Shell::new(
            env,
            src.path().to_path_buf(),
            ctl.path().to_path_buf(),
            rec.log.clone(),
        );
        rec.finish(StatusType::Succeeded, None);

        let ending = tokio::select! {
            biased;
            _ = cancel.cancelled() => Ending::Stopped,
            _ = tokio::time::sleep(timeout) => Ending::TimedOut,
            ending = run_phases(&spec, &mut shell, &rec) => ending,
        };
        if !matches!(ending, Ending::Ran { .. }) {
            // The interrupted command may still be running: end it and its children now.
            shell.kill();
        }
        let status = match &ending {
            Ending::Ran { failed: false } => StatusType::Succeeded,
            Ending::Ran { failed: true } => StatusType::Failed,
            Ending::Fault(msg) => {
                rec.finish(StatusType::Fault, Some(context("CLIENT_ERROR", msg)));
                StatusType::Fault
            }
            Ending::Stopped => {
                rec.finish(
                    StatusType::Stopped,
                    Some(context("BUILD_STOPPED", "Build was stopped")),
                );
                StatusType::Stopped
            }
            Ending::TimedOut => {
                let msg = format!("Build timed out after {} seconds", timeout.as_secs());
                rec.say(&msg);
                rec.finish(StatusType::TimedOut, Some(context("BUILD_TIMED_OUT", &msg)));
                StatusType::TimedOut
            }
        };

        rec.enter(PhaseType::Finalizing);
        let mut exported = Vec::new();
        if matches!(ending, Ending::Ran { .. }) && !spec.env.exported_variables.is_empty() {
            match shell.read_vars(&spec.env.exported_variables).await {
                Ok(vars) => {
                    exported = vars
                        .into_iter()
                        .map(|(name, value)| ExportedEnvironmentVariable { name, value })
                        .collect()
                }
                Err(e) => warn!(error = %e, "cannot read exported variables"),
            }
        }
        shell.close().await;
        drop(shell);
        rec.finish(StatusType::Succeeded, None);
        if config.keep_workdirs {
            let kept = src.keep();
            rec.say(&format!("Scratch directory kept at {}", kept.display()));
        }
        drop(ctl);
        complete(&rec, status, exported);
    }
}

/// Runs the phases with CodeBuild's transitions: a failure in INSTALL or PRE_BUILD skips to
/// finalizing, a failure in BUILD still runs POST_BUILD, `on-failure: CONTINUE` goes on.
async fn run_phases(spec: &Buildspec, shell: &mut Shell, rec: &Recorder) -> Ending {
    let phases = [
        (PhaseType::Install, &spec.install),
        (PhaseType::PreBuild, &spec.pre_build),
        (PhaseType::Build, &spec.build),
        (PhaseType::PostBuild, &spec.post_build),
    ];
    let mut failed = false;
    let mut only_post_build = false;
    for (phase, phase_spec) in phases {
        if only_post_build && phase != PhaseType::PostBuild {
            continue;
        }
        rec.enter(phase);
        let Some(phase_spec) = phase_spec else {
            rec.finish(StatusType::Succeeded, None);
            continue;
        };
        if let Err(e) = shell
            .internal(&format!(
                "export CODEBUILD_BUILD_SUCCEEDING={}",
                if failed { 0 } else { 1 }
            ))
            .await
        {
            return Ending::Fault(e.to_string());
        }
        match run_phase(phase_spec, shell, rec).await {
            Err(e) => return Ending::Fault(e.to_string()),
            Ok(None) => rec.finish(StatusType::Succeeded, None),
            Ok(Some(ctx)) => {
                rec.finish(StatusType::Failed, Some(ctx));
                failed = true;
                if phase_spec.on_failure == OnFailure::Continue {
                    continue;
                }
                match phase {
                    PhaseType::Install | PhaseType::PreBuild => break,
                    PhaseType::Build => only_post_build = true,
                    _ => {}
                }
            }
        }
    }
    Ending::Ran { failed }
}

/// Runs a phase's commands, then its `finally` block; returns why it failed, if it did.
async fn run_phase(
    spec: &PhaseSpec,
    shell: &mut Shell,
    rec: &Recorder,
) -> Result<Option<PhaseContext>, crate::shell::ShellError> {
    let mut failure = run_commands(&spec.commands, shell, rec).await?;
    if !spec.finally.is_empty() {
        let finally_failure = run_commands(&spec.finally, shell, rec).await?;
        failure = failure.or(finally_failure);
    }
    Ok(failure)
}

async fn run_commands(
    commands: &[String],
    shell: &mut Shell,
    rec: &Recorder,
) -> Result<Option<PhaseContext>, crate::shell::ShellError> {
    for command in commands {
        rec.say(&format!("Running command {}", first_line(command)));
        let rc = shell.run(command).await?;
        if rc != 0 {
            let msg = format!(
                "Error while executing command: {}. Reason: exit status {rc}",
                first_line(command)
            );
            rec.say(&format!(
                "Command did not exit successfully {} exit status {rc}",
                first_line(command)
            ));
            return Ok(Some(context("COMMAND_EXECUTION_ERROR", &msg)));
        }
    }
    Ok(None)
}

fn first_line(command: &str) -> &str {
    command.lines().next().unwrap_or_default()
}

fn context(code: &str, message: &str) -> PhaseContext {
    PhaseContext {
        status_code: code.into(),
        message: message.into(),
    }
}

fn complete(rec: &Recorder, status: StatusType, exported: Vec<ExportedEnvironmentVariable>) {
    rec.say(&format!("Build {}", status.as_str()));
    let now = Utc::now();
    rec.tx.send_modify(|b| {
        b.current_phase = PhaseType::Completed;
        b.phases.push(BuildPhase {
            phase_type: PhaseType::Completed,
            phase_status: None,
            start_time: now,
            end_time: None,
            duration_in_seconds: None,
            contexts: vec![],
        });
        b.build_status = status;
        b.end_time = Some(now);
        b.exported_environment_variables = exported;
        // Last: waiters wake on this flag and must see everything above.
        b.build_complete = true;
    });
    info!(build_id = %rec.tx.borrow().id, status = status.as_str(), "build complete");
}
