//! Measures register-release on a 1 GiB release zip: S3 body bytes it reads (counted off the
//! wire by `GetBytes`), and its wall time against a whole-object download in the same run.
//! Times come from s3s-fs, which serves ranges natively; moto reads the whole object for every
//! ranged GET, so against moto only the byte counts mean anything. `scripts/bench-register.sh`
//! installs s3s-fs and runs this.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use base64::Engine as _;
use ferry_shared::artifact::SHA256_METADATA;
use ferry_shared::store::{create_table, Store};
use ferry_shared::zipread::PROBE_LEN;
use ferry_tests::{free_port, moto, repo_root, s3_event, zips, GetBytes};
use register_release::{Deps, OutcomeKind};
use sha2::Digest;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// The goal for the ferry.json-first zip.
const GOAL_BYTES: u64 = 256 * 1024;
const MIB: u64 = 1024 * 1024;

const USAGE: &str = "usage: bench_register [--runs N] [--moto-runs N] [--size-mib N] [--files N] \
                     [--s3s-fs PATH] [--bootstrap PATH]";

struct Opts {
    /// Timed repetitions against s3s-fs.
    runs: usize,
    /// Timed repetitions against moto (bytes are what matter there).
    moto_runs: usize,
    size_mib: u64,
    /// Small entries in the manifest-last zip, so its central directory is realistic.
    files: usize,
    s3s_fs: PathBuf,
    bootstrap: PathBuf,
}

impl Opts {
    fn parse() -> Result<Self> {
        let root = repo_root();
        let mut o = Opts {
            runs: 5,
            moto_runs: 2,
            size_mib: 1024,
            files: 10_000,
            s3s_fs: root.join(".tools/bin/s3s-fs"),
            bootstrap: root.join("target/lambda/register-release/bootstrap"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let num = || {
                value
                    .parse::<u64>()
                    .with_context(|| format!("{flag} {value}: not a number"))
            };
            match flag.as_str() {
                "--runs" => o.runs = usize::try_from(num()?)?,
                "--moto-runs" => o.moto_runs = usize::try_from(num()?)?,
                "--size-mib" => o.size_mib = num()?,
                "--files" => o.files = usize::try_from(num()?)?,
                "--s3s-fs" => o.s3s_fs = value.into(),
                "--bootstrap" => o.bootstrap = value.into(),
                _ => bail!("unknown argument {flag}\n{USAGE}"),
            }
        }
        ensure!(o.runs > 0, "--runs must be at least 1");
        Ok(o)
    }
}

/// One generated release zip on disk.
struct ZipFile {
    label: &'static str,
    key: String,
    path: PathBuf,
    size: u64,
    sha256: [u8; 32],
}

/// A payload that no compressor or dedup could shrink, written 1 MiB at a time.
fn write_payload(w: &mut impl Write, mib: u64) -> Result<()> {
    let mut chunk = vec![0u8; MIB as usize];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in chunk.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.copy_from_slice(&x.to_le_bytes());
    }
    for i in 0..mib {
        chunk[..8].copy_from_slice(&i.to_le_bytes());
        w.write_all(&chunk)?;
    }
    Ok(())
}

/// ferry.json first, then one stored payload of `mib` MiB: what `ferry release` writes.
fn manifest_first(dir: &Path, mib: u64) -> Result<ZipFile> {
    let (component, version) = ("bench-first", "1.0.0");
    let path = dir.join("first.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path)?);
    let m = zips::manifest(component, version);
    zips::write_entries(&mut w, &[("ferry.json", &m)], CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(mib >= 4096);
    w.start_file("vendor/payload.bin", stored)?;
    write_payload(&mut w, mib)?;
    w.finish()?;
    finish_zip("ferry.json first", component, version, path)
}

/// `files` small modules, the payload, and ferry.json last: the central-directory fallback.
fn manifest_last(dir: &Path, mib: u64, files: usize) -> Result<ZipFile> {
    let (component, version) = ("bench-last", "1.0.0");
    let path = dir.join("last.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path)?);
    let names: Vec<String> = (0..files)
        .map(|i| format!("modules/m{i:05}/main.tf"))
        .collect();
    let small: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), zips::MAIN_TF)).collect();
    zips::write_entries(&mut w, &small, CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(mib >= 4096);
    w.start_file("vendor/payload.bin", stored)?;
    write_payload(&mut w, mib)?;
    let m = zips::manifest(component, version);
    zips::write_entries(&mut w, &[("ferry.json", &m)], CompressionMethod::Deflated);
    w.finish()?;
    finish_zip("ferry.json last", component, version, path)
}

fn finish_zip(
    label: &'static str,
    component: &str,
    version: &str,
    path: PathBuf,
) -> Result<ZipFile> {
    let mut f = std::fs::File::open(&path)?;
    let size = f.seek(std::io::SeekFrom::End(0))?;
    f.rewind()?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 4 * MIB as usize];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(ZipFile {
        label,
        key: format!("releases/{component}/{version}.zip"),
        path,
        size,
        sha256: hasher.finalize().into(),
    })
}

