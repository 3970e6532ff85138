//! Deployment records: environments, deployments and their per-environment steps, approvals,
//! locks, what is live where, and history. All in the one table (see store.rs for the keys).

use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{ComponentName, EnvironmentName, Version};
use crate::store::{component_pk, Item, Store, StoreError};

/// How an environment's approval gate decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalPolicy {
    /// A person approves every plan.
    Required,
    /// Plans without changes pass; others need a person.
    Auto,
    /// No gate.
    None,
}

impl ApprovalPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "required" => Some(Self::Required),
            "auto" => Some(Self::Auto),
            "none" => Some(Self::None),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Auto => "auto",
            Self::None => "none",
        }
    }
}

impl fmt::Display for ApprovalPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 24 * 3600;

/// An environment: data, managed with `ferry env put`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub name: EnvironmentName,
    /// Promotion order: a version must be live in every lower-ordered environment first.
    pub order: u32,
    pub approval: ApprovalPolicy,
    /// Who may approve (IAM ARNs or names); empty means anyone who can call the approval URL.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// The requester may not approve their own deployment.
    #[serde(default)]
    pub four_eyes: bool,
    pub approval_timeout_secs: u64,
    pub updated_at: DateTime<Utc>,
}

/// A deployment request: one execution of the deploy workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub component: ComponentName,
    pub version: Version,
    pub targets: Vec<EnvironmentName>,
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What happened to one environment within a deployment; filled in as the workflow goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub environment: String,
    /// checked, planned, awaiting-approval, approved, applied, succeeded, failed, rejected,
    /// timed-out.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_summary: Option<PlanSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_requested_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `plan-summary.json`, as the buildspec writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub add: u64,
    pub change: u64,
    pub destroy: u64,
    #[serde(default)]
    pub replace: u64,
    pub no_changes: bool,
    #[serde(default)]
    pub resources: Vec<ResourceChange>,
    pub plan_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub actions: Vec<String>,
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.no_changes {
            return f.write_str("no changes");
        }
        write!(f, "+{} ~{} -{}", self.add, self.change, self.destroy)?;
        if self.replace > 0 {
            write!(f, " (±{} replaced)", self.replace)?;
        }
        Ok(())
    }
}

/// A pending or decided approval. The task token is stored so the approval function can
/// complete the gate; it is never logged nor returned to users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub deployment_id: String,
    pub component: ComponentName,
    pub version: Version,
    pub environment: EnvironmentName,
    pub requester: String,
    /// pending, approved, rejected, timed-out
    pub status: String,
    pub plan_sha256: String,
    pub plan_summary: PlanSummary,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub task_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

impl Approval {
    /// The approval as users may see it: without the task token.
    pub fn redacted(&self) -> Approval {
        Approval {
            task_token: String::new(),
            ..self.clone()
        }
    }
}

/// What runs where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    pub version: Version,
    pub deployment_id: String,
    pub deployed_at: DateTime<Utc>,
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
}

/// One line of a component's history in an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    pub version: Version,
    pub deployment_id: String,
    /// succeeded, failed, rejected, timed-out, aborted
    pub outcome: String,
    pub at: DateTime<Utc>,
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Ferry's deploy lock on one component in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub component: ComponentName,
    pub environment: EnvironmentName,
    /// The execution ARN holding the lock.
    pub owner: String,
    pub deployment_id: String,
    pub requester: String,
    pub acquired_at: DateTime<Utc>,
}

/// Result of trying to take a lock.
#[derive(Debug, Clone, PartialEq)]
pub enum LockAttempt {
    Acquired,
    HeldBy(Lock),
}

const ENV_PK: &str = "ENVIRONMENTS";

