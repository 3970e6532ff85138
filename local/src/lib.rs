//! Ferry's local mode: moto_server for S3/DynamoDB/SQS, the pump that turns bucket
//! notifications into register-release invocations, the local Step Functions engine and the
//! build runner — the same handler code as in AWS, on one machine.

pub mod daemon;
pub mod forwarder;
pub mod moto;
pub mod pump;
pub mod services;
pub mod stack;

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use stack::StackNames;

/// What a client needs to reach a running local stack; printed as shell exports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalEnv {
    pub pid: u32,
    pub endpoint: String,
    pub sfn_endpoint: String,
    pub codebuild_endpoint: String,
    pub approval_url: String,
    pub bucket: String,
    pub table: String,
    pub topic_arn: String,
    pub state_machine_arn: String,
    /// Uploads whose registration failed every attempt.
    #[serde(default)]
    pub failures_queue_url: String,
    /// The review page approval links open.
    #[serde(default)]
    pub review_url: String,
    /// What the approvals topic sent, as approvers would receive it (`ferry local outbox`).
    #[serde(default)]
    pub outbox_queue_url: String,
}

impl LocalEnv {
    /// Variables that point the CLI (and any AWS SDK or CLI) at the local stack.
    pub fn exports(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ENDPOINT_URL_SFN", self.sfn_endpoint.clone()),
            (
                "AWS_ENDPOINT_URL_CODEBUILD",
                self.codebuild_endpoint.clone(),
            ),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", ferry_shared::aws::LOCAL_REGION.into()),
            ("AWS_DEFAULT_REGION", ferry_shared::aws::LOCAL_REGION.into()),
            ("FERRY_ARTIFACT_BUCKET", self.bucket.clone()),
            ("FERRY_TABLE", self.table.clone()),
            ("FERRY_TOPIC_ARN", self.topic_arn.clone()),
            ("FERRY_STATE_MACHINE_ARN", self.state_machine_arn.clone()),
            ("FERRY_APPROVAL_URL", self.approval_url.clone()),
            ("FERRY_FAILURES_QUEUE_URL", self.failures_queue_url.clone()),
            ("FERRY_REVIEW_URL", self.review_url.clone()),
            (
                "FERRY_TERRAFORM_PROJECT",
                services::TERRAFORM_PROJECT.into(),
            ),
            ("FERRY_LOCAL", "1".into()),
        ]
    }
}

/// A running local stack inside this process.
pub struct LocalStack {
    pub env: LocalEnv,
    pub engine: ferry_engine::Engine,
    moto: moto::Moto,
    builds: ferry_codebuild::BuildRunner,
    stop: watch::Sender<bool>,
    shutdown: tokio_util::sync::CancellationToken,
    tasks: Vec<JoinHandle<Result<()>>>,
}

