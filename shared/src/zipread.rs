//! Finds and extracts `ferry.json` from a zip by reading only byte ranges: the zip's head and
//! tail, then (only when those don't hold it) the central directory and the entry itself.
//!
//! The reader is a small trait so this logic runs on in-memory bytes in unit tests and on S3
//! ranged GETs in production.

use std::io::Read;
use std::ops::Range;

use flate2::read::DeflateDecoder;
use thiserror::Error;

use crate::model::MANIFEST_NAME;

/// Bytes read from each end of the zip up front. `ferry release` writes `ferry.json` first, so for
/// its zips these two reads are all there is, however many files the release holds.
pub const PROBE_LEN: u64 = 64 * 1024;
/// The largest manifest accepted, uncompressed; enforced while inflating.
pub const MANIFEST_CAP: u64 = 64 * 1024;
/// A central directory larger than this is not worth reading for one file's offset.
pub const CENTRAL_DIRECTORY_CAP: u64 = 16 * 1024 * 1024;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_EOCD_LEN: usize = 56;
const CDH_SIG: u32 = 0x0201_4b50;
const CDH_LEN: usize = 46;
const LFH_SIG: u32 = 0x0403_4b50;
const LFH_LEN: usize = 30;

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

/// A buffer holding `data` at absolute offset `start` of the object.
struct Window {
    start: u64,
    data: Vec<u8>,
}

