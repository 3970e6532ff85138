//! One long-lived bash per build, driven a command at a time over stdin, so `cd` and exports
//! carry across commands and phases as in CodeBuild.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Errors from driving bash itself (not a command's failure).
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot start bash: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot talk to bash: {0}")]
    Io(#[source] std::io::Error),
}

/// The build log: kept in memory for the API and appended to a file for humans.
#[derive(Clone, Default)]
pub struct LogSink {
    inner: Arc<Mutex<LogInner>>,
}

#[derive(Default)]
struct LogInner {
    text: String,
    file: Option<std::fs::File>,
}

impl LogSink {
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            inner: Arc::new(Mutex::new(LogInner {
                text: String::new(),
                file: Some(file),
            })),
        })
    }

    pub fn line(&self, line: &str) {
        let mut inner = self.inner.lock();
        inner.text.push_str(line);
        inner.text.push('\n');
        if let Some(file) = inner.file.as_mut() {
            // A full disk must not fail the build; the in-memory copy still has the line.
            let _ = writeln!(file, "{line}");
        }
    }

    pub fn text(&self) -> String {
        self.inner.lock().text.clone()
    }
}

enum Event {
    Done { seq: u64, rc: i32 },
    Eof,
}

/// A running bash and what it needs to resume after dying. After each command bash prints a
/// marker line (a per-build nonce, the command's sequence number, its exit status) and
/// snapshots its exported environment and working directory; if a command ends the shell
/// (`exit`, `set -e`) a fresh bash resumes from that snapshot, as CodeBuild's per-command
/// scripts would.
pub struct Shell {
    env: BTreeMap<String, String>,
    workdir: PathBuf,
    ctl: PathBuf,
    nonce: String,
    log: LogSink,
    seq: u64,
    live: Option<Live>,
}

struct Live {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Event>,
    pgid: Option<Pid>,
}

