//! Builds a release zip from a component directory: `ferry.json` first (so registration needs
//! only two small ranged reads), then the Terraform and everything vendored, in a stable order.
//! The same directory always gives the same bytes (sorted entries, fixed timestamps and
//! permissions, no build time unless `SOURCE_DATE_EPOCH` or the manifest gives one), so
//! releasing an unchanged component again is the no-op it should be.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ferry_shared::model::{Manifest, MANIFEST_NAME, SCHEMA_VERSION};
use ferry_shared::zipread::{read_manifest, RangeRead};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org): the time a reproducible build records.
fn source_date() -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            let secs: i64 = v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"))?;
            chrono::DateTime::from_timestamp(secs, 0)
                .map(Some)
                .with_context(|| format!("SOURCE_DATE_EPOCH={v} is out of range"))
        }
        _ => Ok(None),
    }
}

/// The timestamp every entry gets: `SOURCE_DATE_EPOCH` when set (and within what zip can
/// hold), else zip's epoch, 1980-01-01.
fn entry_time(at: Option<chrono::DateTime<chrono::Utc>>) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    at.and_then(|t| {
        let y = u16::try_from(t.year()).ok()?;
        let b = |v: u32| u8::try_from(v).ok();
        zip::DateTime::from_date_and_time(
            y,
            b(t.month())?,
            b(t.day())?,
            b(t.hour())?,
            b(t.minute())?,
            b(t.second())?,
        )
        .ok()
    })
    .unwrap_or_default()
}

/// Writes `dir` as a release zip at `out`; `version`/`commit` override the directory's manifest.
/// An existing `out` is replaced only with `force`.
pub fn build(
    dir: &Path,
    out: Option<&Path>,
    version: Option<&str>,
    commit: Option<&str>,
    force: bool,
) -> Result<(PathBuf, Manifest)> {
    let manifest_path = dir.join(MANIFEST_NAME);
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", manifest_path.display()))?;
    let obj = value
        .as_object_mut()
        .with_context(|| format!("{} must hold a JSON object", manifest_path.display()))?;
    obj.entry("schema_version").or_insert(SCHEMA_VERSION.into());
    if let Some(v) = version {
        obj.insert("version".into(), v.into());
    }
    if let Some(c) = commit {
        obj.insert("commit".into(), c.into());
    }
    // The build time is recorded only when it is reproducible: from the manifest or
    // SOURCE_DATE_EPOCH, never the clock.
    let when = source_date()?;
    if let Some(t) = when {
        obj.entry("created_at")
            .or_insert_with(|| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into());
    }
    let bytes = serde_json::to_vec_pretty(&value)?;
    let manifest = Manifest::from_json(&bytes).context("invalid ferry.json")?;
    let tf_dir = dir.join(manifest.terraform_dir());
    if !tf_dir.is_dir() {
        bail!(
            "terraform_dir {} does not exist in {}",
            manifest.terraform_dir(),
            dir.display()
        );
    }

    let out = out.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(format!("{}-{}.zip", manifest.component, manifest.version))
    });
    if out.exists() && !force {
        bail!(
            "{} already exists; pass --force to replace it (or --out another path)",
            out.display()
        );
    }
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();

    let tmp = out.with_extension("zip.partial");
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(entry_time(when))
        .unix_permissions(0o644);
    zip.start_file(MANIFEST_NAME, opts)?;
    zip.write_all(&bytes)?;
    for rel in &files {
        let path = dir.join(rel);
        let meta = std::fs::metadata(&path)?;
        let name = rel.to_string_lossy().replace('\\', "/");
        // Only whether a file is executable survives: umasks differ between machines.
        let executable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
        let file_opts = opts
            .large_file(meta.len() >= u64::from(u32::MAX))
            .unix_permissions(if executable { 0o755 } else { 0o644 });
        zip.start_file(name, file_opts)?;
        let mut src = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        std::io::copy(&mut src, &mut zip)?;
    }
    zip.finish()?.flush()?;
    std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
    Ok((out, manifest))
}

/// Files under `dir` relative to `root`, leaving out the manifest (written first), local
/// terraform state and caches, and VCS metadata. Symlinks are refused: a release must be
/// self-contained.
fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root)?.to_path_buf();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            bail!(
                "{} is a symlink; releases must not contain links",
                rel.display()
            );
        }
        if kind.is_dir() {
            if name == ".git" || name == ".terraform" {
                continue;
            }
            collect(root, &path, out)?;
        } else if rel != Path::new(MANIFEST_NAME)
            && !name.ends_with(".tfstate")
            && !name.ends_with(".tfstate.backup")
            && !name.ends_with(".zip")
        {
            out.push(rel);
        }
    }
    Ok(())
}

/// A local zip read the way the registration Lambda reads S3: by ranges.
struct LocalZip(File);

impl RangeRead for LocalZip {
    type Error = std::io::Error;
    async fn read(&self, range: Range<u64>) -> Result<Vec<u8>, std::io::Error> {
        let mut buf = vec![0u8; usize::try_from(range.end - range.start).unwrap_or(0)];
        std::os::unix::fs::FileExt::read_exact_at(&self.0, &mut buf, range.start)?;
        Ok(buf)
    }
}

/// A release zip on disk, checked the way registration will check it.
pub struct LocalRelease {
    pub manifest: Manifest,
    pub sha256: [u8; 32],
    pub size: u64,
}

/// What `ferry release` knows of a zip before uploading it: its manifest (checked as
/// registration will), SHA-256 and size. `bar` shows the hashing (sized here to the file).
pub async fn inspect(path: &Path, bar: &indicatif::ProgressBar) -> Result<LocalRelease> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata()?.len();
    let reader = LocalZip(file.try_clone()?);
    // The reason's own Display already says what its source says: printed once, not as a chain.
    let invalid = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!("{} is not a valid release: {e}", path.display())
    };
    bar.set_length(size);
    let (bytes, _) = read_manifest(&reader, size)
        .await
        .map_err(|e| invalid(&e))?;
    let manifest = Manifest::from_json(&bytes).map_err(|e| invalid(&e))?;
    let mut hasher = Sha256::new();
    let mut f = file;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(LocalRelease {
        manifest,
        sha256: hasher.finalize().into(),
        size,
    })
}

/// Build a release zip from a component directory holding ferry.json and its Terraform.
///
/// Example: ferry package ./hello-service --set-version 1.2.0 --commit "$(git rev-parse HEAD)"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component directory.
    dir: PathBuf,
    /// Where to write the zip (default: <component>-<version>.zip).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override the manifest's version (`--version` is ferry's own, on the top level).
    #[arg(long = "set-version", value_name = "VERSION", value_parser = crate::parse::version)]
    version: Option<ferry_shared::model::Version>,
    /// Record this commit in the manifest.
    #[arg(long)]
    commit: Option<String>,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &crate::context::Context, args: Args) -> Result<crate::exit::Exit> {
    let version = args.version.map(|v| v.to_string());
    let (path, manifest) = build(
        &args.dir,
        args.out.as_deref(),
        version.as_deref(),
        args.commit.as_deref(),
        args.force,
    )?;
    if ctx.json() {
        crate::output::json(&serde_json::json!({
            "zip": path, "component": manifest.component, "version": manifest.version
        }))?;
    } else {
        println!("{}", path.display());
    }
    Ok(crate::exit::Exit::Success)
}
