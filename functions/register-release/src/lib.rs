//! register-release: turns an uploaded release zip into an immutable release record, or into a
//! rejection record that says why. Only transient faults fail the invocation (so Lambda retries);
//! a bad upload is data.

use aws_lambda_events::s3::S3Event;
use chrono::Utc;
use ferry_shared::artifact::{Artifacts, Pin, S3Error};
use ferry_shared::model::{Manifest, ManifestError, Rejection, RejectionKind, Release, ReleaseKey};
use ferry_shared::store::{PutRelease, Store, StoreError};
use ferry_shared::workflow::TaskFailure;
use ferry_shared::zipread::{read_manifest, ZipError};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument, warn};

/// What the function needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct Deps {
    pub s3: aws_sdk_s3::Client,
    pub store: Store,
}

#[derive(Debug, thiserror::Error)]
pub enum FnError {
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TaskFailure for FnError {
    fn error_type(&self) -> &'static str {
        // Every error this function returns is worth a retry; bad input never gets here.
        "Ferry.Transient"
    }
    fn message(&self) -> String {
        anyhow_like(self)
    }
}

/// The error with its sources, one line.
fn anyhow_like(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    Registered,
    /// The same bytes were registered already (a repeated event).
    Duplicate,
    Rejected,
    /// Nothing to do: the object is gone or was replaced (its own event will follow).
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub key: String,
    pub outcome: OutcomeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Body bytes read from S3 for this record.
    pub bytes_read: u64,
}

pub use ferry_shared::model::decode_event_key as decode_key;

/// Handles every record of one S3 event; records are independent, so all are attempted even
/// if one hits a transient fault, then the first fault is returned for Lambda to retry.
pub async fn handle(deps: &Deps, event: S3Event) -> Result<Vec<Outcome>, FnError> {
    let jobs = event.records.into_iter().filter_map(|r| {
        let bucket = r.s3.bucket.name?;
        let key = decode_key(r.s3.object.key.as_deref()?);
        let upload = Upload {
            etag: r
                .s3
                .object
                .e_tag
                .filter(|e| !e.is_empty())
                .map(|e| etag_unquoted(&e).to_owned()),
            version_id: r.s3.object.version_id.filter(|v| !v.is_empty()),
        };
        Some(async move { register(deps, &bucket, &key, &upload).await })
    });
    let results = futures::future::join_all(jobs).await;
    let mut outcomes = Vec::with_capacity(results.len());
    for r in results {
        outcomes.push(r?);
    }
    Ok(outcomes)
}

fn etag_unquoted(e: &str) -> &str {
    e.trim_matches('"')
}

/// Which upload an event is about, as the event names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upload {
    /// Unquoted.
    pub etag: Option<String>,
    /// S3 sends it for versioned buckets; some emulators leave it out.
    pub version_id: Option<String>,
}

/// Registers the uploaded object version an event is about.
///
/// Each event is judged by its own version, so the order events arrive in cannot change the
/// outcome: until the release is registered, the key's earlier versions are judged first, in
/// upload order. The first valid upload of a version is its release; any later, different bytes
/// are a recorded conflict, whichever event came first.
#[instrument(skip(deps), fields(bucket = %bucket))]
pub async fn register(
    deps: &Deps,
    bucket: &str,
    key: &str,
    upload: &Upload,
) -> Result<Outcome, FnError> {
    let artifacts = Artifacts::new(deps.s3.clone(), bucket);
    let own_id = upload.version_id.as_deref().filter(|v| *v != "null");
    let registered = registered(deps, key).await?;
    if let (Some(id), true) = (own_id, registered) {
        // Earlier uploads cannot matter any more: judge these bytes against the release.
        return judge(deps, &artifacts, key, &Pin::Version(id.to_owned())).await;
    }
    let versions = artifacts.versions(key).await?;
    let own = match (own_id, &upload.etag) {
        (Some(id), _) => versions
            .iter()
            .position(|v| v.version_id.as_deref() == Some(id)),
        // Without a VersionId the ETag names the bytes; the same bytes twice judge alike.
        (_, Some(etag)) => versions.iter().position(|v| &v.etag == etag),
        (_, None) => versions.len().checked_sub(1),
    };
    let Some(own) = own else {
        warn!(
            key,
            "object version gone or replaced since the event; nothing to register"
        );
        return Ok(skipped(key, "object gone or replaced", 0));
    };
    if own > 0 && !registered {
        for earlier in &versions[..own] {
            let judged = judge(deps, &artifacts, key, &earlier.pin()).await?;
            info!(key, earlier = ?earlier.version_id, outcome = ?judged.outcome, "judged an earlier upload first");
        }
    }
    judge(deps, &artifacts, key, &versions[own].pin()).await
}

/// Whether the release `key` names is registered already (then earlier uploads cannot matter).
async fn registered(deps: &Deps, key: &str) -> Result<bool, FnError> {
    let Ok(k) = ReleaseKey::parse(key) else {
        return Ok(false);
    };
    Ok(deps
        .store
        .get_release(&k.component, &k.version)
        .await?
        .is_some())
}

fn skipped(key: &str, why: &str, bytes_read: u64) -> Outcome {
    Outcome {
        key: key.to_owned(),
        outcome: OutcomeKind::Skipped,
        detail: Some(why.to_owned()),
        bytes_read,
    }
}

