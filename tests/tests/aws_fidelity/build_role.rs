//! The CodeBuild role: what the buildspec and terraform's S3 backend do, granted and no more.

use serde_json::Value;

use crate::cfn::{expr, names, one_or_many, only_resource_of, resources};
use crate::policy::{assert_least_privilege_shape, fmt_grants, grants_of, Grants};
use crate::read;

/// The shell variable name starting at `at`.
fn ident_at(s: &str, at: usize) -> &str {
    let end = s[at..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(s.len(), |n| at + n);
    &s[at..end]
}

/// IAM glob: does `pattern` (with `*`) cover every key `needed` stands for (its `*`s are any
/// value)?
fn covers(pattern: &str, needed: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(a), Some(b)) if a == b && *b != b'*' => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), needed.as_bytes())
}

/// ferry-build's S3 access in a build: (IAM action, key pattern), from its build-role.json.
fn helper_access() -> Vec<(String, String)> {
    let m: Value = serde_json::from_str(&read("functions/build-helper/build-role.json"))
        .expect("functions/build-helper/build-role.json");
    m["access"]
        .as_array()
        .expect("access")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().expect("action").to_owned(),
                a["key"].as_str().expect("key").to_owned(),
            )
        })
        .collect()
}

#[test]
fn build_role_json_lists_what_the_helpers_build_steps_call() {
    // The publishing custom resource's calls are the Lambda's (its iam.json), not the build's.
    let needed: std::collections::BTreeSet<String> =
        crate::iam_scan::needed_actions(&crate::root().join("functions/build-helper"))
            .into_iter()
            .filter(|(_, sites)| sites.iter().any(|s| !s.contains("publish")))
            .map(|(a, _)| a)
            .collect();
    let m: Value = serde_json::from_str(&read("functions/build-helper/build-role.json"))
        .expect("build-role.json");
    let listed: std::collections::BTreeSet<String> = m["access"]
        .as_array()
        .expect("access")
        .iter()
        .filter(|a| {
            !a["by"]
                .as_str()
                .unwrap_or_default()
                .starts_with("CodeBuild itself")
        })
        .map(|a| a["action"].as_str().expect("action").to_owned())
        .collect();
    println!("ferry-build's build steps call {needed:?}");
    assert!(
        needed.contains("s3:GetObject") && needed.contains("s3:PutObject"),
        "the scan is broken: {needed:?}"
    );
    assert_eq!(
        needed, listed,
        "functions/build-helper/build-role.json and the helper's calls differ"
    );
}

/// S3 operations a build performs: (IAM action, key pattern with `*` for variables).
fn buildspec_s3_needs() -> Vec<(String, String)> {
    let spec = read("buildspec/terraform.yml");
    let lines: Vec<&str> = spec.lines().collect();
    let mut out = Vec::new();
    let resolve = |mut s: String, upto: usize| -> String {
        // Local variables resolve to their nearest earlier assignment; $FERRY_* are inputs.
        for _ in 0..5 {
            if let Some(start) = s.find("$(") {
                let end = start + s[start..].find(')').expect("$(…)");
                let func = &s[start + 2..end];
                let def = lines
                    .iter()
                    .find(|l| l.trim_start().starts_with(&format!("{func}() {{")))
                    .unwrap_or_else(|| panic!("buildspec: no function {func}"));
                let echoed = def
                    .split("echo \"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .expect("echo");
                s.replace_range(start..=end, echoed);
                continue;
            }
            let Some(start) = s.find('$') else { break };
            let braced = s[start + 1..].starts_with('{');
            let name = ident_at(&s, start + 1 + usize::from(braced)).to_owned();
            let len = 1 + name.len() + if braced { 2 } else { 0 };
            assert!(!name.is_empty(), "buildspec: cannot resolve {s}");
            if name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                s.replace_range(start..start + len, "*");
                continue;
            }
            let assign = lines[..upto]
                .iter()
                .rev()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| {
                    panic!("buildspec: ${name} is never assigned before line {upto}")
                });
            s.replace_range(start..start + len, assign.trim_matches('"'));
        }
        assert!(!s.contains('$'), "buildspec: could not resolve {s}");
        s
    };
    // Everything else the build reads and writes in S3 is ferry-build's (functions/build-helper):
    // its manifest, held to the helper's code by the test below.
    assert!(
        !spec.contains("aws s3"),
        "buildspec: S3 access outside ferry-build; list it in functions/build-helper/build-role.json"
    );
    for a in helper_access() {
        out.push(a);
    }
    // Terraform's S3 backend (https://developer.hashicorp.com/terraform/language/backend/s3):
    // ListBucket on the bucket, Get/Put on the state key, and with use_lockfile Get/Put/Delete
    // on `<key>.tflock`.
    let backend_key = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| l.split("-backend-config=\"key=").nth(1).map(|k| (i, k)))
        .map(|(i, k)| resolve(k.split('"').next().unwrap().to_owned(), i))
        .expect("buildspec configures the S3 backend key");
    assert!(spec.contains("backend \"s3\""));
    out.push(("s3:ListBucket".into(), String::new()));
    out.push(("s3:GetObject".into(), backend_key.clone()));
    out.push(("s3:PutObject".into(), backend_key.clone()));
    if spec.contains("use_lockfile=true") {
        let lock = format!("{backend_key}.tflock");
        for a in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
            out.push((a.into(), lock.clone()));
        }
    }
    out
}

