//! What the build reads from and writes to the artifact bucket.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{fail, log, var, work_dir, Result};

async fn client() -> aws_sdk_s3::Client {
    let sdk = ferry_shared::aws::sdk_config(ferry_shared::aws::Trust::System).await;
    // An endpoint of one's own is moto in local mode, which serves S3 path-style.
    let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(path_style)
            .build(),
    )
}

/// Downloads `key` (exactly `version` when given) to `dest`, hashing as it writes; returns
/// the hex SHA-256.
async fn get(
    s3: &aws_sdk_s3::Client,
    key: &str,
    version: Option<&str>,
    dest: &Path,
) -> Result<String> {
    let bucket = var("FERRY_ARTIFACT_BUCKET")?;
    let what = match version {
        Some(v) => format!("version {v} of s3://{bucket}/{key}"),
        None => format!("s3://{bucket}/{key}"),
    };
    let out = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .map_err(|e| format!("could not download {what}: {}", why(&e)))?;
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| format!("could not write {}: {e}", dest.display()))?;
    let mut body = out.body;
    let mut hash = Sha256::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("could not download {what}: {e}"))?
    {
        hash.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("could not write {}: {e}", dest.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("could not write {}: {e}", dest.display()))?;
    Ok(hex::encode(hash.finalize()))
}

/// An SDK failure in a few words: S3's error code and message, or that S3 did not answer.
fn why<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    match e.as_service_error() {
        Some(se) => match (se.code(), se.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_owned(),
            _ => "S3 refused the request".to_owned(),
        },
        None => "S3 did not answer".to_owned(),
    }
}

fn deployment_prefix() -> Result<String> {
    Ok(format!(
        "deployments/{}/{}",
        var("FERRY_DEPLOYMENT_ID")?,
        var("FERRY_ENVIRONMENT")?
    ))
}

/// The release exactly as registered: its registered S3 version, its SHA-256 checked, unzipped
/// safely into `$FERRY_WORK/release`, its terraform directory written to `$FERRY_WORK/tfdir`.
pub async fn release() -> Result<()> {
    let w = work_dir()?;
    let bucket = var("FERRY_ARTIFACT_BUCKET")?;
    let key = format!(
        "releases/{}/{}.zip",
        var("FERRY_COMPONENT")?,
        var("FERRY_VERSION")?
    );
    let version = std::env::var("FERRY_RELEASE_VERSION_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let want = var("FERRY_RELEASE_SHA256")?.to_ascii_lowercase();
    let zip = w.join("release.zip");
    let got = get(&client().await, &key, version.as_deref(), &zip).await?;
    if got != want {
        fail!(
            "release s3://{bucket}/{key} has SHA-256 {got}, but the registered release is {want}; refusing to use it"
        );
    }
    log(&format!(
        "release {key}{} verified ({got})",
        version
            .as_deref()
            .map(|v| format!(" version {v}"))
            .unwrap_or_default()
    ));
    let dest = w.join("release");
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .map_err(|e| format!("could not clear {}: {e}", dest.display()))?;
    }
    std::fs::create_dir_all(&dest)
        .map_err(|e| format!("could not create {}: {e}", dest.display()))?;
    let n = crate::unzip::unzip(&zip, &dest)?;
    log(&format!("unzipped {n} entries"));
    let tfdir = crate::unzip::terraform_dir(&dest)?;
    std::fs::write(w.join("tfdir"), format!("{}\n", tfdir.display()))
        .map_err(|e| format!("could not write the terraform directory's name: {e}"))?;
    Ok(())
}

