//! The ASL interpreter: walks a compiled [`Definition`], applying input/output processing,
//! Retry/Catch, and writing history events as AWS names them.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use futures::{StreamExt, TryFutureExt};
use rand::Rng;
use serde_json::{json, Value};

use crate::choice;
use crate::definition::{
    error_matches, parse_timestamp, Definition, Kind, MapSpec, Retrier, Seconds, State, Task, Text,
    WaitFor,
};
use crate::engine::{rfc3339, ExecutionRecord, ExecutionStatus, Inner};
use crate::error::{names, TaskError};
use crate::integrations::{Pattern, Resource, TaskRequest};
use crate::paths::{Context, ExecutionContext};

/// Runs one execution to its end and records the outcome.
pub(crate) async fn run_execution(
    inner: Arc<Inner>,
    exec: Arc<ExecutionRecord>,
    def: Arc<Definition>,
    ctx: ExecutionContext,
) {
    let input = ctx.input.clone();
    let run = Run {
        inner,
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
    inner: Arc<Inner>,
    exec: Arc<ExecutionRecord>,
    ctx: ExecutionContext,
}

type Step = (Value, Option<String>);

fn entered(name: &str, input: &Value) -> Option<(&'static str, Value)> {
    Some((
        "stateEnteredEventDetails",
        json!({"name": name, "input": input.to_string(), "inputDetails": {"truncated": false}}),
    ))
}

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
        let ty = st.kind.type_name();
        let entered_time = rfc3339(Utc::now());
        *trail = self
            .exec
            .push(*trail, format!("{ty}StateEntered"), entered(&st.name, &raw));
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
                let until_ts = |s: &str| -> Result<Duration, TaskError> {
                    let ts = parse_timestamp(s).ok_or_else(|| {
                        TaskError::runtime(format!("'{s}' is not an RFC 3339 timestamp"))
                    })?;
                    Ok((ts.with_timezone(&Utc) - Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO))
                };
                let wait = match w {
                    WaitFor::Seconds(n) => Duration::from_secs(*n),
                    WaitFor::SecondsPath(p) => Duration::from_secs(seconds(
                        &Seconds::Path(p.clone()),
                        &effective,
                        &ctx,
                        "SecondsPath",
                    )?),
                    WaitFor::Timestamp(ts) => (ts.with_timezone(&Utc) - Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO),
                    WaitFor::TimestampPath(p) => {
                        match p.select(&effective, &ctx, "TimestampPath")? {
                            Value::String(s) => until_ts(&s)?,
                            other => {
                                return Err(TaskError::runtime(format!(
                                    "TimestampPath must name a string, got {other}"
                                )))
                            }
                        }
                    }
                };
                tokio::time::sleep(wait).await;
                (
                    st.output_path.apply(effective, &ctx, "OutputPath")?,
                    st.next.clone(),
                )
            }
            Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
                self.retrying(st, raw, &entered_time, trail).await?
            }
        };
        *trail = self.exec.push(
            *trail,
            format!("{ty}StateExited"),
            Some(("stateExitedEventDetails", json!({"name": st.name, "output": output.to_string(), "outputDetails": {"truncated": false}}))),
        );
        Ok((output, next))
    }

    /// Runs a Task/Parallel/Map state under its Retry rules, then its Catch rules.
    async fn retrying(
        &self,
        st: &State,
        raw: Value,
        entered_time: &str,
        trail: &mut u64,
    ) -> Result<Step, TaskError> {
        let mut counts = vec![0u32; st.retry.len()];
        let mut retry_count = 0u32;
        loop {
            let attempt = match &st.kind {
                Kind::Task(task) => {
                    self.task(st, task, &raw, retry_count, entered_time, trail)
                        .await
                }
                Kind::Parallel { branches } => {
                    self.parallel(st, branches, &raw, entered_time, trail).await
                }
                Kind::Map(spec) => self.map(st, spec, &raw, entered_time, trail).await,
                _ => Err(TaskError::runtime(
                    "only Task, Parallel and Map states retry",
                )),
            };
            let err = match attempt {
                Ok(out) => return Ok((out, st.next.clone())),
                Err(e) => e,
            };
            if let Some(delay) = retry_delay(&st.retry, &err, &mut counts) {
                tokio::time::sleep(delay).await;
                retry_count += 1;
                continue;
            }
            for c in &st.catch {
                if error_matches(&c.error_equals, &err.error) {
                    let output = c
                        .result_path
                        .apply(raw, json!({"Error": err.error, "Cause": err.cause}))?;
                    return Ok((output, Some(c.next.clone())));
                }
            }
            return Err(err);
        }
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

    async fn task(
        &self,
        st: &State,
        task: &Task,
        raw: &Value,
        retry_count: u32,
        entered_time: &str,
        trail: &mut u64,
    ) -> Result<Value, TaskError> {
        let resource = Resource::parse(&task.resource);
        let base = Context {
            retry_count,
            ..self.context(st, entered_time)
        };
        let effective = st.input_path.apply(raw.clone(), &base, "InputPath")?;
        let (token, mut wait) = match resource.pattern {
            Pattern::WaitForTaskToken => {
                let (t, w) = self.inner.issue_token();
                (Some(t), Some(w))
            }
            _ => (None, None),
        };
        let ctx = Context {
            task_token: token.as_deref(),
            ..base
        };
        let params = match &st.parameters {
            Some(t) => t.eval(&effective, &ctx)?,
            None => effective.clone(),
        };
        let timeout = task
            .timeout
            .as_ref()
            .map(|s| seconds(s, &effective, &ctx, "TimeoutSecondsPath"))
            .transpose()?;
        let heartbeat = task
            .heartbeat
            .as_ref()
            .map(|s| seconds(s, &effective, &ctx, "HeartbeatSecondsPath"))
            .transpose()?;
        let (service, event_resource) = (resource.service.clone(), resource.event_name());
        if resource.direct_lambda {
            *trail = self.exec.push(
                *trail,
                "LambdaFunctionScheduled",
                Some(("lambdaFunctionScheduledEventDetails", json!({"resource": resource.arn, "input": params.to_string(), "inputDetails": {"truncated": false}, "timeoutInSeconds": timeout}))),
            );
            *trail = self.exec.push(*trail, "LambdaFunctionStarted", None);
        } else {
            let mut details = json!({
                "resourceType": service, "resource": event_resource, "region": self.inner.config.region,
                "parameters": params.to_string(),
            });
            if let Some(t) = timeout {
                details["timeoutInSeconds"] = json!(t);
            }
            if let Some(h) = heartbeat {
                details["heartbeatInSeconds"] = json!(h);
            }
            *trail = self.exec.push(
                *trail,
                "TaskScheduled",
                Some(("taskScheduledEventDetails", details)),
            );
            *trail = self.exec.push(
                *trail,
                "TaskStarted",
                Some((
                    "taskStartedEventDetails",
                    json!({"resourceType": service, "resource": event_resource}),
                )),
            );
        }
        let integrations = self.inner.integrations();
        let request = TaskRequest {
            resource: resource.clone(),
            parameters: params,
        };
        let exec = &self.exec;
        let call = async {
            let out = integrations.invoke(request).await?;
            match wait.as_mut() {
                Some(w) => {
                    *trail = exec.push(
                        *trail,
                        "TaskSubmitted",
                        Some(("taskSubmittedEventDetails", json!({"resourceType": service, "resource": event_resource, "output": out.to_string(), "outputDetails": {"truncated": false}}))),
                    );
                    w.wait(heartbeat.map(Duration::from_secs)).await
                }
                None => Ok(out),
            }
        };
        let result = match timeout {
            Some(t) => {
                tokio::time::timeout(Duration::from_secs(t), call)
                    .unwrap_or_else(|_| Err(TaskError::new(names::TIMEOUT, "")))
                    .await
            }
            None => call.await,
        };
        match result {
            Ok(out) => {
                let (event, details) = if resource.direct_lambda {
                    (
                        "LambdaFunctionSucceeded",
                        (
                            "lambdaFunctionSucceededEventDetails",
                            json!({"output": out.to_string(), "outputDetails": {"truncated": false}}),
                        ),
                    )
                } else {
                    (
                        "TaskSucceeded",
                        (
                            "taskSucceededEventDetails",
                            json!({"resourceType": service, "resource": event_resource, "output": out.to_string(), "outputDetails": {"truncated": false}}),
                        ),
                    )
                };
                *trail = self.exec.push(*trail, event, Some(details));
                self.finish_result(st, raw, out, &ctx)
            }
            Err(e) => {
                let timed_out = e.error == names::TIMEOUT || e.error == names::HEARTBEAT_TIMEOUT;
                if timed_out {
                    if let Some(w) = &wait {
                        w.timed_out();
                    }
                }
                let (event, key) = match (resource.direct_lambda, timed_out) {
                    (true, true) => (
                        "LambdaFunctionTimedOut",
                        "lambdaFunctionTimedOutEventDetails",
                    ),
                    (true, false) => ("LambdaFunctionFailed", "lambdaFunctionFailedEventDetails"),
                    (false, true) => ("TaskTimedOut", "taskTimedOutEventDetails"),
                    (false, false) => ("TaskFailed", "taskFailedEventDetails"),
                };
                let mut details = json!({"error": e.error, "cause": e.cause});
                if !resource.direct_lambda {
                    details["resourceType"] = json!(service);
                    details["resource"] = json!(event_resource);
                }
                *trail = self.exec.push(*trail, event, Some((key, details)));
                Err(e)
            }
        }
    }

    async fn parallel(
        &self,
        st: &State,
        branches: &[Arc<Definition>],
        raw: &Value,
        entered_time: &str,
        trail: &mut u64,
    ) -> Result<Value, TaskError> {
        let ctx = self.context(st, entered_time);
        let effective = st.input_path.apply(raw.clone(), &ctx, "InputPath")?;
        let effective = match &st.parameters {
            Some(t) => t.eval(&effective, &ctx)?,
            None => effective,
        };
        *trail = self.exec.push(*trail, "ParallelStateStarted", None);
        let start = *trail;
        let runs = branches.iter().map(|b| {
            let input = effective.clone();
            async move {
                let mut t = start;
                self.machine(b, input, &mut t).await
            }
        });
        match futures::future::try_join_all(runs).await {
            Ok(results) => {
                *trail = self.exec.push(*trail, "ParallelStateSucceeded", None);
                self.finish_result(st, raw, Value::Array(results), &ctx)
            }
            Err(e) => {
                *trail = self.exec.push(
                    *trail,
                    "ParallelStateFailed",
                    Some((
                        "parallelStateFailedEventDetails",
                        json!({"error": e.error, "cause": e.cause}),
                    )),
                );
                Err(e)
            }
        }
    }

    async fn map(
        &self,
        st: &State,
        spec: &MapSpec,
        raw: &Value,
        entered_time: &str,
        trail: &mut u64,
    ) -> Result<Value, TaskError> {
        let ctx = self.context(st, entered_time);
        let effective = st.input_path.apply(raw.clone(), &ctx, "InputPath")?;
        let items = match &spec.items_path {
            Some(p) => p.select(&effective, &ctx, "ItemsPath")?,
            None => effective.clone(),
        };
        let Value::Array(items) = items else {
            return Err(TaskError::runtime(format!(
                "Map state '{}': ItemsPath must select an array, got {items}",
                st.name
            )));
        };
        let total = items.len();
        let limit = match &spec.max_concurrency {
            Some(s) => seconds(s, &effective, &ctx, "MaxConcurrencyPath")?,
            None => 0,
        };
        let limit = if limit == 0 {
            total.max(1)
        } else {
            usize::try_from(limit).unwrap_or(usize::MAX)
        };
        *trail = self.exec.push(
            *trail,
            "MapStateStarted",
            Some(("mapStateStartedEventDetails", json!({"length": total}))),
        );
        let start = *trail;
        let effective = &effective;
        let entered_time = entered_time.to_string();
        let entered_time = &entered_time;
        let iterations = futures::stream::iter(items.into_iter().enumerate())
            .map(|(index, item)| async move {
                let ctx = Context {
                    map_item: Some((index, &item)),
                    ..self.context(st, entered_time)
                };
                let input = match &spec.item_selector {
                    Some(t) => t.eval(effective, &ctx),
                    None => Ok(item.clone()),
                };
                let mut t = start;
                let detail = json!({"name": st.name, "index": index});
                t = self.exec.push(
                    t,
                    "MapIterationStarted",
                    Some(("mapIterationStartedEventDetails", detail.clone())),
                );
                let result = match input {
                    Ok(input) => self.machine(&spec.processor, input, &mut t).await,
                    Err(e) => Err(e),
                };
                let (event, key) = if result.is_ok() {
                    ("MapIterationSucceeded", "mapIterationSucceededEventDetails")
                } else {
                    ("MapIterationFailed", "mapIterationFailedEventDetails")
                };
                self.exec.push(t, event, Some((key, detail)));
                (index, result)
            })
            .buffer_unordered(limit);
        futures::pin_mut!(iterations);
        let tolerant = spec.tolerated_count.is_some() || spec.tolerated_percentage.is_some();
        let mut results = vec![Value::Null; total];
        let mut failed = 0usize;
        let mut outcome = Ok(());
        while let Some((index, r)) = iterations.next().await {
            match r {
                Ok(v) => results[index] = v,
                Err(e) if !tolerant || e.error == names::RUNTIME => {
                    outcome = Err(e);
                    break;
                }
                Err(e) => {
                    failed += 1;
                    results[index] = json!({"Error": e.error, "Cause": e.cause});
                    let over = spec.tolerated_count.is_some_and(|n| failed as u64 > n)
                        || spec
                            .tolerated_percentage
                            .is_some_and(|p| (failed as f64) * 100.0 / (total as f64) > p);
                    if over {
                        outcome = Err(TaskError::new(
                            names::EXCEED_TOLERATED_FAILURE,
                            "The specified tolerated failure threshold was exceeded",
                        ));
                        break;
                    }
                }
            }
        }
        match outcome {
            Ok(()) => {
                *trail = self.exec.push(*trail, "MapStateSucceeded", None);
                self.finish_result(st, raw, Value::Array(results), &ctx)
            }
            Err(e) => {
                *trail = self.exec.push(
                    *trail,
                    "MapStateFailed",
                    Some((
                        "mapStateFailedEventDetails",
                        json!({"error": e.error, "cause": e.cause}),
                    )),
                );
                Err(e)
            }
        }
    }
}

