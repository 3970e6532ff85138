//! Parallel and Map states: branches and iterations run concurrently inside the execution's
//! task, each with its own thread of history events.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::{json, Value};

use super::{seconds, Run};
use crate::asl::context::Context;
use crate::asl::definition::{Definition, MapSpec, State};
use crate::error::{names, TaskError};
use crate::runtime::history::{Event, Failure};

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
        let effective = st.input_path.apply(raw.clone(), &ctx, "InputPath")?;
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
