//! Local mode's deploy services: the Step Functions engine running `statemachine/deploy.asl.json`
//! with the workflow functions' real handlers, the build runner running the real buildspec, and
//! the approval function behind a local stand-in for its Function URL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use ferry_engine::{BuildRunner as EngineBuildRunner, Engine, EngineConfig, LambdaFn, TaskError};
use ferry_shared::store::Store;
use ferry_shared::workflow::TaskFailure;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The deploy definition and buildspec, embedded: local mode runs exactly what AWS runs.
pub const DEPLOY_ASL: &str = include_str!("../../statemachine/deploy.asl.json");
pub const BUILDSPEC: &str = include_str!("../../buildspec/terraform.yml");

pub const STATE_MACHINE_NAME: &str = "ferry-deploy";
pub const TERRAFORM_PROJECT: &str = "ferry-terraform";
/// Header the local approval endpoint takes the caller's identity from (local mode only; in AWS
/// the identity is the SigV4-verified IAM principal).
pub const LOCAL_IDENTITY_HEADER: &str = "x-ferry-local-identity";

pub fn function_arn(config: &EngineConfig, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{}",
        config.region,
        config.account_id,
        function_name(name)
    )
}

/// The deployed function's name; the engine resolves ARNs to it.
pub fn function_name(name: &str) -> String {
    format!("ferry-{name}")
}

/// `deploy.asl.json` with its `${…}` placeholders filled in as template.yaml's
/// DefinitionSubstitutions would.
pub fn local_definition(config: &EngineConfig) -> String {
    DEPLOY_ASL
        .replace(
            "${CheckAndLockFunctionArn}",
            &function_arn(config, "check-and-lock"),
        )
        .replace(
            "${RequestApprovalFunctionArn}",
            &function_arn(config, "request-approval"),
        )
        .replace(
            "${RecordResultFunctionArn}",
            &function_arn(config, "record-result"),
        )
        .replace("${TerraformProjectName}", TERRAFORM_PROJECT)
}

/// Adapts a typed handler to the engine's JSON-in/JSON-out Lambda seam.
fn lambda<I, O, E, F, Fut>(f: F) -> LambdaFn
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + 'static,
    E: TaskFailure + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<O, E>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(
        move |payload: Value| -> BoxFuture<'static, Result<Value, TaskError>> {
            let f = f.clone();
            Box::pin(async move {
                // Lambda's runtime rejects a payload that doesn't fit the handler's input type.
                let input: I = serde_json::from_value(payload)
                    .map_err(|e| TaskError::lambda("Runtime.UnmarshalError", &e.to_string()))?;
                match f(input).await {
                    Ok(out) => serde_json::to_value(out)
                        .map_err(|e| TaskError::lambda("Runtime.MarshalError", &e.to_string())),
                    Err(e) => Err(TaskError::lambda(e.error_type(), &e.message())),
                }
            })
        },
    )
}

/// The engine's CodeBuild seam, served by the local build runner.
struct Builds(ferry_codebuild::BuildRunner);

impl EngineBuildRunner for Builds {
    fn start_build(&self, params: Value) -> BoxFuture<'_, Result<Value, TaskError>> {
        Box::pin(async move {
            let mut req = ferry_codebuild::StartBuild::from_sfn_parameters(&params)
                .map_err(|e| TaskError::new("CodeBuild.InvalidInputException", e.to_string()))?;
            req.initiator.get_or_insert_with(|| "states".into());
            let build =
                self.0.start_build(req).await.map_err(|e| {
                    TaskError::new("CodeBuild.InvalidInputException", e.to_string())
                })?;
            Ok(build.to_sfn_json()["Build"].clone())
        })
    }

    fn wait_build(&self, id: String) -> BoxFuture<'_, Result<Value, TaskError>> {
        Box::pin(async move {
            let build = self.0.wait_build(&id).await.map_err(|e| {
                TaskError::new("CodeBuild.ResourceNotFoundException", e.to_string())
            })?;
            Ok(build.to_sfn_json()["Build"].clone())
        })
    }

    fn stop_build(&self, id: String) -> BoxFuture<'_, Result<(), TaskError>> {
        Box::pin(async move {
            self.0.stop_build(&id).map_err(|e| {
                TaskError::new("CodeBuild.ResourceNotFoundException", e.to_string())
            })?;
            // Only once its processes are gone is the build really stopped.
            self.0
                .wait_build(&id)
                .await
                .map(|_| ())
                .map_err(|e| TaskError::new("CodeBuild.ResourceNotFoundException", e.to_string()))
        })
    }
}

