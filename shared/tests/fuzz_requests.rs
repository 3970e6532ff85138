//! Fuzz target: the request bodies people send to the API, `DecisionRequest` (approve or
//! reject) and `DeployRequest`, parsed with serde_json from arbitrary bytes and from objects
//! shaped like them.
//!
//! Proptest on stable instead of `cargo fuzz` (libFuzzer needs nightly). Cases per property:
//! `FERRY_FUZZ_CASES` (default 200); `scripts/fuzz.sh` runs it for a wall-clock time. Seeds:
//! `tests/fuzz-corpus/requests/`, `decision-*` and `deploy-*`; `*-ok-*` files must parse.

mod fuzz_support;

use ferry_shared::model::DecisionRequest;
use ferry_shared::operations::DeployRequest;
use proptest::prelude::*;
use serde_json::{Map, Value};

fn either(good: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop_oneof![4 => good, 1 => fuzz_support::json_value()]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z0-9-]{1,33}", 1 => "[a-zA-Z0-9 _/-]{0,40}", 1 => "\\PC{0,8}"]
}

/// An object from optional `(key, value)` fields, plus now and then a field nobody expects.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let fields: Vec<_> = fields
        .into_iter()
        .map(|(k, v)| prop::option::weighted(0.9, v).prop_map(move |v| v.map(|v| (k, v))))
        .collect();
    (
        fields,
        prop::option::weighted(0.1, ("[a-z_]{1,12}", fuzz_support::json_value())),
    )
        .prop_map(|(fields, extra)| {
            let mut m: Map<String, Value> = fields
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

fn decision() -> impl Strategy<Value = Value> {
    let verdict = prop_oneof![
        Just("approve"),
        Just("reject"),
        Just("Approve"),
        Just("yes"),
        Just("")
    ];
    object(vec![
        (
            "deployment_id",
            either("[0-9a-f-]{0,36}".prop_map(Value::String)).boxed(),
        ),
        (
            "environment",
            either(name().prop_map(Value::String)).boxed(),
        ),
        ("decision", either(verdict.prop_map(Value::from)).boxed()),
        (
            "comment",
            either("\\PC{0,64}".prop_map(Value::String)).boxed(),
        ),
    ])
}

fn deploy() -> impl Strategy<Value = Value> {
    let version = prop_oneof![
        Just("latest".to_owned()),
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-rc\\.[1-9])?",
        "\\PC{0,10}"
    ];
    let targets =
        prop::collection::vec(name().prop_map(Value::String), 0..4).prop_map(Value::Array);
    object(vec![
        ("component", either(name().prop_map(Value::String)).boxed()),
        ("version", either(version.prop_map(Value::String)).boxed()),
        ("targets", either(targets).boxed()),
        (
            "reason",
            either("\\PC{0,40}".prop_map(Value::String)).boxed(),
        ),
        (
            "requester",
            either("[a-z]{1,8}".prop_map(Value::String)).boxed(),
        ),
    ])
}

/// An accepted request serialises to a body that parses to the same request.
fn round_trips<T>(r: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let body = serde_json::to_vec(r).expect("serialise");
    let again: T = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{r:?} serialises to a body that does not parse: {e}"));
    assert_eq!(&again, r);
}

/// A deploy request names only the fields Ferry knows: the requester is never the client's.
fn check_deploy(r: &DeployRequest, source: &Value) {
    if let Some(o) = source.as_object() {
        for k in o.keys() {
            assert!(
                ["component", "version", "targets", "reason"].contains(&k.as_str()),
                "unknown field {k:?} accepted"
            );
        }
    }
    round_trips(r);
}

proptest! {
    #![proptest_config(fuzz_support::config())]

    /// Arbitrary bytes: a typed error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(r) = serde_json::from_slice::<DecisionRequest>(&bytes) {
            round_trips(&r);
        }
        if let Ok(r) = serde_json::from_slice::<DeployRequest>(&bytes) {
            let v: Value = serde_json::from_slice(&bytes).expect("parsed once");
            check_deploy(&r, &v);
        }
    }

    /// Decision bodies with wrong, missing and extra fields: accepted ones round-trip.
    #[test]
    fn shaped_decisions_round_trip(v in decision()) {
        let bytes = serde_json::to_vec(&v).expect("serialise");
        if let Ok(r) = serde_json::from_slice::<DecisionRequest>(&bytes) {
            round_trips(&r);
        }
    }

    /// Deploy bodies likewise, and no unknown field (such as a requester) gets through.
    #[test]
    fn shaped_deploys_round_trip(v in deploy()) {
        let bytes = serde_json::to_vec(&v).expect("serialise");
        if let Ok(r) = serde_json::from_slice::<DeployRequest>(&bytes) {
            check_deploy(&r, &v);
        }
    }
}

#[test]
fn corpus_replays() {
    for (path, bytes) in fuzz_support::corpus("requests") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let ok = if name.starts_with("decision-") {
            serde_json::from_slice::<DecisionRequest>(&bytes)
                .map(|r| round_trips(&r))
                .map_err(|e| e.to_string())
        } else {
            serde_json::from_slice::<DeployRequest>(&bytes)
                .map(|r| check_deploy(&r, &serde_json::from_slice(&bytes).unwrap_or_default()))
                .map_err(|e| e.to_string())
        };
        if name.contains("-ok-") {
            assert!(ok.is_ok(), "{name}: {ok:?}");
        }
    }
}
