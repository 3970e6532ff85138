//! The review page on the local stack: approvers' own links arrive in the outbox (the approvals
//! topic's local subscriber), a GET shows the plan and decides nothing, only the page's own form
//! decides — once, as the approver the link was minted for — and a real headless Chromium
//! approves through it.

use std::process::Command;
use std::time::{Duration, Instant};

use ferry_tests::stack::{Stack, PROD_REQUIRED};
use serde_json::Value;

/// What `ferry local outbox` prints: (to, subject, message), until `want` arrived.
fn outbox(stack: &Stack, want: usize) -> Vec<(Option<String>, String, String)> {
    outbox_timed(stack, want)
        .into_iter()
        .map(|(m, _)| m)
        .collect()
}

type Message = (Option<String>, String, String);

/// As [`outbox`], with when each message reached the outbox.
fn outbox_timed(stack: &Stack, want: usize) -> Vec<(Message, chrono::DateTime<chrono::Utc>)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "outbox has {got:?}, wanted {want}"
        );
        for line in stack.ok(&["local", "outbox", "--output", "json"]).lines() {
            let m: Value = serde_json::from_str(line).expect("one JSON object per line");
            let sent_at = serde_json::from_value(m["sent_at"].clone()).expect("sent_at");
            got.push((
                (
                    m["to"]
                        .as_str()
                        .filter(|t| *t != "every subscriber")
                        .map(str::to_owned),
                    m["subject"].as_str().unwrap_or_default().to_owned(),
                    m["message"].as_str().unwrap_or_default().to_owned(),
                ),
                sent_at,
            ));
        }
    }
    got
}

fn link_in(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.strip_prefix("Review and decide: "))
        .unwrap_or_else(|| panic!("no decision link in {message}"))
        .trim()
        .to_owned()
}

/// `curl` a URL: (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let out = Command::new("curl")
        .args([
            "-sS",
            "-D",
            headers.to_str().unwrap(),
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, "0"));
    (
        code.trim().parse().unwrap_or(0),
        std::fs::read_to_string(headers)
            .unwrap_or_default()
            .to_lowercase(),
        body.to_owned(),
    )
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    format!("http://{}", rest.split('/').next().unwrap_or(rest))
}

fn approval_status(stack: &Stack, id: &str) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(stack.approval("hello-service", id, "prod"))
        .expect("approval")
        .status
        .to_string()
}

