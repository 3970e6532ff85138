//! The plan summary the gate shows and the workflow reads, from `terraform show -json`: a
//! replace counts as an add and a destroy too, as terraform's own "Plan: N to add, N to change,
//! N to destroy".

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::{log, work_dir, Result};

/// The top-level attributes an update or a drift changes.
fn attributes(change: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (change["before"].as_object(), change["after"].as_object())
    else {
        return vec![];
    };
    let unknown = change["after_unknown"].as_object();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| {
            before.get(*k) != after.get(*k)
                || unknown.is_some_and(|u| u.get(*k) == Some(&Value::Bool(true)))
        })
        .cloned()
        .collect()
}

fn actions(change: &Value) -> Vec<String> {
    change["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The summary of a plan (`terraform show -json`) whose file has SHA-256 `sha`.
pub fn summary(plan: &Value, sha: &str) -> Value {
    let (mut add, mut change, mut destroy, mut replace) = (0u64, 0u64, 0u64, 0u64);
    let mut resources = Vec::new();
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        let acts = actions(&rc["change"]);
        if acts.is_empty() || acts == ["no-op"] || acts == ["read"] {
            continue;
        }
        let has = |a: &str| acts.iter().any(|x| x == a);
        if has("create") && has("delete") {
            replace += 1;
            add += 1;
            destroy += 1;
        } else if acts == ["create"] {
            add += 1;
        } else if acts == ["update"] {
            change += 1;
        } else if acts == ["delete"] {
            destroy += 1;
        }
        let attrs = if acts == ["update"] {
            attributes(&rc["change"])
        } else {
            vec![]
        };
        resources.push(json!({"address": rc["address"], "actions": acts, "attributes": attrs}));
    }
    let outputs_change = plan["output_changes"].as_object().is_some_and(|o| {
        o.values().any(|oc| {
            let a = actions(oc);
            !a.is_empty() && a != ["no-op"]
        })
    });
    let drift: Vec<Value> = plan["resource_drift"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            json!({"address": d["address"], "actions": actions(&d["change"]), "attributes": attributes(&d["change"])})
        })
        .collect();
    let mut s = Map::new();
    s.insert("add".into(), add.into());
    s.insert("change".into(), change.into());
    s.insert("destroy".into(), destroy.into());
    s.insert("replace".into(), replace.into());
    s.insert(
        "no_changes".into(),
        (resources.is_empty() && !outputs_change).into(),
    );
    s.insert("resources".into(), resources.into());
    s.insert("drift".into(), drift.into());
    s.insert("plan_sha256".into(), sha.into());
    Value::Object(s)
}

/// Writes the summary of `plan_json` to `out` and the values the state machine reads to
/// `$FERRY_WORK/exports.env`.
pub fn summarize(plan_json: &Path, sha: &str, out: &Path) -> Result<()> {
    let text =
        std::fs::read(plan_json).map_err(|e| format!("could not read the plan's JSON: {e}"))?;
    let plan: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("terraform show -json gave no JSON: {e}"))?;
    let s = summary(&plan, sha);
    let pretty = serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?;
    std::fs::write(out, pretty).map_err(|e| format!("could not write {}: {e}", out.display()))?;
    // Only hex, numbers and true/false: nothing here needs shell quoting.
    let exports = format!(
        "export FERRY_PLAN_SHA256={sha}\nexport FERRY_PLAN_ADDS={}\nexport FERRY_PLAN_CHANGES={}\n\
         export FERRY_PLAN_DESTROYS={}\nexport FERRY_PLAN_NO_CHANGES={}\n",
        s["add"], s["change"], s["destroy"], s["no_changes"]
    );
    if !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        crate::fail!("plan SHA-256 '{sha}' is not hex");
    }
    std::fs::write(work_dir()?.join("exports.env"), exports)
        .map_err(|e| format!("could not write exports.env: {e}"))?;
    log(&format!(
        "plan: {} to add, {} to change, {} to destroy ({} replaced), no changes: {}",
        s["add"], s["change"], s["destroy"], s["replace"], s["no_changes"]
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_count_twice_and_updates_name_their_attributes() {
        let plan = json!({
            "resource_changes": [
                {"address": "a.new", "change": {"actions": ["create"]}},
                {"address": "a.same", "change": {"actions": ["no-op"]}},
                {"address": "a.data", "change": {"actions": ["read"]}},
                {"address": "a.upd", "change": {"actions": ["update"],
                    "before": {"x": 1, "y": 2, "z": 3}, "after": {"x": 1, "y": 5}, "after_unknown": {"x": true}}},
                {"address": "a.rep", "change": {"actions": ["delete", "create"]}},
                {"address": "a.gone", "change": {"actions": ["delete"]}}
            ],
            "resource_drift": [{"address": "a.d", "change": {"actions": ["update"],
                "before": {"input": "a"}, "after": {"input": "b"}}}]
        });
        let s = summary(&plan, "ab");
        assert_eq!(
            (
                s["add"].as_u64(),
                s["change"].as_u64(),
                s["destroy"].as_u64(),
                s["replace"].as_u64()
            ),
            (Some(2), Some(1), Some(2), Some(1))
        );
        assert_eq!(s["resources"].as_array().map(Vec::len), Some(4));
        assert_eq!(s["resources"][1]["attributes"], json!(["x", "y", "z"]));
        assert_eq!(s["drift"][0]["attributes"], json!(["input"]));
        assert_eq!(s["no_changes"], false);
    }

    #[test]
    fn only_output_changes_are_still_changes() {
        let none = summary(&json!({"resource_changes": []}), "ab");
        assert_eq!(none["no_changes"], true);
        let out = summary(
            &json!({"output_changes": {"o": {"actions": ["create"]}}}),
            "ab",
        );
        assert_eq!(out["no_changes"], false);
    }
}
