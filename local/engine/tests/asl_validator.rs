//! Every vector definition through `asl-validator` (npm): valid vectors must pass it and
//! invalid ones must fail it, pinning the engine's validation to an independent validator.
//!
//! Where asl-validator and AWS disagree (it accepts some definitions CreateStateMachine
//! refuses), the vector says so: `"asl_validator": {"accepts": true, "reason": "…"}` states
//! the validator's verdict and why it differs; the engine still follows `valid` (AWS).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn validator() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join("node_modules/.bin/asl-validator");
    assert!(
        bin.exists(),
        "asl-validator is not installed at {}: run `npm ci` in the repository root (or `bash scripts/setup.sh`)",
        bin.display()
    );
    bin
}

#[test]
fn vectors_agree_with_asl_validator() {
    let bin = validator();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "expected the full vector set");
    // One node process for all definitions: it reports each path as valid (stdout) or
    // invalid (stderr), so per-file verdicts come from a single start-up.
    let mut cmd = Command::new(&bin);
    let mut expected = Vec::new();
    for path in &files {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
        let def = scratch.path().join(path.file_name().expect("file name"));
        std::fs::write(&def, v["definition"].to_string()).expect("write definition");
        cmd.arg("--json-path").arg(&def);
        let verdict = match v.get("asl_validator") {
            Some(o) => {
                let reason = o["reason"].as_str().unwrap_or_default();
                assert!(
                    !reason.trim().is_empty(),
                    "{}: an asl_validator override needs a reason",
                    path.display()
                );
                o["accepts"].as_bool().expect("asl_validator.accepts")
            }
            None => v["valid"].as_bool().expect("valid flag"),
        };
        expected.push((path.clone(), def, verdict));
    }
    let out = cmd.output().expect("run asl-validator");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut disagreements = Vec::new();
    for (vector, def, valid) in expected {
        let name = def.display().to_string();
        let accepted = stdout.contains(&format!("\"{name}\" is valid"));
        let rejected = stderr.contains(&format!("\"{name}\" is invalid"));
        if accepted == rejected {
            disagreements.push(format!(
                "{}: no clear verdict from asl-validator",
                vector.display()
            ));
        } else if accepted != valid {
            disagreements.push(format!(
                "{}: valid={valid} but asl-validator {}",
                vector.display(),
                if accepted {
                    "accepted it"
                } else {
                    "rejected it"
                }
            ));
        }
    }
    if !disagreements.is_empty() {
        disagreements.push(format!("asl-validator stderr:\n{stderr}"));
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn engine_validation_matches_vectors() {
    // The same verdicts from the engine's own validator, without HTTP (fast feedback).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    for entry in std::fs::read_dir(dir).expect("tests/vectors") {
        let path = entry.expect("entry").path();
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let verdict = ferry_engine::validate_definition(&v["definition"].to_string());
        assert_eq!(
            verdict.is_ok(),
            v["valid"].as_bool().expect("valid"),
            "{}: {verdict:?}",
            path.display()
        );
    }
}

#[test]
fn ferrys_own_state_machines_are_accepted() {
    // What Ferry deploys must keep passing CreateStateMachine here (its integrations include
    // codebuild:startBuild.sync, lambda:invoke(.waitForTaskToken), sns:publish, dynamodb items).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../statemachine");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("statemachine/") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".asl.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let verdict = ferry_engine::validate_definition(&text);
        assert!(verdict.is_ok(), "{}: {verdict:?}", path.display());
        seen += 1;
    }
    assert!(seen > 0, "no statemachine/*.asl.json found");
}
