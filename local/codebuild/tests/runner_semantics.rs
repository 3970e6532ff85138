//! CodeBuild semantics of the local runner, with small inline buildspecs and real bash.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::{runner_with, wait};
use ferry_codebuild::{
    Build, BuildRunner, BuildspecSource, PhaseType, Project, StartBuild, StatusType,
};

const DEADLINE: Duration = Duration::from_secs(60);

fn project(runner: &BuildRunner, buildspec: &str, env: &[(&str, &str)]) -> String {
    let name = ferry_shared::names::unique("p");
    runner
        .create_project(Project {
            name: name.clone(),
            buildspec: BuildspecSource::Inline(buildspec.to_string()),
            env: env
                .iter()
                .map(|(k, v)| ferry_codebuild::EnvironmentVariable::plaintext(*k, *v))
                .collect(),
            timeout: None,
            created: Utc::now(),
        })
        .expect("project");
    name
}

async fn run(runner: &BuildRunner, request: StartBuild) -> (Build, String) {
    let started = runner.start_build(request).await.expect("start");
    assert_eq!(started.build_status, StatusType::InProgress);
    let build = wait(runner, &started.id, DEADLINE).await;
    let log = runner.build_log(&build.id).expect("log");
    (build, log)
}

fn phase_status(build: &Build, phase: PhaseType) -> Option<StatusType> {
    build
        .phases
        .iter()
        .find(|p| p.phase_type == phase)
        .and_then(|p| p.phase_status)
}

#[tokio::test]
async fn cd_and_variables_persist_across_commands_and_phases() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        r#"
version: 0.2
env:
  exported-variables: [A, B, SRC, MISSING]
phases:
  install:
    commands:
      - mkdir sub && cd sub
      - export A=one
      - B=two
  build:
    commands:
      - test "$(basename "$PWD")" = sub
      - test "$A" = one && test "$B" = two
      - cat
      - export SRC="$CODEBUILD_SRC_DIR"
      - test "$CODEBUILD_BUILD_ID" = "$CODEBUILD_BUILD_ARN" || echo "id ok"
"#,
        &[],
    );
    let (build, log) = run(&runner, StartBuild::new(&name)).await;
    assert_eq!(build.build_status, StatusType::Succeeded, "{log}");
    assert_eq!(build.exported("A"), Some("one"));
    assert_eq!(build.exported("B"), Some("two"));
    assert!(build.exported("MISSING").is_none());
    let src = build.exported("SRC").expect("SRC exported");
    assert!(src.contains("src-"), "scratch dir {src}");
    assert!(build.id.starts_with(&format!("{name}:")));
    assert_eq!(build.build_number, 1);
    assert_eq!(build.current_phase, PhaseType::Completed);
    assert!(build.end_time.is_some() && build.build_complete);
    assert!(build.log_path.exists());
    assert_eq!(
        std::fs::read_to_string(&build.log_path).expect("log file"),
        log
    );
}

#[tokio::test]
async fn failing_command_fails_phase_and_build_and_post_build_still_runs() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        r#"
version: 0.2
phases:
  build:
    commands:
      - echo before
      - "false"
      - echo never-ran-marker
    finally:
      - echo finally-ran-marker
  post_build:
    commands:
      - echo "post-build succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"#,
        &[],
    );
    let (build, log) = run(&runner, StartBuild::new(&name)).await;
    assert_eq!(build.build_status, StatusType::Failed);
    assert_eq!(
        phase_status(&build, PhaseType::Build),
        Some(StatusType::Failed)
    );
    assert_eq!(
        phase_status(&build, PhaseType::PostBuild),
        Some(StatusType::Succeeded)
    );
    let ctx = &build
        .phases
        .iter()
        .find(|p| p.phase_type == PhaseType::Build)
        .expect("build phase")
        .contexts[0];
    assert_eq!(ctx.status_code, "COMMAND_EXECUTION_ERROR");
    assert!(
        ctx.message.contains("false") && ctx.message.contains("exit status 1"),
        "{}",
        ctx.message
    );
    assert!(!log.contains("never-ran-marker\n"), "{log}");
    assert!(log.contains("finally-ran-marker"), "{log}");
    assert!(log.contains("post-build succeeding=0"), "{log}");
}