/// An S3 server for one measurement: a bucket, clients, and a DynamoDB table maker on moto.
struct Target {
    name: &'static str,
    bucket: String,
    /// The client registration uses, as the Lambda builds it, plus the byte-counting interceptor.
    s3: aws_sdk_s3::Client,
    /// A plain client for uploads and the whole-object download: no checksums computed on
    /// either side, so the baseline download is as cheap as a download gets.
    plain: aws_sdk_s3::Client,
    get_bytes: GetBytes,
    dynamodb: aws_sdk_dynamodb::Client,
}

impl Target {
    async fn new(name: &'static str, s3_endpoint: &str, dynamodb_endpoint: &str) -> Result<Self> {
        let sdk = ferry_shared::aws::local_sdk_config(s3_endpoint).await;
        let get_bytes = GetBytes::default();
        let s3 = get_bytes.s3_client(&sdk);
        let plain = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
                .interceptor(get_bytes.clone())
                .build(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::new(
            &ferry_shared::aws::local_sdk_config(dynamodb_endpoint).await,
        );
        let bucket = ferry_tests::unique("bench");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .with_context(|| format!("create bucket on {name} ({s3_endpoint})"))?;
        Ok(Self {
            name,
            bucket,
            s3,
            plain,
            get_bytes,
            dynamodb,
        })
    }

    /// Uploads with the SHA-256 checksum S3 verifies, as `ferry release` does; `metadata` adds
    /// the `ferry-sha256` metadata for servers that keep no checksum.
    async fn upload(&self, z: &ZipFile, metadata: bool) -> Result<()> {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&z.path).await?;
        let mut put = self
            .plain
            .put_object()
            .bucket(&self.bucket)
            .key(&z.key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(z.sha256));
        if metadata {
            put = put.metadata(SHA256_METADATA, hex::encode(z.sha256));
        }
        put.body(body)
            .send()
            .await
            .with_context(|| format!("upload {} to {}", z.key, self.name))?;
        Ok(())
    }