impl Window {
    fn slice(&self, range: Range<u64>) -> Option<&[u8]> {
        if range.start < self.start {
            return None;
        }
        let a = usize::try_from(range.start - self.start).ok()?;
        let b = usize::try_from(range.end - self.start).ok()?;
        self.data.get(a..b)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Where the central directory is, from the end-of-central-directory records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Directory {
    offset: u64,
    size: u64,
    entries: u64,
}

/// The manifest entry as the central directory (or first local header) describes it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    method: u16,
    flags: u16,
    crc32: u32,
    compressed: u64,
    uncompressed: u64,
    local_header: u64,
}

fn truncated<E: std::error::Error>(why: impl Into<String>) -> ZipError<E> {
    ZipError::Truncated(why.into())
}

/// Finds the EOCD in the object's tail and resolves zip64 if the classic record is saturated.
fn find_directory<E: std::error::Error>(
    tail: &Window,
    size: u64,
) -> Result<Directory, ZipError<E>> {
    let d = &tail.data;
    if d.len() < EOCD_LEN {
        return Err(ZipError::NotAZip);
    }
    // The EOCD is followed only by its comment, so scan backwards for a record whose comment
    // length reaches exactly to the end.
    let eocd_at = (0..=d.len() - EOCD_LEN)
        .rev()
        .find(|&i| {
            u32_at(d, i) == EOCD_SIG && i + EOCD_LEN + usize::from(u16_at(d, i + 20)) == d.len()
        })
        .ok_or(ZipError::NotAZip)?;
    let e = &d[eocd_at..];
    let mut dir = Directory {
        entries: u64::from(u16_at(e, 10)),
        size: u64::from(u32_at(e, 12)),
        offset: u64::from(u32_at(e, 16)),
    };
    let saturated = dir.entries == 0xFFFF || dir.size == 0xFFFF_FFFF || dir.offset == 0xFFFF_FFFF;
    if saturated && eocd_at >= ZIP64_LOCATOR_LEN {
        let loc = &d[eocd_at - ZIP64_LOCATOR_LEN..eocd_at];
        if u32_at(loc, 0) == ZIP64_LOCATOR_SIG {
            let z64_at = u64_at(loc, 8);
            let rec = tail
                .slice(z64_at..z64_at + ZIP64_EOCD_LEN as u64)
                .ok_or_else(|| truncated("zip64 end record outside the zip"))?;
            if u32_at(rec, 0) != ZIP64_EOCD_SIG {
                return Err(truncated("bad zip64 end record signature"));
            }
            dir = Directory {
                entries: u64_at(rec, 32),
                size: u64_at(rec, 40),
                offset: u64_at(rec, 48),
            };
        }
    }
    let eocd_abs = tail.start + eocd_at as u64;
    if dir
        .offset
        .checked_add(dir.size)
        .is_none_or(|end| end > eocd_abs)
        || eocd_abs > size
    {
        return Err(truncated(
            "central directory lies beyond the end of the file",
        ));
    }
    Ok(dir)
}

/// Scans the central directory for `ferry.json` at the zip root.
fn find_in_directory<E: std::error::Error>(cd: &[u8], entries: u64) -> Result<Entry, ZipError<E>> {
    let mut at = 0usize;
    for _ in 0..entries {
        let h = cd
            .get(at..at + CDH_LEN)
            .ok_or_else(|| truncated("central directory ends early"))?;
        if u32_at(h, 0) != CDH_SIG {
            return Err(truncated("bad central directory entry signature"));
        }
        let name_len = usize::from(u16_at(h, 28));
        let extra_len = usize::from(u16_at(h, 30));
        let comment_len = usize::from(u16_at(h, 32));
        let name = cd
            .get(at + CDH_LEN..at + CDH_LEN + name_len)
            .ok_or_else(|| truncated("central directory ends early"))?;
        if name == MANIFEST_NAME.as_bytes() {
            let extra = cd
                .get(at + CDH_LEN + name_len..at + CDH_LEN + name_len + extra_len)
                .ok_or_else(|| truncated("central directory ends early"))?;
            let mut entry = Entry {
                flags: u16_at(h, 8),
                method: u16_at(h, 10),
                crc32: u32_at(h, 16),
                compressed: u64::from(u32_at(h, 20)),
                uncompressed: u64::from(u32_at(h, 24)),
                local_header: u64::from(u32_at(h, 42)),
            };
            apply_zip64_extra(&mut entry, extra, true);
            return Ok(entry);
        }
        at += CDH_LEN + name_len + extra_len + comment_len;
    }
    Err(ZipError::MissingManifest)
}

/// Replaces saturated 32-bit fields with their zip64 extra-field values (in the order the
/// spec lists them, present only for fields that are saturated).
fn apply_zip64_extra(entry: &mut Entry, mut extra: &[u8], with_offset: bool) {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = usize::from(u16_at(extra, 2));
        let Some(body) = extra.get(4..4 + len) else {
            return;
        };
        if id == 0x0001 {
            let mut fields = body.chunks_exact(8).map(|c| u64_at(c, 0));
            if entry.uncompressed == 0xFFFF_FFFF {
                entry.uncompressed = fields.next().unwrap_or(entry.uncompressed);
            }
            if entry.compressed == 0xFFFF_FFFF {
                entry.compressed = fields.next().unwrap_or(entry.compressed);
            }
            if with_offset && entry.local_header == 0xFFFF_FFFF {
                entry.local_header = fields.next().unwrap_or(entry.local_header);
            }
            return;
        }
        extra = &extra[4 + len..];
    }
}

