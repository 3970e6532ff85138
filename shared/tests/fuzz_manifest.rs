//! Fuzz target: `Manifest::from_json` on arbitrary bytes and on objects shaped like
//! `ferry.json` with wrong, missing and extra fields.
//!
//! Proptest on stable instead of `cargo fuzz` (libFuzzer needs nightly). Cases per property:
//! `FERRY_FUZZ_CASES` (default 200); `scripts/fuzz.sh` runs it for a wall-clock time. Seeds:
//! `tests/fuzz-corpus/manifest/`, where `ok-` files must parse.

mod fuzz_support;

use ferry_shared::model::{Manifest, ManifestError, ReleaseKey};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// A semantic version as people write them, with pre-release and build parts.
fn semver() -> impl Strategy<Value = String> {
    (
        0..300u64,
        0..300u64,
        prop_oneof![0..300u64, Just(u64::MAX)],
        "(-(alpha|beta|rc|0|[1-9][0-9]{0,2}|x-y)(\\.(0|[1-9][0-9]{0,2}|[a-z]{1,4})){0,2})?",
        "(\\+[0-9a-z-]{1,6}(\\.[0-9a-z]{1,4})?)?",
    )
        .prop_map(|(a, b, c, pre, build)| format!("{a}.{b}.{c}{pre}{build}"))
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,64}"
}

/// A value for a field: usually of the right kind, sometimes anything.
fn either(good: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop_oneof![4 => good, 1 => fuzz_support::json_value()]
}

fn shaped() -> impl Strategy<Value = Value> {
    let schema = prop_oneof![
        6 => Just(json!(1)),
        1 => prop_oneof![Just(json!(2)), Just(json!(0)), Just(json!(-1)), Just(json!(1.0)),
            Just(json!("1")), Just(json!(u64::MAX)), Just(json!(u64::from(u32::MAX) + 2))],
    ];
    let name = prop_oneof![4 => component(), 1 => "[a-zA-Z0-9_ ./-]{0,70}", 1 => "\\PC{0,10}"];
    let version = prop_oneof![4 => semver(), 1 => "[0-9.vV+-]{0,12}", 1 => "\\PC{0,10}"];
    let dir = prop_oneof![
        "[a-z]{1,5}(/[a-z]{1,5}){0,2}",
        Just(String::new()),
        Just("..".to_owned()),
        Just("a/../../b".to_owned()),
        Just("/etc".to_owned()),
        Just("a\\b".to_owned()),
        "[a-z./\\\\]{0,10}",
    ];
    let created = prop_oneof![
        (0..4_102_444_800i64).prop_map(|s| {
            chrono::DateTime::from_timestamp(s, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        }),
        "[0-9T:Z+-]{0,25}",
    ];
    (
        prop::option::weighted(0.95, schema),
        prop::option::weighted(0.95, either(name.prop_map(Value::String))),
        prop::option::weighted(0.95, either(version.prop_map(Value::String))),
        prop::option::of(either("[0-9a-f]{7,40}".prop_map(Value::String))),
        prop::option::of(either(created.prop_map(Value::String))),
        prop::option::of(either(dir.prop_map(Value::String))),
        prop::option::of(fuzz_support::json_value()),
        prop::option::weighted(0.1, ("[a-z_]{1,10}", fuzz_support::json_value())),
    )
        .prop_map(
            |(schema, component, version, commit, created, dir, metadata, extra)| {
                let mut m = Map::new();
                let fields = [
                    ("schema_version", schema),
                    ("component", component),
                    ("version", version),
                    ("commit", commit),
                    ("created_at", created),
                    ("terraform_dir", dir),
                    ("metadata", metadata),
                ];
                for (k, v) in fields {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                if let Some((k, v)) = extra {
                    m.insert(k, v);
                }
                Value::Object(m)
            },
        )
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(o) => o.values().any(has_float),
        _ => false,
    }
}

/// What an accepted manifest must be, and that it survives serialisation unchanged.
fn check_accepted(m: &Manifest, source: Option<&Value>) {
    assert_eq!(m.schema_version, 1);
    if let Some(src) = source {
        assert_eq!(Some(m.component.as_str()), src["component"].as_str());
        assert_eq!(
            Some(m.version.to_string().as_str()),
            src["version"].as_str()
        );
    }
    let dir = m.terraform_dir();
    assert!(
        !dir.is_empty()
            && !dir.starts_with('/')
            && !dir.contains('\\')
            && !dir.split('/').any(|s| s == ".."),
        "terraform_dir {dir:?} escapes the zip"
    );
    assert_eq!(ReleaseKey::parse(&m.key().to_string()).ok(), Some(m.key()));
    let again = Manifest::from_json(&serde_json::to_vec(m).expect("serialise"))
        .unwrap_or_else(|e| panic!("a manifest Ferry wrote does not parse: {e}"));
    // serde_json reads floats to within an ulp, so float-bearing metadata is compared by shape.
    if m.metadata.as_ref().is_some_and(has_float) {
        assert_eq!(
            (
                &again.component,
                &again.version,
                &again.terraform_dir,
                &again.created_at
            ),
            (&m.component, &m.version, &m.terraform_dir, &m.created_at)
        );
    } else {
        assert_eq!(&again, m);
    }
}

proptest! {
    #![proptest_config(fuzz_support::config())]

    /// Arbitrary bytes: a typed error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = Manifest::from_json(&bytes) {
            check_accepted(&m, None);
        }
    }

    /// Objects shaped like ferry.json: whatever is accepted is valid and round-trips.
    #[test]
    fn shaped_manifests_round_trip(v in shaped()) {
        let bytes = serde_json::to_vec(&v).expect("serialise");
        match Manifest::from_json(&bytes) {
            Ok(m) => check_accepted(&m, Some(&v)),
            Err(ManifestError::Schema(n)) => prop_assert_ne!(v.get("schema_version"), Some(&json!(1)), "schema {}", n),
            Err(_) => {}
        }
    }

    /// A well-formed manifest is always accepted.
    #[test]
    fn well_formed_manifests_parse(
        component in component(),
        version in semver(),
        dir in prop::option::of("[a-z]{1,5}(/[a-z0-9._-]{1,5}){0,2}"),
    ) {
        let mut v = json!({"schema_version": 1, "component": component, "version": version});
        if let Some(dir) = dir.filter(|d| !d.split('/').any(|s| s == "..")) {
            v["terraform_dir"] = json!(dir);
        }
        let m = Manifest::from_json(&serde_json::to_vec(&v).expect("serialise"));
        prop_assert!(m.is_ok(), "{v}: {:?}", m.err());
        check_accepted(&m.expect("checked"), Some(&v));
    }
}

#[test]
fn corpus_replays() {
    for (path, bytes) in fuzz_support::corpus("manifest") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match Manifest::from_json(&bytes) {
            Ok(m) => check_accepted(&m, None),
            Err(e) => assert!(!name.starts_with("ok-"), "{name}: {e}"),
        }
    }
}