#[tokio::test]
async fn pre_build_failure_skips_later_phases() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        r#"
version: 0.2
phases:
  pre_build:
    commands: ["exit 7"]
  build:
    commands: [echo build-ran-marker]
  post_build:
    commands: [echo post-ran-marker]
"#,
        &[],
    );
    let (build, log) = run(&runner, StartBuild::new(&name)).await;
    assert_eq!(build.build_status, StatusType::Failed);
    assert_eq!(
        phase_status(&build, PhaseType::PreBuild),
        Some(StatusType::Failed)
    );
    assert!(phase_status(&build, PhaseType::Build).is_none());
    assert!(phase_status(&build, PhaseType::PostBuild).is_none());
    assert!(log.contains("exit status 7"), "{log}");
    assert!(
        !log.contains("build-ran-marker\n") && !log.contains("post-ran-marker\n"),
        "{log}"
    );
}

#[tokio::test]
async fn a_command_that_ends_the_shell_fails_and_the_build_resumes_with_its_state() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        r#"
version: 0.2
env:
  exported-variables: [KEPT]
phases:
  install:
    commands:
      - export KEPT=yes && mkdir d && cd d
  build:
    commands:
      - |
        set -euo pipefail
        false
        echo unreachable-marker
  post_build:
    commands:
      - test "$KEPT" = yes && test "$(basename "$PWD")" = d && echo resumed-marker
      - '[[ $- != *e* ]] && echo no-errexit-marker'
"#,
        &[],
    );
    let (build, log) = run(&runner, StartBuild::new(&name)).await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert_eq!(
        phase_status(&build, PhaseType::Build),
        Some(StatusType::Failed)
    );
    assert_eq!(
        phase_status(&build, PhaseType::PostBuild),
        Some(StatusType::Succeeded),
        "{log}"
    );
    assert!(!log.contains("unreachable-marker\n"), "{log}");
    assert!(
        log.contains("resumed-marker") && log.contains("no-errexit-marker"),
        "{log}"
    );
    assert_eq!(build.exported("KEPT"), Some("yes"));
}

#[tokio::test]
async fn finally_runs_and_its_failure_fails_the_phase_and_continue_goes_on() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        r#"
version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands: ["false"]
  pre_build:
    commands: [echo pre-build-ran-marker]
    finally: ["exit 3"]
  build:
    commands: [echo build-ran-marker]
"#,
        &[],
    );
    let (build, log) = run(&runner, StartBuild::new(&name)).await;
    assert_eq!(build.build_status, StatusType::Failed);
    assert_eq!(
        phase_status(&build, PhaseType::Install),
        Some(StatusType::Failed)
    );
    assert_eq!(
        phase_status(&build, PhaseType::PreBuild),
        Some(StatusType::Failed)
    );
    assert!(
        phase_status(&build, PhaseType::Build).is_none(),
        "pre_build failure stops the build"
    );
    assert!(log.contains("pre-build-ran-marker"), "{log}");
}

#[tokio::test]
async fn overrides_win_over_project_env_over_buildspec_env() {
    let (runner, _dir) = runner_with(|c| {
        c.base_env.insert("FROM_BASE".into(), "base".into());
    });
    let name = project(
        &runner,
        r#"
version: 0.2
env:
  variables:
    A: buildspec
    B: buildspec
    C: buildspec
  exported-variables: [A, B, C, FROM_BASE, AWS_REGION, CODEBUILD_INITIATOR]
phases:
  build:
    commands: ["true"]
"#,
        &[("B", "project"), ("C", "project")],
    );
    let (build, log) = run(&runner, StartBuild::new(&name).env("C", "override")).await;
    assert_eq!(build.build_status, StatusType::Succeeded, "{log}");
    assert_eq!(build.exported("A"), Some("buildspec"));
    assert_eq!(build.exported("B"), Some("project"));
    assert_eq!(build.exported("C"), Some("override"));
    assert_eq!(build.exported("FROM_BASE"), Some("base"));
    assert_eq!(build.exported("AWS_REGION"), Some("us-east-1"));
    assert_eq!(build.exported("CODEBUILD_INITIATOR"), Some("ferry-local"));
    let shown: Vec<_> = build
        .environment
        .environment_variables
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    assert!(
        shown.contains(&("C", "override")) && shown.contains(&("B", "project")),
        "{shown:?}"
    );
}

