//! Deployments and their per-environment steps, filled in as the workflow goes, and the plan
//! summary the buildspec writes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{string_enum, ComponentName, EnvironmentName, Outcome, Version};

string_enum! {
    /// A deployment as a whole.
    pub enum DeploymentStatus {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Aborted = "aborted",
    }
}

impl DeploymentStatus {
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Running)
    }
}

string_enum! {
    /// Where one environment of a deployment stands.
    pub enum StepStatus {
        Checked = "checked",
        Planned = "planned",
        AwaitingApproval = "awaiting-approval",
        Approved = "approved",
        Applied = "applied",
        Succeeded = "succeeded",
        Failed = "failed",
        Rejected = "rejected",
        TimedOut = "timed-out",
        Aborted = "aborted",
        ApplyInterrupted = "apply-interrupted",
        /// A destroy applied: nothing is live there any more.
        Destroyed = "destroyed",
    }
}

impl StepStatus {
    /// Whether the environment is done (its outcome recorded).
    pub fn is_final(&self) -> bool {
        Outcome::parse(self.as_str()).is_some()
    }
}

impl From<Outcome> for StepStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Succeeded => Self::Succeeded,
            Outcome::Failed => Self::Failed,
            Outcome::Rejected => Self::Rejected,
            Outcome::TimedOut => Self::TimedOut,
            Outcome::Aborted => Self::Aborted,
            Outcome::ApplyInterrupted => Self::ApplyInterrupted,
            Outcome::Planned | Outcome::Drifted | Outcome::InSync => Self::Planned,
            Outcome::Destroyed => Self::Destroyed,
            // An unlock or a forced environment deletion is recorded in history only, never on
            // a deployment's step.
            Outcome::Unlocked | Outcome::EnvironmentDeleted => Self::Aborted,
        }
    }
}

string_enum! {
    /// What one execution of the workflow does: data in its input, recorded with the
    /// deployment and checked by check-and-lock against the record.
    #[derive(Default)]
    pub enum DeployMode {
        /// Plan, approve, apply a version.
        #[default]
        Deploy = "deploy",
        /// A deploy of a version that succeeded in the environment before.
        Rollback = "rollback",
        /// Check and plan only: shows what a version would change; applies nothing.
        PlanOnly = "plan-only",
        /// Plan `-destroy` of what is live, always approved by a person, then apply it.
        Destroy = "destroy",
        /// A plan of the live version, applying nothing: any change means what runs differs
        /// from what Ferry applied (drift).
        Drift = "drift",
    }
}

impl DeployMode {
    /// Whether a success leaves this version live (a deploy or a rollback).
    pub fn makes_live(self) -> bool {
        matches!(self, Self::Deploy | Self::Rollback)
    }
}

/// A deployment request: one execution of the deploy workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub component: ComponentName,
    pub version: Version,
    pub targets: Vec<EnvironmentName>,
    pub requester: String,
    pub override_reason: Option<String>,
    #[serde(default)]
    pub mode: DeployMode,
    /// Why this deployment may pass a freeze (`--emergency`); recorded and highlighted.
    #[serde(default)]
    pub emergency: Option<String>,
    pub execution_arn: Option<String>,
    pub status: DeploymentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub error: Option<String>,
}

/// What happened to one environment within a deployment; filled in as the workflow goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub environment: EnvironmentName,
    pub status: StepStatus,
    pub checked_at: Option<DateTime<Utc>>,
    pub plan_build_id: Option<String>,
    pub plan_summary: Option<PlanSummary>,
    pub planned_at: Option<DateTime<Utc>>,
    pub approval_requested_at: Option<DateTime<Utc>>,
    /// Who decided the gate (several, comma-separated, when it took several approvals; a
    /// rule such as `policy:none`); stored as `approver` by earlier versions.
    #[serde(rename = "decided_by", alias = "approver")]
    pub approver: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub apply_build_id: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// Why a build failed, in the build's own words (its one-line reason file): `error` says
    /// which step and phase failed, this says what went wrong there.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Everyone who has approved this step's plan so far (several when the environment needs
    /// more than one approval).
    #[serde(default)]
    pub approved_by: Vec<String>,
    /// How many approvals the plan needs, once the gate opened for people.
    #[serde(default = "super::one")]
    pub required_approvals: u32,
}

