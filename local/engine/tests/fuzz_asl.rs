//! Fuzz target: `validate_definition`, the ASL parse-and-compile step behind
//! CreateStateMachine, on arbitrary text, on generated state machines (random states, fields,
//! paths, templates, intrinsics, Choice rules, Retry/Catch, nested branches) and on mutated
//! real definitions.
//!
//! Proptest on stable instead of `cargo fuzz` (libFuzzer needs nightly). Cases per property:
//! `FERRY_FUZZ_CASES` (default 200); `scripts/fuzz.sh` runs it for a wall-clock time. Seeds:
//! `tests/fuzz-corpus/asl/` (definitions from the vectors and the deploy workflow).

#[path = "../../../shared/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use ferry_engine::validate_definition;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const NAMES: &[&str] = &["A", "B", "C", "Done", "Plan staging", "Approve prod?", "x"];

const PATHS: &[&str] = &[
    "$",
    "$.a",
    "$.a.b",
    "$.a[0]",
    "$.a[*]",
    "$.a[-1]",
    "$.a[1:3]",
    "$['a-b']",
    "$..a",
    "$[?(@.a > 1)]",
    "$$",
    "$$.Execution.Id",
    "$$.Task.Token",
    "$$.Map.Item.Value",
    "$.",
    "",
    "a",
    "$[",
    "$.a[",
    "$.a['",
    "$.a.$",
    "$$.Nope",
];

const INTRINSICS: &[&str] = &[
    "States.Format('{} and {}', $.a, $.b)",
    "States.Format('{}', $.a)",
    "States.Format('\\{\\}')",
    "States.StringToJson($.s)",
    "States.JsonToString($.a)",
    "States.Array(1, 'two', $.a, true, null)",
    "States.ArrayPartition($.a, 0)",
    "States.ArrayRange(1, 100000000, 1)",
    "States.ArrayRange(0, 10, 0)",
    "States.ArrayGetItem($.a, -1)",
    "States.ArrayLength($.a)",
    "States.ArrayUnique($.a)",
    "States.ArrayContains($.a, 1)",
    "States.Base64Encode($.s)",
    "States.Base64Decode('!!')",
    "States.Hash($.a, 'SHA-256')",
    "States.Hash($.a, 'CRC32')",
    "States.JsonMerge($.a, $.b, false)",
    "States.MathRandom(1, 0)",
    "States.MathAdd($.n, 9223372036854775807)",
    "States.StringSplit($.s, '')",
    "States.UUID()",
    "States.UUID(1)",
    "States.Nope()",
    "States.Format(",
    "States.Format('{}', States.Array(States.Array()))",
    "States.Format('\\",
];

const RESOURCES: &[&str] = &[
    "arn:aws:states:::lambda:invoke",
    "arn:aws:states:::lambda:invoke.waitForTaskToken",
    "arn:aws:lambda:us-east-1:123456789012:function:f",
    "arn:aws:lambda:us-east-1:123456789012:function:f:live",
    "arn:aws:states:::codebuild:startBuild.sync",
    "arn:aws:states:::sns:publish",
    "arn:aws:states:::dynamodb:putItem",
    "arn:aws:states:::aws-sdk:s3:getObject",
    "arn:aws:states:::lambda:invoke.sync",
    "",
    "x",
];

const COMPARATORS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
    "StringEqualsPath",
    "NumericLessThanPath",
    "TimestampGreaterThanPath",
    "BooleanEqualsPath",
    "Nope",
];

const ERRORS: &[&str] = &[
    "States.ALL",
    "States.TaskFailed",
    "States.Timeout",
    "States.Runtime",
    "States.HeartbeatTimeout",
    "Ferry.Transient",
    "States.Nope",
    "",
];

fn pick(pool: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop::sample::select(pool).prop_map(Value::from).boxed()
}

fn name() -> BoxedStrategy<String> {
    prop_oneof![
        8 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "\\PC{0,4}",
        1 => Just("n".repeat(81)),
    ]
    .boxed()
}

/// Numbers where validation draws lines: zero, negatives, fractions and huge values.
fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        (0..100u64).prop_map(Value::from),
        prop::sample::select(&[-1i64, 0, 1, 99_999_999, i64::MAX][..]).prop_map(Value::from),
        Just(json!(u64::MAX)),
        prop::sample::select(&[0.0f64, -0.0, 0.5, 1.5, 2.0, 1e300, -3.25][..])
            .prop_map(Value::from),
    ]
    .boxed()
}

