//! The build record, serialised exactly as the CodeBuild API names it (camelCase, epoch-second
//! timestamps), plus the PascalCase shape Step Functions' `codebuild:startBuild.sync` returns.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// `buildStatus` / `phaseStatus` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusType {
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    InProgress,
    Stopped,
}

impl StatusType {
    /// The API spelling, e.g. `TIMED_OUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Fault => "FAULT",
            Self::TimedOut => "TIMED_OUT",
            Self::InProgress => "IN_PROGRESS",
            Self::Stopped => "STOPPED",
        }
    }
}

/// `phaseType` values the local runner goes through (a subset of CodeBuild's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseType {
    Submitted,
    Provisioning,
    Install,
    PreBuild,
    Build,
    PostBuild,
    Finalizing,
    Completed,
}

impl PhaseType {
    /// The API spelling, e.g. `PRE_BUILD`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Provisioning => "PROVISIONING",
            Self::Install => "INSTALL",
            Self::PreBuild => "PRE_BUILD",
            Self::Build => "BUILD",
            Self::PostBuild => "POST_BUILD",
            Self::Finalizing => "FINALIZING",
            Self::Completed => "COMPLETED",
        }
    }
}

/// Why a phase ended as it did (CodeBuild's `PhaseContext`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseContext {
    pub status_code: String,
    pub message: String,
}

/// One entry of `phases`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildPhase {
    pub phase_type: PhaseType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase_status: Option<StatusType>,
    #[serde(serialize_with = "epoch_seconds")]
    pub start_time: DateTime<Utc>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_epoch_seconds"
    )]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<PhaseContext>,
}

impl BuildPhase {
    /// A phase entered at `at` and still running.
    pub fn started(phase_type: PhaseType, at: DateTime<Utc>) -> Self {
        Self {
            phase_type,
            phase_status: None,
            start_time: at,
            end_time: None,
            duration_in_seconds: None,
            contexts: vec![],
        }
    }

    /// A phase that began and ended at `at` (SUBMITTED is over as soon as the build exists).
    pub fn instant(phase_type: PhaseType, status: StatusType, at: DateTime<Utc>) -> Self {
        Self {
            phase_status: Some(status),
            end_time: Some(at),
            duration_in_seconds: Some(0),
            ..Self::started(phase_type, at)
        }
    }
}

/// `{name, value, type}` as in `environmentVariablesOverride` and `environment`. The PascalCase
/// aliases are how Step Functions' `Parameters` spell it; a missing value is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentVariable {
    #[serde(alias = "Name")]
    pub name: String,
    #[serde(default, alias = "Value")]
    pub value: String,
    #[serde(rename = "type", alias = "Type", default = "plaintext")]
    pub kind: String,
}

fn plaintext() -> String {
    "PLAINTEXT".to_string()
}

impl EnvironmentVariable {
    pub fn plaintext(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            kind: plaintext(),
        }
    }
}

/// `exportedEnvironmentVariables` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedEnvironmentVariable {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildEnvironment {
    #[serde(rename = "type")]
    pub kind: String,
    pub image: String,
    pub compute_type: String,
    pub environment_variables: Vec<EnvironmentVariable>,
}

