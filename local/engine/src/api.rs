//! The Step Functions API over HTTP: AWS JSON 1.0 (`POST /`, `X-Amz-Target:
//! AWSStepFunctions.<Operation>`). Errors are HTTP 400 with `__type` and `x-amzn-errortype`,
//! which is what the AWS SDKs parse into modeled errors.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ErrorCode};
use crate::runtime::engine::Engine;
use crate::runtime::history::HistoryEvent;
use crate::runtime::registry::{ExecutionInfo, ExecutionStatus};

/// Step Functions qualifies `__type` with its model namespace; the header carries the bare code.
const ERROR_NAMESPACE: &str = "com.amazonaws.swf.service.v2.model";

/// Errors of [`serve`].
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serving the Step Functions API failed")]
    Io(#[from] std::io::Error),
}

/// The API as an axum router (for embedding in another server).
pub fn router(engine: Engine) -> Router {
    Router::new().route("/", post(handle)).with_state(engine)
}

/// Serves the API on `listener` until `shutdown` is cancelled; then stops accepting requests,
/// lets in-flight ones finish and aborts running executions ([`Engine::shutdown`]).
pub async fn serve(
    engine: Engine,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let app = router(engine.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    engine.shutdown().await;
    Ok(())
}

fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn respond(result: Result<Value, ApiError>) -> Response {
    let sfn = ferry_awsjson::JSON_1_0;
    match result {
        Ok(body) => sfn.ok(&body),
        Err(e) => {
            let status = if e.code == ErrorCode::InternalFailure {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            let code = e.code.as_str();
            sfn.error(
                status,
                &format!("{ERROR_NAMESPACE}#{code}"),
                code,
                &e.message,
            )
        }
    }
}

async fn handle(State(engine): State<Engine>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let result = parse_body(&body).and_then(|req| dispatch(&engine, &target, &req));
    if let Err(e) = &result {
        tracing::debug!(target = %target, code = e.code.as_str(), "request refused");
    }
    respond(result)
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::new(
            ErrorCode::ValidationException,
            "The request body must be a JSON object",
        )),
    }
}

fn opt_str<'a>(req: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    req.get(field).and_then(Value::as_str)
}

fn req_str<'a>(req: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    opt_str(req, field).ok_or_else(|| {
        ApiError::new(ErrorCode::ValidationException, format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"))
    })
}

/// Offset-based pagination: `nextToken` is the index of the next item.
fn page<T>(
    items: Vec<T>,
    req: &Map<String, Value>,
    default_max: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = match req.get("maxResults").and_then(Value::as_u64) {
        None | Some(0) => default_max,
        Some(n) if n <= 1000 => usize::try_from(n).unwrap_or(default_max),
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::ValidationException,
                "maxResults must be at most 1000",
            ))
        }
    };
    let start = match opt_str(req, "nextToken") {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::new(ErrorCode::ValidationException, "Invalid nextToken"))?,
    };
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + out.len() < total).then(|| (start + out.len()).to_string());
    Ok((out, next))
}

fn execution_json(e: &ExecutionInfo, full: bool) -> Value {
    let mut v = json!({
        "executionArn": e.arn, "stateMachineArn": e.state_machine_arn, "name": e.name,
        "status": e.status.as_str(), "startDate": epoch(e.start_date),
    });
    if let Some(stop) = e.stop_date {
        v["stopDate"] = json!(epoch(stop));
    }
    if full {
        v["input"] = json!(e.input);
        v["inputDetails"] = json!({"included": true});
        if let Some(o) = &e.output {
            v["output"] = json!(o);
            v["outputDetails"] = json!({"included": true});
        }
        if let Some(err) = &e.error {
            v["error"] = json!(err);
        }
        if let Some(c) = &e.cause {
            v["cause"] = json!(c);
        }
    }
    v
}

fn event_json(e: &HistoryEvent) -> Value {
    let mut v = json!({
        "id": e.id, "previousEventId": e.previous_event_id,
        "timestamp": epoch(e.timestamp), "type": e.event_type(),
    });
    if let Some((key, details)) = e.details() {
        // Drop nulls: the SDK models optional members as absent, not null.
        let details = match details {
            Value::Object(m) => {
                Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect())
            }
            other => other,
        };
        v[key] = details;
    }
    v
}

