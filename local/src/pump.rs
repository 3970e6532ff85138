//! The local stand-in for S3 → Lambda: reads bucket notifications from SQS and invokes
//! register-release's real handler with them, deleting a message only once it succeeded
//! (a failed one reappears after the queue's visibility timeout, like Lambda's retry). After as
//! many attempts as Lambda makes for an asynchronous invocation, the event goes to the failures
//! queue in the shape of Lambda's on-failure destination record, as in AWS.
//!
//! Like Lambda, which runs many invocations at once, the pump handles several events
//! concurrently (up to a fixed bound) and keeps receiving while earlier ones are in flight:
//! registration is a handful of S3/DynamoDB round trips per event, so one at a time leaves a
//! burst waiting on the network. Registration is idempotent and judges each event by its own
//! upload, so the order events finish in changes nothing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use aws_lambda_events::s3::S3Event;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use ferry_shared::failures::destination_record;
use ferry_shared::workflow::TaskFailure;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::stack::Queues;

/// Lambda invokes an asynchronous event once and retries it twice.
const ATTEMPTS: u64 = 3;

/// Events handled at once. Enough to overlap the round trips of a burst; bounded so a burst
/// never opens hundreds of connections to one moto_server.
pub const CONCURRENCY: usize = 16;

/// How long a received event stays hidden from other receives while it waits for a slot and is
/// handled. The queue's own timeout (the retry delay, a couple of seconds) is shorter than a
/// handler takes when a burst keeps every slot busy; an event that reappeared mid-flight would
/// be handled twice and its receive count, which decides when it has failed for good, inflated.
const IN_FLIGHT_SECS: i32 = 60;

/// SQS's largest batch.
const BATCH: i32 = 10;

/// Runs until `stop` turns true, with up to [`CONCURRENCY`] events in flight.
pub async fn run(
    sqs: aws_sdk_sqs::Client,
    queues: Queues,
    deps: register_release::Deps,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    run_bounded(sqs, queues, deps, stop, CONCURRENCY).await
}

/// [`run`] with up to `concurrency` events in flight (1 handles them one at a time). Once
/// `stop` turns true it receives nothing more and returns when the events in flight are done.
pub async fn run_bounded(
    sqs: aws_sdk_sqs::Client,
    queues: Queues,
    deps: register_release::Deps,
    stop: watch::Receiver<bool>,
    concurrency: usize,
) -> Result<()> {
    let retry_after = retry_delay(&sqs, &queues.events).await;
    let pump = Arc::new(Pump {
        sqs,
        queues,
        deps,
        retry_after,
    });
    let receiver = pump.clone();
    // `buffer_unordered` polls for the next event only while a slot is free, so a batch is
    // received as soon as there is room for its first event, and never far ahead of the slots.
    futures::stream::unfold(stop, move |mut stop| {
        let pump = receiver.clone();
        async move {
            let batch = pump.receive(&mut stop).await?;
            Some((futures::stream::iter(batch), stop))
        }
    })
    .flatten()
    .map(move |m| {
        let pump = pump.clone();
        async move { pump.handle(m).await }
    })
    .buffer_unordered(concurrency.max(1))
    .for_each(|()| async {})
    .await;
    Ok(())
}

/// The queue's visibility timeout: how long a failed event waits before its retry.
async fn retry_delay(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> i32 {
    let name = QueueAttributeName::VisibilityTimeout;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(name.clone())
        .send()
        .await;
    out.ok()
        .and_then(|o| o.attributes()?.get(&name)?.parse().ok())
        .unwrap_or(2)
}

struct Pump {
    sqs: aws_sdk_sqs::Client,
    queues: Queues,
    deps: register_release::Deps,
    retry_after: i32,
}

impl Pump {
    /// The next batch of events (possibly empty); `None` once `stop` turns true.
    async fn receive(&self, stop: &mut watch::Receiver<bool>) -> Option<Vec<Message>> {
        loop {
            if *stop.borrow() {
                return None;
            }
            let receive = self
                .sqs
                .receive_message()
                .queue_url(&self.queues.events)
                .max_number_of_messages(BATCH)
                .wait_time_seconds(1)
                .visibility_timeout(IN_FLIGHT_SECS)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send();
            let out = tokio::select! {
                out = receive => out,
                _ = stop.changed() => return None,
            };
            match out {
                Ok(out) => return Some(out.messages.unwrap_or_default()),
                Err(e) => {
                    warn!(error = %DisplayErrorContext(&e), "receiving release events failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = stop.changed() => return None,
                    }
                }
            }
        }
    }

    /// Registers one event; deletes it once handled, or hands it back for a retry.
    async fn handle(&self, m: Message) {
        let attempts = m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(1);
        let done = match m.body().and_then(to_s3_event) {
            Some(event) => match register_release::handle(&self.deps, event.clone()).await {
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
                    self.sqs
                        .send_message()
                        .queue_url(&self.queues.failures)
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
        let Some(handle) = m.receipt_handle() else {
            return;
        };
        let queue = &self.queues.events;
        let result = if done {
            self.sqs
                .delete_message()
                .queue_url(queue)
                .receipt_handle(handle)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| DisplayErrorContext(e).to_string())
        } else {
            // Reappear after the queue's retry delay rather than the longer in-flight timeout.
            self.sqs
                .change_message_visibility()
                .queue_url(queue)
                .receipt_handle(handle)
                .visibility_timeout(self.retry_after)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| DisplayErrorContext(e).to_string())
        };
        if let Err(error) = result {
            warn!(%error, done, "settling a release event failed");
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