fn path_or_intrinsic() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => pick(PATHS),
        3 => pick(INTRINSICS),
        1 => "\\$[.a-z\\[\\]0-9*'$()?@:-]{0,12}".prop_map(Value::from),
        1 => "States\\.[A-Za-z]{0,12}\\([$.a-z0-9', ]{0,12}\\)?".prop_map(Value::from),
    ]
    .boxed()
}

/// A payload template: plain keys hold values, `.$` keys hold paths or intrinsics.
fn template() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        ("[a-z]{1,4}", fuzz_support::json_value()).prop_map(|(k, v)| (k, v)),
        ("[a-z]{1,4}", path_or_intrinsic()).prop_map(|(k, v)| (format!("{k}.$"), v)),
        ("[a-z]{1,4}", number()).prop_map(|(k, v)| (format!("{k}.$"), v)),
    ];
    prop::collection::vec(leaf, 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        .prop_recursive(2, 12, 3, |inner| {
            prop::collection::vec(("[a-z]{1,4}", inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        })
        .boxed()
}

fn choice_rule() -> BoxedStrategy<Value> {
    let comparison = (
        prop::option::weighted(0.9, pick(PATHS)),
        prop::sample::select(COMPARATORS),
        prop_oneof![
            pick(PATHS),
            number(),
            any::<bool>().prop_map(Value::from),
            Just(json!("2026-11-21T10:00:00Z")),
            Just(json!("a*b\\*")),
            fuzz_support::json_value(),
        ],
    )
        .prop_map(|(var, op, operand)| {
            let mut m = Map::new();
            if let Some(v) = var {
                m.insert("Variable".into(), v);
            }
            m.insert(op.into(), operand);
            Value::Object(m)
        });
    comparison
        .prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(|r| json!({ "And": r })),
                prop::collection::vec(inner.clone(), 0..3).prop_map(|r| json!({ "Or": r })),
                inner.prop_map(|r| json!({ "Not": r })),
            ]
        })
        .boxed()
}

fn top_rule() -> BoxedStrategy<Value> {
    (choice_rule(), prop::option::weighted(0.9, name()))
        .prop_map(|(mut rule, next)| {
            if let (Some(o), Some(n)) = (rule.as_object_mut(), next) {
                o.insert("Next".into(), n.into());
            }
            rule
        })
        .boxed()
}

fn errors() -> BoxedStrategy<Value> {
    prop::collection::vec(pick(ERRORS), 0..3)
        .prop_map(Value::Array)
        .boxed()
}

fn retry() -> BoxedStrategy<Value> {
    let retrier = (
        errors(),
        prop::collection::vec(
            (
                prop::sample::select(
                    &[
                        "IntervalSeconds",
                        "MaxAttempts",
                        "BackoffRate",
                        "MaxDelaySeconds",
                        "JitterStrategy",
                        "Comment",
                    ][..],
                ),
                prop_oneof![
                    number(),
                    Just(json!("FULL")),
                    Just(json!("NONE")),
                    Just(json!("x"))
                ],
            ),
            0..4,
        ),
    )
        .prop_map(|(errors, fields)| {
            let mut m: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            m.insert("ErrorEquals".into(), errors);
            Value::Object(m)
        });
    prop::collection::vec(retrier, 0..3)
        .prop_map(Value::Array)
        .boxed()
}

fn catch() -> BoxedStrategy<Value> {
    let catcher = (errors(), name(), prop::option::of(pick(PATHS))).prop_map(|(e, n, rp)| {
        let mut c = json!({ "ErrorEquals": e, "Next": n });
        if let Some(rp) = rp {
            c["ResultPath"] = rp;
        }
        c
    });
    prop::collection::vec(catcher, 0..3)
        .prop_map(Value::Array)
        .boxed()
}

