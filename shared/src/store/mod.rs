//! DynamoDB access. One table, keyed by `pk`/`sk`; each record family maps to items in its own
//! file here and nowhere else. Writes that must not overwrite are conditional.

mod approvals;
mod deployments;
mod environments;
mod history;
mod links;
mod locks;
mod releases;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use thiserror::Error;

pub use approvals::ApprovalMove;
pub use releases::PutRelease;

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

#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

pub fn component_pk(component: &str) -> String {
    format!("COMPONENT#{component}")
}

/// Wraps a record with its keys for storage.
#[derive(Serialize, Deserialize)]
struct Keyed<T> {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    value: T,
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

    /// Records serialise missing values as `null` (what `--output json` shows); stored items
    /// leave them out instead, as an index key may not be NULL and absent reads back as None.
    pub(crate) fn to_item<T: Serialize>(&self, value: &T) -> Result<Item, StoreError> {
        let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt {
            table: self.table.clone(),
            pk: String::new(),
            sk: String::new(),
            why: e.to_string(),
        })?;
        item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
        Ok(item)
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

    /// Every item of one entity (`deployment`, `approval`, `lock`, …), across partitions: a
    /// scan, for the CLI's cross-component lists (a team's table holds thousands of items, not
    /// millions; a GSI would replace this at that scale).
    pub(crate) async fn scan_entity<T: for<'de> Deserialize<'de>>(
        &self,
        entity: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("entity = :e")
                .expression_attribute_values(":e", AttributeValue::S(entity.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.sdk("Scan", e))?;
            for item in resp.items.unwrap_or_default() {
                out.push(self.unkey(item)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
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

    fn keyed<T: Serialize>(
        &self,
        pk: String,
        sk: String,
        entity: &str,
        value: &T,
    ) -> Result<Item, StoreError> {
        self.to_item(&Keyed {
            pk,
            sk,
            entity: entity.to_owned(),
            value,
        })
    }

    fn unkey<T: for<'de> Deserialize<'de>>(&self, item: Item) -> Result<T, StoreError> {
        serde_dynamo::from_item::<_, Keyed<T>>(item.clone())
            .map(|k| k.value)
            .map_err(|e| self.corrupt(&item, e))
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.sdk("PutItem", e))?;
        Ok(())
    }

    async fn get_as<T: for<'de> Deserialize<'de>>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(pk, sk).await?.map(|i| self.unkey(i)).transpose()
    }

    async fn query_as<T: for<'de> Deserialize<'de>>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_prefix(pk, prefix)
            .await?
            .into_iter()
            .map(|i| self.unkey(i))
            .collect()
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
        Ok(_) => {
            let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name(links::TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(|e| err(e.to_string()))?;
            client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(ttl)
                .send()
                .await
                .map_err(|e| err(DisplayErrorContext(&e).to_string()))?;
            Ok(())
        }
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => Ok(()),
        Err(e) => Err(err(DisplayErrorContext(&e).to_string())),
    }
}
