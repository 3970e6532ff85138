//! Ferry's deploy lock per component+environment: conditional writes keyed on the owner
//! (the execution ARN), so only the holder releases it.

use aws_sdk_dynamodb::types::AttributeValue;
use tracing::instrument;

use super::{Store, StoreError};
use crate::model::{ComponentName, EnvironmentName, Lock, LockAttempt};

fn lock_key(component: &ComponentName, env: &EnvironmentName) -> (String, String) {
    (format!("LOCK#{component}#{env}"), "LOCK".into())
}

impl Store {
    /// Takes the component+environment lock for `lock.owner`; re-entrant for the same owner.
    #[instrument(skip(self))]
    pub async fn acquire_lock(&self, lock: &Lock) -> Result<LockAttempt, StoreError> {
        let (pk, sk) = lock_key(&lock.component, &lock.environment);
        let item = self.keyed(pk.clone(), sk.clone(), "lock", lock)?;
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", AttributeValue::S(lock.owner.clone()))
            .send()
            .await;
        if self.conditional("PutItem", res)? {
            return Ok(LockAttempt::Acquired);
        }
        match self.get_as::<Lock>(&pk, &sk).await? {
            Some(holder) => Ok(LockAttempt::HeldBy(holder)),
            // Released in between: try again.
            None => Box::pin(self.acquire_lock(lock)).await,
        }
    }

    /// Replaces a lock held by `stale_owner` (an execution that is no longer running).
    #[instrument(skip(self))]
    pub async fn take_over_lock(&self, lock: &Lock, stale_owner: &str) -> Result<bool, StoreError> {
        let (pk, sk) = lock_key(&lock.component, &lock.environment);
        let item = self.keyed(pk, sk, "lock", lock)?;
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("#o = :stale")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":stale", AttributeValue::S(stale_owner.into()))
            .send()
            .await;
        self.conditional("PutItem", res)
    }

    /// Releases the lock if `owner` holds it; returns whether it did.
    #[instrument(skip(self))]
    pub async fn release_lock(
        &self,
        component: &ComponentName,
        env: &EnvironmentName,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = lock_key(component, env);
        let res = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", AttributeValue::S(owner.into()))
            .send()
            .await;
        self.conditional("DeleteItem", res)
    }

    #[instrument(skip(self))]
    pub async fn get_lock(
        &self,
        component: &ComponentName,
        env: &EnvironmentName,
    ) -> Result<Option<Lock>, StoreError> {
        let (pk, sk) = lock_key(component, env);
        self.get_as(&pk, &sk).await
    }
}