/// Clients the workflow functions use locally: moto for data, the engine for Step Functions.
pub struct FunctionClients {
    /// Seals and unseals task tokens (a key in moto's KMS).
    pub token_key: ferry_shared::gate::TokenKey,
    /// Mints approvers' review-page links.
    pub links: Option<request_approval::Links>,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sfn: aws_sdk_sfn::Client,
}

pub struct DeployNames<'a> {
    pub table: &'a str,
    pub bucket: &'a str,
    pub topic_arn: &'a str,
    pub state_machine_arn: &'a str,
}

/// Registers the workflow's functions with their real handlers; returns record-result's
/// dependencies, which the local drift scheduler calls as EventBridge Scheduler does in AWS.
pub fn register_functions(
    engine: &Engine,
    clients: &FunctionClients,
    names: &DeployNames<'_>,
) -> record_result::Deps {
    let store = Store::new(clients.dynamodb.clone(), names.table);

    let deps = check_and_lock::Deps {
        store: store.clone(),
        sfn: clients.sfn.clone(),
        s3: clients.s3.clone(),
        bucket: names.bucket.to_owned(),
    };
    engine.register_lambda(
        function_name("check-and-lock"),
        lambda(move |input| {
            let deps = deps.clone();
            async move { check_and_lock::handle(&deps, input).await }
        }),
    );

    let deps = request_approval::Deps {
        store: store.clone(),
        s3: clients.s3.clone(),
        bucket: names.bucket.to_owned(),
        sns: clients.sns.clone(),
        topic_arn: names.topic_arn.to_owned(),
        sfn: clients.sfn.clone(),
        token_key: clients.token_key.clone(),
        links: clients.links.clone(),
    };
    engine.register_lambda(
        function_name("request-approval"),
        lambda(move |input| {
            let deps = deps.clone();
            async move { request_approval::handle(&deps, input).await }
        }),
    );

    let deps = record_result::Deps {
        store,
        s3: clients.s3.clone(),
        bucket: names.bucket.to_owned(),
        sns: clients.sns.clone(),
        topic_arn: Some(names.topic_arn.to_owned()),
        sfn: Some(clients.sfn.clone()),
        state_machine_arn: Some(names.state_machine_arn.to_owned()),
    };
    let registered = deps.clone();
    engine.register_lambda(
        function_name("record-result"),
        lambda(move |input| {
            let deps = deps.clone();
            async move { record_result::handle(&deps, input).await }
        }),
    );
    registered
}

/// How often the local stack looks for drift checks that are due (the template's schedule
/// runs every 15 minutes; locally sooner, so `--drift-check 1m` is seen within a minute).
pub const DRIFT_TICK: std::time::Duration = std::time::Duration::from_secs(30);

/// The local stand-in for the template's EventBridge Scheduler schedule: the same request to
/// the same handler, until `stop`.
pub async fn drift_schedule(
    deps: record_result::Deps,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(DRIFT_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = tick.tick() => {
                let req = record_result::RecordInput::ScheduleDrift(record_result::ScheduleDrift {});
                if let Err(e) = record_result::handle(&deps, req).await {
                    tracing::warn!(error = %e, "scheduling drift checks failed");
                }
            }
        }
    }
}

