//! Fuzz target: `zipread::read_manifest` over ranged reads, on arbitrary bytes and on valid
//! zips (zip crate and hand-made with data descriptors) before and after mutation.
//!
//! Proptest on stable instead of `cargo fuzz` (libFuzzer needs nightly). Cases per property:
//! `FERRY_FUZZ_CASES` (default 200); `scripts/fuzz.sh` runs it for a wall-clock time. Seeds:
//! `tests/fuzz-corpus/zipread/`, where a file's prefix says what reading it must give
//! (`ok-`, `duplicate-`, `inconsistent-`, anything else: no panic). Regenerate them with
//! `FERRY_FUZZ_WRITE_CORPUS=1 cargo test -p ferry-shared --test fuzz_zipread -- --ignored`.

mod fuzz_support;

use std::io::{Cursor, Read, Write};
use std::ops::Range;

use ferry_shared::zipread::{read_manifest, RangeRead, ZipError, PROBE_LEN};
use proptest::prelude::*;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// An object in memory that refuses reads outside itself: the reader promises to stay in bounds.
struct Mem(Vec<u8>);

#[derive(Debug, thiserror::Error)]
#[error("read of {0:?} outside the {1}-byte object")]
struct OutOfBounds(Range<u64>, u64);

impl RangeRead for Mem {
    type Error = OutOfBounds;
    async fn read(&self, r: Range<u64>) -> Result<Vec<u8>, OutOfBounds> {
        let len = self.0.len() as u64;
        match (usize::try_from(r.start), usize::try_from(r.end)) {
            (Ok(a), Ok(b)) if a <= b && r.end <= len => Ok(self.0[a..b].to_vec()),
            _ => Err(OutOfBounds(r, len)),
        }
    }
}

/// `read_manifest` on `bytes`; an out-of-bounds read is a failure of the property.
fn read(bytes: &[u8]) -> Result<Vec<u8>, ZipError<OutOfBounds>> {
    let mem = Mem(bytes.to_vec());
    let got = futures::executor::block_on(read_manifest(&mem, bytes.len() as u64));
    if let Err(ZipError::Read(e)) = &got {
        panic!("the reader left the object: {e}");
    }
    got.map(|(manifest, _)| manifest)
}

/// What the zip crate (a directory-trusting extractor) reads as `ferry.json`, if anything.
fn zip_crate_reads(bytes: &[u8]) -> Option<Vec<u8>> {
    std::panic::catch_unwind(|| {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
        let mut file = archive.by_name("ferry.json").ok()?;
        let mut out = Vec::new();
        file.read_to_end(&mut out).ok()?;
        Some(out)
    })
    .ok()
    .flatten()
}

/// Whatever the input, Ferry and the zip crate never read two different manifests from it.
fn one_meaning(bytes: &[u8]) -> Result<Vec<u8>, ZipError<OutOfBounds>> {
    let got = read(bytes);
    if let Ok(ours) = &got {
        if let Some(theirs) = zip_crate_reads(bytes) {
            assert_eq!(ours, &theirs, "registration and extraction disagree");
        }
    }
    got
}

// ---- valid zips ----------------------------------------------------------------------------

const LFH_SIG: u32 = 0x0403_4b50;
const CDH_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const DD_SIG: u32 = 0x0807_4b50;

/// A release zip as the zip crate writes it.
#[derive(Debug, Clone)]
struct Spec {
    /// Other entries, unique names of `[a-z0-9_-]` segments (never `ferry.json`).
    others: Vec<(String, Vec<u8>)>,
    manifest: Vec<u8>,
    /// Where ferry.json goes among the others.
    manifest_at: usize,
    deflate: bool,
    /// zip64 extra fields on every entry.
    large_file: bool,
    /// zip64 end records, with the classic record saturated so readers must use them.
    zip64_end: bool,
    comment: String,
    /// A stored entry that pushes the zip past the single-read size, so head, tail and the
    /// directory are separate ranged reads.
    padding: Option<usize>,
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (any::<u8>(), 0..2000usize).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,6}(\\.[a-z]{1,3})?(/[a-z0-9_-]{1,6}(\\.[a-z]{1,3})?){0,2}"
        .prop_filter("not the manifest", |n| n != "ferry.json")
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::btree_map(name(), body(), 0..6),
        prop::collection::vec(any::<u8>(), 0..600),
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        "[ -~]{0,20}",
        prop::option::weighted(0.1, PROBE_LEN as usize * 2..PROBE_LEN as usize * 2 + 5000),
    )
        .prop_map(
            |(others, manifest, at, deflate, large_file, zip64_end, comment, padding)| {
                let others: Vec<_> = others.into_iter().collect();
                Spec {
                    manifest_at: at.index(others.len() + 1),
                    others,
                    manifest,
                    deflate,
                    large_file,
                    zip64_end,
                    comment,
                    padding,
                }
            },
        )
}

