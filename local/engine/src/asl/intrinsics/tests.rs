//! Intrinsic functions as AWS evaluates them.

use super::*;
use crate::asl::context::ExecutionContext;
use serde_json::json;

fn run(src: &str, input: Value) -> Result<Value, TaskError> {
    let e = ExecutionContext {
        id: "id".into(),
        name: "n".into(),
        input: json!({}),
        start_time: "t".into(),
        role_arn: "r".into(),
        state_machine_id: "sm".into(),
        state_machine_name: "smn".into(),
    };
    let ctx = Context {
        execution: &e,
        state_name: "S",
        entered_time: "t",
        retry_count: None,
        task_token: None,
        map_item: None,
    };
    Intrinsic::parse(src).unwrap().eval(&input, &ctx)
}

#[test]
fn functions() {
    assert_eq!(
        run(
            "States.Format('Hello, my name is {}.', $.name)",
            json!({"name": "Arnav"})
        )
        .unwrap(),
        json!("Hello, my name is Arnav.")
    );
    assert_eq!(
        run("States.Format('a\\{\\}b {}', 3)", json!({})).unwrap(),
        json!("a{}b 3")
    );
    assert_eq!(
        run("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
        json!([1, 3, 5, 7, 9])
    );
    assert_eq!(
        run(
            "States.ArrayPartition(States.Array(1,2,3,4,5), 2)",
            json!({})
        )
        .unwrap(),
        json!([[1, 2], [3, 4], [5]])
    );
    assert_eq!(
        run("States.Hash('input data', 'SHA-1')", json!({})).unwrap(),
        json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
    );
    assert_eq!(
        run(
            "States.StringSplit('This.is+a,test=string', '.+,=')",
            json!({})
        )
        .unwrap(),
        json!(["This", "is", "a", "test", "string"])
    );
    assert_eq!(
        run("States.MathAdd($.v, -1)", json!({"v": 111})).unwrap(),
        json!(110)
    );
    assert_eq!(
        run(
            "States.Base64Decode(States.Base64Encode('Data to encode'))",
            json!({})
        )
        .unwrap(),
        json!("Data to encode")
    );
    assert_eq!(
        run("States.MathAdd($.a, $.b)", json!({"a": 1.49, "b": 1.5})).unwrap(),
        json!(3)
    );
    assert_eq!(
        run("States.MathAdd(-2.5, 0)", json!({})).unwrap(),
        json!(-2)
    );
    assert_eq!(
        run(
            "States.Format('{}', $.o)",
            json!({"o": {"a": [1, "x"], "b": {}}})
        )
        .unwrap(),
        json!("{a=[1, x], b={}}")
    );
    for (s, want) in [("", json!(null)), (" ", json!(null)), ("-0", json!(0))] {
        assert_eq!(
            run("States.StringToJson($.s)", json!({ "s": s })).unwrap(),
            want
        );
    }
    assert!(Intrinsic::parse(r#"States.Format('a \" b')"#).is_err());
    assert!(Intrinsic::parse(r"States.Format('a \' \{ \} \\ b')").is_ok());
    assert!(Intrinsic::parse("States.Nope(1)").is_err());
    assert!(Intrinsic::parse("States.ArrayLength(1, 2)").is_err());
}
