//! Approvals: the gate's pending or decided record, the task token that completes the gate, and
//! the decision's wire types shared by the approval function, its callers and the workflow.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{string_enum, ComponentName, EnvironmentName, PlanSummary, Version};

string_enum! {
    /// Where an approval stands.
    pub enum ApprovalStatus {
        Pending = "pending",
        /// A person decided; the gate has not confirmed it yet.
        Deciding = "deciding",
        Approved = "approved",
        Rejected = "rejected",
        TimedOut = "timed-out",
        /// The gate ended without a decision: its deployment was cancelled, failed, or its
        /// execution stopped. Nobody can decide it any more.
        Closed = "closed",
    }
}

/// A Step Functions task token. Whoever holds it can complete the gate, so it never reaches a
/// log line or a user: `Debug` and `Display` redact it, and only the code that calls
/// SendTaskSuccess/SendTaskFailure reads it, through [`TaskToken::expose`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskToken(String);

impl TaskToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The token itself, for SendTaskSuccess/SendTaskFailure only (`crate::gate`).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskToken(…redacted…)")
    }
}

impl fmt::Display for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A task token sealed with Ferry's token key (KMS) and bound to its gate by the encryption
/// context: what the approval record stores. Whoever reads the table (a CLI user running
/// `ferry status`) holds only this, which completes nothing; only the approval function may
/// unseal it (`crate::gate`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedToken(String);

impl SealedToken {
    pub(crate) fn new(ciphertext: String) -> Self {
        Self(ciphertext)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn ciphertext(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "SealedToken(none)"
        } else {
            "SealedToken(…)"
        })
    }
}

/// A pending or decided approval. The task token is stored sealed so the approval function can
/// complete the gate; it is never logged nor returned to users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub deployment_id: String,
    pub component: ComponentName,
    pub version: Version,
    pub environment: EnvironmentName,
    pub requester: String,
    pub status: ApprovalStatus,
    pub plan_sha256: String,
    pub plan_summary: PlanSummary,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "SealedToken::is_empty", default)]
    pub task_token: SealedToken,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Why the gate refused the last decision (the approval went back to pending), or why it
    /// was closed.
    pub gate_error: Option<String>,
    /// While deciding: what the claimed decision is (approved or rejected), so the workflow can
    /// tell an accepted approval from a rejection before the record is settled.
    #[serde(default)]
    pub verdict: Option<ApprovalStatus>,
    /// How the decider reached the gate when not through the Ferry API (`email link`).
    #[serde(default)]
    pub via: Option<String>,
    /// How many distinct people must approve, fixed when the gate opened (the environment's
    /// rule for this plan).
    #[serde(default = "super::one")]
    pub required_approvals: u32,
    /// Approvals given while more were still needed, in order. The one that completes the gate
    /// is the claim (`decided_by`), as with a single approver.
    #[serde(default)]
    pub approvals: Vec<Vote>,
}

/// One person's approval of a gate that needs several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub by: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub via: Option<String>,
    /// (Stored as `at` by earlier versions.)
    #[serde(alias = "at")]
    pub voted_at: DateTime<Utc>,
}

impl Approval {
    /// The approval as users may see it: without the task token.
    pub fn redacted(&self) -> Approval {
        Approval {
            task_token: SealedToken::default(),
            ..self.clone()
        }
    }

    /// Everyone who has approved so far, in order: the votes, then the claim that completed
    /// (or is completing) the gate when it is an approval by a person.
    pub fn approved_by(&self) -> Vec<&str> {
        let mut who: Vec<&str> = self.approvals.iter().map(|v| v.by.as_str()).collect();
        let approving = match self.status {
            ApprovalStatus::Approved => true,
            ApprovalStatus::Deciding => self.verdict == Some(ApprovalStatus::Approved),
            _ => false,
        };
        if let Some(by) = self.decided_by.as_deref().filter(|_| approving) {
            if !by.starts_with("policy:") {
                who.push(by);
            }
        }
        who
    }

    /// "1 of 2 approvals: alice" — how far a gate that people decide has come.
    pub fn progress(&self) -> String {
        let who = self.approved_by();
        let need = self.required_approvals.max(1);
        let mut s = format!(
            "{} of {need} approval{}",
            who.len(),
            if need == 1 { "" } else { "s" }
        );
        if !who.is_empty() {
            let names: Vec<&str> = who.iter().map(|w| crate::identity::short_name(w)).collect();
            s.push_str(": ");
            s.push_str(&names.join(", "));
        }
        s
    }
}

/// A person's answer to a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    /// The approval status this verdict records.
    pub fn status(&self) -> ApprovalStatus {
        match self {
            Self::Approve => ApprovalStatus::Approved,
            Self::Reject => ApprovalStatus::Rejected,
        }
    }
}

/// What a caller of the approval function sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRequest {
    pub deployment_id: String,
    /// Optional when exactly one approval of the deployment is pending.
    #[serde(default)]
    pub environment: Option<EnvironmentName>,
    pub decision: Verdict,
    #[serde(default)]
    pub comment: Option<String>,
}

/// What the approval function answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionResponse {
    pub deployment_id: String,
    pub environment: EnvironmentName,
    /// Approved or rejected; pending when this approval counted but more are needed.
    pub status: ApprovalStatus,
    pub decided_by: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub plan_summary: PlanSummary,
    /// Everyone who has approved so far, this decider included when they approved.
    #[serde(default)]
    pub approved_by: Vec<String>,
    #[serde(default = "super::one")]
    pub required_approvals: u32,
}