/// The entries of a spec in order, ferry.json included.
fn entries(s: &Spec) -> Vec<(String, Vec<u8>)> {
    let mut all = s.others.clone();
    all.insert(s.manifest_at, ("ferry.json".into(), s.manifest.clone()));
    all
}

fn write_zip(s: &Spec, entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if s.deflate {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    let opts = SimpleFileOptions::default()
        .compression_method(method)
        .large_file(s.large_file);
    for (name, body) in entries {
        w.start_file(name.as_str(), opts).expect("start entry");
        w.write_all(body).expect("write entry");
    }
    if let Some(n) = s.padding {
        let stored = opts.compression_method(CompressionMethod::Stored);
        w.start_file("padding.bin", stored).expect("start padding");
        w.write_all(&vec![0x5a; n]).expect("write padding");
    }
    w.set_comment(s.comment.clone());
    if s.zip64_end {
        w.set_zip64_comment(Some(""));
    }
    let mut z = w.finish().expect("finish zip").into_inner();
    if s.zip64_end {
        let eocd = z.len() - 22 - s.comment.len();
        assert_eq!(z[eocd..eocd + 4], EOCD_SIG.to_le_bytes());
        z[eocd + 8..eocd + 20].fill(0xFF);
    }
    z
}

/// Renames the entry called `from` to `to` (same length) in its local header and directory
/// record only, never in data: the zip crate refuses to write duplicates itself.
fn rename_entry(z: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let sig_at = |z: &[u8], at: Option<usize>| {
        at.and_then(|a| z.get(a..a + 4))
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let mut renamed = 0;
    for i in 0..z.len().saturating_sub(from.len()) {
        let header = sig_at(z, i.checked_sub(30)) == Some(LFH_SIG)
            || sig_at(z, i.checked_sub(46)) == Some(CDH_SIG);
        if header && &z[i..i + from.len()] == from {
            z[i..i + from.len()].copy_from_slice(to);
            renamed += 1;
        }
    }
    assert!(renamed >= 2, "placeholder {from:?} renamed {renamed} times");
}

/// How a hand-made entry ends: the sizes in its local header, or a data descriptor after it.
#[derive(Debug, Clone, Copy)]
enum Descriptor {
    None,
    Signed,
    Unsigned,
}

/// A zip written by hand, since the zip crate never writes data descriptors to a seekable file.
fn handmade(entries: &[(String, Vec<u8>)], deflate: bool, descriptor: Descriptor) -> Vec<u8> {
    let (mut z, mut cd) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let packed = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("deflate");
            e.finish().expect("deflate")
        } else {
            data.clone()
        };
        let (method, flags) = (
            if deflate { 8u16 } else { 0 },
            if matches!(descriptor, Descriptor::None) {
                0u16
            } else {
                8
            },
        );
        let sizes = [crc.sum(), packed.len() as u32, data.len() as u32];
        let at = z.len() as u32;
        z.extend_from_slice(&LFH_SIG.to_le_bytes());
        z.extend_from_slice(&20u16.to_le_bytes());
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&method.to_le_bytes());
        z.extend_from_slice(&[0; 4]); // time, date
        for v in sizes {
            let v = if flags == 0 { v } else { 0 };
            z.extend_from_slice(&v.to_le_bytes());
        }
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name.as_bytes());
        z.extend_from_slice(&packed);
        if matches!(descriptor, Descriptor::Signed) {
            z.extend_from_slice(&DD_SIG.to_le_bytes());
        }
        if flags != 0 {
            sizes
                .iter()
                .for_each(|v| z.extend_from_slice(&v.to_le_bytes()));
        }
        cd.extend_from_slice(&CDH_SIG.to_le_bytes());
        cd.extend_from_slice(&[20, 3, 20, 0]);
        cd.extend_from_slice(&flags.to_le_bytes());
        cd.extend_from_slice(&method.to_le_bytes());
        cd.extend_from_slice(&[0; 4]);
        sizes
            .iter()
            .for_each(|v| cd.extend_from_slice(&v.to_le_bytes()));
        cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
        cd.extend_from_slice(&at.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_at = z.len() as u32;
    z.extend_from_slice(&cd);
    z.extend_from_slice(&EOCD_SIG.to_le_bytes());
    z.extend_from_slice(&[0; 4]);
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    z.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    z.extend_from_slice(&cd_at.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

fn descriptor() -> impl Strategy<Value = Descriptor> {
    prop_oneof![
        Just(Descriptor::None),
        Just(Descriptor::Signed),
        Just(Descriptor::Unsigned)
    ]
}

// ---- mutations -----------------------------------------------------------------------------

/// Values that zip fields are made of, for overwriting counts, sizes and offsets.
const INTERESTING: &[u32] = &[
    0,
    1,
    22,
    30,
    46,
    0x7FFF,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    LFH_SIG,
    CDH_SIG,
    EOCD_SIG,
    DD_SIG,
    0x0606_4b50,
    0x0706_4b50,
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(prop::sample::Index, u8),
    SetByte(prop::sample::Index, u8),
    Put32(prop::sample::Index, prop::sample::Index),
    Put64(prop::sample::Index, u64),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, usize),
    /// Copies a run of the zip over another place: records land where records are expected.
    Splice(prop::sample::Index, prop::sample::Index, usize),
    Prepend(Vec<u8>),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        3 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, v)| Mutation::Put32(i, v)),
        1 => (any::<Index>(), prop_oneof![Just(u64::MAX), Just(u64::MAX - 29), any::<u64>(), 0..200u64])
            .prop_map(|(i, v)| Mutation::Put64(i, v)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), any::<Index>(), 1..100usize).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Prepend),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
    ]
}

