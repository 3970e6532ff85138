//! The ASL interpreter: walks a compiled [`Definition`], applying input/output processing and
//! Retry/Catch, and records what happens as typed history [`Event`]s.
//!
//! An execution sees only its own record and the narrow [`Services`] handle.

mod fanout;
mod retry;
mod task;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::asl::choice::{self, parse_timestamp};
use crate::asl::context::{rfc3339, Context, ExecutionContext};
use crate::asl::definition::{Definition, Kind, Seconds, State, Text, WaitFor};
use crate::error::{names, TaskError, MAX_PAYLOAD_BYTES};
use crate::runtime::history::{Event, StateType};
use crate::runtime::registry::{ExecutionRecord, ExecutionStatus};
use crate::runtime::services::Services;

/// Runs one execution to its end and records the outcome.
pub(crate) async fn run_execution(
    services: Arc<Services>,
    exec: Arc<ExecutionRecord>,
    def: Arc<Definition>,
    ctx: ExecutionContext,
) {
    let input = ctx.input.clone();
    let run = Run {
        services,
        exec: exec.clone(),
        ctx,
    };
    let mut trail = 1;
    let body = run.machine(&def, input, &mut trail);
    // A standard execution runs for at most a year; then it times out like TimeoutSeconds.
    let limit = def.timeout_seconds.unwrap_or(MAX_EXECUTION_SECONDS);
    let outcome = tokio::time::timeout(Duration::from_secs(limit), body)
        .await
        .ok();
    match outcome {
        Some(Ok(output)) => {
            exec.finish(
                ExecutionStatus::Succeeded,
                Some(output.to_string()),
                None,
                None,
            );
        }
        Some(Err(e)) => {
            exec.finish(ExecutionStatus::Failed, None, Some(e.error), Some(e.cause));
        }
        None => {
            exec.finish(
                ExecutionStatus::TimedOut,
                None,
                Some(names::TIMEOUT.into()),
                Some("The execution ran longer than the state machine's TimeoutSeconds".into()),
            );
        }
    }
}

/// Step Functions' one-year maximum for a standard execution.
const MAX_EXECUTION_SECONDS: u64 = 365 * 24 * 60 * 60;

/// The longest Wait AWS accepts: its delay is kept in a signed 32-bit count of seconds
/// (a Wait 24,855 days away is accepted, 24,856 days fails with "Wait state delay is too long.").
const MAX_WAIT_SECONDS: u64 = i32::MAX as u64;

/// The prefix AWS puts on the cause of every `States.Runtime` failure.
fn decorate(mut e: TaskError, state: &str, entered_event: u64) -> TaskError {
    const HEAD: &str = "An error occurred while executing the state '";
    if e.error == names::RUNTIME && !e.cause.starts_with(HEAD) {
        e.cause = format!(
            "{HEAD}{state}' (entered at the event id #{entered_event}). {}",
            e.cause
        );
    }
    e
}

/// The text AWS shows for a value in a runtime cause: strings bare, the rest as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Run {
    services: Arc<Services>,
    exec: Arc<ExecutionRecord>,
    ctx: ExecutionContext,
}

/// A state's output and the state to go to next (`None`: the machine ends).
type Step = (Value, Option<String>);

/// Resolves a duration given literally or by a path into the effective input.
fn seconds(s: &Seconds, input: &Value, ctx: &Context<'_>, field: &str) -> Result<u64, TaskError> {
    match s {
        Seconds::Fixed(n) => Ok(*n),
        Seconds::Path(p) => {
            let v = p.select_or_invalid(input, ctx)?;
            v.as_u64().ok_or_else(|| {
                TaskError::runtime(format!(
                    "The value of {field} must be a non-negative integer, got {v}"
                ))
            })
        }
    }
}

