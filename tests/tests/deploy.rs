//! The deploy workflow end to end on the local stack: moto, the local Step Functions engine
//! running statemachine/deploy.asl.json, the build runner running buildspec/terraform.yml with
//! real terraform, the real handlers, driven through the real `ferry` binary.

use std::time::Duration;

use ferry_tests::repo_root;
use ferry_tests::stack::{component_dir, GatedTerraform, Stack, PROD_REQUIRED};

fn example() -> String {
    repo_root()
        .join("examples/hello-service")
        .to_string_lossy()
        .into_owned()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn deploy(stack: &Stack, args: &[&str]) -> String {
    let mut all = vec!["deploy"];
    all.extend(args);
    stack.ok(&all).trim().to_owned()
}

#[test]
fn full_loop_with_four_eyes_approval() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.ok(&[
        "env",
        "put",
        "prod",
        "--order",
        "2",
        "--approval",
        "required",
        "--four-eyes",
    ]);
    stack.release_dir(example().as_ref(), "1.0.0");

    // Typed out of order: promotion order decides.
    let id = deploy(
        &stack,
        &[
            "hello-service",
            "latest",
            "--to",
            "prod,dev",
            "--as",
            "alice",
        ],
    );
    let step = stack.wait_step(&id, "prod", "awaiting-approval");
    assert_eq!(step["plan_summary"]["add"], 1, "{step:#}");
    let d = stack.json(&["deployment", &id]);
    assert_eq!(Stack::step(&d, "dev")["status"], "succeeded");
    assert_eq!(Stack::step(&d, "dev")["decided_by"], "policy:none");

    // The approver sees the plan; the task token never leaves the table.
    let status = stack.json(&["status", "hello-service"])["components"].clone();
    let prod = &status[0]["environments"][1];
    assert_eq!(
        prod["pending_approval"]["plan_summary"]["resources"][0]["address"],
        "terraform_data.service"
    );
    assert!(!status.to_string().contains("task_token"));
    let table = stack.ok(&["status"]);
    assert!(
        table.contains("awaiting approval in prod") && table.contains("+1 ~0 -0"),
        "{table}"
    );

    // Four eyes: the requester cannot approve.
    let out = stack.ferry(&["approve", &id, "--env", "prod", "--as", "alice"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("four eyes"));
    let out = stack.ok(&["approve", &id, "--as", "bob", "--comment", "looks right"]);
    assert!(
        out.contains("approved") && out.contains("local:bob"),
        "{out}"
    );

    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    assert_eq!(d["execution_status"], "SUCCEEDED");
    let prod = Stack::step(&d, "prod");
    assert_eq!(
        (prod["decided_by"].as_str(), prod["comment"].as_str()),
        (Some("local:bob"), Some("looks right"))
    );
    assert!(prod["apply_build_id"]
        .as_str()
        .is_some_and(|b| b.starts_with("ferry-terraform:")));

    // Terraform state in moto holds the applied resource, per environment.
    let rt = rt();
    for env in ["dev", "prod"] {
        let state = rt
            .block_on(stack.state("hello-service", env))
            .expect("state written");
        assert!(state.contains(&format!("hello-service-{env}")), "{state}");
        assert!(
            !rt.block_on(stack.locked("hello-service", env)),
            "{env} still locked"
        );
    }
    let status = stack.json(&["status", "hello-service"])["components"].clone();
    let live: Vec<(&str, &str)> = status[0]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["environment"].as_str().unwrap(),
                e["live"]["version"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(live, [("dev", "1.0.0"), ("prod", "1.0.0")]);
    let history = stack.json(&["history", "hello-service", "--env", "prod"])["history"].clone();
    assert_eq!(history[0]["outcome"], "succeeded");
    assert_eq!(history[0]["decided_by"], "local:bob");
    assert_eq!(history[0]["requester"], "local:alice");
}

#[test]
fn rejection_applies_nothing_and_releases_the_lock() {
    let stack = Stack::up();
    stack.ok(&PROD_REQUIRED);
    stack.release_dir(example().as_ref(), "2.0.0");
    let id = deploy(&stack, &["hello-service", "2.0.0", "--to", "prod"]);
    stack.wait_step(&id, "prod", "awaiting-approval");
    stack.ok(&[
        "reject",
        &id,
        "--env",
        "prod",
        "--comment",
        "not during the freeze",
    ]);
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "failed");
    let step = Stack::step(&d, "prod");
    assert_eq!(step["status"], "rejected");
    assert!(
        step["error"]
            .as_str()
            .unwrap()
            .contains("not during the freeze"),
        "{step:#}"
    );
    let rt = rt();
    assert!(
        rt.block_on(stack.state("hello-service", "prod")).is_none(),
        "applied despite rejection"
    );
    assert!(!rt.block_on(stack.locked("hello-service", "prod")));
    let history = stack.json(&["history", "hello-service"])["history"].clone();
    assert_eq!(history[0]["outcome"], "rejected");
    // A decided approval can't be decided again.
    let out = stack.ferry(&["approve", &id, "--env", "prod"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn approval_timeout_is_recorded_and_releases_the_lock() {
    let stack = Stack::up();
    stack.ok(&[
        "env",
        "put",
        "qa",
        "--order",
        "1",
        "--approval",
        "required",
        "--timeout",
        "3s",
    ]);
    stack.release_dir(example().as_ref(), "1.0.0");
    let id = deploy(&stack, &["hello-service", "1.0.0", "--to", "qa"]);
    let d = stack.wait_finished(&id);
    assert_eq!(Stack::step(&d, "qa")["status"], "timed-out", "{d:#}");
    assert!(Stack::step(&d, "qa")["error"]
        .as_str()
        .unwrap()
        .contains("States.Timeout"));
    assert!(!rt().block_on(stack.locked("hello-service", "qa")));
    let status = stack.json(&["status", "hello-service"])["components"].clone();
    assert!(status[0]["environments"][0]["pending_approval"].is_null());
    let out = stack.ferry(&["approve", &id, "--env", "qa"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a timed-out approval was accepted"
    );
}

#[test]
fn plan_and_apply_failures_are_recorded_and_release_the_lock() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    let root = stack.dir.path().to_path_buf();
    let bad_plan = component_dir(
        &root,
        "bad-plan",
        "resource \"terraform_data\" \"x\" {\n  input = var.not_declared\n}\n",
    );
    let bad_apply = component_dir(
        &root,
        "bad-apply",
        "resource \"terraform_data\" \"x\" {\n  provisioner \"local-exec\" {\n    command = \"echo failing on purpose; exit 3\"\n  }\n}\n",
    );
    stack.release_dir(&bad_plan, "1.0.0");
    stack.release_dir(&bad_apply, "1.0.0");
    let rt = rt();
    for (component, failed_after) in [("bad-plan", None), ("bad-apply", Some("plan_build_id"))] {
        let id = deploy(&stack, &[component, "1.0.0", "--to", "dev"]);
        let d = stack.wait_finished(&id);
        assert_eq!(d["status"], "failed", "{d:#}");
        let step = Stack::step(&d, "dev");
        assert_eq!(step["status"], "failed");
        assert!(
            step["error"].as_str().unwrap().contains("FAILED"),
            "{step:#}"
        );
        if let Some(field) = failed_after {
            assert!(
                step[field].is_string(),
                "{component}: planned before failing: {step:#}"
            );
        }
        assert!(
            !rt.block_on(stack.locked(component, "dev")),
            "{component} still locked"
        );
        let history = stack.json(&["history", component])["history"].clone();
        assert_eq!(history[0]["outcome"], "failed");
    }
}

#[test]
fn concurrent_deploys_of_one_component_to_one_environment() {
    let stack = Stack::up();
    let first = stack.pending_prod_deploy(&[], &[]);
    let second = deploy(
        &stack,
        &["hello-service", "1.0.0", "--to", "prod", "--as", "carol"],
    );
    let d = stack.wait_finished(&second);
    let err = Stack::step(&d, "prod")["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        err.contains("Ferry.LockHeld") && err.contains(&first),
        "{err}"
    );
    // The loser's failure path must not release the winner's lock.
    assert!(rt().block_on(stack.locked("hello-service", "prod")));
    stack.ok(&["approve", &first, "--env", "prod"]);
    assert_eq!(stack.wait_finished(&first)["status"], "succeeded");
}

#[test]
fn promotion_rule_refuses_and_a_recorded_reason_overrides() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.ok(&["env", "put", "prod", "--order", "2", "--approval", "auto"]);
    stack.release_dir(example().as_ref(), "1.0.0");
    // Refused before anything starts: no deployment is recorded, no execution runs.
    let out = stack.ferry(&["deploy", "hello-service", "1.0.0", "--to", "prod"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: promotion rule: hello-service 1.0.0 never succeeded in dev")
            && err.contains("--reason"),
        "{err}"
    );
    assert!(stack.json(&["deployments"])["deployments"]
        .as_array()
        .is_some_and(Vec::is_empty));
    // Targeting dev too is fine: dev deploys first.
    assert!(out.stdout.is_empty());

    let id = deploy(
        &stack,
        &[
            "hello-service",
            "1.0.0",
            "--to",
            "prod",
            "--reason",
            "hotfix INC-42",
        ],
    );
    // auto policy with changes still needs a person.
    stack.wait_step(&id, "prod", "awaiting-approval");
    stack.ok(&["approve", &id]);
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    assert_eq!(d["override_reason"], "hotfix INC-42");
    // History shows why the rule was overridden.
    let history = stack.json(&["history", "hello-service", "--env", "prod"])["history"].clone();
    assert_eq!(history[0]["reason"], "hotfix INC-42", "{history:#}");
    assert!(stack
        .ok(&["history", "hello-service"])
        .contains("hotfix INC-42"));
}

#[test]
fn a_tampered_plan_is_refused_at_apply() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&[], &[]);
    let rt = rt();
    rt.block_on(async {
        let key = format!("deployments/{id}/prod/plan.tfplan");
        stack
            .s3()
            .await
            .put_object()
            .bucket(stack.bucket())
            .key(key)
            .body(b"not the plan anyone approved".to_vec().into())
            .send()
            .await
            .expect("tamper");
    });
    stack.ok(&["approve", &id, "--env", "prod"]);
    let d = stack.wait_deployment(&id, Duration::from_secs(180), |d| {
        (d["status"] != "running").then(|| d.clone())
    });
    assert_eq!(d["status"], "failed", "{d:#}");
    assert_eq!(Stack::step(&d, "prod")["status"], "failed");
    assert!(
        rt.block_on(stack.state("hello-service", "prod")).is_none(),
        "tampered plan applied"
    );
    assert!(!rt.block_on(stack.locked("hello-service", "prod")));
}

#[test]
fn cancel_records_abort_and_releases_the_lock() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&[], &[]);
    let out = stack.ok(&["cancel", &id, "--reason", "wrong version"]);
    assert!(out.contains("cancelled"), "{out}");
    let d = stack.json(&["deployment", &id]);
    assert_eq!(d["status"], "aborted");
    assert_eq!(d["execution_status"], "ABORTED");
    let step = Stack::step(&d, "prod");
    assert_eq!(step["status"], "aborted");
    assert!(step["error"].as_str().unwrap().contains("wrong version"));
    assert!(!rt().block_on(stack.locked("hello-service", "prod")));
    assert_eq!(
        stack.json(&["history", "hello-service"])["history"][0]["outcome"],
        "aborted"
    );
    let out = stack.ferry(&["approve", &id]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "approved a cancelled deployment"
    );
}