#[tokio::test]
async fn timeout_ends_the_build_and_its_processes() {
    let (runner, dir) = runner_with(|_| {});
    let pid_file = dir.path().join("sleep.pid");
    let name = project(
        &runner,
        &format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30 & echo $! > {}; wait\n",
            pid_file.display()
        ),
        &[],
    );
    let t0 = Instant::now();
    let (build, log) = run(
        &runner,
        StartBuild::new(&name).timeout(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(build.build_status, StatusType::TimedOut, "{log}");
    assert_eq!(
        phase_status(&build, PhaseType::Build),
        Some(StatusType::TimedOut)
    );
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    assert!(log.contains("timed out"), "{log}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    // Reaped or gone: signal 0 to it fails once the process group was killed.
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ");
    assert!(!alive, "sleep {pid} survived the timeout");
}

#[tokio::test]
async fn stop_build_stops_it() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        "version: 0.2\nphases:\n  build:\n    commands: [sleep 30]\n",
        &[],
    );
    let started = runner
        .start_build(StartBuild::new(&name))
        .await
        .expect("start");
    runner.stop_build(&started.id).expect("stop");
    let build = wait(&runner, &started.id, DEADLINE).await;
    assert_eq!(build.build_status, StatusType::Stopped);
    assert_eq!(
        runner.list_builds_for_project(&name).expect("list"),
        vec![started.id.clone()]
    );
}

#[tokio::test]
async fn build_numbers_count_per_project_and_bad_requests_are_refused() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        "version: 0.2\nphases:\n  build:\n    commands: [\"true\"]\n",
        &[],
    );
    let (first, _) = run(&runner, StartBuild::new(&name)).await;
    let (second, _) = run(&runner, StartBuild::new(&name)).await;
    assert_eq!((first.build_number, second.build_number), (1, 2));
    assert_eq!(
        runner.list_builds_for_project(&name).expect("list"),
        vec![second.id, first.id]
    );

    assert!(matches!(
        runner.start_build(StartBuild::new("nope")).await,
        Err(ferry_codebuild::RunnerError::ProjectNotFound(_))
    ));
    let mut secret = StartBuild::new(&name);
    secret
        .env_overrides
        .push(ferry_codebuild::EnvironmentVariable {
            name: "S".into(),
            value: "/param".into(),
            kind: "PARAMETER_STORE".into(),
        });
    assert!(matches!(
        runner.start_build(secret).await,
        Err(ferry_codebuild::RunnerError::InvalidInput(_))
    ));
    let bad = StartBuild::new(&name)
        .buildspec_override("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n");
    assert!(matches!(
        runner.start_build(bad).await,
        Err(ferry_codebuild::RunnerError::Buildspec { .. })
    ));
}

#[tokio::test]
async fn sfn_parameters_start_a_build_that_renders_the_sfn_shape() {
    let (runner, _dir) = runner_with(|_| {});
    let name = project(
        &runner,
        "version: 0.2\nenv:\n  exported-variables: [OUT]\nphases:\n  build:\n    commands: ['export OUT=\"$IN-done\"']\n",
        &[],
    );
    let params = serde_json::json!({
        "ProjectName": name,
        "EnvironmentVariablesOverride": [{"Name": "IN", "Value": "x", "Type": "PLAINTEXT"}]
    });
    // What the engine's `codebuild:startBuild.sync` seam does with a Task's Parameters.
    let mut request = StartBuild::from_sfn_parameters(&params).expect("parameters");
    request.initiator.get_or_insert_with(|| "states".into());
    let started = runner.start_build(request).await.expect("start");
    let build = wait(&runner, &started.id, DEADLINE).await;
    let sfn = build.to_sfn_json();
    assert_eq!(sfn["Build"]["BuildStatus"], "SUCCEEDED");
    assert_eq!(sfn["Build"]["Initiator"], "states");
    assert_eq!(
        sfn["Build"]["ExportedEnvironmentVariables"][0]["Name"],
        "OUT"
    );
    assert_eq!(
        sfn["Build"]["ExportedEnvironmentVariables"][0]["Value"],
        "x-done"
    );
}
