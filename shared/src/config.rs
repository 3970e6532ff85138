//! The only place Ferry reads its environment. Names match template.yaml; there are no defaults
//! for resource names, so a missing variable is a clear error at cold start.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set (it names a Ferry resource; see README)")]
    Missing(&'static str),
}

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Resource names every Ferry process needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// DynamoDB table holding releases, rejections, environments, deployments, approvals, locks.
    pub table: String,
    /// S3 bucket for release zips, plans and terraform state.
    pub artifact_bucket: String,
}

impl Config {
    pub const TABLE: &'static str = "FERRY_TABLE";
    pub const ARTIFACT_BUCKET: &'static str = "FERRY_ARTIFACT_BUCKET";

    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: var(Self::TABLE)?,
            artifact_bucket: var(Self::ARTIFACT_BUCKET)?,
        })
    }
}

/// The table alone, for functions that never touch the bucket by name.
pub fn table_from_env() -> Result<String, ConfigError> {
    var(Config::TABLE)
}

/// `FERRY_LOG_FORMAT=json` (set in template.yaml) makes Lambda logs structured.
pub fn json_logs() -> bool {
    optional("FERRY_LOG_FORMAT").is_some_and(|v| v == "json")
        || optional("AWS_LAMBDA_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json"))
}

/// Local mode's settings: where moto_server comes from and where local state lives.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// The moto_server executable (`FERRY_MOTO_SERVER`, else `moto_server` on PATH).
    pub moto_server: String,
    /// Directory for pid files, logs and build scratch space (`FERRY_LOCAL_DIR`, else
    /// `$HOME/.ferry/local`).
    pub dir: std::path::PathBuf,
    /// moto's loopback port (`FERRY_LOCAL_PORT`, default 4599); the engine and build runner
    /// take the next two ports.
    pub port: u16,
}

impl LocalSettings {
    pub const DEFAULT_PORT: u16 = 4599;

    pub fn from_env() -> Self {
        let dir = optional("FERRY_LOCAL_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let home = optional("HOME").unwrap_or_else(|| ".".into());
                std::path::Path::new(&home).join(".ferry").join("local")
            });
        Self {
            moto_server: optional("FERRY_MOTO_SERVER").unwrap_or_else(|| "moto_server".into()),
            dir,
            port: optional("FERRY_LOCAL_PORT")
                .and_then(|p| p.parse().ok())
                .unwrap_or(Self::DEFAULT_PORT),
        }
    }
}

/// The SNS topic approval requests and results are published to.
pub fn topic_arn_from_env() -> Result<String, ConfigError> {
    var("FERRY_TOPIC_ARN")
}

/// The deploy state machine the Ferry API starts deployments on.
pub fn state_machine_from_env() -> Result<String, ConfigError> {
    var("FERRY_STATE_MACHINE_ARN")
}

/// The KMS key that seals task tokens in approval records.
pub fn token_key_from_env() -> Result<String, ConfigError> {
    var("FERRY_TOKEN_KEY")
}

/// The review page's address (its Function URL), which approval links open.
pub fn review_url_from_env() -> Result<String, ConfigError> {
    var("FERRY_REVIEW_URL")
}

/// The KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC) that signs approval links.
pub fn link_key_from_env() -> Result<String, ConfigError> {
    var("FERRY_LINK_KEY")
}

/// The OS user name, for local mode's identities.
pub fn os_user() -> String {
    optional("USER")
        .or_else(|| optional("LOGNAME"))
        .unwrap_or_else(|| "local-user".into())
}

/// The CloudFormation stack the CLI reads resource names from (`FERRY_STACK`).
pub fn stack_from_env() -> Option<String> {
    optional("FERRY_STACK")
}

/// Whether a variable is set (non-empty); the CLI lets explicit settings win over stack outputs.
pub fn is_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty())
}
