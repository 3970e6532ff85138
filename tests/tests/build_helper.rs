//! The build helper as CodeBuild gets it: published by its custom resource's code to moto,
//! fetched back, unzipped as CodeBuild unzips a source, and run — it must be a working
//! `ferry-build`. (Every local deploy in the other tests runs it through the buildspec.)

use std::io::Read;
use std::process::Command;

use ferry_tests::{moto, workspace_bin};

#[test]
fn the_published_helper_is_a_working_ferry_build() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let exe = std::fs::read(workspace_bin("build-helper")).expect("the build-helper binary");
    let zip = rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(moto()).await;
        let s3 = ferry_shared::aws::s3_client(&sdk);
        s3.create_bucket()
            .bucket("helper-test")
            .send()
            .await
            .expect("bucket");
        let key = ferry_build::publish::publish(&s3, "helper-test", &exe)
            .await
            .expect("publishing");
        assert!(
            key.starts_with("tools/ferry-build-") && key.ends_with(".zip"),
            "{key}"
        );
        // Publishing the same bytes again names the same key (content-addressed).
        let again = ferry_build::publish::publish(&s3, "helper-test", &exe)
            .await
            .expect("again");
        assert_eq!(key, again);
        s3.get_object()
            .bucket("helper-test")
            .key(&key)
            .send()
            .await
            .expect("fetching")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).expect("a zip");
    assert_eq!(archive.len(), 1, "one file: the helper");
    let mut entry = archive
        .by_name("ferry-build")
        .expect("ferry-build in the zip");
    let mut body = Vec::new();
    entry.read_to_end(&mut body).expect("reading");
    assert_eq!(body, exe, "the published bytes are the executable");
    let helper = dir.path().join("ferry-build");
    std::fs::write(&helper, &body).expect("writing");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = entry.unix_mode().expect("a unix mode") & 0o777;
        assert_eq!(mode, 0o755);
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    // As the buildspec calls it.
    let ok = |args: &[&str]| {
        Command::new(&helper)
            .args(args)
            .env("FERRY_WORK", dir.path())
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .output()
            .expect("running ferry-build")
    };
    assert!(ok(&["version-at-least", "1.11.4", "1.10.0"])
        .status
        .success());
    assert!(!ok(&["version-at-least", "1.9.0", "1.10.0"])
        .status
        .success());
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"resource_changes": [{"address": "terraform_data.x", "change": {"actions": ["create"]}}]}"#,
    )
    .expect("plan");
    let summary = dir.path().join("summary.json");
    let out = ok(&[
        "summarize",
        plan.to_str().unwrap_or_default(),
        "ab12",
        summary.to_str().unwrap_or_default(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let exports = std::fs::read_to_string(dir.path().join("exports.env")).expect("exports.env");
    assert!(
        exports.contains("export FERRY_PLAN_ADDS=1\n")
            && exports.contains("FERRY_PLAN_SHA256=ab12"),
        "{exports}"
    );
    // A bad call says why, in the reason file the buildspec uploads.
    let bad = ok(&["put"]);
    assert_eq!(bad.status.code(), Some(1));
    let reason = std::fs::read_to_string(dir.path().join("failure.txt")).expect("failure.txt");
    assert!(reason.starts_with("usage: ferry-build"), "{reason}");
}
