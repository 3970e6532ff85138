//! buildspec/terraform.yml run by the local runner with real terraform against moto_server:
//! plan → plan files and summary in S3, apply of the approved plan → state in S3, and every
//! refusal (wrong plan hash, wrong release hash, unsafe zip, failing terraform, a held state
//! lock), each leaving its one-line reason in `deployments/<id>/<env>/<action>-failure.txt`.

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::{runner_with, sha256_hex, wait, zip_bytes, Moto};
use ferry_codebuild::{Build, BuildRunner, StartBuild, StatusType};

const DEADLINE: Duration = Duration::from_secs(300);
const PROJECT: &str = "ferry-terraform";

const MAIN_TF: &str = r#"
variable "environment" { type = string }
variable "component" { type = string }
variable "release_version" { type = string }

resource "terraform_data" "marker" {
  input = "${var.component}-${var.release_version}-${var.environment}"
}

output "marker" { value = terraform_data.marker.output }
"#;

const FAILING_TF: &str = r#"
variable "environment" { type = string }

resource "terraform_data" "guarded" {
  input = var.environment
  lifecycle {
    precondition {
      condition     = var.environment == "never"
      error_message = "ferry test: this release fails on purpose"
    }
  }
}
"#;

/// One moto, one bucket, one runner per test: tests run in parallel without sharing state.
struct Stack {
    moto: Moto,
    s3: aws_sdk_s3::Client,
    bucket: String,
    runner: BuildRunner,
    _dir: tempfile::TempDir,
}

impl Stack {
    async fn new() -> Stack {
        let moto = Moto::start();
        let s3 = moto.s3().await;
        let bucket = ferry_shared::names::unique("ferry-artifacts");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        // Versioned, as the deployed bucket is: builds download the registered version.
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("enable versioning");
        let env = moto.build_env();
        let (runner, dir) = runner_with(|c| {
            c.base_env.extend(env);
        });
        let buildspec = common::workspace_root().join("buildspec/terraform.yml");
        runner
            .register_project(
                PROJECT,
                buildspec,
                [("FERRY_ARTIFACT_BUCKET", bucket.as_str())],
            )
            .expect("register project");
        Stack {
            moto,
            s3,
            bucket,
            runner,
            _dir: dir,
        }
    }

    /// Uploads `body` and returns the object version S3 gave it.
    async fn put(&self, key: &str, body: Vec<u8>) -> String {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put")
            .version_id
            .expect("versioned bucket")
    }

    /// The one-line reason a failed build left for `deployment`'s `action` in dev.
    async fn failure(&self, deployment: &str, action: &str) -> String {
        let key = format!("deployments/{deployment}/dev/{action}-failure.txt");
        let bytes = self
            .get(&key)
            .await
            .unwrap_or_else(|| panic!("no failure reason at {key}"));
        let text = String::from_utf8(bytes).expect("utf8 reason");
        assert_eq!(text.trim_end().lines().count(), 1, "not one line: {text:?}");
        text.trim_end().to_owned()
    }

    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(
            out.body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .to_vec(),
        )
    }

    /// Uploads a release zip and returns its SHA-256.
    async fn release(&self, component: &str, version: &str, zip: Vec<u8>) -> String {
        let sha = sha256_hex(&zip);
        self.put(&format!("releases/{component}/{version}.zip"), zip)
            .await;
        sha
    }

    async fn build(&self, vars: &[(&str, &str)]) -> (Build, String) {
        let mut request = StartBuild::new(PROJECT);
        for (k, v) in vars {
            request = request.env(*k, *v);
        }
        let started = self.runner.start_build(request).await.expect("start build");
        let build = wait(&self.runner, &started.id, DEADLINE).await;
        let log = self.runner.build_log(&build.id).expect("log");
        (build, log)
    }
}

fn vars<'a>(
    action: &'a str,
    c: &'a str,
    v: &'a str,
    deployment: &'a str,
    release_sha: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("FERRY_ACTION", action),
        ("FERRY_COMPONENT", c),
        ("FERRY_VERSION", v),
        ("FERRY_ENVIRONMENT", "dev"),
        ("FERRY_DEPLOYMENT_ID", deployment),
        ("FERRY_RELEASE_SHA256", release_sha),
    ]
}

