//! The engine: state machines, executions, their histories and task tokens, all in memory.
//!
//! Every execution runs as one Tokio task; Parallel branches and Map iterations run
//! concurrently inside it. Task tokens park a task on a oneshot channel until
//! SendTaskSuccess/SendTaskFailure (or its timeout) — nothing polls.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::definition::{self, Definition};
use crate::error::{ApiError, ErrorCode, TaskError};
use crate::integrations::{AwsForwarder, BuildRunner, Builtin, Integrations, LambdaFn};
use crate::interpreter;
use crate::paths::ExecutionContext;

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

/// One history event; `details` is the `(<type>EventDetails field name, value)` pair.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    pub event_type: String,
    pub details: Option<(&'static str, Value)>,
}

struct StateMachine {
    info: StateMachineInfo,
    definition: Arc<Definition>,
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
    cancel: CancellationToken,
    status_tx: watch::Sender<ExecutionStatus>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ExecutionRecord {
    /// Appends an event after `prev`; returns its id, or `prev` once the execution closed.
    pub(crate) fn push(
        &self,
        prev: u64,
        event_type: impl Into<String>,
        details: Option<(&'static str, Value)>,
    ) -> u64 {
        let mut st = lock(&self.state);
        if st.status != ExecutionStatus::Running {
            return prev;
        }
        let id = st.events.len() as u64 + 1;
        st.events.push(HistoryEvent {
            id,
            previous_event_id: prev,
            timestamp: Utc::now(),
            event_type: event_type.into(),
            details,
        });
        id
    }

    /// Closes the execution with its final event; false if it had already closed.
    pub(crate) fn finish(
        &self,
        status: ExecutionStatus,
        output: Option<String>,
        error: Option<String>,
        cause: Option<String>,
    ) -> bool {
        let mut st = lock(&self.state);
        if st.status != ExecutionStatus::Running {
            return false;
        }
        let (event_type, details) = match status {
            ExecutionStatus::Succeeded => (
                "ExecutionSucceeded",
                (
                    "executionSucceededEventDetails",
                    json!({"output": output, "outputDetails": {"truncated": false}}),
                ),
            ),
            ExecutionStatus::Failed => (
                "ExecutionFailed",
                (
                    "executionFailedEventDetails",
                    json!({"error": error, "cause": cause}),
                ),
            ),
            ExecutionStatus::TimedOut => (
                "ExecutionTimedOut",
                (
                    "executionTimedOutEventDetails",
                    json!({"error": error, "cause": cause}),
                ),
            ),
            ExecutionStatus::Aborted | ExecutionStatus::Running => (
                "ExecutionAborted",
                (
                    "executionAbortedEventDetails",
                    json!({"error": error, "cause": cause}),
                ),
            ),
        };
        let now = Utc::now();
        let id = st.events.len() as u64 + 1;
        let prev = id - 1;
        st.events.push(HistoryEvent {
            id,
            previous_event_id: prev,
            timestamp: now,
            event_type: event_type.into(),
            details: Some(details),
        });
        st.status = status;
        st.output = output;
        st.error = error.filter(|e| !e.is_empty());
        st.cause = cause.filter(|c| !c.is_empty());
        st.stop = Some(now);
        drop(st);
        self.status_tx.send_replace(status);
        true
    }

    fn info(&self) -> ExecutionInfo {
        let st = lock(&self.state);
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
}

struct TokenSlot {
    tx: oneshot::Sender<Result<Value, TaskError>>,
    heartbeat: Arc<Notify>,
}

/// A parked `.waitForTaskToken` task; dropping it retires the token.
pub(crate) struct TokenWait {
    rx: oneshot::Receiver<Result<Value, TaskError>>,
    heartbeat: Arc<Notify>,
    inner: Weak<Inner>,
    token: String,
}

impl TokenWait {
    /// Waits for SendTaskSuccess/Failure; a heartbeat interval, if any, restarts on each
    /// SendTaskHeartbeat.
    pub(crate) async fn wait(&mut self, heartbeat: Option<Duration>) -> Result<Value, TaskError> {
        loop {
            let beat = async {
                match heartbeat {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = &mut self.rx => {
                    return r.unwrap_or_else(|_| Err(TaskError::task_failed("the task token was withdrawn")));
                }
                _ = self.heartbeat.notified() => continue,
                _ = beat => return Err(TaskError::new(crate::error::names::HEARTBEAT_TIMEOUT, "")),
            }
        }
    }

    /// Remembers the token as timed out so a late SendTask* gets `TaskTimedOut`.
    pub(crate) fn timed_out(&self) {
        if let Some(inner) = self.inner.upgrade() {
            lock(&inner.timed_out_tokens).insert(self.token.clone());
        }
    }
}

impl Drop for TokenWait {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            lock(&inner.tokens).remove(&self.token);
        }
    }
}

pub(crate) struct Inner {
    pub config: EngineConfig,
    machines: RwLock<HashMap<String, Arc<StateMachine>>>,
    executions: RwLock<HashMap<String, Arc<ExecutionRecord>>>,
    tokens: Mutex<HashMap<String, TokenSlot>>,
    timed_out_tokens: Mutex<HashSet<String>>,
    builtin: Arc<Builtin>,
    integrations: RwLock<Arc<dyn Integrations>>,
    tracker: TaskTracker,
    stopping: AtomicBool,
}

impl Inner {
    pub(crate) fn integrations(&self) -> Arc<dyn Integrations> {
        self.integrations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Issues an unguessable single-use token (256 random bits, base64url).
    pub(crate) fn issue_token(self: &Arc<Self>) -> (String, TokenWait) {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let (tx, rx) = oneshot::channel();
        let heartbeat = Arc::new(Notify::new());
        lock(&self.tokens).insert(
            token.clone(),
            TokenSlot {
                tx,
                heartbeat: heartbeat.clone(),
            },
        );
        let wait = TokenWait {
            rx,
            heartbeat,
            inner: Arc::downgrade(self),
            token: token.clone(),
        };
        (token, wait)
    }
}

/// The local Step Functions engine. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

const TOKEN_LEN: usize = 43;

fn validate_name(name: &str, what: &str) -> Result<(), ApiError> {
    let bad = name.is_empty()
        || name.chars().count() > 80
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c));
    if bad {
        return Err(ApiError::new(
            ErrorCode::InvalidName,
            format!("Invalid {what} name: '{name}'"),
        ));
    }
    Ok(())
}

fn invalid_definition(reason: String) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidDefinition,
        format!("Invalid State Machine Definition: '{reason}'"),
    )
}

