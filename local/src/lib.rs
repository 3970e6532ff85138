//! Ferry's local mode: moto_server for S3/DynamoDB/SQS, the pump that turns bucket
//! notifications into register-release invocations, and (from the deploy issues on) the local
//! Step Functions engine and build runner — the same handler code as in AWS, on one machine.

pub mod daemon;
pub mod moto;
pub mod pump;
pub mod stack;

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use stack::StackNames;

/// What a client needs to reach a running local stack; printed as shell exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalEnv {
    pub pid: u32,
    pub endpoint: String,
    pub bucket: String,
    pub table: String,
}

impl LocalEnv {
    /// Variables that point the CLI (and any AWS SDK or CLI) at the local stack.
    pub fn exports(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", ferry_shared::aws::LOCAL_REGION.into()),
            ("FERRY_ARTIFACT_BUCKET", self.bucket.clone()),
            ("FERRY_TABLE", self.table.clone()),
        ]
    }
}

/// A running local stack inside this process.
pub struct LocalStack {
    pub env: LocalEnv,
    moto: moto::Moto,
    stop: watch::Sender<bool>,
    pump: JoinHandle<Result<()>>,
}

impl LocalStack {
    /// Starts moto on `port`, creates the resources and starts the pump.
    pub async fn start(
        moto_program: &str,
        port: u16,
        dir: &Path,
        names: &StackNames,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let moto = moto::Moto::start(moto_program, port, &dir.join("moto.log")).await?;
        let sdk = ferry_shared::aws::local_sdk_config(&moto.endpoint).await;
        let clients = stack::Clients::new(&sdk);
        let queue_url = stack::create(&clients, names).await?;
        let deps = register_release::Deps {
            s3: clients.s3.clone(),
            store: ferry_shared::store::Store::new(clients.dynamodb.clone(), &names.table),
        };
        let (stop, stop_rx) = watch::channel(false);
        let pump = tokio::spawn(pump::run(clients.sqs.clone(), queue_url, deps, stop_rx));
        Ok(Self {
            env: LocalEnv {
                pid: std::process::id(),
                endpoint: moto.endpoint.clone(),
                bucket: names.bucket.clone(),
                table: names.table.clone(),
            },
            moto,
            stop,
            pump,
        })
    }

    /// Stops the pump after its current message, then moto.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.pump.await.context("pump task panicked")??;
        self.moto.stop().await
    }
}
