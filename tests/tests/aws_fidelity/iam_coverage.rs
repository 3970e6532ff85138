//! IAM coverage: every SDK call a function makes is in its `iam.json`, and template.yaml grants
//! exactly what the manifests list.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::cfn::{function_crates, function_id_for};
use crate::iam_scan::{needed_actions, needed_actions_of, Crate};
use crate::policy::{
    assert_least_privilege_shape, assert_same_grants, grants_of, manifest_resource,
    sam_policy_docs, Grants,
};
use crate::root;
use crate::rust_scan::{self, Call};

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

/// Writes `files` (path → text) under a new temporary directory.
fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

#[test]
fn the_scanner_sees_through_literals_and_shared_capabilities() {
    // Calls inside strings or comments are not calls; `.x()` chains are seen across lines.
    let src =
        "fn f() { let s = \".put_item()\"; // .delete_item()\n c\n   .get_item()\n .send(); }";
    let c = rust_scan::file_body(&rust_scan::parse(src, "literals")).calls;
    assert!(c.contains(&Call::EmptyMethod("get_item".into())));
    assert!(!c.contains(&Call::EmptyMethod("put_item".into())));
    assert!(!c.contains(&Call::EmptyMethod("delete_item".into())));
    // Macro arguments are read as tokens; test modules are not code.
    let src =
        "fn f() { futures::join!(a.query().send(), self.b()); tracing::info!(\".scan()\"); }\n\
               #[cfg(test)] mod tests { fn t() { c.delete_item(); } }";
    let c = rust_scan::file_body(&rust_scan::parse(src, "macros")).calls;
    assert!(c.contains(&Call::EmptyMethod("query".into())), "{c:?}");
    assert!(c.contains(&Call::OnSelf("b".into())), "{c:?}");
    assert!(!c.contains(&Call::EmptyMethod("scan".into())), "{c:?}");
    assert!(
        !c.contains(&Call::EmptyMethod("delete_item".into())),
        "{c:?}"
    );
    // Library code is read from every folder of src/ and from every workspace crate a function
    // depends on: here the function reaches shared's src/store/locks.rs only through a helper
    // crate without SDK calls; shared's out-of-line test module is not code.
    let dir = scratch(&[
        ("shared/src/lib.rs", "pub mod store;\n#[cfg(test)]\nmod tests;"),
        ("shared/src/tests.rs", "pub fn run() { c.scan().send(); }"),
        (
            "shared/src/store/locks.rs",
            "impl Store { pub fn locks(&self) -> Locks<'_> { Locks(self) } }\n\
             impl Locks<'_> { pub async fn release(&self) { self.0.c.delete_item().send().await; } }",
        ),
        ("lambda/src/lib.rs", "pub fn run(s: &Store) { Store::locks(s); }"),
        ("function/src/main.rs", "fn main() { ferry_lambda::run(&store); }"),
    ]);
    let dynamodb = vec!["aws-sdk-dynamodb".to_owned()];
    let libs = [
        Crate::read(&dir.path().join("shared"), "shared/src", dynamodb),
        Crate::read(&dir.path().join("lambda"), "shared/lambda/src", vec![]),
    ];
    let own = Crate::read(&dir.path().join("function"), "function/src", vec![]);
    let needed = needed_actions_of(&own, &libs);
    let want = BTreeMap::from([(
        "dynamodb:DeleteItem".to_owned(),
        BTreeSet::from(["shared/src/store/locks.rs Locks::release: .delete_item()".to_owned()]),
    )]);
    assert_eq!(needed, want, "the scratch crates' calls");
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
    // record-result reaches Scan and StartExecution only through the drift scheduler's shared
    // helpers, and writes nothing to S3; check-and-lock asks Step Functions about lock owners.
    let rec = needed_actions(&root().join("functions/record-result"));
    assert!(
        rec.get("dynamodb:Scan")
            .is_some_and(|s| s.iter().all(|site| site.contains("components_where")))
            && rec
                .get("states:StartExecution")
                .is_some_and(|s| s.iter().all(|site| site.contains("start_deployment")))
            && !rec.contains_key("s3:PutObject")
            && rec.contains_key("dynamodb:DeleteItem"),
        "{rec:?}"
    );
    let cal = needed_actions(&root().join("functions/check-and-lock"));
    assert!(cal.contains_key("states:DescribeExecution"), "{cal:?}");
}
