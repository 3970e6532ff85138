//! Day-two operations on the local stack with real terraform and the real `ferry` binary:
//! rollback, plan-only, destroy, freezes and environments edited in place — each through the
//! same workflow, gate and records as a deploy, refusals included.

use std::time::Instant;

use ferry_tests::stack::Stack;
use serde_json::Value;

fn example() -> std::path::PathBuf {
    ferry_tests::repo_root().join("examples/hello-service")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `ferry ARGS…` is refused with exit code 1 and `why` in its one error line.
fn refused(stack: &Stack, args: &[&str], why: &str) {
    let out = stack.ferry(args);
    assert_eq!(out.status.code(), Some(1), "{args:?} was not refused");
    let err = stderr(&out);
    assert!(err.contains(why), "{args:?}: {err}");
}

fn live_version(stack: &Stack, env: &str) -> Value {
    let status = stack.json(&["status", "hello-service"])["components"].clone();
    status[0]["environments"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["environment"] == env))
        .map(|e| e["live"]["version"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn rollback_returns_to_the_version_live_before_and_promotion_counts_past_successes() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.ok(&["env", "put", "prod", "--order", "2", "--approval", "none"]);
    stack.release_dir(&example(), "1.0.0");
    stack.release_dir(&example(), "1.1.0");
    stack.ok(&[
        "deploy",
        "hello-service",
        "1.0.0",
        "--to",
        "dev,prod",
        "--wait",
    ]);

    // Only one version ever ran in prod: nothing to roll back to.
    refused(
        &stack,
        &["rollback", "hello-service", "--env", "prod"],
        "nothing to roll back to",
    );
    // A version that never succeeded in prod is not a rollback there.
    let out = stack.ferry(&[
        "rollback",
        "hello-service",
        "--env",
        "prod",
        "--to",
        "1.1.0",
        "--wait",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));

    stack.ok(&[
        "deploy",
        "hello-service",
        "1.1.0",
        "--to",
        "dev,prod",
        "--wait",
    ]);
    assert_eq!(live_version(&stack, "prod"), "1.1.0");

    // Roll back: 1.0.0, through the same workflow, recorded as a rollback with its reason.
    let started = Instant::now();
    let out = stack.ok(&[
        "rollback",
        "hello-service",
        "--env",
        "prod",
        "--reason",
        "1.1.0 breaks checkout",
        "--wait",
        "--output",
        "json",
    ]);
    println!("rollback request → applied: {:?}", started.elapsed());
    let d: Value = serde_json::from_str(&out).expect("the final deployment as JSON");
    assert_eq!(d["status"], "succeeded", "{d:#}");
    assert_eq!(
        (d["mode"].as_str(), d["version"].as_str()),
        (Some("rollback"), Some("1.0.0"))
    );
    assert_eq!(live_version(&stack, "prod"), "1.0.0");
    let history = stack.json(&["history", "hello-service", "--env", "prod"])["history"].clone();
    assert_eq!(history[0]["mode"], "rollback", "{history:#}");
    assert_eq!(history[0]["reason"], "1.1.0 breaks checkout");
    let table = stack.ok(&["history", "hello-service", "--env", "prod"]);
    assert!(
        table.contains("rollback") && table.contains("1.1.0 breaks checkout"),
        "{table}"
    );

    // dev runs 1.1.0 now, but 1.0.0 succeeded there before: promoting it again to prod needs
    // no override (the rule is "succeeded earlier", not "live earlier").
    assert_eq!(live_version(&stack, "dev"), "1.1.0");
    let out = stack.ok(&["deploy", "hello-service", "1.1.0", "--to", "prod", "--wait"]);
    assert!(!out.is_empty());
    let d = stack.json(&["deploy", "hello-service", "1.0.0", "--to", "prod", "--wait"]);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    assert!(d["override_reason"].is_null());
}

#[test]
fn plan_only_shows_the_plan_records_it_and_applies_nothing() {
    let stack = Stack::up();
    stack.ok(&[
        "env",
        "put",
        "staging",
        "--order",
        "1",
        "--approval",
        "required",
    ]);
    stack.release_dir(&example(), "1.0.0");

    let text = stack.ok(&["plan", "hello-service", "1.0.0", "--env", "staging"]);
    assert!(
        text.contains("plan-only") && text.contains("terraform_data.service"),
        "{text}"
    );
    let d = stack.json(&["plan", "hello-service", "1.0.0", "--env", "staging"]);
    assert_eq!(
        (d["mode"].as_str(), d["status"].as_str()),
        (Some("plan-only"), Some("succeeded")),
        "{d:#}"
    );
    let step = Stack::step(&d, "staging");
    assert_eq!(step["status"], "planned", "{d:#}");
    assert_eq!(step["plan_summary"]["add"], 1, "{d:#}");
    assert!(step["apply_build_id"].is_null(), "{d:#}");
    // `deploy --plan-only` is the same.
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "staging", "--plan-only"]);
    assert_eq!(stack.wait_finished(&id)["status"], "succeeded");

    // Nothing applied, nothing live, no lock kept, no gate opened; history says "planned".
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    assert!(!rt.block_on(stack.locked("hello-service", "staging")));
    let state = rt.block_on(stack.state("hello-service", "staging"));
    assert!(
        state
            .as_deref()
            .is_none_or(|s| !s.contains("terraform_data")),
        "a plan-only run applied: {state:?}"
    );
    assert!(live_version(&stack, "staging").is_null());
    let history = stack.json(&["history", "hello-service"])["history"].clone();
    assert_eq!(history.as_array().map(Vec::len), Some(3), "{history:#}");
    assert!(history
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["outcome"] == "planned" && h["mode"] == "plan-only"));
    assert!(rt
        .block_on(stack.approval("hello-service", &id, "staging"))
        .is_none());
}

