//! Bounds-checked parsing of the zip records Ferry reads. Every offset, length and count here
//! comes from the upload, so none is trusted for indexing or arithmetic: a crafted value is an
//! error, never a panic or a wrapped sum.

use std::collections::HashSet;

use super::{corrupt, ZipError};
use crate::model::MANIFEST_NAME;

const EOCD_SIG: u32 = 0x0605_4b50;
pub(super) const EOCD_LEN: usize = 22;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: usize = 20;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_EOCD_LEN: u64 = 56;
const CDH_SIG: u32 = 0x0201_4b50;
const CDH_LEN: usize = 46;
pub(super) const LFH_SIG: u32 = 0x0403_4b50;
pub(super) const LFH_LEN: usize = 30;

/// General-purpose flag: sizes and CRC follow the data instead of sitting in the local header.
pub(super) const FLAG_DATA_DESCRIPTOR: u16 = 0x0008;
pub(super) const FLAG_ENCRYPTED: u16 = 0x0001;

pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}
pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// A buffer holding `data` at absolute offset `start` of the object.
pub(super) struct Window {
    pub start: u64,
    pub data: Vec<u8>,
}

impl Window {
    /// The bytes `start..end` of the object, if this window holds all of them.
    pub fn slice(&self, start: u64, end: u64) -> Option<&[u8]> {
        let a = usize::try_from(start.checked_sub(self.start)?).ok()?;
        let b = usize::try_from(end.checked_sub(self.start)?).ok()?;
        self.data.get(a..b)
    }
}

/// Where the central directory is, from the end-of-central-directory records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

impl Directory {
    /// One past the directory's last byte; `find_directory` has checked that this fits.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// An entry as the central directory or a local header describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub method: u16,
    pub flags: u16,
    pub crc32: u32,
    pub compressed: u64,
    pub uncompressed: u64,
    pub local_header: u64,
}

/// Finds the EOCD in the object's tail and resolves zip64 if the classic record is saturated.
pub(super) fn find_directory<E: std::error::Error>(
    tail: &Window,
    size: u64,
) -> Result<Directory, ZipError<E>> {
    let d = &tail.data;
    let last = d.len().checked_sub(EOCD_LEN).ok_or(ZipError::NotAZip)?;
    // The EOCD is followed only by its comment, so scan backwards for a record whose comment
    // length reaches exactly to the end.
    let eocd_at = (0..=last)
        .rev()
        .find(|&i| {
            u32_at(d, i) == Some(EOCD_SIG)
                && u16_at(d, i + 20).map(|c| i + EOCD_LEN + usize::from(c)) == Some(d.len())
        })
        .ok_or(ZipError::NotAZip)?;
    let e = &d[eocd_at..];
    let field = |v: Option<u32>| v.map(u64::from).ok_or_else(|| corrupt("short end record"));
    let mut dir = Directory {
        entries: field(u16_at(e, 10).map(u32::from))?,
        size: field(u32_at(e, 12))?,
        offset: field(u32_at(e, 16))?,
    };
    let mut end_record = tail.start.saturating_add(eocd_at as u64);
    let saturated = dir.entries == 0xFFFF || dir.size == 0xFFFF_FFFF || dir.offset == 0xFFFF_FFFF;
    let locator = eocd_at
        .checked_sub(ZIP64_LOCATOR_LEN)
        .and_then(|at| d.get(at..eocd_at))
        .filter(|loc| u32_at(loc, 0) == Some(ZIP64_LOCATOR_SIG));
    if let (true, Some(loc)) = (saturated, locator) {
        let z64_at = u64_at(loc, 8).ok_or_else(|| corrupt("short zip64 locator"))?;
        let rec = z64_at
            .checked_add(ZIP64_EOCD_LEN)
            .and_then(|end| tail.slice(z64_at, end))
            .filter(|rec| u32_at(rec, 0) == Some(ZIP64_EOCD_SIG))
            .ok_or_else(|| {
                corrupt(format!(
                    "the zip64 end record is said to be at offset {z64_at}, where there is none"
                ))
            })?;
        let field = |at| u64_at(rec, at).ok_or_else(|| corrupt("short zip64 end record"));
        dir = Directory {
            entries: field(32)?,
            size: field(40)?,
            offset: field(48)?,
        };
        end_record = z64_at;
    }
    // The directory sits before the end record(s); anything else is crafted or cut short.
    match dir.offset.checked_add(dir.size) {
        Some(end) if end <= end_record && end_record < size => Ok(dir),
        _ => Err(corrupt(format!(
            "the central directory ({} bytes at offset {}) lies outside the {size}-byte file",
            dir.size, dir.offset
        ))),
    }
}