impl Drop for Live {
    fn drop(&mut self) {
        // Kill the whole process group: terraform and friends must not outlive a stopped build.
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Shell {
    /// Prepares a shell running in `workdir` with exactly `env`; `ctl` is a private scratch
    /// directory for command files and snapshots. bash starts lazily on the first command.
    pub fn new(
        env: BTreeMap<String, String>,
        workdir: PathBuf,
        ctl: PathBuf,
        log: LogSink,
    ) -> Self {
        Self {
            env,
            workdir,
            ctl,
            nonce: format!("__ferry_{}", uuid::Uuid::new_v4().simple()),
            log,
            seq: 0,
            live: None,
        }
    }

    /// Runs one buildspec command; returns its exit status (bash's, if it ended the shell).
    pub async fn run(&mut self, command: &str) -> Result<i32, ShellError> {
        self.seq += 1;
        let file = self.ctl.join(format!("cmd-{}.sh", self.seq));
        tokio::fs::write(&file, command)
            .await
            .map_err(ShellError::Io)?;
        // Options are reset around every command: in CodeBuild each command is its own script,
        // so a `set -e` in one must not change how the next one fails.
        let line = format!(
            "set +e +u +o pipefail; . {file} </dev/null; __ferry_rc=$?; set +e +u +o pipefail; {snap}; printf '%s {seq} %s\\n' \"$__ferry_nonce\" \"$__ferry_rc\"\n",
            file = sh_quote(&file.to_string_lossy()),
            snap = self.snapshot_command(),
            seq = self.seq,
        );
        self.send(&line).await
    }

    /// Runs shell code of the runner itself (not logged as a command).
    pub async fn internal(&mut self, code: &str) -> Result<i32, ShellError> {
        self.seq += 1;
        let line = format!(
            "{code}\n__ferry_rc=$?; {snap}; printf '%s {seq} %s\\n' \"$__ferry_nonce\" \"$__ferry_rc\"\n",
            snap = self.snapshot_command(),
            seq = self.seq,
        );
        self.send(&line).await
    }

    /// The current values of `names` that are set in the shell.
    pub async fn read_vars(
        &mut self,
        names: &[String],
    ) -> Result<Vec<(String, String)>, ShellError> {
        let out = self.ctl.join("exported");
        let valid: Vec<&String> = names.iter().filter(|n| is_identifier(n)).collect();
        if valid.is_empty() {
            return Ok(Vec::new());
        }
        let list = valid
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let code = format!(
            "for __ferry_n in {list}; do if [ -n \"${{!__ferry_n+x}}\" ]; then printf '%s\\0%s\\0' \"$__ferry_n\" \"${{!__ferry_n}}\"; fi; done > {}",
            sh_quote(&out.to_string_lossy())
        );
        self.internal(&code).await?;
        let bytes = tokio::fs::read(&out).await.map_err(ShellError::Io)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut parts = text.split('\0');
        let mut vars = Vec::new();
        while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
            vars.push((name.to_string(), value.to_string()));
        }
        Ok(vars)
    }

    /// Ends bash and anything it left running.
    pub async fn close(&mut self) {
        if let Some(mut live) = self.live.take() {
            let _ = live.stdin.write_all(b"exit 0\n").await;
            let _ = live.stdin.flush().await;
            let _ = live.child.wait().await;
        }
    }

    /// Kills bash and everything it started, without waiting for the current command.
    pub fn kill(&mut self) {
        self.live = None;
    }

    fn snapshot_command(&self) -> String {
        let ctl = sh_quote(&self.ctl.to_string_lossy());
        format!("export -p > {ctl}/state.env; pwd > {ctl}/state.cwd")
    }

    async fn send(&mut self, line: &str) -> Result<i32, ShellError> {
        if self.live.is_none() {
            self.live = Some(self.spawn().await?);
        }
        let seq = self.seq;
        let Some(live) = self.live.as_mut() else {
            return Err(ShellError::Io(std::io::Error::other("bash is not running")));
        };
        // A write error means bash already died; the event loop below reports how.
        let _ = live.stdin.write_all(line.as_bytes()).await;
        let _ = live.stdin.flush().await;
        loop {
            match live.events.recv().await {
                Some(Event::Done { seq: s, rc }) if s == seq => return Ok(rc),
                Some(Event::Done { .. }) => continue,
                Some(Event::Eof) | None => break,
            }
        }
        // bash ended inside the command: its exit status is the command's.
        let status = live.child.wait().await.map_err(ShellError::Io)?;
        let rc = exit_code(status);
        self.live = None;
        Ok(rc)
    }

    async fn spawn(&mut self) -> Result<Live, ShellError> {
        let mut child = Command::new("bash")
            .args(["--noprofile", "--norc", "-s"])
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(ShellError::Spawn)?;
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ShellError::Spawn(std::io::Error::other(
                "bash stdio not captured",
            )));
        };
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(read_output(
            stdout,
            self.nonce.clone(),
            self.log.clone(),
            tx,
        ));
        // bash's own errors before `exec 2>&1` (there should be none) still reach the log.
        let log = self.log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.line(&line);
            }
        });
        let ctl = sh_quote(&self.ctl.to_string_lossy());
        // Merge stderr into stdout so the log keeps the order a terminal would show; resume
        // from the last snapshot when an earlier bash of this build died.
        let prologue = format!(
            "exec 2>&1; __ferry_nonce={nonce}; if [ -f {ctl}/state.env ]; then . {ctl}/state.env 2>/dev/null; cd \"$(cat {ctl}/state.cwd)\" 2>/dev/null; fi\n",
            nonce = sh_quote(&self.nonce),
        );
        stdin
            .write_all(prologue.as_bytes())
            .await
            .map_err(ShellError::Io)?;
        Ok(Live {
            child,
            stdin,
            events,
            pgid,
        })
    }
}

async fn read_output(
    stdout: tokio::process::ChildStdout,
    nonce: String,
    log: LogSink,
    tx: mpsc::UnboundedSender<Event>,
) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        match line.find(&nonce) {
            Some(at) => {
                // Output without a trailing newline shares the marker's line.
                if at > 0 {
                    log.line(&line[..at]);
                }
                let mut fields = line[at + nonce.len()..].split_whitespace();
                let seq = fields.next().and_then(|s| s.parse().ok());
                let rc = fields.next().and_then(|s| s.parse().ok());
                if let (Some(seq), Some(rc)) = (seq, rc) {
                    let _ = tx.send(Event::Done { seq, rc });
                }
            }
            None => log.line(line),
        }
    }
    let _ = tx.send(Event::Eof);
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Single-quotes a string for bash.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_identifiers() {
        assert_eq!(sh_quote("a'b"), "'a'\\''b'");
        assert!(is_identifier("FERRY_PLAN_SHA256"));
        assert!(!is_identifier("1A"));
        assert!(!is_identifier("A-B"));
        assert!(!is_identifier("A;rm"));
    }
}
