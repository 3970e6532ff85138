//! template.yaml as the SAM CLI reads it, and the names in it: resources by type, intrinsics as
//! symbolic strings, the function crates and the template functions that build them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::{check_aws, root, run_ok};

/// template.yaml as JSON, parsed as the SAM CLI parses it (intrinsics in their `Fn::` forms).
pub fn template() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("template.json");
        run_ok(check_aws().arg("json").arg(&out));
        serde_json::from_str(&std::fs::read_to_string(&out).expect("template json"))
            .expect("template json parses")
    })
}

pub fn resources() -> &'static serde_json::Map<String, Value> {
    template()["Resources"]
        .as_object()
        .expect("template has Resources")
}

pub fn resources_of(ty: &str) -> Vec<(&'static str, &'static Value)> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

pub fn only_resource_of(ty: &str) -> (&'static str, &'static Value) {
    let all = resources_of(ty);
    assert_eq!(all.len(), 1, "template.yaml should have exactly one {ty}");
    all[0]
}

/// A CloudFormation value as one string, intrinsics kept symbolic: `!GetAtt X.Arn` → `${X.Arn}`,
/// `!Ref X` → `${X}`, `!Sub s` → s.
pub fn expr(v: &Value) -> String {
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

pub fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// The deployment's names, spelled out in ARNs to break dependency cycles, mapped back to the
/// resources they name; a spelled-out ARN that no longer matches its resource stays unmapped
/// and fails the comparisons below.
pub struct Names {
    pub bucket: String,
    pub table: String,
    pub topic: String,
    pub state_machine: String,
    pub project: String,
    spelled: Vec<(String, String)>,
}

pub fn names() -> &'static Names {
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

pub fn canonical(resource: &Value) -> String {
    let mut s = expr(resource);
    for (from, to) in &names().spelled {
        s = s.replace(from, to);
    }
    s
}

/// Workspace packages that are Lambda functions: a crate under functions/ with one bin target.
pub fn function_crates() -> BTreeMap<String, PathBuf> {
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
pub fn template_functions() -> BTreeMap<String, &'static str> {
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

pub fn function_id_for(binary: &str) -> String {
    template_functions()
        .into_iter()
        .find(|(_, b)| *b == binary)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("template.yaml has no function with Binary {binary}"))
}

/// The value of a function property, falling back to Globals.Function as SAM does.
pub fn fn_prop(id: &str, prop: &str) -> Value {
    let own = &resources()[id]["Properties"][prop];
    if !own.is_null() {
        return own.clone();
    }
    template()["Globals"]["Function"][prop].clone()
}
