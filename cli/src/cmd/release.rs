//! `ferry release`: upload a release zip and wait until it is registered or rejected.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use ferry_shared::artifact::SHA256_METADATA;
use ferry_shared::model::{Rejection, Release};
use ferry_shared::store::Store;
use serde::Serialize;

use super::package;
use crate::context::Context;
use crate::exit::Exit;
use crate::output::{self, Format};
use crate::stack::Resource;

/// How `ferry release` ended: the `status` of its JSON output and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum ReleaseStatus {
    Registered,
    Rejected,
    Uploaded,
    TimedOut,
}

#[derive(Serialize)]
struct ReleaseResult<'a> {
    status: ReleaseStatus,
    /// The component (the name in its ferry.json).
    component: String,
    version: String,
    s3_key: String,
    sha256: String,
    rejection: Option<&'a Rejection>,
}

/// Releases smaller than this hash and upload too fast for a bar to help.
const BAR_FROM_BYTES: u64 = 8 << 20;

async fn release(
    s3: &aws_sdk_s3::Client,
    store: &Store,
    bucket: &str,
    zip: &Path,
    wait: Option<Duration>,
    format: Format,
) -> Result<ReleaseStatus> {
    // Everything registration would refuse is refused here first, before any upload — a
    // rejection like registration's (exit 3), only sooner.
    // Bars only for what takes a moment to hash and send.
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = std::fs::metadata(zip).map(|m| m.len()).unwrap_or(0);
    let bar = |what: &str| {
        if size >= BAR_FROM_BYTES {
            crate::progress::bytes(size, &format!("{what} {name}"))
        } else {
            indicatif::ProgressBar::hidden()
        }
    };
    let local = package::inspect(zip, &bar("hashing"))
        .await
        .map_err(|e| anyhow::Error::new(crate::errors::Rejected(format!("{e:#}"))))?;
    let key = local.manifest.key();
    let sha_hex = hex::encode(local.sha256);
    if let Some(existing) = store.get_release(&key.component, &key.version).await? {
        if existing.sha256 == sha_hex {
            // The same bytes again (a reproducible package of an unchanged component): nothing
            // to upload, and nothing wrong.
            if format == Format::Table {
                println!(
                    "registered {} {} (already registered with these bytes; sha256 {})",
                    existing.component, existing.version, existing.sha256
                );
            } else {
                report(
                    format,
                    ReleaseStatus::Registered,
                    &existing_result(&existing),
                    None,
                )?;
            }
            return Ok(ReleaseStatus::Registered);
        }
        return Err(crate::errors::Rejected(format!(
            "{} {} is already registered with other bytes (SHA-256 {}); releases are immutable — \
             bump the version",
            key.component, key.version, existing.sha256
        ))
        .into());
    }

    let sending = bar("uploading");
    let body = ByteStream::from_path(zip)
        .await
        .with_context(|| format!("reading {}", zip.display()))?;
    let body = crate::progress::counted(body, sending.clone());
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key.s3_key())
        .body(body)
        .content_type("application/zip")
        .content_length(i64::try_from(local.size)?)
        // S3 verifies this against the bytes it receives; registration records it.
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(local.sha256))
        .metadata(SHA256_METADATA, &sha_hex)
        // Never replace what is there: a version's bytes are written once (the bucket policy
        // refuses uploads to releases/ without this).
        .if_none_match("*")
        .send()
        .await;
    sending.finish_and_clear();
    let put = match put {
        Err(e)
            if e.as_service_error()
                .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
                == Some("PreconditionFailed") =>
        {
            return Err(crate::errors::Rejected(format!(
                "s3://{bucket}/{} already exists (an earlier upload of {} {}, registered or not); \
                 releases are immutable — bump the version",
                key.s3_key(),
                key.component,
                key.version
            ))
            .into())
        }
        other => other.with_context(|| format!("uploading to s3://{bucket}/{}", key.s3_key()))?,
    };
    let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_owned();
    let result = ReleaseResult {
        status: ReleaseStatus::Uploaded,
        component: key.component.to_string(),
        version: key.version.to_string(),
        s3_key: key.s3_key(),
        sha256: sha_hex.clone(),
        rejection: None,
    };
    let Some(timeout) = wait else {
        report(format, ReleaseStatus::Uploaded, &result, None)?;
        return Ok(ReleaseStatus::Uploaded);
    };

    let spinner = crate::progress::spinner(&format!(
        "waiting for {} {} to be registered",
        key.component, key.version
    ));
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    let outcome = loop {
        if let Some(r) = store.get_release(&key.component, &key.version).await? {
            if r.sha256 == sha_hex {
                break Some(Ok(()));
            }
        }
        if let Some(rej) = store.get_rejection(&key.s3_key(), &etag).await? {
            break Some(Err(rej));
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    };
    spinner.finish_and_clear();
    match outcome {
        Some(Ok(())) => {
            report(format, ReleaseStatus::Registered, &result, None)?;
            Ok(ReleaseStatus::Registered)
        }
        Some(Err(rej)) => {
            report(format, ReleaseStatus::Rejected, &result, Some(&rej))?;
            Ok(ReleaseStatus::Rejected)
        }
        None => {
            report(format, ReleaseStatus::TimedOut, &result, None)?;
            Ok(ReleaseStatus::TimedOut)
        }
    }
}

