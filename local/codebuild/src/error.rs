//! Errors of the local build runner, mapped to CodeBuild API error types in `api`.

use std::path::PathBuf;

/// A buildspec that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum BuildspecError {
    #[error("buildspec is not valid YAML: {0}")]
    Yaml(#[source] serde_norway::Error),
    #[error("invalid buildspec: {0}")]
    Invalid(String),
}

/// Errors returned by [`crate::BuildRunner`].
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("project {0} does not exist")]
    ProjectNotFound(String),
    #[error("project {0} already exists")]
    ProjectExists(String),
    #[error("build {0} does not exist")]
    BuildNotFound(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A request whose JSON does not have the operation's shape.
    #[error("invalid input: {0}")]
    InvalidRequest(#[source] serde_json::Error),
    #[error("buildspec {path}: {source}")]
    Buildspec {
        path: String,
        #[source]
        source: BuildspecError,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
