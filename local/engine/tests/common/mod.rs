//! Test harness: an engine on a random loopback port with test-double integrations, and an
//! `aws-sdk-sfn` client pointed at it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_sfn::config::{Credentials, Region};
use aws_sdk_sfn::types::ExecutionStatus;
use ferry_engine::{AwsForwarder, BuildRunner, Engine, EngineConfig, LambdaFn, TaskError};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub const ROLE: &str = "arn:aws:iam::123456789012:role/test";

pub struct TestEngine {
    pub engine: Engine,
    pub endpoint: String,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<()>,
}

impl TestEngine {
    pub async fn start() -> Self {
        let engine = Engine::new(EngineConfig::default());
        register_doubles(&engine);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn({
            let (engine, shutdown) = (engine.clone(), shutdown.clone());
            async move {
                ferry_engine::serve(engine, listener, shutdown)
                    .await
                    .expect("serve");
            }
        });
        Self {
            engine,
            endpoint,
            shutdown,
            server,
        }
    }

    pub async fn client(&self) -> aws_sdk_sfn::Client {
        client(&self.endpoint).await
    }
}

pub async fn client(endpoint: &str) -> aws_sdk_sfn::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(ferry_shared::aws::https_client(
            ferry_shared::aws::Trust::System,
        ))
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    aws_sdk_sfn::Client::new(&config)
}

fn lambda<F, Fut>(f: F) -> LambdaFn
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Value, TaskError>> + Send + 'static,
{
    Arc::new(move |v| f(v).boxed())
}

/// In-process "Lambda functions" the vectors call.
pub fn register_doubles(engine: &Engine) {
    engine.register_lambda("echo", lambda(|v| async move { Ok(v) }));
    engine.register_lambda(
        "add",
        lambda(|v| async move {
            // The spec's example adder: {"val1": 3, "val2": 4} → 7.
            let a = v["val1"].as_i64().unwrap_or(0);
            let b = v["val2"].as_i64().unwrap_or(0);
            Ok(json!(a + b))
        }),
    );
    engine.register_lambda(
        "fail",
        lambda(|v| async move {
            let ty = v["errorType"]
                .as_str()
                .unwrap_or("Ferry.Permanent")
                .to_string();
            let msg = v["errorMessage"]
                .as_str()
                .unwrap_or("it failed")
                .to_string();
            Err(TaskError::new(ty, msg))
        }),
    );
    // Fails with Ferry.Transient until it has been called `failures` times for `key`.
    let calls: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    engine.register_lambda(
        "flaky",
        lambda(move |v| {
            let calls = calls.clone();
            async move {
                let key = v["key"].as_str().unwrap_or("default").to_string();
                let failures = v["failures"].as_u64().unwrap_or(1);
                let n = {
                    let mut c = calls.lock().expect("calls lock");
                    let n = c.entry(key).or_insert(0);
                    *n += 1;
                    *n
                };
                if n <= failures {
                    Err(TaskError::new(
                        "Ferry.Transient",
                        format!("attempt {n} failed"),
                    ))
                } else {
                    Ok(json!({"attempts": n}))
                }
            }
        }),
    );
    engine.register_lambda(
        "sleep",
        lambda(|v| async move {
            tokio::time::sleep(Duration::from_millis(v["millis"].as_u64().unwrap_or(0))).await;
            Ok(json!({"slept": true}))
        }),
    );
    engine.register_lambda(
        "park",
        lambda(|_| async move { Ok(json!({"parked": true})) }),
    );
    // Completes its own callback: SendTaskSuccess with `result`, as an approval service would.
    let handle = engine.clone();
    engine.register_lambda(
        "callback",
        lambda(move |v| {
            let engine = handle.clone();
            async move {
                let token = v["token"].as_str().unwrap_or_default().to_string();
                let result = v.get("result").cloned().unwrap_or(json!({}));
                tokio::spawn(async move {
                    let _ = engine.send_task_success(&token, &result.to_string());
                });
                Ok(json!({}))
            }
        }),
    );
    engine.set_build_runner(Arc::new(FakeBuilds::default()));
    engine.set_aws_forwarder(Arc::new(FakeAws::default()));
}