impl LocalStack {
    /// Starts moto on `port`, the engine, build runner and approval endpoint on the next three
    /// ports, creates the resources and starts the pump.
    pub async fn start(
        moto_program: &str,
        port: u16,
        dir: &Path,
        names: &StackNames,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Bind first so a port clash fails before anything starts.
        let sfn_listener = services::bind(port + 1).await?;
        let codebuild_listener = services::bind(port + 2).await?;
        let approval_listener = services::bind(port + 3).await?;
        let moto = moto::Moto::start(moto_program, port, &dir.join("moto.log")).await?;
        let sdk = ferry_shared::aws::local_sdk_config(&moto.endpoint).await;
        let clients = stack::Clients::new(&sdk);
        let queues = stack::create(&clients, names).await?;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let topic_arn = sns
            .create_topic()
            .name(format!("{}-events", names.table))
            .send()
            .await
            .context("creating the SNS topic")?
            .topic_arn
            .context("CreateTopic returned no ARN")?;

        let kms = aws_sdk_kms::Client::new(&sdk);
        let token_key_id = kms
            .create_key()
            .description("Ferry local: seals approval task tokens")
            .send()
            .await
            .context("creating the token key")?
            .key_metadata
            .map(|m| m.key_id)
            .context("CreateKey returned no key")?;
        let token_key = ferry_shared::gate::TokenKey::new(kms.clone(), token_key_id);
        // Signs review-page links (GenerateMac/VerifyMac): as in AWS, no function sees the key.
        let link_key_id = kms
            .create_key()
            .description("Ferry local: signs approval links")
            .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
            .send()
            .await
            .context("creating the link key")?
            .key_metadata
            .map(|m| m.key_id)
            .context("CreateKey returned no key")?;
        let link_key = ferry_shared::links::LinkKey::new(kms, link_key_id);
        let review_url = format!("http://127.0.0.1:{}{}", port + 3, services::REVIEW_PATH);
        // Local stand-in for approvers' inboxes: the approvals topic delivers to this queue,
        // which `ferry local outbox` prints.
        let outbox_queue_url = stack::outbox(&clients, &sns, &topic_arn, names).await?;

        let sfn_endpoint = format!("http://127.0.0.1:{}", port + 1);
        let sfn_sdk = ferry_shared::aws::local_sdk_config(&sfn_endpoint).await;
        let sfn = aws_sdk_sfn::Client::new(&sfn_sdk);
        let engine = ferry_engine::Engine::new(ferry_engine::EngineConfig::default());
        engine.set_aws_forwarder(std::sync::Arc::new(forwarder::SdkForwarder {
            sns: sns.clone(),
            dynamodb: clients.dynamodb.clone(),
        }));
        let tools = Path::new(moto_program).parent().filter(|p| p.is_absolute());
        let runner = services::build_runner(dir, &moto.endpoint, &names.bucket, tools)?;
        services::attach_builds(&engine, runner.clone());
        let runner_handle = runner.clone();
        let definition = services::local_definition(engine.config());
        let machine = engine
            .create_state_machine(
                services::STATE_MACHINE_NAME,
                &definition,
                "arn:aws:iam::123456789012:role/ferry-local",
            )
            .map_err(|e| anyhow::anyhow!("creating the deploy state machine: {e}"))?;

        let record_deps = services::register_functions(
            &engine,
            &services::FunctionClients {
                s3: clients.s3.clone(),
                dynamodb: clients.dynamodb.clone(),
                sns: sns.clone(),
                sfn: sfn.clone(),
                token_key: token_key.clone(),
                links: Some(request_approval::Links {
                    key: link_key.clone(),
                    review_url: review_url.clone(),
                    local_identities: true,
                }),
            },
            &services::DeployNames {
                table: &names.table,
                bucket: &names.bucket,
                topic_arn: &topic_arn,
                state_machine_arn: &machine.arn,
            },
        );

        let shutdown = tokio_util::sync::CancellationToken::new();
        let mut tasks: Vec<JoinHandle<Result<()>>> = Vec::new();
        tasks.push(tokio::spawn(services::drift_schedule(
            record_deps,
            shutdown.clone(),
        )));
        let (stop, stop_rx) = watch::channel(false);
        let deps = register_release::Deps {
            s3: clients.s3.clone(),
            store: ferry_shared::store::Store::new(clients.dynamodb.clone(), &names.table),
        };
        tasks.push(tokio::spawn(pump::run(
            clients.sqs.clone(),
            queues.clone(),
            deps,
            stop_rx,
        )));
        let (e, token) = (engine.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            ferry_engine::serve(e, sfn_listener, token)
                .await
                .map_err(anyhow::Error::from)
        }));
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(codebuild_listener, ferry_codebuild::router(runner))
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .map_err(anyhow::Error::from)
        }));
        let api = approve::Deps {
            store: ferry_shared::store::Store::new(clients.dynamodb.clone(), &names.table),
            sfn,
            token_key,
            state_machine_arn: machine.arn.clone(),
            links: Some(approve::CallerLinks {
                key: link_key.clone(),
                review_url: review_url.clone(),
            }),
        };
        let review = review::Deps {
            gate: api.gate(),
            links: link_key,
        };
        let approval = services::approval_router(api, review);
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(approval_listener, approval)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .map_err(anyhow::Error::from)
        }));

        Ok(Self {
            env: LocalEnv {
                pid: std::process::id(),
                endpoint: moto.endpoint.clone(),
                sfn_endpoint,
                codebuild_endpoint: format!("http://127.0.0.1:{}", port + 2),
                approval_url: format!("http://127.0.0.1:{}/", port + 3),
                bucket: names.bucket.clone(),
                table: names.table.clone(),
                topic_arn,
                state_machine_arn: machine.arn,
                failures_queue_url: queues.failures,
                review_url,
                outbox_queue_url,
            },
            engine,
            moto,
            builds: runner_handle,
            stop,
            shutdown,
            tasks,
        })
    }

    /// Stops taking requests, aborts running executions (recorded in their history), stops the
    /// pump once the events it already received are handled, stops every build and waits until its processes are
    /// gone, then moto: nothing the stack started outlives it.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.shutdown.cancel();
        for t in self.tasks {
            t.await.context("local service task panicked")??;
        }
        self.builds.stop_all().await;
        self.moto.stop().await
    }
}
