//! `ferry unlock`: release Ferry's component+environment lock when the execution that holds it
//! has ended (asking Step Functions, never guessing), and with `--terraform` clear terraform's
//! state lock that a build which died left behind (a killed terraform never deletes its
//! `.tflock`, and every later plan would fail on it). Both are recorded in history.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::ExecutionStatus;
use chrono::Utc;
use ferry_shared::model::{
    terraform_lock_key, ComponentName, EnvironmentName, HistoryEntry, Outcome, TerraformLockInfo,
    Version,
};
use ferry_shared::store::Store;

use super::deployment::execution_status;
use crate::args::{Actor, Resources};
use crate::context::Context;
use crate::exit::Exit;
use crate::stack::Resource;

/// A terraform lock this young may belong to a build that is still stopping: while Ferry's lock
/// is held too, unlock refuses it.
const STOPPING_GRACE: Duration = Duration::from_secs(120);

/// Release a lock left on a component in one environment: Ferry's (default) or terraform's.
///
/// Ferry's lock is released only when the execution holding it is no longer running (its
/// deployment is recorded aborted). Terraform's state lock (--terraform) is refused while a
/// deployment of the component runs there (its build may be running terraform); the lock file
/// is deleted only if it is still the one read. Both are recorded in the component's history
/// with who, why and the lock.
///
/// Example: ferry unlock hello-service --env prod --reason "execution stopped in the console"
/// Example: ferry unlock hello-service --env prod --terraform --reason "apply build killed, INC-42"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (the name in its ferry.json).
    #[arg(value_parser = crate::parse::component)]
    component: ComponentName,
    /// The environment whose terraform state is locked.
    #[arg(long, value_parser = crate::parse::environment)]
    env: EnvironmentName,
    /// Clear terraform's state lock instead of Ferry's.
    #[arg(long)]
    terraform: bool,
    /// Why, recorded in the component's history.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    actor: Actor,
    #[command(flatten)]
    resources: Resources,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let reason = args.reason.trim();
    ensure!(
        !reason.is_empty(),
        "--reason is empty: say why the lock can go (it is recorded in history)"
    );
    let store = ctx.store(args.resources.table.table.as_deref()).await?;
    let bucket = ctx
        .resource(Resource::Bucket, args.resources.bucket.as_deref())
        .await?;
    let who = ctx.requester(&args.actor).await?;
    let target = Target {
        store: &store,
        s3: &ctx.s3().await,
        sfn: &ctx.sfn().await,
        bucket: &bucket,
        component: &args.component,
        env: &args.env,
    };
    if !args.terraform {
        let entry = Box::pin(target.release_ferry_lock(&who, reason)).await?;
        if ctx.json() {
            crate::output::json(&entry)?;
        } else {
            println!(
                "released Ferry's lock on {} in {}: {}; recorded in `ferry history {} --env {}`",
                args.component,
                args.env,
                entry.reason.as_deref().unwrap_or_default(),
                args.component,
                args.env
            );
        }
        return Ok(Exit::Success);
    }
    let entry = Box::pin(target.unlock(&who, reason)).await?;
    if ctx.json() {
        crate::output::json(&entry)?;
    } else {
        println!(
            "unlocked terraform's state of {} in {}: deleted {}; recorded in `ferry history {} --env {}`",
            args.component,
            args.env,
            entry
                .terraform_lock
                .as_ref()
                .map(TerraformLockInfo::describe)
                .unwrap_or_default(),
            args.component,
            args.env
        );
    }
    Ok(Exit::Success)
}

/// One component+environment whose terraform lock is to be cleared.
struct Target<'a> {
    store: &'a Store,
    s3: &'a aws_sdk_s3::Client,
    sfn: &'a aws_sdk_sfn::Client,
    bucket: &'a str,
    component: &'a ComponentName,
    env: &'a EnvironmentName,
}