#[test]
fn a_lock_left_by_a_stopped_execution_is_taken_over() {
    let stack = Stack::up();
    let first = stack.pending_prod_deploy(&[], &[]);
    // Stopped behind ferry's back (the console, the API): no Catch runs, the lock stays.
    stack.stop_execution(&first);
    assert!(rt().block_on(stack.locked("hello-service", "prod")));
    let second = deploy(&stack, &["hello-service", "1.0.0", "--to", "prod"]);
    stack.wait_step(&second, "prod", "awaiting-approval");
    let d = stack.json(&["deployment", &first]);
    assert_eq!(d["status"], "aborted", "{d:#}");
    // The stale deployment is recorded whole: its step, and its gate closed, not pending.
    assert_eq!(Stack::step(&d, "prod")["status"], "aborted", "{d:#}");
    let gate = rt()
        .block_on(stack.approval("hello-service", &first, "prod"))
        .expect("approval record");
    assert_eq!(gate.status.as_str(), "closed", "{gate:?}");
    let status = stack.json(&["status", "hello-service"])["components"].clone();
    assert_eq!(
        status[0]["environments"][0]["pending_approval"]["deployment_id"], second,
        "{status:#}"
    );
    stack.ok(&["approve", &second]);
    assert_eq!(stack.wait_finished(&second)["status"], "succeeded");
}

