//! Argument groups several commands share: where Ferry's resources are, and who is acting.
//! Resource names are optional here: [`crate::context::Context`] falls back to the stack's
//! outputs and says what is missing when nothing names them.

use anyhow::Result;
use clap::Args;

/// Ferry's table.
#[derive(Debug, Clone, Args)]
pub struct TableArg {
    /// DynamoDB table Ferry keeps its records in [default: from --stack].
    #[arg(long, env = "FERRY_TABLE", hide_env_values = true)]
    pub table: Option<String>,
}

/// Ferry's table and artifact bucket.
#[derive(Debug, Clone, Args)]
pub struct Resources {
    #[command(flatten)]
    pub table: TableArg,
    /// S3 bucket holding release zips, plans and state [default: from --stack].
    #[arg(long, env = "FERRY_ARTIFACT_BUCKET", hide_env_values = true)]
    pub bucket: Option<String>,
}

/// How to reach the deploy workflow.
#[derive(Debug, Clone, Args)]
pub struct Workflow {
    /// The deploy state machine (the stack's StateMachineArn output) [default: from --stack].
    #[arg(long, env = "FERRY_STATE_MACHINE_ARN", hide_env_values = true)]
    pub state_machine: Option<String>,
}

/// Who is acting. In AWS it is the caller's IAM identity; `--as` exists only in local mode.
#[derive(Debug, Clone, Args)]
pub struct Actor {
    /// Act as this user (local mode only, where there is no IAM).
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    #[arg(long, env = "FERRY_LOCAL", hide = true)]
    pub local: Option<String>,
}

impl Actor {
    fn is_local(&self) -> bool {
        self.local
            .as_deref()
            .is_some_and(|v| v == "1" || v == "true")
    }

    /// The local user name, or an error when `--as` is used outside local mode.
    pub fn local_name(&self) -> Result<Option<String>> {
        match (&self.as_user, self.is_local()) {
            (Some(_), false) => anyhow::bail!(
                "--as is only available in local mode (FERRY_LOCAL=1); in AWS your IAM identity is used"
            ),
            (Some(u), true) => Ok(Some(u.clone())),
            (None, true) => Ok(Some(ferry_shared::config::os_user())),
            (None, false) => Ok(None),
        }
    }
}
