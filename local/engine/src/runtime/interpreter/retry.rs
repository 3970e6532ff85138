//! Retry and Catch around Task, Parallel and Map states.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

use super::{Run, Step};
use crate::asl::definition::{error_matches, Kind, Retrier, State};
use crate::error::TaskError;

impl Run {
    /// Runs a Task/Parallel/Map state under its Retry rules, then its Catch rules.
    pub(super) async fn retrying(
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
