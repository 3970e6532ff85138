//! Releases and rejections: registered once, never overwritten.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{component_pk, Item, Store, StoreError};
use crate::model::{ComponentName, Manifest, Rejection, Release, ReleaseKey, Version};

#[derive(Debug, Clone, PartialEq)]
pub enum PutRelease {
    Created,
    /// The same bytes were registered before: nothing to do.
    Duplicate,
    /// Other bytes hold this version; the registered release is returned unchanged.
    Conflict(Box<Release>),
}

fn release_sk(version: &Version) -> String {
    format!("RELEASE#{version}")
}
fn rejection_sk(key: &str, etag: &str) -> String {
    format!("REJECTION#{key}#{etag}")
}

/// How a release is stored: the manifest as its JSON text, so free-form metadata survives
/// exactly (DynamoDB has no float or null-in-set semantics to trip on).
#[derive(Serialize, Deserialize)]
struct ReleaseItem {
    pk: String,
    sk: String,
    entity: String,
    component: ComponentName,
    version: Version,
    s3_key: String,
    sha256: String,
    size: u64,
    etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
    manifest: String,
    registered_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct RejectionItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    rejection: Rejection,
}

impl Store {
    fn release_from_item(&self, item: Item) -> Result<Release, StoreError> {
        let r: ReleaseItem =
            serde_dynamo::from_item(item.clone()).map_err(|e| self.corrupt(&item, e))?;
        let manifest =
            Manifest::from_json(r.manifest.as_bytes()).map_err(|e| self.corrupt(&item, e))?;
        Ok(Release {
            component: r.component,
            version: r.version,
            s3_key: r.s3_key,
            sha256: r.sha256,
            size: r.size,
            etag: r.etag,
            version_id: r.version_id,
            manifest,
            registered_at: r.registered_at,
        })
    }

    /// Registers a release unless the version exists. Never changes a registered release.
    #[instrument(skip(self, release), fields(component = %release.component, version = %release.version))]
    pub async fn put_release(&self, release: &Release) -> Result<PutRelease, StoreError> {
        let manifest =
            serde_json::to_string(&release.manifest).map_err(|e| StoreError::Corrupt {
                table: self.table.clone(),
                pk: component_pk(release.component.as_str()),
                sk: release_sk(&release.version),
                why: e.to_string(),
            })?;
        let item = self.to_item(&ReleaseItem {
            pk: component_pk(release.component.as_str()),
            sk: release_sk(&release.version),
            entity: "release".into(),
            component: release.component.clone(),
            version: release.version.clone(),
            s3_key: release.s3_key.clone(),
            sha256: release.sha256.clone(),
            size: release.size,
            etag: release.etag.clone(),
            version_id: release.version_id.clone(),
            manifest,
            registered_at: release.registered_at,
        })?;
        if self.put_new(item).await? {
            return Ok(PutRelease::Created);
        }
        let existing = self
            .get_release(&release.component, &release.version)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: self.table.clone(),
                pk: component_pk(release.component.as_str()),
                sk: release_sk(&release.version),
                why: "conditional write failed but no item exists".into(),
            })?;
        if existing.sha256 == release.sha256 {
            Ok(PutRelease::Duplicate)
        } else {
            Ok(PutRelease::Conflict(Box::new(existing)))
        }
    }

    #[instrument(skip(self))]
    pub async fn get_release(
        &self,
        component: &ComponentName,
        version: &Version,
    ) -> Result<Option<Release>, StoreError> {
        self.get(&component_pk(component.as_str()), &release_sk(version))
            .await?
            .map(|item| self.release_from_item(item))
            .transpose()
    }

    /// Releases of a component, newest (semver precedence) first.
    #[instrument(skip(self))]
    pub async fn list_releases(
        &self,
        component: &ComponentName,
    ) -> Result<Vec<Release>, StoreError> {
        let items = self
            .query_prefix(&component_pk(component.as_str()), "RELEASE#")
            .await?;
        let mut releases = items
            .into_iter()
            .map(|i| self.release_from_item(i))
            .collect::<Result<Vec<_>, _>>()?;
        releases.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(releases)
    }

    /// Records a rejection once per (key, ETag); returns whether it was new.
    #[instrument(skip(self, rejection), fields(key = %rejection.s3_key))]
    pub async fn put_rejection(&self, rejection: &Rejection) -> Result<bool, StoreError> {
        let item = self.to_item(&RejectionItem {
            pk: component_pk(&rejection.component),
            sk: rejection_sk(&rejection.s3_key, &rejection.etag),
            entity: "rejection".into(),
            rejection: rejection.clone(),
        })?;
        self.put_new(item).await
    }

    /// Rejections filed under a component segment, newest first.
    #[instrument(skip(self))]
    pub async fn list_rejections(&self, component: &str) -> Result<Vec<Rejection>, StoreError> {
        let items = self
            .query_prefix(&component_pk(component), "REJECTION#")
            .await?;
        let mut out = items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, RejectionItem>(item.clone())
                    .map(|r| r.rejection)
                    .map_err(|e| self.corrupt(&item, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|r| std::cmp::Reverse(r.rejected_at));
        Ok(out)
    }

    /// The rejection of one upload (key + ETag), if any.
    #[instrument(skip(self))]
    pub async fn get_rejection(
        &self,
        key: &str,
        etag: &str,
    ) -> Result<Option<Rejection>, StoreError> {
        let pk = component_pk(ReleaseKey::component_segment(key));
        self.get(&pk, &rejection_sk(key, etag))
            .await?
            .map(|item| {
                serde_dynamo::from_item::<_, RejectionItem>(item.clone())
                    .map(|r| r.rejection)
                    .map_err(|e| self.corrupt(&item, e))
            })
            .transpose()
    }
}