/// Registers or rejects one stored version of `key`.
async fn judge(
    deps: &Deps,
    artifacts: &Artifacts,
    key: &str,
    pin: &Pin,
) -> Result<Outcome, FnError> {
    let outcome = |kind, detail: Option<String>, bytes_read| Outcome {
        key: key.to_owned(),
        outcome: kind,
        detail,
        bytes_read,
    };
    let Some(info) = artifacts.head(key, pin).await? else {
        warn!(
            key,
            "object gone or replaced since it was listed; nothing to register"
        );
        return Ok(skipped(key, "object gone or replaced", 0));
    };
    let etag = etag_unquoted(&info.etag).to_owned();
    let reject = |kind: RejectionKind, reason: String, sha: Option<String>| {
        let mut r = Rejection::new(key, &etag, kind, reason);
        r.sha256 = sha;
        r.version_id = info.version_id.clone();
        r
    };

    let key_parts = match ReleaseKey::parse(key) {
        Ok(k) => k,
        Err(e) => {
            return file_rejection(
                deps,
                reject(RejectionKind::InvalidKey, e.to_string(), None),
                0,
            )
            .await
        }
    };
    let Some(sha256) = info.sha256.clone() else {
        let why = "no SHA-256 checksum on the object: upload with `ferry release` \
                   (or --checksum-algorithm SHA256)";
        return file_rejection(
            deps,
            reject(RejectionKind::MissingChecksum, why.into(), None),
            0,
        )
        .await;
    };

    let ranges = artifacts.ranges(key, &info);
    let manifest_bytes = match read_manifest(&ranges, info.size).await {
        Ok((bytes, _)) => bytes,
        Err(ZipError::Read(S3Error::Changed { .. })) => {
            return Ok(skipped(
                key,
                "object replaced while reading",
                ranges.bytes_read(),
            ))
        }
        Err(ZipError::Read(e)) => return Err(e.into()),
        Err(e) => {
            let kind = match &e {
                ZipError::NotAZip => RejectionKind::NotAZip,
                ZipError::Truncated(_) => RejectionKind::TruncatedZip,
                ZipError::MissingManifest => RejectionKind::MissingManifest,
                ZipError::Unsupported(_) => RejectionKind::UnsupportedEntry,
                ZipError::TooLarge => RejectionKind::ManifestTooLarge,
                ZipError::DuplicateEntry(_) => RejectionKind::DuplicateEntry,
                ZipError::Inconsistent(_) => RejectionKind::InconsistentZip,
                ZipError::Read(_) => RejectionKind::NotAZip,
            };
            let r = reject(kind, e.to_string(), Some(sha256));
            return file_rejection(deps, r, ranges.bytes_read()).await;
        }
    };
    let bytes_read = ranges.bytes_read();

    let manifest = match Manifest::from_json(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            let kind = match &e {
                ManifestError::Json(_) => RejectionKind::InvalidJson,
                ManifestError::Schema(_) => RejectionKind::UnsupportedSchema,
                ManifestError::Field(_) | ManifestError::TerraformDir(_) => {
                    RejectionKind::InvalidManifest
                }
            };
            return file_rejection(deps, reject(kind, e.to_string(), Some(sha256)), bytes_read)
                .await;
        }
    };
    if manifest.key() != key_parts {
        let why = format!(
            "ferry.json says {} {} but the key is {key} (expected {})",
            manifest.component,
            manifest.version,
            manifest.key()
        );
        return file_rejection(
            deps,
            reject(RejectionKind::KeyMismatch, why, Some(sha256)),
            bytes_read,
        )
        .await;
    }

    let release = Release {
        component: manifest.component.clone(),
        version: manifest.version.clone(),
        s3_key: key.to_owned(),
        sha256: sha256.clone(),
        size: info.size,
        etag: etag.clone(),
        version_id: info.version_id.clone(),
        manifest,
        registered_at: Utc::now(),
    };
    match deps.store.put_release(&release).await? {
        PutRelease::Created => {
            info!(component = %release.component, version = %release.version, sha256 = %sha256, bytes_read, "registered");
            Ok(outcome(OutcomeKind::Registered, None, bytes_read))
        }
        PutRelease::Duplicate => {
            info!(component = %release.component, version = %release.version, "already registered; repeated event");
            Ok(outcome(OutcomeKind::Duplicate, None, bytes_read))
        }
        PutRelease::Conflict(existing) => {
            let why = format!(
                "{} {} is already registered with SHA-256 {} (registered {}); these bytes ({sha256}) \
                 were refused — releases are immutable, publish a new version",
                existing.component, existing.version, existing.sha256, existing.registered_at
            );
            file_rejection(
                deps,
                reject(RejectionKind::Conflict, why, Some(sha256)),
                bytes_read,
            )
            .await
        }
    }
}

async fn file_rejection(deps: &Deps, r: Rejection, bytes_read: u64) -> Result<Outcome, FnError> {
    let fresh = deps.store.put_rejection(&r).await?;
    warn!(key = %r.s3_key, kind = %r.kind, reason = %r.reason, fresh, "rejected");
    Ok(Outcome {
        key: r.s3_key,
        outcome: OutcomeKind::Rejected,
        detail: Some(format!("{}: {}", r.kind, r.reason)),
        bytes_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded() {
        assert_eq!(
            decode_key("releases%2Fweb%2F1.0.0.zip"),
            "releases/web/1.0.0.zip"
        );
        assert_eq!(
            decode_key("releases/my+app/1.0.0.zip"),
            "releases/my app/1.0.0.zip"
        );
        assert_eq!(decode_key("releases/a%2Bb/1.zip"), "releases/a+b/1.zip");
    }

    #[test]
    fn real_s3_event_shape_parses() {
        let event: S3Event =
            serde_json::from_str(include_str!("../tests/fixtures/s3-put.json")).unwrap();
        let r = &event.records[0];
        assert_eq!(r.s3.bucket.name.as_deref(), Some("ferry-artifacts"));
        assert_eq!(
            decode_key(r.s3.object.key.as_deref().unwrap()),
            "releases/web/1.2.0.zip"
        );
    }
}