impl Step {
    /// Who approved, for a table cell: the approver, everyone when several approved, or while
    /// more approvals are needed, the progress ("1 of 2 approvals: alice").
    pub fn approvals_text(&self) -> String {
        let names: Vec<&str> = self
            .approved_by
            .iter()
            .map(|w| crate::identity::short_name(w))
            .collect();
        if self.status == StepStatus::AwaitingApproval && self.required_approvals > 1 {
            let mut s = format!("{} of {} approvals", names.len(), self.required_approvals);
            if !names.is_empty() {
                s.push_str(": ");
                s.push_str(&names.join(", "));
            }
            s
        } else if self.approved_by.len() > 1 {
            self.approved_by.join(", ")
        } else {
            self.approver.clone().unwrap_or_default()
        }
    }

    /// A step that has just been checked; the workflow fills in the rest.
    pub fn new(environment: EnvironmentName) -> Self {
        Self {
            environment,
            status: StepStatus::Checked,
            checked_at: None,
            plan_build_id: None,
            plan_summary: None,
            planned_at: None,
            approval_requested_at: None,
            approver: None,
            comment: None,
            decided_at: None,
            apply_build_id: None,
            finished_at: None,
            error: None,
            failure_reason: None,
            approved_by: vec![],
            required_approvals: 1,
        }
    }
}

/// `plan-summary.json`, as the buildspec writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub add: u64,
    pub change: u64,
    pub destroy: u64,
    #[serde(default)]
    pub replace: u64,
    pub no_changes: bool,
    #[serde(default)]
    pub resources: Vec<ResourceChange>,
    pub plan_sha256: String,
    /// What terraform's refresh found changed outside terraform (`resource_drift`).
    #[serde(default)]
    pub drift: Vec<ResourceChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub actions: Vec<String>,
    /// For an update or a drift: the top-level attributes that differ.
    #[serde(default)]
    pub attributes: Vec<String>,
}

impl PlanSummary {
    /// Whether what runs differs from what the plan's configuration says: changes to make, or
    /// changes terraform's refresh found.
    pub fn shows_drift(&self) -> bool {
        !self.no_changes || !self.drift.is_empty()
    }

    /// Whether applying this plan destroys or replaces anything.
    pub fn destroys_anything(&self) -> bool {
        self.destroy > 0
            || self.replace > 0
            || self
                .resources
                .iter()
                .any(|r| r.actions.iter().any(|a| a == "delete"))
    }
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.no_changes {
            return f.write_str("no changes");
        }
        write!(f, "+{} ~{} -{}", self.add, self.change, self.destroy)?;
        if self.replace > 0 {
            write!(f, " (±{} replaced)", self.replace)?;
        }
        Ok(())
    }
}

/// S3 prefix of a deployment's artifacts (plan, summary) for one environment.
pub fn plan_prefix(deployment: &str, env: &EnvironmentName) -> String {
    format!("deployments/{deployment}/{env}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_summary_reads_like_terraform() {
        let mut s = PlanSummary {
            add: 1,
            change: 2,
            destroy: 0,
            replace: 0,
            no_changes: false,
            resources: vec![],
            plan_sha256: "x".into(),
            drift: vec![],
        };
        assert_eq!(s.to_string(), "+1 ~2 -0");
        s.replace = 1;
        assert_eq!(s.to_string(), "+1 ~2 -0 (±1 replaced)");
        s.no_changes = true;
        assert_eq!(s.to_string(), "no changes");
    }

    #[test]
    fn statuses_keep_their_stored_strings() {
        let json = |v: &dyn erased::AsJson| v.json();
        assert_eq!(json(&StepStatus::AwaitingApproval), "\"awaiting-approval\"");
        assert_eq!(json(&StepStatus::TimedOut), "\"timed-out\"");
        assert_eq!(json(&DeploymentStatus::Running), "\"running\"");
        for s in StepStatus::ALL {
            assert_eq!(StepStatus::parse(s.as_str()), Some(*s));
        }
        assert!(StepStatus::Aborted.is_final());
        assert!(!StepStatus::AwaitingApproval.is_final());
        assert_eq!(StepStatus::from(Outcome::TimedOut), StepStatus::TimedOut);
        assert!(!DeploymentStatus::Running.is_final());
        assert!(DeploymentStatus::Aborted.is_final());
    }

    mod erased {
        pub trait AsJson {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> AsJson for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
