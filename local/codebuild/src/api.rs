//! The CodeBuild API (AWS JSON 1.1: `POST /`, `X-Amz-Target: CodeBuild_20161006.<Op>`) over a
//! [`BuildRunner`], so `aws-sdk-codebuild` and `aws codebuild` reach local builds through
//! `AWS_ENDPOINT_URL_CODEBUILD`. Requests are not signature-checked: this is a local emulator.

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};

use crate::error::RunnerError;
use crate::model::EnvironmentVariable;
use crate::runner::{BuildRunner, BuildspecSource, Project, StartBuild};

const TARGET_PREFIX: &str = "CodeBuild_20161006.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An AWS JSON error: `{"__type": …, "message": …}` with HTTP 400.
#[derive(Debug)]
struct ApiError {
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: "InvalidInputException",
            message: message.into(),
        }
    }
}

impl From<RunnerError> for ApiError {
    fn from(e: RunnerError) -> Self {
        let kind = match &e {
            RunnerError::ProjectNotFound(_) | RunnerError::BuildNotFound(_) => {
                "ResourceNotFoundException"
            }
            RunnerError::ProjectExists(_) => "ResourceAlreadyExistsException",
            RunnerError::InvalidInput(_)
            | RunnerError::Buildspec { .. }
            | RunnerError::Io { .. } => "InvalidInputException",
        };
        Self {
            kind,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            StatusCode::BAD_REQUEST,
            json!({"__type": self.kind, "message": self.message}).to_string(),
        )
            .into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        res.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        res
    }
}

fn ok(body: Value) -> Response {
    let mut res = (StatusCode::OK, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

/// The axum router answering the CodeBuild API.
pub fn router(runner: BuildRunner) -> Router {
    Router::new().route("/", post(dispatch)).with_state(runner)
}

/// Serves the CodeBuild API on `listener` until the future is dropped.
pub async fn serve(runner: BuildRunner, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(runner)).await
}

async fn dispatch(State(runner): State<BuildRunner>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&runner, &headers, &body).await {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

async fn handle(runner: &BuildRunner, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .ok_or_else(|| ApiError {
            kind: "UnknownOperationException",
            message: "missing X-Amz-Target".into(),
        })?;
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError {
            kind: "SerializationException",
            message: format!("request body is not JSON: {e}"),
        })?
    };
    match target {
        "StartBuild" => {
            let build = runner
                .start_build(StartBuild::from_api_json(&input)?)
                .await?;
            Ok(json!({ "build": build.to_api_json() }))
        }
        "BatchGetBuilds" => {
            let ids = string_list(&input, "ids")?;
            let (mut builds, mut missing) = (Vec::new(), Vec::new());
            for id in ids {
                // The SDK and console also pass ARNs; accept both.
                let key = id
                    .rsplit_once(":build/")
                    .map(|(_, id)| id.to_string())
                    .unwrap_or_else(|| id.clone());
                match runner.get_build(&key) {
                    Some(b) => builds.push(b.to_api_json()),
                    None => missing.push(id),
                }
            }
            Ok(json!({ "builds": builds, "buildsNotFound": missing }))
        }
        "StopBuild" => {
            let id = input
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("id is required"))?;
            let build = runner.stop_build(id)?;
            Ok(json!({ "build": build.to_api_json() }))
        }
        "ListBuildsForProject" => {
            let name = input
                .get("projectName")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("projectName is required"))?;
            let mut ids = runner.list_builds_for_project(name)?;
            if input.get("sortOrder").and_then(Value::as_str) == Some("ASCENDING") {
                ids.reverse();
            }
            Ok(json!({ "ids": ids }))
        }
        "BatchGetProjects" => {
            let (mut projects, mut missing) = (Vec::new(), Vec::new());
            for name in string_list(&input, "names")? {
                let key = name
                    .rsplit_once(":project/")
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_else(|| name.clone());
                match runner.get_project(&key) {
                    Some(p) => projects.push(project_json(runner, &p)),
                    None => missing.push(name),
                }
            }
            Ok(json!({ "projects": projects, "projectsNotFound": missing }))
        }
        "ListProjects" => Ok(json!({ "projects": runner.list_projects() })),
        "CreateProject" => {
            let project = project_from_json(&input)?;
            let project = runner.create_project(project)?;
            Ok(json!({ "project": project_json(runner, &project) }))
        }
        other => Err(ApiError {
            kind: "UnknownOperationException",
            message: format!("{other} is not supported locally"),
        }),
    }
}

fn string_list(input: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    input
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid(format!("{key} is required")))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| ApiError::invalid(format!("{key} must be strings")))
        })
        .collect()
}

/// CreateProject input: `source.buildspec` is inline YAML when it has several lines, else a
/// path on this machine (CodeBuild reads it from the source; there is no source locally).
fn project_from_json(input: &Value) -> Result<Project, ApiError> {
    let name = input
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("name is required"))?;
    let buildspec = input
        .pointer("/source/buildspec")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("source.buildspec is required locally"))?;
    let buildspec = if buildspec.contains('\n') {
        BuildspecSource::Inline(buildspec.to_string())
    } else {
        BuildspecSource::File(PathBuf::from(buildspec))
    };
    let env: Vec<EnvironmentVariable> = match input.pointer("/environment/environmentVariables") {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| ApiError::invalid(format!("environment.environmentVariables: {e}")))?,
        None => Vec::new(),
    };
    let timeout = input
        .get("timeoutInMinutes")
        .and_then(Value::as_u64)
        .map(|m| Duration::from_secs(m * 60));
    Ok(Project {
        name: name.to_string(),
        buildspec,
        env,
        timeout,
        created: Utc::now(),
    })
}

fn project_json(runner: &BuildRunner, p: &Project) -> Value {
    let config = runner.config();
    let buildspec = match &p.buildspec {
        BuildspecSource::File(path) => path.display().to_string(),
        BuildspecSource::Inline(text) => text.clone(),
    };
    json!({
        "name": p.name,
        "arn": format!("arn:aws:codebuild:{}:{}:project/{}", config.region, config.account_id, p.name),
        "source": { "type": "NO_SOURCE", "buildspec": buildspec },
        "artifacts": { "type": "NO_ARTIFACTS" },
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "ferry-local-bash",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": p.env,
        },
        "timeoutInMinutes": p.timeout.unwrap_or(config.default_timeout).as_secs().div_ceil(60),
        "created": p.created.timestamp_millis() as f64 / 1000.0,
    })
}
