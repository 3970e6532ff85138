//! One build's execution: provisions scratch directories, runs the buildspec's phases in a
//! [`Shell`] with CodeBuild's transitions, and publishes every step to the build's record.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::buildspec::{Buildspec, OnFailure, PhaseSpec};
use crate::config::RunnerConfig;
use crate::model::{Build, ExportedEnvironmentVariable, PhaseContext, PhaseType, StatusType};
use crate::project::Project;
use crate::request::StartBuild;
use crate::shell::{LogSink, Shell, ShellError};

/// A build's environment, as CodeBuild layers it: process env (if inherited) < runner base
/// env < buildspec `env.variables` < project env < StartBuild overrides < `CODEBUILD_*`.
pub(crate) fn environment(
    config: &RunnerConfig,
    spec: &Buildspec,
    project: &Project,
    request: &StartBuild,
    build: &Build,
) -> BTreeMap<String, String> {
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
    let named = project.env.iter().chain(&request.env_overrides);
    env.extend(named.map(|v| (v.name.clone(), v.value.clone())));
    env.insert("CODEBUILD_BUILD_ID".into(), build.id.clone());
    env.insert("CODEBUILD_BUILD_ARN".into(), build.arn.clone());
    env.insert(
        "CODEBUILD_BUILD_NUMBER".into(),
        build.build_number.to_string(),
    );
    env.insert("CODEBUILD_INITIATOR".into(), build.initiator.clone());
    env.insert("CODEBUILD_LOG_PATH".into(), build.logs.stream_name.clone());
    env.insert("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into());
    env
}

/// Updates the build record and writes CodeBuild-style runner lines to the log.
pub(crate) struct Recorder {
    pub tx: watch::Sender<Build>,
    pub log: LogSink,
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
        self.tx.send_modify(|b| b.enter(phase, now));
    }

    /// Closes the open phase, if any.
    fn finish(&self, status: StatusType, context: Option<PhaseContext>) {
        let now = Utc::now();
        let mut closed = None;
        self.tx
            .send_modify(|b| closed = b.close_phase(status, context, now));
        if let Some(phase) = closed {
            self.say(&format!(
                "Phase complete: {} State: {}",
                phase.as_str(),
                status.as_str()
            ));
        }
    }

    fn complete(&self, status: StatusType, exported: Vec<ExportedEnvironmentVariable>) {
        self.say(&format!("Build {}", status.as_str()));
        let now = Utc::now();
        self.tx.send_modify(|b| b.complete(status, exported, now));
        info!(build_id = %self.tx.borrow().id, status = status.as_str(), "build complete");
    }
}

/// One build's execution.
pub(crate) struct Job {
    pub spec: Buildspec,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    /// Cancelled by StopBuild; the job then kills the build's process group.
    pub cancel: CancellationToken,
    pub rec: Recorder,
    pub work_root: PathBuf,
    pub keep_workdirs: bool,
}

enum Ending {
    Ran { failed: bool },
    Fault(String),
    Stopped,
    TimedOut,
}

impl Job {
    pub(crate) async fn run(self) {
        let Job {
            spec,
            mut env,
            timeout,
            cancel,
            rec,
            work_root,
            keep_workdirs,
        } = self;
        rec.enter(PhaseType::Provisioning);
        let scratch = |prefix| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(&work_root)
        };
        let (src, ctl) = match (scratch("src-"), scratch("ctl-")) {
            (Ok(src), Ok(ctl)) => (src, ctl),
            (Err(e), _) | (_, Err(e)) => {
                let msg = format!("cannot create scratch dir: {e}");
                rec.finish(StatusType::Fault, Some(context("CLIENT_ERROR", &msg)));
                return rec.complete(StatusType::Fault, vec![]);
            }
        };
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
        if keep_workdirs {
            let kept = src.keep();
            rec.say(&format!("Scratch directory kept at {}", kept.display()));
        }
        drop(ctl);
        rec.complete(status, exported);
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
        let succeeding = format!("export CODEBUILD_BUILD_SUCCEEDING={}", u8::from(!failed));
        if let Err(e) = shell.internal(&succeeding).await {
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
) -> Result<Option<PhaseContext>, ShellError> {
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
) -> Result<Option<PhaseContext>, ShellError> {
    for command in commands {
        let shown = first_line(command);
        rec.say(&format!("Running command {shown}"));
        let rc = shell.run(command).await?;
        if rc != 0 {
            rec.say(&format!(
                "Command did not exit successfully {shown} exit status {rc}"
            ));
            let msg = format!("Error while executing command: {shown}. Reason: exit status {rc}");
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