fn good_release() -> Vec<u8> {
    zip_bytes(&[
        (
            "ferry.json",
            br#"{"schema_version":1,"component":"app","version":"1.0.0","terraform_dir":"infra"}"#,
            0o644,
        ),
        ("infra/", b"", 0o755 | 0o040000),
        ("infra/main.tf", MAIN_TF.as_bytes(), 0o644),
    ])
}

#[tokio::test]
async fn plan_then_apply_only_the_approved_plan() {
    let stack = Stack::new().await;
    let sha = stack.release("app", "1.0.0", good_release()).await;
    let deployment = "d-1";
    let prefix = format!("deployments/{deployment}/dev");

    let (plan, log) = stack
        .build(&vars("plan", "app", "1.0.0", deployment, &sha))
        .await;
    assert_eq!(
        plan.build_status,
        StatusType::Succeeded,
        "plan failed:\n{log}"
    );
    let plan_bytes = stack
        .get(&format!("{prefix}/plan.tfplan"))
        .await
        .expect("plan.tfplan in S3");
    let plan_sha = sha256_hex(&plan_bytes);
    let summary: serde_json::Value = serde_json::from_slice(
        &stack
            .get(&format!("{prefix}/plan-summary.json"))
            .await
            .expect("summary"),
    )
    .expect("summary json");
    assert_eq!(summary["add"], 1, "{summary}");
    assert_eq!(summary["change"], 0);
    assert_eq!(summary["destroy"], 0);
    assert_eq!(summary["replace"], 0);
    assert_eq!(summary["no_changes"], false);
    assert_eq!(summary["resources"][0]["address"], "terraform_data.marker");
    assert_eq!(summary["resources"][0]["actions"][0], "create");
    assert_eq!(summary["plan_sha256"], plan_sha.as_str());
    let sha_file = stack
        .get(&format!("{prefix}/plan.sha256"))
        .await
        .expect("plan.sha256");
    assert_eq!(String::from_utf8_lossy(&sha_file).trim(), plan_sha);
    assert_eq!(plan.exported("FERRY_PLAN_SHA256"), Some(plan_sha.as_str()));
    assert_eq!(plan.exported("FERRY_PLAN_ADDS"), Some("1"));
    assert_eq!(plan.exported("FERRY_PLAN_CHANGES"), Some("0"));
    assert_eq!(plan.exported("FERRY_PLAN_DESTROYS"), Some("0"));
    assert_eq!(plan.exported("FERRY_PLAN_NO_CHANGES"), Some("false"));
    let sfn = plan.to_sfn_json();
    assert!(sfn["Build"]["ExportedEnvironmentVariables"]
        .as_array()
        .expect("list")
        .iter()
        .any(|v| v["Name"] == "FERRY_PLAN_SHA256" && v["Value"] == plan_sha.as_str()));

    let state_key = "state/app/dev/terraform.tfstate";
    let wrong = "0".repeat(64);
    let mut apply_vars = vars("apply", "app", "1.0.0", deployment, &sha);
    apply_vars.push(("FERRY_APPROVED_PLAN_SHA256", &wrong));
    let (refused, log) = stack.build(&apply_vars).await;
    assert_eq!(refused.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("does not match the approved plan"), "{log}");
    assert!(!log.contains("Apply complete"), "{log}");
    assert!(
        stack.get(state_key).await.is_none(),
        "a refused apply must not write state"
    );

    let mut apply_vars = vars("apply", "app", "1.0.0", deployment, &sha);
    apply_vars.push(("FERRY_APPROVED_PLAN_SHA256", &plan_sha));
    let (applied, log) = stack.build(&apply_vars).await;
    assert_eq!(
        applied.build_status,
        StatusType::Succeeded,
        "apply failed:\n{log}"
    );
    assert_eq!(
        applied.exported("FERRY_PLAN_SHA256"),
        Some(plan_sha.as_str())
    );
    let state =
        String::from_utf8(stack.get(state_key).await.expect("state in S3")).expect("utf8 state");
    assert!(
        state.contains("terraform_data") && state.contains("app-1.0.0-dev"),
        "{state}"
    );
    let outputs: serde_json::Value = serde_json::from_slice(
        &stack
            .get(&format!("{prefix}/outputs.json"))
            .await
            .expect("outputs.json"),
    )
    .expect("outputs json");
    assert_eq!(outputs["marker"]["value"], "app-1.0.0-dev");

    // The same plan again is stale against the new state: terraform itself refuses it.
    let (stale, log) = stack.build(&apply_vars).await;
    assert_eq!(stale.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("Saved plan is stale"), "{log}");
    let after = String::from_utf8(stack.get(state_key).await.expect("state")).expect("utf8");
    assert_eq!(after, state, "a failed apply must not change state");
    drop(stack.moto);
}