#[test]
fn destroy_always_waits_for_a_person_and_leaves_nothing_live() {
    let stack = Stack::up();
    // No approval for deploys here; a destroy needs one all the same.
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.ok(&[
        "env",
        "put",
        "prod",
        "--order",
        "2",
        "--approval",
        "required",
    ]);
    stack.release_dir(&example(), "1.0.0");
    refused(
        &stack,
        &[
            "destroy",
            "hello-service",
            "--env",
            "dev",
            "--reason",
            "retire",
        ],
        "nothing of hello-service is live in dev",
    );
    stack.ok(&["deploy", "hello-service", "1.0.0", "--to", "dev", "--wait"]);

    // Refused while a deploy of the component holds prod's lock (waiting at its gate).
    let pending = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--reason", "x"]);
    stack.wait_step(&pending, "prod", "awaiting-approval");
    stack.ok(&["approve", &pending, "--as", "bob"]);
    assert_eq!(stack.wait_finished(&pending)["status"], "succeeded");
    let busy = stack.deploy(&["hello-service", "1.0.0", "--to", "prod"]);
    stack.wait_step(&busy, "prod", "awaiting-approval");
    refused(
        &stack,
        &[
            "destroy",
            "hello-service",
            "--env",
            "prod",
            "--reason",
            "retire",
        ],
        &format!("deployment {busy} holds its lock"),
    );
    stack.ok(&["cancel", &busy, "--reason", "not now"]);

    let id = stack
        .ok(&[
            "destroy",
            "hello-service",
            "--env",
            "dev",
            "--reason",
            "dev retired",
        ])
        .trim()
        .to_owned();
    let step = stack.wait_step(&id, "dev", "awaiting-approval");
    assert_eq!(step["plan_summary"]["destroy"], 1, "{step:#}");
    stack.ok(&["approve", &id, "--as", "bob", "--comment", "yes, retire it"]);
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    assert_eq!(d["mode"], "destroy");
    assert_eq!(Stack::step(&d, "dev")["status"], "destroyed", "{d:#}");
    assert!(live_version(&stack, "dev").is_null());
    let history = stack.json(&["history", "hello-service", "--env", "dev"])["history"].clone();
    assert_eq!(
        (history[0]["outcome"].as_str(), history[0]["mode"].as_str()),
        (Some("destroyed"), Some("destroy")),
        "{history:#}"
    );
    assert_eq!(history[0]["decided_by"], "local:bob");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let state = rt
        .block_on(stack.state("hello-service", "dev"))
        .expect("state");
    assert!(!state.contains("terraform_data"), "{state}");
}

