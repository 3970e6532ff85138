//! Ferry's local build runner: runs a CodeBuild buildspec (such as `buildspec/terraform.yml`)
//! with bash in a scratch directory under CodeBuild's environment and exit semantics, keeps every
//! build's record and log, and answers the CodeBuild API calls Ferry makes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ferry_codebuild::{BuildRunner, RunnerConfig, StartBuild};
//! let runner = BuildRunner::new(RunnerConfig::new("/tmp/ferry-builds"))?;
//! runner.register_project("ferry-terraform", "buildspec/terraform.yml", [("FERRY_ARTIFACT_BUCKET", "b")])?;
//! let build = runner.start_build(StartBuild::new("ferry-terraform").env("FERRY_ACTION", "plan")).await?;
//! let done = runner.wait_build(&build.id).await?;
//! println!("{}", done.to_sfn_json());
//! # Ok(()) }
//! ```

pub mod api;
pub mod buildspec;
mod config;
pub mod error;
mod job;
pub mod model;
mod project;
mod registry;
mod request;
mod shell;

pub use api::{router, serve};
pub use buildspec::{Buildspec, OnFailure, PhaseSpec};
pub use config::RunnerConfig;
pub use error::{BuildspecError, RunnerError};
pub use model::{
    Build, BuildPhase, EnvironmentVariable, ExportedEnvironmentVariable, PhaseContext, PhaseType,
    StatusType,
};
pub use project::{BuildspecSource, Project};
pub use registry::BuildRunner;
pub use request::StartBuild;
