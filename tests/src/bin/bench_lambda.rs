//! Lambda bootstraps as Lambda runs them: size (and zipped, as SAM uploads it), cold init — exec
//! to the first `GET /2018-06-01/runtime/invocation/next` — and peak RSS (VmHWM), measured
//! against a minimal Lambda Runtime API emulator. register-release also handles one real S3
//! event for a 1 GiB release on moto, so its peak RSS covers an invocation.
//! Run: `cargo run -p ferry-tests --bin bench_lambda -- [--runs N] [--size-mib N] [--dir DIR]`
//! (DIR holds `<function>/bootstrap`, as `cargo lambda build --release` leaves target/lambda).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ferry_tests::{moto, repo_root, s3_event, zips};
use tokio::sync::{mpsc, Mutex};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

const MIB: u64 = 1024 * 1024;
const FUNCTIONS: &[&str] = &[
    "register-release",
    "check-and-lock",
    "request-approval",
    "approve",
    "record-result",
    "review",
];
/// The goals.
const GOAL_SIZE: u64 = 8_000_000;
const GOAL_INIT_MS: f64 = 5.0;
const GOAL_RSS: u64 = 16 * MIB;

const USAGE: &str =
    "usage: bench_lambda [--runs N] [--size-mib N] [--dir DIR] [--only NAME] [--all-cpus]";

struct Opts {
    runs: usize,
    size_mib: u64,
    dir: PathBuf,
    only: Option<String>,
    /// Pin each bootstrap to one CPU: Lambda gives a function at most one vCPU below 1,769 MB,
    /// so work the runtime spreads over threads (e.g. loading root certificates on a tokio
    /// worker) is paid in full at init, as it is here.
    one_cpu: bool,
}

impl Opts {
    fn parse() -> Result<Self> {
        let mut o = Opts {
            runs: 10,
            size_mib: 1024,
            dir: repo_root().join("target/lambda"),
            only: None,
            one_cpu: true,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            if flag == "--all-cpus" {
                o.one_cpu = false;
                continue;
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
                "--size-mib" => o.size_mib = num()?,
                "--dir" => o.dir = value.into(),
                "--only" => o.only = Some(value),
                _ => bail!("unknown argument {flag}\n{USAGE}"),
            }
        }
        ensure!(o.runs > 0, "--runs must be at least 1");
        ensure!(o.size_mib > 0, "--size-mib must be at least 1");
        Ok(o)
    }

    /// `DIR/<name>/bootstrap` (cargo lambda's layout), else a flat `DIR/<name>`.
    fn bootstrap(&self, name: &str) -> Option<PathBuf> {
        [self.dir.join(name).join("bootstrap"), self.dir.join(name)]
            .into_iter()
            .find(|p| p.is_file())
    }
}

/// What the emulator saw, in arrival order.
#[derive(Debug)]
enum Seen {
    Next(Instant),
    Response(Instant, Vec<u8>),
    Error(Vec<u8>),
    InitError(Vec<u8>),
}

/// One emulated Runtime API: the first `/next` gets `event` (if any), later ones wait forever
/// (the bench kills the process), so each bootstrap handles at most one invocation.
#[derive(Clone)]
struct Api {
    seen: mpsc::UnboundedSender<Seen>,
    event: Arc<Mutex<Option<Vec<u8>>>>,
}

async fn next(State(api): State<Api>) -> Response {
    let _ = api.seen.send(Seen::Next(Instant::now()));
    let event = api.event.lock().await.take();
    match event {
        Some(body) => {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                + Duration::from_secs(900);
            (
                [
                    ("lambda-runtime-aws-request-id", "bench-1".to_owned()),
                    (
                        "lambda-runtime-deadline-ms",
                        deadline.as_millis().to_string(),
                    ),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-bench".to_owned(),
                    ),
                    ("content-type", "application/json".to_owned()),
                ],
                body,
            )
                .into_response()
        }
        None => std::future::pending().await,
    }
}

async fn response(State(api): State<Api>, _id: UrlPath<String>, body: axum::body::Bytes) {
    let _ = api.seen.send(Seen::Response(Instant::now(), body.to_vec()));
}

