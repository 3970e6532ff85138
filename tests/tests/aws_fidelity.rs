//! What AWS would reject, caught offline: the SAM template (cfn-lint, `sam validate --lint`, the
//! transformed template), the state machine (asl-validator, substitutions, integrations and
//! their parameters), IAM coverage (every SDK call each function makes, from its code and the
//! shared code it reaches, is in its `functions/<name>/iam.json`, which template.yaml grants
//! exactly), and handler inputs in the shapes AWS sends. The release build of the functions is
//! `scripts/check-aws.sh` (too slow for a test).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};

// --- helpers ---------------------------------------------------------------------------------

fn root() -> PathBuf {
    ferry_tests::repo_root()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// A tool the checks need; missing means a failed test with the fix, never a skip.
fn tool(rel: &str, hint: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(p.exists(), "{} not found: {hint}", p.display());
    p
}

const SETUP_HINT: &str = "run `bash scripts/setup.sh` (installs cfn-lint, aws-sam-cli and cargo-lambda into .venv, asl-validator into node_modules)";

/// Runs a command to completion; panics with its output unless it succeeds.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

fn check_aws() -> Command {
    tool(".venv/bin/python3", SETUP_HINT);
    let mut c = Command::new("bash");
    c.arg(root().join("scripts/check-aws.sh"));
    c
}

/// template.yaml as JSON, parsed as the SAM CLI parses it (intrinsics in their `Fn::` forms).
fn template() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("template.json");
        run_ok(check_aws().arg("json").arg(&out));
        serde_json::from_str(&std::fs::read_to_string(&out).expect("template json"))
            .expect("template json parses")
    })
}

fn resources() -> &'static serde_json::Map<String, Value> {
    template()["Resources"]
        .as_object()
        .expect("template has Resources")
}

fn resources_of(ty: &str) -> Vec<(&'static str, &'static Value)> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

fn only_resource_of(ty: &str) -> (&'static str, &'static Value) {
    let all = resources_of(ty);
    assert_eq!(all.len(), 1, "template.yaml should have exactly one {ty}");
    all[0]
}

fn asl() -> Value {
    serde_json::from_str(&read("statemachine/deploy.asl.json")).expect("deploy.asl.json parses")
}

/// A CloudFormation value as one string, intrinsics kept symbolic: `!GetAtt X.Arn` → `${X.Arn}`,
/// `!Ref X` → `${X}`, `!Sub s` → s.
fn expr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.len() == 1 => {
            let (k, a) = m.iter().next().expect("one key");
            match (k.as_str(), a) {
                ("Ref", Value::String(r)) => format!("${{{r}}}"),
                ("Fn::GetAtt", Value::Array(p)) => format!("${{{}}}", {
                    let parts: Vec<String> = p.iter().map(expr).collect();
                    parts.join(".")
                }),
                ("Fn::GetAtt", Value::String(s)) => format!("${{{s}}}"),
                ("Fn::Sub", Value::String(s)) => s.clone(),
                ("Fn::Sub", Value::Array(p)) => {
                    let mut s = expr(&p[0]);
                    for (name, val) in p[1].as_object().expect("Fn::Sub variables") {
                        s = s.replace(&format!("${{{name}}}"), &expr(val));
                    }
                    s
                }
                ("Fn::Join", Value::Array(p)) => p[1]
                    .as_array()
                    .expect("Fn::Join list")
                    .iter()
                    .map(expr)
                    .collect::<Vec<_>>()
                    .join(p[0].as_str().expect("Fn::Join separator")),
                _ => panic!("unsupported intrinsic in a checked position: {v}"),
            }
        }
        _ => panic!("not a CloudFormation string value: {v}"),
    }
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// The deployment's names, spelled out in ARNs to break dependency cycles, mapped back to the
/// resources they name; a spelled-out ARN that no longer matches its resource stays unmapped
/// and fails the comparisons below.
struct Names {
    bucket: String,
    table: String,
    topic: String,
    state_machine: String,
    project: String,
    spelled: Vec<(String, String)>,
}

fn names() -> &'static Names {
    static N: OnceLock<Names> = OnceLock::new();
    N.get_or_init(|| {
        let (bucket, b) = only_resource_of("AWS::S3::Bucket");
        let (table, _) = only_resource_of("AWS::DynamoDB::Table");
        let (topic, _) = only_resource_of("AWS::SNS::Topic");
        let (sm, s) = only_resource_of("AWS::Serverless::StateMachine");
        let (project, _) = only_resource_of("AWS::CodeBuild::Project");
        let bucket_name = expr(&b["Properties"]["BucketName"]);
        let sm_name = expr(&s["Properties"]["Name"]);
        let states = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}";
        Names {
            spelled: vec![
                (
                    format!("arn:${{AWS::Partition}}:s3:::{bucket_name}"),
                    format!("${{{bucket}.Arn}}"),
                ),
                (
                    format!("arn:${{AWS::Partition}}:s3:::${{{bucket}}}"),
                    format!("${{{bucket}.Arn}}"),
                ),
                (
                    format!("{states}:stateMachine:{sm_name}"),
                    format!("${{{sm}}}"),
                ),
                (
                    format!("{states}:execution:{sm_name}:"),
                    format!("${{{sm}.Executions}}:"),
                ),
            ],
            bucket: bucket.into(),
            table: table.into(),
            topic: topic.into(),
            state_machine: sm.into(),
            project: project.into(),
        }
    })
}

