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

type Err = ZipError<Infallible>;

fn zip_with(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, body) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Replaces a same-length name in place: the zip crate refuses to write duplicate names, so
/// tests write a placeholder and rename it. `limit` caps how many occurrences change.
fn rename(z: &mut [u8], from: &[u8], to: &[u8], limit: usize) {
    assert_eq!(from.len(), to.len());
    let mut done = 0;
    let mut i = 0;
    while done < limit && i + from.len() <= z.len() {
        if &z[i..i + from.len()] == from {
            z[i..i + from.len()].copy_from_slice(to);
            done += 1;
        }
        i += 1;
    }
    assert!(done > 0, "placeholder not found");
}

async fn run(data: Vec<u8>) -> (Result<(Vec<u8>, u64), Err>, u64) {
    let size = data.len() as u64;
    let m = Mem {
        data,
        reads: AtomicU64::new(0),
    };
    let out = read_manifest(&m, size).await;
    (out, m.reads.load(Ordering::Relaxed))
}

async fn extract(data: Vec<u8>) -> Result<Vec<u8>, Err> {
    run(data).await.0.map(|(b, _)| b)
}

const MANIFEST: &[u8] = br#"{"schema_version":1,"component":"web","version":"1.0.0"}"#;
const OTHER: &[u8] = br#"{"schema_version":1,"component":"web","version":"9.9.9"}"#;

/// `n` small modules with long names: about 100 bytes of central directory each.
fn modules(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("modules/m{i}/very/long/path/name/to/grow/the/directory.tf"),
                vec![b'x'; 200],
            )
        })
        .collect()
}

fn refs(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files.iter().map(|(n, b)| (n.as_str(), &b[..])).collect()
}

