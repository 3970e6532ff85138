//! The Step Functions API surface through aws-sdk-sfn: error codes, idempotency, listing,
//! history paging, stop, and graceful shutdown.

mod common;

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use serde_json::json;

fn waiting(seconds: u64) -> String {
    json!({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": seconds, "End": true}}}).to_string()
}

async fn create(client: &aws_sdk_sfn::Client, definition: String) -> String {
    client
        .create_state_machine()
        .name(common::unique("api"))
        .definition(definition)
        .role_arn(common::ROLE)
        .send()
        .await
        .expect("create")
        .state_machine_arn()
        .to_string()
}

#[tokio::test]
async fn state_machine_lifecycle_and_errors() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let name = common::unique("lifecycle");
    let arn = client
        .create_state_machine()
        .name(&name)
        .definition(waiting(1))
        .role_arn(common::ROLE)
        .send()
        .await
        .expect("create")
        .state_machine_arn()
        .to_string();
    assert_eq!(
        arn,
        format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}")
    );

    let err = client
        .create_state_machine()
        .name(&name)
        .definition(waiting(2))
        .role_arn(common::ROLE)
        .send()
        .await
        .expect_err("dup");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_state_machine_already_exists()),
        "{err:?}"
    );

    let err = client
        .create_state_machine()
        .name(common::unique("bad"))
        .definition(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#)
        .role_arn(common::ROLE)
        .send()
        .await
        .expect_err("invalid definition");
    let se = err.as_service_error().expect("service error");
    assert!(se.is_invalid_definition(), "{se:?}");
    assert!(
        se.meta().message().unwrap_or_default().contains("'B'"),
        "reason names the missing state: {se:?}"
    );

    let err = client
        .create_state_machine()
        .name("bad name")
        .definition(waiting(1))
        .role_arn(common::ROLE)
        .send()
        .await
        .expect_err("name");
    assert!(
        err.as_service_error().is_some_and(|e| e.is_invalid_name()),
        "{err:?}"
    );

    let described = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .expect("describe");
    assert_eq!(described.name(), name);
    assert_eq!(described.definition(), waiting(1));

    client
        .update_state_machine()
        .state_machine_arn(&arn)
        .definition(waiting(0))
        .send()
        .await
        .expect("update");
    let described = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .expect("describe");
    assert_eq!(described.definition(), waiting(0));
    let err = client
        .update_state_machine()
        .state_machine_arn(&arn)
        .definition("{}")
        .send()
        .await
        .expect_err("invalid update");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_definition()),
        "{err:?}"
    );

    let listed = client.list_state_machines().send().await.expect("list");
    assert!(listed
        .state_machines()
        .iter()
        .any(|m| m.state_machine_arn() == arn));

    client
        .delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .expect("delete");
    let err = client
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .expect_err("gone");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_state_machine_does_not_exist()),
        "{err:?}"
    );
    let err = client
        .describe_state_machine()
        .state_machine_arn("not-an-arn")
        .send()
        .await
        .expect_err("arn");
    assert!(
        err.as_service_error().is_some_and(|e| e.is_invalid_arn()),
        "{err:?}"
    );
}

