//! The SAM template: lint, function shape, environments, storage, notification, outputs and
//! the CodeBuild project.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::cfn::{
    expr, fn_prop, function_crates, function_id_for, names, one_or_many, only_resource_of,
    resources, template, template_functions,
};
use crate::rust_scan::{self, Call};
use crate::{check_aws, read, run_ok, tool, SETUP_HINT};

#[test]
fn template_passes_cfn_lint_sam_validate_and_lints_transformed() {
    tool(".venv/bin/cfn-lint", SETUP_HINT);
    tool(".venv/bin/sam", SETUP_HINT);
    let out = run_ok(check_aws().arg("lint"));
    assert!(out.contains("is a valid SAM Template"), "{out}");
    assert!(out.contains("cfn-lint (transformed): clean"), "{out}");
}

#[test]
fn every_function_crate_is_a_rust_lambda_in_the_template() {
    let crates = function_crates();
    let fns = template_functions();
    let bins: BTreeSet<&str> = fns.values().copied().collect();
    let crate_names: BTreeSet<&str> = crates.keys().map(String::as_str).collect();
    assert_eq!(
        bins, crate_names,
        "functions/* crates and template functions differ"
    );
    for (id, bin) in &fns {
        assert_eq!(fn_prop(id, "Runtime"), "provided.al2023", "{id}");
        assert_eq!(fn_prop(id, "Handler"), "bootstrap", "{id}");
        // The workspace root, so cargo builds the workspace and `--bin <Binary>` finds the crate.
        assert_eq!(fn_prop(id, "CodeUri"), ".", "{id}");
        // The build helper runs in CodeBuild too: built for the build image's architecture.
        let arch = if *bin == "build-helper" {
            let image = &template()["Parameters"]["TerraformBuildImage"]["Default"];
            assert!(
                image.as_str().is_some_and(|i| i.contains("x86_64")),
                "{image}"
            );
            json!(["x86_64"])
        } else {
            json!([{"Ref": "Architecture"}])
        };
        assert_eq!(fn_prop(id, "Architectures"), arch, "{id}");
        assert_eq!(fn_prop(id, "LoggingConfig")["LogFormat"], "JSON", "{id}");
        // The package's binary is the one SAM asks for (package = binary name, src/main.rs).
        assert!(
            crates[*bin].join("src/main.rs").exists(),
            "{bin}: src/main.rs is the binary SAM builds"
        );
        let cargo = read(&format!("functions/{bin}/Cargo.toml"));
        assert!(
            cargo.contains(&format!("name = \"{bin}\"")),
            "functions/{bin}: package name must equal the Binary"
        );
    }
    let arch = &template()["Parameters"]["Architecture"];
    assert_eq!(arch["Default"], "x86_64");
    assert_eq!(arch["AllowedValues"], json!(["x86_64", "arm64"]));
}