/// What registration needs from the whole central directory.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// The `ferry.json` record at the zip root, if listed.
    pub manifest: Option<Entry>,
    /// The name of the entry whose local header the directory puts at offset 0.
    pub name_at_zero: Option<Vec<u8>>,
}

/// The path an extractor writes a name to: `./a`, `a//b` and `/a` all land on `a`, so they
/// are the same entry for duplicate purposes.
fn normalized(name: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = name
        .split(|&b| b == b'/' || b == b'\\')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    parts.join(&b'/')
}

/// Reads every central directory record, refusing duplicate names (extractors disagree on
/// which copy wins, so the zip would mean different things to registration and the build).
pub(super) fn scan_directory<E: std::error::Error>(
    cd: &[u8],
    entries: u64,
) -> Result<Listing, ZipError<E>> {
    if entries > (cd.len() / CDH_LEN) as u64 {
        return Err(corrupt(format!(
            "the central directory claims {entries} entries but holds {} bytes",
            cd.len()
        )));
    }
    let short = || corrupt("the central directory ends early");
    let mut seen = HashSet::new();
    let mut listing = Listing::default();
    let mut at = 0usize;
    for _ in 0..entries {
        let h = cd.get(at..at + CDH_LEN).ok_or_else(short)?;
        if u32_at(h, 0) != Some(CDH_SIG) {
            return Err(corrupt("bad central directory entry signature"));
        }
        let len = |off| u16_at(h, off).map(usize::from).ok_or_else(short);
        let (name_len, extra_len, comment_len) = (len(28)?, len(30)?, len(32)?);
        let name_start = at + CDH_LEN;
        let name = cd
            .get(name_start..name_start + name_len)
            .ok_or_else(short)?;
        let extra_start = name_start + name_len;
        let extra = cd
            .get(extra_start..extra_start + extra_len)
            .ok_or_else(short)?;
        let (
            Some(flags),
            Some(method),
            Some(crc32),
            Some(compressed),
            Some(uncompressed),
            Some(local_header),
        ) = (
            u16_at(h, 8),
            u16_at(h, 10),
            u32_at(h, 16),
            u32_at(h, 20),
            u32_at(h, 24),
            u32_at(h, 42),
        )
        else {
            return Err(short());
        };
        let mut entry = Entry {
            flags,
            method,
            crc32,
            compressed: u64::from(compressed),
            uncompressed: u64::from(uncompressed),
            local_header: u64::from(local_header),
        };
        apply_zip64_extra(&mut entry, extra, true);

        if !seen.insert(normalized(name)) {
            return Err(ZipError::DuplicateEntry(
                String::from_utf8_lossy(name).into_owned(),
            ));
        }
        if name == MANIFEST_NAME.as_bytes() {
            listing.manifest = Some(entry);
        }
        if entry.local_header == 0 && listing.name_at_zero.is_none() {
            listing.name_at_zero = Some(name.to_vec());
        }
        at = extra_start + extra_len + comment_len;
    }
    Ok(listing)
}

/// A local file header: the entry as it describes itself, and where its data starts.
#[derive(Debug)]
pub(super) struct LocalHeader<'a> {
    pub name: &'a [u8],
    pub entry: Entry,
    pub data_start: u64,
}

/// Parses the local header at the start of `w` (which sits at `w.start` in the object).
pub(super) fn local_header(w: &Window) -> Option<LocalHeader<'_>> {
    let h = w.data.get(..LFH_LEN)?;
    if u32_at(h, 0)? != LFH_SIG {
        return None;
    }
    let name_len = usize::from(u16_at(h, 26)?);
    let extra_len = usize::from(u16_at(h, 28)?);
    let name = w.data.get(LFH_LEN..LFH_LEN + name_len)?;
    let extra_end = LFH_LEN + name_len + extra_len;
    let extra = w.data.get(LFH_LEN + name_len..extra_end)?;
    let mut entry = Entry {
        flags: u16_at(h, 6)?,
        method: u16_at(h, 8)?,
        crc32: u32_at(h, 14)?,
        compressed: u64::from(u32_at(h, 18)?),
        uncompressed: u64::from(u32_at(h, 22)?),
        local_header: w.start,
    };
    apply_zip64_extra(&mut entry, extra, false);
    Some(LocalHeader {
        name,
        entry,
        data_start: w.start.checked_add(extra_end as u64)?,
    })
}

