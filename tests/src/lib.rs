//! Test harness: a real moto_server shared by a test binary (or `MOTO_ENDPOINT`), unique
//! resources per test, real zip files, and the real `ferry` binary.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use ferry_shared::store::Store;

pub mod stack;
pub mod zips;

static INIT_LOG: OnceLock<()> = OnceLock::new();

/// `TEST_LOG=1` shows the code's tracing output.
pub fn init_log() {
    INIT_LOG.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            ferry_shared::aws::init_tracing(false);
        }
    });
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A built workspace binary (the test command builds them before testing).
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = find_workspace_bin(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Where `name` is when built beside the running test (target/debug/deps/…) or bin
/// (target/debug/…).
pub fn find_workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let beside = dir.join(name);
    if beside.exists() {
        return beside;
    }
    dir.parent().map(|d| d.join(name)).unwrap_or(beside)
}

/// moto_server from the project venv, PATH, or FERRY_MOTO_SERVER.
pub fn moto_program() -> String {
    if let Ok(p) = std::env::var("FERRY_MOTO_SERVER") {
        return p;
    }
    let venv = repo_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "moto_server".into()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

static MOTO: OnceLock<String> = OnceLock::new();

/// The moto endpoint for this test binary: `MOTO_ENDPOINT`, or one moto_server started on a
/// free port that dies with the test process.
pub fn moto() -> &'static str {
    MOTO.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT") {
            return e;
        }
        let port = free_port();
        let program = moto_program();
        let (tx, rx) = std::sync::mpsc::channel();
        // A thread that lives as long as the process owns the child, so PR_SET_PDEATHSIG (which
        // fires when the spawning *thread* exits) only fires when the test process ends.
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            let mut cmd = std::process::Command::new(&program);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            // SAFETY: prctl is async-signal-safe and touches no shared state.
            unsafe {
                cmd.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                        .map_err(std::io::Error::from)
                });
            }
            let child = cmd.spawn();
            let ok = child.is_ok();
            let _ = tx.send(child.map(|_| ()).map_err(|e| e.to_string()));
            if ok {
                loop {
                    std::thread::park();
                }
            }
        });
        if let Ok(Err(e)) = rx.recv() {
            panic!(
                "cannot start {}: {e}. Install it with `bash scripts/setup.sh` \
                 (pip install 'moto[server]==5.2.5')",
                moto_program()
            );
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for_http(&format!("127.0.0.1:{port}"), Duration::from_secs(60));
        endpoint
    })
}

fn wait_for_http(addr: &str, timeout: Duration) {
    use std::io::{Read, Write};
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf[9..12] == b"200"
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Body bytes S3 sent for GetObject responses, counted from the wire by an SDK interceptor,
/// independent of the code under test's own accounting.
#[derive(Debug, Default, Clone)]
pub struct GetBytes(pub Arc<AtomicU64>);

impl GetBytes {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// An S3 client on `sdk` (path-style, for local endpoints) whose GetObject bytes this counts.
    pub fn s3_client(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(true)
                .interceptor(self.clone())
                .build(),
        )
    }
}