fn canonical(resource: &Value) -> String {
    let mut s = expr(resource);
    for (from, to) in &names().spelled {
        s = s.replace(from, to);
    }
    s
}

/// A manifest's resource class as the canonical ARN the template must grant.
fn manifest_resource(class: &str) -> String {
    let n = names();
    match class {
        "*" => "*".into(),
        "table" => format!("${{{}.Arn}}", n.table),
        "bucket" => format!("${{{}.Arn}}", n.bucket),
        "topic" => format!("${{{}}}", n.topic),
        "state-machine" => format!("${{{}}}", n.state_machine),
        "executions" => format!("${{{}.Executions}}:*", n.state_machine),
        c if c.starts_with("bucket/") => format!("${{{}.Arn}}/{}", n.bucket, &c[7..]),
        c => panic!(
            "unknown resource class {c:?} in an iam.json (see functions/register-release/iam.json)"
        ),
    }
}

type Grants = BTreeSet<(String, String)>;

/// (action, canonical resource) pairs a list of policy documents allows.
fn grants_of(docs: &[&Value], what: &str) -> Grants {
    let mut out = Grants::new();
    for doc in docs {
        for st in one_or_many(&doc["Statement"]) {
            assert!(
                st.get("NotAction").is_none() && st.get("NotResource").is_none(),
                "{what}: NotAction/NotResource are not allowed"
            );
            if st["Effect"] != "Allow" {
                continue;
            }
            for a in one_or_many(&st["Action"]) {
                let a = a.as_str().unwrap_or_else(|| panic!("{what}: action {a}"));
                for r in one_or_many(&st["Resource"]) {
                    out.insert((a.to_owned(), canonical(r)));
                }
            }
        }
    }
    out
}

/// The inline policy documents of a SAM resource's `Policies`; SAM policy templates and managed
/// policies are refused so every grant is visible to these checks.
fn sam_policy_docs(id: &str) -> Vec<&'static Value> {
    let policies = &resources()[id]["Properties"]["Policies"];
    let docs = one_or_many(policies);
    for p in &docs {
        assert!(
            p.get("Statement").is_some(),
            "{id}: Policies must be inline policy documents with a Statement (not {p}), so aws_fidelity can check them"
        );
    }
    docs
}

fn fmt_grants(g: &Grants) -> String {
    g.iter()
        .map(|(a, r)| format!("  {a} on {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same_grants(what: &str, granted: &Grants, needed: &Grants) {
    let missing: Grants = needed.difference(granted).cloned().collect();
    let extra: Grants = granted.difference(needed).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: template.yaml grants differ from what is needed\nmissing (AWS would deny at run time):\n{}\nextra (not least privilege):\n{}",
        fmt_grants(&missing),
        fmt_grants(&extra)
    );
}

/// IAM actions and whether each supports resource-level permissions, from the Service
/// Authorization Reference data cfn-lint ships.
fn iam_actions() -> &'static BTreeMap<String, bool> {
    static A: OnceLock<BTreeMap<String, bool>> = OnceLock::new();
    A.get_or_init(|| {
        let lib = root().join(".venv/lib");
        let site = std::fs::read_dir(&lib)
            .unwrap_or_else(|e| panic!("{}: {e}; {SETUP_HINT}", lib.display()))
            .filter_map(Result::ok)
            .map(|d| {
                d.path()
                    .join("site-packages/cfnlint/data/AdditionalSpecs/Policies.json")
            })
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("cfn-lint's Policies.json not found in .venv: {SETUP_HINT}"));
        let data: Value =
            serde_json::from_str(&std::fs::read_to_string(site).expect("Policies.json"))
                .expect("json");
        let mut out = BTreeMap::new();
        for (svc, v) in data.as_object().expect("services") {
            if let Some(actions) = v["Actions"].as_object() {
                for (a, spec) in actions {
                    let scoped = spec["Resources"].as_array().is_some_and(|r| !r.is_empty());
                    out.insert(format!("{svc}:{a}"), scoped);
                }
            }
        }
        out
    })
}

/// No wildcard actions; real actions only; `*` resources only where IAM has no resource types.
fn assert_least_privilege_shape(what: &str, grants: &Grants) {
    for (action, resource) in grants {
        assert!(!action.contains('*'), "{what}: wildcard action {action}");
        let scoped = iam_actions()
            .get(&action.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("{what}: {action} is not an IAM action"));
        if resource == "*" {
            assert!(
                !scoped,
                "{what}: {action} supports resource-level permissions; scope it instead of \"*\""
            );
        }
    }
}

// --- 1. template lint ------------------------------------------------------------------------

#[test]
fn template_passes_cfn_lint_sam_validate_and_lints_transformed() {
    tool(".venv/bin/cfn-lint", SETUP_HINT);
    tool(".venv/bin/sam", SETUP_HINT);
    let out = run_ok(check_aws().arg("lint"));
    assert!(out.contains("is a valid SAM Template"), "{out}");
    assert!(out.contains("cfn-lint (transformed): clean"), "{out}");
}

