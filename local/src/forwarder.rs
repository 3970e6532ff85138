//! Step Functions' `sns:publish` and `dynamodb:*Item` integrations, forwarded to moto with the
//! AWS SDK: the Task's PascalCase parameters in, the API's response out.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use ferry_engine::{AwsForwarder, TaskError};
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

pub struct SdkForwarder {
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

fn bad(msg: impl Into<String>) -> TaskError {
    TaskError::new("States.Runtime", msg)
}

/// DynamoDB's typed JSON (`{"S": "x"}`, `{"N": "1"}`, …) to an AttributeValue.
pub fn to_attr(v: &Value) -> Result<AttributeValue, TaskError> {
    let obj = v
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| bad(format!("not a DynamoDB attribute value: {v}")))?;
    let (ty, val) = obj
        .iter()
        .next()
        .ok_or_else(|| bad("empty attribute value"))?;
    let s = || {
        val.as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{ty} needs a string")))
    };
    let list = || {
        val.as_array()
            .ok_or_else(|| bad(format!("{ty} needs an array")))
    };
    Ok(match ty.as_str() {
        "S" => AttributeValue::S(s()?),
        "N" => AttributeValue::N(s()?),
        "BOOL" => AttributeValue::Bool(val.as_bool().ok_or_else(|| bad("BOOL needs a boolean"))?),
        "NULL" => AttributeValue::Null(true),
        "B" => AttributeValue::B(Blob::new(
            base64::engine::general_purpose::STANDARD
                .decode(s()?)
                .map_err(|e| bad(e.to_string()))?,
        )),
        "SS" => AttributeValue::Ss(
            list()?
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
        ),
        "NS" => AttributeValue::Ns(
            list()?
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
        ),
        "L" => AttributeValue::L(list()?.iter().map(to_attr).collect::<Result<_, _>>()?),
        "M" => AttributeValue::M(to_item(val)?),
        other => return Err(bad(format!("unsupported attribute type {other}"))),
    })
}

pub fn to_item(v: &Value) -> Result<HashMap<String, AttributeValue>, TaskError> {
    v.as_object()
        .ok_or_else(|| bad("an item must be an object"))?
        .iter()
        .map(|(k, v)| Ok((k.clone(), to_attr(v)?)))
        .collect()
}

pub fn from_attr(a: &AttributeValue) -> Value {
    match a {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::B(b) => {
            json!({"B": base64::engine::general_purpose::STANDARD.encode(b.as_ref())})
        }
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::L(v) => json!({"L": v.iter().map(from_attr).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": from_item(m)}),
        _ => Value::Null,
    }
}

pub fn from_item(m: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), from_attr(v)))
            .collect::<Map<_, _>>(),
    )
}

fn str_param(p: &Value, name: &str) -> Result<String, TaskError> {
    p.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("parameter {name} is required")))
}

fn values(p: &Value, name: &str) -> Result<Option<HashMap<String, AttributeValue>>, TaskError> {
    p.get(name).map(to_item).transpose()
}

fn names(p: &Value) -> Option<HashMap<String, String>> {
    p.get("ExpressionAttributeNames")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
}

/// An SDK error as the state machine sees it: `<Service>.<ErrorCode>`, as in AWS.
fn service_error<E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error>(
    service: &str,
    e: E,
) -> TaskError {
    let code = e.code().unwrap_or("ServiceException").to_owned();
    TaskError::new(
        format!("{service}.{code}"),
        aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    )
}

impl SdkForwarder {
    async fn dynamodb(&self, action: &str, p: Value) -> Result<Value, TaskError> {
        let d = &self.dynamodb;
        let table = str_param(&p, "TableName")?;
        let cond = p
            .get("ConditionExpression")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match action {
            "putItem" => {
                let item = to_item(
                    p.get("Item")
                        .ok_or_else(|| bad("parameter Item is required"))?,
                )?;
                d.put_item()
                    .table_name(table)
                    .set_item(Some(item))
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(names(&p))
                    .set_expression_attribute_values(values(&p, "ExpressionAttributeValues")?)
                    .send()
                    .await
                    .map_err(|e| service_error("DynamoDB", e.into_service_error()))?;
                Ok(json!({}))
            }
            "getItem" => {
                let out = d
                    .get_item()
                    .table_name(table)
                    .set_key(values(&p, "Key")?)
                    .set_consistent_read(p.get("ConsistentRead").and_then(Value::as_bool))
                    .send()
                    .await
                    .map_err(|e| service_error("DynamoDB", e.into_service_error()))?;
                Ok(match out.item() {
                    Some(item) => json!({"Item": from_item(item)}),
                    None => json!({}),
                })
            }
            "updateItem" => {
                let out = d
                    .update_item()
                    .table_name(table)
                    .set_key(values(&p, "Key")?)
                    .set_update_expression(
                        p.get("UpdateExpression")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    )
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(names(&p))
                    .set_expression_attribute_values(values(&p, "ExpressionAttributeValues")?)
                    .set_return_values(
                        p.get("ReturnValues")
                            .and_then(Value::as_str)
                            .map(aws_sdk_dynamodb::types::ReturnValue::from),
                    )
                    .send()
                    .await
                    .map_err(|e| service_error("DynamoDB", e.into_service_error()))?;
                Ok(match out.attributes() {
                    Some(a) => json!({"Attributes": from_item(a)}),
                    None => json!({}),
                })
            }
            "deleteItem" => {
                d.delete_item()
                    .table_name(table)
                    .set_key(values(&p, "Key")?)
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(names(&p))
                    .set_expression_attribute_values(values(&p, "ExpressionAttributeValues")?)
                    .send()
                    .await
                    .map_err(|e| service_error("DynamoDB", e.into_service_error()))?;
                Ok(json!({}))
            }
            other => Err(TaskError::task_failed(format!(
                "dynamodb:{other} is not supported locally"
            ))),
        }
    }

    async fn sns(&self, action: &str, p: Value) -> Result<Value, TaskError> {
        if action != "publish" {
            return Err(TaskError::task_failed(format!(
                "sns:{action} is not supported locally"
            )));
        }
        let message = match p.get("Message") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return Err(bad("parameter Message is required")),
        };
        let out = self
            .sns
            .publish()
            .set_topic_arn(p.get("TopicArn").and_then(Value::as_str).map(str::to_owned))
            .set_subject(p.get("Subject").and_then(Value::as_str).map(str::to_owned))
            .message(message)
            .send()
            .await
            .map_err(|e| service_error("SNS", e.into_service_error()))?;
        Ok(json!({"MessageId": out.message_id()}))
    }
}

impl AwsForwarder for SdkForwarder {
    fn call(
        &self,
        service: &str,
        action: &str,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, TaskError>> {
        let (service, action) = (service.to_owned(), action.to_owned());
        Box::pin(async move {
            match service.as_str() {
                "dynamodb" => self.dynamodb(&action, params).await,
                "sns" => self.sns(&action, params).await,
                other => Err(TaskError::task_failed(format!(
                    "{other}:{action} is not supported locally"
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_json_round_trips() {
        let item = json!({"pk": {"S": "a"}, "n": {"N": "1"}, "l": {"L": [{"BOOL": true}, {"NULL": true}]},
                          "m": {"M": {"x": {"SS": ["p", "q"]}}}});
        assert_eq!(from_item(&to_item(&item).unwrap()), item);
        assert!(to_attr(&json!({"S": 1})).is_err());
        assert!(to_attr(&json!({"X": "1"})).is_err());
    }
}
