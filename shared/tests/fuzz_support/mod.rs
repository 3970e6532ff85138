//! What every fuzz target shares: the case budget and the committed seed corpus. Included by
//! path from the other crates' targets, so a 30-line helper needs no crate of its own.
//!
//! Proptest on stable instead of `cargo fuzz`: libFuzzer needs a nightly toolchain.

use std::path::{Path, PathBuf};

use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases per property: `FERRY_FUZZ_CASES`, or a budget that keeps `cargo test` quick.
/// `scripts/fuzz.sh` raises it and runs the targets for a wall-clock time.
pub fn config() -> Config {
    let cases = std::env::var("FERRY_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    Config {
        cases,
        // A failing case is saved beside the target (`<target>.proptest-regressions`) and
        // replayed first on every run: commit that file with the fix.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// The seed files of one target, `tests/fuzz-corpus/<target>/*`, sorted by name.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("tests/fuzz-corpus").is_dir())
        .expect("tests/fuzz-corpus above the crate")
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read corpus file");
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

/// Any JSON value, nested a few levels: leaves, arrays and objects with short keys.
#[allow(dead_code)] // not every target builds JSON
pub fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_$.]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
