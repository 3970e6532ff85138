//! Task states: parameters, the integration call, `.waitForTaskToken` parking, timeouts and
//! heartbeats, and the Task/LambdaFunction history events AWS writes around them.

use std::time::Duration;

use futures::TryFutureExt;
use serde_json::Value;

use super::{seconds, Run};
use crate::asl::context::Context;
use crate::asl::definition::{State, Task};
use crate::error::{names, TaskError, MAX_PAYLOAD_BYTES};
use crate::runtime::history::{Event, Failure, TaskTarget};
use crate::runtime::integrations::{Pattern, Resource, TaskRequest};

impl Run {
    pub(super) async fn task(
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
            retry_count: Some(retry_count),
            ..self.context(st, entered_time)
        };
        let effective = st.input_path.apply(raw.clone(), &base)?;
        let (token, mut wait) = match resource.pattern {
            Pattern::WaitForTaskToken => {
                let (t, w) = self.services.tokens.issue();
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
        // After Parameters, a state's input is held to the payload quota (AWS's error page).
        let params_text = params.to_string();
        if params_text.len() > MAX_PAYLOAD_BYTES {
            return Err(TaskError::data_limit(&st.name));
        }
        let target = TaskTarget {
            resource_type: resource.service.clone(),
            resource: resource.event_name(),
        };
        if resource.direct_lambda {
            self.record(
                trail,
                Event::LambdaFunctionScheduled {
                    resource: resource.arn.clone(),
                    input: params_text,
                    timeout,
                },
            );
            self.record(trail, Event::LambdaFunctionStarted);
        } else {
            self.record(
                trail,
                Event::TaskScheduled {
                    target: target.clone(),
                    region: self.services.region.clone(),
                    parameters: params_text,
                    timeout,
                    heartbeat,
                },
            );
            self.record(trail, Event::TaskStarted(target.clone()));
        }
        let integrations = self.services.integrations();
        let request = TaskRequest {
            resource: resource.clone(),
            parameters: params,
        };
        let call = async {
            let out = integrations.invoke(request).await?;
            match wait.as_mut() {
                Some(w) => {
                    self.record(
                        trail,
                        Event::TaskSubmitted {
                            target: target.clone(),
                            output: out.to_string(),
                        },
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
                let output = out.to_string();
                // A connector's output over the quota fails the state, before ResultSelector.
                if output.len() > MAX_PAYLOAD_BYTES {
                    let e = TaskError::data_limit(&st.name);
                    let failure = Failure::new(e.error.clone(), e.cause.clone());
                    let event = if resource.direct_lambda {
                        Event::LambdaFunctionFailed(failure)
                    } else {
                        Event::TaskFailed { target, failure }
                    };
                    self.record(trail, event);
                    return Err(e);
                }
                let event = if resource.direct_lambda {
                    Event::LambdaFunctionSucceeded { output }
                } else {
                    Event::TaskSucceeded { target, output }
                };
                self.record(trail, event);
                self.finish_result(st, raw, out, &ctx)
            }
            Err(e) => {
                let timed_out = e.error == names::TIMEOUT || e.error == names::HEARTBEAT_TIMEOUT;
                if timed_out {
                    if let Some(w) = &wait {
                        w.timed_out();
                    }
                }
                let failure = Failure::new(e.error.clone(), e.cause.clone());
                let event = match (resource.direct_lambda, timed_out) {
                    (true, true) => Event::LambdaFunctionTimedOut(failure),
                    (true, false) => Event::LambdaFunctionFailed(failure),
                    (false, true) => Event::TaskTimedOut { target, failure },
                    (false, false) => Event::TaskFailed { target, failure },
                };
                self.record(trail, event);
                Err(e)
            }
        }
    }
}
