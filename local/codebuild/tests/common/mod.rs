//! Test harness: tracing once (`TEST_LOG=1`), runners on scratch dirs, moto_server on a free
//! port, and release zips built in memory.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use ferry_codebuild::{Build, BuildRunner, RunnerConfig};

pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .init();
        }
    });
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A directory holding `ferry-build`, the build helper the buildspec calls: a link to the
/// workspace's `build-helper` binary (`cargo build --workspace --bins` builds it first).
pub fn helper_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        // target/debug/deps/<test> → target/debug/build-helper
        let helper = exe
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("build-helper"))
            .expect("target dir");
        assert!(
            helper.exists(),
            "{} is missing: build it first with `cargo build --workspace --bins`",
            helper.display()
        );
        let dir = tempfile::tempdir().expect("helper dir").keep();
        std::os::unix::fs::symlink(&helper, dir.join("ferry-build")).expect("linking ferry-build");
        dir
    })
    .clone()
}

/// A runner whose scratch dirs and logs live in a temp dir dropped with the guard.
pub fn runner_with(configure: impl FnOnce(&mut RunnerConfig)) -> (BuildRunner, tempfile::TempDir) {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = RunnerConfig::new(dir.path());
    configure(&mut config);
    (BuildRunner::new(config).expect("runner"), dir)
}

/// Waits for a build with a deadline (the runner wakes us; no polling).
pub async fn wait(runner: &BuildRunner, id: &str, deadline: Duration) -> Build {
    match tokio::time::timeout(deadline, runner.wait_build(id)).await {
        Ok(build) => build.expect("known build"),
        Err(_) => panic!(
            "build {id} not complete after {deadline:?}; log so far:\n{}",
            runner.build_log(id).unwrap_or_default()
        ),
    }
}

/// moto_server on a free port, killed on drop.
pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Moto {
    /// Uses `MOTO_ENDPOINT` when set, else starts the checkout's moto_server.
    pub fn start() -> Moto {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return Moto {
                endpoint,
                child: None,
            };
        }
        let venv = workspace_root().join(".venv/bin/moto_server");
        let program = if venv.exists() {
            venv
        } else {
            PathBuf::from("moto_server")
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut command = Command::new(&program);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure only makes one prctl syscall, which is async-signal-safe.
        // It ends moto with the test thread even when the test binary is killed (no Drop then).
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {}: {e}; install it with `bash scripts/setup.sh` (moto[server] in .venv)", program.display())
            });
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// Environment a local-mode build gets: moto endpoint, dummy credentials, offline terraform.
    pub fn build_env(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            helper_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_SESSION_TOKEN", "test"),
            ("TF_CLI_CONFIG_FILE", "/dev/null"),
            ("PATH", path.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .http_client(ferry_shared::aws::https_client(
                ferry_shared::aws::Trust::System,
            ))
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// Zip entries: (name, contents, unix mode); mode with S_IFLNK makes a symlink entry.
pub fn zip_bytes(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, data, mode) in entries {
            let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            if mode & 0o170000 == 0o120000 {
                zip.add_symlink(
                    *name,
                    std::str::from_utf8(data).expect("utf8 target"),
                    options,
                )
                .expect("symlink");
            } else {
                zip.start_file(*name, options).expect("start file");
                zip.write_all(data).expect("write");
            }
        }
        zip.finish().expect("finish zip");
    }
    out.into_inner()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