/// The plan step's work after `terraform plan -out <plan>`: its SHA-256, the summary from
/// `terraform show -json` (run while the plan uploads), and the summary and SHA-256 uploaded.
pub async fn publish_plan(plan: &str) -> Result<()> {
    let w = work_dir()?;
    let prefix = deployment_prefix()?;
    let bytes = std::fs::read(plan).map_err(|e| format!("could not read {plan}: {e}"))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let plan_key = format!("{prefix}/plan.tfplan");
    let upload = [(plan, plan_key.as_str())];
    let (uploaded, shown) = tokio::join!(put(&upload), show(plan));
    uploaded?;
    let plan_json = w.join("plan.json");
    std::fs::write(&plan_json, shown?)
        .map_err(|e| format!("could not write {}: {e}", plan_json.display()))?;
    let summary = w.join("plan-summary.json");
    crate::summary::summarize(&plan_json, &sha, &summary)?;
    let sha_file = w.join("plan.sha256");
    std::fs::write(&sha_file, format!("{sha}\n"))
        .map_err(|e| format!("could not write {}: {e}", sha_file.display()))?;
    put(&[
        (
            &summary.to_string_lossy(),
            &format!("{prefix}/plan-summary.json"),
        ),
        (
            &sha_file.to_string_lossy(),
            &format!("{prefix}/plan.sha256"),
        ),
    ])
    .await?;
    log(&format!("plan SHA-256 {sha}"));
    Ok(())
}

/// `terraform show -json <plan>`'s output, or why it failed in terraform's last words.
async fn show(plan: &str) -> Result<Vec<u8>> {
    let out = tokio::process::Command::new("terraform")
        .args(["show", "-no-color", "-json", plan])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("could not run terraform show: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        fail!(
            "terraform show could not read the plan ({}): {}",
            out.status,
            last.trim()
        );
    }
    Ok(out.stdout)
}

/// The apply step's outputs, `terraform output -json`'s shape, read from the state the apply
/// just wrote (Ferry owns the backend) rather than by starting terraform once more; written to
/// `$FERRY_WORK/outputs.json` and uploaded beside the plan.
pub async fn outputs() -> Result<()> {
    let bucket = var("FERRY_ARTIFACT_BUCKET")?;
    let key = format!(
        "state/{}/{}/terraform.tfstate",
        var("FERRY_COMPONENT")?,
        var("FERRY_ENVIRONMENT")?
    );
    let state = client()
        .await
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| format!("could not read the state s3://{bucket}/{key}: {}", why(&e)))?
        .body
        .collect()
        .await
        .map_err(|e| format!("could not read the state s3://{bucket}/{key}: {e}"))?
        .into_bytes();
    let state: serde_json::Value = serde_json::from_slice(&state)
        .map_err(|e| format!("the state s3://{bucket}/{key} is not JSON: {e}"))?;
    let outputs = outputs_of(&state);
    let file = work_dir()?.join("outputs.json");
    std::fs::write(
        &file,
        serde_json::to_vec_pretty(&outputs).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("could not write {}: {e}", file.display()))?;
    let dest = format!("{}/outputs.json", deployment_prefix()?);
    put(&[(&file.to_string_lossy(), &dest)]).await
}

/// A state's outputs as `terraform output -json` prints them: `value`, `type`, `sensitive`
/// (which the state leaves out when false).
fn outputs_of(state: &serde_json::Value) -> serde_json::Value {
    let mut outputs = serde_json::Map::new();
    for (name, o) in state["outputs"].as_object().into_iter().flatten() {
        let sensitive = o["sensitive"].as_bool().unwrap_or(false);
        outputs.insert(
            name.clone(),
            serde_json::json!({"sensitive": sensitive, "type": o["type"], "value": o["value"]}),
        );
    }
    serde_json::Value::Object(outputs)
}

/// Apply only: the plan in S3 must be byte for byte the one that was approved.
pub async fn approved_plan() -> Result<()> {
    let w = work_dir()?;
    let bucket = var("FERRY_ARTIFACT_BUCKET")?;
    let key = format!("{}/plan.tfplan", deployment_prefix()?);
    let want = var("FERRY_APPROVED_PLAN_SHA256")?.to_ascii_lowercase();
    let got = get(&client().await, &key, None, &w.join("plan.tfplan")).await?;
    if got != want {
        fail!(
            "plan s3://{bucket}/{key} has SHA-256 {got}, which does not match the approved plan {want}; refusing to apply"
        );
    }
    log(&format!("plan {got} matches the approved plan"));
    // The apply build's record names the plan it applies (no summary: the plan build made it).
    std::fs::write(
        w.join("exports.env"),
        format!("export FERRY_PLAN_SHA256={got}\n"),
    )
    .map_err(|e| format!("could not write exports.env: {e}"))?;
    Ok(())
}

