//! The local stand-in for S3 → Lambda: reads bucket notifications from SQS and invokes
//! register-release's real handler with them, deleting a message only once it succeeded
//! (a failed one reappears after the visibility timeout, like Lambda's retry). After as many
//! attempts as Lambda makes for an asynchronous invocation, the event goes to the failures
//! queue in the shape of Lambda's on-failure destination record, as in AWS.

use std::time::Duration;

use anyhow::Result;
use aws_lambda_events::s3::S3Event;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use ferry_shared::failures::destination_record;
use ferry_shared::workflow::TaskFailure;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::stack::Queues;

/// Runs until `stop` turns true.
/// Lambda invokes an asynchronous event once and retries it twice.
const ATTEMPTS: u64 = 3;

pub async fn run(
    sqs: aws_sdk_sqs::Client,
    queues: Queues,
    deps: register_release::Deps,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let queue_url = queues.events;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let receive = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        let out = tokio::select! {
            out = receive => out,
            _ = stop.changed() => return Ok(()),
        };
        let messages = match out {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "receiving release events failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for m in messages {
            let Some(body) = m.body() else { continue };
            let attempts = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1);
            let done = match to_s3_event(body) {
                Some(event) => match register_release::handle(&deps, event.clone()).await {
                    Ok(outcomes) => {
                        debug!(?outcomes, "release event handled");
                        true
                    }
                    Err(e) if attempts >= ATTEMPTS => {
                        warn!(error = %e, attempts, "register-release failed every attempt");
                        let record = destination_record(
                            &serde_json::to_value(&event).unwrap_or_default(),
                            e.error_type(),
                            &e.message(),
                            attempts,
                        );
                        sqs.send_message()
                            .queue_url(&queues.failures)
                            .message_body(record.to_string())
                            .send()
                            .await
                            .is_ok()
                    }
                    Err(e) => {
                        warn!(error = %e, attempts, "register-release failed; the event will be retried");
                        false
                    }
                },
                None => true, // s3:TestEvent or not an S3 event: nothing to do
            };
            if done {
                if let Some(handle) = m.receipt_handle() {
                    if let Err(e) = sqs
                        .delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                    {
                        warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "deleting handled event failed");
                    }
                }
            }
        }
    }
}

/// Turns an SQS message body into the S3 event AWS would hand the function.
pub fn to_s3_event(body: &str) -> Option<S3Event> {
    let mut v: Value = serde_json::from_str(body).ok()?;
    normalise(&mut v);
    let records = v.get("Records")?.as_array()?;
    if records.is_empty() {
        return None;
    }
    serde_json::from_value(v).ok()
}

/// moto's notification lacks fields real S3 sends; fill them so the handler sees AWS's shape.
/// Keys stay encoded: decoding is the handler's job, as in AWS.
pub fn normalise(event: &mut Value) {
    let Some(records) = event.get_mut("Records").and_then(Value::as_array_mut) else {
        return;
    };
    for r in records {
        let Some(obj) = r.as_object_mut() else {
            continue;
        };
        obj.entry("userIdentity")
            .or_insert_with(|| json!({"principalId": "local"}));
        obj.entry("requestParameters")
            .or_insert_with(|| json!({"sourceIPAddress": "127.0.0.1"}));
        obj.entry("responseElements")
            .or_insert_with(|| json!({"x-amz-request-id": "local", "x-amz-id-2": "local"}));
        obj.entry("eventSource").or_insert_with(|| json!("aws:s3"));
        obj.entry("eventVersion").or_insert_with(|| json!("2.1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_shaped_event_is_completed() {
        let moto = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-21T10:00:00.000Z","eventName":"ObjectCreated:Put",
            "s3":{"s3SchemaVersion":"1.0","configurationId":"register-release",
            "bucket":{"name":"b","arn":"arn:aws:s3:::b"},
            "object":{"key":"releases%2Fweb%2F1.0.0.zip","size":10,"eTag":"abc","versionId":"null","sequencer":"1"}}}]}"#;
        let e = to_s3_event(moto).unwrap();
        assert_eq!(e.records.len(), 1);
        assert_eq!(
            register_release::decode_key(e.records[0].s3.object.key.as_deref().unwrap()),
            "releases/web/1.0.0.zip"
        );
        assert!(to_s3_event(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).is_none());
    }
}
