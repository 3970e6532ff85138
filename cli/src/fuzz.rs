//! Fuzz target: `parse::duration`, the parser behind `--timeout` and approval timeouts, and
//! its inverse `format_secs`. A unit-test module because the CLI is a binary crate.
//!
//! Proptest on stable instead of `cargo fuzz` (libFuzzer needs nightly). Cases per property:
//! `FERRY_FUZZ_CASES` (default 200); `scripts/fuzz.sh` runs it for a wall-clock time. Seeds:
//! `tests/fuzz-corpus/duration/`, one argument per line; lines under an `# ok` header must parse.

#[path = "../../shared/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::time::Duration;

use proptest::prelude::*;

use crate::parse::{duration, format_secs, MAX_DURATION};

/// Nanoseconds per humantime unit (the exact ones; months and years are fractional days).
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("sec", 1_000_000_000),
    ("m", 60_000_000_000),
    ("min", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("hours", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("days", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// Counts around the edges: zero, one, a year in each unit, and the integer limits.
fn count() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..1000u64,
        Just(365),
        Just(366),
        Just(8760),
        Just(8761),
        Just(525_600),
        Just(31_536_000),
        Just(31_536_001),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX / 2),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

/// The accepted range: positive and at most a year.
fn in_range(d: Duration) -> bool {
    !d.is_zero() && d <= MAX_DURATION
}

proptest! {
    #![proptest_config(fuzz_support::config())]

    /// Any argument: an error message, or a duration within the accepted range.
    #[test]
    fn arbitrary_text_never_panics(s in prop_oneof!["\\PC{0,24}", "[0-9 .a-z+-]{0,24}"]) {
        if let Ok(d) = duration(&s) {
            prop_assert!(in_range(d), "{s:?} gave {d:?}");
        }
    }

    /// "<n><unit>" in parts: accepted exactly when the sum is in range, and then equal to it.
    #[test]
    fn unit_sums_are_exact_or_refused(
        parts in prop::collection::vec((count(), prop::sample::select(UNITS)), 1..4),
        spaced in any::<bool>(),
    ) {
        let text: Vec<String> = parts.iter().map(|(n, (unit, _))| format!("{n}{unit}")).collect();
        let text = text.join(if spaced { " " } else { "" });
        let nanos: u128 = parts.iter().map(|(n, (_, per))| u128::from(*n) * per).sum();
        let expected = (nanos > 0 && nanos <= MAX_DURATION.as_nanos())
            .then(|| Duration::new((nanos / 1_000_000_000) as u64, (nanos % 1_000_000_000) as u32));
        prop_assert_eq!(duration(&text).ok(), expected, "{}", text);
    }

    /// Plain seconds likewise.
    #[test]
    fn plain_seconds_are_exact_or_refused(n in count()) {
        let expected = Some(Duration::from_secs(n)).filter(|d| in_range(*d));
        prop_assert_eq!(duration(&n.to_string()).ok(), expected);
    }

    /// What Ferry prints for a duration parses back to it.
    #[test]
    fn formatted_durations_parse_back(secs in 1..=MAX_DURATION.as_secs()) {
        let shown = format_secs(secs);
        prop_assert_eq!(duration(&shown), Ok(Duration::from_secs(secs)), "{}", shown);
    }
}

#[test]
fn corpus_replays() {
    for (path, bytes) in fuzz_support::corpus("duration") {
        let mut must_parse = false;
        for line in String::from_utf8_lossy(&bytes).lines() {
            if let Some(header) = line.strip_prefix('#') {
                must_parse = header.trim() == "ok";
                continue;
            }
            let got = duration(line);
            if let Ok(d) = got {
                assert!(in_range(d), "{line:?} gave {d:?}");
            }
            assert!(
                !must_parse || got.is_ok(),
                "{}: {line:?}: {got:?}",
                path.display()
            );
        }
    }
}