/// One state: a Type and a random subset of fields, each usually of a plausible kind.
fn state(machine: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    let types = prop_oneof![
        8 => prop::sample::select(&["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"][..])
            .prop_map(|t| Some(Value::from(t))),
        1 => Just(Some(json!("Bogus"))),
        1 => Just(None),
    ];
    let string = || "[a-zA-Z0-9 .]{0,10}".prop_map(Value::from).boxed();
    let fields: Vec<(&'static str, f64, BoxedStrategy<Value>)> = vec![
        ("Next", 0.6, name().prop_map(Value::from).boxed()),
        (
            "End",
            0.3,
            prop_oneof![Just(json!(true)), Just(json!(false)), Just(json!("true"))].boxed(),
        ),
        ("Comment", 0.05, string()),
        (
            "InputPath",
            0.15,
            prop_oneof![pick(PATHS), Just(Value::Null)].boxed(),
        ),
        (
            "OutputPath",
            0.15,
            prop_oneof![pick(PATHS), Just(Value::Null)].boxed(),
        ),
        (
            "ResultPath",
            0.15,
            prop_oneof![pick(PATHS), Just(Value::Null)].boxed(),
        ),
        ("Parameters", 0.2, template()),
        ("ResultSelector", 0.1, template()),
        ("ItemSelector", 0.1, template()),
        ("Result", 0.1, fuzz_support::json_value().boxed()),
        ("Resource", 0.4, pick(RESOURCES)),
        ("TimeoutSeconds", 0.1, number()),
        ("TimeoutSecondsPath", 0.05, pick(PATHS)),
        ("HeartbeatSeconds", 0.1, number()),
        ("HeartbeatSecondsPath", 0.05, pick(PATHS)),
        ("Retry", 0.2, retry()),
        ("Catch", 0.2, catch()),
        (
            "Choices",
            0.3,
            prop::collection::vec(top_rule(), 0..3)
                .prop_map(Value::Array)
                .boxed(),
        ),
        ("Default", 0.15, name().prop_map(Value::from).boxed()),
        ("Seconds", 0.15, number()),
        ("SecondsPath", 0.1, pick(PATHS)),
        (
            "Timestamp",
            0.1,
            prop_oneof![
                Just(json!("2026-11-21T10:00:00Z")),
                Just(json!("2026-13-01T00:00:00Z")),
                string()
            ]
            .boxed(),
        ),
        ("TimestampPath", 0.05, pick(PATHS)),
        ("Error", 0.2, pick(ERRORS)),
        ("ErrorPath", 0.05, path_or_intrinsic()),
        ("Cause", 0.1, string()),
        ("CausePath", 0.1, path_or_intrinsic()),
        (
            "Branches",
            0.25,
            prop::collection::vec(machine.clone(), 0..3)
                .prop_map(Value::Array)
                .boxed(),
        ),
        ("ItemProcessor", 0.25, machine.clone()),
        ("Iterator", 0.05, machine),
        ("ItemsPath", 0.1, pick(PATHS)),
        ("MaxConcurrency", 0.1, number()),
        ("MaxConcurrencyPath", 0.05, pick(PATHS)),
        ("ToleratedFailureCount", 0.05, number()),
        ("ToleratedFailurePercentage", 0.05, number()),
        ("Label", 0.02, string()),
    ];
    let fields: Vec<_> = fields
        .into_iter()
        .map(|(k, p, v)| prop::option::weighted(p, v.prop_map(move |v| (k, v))))
        .collect();
    (types, fields)
        .prop_map(|(ty, fields)| {
            let mut m: Map<String, Value> = fields
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if let Some(t) = ty {
                m.insert("Type".into(), t);
            }
            Value::Object(m)
        })
        .boxed()
}

/// A machine (top level, branch or item processor) of a few states; `inner` is a nested one.
fn machine_of(inner: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    (
        prop::collection::vec((name(), state(inner)), 1..5),
        prop::option::weighted(
            0.95,
            prop_oneof![4 => Just(None), 1 => name().prop_map(Some)],
        ),
    )
        .prop_map(|(states, start)| {
            let start_at = match start {
                Some(Some(s)) => Value::from(s),
                Some(None) => Value::from(states[0].0.clone()),
                None => Value::Null,
            };
            let states: Map<String, Value> = states.into_iter().collect();
            let mut m = json!({ "States": states });
            if !start_at.is_null() {
                m["StartAt"] = start_at;
            }
            m
        })
        .boxed()
}