/// Replaces saturated 32-bit fields with their zip64 extra-field values (in the order the
/// spec lists them, present only for fields that are saturated).
fn apply_zip64_extra(entry: &mut Entry, mut extra: &[u8], with_offset: bool) {
    while let (Some(id), Some(len)) = (u16_at(extra, 0), u16_at(extra, 2)) {
        let len = usize::from(len);
        let Some(body) = extra.get(4..4 + len) else {
            return;
        };
        if id == 0x0001 {
            let mut fields = body.chunks_exact(8).filter_map(|c| u64_at(c, 0));
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
        extra = extra.get(4 + len..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    type Err = ZipError<Infallible>;

    fn w(data: Vec<u8>) -> Window {
        Window { start: 0, data }
    }

    /// A classic EOCD whose fields are all saturated, preceded by a zip64 locator and record.
    fn zip64_tail(z64_at: u64, cd_offset: u64, cd_size: u64, entries: u64) -> Vec<u8> {
        let mut rec = Vec::new();
        rec.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
        rec.extend_from_slice(&44u64.to_le_bytes());
        rec.extend_from_slice(&[45, 0, 45, 0]);
        rec.extend_from_slice(&[0; 8]);
        rec.extend_from_slice(&entries.to_le_bytes());
        rec.extend_from_slice(&entries.to_le_bytes());
        rec.extend_from_slice(&cd_size.to_le_bytes());
        rec.extend_from_slice(&cd_offset.to_le_bytes());
        rec.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        rec.extend_from_slice(&[0; 4]);
        rec.extend_from_slice(&z64_at.to_le_bytes());
        rec.extend_from_slice(&1u32.to_le_bytes());
        rec.extend_from_slice(&EOCD_SIG.to_le_bytes());
        rec.extend_from_slice(&[0; 4]);
        rec.extend_from_slice(&[0xFF; 4]);
        rec.extend_from_slice(&[0xFF; 4]);
        rec.extend_from_slice(&[0xFF; 4]);
        rec.extend_from_slice(&[0; 2]);
        rec
    }

    #[test]
    fn huge_zip64_offsets_are_refused_not_added() {
        let cases = [
            (0, u64::MAX, 1, 1),
            (0, u64::MAX - 10, 100, 1),
            (0, 1, u64::MAX, 1),
            (u64::MAX, 0, 0, 0),
            (u64::MAX - 20, 0, 0, 0),
            (0, 0, 0, u64::MAX),
        ];
        for (z64_at, off, size, n) in cases {
            let tail = zip64_tail(z64_at, off, size, n);
            let len = tail.len() as u64;
            let got = find_directory::<Infallible>(&w(tail), len);
            if n == u64::MAX {
                // The directory itself is plausible; the entry count is checked by the scan.
                let dir = got.expect("directory");
                assert!(matches!(
                    scan_directory::<Infallible>(&[], dir.entries),
                    Err(Err::Truncated(_))
                ));
            } else {
                assert!(
                    matches!(&got, Err(Err::Truncated(why)) if why.contains("offset")),
                    "{z64_at} {off} {size}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn crafted_records_never_index_out_of_bounds() {
        // Every prefix of real records, and every record with its lengths maxed out.
        let lfh = {
            let mut h = LFH_SIG.to_le_bytes().to_vec();
            h.extend_from_slice(&[0; 22]);
            h.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
            h.extend_from_slice(b"ferry.json");
            h
        };
        for n in 0..=lfh.len() {
            assert!(local_header(&Window {
                start: u64::MAX - 3,
                data: lfh[..n].to_vec()
            })
            .is_none());
        }
        let mut cdh = CDH_SIG.to_le_bytes().to_vec();
        cdh.extend_from_slice(&[0xFF; CDH_LEN - 4]);
        for n in 0..=cdh.len() {
            assert!(scan_directory::<Infallible>(&cdh[..n], 1).is_err());
        }
        let mut e = Entry {
            method: 0,
            flags: 0,
            crc32: 0,
            compressed: 0xFFFF_FFFF,
            uncompressed: 0xFFFF_FFFF,
            local_header: 0xFFFF_FFFF,
        };
        apply_zip64_extra(&mut e, &[1, 0, 0xFF, 0xFF, 1, 2, 3], true);
        apply_zip64_extra(&mut e, &[9, 0, 2, 0, 1, 2, 1, 0], true);
        assert_eq!(e.local_header, 0xFFFF_FFFF);
    }

    #[test]
    fn names_that_land_on_the_same_path_are_duplicates() {
        assert_eq!(normalized(b"./ferry.json"), b"ferry.json");
        assert_eq!(normalized(b"/a//b/./c"), b"a/b/c");
        assert_eq!(normalized(b"infra/"), b"infra");
        assert_ne!(normalized(b"a/b"), normalized(b"a/c"));
    }
}
