//! What the user reads when a command fails: one line in plain words with a hint, never an SDK
//! debug dump. The SDK's errors are recognised by what their chain says (they are generic over
//! every operation, so their text is the common ground), then said again in words.

/// A release refused before it was uploaded, for the reasons registration would refuse it:
/// exits like a rejection after upload (3).
#[derive(Debug)]
pub struct Rejected(pub String);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

/// How `ferry` exits for `err`.
pub fn exit_for(err: &anyhow::Error) -> crate::exit::Exit {
    if err.downcast_ref::<Rejected>().is_some() {
        crate::exit::Exit::Rejected
    } else {
        crate::exit::Exit::Failure
    }
}

/// The one line `ferry` prints for `err` (after `error: `).
pub fn one_line(err: &anyhow::Error) -> String {
    let full = format!("{err:#}");
    match known_cause(&full) {
        // Ferry's own words before the SDK's ("…, so nothing was changed") are kept.
        // (The missing-stack line already names what was being read.)
        Some(known) => match ferrys_part(&full).filter(|_| !known.starts_with("stack ")) {
            Some(context) => format!("{context}: {known}"),
            None => known,
        },
        None => plain(&full),
    }
}

/// What `full` says before the SDK's own text starts, if anything.
fn ferrys_part(full: &str) -> Option<&str> {
    const SDK: [&str; 5] = [
        "dispatch failure",
        "service error",
        "error trying to connect",
        "io error",
        "ValidationError",
    ];
    let at = SDK.iter().filter_map(|m| full.find(m)).min()?;
    let context = full[..at].trim_end_matches([':', ' ']);
    (!context.is_empty()).then_some(context)
}

/// Failures whose SDK wording helps nobody: said in words, with what to do. Region and
/// credentials first: the SDK reports both as a "dispatch failure" of a "ConnectorError".
fn known_cause(full: &str) -> Option<String> {
    let lower = full.to_ascii_lowercase();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    if lower.contains("missing region") || lower.contains("no aws region") {
        return Some(
            "no AWS region is set: export AWS_REGION (or set `region` in your AWS profile), or use the local stack with `eval \"$(ferry local up)\"`".into(),
        );
    }
    if lower.contains("no credentials")
        || lower.contains("credentialsnotloaded")
        || lower.contains("failed to load credentials")
        || lower.contains("the credential provider was not enabled")
        || lower.contains("no credentials provider")
    {
        return Some(
            "no AWS credentials were found: run `aws sso login` or `aws configure`, set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
        );
    }
    if lower.contains("connection refused") || lower.contains("tcp connect error") {
        return Some(match endpoint {
            Some(e) => format!(
                "nothing answers at {e}: is the local stack running? Start it with `eval \"$(ferry local up)\"`, or unset AWS_ENDPOINT_URL and name your stack with --stack"
            ),
            None => "cannot reach AWS (the connection was refused): check your network or proxy settings, or start the local stack with `eval \"$(ferry local up)\"`".into(),
        });
    }
    if let Some(stack) = full
        .strip_prefix("reading stack ")
        .and_then(|r| r.split_whitespace().next())
    {
        if lower.contains("does not exist") {
            let region = std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|_| "your default region".into());
            return Some(format!(
                "stack {stack} does not exist in {region} for these credentials: check --stack/FERRY_STACK, AWS_REGION and AWS_PROFILE"
            ));
        }
    }
    None
}

/// The workflow's error names and the API's status suffix, in words.
fn plain(full: &str) -> String {
    const NAMES: [(&str, &str); 10] = [
        ("Ferry.EnvironmentFailed: ", ""),
        (
            "Ferry.PromotionRefused: promotion rule: ",
            "promotion rule: ",
        ),
        ("Ferry.PromotionRefused: ", "promotion rule: "),
        ("Ferry.Rejected: ", "rejected: "),
        ("Ferry.LockHeld: ", ""),
        ("Ferry.Frozen: ", ""),
        ("Ferry.TerraformLocked: ", ""),
        ("Ferry.ApprovalNotVerified: ", ""),
        ("Ferry.Cancelled: ", "cancelled: "),
        ("Ferry.InvalidInput: invalid input: ", "invalid input: "),
    ];
    let mut s = full.trim().to_owned();
    for (name, words) in NAMES {
        s = s.replace(name, words);
    }
    // The API's status code helps nobody who reads the sentence before it.
    if let Some(i) = s.rfind(" (HTTP ") {
        if s[i..].ends_with(')') && s[i + 7..s.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            s.truncate(i);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_names_and_status_codes_become_words() {
        assert_eq!(
            plain("Ferry.EnvironmentFailed: Ferry.Rejected: rejected by local:bob: no"),
            "rejected: rejected by local:bob: no"
        );
        assert_eq!(
            plain("Ferry.PromotionRefused: promotion rule: web 1.0.0 never succeeded in dev"),
            "promotion rule: web 1.0.0 never succeeded in dev"
        );
        assert_eq!(
            plain("local:alice is not an approver for prod (HTTP 403)"),
            "local:alice is not an approver for prod"
        );
        assert_eq!(plain("keeps (HTTP 40x)"), "keeps (HTTP 40x)");
    }

    #[test]
    fn sdk_failures_are_said_in_words() {
        let dump = "reading the table: dispatch failure: io error: error trying to connect: tcp connect error: Connection refused (os error 111) (DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io, source: hyper_util::client::legacy::Error(Connect, ConnectError(\"tcp connect error\", Os { code: 111, kind: ConnectionRefused }))}}))";
        let line = known_cause(dump).expect("recognised");
        assert!(
            line.contains("ferry local up") && !line.contains("DispatchFailure"),
            "{line}"
        );
        assert!(known_cause("Missing Region")
            .unwrap()
            .contains("AWS_REGION"));
        assert!(
            known_cause("an error occurred: no credentials in the property bag")
                .unwrap()
                .contains("aws sso login")
        );
        let stack = known_cause("reading stack nope (cloudformation:DescribeStacks): service error: ValidationError: Stack with id nope does not exist, aws_request_id: 1").unwrap();
        assert!(
            stack.starts_with("stack nope does not exist in "),
            "{stack}"
        );
        assert_eq!(known_cause("something else"), None);
        assert_eq!(
            ferrys_part("cannot tell whether it runs, so nothing was changed: dispatch failure: x"),
            Some("cannot tell whether it runs, so nothing was changed")
        );
        assert_eq!(ferrys_part("dispatch failure: x"), None);
    }
}
