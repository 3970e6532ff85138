//! Requests parsed once at the edge: `StartBuild` from the CodeBuild API (camelCase) or a Step
//! Functions Task's `Parameters` (PascalCase), and the other API operations' inputs.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use crate::error::RunnerError;
use crate::model::EnvironmentVariable;
use crate::project::{BuildspecSource, Project};

/// A StartBuild request.
#[derive(Debug, Clone, Default)]
pub struct StartBuild {
    pub project_name: String,
    pub env_overrides: Vec<EnvironmentVariable>,
    pub buildspec_override: Option<String>,
    pub timeout: Option<Duration>,
    pub initiator: Option<String>,
}

/// The wire shape; aliases take Step Functions' PascalCase spelling of the same fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBuildInput {
    #[serde(alias = "ProjectName")]
    project_name: String,
    #[serde(default, alias = "EnvironmentVariablesOverride")]
    environment_variables_override: Vec<EnvironmentVariable>,
    #[serde(default, alias = "BuildspecOverride")]
    buildspec_override: Option<String>,
    #[serde(default, alias = "TimeoutInMinutesOverride")]
    timeout_in_minutes_override: Option<u64>,
}

impl StartBuild {
    pub fn new(project_name: impl Into<String>) -> Self {
        Self {
            project_name: project_name.into(),
            ..Self::default()
        }
    }

    /// Adds a PLAINTEXT environment variable override.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env_overrides
            .push(EnvironmentVariable::plaintext(name, value));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn buildspec_override(mut self, buildspec: impl Into<String>) -> Self {
        self.buildspec_override = Some(buildspec.into());
        self
    }

    /// From the `Parameters` of a `codebuild:startBuild(.sync)` Task state (PascalCase).
    pub fn from_sfn_parameters(v: &Value) -> Result<Self, RunnerError> {
        Self::from_api_json(v)
    }

    /// From the CodeBuild API request (`projectName`, `environmentVariablesOverride`, …). Either
    /// spelling is read by both entry points: the fields are the same.
    pub fn from_api_json(v: &Value) -> Result<Self, RunnerError> {
        let input = StartBuildInput::deserialize(v).map_err(RunnerError::InvalidRequest)?;
        let timeout = input
            .timeout_in_minutes_override
            .map(|minutes| {
                // CodeBuild's own bounds, so a value AWS would refuse fails locally too.
                if (5..=2160).contains(&minutes) {
                    Ok(Duration::from_secs(minutes * 60))
                } else {
                    Err(RunnerError::InvalidInput(
                        "timeoutInMinutesOverride must be 5..2160".into(),
                    ))
                }
            })
            .transpose()?;
        Ok(Self {
            project_name: input.project_name,
            env_overrides: input.environment_variables_override,
            buildspec_override: input.buildspec_override,
            timeout,
            initiator: None,
        })
    }
}

/// `CreateProject` input: the parts a local project has.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateProject {
    name: String,
    #[serde(default)]
    source: CreateProjectSource,
    #[serde(default)]
    environment: CreateProjectEnvironment,
    #[serde(default)]
    timeout_in_minutes: Option<u64>,
}