/// Uploads each `(file, key)`, all at once.
pub async fn put(pairs: &[(&str, &str)]) -> Result<()> {
    let bucket = var("FERRY_ARTIFACT_BUCKET")?;
    let s3 = client().await;
    let uploads = pairs.iter().map(|(file, key)| {
        let (s3, bucket) = (&s3, &bucket);
        async move {
            let failed =
                |e: &dyn std::fmt::Display| format!("could not upload s3://{bucket}/{key}: {e}");
            let body = ByteStream::from_path(file).await.map_err(|e| failed(&e))?;
            s3.put_object()
                .bucket(bucket)
                .key(*key)
                .body(body)
                .send()
                .await
                .map_err(|e| failed(&why(&e)))?;
            log(&format!("uploaded s3://{bucket}/{key}"));
            Ok::<(), crate::Failure>(())
        }
    });
    for r in futures::future::join_all(uploads).await {
        r?;
    }
    Ok(())
}

/// Names end up in S3 keys: refuse anything that could climb out of them (as the buildspec's
/// `valid_name`).
fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && !s.contains("..")
}

/// Uploads `$FERRY_WORK/failure.txt` for record-result, when the inputs that name its key are
/// sound.
pub async fn put_reason() -> Result<()> {
    let action = std::env::var("FERRY_ACTION").unwrap_or_default();
    let sound = matches!(action.as_str(), "plan" | "apply")
        && std::env::var("FERRY_ARTIFACT_BUCKET").is_ok_and(|b| !b.is_empty())
        && std::env::var("FERRY_DEPLOYMENT_ID").is_ok_and(|v| valid_name(&v))
        && std::env::var("FERRY_ENVIRONMENT").is_ok_and(|v| valid_name(&v));
    if !sound {
        return Ok(());
    }
    let file = work_dir()?.join("failure.txt");
    let key = format!("{}/{action}-failure.txt", deployment_prefix()?);
    put(&[(&file.to_string_lossy(), &key)]).await
}

/// Terraform's state lock for this component and environment, when one is held.
pub async fn lock_info() -> Result<Option<serde_json::Value>> {
    let key = format!(
        "state/{}/{}/terraform.tfstate.tflock",
        var("FERRY_COMPONENT")?,
        var("FERRY_ENVIRONMENT")?
    );
    let bucket = var("FERRY_ARTIFACT_BUCKET")?;
    let Ok(out) = client()
        .await
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    else {
        return Ok(None);
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .into_bytes();
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn outputs_read_from_state_look_like_terraform_output_json() {
        let state = serde_json::json!({"version": 4, "outputs": {
            "url": {"value": "https://x", "type": "string"},
            "token": {"value": "s3cret", "type": "string", "sensitive": true},
            "ids": {"value": ["a"], "type": ["list", "string"]}
        }});
        assert_eq!(
            super::outputs_of(&state),
            serde_json::json!({
                "url": {"sensitive": false, "type": "string", "value": "https://x"},
                "token": {"sensitive": true, "type": "string", "value": "s3cret"},
                "ids": {"sensitive": false, "type": ["list", "string"], "value": ["a"]}
            })
        );
        assert_eq!(
            super::outputs_of(&serde_json::json!({"version": 4})),
            serde_json::json!({})
        );
    }

    #[test]
    fn names_that_could_climb_out_of_a_key_are_refused() {
        for ok in [
            "prod",
            "hello-service-1-0-0-20261127120000-ab12cd",
            "1.2.0+build",
        ] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".hidden", "a..b", &"x".repeat(129)] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
