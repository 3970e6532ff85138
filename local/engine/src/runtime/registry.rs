//! What the engine keeps in memory: state machines and executions, each execution with its
//! status and history. Nothing here runs an execution; the interpreter writes into records.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::asl::definition::Definition;
use crate::error::{ApiError, ErrorCode};
use crate::runtime::history::{Event, Failure, HistoryEvent};

/// Where the engine pretends to live; it shapes every ARN it hands out.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub region: String,
    pub account_id: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }
}

/// Status of an execution, spelled as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Aborted => "ABORTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "TIMED_OUT" => Self::TimedOut,
            "ABORTED" => Self::Aborted,
            _ => return None,
        })
    }
}

/// A state machine as DescribeStateMachine reports it.
#[derive(Debug, Clone)]
pub struct StateMachineInfo {
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    pub creation_date: DateTime<Utc>,
}

/// An execution as DescribeExecution reports it.
#[derive(Debug, Clone)]
pub struct ExecutionInfo {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub start_date: DateTime<Utc>,
    pub stop_date: Option<DateTime<Utc>>,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

pub(crate) struct StateMachine {
    pub info: StateMachineInfo,
    pub definition: Arc<Definition>,
}

struct ExecState {
    status: ExecutionStatus,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    stop: Option<DateTime<Utc>>,
    events: Vec<HistoryEvent>,
}

/// A running or finished execution.
pub(crate) struct ExecutionRecord {
    pub arn: String,
    pub name: String,
    pub sm_arn: String,
    pub input: String,
    pub start: DateTime<Utc>,
    state: Mutex<ExecState>,
    pub cancel: CancellationToken,
    status_tx: watch::Sender<ExecutionStatus>,
}

impl ExecutionRecord {
    pub fn new(arn: String, name: String, sm_arn: String, input: String) -> Self {
        let (status_tx, _) = watch::channel(ExecutionStatus::Running);
        Self {
            arn,
            name,
            sm_arn,
            input,
            start: Utc::now(),
            state: Mutex::new(ExecState {
                status: ExecutionStatus::Running,
                output: None,
                error: None,
                cause: None,
                stop: None,
                events: Vec::new(),
            }),
            cancel: CancellationToken::new(),
            status_tx,
        }
    }

    /// Appends an event after `prev`; returns its id, or `prev` once the execution closed.
    pub fn push(&self, prev: u64, event: Event) -> u64 {
        let mut st = self.state.lock();
        if st.status != ExecutionStatus::Running {
            return prev;
        }
        let id = st.events.len() as u64 + 1;
        st.events.push(HistoryEvent {
            id,
            previous_event_id: prev,
            timestamp: Utc::now(),
            event,
        });
        id
    }

    /// Closes the execution with its final event; false if it had already closed.
    pub fn finish(
        &self,
        status: ExecutionStatus,
        output: Option<String>,
        error: Option<String>,
        cause: Option<String>,
    ) -> bool {
        let mut st = self.state.lock();
        if st.status != ExecutionStatus::Running {
            return false;
        }
        let error = error.filter(|e| !e.is_empty());
        let cause = cause.filter(|c| !c.is_empty());
        let failure = Failure {
            error: error.clone(),
            cause: cause.clone(),
        };
        let event = match status {
            ExecutionStatus::Succeeded => Event::ExecutionSucceeded {
                output: output.clone(),
            },
            ExecutionStatus::Failed => Event::ExecutionFailed(failure),
            ExecutionStatus::TimedOut => Event::ExecutionTimedOut(failure),
            ExecutionStatus::Aborted | ExecutionStatus::Running => Event::ExecutionAborted(failure),
        };
        let now = Utc::now();
        let id = st.events.len() as u64 + 1;
        st.events.push(HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp: now,
            event,
        });
        st.status = status;
        st.output = output;
        st.error = error;
        st.cause = cause;
        st.stop = Some(now);
        drop(st);
        self.status_tx.send_replace(status);
        true
    }

    pub fn info(&self) -> ExecutionInfo {
        let st = self.state.lock();
        ExecutionInfo {
            arn: self.arn.clone(),
            state_machine_arn: self.sm_arn.clone(),
            name: self.name.clone(),
            status: st.status,
            start_date: self.start,
            stop_date: st.stop,
            input: self.input.clone(),
            output: st.output.clone(),
            error: st.error.clone(),
            cause: st.cause.clone(),
        }
    }

    pub fn status(&self) -> ExecutionStatus {
        self.state.lock().status
    }

    pub fn history(&self) -> Vec<HistoryEvent> {
        self.state.lock().events.clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<ExecutionStatus> {
        self.status_tx.subscribe()
    }
}

/// Machines and executions by ARN.
#[derive(Default)]
pub(crate) struct Registry {
    pub machines: RwLock<HashMap<String, Arc<StateMachine>>>,
    pub executions: RwLock<HashMap<String, Arc<ExecutionRecord>>>,
}

impl Registry {
    pub fn machine(&self, arn: &str) -> Result<Arc<StateMachine>, ApiError> {
        if !arn.starts_with("arn:aws:states:") || !arn.contains(":stateMachine:") {
            return Err(invalid_arn(arn));
        }
        self.machines.read().get(arn).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::StateMachineDoesNotExist,
                format!("State Machine Does Not Exist: '{arn}'"),
            )
        })
    }

    pub fn execution(&self, arn: &str) -> Result<Arc<ExecutionRecord>, ApiError> {
        if !arn.starts_with("arn:aws:states:") || !arn.contains(":execution:") {
            return Err(invalid_arn(arn));
        }
        self.executions.read().get(arn).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ExecutionDoesNotExist,
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })
    }

    pub fn all_executions(&self) -> Vec<Arc<ExecutionRecord>> {
        self.executions.read().values().cloned().collect()
    }
}

fn invalid_arn(arn: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidArn, format!("Invalid Arn: '{arn}'"))
}
