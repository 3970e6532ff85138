//! Task tokens for `.waitForTaskToken`: issued to a parked task, redeemed once by
//! SendTaskSuccess/Failure, kept alive by SendTaskHeartbeat.
//!
//! A token leaves the broker when its wait ends (the [`TokenWait`] drops). Tokens that timed
//! out are remembered, so a late SendTask* answers `TaskTimedOut` rather than
//! `TaskDoesNotExist` — but only the most recent [`TIMED_OUT_KEPT`], so a long-lived engine
//! does not grow without bound.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::Engine as _;
use parking_lot::Mutex;
use rand::RngCore;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};

use crate::error::{names, ApiError, ErrorCode, TaskError};

/// Timed-out tokens remembered for late callers.
pub const TIMED_OUT_KEPT: usize = 10_000;

/// Length of an issued token: 32 random bytes, base64url without padding.
const TOKEN_LEN: usize = 43;

struct Slot {
    tx: oneshot::Sender<Result<Value, TaskError>>,
    heartbeat: Arc<Notify>,
}

#[derive(Default)]
struct TimedOut {
    set: HashSet<String>,
    order: VecDeque<String>,
}

/// Every live token, and the recently timed-out ones.
#[derive(Default)]
pub struct TokenBroker {
    live: Mutex<HashMap<String, Slot>>,
    timed_out: Mutex<TimedOut>,
}

/// A parked `.waitForTaskToken` task; dropping it retires the token.
pub struct TokenWait {
    rx: oneshot::Receiver<Result<Value, TaskError>>,
    heartbeat: Arc<Notify>,
    broker: Weak<TokenBroker>,
    token: String,
}

impl TokenBroker {
    /// Issues an unguessable single-use token (256 random bits, base64url).
    pub fn issue(self: &Arc<Self>) -> (String, TokenWait) {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let (tx, rx) = oneshot::channel();
        let heartbeat = Arc::new(Notify::new());
        self.live.lock().insert(
            token.clone(),
            Slot {
                tx,
                heartbeat: heartbeat.clone(),
            },
        );
        let wait = TokenWait {
            rx,
            heartbeat,
            broker: Arc::downgrade(self),
            token: token.clone(),
        };
        (token, wait)
    }

    fn take(&self, token: &str) -> Result<Slot, ApiError> {
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
        if let Some(slot) = self.live.lock().remove(token) {
            return Ok(slot);
        }
        if self.timed_out.lock().set.contains(token) {
            return Err(ApiError::new(ErrorCode::TaskTimedOut, "Task Timed Out"));
        }
        Err(does_not_exist())
    }

    /// Completes the task with `result`: SendTaskSuccess (`Ok`) or SendTaskFailure (`Err`).
    pub fn complete(&self, token: &str, result: Result<Value, TaskError>) -> Result<(), ApiError> {
        let slot = self.take(token)?;
        // A receiver gone means the task finished meanwhile (stopped, timed out).
        slot.tx.send(result).map_err(|_| does_not_exist())
    }

    pub fn heartbeat(&self, token: &str) -> Result<(), ApiError> {
        if token.len() != TOKEN_LEN {
            return Err(ApiError::new(ErrorCode::InvalidToken, "Invalid Token"));
        }
        match self.live.lock().get(token) {
            Some(slot) => {
                slot.heartbeat.notify_one();
                Ok(())
            }
            None => Err(does_not_exist()),
        }
    }

    fn remember_timed_out(&self, token: &str) {
        let mut t = self.timed_out.lock();
        if t.set.insert(token.to_string()) {
            t.order.push_back(token.to_string());
        }
        while t.order.len() > TIMED_OUT_KEPT {
            if let Some(old) = t.order.pop_front() {
                t.set.remove(&old);
            }
        }
    }
}

fn does_not_exist() -> ApiError {
    ApiError::new(ErrorCode::TaskDoesNotExist, "Task Does Not Exist")
}

impl TokenWait {
    /// Waits for SendTaskSuccess/Failure; a heartbeat interval, if any, restarts on each
    /// SendTaskHeartbeat.
    pub async fn wait(&mut self, heartbeat: Option<Duration>) -> Result<Value, TaskError> {
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
                _ = beat => return Err(TaskError::new(names::HEARTBEAT_TIMEOUT, "")),
            }
        }
    }

    /// Remembers the token as timed out so a late SendTask* gets `TaskTimedOut`.
    pub fn timed_out(&self) {
        if let Some(broker) = self.broker.upgrade() {
            broker.remember_timed_out(&self.token);
        }
    }
}

impl Drop for TokenWait {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.upgrade() {
            broker.live.lock().remove(&self.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_tokens_are_pruned() {
        let broker = Arc::new(TokenBroker::default());
        let (token, wait) = broker.issue();
        assert_eq!(broker.live.lock().len(), 1);
        wait.timed_out();
        drop(wait);
        assert_eq!(broker.live.lock().len(), 0);
        let err = broker.complete(&token, Ok(Value::Null)).unwrap_err();
        assert_eq!(err.code, ErrorCode::TaskTimedOut);
        // Only the most recent timed-out tokens are kept.
        for _ in 0..TIMED_OUT_KEPT {
            let (_, w) = broker.issue();
            w.timed_out();
        }
        assert_eq!(broker.timed_out.lock().set.len(), TIMED_OUT_KEPT);
        let err = broker.complete(&token, Ok(Value::Null)).unwrap_err();
        assert_eq!(err.code, ErrorCode::TaskDoesNotExist);
    }
}