fn machine() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})),
        Just(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}})),
    ];
    let top = leaf.prop_recursive(2, 6, 2, machine_of).boxed();
    (
        machine_of(top),
        prop::option::weighted(0.1, number()),
        prop::option::weighted(
            0.05,
            prop_oneof![Just(json!("JSONPath")), Just(json!("JSONata"))],
        ),
    )
        .prop_map(|(mut m, timeout, ql)| {
            if let Some(t) = timeout {
                m["TimeoutSeconds"] = t;
            }
            if let Some(q) = ql {
                m["QueryLanguage"] = q;
            }
            m
        })
        .boxed()
}

/// Validation never panics, and a verdict does not depend on the document's formatting.
fn check(definition: &Value) {
    let compact = validate_definition(&definition.to_string());
    let pretty = validate_definition(&serde_json::to_string_pretty(definition).expect("json"));
    assert_eq!(compact.is_ok(), pretty.is_ok(), "{compact:?} vs {pretty:?}");
}

/// Every node of a document, by its position in a depth-first walk.
fn node_mut<'a>(v: &'a mut Value, target: &mut usize) -> Option<&'a mut Value> {
    if *target == 0 {
        return Some(v);
    }
    *target -= 1;
    match v {
        Value::Array(a) => a.iter_mut().find_map(|c| node_mut(c, target)),
        Value::Object(o) => o.values_mut().find_map(|c| node_mut(c, target)),
        _ => None,
    }
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(prop::sample::Index, Value),
    /// Removes a key (or element) of the chosen object (or array).
    Remove(prop::sample::Index, prop::sample::Index),
    /// Adds a key to the chosen object.
    Insert(prop::sample::Index, String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    use prop::sample::Index;
    let value = prop_oneof![
        pick(PATHS),
        path_or_intrinsic(),
        number(),
        template(),
        choice_rule(),
        retry(),
        name().prop_map(Value::from).boxed(),
        fuzz_support::json_value().boxed(),
    ];
    let key = prop_oneof![
        prop::sample::select(
            &[
                "Next",
                "End",
                "Type",
                "Default",
                "ResultPath",
                "Parameters",
                "Catch",
                "Retry",
                "Branches",
                "ItemProcessor",
                "States",
                "StartAt",
                "x.$"
            ][..]
        )
        .prop_map(str::to_owned),
        "[A-Za-z.$]{1,8}",
    ];
    prop_oneof![
        3 => (any::<Index>(), value.clone()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Edit::Remove(i, j)),
        1 => (any::<Index>(), key, value).prop_map(|(i, k, v)| Edit::Insert(i, k, v)),
    ]
}

fn apply(doc: &mut Value, e: &Edit) {
    let n = count_nodes(doc);
    let at = |i: &prop::sample::Index| i.index(n);
    match e {
        Edit::Replace(i, v) => {
            if let Some(node) = node_mut(doc, &mut at(i)) {
                *node = v.clone();
            }
        }
        Edit::Remove(i, j) => match node_mut(doc, &mut at(i)) {
            Some(Value::Object(o)) if !o.is_empty() => {
                let key = o.keys().nth(j.index(o.len())).cloned().unwrap_or_default();
                o.remove(&key);
            }
            Some(Value::Array(a)) if !a.is_empty() => {
                a.remove(j.index(a.len()));
            }
            _ => {}
        },
        Edit::Insert(i, k, v) => {
            if let Some(Value::Object(o)) = node_mut(doc, &mut at(i)) {
                o.insert(k.clone(), v.clone());
            }
        }
    }
}

fn seeds() -> Vec<Value> {
    fuzz_support::corpus("asl")
        .into_iter()
        .map(|(p, b)| serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

proptest! {
    #![proptest_config(fuzz_support::config())]

    /// Arbitrary text: a reason, never a panic.
    #[test]
    fn arbitrary_text_never_panics(s in prop_oneof!["\\PC{0,64}", "[{}\\[\\]\":,a-zA-Z$. 0-9]{0,64}"]) {
        let _ = validate_definition(&s);
    }

    /// Generated state machines with random states and fields.
    #[test]
    fn generated_machines_never_panic(m in machine()) {
        check(&m);
    }

    /// Real definitions with a few subtrees replaced, removed or added.
    #[test]
    fn mutated_definitions_never_panic(
        seed in prop::sample::select(seeds()),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut doc = seed;
        for e in &edits {
            apply(&mut doc, e);
        }
        check(&doc);
    }
}

#[test]
fn corpus_replays() {
    for doc in seeds() {
        check(&doc);
    }
}
