//! Used approval links, beside their approval in the component's partition. A link is known
//! here only by the hash of its nonce: the token itself is never stored.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::instrument;

use super::{component_pk, Store, StoreError};
use crate::links::{LinkClaims, LinkPurpose};
use crate::model::EnvironmentName;

fn link_sk(deployment: &str, env: &EnvironmentName, nonce_hash: &str) -> String {
    format!("LINK#{deployment}#{env}#{nonce_hash}")
}

/// What the record of a used link holds.
#[serde_with::skip_serializing_none]
#[derive(Serialize)]
struct UsedLink<'a> {
    deployment_id: &'a str,
    environment: &'a EnvironmentName,
    approver: Option<&'a str>,
    purpose: LinkPurpose,
    nonce_sha256: String,
    used_at: DateTime<Utc>,
    /// When DynamoDB may delete the record (its TTL attribute, Unix seconds): a while after
    /// the link expired, when no use of it could be accepted anyway.
    ttl_epoch: i64,
}

/// The table's TTL attribute (template.yaml `TimeToLiveSpecification`, and local mode's table).
pub const TTL_ATTRIBUTE: &str = "ttl_epoch";

/// How long a used link's record outlives the link, for whoever investigates a decision.
const KEEP_AFTER_EXPIRY: chrono::Duration = chrono::Duration::days(7);

impl Store {
    /// Records that the (verified) link `claims` came from was used, with one conditional put:
    /// true the first time, false for every later use of the same link, however many race.
    #[instrument(skip_all, fields(deployment = %claims.deployment_id, environment = %claims.environment, purpose = %claims.purpose))]
    pub async fn use_link(&self, claims: &LinkClaims) -> Result<bool, StoreError> {
        let hash = claims.nonce_hash();
        let used = UsedLink {
            deployment_id: &claims.deployment_id,
            environment: &claims.environment,
            approver: claims.approver.as_deref(),
            purpose: claims.purpose,
            nonce_sha256: hash.clone(),
            used_at: Utc::now(),
            ttl_epoch: claims
                .expires_at
                .checked_add_signed(KEEP_AFTER_EXPIRY)
                .unwrap_or(claims.expires_at)
                .timestamp(),
        };
        let item = self.keyed(
            component_pk(claims.component.as_str()),
            link_sk(&claims.deployment_id, &claims.environment, &hash),
            "link",
            &used,
        )?;
        self.put_new(item).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_templates_table_expires_records_by_the_same_attribute() {
        let template = include_str!("../../../template.yaml");
        assert!(
            template.contains(&format!(
                "TimeToLiveSpecification:\n        AttributeName: {}\n        Enabled: true",
                super::TTL_ATTRIBUTE
            )),
            "template.yaml's table has no TTL on {}",
            super::TTL_ATTRIBUTE
        );
    }
}
