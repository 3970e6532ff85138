//! Uploads that could not be registered: register-release is invoked asynchronously, and after
//! Lambda's retries an invocation that still fails goes to an on-failure destination (an SQS
//! queue) instead of vanishing. The records have Lambda's destination shape; local mode's pump
//! writes the same shape, and `ferry releases --failed` reads them.

use std::collections::BTreeSet;

use aws_sdk_sqs::error::DisplayErrorContext;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;

/// One upload whose registration failed every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationFailure {
    /// The S3 keys of the event (normally one).
    pub keys: Vec<String>,
    pub failed_at: Option<DateTime<Utc>>,
    pub attempts: Option<u64>,
    pub error: String,
}

/// A Lambda on-failure destination record for `event` that failed with `error_type`/`message`.
pub fn destination_record(event: &Value, error_type: &str, message: &str, attempts: u64) -> Value {
    json!({
        "version": "1.0",
        "timestamp": Utc::now().to_rfc3339(),
        "requestContext": {
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responsePayload": {"errorType": error_type, "errorMessage": message},
    })
}

/// Reads a destination record; None for anything else.
pub fn parse_record(body: &str) -> Option<RegistrationFailure> {
    let v: Value = serde_json::from_str(body).ok()?;
    let payload = v.get("requestPayload")?;
    let keys = payload
        .get("Records")?
        .as_array()?
        .iter()
        .filter_map(|r| r.pointer("/s3/object/key").and_then(Value::as_str))
        .map(crate::model::decode_event_key)
        .collect();
    let response = v.get("responsePayload");
    let field = |name: &str| {
        response
            .and_then(|r| r.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let error = match (field("errorType"), field("errorMessage")) {
        ("", "") => v
            .pointer("/requestContext/condition")
            .and_then(Value::as_str)
            .unwrap_or("failed")
            .to_owned(),
        (t, "") => t.to_owned(),
        ("", m) => m.to_owned(),
        (t, m) => format!("{t}: {m}"),
    };
    Some(RegistrationFailure {
        keys,
        failed_at: v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok()),
        attempts: v
            .pointer("/requestContext/approximateInvokeCount")
            .and_then(Value::as_u64),
        error,
    })
}

#[derive(Debug, Error)]
#[error("reading the registration failures queue: {0}")]
pub struct FailuresError(String);

/// Every failure in the queue, oldest first, read without consuming anything (a zero
/// visibility timeout leaves each message for the next reader).
pub async fn list(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Vec<RegistrationFailure>, FailuresError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    // SQS returns a sample per call; stop once a few rounds bring nothing new.
    let mut quiet_rounds = 0;
    while quiet_rounds < 3 {
        let resp = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| FailuresError(DisplayErrorContext(e).to_string()))?;
        let mut fresh = false;
        for m in resp.messages.unwrap_or_default() {
            let Some(id) = m.message_id else { continue };
            if seen.insert(id) {
                fresh = true;
                if let Some(f) = m.body.as_deref().and_then(parse_record) {
                    out.push(f);
                }
            }
        }
        quiet_rounds = if fresh { 0 } else { quiet_rounds + 1 };
    }
    out.sort_by_key(|f| f.failed_at);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_name_the_key() {
        let event = json!({"Records": [{"s3": {"object": {"key": "releases/web/1.0.0+b.zip"}}}]});
        let rec = destination_record(&event, "Ferry.Transient", "DynamoDB is down", 3);
        let f = parse_record(&rec.to_string()).unwrap();
        assert_eq!(f.keys, ["releases/web/1.0.0 b.zip"]);
        assert_eq!(f.attempts, Some(3));
        assert_eq!(f.error, "Ferry.Transient: DynamoDB is down");
        assert!(f.failed_at.is_some());
        assert!(parse_record("{}").is_none());
        assert!(parse_record("not json").is_none());
    }
}
