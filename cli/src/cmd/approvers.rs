//! `ferry approvers subscribe`: delivers an approver's own gate notifications (with their
//! personal decision links) to their inbox or chat bridge. Ferry publishes one message per
//! approver with the SNS attribute `approver`; the subscription's filter policy matches it, so
//! nobody receives someone else's link.

use anyhow::{bail, Result};

use crate::context::Context;
use crate::exit::Exit;
use crate::stack::Resource;

/// Who gets approvers' notifications.
///
/// Example: ferry approvers subscribe arn:aws:iam::123456789012:user/alice --email alice@example.com
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ApproversCommand,
    /// The approvals topic's ARN (the stack's TopicArn output) [default: from --stack].
    #[arg(long, env = "FERRY_TOPIC_ARN", global = true, hide_env_values = true)]
    topic: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum ApproversCommand {
    /// Send one approver's notifications (and only theirs) to an endpoint.
    ///
    /// Example: ferry approvers subscribe arn:aws:iam::123456789012:user/alice --email alice@example.com
    Subscribe(SubscribeArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("endpoint").required(true).multiple(false)))]
struct SubscribeArgs {
    /// The approver exactly as the environment lists it (`ferry env put --approvers`): an IAM
    /// ARN, or in local mode a name.
    approver: String,
    /// An email address (the owner confirms from the message AWS sends).
    #[arg(long, group = "endpoint")]
    email: Option<String>,
    /// An SQS queue's ARN (its policy must let the topic send to it).
    #[arg(long, group = "endpoint")]
    sqs: Option<String>,
    /// An HTTPS endpoint, e.g. a chat bridge (it confirms the subscription).
    #[arg(long, group = "endpoint")]
    https: Option<String>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    let topic = ctx.resource(Resource::Topic, args.topic.as_deref()).await?;
    match args.command {
        ApproversCommand::Subscribe(s) => subscribe(ctx, &topic, s).await,
    }
}

async fn subscribe(ctx: &Context, topic: &str, s: SubscribeArgs) -> Result<Exit> {
    let approver = s.approver.trim();
    if approver.is_empty() || approver.contains('*') || approver.chars().any(char::is_control) {
        bail!("name one approver as the environment lists it (an IAM ARN or, locally, a name); patterns get no links");
    }
    let (protocol, endpoint) = match (s.email, s.sqs, s.https) {
        (Some(e), _, _) => ("email", e),
        (_, Some(q), _) => ("sqs", q),
        (_, _, Some(u)) if u.starts_with("https://") => ("https", u),
        (_, _, Some(u)) => bail!("{u} is not an https:// URL; SNS delivers links over HTTPS only"),
        _ => bail!("name where to deliver: --email, --sqs or --https"),
    };
    let policy = serde_json::json!({ "approver": [approver] }).to_string();
    let sns = aws_sdk_sns::Client::new(ctx.sdk().await);
    let out = sns
        .subscribe()
        .topic_arn(topic)
        .protocol(protocol)
        .endpoint(&endpoint)
        .attributes("FilterPolicy", &policy)
        .attributes("FilterPolicyScope", "MessageAttributes")
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "could not subscribe {endpoint}: {}",
                aws_sdk_sns::error::DisplayErrorContext(&e)
            )
        })?;
    let arn = out.subscription_arn().unwrap_or("pending confirmation");
    if ctx.json() {
        crate::output::json(&serde_json::json!({
            "approver": approver,
            "protocol": protocol,
            "endpoint": endpoint,
            "subscription_arn": arn,
            "filter_policy": serde_json::from_str::<serde_json::Value>(&policy)?,
        }))?;
    } else {
        println!("{endpoint} now receives {approver}'s approval requests ({protocol}, {arn})");
        match protocol {
            "email" => println!("confirm the subscription from the email AWS sends to {endpoint}"),
            "https" => println!("the endpoint must confirm the subscription (SubscribeURL)"),
            _ => {}
        }
    }
    Ok(Exit::Success)
}