fn existing_result(r: &Release) -> ReleaseResult<'static> {
    ReleaseResult {
        status: ReleaseStatus::Registered,
        component: r.component.to_string(),
        version: r.version.to_string(),
        s3_key: r.s3_key.clone(),
        sha256: r.sha256.clone(),
        rejection: None,
    }
}

fn report(
    format: Format,
    status: ReleaseStatus,
    r: &ReleaseResult<'_>,
    rejection: Option<&Rejection>,
) -> Result<()> {
    match format {
        Format::Json => output::json(&ReleaseResult {
            status,
            rejection,
            component: r.component.clone(),
            version: r.version.clone(),
            s3_key: r.s3_key.clone(),
            sha256: r.sha256.clone(),
        }),
        Format::Table => {
            let what = format!("{} {}", r.component, r.version);
            match (status, rejection) {
                (ReleaseStatus::Registered, _) => {
                    println!("registered {what} (sha256 {})", r.sha256)
                }
                (ReleaseStatus::Rejected, Some(rej)) => {
                    println!("rejected {what}: {} — {}", rej.kind, rej.reason)
                }
                (ReleaseStatus::Uploaded, _) => println!(
                    "uploaded {what} to {} (not waiting for registration)",
                    r.s3_key
                ),
                _ => println!("uploaded {what}; registration not seen yet (timed out waiting)"),
            }
            Ok(())
        }
    }
}

/// Upload a release zip and wait until it is registered or rejected.
///
/// Example: ferry release hello-service-1.2.0.zip
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release zip (ferry.json at its root).
    zip: std::path::PathBuf,
    /// Return right after the upload.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for registration (seconds, or e.g. 2m).
    #[arg(long, default_value = "60", value_parser = crate::parse::duration)]
    timeout: Duration,
    #[command(flatten)]
    resources: crate::args::Resources,
}

pub async fn run(ctx: &Context, args: Args) -> Result<Exit> {
    if args.zip.is_dir() {
        anyhow::bail!(
            "{} is a directory: build its release zip first with `ferry package {}`, then release the zip",
            args.zip.display(),
            args.zip.display()
        );
    }
    let store = ctx.store(args.resources.table.table.as_deref()).await?;
    let bucket = ctx
        .resource(Resource::Bucket, args.resources.bucket.as_deref())
        .await?;
    let wait = (!args.no_wait).then_some(args.timeout);
    let outcome = release(
        &ctx.s3().await,
        &store,
        &bucket,
        &args.zip,
        wait,
        ctx.format,
    )
    .await?;
    Ok(match outcome {
        ReleaseStatus::Registered | ReleaseStatus::Uploaded => Exit::Success,
        ReleaseStatus::Rejected => Exit::Rejected,
        ReleaseStatus::TimedOut => Exit::TimedOut,
    })
}
