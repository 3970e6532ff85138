//! The local engine as `ferry local up` wires it: sns:publish and dynamodb:*Item integrations
//! forwarded to moto with the AWS SDK, unknown integrations failing clearly, and the deploy
//! state machine registered from the embedded definition.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use ferry_tests::stack::Stack;
use serde_json::{json, Value};

#[test]
fn service_integrations_reach_moto() {
    let stack = Stack::up();
    let table = stack.var("FERRY_TABLE").unwrap().to_owned();
    let topic = stack.var("FERRY_TOPIC_ARN").unwrap().to_owned();
    let definition = json!({
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {
                    "pk": {"S": "TEST#engine"}, "sk": {"S": "1"}, "who": {"S.$": "$.who"}}},
                "ResultPath": null,
                "Next": "Get"},
            "Get": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": table, "Key": {"pk": {"S": "TEST#engine"}, "sk": {"S": "1"}}},
                "ResultSelector": {"pk.$": "$.Item.pk.S"},
                "ResultPath": "$.got",
                "Next": "Notify"},
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message.$": "$.got.pk"},
                "ResultSelector": {"id.$": "$.MessageId"},
                "ResultPath": "$.sns",
                "Next": "Unknown"},
            "Unknown": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": "x", "MessageBody": "y"},
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.unknown", "Next": "Done"}],
                "End": true},
            "Done": {"Type": "Succeed"}
        }
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk =
            ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL_SFN").unwrap()).await;
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        // The deploy machine is there, created from the embedded definition.
        let machines = sfn.list_state_machines().send().await.unwrap();
        assert!(machines
            .state_machines()
            .iter()
            .any(|m| m.name() == "ferry-deploy"));

        let arn = sfn
            .create_state_machine()
            .name("integrations")
            .definition(definition.to_string())
            .role_arn("arn:aws:iam::123456789012:role/test")
            .send()
            .await
            .unwrap()
            .state_machine_arn()
            .to_owned();
        let exec = sfn
            .start_execution()
            .state_machine_arn(&arn)
            .input(json!({"who": "tester"}).to_string())
            .send()
            .await
            .unwrap()
            .execution_arn()
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        let out = loop {
            let d = sfn
                .describe_execution()
                .execution_arn(&exec)
                .send()
                .await
                .unwrap();
            if d.status() != &ExecutionStatus::Running {
                break d;
            }
            assert!(Instant::now() < deadline, "execution still running");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            out.status(),
            &ExecutionStatus::Succeeded,
            "{:?} {:?}",
            out.error(),
            out.cause()
        );
        let output: Value = serde_json::from_str(out.output().unwrap()).unwrap();
        assert_eq!(output["got"]["pk"], "TEST#engine");
        assert!(output["sns"]["id"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(output["unknown"]["Error"], "States.TaskFailed");
        assert!(
            output["unknown"]["Cause"].as_str().unwrap().contains("sqs"),
            "{output}"
        );

        // The item really is in moto.
        let store_sdk =
            ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL").unwrap()).await;
        let item = aws_sdk_dynamodb::Client::new(&store_sdk)
            .get_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("TEST#engine".into()),
            )
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("1".into()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            item.item()
                .and_then(|i| i.get("who"))
                .and_then(|v| v.as_s().ok())
                .map(String::as_str),
            Some("tester")
        );
    });
}
