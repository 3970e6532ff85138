//! Environments: data managed with `ferry env put`, in promotion order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{string_enum, EnvironmentName};

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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_session_roles: Vec<String>,
    pub approval_timeout_secs: u64,
    /// Deciding on the review page asks for the environment's name to be typed (like GitHub's
    /// "type the repository name"), for production-like environments.
    #[serde(default)]
    pub confirm_name: bool,
    pub updated_at: DateTime<Utc>,
}

impl Environment {
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
}
