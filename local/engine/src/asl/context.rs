//! The context object (`$$`): what an execution and the current state expose to paths and
//! intrinsic functions.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// What a `$$` path sees: built only when a definition actually reads the context object.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub execution: &'a ExecutionContext,
    pub state_name: &'a str,
    pub entered_time: &'a str,
    /// `$$.State.RetryCount`: AWS shows it only in states that can retry (Task, Parallel, Map).
    pub retry_count: Option<u32>,
    pub task_token: Option<&'a str>,
    pub map_item: Option<(usize, &'a Value)>,
}

/// The per-execution part of the context object.
#[derive(Debug, Clone)]
pub struct ExecutionContext {
    pub id: String,
    pub name: String,
    pub input: Value,
    pub start_time: String,
    pub role_arn: String,
    pub state_machine_id: String,
    pub state_machine_name: String,
}

impl Context<'_> {
    pub fn to_value(self) -> Value {
        let e = self.execution;
        let mut ctx = json!({
            "Execution": {
                "Id": e.id, "Name": e.name, "Input": e.input, "StartTime": e.start_time,
                "RoleArn": e.role_arn, "RedriveCount": 0,
            },
            "StateMachine": {"Id": e.state_machine_id, "Name": e.state_machine_name},
            "State": {"Name": self.state_name, "EnteredTime": self.entered_time},
        });
        if let Some(n) = self.retry_count {
            ctx["State"]["RetryCount"] = json!(n);
        }
        if let Some(token) = self.task_token {
            ctx["Task"] = json!({ "Token": token });
        }
        if let Some((index, value)) = self.map_item {
            ctx["Map"] = json!({"Item": {"Index": index, "Value": value}});
        }
        ctx
    }
}

/// An RFC 3339 timestamp with milliseconds, as the context object shows times.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A context for unit tests of paths and templates.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Context, ExecutionContext};
    use serde_json::json;

    pub fn exec() -> ExecutionContext {
        ExecutionContext {
            id: "arn:exec".into(),
            name: "e".into(),
            input: json!({}),
            start_time: "2024-01-01T00:00:00.000Z".into(),
            role_arn: "r".into(),
            state_machine_id: "arn:sm".into(),
            state_machine_name: "sm".into(),
        }
    }

    pub fn ctx(e: &ExecutionContext) -> Context<'_> {
        Context {
            execution: e,
            state_name: "S",
            entered_time: "t",
            retry_count: Some(0),
            task_token: Some("tok"),
            map_item: None,
        }
    }
}