fn dispatch(engine: &Engine, target: &str, req: &Map<String, Value>) -> Result<Value, ApiError> {
    let op = target.strip_prefix("AWSStepFunctions.").unwrap_or(target);
    match op {
        "CreateStateMachine" => {
            if let Some(t) = opt_str(req, "type") {
                if t != "STANDARD" {
                    return Err(ApiError::new(
                        ErrorCode::ValidationException,
                        format!("type {t} is not supported by the local engine"),
                    ));
                }
            }
            let role =
                opt_str(req, "roleArn").unwrap_or("arn:aws:iam::123456789012:role/ferry-local");
            let info = engine.create_state_machine(
                req_str(req, "name")?,
                req_str(req, "definition")?,
                role,
            )?;
            Ok(json!({"stateMachineArn": info.arn, "creationDate": epoch(info.creation_date)}))
        }
        "UpdateStateMachine" => {
            let date = engine.update_state_machine(
                req_str(req, "stateMachineArn")?,
                opt_str(req, "definition"),
                opt_str(req, "roleArn"),
            )?;
            Ok(json!({"updateDate": epoch(date)}))
        }
        "DescribeStateMachine" => {
            let info = engine.describe_state_machine(req_str(req, "stateMachineArn")?)?;
            Ok(json!({
                "stateMachineArn": info.arn, "name": info.name, "status": "ACTIVE",
                "definition": info.definition, "roleArn": info.role_arn, "type": "STANDARD",
                "creationDate": epoch(info.creation_date),
            }))
        }
        "ListStateMachines" => {
            let (items, next) = page(engine.list_state_machines(), req, 100)?;
            let machines: Vec<Value> = items
                .iter()
                .map(|m| json!({"stateMachineArn": m.arn, "name": m.name, "type": "STANDARD", "creationDate": epoch(m.creation_date)}))
                .collect();
            Ok(json!({"stateMachines": machines, "nextToken": next}))
        }
        "DeleteStateMachine" => {
            engine.delete_state_machine(req_str(req, "stateMachineArn")?)?;
            Ok(json!({}))
        }
        "StartExecution" => {
            let info = engine.start_execution(
                req_str(req, "stateMachineArn")?,
                opt_str(req, "name"),
                opt_str(req, "input"),
            )?;
            Ok(json!({"executionArn": info.arn, "startDate": epoch(info.start_date)}))
        }
        "DescribeExecution" => Ok(execution_json(
            &engine.describe_execution(req_str(req, "executionArn")?)?,
            true,
        )),
        "ListExecutions" => {
            let status = match opt_str(req, "statusFilter") {
                None => None,
                Some(s) => Some(ExecutionStatus::parse(s).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ValidationException,
                        format!("Invalid statusFilter '{s}'"),
                    )
                })?),
            };
            let all = engine.list_executions(req_str(req, "stateMachineArn")?, status)?;
            let (items, next) = page(all, req, 100)?;
            let list: Vec<Value> = items.iter().map(|e| execution_json(e, false)).collect();
            Ok(json!({"executions": list, "nextToken": next}))
        }
        "GetExecutionHistory" => {
            let mut events = engine.execution_history(req_str(req, "executionArn")?)?;
            if req.get("reverseOrder").and_then(Value::as_bool) == Some(true) {
                events.reverse();
            }
            let (items, next) = page(events, req, 100)?;
            let mut list: Vec<Value> = items.iter().map(event_json).collect();
            if req.get("includeExecutionData").and_then(Value::as_bool) == Some(false) {
                for e in &mut list {
                    strip_data(e);
                }
            }
            Ok(json!({"events": list, "nextToken": next}))
        }
        "StopExecution" => {
            let date = engine.stop_execution(
                req_str(req, "executionArn")?,
                opt_str(req, "error").map(str::to_string),
                opt_str(req, "cause").map(str::to_string),
            )?;
            Ok(json!({"stopDate": epoch(date)}))
        }
        "SendTaskSuccess" => {
            engine.send_task_success(req_str(req, "taskToken")?, req_str(req, "output")?)?;
            Ok(json!({}))
        }
        "SendTaskFailure" => {
            engine.send_task_failure(
                req_str(req, "taskToken")?,
                opt_str(req, "error").map(str::to_string),
                opt_str(req, "cause").map(str::to_string),
            )?;
            Ok(json!({}))
        }
        "SendTaskHeartbeat" => {
            engine.send_task_heartbeat(req_str(req, "taskToken")?)?;
            Ok(json!({}))
        }
        other => Err(ApiError::new(
            ErrorCode::UnknownOperation,
            format!("Operation '{other}' is not supported by the local engine"),
        )),
    }
}

/// `includeExecutionData: false` leaves out inputs and outputs, as AWS does.
fn strip_data(event: &mut Value) {
    if let Value::Object(m) = event {
        for (_, v) in m.iter_mut() {
            if let Value::Object(d) = v {
                for k in ["input", "output", "parameters"] {
                    d.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_keep_the_sfn_type_and_bare_code_header() {
        let res = respond(Err(ApiError::new(
            ErrorCode::InvalidArn,
            "Invalid Arn: 'x'",
        )));
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()["x-amzn-errortype"], "InvalidArn");
        assert_eq!(res.headers()["content-type"], "application/x-amz-json-1.0");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            body,
            json!({"__type": "com.amazonaws.swf.service.v2.model#InvalidArn", "message": "Invalid Arn: 'x'"})
        );
        let res = respond(Err(ApiError::new(ErrorCode::InternalFailure, "boom")));
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
