//! Who may approve and what a decision records, on the local stack with the real `ferry`
//! binary, handlers, engine and terraform: identities are compared on what the caller cannot
//! choose, and a decision the gate did not take is never recorded as made.

use ferry_tests::stack::{Stack, PROD_REQUIRED};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn allowed_approvers_match_local_identities_and_four_eyes_ignores_case() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(
        &["--approvers", "alice,bob", "--four-eyes"],
        &["--as", "alice"],
    );
    // A first deploy, live nowhere yet: `ferry status` still shows the gate waiting.
    let status = stack.json(&["status"]);
    assert_eq!(
        status["components"][0]["environments"][0]["pending_approval"]["deployment_id"],
        id.as_str(),
        "{status:#}"
    );

    // Not on the list.
    let out = stack.ferry(&["approve", &id, "--as", "carol"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not an approver"), "{}", stderr(&out));
    // The requester, however the name is spelled, is not a second pair of eyes.
    let out = stack.ferry(&["approve", &id, "--as", "ALICE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("four eyes"), "{}", stderr(&out));
    // A name that could pass for part of another identity is refused at the edge.
    let out = stack.ferry(&["approve", &id, "--as", "x/alice"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid local user name"),
        "{}",
        stderr(&out)
    );

    // bob is on the list (the README's own example): approved, and the deploy goes through.
    let out = stack.ok(&["approve", &id, "--as", "bob"]);
    assert!(
        out.contains("approved") && out.contains("local:bob"),
        "{out}"
    );
    assert_eq!(stack.wait_finished(&id)["status"], "succeeded");
}

#[test]
fn a_decision_the_gate_refuses_is_not_recorded_as_made() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&[], &["--as", "alice"]);
    // The workflow stops waiting behind the approver's back (console, API): the gate is gone.
    stack.stop_execution(&id);
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let out = stack.ferry(&["approve", &id, "--as", "bob", "--comment", "ok"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "approved a gate nobody waits at"
    );
    assert!(
        stderr(&out).contains("no longer waiting"),
        "{}",
        stderr(&out)
    );

    // Nothing says "approved": the gate is closed (nobody can decide it any more), and the
    // deployment, which no Catch recorded, is recorded aborted with its lock released.
    let approval = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval record");
    assert_eq!(approval.status.as_str(), "closed", "{approval:?}");
    assert_eq!(approval.decided_by, None);
    assert!(
        approval
            .gate_error
            .as_deref()
            .is_some_and(|e| e.contains("no longer waiting")),
        "{approval:?}"
    );
    let d = stack.json(&["deployment", &id]);
    assert_eq!(d["status"], "aborted", "{d:#}");
    assert_eq!(Stack::step(&d, "prod")["status"], "aborted", "{d:#}");
    assert!(Stack::step(&d, "prod")["decided_by"].is_null(), "{d:#}");
    assert!(!rt.block_on(stack.locked("hello-service", "prod")));
    assert_no_pending_gate(&stack);
}

/// `ferry status` lists no gate waiting for a decision.
fn assert_no_pending_gate(stack: &Stack) {
    let status = stack.json(&["status", "hello-service"])["components"].clone();
    let prod = status[0]["environments"]
        .as_array()
        .and_then(|envs| envs.iter().find(|e| e["environment"] == "prod"))
        .cloned()
        .unwrap_or_default();
    assert!(prod["pending_approval"].is_null(), "{status:#}");
}

#[test]
fn cancel_at_the_gate_closes_it_and_a_later_approve_is_refused() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&[], &["--as", "alice"]);
    // The handlers cancel runs in-process log nothing on the terminal unless asked (-v).
    let out = stack
        .command(&["cancel", &id, "--as", "alice", "--reason", "wrong version"])
        .env_remove("RUST_LOG")
        .env_remove("FERRY_LOG")
        .output()
        .expect("ferry");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "handler logs reached the terminal");
    assert_no_pending_gate(&stack);

    let out = stack.ferry(&["approve", &id, "--as", "bob"]);
    assert_eq!(out.status.code(), Some(1), "approved a cancelled gate");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let approval = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval record");
    assert_eq!(approval.status.as_str(), "closed", "{approval:?}");
    assert_eq!(approval.decided_by, None, "{approval:?}");
    assert!(
        approval
            .gate_error
            .as_deref()
            .is_some_and(|e| e.contains("wrong version")),
        "{approval:?}"
    );
    let d = stack.json(&["deployment", &id]);
    assert_eq!(Stack::step(&d, "prod")["status"], "aborted", "{d:#}");
    assert!(Stack::step(&d, "prod")["decided_by"].is_null(), "{d:#}");
}

/// Whoever holds the task token can complete the gate with any output (local mode has no IAM;
/// in AWS, anyone granted states:SendTaskSuccess). Apply acts on Ferry's record, not on that.
#[test]
fn a_gate_completed_with_a_forged_approver_applies_nothing() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&[], &["--as", "alice"]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let approval = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval record");
    rt.block_on(async {
        let data =
            ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL").unwrap()).await;
        let kms = aws_sdk_kms::Client::new(&data);
        let keys = kms.list_keys().send().await.expect("list keys");
        let key = keys.keys()[0].key_id().expect("key id").to_owned();
        let token = ferry_shared::gate::TokenKey::new(kms, key)
            .unseal(&approval.task_token, &id, &approval.environment)
            .await
            .expect("unseal");
        let token = serde_json::to_value(&token).unwrap();
        let forged = serde_json::json!({
            "decision": "approved", "approver": "local:mallory", "comment": null,
            "plan_sha256": approval.plan_sha256, "plan_summary": "looks fine",
        });
        let sdk =
            ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL_SFN").unwrap()).await;
        aws_sdk_sfn::Client::new(&sdk)
            .send_task_success()
            .task_token(token.as_str().unwrap())
            .output(forged.to_string())
            .send()
            .await
            .expect("the engine accepts the token");
    });
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "failed", "{d:#}");
    let step = Stack::step(&d, "prod");
    assert_eq!(step["status"], "failed", "{d:#}");
    assert!(
        step["error"]
            .as_str()
            .is_some_and(|e| e.contains("pending in Ferry's record")),
        "{d:#}"
    );
    assert!(step["decided_by"].is_null(), "{d:#}");
    assert!(
        rt.block_on(stack.state("hello-service", "prod")).is_none(),
        "a forged approval was applied"
    );
    let approval = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval record");
    assert_eq!(approval.status.as_str(), "closed", "{approval:?}");
    assert!(!rt.block_on(stack.locked("hello-service", "prod")));
}