/// A position biased to the ends of the zip, where its records are.
fn at(z: &[u8], i: &prop::sample::Index) -> usize {
    let n = z.len().max(1);
    let raw = i.index(3 * n);
    match raw / n {
        0 => (raw % n).min(n - 1).min(400),
        1 => n - 1 - (raw % n).min(n - 1).min(400),
        _ => raw % n,
    }
}

fn apply(z: &mut Vec<u8>, m: &Mutation) {
    if z.is_empty() {
        return;
    }
    match m {
        Mutation::FlipBit(i, b) => {
            let p = at(z, i);
            z[p] ^= 1 << b;
        }
        Mutation::SetByte(i, v) => {
            let p = at(z, i);
            z[p] = *v;
        }
        Mutation::Put32(i, v) => {
            let p = at(z, i);
            let v = INTERESTING[v.index(INTERESTING.len())].to_le_bytes();
            let end = (p + 4).min(z.len());
            z[p..end].copy_from_slice(&v[..end - p]);
        }
        Mutation::Put64(i, v) => {
            let p = at(z, i);
            let end = (p + 8).min(z.len());
            z[p..end].copy_from_slice(&v.to_le_bytes()[..end - p]);
        }
        Mutation::Truncate(i) => {
            let p = at(z, i);
            z.truncate(p);
        }
        Mutation::Insert(i, b) => {
            let p = at(z, i);
            z.splice(p..p, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let p = at(z, i);
            z.drain(p..(p + n).min(z.len()));
        }
        Mutation::Splice(from, to, n) => {
            let (a, b) = (at(z, from), at(z, to));
            let n = (*n).min(z.len() - a).min(z.len() - b);
            let run = z[a..a + n].to_vec();
            z[b..b + n].copy_from_slice(&run);
        }
        Mutation::Prepend(b) => {
            z.splice(0..0, b.iter().copied());
        }
        Mutation::Append(b) => z.extend_from_slice(b),
    }
}

/// A valid zip to mutate: the zip crate's, a hand-made one with data descriptors, or a seed.
fn base() -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = fuzz_support::corpus("zipread")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    prop_oneof![
        2 => spec().prop_map(|s| write_zip(&s, &entries(&s))),
        1 => (spec(), any::<bool>(), descriptor()).prop_map(|(s, d, dd)| handmade(&entries(&s), d, dd)),
        1 => prop::sample::select(seeds),
    ]
}

