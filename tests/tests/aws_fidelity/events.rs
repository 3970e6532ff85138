//! Handler inputs in AWS's shapes: task payloads as the ASL builds them, the S3 notification
//! and the Function URL request fixtures.

use serde_json::{json, Value};

use crate::read;
use crate::state_machine::{all_tasks, asl};

/// Evaluates Step Functions `Parameters`/`ItemSelector` (JSONPath `.$` keys, dotted paths only)
/// against a state input and the context object, as Step Functions does; a missing path is
/// the States.Runtime failure AWS would raise.
fn eval(template: &Value, input: &Value, ctx: &Value, at: &str) -> Value {
    match template {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match k.strip_suffix(".$") {
                    Some(key) => {
                        let p = v
                            .as_str()
                            .unwrap_or_else(|| panic!("{at}: {k} must be a path"));
                        (key.to_owned(), path(p, input, ctx, at))
                    }
                    None => (k.clone(), eval(v, input, ctx, at)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| eval(v, input, ctx, at)).collect()),
        v => v.clone(),
    }
}

fn path(p: &str, input: &Value, ctx: &Value, at: &str) -> Value {
    let (mut cur, rest) = if let Some(r) = p.strip_prefix("$$") {
        (ctx, r)
    } else if let Some(r) = p.strip_prefix('$') {
        (input, r)
    } else {
        panic!("{at}: {p} is not a path (intrinsic functions are not evaluated here)")
    };
    for seg in rest.split('.').filter(|s| !s.is_empty()) {
        cur = cur.get(seg).unwrap_or_else(|| {
            panic!("{at}: {p} selects nothing in {cur} (States.Runtime in AWS)")
        });
    }
    cur.clone()
}