/// Incompressible bytes, so a stored payload keeps the zip large.
fn payload(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

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
async fn manifest_first_with_a_directory_in_the_tail_needs_two_reads() {
    let big = payload(300 * 1024);
    let mut files = vec![
        ("ferry.json".to_string(), MANIFEST.to_vec()),
        ("vendor/blob".into(), big),
    ];
    files.extend(modules(300));
    let z = zip_with(&refs(&files), zip::CompressionMethod::Stored);
    let (out, reads) = run(z).await;
    let (bytes, read) = out.unwrap();
    assert_eq!(bytes, MANIFEST);
    assert_eq!((reads, read), (2, 2 * PROBE_LEN));
}

#[tokio::test]
async fn a_directory_larger_than_the_tail_costs_one_more_read() {
    let mut files = vec![("ferry.json".to_string(), MANIFEST.to_vec())];
    files.extend(modules(3000));
    let z = zip_with(&refs(&files), zip::CompressionMethod::Deflated);
    let size = z.len() as u64;
    // The directory's offset, from the EOCD (no comment, so it is the last 22 bytes).
    let eocd = &z[z.len() - 22..];
    let cd_offset = u64::from(u32::from_le_bytes(eocd[16..20].try_into().unwrap()));
    let (out, reads) = run(z).await;
    let (bytes, read) = out.unwrap();
    assert_eq!(bytes, MANIFEST);
    assert_eq!(reads, 3);
    assert_eq!(read, 2 * PROBE_LEN + (size - PROBE_LEN - cd_offset));
}

#[tokio::test]
async fn manifest_last_with_large_directory_reads_directory() {
    let mut files = modules(3000);
    files.push(("ferry.json".into(), MANIFEST.to_vec()));
    let z = zip_with(&refs(&files), zip::CompressionMethod::Deflated);
    assert_eq!(extract(z).await.unwrap(), MANIFEST);
}

#[tokio::test]
async fn duplicate_names_are_refused_wherever_they_are() {
    // Two ferry.json: first-wins readers and last-wins extractors would disagree.
    let mut z = zip_with(
        &[
            ("ferry.json", MANIFEST),
            ("main.tf", b"#"),
            ("ferry.jsoX", OTHER),
        ],
        zip::CompressionMethod::Deflated,
    );
    rename(&mut z, b"ferry.jsoX", b"ferry.json", usize::MAX);
    let got = extract(z).await;
    assert!(
        matches!(&got, Err(Err::DuplicateEntry(n)) if n == "ferry.json"),
        "{got:?}"
    );

    // Any name, and names that extract to the same path.
    let z = zip_with(
        &[
            ("ferry.json", MANIFEST),
            ("a/main.tf", b"#"),
            ("a/./main.tf", b"!"),
        ],
        zip::CompressionMethod::Stored,
    );
    assert!(matches!(extract(z).await, Err(Err::DuplicateEntry(_))));

    // The same in a large zip whose directory is beyond the tail: ferry.json first (the layout
    // that needs no directory lookup to find the manifest), its twin listed last.
    let mut files = vec![("ferry.json".to_string(), MANIFEST.to_vec())];
    files.extend(modules(3000));
    files.push(("ferry.jsoX".into(), OTHER.to_vec()));
    let mut z = zip_with(&refs(&files), zip::CompressionMethod::Deflated);
    rename(&mut z, b"ferry.jsoX", b"ferry.json", usize::MAX);
    let got = extract(z).await;
    assert!(matches!(got, Err(Err::DuplicateEntry(_))), "{got:?}");
}

#[tokio::test]
async fn a_local_header_the_directory_does_not_list_is_inconsistent() {
    // At offset 0 the local header says ferry.json (1.0.0); the directory calls that entry
    // something else and lists the real ferry.json (9.9.9) later.
    let build = |extra_files: usize| {
        let mut files = vec![("ferry.jsoX".to_string(), MANIFEST.to_vec())];
        files.extend(modules(extra_files));
        files.push(("ferry.json".into(), OTHER.to_vec()));
        let mut z = zip_with(&refs(&files), zip::CompressionMethod::Deflated);
        rename(&mut z, b"ferry.jsoX", b"ferry.json", 1);
        z
    };
    for n in [1, 3000] {
        let got = extract(build(n)).await;
        assert!(
            matches!(&got, Err(Err::Inconsistent(why)) if why.contains("not listed")),
            "{n} files: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_local_header_with_other_sizes_or_crc_is_inconsistent() {
    // Offsets in the local header: CRC at 14, compressed size at 18, uncompressed at 22.
    for field in [14usize, 18, 22] {
        let mut files = vec![("ferry.json".to_string(), MANIFEST.to_vec())];
        files.extend(modules(3000));
        let mut z = zip_with(&refs(&files), zip::CompressionMethod::Stored);
        z[field] ^= 0x01;
        let got = extract(z).await;
        assert!(
            matches!(&got, Err(Err::Inconsistent(why)) if why.contains("disagrees")),
            "field {field}: {got:?}"
        );
    }
    // The directory points at a local header for another entry.
    let mut z = zip_with(
        &[("ferry.json", MANIFEST), ("main.tf", b"#")],
        zip::CompressionMethod::Stored,
    );
    let eocd = z.len() - 22;
    let cd = u32::from_le_bytes(z[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    let main_tf_at = z.windows(7).position(|w| w == b"main.tf").unwrap() - 30;
    let rec_offset = cd + 42; // ferry.json is the directory's first record
    z[rec_offset..rec_offset + 4].copy_from_slice(&(main_tf_at as u32).to_le_bytes());
    let got = extract(z).await;
    assert!(matches!(got, Err(Err::Inconsistent(_))), "{got:?}");
}

/// A hand-made zip of stored entries whose directory records can lie about local header
/// offsets (written as zip64 extras when they don't fit 32 bits).
fn handmade(entries: &[(&str, &[u8])], listed_offset: impl Fn(usize, u64) -> u64) -> Vec<u8> {
    let mut z = Vec::new();
    let mut cd = Vec::new();
    for (i, (name, data)) in entries.iter().enumerate() {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let at = z.len() as u64;
        let len = (data.len() as u32).to_le_bytes();
        z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        z.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&crc.sum().to_le_bytes());
        z.extend_from_slice(&len);
        z.extend_from_slice(&len);
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name.as_bytes());
        z.extend_from_slice(data);
        let listed = listed_offset(i, at);
        let zip64 = listed >= 0xFFFF_FFFF;
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        cd.extend_from_slice(&crc.sum().to_le_bytes());
        cd.extend_from_slice(&len);
        cd.extend_from_slice(&len);
        cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&(if zip64 { 12u16 } else { 0 }).to_le_bytes());
        cd.extend_from_slice(&[0; 10]); // comment length, disk, attributes
        let short = if zip64 { 0xFFFF_FFFF } else { listed as u32 };
        cd.extend_from_slice(&short.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
        if zip64 {
            cd.extend_from_slice(&[1, 0, 8, 0]);
            cd.extend_from_slice(&listed.to_le_bytes());
        }
    }
    let cd_at = z.len() as u32;
    z.extend_from_slice(&cd);
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0; 4]);
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    z.extend_from_slice(&cd_at.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

/// Replaces a zip's classic end record (no comment) with saturated zip64 records.
fn zip64_end(mut z: Vec<u8>, z64_at: u64, cd_offset: u64, cd_size: u64) -> Vec<u8> {
    z.truncate(z.len() - 22);
    let mut rec = 0x0606_4b50u32.to_le_bytes().to_vec();
    rec.extend_from_slice(&44u64.to_le_bytes());
    rec.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    rec.extend_from_slice(&1u64.to_le_bytes());
    rec.extend_from_slice(&1u64.to_le_bytes());
    rec.extend_from_slice(&cd_size.to_le_bytes());
    rec.extend_from_slice(&cd_offset.to_le_bytes());
    rec.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    rec.extend_from_slice(&[0; 4]);
    rec.extend_from_slice(&z64_at.to_le_bytes());
    rec.extend_from_slice(&1u32.to_le_bytes());
    rec.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    rec.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    rec.extend_from_slice(&[0xFF; 8]);
    rec.extend_from_slice(&[0, 0]);
    z.extend_from_slice(&rec);
    z
}

#[tokio::test]
async fn handmade_zip_reads_like_a_real_one() {
    let z = handmade(&[("ferry.json", MANIFEST), ("main.tf", b"#")], |_, at| at);
    assert_eq!(extract(z).await.unwrap(), MANIFEST);
}

#[tokio::test]
async fn crafted_zip64_offsets_are_refused_without_panicking() {
    // Local header offsets near u64::MAX: adding the header length must not wrap.
    for offset in [u64::MAX, u64::MAX - 29, u64::MAX - 1100, 1 << 40] {
        let z = handmade(&[("main.tf", b"#"), ("ferry.json", MANIFEST)], |i, at| {
            if i == 1 {
                offset
            } else {
                at
            }
        });
        let got = extract(z).await;
        assert!(
            matches!(&got, Err(Err::Truncated(why)) if why.contains("offset")),
            "{offset}: {got:?}"
        );
    }
    // zip64 end records placed, or pointing, past the end of everything.
    let real = handmade(&[("ferry.json", MANIFEST)], |_, at| at);
    let cd_at = u64::from(u32::from_le_bytes(
        real[real.len() - 6..real.len() - 2].try_into().unwrap(),
    ));
    let cd_len = real.len() as u64 - 22 - cd_at;
    let crafted = [
        (u64::MAX, cd_at, cd_len),
        (u64::MAX - 55, cd_at, cd_len),
        (0, u64::MAX, cd_len),
        (0, cd_at, u64::MAX),
        (0, u64::MAX - 3, 4),
    ];
    for (z64_at, offset, size) in crafted {
        let got = extract(zip64_end(real.clone(), z64_at, offset, size)).await;
        assert!(
            matches!(&got, Err(Err::Truncated(why)) if why.contains("offset")),
            "{z64_at} {offset} {size}: {got:?}"
        );
    }
    // And the genuine zip64 end record reads.
    let z64_at = real.len() as u64 - 22;
    let z = zip64_end(real, z64_at, cd_at, cd_len);
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
