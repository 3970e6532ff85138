//! Deployments and their per-environment steps, under one partition per deployment.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use tracing::instrument;

use super::{Store, StoreError};
use crate::model::{Deployment, DeploymentStatus, EnvironmentName, Step};

fn deployment_pk(id: &str) -> String {
    format!("DEPLOYMENT#{id}")
}
fn step_sk(env: &EnvironmentName) -> String {
    format!("STEP#{env}")
}

impl Store {
    #[instrument(skip(self, d), fields(deployment = %d.id))]
    pub async fn put_deployment(&self, d: &Deployment) -> Result<(), StoreError> {
        let item = self.keyed(deployment_pk(&d.id), "DEPLOYMENT".into(), "deployment", d)?;
        self.put(item).await
    }

    #[instrument(skip(self))]
    pub async fn get_deployment(&self, id: &str) -> Result<Option<Deployment>, StoreError> {
        self.get_as(&deployment_pk(id), "DEPLOYMENT").await
    }

    /// Sets a deployment's status (and error), leaving the rest as requested.
    #[instrument(skip(self))]
    pub async fn set_deployment_status(
        &self,
        id: &str,
        status: DeploymentStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", AttributeValue::S(deployment_pk(id)))
            .key("sk", AttributeValue::S("DEPLOYMENT".into()))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", AttributeValue::S(status.as_str().into()))
            .expression_attribute_values(":u", AttributeValue::S(Utc::now().to_rfc3339()));
        req = match error {
            Some(e) => req
                .update_expression("SET #s = :s, updated_at = :u, #e = :e")
                .expression_attribute_names("#e", "error")
                .expression_attribute_values(":e", AttributeValue::S(e.into())),
            None => req.update_expression("SET #s = :s, updated_at = :u"),
        };
        req.send().await.map_err(|e| self.sdk("UpdateItem", e))?;
        Ok(())
    }

    /// Every deployment, newest first.
    #[instrument(skip(self))]
    pub async fn list_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let mut d: Vec<Deployment> = self.scan_entity("deployment").await?;
        d.sort_by_key(|x| std::cmp::Reverse(x.created_at));
        Ok(d)
    }

    #[instrument(skip(self))]
    pub async fn get_step(
        &self,
        deployment: &str,
        env: &EnvironmentName,
    ) -> Result<Option<Step>, StoreError> {
        self.get_as(&deployment_pk(deployment), &step_sk(env)).await
    }

    #[instrument(skip(self, step), fields(environment = %step.environment))]
    pub async fn put_step(&self, deployment: &str, step: &Step) -> Result<(), StoreError> {
        let item = self.keyed(
            deployment_pk(deployment),
            step_sk(&step.environment),
            "step",
            step,
        )?;
        self.put(item).await
    }

    /// Reads, changes and writes one step (steps of a deployment are written by one
    /// workflow at a time, so last-writer-wins is enough).
    #[instrument(skip(self, change))]
    pub async fn update_step(
        &self,
        deployment: &str,
        env: &EnvironmentName,
        change: impl FnOnce(&mut Step),
    ) -> Result<Step, StoreError> {
        let mut step = self
            .get_step(deployment, env)
            .await?
            .unwrap_or_else(|| Step::new(env.clone()));
        change(&mut step);
        self.put_step(deployment, &step).await?;
        Ok(step)
    }

    #[instrument(skip(self))]
    pub async fn list_steps(&self, deployment: &str) -> Result<Vec<Step>, StoreError> {
        self.query_as(&deployment_pk(deployment), "STEP#").await
    }
}
