//! Creates the local stack's resources in moto: the artifact bucket, the table, and the queue
//! the bucket notifies on release uploads (moto can't invoke Lambda, so a pump reads the queue).

use anyhow::{Context, Result};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// Names of the local stack's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNames {
    pub bucket: String,
    pub table: String,
    pub queue: String,
}

/// The queues the local stack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queues {
    /// Release upload events (the bucket notifies it).
    pub events: String,
    /// Registrations that failed every attempt (register-release's on-failure destination).
    pub failures: String,
}

impl StackNames {
    pub fn defaults() -> Self {
        Self {
            bucket: "ferry-artifacts".into(),
            table: "ferry".into(),
            queue: "ferry-release-events".into(),
        }
    }

    /// Unique names, so tests sharing one moto never see each other's data.
    pub fn unique(prefix: &str) -> Self {
        let name = ferry_shared::names::unique(prefix);
        Self {
            bucket: name.clone(),
            table: name.clone(),
            queue: name,
        }
    }
}

pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            s3: ferry_shared::aws::s3_client(sdk),
            dynamodb: ferry_shared::aws::dynamodb_client(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
        }
    }
}

/// Creates (or reuses) the bucket, table and queue and wires bucket → queue. Returns the queue URL.
pub async fn create(clients: &Clients, names: &StackNames) -> Result<Queues> {
    match clients
        .s3
        .create_bucket()
        .bucket(&names.bucket)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) => {}
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("creating bucket {}", names.bucket)))
        }
    }
    // As in AWS (template.yaml): every upload keeps its own version, which registration records
    // and builds download, so a later upload to a release key never changes a registered release.
    clients
        .s3
        .put_bucket_versioning()
        .bucket(&names.bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("enabling versioning on bucket {}", names.bucket))?;
    ferry_shared::store::create_table(&clients.dynamodb, &names.table)
        .await
        .context("creating table")?;
    let failures = clients
        .sqs
        .create_queue()
        .queue_name(format!("{}-failures", names.queue))
        .send()
        .await
        .with_context(|| format!("creating queue {}-failures", names.queue))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(&names.queue)
        // A failed registration is retried after this many seconds, like Lambda's async retry.
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .with_context(|| format!("creating queue {}", names.queue))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let queue_arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading queue ARN")?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("queue has no ARN")?;
    let rule =
        |name: FilterRuleName, value: &str| FilterRule::builder().name(name).value(value).build();
    let queue = QueueConfiguration::builder()
        .id("register-release")
        .queue_arn(queue_arn)
        .events(Event::S3ObjectCreated)
        .filter(
            NotificationConfigurationFilter::builder()
                .key(
                    S3KeyFilter::builder()
                        .filter_rules(rule(FilterRuleName::Prefix, "releases/"))
                        .filter_rules(rule(FilterRuleName::Suffix, ".zip"))
                        .build(),
                )
                .build(),
        )
        .build()
        .context("building queue notification")?;
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(&names.bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await
        .context("configuring bucket notifications")?;
    Ok(Queues {
        events: queue_url,
        failures,
    })
}

/// The local stand-in for approvers' inboxes: a queue subscribed to the approvals topic (with
/// each message's attributes, as an email or chat subscription would filter on them). Returns
/// the queue URL.
pub async fn outbox(
    clients: &Clients,
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    names: &StackNames,
) -> Result<String> {
    let name = format!("{}-outbox", names.queue);
    let url = clients
        .sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .with_context(|| format!("creating queue {name}"))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading the outbox queue's ARN")?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("queue has no ARN")?;
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .context("subscribing the outbox to the approvals topic")?;
    Ok(url)
}
