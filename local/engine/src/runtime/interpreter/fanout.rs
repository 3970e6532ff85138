//! Parallel and Map states: branches and iterations run concurrently inside the execution's
//! task, each with its own thread of history events.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{json, Value};

use super::{shown, Run};
use crate::asl::context::Context;
use crate::asl::definition::{Definition, MapSpec, Setting, State};
use crate::asl::paths::Path;
use crate::error::{names, TaskError};
use crate::runtime::history::{Event, Failure};

/// True when the Map's MaxConcurrencyPath names a negative integer, which AWS never starts.
pub(super) fn stalls(st: &State, spec: &MapSpec, raw: &Value, ctx: &Context<'_>) -> bool {
    let Some(Setting::Path(p)) = &spec.max_concurrency else {
        return false;
    };
    st.input_path
        .apply(raw.clone(), ctx)
        .ok()
        .and_then(|effective| p.try_select(&effective, ctx))
        .and_then(|v| v.as_i64())
        .is_some_and(|n| n < 0)
}

fn not_a(field: &str, v: &Value, p: &Path, kind: &str) -> TaskError {
    TaskError::runtime(format!(
        "The {field} field refers to value \"{}\" which is not a valid {kind}: {}",
        shown(v),
        p.as_str()
    ))
}

/// An integer as AWS reads one for a Map setting (`1.0` is one, `1.5` is not).
fn integer(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            .map(|x| x as i64)
    })
}

impl Run {
    pub(super) async fn parallel(
        &self,
        st: &State,
        branches: &[Arc<Definition>],
        raw: &Value,
        entered_time: &str,
        trail: &mut u64,
    ) -> Result<Value, TaskError> {
        let ctx = self.context(st, entered_time);
        let effective = st.input_path.apply(raw.clone(), &ctx)?;
        let effective = match &st.parameters {
            Some(t) => t.eval(&effective, &ctx)?,
            None => effective,
        };
        self.record(trail, Event::ParallelStateStarted);
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
                self.record(trail, Event::ParallelStateSucceeded);
                self.finish_result(st, raw, Value::Array(results), &ctx)
            }
            Err(e) => {
                self.record(
                    trail,
                    Event::ParallelStateFailed(Failure::new(e.error.clone(), e.cause.clone())),
                );
                Err(e)
            }
        }
    }

    pub(super) async fn map(
        &self,
        st: &State,
        spec: &MapSpec,
        raw: &Value,
        entered_time: &str,
        trail: &mut u64,
    ) -> Result<Value, TaskError> {
        let ctx = self.context(st, entered_time);
        let effective = st.input_path.apply(raw.clone(), &ctx)?;
        let items = match &spec.items_path {
            Some(p) => p.select(&effective, &ctx, "ItemsPath")?,
            None => effective.clone(),
        };
        let Value::Array(items) = items else {
            return Err(TaskError::runtime(format!(
                "Map state input must be an array but was: {items}"
            )));
        };
        let total = items.len();
        let limit = match &spec.max_concurrency {
            Some(Setting::Fixed(n)) => *n,
            Some(Setting::Path(p)) => {
                let v = p.select_or_invalid(&effective, &ctx)?;
                // Negative values never get here: `stalls` holds them before the state starts.
                integer(&v)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| not_a("MaxConcurrencyPath", &v, p, "integer"))?
            }
            None => 0,
        };
        let tolerated_count =
            match &spec.tolerated_count {
                Some(Setting::Fixed(n)) => Some(*n),
                Some(Setting::Path(p)) => {
                    let v = p.select_or_invalid(&effective, &ctx)?;
                    let n = integer(&v)
                        .ok_or_else(|| not_a("ToleratedFailureCountPath", &v, p, "integer"))?;
                    Some(u64::try_from(n).map_err(|_| {
                        TaskError::runtime("ToleratedFailureCount cannot be negative.")
                    })?)
                }
                None => None,
            };
        let tolerated_percentage = match &spec.tolerated_percentage {
            Some(s) => {
                let p = match s {
                    Setting::Fixed(p) => *p,
                    Setting::Path(path) => {
                        let v = path.select_or_invalid(&effective, &ctx)?;
                        v.as_f64().ok_or_else(|| {
                            not_a("ToleratedFailurePercentagePath", &v, path, "float")
                        })?
                    }
                };
                if !(0.0..=100.0).contains(&p) {
                    return Err(TaskError::runtime(
                        "ToleratedFailurePercentage must be between 0 and 100.",
                    ));
                }
                Some(p)
            }
            None => None,
        };
        let limit = if limit == 0 {
            total.max(1)
        } else {
            usize::try_from(limit).unwrap_or(usize::MAX)
        };
        self.record(trail, Event::MapStateStarted { length: total });
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
                let name = st.name.clone();
                t = self.exec.push(
                    t,
                    Event::MapIterationStarted {
                        name: name.clone(),
                        index,
                    },
                );
                let result = match input {
                    Ok(input) => self.machine(&spec.processor, input, &mut t).await,
                    Err(e) => Err(e),
                };
                let event = if result.is_ok() {
                    Event::MapIterationSucceeded { name, index }
                } else {
                    Event::MapIterationFailed { name, index }
                };
                self.exec.push(t, event);
                (index, result)
            })
            .buffer_unordered(limit);
        futures::pin_mut!(iterations);
        let tolerant = tolerated_count.is_some() || tolerated_percentage.is_some();
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
                    let over = tolerated_count.is_some_and(|n| failed as u64 > n)
                        || tolerated_percentage
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
                self.record(trail, Event::MapStateSucceeded);
                self.finish_result(st, raw, Value::Array(results), &ctx)
            }
            Err(e) => {
                self.record(
                    trail,
                    Event::MapStateFailed(Failure::new(e.error.clone(), e.cause.clone())),
                );
                Err(e)
            }
        }
    }
}
