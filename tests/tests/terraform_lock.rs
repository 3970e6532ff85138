//! Locks on the local stack, end to end with the real `ferry` binary and real terraform:
//! terraform's state lock left by a build killed mid-apply (named by the next deploy, cleared by
//! `ferry unlock --terraform`), and Ferry's own lock left by a stopped execution, raced for.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_tests::stack::{component_dir, Stack};
use serde_json::Value;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// Waits until `probe` returns Some, polling with a short back-off; panics after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(t) = probe() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// The pid of the `terraform apply` a build of `deployment` runs: found by its arguments and
/// the FERRY_DEPLOYMENT_ID the build exported to it, so only this stack's build matches.
fn terraform_apply_of(deployment: &str) -> Option<i32> {
    let marker = format!("FERRY_DEPLOYMENT_ID={deployment}");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let mut args = cmdline.split(|b| *b == 0);
            let program = Path::new(std::str::from_utf8(args.next()?).ok()?);
            if program.file_name()? != "terraform" || args.next()? != b"apply" {
                return None;
            }
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .any(|kv| kv == marker.as_bytes())
                .then_some(pid)
        })
}

async fn object(stack: &Stack, key: &str) -> Option<Vec<u8>> {
    let out = stack
        .s3()
        .await
        .get_object()
        .bucket(stack.bucket())
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.ok()?.into_bytes().to_vec())
}

/// A component whose apply waits (no fixed sleep) while `hold` exists.
fn held_component(root: &Path, hold: &Path) -> PathBuf {
    component_dir(
        root,
        "slow-apply",
        &format!(
            "resource \"terraform_data\" \"slow\" {{\n  input = \"v1\"\n  provisioner \"local-exec\" {{\n    command = \"while [ -e '{}' ]; do sleep 0.1; done\"\n  }}\n}}\n",
            hold.display()
        ),
    )
}

#[test]
fn a_terraform_killed_mid_apply_is_named_and_unlock_clears_its_lock() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    let root = stack.dir.path().to_path_buf();
    let hold = root.join("hold-apply");
    std::fs::write(&hold, b"").expect("hold file");
    stack.release_dir(&held_component(&root, &hold), "1.0.0");
    let lock_key = "state/slow-apply/dev/terraform.tfstate.tflock";
    let rt = rt();

    let killed = stack.deploy(&["slow-apply", "1.0.0", "--to", "dev"]);
    let pid = wait_for("terraform apply running", Duration::from_secs(240), || {
        terraform_apply_of(&killed)
    });
    wait_for("terraform's lock taken", Duration::from_secs(60), || {
        rt.block_on(object(&stack, lock_key))
    });

    // While the deployment runs, its build may be running terraform: unlock refuses.
    let out = stack.ferry(&[
        "unlock",
        "slow-apply",
        "--env",
        "dev",
        "--terraform",
        "--reason",
        "too early",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&killed) && err.contains("is running") && err.lines().count() == 1,
        "{err}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 terraform");
    // Lets the orphaned provisioner loop end.
    std::fs::remove_file(&hold).expect("release the hold");
    let d = stack.wait_finished(&killed);
    assert_eq!(d["status"], "failed", "{d:#}");
    let step = Stack::step(&d, "dev");
    let why = step["failure_reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("terraform apply was killed") && why.contains("state lock held"),
        "{step:#}"
    );
    let apply_build = step["apply_build_id"]
        .as_str()
        .expect("apply build recorded");
    assert!(
        rt.block_on(object(&stack, lock_key)).is_some(),
        "terraform's lock should be left behind"
    );

    // The next deploy is refused up front, naming terraform's lock, the dead build and the fix.
    let refused = stack.deploy(&["slow-apply", "1.0.0", "--to", "dev"]);
    let d = stack.wait_finished(&refused);
    assert_eq!(d["status"], "failed", "{d:#}");
    let err = Stack::step(&d, "dev")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for part in [
        "Ferry.TerraformLocked",
        "terraform's state lock on state/slow-apply/dev/terraform.tfstate.tflock is held",
        apply_build,
        "ferry unlock slow-apply --env dev --terraform --reason",
    ] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
    assert!(!rt.block_on(stack.locked("slow-apply", "dev")));

    let out = stack.ok(&[
        "unlock",
        "slow-apply",
        "--env",
        "dev",
        "--terraform",
        "--reason",
        "apply build killed in a test",
    ]);
    assert!(out.starts_with("unlocked terraform's state"), "{out}");
    assert!(rt.block_on(object(&stack, lock_key)).is_none());
    let history = stack.json(&["history", "slow-apply", "--env", "dev"])["history"].clone();
    let unlocked = &history[0];
    assert_eq!(unlocked["outcome"], "unlocked", "{history:#}");
    assert_eq!(unlocked["requester"], "local:tester");
    assert_eq!(unlocked["deployment_id"], killed.as_str());
    assert!(unlocked["reason"]
        .as_str()
        .is_some_and(|r| r.contains("apply build killed in a test")));
    assert_eq!(
        unlocked["terraform_lock"]["Operation"],
        "OperationTypeApply"
    );

    // Nothing left to clear; and the next deploy goes through.
    let out = stack.ferry(&[
        "unlock",
        "slow-apply",
        "--env",
        "dev",
        "--terraform",
        "--reason",
        "again",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not locked"));
    let id = stack.deploy(&["slow-apply", "1.0.0", "--to", "dev"]);
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "succeeded", "{d:#}");
}

/// Where one racing deployment ended up: holding the lock, or refused naming a holder.
fn race_result(stack: &Stack, id: &str) -> Result<(), String> {
    stack.wait_deployment(id, Duration::from_secs(180), |d: &Value| {
        let step = Stack::step(d, "prod");
        match step["status"].as_str()? {
            "failed" => Some(Err(step["error"].as_str().unwrap_or_default().to_owned())),
            "checked" | "planned" | "awaiting-approval" => Some(Ok(())),
            _ => None,
        }
    })
}

/// Deploys racing for a lock left by a stopped execution: exactly one takes it over, and every
/// loser names that winner — not the stopped deployment all of them read first.
#[test]
fn racing_for_a_stale_lock_names_the_winner() {
    const RACERS: usize = 6;
    let stack = Stack::up();
    let mut stale = stack.pending_prod_deploy(&[], &[]);
    // Each round's winner is stopped in turn, so the next round races for its stale lock.
    for round in 0..3 {
        stack.stop_execution(&stale);
        assert!(rt().block_on(stack.locked("hello-service", "prod")));
        let ids: Vec<String> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..RACERS)
                .map(|i| {
                    let stack = &stack;
                    s.spawn(move || {
                        let who = format!("racer{round}{i}");
                        stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", &who])
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect()
        });
        let results: Vec<(String, Result<(), String>)> = ids
            .iter()
            .map(|id| (id.clone(), race_result(&stack, id)))
            .collect();
        let winners: Vec<&String> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(id, _)| id)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:#?}");
        let winner = winners[0].clone();
        for (id, r) in &results {
            if let Err(e) = r {
                assert!(
                    e.contains("Ferry.LockHeld") && e.contains(&winner) && !e.contains(&stale),
                    "round {round}: loser {id} should name the winner {winner}, not the stopped {stale}: {e}"
                );
            }
        }
        let d = stack.json(&["deployment", &stale]);
        assert_eq!(d["status"], "aborted", "{d:#}");
        // Stopped at its gate next round: no build of it is left running.
        stack.wait_step(&winner, "prod", "awaiting-approval");
        stale = winner;
    }
}
