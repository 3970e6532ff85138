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
use crate::error::{names, TaskError};
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
    let outcome = match def.timeout_seconds {
        Some(t) => tokio::time::timeout(Duration::from_secs(t), body)
            .await
            .ok(),
        None => Some(body.await),
    };
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
            let v = p.select(input, ctx, field)?;
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
            retry_count: 0,
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
        st.output_path.apply(merged, ctx, "OutputPath")
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
        let state_type = StateType::from(&st.kind);
        let entered_time = rfc3339(Utc::now());
        self.record(
            trail,
            Event::StateEntered {
                state: state_type,
                name: st.name.clone(),
                input: raw.to_string(),
            },
        );
        let ctx = self.context(st, &entered_time);
        let (output, next) = match &st.kind {
            Kind::Pass { result } => {
                let effective = st.input_path.apply(raw.clone(), &ctx, "InputPath")?;
                let effective = match &st.parameters {
                    Some(t) => t.eval(&effective, &ctx)?,
                    None => effective,
                };
                let result = result.clone().unwrap_or(effective);
                let merged = st.result_path.apply(raw, result)?;
                (
                    st.output_path.apply(merged, &ctx, "OutputPath")?,
                    st.next.clone(),
                )
            }
            Kind::Succeed => {
                let effective = st.input_path.apply(raw, &ctx, "InputPath")?;
                (st.output_path.apply(effective, &ctx, "OutputPath")?, None)
            }
            Kind::Fail { error, cause } => {
                let text = |t: &Option<Text>| -> Result<String, TaskError> {
                    match t {
                        None => Ok(String::new()),
                        Some(Text::Literal(s)) => Ok(s.clone()),
                        Some(Text::Dynamic(tpl)) => match tpl.eval(&raw, &ctx)? {
                            Value::String(s) => Ok(s),
                            other => Err(TaskError::runtime(format!(
                                "ErrorPath/CausePath must name a string, got {other}"
                            ))),
                        },
                    }
                };
                return Err(TaskError::new(text(error)?, text(cause)?));
            }
            Kind::Choice { choices, default } => {
                let effective = st.input_path.apply(raw, &ctx, "InputPath")?;
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
                (
                    st.output_path.apply(effective, &ctx, "OutputPath")?,
                    Some(next),
                )
            }
            Kind::Wait(w) => {
                let effective = st.input_path.apply(raw, &ctx, "InputPath")?;
                tokio::time::sleep(wait_for(w, &effective, &ctx)?).await;
                (
                    st.output_path.apply(effective, &ctx, "OutputPath")?,
                    st.next.clone(),
                )
            }
            Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
                self.retrying(st, raw, &entered_time, trail).await?
            }
        };
        self.record(
            trail,
            Event::StateExited {
                state: state_type,
                name: st.name.clone(),
                output: output.to_string(),
            },
        );
        Ok((output, next))
    }
}

/// How long a Wait state waits; a timestamp in the past means not at all.
fn wait_for(w: &WaitFor, effective: &Value, ctx: &Context<'_>) -> Result<Duration, TaskError> {
    let until = |ts: chrono::DateTime<chrono::FixedOffset>| {
        (ts.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Ok(match w {
        WaitFor::Seconds(n) => Duration::from_secs(*n),
        WaitFor::SecondsPath(p) => Duration::from_secs(seconds(
            &Seconds::Path(p.clone()),
            effective,
            ctx,
            "SecondsPath",
        )?),
        WaitFor::Timestamp(ts) => until(*ts),
        WaitFor::TimestampPath(p) => match p.select(effective, ctx, "TimestampPath")? {
            Value::String(s) => until(parse_timestamp(&s).ok_or_else(|| {
                TaskError::runtime(format!("'{s}' is not an RFC 3339 timestamp"))
            })?),
            other => {
                return Err(TaskError::runtime(format!(
                    "TimestampPath must name a string, got {other}"
                )))
            }
        },
    })
}
