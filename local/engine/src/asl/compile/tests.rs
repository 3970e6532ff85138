//! What the compiler accepts and refuses, with AWS's messages.

use super::*;

#[test]
fn rejects_common_mistakes() {
    let cases = [
        (r#"{"States":{"A":{"Type":"Pass","End":true}}}"#, "StartAt"),
        (
            r#"{"StartAt":"B","States":{"A":{"Type":"Pass","End":true}}}"#,
            "MISSING_TRANSITION_TARGET",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"C"}}}"#,
            "missing state",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}"#,
            "not reachable",
        ),
        (r#"{"StartAt":"A","States":{"A":{"End":true}}}"#, "Type"),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Choice"}}}"#,
            "Choices",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Fail","End":true}}}"#,
            "not supported",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.a[","End":true}}}"#,
            "JSONPath",
        ),
        (
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Resource":"x","End":true}}}"#,
            "not supported",
        ),
    ];
    for (src, want) in cases {
        let err = parse(src).unwrap_err();
        assert!(err.contains(want), "{src}: {err}");
    }
}

#[test]
fn resources_aws_recognises() {
    for ok in [
        "arn:aws:states:::lambda:invoke",
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "arn:aws:states:::codebuild:startBuild.sync",
        "arn:aws:states:::sns:publish",
        "arn:aws:states:::dynamodb:updateItem",
        "arn:aws:states:::states:startExecution.sync:2",
        "arn:aws:states:::aws-sdk:dynamodb:query",
        "arn:aws:lambda:us-east-1:123456789012:function:f:live",
        "arn:aws:states:us-east-1:123456789012:activity:a",
    ] {
        assert!(resource_recognised(ok), "{ok}");
    }
    for bad in [
        "arn:aws:states:::dynamodb:query",
        "arn:aws:states:::dynamodb:putItem.sync",
        "arn:aws:states:::aws-sdk:s3:getObject.sync",
        "arn:aws:states:::lambda:invoke.sync",
        "arn:x",
    ] {
        assert!(!resource_recognised(bad), "{bad}");
    }
    let err = parse(r#"{"StartAt":"Q","States":{"Q":{"Type":"Task","Resource":"arn:aws:states:::dynamodb:query","End":true}}}"#).unwrap_err();
    assert!(
        err.starts_with("SCHEMA_VALIDATION_FAILED: The resource provided")
            && err.ends_with(" at /States/Q/Resource"),
        "{err}"
    );
    assert_eq!(
        parse(r#"{"StartAt":"A"}"#).unwrap_err(),
        "SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /"
    );
}

#[test]
fn errors_name_the_field_at_fault() {
    let state = |fields: &str| {
        let src = format!(
            r#"{{"StartAt":"A","States":{{"A":{{"Type":"Task","Resource":"arn:x",{fields}}}}}}}"#
        );
        parse(&src).unwrap_err()
    };
    let err = state(r#""End":"yes""#);
    assert!(err.contains("End: invalid type"), "{err}");
    let err = state(r#""End":true,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"HALF"}]"#);
    assert!(err.contains("Retry[0].JitterStrategy"), "{err}");
    let err = state(r#""End":true,"Bogus":1"#);
    assert!(
        err.contains("`Bogus` is not supported by state type 'Task'")
            && err.contains("`HeartbeatSeconds`"),
        "{err}"
    );
    // A present null is not an absent field.
    let err = state(r#""End":true,"Next":null"#);
    assert!(err.contains("Next: invalid type: null"), "{err}");
}