async fn error(
    State(api): State<Api>,
    _id: UrlPath<String>,
    _h: HeaderMap,
    body: axum::body::Bytes,
) {
    let _ = api.seen.send(Seen::Error(body.to_vec()));
}

async fn init_error(State(api): State<Api>, body: axum::body::Bytes) {
    let _ = api.seen.send(Seen::InitError(body.to_vec()));
}

/// The environment Lambda gives a function, plus Ferry's resource names (template.yaml) and
/// dummy credentials; `AWS_ENDPOINT_URL` aims the SDK at moto.
fn lambda_env(cmd: &mut Command, api: &str, name: &str, world: &World) {
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .env("_HANDLER", "bootstrap")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test")
        .env("AWS_ENDPOINT_URL", &world.endpoint)
        .env("FERRY_LOG_FORMAT", "json")
        .env("FERRY_TABLE", &world.table)
        .env("FERRY_ARTIFACT_BUCKET", &world.bucket)
        .env(
            "FERRY_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:ferry-bench",
        )
        .env(
            "FERRY_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:ferry-bench",
        )
        .env("FERRY_TOKEN_KEY", "alias/ferry-bench-token")
        .env("FERRY_LINK_KEY", "alias/ferry-bench-link")
        .env("FERRY_REVIEW_URL", "https://review.example.invalid/");
    // Lambda sets no SSL_CERT_FILE, so the bootstraps trust their built-in AWS roots; a
    // machine-wide one (this one has it) must not leak in. BENCH_SSL_CERT_FILE measures the
    // system-store path the variable switches a function to.
    if let Some(value) = std::env::var_os("BENCH_SSL_CERT_FILE") {
        cmd.env("SSL_CERT_FILE", value);
    }
}

/// moto with a bucket, a table and (when invoking) the release zip.
struct World {
    endpoint: String,
    bucket: String,
    table: String,
}

/// VmHWM (peak RSS) and VmRSS of `pid`, in bytes.
fn memory(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} missing from /proc/{pid}/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?;
        kib.checked_mul(1024).context("overflow")
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// One cold start: (init, VmHWM at first `/next`, and for an invocation the handler's time,
/// VmHWM afterwards and its response).
struct Run {
    init: Duration,
    hwm_init: u64,
    invoke: Option<(Duration, u64, Vec<u8>)>,
}

/// Kills the bootstrap on every exit path.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The emulator's next report, or why none came.
async fn wait(rx: &mut mpsc::UnboundedReceiver<Seen>, name: &str, log: &Path) -> Result<Seen> {
    match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => bail!("emulator stopped"),
        Err(_) => bail!(
            "{name}: no request from the bootstrap in 120 s (log: {})",
            log.display()
        ),
    }
}

