//! Who can reach the approval handler: approvers through the Function URL only, never by a
//! direct Invoke (whose payload could carry a forged `requestContext` identity), and no
//! human-facing policy that can complete a gate itself.

use serde_json::{json, Value};

use crate::cfn::{expr, function_id_for, one_or_many, resources, resources_of};

fn statements(policy: &Value) -> Vec<&Value> {
    one_or_many(&policy["Properties"]["PolicyDocument"]["Statement"])
}

fn actions(s: &Value) -> Vec<String> {
    one_or_many(&s["Action"])
        .into_iter()
        .map(|a| a.as_str().expect("action").to_owned())
        .collect()
}

#[test]
fn approvers_reach_the_handler_only_through_the_url() {
    let approve = function_id_for("approve");
    let approve_arn = format!("${{{approve}.Arn}}");
    let policy = &resources()["ApproverPolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    let st = statements(policy);
    let by_effect_action = |effect: &str, action: &str| -> Vec<&Value> {
        st.iter()
            .copied()
            .filter(|s| s["Effect"] == effect && actions(s) == [action])
            .collect()
    };

    // The URL itself, IAM-authenticated.
    let url = by_effect_action("Allow", "lambda:InvokeFunctionUrl");
    assert_eq!(url.len(), 1, "{st:#?}");
    assert_eq!(expr(&url[0]["Resource"]), approve_arn);
    assert_eq!(
        url[0]["Condition"],
        json!({"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}})
    );

    // lambda:InvokeFunction (required for URLs since October 2025), only via the URL…
    let invoke = by_effect_action("Allow", "lambda:InvokeFunction");
    assert_eq!(invoke.len(), 1, "{st:#?}");
    assert_eq!(expr(&invoke[0]["Resource"]), approve_arn);
    assert_eq!(
        invoke[0]["Condition"],
        json!({"Bool": {"lambda:InvokedViaFunctionUrl": "true"}})
    );
    // …and denied otherwise, whatever else the principal holds.
    let deny = by_effect_action("Deny", "lambda:InvokeFunction");
    assert_eq!(deny.len(), 1, "{st:#?}");
    assert_eq!(expr(&deny[0]["Resource"]), approve_arn);
    assert_eq!(
        deny[0]["Condition"],
        json!({"BoolIfExists": {"lambda:InvokedViaFunctionUrl": "false"}})
    );
    assert_eq!(st.len(), 3, "nothing else for approvers: {st:#?}");

    // The function's own policy admits this account's invokes only through the URL.
    let perms: Vec<&Value> = resources_of("AWS::Lambda::Permission")
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| expr(&r["Properties"]["FunctionName"]) == format!("${{{approve}}}"))
        .collect();
    assert_eq!(perms.len(), 1, "{perms:#?}");
    let p = &perms[0]["Properties"];
    assert_eq!(p["Action"], "lambda:InvokeFunction");
    assert_eq!(p["InvokedViaFunctionUrl"], true);
    assert_eq!(expr(&p["Principal"]), "${AWS::AccountId}");
}

#[test]
fn no_human_facing_policy_can_complete_a_gate() {
    // Managed policies are what the template offers people; none may hold states:SendTask*
    // (IAM cannot scope it to one task: whoever holds it can approve anything).
    for (id, policy) in resources_of("AWS::IAM::ManagedPolicy") {
        for s in statements(policy) {
            if s["Effect"] != "Allow" {
                continue;
            }
            for a in actions(s) {
                assert!(
                    !a.starts_with("states:SendTask") && a != "states:*" && a != "*",
                    "{id} grants {a}"
                );
            }
        }
    }
}