#[tokio::test]
async fn downloads_the_registered_version_not_a_later_upload() {
    let stack = Stack::new().await;
    let key = "releases/app/1.0.0.zip";
    let first = good_release();
    let sha = sha256_hex(&first);
    let registered = stack.put(key, first).await;
    // Someone overwrites the key afterwards (in AWS the bucket policy refuses this).
    stack.put(key, b"not the registered bytes".to_vec()).await;

    let mut v = vars("plan", "app", "1.0.0", "d-v", &sha);
    let (build, log) = stack.build(&v).await;
    assert_eq!(
        build.build_status,
        StatusType::Failed,
        "latest bytes: {log}"
    );
    assert!(log.contains("but the registered release is"), "{log}");

    v.push(("FERRY_RELEASE_VERSION_ID", registered.as_str()));
    let (build, log) = stack.build(&v).await;
    assert_eq!(build.build_status, StatusType::Succeeded, "{log}");
    assert!(
        log.contains(&format!("version {registered} verified")),
        "{log}"
    );
    assert!(stack.get("deployments/d-v/dev/plan.tfplan").await.is_some());
}

#[tokio::test]
async fn refuses_a_release_whose_hash_differs() {
    let stack = Stack::new().await;
    stack.release("app", "1.0.0", good_release()).await;
    let other = sha256_hex(b"something else");
    let (build, log) = stack
        .build(&vars("plan", "app", "1.0.0", "d-2", &other))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("but the registered release is"), "{log}");
    assert!(stack.get("deployments/d-2/dev/plan.tfplan").await.is_none());
    let why = stack.failure("d-2", "plan").await;
    assert!(
        why.contains("but the registered release is") && why.contains("refusing to use it"),
        "{why}"
    );
}