impl Intercept for GetBytes {
    fn name(&self) -> &'static str {
        "GetBytes"
    }
    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let op = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_owned());
        if op.as_deref() == Some("GetObject") {
            let len = context
                .response()
                .headers()
                .get("content-length")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            self.0.fetch_add(len, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// One test's world: its own bucket and table on the shared moto.
pub struct TestEnv {
    pub endpoint: String,
    pub bucket: String,
    pub table: String,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub store: Store,
    pub get_bytes: GetBytes,
}

pub use ferry_shared::names::unique;

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One upload as S3 acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub sha256: String,
    /// Unquoted.
    pub etag: String,
    pub version_id: Option<String>,
}

impl TestEnv {
    /// A world whose bucket is versioned, as Ferry's bucket is in AWS and in local mode.
    pub async fn new() -> Self {
        let env = Self::unversioned().await;
        env.s3
            .put_bucket_versioning()
            .bucket(&env.bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("enable versioning");
        env
    }

    /// A world whose bucket never had versioning (registration then pins reads by ETag).
    pub async fn unversioned() -> Self {
        init_log();
        let endpoint = moto().to_owned();
        let sdk = ferry_shared::aws::local_sdk_config(&endpoint).await;
        let get_bytes = GetBytes::default();
        let s3 = get_bytes.s3_client(&sdk);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let bucket = unique("bucket");
        let table = unique("table");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        ferry_shared::store::create_table(&dynamodb, &table)
            .await
            .expect("create table");
        Self {
            store: Store::new(dynamodb.clone(), &table),
            endpoint,
            bucket,
            table,
            s3,
            dynamodb,
            get_bytes,
        }
    }

    pub fn deps(&self) -> register_release::Deps {
        register_release::Deps {
            s3: self.s3.clone(),
            store: self.store.clone(),
        }
    }

    /// Uploads `body` with a SHA-256 checksum S3 verifies (as `ferry release` does).
    pub async fn put_zip(&self, key: &str, body: Vec<u8>) -> String {
        self.upload(key, body).await.sha256
    }

    /// Uploads `body` like `put_zip` and returns what S3 acknowledged.
    pub async fn upload(&self, key: &str, body: Vec<u8>) -> Uploaded {
        use base64::Engine as _;
        use sha2::Digest;
        let sha = sha2::Sha256::digest(&body);
        let out = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(sha))
            .body(body.into())
            .send()
            .await
            .expect("put object");
        Uploaded {
            sha256: hex::encode(sha),
            etag: out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            version_id: out.version_id().map(str::to_owned),
        }
    }

    /// The event S3 sends for one upload: with its VersionId, as AWS sends it for a versioned
    /// bucket, or (`with_version: false`) without, as moto's notifications do.
    pub fn event_for_upload(
        &self,
        key: &str,
        size: i64,
        up: &Uploaded,
        with_version: bool,
    ) -> aws_lambda_events::s3::S3Event {
        let mut event = s3_event(&self.bucket, key, size, &up.etag);
        if with_version {
            event.records[0].s3.object.version_id = up.version_id.clone();
        }
        event
    }

    /// The S3 bytes of one object version.
    pub async fn get_version(&self, key: &str, version_id: &str) -> Vec<u8> {
        self.s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .send()
            .await
            .expect("get object version")
            .body
            .collect()
            .await
            .expect("body")
            .to_vec()
    }

    /// An S3 event with AWS's documented shape for one uploaded object.
    pub async fn event_for(&self, key: &str) -> aws_lambda_events::s3::S3Event {
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("head");
        s3_event(
            &self.bucket,
            key,
            head.content_length().unwrap_or(0),
            head.e_tag().unwrap_or_default(),
        )
    }

    /// Registers `key` through the real handler, as the Lambda would.
    pub async fn register(&self, key: &str) -> register_release::Outcome {
        let event = self.event_for(key).await;
        let mut out = register_release::handle(&self.deps(), event)
            .await
            .expect("handler failed");
        out.remove(0)
    }
}

/// The S3 notification record AWS documents, all fields present; the key is URL-encoded as S3
/// sends it.
pub fn s3_event(bucket: &str, key: &str, size: i64, etag: &str) -> aws_lambda_events::s3::S3Event {
    let encoded: String = key
        .split('/')
        .map(|seg| {
            percent_encoding::utf8_percent_encode(seg, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2E", ".")
                .replace("%2D", "-")
                .replace("%5F", "_")
                .replace("%20", "+")
        })
        .collect::<Vec<_>>()
        .join("/");
    let v = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "register-release",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encoded, "size": size, "eTag": etag.trim_matches('"'), "sequencer": "0055AED6DCD90281E5"}}
    }]});
    serde_json::from_value(v).expect("valid S3 event")
}
