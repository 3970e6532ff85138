//! `--stack NAME` / `FERRY_STACK`: find every resource from the CloudFormation stack's Outputs
//! (template.yaml), so nobody copies resource names by hand. Explicit flags and variables win.

use anyhow::{Context, Result};

/// Stack output → the variable the CLI reads it from.
pub const OUTPUTS: [(&str, &str); 6] = [
    ("ArtifactBucketName", "FERRY_ARTIFACT_BUCKET"),
    ("TableName", "FERRY_TABLE"),
    ("StateMachineArn", "FERRY_STATE_MACHINE_ARN"),
    ("ApprovalUrl", "FERRY_APPROVAL_URL"),
    ("TopicArn", "FERRY_TOPIC_ARN"),
    (
        "DefaultApprovalTimeoutSeconds",
        "FERRY_DEFAULT_APPROVAL_TIMEOUT",
    ),
];

/// The stack named by `--stack NAME`/`--stack=NAME` in `args`, else `FERRY_STACK`.
pub fn requested(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--stack" {
            return it.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--stack=") {
            return Some(v.to_owned());
        }
    }
    ferry_shared::config::stack_from_env()
}

/// Reads the stack's outputs: (variable, value) for each one the CLI uses.
pub async fn resolve(stack: &str) -> Result<Vec<(&'static str, String)>> {
    let sdk = ferry_shared::aws::sdk_config().await;
    let out = aws_sdk_cloudformation::Client::new(&sdk)
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
    Ok(OUTPUTS
        .iter()
        .filter_map(|(key, var)| {
            outputs
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .map(|v| (*var, v.to_owned()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_flag_forms() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            requested(&args(&["ferry", "--stack", "prod-ferry", "status"])).as_deref(),
            Some("prod-ferry")
        );
        assert_eq!(
            requested(&args(&["ferry", "status", "--stack=x"])).as_deref(),
            Some("x")
        );
    }

    #[test]
    fn every_output_exists_in_the_template() {
        let template = include_str!("../../template.yaml");
        for (key, _) in OUTPUTS {
            assert!(
                template.contains(&format!("\n  {key}:")),
                "template.yaml has no output {key}"
            );
        }
    }
}
