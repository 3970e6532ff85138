//! Starts moto_server (the local S3, DynamoDB and SQS) and waits until it answers.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

/// A moto_server child process, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Spawns `program` on 127.0.0.1:`port`, logging to `log`, and waits for it to serve.
    pub async fn start(program: &str, port: u16, log: &Path) -> Result<Self> {
        let out = std::fs::File::create(log)
            .with_context(|| format!("creating moto log {}", log.display()))?;
        let err = out.try_clone().context("duplicating log handle")?;
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {program}: install it with `pip install 'moto[server]==5.2.5'` \
                     (scripts/setup.sh does) or set FERRY_MOTO_SERVER"
                )
            })?;
        let mut moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready(Duration::from_secs(60), log).await?;
        Ok(moto)
    }

    async fn wait_ready(&mut self, timeout: Duration, log: &Path) -> Result<()> {
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                bail!("moto_server exited ({status}) before serving:\n{tail}");
            }
            if probe(&addr).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("moto_server did not answer on {addr} within {timeout:?}");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(mut self) -> Result<()> {
        self.child.start_kill().ok();
        self.child.wait().await?;
        Ok(())
    }
}

/// True once moto answers HTTP (its dashboard API), not merely accepts connections.
async fn probe(addr: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if buf.starts_with(b"HTTP/1.") && &buf[9..12] == b"200"
    )
}
