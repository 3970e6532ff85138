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
            (Some(u), true) => local_user(u).map(Some),
            (None, true) => local_user(&ferry_shared::config::os_user()).map(Some),
            (None, false) => Ok(None),
        }
    }
}

/// A local user name as identities use it, checked so it can never pass for another principal.
fn local_user(name: &str) -> Result<String> {
    anyhow::ensure!(
        ferry_shared::identity::valid_local_name(name),
        "invalid local user name {name:?}: use letters, digits and . _ - @ + (no / or :)"
    );
    Ok(name.to_owned())
}
