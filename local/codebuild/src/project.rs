//! Projects: a name, a buildspec and the environment every build of it starts with, and the
//! shape `BatchGetProjects` / `CreateProject` answer with.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::buildspec::Buildspec;
use crate::config::{ArnKind, RunnerConfig};
use crate::error::RunnerError;
use crate::model::{epoch_seconds, BuildEnvironment, BuildSource, EnvironmentVariable};

/// Where a project's buildspec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildspecSource {
    /// Read at every build start, so edits apply to the next build.
    File(PathBuf),
    Inline(String),
}

impl BuildspecSource {
    /// Reads and parses the buildspec.
    pub fn load(&self) -> Result<Buildspec, RunnerError> {
        let (text, path) = match self {
            Self::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| RunnerError::Io {
                    path: path.clone(),
                    source,
                })?;
                (text, path.display().to_string())
            }
            Self::Inline(text) => (text.clone(), "(inline)".into()),
        };
        Buildspec::parse(&text).map_err(|source| RunnerError::Buildspec { path, source })
    }
}

/// A registered project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub buildspec: BuildspecSource,
    pub env: Vec<EnvironmentVariable>,
    pub timeout: Option<Duration>,
    pub created: DateTime<Utc>,
}

impl Project {
    /// The CodeBuild API JSON of the project (`BatchGetProjects` element).
    pub fn to_api_json(&self, config: &RunnerConfig) -> Value {
        let buildspec = match &self.buildspec {
            BuildspecSource::File(path) => path.display().to_string(),
            BuildspecSource::Inline(text) => text.clone(),
        };
        let view = ProjectView {
            name: &self.name,
            arn: config.arn(ArnKind::Project, &self.name),
            source: ProjectSource {
                source: BuildSource::none(),
                buildspec,
            },
            artifacts: Artifacts {
                kind: "NO_ARTIFACTS",
            },
            environment: BuildEnvironment::local(self.env.clone()),
            timeout_in_minutes: self
                .timeout
                .unwrap_or(config.default_timeout)
                .as_secs()
                .div_ceil(60),
            created: self.created,
        };
        serde_json::to_value(view).unwrap_or(Value::Null)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectView<'a> {
    name: &'a str,
    arn: String,
    source: ProjectSource,
    artifacts: Artifacts,
    environment: BuildEnvironment,
    timeout_in_minutes: u64,
    #[serde(serialize_with = "epoch_seconds")]
    created: DateTime<Utc>,
}

/// A project's source is a build's plus the buildspec.
#[derive(Serialize)]
struct ProjectSource {
    #[serde(flatten)]
    source: BuildSource,
    buildspec: String,
}

#[derive(Serialize)]
struct Artifacts {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn api_json_has_codebuild_names() {
        let p = Project {
            name: "p".into(),
            buildspec: BuildspecSource::File("/b.yml".into()),
            env: vec![EnvironmentVariable::plaintext("A", "1")],
            timeout: Some(Duration::from_secs(90)),
            created: Utc.timestamp_millis_opt(1_700_000_000_500).unwrap(),
        };
        let v = p.to_api_json(&RunnerConfig::new("/x"));
        assert_eq!(
            v["arn"],
            "arn:aws:codebuild:us-east-1:000000000000:project/p"
        );
        assert_eq!(v["source"]["type"], "NO_SOURCE");
        assert_eq!(v["source"]["buildspec"], "/b.yml");
        assert_eq!(v["artifacts"]["type"], "NO_ARTIFACTS");
        assert_eq!(v["environment"]["environmentVariables"][0]["name"], "A");
        assert_eq!(v["environment"]["computeType"], "BUILD_GENERAL1_SMALL");
        assert_eq!(v["timeoutInMinutes"], 2);
        assert_eq!(v["created"], 1_700_000_000.5);
    }
}
