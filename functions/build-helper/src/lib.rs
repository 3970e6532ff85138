//! `ferry-build`: the parts of Ferry's terraform build that are not terraform — fetching the
//! release or the approved plan and checking their SHA-256, unzipping a release safely, reading
//! `ferry.json`, summarising a plan, uploading artifacts, and saying in one line why a step
//! failed. buildspec/terraform.yml calls it; the same binary runs in CodeBuild (published by
//! the stack, see `publish`) and locally (`ferry` answers to the name `ferry-build`), so a
//! build pays no interpreter or aws CLI start-up per S3 object.
//!
//! Failures print `ferry: error: <why>` on stderr, write `<why>` to `$FERRY_WORK/failure.txt`
//! unless a reason is there already (the first reason wins), and exit 1.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

pub mod publish;
mod s3;
mod summary;
mod tfreason;
mod unzip;

/// Why a step failed, in the words the user will read on the deployment.
#[derive(Debug)]
pub struct Failure(pub String);

impl<T: std::fmt::Display> From<T> for Failure {
    fn from(why: T) -> Self {
        Failure(why.to_string())
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::Failure(format!($($t)*))) };
}
pub(crate) use fail;

pub(crate) fn log(msg: &str) {
    println!("ferry: {msg}");
}

/// A variable the buildspec must have set.
pub(crate) fn var(name: &str) -> Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => fail!("{name} is not set"),
    }
}

pub(crate) fn work_dir() -> Result<PathBuf> {
    var("FERRY_WORK").map(PathBuf::from)
}

/// Writes `why` as the step's reason unless one was written first.
fn record_reason(why: &str) {
    let Ok(dir) = work_dir() else { return };
    let path = dir.join("failure.txt");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
        return;
    }
    let one_line = why.split_whitespace().collect::<Vec<_>>().join(" ");
    let _ = std::fs::write(path, format!("{one_line}\n"));
}

const USAGE: &str =
    "usage: ferry-build release | approved-plan | publish-plan <plan> | outputs | \
summarize <plan.json> <sha256> <out> | put <file> <key>… | put-reason | tf-reason <log> <command> <status> <hint> | lock-summary | \
probe-terraform | terraform-version [--now] | version-at-least <have> <want> | extract <zip> <entry> <dir>";

/// Runs `ferry-build ARGS…` (`args` without the program name).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferry: error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(code) => code,
        Err(Failure(why)) => {
            eprintln!("ferry: error: {why}");
            record_reason(&why);
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<ExitCode> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["release"] => s3::release().await.map(|()| ExitCode::SUCCESS),
        ["approved-plan"] => s3::approved_plan().await.map(|()| ExitCode::SUCCESS),
        ["summarize", plan, sha, out] => {
            summary::summarize(plan.as_ref(), sha, out.as_ref()).map(|()| ExitCode::SUCCESS)
        }
        ["put", pairs @ ..] if !pairs.is_empty() && pairs.len() % 2 == 0 => {
            let pairs: Vec<(&str, &str)> = pairs.chunks(2).map(|p| (p[0], p[1])).collect();
            s3::put(&pairs).await.map(|()| ExitCode::SUCCESS)
        }
        // Never fails: the step has failed already; the reason is best effort.
        ["put-reason"] => {
            if let Err(Failure(why)) = s3::put_reason().await {
                eprintln!("ferry: could not upload the failure reason: {why}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ["tf-reason", log, cmd, rc, hint] => {
            let rc: i32 = rc
                .parse()
                .map_err(|_| format!("exit status '{rc}' is not a number"))?;
            let text = std::fs::read(log)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            println!("{}", tfreason::reason(&text, cmd, rc, hint));
            Ok(ExitCode::SUCCESS)
        }
        ["lock-summary"] => match s3::lock_info().await? {
            Some(info) => {
                println!("{}", tfreason::lock_summary(&info));
                Ok(ExitCode::SUCCESS)
            }
            None => Ok(ExitCode::FAILURE),
        },
        ["publish-plan", plan] => s3::publish_plan(plan).await.map(|()| ExitCode::SUCCESS),
        ["outputs"] => s3::outputs().await.map(|()| ExitCode::SUCCESS),
        ["probe-terraform"] => {
            start_terraform_probe();
            Ok(ExitCode::SUCCESS)
        }
        ["terraform-version", rest @ ..] if rest.is_empty() || rest == ["--now"] => {
            Ok(match terraform_version(rest.is_empty()).await {
                Some(v) => {
                    println!("{v}");
                    ExitCode::SUCCESS
                }
                None => ExitCode::FAILURE,
            })
        }
        ["version-at-least", have, want] => Ok(if at_least(have, want) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        ["extract", zip, entry, dir] => {
            unzip::extract_one(zip.as_ref(), entry, dir.as_ref()).map(|()| ExitCode::SUCCESS)
        }
        _ => fail!("{USAGE}"),
    }
}

fn version_in(json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    v["terraform_version"].as_str().map(str::to_owned)
}

/// The terraform on PATH's version (`terraform version -json`), if there is one: with `probed`,
/// the answer of the probe an earlier step started ([`start_terraform_probe`]), waiting for it
/// to finish; terraform asked now when there was none, it said nothing, or not `probed`
/// (`--now`, after installing terraform).
async fn terraform_version(probed: bool) -> Option<String> {
    if let Some(v) = probed.then(probe_answer).flatten() {
        return Some(v);
    }
    let out = tokio::process::Command::new("terraform")
        .args(["version", "-json"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    version_in(&out.stdout)
}

/// What the probe said, once it has finished (it holds the lock until it exits).
fn probe_answer() -> Option<String> {
    let w = work_dir().ok()?;
    let lock = std::fs::File::open(w.join("terraform-version.lock")).ok()?;
    lock.lock_shared().ok()?;
    version_in(&std::fs::read(w.join("terraform-version.json")).ok()?)
}

/// Starts `terraform version -json` in the background, once per build, for the tools step:
/// terraform's start-up is the slowest part of the check, and this way it runs while the
/// inputs are checked and the plan and the release download. Its answer goes to `terraform-version.json`; it holds an
/// exclusive lock on `terraform-version.lock` (the open file is its stdin) until it exits, and
/// [`terraform_version`] waits on that lock — no polling, and a probe that died releases it.
fn start_terraform_probe() {
    use std::process::Stdio;
    let Ok(w) = work_dir() else { return };
    let lock_path = w.join("terraform-version.lock");
    let Ok(lock) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock_path)
    else {
        return; // started already
    };
    let Ok(out) = std::fs::File::create(w.join("terraform-version.json")) else {
        return;
    };
    if lock.lock().is_err() {
        return;
    }
    // A failed spawn drops the lock with the command: the check then asks terraform itself.
    let _ = std::process::Command::new("terraform")
        .args(["version", "-json"])
        .stdin(Stdio::from(lock))
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn();
}

/// `have >= want` for `1.11.4`-style versions (a pre-release suffix is ignored).
pub fn at_least(have: &str, want: &str) -> bool {
    let key = |v: &str| -> Vec<u64> {
        v.split('-')
            .next()
            .unwrap_or_default()
            .split('.')
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    key(have) >= key(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        assert!(at_least("1.11.4", "1.10.0"));
        assert!(at_least("1.10.0", "1.10.0"));
        assert!(!at_least("1.9.8", "1.10.0"));
        assert!(at_least("1.12.0-alpha20250101", "1.10.0"));
        assert!(!at_least("", "1.10.0"));
    }
}
