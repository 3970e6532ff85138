//! A failed build says why, end to end on the local stack: the buildspec's one-line reason
//! reaches the deployment's step (`failure_reason`), its error, its history line and
//! `ferry deployment` in both output formats.

use ferry_tests::stack::{component_dir, Stack};
use ferry_tests::zips::{manifest, zip_of, MAIN_TF};
use serde_json::Value;
use zip::CompressionMethod;

/// Deploys `component` 1.0.0 to dev and returns the finished deployment as JSON.
fn failed_deploy(stack: &Stack, component: &str) -> (String, Value) {
    let id = stack.deploy(&[component, "1.0.0", "--to", "dev"]);
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "failed", "{d:#}");
    (id, d)
}

#[test]
fn a_refused_release_and_a_failing_plan_say_why() {
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);

    // A zip-slip entry: registration reads only the manifest, the build refuses to unzip it.
    let m = manifest("slip", "1.0.0");
    let zip = zip_of(
        &[
            ("ferry.json", &m),
            ("main.tf", MAIN_TF),
            ("../evil", b"owned"),
        ],
        CompressionMethod::Deflated,
    );
    let path = stack.dir.path().join("slip-1.0.0.zip");
    std::fs::write(&path, zip).expect("write zip");
    let out = stack.ok(&["release", path.to_str().expect("path")]);
    assert!(out.starts_with("registered"), "{out}");

    let (id, d) = failed_deploy(&stack, "slip");
    let why = "release zip entry '../evil' contains '..'; refusing to unzip";
    let step = Stack::step(&d, "dev");
    assert_eq!(step["failure_reason"], why, "{step:#}");
    assert!(
        step["error"]
            .as_str()
            .is_some_and(|e| e.contains("FAILED in phase PRE_BUILD")),
        "{step:#}"
    );
    assert!(
        step["plan_build_id"].is_string(),
        "the failed build is named: {step:#}"
    );
    assert!(
        d["error"].as_str().is_some_and(|e| e.contains(why)),
        "the deployment's error says why: {d:#}"
    );
    let table = stack.ok(&["deployment", &id]);
    assert!(table.contains(&format!("dev failed: {why}")), "{table}");
    let history = stack.json(&["history", "slip", "--env", "dev"])["history"].clone();
    assert!(
        history[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(why)),
        "{history:#}"
    );

    // Terraform's own error, not just the phase.
    let bad_plan = component_dir(
        stack.dir.path(),
        "bad-plan",
        "resource \"terraform_data\" \"x\" {\n  input = var.not_declared\n}\n",
    );
    stack.release_dir(&bad_plan, "1.0.0");
    let (_, d) = failed_deploy(&stack, "bad-plan");
    let step = Stack::step(&d, "dev");
    let why = step["failure_reason"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("terraform plan failed: Error: Reference to undeclared input variable")
            && why.contains("not_declared"),
        "{step:#}"
    );
}