// ---- properties ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(fuzz_support::config())]

    /// Arbitrary bytes, alone or behind a zip-like head or tail: a typed error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        head in prop_oneof![Just(vec![]), Just(LFH_SIG.to_le_bytes().to_vec())],
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        tail in prop_oneof![
            Just(vec![]),
            (any::<u16>(), any::<u32>(), any::<u32>()).prop_map(|(n, size, off)| {
                let mut t = EOCD_SIG.to_le_bytes().to_vec();
                t.extend_from_slice(&[0; 4]);
                t.extend_from_slice(&n.to_le_bytes());
                t.extend_from_slice(&n.to_le_bytes());
                t.extend_from_slice(&size.to_le_bytes());
                t.extend_from_slice(&off.to_le_bytes());
                t.extend_from_slice(&[0, 0]);
                t
            }),
        ],
    ) {
        let z = [head, bytes, tail].concat();
        let _ = one_meaning(&z);
    }

    /// Whatever the zip crate writes (stored or deflated, zip64 extras and end records,
    /// comments, ferry.json anywhere, past the single-read size) reads back the same manifest.
    #[test]
    fn zip_crate_zips_read_back(s in spec()) {
        let z = write_zip(&s, &entries(&s));
        let got = read(&z);
        prop_assert_eq!(got.as_ref().ok(), Some(&s.manifest), "{:?}", got.as_ref().err());
        prop_assert_eq!(zip_crate_reads(&z), Some(s.manifest));
    }

    /// Entries that end in data descriptors (signed or not) read back like any other.
    #[test]
    fn data_descriptors_read_back(s in spec(), deflate in any::<bool>(), dd in descriptor()) {
        let z = handmade(&entries(&s), deflate, dd);
        let got = read(&z);
        prop_assert_eq!(got.as_ref().ok(), Some(&s.manifest), "{:?}", got.as_ref().err());
        prop_assert_eq!(zip_crate_reads(&z), Some(s.manifest));
    }

    /// A name listed twice, ferry.json or any other, is refused by name.
    #[test]
    fn duplicate_names_are_refused(s in spec(), which in any::<prop::sample::Index>()) {
        let mut all = entries(&s);
        let (name, body) = all[which.index(all.len())].clone();
        // '#' never starts a generated name, so the placeholder is unique.
        let placeholder = format!("#{}", &name[1..]);
        all.push((placeholder.clone(), body));
        let mut z = write_zip(&s, &all);
        rename_entry(&mut z, placeholder.as_bytes(), name.as_bytes());
        let got = read(&z);
        prop_assert!(
            matches!(&got, Err(ZipError::DuplicateEntry(n)) if *n == name),
            "{name}: {got:?}"
        );
    }

    /// Valid zips after a few bit flips, overwritten fields, cuts, insertions and splices:
    /// a typed error or a manifest, never a panic, an out-of-bounds read, or a manifest that
    /// differs from what an extractor would read.
    #[test]
    fn mutated_zips_never_panic(
        mut z in base(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        for m in &mutations {
            apply(&mut z, m);
        }
        let _ = one_meaning(&z);
    }
}

/// Each seed, as an explicit case with the outcome its name promises.
#[test]
fn corpus_replays() {
    for (path, bytes) in fuzz_support::corpus("zipread") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let got = one_meaning(&bytes);
        let expected = if name.starts_with("ok-") {
            got.is_ok()
        } else if name.starts_with("duplicate-") {
            matches!(got, Err(ZipError::DuplicateEntry(_)))
        } else if name.starts_with("inconsistent-") {
            matches!(got, Err(ZipError::Inconsistent(_)))
        } else {
            true
        };
        assert!(expected, "{name}: {got:?}");
    }
}