#[test]
fn approvers_decide_once_through_their_own_link_in_a_real_browser() {
    let stack = Stack::up();
    let mut env = PROD_REQUIRED.to_vec();
    env.extend([
        "--approvers",
        "alice,bob,carol",
        "--four-eyes",
        "--confirm-name",
    ]);
    stack.ok(&env);
    stack.release_dir(
        &ferry_tests::repo_root().join("examples/hello-service"),
        "1.0.0",
    );
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", "alice"]);
    stack.wait_step(&id, "prod", "awaiting-approval");

    // One message per eligible approver, none for the requester (four eyes).
    let timed = outbox_timed(&stack, 2);
    let opened = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval")
        .requested_at;
    // A figure for the notes, not a timed assertion: gate opened (the approval record's
    // requested_at) → the last approver's message in the outbox (SQS SentTimestamp).
    let last = timed.iter().map(|(_, at)| *at).max().expect("messages");
    let gate_to_outbox = (last - opened).num_milliseconds();
    let mut messages: Vec<Message> = timed.into_iter().map(|(m, _)| m).collect();
    messages.sort();
    let approvers: Vec<_> = messages.iter().map(|m| m.0.clone()).collect();
    assert_eq!(approvers, [Some("bob".into()), Some("carol".into())]);
    assert!(
        messages[0]
            .1
            .starts_with("Approve hello-service 1.0.0 → prod? (+1"),
        "{messages:?}"
    );
    assert!(messages[0]
        .2
        .contains(&format!("ferry approve {id} --env prod")));
    let bob = link_in(&messages[0].2);
    let carol = link_in(&messages[1].2);
    println!("gate opened → outbox: {gate_to_outbox} ms");

    // A GET (a mail scanner) shows the plan and decides nothing.
    let (status, headers, page) = curl(&[&bob]);
    assert_eq!(status, 200, "{page}");
    println!("review page: {} bytes", page.len());
    for h in [
        "content-security-policy: default-src 'none'",
        "referrer-policy: no-referrer",
        "cache-control: no-store",
        "x-frame-options: deny",
    ] {
        assert!(headers.contains(h), "{h} missing in {headers}");
    }
    assert!(page.contains("terraform_data.service") && page.contains("<form method=post>"));
    assert!(page.contains("Deciding as <strong>local:bob</strong>"));
    assert_eq!(approval_status(&stack, &id), "pending");

    // A POST that did not come from the page's form, a wrong confirmation, an altered link:
    // refused, nothing decided.
    let token = bob.split_once("?l=").unwrap().1;
    let form = |link: &str, confirm: &str| {
        format!("link={link}&decision=approve&comment=x&confirm={confirm}")
    };
    let review_url = bob.split_once('?').unwrap().0.to_owned();
    let (status, _, _) = curl(&["-d", &form(token, "prod"), &review_url]);
    assert_eq!(status, 403, "a POST without Origin decided");
    let o = format!("Origin: {}", origin(&review_url));
    let (status, _, page) = curl(&["-H", &o, "-d", &form(token, "staging"), &review_url]);
    assert_eq!(status, 200);
    assert!(page.contains("Type the environment"), "{page}");
    let mut altered = token.to_owned();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let (status, _, _) = curl(&["-H", &o, "-d", &form(&altered, "prod"), &review_url]);
    assert_eq!(status, 400, "an altered link was accepted");
    assert_eq!(approval_status(&stack, &id), "pending");

    // Bob approves in headless Chromium through the page's own form.
    let artifacts = ferry_tests::repo_root().join("target/browser-artifacts/review");
    let out = Command::new("node")
        .arg(ferry_tests::repo_root().join("tests/browser/review.mjs"))
        .args(["--url", &bob, "--out", artifacts.to_str().unwrap()])
        .args([
            "--comment",
            "plan reviewed",
            "--confirm",
            "prod",
            "--decision",
            "approve",
        ])
        .output()
        .expect("node (run scripts/setup.sh to install node, chromium and playwright-core)");
    assert!(
        out.status.success(),
        "browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(result["status"], 200, "{result:#}");
    assert!(
        result["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Approved by local:bob"),
        "{result:#}"
    );
    println!("screenshots: {}", result["screenshots"]);

    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    let step = Stack::step(&d, "prod");
    assert_eq!(step["decided_by"], "local:bob", "{d:#}");
    assert_eq!(step["comment"], "plan reviewed", "{d:#}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let a = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval");
    assert_eq!(a.via.as_deref(), Some("email link"));

    // The link decided once; carol's link now only shows that the gate is closed.
    let (_, _, page) = curl(&["-H", &o, "-d", &form(token, "prod"), &review_url]);
    assert!(page.contains("no longer waiting"), "{page}");
    let (status, _, page) = curl(&[&carol]);
    assert_eq!(status, 200);
    assert!(!page.contains("<form"), "{page}");

    // No link and no task token reached a log line of the whole run: the stack's own log,
    // moto's, every build's.
    let logs = stack.all_logs();
    assert!(
        logs.contains("decided through the review page"),
        "the logs were not read"
    );
    let carol_token = carol.split_once("?l=").unwrap().1;
    for secret in [token, carol_token, "?l=f1."] {
        assert!(!logs.contains(secret), "a link was logged");
    }
    let tokens = stack.task_tokens(&id);
    assert!(!tokens.is_empty(), "no task token issued");
    for t in &tokens {
        assert!(!logs.contains(t.as_str()), "a task token was logged");
    }
}

/// Links Ferry made but that must not decide: view-only, for another plan, expired.
#[test]
fn view_only_other_plan_and_expired_links_decide_nothing() {
    use ferry_shared::links::{LinkClaims, LinkKey};
    let stack = Stack::up();
    stack.ok(&PROD_REQUIRED);
    stack.release_dir(
        &ferry_tests::repo_root().join("examples/hello-service"),
        "1.0.0",
    );
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", "alice"]);
    stack.wait_step(&id, "prod", "awaiting-approval");
    let review_url = stack
        .var("FERRY_REVIEW_URL")
        .expect("review url")
        .to_owned();

    // What the Step Functions console shows with the waiting "Approve?" step: a view-only link
    // and the commands that decide.
    let input = stack
        .state_input(&id, "Approve?")
        .expect("Approve? entered");
    let review = &input["review"];
    assert_eq!(review["approve"], format!("ferry approve {id} --env prod"));
    assert_eq!(
        review["approve_in_browser"],
        format!("ferry approve {id} --env prod --browser")
    );
    let console = review["review_url"]
        .as_str()
        .expect("review_url")
        .to_owned();
    assert!(
        console.starts_with(&format!("{review_url}?l=f1.")),
        "{console}"
    );
    let (status, _, page) = curl(&[&console]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("terraform_data.service")
            && page.contains("--browser")
            && !page.contains("<form"),
        "{page}"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let approval = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval");
    let now = chrono::Utc::now();
    let env = rt
        .block_on(async {
            stack
                .store()
                .await
                .get_environment(&approval.environment)
                .await
        })
        .expect("read env")
        .expect("env");
    let view = LinkClaims::view(&approval, chrono::Duration::hours(1), now).expect("view");
    let mut other_plan = LinkClaims::decide(
        &approval,
        &env,
        "local:bob",
        chrono::Duration::hours(1),
        now,
    )
    .expect("decide");
    other_plan.plan_sha256 = "0".repeat(64);
    let mut expired = other_plan.clone();
    expired.plan_sha256 = approval.plan_sha256.clone();
    expired.expires_at = now - chrono::Duration::seconds(5);
    let [view, other_plan, expired] = rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL").unwrap()).await;
        let kms = aws_sdk_kms::Client::new(&sdk);
        let mut hmac = None;
        for k in kms.list_keys().send().await.expect("keys").keys() {
            let id = k.key_id().unwrap_or_default().to_owned();
            let meta = kms
                .describe_key()
                .key_id(&id)
                .send()
                .await
                .expect("describe");
            if meta
                .key_metadata()
                .and_then(|m| m.key_spec())
                .map(|s| s.as_str())
                == Some("HMAC_256")
            {
                hmac = Some(id);
            }
        }
        let key = LinkKey::new(kms, hmac.expect("the stack's link key"));
        let mut out = Vec::new();
        for c in [&view, &other_plan, &expired] {
            out.push(key.mint(c).await.expect("mint").expose_for_url().to_owned());
        }
        [out[0].clone(), out[1].clone(), out[2].clone()]
    });
    let o = format!("Origin: {}", origin(&review_url));
    let post = |token: &str| {
        curl(&[
            "-H",
            &o,
            "-d",
            &format!("link={token}&decision=approve&comment=x"),
            &review_url,
        ])
    };

    let (status, _, page) = curl(&[&format!("{review_url}?l={view}")]);
    assert_eq!(status, 200);
    assert!(
        page.contains("terraform_data.service") && !page.contains("<form"),
        "{page}"
    );
    for view in [view.as_str(), console.split_once("?l=").unwrap().1] {
        let (status, _, page) = post(view);
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("View only"), "{page}");
    }

    let (status, _, page) = post(&other_plan);
    assert_eq!(status, 200);
    assert!(page.contains("the plan has changed"), "{page}");

    let (status, _, page) = post(&expired);
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("expired"), "{page}");

    assert_eq!(
        approval_status(&stack, &id),
        "pending",
        "a link that must not decide did"
    );
}

