//! The CodeBuild API (AWS JSON 1.1) over a [`BuildRunner`], so `aws-sdk-codebuild` and
//! `aws codebuild` reach local builds through `AWS_ENDPOINT_URL_CODEBUILD`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use ferry_awsjson::JSON_1_1;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::config::ArnKind;
use crate::error::RunnerError;
use crate::registry::BuildRunner;
use crate::request::{
    BatchGetBuilds, BatchGetProjects, CreateProject, ListBuildsForProject, SortOrder, StartBuild,
    StopBuild,
};

const TARGET_PREFIX: &str = "CodeBuild_20161006.";

/// A CodeBuild error code and its message; always HTTP 400, as CodeBuild answers client errors.
#[derive(Debug)]
struct ApiError {
    code: &'static str,
    message: String,
}

impl From<RunnerError> for ApiError {
    fn from(e: RunnerError) -> Self {
        let code = match &e {
            RunnerError::ProjectNotFound(_) | RunnerError::BuildNotFound(_) => {
                "ResourceNotFoundException"
            }
            RunnerError::ProjectExists(_) => "ResourceAlreadyExistsException",
            RunnerError::InvalidInput(_)
            | RunnerError::InvalidRequest(_)
            | RunnerError::Buildspec { .. }
            | RunnerError::Io { .. } => "InvalidInputException",
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // CodeBuild's `__type` is the bare code, the same as the header.
        JSON_1_1.error(StatusCode::BAD_REQUEST, self.code, self.code, &self.message)
    }
}

/// The axum router answering the CodeBuild API: `POST /` with
/// `X-Amz-Target: CodeBuild_20161006.<Op>`. Requests are not signature-checked: this is a
/// local emulator.
pub fn router(runner: BuildRunner) -> Router {
    Router::new().route("/", post(dispatch)).with_state(runner)
}

/// Serves the CodeBuild API on `listener` until the future is dropped.
pub async fn serve(runner: BuildRunner, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(runner)).await
}

async fn dispatch(State(runner): State<BuildRunner>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&runner, &headers, &body).await {
        Ok(v) => JSON_1_1.ok(&v),
        Err(e) => e.into_response(),
    }
}

async fn handle(runner: &BuildRunner, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .ok_or_else(|| ApiError {
            code: "UnknownOperationException",
            message: "missing X-Amz-Target".into(),
        })?;
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError {
            code: "SerializationException",
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
            let BatchGetBuilds { ids } = parse(input)?;
            let (mut builds, mut missing) = (Vec::new(), Vec::new());
            for id in ids {
                match runner.get_build(ArnKind::Build.strip(&id)) {
                    Some(b) => builds.push(b.to_api_json()),
                    None => missing.push(id),
                }
            }
            Ok(json!({ "builds": builds, "buildsNotFound": missing }))
        }
        "StopBuild" => {
            let StopBuild { id } = parse(input)?;
            let build = runner.stop_build(&id)?;
            Ok(json!({ "build": build.to_api_json() }))
        }
        "ListBuildsForProject" => {
            let input: ListBuildsForProject = parse(input)?;
            let mut ids = runner.list_builds_for_project(&input.project_name)?;
            if input.sort_order == Some(SortOrder::Ascending) {
                ids.reverse();
            }
            Ok(json!({ "ids": ids }))
        }
        "BatchGetProjects" => {
            let BatchGetProjects { names } = parse(input)?;
            let (mut projects, mut missing) = (Vec::new(), Vec::new());
            for name in names {
                match runner.get_project(ArnKind::Project.strip(&name)) {
                    Some(p) => projects.push(p.to_api_json(runner.config())),
                    None => missing.push(name),
                }
            }
            Ok(json!({ "projects": projects, "projectsNotFound": missing }))
        }
        "ListProjects" => Ok(json!({ "projects": runner.list_projects() })),
        "CreateProject" => {
            let project = parse::<CreateProject>(input)?.into_project()?;
            let project = runner.create_project(project)?;
            Ok(json!({ "project": project.to_api_json(runner.config()) }))
        }
        other => Err(ApiError {
            code: "UnknownOperationException",
            message: format!("{other} is not supported locally"),
        }),
    }
}

/// An operation's input; a body of the wrong shape is the caller's error.
fn parse<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_json::from_value(input).map_err(|e| RunnerError::InvalidRequest(e).into())
}
