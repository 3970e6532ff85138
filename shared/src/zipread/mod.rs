//! Finds and extracts `ferry.json` from a zip by reading only byte ranges: the zip's head and
//! tail, the part of the central directory the tail lacks (if any), and the entry itself when
//! the head doesn't hold it.
//!
//! The whole central directory is always read, because the directory is what extractors
//! trust: a name listed twice, or a local header the directory disagrees with, would give the
//! zip one meaning here and another in the build, so both are refused.
//!
//! The reader is a small trait so this logic runs on in-memory bytes in unit tests and on S3
//! ranged GETs in production.

mod records;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::ops::Range;

use flate2::read::DeflateDecoder;
use thiserror::Error;

use crate::model::MANIFEST_NAME;
use records::{
    find_directory, local_header, scan_directory, u32_at, Entry, LocalHeader, Window, EOCD_LEN,
    FLAG_DATA_DESCRIPTOR, FLAG_ENCRYPTED, LFH_LEN, LFH_SIG,
};

/// Bytes read from each end of the zip up front. `ferry package` writes `ferry.json` first, so
/// for its zips these two reads are all there is while the central directory fits in the tail
/// (about 600 files); a larger directory costs one more read of the part the tail lacks.
pub const PROBE_LEN: u64 = 64 * 1024;
/// The largest manifest accepted, uncompressed; enforced while inflating.
pub const MANIFEST_CAP: u64 = 64 * 1024;
/// A central directory larger than this is not worth reading for one file.
pub const CENTRAL_DIRECTORY_CAP: u64 = 16 * 1024 * 1024;
/// Slack for the local header's name and extra field when reading it with the data.
const LOCAL_HEADER_SLACK: u64 = 1024;

/// What can be wrong with a zip. Everything but `Read` is the uploader's problem.
#[derive(Debug, Error)]
pub enum ZipError<E: std::error::Error + 'static> {
    #[error("not a zip file (no zip signature at either end)")]
    NotAZip,
    #[error("truncated or corrupt zip: {0}")]
    Truncated(String),
    #[error("the zip has no ferry.json at its root")]
    MissingManifest,
    #[error("ferry.json is {0}; only stored and deflated, unencrypted entries are supported")]
    Unsupported(String),
    #[error("ferry.json is larger than the {MANIFEST_CAP}-byte limit")]
    TooLarge,
    #[error(
        "the zip lists {0:?} more than once; tools disagree on which copy counts, \
         so every entry name must be unique"
    )]
    DuplicateEntry(String),
    #[error("inconsistent zip: {0}")]
    Inconsistent(String),
    #[error("reading the zip failed")]
    Read(#[source] E),
}

/// Reads byte ranges of one immutable object.
pub trait RangeRead {
    type Error: std::error::Error + Send + Sync + 'static;
    /// Returns exactly the bytes in `range` (the caller keeps ranges inside the object).
    fn read(
        &self,
        range: Range<u64>,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, Self::Error>> + Send;
}

fn corrupt<E: std::error::Error>(why: impl Into<String>) -> ZipError<E> {
    ZipError::Truncated(why.into())
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Counts the bytes read so the caller can report them.
struct Counted<'a, R> {
    reader: &'a R,
    bytes: u64,
}

impl<R: RangeRead> Counted<'_, R> {
    async fn read(&mut self, start: u64, end: u64) -> Result<Vec<u8>, ZipError<R::Error>> {
        let data = self.reader.read(start..end).await.map_err(ZipError::Read)?;
        self.bytes = self.bytes.saturating_add(data.len() as u64);
        Ok(data)
    }
}

/// The local header must say what the directory says, or the zip means two things.
fn check_agrees<E: std::error::Error>(
    listed: &Entry,
    local: &LocalHeader<'_>,
) -> Result<(), ZipError<E>> {
    if local.name != MANIFEST_NAME.as_bytes() {
        return Err(ZipError::Inconsistent(format!(
            "the central directory puts ferry.json at offset {}, but the local header there is for {:?}",
            listed.local_header,
            lossy(local.name)
        )));
    }
    let l = &local.entry;
    // With a data descriptor the local header's sizes and CRC are zero by design.
    let sizes_known = l.flags & FLAG_DATA_DESCRIPTOR == 0;
    if l.method != listed.method
        || (sizes_known
            && (l.crc32, l.compressed, l.uncompressed)
                != (listed.crc32, listed.compressed, listed.uncompressed))
    {
        return Err(ZipError::Inconsistent(format!(
            "ferry.json's local header (method {}, CRC {:08x}, {} bytes compressed, {} uncompressed) \
             disagrees with the central directory (method {}, CRC {:08x}, {} bytes compressed, {} uncompressed)",
            l.method, l.crc32, l.compressed, l.uncompressed,
            listed.method, listed.crc32, listed.compressed, listed.uncompressed
        )));
    }
    Ok(())
}

