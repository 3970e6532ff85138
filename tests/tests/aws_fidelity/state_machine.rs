//! The state machine: asl-validator, substitutions, the integrations its tasks use and the
//! role that lets it call them.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::cfn::{expr, names, one_or_many, only_resource_of, template_functions};
use crate::policy::{
    assert_least_privilege_shape, assert_same_grants, grants_of, sam_policy_docs, Grants,
};
use crate::{read, run_ok, tool, SETUP_HINT};

pub fn asl() -> Value {
    serde_json::from_str(&read("statemachine/deploy.asl.json")).expect("deploy.asl.json parses")
}

#[test]
fn state_machine_passes_asl_validator() {
    let v = tool("node_modules/.bin/asl-validator", SETUP_HINT);
    run_ok(
        Command::new(v)
            .arg("--json-path")
            .arg("statemachine/deploy.asl.json"),
    );
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after.find('}').expect("unclosed ${");
        out.insert(after[..end].to_owned());
        rest = &after[end..];
    }
    out
}

#[test]
fn every_placeholder_has_a_substitution_and_every_substitution_is_used() {
    let (id, sm) = only_resource_of("AWS::Serverless::StateMachine");
    let p = &sm["Properties"];
    assert_eq!(p["DefinitionUri"], "statemachine/deploy.asl.json", "{id}");
    let subs: BTreeSet<String> = p["DefinitionSubstitutions"]
        .as_object()
        .expect("DefinitionSubstitutions")
        .keys()
        .cloned()
        .collect();
    let used = placeholders(&read("statemachine/deploy.asl.json"));
    assert_eq!(
        used, subs,
        "placeholders in deploy.asl.json vs {id}.DefinitionSubstitutions"
    );
    // Each function placeholder points at the function whose binary it names.
    for (k, v) in p["DefinitionSubstitutions"].as_object().unwrap() {
        if let Some(stem) = k.strip_suffix("FunctionArn") {
            let target = format!("{stem}Function");
            assert_eq!(expr(v), format!("${{{target}.Arn}}"), "{k}");
            assert!(
                template_functions().contains_key(&target),
                "{k}: no {target}"
            );
        }
    }
    assert_eq!(
        expr(&p["DefinitionSubstitutions"]["TerraformProjectName"]),
        format!("${{{}}}", names().project)
    );
}

/// Every Task state, wherever it is nested (Map item processors, Parallel branches).
fn tasks(states: &Value, out: &mut Vec<(String, Value)>) {
    for (name, s) in states.as_object().expect("States") {
        if s["Type"] == "Task" {
            out.push((name.clone(), s.clone()));
        }
        for key in ["ItemProcessor", "Iterator"] {
            if !s[key].is_null() {
                tasks(&s[key]["States"], out);
            }
        }
        for b in one_or_many(&s["Branches"]) {
            tasks(&b["States"], out);
        }
    }
}

pub fn all_tasks() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    tasks(&asl()["States"], &mut out);
    assert!(!out.is_empty());
    out
}

/// Does any `key.$` in `v` (recursively) select `path`?
fn selects(v: &Value, path: &str) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, x)| (k.ends_with(".$") && x == path) || selects(x, path)),
        Value::Array(a) => a.iter().any(|x| selects(x, path)),
        _ => false,
    }
}