#[test]
fn comments_and_timeouts_are_bounded_at_the_edge() {
    let stack = Stack::up();
    for (timeout, says) in [
        ("999999999999999999d", "invalid duration"),
        ("400d", "longer than a year"),
    ] {
        let mut args = PROD_REQUIRED.to_vec();
        args.extend(["--timeout", timeout]);
        let out = stack.ferry(&args);
        assert_eq!(out.status.code(), Some(2), "{timeout}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{timeout}: {}", stderr(&out));
    }

    let long = "x".repeat(3000);
    let out = stack.ferry(&["approve", "some-deployment", "--comment", &long]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at most 2048"), "{}", stderr(&out));
}

/// Starts an execution directly (as anyone holding states:StartExecution could), with an input
/// naming whoever it likes; waits for it to end and returns its status and cause.
fn forge(stack: &Stack, name: &str, input: serde_json::Value) -> (String, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let sdk =
            ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL_SFN").unwrap()).await;
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let arn = sfn
            .start_execution()
            .state_machine_arn(stack.var("FERRY_STATE_MACHINE_ARN").unwrap())
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .expect("start")
            .execution_arn()
            .to_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let out = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .expect("describe");
            if out.status() != &aws_sdk_sfn::types::ExecutionStatus::Running {
                return (
                    out.status().as_str().to_owned(),
                    out.cause().unwrap_or_default().to_owned(),
                );
            }
            assert!(std::time::Instant::now() < deadline, "{name} still running");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
}

#[test]
fn a_requester_the_api_did_not_record_is_refused() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&["--four-eyes"], &["--as", "alice"]);
    let before = stack.json(&["deployment", &id]);
    assert_eq!(before["requester"], "local:alice");

    // Claiming to be bob for a deployment nobody recorded: refused before anything runs.
    let input = |deployment: &str, requester: &str| {
        serde_json::json!({
            "deployment_id": deployment, "component": "hello-service", "version": "1.0.0",
            "targets": ["prod"], "requester": requester, "override_reason": null,
            "mode": "deploy"
        })
    };
    let (status, cause) = forge(&stack, "forged-new", input("forged-new", "local:bob"));
    assert_eq!(status, "FAILED");
    assert!(cause.contains("not one Ferry recorded"), "{cause}");
    let out = stack.ferry(&["deployment", "forged-new"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a forged deployment was recorded"
    );

    // Riding on alice's real deployment with another requester: refused, and alice's record
    // is untouched (no failed step, no history, still waiting for its approval).
    let (status, cause) = forge(&stack, "forged-ride", input(&id, "local:bob"));
    assert_eq!(status, "FAILED");
    assert!(cause.contains("not one Ferry recorded"), "{cause}");
    // Nor as alice with another mode than the one recorded (a destroy riding on a deploy).
    let mut destroy = input(&id, "local:alice");
    destroy["mode"] = "destroy".into();
    let (status, cause) = forge(&stack, "forged-mode", destroy);
    assert_eq!(status, "FAILED");
    assert!(cause.contains("not one Ferry recorded"), "{cause}");
    let after = stack.json(&["deployment", &id]);
    assert_eq!(after["status"], "running", "{after:#}");
    assert_eq!(after["steps"], before["steps"]);
    assert!(stack.json(&["history", "hello-service"])["history"]
        .as_array()
        .is_some_and(Vec::is_empty));
    // The real deployment still goes through its gate as recorded.
    stack.ok(&["approve", &id, "--as", "bob"]);
    assert_eq!(stack.wait_finished(&id)["status"], "succeeded");
}

#[test]
fn task_tokens_in_the_table_complete_nothing() {
    let stack = Stack::up();
    let id = stack.pending_prod_deploy(&[], &["--as", "alice"]);

    // What anyone who reads the table gets: a sealed token, which Step Functions refuses.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let approval = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval record");
    let stored = serde_json::to_value(&approval).unwrap()["task_token"]
        .as_str()
        .expect("a sealed token is stored")
        .to_owned();
    let refused = rt.block_on(async {
        let sdk =
            ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL_SFN").unwrap()).await;
        aws_sdk_sfn::Client::new(&sdk)
            .send_task_success()
            .task_token(&stored)
            .output(r#"{"decision":"approved","approver":"mallory"}"#)
            .send()
            .await
    });
    assert!(
        refused.is_err(),
        "a token read from the table completed the gate"
    );
    assert!(!stack
        .ok(&["status", "hello-service", "--output", "json"])
        .contains(&stored));

    // The approval function unseals it for the gate it belongs to.
    stack.ok(&["approve", &id, "--as", "bob"]);
    assert_eq!(stack.wait_finished(&id)["status"], "succeeded");
}