/// Inflates (or copies) the entry's data, never producing more than the cap, and checks its CRC.
fn decode<E: std::error::Error>(entry: &Entry, data: &[u8]) -> Result<Vec<u8>, ZipError<E>> {
    let mut out = Vec::new();
    let read = match entry.method {
        0 => data.take(MANIFEST_CAP + 1).read_to_end(&mut out),
        8 => DeflateDecoder::new(data)
            .take(MANIFEST_CAP + 1)
            .read_to_end(&mut out),
        m => return Err(ZipError::Unsupported(format!("compressed with method {m}"))),
    };
    read.map_err(|e| corrupt(format!("ferry.json does not inflate: {e}")))?;
    if out.len() as u64 > MANIFEST_CAP {
        return Err(ZipError::TooLarge);
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if crc.sum() != entry.crc32 || out.len() as u64 != entry.uncompressed {
        return Err(corrupt("ferry.json fails its CRC check"));
    }
    Ok(out)
}

/// Extracts `ferry.json` from a zip of `size` bytes. Returns the manifest bytes and the number
/// of bytes read.
pub async fn read_manifest<R: RangeRead>(
    reader: &R,
    size: u64,
) -> Result<(Vec<u8>, u64), ZipError<R::Error>> {
    if size < EOCD_LEN as u64 {
        return Err(ZipError::NotAZip);
    }
    let mut r = Counted { reader, bytes: 0 };
    // A small object is read in one go; otherwise the head and tail concurrently.
    let (head, tail) = if size <= 2 * PROBE_LEN {
        let data = r.read(0, size).await?;
        (None, Window { start: 0, data })
    } else {
        let tail_start = size - PROBE_LEN;
        let (h, t) = futures::join!(reader.read(0..PROBE_LEN), reader.read(tail_start..size));
        let (h, t) = (h.map_err(ZipError::Read)?, t.map_err(ZipError::Read)?);
        r.bytes = (h.len() + t.len()) as u64;
        let tail = Window {
            start: tail_start,
            data: t,
        };
        (Some(Window { start: 0, data: h }), tail)
    };
    let head = head.as_ref().unwrap_or(&tail);
    let starts_like_zip = u32_at(&head.data, 0) == Some(LFH_SIG);

    let dir = match find_directory(&tail, size) {
        Ok(dir) => dir,
        Err(ZipError::NotAZip) if starts_like_zip => {
            return Err(corrupt("no end-of-central-directory record (cut short?)"))
        }
        Err(e) => return Err(e),
    };
    if dir.size > CENTRAL_DIRECTORY_CAP {
        return Err(ZipError::Unsupported(format!(
            "listed in a {}-byte central directory (limit {CENTRAL_DIRECTORY_CAP})",
            dir.size
        )));
    }

    // The directory ends inside the tail or before it; read only what the tail lacks.
    let fetched;
    let cd: &[u8] = match tail.slice(dir.offset, dir.end()) {
        Some(cd) => cd,
        None => {
            let split = dir.end().min(tail.start);
            let mut data = r.read(dir.offset, split).await?;
            if split < dir.end() {
                let rest = tail
                    .slice(split, dir.end())
                    .ok_or_else(|| corrupt("the central directory runs past the end"))?;
                data.extend_from_slice(rest);
            }
            fetched = data;
            &fetched
        }
    };
    let listing = scan_directory(cd, dir.entries)?;

    // A local header at offset 0 that the directory does not list is a hidden entry: streaming
    // extractors would see it, directory-based ones would not.
    if starts_like_zip {
        let first = local_header(head).ok_or_else(|| corrupt("bad local header at offset 0"))?;
        if listing.name_at_zero.as_deref() != Some(first.name) {
            return Err(ZipError::Inconsistent(format!(
                "a local header for {:?} at offset 0 is not listed in the central directory{}",
                lossy(first.name),
                match &listing.name_at_zero {
                    Some(n) => format!(" (it lists {:?} there)", lossy(n)),
                    None => String::new(),
                }
            )));
        }
    }

    let entry = listing.manifest.ok_or(ZipError::MissingManifest)?;
    if entry.flags & FLAG_ENCRYPTED != 0 {
        return Err(ZipError::Unsupported("encrypted".into()));
    }
    if entry.uncompressed > MANIFEST_CAP {
        return Err(ZipError::TooLarge);
    }
    // Deflate can't shrink below ~1/1032, but can grow incompressible input slightly.
    if entry.compressed > MANIFEST_CAP + 1024 {
        return Err(ZipError::TooLarge);
    }

    // Local headers precede the directory; the header's name/extra lengths can differ from the
    // directory's, so a generous window covers header + data in one read.
    let lfh_start = entry.local_header;
    let header_end = lfh_start
        .checked_add(LFH_LEN as u64)
        .filter(|&end| end <= dir.offset)
        .ok_or_else(|| {
            corrupt(format!(
                "ferry.json's local header is said to be at offset {lfh_start}, past the entries"
            ))
        })?;
    let guess_end = header_end
        .saturating_add(LOCAL_HEADER_SLACK)
        .saturating_add(entry.compressed)
        .min(dir.offset);
    let window = match head
        .slice(lfh_start, guess_end)
        .or_else(|| tail.slice(lfh_start, guess_end))
    {
        Some(s) => Window {
            start: lfh_start,
            data: s.to_vec(),
        },
        None => Window {
            start: lfh_start,
            data: r.read(lfh_start, guess_end).await?,
        },
    };
    let local = local_header(&window).ok_or_else(|| {
        corrupt(format!(
            "no valid local header for ferry.json at offset {lfh_start}"
        ))
    })?;
    check_agrees(&entry, &local)?;
    let data_end = local
        .data_start
        .checked_add(entry.compressed)
        .filter(|&end| end <= dir.offset)
        .ok_or_else(|| corrupt("ferry.json's data runs past the entries"))?;
    let manifest = match window.slice(local.data_start, data_end) {
        Some(data) => decode(&entry, data)?,
        // Only a local extra field larger than the slack lands here.
        None => decode(&entry, &r.read(local.data_start, data_end).await?)?,
    };
    Ok((manifest, r.bytes))
}
