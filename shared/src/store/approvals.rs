//! Approvals, under their component's partition so a component's gates list together.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use tracing::instrument;

use super::{component_pk, Store, StoreError};
use crate::model::{Approval, ApprovalStatus, ComponentName, EnvironmentName};

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

    /// Moves a pending approval to `status` exactly once; false if it was no longer pending.
    #[instrument(skip(self, a), fields(deployment = %a.deployment_id, environment = %a.environment))]
    pub async fn decide_approval(
        &self,
        a: &Approval,
        status: ApprovalStatus,
        by: &str,
        comment: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", AttributeValue::S(component_pk(a.component.as_str())))
            .key(
                "sk",
                AttributeValue::S(approval_sk(&a.deployment_id, &a.environment)),
            )
            .condition_expression("#s = :pending")
            .update_expression("SET #s = :s, decided_by = :by, decided_at = :at, #c = :c")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#c", "comment")
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(ApprovalStatus::Pending.as_str().into()),
            )
            .expression_attribute_values(":s", AttributeValue::S(status.as_str().into()))
            .expression_attribute_values(":by", AttributeValue::S(by.into()))
            .expression_attribute_values(":at", AttributeValue::S(Utc::now().to_rfc3339()));
        req = req.expression_attribute_values(
            ":c",
            comment.map_or(AttributeValue::Null(true), |c| AttributeValue::S(c.into())),
        );
        self.conditional("UpdateItem", req.send().await)
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
