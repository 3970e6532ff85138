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
        if self
            .put_lock(lock, "attribute_not_exists(pk) OR #o = :owner", &lock.owner)
            .await?
        {
            return Ok(LockAttempt::Acquired);
        }
        match self.get_lock(&lock.component, &lock.environment).await? {
            Some(holder) => Ok(LockAttempt::HeldBy(holder)),
            // Released in between: try again.
            None => Box::pin(self.acquire_lock(lock)).await,
        }
    }

    /// Replaces a lock held by `stale_owner` (an execution that is no longer running). When
    /// someone else replaced it first, says who holds it now — the winner of the race, never the
    /// stale owner the caller read; a lock released in between is taken afresh.
    #[instrument(skip(self))]
    pub async fn take_over_lock(
        &self,
        lock: &Lock,
        stale_owner: &str,
    ) -> Result<LockAttempt, StoreError> {
        if self.put_lock(lock, "#o = :owner", stale_owner).await? {
            return Ok(LockAttempt::Acquired);
        }
        self.acquire_lock(lock).await
    }

    /// Writes `lock` if `condition` holds, with `:owner` bound to `owner`; whether it did.
    async fn put_lock(
        &self,
        lock: &Lock,
        condition: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = lock_key(&lock.component, &lock.environment);
        let item = self.keyed(pk, sk, "lock", lock)?;
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.into()))
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

impl Store {
    /// Every lock Ferry holds, oldest first.
    #[instrument(skip(self))]
    pub async fn list_locks(&self) -> Result<Vec<Lock>, StoreError> {
        let mut l: Vec<Lock> = self.scan_entity("lock").await?;
        l.sort_by_key(|x| x.acquired_at);
        Ok(l)
    }
}
