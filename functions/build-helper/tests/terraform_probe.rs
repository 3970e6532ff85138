//! `ferry-build probe-terraform` then `terraform-version`: the tools step gets the answer of
//! the terraform the probe started (waiting for it, asking no second time), `--now` asks again
//! (after an install), and with no terraform on PATH the check says so. Runs the real binary
//! with a stand-in `terraform` that answers slowly and counts its calls.

use std::path::Path;
use std::process::{Command, Output};

const HELPER: &str = env!("CARGO_BIN_EXE_build-helper");

/// A `terraform` that takes a while to answer `version -json` and logs each call.
fn fake_terraform(bin: &Path, calls: &Path) {
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\nsleep 0.5\necho '{{\"terraform_version\":\"1.11.9\",\"platform\":\"linux_amd64\"}}'\n",
        calls.display()
    );
    let path = bin.join("terraform");
    std::fs::write(&path, script).expect("write fake terraform");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn helper(work: &Path, path: &str, args: &[&str]) -> Output {
    Command::new(HELPER)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("FERRY_WORK", work)
        .output()
        .expect("run ferry-build")
}

fn calls(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |s| s.lines().count())
}

#[test]
fn the_check_reads_the_probes_answer_and_asks_again_only_when_told() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (bin, work, log) = (
        dir.path().join("bin"),
        dir.path().join("w"),
        dir.path().join("calls"),
    );
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(&work).expect("work");
    fake_terraform(&bin, &log);
    let path = format!("{}:/usr/bin:/bin", bin.display());

    assert!(helper(&work, &path, &["probe-terraform"]).status.success());
    // Started once per build: a second probe is a no-op.
    assert!(helper(&work, &path, &["probe-terraform"]).status.success());
    let v = helper(&work, &path, &["terraform-version"]);
    assert!(v.status.success(), "{v:?}");
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), "1.11.9");
    assert_eq!(calls(&log), 1, "the check must use the probe's answer");

    let now = helper(&work, &path, &["terraform-version", "--now"]);
    assert_eq!(String::from_utf8_lossy(&now.stdout).trim(), "1.11.9");
    assert_eq!(calls(&log), 2, "--now asks terraform itself");

    // No probe in this work dir: the check asks terraform itself.
    let other = dir.path().join("w2");
    std::fs::create_dir_all(&other).expect("w2");
    let v = helper(&other, &path, &["terraform-version"]);
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), "1.11.9");
    assert_eq!(calls(&log), 3);
}

#[test]
fn with_no_terraform_the_probe_is_quiet_and_the_check_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let path = empty.display().to_string();
    assert!(helper(dir.path(), &path, &["probe-terraform"])
        .status
        .success());
    let v = helper(dir.path(), &path, &["terraform-version"]);
    assert!(!v.status.success());
    assert!(v.stdout.is_empty(), "{v:?}");
}
