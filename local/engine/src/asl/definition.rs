//! The compiled form of a state machine: what the interpreter walks. Built once from the
//! definition document by the `compile` module; every field here is already validated.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::asl::choice::Rule;
use crate::asl::paths::{IoPath, Path, ResultPath};
use crate::asl::template::Template;
use crate::error::names;

/// A compiled state machine (or a Parallel branch / Map processor).
#[derive(Debug)]
pub struct Definition {
    pub start_at: String,
    pub states: HashMap<String, Arc<State>>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    pub next: Option<String>,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub result_path: ResultPath,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(Task),
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Parallel {
        branches: Vec<Arc<Definition>>,
    },
    Map(MapSpec),
}

#[derive(Debug)]
pub struct Task {
    pub resource: String,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

/// A duration given literally or by a path into the effective input.
#[derive(Debug)]
pub enum Seconds {
    Fixed(u64),
    Path(Path),
}

#[derive(Debug)]
pub enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(Path),
}

/// Fail's Error/Cause: a literal, or (ErrorPath/CausePath) a path or intrinsic function.
#[derive(Debug)]
pub enum Text {
    Literal(String),
    Dynamic(Template),
}

/// A Map setting given literally or (`…Path`) by a path into the effective input.
#[derive(Debug)]
pub enum Setting<T> {
    Fixed(T),
    Path(Path),
}

#[derive(Debug)]
pub struct MapSpec {
    pub items_path: Option<Path>,
    pub item_selector: Option<Template>,
    pub processor: Arc<Definition>,
    pub max_concurrency: Option<Setting<u64>>,
    pub tolerated_count: Option<Setting<u64>>,
    pub tolerated_percentage: Option<Setting<f64>>,
}

#[derive(Debug)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

#[derive(Debug)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
}

/// True when `error` is handled by a Retry/Catch list, with AWS's wildcard rules.
pub fn error_matches(list: &[String], error: &str) -> bool {
    // States.Runtime is never retried or caught, even by States.ALL.
    if error == names::RUNTIME {
        return false;
    }
    // States.DataLimitExceeded is terminal: only a list naming it matches, no wildcard.
    if error == names::DATA_LIMIT_EXCEEDED {
        return list.iter().any(|e| e == error);
    }
    let is_timeout = error == names::TIMEOUT || error == names::HEARTBEAT_TIMEOUT;
    list.iter().any(|e| {
        e == error
            || e == names::ALL
            || (e == names::TASK_FAILED && !is_timeout)
            || (e == names::TIMEOUT && is_timeout)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_rules() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(error_matches(&l(&["States.ALL"]), "Ferry.Transient"));
        assert!(!error_matches(&l(&["States.ALL"]), "States.Runtime"));
        assert!(error_matches(
            &l(&["States.TaskFailed"]),
            "Lambda.ServiceException"
        ));
        assert!(!error_matches(&l(&["States.TaskFailed"]), "States.Timeout"));
        assert!(error_matches(
            &l(&["States.Timeout"]),
            "States.HeartbeatTimeout"
        ));
    }
}
