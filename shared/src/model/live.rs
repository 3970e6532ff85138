//! What runs where, how each environment's deployments ended, Ferry's per-environment lock, and
//! terraform's own state lock as Ferry reads it.

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
        /// Stopped while applying: terraform may have changed some resources before it was
        /// stopped; its state says what it did, and the next deploy's plan what remains.
        ApplyInterrupted = "apply-interrupted",
        /// Not a deployment's end: someone cleared terraform's state lock (`ferry unlock`).
        Unlocked = "unlocked",
        /// A plan-only deployment planned (and applied nothing).
        Planned = "planned",
        /// A destroy applied: nothing of the component is live there any more.
        Destroyed = "destroyed",
        /// A drift check found what runs differs from what Ferry applied.
        Drifted = "drifted",
        /// A drift check found nothing changed (not kept in history: the drift record says it).
        InSync = "in-sync",
        /// Not a deployment's end: the environment was deleted with `--force` while the
        /// component was live or locked there.
        EnvironmentDeleted = "environment-deleted",
    }
}

/// What runs where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    pub version: Version,
    pub deployment_id: String,
    pub deployed_at: DateTime<Utc>,
    pub requester: String,
    /// Who decided the gate (several, comma-separated, when it took several approvals; a
    /// rule such as `policy:none`); stored as `approver` by earlier versions.
    #[serde(rename = "decided_by", alias = "approver")]
    pub approver: Option<String>,
}

/// One line of a component's history in an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    pub version: Version,
    pub deployment_id: String,
    pub outcome: Outcome,
    /// When the line was written (stored as `at` by earlier versions).
    #[serde(alias = "at")]
    pub recorded_at: DateTime<Utc>,
    pub requester: String,
    /// Who decided the gate (several, comma-separated, when it took several approvals; a
    /// rule such as `policy:none`); stored as `approver` by earlier versions.
    #[serde(rename = "decided_by", alias = "approver")]
    pub approver: Option<String>,
    pub reason: Option<String>,
    /// What the deployment did (deploy, rollback, plan-only, destroy); absent on older lines
    /// and on unlocks.
    #[serde(default)]
    pub mode: Option<super::DeployMode>,
    /// Why it passed a freeze, when it did.
    #[serde(default)]
    pub emergency: Option<String>,
    /// For an `unlocked` entry: the terraform lock that was cleared.
    #[serde(default)]
    pub terraform_lock: Option<TerraformLockInfo>,
}

/// The last drift check of a component in an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRecord {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    /// The live version the check planned.
    pub version: Version,
    pub deployment_id: String,
    pub checked_at: DateTime<Utc>,
    pub drifted: bool,
    /// What differs: resources the plan would change (with their attributes) and what
    /// terraform's refresh found changed.
    #[serde(default)]
    pub resources: Vec<super::ResourceChange>,
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

/// Terraform's state lock as its S3 backend writes it (`use_lockfile`): the JSON of
/// `state/<component>/<environment>/terraform.tfstate.tflock`. Every field is optional so a lock
/// written by another terraform version still reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TerraformLockInfo {
    #[serde(rename = "ID", default)]
    pub id: Option<String>,
    #[serde(rename = "Operation", default)]
    pub operation: Option<String>,
    #[serde(rename = "Who", default)]
    pub who: Option<String>,
    #[serde(rename = "Version", default)]
    pub version: Option<String>,
    /// RFC 3339, as terraform writes it.
    #[serde(rename = "Created", default)]
    pub created: Option<String>,
    #[serde(rename = "Path", default)]
    pub path: Option<String>,
    #[serde(rename = "Info", default)]
    pub info: Option<String>,
}

impl TerraformLockInfo {
    /// Reads a lock file's bytes; a file that is not terraform's JSON still counts as a lock
    /// (terraform refuses to plan while it exists), only without details.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.created.as_deref()?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// "lock 6f3f… (OperationTypeApply by root@host since 2026-…)", for one-line messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(op) = self.operation.as_deref().filter(|s| !s.is_empty()) {
            parts.push(op.trim_start_matches("OperationType").to_lowercase());
        }
        if let Some(who) = self.who.as_deref().filter(|s| !s.is_empty()) {
            parts.push(format!("by {who}"));
        }
        if let Some(at) = self.created.as_deref().filter(|s| !s.is_empty()) {
            parts.push(format!("since {at}"));
        }
        let id = self.id.as_deref().filter(|s| !s.is_empty()).unwrap_or("?");
        if parts.is_empty() {
            format!("lock {id}")
        } else {
            format!("lock {id} ({})", parts.join(" "))
        }
    }
}

/// Where terraform keeps a component's state in the artifact bucket (the buildspec's backend key).
pub fn terraform_state_key(component: &ComponentName, env: &EnvironmentName) -> String {
    format!("state/{component}/{env}/terraform.tfstate")
}

/// Terraform's lock file beside the state (S3 backend, `use_lockfile = true`).
pub fn terraform_lock_key(component: &ComponentName, env: &EnvironmentName) -> String {
    format!("{}.tflock", terraform_state_key(component, env))
}

/// The command that clears a terraform lock left behind, as messages quote it.
pub fn unlock_command(component: &ComponentName, env: &EnvironmentName) -> String {
    format!("ferry unlock {component} --env {env} --terraform --reason \"…\"")
}

/// Result of trying to take a lock.
#[derive(Debug, Clone, PartialEq)]
pub enum LockAttempt {
    Acquired,
    HeldBy(Lock),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_lock_info_reads_terraforms_json() {
        let json = br#"{"ID":"6f3f2b1a-1","Operation":"OperationTypeApply","Info":"","Who":"root@build","Version":"1.11.4","Created":"2026-11-21T10:00:00.123456789Z","Path":"b/state/web/dev/terraform.tfstate"}"#;
        let info = TerraformLockInfo::from_bytes(json);
        assert_eq!(info.id.as_deref(), Some("6f3f2b1a-1"));
        assert_eq!(
            info.created_at().map(|t| t.to_rfc3339()),
            Some("2026-11-21T10:00:00.123456789+00:00".into())
        );
        assert_eq!(
            info.describe(),
            "lock 6f3f2b1a-1 (apply by root@build since 2026-11-21T10:00:00.123456789Z)"
        );
        assert_eq!(
            TerraformLockInfo::from_bytes(b"not json").describe(),
            "lock ?"
        );
        let c = ComponentName::parse("web").unwrap();
        let e = EnvironmentName::parse("dev").unwrap();
        assert_eq!(
            terraform_lock_key(&c, &e),
            "state/web/dev/terraform.tfstate.tflock"
        );
        assert_eq!(
            unlock_command(&c, &e),
            "ferry unlock web --env dev --terraform --reason \"…\""
        );
    }
}
