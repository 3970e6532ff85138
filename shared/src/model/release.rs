//! Releases: names and versions, the release key, the `ferry.json` manifest, registered
//! releases and the rejections of uploads that were not registered.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::string_enum;

/// The only manifest schema this build understands.
pub const SCHEMA_VERSION: u32 = 1;
/// The S3 prefix release zips live under.
pub const RELEASES_PREFIX: &str = "releases/";
/// The manifest's file name at the zip's root.
pub const MANIFEST_NAME: &str = "ferry.json";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("invalid component name {0:?}: use 1-64 characters of a-z, 0-9 and '-'")]
    Component(String),
    #[error("invalid version {0:?}: not a semantic version ({1})")]
    Version(String, String),
    #[error("invalid environment name {0:?}: use 1-32 characters of a-z, 0-9 and '-'")]
    Environment(String),
    #[error("key {0:?} is not of the form releases/<component>/<version>.zip")]
    Key(String),
}

fn is_slug(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A lowercase `[a-z0-9-]` name of bounded length, parsed once: `slug_name!(Type, max, error)`.
macro_rules! slug_name {
    ($(#[$meta:meta])* $name:ident, $max:literal, $err:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                if is_slug(s, $max) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(ParseError::$err(s.to_owned()))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(c: $name) -> String {
                c.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_name!(
    /// A component name: lowercase `[a-z0-9-]`, 1–64 characters.
    ComponentName,
    64,
    Component
);
slug_name!(
    /// An environment name (staging, prod, …): lowercase `[a-z0-9-]`, 1–32 characters.
    EnvironmentName,
    32,
    Environment
);

/// A semantic version. Ordering is semver precedence: 1.10.0 > 1.9.0, 1.0.0-rc.1 < 1.0.0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(semver::Version);

impl Version {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        semver::Version::parse(s)
            .map(Self)
            .map_err(|e| ParseError::Version(s.to_owned(), e.to_string()))
    }
    pub fn is_prerelease(&self) -> bool {
        !self.0.pre.is_empty()
    }

    /// 0.0.0: the version a history line names when no release was ever deployed (a lock or an
    /// environment cleared where nothing ran).
    pub fn none() -> Self {
        Self(semver::Version::new(0, 0, 0))
    }
}
impl TryFrom<String> for Version {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<Version> for String {
    fn from(v: Version) -> String {
        v.0.to_string()
    }
}
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An S3 event's object key as the object is named: event keys are form-encoded ('+' is a
/// space, '/' may arrive as %2F).
pub fn decode_event_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// A version to deploy: an exact one, or `latest` (the newest registered by semver precedence,
/// pre-releases only when there is nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum VersionSpec {
    Latest,
    Exact(Version),
}

impl VersionSpec {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s == "latest" {
            Ok(Self::Latest)
        } else {
            Version::parse(s).map(Self::Exact)
        }
    }
}
impl TryFrom<String> for VersionSpec {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<VersionSpec> for String {
    fn from(v: VersionSpec) -> String {
        match v {
            VersionSpec::Latest => "latest".into(),
            VersionSpec::Exact(v) => v.to_string(),
        }
    }
}

/// Where a release lives in the artifact bucket: `releases/<component>/<version>.zip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseKey {
    pub component: ComponentName,
    pub version: Version,
}

impl ReleaseKey {
    pub fn new(component: ComponentName, version: Version) -> Self {
        Self { component, version }
    }

    pub fn parse(key: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::Key(key.to_owned());
        let rest = key.strip_prefix(RELEASES_PREFIX).ok_or_else(bad)?;
        let (component, file) = rest.split_once('/').ok_or_else(bad)?;
        let version = file.strip_suffix(".zip").ok_or_else(bad)?;
        Ok(Self {
            component: ComponentName::parse(component)?,
            version: Version::parse(version)?,
        })
    }

    /// The raw component segment of a key that may not parse, so a rejection can still be
    /// filed under the component the uploader meant.
    pub fn component_segment(key: &str) -> &str {
        key.strip_prefix(RELEASES_PREFIX)
            .and_then(|r| r.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("_")
    }

    pub fn s3_key(&self) -> String {
        format!("{RELEASES_PREFIX}{}/{}.zip", self.component, self.version)
    }
}

impl fmt::Display for ReleaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.s3_key())
    }
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("ferry.json is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("ferry.json has schema_version {0}; this Ferry understands {SCHEMA_VERSION}")]
    Schema(u64),
    #[error("ferry.json: {0}")]
    Field(#[from] ParseError),
    #[error("ferry.json: terraform_dir {0:?} must be a relative path inside the zip")]
    TerraformDir(String),
}

/// `ferry.json`, the release manifest at the zip's root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub component: ComponentName,
    pub version: Version,
    pub commit: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// Directory of the Terraform root module inside the zip; "." when absent.
    pub terraform_dir: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// Just enough of the manifest to tell a schema problem from a field problem.
#[derive(Deserialize)]
struct SchemaProbe {
    schema_version: serde_json::Value,
}

impl Manifest {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
        // Check the schema first: a future schema's fields must not be judged by this one's rules.
        let probe: SchemaProbe =
            serde_json::from_value(value.clone()).map_err(ManifestError::Json)?;
        match probe.schema_version.as_u64() {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => return Err(ManifestError::Schema(v)),
            None => return Err(ManifestError::Schema(0)),
        }
        // Validate names before serde so the error names the field's problem, not serde's.
        let field = |name: &str| {
            value.get(name).and_then(|v| v.as_str()).ok_or_else(|| {
                ManifestError::Json(serde::de::Error::custom(format!(
                    "missing string field `{name}`"
                )))
            })
        };
        ComponentName::parse(field("component")?)?;
        Version::parse(field("version")?)?;
        let manifest: Manifest = serde_json::from_value(value).map_err(ManifestError::Json)?;
        if let Some(dir) = &manifest.terraform_dir {
            let escapes =
                dir.starts_with('/') || dir.contains('\\') || dir.split('/').any(|seg| seg == "..");
            if escapes || dir.is_empty() {
                return Err(ManifestError::TerraformDir(dir.clone()));
            }
        }
        Ok(manifest)
    }

    pub fn key(&self) -> ReleaseKey {
        ReleaseKey::new(self.component.clone(), self.version.clone())
    }

    pub fn terraform_dir(&self) -> &str {
        self.terraform_dir.as_deref().unwrap_or(".")
    }
}

/// A registered release: immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub component: ComponentName,
    pub version: Version,
    pub s3_key: String,
    /// Hex SHA-256 of the zip, as S3 verified it at upload.
    pub sha256: String,
    pub size: u64,
    pub etag: String,
    /// The S3 VersionId of exactly these bytes; builds download this version and no other.
    /// `None` only for a bucket without versioning (and releases registered before it).
    #[serde(default)]
    pub version_id: Option<String>,
    pub manifest: Manifest,
    pub registered_at: DateTime<Utc>,
}

