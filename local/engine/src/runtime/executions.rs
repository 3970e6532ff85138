//! The execution half of the engine's API: start, describe, list, history, stop, the
//! SendTask* callbacks, and the graceful shutdown that aborts whatever still runs.
//!
//! Every execution runs as one Tokio task; Parallel branches and Map iterations run
//! concurrently inside it. Task tokens park a task on a oneshot channel until
//! SendTaskSuccess/SendTaskFailure (or its timeout) — nothing polls.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::asl::context::{rfc3339, ExecutionContext};
use crate::error::{ApiError, ErrorCode, TaskError, MAX_PAYLOAD_BYTES};
use crate::runtime::engine::{validate_name, Engine};
use crate::runtime::history::{Event, HistoryEvent};
use crate::runtime::interpreter;
use crate::runtime::registry::{ExecutionInfo, ExecutionRecord, ExecutionStatus};

impl Engine {
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
        let machine = self.inner.registry.machine(state_machine_arn)?;
        let name = match name {
            Some(n) => {
                validate_name(n, "execution")?;
                n.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let input = input.unwrap_or("{}");
        if input.len() > MAX_PAYLOAD_BYTES {
            return Err(ApiError::new(
                ErrorCode::ValidationException,
                format!("1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to {MAX_PAYLOAD_BYTES}"),
            ));
        }
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
        let mut executions = self.inner.registry.executions.write();
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
        let record = Arc::new(ExecutionRecord::new(
            arn.clone(),
            name.clone(),
            machine.info.arn.clone(),
            input.to_string(),
        ));
        record.push(
            0,
            Event::ExecutionStarted {
                input: input.to_string(),
                role_arn: machine.info.role_arn.clone(),
            },
        );
        executions.insert(arn.clone(), record.clone());
        drop(executions);
        let ctx = ExecutionContext {
            id: arn,
            name,
            input: input_value,
            start_time: rfc3339(record.start),
            role_arn: machine.info.role_arn.clone(),
            state_machine_id: machine.info.arn.clone(),
            state_machine_name: machine.info.name.clone(),
        };
        let info = record.info();
        let cancel = record.cancel.clone();
        let run = interpreter::run_execution(
            self.inner.services.clone(),
            record,
            machine.definition.clone(),
            ctx,
        );
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
        Ok(self.inner.registry.execution(arn)?.info())
    }

    /// Executions of one machine, newest first, optionally filtered by status.
    pub fn list_executions(
        &self,
        state_machine_arn: &str,
        status: Option<ExecutionStatus>,
    ) -> Result<Vec<ExecutionInfo>, ApiError> {
        let registry = &self.inner.registry;
        if !registry.machines.read().contains_key(state_machine_arn) {
            registry.machine(state_machine_arn)?;
        }
        let mut out: Vec<ExecutionInfo> = registry
            .all_executions()
            .iter()
            .filter(|e| e.sm_arn == state_machine_arn)
            .map(|e| e.info())
            .filter(|i| status.is_none_or(|s| i.status == s))
            .collect();
        out.sort_by(|a, b| (b.start_date, &b.name).cmp(&(a.start_date, &a.name)));
        Ok(out)
    }

    pub fn execution_history(&self, arn: &str) -> Result<Vec<HistoryEvent>, ApiError> {
        Ok(self.inner.registry.execution(arn)?.history())
    }

    /// Stops a running execution: ExecutionAborted, and everything it was doing is dropped.
    pub fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<DateTime<Utc>, ApiError> {
        let exec = self.inner.registry.execution(arn)?;
        exec.finish(ExecutionStatus::Aborted, None, error, cause);
        exec.cancel.cancel();
        Ok(exec.info().stop_date.unwrap_or_else(Utc::now))
    }

    pub fn send_task_success(&self, token: &str, output: &str) -> Result<(), ApiError> {
        let value: Value = serde_json::from_str(output).map_err(|e| {
            ApiError::new(ErrorCode::InvalidOutput, format!("Invalid Output: '{e}'"))
        })?;
        self.inner.services.tokens.complete(token, Ok(value))
    }

    pub fn send_task_failure(
        &self,
        token: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), ApiError> {
        let failure = TaskError::new(error.unwrap_or_default(), cause.unwrap_or_default());
        self.inner.services.tokens.complete(token, Err(failure))
    }

    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), ApiError> {
        self.inner.services.tokens.heartbeat(token)
    }

    /// Waits until the execution is no longer RUNNING, or `timeout` passes.
    pub async fn wait_for_execution(
        &self,
        arn: &str,
        timeout: Duration,
    ) -> Result<ExecutionInfo, ApiError> {
        let exec = self.inner.registry.execution(arn)?;
        let mut rx = exec.subscribe();
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
        for exec in self.inner.registry.all_executions() {
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
            .registry
            .all_executions()
            .iter()
            .filter(|e| e.status() == ExecutionStatus::Running)
            .count()
    }
}
