//! What runs where, how each environment's deployments ended, and Ferry's per-environment lock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{string_enum, ComponentName, EnvironmentName, Version};

string_enum! {
    /// How one environment of a deployment ended.
    pub enum Outcome {
        Succeeded = "succeeded",
        Failed = "failed",
        Rejected = "rejected",
        TimedOut = "timed-out",
        Aborted = "aborted",
    }
}

/// What runs where.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    pub version: Version,
    pub deployment_id: String,
    pub deployed_at: DateTime<Utc>,
    pub requester: String,
    pub approver: Option<String>,
}

/// One line of a component's history in an environment.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    pub version: Version,
    pub deployment_id: String,
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
    pub requester: String,
    pub approver: Option<String>,
    pub reason: Option<String>,
}

/// Ferry's deploy lock on one component in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    /// The execution ARN holding the lock.
    pub owner: String,
    pub deployment_id: String,
    pub requester: String,
    pub acquired_at: DateTime<Utc>,
}

/// Result of trying to take a lock.
#[derive(Debug, Clone, PartialEq)]
pub enum LockAttempt {
    Acquired,
    HeldBy(Lock),
}