/// Reads the first local header when it is `ferry.json` with sizes known up front (no data
/// descriptor), the layout `ferry release` writes.
fn first_entry_if_manifest(head: &Window) -> Option<Entry> {
    let h = head.data.get(..LFH_LEN)?;
    if u32_at(h, 0) != LFH_SIG {
        return None;
    }
    let name_len = usize::from(u16_at(h, 26));
    let extra_len = usize::from(u16_at(h, 28));
    if head.data.get(LFH_LEN..LFH_LEN + name_len)? != MANIFEST_NAME.as_bytes() {
        return None;
    }
    let flags = u16_at(h, 6);
    if flags & 0x0008 != 0 {
        return None; // sizes live in a trailing data descriptor
    }
    let mut entry = Entry {
        flags,
        method: u16_at(h, 8),
        crc32: u32_at(h, 14),
        compressed: u64::from(u32_at(h, 18)),
        uncompressed: u64::from(u32_at(h, 22)),
        local_header: 0,
    };
    let extra = head
        .data
        .get(LFH_LEN + name_len..LFH_LEN + name_len + extra_len)?;
    apply_zip64_extra(&mut entry, extra, false);
    Some(entry)
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
    read.map_err(|e| truncated(format!("ferry.json does not inflate: {e}")))?;
    if out.len() as u64 > MANIFEST_CAP {
        return Err(ZipError::TooLarge);
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if crc.sum() != entry.crc32 || out.len() as u64 != entry.uncompressed {
        return Err(truncated("ferry.json fails its CRC check"));
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
    let mut bytes_read = 0u64;
    // A small object is read in one go; otherwise the head and tail concurrently.
    let (head, tail) = if size <= 2 * PROBE_LEN {
        let data = reader.read(0..size).await.map_err(ZipError::Read)?;
        bytes_read += data.len() as u64;
        let w = Window { start: 0, data };
        (None, w)
    } else {
        let tail_start = size - PROBE_LEN;
        let (h, t) = futures::join!(reader.read(0..PROBE_LEN), reader.read(tail_start..size));
        let (h, t) = (h.map_err(ZipError::Read)?, t.map_err(ZipError::Read)?);
        bytes_read += (h.len() + t.len()) as u64;
        (
            Some(Window { start: 0, data: h }),
            Window {
                start: tail_start,
                data: t,
            },
        )
    };
    let head = head.as_ref().unwrap_or(&tail);
    let starts_like_zip = head.data.get(..4).is_some_and(|m| u32_at(m, 0) == LFH_SIG);

    let dir = match find_directory(&tail, size) {
        Ok(dir) => dir,
        Err(ZipError::NotAZip) if starts_like_zip => {
            return Err(truncated("no end-of-central-directory record (cut short?)"))
        }
        Err(e) => return Err(e),
    };

    let cd_range = dir.offset..dir.offset + dir.size;
    let entry = if let Some(cd) = tail.slice(cd_range.clone()) {
        find_in_directory(cd, dir.entries)?
    } else if let Some(entry) = first_entry_if_manifest(head) {
        entry
    } else {
        if dir.size > CENTRAL_DIRECTORY_CAP {
            return Err(ZipError::Unsupported(format!(
                "listed in a {}-byte central directory (limit {CENTRAL_DIRECTORY_CAP})",
                dir.size
            )));
        }
        let cd = reader.read(cd_range).await.map_err(ZipError::Read)?;
        bytes_read += cd.len() as u64;
        find_in_directory(&cd, dir.entries)?
    };

    if entry.flags & 0x0001 != 0 {
        return Err(ZipError::Unsupported("encrypted".into()));
    }
    if entry.uncompressed > MANIFEST_CAP {
        return Err(ZipError::TooLarge);
    }
    // Deflate can't shrink below ~1/1032, but can grow incompressible input slightly.
    if entry.compressed > MANIFEST_CAP + 1024 {
        return Err(ZipError::TooLarge);
    }

    // The local header's name/extra lengths can differ from the central directory's, so read
    // them before the data. A generous window covers header + data in one read.
    let lfh_start = entry.local_header;
    let guess_end = (lfh_start + LFH_LEN as u64 + 1024 + entry.compressed).min(dir.offset);
    if guess_end < lfh_start + LFH_LEN as u64 {
        return Err(truncated("ferry.json's local header lies beyond the data"));
    }
    let window = match head
        .slice(lfh_start..guess_end)
        .or_else(|| tail.slice(lfh_start..guess_end))
    {
        Some(s) => Window {
            start: lfh_start,
            data: s.to_vec(),
        },
        None => {
            let data = reader
                .read(lfh_start..guess_end)
                .await
                .map_err(ZipError::Read)?;
            bytes_read += data.len() as u64;
            Window {
                start: lfh_start,
                data,
            }
        }
    };
    let lfh = window
        .data
        .get(..LFH_LEN)
        .filter(|h| u32_at(h, 0) == LFH_SIG)
        .ok_or_else(|| truncated("bad local header for ferry.json"))?;
    let data_start =
        lfh_start + LFH_LEN as u64 + u64::from(u16_at(lfh, 26)) + u64::from(u16_at(lfh, 28));
    let data = window
        .slice(data_start..data_start + entry.compressed)
        .ok_or_else(|| truncated("ferry.json's data runs past the end"))?;
    Ok((decode(&entry, data)?, bytes_read))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Mem {
        data: Vec<u8>,
        reads: AtomicU64,
    }
    impl RangeRead for Mem {
        type Error = Infallible;
        async fn read(&self, r: Range<u64>) -> Result<Vec<u8>, Infallible> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            Ok(self.data[r.start as usize..r.end as usize].to_vec())
        }
    }

    fn zip_with(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, body) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    async fn extract(data: Vec<u8>) -> Result<Vec<u8>, ZipError<Infallible>> {
        let size = data.len() as u64;
        let m = Mem {
            data,
            reads: AtomicU64::new(0),
        };
        read_manifest(&m, size).await.map(|(b, _)| b)
    }

    const MANIFEST: &[u8] = br#"{"schema_version":1,"component":"web","version":"1.0.0"}"#;

    #[tokio::test]
    async fn stored_and_deflated() {
        for method in [
            zip::CompressionMethod::Stored,
            zip::CompressionMethod::Deflated,
        ] {
            let z = zip_with(&[("main.tf", b"# tf"), ("ferry.json", MANIFEST)], method);
            assert_eq!(extract(z).await.unwrap(), MANIFEST);
        }
    }

    #[tokio::test]
    async fn first_entry_needs_only_head_and_tail() {
        // Many large incompressible files push the central directory out of the tail window.
        let mut files: Vec<(String, Vec<u8>)> = vec![("ferry.json".into(), MANIFEST.to_vec())];
        for i in 0..3000 {
            files.push((
                format!("modules/m{i}/very/long/path/name/to/grow/the/directory.tf"),
                vec![b'x'; 200],
            ));
        }
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
        let z = zip_with(&refs, zip::CompressionMethod::Deflated);
        let size = z.len() as u64;
        let m = Mem {
            data: z,
            reads: AtomicU64::new(0),
        };
        let (bytes, read) = read_manifest(&m, size).await.unwrap();
        assert_eq!(bytes, MANIFEST);
        assert_eq!(m.reads.load(Ordering::Relaxed), 2);
        assert_eq!(read, 2 * PROBE_LEN);
    }

    #[tokio::test]
    async fn manifest_last_with_large_directory_reads_directory() {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..3000 {
            files.push((
                format!("modules/m{i}/very/long/path/name/to/grow/the/directory.tf"),
                vec![b'x'; 200],
            ));
        }
        files.push(("ferry.json".into(), MANIFEST.to_vec()));
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
        let z = zip_with(&refs, zip::CompressionMethod::Deflated);
        assert_eq!(extract(z).await.unwrap(), MANIFEST);
    }

    #[tokio::test]
    async fn bad_inputs() {
        assert!(matches!(
            extract(b"hello world, not a zip at all".to_vec()).await,
            Err(ZipError::NotAZip)
        ));
        let z = zip_with(
            &[("ferry.json", MANIFEST), ("b", &[7u8; 5000])],
            zip::CompressionMethod::Stored,
        );
        let cut = z[..z.len() - 30].to_vec();
        assert!(matches!(extract(cut).await, Err(ZipError::Truncated(_))));
        let z = zip_with(&[("main.tf", b"x")], zip::CompressionMethod::Stored);
        assert!(matches!(extract(z).await, Err(ZipError::MissingManifest)));
        let z = zip_with(
            &[("sub/ferry.json", MANIFEST)],
            zip::CompressionMethod::Stored,
        );
        assert!(matches!(extract(z).await, Err(ZipError::MissingManifest)));
        let big = vec![b' '; (MANIFEST_CAP + 1) as usize];
        let z = zip_with(&[("ferry.json", &big)], zip::CompressionMethod::Deflated);
        assert!(matches!(extract(z).await, Err(ZipError::TooLarge)));
        assert!(matches!(extract(vec![]).await, Err(ZipError::NotAZip)));
    }

    #[tokio::test]
    async fn corrupted_data_fails_crc() {
        let mut z = zip_with(&[("ferry.json", MANIFEST)], zip::CompressionMethod::Stored);
        let pos = z.windows(6).position(|w| w == b"schema").unwrap();
        z[pos] = b'S';
        assert!(matches!(extract(z).await, Err(ZipError::Truncated(_))));
    }
}