/// Env var names each `config` function reads, from shared/src/config.rs.
fn config_vars() -> BTreeMap<String, BTreeSet<String>> {
    let file = rust_scan::parse(&read("shared/src/config.rs"), "shared/src/config.rs");
    let consts: BTreeMap<String, String> = rust_scan::str_consts(&file).into_iter().collect();
    let mut out = BTreeMap::new();
    for f in rust_scan::items(&file, "config.rs") {
        let mut vars: BTreeSet<String> = f
            .body
            .strings
            .iter()
            .filter(|s| {
                s.starts_with("FERRY_") && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .cloned()
            .collect();
        for (q, name) in &f.body.paths {
            if let Some(value) = consts.get(name).filter(|_| q == "Self" || q == "Config") {
                vars.insert(value.clone());
            }
        }
        let key = match &f.owner {
            Some(o) => format!("{o}::{}", f.name),
            None => f.name.clone(),
        };
        out.insert(key, vars);
    }
    out
}

#[test]
fn function_environments_match_what_their_config_reads() {
    let config = config_vars();
    for (name, dir) in function_crates() {
        let main_rs = std::fs::read_to_string(dir.join("src/main.rs")).expect("main.rs");
        let main =
            rust_scan::file_body(&rust_scan::parse(&main_rs, &format!("{name}/src/main.rs")));
        let calls = |q: &str, m: &str| main.calls.contains(&Call::Path(q.into(), m.into()));
        let mut needed = BTreeSet::new();
        for (f, vars) in &config {
            let called = match f.split_once("::") {
                Some((ty, m)) => calls(ty, m),
                None => calls("config", f),
            };
            if called {
                needed.extend(vars.iter().cloned());
            }
        }
        let id = function_id_for(&name);
        if name == "build-helper" {
            // The custom resource reads its bucket from the event, nothing from config; it
            // gets only the globals every function gets.
            assert!(needed.is_empty(), "{name} reads {needed:?} through config");
            assert!(
                resources()[&id]["Properties"]["Environment"].is_null(),
                "{id}"
            );
            continue;
        }
        assert!(
            needed.contains("FERRY_TABLE"),
            "{name}: reads no FERRY_TABLE?"
        );
        let mut env: BTreeSet<String> = BTreeSet::new();
        for src in [
            &template()["Globals"]["Function"]["Environment"]["Variables"],
            &resources()[&id]["Properties"]["Environment"]["Variables"],
        ] {
            if let Some(m) = src.as_object() {
                env.extend(m.keys().cloned());
            }
        }
        assert_eq!(env, needed, "{id}: environment variables vs what {name}'s main.rs reads through shared/src/config.rs");
    }
    // The values name the right resources.
    let n = names();
    let globals = &template()["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(expr(&globals["FERRY_TABLE"]), format!("${{{}}}", n.table));
    assert_eq!(globals["FERRY_LOG_FORMAT"], "json");
    let ra = &resources()[&function_id_for("request-approval")]["Properties"]["Environment"]
        ["Variables"];
    assert_eq!(
        expr(&ra["FERRY_ARTIFACT_BUCKET"]),
        format!("${{{}}}", n.bucket)
    );
    assert_eq!(expr(&ra["FERRY_TOPIC_ARN"]), format!("${{{}}}", n.topic));
}

#[test]
fn storage_is_private_encrypted_versioned_and_recoverable() {
    let (_, b) = only_resource_of("AWS::S3::Bucket");
    let p = &b["Properties"];
    let pab = &p["PublicAccessBlockConfiguration"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(pab[k], true, "bucket {k}");
    }
    assert!(
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .is_string()
    );
    assert_eq!(p["VersioningConfiguration"]["Status"], "Enabled");
    // TLS only.
    let (_, policy) = only_resource_of("AWS::S3::BucketPolicy");
    assert_eq!(
        expr(&policy["Properties"]["Bucket"]),
        format!("${{{}}}", names().bucket)
    );
    let tls = one_or_many(&policy["Properties"]["PolicyDocument"]["Statement"])
        .into_iter()
        .any(|s| {
            s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
                && one_or_many(&s["Resource"]).len() == 2
        });
    assert!(
        tls,
        "bucket policy must deny aws:SecureTransport=false on the bucket and its objects"
    );

    let (_, t) = only_resource_of("AWS::DynamoDB::Table");
    let p = &t["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    );
    for r in [b, t] {
        assert_eq!(
            r["DeletionPolicy"], "Retain",
            "state must survive a stack deletion"
        );
    }
}

#[test]
fn s3_notification_reaches_register_release_for_release_zips_only() {
    let id = function_id_for("register-release");
    let events = resources()[&id]["Properties"]["Events"]
        .as_object()
        .expect("register-release has Events");
    let s3: Vec<&Value> = events.values().filter(|e| e["Type"] == "S3").collect();
    assert_eq!(s3.len(), 1, "one S3 event");
    let p = &s3[0]["Properties"];
    assert_eq!(
        expr(&p["Bucket"]),
        format!("${{{}}}", names().bucket),
        "the bucket of this template (SAM wires the notification and permission)"
    );
    assert_eq!(p["Events"], "s3:ObjectCreated:*");
    let rules: BTreeMap<&str, &str> = one_or_many(&p["Filter"]["S3Key"]["Rules"])
        .into_iter()
        .map(|r| (r["Name"].as_str().unwrap(), r["Value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rules,
        BTreeMap::from([("prefix", "releases/"), ("suffix", ".zip")])
    );
}

#[test]
fn outputs_name_every_resource_the_cli_needs() {
    let outputs = template()["Outputs"].as_object().expect("Outputs");
    let n = names();
    let approve = function_id_for("approve");
    let want = [
        ("ArtifactBucketName", format!("${{{}}}", n.bucket)),
        ("TableName", format!("${{{}}}", n.table)),
        ("StateMachineArn", format!("${{{}}}", n.state_machine)),
        ("ApprovalUrl", format!("${{{approve}Url.FunctionUrl}}")),
        ("TopicArn", format!("${{{}}}", n.topic)),
        ("TerraformProjectName", format!("${{{}}}", n.project)),
    ];
    for (k, v) in want {
        assert_eq!(expr(&outputs[k]["Value"]), v, "output {k}");
    }
    // The approval URL is IAM-authenticated: its identity is the approver of record.
    assert_eq!(
        resources()[&approve]["Properties"]["FunctionUrlConfig"]["AuthType"],
        "AWS_IAM"
    );
}

#[test]
fn build_project_runs_the_repo_buildspec_byte_for_byte() {
    let (_, p) = only_resource_of("AWS::CodeBuild::Project");
    let src = &p["Properties"]["Source"];
    // The source is the build helper its custom resource published (the buildspec puts it on
    // PATH); the custom resource is the helper's own function.
    assert_eq!(src["Type"], "S3");
    assert_eq!(expr(&src["Location"]), "${BuildHelper.Location}");
    let helper = &resources()["BuildHelper"];
    assert_eq!(helper["Type"], "Custom::FerryBuildHelper");
    assert_eq!(
        expr(&helper["Properties"]["ServiceToken"]),
        format!("${{{}.Arn}}", function_id_for("build-helper"))
    );
    assert_eq!(
        expr(&helper["Properties"]["Bucket"]),
        format!("${{{}}}", names().bucket)
    );
    let inline = src["BuildSpec"].as_str().expect("BuildSpec is inline text");
    let file = read("buildspec/terraform.yml");
    assert!(
        inline == file,
        "template.yaml's BuildSpec differs from buildspec/terraform.yml: run `bash scripts/check-aws.sh sync-buildspec`"
    );
    let env = &p["Properties"]["Environment"];
    assert_eq!(env["Type"], "LINUX_CONTAINER");
    let vars: BTreeMap<&str, String> = one_or_many(&env["EnvironmentVariables"])
        .into_iter()
        .map(|v| (v["Name"].as_str().unwrap(), expr(&v["Value"])))
        .collect();
    assert_eq!(
        vars.get("FERRY_ARTIFACT_BUCKET"),
        Some(&format!("${{{}}}", names().bucket))
    );
    assert_eq!(
        p["Properties"]["LogsConfig"]["CloudWatchLogs"]["Status"],
        "ENABLED"
    );
}