#[test]
fn tasks_use_real_integrations_with_the_parameters_aws_requires() {
    for (name, t) in all_tasks() {
        let resource = t["Resource"].as_str().expect("Resource");
        let params = t["Parameters"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: Parameters"));
        let keys: BTreeSet<&str> = params.keys().map(|k| k.trim_end_matches(".$")).collect();
        let (allowed, required, result_root): (&[&str], &[&str], &str) = match resource {
            "arn:aws:states:::lambda:invoke"
            | "arn:aws:states:::lambda:invoke.waitForTaskToken" => (
                &[
                    "FunctionName",
                    "Payload",
                    "InvocationType",
                    "Qualifier",
                    "ClientContext",
                    "LogType",
                ],
                &["FunctionName", "Payload"],
                "$.Payload",
            ),
            "arn:aws:states:::codebuild:startBuild"
            | "arn:aws:states:::codebuild:startBuild.sync" => (
                &[
                    "ProjectName",
                    "EnvironmentVariablesOverride",
                    "SourceVersion",
                    "BuildspecOverride",
                    "TimeoutInMinutesOverride",
                    "ComputeTypeOverride",
                    "ImageOverride",
                    "IdempotencyToken",
                ],
                &["ProjectName"],
                "$.Build",
            ),
            other => panic!(
                "{name}: {other} is not an integration this check knows (a typo AWS would refuse?)"
            ),
        };
        for k in &keys {
            assert!(
                allowed.contains(k),
                "{name}: parameter {k} is not one {resource} accepts"
            );
        }
        for k in required {
            assert!(keys.contains(k), "{name}: {resource} requires {k}");
        }
        if resource.contains("lambda:invoke") {
            let f = params["FunctionName"].as_str().expect("FunctionName");
            assert!(
                f.starts_with("${") && f.ends_with("FunctionArn}"),
                "{name}: FunctionName {f} should be a substituted function ARN"
            );
        }
        if resource.contains("codebuild") {
            assert_eq!(params["ProjectName"], "${TerraformProjectName}", "{name}");
            for v in one_or_many(&t["Parameters"]["EnvironmentVariablesOverride"]) {
                assert!(v["Name"].is_string(), "{name}: env override Name");
                assert!(
                    matches!(
                        v["Type"].as_str(),
                        Some("PLAINTEXT" | "PARAMETER_STORE" | "SECRETS_MANAGER")
                    ),
                    "{name}: env override Type"
                );
                assert!(
                    v["Value"].is_string() || v["Value.$"].is_string(),
                    "{name}: env override Value"
                );
            }
        }
        if resource.ends_with(".waitForTaskToken") {
            assert!(
                selects(&t["Parameters"], "$$.Task.Token"),
                "{name}: a callback task must pass $$.Task.Token"
            );
            assert!(
                t["TimeoutSeconds"].is_number() || t["TimeoutSecondsPath"].is_string(),
                "{name}: a callback task without a timeout waits up to a year"
            );
        } else {
            assert!(
                !selects(&t["Parameters"], "$$.Task.Token"),
                "{name}: $$.Task.Token only exists for .waitForTaskToken"
            );
        }
        // ResultSelector reads what the integration returns.
        if let Some(sel) = t["ResultSelector"].as_object() {
            for (k, v) in sel {
                if k.ends_with(".$") {
                    let p = v.as_str().expect("path");
                    assert!(
                        p.starts_with(result_root),
                        "{name}: ResultSelector {k}={p} but {resource} returns {result_root}…"
                    );
                }
            }
        }
    }
}

#[test]
fn state_machine_policy_grants_exactly_its_integrations() {
    let (id, sm) = only_resource_of("AWS::Serverless::StateMachine");
    let subs = &sm["Properties"]["DefinitionSubstitutions"];
    let sub = |placeholder: &str| -> String {
        let key = placeholder.trim_start_matches("${").trim_end_matches('}');
        expr(&subs[key])
    };
    let mut needed = Grants::new();
    for (name, t) in all_tasks() {
        let resource = t["Resource"].as_str().unwrap();
        if resource.contains(":lambda:invoke") {
            let f = sub(t["Parameters"]["FunctionName"].as_str().unwrap());
            needed.insert(("lambda:InvokeFunction".into(), f));
        } else if resource.contains(":codebuild:startBuild") {
            let project = sub(t["Parameters"]["ProjectName"].as_str().unwrap());
            let arn = format!("{}.Arn}}", project.trim_end_matches('}'));
            needed.insert(("codebuild:StartBuild".into(), arn.clone()));
            needed.insert(("codebuild:StopBuild".into(), arn.clone()));
            needed.insert(("codebuild:BatchGetBuilds".into(), arn));
            if resource.ends_with(".sync") {
                // Step Functions waits for the build through a managed EventBridge rule.
                let rule = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule";
                for a in ["events:PutTargets", "events:PutRule", "events:DescribeRule"] {
                    needed.insert((a.into(), rule.into()));
                }
            }
        } else {
            panic!("{name}: no IAM mapping for {resource}");
        }
    }
    let logging = &sm["Properties"]["Logging"];
    if !logging.is_null() {
        assert_eq!(
            logging["IncludeExecutionData"], false,
            "execution data holds task tokens: never log it"
        );
        assert!(
            one_or_many(&logging["Destinations"])[0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
                .is_object()
        );
        // CloudWatch Logs delivery for Step Functions (these actions take no resource ARNs).
        for a in [
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
            "DescribeLogGroups",
        ] {
            needed.insert((format!("logs:{a}"), "*".into()));
        }
    }
    let granted = grants_of(&sam_policy_docs(id), id);
    assert_same_grants(id, &granted, &needed);
    assert_least_privilege_shape(id, &granted);
}
