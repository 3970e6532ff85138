//! `ferry local up|down`: runs the local stack as a background process (`ferry local serve`)
//! that outlives the command, found again through a state file in the local directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ferry_shared::config::LocalSettings;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{LocalEnv, LocalStack, StackNames};

fn state_file(dir: &Path) -> PathBuf {
    dir.join("stack.json")
}

fn alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|p| kill(Pid::from_raw(p), None).is_ok())
}

/// The running stack recorded in `dir`, if its process is still alive.
pub fn running(dir: &Path) -> Option<LocalEnv> {
    let text = std::fs::read_to_string(state_file(dir)).ok()?;
    let env: LocalEnv = serde_json::from_str(&text).ok()?;
    alive(env.pid).then_some(env)
}

/// Starts the stack in the background (or reuses a running one) and returns how to reach it.
pub async fn up(settings: &LocalSettings, ferry_exe: &Path) -> Result<(LocalEnv, bool)> {
    if let Some(env) = running(&settings.dir) {
        return Ok((env, false));
    }
    std::fs::create_dir_all(&settings.dir)
        .with_context(|| format!("creating {}", settings.dir.display()))?;
    let _ = std::fs::remove_file(state_file(&settings.dir));
    let log_path = settings.dir.join("serve.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = std::process::Command::new(ferry_exe);
    cmd.args(["local", "serve"])
        .env("FERRY_LOCAL_DIR", &settings.dir)
        .env("FERRY_LOCAL_PORT", settings.port.to_string())
        .env("FERRY_MOTO_SERVER", &settings.moto_server)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: a Ctrl-C meant for the terminal must not take the stack down.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().context("starting `ferry local serve`")?;

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut delay = Duration::from_millis(20);
    loop {
        if let Some(env) = running(&settings.dir) {
            return Ok((env, true));
        }
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("the local stack exited ({status}) while starting; its log:\n{tail}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "the local stack did not come up within 90 s; see {}",
                log_path.display()
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// Stops the background stack; returns false when none was running.
pub async fn down(settings: &LocalSettings) -> Result<bool> {
    let Some(env) = running(&settings.dir) else {
        let _ = std::fs::remove_file(state_file(&settings.dir));
        return Ok(false);
    };
    let pid = Pid::from_raw(i32::try_from(env.pid).context("pid out of range")?);
    kill(pid, Signal::SIGTERM).context("signalling the local stack")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(env.pid) {
        if Instant::now() > deadline {
            let _ = kill(pid, Signal::SIGKILL);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_file(state_file(&settings.dir));
    Ok(true)
}

/// The background process: runs the stack until SIGTERM or SIGINT, then stops it cleanly.
pub async fn serve(settings: &LocalSettings) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let stack = LocalStack::start(
        &settings.moto_server,
        settings.port,
        &settings.dir,
        &StackNames::defaults(),
    )
    .await?;
    // Written last and atomically: its presence means "ready".
    let tmp = settings.dir.join("stack.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&stack.env)?)?;
    std::fs::rename(&tmp, state_file(&settings.dir))?;
    tracing::info!(endpoint = %stack.env.endpoint, "local stack ready");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stopping local stack");
    let _ = std::fs::remove_file(state_file(&settings.dir));
    stack.shutdown().await
}