impl Target<'_> {
    /// Releases Ferry's lock if the execution holding it has ended, recording its deployment
    /// aborted (as the next deploy's takeover would) and the unlock in history.
    async fn release_ferry_lock(&self, who: &str, reason: &str) -> Result<HistoryEntry> {
        let (c, e) = (self.component, self.env);
        let Some(lock) = self.store.get_lock(c, e).await? else {
            bail!("Ferry holds no lock on {c} in {e}; nothing to unlock (terraform's own lock: add --terraform)");
        };
        let status = execution_status(self.sfn, &lock.owner).await.with_context(|| {
            format!(
                "cannot tell whether deployment {} (holding {c} in {e}) is still running, so nothing was changed",
                lock.deployment_id
            )
        })?;
        if status == Some(ExecutionStatus::Running) {
            bail!(
                "deployment {} holds {c} in {e} and its execution is still running; wait for it, or stop it with `ferry cancel {}`",
                lock.deployment_id,
                lock.deployment_id
            );
        }
        let ended = status
            .as_ref()
            .map_or("no longer exists", |s| s.as_str())
            .to_owned();
        // The dead deployment is recorded aborted (its gates closed, its locks released) like
        // a takeover would; a lock left by anything else is released on its own.
        if let Some(d) = self.store.get_deployment(&lock.deployment_id).await? {
            if !d.status.is_final() {
                let cause = format!(
                    "its execution ended ({ended}) outside Ferry; found by `ferry unlock` ({who}: {reason})"
                );
                ferry_shared::operations::record_stopped(self.store, &d, &lock.owner, &cause)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("recording deployment {} as stopped failed: {e}", d.id)
                    })?;
            }
        }
        self.store.release_lock(c, e, &lock.owner).await?;
        let version = match self.store.get_deployment(&lock.deployment_id).await? {
            Some(d) => d.version,
            None => self
                .last_deployment()
                .await?
                .map(|(v, _)| v)
                .unwrap_or_else(Version::none),
        };
        let entry = HistoryEntry {
            component: c.clone(),
            environment: e.clone(),
            version,
            deployment_id: lock.deployment_id.clone(),
            outcome: Outcome::Unlocked,
            recorded_at: Utc::now(),
            requester: who.to_owned(),
            approver: None,
            reason: Some(format!(
                "{reason} (released Ferry's lock held by deployment {} since {}; its execution {ended})",
                lock.deployment_id,
                crate::output::time(&lock.acquired_at)
            )),
            mode: None,
            emergency: None,
            terraform_lock: None,
        };
        self.store
            .add_history(&entry)
            .await
            .context("the lock was released, but recording it in history failed")?;
        Ok(entry)
    }

    async fn unlock(&self, who: &str, reason: &str) -> Result<HistoryEntry> {
        let (c, e) = (self.component, self.env);
        // Ferry's lock is held from check to record: a deployment holding it with a running
        // execution may have a build running terraform right now.
        let ferry_lock = self.store.get_lock(c, e).await?;
        if let Some(l) = &ferry_lock {
            let status = execution_status(self.sfn, &l.owner).await.with_context(|| {
                format!(
                    "cannot tell whether deployment {} (holding {c} in {e}) is still running, so nothing was changed",
                    l.deployment_id
                )
            })?;
            if status == Some(ExecutionStatus::Running) {
                bail!(
                    "deployment {} of {c} in {e} is running and its build may be running terraform; wait for it, or stop it with `ferry cancel {}`, then unlock",
                    l.deployment_id,
                    l.deployment_id
                );
            }
        }
        let key = terraform_lock_key(c, e);
        let Some((info, etag)) = self.read_lock(&key).await? else {
            bail!("terraform's state of {c} in {e} is not locked (no s3://{}/{key}); nothing to unlock", self.bucket);
        };
        if let (Some(l), Some(created)) = (&ferry_lock, info.created_at()) {
            let age = (Utc::now() - created).to_std().unwrap_or_default();
            if age < STOPPING_GRACE {
                bail!(
                    "terraform's {} was taken {}s ago and deployment {} still holds Ferry's lock on {c} in {e}: its build may still be stopping; try again in {}s",
                    info.describe(),
                    age.as_secs(),
                    l.deployment_id,
                    (STOPPING_GRACE - age).as_secs().max(1)
                );
            }
        }
        // Only a lock Ferry's builds could have left: a deployment ran here before.
        let Some((version, deployment)) = self.last_deployment().await? else {
            bail!(
                "Ferry never deployed {c} to {e}, so no Ferry build left this {}; if terraform was run by hand, clear it with `terraform force-unlock {}`",
                info.describe(),
                info.id.as_deref().unwrap_or("<ID>")
            );
        };
        self.delete_lock(&key, &etag).await?;
        let entry = HistoryEntry {
            component: c.clone(),
            environment: e.clone(),
            version,
            deployment_id: deployment,
            outcome: Outcome::Unlocked,
            recorded_at: Utc::now(),
            requester: who.to_owned(),
            approver: None,
            reason: Some(format!(
                "{reason} (cleared terraform's {})",
                info.describe()
            )),
            mode: None,
            emergency: None,
            terraform_lock: Some(info),
        };
        self.store
            .add_history(&entry)
            .await
            .context("the lock was deleted, but recording it in history failed")?;
        Ok(entry)
    }

    /// The lock file's terraform LockInfo and ETag, if it exists.
    async fn read_lock(&self, key: &str) -> Result<Option<(TerraformLockInfo, String)>> {
        let out = match self
            .s3
            .get_object()
            .bucket(self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("reading s3://{}/{key} (s3:GetObject)", self.bucket)))
            }
        };
        let etag = out
            .e_tag()
            .map(str::to_owned)
            .context("S3 returned the lock file without an ETag")?;
        let bytes = out
            .body
            .collect()
            .await
            .context("reading the lock file")?
            .into_bytes();
        Ok(Some((TerraformLockInfo::from_bytes(&bytes), etag)))
    }

    /// Deletes the lock file only if it is still the one read (`If-Match` its ETag): a lock a
    /// new terraform took meanwhile is never removed.
    async fn delete_lock(&self, key: &str, etag: &str) -> Result<()> {
        match self
            .s3
            .delete_object()
            .bucket(self.bucket)
            .key(key)
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("PreconditionFailed" | "NoSuchKey")) => bail!(
                "terraform's lock on {} in {} changed while unlocking (a new terraform took it, or someone cleared it); nothing was deleted — run the command again to see it",
                self.component,
                self.env
            ),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("deleting s3://{}/{key} (s3:DeleteObject)", self.bucket))),
        }
    }

    /// The newest deployment Ferry recorded here — preferring one that ran a build, the likeliest
    /// to have left the lock (refusals since then ran none) — as (version, deployment id).
    async fn last_deployment(&self) -> Result<Option<(Version, String)>> {
        let history = self
            .store
            .list_history(self.component, Some(self.env))
            .await?;
        let deployments: Vec<&HistoryEntry> = history
            .iter()
            .filter(|h| h.outcome != Outcome::Unlocked)
            .collect();
        for h in deployments.iter().take(10) {
            let step = self.store.get_step(&h.deployment_id, self.env).await?;
            if step.is_some_and(|s| s.apply_build_id.is_some() || s.plan_build_id.is_some()) {
                return Ok(Some((h.version.clone(), h.deployment_id.clone())));
            }
        }
        Ok(deployments
            .first()
            .map(|h| (h.version.clone(), h.deployment_id.clone())))
    }
}