/// Build runner double: a build fails when its FERRY_ACTION override is "fail".
#[derive(Default)]
pub struct FakeBuilds {
    builds: Mutex<HashMap<String, Value>>,
}

impl BuildRunner for FakeBuilds {
    fn start_build(&self, params: Value) -> BoxFuture<'_, Result<Value, TaskError>> {
        async move {
            let project = params["ProjectName"].as_str().unwrap_or("unknown").to_string();
            let id = format!("{project}:{}", uuid::Uuid::new_v4());
            let fails = params["EnvironmentVariablesOverride"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["Name"] == "FERRY_ACTION" && e["Value"] == "fail");
            let build = json!({"Id": id, "ProjectName": project, "BuildStatus": "IN_PROGRESS"});
            let done = json!({"Id": id, "ProjectName": project, "BuildStatus": if fails { "FAILED" } else { "SUCCEEDED" }});
            self.builds.lock().expect("builds lock").insert(id, done);
            Ok(build)
        }
        .boxed()
    }

    fn wait_build(&self, id: String) -> BoxFuture<'_, Result<Value, TaskError>> {
        async move {
            self.builds
                .lock()
                .expect("builds lock")
                .get(&id)
                .cloned()
                .ok_or_else(|| TaskError::task_failed(format!("no build {id}")))
        }
        .boxed()
    }

    fn stop_build(&self, id: String) -> BoxFuture<'_, Result<(), TaskError>> {
        async move {
            self.builds
                .lock()
                .expect("builds lock")
                .get_mut(&id)
                .map(|b| b["BuildStatus"] = json!("STOPPED"))
                .ok_or_else(|| TaskError::task_failed(format!("no build {id}")))
        }
        .boxed()
    }
}

/// SNS/DynamoDB double: DynamoDB items in memory keyed by table and key JSON.
#[derive(Default)]
pub struct FakeAws {
    items: Mutex<HashMap<(String, String), Value>>,
}

impl AwsForwarder for FakeAws {
    fn call(
        &self,
        service: &str,
        action: &str,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, TaskError>> {
        let (service, action) = (service.to_string(), action.to_string());
        async move {
            let table = params["TableName"].as_str().unwrap_or_default().to_string();
            let mut items = self.items.lock().expect("items lock");
            match (service.as_str(), action.as_str()) {
                ("sns", "publish") => {
                    Ok(json!({"MessageId": "00000000-0000-0000-0000-000000000001"}))
                }
                ("dynamodb", "putItem") => {
                    let item = params["Item"].clone();
                    let key = json!({"pk": item["pk"]}).to_string();
                    items.insert((table, key), item);
                    Ok(json!({}))
                }
                ("dynamodb", "getItem") => {
                    let key = params["Key"].to_string();
                    Ok(match items.get(&(table, key)) {
                        Some(item) => json!({"Item": item}),
                        None => json!({}),
                    })
                }
                ("dynamodb", "deleteItem") => {
                    items.remove(&(table, params["Key"].to_string()));
                    Ok(json!({}))
                }
                ("dynamodb", "updateItem") => Ok(json!({})),
                _ => Err(TaskError::task_failed(format!(
                    "unexpected {service}:{action}"
                ))),
            }
        }
        .boxed()
    }
}

/// Polls DescribeExecution until it leaves RUNNING, failing after `deadline`.
pub async fn wait_done(
    client: &aws_sdk_sfn::Client,
    arn: &str,
    deadline: Duration,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let until = Instant::now() + deadline;
    loop {
        let out = client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .expect("describe_execution");
        if out.status() != &ExecutionStatus::Running {
            return out;
        }
        assert!(
            Instant::now() < until,
            "execution {arn} still RUNNING after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `check` returns Some, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub use ferry_shared::names::unique;
