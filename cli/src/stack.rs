//! `--stack NAME` / `FERRY_STACK`: find every resource from the CloudFormation stack's Outputs
//! (template.yaml), so nobody copies resource names by hand. Explicit flags and variables win.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

/// A resource the CLI locates: its flag, its variable and the stack output that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    Table,
    Bucket,
    ApprovalUrl,
    DefaultApprovalTimeout,
    FailuresQueue,
    Topic,
    Project,
}

impl Resource {
    pub const ALL: [Resource; 7] = [
        Resource::Table,
        Resource::Bucket,
        Resource::ApprovalUrl,
        Resource::DefaultApprovalTimeout,
        Resource::FailuresQueue,
        Resource::Topic,
        Resource::Project,
    ];

    pub fn output(self) -> &'static str {
        match self {
            Self::Table => "TableName",
            Self::Bucket => "ArtifactBucketName",
            Self::ApprovalUrl => "ApprovalUrl",
            Self::DefaultApprovalTimeout => "DefaultApprovalTimeoutSeconds",
            Self::FailuresQueue => "RegistrationFailuresQueueUrl",
            Self::Topic => "TopicArn",
            Self::Project => "TerraformProjectName",
        }
    }

    pub fn var(self) -> &'static str {
        match self {
            Self::Table => "FERRY_TABLE",
            Self::Bucket => "FERRY_ARTIFACT_BUCKET",
            Self::ApprovalUrl => "FERRY_APPROVAL_URL",
            Self::DefaultApprovalTimeout => "FERRY_DEFAULT_APPROVAL_TIMEOUT",
            Self::FailuresQueue => "FERRY_FAILURES_QUEUE_URL",
            Self::Topic => "FERRY_TOPIC_ARN",
            Self::Project => "FERRY_TERRAFORM_PROJECT",
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            Self::Table => "--table",
            Self::Bucket => "--bucket",
            Self::ApprovalUrl => "--approval-url",
            Self::DefaultApprovalTimeout => "--timeout",
            Self::FailuresQueue => "--failures-queue",
            Self::Topic => "--topic",
            Self::Project => "--project",
        }
    }

    /// What it is, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Self::Table => "Ferry's DynamoDB table",
            Self::Bucket => "Ferry's artifact bucket",
            Self::ApprovalUrl => "the approval function's URL",
            Self::DefaultApprovalTimeout => "the default approval timeout",
            Self::FailuresQueue => "the queue of failed registrations",
            Self::Topic => "the approvals topic",
            Self::Project => "the CodeBuild project that runs terraform",
        }
    }
}

/// Reads the stack's outputs that name Ferry's resources.
pub async fn outputs(
    sdk: &aws_config::SdkConfig,
    stack: &str,
) -> Result<BTreeMap<Resource, String>> {
    let out = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .with_context(|| format!("reading stack {stack} (cloudformation:DescribeStacks)"))?;
    let outputs = out
        .stacks()
        .first()
        .with_context(|| format!("no stack {stack}"))?
        .outputs();
    Ok(Resource::ALL
        .iter()
        .filter_map(|r| {
            outputs
                .iter()
                .find(|o| o.output_key() == Some(r.output()))
                .and_then(|o| o.output_value())
                .map(|v| (*r, v.to_owned()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_exists_in_the_template() {
        let template = include_str!("../../template.yaml");
        for r in Resource::ALL {
            assert!(
                template.contains(&format!("\n  {}:", r.output())),
                "template.yaml has no output {}",
                r.output()
            );
        }
    }
}