#[tokio::test]
async fn refuses_unsafe_zips() {
    let stack = Stack::new().await;
    let traversal = zip_bytes(&[
        (
            "ferry.json",
            br#"{"component":"evil","version":"1.0.0"}"#,
            0o644,
        ),
        ("main.tf", MAIN_TF.as_bytes(), 0o644),
        ("../evil", b"owned", 0o644),
    ]);
    let sha = stack.release("evil", "1.0.0", traversal).await;
    let (build, log) = stack
        .build(&vars("plan", "evil", "1.0.0", "d-3", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("'../evil' contains '..'"), "{log}");
    assert!(
        !log.contains("terraform init"),
        "nothing may run after a refused unzip:\n{log}"
    );
    assert_eq!(
        stack.failure("d-3", "plan").await,
        "release zip entry '../evil' contains '..'; refusing to unzip"
    );

    let symlink = zip_bytes(&[
        (
            "ferry.json",
            br#"{"component":"evil","version":"2.0.0"}"#,
            0o644,
        ),
        ("main.tf", MAIN_TF.as_bytes(), 0o644),
        ("passwd", b"/etc/passwd", 0o120777),
    ]);
    let sha = stack.release("evil", "2.0.0", symlink).await;
    let (build, log) = stack
        .build(&vars("plan", "evil", "2.0.0", "d-4", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("is a symbolic link"), "{log}");
    assert_eq!(
        stack.failure("d-4", "plan").await,
        "release zip entry 'passwd' is a symbolic link; refusing to unzip"
    );

    let absolute = zip_bytes(&[
        (
            "ferry.json",
            br#"{"component":"evil","version":"3.0.0"}"#,
            0o644,
        ),
        ("/tmp/ferry-evil", b"x", 0o644),
    ]);
    let sha = stack.release("evil", "3.0.0", absolute).await;
    let (build, log) = stack
        .build(&vars("plan", "evil", "3.0.0", "d-5", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("absolute"), "{log}");
}

/// Renames every occurrence of the same-length placeholder `from` (the zip crate refuses to
/// write duplicate names).
fn rename_all(zip: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut found = false;
    for i in 0..=zip.len() - from.len() {
        if &zip[i..i + from.len()] == from {
            zip[i..i + from.len()].copy_from_slice(to);
            found = true;
        }
    }
    assert!(found, "placeholder not in the zip");
}

/// Two ferry.json entries: registration would have read one, unzip keeps the other. The build
/// refuses before extracting anything, whatever registration decided.
#[tokio::test]
async fn refuses_a_zip_with_duplicate_entry_names() {
    let stack = Stack::new().await;
    let mut zip = zip_bytes(&[
        (
            "ferry.json",
            br#"{"schema_version":1,"component":"dup","version":"2.0.8"}"#,
            0o644,
        ),
        ("main.tf", MAIN_TF.as_bytes(), 0o644),
        (
            "ferry.jsoX",
            br#"{"schema_version":1,"component":"dup","version":"9.9.9","terraform_dir":"x"}"#,
            0o644,
        ),
    ]);
    rename_all(&mut zip, b"ferry.jsoX", b"ferry.json");
    let sha = stack.release("dup", "2.0.8", zip).await;
    let (build, log) = stack
        .build(&vars("plan", "dup", "2.0.8", "d-9", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(
        log.contains("'ferry.json' is a duplicate entry name"),
        "{log}"
    );
    assert!(
        !log.contains("unzipped") && !log.contains("terraform init"),
        "nothing may be extracted or run after a refused unzip:\n{log}"
    );
}

#[tokio::test]
async fn failing_terraform_fails_the_build() {
    let stack = Stack::new().await;
    let zip = zip_bytes(&[
        (
            "ferry.json",
            br#"{"component":"broken","version":"1.0.0"}"#,
            0o644,
        ),
        ("main.tf", FAILING_TF.as_bytes(), 0o644),
    ]);
    let sha = stack.release("broken", "1.0.0", zip).await;
    let (build, log) = stack
        .build(&vars("plan", "broken", "1.0.0", "d-6", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("fails on purpose"), "{log}");
    assert!(build.exported("FERRY_PLAN_SHA256").is_none());
    assert!(stack.get("deployments/d-6/dev/plan.tfplan").await.is_none());
    assert_eq!(
        stack.failure("d-6", "plan").await,
        "terraform plan failed: Error: Resource precondition failed: ferry test: this release \
         fails on purpose"
    );
}

/// A lock file left by a terraform that died: the next plan cannot take the state lock, and
/// the reason says so, names the lock and how to clear it.
#[tokio::test]
async fn a_held_state_lock_is_the_reason() {
    let stack = Stack::new().await;
    let sha = stack.release("app", "1.0.0", good_release()).await;
    let lock = r#"{"ID":"0b5c6f2e-dead-4bad-b0b0-000000000001","Operation":"OperationTypeApply","Info":"","Who":"root@gone","Version":"1.11.4","Created":"2026-11-21T10:00:00Z","Path":"state/app/dev/terraform.tfstate"}"#;
    stack
        .put(
            "state/app/dev/terraform.tfstate.tflock",
            lock.as_bytes().to_vec(),
        )
        .await;
    let (build, log) = stack
        .build(&vars("plan", "app", "1.0.0", "d-lock", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    let why = stack.failure("d-lock", "plan").await;
    for part in [
        "terraform's state lock is held",
        "0b5c6f2e-dead-4bad-b0b0-000000000001",
        "apply by root@gone",
        "ferry unlock app --env dev --terraform",
    ] {
        assert!(why.contains(part), "{part:?} not in {why}");
    }
}

#[tokio::test]
async fn refuses_bad_inputs_before_touching_s3() {
    let stack = Stack::new().await;
    let sha = "a".repeat(64);
    let (build, log) = stack
        .build(&vars("plan", "../app", "1.0.0", "d-7", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(
        log.contains("FERRY_COMPONENT '../app' is not a valid name"),
        "{log}"
    );
    assert_eq!(
        stack.failure("d-7", "plan").await,
        "FERRY_COMPONENT '../app' is not a valid name (letters, digits, . _ + -)"
    );
    let (build, log) = stack
        .build(&vars("apply", "app", "1.0.0", "d-7", &sha))
        .await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(
        log.contains("FERRY_APPROVED_PLAN_SHA256 is not set"),
        "{log}"
    );
}

/// Vendored providers: init installs them from the release (no registry), with their exec bit
/// kept through the unzip. The fake provider cannot speak the plugin protocol, so plan fails
/// after running it; the marker it touches proves terraform executed the vendored binary.
#[tokio::test]
async fn uses_providers_vendored_in_the_release() {
    let stack = Stack::new().await;
    let marker_dir = tempfile::tempdir().expect("tempdir");
    for (version, plugins) in [
        ("1.0.0", "terraform.d/plugins"),
        ("2.0.0", ".terraform/providers"),
    ] {
        let marker = marker_dir.path().join(version);
        let provider = format!(
            "{plugins}/example.com/ferry/fake/1.0.0/linux_amd64/terraform-provider-fake_v1.0.0"
        );
        let script = "#!/bin/sh\ntouch \"$FERRY_TEST_MARKER\"\nexit 1\n";
        let main_tf = r#"
terraform {
  required_providers {
    fake = { source = "example.com/ferry/fake", version = "1.0.0" }
  }
}
resource "fake_thing" "x" {}
"#;
        let zip = zip_bytes(&[
            ("ferry.json", br#"{"component":"vendored"}"#, 0o644),
            ("main.tf", main_tf.as_bytes(), 0o644),
            (provider.as_str(), script.as_bytes(), 0o755),
        ]);
        let sha = stack.release("vendored", version, zip).await;
        let mut build_vars = vars("plan", "vendored", version, "d-8", &sha);
        let marker_str = marker.display().to_string();
        build_vars.push(("FERRY_TEST_MARKER", &marker_str));
        let (build, log) = stack.build(&build_vars).await;
        assert_eq!(build.build_status, StatusType::Failed, "{log}");
        assert!(
            log.contains("using providers vendored in the release"),
            "{plugins}:\n{log}"
        );
        assert!(
            log.contains("Installed example.com/ferry/fake v1.0.0"),
            "{plugins}:\n{log}"
        );
        assert!(
            marker.exists(),
            "terraform did not run the vendored provider from {plugins}:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_terraform_download_with_another_checksum_fails_the_build() {
    let stack = Stack::new().await;
    let sha = stack.release("app", "1.0.0", good_release()).await;
    // No terraform on PATH (it lives in /usr/local/bin here), and a mirror serving a zip that
    // is not the pinned release: the build must refuse to install it.
    let mirror = tempfile::tempdir().expect("mirror dir");
    let dir = mirror.path().join("1.11.4");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let fake = zip_bytes(&[("terraform", b"#!/bin/sh\necho pwned\n", 0o755)]);
    std::fs::write(dir.join(format!("terraform_1.11.4_linux_{arch}.zip")), fake).expect("write");
    let path = format!("{}:/usr/bin:/bin", common::helper_dir().display());
    let mirror_url = format!("file://{}", mirror.path().display());
    let mut vars = vars("plan", "app", "1.0.0", "d-tf", &sha);
    vars.push(("PATH", &path));
    vars.push(("FERRY_TERRAFORM_MIRROR", &mirror_url));
    let (build, log) = stack.build(&vars).await;
    assert_eq!(build.build_status, StatusType::Failed, "{log}");
    assert!(log.contains("refusing to install it"), "{log}");
    assert!(!log.contains("pwned"), "{log}");
    assert!(stack
        .get("deployments/d-tf/dev/plan.tfplan")
        .await
        .is_none());
}
