//! The CodeBuild API through the real aws-sdk-codebuild client.

mod common;

use std::time::Duration;

use aws_sdk_codebuild::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_codebuild::types::{EnvironmentVariable, EnvironmentVariableType, StatusType};
use common::{runner_with, wait};
use ferry_codebuild::BuildRunner;

async fn serve(runner: &BuildRunner) -> aws_sdk_codebuild::Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(ferry_codebuild::serve(runner.clone(), listener));
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(ferry_shared::aws::https_client(
            ferry_shared::aws::Trust::System,
        ))
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    aws_sdk_codebuild::Client::new(&config)
}

#[tokio::test]
async fn start_build_and_batch_get_builds_through_the_sdk() {
    let (runner, dir) = runner_with(|_| {});
    let buildspec = dir.path().join("buildspec.yml");
    std::fs::write(
        &buildspec,
        "version: 0.2\nenv:\n  exported-variables: [GREETING]\nphases:\n  build:\n    commands:\n      - export GREETING=\"hello $WHO\"\n",
    )
    .expect("write buildspec");
    runner
        .register_project("greeter", &buildspec, [("WHO", "project")])
        .expect("register");
    let client = serve(&runner).await;

    let started = client
        .start_build()
        .project_name("greeter")
        .environment_variables_override(
            EnvironmentVariable::builder()
                .name("WHO")
                .value("ferry")
                .r#type(EnvironmentVariableType::Plaintext)
                .build()
                .expect("env var"),
        )
        .send()
        .await
        .expect("StartBuild");
    let id = started
        .build_value()
        .and_then(|b| b.id())
        .expect("build id")
        .to_string();
    assert!(id.starts_with("greeter:"));

    wait(&runner, &id, Duration::from_secs(60)).await;
    let got = client
        .batch_get_builds()
        .ids(&id)
        .ids("greeter:missing")
        .send()
        .await
        .expect("BatchGetBuilds");
    assert_eq!(got.builds_not_found(), ["greeter:missing".to_string()]);
    let build = &got.builds()[0];
    assert_eq!(build.build_status(), Some(&StatusType::Succeeded));
    assert!(build.build_complete());
    assert_eq!(build.current_phase(), Some("COMPLETED"));
    assert_eq!(build.build_number(), Some(1));
    assert!(build.start_time().is_some() && build.end_time().is_some());
    assert!(build.end_time() >= build.start_time());
    let exported = build.exported_environment_variables();
    assert_eq!(exported[0].name(), Some("GREETING"));
    assert_eq!(exported[0].value(), Some("hello ferry"));
    let phases: Vec<_> = build
        .phases()
        .iter()
        .filter_map(|p| p.phase_type().map(|t| t.as_str().to_string()))
        .collect();
    for phase in [
        "SUBMITTED",
        "PROVISIONING",
        "BUILD",
        "FINALIZING",
        "COMPLETED",
    ] {
        assert!(
            phases.iter().any(|p| p == phase),
            "{phase} missing from {phases:?}"
        );
    }
    assert!(build
        .logs()
        .and_then(|l| l.deep_link())
        .is_some_and(|l| l.starts_with("file://")));

    let ids = client
        .list_builds_for_project()
        .project_name("greeter")
        .send()
        .await
        .expect("list");
    assert_eq!(ids.ids(), std::slice::from_ref(&id));
    let projects = client
        .batch_get_projects()
        .names("greeter")
        .names("nope")
        .send()
        .await
        .expect("projects");
    assert_eq!(projects.projects()[0].name(), Some("greeter"));
    assert_eq!(projects.projects_not_found(), ["nope".to_string()]);
    let stopped = client.stop_build().id(&id).send().await.expect("StopBuild");
    assert_eq!(
        stopped.build_value().and_then(|b| b.build_status()),
        Some(&StatusType::Succeeded)
    );
}

#[tokio::test]
async fn unknown_project_is_resource_not_found_and_create_project_works() {
    let (runner, _dir) = runner_with(|_| {});
    let client = serve(&runner).await;

    let err = client
        .start_build()
        .project_name("nope")
        .send()
        .await
        .expect_err("unknown project");
    let err = err.into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = client
        .stop_build()
        .id("nope:1")
        .send()
        .await
        .expect_err("unknown build")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    client
        .create_project()
        .name("inline")
        .source(
            aws_sdk_codebuild::types::ProjectSource::builder()
                .r#type(aws_sdk_codebuild::types::SourceType::NoSource)
                .buildspec("version: 0.2\nphases:\n  build:\n    commands: [\"exit 4\"]\n")
                .build()
                .expect("source"),
        )
        .artifacts(
            aws_sdk_codebuild::types::ProjectArtifacts::builder()
                .r#type(aws_sdk_codebuild::types::ArtifactsType::NoArtifacts)
                .build()
                .expect("artifacts"),
        )
        .environment(
            aws_sdk_codebuild::types::ProjectEnvironment::builder()
                .r#type(aws_sdk_codebuild::types::EnvironmentType::LinuxContainer)
                .image("local")
                .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
                .build()
                .expect("environment"),
        )
        .service_role("arn:aws:iam::000000000000:role/local")
        .send()
        .await
        .expect("CreateProject");
    let again = client
        .create_project()
        .name("inline")
        .source(
            aws_sdk_codebuild::types::ProjectSource::builder()
                .r#type(aws_sdk_codebuild::types::SourceType::NoSource)
                .buildspec("version: 0.2\nphases: {}\n")
                .build()
                .expect("source"),
        )
        .send()
        .await
        .expect_err("duplicate")
        .into_service_error();
    assert!(again.is_resource_already_exists_exception(), "{again:?}");

    let started = client
        .start_build()
        .project_name("inline")
        .send()
        .await
        .expect("StartBuild");
    let id = started
        .build_value()
        .and_then(|b| b.id())
        .expect("id")
        .to_string();
    let build = wait(&runner, &id, Duration::from_secs(60)).await;
    assert_eq!(build.build_status, ferry_codebuild::StatusType::Failed);
    let got = client
        .batch_get_builds()
        .ids(&id)
        .send()
        .await
        .expect("BatchGetBuilds");
    let phase = got.builds()[0]
        .phases()
        .iter()
        .find(|p| p.phase_type().map(|t| t.as_str()) == Some("BUILD"))
        .expect("BUILD phase");
    assert_eq!(phase.phase_status(), Some(&StatusType::Failed));
    assert!(phase.contexts()[0]
        .message()
        .is_some_and(|m| m.contains("exit status 4")));
}