impl Run {
    fn context<'a>(&'a self, state: &'a State, entered_time: &'a str) -> Context<'a> {
        Context {
            execution: &self.ctx,
            state_name: &state.name,
            entered_time,
            retry_count: match state.kind {
                Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => Some(0),
                _ => None,
            },
            task_token: None,
            map_item: None,
        }
    }

    /// Appends an event after `*trail` and moves the trail to it.
    fn record(&self, trail: &mut u64, event: Event) {
        *trail = self.exec.push(*trail, event);
    }

    /// Result processing shared by Task, Parallel and Map: ResultSelector, ResultPath, OutputPath.
    fn finish_result(
        &self,
        st: &State,
        raw: &Value,
        result: Value,
        ctx: &Context<'_>,
    ) -> Result<Value, TaskError> {
        let result = match &st.result_selector {
            Some(t) => t.eval(&result, ctx)?,
            None => result,
        };
        let merged = st.result_path.apply(raw.clone(), result)?;
        st.output_path.apply(merged, ctx)
    }

    fn machine<'a>(
        &'a self,
        def: &'a Definition,
        input: Value,
        trail: &'a mut u64,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            let mut name = def.start_at.clone();
            let mut input = input;
            loop {
                let state = def
                    .states
                    .get(&name)
                    .ok_or_else(|| TaskError::runtime(format!("State '{name}' does not exist")))?;
                let (output, next) = self.state(state, input, trail).await?;
                match next {
                    Some(n) => {
                        name = n;
                        input = output;
                    }
                    None => return Ok(output),
                }
            }
        })
    }

    async fn state(&self, st: &State, raw: Value, trail: &mut u64) -> Result<Step, TaskError> {
        let entered_time = rfc3339(Utc::now());
        if let Kind::Map(spec) = &st.kind {
            if fanout::stalls(st, spec, &raw, &self.context(st, &entered_time)) {
                // AWS neither enters nor fails a Map whose MaxConcurrencyPath is negative: the
                // execution stays RUNNING until it is stopped or times out.
                return std::future::pending().await;
            }
        }
        let input = raw.to_string();
        if input.len() > MAX_PAYLOAD_BYTES {
            return Err(TaskError::data_limit(&st.name));
        }
        self.record(
            trail,
            Event::StateEntered {
                state: StateType::from(&st.kind),
                name: st.name.clone(),
                input,
            },
        );
        let entered_event = *trail;
        let (output, next) = self
            .state_body(st, raw, &entered_time, trail)
            .await
            .map_err(|e| decorate(e, &st.name, entered_event))?;
        let output_text = output.to_string();
        if output_text.len() > MAX_PAYLOAD_BYTES {
            return Err(TaskError::data_limit(&st.name));
        }
        self.record(
            trail,
            Event::StateExited {
                state: StateType::from(&st.kind),
                name: st.name.clone(),
                output: output_text,
            },
        );
        Ok((output, next))
    }

    /// What a state does between its StateEntered and StateExited events.
    async fn state_body(
        &self,
        st: &State,
        raw: Value,
        entered_time: &str,
        trail: &mut u64,
    ) -> Result<Step, TaskError> {
        let ctx = self.context(st, entered_time);
        let (output, next) = match &st.kind {
            Kind::Pass { result } => {
                let effective = st.input_path.apply(raw.clone(), &ctx)?;
                let effective = match &st.parameters {
                    Some(t) => t.eval(&effective, &ctx)?,
                    None => effective,
                };
                let result = result.clone().unwrap_or(effective);
                let merged = st.result_path.apply(raw, result)?;
                (st.output_path.apply(merged, &ctx)?, st.next.clone())
            }
            Kind::Succeed => {
                let effective = st.input_path.apply(raw, &ctx)?;
                (st.output_path.apply(effective, &ctx)?, None)
            }
            Kind::Fail { error, cause } => {
                // An absent Error/Cause stays absent: the empty string is "not given" all the
                // way to DescribeExecution and the history.
                let text = |t: &Option<Text>, field: &str| -> Result<String, TaskError> {
                    match t {
                        None => Ok(String::new()),
                        Some(Text::Literal(s)) => Ok(s.clone()),
                        Some(Text::Dynamic(tpl)) => match tpl.eval_field(&raw, &ctx, field)? {
                            Value::String(s) => Ok(s),
                            other => Err(TaskError::runtime(format!(
                                "The {field} field must reference a string, got {}",
                                shown(&other)
                            ))),
                        },
                    }
                };
                return Err(TaskError::new(
                    text(error, "ErrorPath")?,
                    text(cause, "CausePath")?,
                ));
            }
            Kind::Choice { choices, default } => {
                let effective = st.input_path.apply(raw, &ctx)?;
                let mut next = None;
                for (rule, target) in choices {
                    if choice::eval(rule, &effective, &ctx)? {
                        next = Some(target.clone());
                        break;
                    }
                }
                let next = next.or_else(|| default.clone()).ok_or_else(|| {
                    TaskError::new(
                        names::NO_CHOICE_MATCHED,
                        format!("No Matches! (state '{}')", st.name),
                    )
                })?;
                (st.output_path.apply(effective, &ctx)?, Some(next))
            }
            Kind::Wait(w) => {
                let effective = st.input_path.apply(raw, &ctx)?;
                tokio::time::sleep(wait_for(w, &effective, &ctx)?).await;
                (st.output_path.apply(effective, &ctx)?, st.next.clone())
            }
            Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
                self.retrying(st, raw, entered_time, trail).await?
            }
        };
        Ok((output, next))
    }
}

/// How long a Wait state waits; a timestamp in the past means not at all. The causes are AWS's.
fn wait_for(w: &WaitFor, effective: &Value, ctx: &Context<'_>) -> Result<Duration, TaskError> {
    let until = |ts: chrono::DateTime<chrono::FixedOffset>| {
        (ts.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    let delay = match w {
        WaitFor::Seconds(n) => Duration::from_secs(*n),
        WaitFor::SecondsPath(p) => {
            let at = |what: &str, v: &Value| {
                TaskError::runtime(format!(
                    "The SecondsPath parameter {what}: {} == {}",
                    p.as_str(),
                    shown(v)
                ))
            };
            let v = p.try_select(effective, ctx).ok_or_else(|| {
                TaskError::runtime(format!(
                    "The SecondsPath parameter does not reference an input value: {}",
                    p.as_str()
                ))
            })?;
            match (v.as_u64(), v.as_i64()) {
                (Some(n), _) => Duration::from_secs(n),
                (None, Some(_)) => return Err(at("references a negative value", &v)),
                (None, None) => return Err(at("cannot be parsed as a long value", &v)),
            }
        }
        WaitFor::Timestamp(ts) => until(*ts),
        WaitFor::TimestampPath(p) => {
            let v = p.try_select(effective, ctx).ok_or_else(|| {
                TaskError::runtime(format!(
                    "The TimestampPath parameter does not reference an input value: {}",
                    p.as_str()
                ))
            })?;
            match v.as_str().and_then(parse_timestamp) {
                Some(ts) => until(ts),
                None => return Err(TaskError::runtime(format!(
                    "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                    p.as_str(),
                    shown(&v)
                ))),
            }
        }
    };
    if delay.as_secs() > MAX_WAIT_SECONDS {
        return Err(TaskError::runtime("Wait state delay is too long."));
    }
    Ok(delay)
}
