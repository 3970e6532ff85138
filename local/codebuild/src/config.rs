//! How a build runner is set up: where builds run and log, what environment they start from,
//! and the region and account its ARNs name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How the runner is set up; `ferry local up` fills it in.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Region used in ARNs and given to builds as AWS_REGION / AWS_DEFAULT_REGION.
    pub region: String,
    pub account_id: String,
    /// Start every build from this process's environment (PATH, HOME, …).
    pub inherit_env: bool,
    /// Added to every build's environment (e.g. AWS_ENDPOINT_URL and dummy credentials).
    pub base_env: BTreeMap<String, String>,
    /// Scratch directories are created under this directory.
    pub work_root: PathBuf,
    /// Build logs are written to `<log_dir>/<project>/<build uuid>.log`.
    pub log_dir: PathBuf,
    /// Timeout of projects that set none (CodeBuild's default is 60 minutes).
    pub default_timeout: Duration,
    /// Keep scratch directories after builds (for debugging).
    pub keep_workdirs: bool,
}

impl RunnerConfig {
    /// Defaults: us-east-1, account 000000000000, inherited environment, scratch and logs
    /// under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            inherit_env: true,
            base_env: BTreeMap::new(),
            work_root: root.join("work"),
            log_dir: root.join("logs"),
            default_timeout: Duration::from_secs(60 * 60),
            keep_workdirs: false,
        }
    }

    /// The ARN of a `build` or `project` called `name`.
    pub(crate) fn arn(&self, kind: ArnKind, name: &str) -> String {
        format!(
            "arn:aws:codebuild:{}:{}:{}/{name}",
            self.region,
            self.account_id,
            kind.as_str()
        )
    }
}

/// The resource types in CodeBuild ARNs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ArnKind {
    Build,
    Project,
}

impl ArnKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Build => "build",
            Self::Project => "project",
        }
    }

    /// The id or name in `id_or_arn`: the SDK and console pass either.
    pub(crate) fn strip(self, id_or_arn: &str) -> &str {
        let marker = match self {
            Self::Build => ":build/",
            Self::Project => ":project/",
        };
        id_or_arn
            .rsplit_once(marker)
            .map_or(id_or_arn, |(_, name)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let config = RunnerConfig::new("/x");
        let arn = config.arn(ArnKind::Build, "p:1");
        assert_eq!(arn, "arn:aws:codebuild:us-east-1:000000000000:build/p:1");
        assert_eq!(ArnKind::Build.strip(&arn), "p:1");
        assert_eq!(ArnKind::Build.strip("p:1"), "p:1");
        assert_eq!(
            ArnKind::Project.strip(&config.arn(ArnKind::Project, "p")),
            "p"
        );
    }
}
