//! DynamoDB access. One table, keyed by `pk`/`sk`; each entity family maps to items here and
//! nowhere else. Writes that must not overwrite are conditional.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use thiserror::Error;

use crate::model::{ComponentName, Manifest, Rejection, Release, Version};

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB {op} on table {table}: {message}")]
    Sdk {
        op: &'static str,
        table: String,
        message: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("item {pk}/{sk} in table {table} is malformed: {why}")]
    Corrupt {
        table: String,
        pk: String,
        sk: String,
        why: String,
    },
}

/// The outcome of registering a release, which is never overwritten.
#[derive(Debug, Clone, PartialEq)]
pub enum PutRelease {
    Created,
    /// The same bytes were registered before: nothing to do.
    Duplicate,
    /// Other bytes hold this version; the registered release is returned unchanged.
    Conflict(Box<Release>),
}

#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

pub fn component_pk(component: &str) -> String {
    format!("COMPONENT#{component}")
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
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn sdk<E, R>(&self, op: &'static str, err: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        StoreError::Sdk {
            op,
            table: self.table.clone(),
            message: DisplayErrorContext(&err).to_string(),
            source: Box::new(err),
        }
    }

    pub(crate) fn corrupt(&self, item: &Item, why: impl ToString) -> StoreError {
        let s = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        StoreError::Corrupt {
            table: self.table.clone(),
            pk: s("pk"),
            sk: s("sk"),
            why: why.to_string(),
        }
    }

    pub(crate) fn to_item<T: Serialize>(&self, value: &T) -> Result<Item, StoreError> {
        serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt {
            table: self.table.clone(),
            pk: String::new(),
            sk: String::new(),
            why: e.to_string(),
        })
    }

    /// The outcome of a conditional write: `Ok(false)` when its condition did not hold.
    pub(crate) fn conditional<O, E>(
        &self,
        op: &'static str,
        res: Result<O, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
    ) -> Result<bool, StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match res {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if e.err().code() == Some("ConditionalCheckFailedException") =>
            {
                Ok(false)
            }
            Err(err) => Err(self.sdk(op, err)),
        }
    }

    /// Puts `item` unless an item with its key exists; returns whether it was written.
    pub(crate) async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        self.conditional("PutItem", res)
    }

    pub(crate) async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk("GetItem", e))?;
        Ok(out.item)
    }

    /// All items under `pk` whose sort key starts with `prefix`.
    pub(crate) async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.sdk("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

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
            manifest,
            registered_at: r.registered_at,
        })
    }

    /// Registers a release unless the version exists. Never changes a registered release.
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
    pub async fn get_rejection(
        &self,
        key: &str,
        etag: &str,
    ) -> Result<Option<Rejection>, StoreError> {
        let pk = component_pk(crate::model::ReleaseKey::component_segment(key));
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

/// Creates the table Ferry uses (local mode and tests; in AWS template.yaml does it).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let err = |e: String| StoreError::Sdk {
        op: "CreateTable",
        table: table.to_owned(),
        message: e.clone(),
        source: e.into(),
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| err(e.to_string()))
    };
    let key = |name: &str, kt| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kt)
            .build()
            .map_err(|e| err(e.to_string()))
    };
    let res = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => Ok(()),
        Err(e) => Err(err(DisplayErrorContext(&e).to_string())),
    }
}
