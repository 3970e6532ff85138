//! What is live where, and the history of how each environment's deployments ended.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use tracing::instrument;

use super::{component_pk, Store, StoreError};
use crate::model::{ComponentName, DriftRecord, EnvironmentName, HistoryEntry, Live};

fn live_sk(env: &EnvironmentName) -> String {
    format!("LIVE#{env}")
}
fn history_sk(env: &EnvironmentName, at: &DateTime<Utc>, deployment: &str) -> String {
    format!(
        "HISTORY#{env}#{}#{deployment}",
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
}

impl Store {
    #[instrument(skip(self, live), fields(component = %live.component, environment = %live.environment))]
    pub async fn put_live(&self, live: &Live) -> Result<(), StoreError> {
        let item = self.keyed(
            component_pk(live.component.as_str()),
            live_sk(&live.environment),
            "live",
            live,
        )?;
        self.put(item).await
    }

    #[instrument(skip(self))]
    pub async fn get_live(
        &self,
        component: &ComponentName,
        env: &EnvironmentName,
    ) -> Result<Option<Live>, StoreError> {
        self.get_as(&component_pk(component.as_str()), &live_sk(env))
            .await
    }

    /// Records that nothing of `component` is live in `env` any more (a destroy applied).
    #[instrument(skip(self))]
    pub async fn delete_live(
        &self,
        component: &ComponentName,
        env: &EnvironmentName,
    ) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key("pk", AttributeValue::S(component_pk(component.as_str())))
            .key("sk", AttributeValue::S(live_sk(env)))
            .send()
            .await
            .map_err(|e| self.sdk("DeleteItem", e))?;
        Ok(())
    }

    #[instrument(skip(self))]
    pub async fn list_live(&self, component: &ComponentName) -> Result<Vec<Live>, StoreError> {
        self.query_as(&component_pk(component.as_str()), "LIVE#")
            .await
    }

    /// Keeps a drift check's result as the latest for its component and environment.
    #[instrument(skip(self, d), fields(component = %d.component, environment = %d.environment))]
    pub async fn put_drift(&self, d: &DriftRecord) -> Result<(), StoreError> {
        let item = self.keyed(
            component_pk(d.component.as_str()),
            format!("DRIFT#{}", d.environment),
            "drift",
            d,
        )?;
        self.put(item).await
    }

    /// A component's latest drift check per environment.
    #[instrument(skip(self))]
    pub async fn list_drift(
        &self,
        component: &ComponentName,
    ) -> Result<Vec<DriftRecord>, StoreError> {
        self.query_as(&component_pk(component.as_str()), "DRIFT#")
            .await
    }

    /// Every component's latest drift checks.
    #[instrument(skip(self))]
    pub async fn list_all_drift(&self) -> Result<Vec<DriftRecord>, StoreError> {
        self.scan_entity("drift").await
    }

    #[instrument(skip(self, h), fields(deployment = %h.deployment_id, outcome = %h.outcome))]
    pub async fn add_history(&self, h: &HistoryEntry) -> Result<(), StoreError> {
        let item = self.keyed(
            component_pk(h.component.as_str()),
            history_sk(&h.environment, &h.recorded_at, &h.deployment_id),
            "history",
            h,
        )?;
        self.put(item).await
    }

    /// History newest first, optionally for one environment.
    #[instrument(skip(self))]
    pub async fn list_history(
        &self,
        component: &ComponentName,
        env: Option<&EnvironmentName>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let prefix = match env {
            Some(e) => format!("HISTORY#{e}#"),
            None => "HISTORY#".into(),
        };
        let mut h: Vec<HistoryEntry> = self
            .query_as(&component_pk(component.as_str()), &prefix)
            .await?;
        h.sort_by_key(|x| std::cmp::Reverse(x.recorded_at));
        Ok(h)
    }

    /// Components that have anything live (for `ferry status` without a component).
    #[instrument(skip(self))]
    pub async fn list_components(&self) -> Result<Vec<ComponentName>, StoreError> {
        self.components_where(false).await
    }

    /// Every component Ferry knows: released or live somewhere (`ferry components`).
    #[instrument(skip(self))]
    pub async fn list_known_components(&self) -> Result<Vec<ComponentName>, StoreError> {
        self.components_where(true).await
    }

    async fn components_where(&self, released: bool) -> Result<Vec<ComponentName>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        let filter = if released {
            "begins_with(sk, :live) OR entity = :release"
        } else {
            "begins_with(sk, :live)"
        };
        loop {
            let mut scan = self
                .client()
                .scan()
                .table_name(self.table())
                .filter_expression(filter)
                .expression_attribute_values(":live", AttributeValue::S("LIVE#".into()));
            if released {
                scan = scan
                    .expression_attribute_values(":release", AttributeValue::S("release".into()));
            }
            let resp = scan
                .projection_expression("component")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.sdk("Scan", e))?;
            for item in resp.items.unwrap_or_default() {
                if let Some(Ok(c)) = item
                    .get("component")
                    .and_then(|v| v.as_s().ok())
                    .map(|s| ComponentName::parse(s))
                {
                    out.push(c);
                }
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_sort_by_time() {
        let prod = EnvironmentName::parse("prod").unwrap();
        let a = history_sk(&prod, &"2026-01-01T00:00:00Z".parse().unwrap(), "d1");
        let b = history_sk(&prod, &"2026-01-01T00:00:00.5Z".parse().unwrap(), "d0");
        assert!(a < b);
    }
}
