//! What people and scripts read, through the real binary on the local stack: tables fitted to
//! an 80-column terminal (a real PTY, `script`), plain tables for pipes, and `--output json` in
//! exactly the shapes docs/json.md documents.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_tests::repo_root;
use ferry_tests::stack::Stack;
use serde_json::Value;

/// `ferry ARGS…` on a terminal `cols` wide: a PTY from util-linux `script`, `COLUMNS` set as a
/// shell sets it. Returns what the terminal showed, lines without `\r`.
fn on_terminal(stack: &Stack, args: &[&str], cols: u16) -> String {
    let inner = stack.command(args);
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(&inner.get_program().to_string_lossy());
    for a in inner.get_args() {
        line.push(' ');
        line.push_str(&quote(&a.to_string_lossy()));
    }
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("stty cols {cols} rows 50; {line}"),
        "/dev/null",
    ])
    .env_clear()
    .env("COLUMNS", cols.to_string())
    .env("TERM", "xterm")
    .stdin(std::process::Stdio::null());
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("running script(1)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "ferry {args:?} on a terminal: {text}");
    text
}

/// How a terminal shows a long id: start and end, an ellipsis between (the CLI's `shorten`).
fn short(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 20 {
        return id.to_owned();
    }
    let head: String = chars[..10].iter().collect();
    let tail: String = chars[chars.len() - 9..].iter().collect();
    format!("{head}…{tail}")
}

/// A table as an 80-column terminal shows it: no line longer than 80, the id `id` (when given)
/// never split — every line showing its start shows it whole or shortened — and `headers`
/// whole on one line.
fn fits_80(stack: &Stack, args: &[&str], id: Option<&str>, headers: &[&str]) -> String {
    let text = on_terminal(stack, args, 80);
    for l in text.lines() {
        assert!(
            l.chars().count() <= 80,
            "ferry {args:?}: a line of {} columns:\n{text}",
            l.chars().count()
        );
        assert!(
            !l.contains('\u{1b}'),
            "ferry {args:?}: escapes on a plain terminal: {l:?}"
        );
    }
    if let Some(id) = id {
        // Longer than the shortened form's start: only a whole id shows this much of it.
        let head: String = id.chars().take(16).collect();
        assert!(
            text.contains(&short(id)) || text.contains(id),
            "ferry {args:?}: no id:\n{text}"
        );
        for l in text.lines().filter(|l| l.contains(&head)) {
            assert!(
                l.contains(id) || l.contains(&short(id)),
                "ferry {args:?}: id split over lines:\n{text}"
            );
        }
    }
    for h in headers {
        assert!(
            text.lines().any(|l| l.contains(h)),
            "ferry {args:?}: header {h} split or missing:\n{text}"
        );
    }
    text
}

/// A piped table: no box drawing, no escapes, tab-separated cells.
fn plain(stack: &Stack, args: &[&str], header: &str) -> String {
    let text = stack.ok(args);
    assert!(
        !text.contains([
            '─', '│', '╭', '╮', '╰', '╯', '┌', '┐', '└', '┘', '═', '║', '\u{1b}'
        ]),
        "ferry {args:?} piped:\n{text}"
    );
    assert!(
        text.contains(header),
        "ferry {args:?} piped, no {header:?}:\n{text}"
    );
    text
}

/// The documented shapes: `### ferry …` headings each followed by a ```json block.
fn documented() -> BTreeMap<String, Value> {
    let doc = std::fs::read_to_string(repo_root().join("docs/json.md")).expect("docs/json.md");
    let mut shapes = BTreeMap::new();
    let mut heading = None;
    let mut block: Option<String> = None;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = Some(h.trim().trim_matches('`').to_owned());
        } else if line.trim() == "```json" {
            block = Some(String::new());
        } else if line.trim() == "```" && block.is_some() {
            let text = block.take().unwrap_or_default();
            let h = heading.take().expect("a json block under a ### heading");
            let v = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("docs/json.md, {h}: not JSON: {e}"));
            shapes.insert(h, v);
        } else if let Some(b) = block.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    shapes
}

