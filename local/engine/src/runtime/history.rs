//! Execution history: one typed [`Event`] per thing that happened, and the one place that maps
//! each event to the `type` and `<type>EventDetails` GetExecutionHistory returns.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::asl::definition::Kind;

/// An error and its cause as history details show them (absent parts are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl Failure {
    /// An empty error or cause is an absent one (a Fail state without `Cause` has none).
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        let given = |s: String| Some(s).filter(|s| !s.is_empty());
        Self {
            error: given(error.into()),
            cause: given(cause.into()),
        }
    }
}

/// What a Task event names: the service (`lambda`, `codebuild`, …) and the resource as
/// Step Functions spells it (`invoke.waitForTaskToken`, `startBuild.sync`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTarget {
    pub resource_type: String,
    pub resource: String,
}

/// The state type whose StateEntered/StateExited events these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateType {
    Pass,
    Task,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
}

impl From<&Kind> for StateType {
    fn from(kind: &Kind) -> Self {
        match kind {
            Kind::Pass { .. } => Self::Pass,
            Kind::Task(_) => Self::Task,
            Kind::Choice { .. } => Self::Choice,
            Kind::Wait(_) => Self::Wait,
            Kind::Succeed => Self::Succeed,
            Kind::Fail { .. } => Self::Fail,
            Kind::Parallel { .. } => Self::Parallel,
            Kind::Map(_) => Self::Map,
        }
    }
}

/// One history event, as the interpreter records it. Inputs and outputs are JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ExecutionStarted {
        input: String,
        role_arn: String,
    },
    ExecutionSucceeded {
        output: Option<String>,
    },
    ExecutionFailed(Failure),
    ExecutionTimedOut(Failure),
    ExecutionAborted(Failure),
    StateEntered {
        state: StateType,
        name: String,
        input: String,
    },
    StateExited {
        state: StateType,
        name: String,
        output: String,
    },
    LambdaFunctionScheduled {
        resource: String,
        input: String,
        timeout: Option<u64>,
    },
    LambdaFunctionStarted,
    LambdaFunctionSucceeded {
        output: String,
    },
    LambdaFunctionFailed(Failure),
    LambdaFunctionTimedOut(Failure),
    TaskScheduled {
        target: TaskTarget,
        region: String,
        parameters: String,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    },
    TaskStarted(TaskTarget),
    TaskSubmitted {
        target: TaskTarget,
        output: String,
    },
    TaskSucceeded {
        target: TaskTarget,
        output: String,
    },
    TaskFailed {
        target: TaskTarget,
        failure: Failure,
    },
    TaskTimedOut {
        target: TaskTarget,
        failure: Failure,
    },
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed(Failure),
    MapStateStarted {
        length: usize,
    },
    MapStateSucceeded,
    MapStateFailed(Failure),
    MapIterationStarted {
        name: String,
        index: usize,
    },
    MapIterationSucceeded {
        name: String,
        index: usize,
    },
    MapIterationFailed {
        name: String,
        index: usize,
    },
}

/// A recorded event with its place in the history.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    pub event: Event,
}

fn not_truncated() -> Value {
    json!({"truncated": false})
}

fn failure(f: &Failure) -> Value {
    json!({"error": f.error, "cause": f.cause})
}

fn task_failure(t: &TaskTarget, f: &Failure) -> Value {
    json!({"resourceType": t.resource_type, "resource": t.resource, "error": f.error, "cause": f.cause})
}

