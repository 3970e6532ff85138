//! S3 access to release zips: the versions of a key, HEAD with the verified checksum, and ranged
//! reads pinned to one object version (by VersionId, and by ETag) so a concurrent overwrite can't
//! mix two zips' bytes.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::types::ChecksumMode;
use base64::Engine as _;
use thiserror::Error;

use crate::zipread::RangeRead;

/// Object metadata key `ferry release` writes the zip's hex SHA-256 under.
pub const SHA256_METADATA: &str = "ferry-sha256";

#[derive(Debug, Error)]
pub enum S3Error {
    #[error("s3://{bucket}/{key} no longer matches the uploaded object (replaced meanwhile)")]
    Changed { bucket: String, key: String },
    #[error("S3 {op} s3://{bucket}/{key}: {message}")]
    Sdk {
        op: &'static str,
        bucket: String,
        key: String,
        message: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn sdk_error<E, R>(op: &'static str, bucket: &str, key: &str, err: SdkError<E, R>) -> S3Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    S3Error::Sdk {
        op,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: DisplayErrorContext(&err).to_string(),
        source: Box::new(err),
    }
}

fn status_of<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// What HEAD says about an uploaded zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: String,
    /// S3's VersionId of these bytes; `None` in a bucket that never had versioning.
    pub version_id: Option<String>,
    /// Hex SHA-256 of the whole object, when S3 verified one at upload or `ferry release` set it.
    pub sha256: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Artifacts {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Artifacts {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Every stored version of exactly `key`, oldest first (S3 lists a key's versions newest
    /// first). Empty when the key has no object; an unversioned bucket lists its one object with
    /// VersionId `null`, given here as `None`.
    pub async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, S3Error> {
        let mut newest_first = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListObjectVersions", &self.bucket, key, e))?;
            // The prefix also matches longer keys (`1.0.0.zip.bak`); only this key counts.
            newest_first.extend(
                out.versions()
                    .iter()
                    .filter(|v| v.key() == Some(key))
                    .map(|v| ObjectVersion {
                        version_id: v.version_id().and_then(real_version),
                        etag: v.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                    }),
            );
            if out.is_truncated() != Some(true) {
                break;
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            version_marker = out.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() && version_marker.is_none() {
                break;
            }
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    /// HEAD one version of the object; `None` when it is gone or was replaced (`Pin::ETag`).
    pub async fn head(&self, key: &str, pin: &Pin) -> Result<Option<ObjectInfo>, S3Error> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(pin.version_id())
            .set_if_match(pin.if_match())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(err) if matches!(status_of(&err), Some(404 | 412)) => return Ok(None),
            Err(err) => return Err(sdk_error("HeadObject", &self.bucket, key, err)),
        };
        let size = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let etag = out.e_tag().unwrap_or_default().to_owned();
        Ok(Some(ObjectInfo {
            size,
            etag,
            version_id: out.version_id().and_then(real_version),
            sha256: verified_sha256(out.checksum_sha256(), out.metadata()),
        }))
    }

    /// A reader of byte ranges of one version of `key`: the one HEAD described.
    pub fn ranges(&self, key: &str, info: &ObjectInfo) -> S3Ranges<'_> {
        S3Ranges {
            artifacts: self,
            key: key.to_owned(),
            etag: info.etag.clone(),
            version_id: info.version_id.clone(),
            bytes: AtomicU64::new(0),
        }
    }
}

/// One stored version of a key, as ListObjectVersions gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub version_id: Option<String>,
    /// Unquoted.
    pub etag: String,
}

impl ObjectVersion {
    /// How to read exactly these bytes.
    pub fn pin(&self) -> Pin {
        match &self.version_id {
            Some(v) => Pin::Version(v.clone()),
            None => Pin::ETag(self.etag.clone()),
        }
    }
}

/// Which bytes of a key to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Exactly this version (a versioned bucket): never replaced under the reader.
    Version(String),
    /// Whatever is current, if its ETag (unquoted) is still this one.
    ETag(String),
}

impl Pin {
    fn version_id(&self) -> Option<String> {
        match self {
            Pin::Version(v) => Some(v.clone()),
            Pin::ETag(_) => None,
        }
    }
    fn if_match(&self) -> Option<String> {
        match self {
            Pin::Version(_) => None,
            Pin::ETag(e) => Some(format!("\"{}\"", e.trim_matches('"'))),
        }
    }
}

/// S3 names the version of an object written while versioning was off `null`.
fn real_version(v: &str) -> Option<String> {
    (!v.is_empty() && v != "null").then(|| v.to_owned())
}

/// The whole-object SHA-256 as hex. A composite (multipart, "…-N") checksum is not a hash of
/// the object, so it falls back to the metadata `ferry release` writes.
fn verified_sha256(
    checksum: Option<&str>,
    metadata: Option<&std::collections::HashMap<String, String>>,
) -> Option<String> {
    let from_checksum = checksum
        .filter(|c| !c.contains('-'))
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .filter(|raw| raw.len() == 32)
        .map(hex::encode);
    from_checksum.or_else(|| {
        metadata
            .and_then(|m| m.get(SHA256_METADATA))
            .map(|s| s.to_ascii_lowercase())
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

pub struct S3Ranges<'a> {
    artifacts: &'a Artifacts,
    key: String,
    etag: String,
    version_id: Option<String>,
    bytes: AtomicU64,
}

impl S3Ranges<'_> {
    /// Body bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl RangeRead for S3Ranges<'_> {
    type Error = S3Error;

    async fn read(&self, range: Range<u64>) -> Result<Vec<u8>, S3Error> {
        let a = self.artifacts;
        let out = a
            .client
            .get_object()
            .bucket(&a.bucket)
            .key(&self.key)
            .range(format!(
                "bytes={}-{}",
                range.start,
                range.end.saturating_sub(1)
            ))
            .set_version_id(self.version_id.clone())
            .if_match(&self.etag)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(err) if status_of(&err) == Some(412) => {
                return Err(S3Error::Changed {
                    bucket: a.bucket.clone(),
                    key: self.key.clone(),
                })
            }
            Err(err) => return Err(sdk_error("GetObject", &a.bucket, &self.key, err)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| S3Error::Sdk {
                op: "GetObject",
                bucket: a.bucket.clone(),
                key: self.key.clone(),
                message: e.to_string(),
                source: Box::new(e),
            })?
            .into_bytes();
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_preference() {
        let sha = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="; // sha256("test")
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(verified_sha256(Some(sha), None).as_deref(), Some(hex));
        let mut meta = std::collections::HashMap::new();
        meta.insert(SHA256_METADATA.to_owned(), hex.to_uppercase());
        assert_eq!(
            verified_sha256(Some("abc-3"), Some(&meta)).as_deref(),
            Some(hex)
        );
        meta.insert(SHA256_METADATA.to_owned(), "nothex".into());
        assert_eq!(verified_sha256(None, Some(&meta)), None);
    }
}