/// Where `actual` differs from the documented `doc`: keys exactly the documented ones at every
/// level (a `"<name>"` key stands for any key), array items like the documented first item,
/// scalars of the documented type or null; timestamps only in RFC 3339 under `…_at` keys.
fn differences(doc: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    match (doc, actual) {
        (Value::Object(d), Value::Object(a)) => {
            if let Some((k, each)) = d.iter().find(|(k, _)| k.starts_with('<')) {
                let _ = k;
                for (k, v) in a {
                    differences(each, v, &format!("{at}.{k}"), out);
                }
                return;
            }
            for k in d.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{at}.{k}: documented, missing"));
            }
            for (k, v) in a {
                match d.get(k) {
                    None => out.push(format!("{at}.{k}: present, not documented")),
                    Some(dv) => differences(dv, v, &format!("{at}.{k}"), out),
                }
                if let Value::String(s) = v {
                    let stamp = chrono::DateTime::parse_from_rfc3339(s).is_ok();
                    if stamp != k.ends_with("_at") {
                        out.push(format!(
                            "{at}.{k} = {s:?}: timestamps, and only they, end in _at"
                        ));
                    }
                }
                if !k
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    out.push(format!("{at}.{k}: not snake_case"));
                }
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            if let Some(first) = d.first() {
                for (i, v) in a.iter().enumerate() {
                    differences(first, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (d, a) => out.push(format!("{at}: documented {d}, got {a}")),
    }
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn tables_fit_80_columns_pipes_get_plain_text_and_json_has_the_documented_shapes() {
    let stack = Stack::up();
    let shapes = documented();
    let mut seen: BTreeMap<&str, Value> = BTreeMap::new();
    let mut json = |heading: &'static str, args: &[&str]| -> Value {
        let v = stack.json(args);
        seen.insert(heading, v.clone());
        v
    };

    json(
        "ferry env put",
        &[
            "env",
            "put",
            "staging",
            "--order",
            "1",
            "--approval",
            "none",
        ],
    );
    stack.ok(&[
        "env",
        "put",
        "prod",
        "--order",
        "2",
        "--approval",
        "required",
        "--four-eyes",
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = dir.path().join("hello-1.0.0.zip");
    let zip = zip.to_str().unwrap_or_default();
    let example = repo_root().join("examples/hello-service");
    json(
        "ferry package",
        &[
            "package",
            example.to_str().unwrap_or_default(),
            "--set-version",
            "1.0.0",
            "--out",
            zip,
        ],
    );
    json("ferry release", &["release", zip]);
    let d = json(
        "ferry deploy",
        &[
            "deploy",
            "hello-service",
            "1.0.0",
            "--to",
            "staging,prod",
            "--as",
            "alice",
        ],
    );
    let id = d["id"].as_str().expect("deployment id").to_owned();
    stack.wait_step(&id, "prod", "awaiting-approval");

    // A refused upload, so the rejections list has an item to check.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        stack
            .s3()
            .await
            .put_object()
            .bucket(stack.bucket())
            .key("releases/hello-service/9.9.9.zip")
            .body(b"not a zip at all".to_vec().into())
            .send()
            .await
            .expect("uploading garbage")
    });
    wait_for("the rejection", Duration::from_secs(60), || {
        stack.json(&["releases", "hello-service"])["rejections"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    });

    // Tables on an 80-column terminal.
    let status = fits_80(
        &stack,
        &["status"],
        Some(&id),
        &["ENVIRONMENT", "PENDING APPROVAL"],
    );
    assert!(
        status.contains(&format!("awaiting approval in prod: deployment {id}")),
        "{status}"
    );
    fits_80(
        &stack,
        &["deployment", &id],
        Some(&id),
        &["ENVIRONMENT", "STATUS", "PLAN"],
    );
    fits_80(
        &stack,
        &["deployments"],
        Some(&id),
        &["DEPLOYMENT", "STATUS"],
    );
    fits_80(
        &stack,
        &["approvals"],
        Some(&id),
        &["DEPLOYMENT", "ENVIRONMENT", "PLAN"],
    );
    fits_80(
        &stack,
        &["releases", "hello-service"],
        None,
        &["VERSION", "SHA-256", "REASON"],
    );
    fits_80(
        &stack,
        &["env", "list"],
        None,
        &["ORDER", "ENVIRONMENT", "APPROVAL", "APPROVERS"],
    );
    // --wide: every id whole, however narrow the terminal.
    let wide = on_terminal(&stack, &["deployments", "--wide"], 80);
    assert!(wide.contains(&id), "{wide}");

    // Piped: plain, tab-separated, every id whole.
    let piped = plain(&stack, &["status"], "ENVIRONMENT\tVERSION\t");
    assert!(piped.contains(&id), "{piped}");
    plain(&stack, &["deployment", &id], "ENVIRONMENT\tSTATUS\t");
    plain(&stack, &["env", "list"], "ORDER\tENVIRONMENT\t");
    let piped = plain(&stack, &["deployments"], "CREATED\tDEPLOYMENT\t");
    assert!(piped.contains(&id), "{piped}");

    json("ferry status", &["status"]);
    json("ferry deployment", &["deployment", &id]);
    json("ferry deployments", &["deployments"]);
    json("ferry approvals", &["approvals"]);
    json(
        "ferry approve",
        &["approve", &id, "--as", "bob", "--comment", "fine"],
    );
    let done = stack.wait_finished(&id);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    fits_80(
        &stack,
        &["history", "hello-service"],
        Some(&id),
        &["WHEN", "ENVIRONMENT", "OUTCOME"],
    );
    plain(&stack, &["history", "hello-service"], "WHEN\tENVIRONMENT\t");
    json("ferry deployment", &["deployment", &id]);
    json("ferry history", &["history", "hello-service"]);
    json("ferry components", &["components"]);
    json("ferry releases", &["releases", "hello-service"]);
    json("ferry env list", &["env", "list"]);
    json(
        "ferry freeze",
        &[
            "freeze",
            "prod",
            "--reason",
            "quarter close",
            "--as",
            "carol",
        ],
    );
    json("ferry env show", &["env", "show", "prod"]);
    json("ferry unfreeze", &["unfreeze", "prod", "--as", "carol"]);
    json("ferry drift", &["drift"]);
    json("ferry local env", &["local", "env"]);
    stack.ok(&[
        "env",
        "put",
        "scratch",
        "--order",
        "9",
        "--approval",
        "none",
    ]);
    json("ferry env delete", &["env", "delete", "scratch"]);

    // Waiting on a terminal: a spinner with where each environment is, and a timed line per
    // step reached; piped, the same lines and no drawing.
    let followed = on_terminal(
        &stack,
        &[
            "plan",
            "hello-service",
            "1.0.0",
            "--env",
            "staging",
            "--wait",
        ],
        80,
    );
    assert!(followed.contains("following hello-servic"), "{followed}");
    // "12:00:03 staging …" somewhere (a terminal's line also holds the spinner's redraws).
    let stamped = |text: &str| {
        text.match_indices(" staging ").any(|(i, _)| {
            let b = text.as_bytes();
            i >= 8 && {
                let t = &b[i - 8..i];
                t[2] == b':' && t[5] == b':' && t.iter().filter(|c| c.is_ascii_digit()).count() == 6
            }
        })
    };
    assert!(stamped(&followed), "no timed step line: {followed}");
    let piped = stack.ferry(&[
        "plan",
        "hello-service",
        "1.0.0",
        "--env",
        "staging",
        "--wait",
    ]);
    let piped_err = String::from_utf8_lossy(&piped.stderr);
    assert!(
        stamped(&piped_err) && !piped_err.contains('\u{1b}'),
        "{piped_err}"
    );
    assert!(
        !piped_err.contains("following"),
        "a spinner on a pipe: {piped_err}"
    );

    // A large release shows its bytes being hashed and sent.
    let big = dir.path().join("big");
    std::fs::create_dir(&big).expect("mkdir");
    for f in ["ferry.json", "main.tf"] {
        std::fs::copy(example.join(f), big.join(f)).expect("copying the example");
    }
    // Incompressible (xorshift), so the zip stays above the size that gets a bar.
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let noise: Vec<u8> = (0..9 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(big.join("blob.bin"), noise).expect("writing 9 MiB");
    let big_zip = dir.path().join("big.zip");
    let big_zip = big_zip.to_str().unwrap_or_default();
    stack.ok(&[
        "package",
        big.to_str().unwrap_or_default(),
        "--set-version",
        "2.0.0",
        "--out",
        big_zip,
    ]);
    let released = on_terminal(&stack, &["release", big_zip], 80);
    assert!(
        released.contains("hashing big.zip") && released.contains("uploading big.zip"),
        "{released}"
    );
    assert!(
        released.contains("registered hello-service 2.0.0"),
        "{released}"
    );

    let mut wrong = Vec::new();
    for (heading, actual) in &seen {
        match shapes.get(*heading) {
            None => wrong.push(format!(
                "{heading}: not in docs/json.md; it prints\n{actual:#}"
            )),
            Some(doc) => {
                let mut out = Vec::new();
                differences(doc, actual, "", &mut out);
                if !out.is_empty() {
                    wrong.push(format!(
                        "{heading}: {}\nit prints\n{actual:#}",
                        out.join("; ")
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "JSON shapes differ from docs/json.md:\n\n{}",
        wrong.join("\n\n")
    );
}