#[test]
fn build_role_grants_what_the_buildspec_and_terraform_backend_do() {
    let needs = buildspec_s3_needs();
    for (a, k) in &needs {
        println!(
            "buildspec needs {a} on {}",
            if k.is_empty() { "the bucket" } else { k }
        );
    }
    assert!(needs.iter().any(|(_, k)| k.starts_with("releases/")));
    assert!(needs
        .iter()
        .any(|(a, k)| a == "s3:PutObject" && k.starts_with("deployments/")));
    let (_, project) = only_resource_of("AWS::CodeBuild::Project");
    let role_id = expr(&project["Properties"]["ServiceRole"])
        .trim_start_matches("${")
        .trim_end_matches(".Arn}")
        .to_owned();
    let role = &resources()[&role_id];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    let docs: Vec<&Value> = one_or_many(&role["Properties"]["Policies"])
        .into_iter()
        .map(|p| &p["PolicyDocument"])
        .collect();
    let granted = grants_of(&docs, &role_id);
    assert_least_privilege_shape(&role_id, &granted);
    let bucket = format!("${{{}.Arn}}", names().bucket);
    let wanted: Vec<(String, String)> = needs
        .iter()
        .map(|(a, k)| {
            (
                a.clone(),
                if k.is_empty() {
                    bucket.clone()
                } else {
                    format!("{bucket}/{k}")
                },
            )
        })
        .collect();
    let s3: Vec<&(String, String)> = granted
        .iter()
        .filter(|(a, _)| a.starts_with("s3:"))
        .collect();
    for (a, r) in &wanted {
        assert!(
            s3.iter().any(|(ga, gr)| ga == a && covers(gr, r)),
            "{role_id}: nothing grants {a} on {r}\ngranted:\n{}",
            fmt_grants(&granted)
        );
    }
    for (ga, gr) in &s3 {
        // Object grants stay inside one top-level prefix (releases/, deployments/, state/).
        if let Some(key) = gr.strip_prefix(&format!("{bucket}/")) {
            let top = key.split('/').next().unwrap_or_default();
            assert!(
                !top.is_empty() && !top.contains('*') && key.len() > top.len(),
                "{role_id}: {ga} on {gr} is not confined to one prefix of the bucket"
            );
        }
        assert!(
            wanted.iter().any(|(a, r)| a == ga && covers(gr, r)),
            "{role_id}: {ga} on {gr} is not needed by the buildspec (least privilege)"
        );
    }
    // Build logs go to the project's log group and nowhere else.
    let group = expr(&project["Properties"]["LogsConfig"]["CloudWatchLogs"]["GroupName"]);
    let group_arn = format!("{}.Arn}}", group.trim_end_matches('}'));
    let logs: Grants = granted
        .iter()
        .filter(|(a, _)| a.starts_with("logs:"))
        .cloned()
        .collect();
    let want_logs: Grants = ["logs:CreateLogStream", "logs:PutLogEvents"]
        .into_iter()
        .map(|a| (a.to_owned(), group_arn.clone()))
        .collect();
    assert_eq!(logs, want_logs, "{role_id}: log permissions");
    let others: Vec<_> = granted
        .iter()
        .filter(|(a, _)| !a.starts_with("s3:") && !a.starts_with("logs:"))
        .collect();
    assert!(others.is_empty(), "{role_id}: unexpected grants {others:?}");
}