impl BuildEnvironment {
    /// The one environment local builds have: bash on this machine.
    pub fn local(environment_variables: Vec<EnvironmentVariable>) -> Self {
        Self {
            kind: "LINUX_CONTAINER".into(),
            image: "ferry-local-bash".into(),
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            environment_variables,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildLogs {
    pub group_name: String,
    pub stream_name: String,
    /// A `file://` URL of the log on this machine.
    pub deep_link: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildSource {
    #[serde(rename = "type")]
    pub kind: String,
}

impl BuildSource {
    /// Local builds have no source: the buildspec brings everything it needs.
    pub fn none() -> Self {
        Self {
            kind: "NO_SOURCE".into(),
        }
    }
}

/// A build as `BatchGetBuilds` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    pub id: String,
    pub arn: String,
    pub build_number: u64,
    #[serde(serialize_with = "epoch_seconds")]
    pub start_time: DateTime<Utc>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_epoch_seconds"
    )]
    pub end_time: Option<DateTime<Utc>>,
    pub current_phase: PhaseType,
    pub build_status: StatusType,
    pub project_name: String,
    pub phases: Vec<BuildPhase>,
    pub source: BuildSource,
    pub environment: BuildEnvironment,
    pub logs: BuildLogs,
    pub timeout_in_minutes: u64,
    pub build_complete: bool,
    pub initiator: String,
    pub exported_environment_variables: Vec<ExportedEnvironmentVariable>,
    /// Where the full log is kept on disk (not part of the API shape).
    #[serde(skip)]
    pub log_path: PathBuf,
}

impl Build {
    /// The CodeBuild API JSON (`BatchGetBuilds` / `StartBuild` `build` element).
    pub fn to_api_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// What Step Functions' `codebuild:startBuild.sync` returns as the task result:
    /// `{"Build": {...}}` with PascalCase keys. Timestamps are epoch milliseconds there, as Step
    /// Functions renders service timestamps in task output.
    pub fn to_sfn_json(&self) -> Value {
        let mut build = pascal_case(self.to_api_json());
        if let Value::Object(map) = &mut build {
            millis(map, "StartTime");
            millis(map, "EndTime");
            if let Some(Value::Array(phases)) = map.get_mut("Phases") {
                for phase in phases.iter_mut().filter_map(Value::as_object_mut) {
                    millis(phase, "StartTime");
                    millis(phase, "EndTime");
                }
            }
        }
        serde_json::json!({ "Build": build })
    }

    /// The value of one exported variable, if the build exported it.
    pub fn exported(&self, name: &str) -> Option<&str> {
        self.exported_environment_variables
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }

    pub fn succeeded(&self) -> bool {
        self.build_status == StatusType::Succeeded
    }

    /// Enters `phase`.
    pub fn enter(&mut self, phase: PhaseType, at: DateTime<Utc>) {
        self.current_phase = phase;
        self.phases.push(BuildPhase::started(phase, at));
    }

    /// Closes the open phase, if any, and says which one it was.
    pub fn close_phase(
        &mut self,
        status: StatusType,
        context: Option<PhaseContext>,
        at: DateTime<Utc>,
    ) -> Option<PhaseType> {
        let phase = self
            .phases
            .last_mut()
            .filter(|p| p.phase_status.is_none())?;
        phase.phase_status = Some(status);
        phase.end_time = Some(at);
        phase.duration_in_seconds = Some((at - phase.start_time).num_seconds());
        phase.contexts.extend(context);
        Some(phase.phase_type)
    }

    /// Ends the build in COMPLETED with its final status and exported variables.
    pub fn complete(
        &mut self,
        status: StatusType,
        exported: Vec<ExportedEnvironmentVariable>,
        at: DateTime<Utc>,
    ) {
        self.enter(PhaseType::Completed, at);
        self.build_status = status;
        self.end_time = Some(at);
        self.exported_environment_variables = exported;
        // Last: waiters wake on this flag and must see everything above.
        self.build_complete = true;
    }
}

fn to_epoch_seconds(t: &DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The API's timestamp: epoch seconds with millisecond fraction.
pub(crate) fn epoch_seconds<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(to_epoch_seconds(t))
}

fn opt_epoch_seconds<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => epoch_seconds(t, s),
        None => s.serialize_none(),
    }
}

fn millis(map: &mut Map<String, Value>, key: &str) {
    if let Some(v) = map.get_mut(key) {
        if let Some(secs) = v.as_f64() {
            *v = Value::from((secs * 1000.0).round() as i64);
        }
    }
}

