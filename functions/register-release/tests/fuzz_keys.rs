//! Fuzz target: S3 event key decoding (`decode_key`: form encoding, '+' for space) and
//! `ReleaseKey::parse` of the decoded key.
//!
//! Proptest on stable instead of `cargo fuzz` (libFuzzer needs nightly). Cases per property:
//! `FERRY_FUZZ_CASES` (default 200); `scripts/fuzz.sh` runs it for a wall-clock time. Seeds:
//! `tests/fuzz-corpus/s3-keys/`, one S3 event key per line (as S3 sends it); lines under an
//! `# ok` header must decode to a release key.

#[path = "../../../shared/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use ferry_shared::model::ReleaseKey;
use proptest::prelude::*;
use register_release::decode_key;

/// A key as S3 puts it in an event: form-encoded, space as '+', and '/' kept or as %2F.
fn s3_encode(key: &str, slash_encoded: bool) -> String {
    let mut out = String::new();
    for c in key.chars() {
        match c {
            ' ' => out.push('+'),
            '/' if !slash_encoded => out.push('/'),
            c if c.is_ascii_alphanumeric() || "-_.~".contains(c) => out.push(c),
            c => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

fn semver() -> impl Strategy<Value = String> {
    (
        0..100u32,
        0..100u32,
        0..100u32,
        "(-rc\\.[1-9])?(\\+[0-9a-z]{1,5})?",
    )
        .prop_map(|(a, b, c, rest)| format!("{a}.{b}.{c}{rest}"))
}

fn release_key() -> impl Strategy<Value = String> {
    ("[a-z0-9-]{1,64}", semver()).prop_map(|(c, v)| format!("releases/{c}/{v}.zip"))
}

/// Key-like strings: mostly release keys with a twist, sometimes anything.
fn key_like() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => release_key(),
        2 => "(releases/)?[a-zA-Z0-9 +%/._-]{0,20}(/[0-9.+ a-z-]{0,12})?(\\.zip)?",
        1 => "\\PC{0,40}",
    ]
}

/// Raw event keys, including broken percent escapes.
fn raw_event_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/+%.]{0,30}",
        "(%[0-9a-fA-FgG]{0,2}|\\+|[a-z/.])*",
        "\\PC{0,40}",
    ]
}

fn check_parsed(key: &str) {
    if let Ok(k) = ReleaseKey::parse(key) {
        assert_eq!(k.to_string(), key, "a parsed key prints as itself");
        assert_eq!(ReleaseKey::component_segment(key), k.component.as_str());
    }
}

proptest! {
    #![proptest_config(fuzz_support::config())]

    /// Any raw event key decodes without panicking; one without escapes is left as it is.
    #[test]
    fn decode_never_panics(raw in raw_event_key()) {
        let key = decode_key(&raw);
        if !raw.contains(['%', '+']) {
            prop_assert_eq!(&key, &raw);
        }
        check_parsed(&key);
        let _ = ReleaseKey::component_segment(&key);
    }

    /// Whatever the uploader named the object, decoding S3's encoding of it gives it back.
    #[test]
    fn s3_encoding_round_trips(key in key_like(), slash_encoded in any::<bool>()) {
        let raw = s3_encode(&key, slash_encoded);
        prop_assert_eq!(decode_key(&raw), key);
    }

    /// A release key survives S3's encoding and parses to what it names.
    #[test]
    fn release_keys_parse_after_decoding(key in release_key(), slash_encoded in any::<bool>()) {
        let decoded = decode_key(&s3_encode(&key, slash_encoded));
        let parsed = ReleaseKey::parse(&decoded);
        prop_assert!(parsed.is_ok(), "{key}: {:?}", parsed.err());
        check_parsed(&decoded);
    }

    /// Arbitrary key-like strings: `Ok` only for a key that prints as itself.
    #[test]
    fn parse_never_panics(key in key_like()) {
        check_parsed(&key);
    }
}

#[test]
fn corpus_replays() {
    for (path, bytes) in fuzz_support::corpus("s3-keys") {
        let text = String::from_utf8_lossy(&bytes);
        let mut must_parse = false;
        for line in text.lines() {
            if let Some(header) = line.strip_prefix('#') {
                must_parse = header.trim() == "ok";
                continue;
            }
            let key = decode_key(line);
            check_parsed(&key);
            assert!(
                !must_parse || ReleaseKey::parse(&key).is_ok(),
                "{}: {line:?} decodes to {key:?}, not a release key",
                path.display()
            );
        }
    }
}