#[test]
fn cancel_changes_nothing_when_the_execution_cannot_be_read() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&[], &[]);
    let before = stack.json(&["deployment", &id]);

    // Step Functions unreachable: nothing listens on this port.
    let closed = format!("http://127.0.0.1:{}", ferry_tests::free_port());
    let out = stack
        .command(&["cancel", &id, "--reason", "wrong version"])
        .env("AWS_ENDPOINT_URL_SFN", &closed)
        .output()
        .expect("running ferry");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");

    // The execution still runs, the records are as they were and the lock is still held.
    let after = stack.json(&["deployment", &id]);
    assert_eq!(after["status"], "running", "{after:#}");
    assert_eq!(after["execution_status"], "RUNNING", "{after:#}");
    assert_eq!(after["steps"], before["steps"]);
    assert!(rt().block_on(stack.locked("hello-service", "prod")));
    assert!(stack.json(&["history", "hello-service"])["history"]
        .as_array()
        .is_some_and(Vec::is_empty));

    // With Step Functions reachable again, the same cancel works.
    stack.ok(&["cancel", &id, "--reason", "wrong version"]);
    assert!(!rt().block_on(stack.locked("hello-service", "prod")));
}

/// The artifact bucket is versioned and a release records its VersionId: bytes written over a
/// registered release key (in AWS the bucket policy refuses that; a writer could still bypass
/// Ferry's policy) are recorded as a conflict, and deploys keep using the registered bytes.
#[test]
fn a_release_overwritten_in_s3_still_deploys_its_registered_bytes() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.release_dir(example().as_ref(), "1.0.0");
    let key = "releases/hello-service/1.0.0.zip";
    let rt = rt();
    rt.block_on(async {
        stack
            .s3()
            .await
            .put_object()
            .bucket(stack.bucket())
            .key(key)
            .body(ferry_tests::zips::release("hello-service", "1.0.0").into())
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .send()
            .await
            .expect("overwrite");
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let listed = loop {
        let listed = stack.json(&["releases", "hello-service"]);
        if listed["rejections"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break listed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the overwrite was never judged: {listed:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let rejection = &listed["rejections"][0];
    assert_eq!(rejection["kind"], "conflict", "{listed:#}");
    let release = &listed["releases"][0];
    assert!(release["version_id"].is_string(), "{listed:#}");
    assert_ne!(rejection["version_id"], release["version_id"], "{listed:#}");

    let id = deploy(&stack, &["hello-service", "1.0.0", "--to", "dev"]);
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    assert!(rt.block_on(stack.state("hello-service", "dev")).is_some());
}

/// The build processes of this stack still alive: descendants of its daemon other than moto.
fn build_processes(stack: &Stack) -> Vec<(u32, String)> {
    ferry_tests::stack::descendants(stack.daemon_pid())
        .into_iter()
        .filter(|(_, cmd)| !cmd.contains("moto"))
        .collect()
}

/// Cancelling stops the build, as Step Functions stops a `.sync` job with its execution: the
/// plan's terraform is killed at once and nothing is uploaded for the aborted deployment.
#[test]
fn cancel_during_plan_stops_the_build() {
    let tf = GatedTerraform::new();
    let stack = Stack::up_with_tools(Some(tf.path()));
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.release_dir(example().as_ref(), "1.0.0");
    let id = deploy(&stack, &["hello-service", "1.0.0", "--to", "dev"]);
    let terraform = tf.wait_started("plan", Duration::from_secs(120));
    let builds: Vec<u32> = build_processes(&stack)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(
        builds.contains(&terraform),
        "{builds:?} lacks terraform {terraform}"
    );

    stack.ok(&["cancel", &id, "--reason", "not now"]);
    ferry_tests::stack::wait_gone(&builds, Duration::from_secs(30));
    assert!(
        build_processes(&stack).is_empty(),
        "{:?}",
        build_processes(&stack)
    );
    // Opening the gate now changes nothing: the plan's terraform is gone.
    tf.open("plan");
    let d = stack.json(&["deployment", &id]);
    assert_eq!(d["status"], "aborted", "{d:#}");
    assert_eq!(Stack::step(&d, "dev")["status"], "aborted", "{d:#}");
    let plan = rt().block_on(async {
        stack
            .s3()
            .await
            .head_object()
            .bucket(stack.bucket())
            .key(format!("deployments/{id}/dev/plan.tfplan"))
            .send()
            .await
    });
    assert!(
        plan.is_err(),
        "a plan was uploaded for a cancelled deployment"
    );
    assert!(!rt().block_on(stack.locked("hello-service", "dev")));
}

/// Cancelled in the middle of an apply: the build is stopped, and the record says the apply was
/// interrupted (with what to do), not that nothing happened.
#[test]
fn cancel_during_apply_stops_the_build_and_records_an_interrupted_apply() {
    let tf = GatedTerraform::new();
    tf.open("plan");
    let stack = Stack::up_with_tools(Some(tf.path()));
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.release_dir(example().as_ref(), "1.0.0");
    let id = deploy(&stack, &["hello-service", "1.0.0", "--to", "dev"]);
    let terraform = tf.wait_started("apply", Duration::from_secs(120));
    let builds: Vec<u32> = build_processes(&stack)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(
        builds.contains(&terraform),
        "{builds:?} lacks terraform {terraform}"
    );

    stack.ok(&["cancel", &id, "--reason", "stop it"]);
    ferry_tests::stack::wait_gone(&builds, Duration::from_secs(30));
    assert!(
        build_processes(&stack).is_empty(),
        "{:?}",
        build_processes(&stack)
    );
    let d = stack.json(&["deployment", &id]);
    assert_eq!(d["status"], "aborted", "{d:#}");
    let step = Stack::step(&d, "dev");
    assert_eq!(step["status"], "apply-interrupted", "{d:#}");
    let error = step["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("may have changed") && error.contains("deploy again"),
        "{error}"
    );
    let history = stack.json(&["history", "hello-service"])["history"].clone();
    assert_eq!(history[0]["outcome"], "apply-interrupted", "{history:#}");
    // The record matches S3: terraform was stopped before it wrote any state, nothing is live.
    assert!(rt().block_on(stack.state("hello-service", "dev")).is_none());
    assert!(
        stack.json(&["status", "hello-service"])["components"][0]["environments"][0]["live"]
            .is_null()
    );
    assert!(!rt().block_on(stack.locked("hello-service", "dev")));
}

/// `ferry local down` while a deploy runs: the deployment is recorded aborted first, its build
/// is stopped, and nothing the stack started survives it.
#[test]
fn local_down_mid_deploy_aborts_it_and_leaves_no_process() {
    let tf = GatedTerraform::new();
    tf.open("plan");
    let stack = Stack::up_with_tools(Some(tf.path()));
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.release_dir(example().as_ref(), "1.0.0");
    let id = deploy(&stack, &["hello-service", "1.0.0", "--to", "dev"]);
    let terraform = tf.wait_started("apply", Duration::from_secs(120));
    let daemon = stack.daemon_pid();
    let mut all: Vec<u32> = ferry_tests::stack::descendants(daemon)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(all.contains(&terraform), "{all:?}");
    all.push(daemon);

    let out = stack.ferry(&["local", "down"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("aborted deployment {id} (aborted)")),
        "{said}"
    );
    ferry_tests::stack::wait_gone(&all, Duration::from_secs(30));
}