/// An RFC 3339 timestamp with milliseconds, as the context object shows times.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        let builtin = Arc::new(Builtin::default());
        let integrations: Arc<dyn Integrations> = builtin.clone();
        Self {
            inner: Arc::new(Inner {
                config,
                machines: RwLock::default(),
                executions: RwLock::default(),
                tokens: Mutex::default(),
                timed_out_tokens: Mutex::default(),
                builtin,
                integrations: RwLock::new(integrations),
                tracker: TaskTracker::new(),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Registers an in-process Lambda handler under a function name (no alias/ARN).
    pub fn register_lambda(&self, name: impl Into<String>, f: LambdaFn) {
        self.inner.builtin.register_lambda(name, f);
    }

    pub fn set_build_runner(&self, runner: Arc<dyn BuildRunner>) {
        self.inner.builtin.set_build_runner(runner);
    }

    pub fn set_aws_forwarder(&self, forwarder: Arc<dyn AwsForwarder>) {
        self.inner.builtin.set_aws_forwarder(forwarder);
    }

    /// Replaces the built-in integrations altogether (registered lambdas etc. are bypassed).
    pub fn set_integrations(&self, integrations: Arc<dyn Integrations>) {
        *self
            .inner
            .integrations
            .write()
            .unwrap_or_else(|e| e.into_inner()) = integrations;
    }

    pub fn state_machine_arn(&self, name: &str) -> String {
        let c = &self.inner.config;
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            c.region, c.account_id
        )
    }

    fn machine(&self, arn: &str) -> Result<Arc<StateMachine>, ApiError> {
        if !arn.starts_with("arn:aws:states:") || !arn.contains(":stateMachine:") {
            return Err(ApiError::new(
                ErrorCode::InvalidArn,
                format!("Invalid Arn: '{arn}'"),
            ));
        }
        self.inner
            .machines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::StateMachineDoesNotExist,
                    format!("State Machine Does Not Exist: '{arn}'"),
                )
            })
    }

    fn execution(&self, arn: &str) -> Result<Arc<ExecutionRecord>, ApiError> {
        if !arn.starts_with("arn:aws:states:") || !arn.contains(":execution:") {
            return Err(ApiError::new(
                ErrorCode::InvalidArn,
                format!("Invalid Arn: '{arn}'"),
            ));
        }
        self.inner
            .executions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(arn)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ExecutionDoesNotExist,
                    format!("Execution Does Not Exist: '{arn}'"),
                )
            })
    }

    /// Validates the definition and stores the machine. Re-creating a machine with the same
    /// definition and role returns the existing one (as AWS); anything else is a conflict.
    pub fn create_state_machine(
        &self,
        name: &str,
        definition: &str,
        role_arn: &str,
    ) -> Result<StateMachineInfo, ApiError> {
        validate_name(name, "state machine")?;
        let def = definition::parse(definition).map_err(invalid_definition)?;
        let arn = self.state_machine_arn(name);
        let mut machines = self
            .inner
            .machines
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = machines.get(&arn) {
            if existing.info.definition == definition && existing.info.role_arn == role_arn {
                return Ok(existing.info.clone());
            }
            return Err(ApiError::new(
                ErrorCode::StateMachineAlreadyExists,
                format!("State Machine Already Exists: '{arn}'"),
            ));
        }
        let info = StateMachineInfo {
            arn: arn.clone(),
            name: name.to_string(),
            definition: definition.to_string(),
            role_arn: role_arn.to_string(),
            creation_date: Utc::now(),
        };
        machines.insert(
            arn,
            Arc::new(StateMachine {
                info: info.clone(),
                definition: def,
            }),
        );
        Ok(info)
    }

    /// Replaces definition and/or role; running executions keep the definition they started with.
    pub fn update_state_machine(
        &self,
        arn: &str,
        definition: Option<&str>,
        role_arn: Option<&str>,
    ) -> Result<DateTime<Utc>, ApiError> {
        if definition.is_none() && role_arn.is_none() {
            return Err(ApiError::new(
                ErrorCode::ValidationException,
                "Either definition or roleArn must be given",
            ));
        }
        let current = self.machine(arn)?;
        let mut info = current.info.clone();
        let mut def = current.definition.clone();
        if let Some(src) = definition {
            def = definition::parse(src).map_err(invalid_definition)?;
            info.definition = src.to_string();
        }
        if let Some(r) = role_arn {
            info.role_arn = r.to_string();
        }
        self.inner
            .machines
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                arn.to_string(),
                Arc::new(StateMachine {
                    info,
                    definition: def,
                }),
            );
        Ok(Utc::now())
    }

    pub fn describe_state_machine(&self, arn: &str) -> Result<StateMachineInfo, ApiError> {
        Ok(self.machine(arn)?.info.clone())
    }

    /// All machines, oldest first.
    pub fn list_state_machines(&self) -> Vec<StateMachineInfo> {
        let mut out: Vec<StateMachineInfo> = self
            .inner
            .machines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|m| m.info.clone())
            .collect();
        out.sort_by(|a, b| (a.creation_date, &a.name).cmp(&(b.creation_date, &b.name)));
        out
    }

    /// Deletes a machine; its executions keep running to the end, as in AWS.
    pub fn delete_state_machine(&self, arn: &str) -> Result<(), ApiError> {
        self.machine(arn)?;
        self.inner
            .machines
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(arn);
        Ok(())
    }

    /// Starts an execution (must be called inside a Tokio runtime). A repeated name with the
    /// same input while the first is running returns the first, as AWS does.
    pub fn start_execution(
        &self,
        state_machine_arn: &str,
        name: Option<&str>,
        input: Option<&str>,
    ) -> Result<ExecutionInfo, ApiError> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(ApiError::new(
                ErrorCode::InternalFailure,
                "The engine is stopping",
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ApiError::new(
                ErrorCode::InternalFailure,
                "start_execution needs a Tokio runtime",
            )
        })?;
        let machine = self.machine(state_machine_arn)?;
        let name = match name {
            Some(n) => {
                validate_name(n, "execution")?;
                n.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let input = input.unwrap_or("{}");
        let input_value: Value = serde_json::from_str(input).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidExecutionInput,
                format!("Invalid State Machine Execution Input: '{e}'"),
            )
        })?;
        let c = &self.inner.config;
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            c.region, c.account_id, machine.info.name
        );
        let mut executions = self
            .inner
            .executions
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = executions.get(&arn) {
            let info = existing.info();
            if info.status == ExecutionStatus::Running && info.input == input {
                return Ok(info);
            }
            return Err(ApiError::new(
                ErrorCode::ExecutionAlreadyExists,
                format!("Execution Already Exists: '{arn}'"),
            ));
        }
        let start = Utc::now();
        let (status_tx, _) = watch::channel(ExecutionStatus::Running);
        let record = Arc::new(ExecutionRecord {
            arn: arn.clone(),
            name: name.clone(),
            sm_arn: machine.info.arn.clone(),
            input: input.to_string(),
            start,
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
        });
        record.push(
            0,
            "ExecutionStarted",
            Some(("executionStartedEventDetails", json!({"input": input, "inputDetails": {"truncated": false}, "roleArn": machine.info.role_arn}))),
        );
        executions.insert(arn.clone(), record.clone());
        drop(executions);
        let ctx = ExecutionContext {
            id: arn,
            name,
            input: input_value,
            start_time: rfc3339(start),
            role_arn: machine.info.role_arn.clone(),
            state_machine_id: machine.info.arn.clone(),
            state_machine_name: machine.info.name.clone(),
        };
        let info = record.info();
        let cancel = record.cancel.clone();
        let run =
            interpreter::run_execution(self.inner.clone(), record, machine.definition.clone(), ctx);
        let _guard = runtime.enter();
        self.inner.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = run => {}
            }
        });
        Ok(info)
    }

    pub fn describe_execution(&self, arn: &str) -> Result<ExecutionInfo, ApiError> {
        Ok(self.execution(arn)?.info())
    }

    /// Executions of one machine, newest first, optionally filtered by status.
    pub fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionInfo>, ApiError> {
        if !self
            .inner
            .machines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(state_machine_arn)
        {
            self.machine(state_machine_arn)?;
        }
        let mut out: Vec<ExecutionInfo> = self
            .inner
            .executions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| e.sm_arn == state_machine_arn)
            .map(|e| e.info())
            .filter(|i| status.is_none_or(|s| i.status == s))
            .collect();
        out.sort_by(|a, b| (b.start_date, &b.name).cmp(&(a.start_date, &a.name)));
        Ok(out)
    }

    pub fn execution_history(&self, arn: &str) -> Result<Vec<HistoryEvent>, ApiError> {
        let exec = self.execution(arn)?;
        let events = lock(&exec.state).events.clone();
        Ok(events)
    }

    /// Stops a running execution: ExecutionAborted, and everything it was doing is dropped.
    pub fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<DateTime<Utc>, ApiError> {
        let exec = self.execution(arn)?;
        exec.finish(ExecutionStatus::Aborted, None, error, cause);
        exec.cancel.cancel();
        Ok(exec.info().stop_date.unwrap_or_else(Utc::now))
    }

    fn take_token(&self, token: &str) -> Result<TokenSlot, ApiError> {
        if token.is_empty() || token.len() > 2048 {
            return Err(ApiError::new(
                ErrorCode::ValidationException,
                "taskToken must be 1..2048 characters",
            ));
        }
        let well_formed = token.len() == TOKEN_LEN
            && base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .is_ok_and(|b| b.len() == 32);
        if !well_formed {
            return Err(ApiError::new(
                ErrorCode::InvalidToken,
                "Invalid Token: 'not a task token issued by this engine'",
            ));
        }
        if let Some(slot) = lock(&self.inner.tokens).remove(token) {
            return Ok(slot);
        }
        if lock(&self.inner.timed_out_tokens).contains(token) {
            return Err(ApiError::new(ErrorCode::TaskTimedOut, "Task Timed Out"));
        }
        Err(ApiError::new(
            ErrorCode::TaskDoesNotExist,
            "Task Does Not Exist",
        ))
    }

    pub fn send_task_success(&self, token: &str, output: &str) -> Result<(), ApiError> {
        let value: Value = serde_json::from_str(output).map_err(|e| {
            ApiError::new(ErrorCode::InvalidOutput, format!("Invalid Output: '{e}'"))
        })?;
        let slot = self.take_token(token)?;
        // A receiver gone means the task finished meanwhile (stopped, timed out).
        slot.tx
            .send(Ok(value))
            .map_err(|_| ApiError::new(ErrorCode::TaskDoesNotExist, "Task Does Not Exist"))
    }

    pub fn send_task_failure(
        &self,
        token: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), ApiError> {
        let slot = self.take_token(token)?;
        slot.tx
            .send(Err(TaskError::new(
                error.unwrap_or_default(),
                cause.unwrap_or_default(),
            )))
            .map_err(|_| ApiError::new(ErrorCode::TaskDoesNotExist, "Task Does Not Exist"))
    }

    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), ApiError> {
        if token.len() != TOKEN_LEN {
            return Err(ApiError::new(ErrorCode::InvalidToken, "Invalid Token"));
        }
        let tokens = lock(&self.inner.tokens);
        match tokens.get(token) {
            Some(slot) => {
                slot.heartbeat.notify_one();
                Ok(())
            }
            None => Err(ApiError::new(
                ErrorCode::TaskDoesNotExist,
                "Task Does Not Exist",
            )),
        }
    }

    /// Waits until the execution is no longer RUNNING, or `timeout` passes.
    pub async fn wait_for_execution(
        &self,
        arn: &str,
        timeout: Duration,
    ) -> Result<ExecutionInfo, ApiError> {
        let exec = self.execution(arn)?;
        let mut rx = exec.status_tx.subscribe();
        let done =
            tokio::time::timeout(timeout, rx.wait_for(|s| *s != ExecutionStatus::Running)).await;
        match done {
            Ok(_) => Ok(exec.info()),
            Err(_) => Err(ApiError::new(
                ErrorCode::ValidationException,
                format!("Execution still running after {timeout:?}"),
            )),
        }
    }

    /// Graceful stop: refuses new executions, aborts running ones (with ExecutionAborted
    /// events) and waits for their tasks to end. History stays readable afterwards.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let running: Vec<Arc<ExecutionRecord>> = self
            .inner
            .executions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for exec in running {
            if exec.finish(
                ExecutionStatus::Aborted,
                None,
                Some("Ferry.EngineStopped".into()),
                Some("The local engine stopped while the execution was running".into()),
            ) {
                tracing::info!(execution = %exec.arn, "aborted by shutdown");
            }
            exec.cancel.cancel();
        }
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }

    /// Number of executions currently RUNNING.
    pub fn running_executions(&self) -> usize {
        self.inner
            .executions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| lock(&e.state).status == ExecutionStatus::Running)
            .count()
    }
}