string_enum! {
    /// Why an upload was not registered. The kind is stable for scripts; the message is for people.
    pub enum RejectionKind {
        InvalidKey = "invalid-key",
        NotAZip = "not-a-zip",
        TruncatedZip = "truncated-zip",
        MissingManifest = "missing-manifest",
        UnsupportedEntry = "unsupported-entry",
        ManifestTooLarge = "manifest-too-large",
        InvalidJson = "invalid-json",
        UnsupportedSchema = "unsupported-schema",
        InvalidManifest = "invalid-manifest",
        KeyMismatch = "key-mismatch",
        MissingChecksum = "missing-checksum",
        Conflict = "conflict",
        DuplicateEntry = "duplicate-entry",
        InconsistentZip = "inconsistent-zip",
    }
}

/// A recorded refusal to register an upload, kept so users can see why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The component segment of the key (raw: the key itself may be what was wrong).
    pub component: String,
    pub s3_key: String,
    pub etag: String,
    pub kind: RejectionKind,
    pub reason: String,
    pub rejected_at: DateTime<Utc>,
    pub sha256: Option<String>,
    /// The S3 VersionId of the refused bytes, so they can be found (and removed) exactly.
    #[serde(default)]
    pub version_id: Option<String>,
}

impl Rejection {
    pub fn new(s3_key: &str, etag: &str, kind: RejectionKind, reason: impl Into<String>) -> Self {
        Self {
            component: ReleaseKey::component_segment(s3_key).to_owned(),
            s3_key: s3_key.to_owned(),
            etag: etag.to_owned(),
            kind,
            reason: reason.into(),
            rejected_at: Utc::now(),
            sha256: None,
            version_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Result<Manifest, ManifestError> {
        Manifest::from_json(json.as_bytes())
    }

    #[test]
    fn component_names() {
        assert!(ComponentName::parse("web-api-2").is_ok());
        assert!(ComponentName::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "Web", "a_b", "a/b", "a b", "é", &"a".repeat(65)] {
            assert!(ComponentName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn semver_precedence() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.10.0") > v("1.9.0"));
        assert!(v("1.10.0-rc.1") < v("1.10.0"));
        assert!(v("1.10.0-rc.1") > v("1.9.0"));
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(Version::parse("1.0").is_err());
        assert!(Version::parse("v1.0.0").is_err());
        assert_eq!(v("1.2.3-rc.1+build.5").to_string(), "1.2.3-rc.1+build.5");
    }

    #[test]
    fn release_keys() {
        let k = ReleaseKey::parse("releases/web/1.2.3.zip").unwrap();
        assert_eq!(k.component.as_str(), "web");
        assert_eq!(k.version.to_string(), "1.2.3");
        assert_eq!(k.s3_key(), "releases/web/1.2.3.zip");
        let k = ReleaseKey::parse("releases/web/1.2.3-rc.1.zip").unwrap();
        assert!(k.version.is_prerelease());
        for bad in [
            "releases/web/1.2.3",
            "releases/web/1.2.zip",
            "releases/Web/1.2.3.zip",
            "other/web/1.2.3.zip",
            "releases/web.zip",
            "releases/web/x/1.2.3.zip",
        ] {
            assert!(ReleaseKey::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(ReleaseKey::component_segment("releases/We b/x.zip"), "We b");
        assert_eq!(ReleaseKey::component_segment("elsewhere.zip"), "_");
    }

    #[test]
    fn manifest_parsing() {
        let m = manifest(
            r#"{"schema_version":1,"component":"web","version":"1.0.0","commit":"abc",
                "created_at":"2026-11-21T10:00:00Z","terraform_dir":"infra","metadata":{"team":"a"}}"#,
        )
        .unwrap();
        assert_eq!(m.key().s3_key(), "releases/web/1.0.0.zip");
        assert_eq!(m.terraform_dir(), "infra");
        let m = manifest(r#"{"schema_version":1,"component":"web","version":"1.0.0"}"#).unwrap();
        assert_eq!(m.terraform_dir(), ".");
    }

    #[test]
    fn manifest_errors_name_the_problem() {
        let err = |j| manifest(j).unwrap_err().to_string();
        assert!(err("{").contains("not valid JSON"));
        assert!(
            err(r#"{"schema_version":2,"component":"web","version":"1.0.0"}"#)
                .contains("schema_version 2")
        );
        assert!(err(r#"{"component":"web","version":"1.0.0"}"#).contains("not valid JSON"));
        assert!(
            err(r#"{"schema_version":1,"component":"Web","version":"1.0.0"}"#)
                .contains("invalid component name")
        );
        assert!(
            err(r#"{"schema_version":1,"component":"web","version":"1.0"}"#)
                .contains("invalid version")
        );
        assert!(err(r#"{"schema_version":1,"version":"1.0.0"}"#).contains("component"));
        assert!(err(
            r#"{"schema_version":1,"component":"web","version":"1.0.0","terraform_dir":"../x"}"#
        )
        .contains("terraform_dir"));
    }
}