/// Writes the seed corpus (run on purpose, not in the test command).
#[test]
#[ignore = "writes tests/fuzz-corpus/zipread; run with FERRY_FUZZ_WRITE_CORPUS=1"]
fn write_seed_corpus() {
    if std::env::var_os("FERRY_FUZZ_WRITE_CORPUS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz-corpus/zipread");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let manifest = br#"{"schema_version":1,"component":"web","version":"1.0.0"}"#.to_vec();
    let main_tf = b"resource \"terraform_data\" \"x\" {}\n".to_vec();
    let spec = |deflate, large_file, zip64_end, manifest_at| Spec {
        others: vec![
            ("main.tf".into(), main_tf.clone()),
            (
                "modules/a/variables.tf".into(),
                b"variable \"x\" {}\n".to_vec(),
            ),
        ],
        manifest: manifest.clone(),
        manifest_at,
        deflate,
        large_file,
        zip64_end,
        comment: String::new(),
        padding: None,
    };
    let pair = |names: [&str; 2]| -> Vec<(String, Vec<u8>)> {
        vec![
            (names[0].into(), manifest.clone()),
            (names[1].into(), main_tf.clone()),
        ]
    };
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    let s = spec(true, false, false, 0);
    seeds.push(("ok-deflated-first.bin", write_zip(&s, &entries(&s))));
    let s = spec(false, false, false, 2);
    seeds.push(("ok-stored-last.bin", write_zip(&s, &entries(&s))));
    let s = spec(true, true, true, 1);
    seeds.push(("ok-zip64.bin", write_zip(&s, &entries(&s))));
    let mut s = spec(true, false, false, 0);
    s.comment = "built by ferry package".into();
    seeds.push(("ok-comment.bin", write_zip(&s, &entries(&s))));
    let e = entries(&spec(true, false, false, 0));
    seeds.push((
        "ok-data-descriptor-signed.bin",
        handmade(&e, true, Descriptor::Signed),
    ));
    seeds.push((
        "ok-data-descriptor-unsigned-stored.bin",
        handmade(&e, false, Descriptor::Unsigned),
    ));
    let dup = |names: [&str; 3], from: &str, to: &str| {
        let s = spec(true, false, false, 0);
        let mut all = pair([names[0], names[1]]);
        all.push((names[2].into(), b"{}".to_vec()));
        let mut z = write_zip(&s, &all);
        rename_entry(&mut z, from.as_bytes(), to.as_bytes());
        z
    };
    seeds.push((
        "duplicate-manifest.bin",
        dup(
            ["ferry.json", "main.tf", "ferry.jsoX"],
            "ferry.jsoX",
            "ferry.json",
        ),
    ));
    seeds.push((
        "duplicate-other.bin",
        dup(["ferry.json", "main.tf", "main.tX"], "main.tX", "main.tf"),
    ));
    seeds.push((
        "duplicate-normalized.bin",
        dup(
            ["ferry.json", "main.tf", "./main.tX"],
            "./main.tX",
            "./main.tf",
        ),
    ));
    let mut ghost = write_zip(
        &spec(true, false, false, 0),
        &pair(["ferry.jsoX", "ferry.json"]),
    );
    let first = ghost
        .windows(10)
        .position(|w| w == b"ferry.jsoX")
        .expect("placeholder");
    ghost[first..first + 10].copy_from_slice(b"ferry.json");
    seeds.push(("inconsistent-ghost-header.bin", ghost));
    let s = spec(false, false, false, 0);
    let z = write_zip(&s, &entries(&s));
    seeds.push(("any-truncated.bin", z[..z.len() - 30].to_vec()));
    let mut crafted = write_zip(
        &spec(false, true, true, 0),
        &entries(&spec(false, true, true, 0)),
    );
    let locator = crafted.len() - 22 - 20;
    crafted[locator + 8..locator + 16].copy_from_slice(&(u64::MAX - 20).to_le_bytes());
    seeds.push(("any-zip64-crafted-offset.bin", crafted));
    seeds.push((
        "any-empty-archive.bin",
        write_zip(
            &Spec {
                others: vec![],
                ..spec(true, false, false, 0)
            },
            &[],
        ),
    ));
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
}