/// Step Functions names every field of a service result in PascalCase: the API's camelCase
/// key with its first letter upper-cased (`buildStatus` → `BuildStatus`, `arn` → `Arn`).
fn pascal_case(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut chars = k.chars();
                    let key = match chars.next() {
                        Some(first) => first.to_uppercase().chain(chars).collect(),
                        None => k,
                    };
                    (key, pascal_case(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(pascal_case).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> Build {
        let t0 = Utc.timestamp_millis_opt(1_700_000_000_500).unwrap();
        Build {
            id: "p:1".into(),
            arn: "arn:aws:codebuild:us-east-1:000000000000:build/p:1".into(),
            build_number: 1,
            start_time: t0,
            end_time: Some(t0),
            current_phase: PhaseType::Completed,
            build_status: StatusType::Succeeded,
            project_name: "p".into(),
            phases: vec![BuildPhase::instant(
                PhaseType::Build,
                StatusType::Succeeded,
                t0,
            )],
            source: BuildSource::none(),
            environment: BuildEnvironment::local(vec![EnvironmentVariable::plaintext("A", "1")]),
            logs: BuildLogs {
                group_name: "g".into(),
                stream_name: "s".into(),
                deep_link: "file:///x".into(),
            },
            timeout_in_minutes: 60,
            build_complete: true,
            initiator: "ferry".into(),
            exported_environment_variables: vec![ExportedEnvironmentVariable {
                name: "X".into(),
                value: "y".into(),
            }],
            log_path: PathBuf::from("/x"),
        }
    }

    #[test]
    fn api_json_uses_codebuild_names() {
        let v = sample().to_api_json();
        assert_eq!(v["buildStatus"], "SUCCEEDED");
        assert_eq!(v["currentPhase"], "COMPLETED");
        assert_eq!(v["startTime"], 1_700_000_000.5);
        assert_eq!(v["phases"][0]["phaseType"], "BUILD");
        assert_eq!(
            v["environment"]["environmentVariables"][0]["type"],
            "PLAINTEXT"
        );
        assert_eq!(v["exportedEnvironmentVariables"][0]["name"], "X");
        assert!(v.get("logPath").is_none());
    }

    #[test]
    fn sfn_json_is_pascal_case_with_millis() {
        let v = sample().to_sfn_json();
        let b = &v["Build"];
        assert_eq!(b["Id"], "p:1");
        assert_eq!(b["BuildStatus"], "SUCCEEDED");
        assert_eq!(b["StartTime"], 1_700_000_000_500i64);
        assert_eq!(b["Phases"][0]["PhaseStatus"], "SUCCEEDED");
        assert_eq!(b["Phases"][0]["EndTime"], 1_700_000_000_500i64);
        assert_eq!(b["ExportedEnvironmentVariables"][0]["Name"], "X");
        assert_eq!(b["ExportedEnvironmentVariables"][0]["Value"], "y");
    }

    #[test]
    fn as_str_matches_the_serde_spelling() {
        use StatusType as S;
        for s in [
            S::Succeeded,
            S::Failed,
            S::Fault,
            S::TimedOut,
            S::InProgress,
            S::Stopped,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        use PhaseType as P;
        for p in [
            P::Submitted,
            P::Provisioning,
            P::Install,
            P::PreBuild,
            P::Build,
            P::PostBuild,
            P::Finalizing,
            P::Completed,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn phases_close_once_and_completion_is_flagged_last() {
        let mut b = sample();
        let t0 = b.start_time;
        let t1 = t0 + chrono::Duration::seconds(3);
        b.build_complete = false;
        b.enter(PhaseType::PostBuild, t0);
        assert_eq!(b.current_phase, PhaseType::PostBuild);
        let ctx = PhaseContext {
            status_code: "C".into(),
            message: "m".into(),
        };
        assert_eq!(
            b.close_phase(StatusType::Failed, Some(ctx.clone()), t1),
            Some(PhaseType::PostBuild)
        );
        let last = b.phases.last().unwrap();
        assert_eq!(last.duration_in_seconds, Some(3));
        assert_eq!(last.contexts, vec![ctx]);
        assert_eq!(b.close_phase(StatusType::Succeeded, None, t1), None);
        b.complete(StatusType::Failed, vec![], t1);
        assert!(b.build_complete);
        assert_eq!(b.current_phase, PhaseType::Completed);
        assert_eq!(b.phases.last().unwrap().phase_status, None);
        assert_eq!(b.end_time, Some(t1));
    }

    #[test]
    fn environment_variables_accept_sfn_spelling() {
        let v: EnvironmentVariable =
            serde_json::from_value(serde_json::json!({"Name": "A", "Value": "1"})).unwrap();
        assert_eq!(v, EnvironmentVariable::plaintext("A", "1"));
    }
}