#[tokio::test]
async fn executions_idempotency_listing_and_stop() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let sm = create(&client, waiting(30)).await;

    let first = client
        .start_execution()
        .state_machine_arn(&sm)
        .name("deploy-1")
        .input(r#"{"a":1}"#)
        .send()
        .await
        .expect("start");
    let again = client
        .start_execution()
        .state_machine_arn(&sm)
        .name("deploy-1")
        .input(r#"{"a":1}"#)
        .send()
        .await
        .expect("same start");
    assert_eq!(first.execution_arn(), again.execution_arn());
    assert!(first
        .execution_arn()
        .starts_with("arn:aws:states:us-east-1:123456789012:execution:"));
    let err = client
        .start_execution()
        .state_machine_arn(&sm)
        .name("deploy-1")
        .input(r#"{"a":2}"#)
        .send()
        .await
        .expect_err("other input");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_execution_already_exists()),
        "{err:?}"
    );
    let err = client
        .start_execution()
        .state_machine_arn(&sm)
        .input("{not json")
        .send()
        .await
        .expect_err("bad input");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_execution_input()),
        "{err:?}"
    );

    let running = client
        .list_executions()
        .state_machine_arn(&sm)
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
        .expect("list");
    assert_eq!(running.executions().len(), 1);

    client
        .stop_execution()
        .execution_arn(first.execution_arn())
        .error("Ferry.Cancelled")
        .cause("by test")
        .send()
        .await
        .expect("stop");
    let info = client
        .describe_execution()
        .execution_arn(first.execution_arn())
        .send()
        .await
        .expect("describe");
    assert_eq!(info.status(), &ExecutionStatus::Aborted);
    assert_eq!(info.error(), Some("Ferry.Cancelled"));
    assert!(info.stop_date().is_some());
    let aborted = client
        .list_executions()
        .state_machine_arn(&sm)
        .status_filter(ExecutionStatus::Aborted)
        .send()
        .await
        .expect("list");
    assert_eq!(aborted.executions().len(), 1);
    let running = client
        .list_executions()
        .state_machine_arn(&sm)
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
        .expect("list");
    assert!(running.executions().is_empty());

    // After it closed, the same name is taken for good.
    let err = client
        .start_execution()
        .state_machine_arn(&sm)
        .name("deploy-1")
        .input(r#"{"a":1}"#)
        .send()
        .await
        .expect_err("closed");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_execution_already_exists()),
        "{err:?}"
    );

    let history = client
        .get_execution_history()
        .execution_arn(first.execution_arn())
        .send()
        .await
        .expect("history");
    let last = history.events().last().expect("events");
    assert_eq!(last.r#type(), &HistoryEventType::ExecutionAborted);
    assert_eq!(
        last.execution_aborted_event_details()
            .and_then(|d| d.cause()),
        Some("by test")
    );

    let missing = sm.replace(":stateMachine:", ":execution:") + ":nope";
    let err = client
        .describe_execution()
        .execution_arn(&missing)
        .send()
        .await
        .expect_err("missing");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_execution_does_not_exist()),
        "{err:?}"
    );
}

#[tokio::test]
async fn history_pages_in_both_orders() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}});
    let sm = create(&client, def.to_string()).await;
    let exec = client
        .start_execution()
        .state_machine_arn(&sm)
        .input("[1,2,3,4,5]")
        .send()
        .await
        .expect("start");
    let done = common::wait_done(&client, exec.execution_arn(), Duration::from_secs(10)).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    assert_eq!(done.output(), Some("[1,2,3,4,5]"));

    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(exec.execution_arn())
            .max_results(4)
            .reverse_order(true)
            .set_next_token(token)
            .send()
            .await
            .expect("history page");
        ids.extend(page.events().iter().map(|e| e.id()));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let n = ids.len() as i64;
    assert_eq!(ids, (1..=n).rev().collect::<Vec<_>>());
    let all = client
        .get_execution_history()
        .execution_arn(exec.execution_arn())
        .max_results(1000)
        .send()
        .await
        .expect("history");
    let count = |t: HistoryEventType| all.events().iter().filter(|e| e.r#type() == &t).count();
    assert_eq!(count(HistoryEventType::MapIterationStarted), 5);
    assert_eq!(count(HistoryEventType::MapIterationSucceeded), 5);
    assert_eq!(count(HistoryEventType::PassStateEntered), 5);
    assert_eq!(count(HistoryEventType::MapStateEntered), 1);
    assert_eq!(count(HistoryEventType::MapStateStarted), 1);
    assert_eq!(count(HistoryEventType::MapStateSucceeded), 1);
    assert_eq!(count(HistoryEventType::MapStateExited), 1);
}

#[tokio::test]
async fn many_executions_run_concurrently() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let sm = create(&client, waiting(1)).await;
    let started = std::time::Instant::now();
    let mut arns = Vec::new();
    for i in 0..50 {
        let out = client
            .start_execution()
            .state_machine_arn(&sm)
            .name(format!("c-{i}"))
            .send()
            .await
            .expect("start");
        arns.push(out.execution_arn().to_string());
    }
    for arn in &arns {
        let done = common::wait_done(&client, arn, Duration::from_secs(20)).await;
        assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    }
    // Fifty one-second waits in sequence would take 50 s.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn graceful_shutdown_aborts_running_executions() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let sm = create(&client, waiting(300)).await;
    let exec = client
        .start_execution()
        .state_machine_arn(&sm)
        .send()
        .await
        .expect("start");
    engine.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), engine.server)
        .await
        .expect("server stops")
        .expect("server task");
    let info = engine
        .engine
        .describe_execution(exec.execution_arn())
        .expect("still described");
    assert_eq!(info.status, ferry_engine::ExecutionStatus::Aborted);
    let history = engine
        .engine
        .execution_history(exec.execution_arn())
        .expect("history");
    assert_eq!(
        history.last().map(|e| e.event_type()),
        Some("ExecutionAborted")
    );
    assert_eq!(engine.engine.running_executions(), 0);
    assert!(
        client.list_state_machines().send().await.is_err(),
        "no longer accepting requests"
    );
}
