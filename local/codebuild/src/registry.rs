//! The build runner's registry: projects and every build started, each build's record in a
//! watch channel so readers get snapshots and waiters wake on completion without polling.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{ArnKind, RunnerConfig};
use crate::error::RunnerError;
use crate::job::{self, Job, Recorder};
use crate::model::{
    Build, BuildEnvironment, BuildLogs, BuildPhase, BuildSource, EnvironmentVariable, PhaseType,
    StatusType,
};
use crate::project::{BuildspecSource, Project};
use crate::request::StartBuild;
use crate::shell::LogSink;

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
    /// Tells the build's job to stop; the job owns the process group and kills it.
    cancel: CancellationToken,
    log: LogSink,
}

impl BuildRunner {
    pub fn new(config: RunnerConfig) -> Result<Self, RunnerError> {
        for dir in [&config.work_root, &config.log_dir] {
            create_dir(dir)?;
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
        // ':' and '/' would make build ids and ARNs ambiguous.
        if project.name.is_empty() || project.name.contains(':') || project.name.contains('/') {
            return Err(RunnerError::InvalidInput(format!(
                "invalid project name '{}'",
                project.name
            )));
        }
        project.buildspec.load()?;
        let mut state = self.lock();
        if !replace && state.projects.contains_key(&project.name) {
            return Err(RunnerError::ProjectExists(project.name));
        }
        // A replaced project keeps its build history and numbering.
        let builds = state
            .projects
            .remove(&project.name)
            .map(|old| old.builds)
            .unwrap_or_default();
        let entry = ProjectEntry {
            project: project.clone(),
            builds,
        };
        state.projects.insert(project.name.clone(), entry);
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
            Some(text) => BuildspecSource::Inline(text.clone()).load()?,
            None => project.buildspec.load()?,
        };
        let config = &self.inner.config;
        let timeout = request
            .timeout
            .or(project.timeout)
            .unwrap_or(config.default_timeout);
        let uuid = uuid::Uuid::new_v4().to_string();
        let log_dir = config.log_dir.join(&project.name);
        create_dir(&log_dir)?;
        let log_path = log_dir.join(format!("{uuid}.log"));
        let log = LogSink::to_file(&log_path).map_err(|source| RunnerError::Io {
            path: log_path.clone(),
            source,
        })?;

        // Shown as CodeBuild shows it: StartBuild overrides replace project variables.
        let mut shown_env = project.env.clone();
        for o in &request.env_overrides {
            shown_env.retain(|v| v.name != o.name);
            shown_env.push(o.clone());
        }
        let id = format!("{}:{uuid}", project.name);
        let now = Utc::now();
        let mut snapshot = Build {
            id: id.clone(),
            arn: config.arn(ArnKind::Build, &id),
            build_number: 0,
            start_time: now,
            end_time: None,
            current_phase: PhaseType::Submitted,
            build_status: StatusType::InProgress,
            project_name: project.name.clone(),
            phases: vec![BuildPhase::instant(
                PhaseType::Submitted,
                StatusType::Succeeded,
                now,
            )],
            source: BuildSource::none(),
            environment: BuildEnvironment::local(shown_env),
            logs: BuildLogs {
                group_name: format!("/aws/codebuild/{}", project.name),
                stream_name: uuid,
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
        let cancel = CancellationToken::new();
        let tx = {
            let mut state = self.lock();
            let entry = state
                .projects
                .get_mut(&project.name)
                .ok_or_else(|| RunnerError::ProjectNotFound(project.name.clone()))?;
            entry.builds.push(id.clone());
            // Numbered under the lock so concurrent starts of one project never share a number.
            snapshot.build_number = entry.builds.len() as u64;
            let (tx, _) = watch::channel(snapshot.clone());
            let entry = BuildEntry {
                tx: tx.clone(),
                cancel: cancel.clone(),
                log: log.clone(),
            };
            state.builds.insert(id.clone(), entry);
            tx
        };

        let env = job::environment(config, &spec, &project, &request, &snapshot);
        info!(build_id = %id, project = %project.name, "build started");
        let job = Job {
            spec,
            env,
            timeout,
            cancel,
            rec: Recorder { tx, log },
            work_root: config.work_root.clone(),
            keep_workdirs: config.keep_workdirs,
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
        let mut rx = self.with_build(id, |entry| entry.tx.subscribe())?;
        // The sender lives in the runner's map for as long as the runner, so this cannot close
        // early; if it ever did, the last snapshot is still the truth we have.
        let done = rx.wait_for(|b| b.build_complete).await.map(|b| b.clone());
        Ok(done.unwrap_or_else(|_| rx.borrow().clone()))
    }

    /// Stops a running build (STOPPED); returns its current snapshot.
    pub fn stop_build(&self, id: &str) -> Result<Build, RunnerError> {
        self.with_build(id, |entry| {
            entry.cancel.cancel();
            entry.tx.borrow().clone()
        })
    }

    /// Stops every build still running and waits until each has ended, its processes gone:
    /// what shutting the runner down needs, so no build outlives it.
    pub async fn stop_all(&self) {
        let running: Vec<String> = self
            .lock()
            .builds
            .iter()
            .filter(|(_, e)| !e.tx.borrow().build_complete)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &running {
            let _ = self.stop_build(id);
        }
        for id in &running {
            let _ = self.wait_build(id).await;
        }
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

    fn with_build<T>(&self, id: &str, f: impl FnOnce(&BuildEntry) -> T) -> Result<T, RunnerError> {
        let state = self.lock();
        let entry = state
            .builds
            .get(id)
            .ok_or_else(|| RunnerError::BuildNotFound(id.to_string()))?;
        Ok(f(entry))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock()
    }
}

fn create_dir(dir: &Path) -> Result<(), RunnerError> {
    std::fs::create_dir_all(dir).map_err(|source| RunnerError::Io {
        path: dir.to_path_buf(),
        source,
    })
}
