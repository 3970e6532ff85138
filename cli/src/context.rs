//! What every command works with, built once after parsing: the output format, the SDK
//! configuration (loaded only when a command talks to AWS) and resource names resolved from
//! flags, variables or the stack's outputs — in that order.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aws_config::SdkConfig;
use ferry_shared::store::Store;
use tokio::sync::OnceCell;

use crate::api_client::Caller;
use crate::args::Actor;
use crate::output::Format;
use crate::stack::{self, Resource};

pub struct Context {
    pub format: Format,
    stack: Option<String>,
    sdk: OnceCell<SdkConfig>,
    outputs: OnceCell<BTreeMap<Resource, String>>,
}

impl Context {
    pub fn new(format: Format, stack: Option<String>) -> Self {
        Self {
            format,
            stack: stack.filter(|s| !s.is_empty()),
            sdk: OnceCell::new(),
            outputs: OnceCell::new(),
        }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    pub async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                ferry_shared::aws::sdk_config(ferry_shared::aws::Trust::System).await
            })
            .await
    }

    /// The stack's outputs (read once), or none without `--stack`.
    async fn stack_value(&self, r: Resource) -> Result<Option<String>> {
        let Some(name) = &self.stack else {
            return Ok(None);
        };
        let sdk = self.sdk().await;
        let outputs = self
            .outputs
            .get_or_try_init(|| stack::outputs(sdk, name))
            .await?;
        Ok(outputs.get(&r).cloned())
    }

    /// A resource name: the flag or variable when given, else the stack's output.
    pub async fn resource(&self, r: Resource, explicit: Option<&str>) -> Result<String> {
        if let Some(v) = explicit.filter(|v| !v.is_empty()) {
            return Ok(v.to_owned());
        }
        match self.stack_value(r).await? {
            Some(v) => Ok(v),
            None => match &self.stack {
                Some(name) => anyhow::bail!(
                    "{} is not configured: stack {name} has no {} output; pass {} or set {}",
                    r.what(),
                    r.output(),
                    r.flag(),
                    r.var()
                ),
                None => anyhow::bail!(
                    "{} is not configured: pass {} or set {}, name the SAM stack with \
                     --stack/FERRY_STACK, or start local mode with `eval \"$(ferry local up)\"`",
                    r.what(),
                    r.flag(),
                    r.var()
                ),
            },
        }
    }

    /// A resource that has a fallback when nothing names it.
    pub async fn optional_resource(&self, r: Resource) -> Result<Option<String>> {
        self.stack_value(r).await
    }

    pub async fn store(&self, table: Option<&str>) -> Result<Store> {
        let table = self.resource(Resource::Table, table).await?;
        Ok(Store::new(
            ferry_shared::aws::dynamodb_client(self.sdk().await),
            table,
        ))
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        ferry_shared::aws::s3_client(self.sdk().await)
    }

    pub async fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(self.sdk().await)
    }

    /// Who is calling the Ferry API: the local user in local mode, else whoever the SDK's
    /// credentials belong to (the API reads the identity from the signature, never from us).
    pub async fn caller(&self, actor: &Actor) -> Result<Caller> {
        Ok(match actor.local_name()? {
            Some(name) => Caller::Local(name),
            None => Caller::Aws(Box::new(self.sdk().await.clone())),
        })
    }

    /// Who is acting, as records name them: the local user in local mode, else the caller's
    /// IAM ARN.
    pub async fn requester(&self, actor: &Actor) -> Result<String> {
        if let Some(name) = actor.local_name()? {
            return Ok(format!("local:{name}"));
        }
        let me = aws_sdk_sts::Client::new(self.sdk().await)
            .get_caller_identity()
            .send()
            .await
            .context("finding your AWS identity (sts:GetCallerIdentity)")?;
        me.arn().map(str::to_owned).context("STS returned no ARN")
    }
}
