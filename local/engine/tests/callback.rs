//! `.waitForTaskToken` through the API: the token is read from history and completed by a
//! second client, as Ferry's approval function does.

mod common;

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use serde_json::{json, Value};

const WAIT: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

fn parked(timeout: Option<u64>, heartbeat: Option<u64>) -> String {
    let mut task = json!({
        "Type": "Task", "Resource": WAIT,
        "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token", "plan.$": "$.plan"}},
        "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "Timed out"},
                  {"ErrorEquals": ["Ferry.Rejected"], "ResultPath": "$.rejection", "Next": "Rejected"}],
        "Next": "Approved"
    });
    if let Some(t) = timeout {
        task["TimeoutSeconds"] = json!(t);
    }
    if let Some(h) = heartbeat {
        task["HeartbeatSeconds"] = json!(h);
    }
    json!({"StartAt": "Approve prod?", "States": {
        "Approve prod?": task,
        "Approved": {"Type": "Succeed"},
        "Timed out": {"Type": "Pass", "OutputPath": "$.timeout", "End": true},
        "Rejected": {"Type": "Pass", "OutputPath": "$.rejection", "End": true}
    }})
    .to_string()
}

async fn start(client: &aws_sdk_sfn::Client, definition: String) -> String {
    let sm = client
        .create_state_machine()
        .name(common::unique("callback"))
        .definition(definition)
        .role_arn(common::ROLE)
        .send()
        .await
        .expect("create");
    client
        .start_execution()
        .state_machine_arn(sm.state_machine_arn())
        .input(json!({"plan": "abc123"}).to_string())
        .send()
        .await
        .expect("start")
        .execution_arn()
        .to_string()
}

/// Waits for TaskSubmitted (the Lambda ran), then reads the token from TaskScheduled.
async fn token_from_history(client: &aws_sdk_sfn::Client, arn: &str) -> String {
    common::eventually(
        Duration::from_secs(10),
        "TaskSubmitted in history",
        || async {
            let history = client
                .get_execution_history()
                .execution_arn(arn)
                .send()
                .await
                .expect("history");
            let events = history.events();
            if !events
                .iter()
                .any(|e| e.r#type() == &HistoryEventType::TaskSubmitted)
            {
                return None;
            }
            let scheduled = events
                .iter()
                .find_map(|e| e.task_scheduled_event_details())?;
            assert_eq!(scheduled.resource_type(), "lambda");
            assert_eq!(scheduled.resource(), "invoke.waitForTaskToken");
            let params: Value =
                serde_json::from_str(scheduled.parameters()).expect("parameters JSON");
            assert_eq!(params["FunctionName"], "park");
            assert_eq!(params["Payload"]["plan"], "abc123");
            params["Payload"]["token"].as_str().map(str::to_string)
        },
    )
    .await
}

#[tokio::test]
async fn send_task_success_from_a_second_client_completes_the_execution() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let arn = start(&client, parked(None, None)).await;
    let token = token_from_history(&client, &arn).await;
    assert!(
        token.len() >= 22,
        "token must carry at least 128 random bits"
    );

    let approver = common::client(&engine.endpoint).await;
    approver
        .send_task_success()
        .task_token(&token)
        .output(json!({"approved": true, "by": "alice"}).to_string())
        .send()
        .await
        .expect("send_task_success");
    let done = common::wait_done(&client, &arn, Duration::from_secs(10)).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(done.output().expect("output")).expect("json");
    assert_eq!(output, json!({"approved": true, "by": "alice"}));

    // Single use: the same token again is TaskDoesNotExist.
    let err = approver
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await
        .expect_err("reused token");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_task_does_not_exist()),
        "{err:?}"
    );

    // A token the engine never issued.
    let err = approver
        .send_task_success()
        .task_token("bogus")
        .output("{}")
        .send()
        .await
        .expect_err("bad token");
    let se = err.as_service_error().expect("service error");
    assert!(
        se.is_invalid_token() || se.is_task_does_not_exist(),
        "{se:?}"
    );
    let forged = "A".repeat(43);
    let err = approver
        .send_task_failure()
        .task_token(forged)
        .send()
        .await
        .expect_err("forged token");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_task_does_not_exist()),
        "{err:?}"
    );

    // The history names the callback events as AWS does.
    let history = client
        .get_execution_history()
        .execution_arn(&arn)
        .send()
        .await
        .expect("history");
    let types: Vec<&str> = history
        .events()
        .iter()
        .map(|e| e.r#type().as_str())
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (i, e) in history.events().iter().enumerate() {
        assert_eq!(e.id(), i as i64 + 1);
        assert_eq!(e.previous_event_id(), i as i64);
    }
}

#[tokio::test]
async fn send_task_failure_is_caught_by_name() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let arn = start(&client, parked(None, None)).await;
    let token = token_from_history(&client, &arn).await;
    client
        .send_task_failure()
        .task_token(&token)
        .error("Ferry.Rejected")
        .cause("rejected by bob")
        .send()
        .await
        .expect("send_task_failure");
    let done = common::wait_done(&client, &arn, Duration::from_secs(10)).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(done.output().expect("output")).expect("json");
    assert_eq!(
        output,
        json!({"Error": "Ferry.Rejected", "Cause": "rejected by bob"})
    );
}

#[tokio::test]
async fn timeout_is_caught_and_late_token_is_refused() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let arn = start(&client, parked(Some(1), None)).await;
    let token = token_from_history(&client, &arn).await;
    let done = common::wait_done(&client, &arn, Duration::from_secs(10)).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(done.output().expect("output")).expect("json");
    assert_eq!(output["Error"], "States.Timeout");
    let history = client
        .get_execution_history()
        .execution_arn(&arn)
        .send()
        .await
        .expect("history");
    assert!(history
        .events()
        .iter()
        .any(|e| e.r#type() == &HistoryEventType::TaskTimedOut));
    let err = client
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await
        .expect_err("late token");
    let se = err.as_service_error().expect("service error");
    assert!(
        se.is_task_timed_out() || se.is_task_does_not_exist(),
        "{se:?}"
    );
}

#[tokio::test]
async fn heartbeats_keep_a_task_alive_and_their_absence_times_it_out() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;

    // With heartbeats every 300 ms, a 1-second HeartbeatSeconds never fires.
    let arn = start(&client, parked(Some(30), Some(1))).await;
    let token = token_from_history(&client, &arn).await;
    for _ in 0..6 {
        client
            .send_task_heartbeat()
            .task_token(&token)
            .send()
            .await
            .expect("heartbeat");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let info = client
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        info.status(),
        &ExecutionStatus::Running,
        "heartbeats must keep the task parked"
    );
    client
        .send_task_success()
        .task_token(&token)
        .output(r#"{"ok":1}"#)
        .send()
        .await
        .expect("success");
    let done = common::wait_done(&client, &arn, Duration::from_secs(10)).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);

    // Without heartbeats the task times out (States.HeartbeatTimeout, matched by States.Timeout).
    let arn = start(&client, parked(Some(30), Some(1))).await;
    let done = common::wait_done(&client, &arn, Duration::from_secs(10)).await;
    let output: Value = serde_json::from_str(done.output().expect("output")).expect("json");
    assert_eq!(output["Error"], "States.HeartbeatTimeout");
}
