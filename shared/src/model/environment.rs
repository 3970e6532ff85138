//! Environments: data managed with `ferry env put`, in promotion order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{string_enum, EnvironmentName, PlanSummary};

string_enum! {
    /// How an environment's approval gate decides.
    pub enum ApprovalPolicy {
        /// A person approves every plan.
        Required = "required",
        /// Plans without changes pass; others need a person.
        Auto = "auto",
        /// No gate.
        None = "none",
    }
}

pub const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 24 * 3600;

/// An environment: data, managed with `ferry env put`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub name: EnvironmentName,
    /// Promotion order: a version must be live in every lower-ordered environment first.
    pub order: u32,
    pub approval: ApprovalPolicy,
    /// Who may approve (IAM ARNs or names); empty means anyone who can call the approval URL.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// The requester may not approve their own deployment.
    #[serde(default)]
    pub four_eyes: bool,
    /// Roles (names, `prefix*` patterns) whose session names identify a person, e.g.
    /// `AWSReservedSSO_*` (IAM Identity Center sets the session name to the user). Sessions of
    /// other roles count as the role: whoever assumes it picks the session name.
    #[serde(default)]
    pub trusted_session_roles: Vec<String>,
    pub approval_timeout_secs: u64,
    /// Deciding on the review page asks for the environment's name to be typed (like GitHub's
    /// "type the repository name"), for production-like environments.
    #[serde(default)]
    pub confirm_name: bool,
    /// How many distinct permitted people must approve a plan before it applies.
    #[serde(default = "super::one")]
    pub required_approvals: u32,
    /// How many when the plan destroys or replaces anything; never fewer than
    /// `required_approvals`.
    #[serde(default)]
    pub destroy_approvals: Option<u32>,
    /// How often what is live here is checked for drift (`--drift-check 6h`); none: never.
    #[serde(default)]
    pub drift_check_secs: Option<u64>,
    /// Set while deploys into the environment are stopped (`ferry freeze`).
    #[serde(default)]
    pub freeze: Option<Freeze>,
    pub updated_at: DateTime<Utc>,
}

/// Who stopped deploys into an environment, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub reason: String,
    pub by: String,
    /// (Stored as `at`/`until` before timestamps were named `…_at` everywhere.)
    #[serde(alias = "at")]
    pub frozen_at: DateTime<Utc>,
    /// The freeze ends by itself then; `None`: until `ferry unfreeze`.
    #[serde(default, alias = "until")]
    pub until_at: Option<DateTime<Utc>>,
}

/// Why a deploy or a decision is refused: the environment is frozen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{environment} is frozen by {by} since {at}: {reason}{until}; only an emergency deploy (--emergency \"why\") passes")]
pub struct FreezeRefusal {
    pub environment: EnvironmentName,
    pub by: String,
    pub at: String,
    pub reason: String,
    /// " (until …)" when the freeze ends by itself.
    pub until: String,
}

/// The most approvals an environment may ask for: more people than a gate's notification
/// reaches is a gate nobody can pass.
pub const MAX_REQUIRED_APPROVALS: u32 = 10;

impl Environment {
    /// The refusal when the environment is frozen at `now`.
    pub fn frozen_now(&self, now: DateTime<Utc>) -> Option<FreezeRefusal> {
        let f = self.freeze.as_ref()?;
        if f.until_at.is_some_and(|u| u <= now) {
            return None;
        }
        Some(FreezeRefusal {
            environment: self.name.clone(),
            by: f.by.clone(),
            at: f.frozen_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            reason: f.reason.clone(),
            until: f
                .until_at
                .map(|u| format!(" (until {})", u.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default(),
        })
    }

    /// How many distinct people must approve `plan` here: `destroy_approvals` when it destroys
    /// or replaces anything, else `required_approvals`; at least one.
    pub fn approvals_needed(&self, plan: &PlanSummary) -> u32 {
        let base = self.required_approvals.max(1);
        match self.destroy_approvals {
            Some(d) if plan.destroys_anything() => d.max(base),
            _ => base,
        }
    }

    /// Whether `identity` may decide a gate in this environment for a deployment `requester`
    /// asked for; the reason when not. Identities match as `crate::identity` describes: on what
    /// the caller cannot choose. The approval function checks it before a decision, and the
    /// workflow checks the recorded decider again before it applies.
    pub fn check_decider(&self, requester: &str, identity: &str) -> Result<(), String> {
        use crate::identity::{maybe_same_person, Principal};
        let trusted = &self.trusted_session_roles;
        let who = Principal::parse(identity);
        if !self.approvers.is_empty() && !self.approvers.iter().any(|a| who.matches(a, trusted)) {
            return Err(format!(
                "{identity} is not an approver for {} (approvers: {})",
                self.name,
                self.approvers.join(", ")
            ));
        }
        if self.four_eyes && maybe_same_person(identity, requester, trusted) {
            return Err(format!(
                "{} requires four eyes: {identity} requested this deployment and cannot approve it",
                self.name
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_keep_their_stored_strings() {
        for p in ApprovalPolicy::ALL {
            assert_eq!(ApprovalPolicy::parse(p.as_str()), Some(*p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.as_str())
            );
        }
        assert_eq!(ApprovalPolicy::Required.to_string(), "required");
        assert_eq!(ApprovalPolicy::parse("sometimes"), None);
    }

    #[test]
    fn a_freeze_holds_until_it_ends() {
        let mut env: Environment = serde_json::from_value(serde_json::json!({
            "name": "prod", "order": 1, "approval": "required",
            "approval_timeout_secs": 60, "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        assert_eq!(env.frozen_now(now), None);
        env.freeze = Some(Freeze {
            reason: "incident 1234".into(),
            by: "local:alice".into(),
            frozen_at: now,
            until_at: Some(now + chrono::Duration::hours(1)),
        });
        let why = env.frozen_now(now).expect("frozen").to_string();
        assert!(
            why.contains("prod is frozen by local:alice")
                && why.contains("incident 1234")
                && why.contains("until 2026-06-01 13:00 UTC")
                && why.contains("--emergency"),
            "{why}"
        );
        assert_eq!(env.frozen_now(now + chrono::Duration::hours(1)), None);
    }

    #[test]
    fn destroying_plans_need_the_destroy_count() {
        let mut env: Environment = serde_json::from_value(serde_json::json!({
            "name": "prod", "order": 1, "approval": "required",
            "approval_timeout_secs": 60, "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        // Records from before counts existed need one approval.
        let mut plan = PlanSummary {
            add: 1,
            ..PlanSummary::default()
        };
        assert_eq!(env.approvals_needed(&plan), 1);
        env.required_approvals = 2;
        env.destroy_approvals = Some(3);
        assert_eq!(env.approvals_needed(&plan), 2);
        plan.replace = 1;
        assert_eq!(env.approvals_needed(&plan), 3);
        plan.replace = 0;
        plan.resources = vec![super::super::ResourceChange {
            address: "terraform_data.x".into(),
            actions: vec!["delete".into()],
            attributes: vec![],
        }];
        assert_eq!(env.approvals_needed(&plan), 3);
        // Never fewer than the ordinary count.
        env.destroy_approvals = Some(1);
        assert_eq!(env.approvals_needed(&plan), 2);
    }
}