impl HistoryEvent {
    /// The event's `type`, e.g. `TaskSubmitted`.
    pub fn event_type(&self) -> &'static str {
        use StateType as S;
        match &self.event {
            Event::ExecutionStarted { .. } => "ExecutionStarted",
            Event::ExecutionSucceeded { .. } => "ExecutionSucceeded",
            Event::ExecutionFailed(_) => "ExecutionFailed",
            Event::ExecutionTimedOut(_) => "ExecutionTimedOut",
            Event::ExecutionAborted(_) => "ExecutionAborted",
            Event::StateEntered { state, .. } => match state {
                S::Pass => "PassStateEntered",
                S::Task => "TaskStateEntered",
                S::Choice => "ChoiceStateEntered",
                S::Wait => "WaitStateEntered",
                S::Succeed => "SucceedStateEntered",
                S::Fail => "FailStateEntered",
                S::Parallel => "ParallelStateEntered",
                S::Map => "MapStateEntered",
            },
            Event::StateExited { state, .. } => match state {
                S::Pass => "PassStateExited",
                S::Task => "TaskStateExited",
                S::Choice => "ChoiceStateExited",
                S::Wait => "WaitStateExited",
                S::Succeed => "SucceedStateExited",
                S::Fail => "FailStateExited",
                S::Parallel => "ParallelStateExited",
                S::Map => "MapStateExited",
            },
            Event::LambdaFunctionScheduled { .. } => "LambdaFunctionScheduled",
            Event::LambdaFunctionStarted => "LambdaFunctionStarted",
            Event::LambdaFunctionSucceeded { .. } => "LambdaFunctionSucceeded",
            Event::LambdaFunctionFailed(_) => "LambdaFunctionFailed",
            Event::LambdaFunctionTimedOut(_) => "LambdaFunctionTimedOut",
            Event::TaskScheduled { .. } => "TaskScheduled",
            Event::TaskStarted(_) => "TaskStarted",
            Event::TaskSubmitted { .. } => "TaskSubmitted",
            Event::TaskSucceeded { .. } => "TaskSucceeded",
            Event::TaskFailed { .. } => "TaskFailed",
            Event::TaskTimedOut { .. } => "TaskTimedOut",
            Event::ParallelStateStarted => "ParallelStateStarted",
            Event::ParallelStateSucceeded => "ParallelStateSucceeded",
            Event::ParallelStateFailed(_) => "ParallelStateFailed",
            Event::MapStateStarted { .. } => "MapStateStarted",
            Event::MapStateSucceeded => "MapStateSucceeded",
            Event::MapStateFailed(_) => "MapStateFailed",
            Event::MapIterationStarted { .. } => "MapIterationStarted",
            Event::MapIterationSucceeded { .. } => "MapIterationSucceeded",
            Event::MapIterationFailed { .. } => "MapIterationFailed",
        }
    }

    /// The `(<type>EventDetails member, value)` pair, if the event type has details. `null`
    /// members stand for absent ones; the API leaves them out.
    pub fn details(&self) -> Option<(&'static str, Value)> {
        Some(match &self.event {
            Event::ExecutionStarted { input, role_arn } => (
                "executionStartedEventDetails",
                json!({"input": input, "inputDetails": not_truncated(), "roleArn": role_arn}),
            ),
            Event::ExecutionSucceeded { output } => (
                "executionSucceededEventDetails",
                json!({"output": output, "outputDetails": not_truncated()}),
            ),
            Event::ExecutionFailed(f) => ("executionFailedEventDetails", failure(f)),
            Event::ExecutionTimedOut(f) => ("executionTimedOutEventDetails", failure(f)),
            Event::ExecutionAborted(f) => ("executionAbortedEventDetails", failure(f)),
            Event::StateEntered { name, input, .. } => (
                "stateEnteredEventDetails",
                json!({"name": name, "input": input, "inputDetails": not_truncated()}),
            ),
            Event::StateExited { name, output, .. } => (
                "stateExitedEventDetails",
                json!({"name": name, "output": output, "outputDetails": not_truncated()}),
            ),
            Event::LambdaFunctionScheduled {
                resource,
                input,
                timeout,
            } => (
                "lambdaFunctionScheduledEventDetails",
                json!({"resource": resource, "input": input, "inputDetails": not_truncated(), "timeoutInSeconds": timeout}),
            ),
            Event::LambdaFunctionSucceeded { output } => (
                "lambdaFunctionSucceededEventDetails",
                json!({"output": output, "outputDetails": not_truncated()}),
            ),
            Event::LambdaFunctionFailed(f) => ("lambdaFunctionFailedEventDetails", failure(f)),
            Event::LambdaFunctionTimedOut(f) => ("lambdaFunctionTimedOutEventDetails", failure(f)),
            Event::TaskScheduled {
                target,
                region,
                parameters,
                timeout,
                heartbeat,
            } => (
                "taskScheduledEventDetails",
                json!({
                    "resourceType": target.resource_type, "resource": target.resource,
                    "region": region, "parameters": parameters,
                    "timeoutInSeconds": timeout, "heartbeatInSeconds": heartbeat,
                }),
            ),
            Event::TaskStarted(t) => (
                "taskStartedEventDetails",
                json!({"resourceType": t.resource_type, "resource": t.resource}),
            ),
            Event::TaskSubmitted { target, output } => (
                "taskSubmittedEventDetails",
                json!({"resourceType": target.resource_type, "resource": target.resource, "output": output, "outputDetails": not_truncated()}),
            ),
            Event::TaskSucceeded { target, output } => (
                "taskSucceededEventDetails",
                json!({"resourceType": target.resource_type, "resource": target.resource, "output": output, "outputDetails": not_truncated()}),
            ),
            Event::TaskFailed { target, failure } => {
                ("taskFailedEventDetails", task_failure(target, failure))
            }
            Event::TaskTimedOut { target, failure } => {
                ("taskTimedOutEventDetails", task_failure(target, failure))
            }
            Event::ParallelStateFailed(f) => ("parallelStateFailedEventDetails", failure(f)),
            Event::MapStateStarted { length } => {
                ("mapStateStartedEventDetails", json!({"length": length}))
            }
            Event::MapStateFailed(f) => ("mapStateFailedEventDetails", failure(f)),
            Event::MapIterationStarted { name, index } => (
                "mapIterationStartedEventDetails",
                json!({"name": name, "index": index}),
            ),
            Event::MapIterationSucceeded { name, index } => (
                "mapIterationSucceededEventDetails",
                json!({"name": name, "index": index}),
            ),
            Event::MapIterationFailed { name, index } => (
                "mapIterationFailedEventDetails",
                json!({"name": name, "index": index}),
            ),
            Event::LambdaFunctionStarted
            | Event::ParallelStateStarted
            | Event::ParallelStateSucceeded
            | Event::MapStateSucceeded => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(event: Event) -> HistoryEvent {
        HistoryEvent {
            id: 1,
            previous_event_id: 0,
            timestamp: Utc::now(),
            event,
        }
    }

    #[test]
    fn events_map_to_aws_names() {
        let e = at(Event::StateEntered {
            state: StateType::Map,
            name: "M".into(),
            input: "{}".into(),
        });
        assert_eq!(e.event_type(), "MapStateEntered");
        let (key, details) = e.details().expect("details");
        assert_eq!(key, "stateEnteredEventDetails");
        assert_eq!(details["inputDetails"]["truncated"], false);
        let e = at(Event::TaskFailed {
            target: TaskTarget {
                resource_type: "lambda".into(),
                resource: "invoke".into(),
            },
            failure: Failure::new("E", "C"),
        });
        assert_eq!(e.event_type(), "TaskFailed");
        assert_eq!(
            e.details().map(|(_, d)| d),
            Some(
                json!({"resourceType": "lambda", "resource": "invoke", "error": "E", "cause": "C"})
            )
        );
        assert!(at(Event::ParallelStateStarted).details().is_none());
    }
}