#[test]
fn a_freeze_stops_deploys_and_approvals_until_lifted_and_an_emergency_passes() {
    let stack = Stack::up();
    stack.ok(&[
        "env",
        "put",
        "prod",
        "--order",
        "1",
        "--approval",
        "required",
    ]);
    stack.release_dir(&example(), "1.0.0");
    let waiting = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", "alice"]);
    stack.wait_step(&waiting, "prod", "awaiting-approval");

    let out = stack.ok(&[
        "freeze",
        "prod",
        "--reason",
        "incident 1234",
        "--until",
        "2h",
        "--as",
        "carol",
    ]);
    assert!(out.contains("frozen: prod"), "{out}");
    let listed = stack.ok(&["env", "list"]);
    assert!(listed.contains("incident 1234"), "{listed}");
    let shown = stack.json(&["env", "show", "prod"]);
    assert_eq!(shown["freeze"]["by"], "local:carol", "{shown:#}");

    // A waiting gate is not approved while frozen; a new deploy is refused before it starts.
    refused(
        &stack,
        &["approve", &waiting, "--as", "bob"],
        "prod is frozen by local:carol",
    );
    refused(
        &stack,
        &["deploy", "hello-service", "1.0.0", "--to", "prod"],
        "incident 1234",
    );
    stack.ok(&["cancel", &waiting, "--reason", "frozen"]);
    // A plan changes nothing: it is not frozen.
    stack.ok(&["plan", "hello-service", "1.0.0", "--env", "prod"]);

    // An emergency passes the freeze, and its gate may be approved; history highlights it.
    let id = stack.deploy(&[
        "hello-service",
        "1.0.0",
        "--to",
        "prod",
        "--emergency",
        "hotfix for incident 1234",
        "--as",
        "alice",
    ]);
    stack.wait_step(&id, "prod", "awaiting-approval");
    stack.ok(&["approve", &id, "--as", "bob"]);
    assert_eq!(stack.wait_finished(&id)["status"], "succeeded");
    let history = stack.json(&["history", "hello-service", "--env", "prod"])["history"].clone();
    assert_eq!(
        history[0]["emergency"], "hotfix for incident 1234",
        "{history:#}"
    );
    let table = stack.ok(&["history", "hello-service"]);
    assert!(
        table.contains("EMERGENCY: hotfix for incident 1234"),
        "{table}"
    );

    // Unfrozen: deploys go through again.
    stack.ok(&["unfreeze", "--all"]);
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", "alice"]);
    stack.wait_step(&id, "prod", "awaiting-approval");
    stack.ok(&["approve", &id, "--as", "bob"]);
    assert_eq!(stack.wait_finished(&id)["status"], "succeeded");
}

#[test]
fn env_put_changes_only_what_it_names_and_delete_refuses_while_live() {
    let stack = Stack::up();
    refused(
        &stack,
        &["env", "put", "prod", "--four-eyes"],
        "give it --order and --approval",
    );
    stack.ok(&[
        "env",
        "put",
        "prod",
        "--order",
        "2",
        "--approval",
        "required",
        "--approvers",
        "alice,bob",
        "--four-eyes",
    ]);
    stack.ok(&["env", "put", "prod", "--timeout", "2h"]);
    let e = stack.json(&["env", "show", "prod"]);
    assert_eq!(e["approvers"], serde_json::json!(["alice", "bob"]), "{e:#}");
    assert_eq!(e["four_eyes"], true);
    assert_eq!(e["approval_timeout_secs"], 7200);
    stack.ok(&["env", "put", "prod", "--no-four-eyes"]);
    assert_eq!(stack.json(&["env", "show", "prod"])["four_eyes"], false);

    refused(
        &stack,
        &["env", "put", "dev", "--order", "2", "--approval", "none"],
        "prod already has order 2",
    );
    refused(
        &stack,
        &["env", "put", "prod", "--approval", "none"],
        "--approval none lets every plan through",
    );
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    // Piped, a table is tab-separated lines: no box drawing, no colour.
    let listed = stack.ok(&["env", "list"]);
    assert!(listed.starts_with("ORDER\tENVIRONMENT\t"), "{listed}");
    assert!(
        listed.lines().any(|l| l.starts_with("2\tprod\trequired\t")),
        "{listed}"
    );
    assert!(
        !listed.contains('│') && !listed.contains('\u{1b}'),
        "{listed}"
    );

    stack.release_dir(&example(), "1.0.0");
    stack.ok(&["deploy", "hello-service", "1.0.0", "--to", "dev", "--wait"]);
    refused(
        &stack,
        &["env", "delete", "dev"],
        "hello-service 1.0.0 is live",
    );
    let out = stack.ok(&[
        "env",
        "delete",
        "dev",
        "--force",
        "--reason",
        "moved to dev2",
    ]);
    assert!(out.contains("deleted"), "{out}");
    refused(&stack, &["env", "show", "dev"], "does not exist");
    let history = stack.json(&["history", "hello-service", "--env", "dev"])["history"].clone();
    assert_eq!(history[0]["outcome"], "environment-deleted", "{history:#}");
    assert!(history[0]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("moved to dev2")));
}

