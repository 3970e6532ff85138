//! Real zip files for tests, built with the zip crate.

use std::io::{Cursor, Seek, Write};

use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

pub fn manifest(component: &str, version: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schema_version": 1, "component": component, "version": version,
        "commit": "0123abcd", "created_at": "2026-11-21T10:00:00Z", "metadata": {"team": "test"}
    }))
    .unwrap_or_default()
}

pub const MAIN_TF: &[u8] = b"resource \"terraform_data\" \"x\" {\n  input = \"hello\"\n}\n";

/// A zip of `entries` in order, each with `method`.
pub fn zip_of(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    write_entries(&mut w, entries, method);
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

pub fn write_entries<W: Write + Seek>(
    w: &mut zip::ZipWriter<W>,
    entries: &[(&str, &[u8])],
    method: CompressionMethod,
) {
    let opts = SimpleFileOptions::default().compression_method(method);
    for (name, body) in entries {
        w.start_file(*name, opts).expect("start file");
        w.write_all(body).expect("write entry");
    }
}

/// A valid release: ferry.json first, then main.tf.
pub fn release(component: &str, version: &str) -> Vec<u8> {
    let m = manifest(component, version);
    zip_of(
        &[("ferry.json", &m), ("main.tf", MAIN_TF)],
        CompressionMethod::Deflated,
    )
}

/// Renames up to `limit` occurrences of the same-length name `from` to `to`, in local headers
/// and the central directory alike (whichever come first). The zip crate refuses to write
/// duplicate or inconsistent entries, so tests write a placeholder and rename it.
pub fn rename(zip: &mut [u8], from: &[u8], to: &[u8], limit: usize) {
    assert_eq!(from.len(), to.len(), "rename keeps the length");
    let mut done = 0;
    let mut i = 0;
    while done < limit && i + from.len() <= zip.len() {
        if &zip[i..i + from.len()] == from {
            zip[i..i + from.len()].copy_from_slice(to);
            done += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(done > 0, "{} not found", String::from_utf8_lossy(from));
}

/// A zip listing `ferry.json` twice: `first` then, after main.tf, `second`.
pub fn duplicate_manifests(first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut z = zip_of(
        &[
            ("ferry.json", first),
            ("main.tf", MAIN_TF),
            ("ferry.jsoX", second),
        ],
        CompressionMethod::Deflated,
    );
    rename(&mut z, b"ferry.jsoX", b"ferry.json", usize::MAX);
    z
}

/// A zip whose local header at offset 0 says `ferry.json` (holding `hidden`) while the central
/// directory calls that entry something else and lists the real ferry.json (`listed`) last.
pub fn ghost_manifest(hidden: &[u8], listed: &[u8]) -> Vec<u8> {
    let mut z = zip_of(
        &[
            ("ferry.jsoX", hidden),
            ("main.tf", MAIN_TF),
            ("ferry.json", listed),
        ],
        CompressionMethod::Deflated,
    );
    rename(&mut z, b"ferry.jsoX", b"ferry.json", 1);
    z
}

/// `zip` (whose end record has no comment) with its classic end record replaced by saturated
/// zip64 records whose locator points at `z64_at`: a crafted offset for an overflow test.
pub fn zip64_end_at(mut zip: Vec<u8>, z64_at: u64) -> Vec<u8> {
    let eocd = zip.len() - 22;
    let field = |at: usize| {
        u64::from(u32::from_le_bytes([
            zip[at],
            zip[at + 1],
            zip[at + 2],
            zip[at + 3],
        ]))
    };
    let (cd_size, cd_offset) = (field(eocd + 12), field(eocd + 16));
    zip.truncate(eocd);
    let mut rec = 0x0606_4b50u32.to_le_bytes().to_vec();
    rec.extend_from_slice(&44u64.to_le_bytes());
    rec.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    rec.extend_from_slice(&2u64.to_le_bytes());
    rec.extend_from_slice(&2u64.to_le_bytes());
    rec.extend_from_slice(&cd_size.to_le_bytes());
    rec.extend_from_slice(&cd_offset.to_le_bytes());
    rec.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    rec.extend_from_slice(&[0; 4]);
    rec.extend_from_slice(&z64_at.to_le_bytes());
    rec.extend_from_slice(&1u32.to_le_bytes());
    rec.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    rec.extend_from_slice(&[0, 0, 0, 0]);
    rec.extend_from_slice(&[0xFF; 12]);
    rec.extend_from_slice(&[0, 0]);
    zip.extend_from_slice(&rec);
    zip
}