/// The delay before the next attempt, or `None` when no retrier applies or it is exhausted.
fn retry_delay(retriers: &[Retrier], err: &TaskError, counts: &mut [u32]) -> Option<Duration> {
    let (i, r) = retriers
        .iter()
        .enumerate()
        .find(|(_, r)| error_matches(&r.error_equals, &err.error))?;
    let attempt = counts.get_mut(i)?;
    if *attempt >= r.max_attempts {
        return None;
    }
    let mut delay = r.interval_seconds as f64
        * r.backoff_rate
            .powi(i32::try_from(*attempt).unwrap_or(i32::MAX));
    if let Some(max) = r.max_delay_seconds {
        delay = delay.min(max as f64);
    }
    if r.full_jitter {
        delay = rand::thread_rng().gen_range(0.0..=delay);
    }
    *attempt += 1;
    Some(Duration::from_secs_f64(delay.min(86_400.0 * 365.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff() {
        let r = Retrier {
            error_equals: vec!["States.ALL".into()],
            interval_seconds: 1,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: Some(3),
            full_jitter: false,
        };
        let mut counts = vec![0];
        let e = TaskError::new("X", "");
        let d: Vec<_> = (0..4)
            .map(|_| retry_delay(std::slice::from_ref(&r), &e, &mut counts))
            .collect();
        assert_eq!(
            d,
            vec![
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(3)),
                None
            ]
        );
    }
}