#[test]
fn ferry_lock_of_an_ended_execution_is_released_and_the_lists_show_what_waits() {
    let stack = Stack::up();
    stack.ok(&[
        "env",
        "put",
        "prod",
        "--order",
        "1",
        "--approval",
        "required",
        "--approvers",
        "bob,carol",
    ]);
    stack.release_dir(&example(), "1.0.0");
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", "alice"]);
    stack.wait_step(&id, "prod", "awaiting-approval");

    // Waiting for it gives up at --wait-timeout (exit 4), and on Ctrl-C (exit 130); both say it
    // goes on and how to re-attach.
    let out = stack.ferry(&["deployment", &id, "--wait", "--wait-timeout", "1s"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!(
        "deployment {id} continues; re-attach with `ferry deployment {id} --wait`"
    )));
    let mut follower = stack
        .command(&["deployment", &id, "--wait"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ferry");
    let mut err = std::io::BufReader::new(follower.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut err, &mut first).unwrap();
    assert!(first.contains("awaiting-approval"), "{first}");
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &follower.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(follower.wait().unwrap().code(), Some(130), "{rest}");
    assert!(
        rest.contains("stopped following") && rest.contains("continues"),
        "{rest}"
    );

    // The lists: the deployment waits, the gate is carol's to decide but not alice's.
    let waiting = stack.json(&["deployments", "--status", "waiting"])["deployments"].clone();
    assert_eq!(waiting[0]["id"], id.as_str(), "{waiting:#}");
    assert_eq!(waiting[0]["waiting_in"], serde_json::json!(["prod"]));
    assert!(
        stack.json(&["deployments", "--status", "failed"])["deployments"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        stack.json(&["approvals", "--mine", "--as", "carol"])["approvals"][0]["deployment_id"],
        id.as_str()
    );
    assert!(
        stack.json(&["approvals", "--mine", "--as", "alice"])["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let components = stack.json(&["components"])["components"].clone();
    assert_eq!(
        components[0]["component"], "hello-service",
        "{components:#}"
    );
    assert!(components[0]["environments"]["prod"].is_null());

    // Held by a running execution: neither guessed nor released.
    let status = stack.ok(&["status", "hello-service"]);
    assert!(
        status.contains(&format!("locked in prod by deployment {id}")),
        "{status}"
    );
    assert!(
        status.contains(&format!("awaiting approval in prod: deployment {id}")),
        "{status}"
    );
    refused(
        &stack,
        &[
            "unlock",
            "hello-service",
            "--env",
            "prod",
            "--reason",
            "stuck?",
        ],
        "still running",
    );

    // Stopped behind Ferry's back (no Catch ran): the lock is released and recorded.
    stack.stop_execution(&id);
    let out = stack.ok(&[
        "unlock",
        "hello-service",
        "--env",
        "prod",
        "--reason",
        "execution stopped in the console",
    ]);
    assert!(out.starts_with("released Ferry's lock"), "{out}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    assert!(!rt.block_on(stack.locked("hello-service", "prod")));
    let history = stack.json(&["history", "hello-service", "--env", "prod"])["history"].clone();
    let unlocked = history
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["outcome"] == "unlocked")
        .expect("an unlocked line");
    assert!(unlocked["reason"]
        .as_str()
        .is_some_and(|r| r.contains("execution stopped in the console") && r.contains(&id)));
    assert_eq!(stack.json(&["deployment", &id])["status"], "aborted");
    refused(
        &stack,
        &[
            "unlock",
            "hello-service",
            "--env",
            "prod",
            "--reason",
            "again",
        ],
        "holds no lock",
    );
    assert_eq!(
        stack.json(&[
            "deployments",
            "--component",
            "hello-service",
            "--status",
            "aborted"
        ])["deployments"][0]["id"],
        id.as_str()
    );
}

#[test]
fn logs_follow_a_build_and_stop_by_themselves_when_it_ends() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.release_dir(&example(), "1.0.0");
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "dev"]);
    // Started before the apply build exists: waits for it, prints it, and ends with it.
    let followed = stack.ok(&["logs", &id, "--step", "apply", "-f", "--timeout", "5m"]);
    assert!(followed.contains("Apply complete!"), "{followed}");
    assert!(
        followed.contains("ferry: apply finished"),
        "the follower stopped before the build's last line: {followed}"
    );
    assert_eq!(stack.wait_finished(&id)["status"], "succeeded");
    // Afterwards: the plan's output, once; the default is the last build (apply).
    let plan = stack.ok(&["logs", &id, "--step", "plan"]);
    assert!(
        plan.contains("terraform_data.service will be created"),
        "{plan}"
    );
    assert!(stack.ok(&["logs", &id]).contains("Apply complete!"));
    refused(
        &stack,
        &["logs", &id, "--env", "prod"],
        "does not target prod",
    );
}

/// Someone runs terraform by hand against the environment's state with other inputs: what
/// runs no longer is what Ferry applied.
fn terraform_behind_ferrys_back(stack: &Stack, env: &str, var: &str) {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(example()).unwrap().flatten() {
        if f.path().extension().is_some_and(|x| x == "tf") {
            std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("backend_override.tf"),
        "terraform {\n  backend \"s3\" {}\n}\n",
    )
    .unwrap();
    let endpoint = stack.var("AWS_ENDPOINT_URL").expect("moto endpoint");
    let run = |args: &[String]| {
        let out = std::process::Command::new("terraform")
            .args(args)
            .current_dir(dir.path())
            .envs(stack.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .output()
            .expect("terraform");
        assert!(
            out.status.success(),
            "terraform {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let cfg = |kv: &str| format!("-backend-config={kv}");
    run(&[
        "init".into(),
        "-input=false".into(),
        cfg(&format!("bucket={}", stack.bucket())),
        cfg(&format!("key=state/hello-service/{env}/terraform.tfstate")),
        cfg("region=us-east-1"),
        cfg("use_lockfile=true"),
        cfg(&format!("endpoints={{s3=\"{endpoint}\"}}")),
        cfg("use_path_style=true"),
        cfg("skip_credentials_validation=true"),
        cfg("skip_requesting_account_id=true"),
        cfg("skip_metadata_api_check=true"),
        cfg("skip_region_validation=true"),
    ]);
    run(&[
        "apply".into(),
        "-auto-approve".into(),
        "-input=false".into(),
        format!("-var=environment={env}"),
        "-var=release_version=1.0.0".into(),
        format!("-var={var}"),
    ]);
}

#[test]
fn drift_made_behind_ferrys_back_is_found_notified_and_reconciled() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.release_dir(&example(), "1.0.0");
    stack.ok(&["deploy", "hello-service", "1.0.0", "--to", "dev", "--wait"]);
    let drift_of = |stack: &Stack| stack.json(&["drift", "hello-service"])["drift"][0].clone();

    // Right after the deploy: in sync, and no history line for it.
    let d = stack.json(&["drift", "check", "hello-service", "--env", "dev", "--wait"]);
    assert_eq!(
        (d["mode"].as_str(), d["status"].as_str()),
        (Some("drift"), Some("succeeded")),
        "{d:#}"
    );
    assert_eq!(drift_of(&stack)["drifted"], false);
    let lines = stack.json(&["history", "hello-service"])["history"].clone();
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["mode"] != "drift"),
        "{lines:#}"
    );

    // Changed behind Ferry's back: found, with the resource and attribute, told, recorded.
    terraform_behind_ferrys_back(&stack, "dev", "replicas=5");
    stack.ok(&["drift", "check", "hello-service", "--env", "dev", "--wait"]);
    let found = drift_of(&stack);
    assert_eq!(found["drifted"], true, "{found:#}");
    assert_eq!(found["resources"][0]["address"], "terraform_data.service");
    assert!(
        found["resources"][0]["attributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "input")),
        "{found:#}"
    );
    let table = stack.ok(&["drift"]);
    assert!(
        table.contains("DRIFTED") && table.contains("terraform_data.service"),
        "{table}"
    );
    let history = stack.json(&["history", "hello-service", "--env", "dev"])["history"].clone();
    assert_eq!(
        (history[0]["outcome"].as_str(), history[0]["mode"].as_str()),
        (Some("drifted"), Some("drift"))
    );
    let outbox = stack.ok(&["local", "outbox", "--output", "json"]);
    assert!(
        outbox.contains("Drift: hello-service in dev")
            && outbox.contains("ferry drift reconcile hello-service --env dev"),
        "{outbox}"
    );

    // Reconciled through the normal workflow (dev needs no approval), then in sync again.
    let d = stack.json(&[
        "drift",
        "reconcile",
        "hello-service",
        "--env",
        "dev",
        "--wait",
    ]);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    assert_eq!(d["override_reason"], "reconcile drift");
    stack.ok(&["drift", "check", "hello-service", "--env", "dev", "--wait"]);
    assert_eq!(drift_of(&stack)["drifted"], false);

    // Scheduled: the local stack starts due checks as the template's schedule does in AWS.
    let last = drift_of(&stack)["checked_at"].clone();
    stack.ok(&["env", "put", "dev", "--drift-check", "1s"]);
    let deadline = Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let scheduled = stack.json(&["deployments", "--component", "hello-service"])["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["requester"] == "ferry:drift-schedule");
        if scheduled && drift_of(&stack)["checked_at"] != last {
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled drift check ran");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