async fn cold_start(
    bootstrap: &Path,
    name: &str,
    world: &World,
    event: Option<Vec<u8>>,
    log: &Path,
    cpu: Option<usize>,
) -> Result<Run> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let invoking = event.is_some();
    let api = Api {
        seen: tx,
        event: Arc::new(Mutex::new(event)),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut cmd = Command::new(bootstrap);
    lambda_env(&mut cmd, &addr.to_string(), name, world);
    let logs = std::fs::File::create(log)?;
    cmd.stdin(Stdio::null())
        .stdout(logs.try_clone()?)
        .stderr(logs);
    if let Some(cpu) = cpu {
        use std::os::unix::process::CommandExt;
        // SAFETY: sched_setaffinity on the child itself, between fork and exec; it allocates
        // nothing and touches no shared state.
        unsafe {
            cmd.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let start = Instant::now();
    let child = Kill(
        cmd.spawn()
            .with_context(|| format!("exec {}", bootstrap.display()))?,
    );
    let pid = child.0.id();

    let first = wait(&mut rx, name, log).await?;
    let Seen::Next(at) = first else {
        bail!(
            "{name}: expected the first /next, got {first:?} (log: {})",
            log.display()
        );
    };
    let init = at.duration_since(start);
    let (hwm_init, _) = memory(pid)?;
    let mut invoke = None;
    if invoking {
        let (done, body) = match wait(&mut rx, name, log).await? {
            Seen::Response(t, b) => (t, b),
            Seen::Error(b) | Seen::InitError(b) => bail!(
                "{name} failed the invocation: {} (log: {})",
                String::from_utf8_lossy(&b),
                log.display()
            ),
            Seen::Next(_) => bail!("{name}: /next again before a response"),
        };
        // The second /next: the invocation is over and the process idles.
        let _ = wait(&mut rx, name, log).await?;
        let (hwm, _) = memory(pid)?;
        invoke = Some((done.duration_since(at), hwm, body));
    }
    drop(child);
    server.abort();
    Ok(Run {
        init,
        hwm_init,
        invoke,
    })
}

/// A stored (incompressible) payload behind ferry.json: the shape `ferry release` writes.
fn write_release(path: &Path, mib: u64) -> Result<()> {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path)?);
    let m = zips::manifest("bench-lambda", "1.0.0");
    zips::write_entries(&mut w, &[("ferry.json", &m)], CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(mib >= 4096);
    w.start_file("vendor/payload.bin", stored)?;
    let mut chunk = vec![0u8; usize::try_from(MIB)?];
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
    w.finish()?;
    Ok(())
}

/// Uploads the release as `ferry release` does (SHA-256 checksum S3 verifies) and returns the
/// S3 event JSON Lambda would deliver.
async fn upload_release(world: &World, path: &Path, mib: u64) -> Result<Vec<u8>> {
    use base64::Engine as _;
    use sha2::Digest;
    let key = "releases/bench-lambda/1.0.0.zip";
    let mut hasher = sha2::Sha256::new();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha = hasher.finalize();
    let sdk = ferry_shared::aws::local_sdk_config(&world.endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build(),
    );
    let started = Instant::now();
    let out = s3
        .put_object()
        .bucket(&world.bucket)
        .key(key)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(sha))
        .body(aws_sdk_s3::primitives::ByteStream::from_path(path).await?)
        .send()
        .await
        .context("upload the release to moto")?;
    eprintln!(
        "bench: uploaded a {mib} MiB release in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let size = i64::try_from(std::fs::metadata(path)?.len())?;
    let event = s3_event(&world.bucket, key, size, out.e_tag().unwrap_or_default());
    Ok(serde_json::to_vec(&event)?)
}

/// Deflated size, as the zip SAM uploads holds the bootstrap.
fn zipped_size(path: &Path) -> Result<u64> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "bootstrap",
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
    )?;
    std::io::copy(&mut std::fs::File::open(path)?, &mut w)?;
    Ok(u64::try_from(w.finish()?.into_inner().len())?)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(b: u64) -> f64 {
    b as f64 / MIB as f64
}

struct Row {
    name: String,
    size: u64,
    zipped: u64,
    init: Duration,
    init_min: Duration,
    hwm_init: u64,
    /// (handler time, VmHWM after the invocation)
    invoke: Option<(Duration, u64)>,
}