/// Creates the build runner with the terraform project, builds pointed at moto.
pub fn build_runner(
    dir: &Path,
    moto_endpoint: &str,
    bucket: &str,
    tool_dir: Option<&Path>,
) -> Result<ferry_codebuild::BuildRunner> {
    let buildspec = dir.join("buildspec.yml");
    std::fs::write(&buildspec, BUILDSPEC)
        .with_context(|| format!("writing {}", buildspec.display()))?;
    let mut config = ferry_codebuild::RunnerConfig::new(dir.join("builds"));
    let mut env = BTreeMap::new();
    env.insert("AWS_ENDPOINT_URL".to_owned(), moto_endpoint.to_owned());
    env.insert("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned());
    env.insert("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned());
    env.insert("TF_CLI_CONFIG_FILE".to_owned(), "/dev/null".to_owned());
    env.insert("CHECKPOINT_DISABLE".to_owned(), "1".to_owned());
    // The buildspec's `ferry-build` is this daemon's own executable (`ferry`, which answers to
    // that name), linked into bin/ and put first on the builds' PATH; then the tool
    // directory (moto_server's, which tests use to put stand-in programs first).
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let exe = std::env::current_exe().context("finding ferry's own executable")?;
    let link = bin.join("ferry-build");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&exe, &link)
        .with_context(|| format!("linking {} to {}", link.display(), exe.display()))?;
    let mut path = vec![bin.display().to_string()];
    path.extend(tool_dir.map(|t| t.display().to_string()));
    path.push(std::env::var("PATH").unwrap_or_default());
    env.insert("PATH".to_owned(), path.join(":"));
    config.base_env = env;
    let runner = ferry_codebuild::BuildRunner::new(config).context("creating the build runner")?;
    runner
        .register_project(
            TERRAFORM_PROJECT,
            &buildspec,
            [("FERRY_ARTIFACT_BUCKET", bucket)],
        )
        .context("registering the terraform project")?;
    Ok(runner)
}

pub fn attach_builds(engine: &Engine, runner: ferry_codebuild::BuildRunner) {
    engine.set_build_runner(Arc::new(Builds(runner)));
}

/// The approval function behind a local HTTP endpoint shaped like its Function URL, and the
/// review page (in AWS its own Function URL with `AuthType: NONE`) at `/review`.
pub fn approval_router(deps: approve::Deps, review: review::Deps) -> axum::Router {
    let review = axum::Router::new()
        .route(
            REVIEW_PATH,
            axum::routing::get(review_request).post(review_request),
        )
        .with_state(Arc::new(review));
    axum::Router::new()
        .route("/", axum::routing::post(approval_request))
        .route("/{*path}", axum::routing::post(approval_request))
        .with_state(Arc::new(deps))
        .merge(review)
}

/// A Function URL response's status as HTTP (an out-of-range one is a server error).
fn status_of(
    resp: &aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse,
) -> StatusCode {
    u16::try_from(resp.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Where the local stack serves the review page.
pub const REVIEW_PATH: &str = "/review";

/// The review page's handler, given the request as a Function URL would (no IAM identity: the
/// signed link is the credential).
async fn review_request(
    State(deps): State<Arc<review::Deps>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut hs = serde_json::Map::new();
    for (k, v) in &headers {
        if let Ok(v) = v.to_str() {
            hs.insert(k.as_str().to_owned(), v.into());
        }
    }
    hs.insert("x-forwarded-proto".into(), "http".into());
    let event = serde_json::json!({
        "version": "2.0",
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or(""),
        "headers": hs,
        "requestContext": {
            "accountId": "anonymous",
            "requestId": ferry_shared::names::unique("local"),
            "http": {"method": method.as_str(), "path": uri.path(), "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "browser"},
            "timeEpoch": chrono::Utc::now().timestamp_millis()
        },
        "body": String::from_utf8_lossy(&body),
        "isBase64Encoded": false
    });
    let event: LambdaFunctionUrlRequest = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let Ok(resp) = review::handle(&deps, event).await;
    let mut out = (status_of(&resp), resp.body.unwrap_or_default()).into_response();
    for (k, v) in &resp.headers {
        out.headers_mut().insert(k, v.clone());
    }
    out
}

async fn approval_request(
    State(deps): State<Arc<approve::Deps>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let identity = headers
        .get(LOCAL_IDENTITY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| ferry_shared::identity::valid_local_name(s))
        .map(|s| format!("local:{s}"));
    let event = serde_json::json!({
        "version": "2.0",
        "rawPath": uri.path(),
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "requestId": ferry_shared::names::unique("local"),
            "authorizer": identity.map(|arn| serde_json::json!({"iam": {"userArn": arn, "callerId": "local"}})),
            "http": {"method": "POST", "path": uri.path(), "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "ferry"},
            "timeEpoch": chrono::Utc::now().timestamp_millis()
        },
        "body": String::from_utf8_lossy(&body),
        "isBase64Encoded": false
    });
    let event: LambdaFunctionUrlRequest = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let Ok(resp) = approve::handle(&deps, event).await;
    (
        status_of(&resp),
        [("content-type", "application/json")],
        resp.body.unwrap_or_default(),
    )
        .into_response()
}

/// Binds a loopback listener on `port`.
pub async fn bind(port: u16) -> Result<tokio::net::TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (is another local stack running?)"))
}
