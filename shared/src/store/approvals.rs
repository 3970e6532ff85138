//! Approvals, under their component's partition so a component's gates list together.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use tracing::instrument;

use super::{component_pk, Store, StoreError};
use crate::model::{Approval, ApprovalStatus, ComponentName, EnvironmentName, Vote};

/// How an approval moves. Each move is one conditional write, so two deciders, or a decider
/// and the gate's timeout, can never both win; and a decision is final only once the gate
/// accepted it, so the record and the workflow agree whichever step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalMove<'a> {
    /// pending → deciding: a person's decision (`verdict`: approved or rejected), recorded
    /// before the gate is told.
    Claim {
        by: &'a str,
        comment: Option<&'a str>,
        verdict: ApprovalStatus,
        /// How the decider came, when not through the Ferry API (`email link`).
        via: Option<&'a str>,
        /// How many approvals the decider saw: a vote that landed meanwhile makes the claim
        /// lose, so the decision is made again on what is recorded.
        seen: usize,
    },
    /// pending → pending with one more approval, when more are still needed; `seen` as for
    /// a claim, so two approvals at once never both count against a stale list.
    Vote { vote: &'a Vote, seen: usize },
    /// deciding → approved or rejected: the gate accepted the decision.
    Settle(ApprovalStatus),
    /// deciding → pending: the gate refused the decision; it is withdrawn, and why is kept.
    Withdraw { gate_error: &'a str },
    /// pending or deciding → timed-out: the gate stopped waiting.
    Expire,
    /// pending or deciding → closed: the gate ended without a decision (deployment cancelled or
    /// failed, execution stopped); a claimed decision the gate never accepted is dropped.
    Close { why: &'a str },
}

fn approval_sk(deployment: &str, env: &EnvironmentName) -> String {
    format!("APPROVAL#{deployment}#{env}")
}

impl Store {
    #[instrument(skip(self, a), fields(deployment = %a.deployment_id, environment = %a.environment))]
    pub async fn put_approval(&self, a: &Approval) -> Result<(), StoreError> {
        let item = self.keyed(
            component_pk(a.component.as_str()),
            approval_sk(&a.deployment_id, &a.environment),
            "approval",
            a,
        )?;
        self.put(item).await
    }

    #[instrument(skip(self))]
    pub async fn get_approval(
        &self,
        component: &ComponentName,
        deployment: &str,
        env: &EnvironmentName,
    ) -> Result<Option<Approval>, StoreError> {
        self.get_as(
            &component_pk(component.as_str()),
            &approval_sk(deployment, env),
        )
        .await
    }

    /// Moves an approval as `m` says, in one conditional write: false when it was not in the
    /// status the move starts from (someone else moved it first).
    #[instrument(skip(self, a), fields(deployment = %a.deployment_id, environment = %a.environment))]
    pub async fn move_approval(
        &self,
        a: &Approval,
        m: ApprovalMove<'_>,
    ) -> Result<bool, StoreError> {
        use ApprovalStatus::{Closed, Deciding, Pending, TimedOut};
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let now = Utc::now().to_rfc3339();
        let seen = match m {
            ApprovalMove::Claim { seen, .. } | ApprovalMove::Vote { seen, .. } => Some(seen),
            _ => None,
        };
        let (from, to, update, values): (&[ApprovalStatus], ApprovalStatus, &str, Vec<_>) = match m
        {
            ApprovalMove::Vote { vote, .. } => (
                &[Pending],
                Pending,
                "SET #s = :to, approvals = list_append(if_not_exists(approvals, :none), :vote) \
                 REMOVE gate_error",
                vec![
                    (":none", AttributeValue::L(vec![])),
                    (":vote", AttributeValue::L(vec![AttributeValue::M(self.to_item(vote)?)])),
                ],
            ),
            ApprovalMove::Claim {
                by,
                comment,
                verdict,
                via,
                ..
            } => (
                &[Pending],
                Deciding,
                "SET #s = :to, decided_by = :by, decided_at = :at, #c = :c, verdict = :v, \
                 via = :via REMOVE gate_error",
                vec![
                    (":by", s(by)),
                    (":at", s(&now)),
                    (":c", comment.map_or(AttributeValue::Null(true), s)),
                    (":v", s(verdict.as_str())),
                    (":via", via.map_or(AttributeValue::Null(true), s)),
                ],
            ),
            ApprovalMove::Settle(to) => (&[Deciding], to, "SET #s = :to", vec![]),
            ApprovalMove::Withdraw { gate_error } => (
                &[Deciding],
                Pending,
                "SET #s = :to, gate_error = :e REMOVE decided_by, decided_at, #c, verdict, via",
                vec![(":e", s(gate_error))],
            ),
            ApprovalMove::Close { why } => (
                &[Pending, Deciding],
                Closed,
                "SET #s = :to, gate_error = :e, decided_at = :at REMOVE decided_by, #c, verdict, via",
                vec![(":e", s(why)), (":at", s(&now))],
            ),
            ApprovalMove::Expire => (
                &[Pending, Deciding],
                TimedOut,
                "SET #s = :to, decided_by = :by, decided_at = :at",
                vec![(":by", s("timeout")), (":at", s(&now))],
            ),
        };
        let from_names: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut condition = format!("#s IN ({})", from_names.join(", "));
        if seen.is_some() {
            condition.push_str(" AND (attribute_not_exists(approvals) OR size(approvals) = :seen)");
        }
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(&component_pk(a.component.as_str())))
            .key("sk", s(&approval_sk(&a.deployment_id, &a.environment)))
            .condition_expression(condition)
            .update_expression(update)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":to", s(to.as_str()));
        if update.contains("#c") {
            req = req.expression_attribute_names("#c", "comment");
        }
        for (name, status) in from_names.iter().zip(from) {
            req = req.expression_attribute_values(name, s(status.as_str()));
        }
        if let Some(n) = seen {
            req = req.expression_attribute_values(":seen", AttributeValue::N(n.to_string()));
        }
        for (name, value) in values {
            req = req.expression_attribute_values(name, value);
        }
        self.conditional("UpdateItem", req.send().await)
    }

    /// Every component's approvals waiting for a decision, oldest first (the longest waiting).
    #[instrument(skip(self))]
    pub async fn list_pending_approvals(&self) -> Result<Vec<Approval>, StoreError> {
        let mut a: Vec<Approval> = self.scan_entity("approval").await?;
        a.retain(|x| x.status == ApprovalStatus::Pending);
        a.sort_by_key(|x| x.requested_at);
        Ok(a)
    }

    /// A component's approvals (pending and decided), newest first.
    #[instrument(skip(self))]
    pub async fn list_approvals(
        &self,
        component: &ComponentName,
    ) -> Result<Vec<Approval>, StoreError> {
        let mut a: Vec<Approval> = self
            .query_as(&component_pk(component.as_str()), "APPROVAL#")
            .await?;
        a.sort_by_key(|x| std::cmp::Reverse(x.requested_at));
        Ok(a)
    }
}
