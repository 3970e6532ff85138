//! The stack's custom resource that publishes this binary for CodeBuild. `sam build` builds it
//! like the other functions; CloudFormation runs it as a Lambda, and it uploads its own
//! executable, zipped as `ferry-build`, to `tools/ferry-build-<sha256>.zip` in the artifact
//! bucket — the terraform project's S3 source — so every build runs exactly the helper its
//! stack was deployed with, and `sam deploy` stays the only deploy step.

use std::io::Write;

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Where the helper goes: named by its content, so a new build never replaces the bytes an
/// earlier stack version's builds may still be fetching.
pub fn key_for(exe: &[u8]) -> String {
    format!(
        "tools/ferry-build-{}.zip",
        &hex::encode(Sha256::digest(exe))[..16]
    )
}

/// `exe` as a CodeBuild S3 source: a zip holding one executable, `ferry-build`.
pub fn zipped(exe: &[u8]) -> Result<Vec<u8>, String> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    w.start_file("ferry-build", opts)
        .map_err(|e| e.to_string())?;
    w.write_all(exe).map_err(|e| e.to_string())?;
    Ok(w.finish().map_err(|e| e.to_string())?.into_inner())
}

/// Uploads `exe` to `bucket`; returns its key.
pub async fn publish(s3: &aws_sdk_s3::Client, bucket: &str, exe: &[u8]) -> Result<String, String> {
    let key = key_for(exe);
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(zipped(exe)?))
        .send()
        .await
        .map_err(|e| {
            format!(
                "could not upload s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(key)
}

/// What CloudFormation is told for `event`: the key on success, the reason on failure. A
/// delete succeeds without removing anything (the bucket outlives the stack).
pub fn response(event: &Value, outcome: Result<String, String>) -> Value {
    let physical = event["PhysicalResourceId"]
        .as_str()
        .unwrap_or("ferry-build");
    let bucket = event["ResourceProperties"]["Bucket"]
        .as_str()
        .unwrap_or_default();
    let (status, reason, id, data) = match outcome {
        Ok(key) => (
            "SUCCESS",
            String::new(),
            key.clone(),
            json!({"Key": key, "Location": format!("{bucket}/{key}")}),
        ),
        Err(why) => ("FAILED", why, physical.to_owned(), json!({})),
    };
    json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    })
}

async fn handle(event: LambdaEvent<Value>) -> Result<(), Error> {
    let e = event.payload;
    let outcome = match e["RequestType"].as_str() {
        Some("Create" | "Update") => {
            let bucket = e["ResourceProperties"]["Bucket"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let exe = std::env::current_exe()
                .and_then(std::fs::read)
                .map_err(|err| format!("could not read this function's executable: {err}"));
            match exe {
                Ok(exe) => {
                    let sdk =
                        ferry_shared::aws::sdk_config(ferry_shared::aws::Trust::AwsRoots).await;
                    publish(&aws_sdk_s3::Client::new(&sdk), &bucket, &exe).await
                }
                Err(why) => Err(why),
            }
        }
        Some("Delete") => Ok(e["PhysicalResourceId"]
            .as_str()
            .unwrap_or("ferry-build")
            .to_owned()),
        other => Err(format!("unknown RequestType {other:?}")),
    };
    if let Err(why) = &outcome {
        eprintln!("publishing ferry-build failed: {why}");
    }
    let body = response(&e, outcome);
    // The ResponseURL is a pre-signed S3 URL: used, never logged.
    let url = e["ResponseURL"]
        .as_str()
        .ok_or("the event has no ResponseURL")?;
    // reqwest carries no crypto provider of its own (Cargo.toml says why).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .put(url)
        .body(body.to_string())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|err| format!("could not answer CloudFormation: {}", err.without_url()))?;
    Ok(())
}

/// Runs as the custom resource's Lambda.
pub fn run_lambda() -> Result<(), Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(lambda_runtime::run(service_fn(handle)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_zip_holds_one_executable_named_ferry_build() {
        let z = zipped(b"\x7fELF...").unwrap();
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        assert_eq!(a.len(), 1);
        let mut f = a.by_name("ferry-build").unwrap();
        assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut body = Vec::new();
        f.read_to_end(&mut body).unwrap();
        assert_eq!(body, b"\x7fELF...");
        assert!(key_for(b"a").starts_with("tools/ferry-build-") && key_for(b"a") != key_for(b"b"));
    }

    #[test]
    fn cloudformation_hears_the_key_or_the_reason() {
        let event = json!({"RequestType": "Create", "StackId": "s", "RequestId": "r",
            "LogicalResourceId": "BuildHelper", "ResourceProperties": {"Bucket": "b"}});
        let ok = response(&event, Ok("tools/k.zip".into()));
        assert_eq!(
            (ok["Status"].as_str(), ok["PhysicalResourceId"].as_str()),
            (Some("SUCCESS"), Some("tools/k.zip"))
        );
        assert_eq!(ok["Data"]["Location"], "b/tools/k.zip");
        let bad = response(&event, Err("no bucket".into()));
        assert_eq!(
            (bad["Status"].as_str(), bad["Reason"].as_str()),
            (Some("FAILED"), Some("no bucket"))
        );
        assert_eq!(bad["RequestId"], "r");
    }
}
