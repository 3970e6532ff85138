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