// --- template shape --------------------------------------------------------------------------

/// Workspace packages that are Lambda functions: a crate under functions/ with one bin target.
fn function_crates() -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let dir = e.expect("entry").path();
        if dir.join("Cargo.toml").exists() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, dir);
        }
    }
    out
}

/// Function logical id → its `BuildProperties.Binary`.
fn template_functions() -> BTreeMap<String, &'static str> {
    resources_of("AWS::Serverless::Function")
        .into_iter()
        .map(|(id, r)| {
            assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
            let bin = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: Metadata.BuildProperties.Binary"));
            (id.to_owned(), bin)
        })
        .collect()
}

fn function_id_for(binary: &str) -> String {
    template_functions()
        .into_iter()
        .find(|(_, b)| *b == binary)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("template.yaml has no function with Binary {binary}"))
}

/// The value of a function property, falling back to Globals.Function as SAM does.
fn fn_prop(id: &str, prop: &str) -> Value {
    let own = &resources()[id]["Properties"][prop];
    if !own.is_null() {
        return own.clone();
    }
    template()["Globals"]["Function"][prop].clone()
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
        assert_eq!(
            fn_prop(id, "Architectures"),
            json!([{"Ref": "Architecture"}]),
            "{id}"
        );
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
    let src = read("shared/src/config.rs");
    let items = rust_items(&src, "config.rs");
    let consts: BTreeMap<String, String> = src
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("pub const ")?;
            let (name, v) = rest.split_once(':')?;
            let value = v.split('"').nth(1)?;
            Some((name.trim().to_owned(), value.to_owned()))
        })
        .collect();
    let raw = std::fs::read_to_string(root().join("shared/src/config.rs")).expect("config.rs");
    let mut out = BTreeMap::new();
    for f in &items {
        let body = &raw[f.body.clone()];
        let mut vars = BTreeSet::new();
        for part in body.split('"').skip(1).step_by(2) {
            if part.starts_with("FERRY_")
                && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            {
                vars.insert(part.to_owned());
            }
        }
        for (name, value) in &consts {
            if body.contains(&format!("Self::{name}")) || body.contains(&format!("Config::{name}"))
            {
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
        let main = strip(&std::fs::read_to_string(dir.join("src/main.rs")).expect("main.rs"));
        let mut needed = BTreeSet::new();
        for (f, vars) in &config {
            let called = match f.split_once("::") {
                Some((ty, m)) => main.contains(&format!("{ty}::{m}(")),
                None => main.contains(&format!("config::{f}(")),
            };
            if called {
                needed.extend(vars.iter().cloned());
            }
        }
        assert!(
            needed.contains("FERRY_TABLE"),
            "{name}: reads no FERRY_TABLE?"
        );
        let id = function_id_for(&name);
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
    assert_eq!(src["Type"], "NO_SOURCE");
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

// --- 2. the state machine --------------------------------------------------------------------

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

fn all_tasks() -> Vec<(String, Value)> {
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

// --- 4. handler inputs in AWS's shapes -------------------------------------------------------

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
    use ferry_shared::workflow::{Decision, EnvContext};
    let asl = asl();
    // What `ferry deploy` starts an execution with.
    let exec_input = json!({
        "deployment_id": "d-20261121-0001", "component": "web", "version": "1.4.2",
        "targets": ["staging", "prod"], "requester": "arn:aws:iam::123456789012:user/alice",
        "override_reason": null
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
    assert_eq!(env.execution_arn, exec_arn);

    // The item's state as it accumulates through the per-environment states (ResultPaths).
    let decision = serde_json::to_value(Decision {
        decision: "approved".into(),
        approver: "arn:aws:iam::123456789012:user/bob".into(),
        comment: None,
        plan_sha256: "ab".repeat(32),
        plan_summary: "+1 ~0 -0".into(),
    })
    .unwrap();
    let mut state = item.clone();
    state["check"] = json!({"release_sha256": "cd".repeat(32), "approval": "required", "approval_timeout_seconds": 3600});
    state["plan"] = json!({"build_id": "ferry-terraform:1", "summary": []});
    state["approval"] = decision;
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
                let c: EnvContext = serde_json::from_value(payload.clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(c, env);
                assert_eq!(payload["task_token"], ctx["Task"]["Token"], "{name}");
                assert!(
                    payload["plan_build_id"].is_string(),
                    "{name}: plan_build_id"
                );
            }
            "${RecordResultFunctionArn}" => match payload["action"].as_str() {
                Some("environment") => {
                    let c: EnvContext = serde_json::from_value(payload.clone())
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(c, env);
                    assert!(
                        matches!(
                            payload["outcome"].as_str(),
                            Some("succeeded" | "failed" | "rejected" | "timed-out")
                        ),
                        "{name}: outcome"
                    );
                    if payload["outcome"] != "succeeded" {
                        assert!(
                            payload["error"]["Error"].is_string(),
                            "{name}: a failure carries the caught error"
                        );
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

// --- 3. IAM coverage -------------------------------------------------------------------------

/// Rust source with comments and the contents of string and char literals blanked (offsets and
/// newlines kept), and `#[cfg(test)]` modules removed: what remains is code.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 1;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 1;
                    }
                    j += 1;
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let end = src[j + 1..].find(&close).map_or(b.len(), |n| j + 1 + n);
                blank(&mut out, j + 1, end);
                i = end + close.len();
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                blank(&mut out, i + 1, j.min(b.len()));
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a, '_).
                if b.get(i + 1) == Some(&b'\\') {
                    let end = src[i + 2..].find('\'').map_or(b.len(), |n| i + 2 + n);
                    blank(&mut out, i + 1, end);
                    i = end + 1;
                } else if let Some(c) = src[i + 1..].chars().next() {
                    let after = i + 1 + c.len_utf8();
                    if b.get(after) == Some(&b'\'') {
                        blank(&mut out, i + 1, after);
                        i = after + 1;
                    } else {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    let mut code = String::from_utf8_lossy(&out).into_owned();
    let attr = "#[cfg(test)]";
    let mut from = 0;
    while let Some(n) = code[from..].find(attr) {
        let at = from + n;
        let after = at + attr.len();
        // A test module goes entirely; any other cfg(test) item stays (scanned, conservatively).
        let end = if code[after..].trim_start().starts_with("mod ") {
            let open = after + code[after..].find('{').expect("mod body");
            matching(&code, open) + 1
        } else {
            after
        };
        let blanked: String = code[at..end]
            .chars()
            .map(|c| {
                if c == '\n' {
                    "\n".to_owned()
                } else {
                    " ".repeat(c.len_utf8())
                }
            })
            .collect();
        code.replace_range(at..end, &blanked);
        from = end;
    }
    code
}

/// Index of the brace closing the one at `open`.
fn matching(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces")
}

#[derive(Debug, Clone)]
struct FnItem {
    file: String,
    owner: Option<String>,
    name: String,
    public: bool,
    ret: String,
    body: std::ops::Range<usize>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn ident_at(code: &str, at: usize) -> &str {
    let end = code[at..]
        .find(|c: char| !is_ident(c))
        .map_or(code.len(), |n| at + n);
    &code[at..end]
}

/// Functions and methods of a stripped source file, with the type each method belongs to.
fn rust_items(src: &str, file: &str) -> Vec<FnItem> {
    let code = strip(src);
    // impl blocks: (body range, owner type)
    let mut impls: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut i = 0;
    while let Some(n) = code[i..].find("impl") {
        let at = i + n;
        i = at + 4;
        let word_start = at == 0 || !is_ident(code[..at].chars().last().unwrap());
        if !word_start || code[at + 4..].chars().next().is_some_and(is_ident) {
            continue;
        }
        // Only item-level impls (line starts with `impl`), not `-> impl Trait` / `impl FnOnce`.
        let line_start = code[..at].rfind('\n').map_or(0, |n| n + 1);
        if !code[line_start..at].trim().is_empty() {
            continue;
        }
        let open = at + code[at..].find('{').expect("impl body");
        let mut header = code[at + 4..open].to_owned();
        // Drop generics, then take the type after `for` (trait impls) or the first path.
        let mut depth = 0;
        header = header
            .chars()
            .filter(|c| {
                match c {
                    '<' => depth += 1,
                    '>' => depth -= 1,
                    _ => return depth == 0,
                }
                false
            })
            .collect();
        let ty = header.rsplit(" for ").next().unwrap().trim();
        let ty = ty.split_whitespace().next().unwrap_or("");
        let ty = ty.rsplit("::").next().unwrap().to_owned();
        let close = matching(&code, open);
        impls.push((open..close, ty));
    }
    let mut items = Vec::new();
    let mut i = 0;
    while let Some(n) = code[i..].find("fn ") {
        let at = i + n;
        i = at + 3;
        if at > 0 && is_ident(code[..at].chars().last().unwrap()) {
            continue;
        }
        let name = ident_at(&code, at + 3).to_owned();
        if name.is_empty() {
            continue;
        }
        // Signature up to the body's `{` or a `;` (trait method without body).
        let sig_end = at + code[at..].find(['{', ';']).expect("fn signature");
        if code.as_bytes()[sig_end] == b';' {
            continue;
        }
        let sig = &code[at..sig_end];
        let ret = sig
            .split_once("->")
            .map(|(_, r)| r.to_owned())
            .unwrap_or_default();
        let close = matching(&code, sig_end);
        let before = code[..at].trim_end();
        let before = ["async", "const", "unsafe"].iter().fold(before, |b, kw| {
            b.strip_suffix(kw).map(str::trim_end).unwrap_or(b)
        });
        let public = before.ends_with("pub");
        let owner = impls
            .iter()
            .find(|(r, _)| r.contains(&at))
            .map(|(_, t)| t.clone());
        items.push(FnItem {
            file: file.to_owned(),
            owner,
            name,
            public,
            ret,
            body: sig_end..close + 1,
        });
    }
    items
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Call {
    /// `self.name(`
    OnSelf(String),
    /// `x.name(` for any other receiver
    Method(String),
    /// `Qual::name(`
    Path(String, String),
    /// `name(`
    Bare(String),
    /// `.name()` with no arguments: how SDK fluent operations start
    EmptyMethod(String),
}

fn calls(code: &str) -> Vec<Call> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let mut k = 0;
    while k < chars.len() {
        let (at, c) = chars[k];
        if !(c.is_ascii_alphabetic() || c == '_') || (k > 0 && is_ident(chars[k - 1].1)) {
            k += 1;
            continue;
        }
        let name = ident_at(code, at);
        let end = at + name.len();
        k += name.chars().count();
        let mut after = code[end..].trim_start();
        if let Some(rest) = after.strip_prefix("::<") {
            // turbofish
            let close = rest.find('>').map_or(0, |n| n + 1);
            after = rest[close..].trim_start();
        }
        if !after.starts_with('(') {
            continue;
        }
        let empty = after[1..].trim_start().starts_with(')');
        let before = code[..at].trim_end();
        if let Some(recv) = before.strip_suffix('.') {
            let recv = recv.trim_end();
            let rname_start = recv.rfind(|c: char| !is_ident(c)).map_or(0, |n| n + 1);
            if &recv[rname_start..] == "self" {
                out.push(Call::OnSelf(name.to_owned()));
            } else {
                out.push(Call::Method(name.to_owned()));
            }
            if empty {
                out.push(Call::EmptyMethod(name.to_owned()));
            }
        } else if let Some(q) = before.strip_suffix("::") {
            let qs = q.rfind(|c: char| !is_ident(c)).map_or(0, |n| n + 1);
            out.push(Call::Path(q[qs..].to_owned(), name.to_owned()));
        } else if !matches!(
            name,
            "if" | "while" | "match" | "return" | "for" | "in" | "Some" | "Ok" | "Err" | "fn"
        ) {
            out.push(Call::Bare(name.to_owned()));
        }
    }
    out
}

/// Operation names of the AWS SDK crates (their `src/operation/<op>` modules), by crate name.
fn sdk_operations() -> &'static BTreeMap<String, BTreeSet<String>> {
    static OPS: OnceLock<BTreeMap<String, BTreeSet<String>>> = OnceLock::new();
    OPS.get_or_init(|| {
        let out = run_ok(Command::new(env!("CARGO")).args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            // Only packages that build for the Lambda target need to be present.
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ]));
        let json_start = out.find('{').expect("cargo metadata json");
        let meta: Value = serde_json::Deserializer::from_str(&out[json_start..])
            .into_iter::<Value>()
            .next()
            .expect("metadata")
            .expect("metadata json");
        let mut ops = BTreeMap::new();
        for p in meta["packages"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            if !name.starts_with("aws-sdk-") {
                continue;
            }
            let dir = Path::new(p["manifest_path"].as_str().unwrap())
                .parent()
                .unwrap()
                .join("src/operation");
            let set: BTreeSet<String> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            ops.insert(name.to_owned(), set);
        }
        ops
    })
}

/// The IAM action(s) an SDK operation needs.
fn iam_for(sdk_crate: &str, op: &str) -> Vec<String> {
    let service = match sdk_crate {
        "aws-sdk-dynamodb" => "dynamodb",
        "aws-sdk-s3" => "s3",
        "aws-sdk-sfn" => "states",
        "aws-sdk-sns" => "sns",
        "aws-sdk-sqs" => "sqs",
        "aws-sdk-codebuild" => "codebuild",
        other => panic!("no IAM service prefix known for {other}: add it to iam_for"),
    };
    // Operations authorized by an action of another name (Service Authorization Reference).
    let special: &[(&str, &[&str])] = &[
        ("s3:head_object", &["GetObject"]),
        (
            "s3:get_object_attributes",
            &["GetObject", "GetObjectAttributes"],
        ),
        ("s3:list_objects", &["ListBucket"]),
        ("s3:list_objects_v2", &["ListBucket"]),
        ("s3:head_bucket", &["ListBucket"]),
        ("s3:list_object_versions", &["ListBucketVersions"]),
        ("s3:create_multipart_upload", &["PutObject"]),
        ("s3:upload_part", &["PutObject"]),
        ("s3:complete_multipart_upload", &["PutObject"]),
        ("s3:copy_object", &["GetObject", "PutObject"]),
        (
            "s3:put_bucket_notification_configuration",
            &["PutBucketNotification"],
        ),
        (
            "s3:get_bucket_notification_configuration",
            &["GetBucketNotification"],
        ),
    ];
    let key = format!("{service}:{op}");
    if let Some((_, actions)) = special.iter().find(|(k, _)| *k == key) {
        return actions.iter().map(|a| format!("{service}:{a}")).collect();
    }
    assert!(
        !op.starts_with("transact_") && !op.starts_with("batch_"),
        "{key}: batch/transaction operations need the per-item actions; map them in iam_for"
    );
    let pascal: String = op
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    vec![format!("{service}:{pascal}")]
}

/// AWS SDK crates a workspace package depends on directly.
fn sdk_deps(cargo_toml: &str) -> Vec<String> {
    read(cargo_toml)
        .lines()
        .filter_map(|l| {
            let name = l.split(['=', '.']).next()?.trim();
            name.starts_with("aws-sdk-").then(|| name.to_owned())
        })
        .collect()
}

/// IAM actions the SDK calls in `code` need, each with the call that needs it.
fn sdk_actions(
    code: &str,
    sdks: &[String],
    site: &str,
    out: &mut BTreeMap<String, BTreeSet<String>>,
) {
    for call in calls(code) {
        let Call::EmptyMethod(op) = call else {
            continue;
        };
        let owners: Vec<&String> = sdks
            .iter()
            .filter(|s| {
                sdk_operations()
                    .get(*s)
                    .is_some_and(|ops| ops.contains(&op))
            })
            .collect();
        assert!(
            owners.len() <= 1,
            "{site}: .{op}() is an operation of several SDKs ({owners:?})"
        );
        if let Some(sdk) = owners.first() {
            for a in iam_for(sdk, &op) {
                out.entry(a).or_default().insert(format!("{site}: .{op}()"));
            }
        }
    }
}

struct SharedCode {
    items: Vec<FnItem>,
    code: BTreeMap<String, String>,
    sdks: Vec<String>,
}

fn shared_code() -> &'static SharedCode {
    static S: OnceLock<SharedCode> = OnceLock::new();
    S.get_or_init(|| {
        let mut items = Vec::new();
        let mut code = BTreeMap::new();
        for e in std::fs::read_dir(root().join("shared/src")).expect("shared/src") {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                let file = p.file_name().unwrap().to_string_lossy().into_owned();
                let src = std::fs::read_to_string(&p).unwrap();
                items.extend(rust_items(&src, &file));
                code.insert(file, strip(&src));
            }
        }
        SharedCode {
            items,
            code,
            sdks: sdk_deps("shared/Cargo.toml"),
        }
    })
}

/// IAM actions a function crate needs: the SDK calls in its own code plus those of every shared
/// function it reaches (through method and path calls, and through the types shared functions
/// hand back, e.g. `Artifacts::ranges` → `S3Ranges` whose `read` does the ranged GETs).
fn needed_actions(crate_dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let shared = shared_code();
    let crate_name = crate_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let sdks = sdk_deps(&format!("functions/{crate_name}/Cargo.toml"));
    let types: BTreeSet<&str> = shared
        .items
        .iter()
        .filter_map(|f| f.owner.as_deref())
        .collect();
    let mut out = BTreeMap::new();
    let mut queue: Vec<usize> = Vec::new();

    let own_files = std::fs::read_dir(crate_dir.join("src"))
        .expect("src")
        .filter_map(Result::ok);
    for e in own_files {
        let p = e.path();
        let code = strip(&std::fs::read_to_string(&p).unwrap());
        let site = format!(
            "{crate_name}/src/{}",
            p.file_name().unwrap().to_string_lossy()
        );
        sdk_actions(&code, &sdks, &site, &mut out);
        for call in calls(&code) {
            for (idx, f) in shared.items.iter().enumerate() {
                if !f.public {
                    continue;
                }
                let hit = match &call {
                    Call::Method(m) | Call::OnSelf(m) => f.owner.is_some() && &f.name == m,
                    Call::Path(q, m) if types.contains(q.as_str()) => {
                        f.owner.as_deref() == Some(q) && &f.name == m
                    }
                    Call::Path(_, m) | Call::Bare(m) => f.owner.is_none() && &f.name == m,
                    Call::EmptyMethod(_) => false,
                };
                if hit {
                    queue.push(idx);
                }
            }
        }
    }

    let mut seen = BTreeSet::new();
    while let Some(idx) = queue.pop() {
        if !seen.insert(idx) {
            continue;
        }
        let f = &shared.items[idx];
        let body = &shared.code[&f.file][f.body.clone()];
        let site = format!(
            "shared/src/{} {}{}",
            f.file,
            f.owner
                .as_ref()
                .map(|o| format!("{o}::"))
                .unwrap_or_default(),
            f.name
        );
        sdk_actions(body, &shared.sdks, &site, &mut out);
        let returned: BTreeSet<&str> = types
            .iter()
            .copied()
            .filter(|t| {
                Some(*t) != f.owner.as_deref()
                    && f.ret.split(|c: char| !is_ident(c)).any(|w| w == *t)
            })
            .collect();
        for call in calls(body) {
            for (j, g) in shared.items.iter().enumerate() {
                let hit = match &call {
                    Call::OnSelf(m) => g.owner == f.owner && &g.name == m,
                    Call::Path(q, m) if q == "Self" => g.owner == f.owner && &g.name == m,
                    Call::Path(q, m) if types.contains(q.as_str()) => {
                        g.owner.as_deref() == Some(q) && &g.name == m
                    }
                    Call::Path(_, m) | Call::Bare(m) => g.owner.is_none() && &g.name == m,
                    Call::Method(_) | Call::EmptyMethod(_) => false,
                };
                if hit {
                    queue.push(j);
                }
            }
        }
        for (j, g) in shared.items.iter().enumerate() {
            if g.owner.as_deref().is_some_and(|o| returned.contains(o)) {
                queue.push(j);
            }
        }
    }
    out
}

fn manifest(crate_name: &str) -> Value {
    let rel = format!("functions/{crate_name}/iam.json");
    let text = std::fs::read_to_string(root().join(&rel)).unwrap_or_else(|e| {
        panic!("{rel}: {e} (every function lists the AWS actions it performs)")
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn iam_manifests_list_every_aws_call_the_code_makes() {
    for (name, dir) in function_crates() {
        let needed = needed_actions(&dir);
        println!("{name} needs:");
        for (a, sites) in &needed {
            println!(
                "  {a:<28} {}",
                sites.iter().cloned().collect::<Vec<_>>().join("; ")
            );
        }
        assert!(
            !needed.is_empty(),
            "{name}: found no AWS calls; the scan is broken"
        );
        let m = manifest(&name);
        let listed: BTreeMap<&str, &Value> = m["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| (a["action"].as_str().expect("action"), a))
            .collect();
        for (a, sites) in &needed {
            assert!(
                listed.contains_key(a.as_str()),
                "functions/{name}/iam.json lacks {a}, needed by {sites:?}"
            );
        }
        for (a, entry) in &listed {
            assert!(
                needed.contains_key(*a) || entry["why"].is_string(),
                "functions/{name}/iam.json lists {a}, which no code path calls; remove it or say why it is needed"
            );
        }
    }
}

#[test]
fn function_policies_grant_exactly_their_manifests() {
    for (name, _) in function_crates() {
        let m = manifest(&name);
        let id = function_id_for(&name);
        assert_eq!(
            m["template_resource"],
            id.as_str(),
            "functions/{name}/iam.json template_resource"
        );
        let needed: Grants = m["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().unwrap().to_owned(),
                    manifest_resource(a["resource"].as_str().expect("resource")),
                )
            })
            .collect();
        let granted = grants_of(&sam_policy_docs(&id), &id);
        assert_same_grants(&id, &granted, &needed);
        assert_least_privilege_shape(&id, &granted);
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

/// IAM glob: does `pattern` (with `*`) cover every key `needed` stands for (its `*`s are any
/// value)?
fn covers(pattern: &str, needed: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(a), Some(b)) if a == b && *b != b'*' => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), needed.as_bytes())
}

/// S3 operations the buildspec performs: (IAM action, key pattern with `*` for variables).
fn buildspec_s3_needs() -> Vec<(String, String)> {
    let spec = read("buildspec/terraform.yml");
    let lines: Vec<&str> = spec.lines().collect();
    let mut current_fn = "";
    let mut out = Vec::new();
    let resolve = |mut s: String, upto: usize| -> String {
        // Local variables resolve to their nearest earlier assignment; $FERRY_* are inputs.
        for _ in 0..5 {
            if let Some(start) = s.find("$(") {
                let end = start + s[start..].find(')').expect("$(…)");
                let func = &s[start + 2..end];
                let def = lines
                    .iter()
                    .find(|l| l.trim_start().starts_with(&format!("{func}() {{")))
                    .unwrap_or_else(|| panic!("buildspec: no function {func}"));
                let echoed = def
                    .split("echo \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .expect("echo");
                s.replace_range(start..=end, echoed);
                continue;
            }
            let Some(start) = s.find('$') else { break };
            let braced = s[start + 1..].starts_with('{');
            let name = ident_at(&s, start + 1 + usize::from(braced)).to_owned();
            let len = 1 + name.len() + if braced { 2 } else { 0 };
            assert!(!name.is_empty(), "buildspec: cannot resolve {s}");
            if name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                s.replace_range(start..start + len, "*");
                continue;
            }
            let assign = lines[..upto]
                .iter()
                .rev()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| {
                    panic!("buildspec: ${name} is never assigned before line {upto}")
                });
            s.replace_range(start..start + len, assign.trim_matches('"'));
        }
        assert!(!s.contains('$'), "buildspec: could not resolve {s}");
        s
    };
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.ends_with("() {") || t.contains("() { #") {
            current_fn = t.split("()").next().unwrap();
            continue;
        }
        if t.contains("aws s3") {
            assert!(
                matches!(current_fn, "s3_get" | "s3_put"),
                "buildspec line {}: S3 access outside s3_get/s3_put; teach aws_fidelity which IAM action it needs: {t}",
                i + 1
            );
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        let (action, key) = match words.first() {
            Some(&"s3_get") => ("s3:GetObject", words[1]),
            Some(&"s3_put") => ("s3:PutObject", words[2]),
            _ => continue,
        };
        let key = resolve(key.trim_matches('"').to_owned(), i);
        out.push((action.to_owned(), key));
    }
    // Terraform's S3 backend (https://developer.hashicorp.com/terraform/language/backend/s3):
    // ListBucket on the bucket, Get/Put on the state key, and with use_lockfile Get/Put/Delete
    // on `<key>.tflock`.
    let backend_key = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| l.split("-backend-config=\"key=").nth(1).map(|k| (i, k)))
        .map(|(i, k)| resolve(k.split('"').next().unwrap().to_owned(), i))
        .expect("buildspec configures the S3 backend key");
    assert!(spec.contains("backend \"s3\""));
    out.push(("s3:ListBucket".into(), String::new()));
    out.push(("s3:GetObject".into(), backend_key.clone()));
    out.push(("s3:PutObject".into(), backend_key.clone()));
    if spec.contains("use_lockfile=true") {
        let lock = format!("{backend_key}.tflock");
        for a in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
            out.push((a.into(), lock.clone()));
        }
    }
    out
}

#[test]
fn build_role_grants_what_the_buildspec_and_terraform_backend_do() {
    let needs = buildspec_s3_needs();
    for (a, k) in &needs {
        println!(
            "buildspec needs {a} on {}",
            if k.is_empty() { "the bucket" } else { k }
        );
    }
    assert!(needs.iter().any(|(_, k)| k.starts_with("releases/")));
    assert!(needs
        .iter()
        .any(|(a, k)| a == "s3:PutObject" && k.starts_with("deployments/")));
    let (_, project) = only_resource_of("AWS::CodeBuild::Project");
    let role_id = expr(&project["Properties"]["ServiceRole"])
        .trim_start_matches("${")
        .trim_end_matches(".Arn}")
        .to_owned();
    let role = &resources()[&role_id];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    let docs: Vec<&Value> = one_or_many(&role["Properties"]["Policies"])
        .into_iter()
        .map(|p| &p["PolicyDocument"])
        .collect();
    let granted = grants_of(&docs, &role_id);
    assert_least_privilege_shape(&role_id, &granted);
    let bucket = format!("${{{}.Arn}}", names().bucket);
    let wanted: Vec<(String, String)> = needs
        .iter()
        .map(|(a, k)| {
            (
                a.clone(),
                if k.is_empty() {
                    bucket.clone()
                } else {
                    format!("{bucket}/{k}")
                },
            )
        })
        .collect();
    let s3: Vec<&(String, String)> = granted
        .iter()
        .filter(|(a, _)| a.starts_with("s3:"))
        .collect();
    for (a, r) in &wanted {
        assert!(
            s3.iter().any(|(ga, gr)| ga == a && covers(gr, r)),
            "{role_id}: nothing grants {a} on {r}\ngranted:\n{}",
            fmt_grants(&granted)
        );
    }
    for (ga, gr) in &s3 {
        // Object grants stay inside one top-level prefix (releases/, deployments/, state/).
        if let Some(key) = gr.strip_prefix(&format!("{bucket}/")) {
            let top = key.split('/').next().unwrap_or_default();
            assert!(
                !top.is_empty() && !top.contains('*') && key.len() > top.len(),
                "{role_id}: {ga} on {gr} is not confined to one prefix of the bucket"
            );
        }
        assert!(
            wanted.iter().any(|(a, r)| a == ga && covers(gr, r)),
            "{role_id}: {ga} on {gr} is not needed by the buildspec (least privilege)"
        );
    }
    // Build logs go to the project's log group and nowhere else.
    let group = expr(&project["Properties"]["LogsConfig"]["CloudWatchLogs"]["GroupName"]);
    let group_arn = format!("{}.Arn}}", group.trim_end_matches('}'));
    let logs: Grants = granted
        .iter()
        .filter(|(a, _)| a.starts_with("logs:"))
        .cloned()
        .collect();
    let want_logs: Grants = ["logs:CreateLogStream", "logs:PutLogEvents"]
        .into_iter()
        .map(|a| (a.to_owned(), group_arn.clone()))
        .collect();
    assert_eq!(logs, want_logs, "{role_id}: log permissions");
    let others: Vec<_> = granted
        .iter()
        .filter(|(a, _)| !a.starts_with("s3:") && !a.starts_with("logs:"))
        .collect();
    assert!(others.is_empty(), "{role_id}: unexpected grants {others:?}");
}

#[test]
fn the_scanner_sees_through_literals_and_shared_capabilities() {
    // Calls inside strings or comments are not calls; `.x()` chains are seen across lines.
    let code = strip(
        "fn f() { let s = \".put_item()\"; // .delete_item()\n c\n   .get_item()\n .send(); }",
    );
    let c = calls(&code);
    assert!(c.contains(&Call::EmptyMethod("get_item".into())));
    assert!(!c.contains(&Call::EmptyMethod("put_item".into())));
    assert!(!c.contains(&Call::EmptyMethod("delete_item".into())));
    // register-release reaches the ranged GETs only through Artifacts::ranges → S3Ranges::read.
    let rr = needed_actions(&root().join("functions/register-release"));
    let sites = rr
        .get("s3:GetObject")
        .expect("register-release needs s3:GetObject");
    assert!(
        sites.iter().any(|s| s.contains("S3Ranges::read")),
        "{sites:?}"
    );
    assert!(sites.iter().any(|s| s.contains("head_object")), "{sites:?}");
    // record-result never queries; check-and-lock asks Step Functions about lock owners.
    let rec = needed_actions(&root().join("functions/record-result"));
    assert!(
        !rec.contains_key("dynamodb:Query") && rec.contains_key("dynamodb:DeleteItem"),
        "{rec:?}"
    );
    let cal = needed_actions(&root().join("functions/check-and-lock"));
    assert!(cal.contains_key("states:DescribeExecution"), "{cal:?}");
}
