//! Conformance vectors (tests/vectors/*.json) run through the HTTP API with aws-sdk-sfn.
//!
//! A vector is `{name, doc, definition, input, valid, expected}`: valid ones must end with the
//! expected status and output (or error/cause); invalid ones must be refused with
//! `InvalidDefinition` at CreateStateMachine, and with exactly `expected.message` when given.
//! `doc` names the AWS page the vector follows. In `expected`, `"error": null` or
//! `"cause": null` means the execution must have none (absent, not empty). Strings
//! `${EXECUTION_ARN}`, `${EXECUTION_NAME}` and `${STATE_MACHINE_ARN}` in expected outputs stand
//! for this run's values. `asl_validator` (read by tests/asl_validator.rs) records where that
//! validator's verdict differs from AWS's, with the reason.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, serde::Deserialize)]
pub struct Vector {
    pub name: String,
    #[serde(default)]
    pub doc: Option<String>,
    pub definition: Value,
    #[serde(default)]
    pub input: Option<Value>,
    pub valid: bool,
    #[serde(default)]
    pub expected: Option<Expected>,
}

#[derive(Debug, serde::Deserialize)]
pub struct Expected {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub output: Option<Value>,
    /// Absent: not checked; `null`: must be absent; a string: must be equal.
    #[serde(default, deserialize_with = "checked")]
    pub error: Option<Option<String>>,
    #[serde(default, deserialize_with = "checked")]
    pub cause: Option<Option<String>>,
    /// For invalid vectors: the InvalidDefinition message, exactly.
    #[serde(default)]
    pub message: Option<String>,
}

/// A present field, `null` included (plain `Option` would read `null` as absent).
fn checked<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(d).map(Some)
}

fn vectors() -> Vec<(PathBuf, Vector)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/vectors exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read vector");
        let v: Vector =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((path, v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 40,
        "expected the full vector set, found {}",
        out.len()
    );
    out
}

fn substitute(v: &Value, subs: &[(&str, &str)]) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.clone();
            for (k, val) in subs {
                s = s.replace(k, val);
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, subs)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, subs)))
                .collect(),
        ),
        other => other.clone(),
    }
}

async fn run_vector(client: &aws_sdk_sfn::Client, v: &Vector) -> Result<(), String> {
    let name = common::unique(
        &v.name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(60)
            .collect::<String>(),
    );
    let created = client
        .create_state_machine()
        .name(&name)
        .definition(v.definition.to_string())
        .role_arn(common::ROLE)
        .send()
        .await;
    if !v.valid {
        let want = v.expected.as_ref().and_then(|e| e.message.as_deref());
        return match created {
            Ok(_) => Err("accepted an invalid definition".into()),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_invalid_definition() => match (want, se.meta().message()) {
                    (Some(want), got) if got != Some(want) => {
                        Err(format!("message {got:?}, expected {want:?}"))
                    }
                    _ => Ok(()),
                },
                _ => Err(format!("expected InvalidDefinition, got {e:?}")),
            },
        };
    }
    let sm = created.map_err(|e| format!("CreateStateMachine: {:?}", e.as_service_error()))?;
    let input = v.input.clone().unwrap_or(Value::Object(Default::default()));
    let started = client
        .start_execution()
        .state_machine_arn(sm.state_machine_arn())
        .name("run-1")
        .input(input.to_string())
        .send()
        .await
        .map_err(|e| format!("StartExecution: {e:?}"))?;
    let out = common::wait_done(client, started.execution_arn(), Duration::from_secs(30)).await;
    let expected = v.expected.as_ref().ok_or("valid vector without expected")?;
    let subs = [
        ("${EXECUTION_ARN}", started.execution_arn()),
        ("${EXECUTION_NAME}", "run-1"),
        ("${STATE_MACHINE_ARN}", sm.state_machine_arn()),
    ];
    let status = out.status().as_str();
    if status != expected.status {
        return Err(format!(
            "status {status} (error {:?}, cause {:?}, output {:?}), expected {}",
            out.error(),
            out.cause(),
            out.output(),
            expected.status
        ));
    }
    if let Some(want) = &expected.output {
        let got: Value =
            serde_json::from_str(out.output().unwrap_or("null")).map_err(|e| e.to_string())?;
        let want = substitute(want, &subs);
        if got != want {
            return Err(format!("output {got}, expected {want}"));
        }
    }
    if let Some(want) = &expected.error {
        if out.error() != want.as_deref() {
            return Err(format!(
                "error {:?} (cause {:?}), expected {want:?}",
                out.error(),
                out.cause()
            ));
        }
    }
    if let Some(want) = &expected.cause {
        if out.cause() != want.as_deref() {
            return Err(format!("cause {:?}, expected {want:?}", out.cause()));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_vectors_through_the_api() {
    let engine = common::TestEngine::start().await;
    let client = engine.client().await;
    let all = vectors();
    // Concurrently: several vectors use real 1-second waits and retry intervals.
    let results = futures::future::join_all(all.iter().map(|(path, v)| {
        let client = client.clone();
        async move { (path, run_vector(&client, v).await) }
    }))
    .await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(p, r)| {
            r.err().map(|e| {
                format!(
                    "{}: {e}",
                    p.file_name().and_then(|n| n.to_str()).unwrap_or("?")
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
