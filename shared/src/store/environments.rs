//! Environments: one item each under a fixed partition, read in promotion order.

use tracing::instrument;

use super::{Store, StoreError};
use crate::model::{Environment, EnvironmentName};

const ENV_PK: &str = "ENVIRONMENTS";

fn env_sk(name: &EnvironmentName) -> String {
    format!("ENV#{name}")
}

impl Store {
    #[instrument(skip(self, env), fields(environment = %env.name))]
    pub async fn put_environment(&self, env: &Environment) -> Result<(), StoreError> {
        let item = self.keyed(ENV_PK.into(), env_sk(&env.name), "environment", env)?;
        self.put(item).await
    }

    #[instrument(skip(self))]
    pub async fn get_environment(
        &self,
        name: &EnvironmentName,
    ) -> Result<Option<Environment>, StoreError> {
        self.get_as(ENV_PK, &env_sk(name)).await
    }

    #[instrument(skip(self))]
    pub async fn delete_environment(&self, name: &EnvironmentName) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(ENV_PK.into()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(env_sk(name)),
            )
            .send()
            .await
            .map_err(|e| self.sdk("DeleteItem", e))?;
        Ok(())
    }

    /// Environments in promotion order.
    #[instrument(skip(self))]
    pub async fn list_environments(&self) -> Result<Vec<Environment>, StoreError> {
        let mut envs: Vec<Environment> = self.query_as(ENV_PK, "ENV#").await?;
        envs.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
        Ok(envs)
    }
}
