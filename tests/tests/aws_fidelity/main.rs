//! What AWS would reject, caught offline: the SAM template (cfn-lint, `sam validate --lint`, the
//! transformed template), the state machine (asl-validator, substitutions, integrations and
//! their parameters), IAM coverage (every SDK call each function makes, from its code and the
//! workspace library code it reaches, is in its `functions/<name>/iam.json`, which template.yaml
//! grants exactly), and handler inputs in the shapes AWS sends. The release build of the
//! functions is `scripts/check-aws.sh` (too slow for a test).
//!
//! Modules: `cfn` and `policy` read the template and its IAM grants; `template`,
//! `state_machine`, `events`, `iam_coverage` and `build_role` hold the checks; `rust_scan` (syn)
//! and `iam_scan` find the SDK calls each function makes.

mod approvers;
mod build_role;
mod cfn;
mod events;
mod iam_coverage;
mod iam_scan;
mod policy;
mod rust_scan;
mod state_machine;
mod template;

use std::path::PathBuf;
use std::process::Command;

pub fn root() -> PathBuf {
    ferry_tests::repo_root()
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// A tool the checks need; missing means a failed test with the fix, never a skip.
pub fn tool(rel: &str, hint: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(p.exists(), "{} not found: {hint}", p.display());
    p
}

pub const SETUP_HINT: &str = "run `bash scripts/setup.sh` (installs cfn-lint, aws-sam-cli and cargo-lambda into .venv, asl-validator into node_modules)";

/// Runs a command to completion; panics with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

pub fn check_aws() -> Command {
    tool(".venv/bin/python3", SETUP_HINT);
    let mut c = Command::new("bash");
    c.arg(root().join("scripts/check-aws.sh"));
    c
}