    /// Where HEAD's SHA-256 comes from on this server (registration needs one of the two).
    async fn sha_source(&self, z: &ZipFile) -> Result<&'static str> {
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&z.key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await?;
        ensure!(
            head.content_length() == Some(i64::try_from(z.size)?),
            "{} stored {:?} bytes of {}, expected {}",
            self.name,
            head.content_length(),
            z.key,
            z.size
        );
        Ok(if head.checksum_sha256().is_some() {
            "ChecksumSHA256"
        } else {
            "none"
        })
    }

    /// s3s-fs has no ListObjectVersions, which registration calls first (to judge a key's
    /// uploads in order); there the bench times the registration's reads alone — HEAD and
    /// the ranged reads of ferry.json, exactly as the handler makes them — which is what grows
    /// with the zip. moto runs the whole handler (listing and DynamoDB write included).
    async fn reads_once(&self, z: &ZipFile) -> Result<(u64, u64, Duration)> {
        let artifacts = ferry_shared::artifact::Artifacts::new(self.s3.clone(), &self.bucket);
        let before = self.get_bytes.get();
        let start = Instant::now();
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&z.key)
            .send()
            .await?;
        let pin = ferry_shared::artifact::Pin::ETag(
            head.e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
        );
        let info = artifacts
            .head(&z.key, &pin)
            .await?
            .context("the zip vanished")?;
        let (_, own) =
            ferry_shared::zipread::read_manifest(&artifacts.ranges(&z.key, &info), info.size)
                .await
                .map_err(|e| anyhow::anyhow!("reading ferry.json: {e}"))?;
        let took = start.elapsed();
        Ok((self.get_bytes.get() - before, own, took))
    }

    /// One registration through the real handler into a fresh table: (wire bytes, handler's
    /// own count, wall time).
    async fn register_once(&self, z: &ZipFile) -> Result<(u64, u64, Duration)> {
        if self.name == "s3s-fs" {
            return self.reads_once(z).await;
        }
        let table = ferry_tests::unique("bench");
        create_table(&self.dynamodb, &table).await?;
        let deps = Deps {
            s3: self.s3.clone(),
            store: Store::new(self.dynamodb.clone(), &table),
        };
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&z.key)
            .send()
            .await?;
        let event = s3_event(
            &self.bucket,
            &z.key,
            head.content_length().unwrap_or(0),
            head.e_tag().unwrap_or_default(),
        );
        let before = self.get_bytes.get();
        let start = Instant::now();
        let mut out = register_release::handle(&deps, event).await?;
        let took = start.elapsed();
        let wire = self.get_bytes.get() - before;
        let out = out.pop().context("no outcome")?;
        ensure!(
            out.outcome == OutcomeKind::Registered,
            "{} on {}: {:?} {}",
            z.key,
            self.name,
            out.outcome,
            out.detail.unwrap_or_default()
        );
        Ok((wire, out.bytes_read, took))
    }

    /// GetObject of the whole zip, streamed and discarded.
    async fn download_once(&self, z: &ZipFile) -> Result<Duration> {
        let start = Instant::now();
        let mut body = self
            .plain
            .get_object()
            .bucket(&self.bucket)
            .key(&z.key)
            .send()
            .await?
            .body;
        let mut n = 0u64;
        while let Some(chunk) = body.try_next().await? {
            n += chunk.len() as u64;
        }
        let took = start.elapsed();
        ensure!(n == z.size, "downloaded {n} bytes of {}", z.size);
        Ok(took)
    }
}