fn env_sk(name: &str) -> String {
    format!("ENV#{name}")
}
fn deployment_pk(id: &str) -> String {
    format!("DEPLOYMENT#{id}")
}
fn step_sk(env: &str) -> String {
    format!("STEP#{env}")
}
fn lock_key(component: &str, env: &str) -> (String, String) {
    (format!("LOCK#{component}#{env}"), "LOCK".into())
}
fn approval_sk(deployment: &str, env: &str) -> String {
    format!("APPROVAL#{deployment}#{env}")
}
fn live_sk(env: &str) -> String {
    format!("LIVE#{env}")
}
fn history_sk(env: &str, at: &DateTime<Utc>, deployment: &str) -> String {
    format!(
        "HISTORY#{env}#{}#{deployment}",
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
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

    // --- environments -------------------------------------------------------------------

    pub async fn put_environment(&self, env: &Environment) -> Result<(), StoreError> {
        let item = self.keyed(ENV_PK.into(), env_sk(env.name.as_str()), "environment", env)?;
        self.put(item).await
    }

    pub async fn get_environment(
        &self,
        name: &EnvironmentName,
    ) -> Result<Option<Environment>, StoreError> {
        self.get_as(ENV_PK, &env_sk(name.as_str())).await
    }

    /// Environments in promotion order.
    pub async fn list_environments(&self) -> Result<Vec<Environment>, StoreError> {
        let mut envs: Vec<Environment> = self.query_as(ENV_PK, "ENV#").await?;
        envs.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
        Ok(envs)
    }

    // --- deployments --------------------------------------------------------------------

    pub async fn put_deployment(&self, d: &Deployment) -> Result<(), StoreError> {
        let item = self.keyed(deployment_pk(&d.id), "DEPLOYMENT".into(), "deployment", d)?;
        self.put(item).await
    }

    pub async fn get_deployment(&self, id: &str) -> Result<Option<Deployment>, StoreError> {
        self.get_as(&deployment_pk(id), "DEPLOYMENT").await
    }

    /// Sets a deployment's status (and error), leaving the rest as requested.
    pub async fn set_deployment_status(
        &self,
        id: &str,
        status: &str,
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
            .expression_attribute_values(":s", AttributeValue::S(status.into()))
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

    pub async fn get_step(&self, deployment: &str, env: &str) -> Result<Option<Step>, StoreError> {
        self.get_as(&deployment_pk(deployment), &step_sk(env)).await
    }

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
    pub async fn update_step(
        &self,
        deployment: &str,
        env: &str,
        change: impl FnOnce(&mut Step),
    ) -> Result<Step, StoreError> {
        let mut step = self
            .get_step(deployment, env)
            .await?
            .unwrap_or_else(|| Step {
                environment: env.to_owned(),
                ..Step::default()
            });
        change(&mut step);
        self.put_step(deployment, &step).await?;
        Ok(step)
    }

    pub async fn list_steps(&self, deployment: &str) -> Result<Vec<Step>, StoreError> {
        self.query_as(&deployment_pk(deployment), "STEP#").await
    }

    // --- approvals ----------------------------------------------------------------------

    pub async fn put_approval(&self, a: &Approval) -> Result<(), StoreError> {
        let item = self.keyed(
            component_pk(a.component.as_str()),
            approval_sk(&a.deployment_id, a.environment.as_str()),
            "approval",
            a,
        )?;
        self.put(item).await
    }

    pub async fn get_approval(
        &self,
        component: &ComponentName,
        deployment: &str,
        env: &str,
    ) -> Result<Option<Approval>, StoreError> {
        self.get_as(
            &component_pk(component.as_str()),
            &approval_sk(deployment, env),
        )
        .await
    }

    /// Moves a pending approval to `status` exactly once; false if it was no longer pending.
    pub async fn decide_approval(
        &self,
        a: &Approval,
        status: &str,
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
                AttributeValue::S(approval_sk(&a.deployment_id, a.environment.as_str())),
            )
            .condition_expression("#s = :pending")
            .update_expression("SET #s = :s, decided_by = :by, decided_at = :at, #c = :c")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#c", "comment")
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":s", AttributeValue::S(status.into()))
            .expression_attribute_values(":by", AttributeValue::S(by.into()))
            .expression_attribute_values(":at", AttributeValue::S(Utc::now().to_rfc3339()));
        req = req.expression_attribute_values(
            ":c",
            comment.map_or(AttributeValue::Null(true), |c| AttributeValue::S(c.into())),
        );
        self.conditional("UpdateItem", req.send().await)
    }

    /// A component's approvals (pending and decided), newest first.
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

    // --- live and history ---------------------------------------------------------------

    pub async fn put_live(&self, live: &Live) -> Result<(), StoreError> {
        let item = self.keyed(
            component_pk(live.component.as_str()),
            live_sk(live.environment.as_str()),
            "live",
            live,
        )?;
        self.put(item).await
    }

    pub async fn get_live(
        &self,
        component: &ComponentName,
        env: &EnvironmentName,
    ) -> Result<Option<Live>, StoreError> {
        self.get_as(&component_pk(component.as_str()), &live_sk(env.as_str()))
            .await
    }

    pub async fn list_live(&self, component: &ComponentName) -> Result<Vec<Live>, StoreError> {
        self.query_as(&component_pk(component.as_str()), "LIVE#")
            .await
    }

    pub async fn add_history(&self, h: &HistoryEntry) -> Result<(), StoreError> {
        let item = self.keyed(
            component_pk(h.component.as_str()),
            history_sk(h.environment.as_str(), &h.at, &h.deployment_id),
            "history",
            h,
        )?;
        self.put(item).await
    }

    /// History newest first, optionally for one environment.
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
        h.sort_by_key(|x| std::cmp::Reverse(x.at));
        Ok(h)
    }

    /// Components that have anything live (for `ferry status` without a component).
    pub async fn list_components(&self) -> Result<Vec<ComponentName>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client()
                .scan()
                .table_name(self.table())
                .filter_expression("begins_with(sk, :live)")
                .expression_attribute_values(":live", AttributeValue::S("LIVE#".into()))
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

    // --- locks --------------------------------------------------------------------------

    /// Takes the component+environment lock for `lock.owner`; re-entrant for the same owner.
    pub async fn acquire_lock(&self, lock: &Lock) -> Result<LockAttempt, StoreError> {
        let (pk, sk) = lock_key(lock.component.as_str(), lock.environment.as_str());
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
    pub async fn take_over_lock(&self, lock: &Lock, stale_owner: &str) -> Result<bool, StoreError> {
        let (pk, sk) = lock_key(lock.component.as_str(), lock.environment.as_str());
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
    pub async fn release_lock(
        &self,
        component: &ComponentName,
        env: &EnvironmentName,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = lock_key(component.as_str(), env.as_str());
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

    pub async fn get_lock(
        &self,
        component: &ComponentName,
        env: &EnvironmentName,
    ) -> Result<Option<Lock>, StoreError> {
        let (pk, sk) = lock_key(component.as_str(), env.as_str());
        self.get_as(&pk, &sk).await
    }
}

/// S3 keys of a deployment's artifacts.
pub fn plan_prefix(deployment: &str, env: &str) -> String {
    format!("deployments/{deployment}/{env}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_summary_reads_like_terraform() {
        let mut s = PlanSummary {
            add: 1,
            change: 2,
            destroy: 0,
            replace: 0,
            no_changes: false,
            resources: vec![],
            plan_sha256: "x".into(),
        };
        assert_eq!(s.to_string(), "+1 ~2 -0");
        s.replace = 1;
        assert_eq!(s.to_string(), "+1 ~2 -0 (±1 replaced)");
        s.no_changes = true;
        assert_eq!(s.to_string(), "no changes");
    }

    #[test]
    fn history_keys_sort_by_time() {
        let a = history_sk("prod", &"2026-01-01T00:00:00Z".parse().unwrap(), "d1");
        let b = history_sk("prod", &"2026-01-01T00:00:00.5Z".parse().unwrap(), "d0");
        assert!(a < b);
    }

    #[test]
    fn approval_redaction_drops_the_token() {
        let a = Approval {
            deployment_id: "d".into(),
            component: ComponentName::parse("web").unwrap(),
            version: Version::parse("1.0.0").unwrap(),
            environment: EnvironmentName::parse("prod").unwrap(),
            requester: "alice".into(),
            status: "pending".into(),
            plan_sha256: "abc".into(),
            plan_summary: PlanSummary::default(),
            requested_at: Utc::now(),
            expires_at: Utc::now(),
            task_token: "secret-token".into(),
            decided_by: None,
            comment: None,
            decided_at: None,
        };
        let json = serde_json::to_string(&a.redacted()).unwrap();
        assert!(!json.contains("secret-token"));
    }
}