async fn run() -> Result<ExitCode> {
    let o = Opts::parse()?;
    let work = tempfile::Builder::new()
        .prefix("ferry-bench-lambda-")
        .tempdir()?;
    let endpoint = moto().to_owned();
    let sdk = ferry_shared::aws::local_sdk_config(&endpoint).await;
    let world = World {
        endpoint: endpoint.clone(),
        bucket: ferry_tests::unique("bench"),
        table: ferry_tests::unique("bench"),
    };
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
    .create_bucket()
    .bucket(&world.bucket)
    .send()
    .await
    .context("create bucket on moto")?;
    ferry_shared::store::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &world.table).await?;

    // The last CPU, away from the emulator's own work (the runtime starts on CPU 0).
    let cpu = o.one_cpu.then(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(0)
    });
    let mut rows = Vec::new();
    for name in FUNCTIONS {
        if o.only.as_deref().is_some_and(|n| n != *name) {
            continue;
        }
        let Some(bootstrap) = o.bootstrap(name) else {
            eprintln!(
                "bench: {name}: no bootstrap under {} (build it with `cargo lambda build --release`)",
                o.dir.display()
            );
            continue;
        };
        let log = work.path().join(format!("{name}.log"));
        // One unmeasured start warms the page cache, as a reused Lambda host would be.
        cold_start(&bootstrap, name, &world, None, &log, cpu).await?;
        let mut inits = Vec::new();
        let mut hwm_init = 0;
        for _ in 0..o.runs {
            let r = cold_start(&bootstrap, name, &world, None, &log, cpu).await?;
            inits.push(r.init);
            hwm_init = hwm_init.max(r.hwm_init);
        }
        let mut invoke = None;
        if *name == "register-release" {
            let zip = work.path().join("release.zip");
            eprintln!("bench: writing a {} MiB release", o.size_mib);
            write_release(&zip, o.size_mib)?;
            let event = upload_release(&world, &zip, o.size_mib).await?;
            std::fs::remove_file(&zip)?;
            let r = cold_start(&bootstrap, name, &world, Some(event), &log, cpu).await?;
            let (took, hwm, body) = r.invoke.context("no invocation")?;
            let out: serde_json::Value = serde_json::from_slice(&body)?;
            ensure!(
                out[0]["outcome"] == "registered",
                "register-release did not register the release: {out}"
            );
            invoke = Some((took, hwm));
        }
        let size = std::fs::metadata(&bootstrap)?.len();
        rows.push(Row {
            name: (*name).to_owned(),
            size,
            zipped: zipped_size(&bootstrap)?,
            init_min: inits.iter().min().copied().unwrap_or_default(),
            init: median(inits),
            hwm_init,
            invoke,
        });
    }
    ensure!(
        !rows.is_empty(),
        "no bootstraps found under {}",
        o.dir.display()
    );

    println!();
    println!(
        "Lambda bootstraps in {} (init: exec → first /next, median of {} after one warm-up, {}; RSS: VmHWM)",
        o.dir.display(),
        o.runs,
        match cpu {
            Some(c) => format!("pinned to CPU {c} as Lambda gives ≤ 1 vCPU"),
            None => "on every CPU".to_owned(),
        }
    );
    println!("| function | bootstrap | zipped | init median (min) | peak RSS at init | invocation | peak RSS after invocation |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let (inv, hwm) = match r.invoke {
            Some((t, h)) => (
                format!("{:.1} ms ({} MiB release)", ms(t), o.size_mib),
                format!("{:.1} MiB", mib(h)),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "| {} | {:.2} MiB ({} B) | {:.2} MiB | {:.2} ms ({:.2}) | {:.1} MiB | {inv} | {hwm} |",
            r.name,
            mib(r.size),
            r.size,
            mib(r.zipped),
            ms(r.init),
            ms(r.init_min),
            mib(r.hwm_init),
        );
    }
    // Machine-readable lines for scripts/bench.sh: metric <name> <value> <unit>.
    let max_size = rows.iter().map(|r| r.size).max().unwrap_or(0);
    let max_zipped = rows.iter().map(|r| r.zipped).max().unwrap_or(0);
    let max_init = rows.iter().map(|r| r.init).max().unwrap_or_default();
    let rr = rows.iter().find(|r| r.name == "register-release");
    println!("metric lambda_size_max {max_size} B");
    println!("metric lambda_zipped_max {max_zipped} B");
    println!("metric lambda_init_max_median {:.2} ms", ms(max_init));
    if let Some(r) = rr {
        println!("metric register_release_init_median {:.2} ms", ms(r.init));
        if let Some((_, hwm)) = r.invoke {
            println!("metric register_release_peak_rss {hwm} B");
            println!("metric register_release_release_mib {} MiB", o.size_mib);
        }
    }
    let met = max_size <= GOAL_SIZE
        && ms(max_init) <= GOAL_INIT_MS
        && rr.and_then(|r| r.invoke).is_none_or(|(_, h)| h <= GOAL_RSS);
    println!(
        "summary: largest bootstrap {:.2} MiB ({:.2} MiB zipped; goal ≤ 8 MB), slowest median init {:.2} ms (goal ≤ 5 ms){}: goals {}",
        mib(max_size),
        mib(max_zipped),
        ms(max_init),
        rr.and_then(|r| r.invoke)
            .map(|(_, h)| format!(
                ", register-release peak RSS {:.1} MiB on a {} MiB release (goal ≤ 16 MiB)",
                mib(h),
                o.size_mib
            ))
            .unwrap_or_default(),
        if met { "met" } else { "not all met" }
    );
    Ok(ExitCode::SUCCESS)
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