#[test]
fn task_payloads_as_the_asl_builds_them_fit_the_handlers() {
    use ferry_shared::model::{ApprovalStatus, Decision};
    use ferry_shared::workflow::EnvContext;
    let asl = asl();
    // What `ferry deploy` starts an execution with.
    let exec_input = json!({
        "deployment_id": "d-20261121-0001", "component": "web", "version": "1.4.2",
        "targets": ["staging", "prod"], "requester": "arn:aws:iam::123456789012:user/alice",
        "override_reason": null, "mode": "rollback"
    });
    let exec_arn = "arn:aws:states:us-east-1:123456789012:execution:ferry-deploy:d-20261121-0001";
    let map = &asl["States"]["Deploy each environment in order"];
    assert_eq!(map["Type"], "Map");
    let ctx = json!({
        "Execution": {"Id": exec_arn, "Input": exec_input},
        "Map": {"Item": {"Index": 1, "Value": "prod"}},
        "Task": {"Token": "AQCEAAAAKgAAAAMAAAAA…token"},
    });
    let item = eval(&map["ItemSelector"], &exec_input, &ctx, "ItemSelector");
    let env: EnvContext = serde_json::from_value(item.clone()).expect("Map item is an EnvContext");
    assert_eq!(env.environment.as_str(), "prod");
    assert_eq!(env.mode, ferry_shared::model::DeployMode::Rollback);
    assert_eq!(env.execution_arn, exec_arn);

    // The item's state as it accumulates through the per-environment states (ResultPaths).
    let decision = serde_json::to_value(Decision {
        decision: ApprovalStatus::Approved,
        approver: "arn:aws:iam::123456789012:user/bob".into(),
        comment: None,
        plan_sha256: "ab".repeat(32),
        plan_summary: "+1 ~0 -0".into(),
        approved_by: vec!["arn:aws:iam::123456789012:user/bob".into()],
    })
    .unwrap();
    let mut state = item.clone();
    state["check"] = json!({"release_sha256": "cd".repeat(32), "release_version_id": "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd", "approval": "required", "approval_timeout_seconds": 3600});
    state["plan"] = json!({"build_id": "ferry-terraform:1", "summary": [
        {"Name": "FERRY_PLAN_SHA256", "Value": "ab".repeat(32)}, {"Name": "FERRY_PLAN_ADDS", "Value": "1"}
    ]});
    state["approval"] = decision;
    state["verified"] = json!({"plan_sha256": "ab".repeat(32), "approver": "arn:aws:iam::123456789012:user/bob", "approved_by": ["arn:aws:iam::123456789012:user/bob"]});
    state["apply"] = json!({"build_id": "ferry-terraform:2"});
    state["error"] = json!({"Error": "States.TaskFailed", "Cause": "{\"errorMessage\":\"boom\"}"});
    let deployment_state = {
        let mut s = exec_input.clone();
        s["error"] = state["error"].clone();
        s
    };

    let items = map["ItemProcessor"]["States"].as_object().unwrap();
    for (name, t) in all_tasks() {
        let top_level = !items.contains_key(&name);
        let input = if top_level { &deployment_state } else { &state };
        let params = eval(&t["Parameters"], input, &ctx, &name);
        let resource = t["Resource"].as_str().unwrap();
        if resource.contains("codebuild") {
            for v in params["EnvironmentVariablesOverride"].as_array().unwrap() {
                assert!(
                    v["Value"].is_string(),
                    "{name}: CodeBuild takes string values only: {v}"
                );
            }
            continue;
        }
        let payload = &params["Payload"];
        let function = params["FunctionName"].as_str().unwrap();
        match function {
            "${CheckAndLockFunctionArn}" => {
                let c: EnvContext = serde_json::from_value(payload.clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(c, env);
            }
            "${RequestApprovalFunctionArn}" => {
                let request: request_approval::Request = serde_json::from_value(payload.clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                match request {
                    request_approval::Request::ReviewLink(r) => {
                        assert_eq!(r.ctx, env);
                        assert_eq!(r.timeout_seconds, 3600, "{name}");
                        assert!(
                            r.plan_exports.iter().any(|e| e.name == "FERRY_PLAN_SHA256"),
                            "{name}: the plan build's exports"
                        );
                    }
                    request_approval::Request::Gate(g) => {
                        assert_eq!(g.ctx, env);
                        assert_eq!(payload["task_token"], ctx["Task"]["Token"], "{name}");
                        assert!(!g.plan_build_id.is_empty(), "{name}: plan_build_id");
                    }
                    request_approval::Request::Verify(v) => {
                        assert_eq!(v.ctx, env);
                        assert_eq!(v.claimed.plan_sha256, "ab".repeat(32), "{name}");
                        assert!(
                            v.plan_exports.iter().any(|e| e.name == "FERRY_PLAN_SHA256"),
                            "{name}: the plan build's exports"
                        );
                    }
                }
            }
            "${RecordResultFunctionArn}" => match payload["action"].as_str() {
                Some("environment") => {
                    let c: EnvContext = serde_json::from_value(payload.clone())
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(c, env);
                    assert!(
                        matches!(
                            payload["outcome"].as_str(),
                            Some("succeeded" | "failed" | "rejected" | "timed-out" | "planned")
                        ),
                        "{name}: outcome"
                    );
                    match payload["outcome"].as_str() {
                        Some("succeeded") => {}
                        Some("planned") => assert!(
                            payload["plan_build_id"].is_string(),
                            "{name}: a plan-only records its plan build"
                        ),
                        _ => assert!(
                            payload["error"]["Error"].is_string(),
                            "{name}: a failure carries the caught error"
                        ),
                    }
                }
                Some("deployment") => {
                    assert!(top_level, "{name}");
                    assert!(
                        payload["deployment_id"].is_string() && payload["status"].is_string(),
                        "{name}: {payload}"
                    );
                }
                other => panic!("{name}: record-result action {other:?}"),
            },
            other => panic!("{name}: unknown function {other}"),
        }
    }
}

#[test]
fn s3_event_fixture_is_the_documented_shape_and_matches_the_notification() {
    let text = read("functions/register-release/tests/fixtures/s3-put.json");
    let raw: Value = serde_json::from_str(&text).unwrap();
    let r = &raw["Records"][0];
    // Every field of the documented event structure (S3 User Guide, "Event message structure").
    for p in [
        "/eventVersion",
        "/eventSource",
        "/awsRegion",
        "/eventTime",
        "/eventName",
        "/userIdentity/principalId",
        "/requestParameters/sourceIPAddress",
        "/responseElements/x-amz-request-id",
        "/responseElements/x-amz-id-2",
        "/s3/s3SchemaVersion",
        "/s3/configurationId",
        "/s3/bucket/name",
        "/s3/bucket/ownerIdentity/principalId",
        "/s3/bucket/arn",
        "/s3/object/key",
        "/s3/object/size",
        "/s3/object/eTag",
        "/s3/object/versionId",
        "/s3/object/sequencer",
    ] {
        assert!(r.pointer(p).is_some(), "s3-put.json lacks {p}");
    }
    assert_eq!(r["eventSource"], "aws:s3");
    assert!(r["eventName"]
        .as_str()
        .unwrap()
        .starts_with("ObjectCreated:"));
    let event: aws_lambda_events::s3::S3Event = serde_json::from_str(&text).expect("S3Event");
    let rec = &event.records[0];
    let key = register_release::decode_key(rec.s3.object.key.as_deref().unwrap());
    assert!(
        key.starts_with("releases/") && key.ends_with(".zip"),
        "{key}: the notification filters on releases/*.zip"
    );
    assert_eq!(
        rec.s3.object.e_tag.as_deref(),
        Some("d41d8cd98f00b204e9800998ecf8427e")
    );
    assert!(
        ferry_shared::model::ReleaseKey::parse(&key).is_ok(),
        "{key}"
    );
    // Keys arrive form-encoded: a space is '+', other bytes %XX.
    assert_eq!(
        register_release::decode_key("releases/web/1.2.0%2Bbuild.1.zip"),
        "releases/web/1.2.0+build.1.zip"
    );
}

#[test]
fn function_url_fixture_carries_the_iam_caller() {
    let text = read("functions/approve/tests/fixtures/function-url-iam.json");
    let req: aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest =
        serde_json::from_str(&text).expect("LambdaFunctionUrlRequest");
    let iam = req
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .expect("requestContext.authorizer.iam");
    assert_eq!(
        iam.user_arn.as_deref(),
        Some("arn:aws:iam::123456789012:user/bob")
    );
    assert!(iam.caller_id.is_some());
    let body: Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["decision"], "approve");
    assert!(!req.is_base64_encoded);
}