/// Two of three approvers: the first approval (through the page) is counted and the gate keeps
/// waiting, showing "1 of 2"; the same person cannot count twice; the second distinct approver
/// completes it and only then does it apply. On the next deployment one rejection after one
/// approval fails the gate.
#[test]
fn two_distinct_approvals_complete_the_gate_and_one_rejection_fails_it() {
    let stack = Stack::up();
    let mut env = PROD_REQUIRED.to_vec();
    env.extend([
        "--approvers",
        "alice,bob,carol",
        "--four-eyes",
        "--required-approvals",
        "2",
    ]);
    stack.ok(&env);
    let listed = stack.ok(&["env", "list"]);
    assert!(listed.contains("required, 2 people"), "{listed}");
    // Bob's own queue (a chat bridge, say) receives his requests and nobody else's.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (sqs, bobs_queue, bobs_arn) = rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL").unwrap()).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let url = sqs
            .create_queue()
            .queue_name("bobs-inbox")
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        (sqs, url, arn)
    });
    let sub: Value = serde_json::from_str(&stack.ok(&[
        "approvers",
        "subscribe",
        "bob",
        "--sqs",
        &bobs_arn,
        "--output",
        "json",
    ]))
    .expect("json");
    assert_eq!(
        sub["filter_policy"],
        serde_json::json!({"approver": ["bob"]})
    );
    let out = stack.ferry(&["approvers", "subscribe", "bob", "--https", "http://plain"]);
    assert_eq!(out.status.code(), Some(1));

    stack.release_dir(
        &ferry_tests::repo_root().join("examples/hello-service"),
        "1.0.0",
    );
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", "alice"]);
    stack.wait_step(&id, "prod", "awaiting-approval");
    let mut messages = outbox(&stack, 2);
    messages.sort();
    let delivered = rt.block_on(async {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Two messages were published; wait for the one bob's filter lets through, then make
        // sure no second one follows.
        while Instant::now() < deadline {
            let out = sqs
                .receive_message()
                .queue_url(&bobs_queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            let empty = out.messages().is_empty();
            got.extend(
                out.messages()
                    .iter()
                    .map(|m| m.body().unwrap_or_default().to_owned()),
            );
            if !got.is_empty() && empty {
                break;
            }
        }
        got
    });
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let envelope: Value = serde_json::from_str(&delivered[0]).expect("SNS envelope");
    assert_eq!(envelope["MessageAttributes"]["approver"]["Value"], "bob");
    assert_eq!(
        link_in(envelope["Message"].as_str().unwrap()),
        link_in(&messages[0].2),
        "bob's queue got someone else's link"
    );
    let bob = link_in(&messages[0].2);
    let review_url = bob.split_once('?').unwrap().0.to_owned();
    let o = format!("Origin: {}", origin(&review_url));
    let token = bob.split_once("?l=").unwrap().1;

    // Bob approves on the page: counted, not yet decided.
    let (status, _, page) = curl(&[
        "-H",
        &o,
        "-d",
        &format!("link={token}&decision=approve&comment=fine"),
        &review_url,
    ]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("1 of 2 approvals"), "{page}");
    assert_eq!(approval_status(&stack, &id), "pending");
    let status_text = stack.ok(&["status", "hello-service"]);
    assert!(
        status_text.contains("1 of 2 approvals: bob"),
        "{status_text}"
    );
    let d = stack.json(&["deployment", &id]);
    assert_eq!(Stack::step(&d, "prod")["status"], "awaiting-approval");
    assert_eq!(
        Stack::step(&d, "prod")["approved_by"],
        serde_json::json!(["local:bob"])
    );
    let table = stack.ok(&["deployment", &id]);
    assert!(table.contains("1 of 2 approvals: bob"), "{table}");

    // Bob again (now from the CLI) is still one person.
    let out = stack.ferry(&["approve", &id, "--as", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already approved"), "{err}");
    assert_eq!(approval_status(&stack, &id), "pending");

    // `ferry approve --browser` mints a link only for a caller the rules allow.
    for (who, why) in [("alice", "four eyes"), ("dave", "not an approver")] {
        let out = stack.ferry(&["approve", &id, "--as", who, "--browser", "--print-url"]);
        assert_eq!(out.status.code(), Some(1), "a link was minted for {who}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
        assert!(out.stdout.is_empty());
    }
    // Carol is the second distinct approver, deciding in "her browser" ($BROWSER records the
    // link it was asked to open): the gate completes and the plan applies.
    let dir = tempfile::tempdir().unwrap();
    let opened = dir.path().join("opened");
    let browser = dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = stack
        .command(&["approve", &id, "--as", "carol", "--browser"])
        .env("BROWSER", &browser)
        .output()
        .expect("ferry");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("opened the review page") && err.contains("local:carol"),
        "{err}"
    );
    let link = std::fs::read_to_string(&opened).expect("the browser was opened");
    assert!(
        !err.contains("?l=") && !String::from_utf8_lossy(&out.stdout).contains("?l="),
        "the link was printed without --print-url"
    );
    let token = link.split_once("?l=").expect("a review link").1;
    let (status, _, page) = curl(&[
        "-H",
        &o,
        "-d",
        &format!("link={token}&decision=approve&comment=second"),
        &review_url,
    ]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Approved by local:carol (via ferry approve --browser)"),
        "{page}"
    );
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "succeeded", "{d:#}");
    let step = Stack::step(&d, "prod");
    assert_eq!(step["decided_by"], "local:carol");
    assert_eq!(
        step["approved_by"],
        serde_json::json!(["local:bob", "local:carol"])
    );
    let a = rt
        .block_on(stack.approval("hello-service", &id, "prod"))
        .expect("approval");
    assert_eq!(a.via.as_deref(), Some("ferry approve --browser"));
    assert_eq!(a.approvals[0].via.as_deref(), Some("email link"));
    let history = stack.json(&["history", "hello-service"])["history"].clone();
    assert_eq!(
        history[0]["decided_by"], "local:bob, local:carol",
        "{history:#}"
    );

    // Next deployment: one approval, then one rejection fails the gate.
    let id = stack.deploy(&["hello-service", "1.0.0", "--to", "prod", "--as", "alice"]);
    stack.wait_step(&id, "prod", "awaiting-approval");
    let out = stack.ok(&["approve", &id, "--as", "bob"]);
    assert!(out.contains("1 of 2 approvals: bob"), "{out}");
    let out = stack.ok(&["reject", &id, "--as", "carol", "--output", "json"]);
    let r: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(r["status"], "rejected", "{r:#}");
    let d = stack.wait_finished(&id);
    assert_eq!(d["status"], "failed", "{d:#}");
    assert_eq!(Stack::step(&d, "prod")["status"], "rejected", "{d:#}");
    assert_eq!(approval_status(&stack, &id), "rejected");
}
