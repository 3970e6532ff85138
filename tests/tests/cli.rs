//! The real `ferry` binary, end to end against `ferry local up` (moto + the pump + the real
//! register-release handler).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use ferry_tests::stack::Stack;
use ferry_tests::{repo_root, zips};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_zip(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn release_register_reject_and_list_through_the_local_stack() {
    let stack = Stack::up();
    // `up` again reuses the running stack.
    let again = stack.ferry(&["local", "up"]);
    assert!(
        stderr(&again).contains("already running"),
        "{}",
        stderr(&again)
    );

    // The example component, packaged by the CLI, registers.
    let example = repo_root().join("examples/hello-service");
    let zip = stack.dir.path().join("hello.zip");
    let out = stack.ferry(&[
        "package",
        example.to_str().unwrap(),
        "--out",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = stack.ferry(&["release", zip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("registered hello-service 1.0.0"),
        "{}",
        stdout(&out)
    );

    // Re-releasing the same bytes is fine (and says so); other bytes for the same version are
    // refused up front.
    let out = stack.ferry(&["release", zip.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("already registered with these bytes"),
        "{}",
        stdout(&out)
    );
    let other = stack.dir.path().join("other.zip");
    let out = stack.ferry(&[
        "package",
        example.to_str().unwrap(),
        "--out",
        other.to_str().unwrap(),
        "--commit",
        "abc",
    ]);
    assert!(out.status.success());
    // Refused before upload like registration would refuse it: exit 3, as a rejection.
    let out = stack.ferry(&["release", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("immutable"),
        "{err}"
    );

    // A bad manifest's reason is said once.
    let manifest = br#"{"schema_version":1,"component":"Bad_Name","version":"1.0.0"}"#;
    let bad = zips::zip_of(
        &[("ferry.json", manifest), ("main.tf", b"")],
        zip::CompressionMethod::Stored,
    );
    let bad = write_zip(stack.dir.path(), "bad-manifest.zip", &bad);
    let out = stack.ferry(&["release", &bad]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out).matches("invalid component name").count(),
        1,
        "{}",
        stderr(&out)
    );

    // A bad zip is refused locally with one error line and nothing uploaded.
    let bad = write_zip(stack.dir.path(), "bad.zip", b"not a zip");
    let out = stack.ferry(&["release", &bad]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a zip"));

    // Semver ordering, with a pre-release.
    for v in ["1.9.0", "1.10.0-rc.1", "1.10.0"] {
        let p = write_zip(
            stack.dir.path(),
            &format!("{v}.zip"),
            &zips::release("ordering", v),
        );
        let out = stack.ferry(&["release", &p]);
        assert!(out.status.success(), "{v}: {}", stderr(&out));
    }
    let listed = stack.json(&["releases", "ordering"]);
    let versions: Vec<&str> = listed["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.10.0", "1.10.0-rc.1", "1.9.0"]);

    // A bad upload that bypasses the CLI's checks is rejected by the Lambda and shown.
    let aws_env: Vec<(String, String)> = stack.env.clone();
    let key = "releases/ordering/2.0.0.zip";
    let body = zips::zip_of(
        &[("main.tf", zips::MAIN_TF)],
        zip::CompressionMethod::Deflated,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let endpoint = &aws_env
            .iter()
            .find(|(k, _)| k == "AWS_ENDPOINT_URL")
            .unwrap()
            .1;
        let bucket = &aws_env
            .iter()
            .find(|(k, _)| k == "FERRY_ARTIFACT_BUCKET")
            .unwrap()
            .1;
        let sdk = ferry_shared::aws::local_sdk_config(endpoint).await;
        let s3 = ferry_shared::aws::s3_client(&sdk);
        use base64::Engine as _;
        use sha2::Digest;
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .checksum_sha256(
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body)),
            )
            .body(body.into())
            .send()
            .await
            .unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let rejection = loop {
        let listed = stack.json(&["releases", "ordering"]);
        if let Some(r) = listed["rejections"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
        {
            break r;
        }
        assert!(Instant::now() < deadline, "rejection never recorded");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rejection["s3_key"], key);
    assert_eq!(rejection["kind"], "missing-manifest");
    let table = stdout(&stack.ferry(&["releases", "ordering"]));
    assert!(
        table.contains("rejected uploads") && table.contains("missing-manifest"),
        "{table}"
    );

    let down = stack.ferry(&["local", "down"]);
    assert!(stderr(&down).contains("stopped"), "{}", stderr(&down));
    let env = stack.ferry(&["local", "env"]);
    assert_eq!(env.status.code(), Some(1));
}

#[test]
fn stack_outputs_supply_resource_names() {
    let stack = Stack::up();
    let table = stack.var("FERRY_TABLE").unwrap().to_owned();
    let bucket = stack.var("FERRY_ARTIFACT_BUCKET").unwrap().to_owned();
    let template = serde_json::json!({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TableName": {"Value": table},
            "ArtifactBucketName": {"Value": bucket},
            "StateMachineArn": {"Value": stack.var("FERRY_STATE_MACHINE_ARN").unwrap()},
            "ApprovalUrl": {"Value": stack.var("FERRY_APPROVAL_URL").unwrap()}
        }
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL").unwrap()).await;
        aws_sdk_cloudformation::Client::new(&sdk)
            .create_stack()
            .stack_name("ferry-prod")
            .template_body(template.to_string())
            .send()
            .await
            .expect("create stack in moto");
    });
    let run = |args: &[&str]| {
        let mut cmd = stack.command(args);
        for var in [
            "FERRY_TABLE",
            "FERRY_ARTIFACT_BUCKET",
            "FERRY_STATE_MACHINE_ARN",
            "FERRY_APPROVAL_URL",
        ] {
            cmd.env_remove(var);
        }
        cmd.output().unwrap()
    };
    let out = run(&["env", "list"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "names came from somewhere: {}",
        stdout(&out)
    );
    let out = run(&[
        "--stack",
        "ferry-prod",
        "env",
        "put",
        "dev",
        "--order",
        "1",
        "--approval",
        "none",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["env", "list", "--stack=ferry-prod", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"dev\""));
    let out = run(&["--stack", "no-such-stack", "env", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no-such-stack"), "{}", stderr(&out));
}

#[test]
fn commands_without_aws_resources_ignore_the_stack_and_need_no_credentials() {
    let stack = Stack::up();
    let run = |args: &[&str]| {
        let mut cmd = stack.command(args);
        // A stack that does not exist, and no way to reach AWS or find credentials.
        cmd.env("FERRY_STACK", "nope")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, _) in &stack.env {
            if k.starts_with("AWS_") || k == "FERRY_TABLE" {
                cmd.env_remove(k);
            }
        }
        cmd.output().unwrap()
    };
    let out = run(&["--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Usage: ferry"), "{}", stdout(&out));

    let zip = stack.dir.path().join("nostack.zip");
    let example = repo_root().join("examples/hello-service");
    let out = run(&[
        "package",
        example.to_str().unwrap(),
        "--out",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(zip.exists());

    let out = run(&["local", "env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("export FERRY_TABLE="),
        "{}",
        stdout(&out)
    );

    // -o takes any case; FERRY_OUTPUT sets the default, and the flag still wins.
    let out = run(&["local", "env", "-o", "JSON"]);
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON for -o JSON");
    assert!(env["table"].is_string(), "{env:#}");
    let out = stack
        .command(&["local", "env"])
        .env("FERRY_OUTPUT", "json")
        .output()
        .unwrap();
    let env: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON for FERRY_OUTPUT=json");
    assert!(env["table"].is_string(), "{env:#}");
    let out = stack
        .command(&["local", "env", "--output", "table"])
        .env("FERRY_OUTPUT", "json")
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("export FERRY_TABLE="),
        "{}",
        stdout(&out)
    );

    // A command that needs the table (none named) does read the stack, and names it.
    let out = run(&["env", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

#[test]
fn missing_resources_say_how_to_provide_them() {
    let stack = Stack::up();
    let mut cmd = stack.command(&["env", "list"]);
    cmd.env_remove("FERRY_TABLE");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for hint in ["--table", "FERRY_TABLE", "--stack", "ferry local up"] {
        assert!(err.contains(hint), "no {hint} in: {err}");
    }
}

#[test]
fn a_registration_fault_lands_in_the_failed_list() {
    let stack = Stack::up();
    // The fault: the table registration writes to is gone, so every attempt fails.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL").unwrap()).await;
        aws_sdk_dynamodb::Client::new(&sdk)
            .delete_table()
            .table_name(stack.var("FERRY_TABLE").unwrap())
            .send()
            .await
            .expect("delete table");
        ferry_shared::aws::s3_client(&sdk)
            .put_object()
            .bucket(stack.var("FERRY_ARTIFACT_BUCKET").unwrap())
            .key("releases/faulty/1.0.0.zip")
            .body(zips::release("faulty", "1.0.0").into())
            .send()
            .await
            .expect("upload");
    });
    // Retried like Lambda's asynchronous invocations, then kept: never dropped silently.
    let deadline = Instant::now() + Duration::from_secs(90);
    let failed = loop {
        let listed = stack.json(&["releases", "faulty", "--failed"])["failures"].clone();
        if listed.as_array().is_some_and(|a| !a.is_empty()) {
            break listed;
        }
        assert!(Instant::now() < deadline, "no failed registration listed");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        failed[0]["keys"][0], "releases/faulty/1.0.0.zip",
        "{failed:#}"
    );
    assert_eq!(failed[0]["attempts"], 3, "{failed:#}");
    assert!(
        failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Ferry.Transient")),
        "{failed:#}"
    );
    let table = stdout(&stack.ferry(&["releases", "faulty", "--failed"]));
    assert!(table.contains("releases/faulty/1.0.0.zip"), "{table}");
    // Other components' failures are not this one's.
    assert_eq!(
        stack.json(&["releases", "other", "--failed"]),
        serde_json::json!({ "failures": [] })
    );
}

#[test]
fn an_upload_never_replaces_bytes_already_at_the_key() {
    let stack = Stack::up();
    // Bytes already at the version's key (an upload that was rejected: no verified checksum).
    let first = zips::release("once", "1.0.0");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(stack.var("AWS_ENDPOINT_URL").unwrap()).await;
        ferry_shared::aws::s3_client(&sdk)
    });
    let bucket = stack.var("FERRY_ARTIFACT_BUCKET").unwrap().to_owned();
    rt.block_on(
        s3.put_object()
            .bucket(&bucket)
            .key("releases/once/1.0.0.zip")
            .body(first.clone().into())
            .send(),
    )
    .expect("upload");

    // `ferry release` of other bytes for that version is refused at the door, not written.
    let manifest = zips::manifest("once", "1.0.0");
    let other = zips::zip_of(
        &[("ferry.json", &manifest), ("main.tf", b"# other bytes\n")],
        zip::CompressionMethod::Stored,
    );
    let path = write_zip(stack.dir.path(), "once-1.0.0.zip", &other);
    let out = stack.ferry(&["release", &path]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let stored = rt.block_on(async {
        s3.get_object()
            .bucket(&bucket)
            .key("releases/once/1.0.0.zip")
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec()
    });
    assert_eq!(stored, first, "the bytes at the key were replaced");
}

/// `ferry package` of the same directory gives the same bytes every time (no clock in the zip),
/// records a build time only from SOURCE_DATE_EPOCH, and never overwrites without --force.
#[test]
fn packages_are_reproducible_and_never_overwritten_by_accident() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let example = repo_root().join("examples/hello-service");
    let package = |out: &Path, extra: &[&str], epoch: Option<&str>| {
        let mut cmd = std::process::Command::new(ferry_tests::workspace_bin("ferry"));
        cmd.args([
            "package",
            example.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH");
        if let Some(e) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", e);
        }
        cmd.output().expect("ferry")
    };
    let sha = |p: &Path| hex::encode(Sha256::digest(std::fs::read(p).unwrap()));
    let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
    assert!(package(&a, &[], None).status.success());
    assert!(package(&b, &[], None).status.success());
    assert_eq!(sha(&a), sha(&b), "two packages of one directory differ");
    // No clock anywhere: every entry carries zip's epoch, the manifest no build time, and
    // permissions are only 644/755 whatever the umask.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
    for i in 0..zip.len() {
        let e = zip.by_index(i).unwrap();
        let t = e.last_modified().expect("a timestamp");
        assert_eq!(
            (t.year(), t.month(), t.day(), t.hour(), t.minute()),
            (1980, 1, 1, 0, 0),
            "{}",
            e.name()
        );
        assert!(
            matches!(e.unix_mode(), Some(0o100644 | 0o100755 | 0o644 | 0o755)),
            "{} {:o}",
            e.name(),
            e.unix_mode().unwrap_or(0)
        );
    }
    let mut manifest = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("ferry.json").unwrap(), &mut manifest).unwrap();
    assert!(!manifest.contains("created_at"), "{manifest}");

    let out = package(&a, &[], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already exists; pass --force"),
        "{}",
        stderr(&out)
    );
    assert!(package(&a, &["--force"], None).status.success());
    assert_eq!(sha(&a), sha(&b));

    let (c, d) = (dir.path().join("c.zip"), dir.path().join("d.zip"));
    assert!(package(&c, &[], Some("1767225600")).status.success());
    assert!(package(&d, &[], Some("1767225600")).status.success());
    assert_eq!(sha(&c), sha(&d));
    assert_ne!(sha(&c), sha(&a), "SOURCE_DATE_EPOCH is recorded");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&c).unwrap()).unwrap();
    let mut manifest = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("ferry.json").unwrap(), &mut manifest).unwrap();
    assert!(
        manifest.contains("\"created_at\": \"2026-01-01T00:00:00Z\""),
        "{manifest}"
    );
}

/// Completions generate for every shell, and a reader that goes away early (`| head`) ends
/// `ferry` quietly — killed by SIGPIPE like other Unix tools, never a panic.
#[test]
fn completions_generate_and_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let ferry = ferry_tests::workspace_bin("ferry");
    for (shell, marker) in [
        ("bash", "_ferry()"),
        ("zsh", "#compdef ferry"),
        ("fish", "complete -c ferry"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = std::process::Command::new(&ferry)
            .args(["completion", shell])
            .output()
            .expect("ferry");
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(
            script.contains(marker) && script.contains("rollback"),
            "{shell}"
        );
    }

    let mut child = std::process::Command::new(&ferry)
        .args(["completion", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ferry");
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's read end is dropped here: ferry's next writes fail.
    let out = child.wait_with_output().expect("wait");
    assert!(
        // 13 is SIGPIPE on every Unix.
        out.status.success() || out.status.signal() == Some(13),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// When AWS cannot be reached or asked, the error is one line in words with what to do.
#[test]
fn unreachable_stack_missing_region_credentials_and_stack_are_said_in_words() {
    let home = tempfile::tempdir().unwrap();
    let ferry = ferry_tests::workspace_bin("ferry");
    let run = |env: &[(&str, String)], args: &[&str]| {
        let out = std::process::Command::new(&ferry)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(args)
            .output()
            .expect("ferry");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line, not a dump: {err}");
        assert!(
            !err.contains("DispatchFailure") && !err.contains("aws_request_id"),
            "{err}"
        );
        err
    };
    let keys = [
        ("AWS_ACCESS_KEY_ID", "x".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "y".to_owned()),
    ];
    let closed = format!("http://127.0.0.1:{}", ferry_tests::free_port());
    let mut down = keys.to_vec();
    down.extend([
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", closed.clone()),
        ("FERRY_TABLE", "t".to_owned()),
    ]);
    let err = run(&down, &["status"]);
    assert!(
        err.contains(&closed) && err.contains("ferry local up"),
        "{err}"
    );

    let mut no_region = keys.to_vec();
    no_region.push(("FERRY_TABLE", "t".to_owned()));
    assert!(run(&no_region, &["status"]).contains("no AWS region is set"));
    // --region is the AWS CLI's: with it the same call gets as far as the network.
    no_region.push(("AWS_ENDPOINT_URL", closed.clone()));
    assert!(run(&no_region, &["--region", "eu-west-1", "status"]).contains("nothing answers"));

    let no_keys = [
        ("AWS_REGION", "us-east-1".to_owned()),
        ("FERRY_TABLE", "t".to_owned()),
    ];
    assert!(run(&no_keys, &["status"]).contains("no AWS credentials were found"));

    let mut moto = keys.to_vec();
    moto.extend([
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", ferry_tests::moto().to_owned()),
    ]);
    let err = run(&moto, &["--stack", "nope", "status"]);
    assert!(
        err.starts_with("error: stack nope does not exist in us-east-1"),
        "{err}"
    );

    // A directory is not a release; the hint says how to make one.
    let example = repo_root().join("examples/hello-service");
    let err = run(&moto, &["release", example.to_str().unwrap()]);
    assert!(
        err.contains("is a directory") && err.contains("ferry package"),
        "{err}"
    );
}

/// `ferry` alone is a usage error (help on stderr, exit 2); `--help` and `--version` are
/// answers (stdout, exit 0), and `--version` belongs to ferry alone.
#[test]
fn no_command_is_a_usage_error_and_help_and_version_are_answers() {
    let ferry = |args: &[&str]| {
        std::process::Command::new(ferry_tests::workspace_bin("ferry"))
            .args(args)
            .output()
            .expect("ferry")
    };
    let out = ferry(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: ferry") && out.stdout.is_empty());
    let out = ferry(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Usage: ferry"));
    let out = ferry(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("ferry "), "{}", stdout(&out));
    // What `ferry local up` puts in a shell can be taken out again, stack or not.
    let out = ferry(&["local", "env", "--unset"]);
    assert_eq!(out.status.code(), Some(0));
    for v in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "FERRY_TABLE",
        "FERRY_LOCAL",
    ] {
        assert!(
            stdout(&out).lines().any(|l| l == format!("unset {v}")),
            "{v}: {}",
            stdout(&out)
        );
    }
    let out = ferry(&["package", "--help"]);
    assert!(
        stdout(&out).contains("--set-version") && !stdout(&out).contains("--version "),
        "{}",
        stdout(&out)
    );
}