#[derive(Deserialize, Default)]
struct CreateProjectSource {
    #[serde(default)]
    buildspec: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateProjectEnvironment {
    #[serde(default)]
    environment_variables: Vec<EnvironmentVariable>,
}

impl CreateProject {
    /// `source.buildspec` is inline YAML when it has several lines, else a path on this machine
    /// (CodeBuild reads it from the source; there is no source locally).
    pub(crate) fn into_project(self) -> Result<Project, RunnerError> {
        let buildspec = self.source.buildspec.ok_or_else(|| {
            RunnerError::InvalidInput("source.buildspec is required locally".into())
        })?;
        let buildspec = if buildspec.contains('\n') {
            BuildspecSource::Inline(buildspec)
        } else {
            BuildspecSource::File(PathBuf::from(buildspec))
        };
        Ok(Project {
            name: self.name,
            buildspec,
            env: self.environment.environment_variables,
            timeout: self.timeout_in_minutes.map(|m| Duration::from_secs(m * 60)),
            created: Utc::now(),
        })
    }
}

/// `BatchGetBuilds` input.
#[derive(Deserialize)]
pub(crate) struct BatchGetBuilds {
    pub ids: Vec<String>,
}

/// `BatchGetProjects` input.
#[derive(Deserialize)]
pub(crate) struct BatchGetProjects {
    pub names: Vec<String>,
}

/// `StopBuild` input.
#[derive(Deserialize)]
pub(crate) struct StopBuild {
    pub id: String,
}

/// `ListBuildsForProject` input.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListBuildsForProject {
    pub project_name: String,
    #[serde(default)]
    pub sort_order: Option<SortOrder>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SortOrder {
    Ascending,
    Descending,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn start_build_reads_both_spellings() {
        let api = StartBuild::from_api_json(&json!({
            "projectName": "p",
            "environmentVariablesOverride": [{"name": "A", "value": "1"}],
            "buildspecOverride": "version: 0.2",
            "timeoutInMinutesOverride": 5
        }))
        .unwrap();
        let sfn = StartBuild::from_sfn_parameters(&json!({
            "ProjectName": "p",
            "EnvironmentVariablesOverride": [{"Name": "A", "Value": "1", "Type": "PLAINTEXT"}],
            "BuildspecOverride": "version: 0.2",
            "TimeoutInMinutesOverride": 5
        }))
        .unwrap();
        for r in [&api, &sfn] {
            assert_eq!(r.project_name, "p");
            assert_eq!(
                r.env_overrides,
                vec![EnvironmentVariable::plaintext("A", "1")]
            );
            assert_eq!(r.buildspec_override.as_deref(), Some("version: 0.2"));
            assert_eq!(r.timeout, Some(Duration::from_secs(300)));
            assert_eq!(r.initiator, None);
        }
    }

    #[test]
    fn start_build_refuses_bad_input() {
        for bad in [
            json!({}),
            json!({"projectName": "p", "environmentVariablesOverride": {}}),
            json!({"projectName": "p", "environmentVariablesOverride": [{"value": "1"}]}),
            json!({"projectName": "p", "timeoutInMinutesOverride": 4}),
            json!({"ProjectName": "p", "TimeoutInMinutesOverride": 2161}),
        ] {
            assert!(
                matches!(
                    StartBuild::from_api_json(&bad),
                    Err(RunnerError::InvalidInput(_) | RunnerError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
        let null_timeout = json!({"projectName": "p", "timeoutInMinutesOverride": null});
        assert_eq!(
            StartBuild::from_api_json(&null_timeout).unwrap().timeout,
            None
        );
    }

    #[test]
    fn create_project_reads_inline_or_file_buildspecs() {
        let input: CreateProject = serde_json::from_value(json!({
            "name": "p",
            "source": {"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases: {}\n"},
            "environment": {"environmentVariables": [{"name": "A", "value": "1", "type": "PLAINTEXT"}]},
            "timeoutInMinutes": 10
        }))
        .unwrap();
        let p = input.into_project().unwrap();
        assert!(matches!(p.buildspec, BuildspecSource::Inline(_)));
        assert_eq!(p.env, vec![EnvironmentVariable::plaintext("A", "1")]);
        assert_eq!(p.timeout, Some(Duration::from_secs(600)));
        let input: CreateProject =
            serde_json::from_value(json!({"name": "p", "source": {"buildspec": "b.yml"}})).unwrap();
        assert_eq!(
            input.into_project().unwrap().buildspec,
            BuildspecSource::File("b.yml".into())
        );
        let input: CreateProject = serde_json::from_value(json!({"name": "p"})).unwrap();
        assert!(input.into_project().is_err());
    }
}
