//! CodeBuild buildspec (version 0.2) parsing: the parts a bash runner needs, the rest accepted
//! and ignored so a buildspec written for AWS parses unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::error::BuildspecError;

/// A parsed buildspec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buildspec {
    pub version: String,
    pub env: BuildspecEnv,
    /// Phases in CodeBuild's order; absent phases are `None`.
    pub install: Option<PhaseSpec>,
    pub pre_build: Option<PhaseSpec>,
    pub build: Option<PhaseSpec>,
    pub post_build: Option<PhaseSpec>,
}

/// The `env` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildspecEnv {
    #[serde(default, deserialize_with = "string_map")]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub exported_variables: Vec<String>,
    #[serde(default)]
    pub shell: Option<String>,
    /// parameter-store, secrets-manager, git-credential-helper: AWS-only, ignored locally.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_norway::Value>,
}

/// What a phase does after one of its commands fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop the phase; the build goes on as CodeBuild's phase transitions say.
    #[default]
    Abort,
    /// Mark the phase failed but carry on with the next phase.
    Continue,
}

/// One phase (`install`, `pre_build`, `build`, `post_build`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseSpec {
    pub commands: Vec<String>,
    pub on_failure: OnFailure,
    /// Commands run after `commands`, whether those succeeded or not.
    pub finally: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
struct RawBuildspec {
    version: serde_norway::Value,
    #[serde(default)]
    env: Option<BuildspecEnv>,
    #[serde(default)]
    phases: RawPhases,
    // artifacts, reports, cache, batch, run-as, proxy: accepted and ignored.
    #[serde(flatten)]
    _other: BTreeMap<String, serde_norway::Value>,
}

#[derive(Deserialize, Default)]
struct RawPhases {
    install: Option<RawPhase>,
    pre_build: Option<RawPhase>,
    build: Option<RawPhase>,
    post_build: Option<RawPhase>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_norway::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawPhase {
    #[serde(default)]
    commands: Vec<serde_norway::Value>,
    #[serde(default)]
    on_failure: Option<String>,
    #[serde(default)]
    finally: Vec<serde_norway::Value>,
    // runtime-versions, run-as: meaningless for a local bash.
    #[serde(flatten)]
    _other: BTreeMap<String, serde_norway::Value>,
}

impl Buildspec {
    /// Parses buildspec YAML (JSON is YAML too).
    pub fn parse(text: &str) -> Result<Self, BuildspecError> {
        let raw: RawBuildspec = serde_norway::from_str(text).map_err(BuildspecError::Yaml)?;
        let version = scalar_string(&raw.version).ok_or_else(|| {
            BuildspecError::Invalid("version must be a string such as \"0.2\"".into())
        })?;
        if version != "0.2" {
            return Err(BuildspecError::Invalid(format!(
                "buildspec version {version} is not supported (only 0.2)"
            )));
        }
        if let Some(name) = raw.phases.other.keys().next() {
            return Err(BuildspecError::Invalid(format!("unknown phase '{name}'")));
        }
        let env = raw.env.unwrap_or_default();
        if let Some(shell) = &env.shell {
            // Both run with bash here; anything else would silently behave differently.
            if shell != "bash" && shell != "sh" {
                return Err(BuildspecError::Invalid(format!(
                    "env.shell '{shell}' is not supported locally (bash or sh)"
                )));
            }
        }
        Ok(Self {
            version,
            env,
            install: raw
                .phases
                .install
                .map(|p| phase("install", p))
                .transpose()?,
            pre_build: raw
                .phases
                .pre_build
                .map(|p| phase("pre_build", p))
                .transpose()?,
            build: raw.phases.build.map(|p| phase("build", p)).transpose()?,
            post_build: raw
                .phases
                .post_build
                .map(|p| phase("post_build", p))
                .transpose()?,
        })
    }
}

fn phase(name: &str, raw: RawPhase) -> Result<PhaseSpec, BuildspecError> {
    let on_failure = match raw.on_failure.as_deref() {
        None | Some("ABORT") => OnFailure::Abort,
        Some("CONTINUE") => OnFailure::Continue,
        Some(other) => {
            return Err(BuildspecError::Invalid(format!(
                "phases.{name}.on-failure '{other}' is not supported (ABORT or CONTINUE)"
            )))
        }
    };
    Ok(PhaseSpec {
        commands: commands(name, "commands", raw.commands)?,
        on_failure,
        finally: commands(name, "finally", raw.finally)?,
    })
}

/// Commands must be strings; YAML turns an unquoted `echo a: b` into a map, which CodeBuild
/// also rejects, so say which command it was.
fn commands(
    phase: &str,
    field: &str,
    values: Vec<serde_norway::Value>,
) -> Result<Vec<String>, BuildspecError> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            scalar_string(&v).ok_or_else(|| {
                BuildspecError::Invalid(format!(
                    "phases.{phase}.{field}[{i}] is not a string (quote commands containing ': ')"
                ))
            })
        })
        .collect()
}

fn scalar_string(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `env.variables` values may be written as YAML numbers or booleans; they are strings to bash.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_norway::Value>> = Option::deserialize(d)?;
    raw.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match v {
            serde_norway::Value::Null => Ok((k, String::new())),
            other => scalar_string(&other)
                .map(|s| (k.clone(), s))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("env.variables.{k} must be a scalar"))
                }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_phases_env_and_ignores_aws_only_sections() {
        let spec = Buildspec::parse(
            r#"
version: 0.2
env:
  shell: bash
  variables:
    A: "x"
    N: 3
  exported-variables: [A]
  parameter-store:
    P: /some/param
phases:
  install:
    runtime-versions: { python: 3.11 }
    commands: [echo hi]
  build:
    on-failure: CONTINUE
    commands:
      - 'echo "a: b"'
    finally:
      - echo done
artifacts:
  files: ['**/*']
"#,
        )
        .unwrap();
        assert_eq!(spec.version, "0.2");
        assert_eq!(spec.env.variables["N"], "3");
        assert_eq!(spec.env.exported_variables, vec!["A"]);
        assert_eq!(spec.install.unwrap().commands, vec!["echo hi"]);
        let build = spec.build.unwrap();
        assert_eq!(build.on_failure, OnFailure::Continue);
        assert_eq!(build.commands, vec!["echo \"a: b\""]);
        assert_eq!(build.finally, vec!["echo done"]);
        assert!(spec.pre_build.is_none());
    }

    #[test]
    fn rejects_map_commands_and_unknown_things() {
        let err =
            Buildspec::parse("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n")
                .unwrap_err();
        assert!(
            err.to_string().contains("phases.build.commands[0]"),
            "{err}"
        );
        assert!(Buildspec::parse("version: 0.1\nphases: {}\n").is_err());
        assert!(Buildspec::parse("version: 0.2\nphases:\n  deploy:\n    commands: [x]\n").is_err());
        assert!(Buildspec::parse("version: 0.2\nenv:\n  shell: zsh\n").is_err());
    }

    #[test]
    fn ferry_terraform_buildspec_parses() {
        let text = include_str!("../../../buildspec/terraform.yml");
        let spec = Buildspec::parse(text).unwrap();
        assert_eq!(spec.env.shell.as_deref(), Some("bash"));
        assert!(spec
            .env
            .exported_variables
            .contains(&"FERRY_PLAN_SHA256".to_string()));
        assert!(spec.build.is_some());
    }
}