/// `POST /links`: a review-page decision link for the caller (`ferry approve --browser`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRequest {
    pub deployment_id: String,
    /// Optional when exactly one approval of the deployment is pending.
    #[serde(default)]
    pub environment: Option<EnvironmentName>,
}

/// `POST /links`'s answer: the caller's own decision link. It acts as the caller, so it is
/// opened or printed, never logged.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkResponse {
    pub deployment_id: String,
    pub environment: EnvironmentName,
    pub approver: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for LinkResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkResponse")
            .field("deployment_id", &self.deployment_id)
            .field("environment", &self.environment)
            .field("approver", &self.approver)
            .field("url", &"…redacted…")
            .finish()
    }
}

/// The gate's decision, returned to the workflow as the approval task's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: ApprovalStatus,
    pub approver: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub plan_sha256: String,
    /// Shown in the Step Functions console with the task's output.
    pub plan_summary: String,
    /// Everyone whose approval the gate counted (the last is `approver`); empty for a
    /// rule's decision.
    #[serde(default)]
    pub approved_by: Vec<String>,
}

/// The longest comment a decision keeps: it travels in the gate's output (Step Functions caps
/// task output at 256 KiB) and in every record that shows the decision.
pub const MAX_COMMENT_BYTES: usize = 2048;

/// The error name a rejection completes the approval task with.
pub const REJECTED_ERROR: &str = "Ferry.Rejected";

#[cfg(test)]
mod tests {
    use super::*;

    fn approval() -> Approval {
        Approval {
            deployment_id: "d".into(),
            component: ComponentName::parse("web").unwrap(),
            version: Version::parse("1.0.0").unwrap(),
            environment: EnvironmentName::parse("prod").unwrap(),
            requester: "alice".into(),
            status: ApprovalStatus::Pending,
            plan_sha256: "abc".into(),
            plan_summary: PlanSummary::default(),
            requested_at: Utc::now(),
            expires_at: Utc::now(),
            task_token: SealedToken::new("secret-token".into()),
            decided_by: None,
            comment: None,
            decided_at: None,
            gate_error: None,
            verdict: None,
            via: None,
            required_approvals: 1,
            approvals: vec![],
        }
    }

    #[test]
    fn progress_counts_votes_and_the_completing_claim() {
        let mut a = approval();
        a.required_approvals = 2;
        assert_eq!(a.progress(), "0 of 2 approvals");
        a.approvals.push(Vote {
            by: "local:alice".into(),
            comment: None,
            via: Some("email link".into()),
            voted_at: Utc::now(),
        });
        assert_eq!(a.progress(), "1 of 2 approvals: alice");
        a.status = ApprovalStatus::Deciding;
        a.verdict = Some(ApprovalStatus::Rejected);
        a.decided_by = Some("arn:aws:iam::1:user/bob".into());
        assert_eq!(a.approved_by(), vec!["local:alice"]);
        a.verdict = Some(ApprovalStatus::Approved);
        assert_eq!(a.progress(), "2 of 2 approvals: alice, bob");
        a.approvals.clear();
        a.required_approvals = 1;
        a.status = ApprovalStatus::Approved;
        a.decided_by = Some("policy:none".into());
        assert_eq!(a.progress(), "0 of 1 approval");
    }

    #[test]
    fn records_from_before_several_approvers_read_as_one() {
        let mut v = serde_json::to_value(approval()).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("required_approvals");
        o.remove("approvals");
        let a: Approval = serde_json::from_value(v).unwrap();
        assert_eq!((a.required_approvals, a.approvals.len()), (1, 0));
    }

    #[test]
    fn approval_redaction_drops_the_token() {
        let json = serde_json::to_string(&approval().redacted()).unwrap();
        assert!(!json.contains("secret-token"));
    }

    #[test]
    fn debug_and_display_never_print_the_token() {
        let a = approval();
        let debug = format!("{a:?}");
        assert!(!debug.contains("secret-token"), "{debug}");
        assert!(debug.contains("SealedToken(…)"), "{debug}");
        assert!(!format!("{:#?}", a).contains("secret-token"));
        let token = TaskToken::new("plain-token");
        assert_eq!(format!("{token:?}"), "TaskToken(…redacted…)");
        assert!(!token.to_string().contains("plain-token"));
        assert_eq!(token.expose(), "plain-token");
        // Stored as a plain string attribute.
        let stored = serde_json::to_value(&a).unwrap();
        assert_eq!(stored["task_token"], "secret-token");
    }

    #[test]
    fn statuses_keep_their_stored_strings() {
        assert_eq!(
            serde_json::to_value(ApprovalStatus::TimedOut).unwrap(),
            "timed-out"
        );
        assert_eq!(Verdict::Reject.status(), ApprovalStatus::Rejected);
        let req: DecisionRequest = serde_json::from_value(serde_json::json!({
            "deployment_id": "d", "environment": "prod", "decision": "approve"
        }))
        .unwrap();
        assert_eq!(req.environment.unwrap().as_str(), "prod");
        assert!(
            serde_json::from_value::<DecisionRequest>(serde_json::json!({
                "deployment_id": "d", "environment": "Prod!", "decision": "approve"
            }))
            .is_err()
        );
    }
}
