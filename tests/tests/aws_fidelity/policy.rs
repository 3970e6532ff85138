//! IAM grants as (action, canonical resource) pairs: what a template policy allows, what an
//! `iam.json` manifest asks for, and the least-privilege shape every grant must have.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::Value;

use crate::cfn::{canonical, names, one_or_many, resources};
use crate::{root, SETUP_HINT};

/// A manifest's resource class as the canonical ARN the template must grant.
pub fn manifest_resource(class: &str) -> String {
    let n = names();
    match class {
        "*" => "*".into(),
        "table" => format!("${{{}.Arn}}", n.table),
        "bucket" => format!("${{{}.Arn}}", n.bucket),
        "topic" => format!("${{{}}}", n.topic),
        "state-machine" => format!("${{{}}}", n.state_machine),
        "token-key" => "${TokenKey.Arn}".into(),
        "link-key" => "${LinkKey.Arn}".into(),
        "executions" => format!("${{{}.Executions}}:*", n.state_machine),
        c if c.starts_with("bucket/") => format!("${{{}.Arn}}/{}", n.bucket, &c[7..]),
        c => panic!(
            "unknown resource class {c:?} in an iam.json (see functions/register-release/iam.json)"
        ),
    }
}

pub type Grants = BTreeSet<(String, String)>;

/// (action, canonical resource) pairs a list of policy documents allows.
pub fn grants_of(docs: &[&Value], what: &str) -> Grants {
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
pub fn sam_policy_docs(id: &str) -> Vec<&'static Value> {
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

pub fn fmt_grants(g: &Grants) -> String {
    g.iter()
        .map(|(a, r)| format!("  {a} on {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn assert_same_grants(what: &str, granted: &Grants, needed: &Grants) {
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
pub fn assert_least_privilege_shape(what: &str, grants: &Grants) {
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