/// What one zip on one server measured.
struct Row {
    server: &'static str,
    zip: &'static str,
    size: u64,
    sha_source: &'static str,
    wire_bytes: u64,
    handler_bytes: u64,
    register: Duration,
    download: Duration,
    runs: usize,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn measure(t: &Target, z: &ZipFile, runs: usize) -> Result<Row> {
    t.upload(z, false).await?;
    let mut sha_source = t.sha_source(z).await?;
    if sha_source == "none" {
        t.upload(z, true).await?;
        sha_source = "ferry-sha256 metadata";
    }
    let (mut regs, mut downs) = (Vec::new(), Vec::new());
    let (mut wire_bytes, mut handler_bytes) = (0, 0);
    for i in 0..runs {
        let (wire, own, took) = t.register_once(z).await?;
        // Every run reads the same ranges; a difference would mean the count is not stable.
        ensure!(
            i == 0 || wire == wire_bytes,
            "bytes read changed between runs: {wire_bytes} then {wire}"
        );
        (wire_bytes, handler_bytes) = (wire, own);
        regs.push(took);
        downs.push(t.download_once(z).await?);
        eprintln!(
            "  {} / {} run {}: register {:.1} ms, download {:.1} ms",
            t.name,
            z.label,
            i + 1,
            ms(took),
            ms(downs[i])
        );
    }
    Ok(Row {
        server: t.name,
        zip: z.label,
        size: z.size,
        sha_source,
        wire_bytes,
        handler_bytes,
        register: median(regs),
        download: median(downs),
        runs,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// s3s-fs on a free loopback port with its data in `root`; killed on drop.
struct S3sFs {
    child: Child,
    endpoint: String,
}

impl S3sFs {
    fn start(program: &Path, root: &Path) -> Result<Self> {
        ensure!(
            program.exists(),
            "{} is missing: install it with `bash scripts/bench-register.sh` (it runs \
             cargo install s3s-fs --features binary --root .tools)",
            program.display()
        );
        let port = free_port();
        let child = Command::new(program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "test", "--secret-key", "test"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(
                Instant::now() < deadline,
                "s3s-fs did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn human(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{:.2} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

async fn run() -> Result<ExitCode> {
    let o = Opts::parse()?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let work = tempfile::Builder::new().prefix("ferry-bench-").tempdir()?;
    let zips_dir = work.path().join("zips");
    let s3s_root = work.path().join("s3s-fs");
    std::fs::create_dir_all(&zips_dir)?;
    std::fs::create_dir_all(&s3s_root)?;

    eprintln!(
        "bench: generating two {} MiB zips in {}",
        o.size_mib,
        zips_dir.display()
    );
    let first = manifest_first(&zips_dir, o.size_mib)?;
    let last = manifest_last(&zips_dir, o.size_mib, o.files)?;

    let moto_endpoint = moto().to_owned();
    let s3s = S3sFs::start(&o.s3s_fs, &s3s_root)?;
    eprintln!("bench: s3s-fs on {}, moto on {moto_endpoint}", s3s.endpoint);
    let fs_target = Target::new("s3s-fs", &s3s.endpoint, &moto_endpoint).await?;
    let moto_target = Target::new("moto", &moto_endpoint, &moto_endpoint).await?;

    let mut rows = Vec::new();
    for z in [&first, &last] {
        rows.push(measure(&fs_target, z, o.runs).await?);
    }
    for z in [&first, &last] {
        rows.push(measure(&moto_target, z, o.moto_runs.max(1)).await?);
    }
    drop(s3s);

    println!();
    println!(
        "register-release on a {} zip ({} bytes; ferry.json-last zip: {} small files + payload), \
         bench built with the {profile} profile, median of the runs shown",
        human(first.size),
        first.size,
        o.files
    );
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.server.to_owned(),
                r.zip.to_owned(),
                format!("{} B ({})", r.wire_bytes, human(r.wire_bytes)),
                format!("{} B", r.handler_bytes),
                format!("{:.1} ms", ms(r.register)),
                format!(
                    "{:.1} ms ({:.0} MiB/s)",
                    ms(r.download),
                    r.size as f64 / MIB as f64 / r.download.as_secs_f64()
                ),
                format!(
                    "{:.1}x",
                    r.download.as_secs_f64() / r.register.as_secs_f64()
                ),
                r.runs.to_string(),
                r.sha_source.to_owned(),
            ]
        })
        .collect();
    print_table(
        &[
            "server",
            "zip",
            "S3 body bytes read (interceptor)",
            "handler's count",
            "register",
            "whole download",
            "download / register",
            "runs",
            "SHA-256 from",
        ],
        &cells,
    );
    println!(
        "(moto times are not meaningful: moto reads the whole object for every ranged GET; \
         s3s-fs serves ranges from the file. DynamoDB is moto in both. The download client \
         validates no checksum. On moto registration is the handler as deployed, listing and \
         DynamoDB write included; s3s-fs has no ListObjectVersions, so there it is the \
         handler's reads alone: HEAD and the ranged reads of ferry.json.)"
    );

    let size_line = match std::fs::metadata(&o.bootstrap) {
        Ok(m) => format!(
            "stripped register-release bootstrap: {} B ({})",
            m.len(),
            human(m.len())
        ),
        Err(_) => format!(
            "register-release bootstrap: not built ({} missing); produce it with \
             `bash scripts/setup.sh && .venv/bin/cargo-lambda lambda build --release -p register-release`",
            o.bootstrap.display()
        ),
    };
    println!("{size_line}");

    let fs_first = &rows[0];
    let moto_first = &rows[2];
    let goal_met = fs_first.wire_bytes <= GOAL_BYTES && moto_first.wire_bytes <= GOAL_BYTES;
    println!(
        "summary: registering a {} release reads {} of S3 body ({}; goal ≤ {}, {}), \
         ferry.json-last with {} files {}; it takes {:.1} ms vs {:.1} ms to download it \
         ({:.1}x faster, s3s-fs, {profile} build, median of {}); moto reads the same {} B",
        human(first.size),
        human(fs_first.wire_bytes),
        if fs_first.wire_bytes == 2 * PROBE_LEN {
            "two 64 KiB ranges"
        } else {
            "ranges"
        },
        human(GOAL_BYTES),
        if goal_met { "met" } else { "MISSED" },
        o.files,
        human(rows[1].wire_bytes),
        ms(fs_first.register),
        ms(fs_first.download),
        fs_first.download.as_secs_f64() / fs_first.register.as_secs_f64(),
        fs_first.runs,
        moto_first.wire_bytes,
    );
    Ok(if goal_met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
