//! A server process a test starts: its stdout and stderr go to `server.log` in its own temp
//! dir, it is killed on drop, and a failure to come up quotes that log.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, SIGKILLed and reaped on drop; its temp dir goes with it.
pub struct Server {
    /// `None` once killed.
    pub child: Option<Child>,
    /// The 127.0.0.1 port it was told to listen on.
    pub port: u16,
    /// What it is, for messages.
    pub name: String,
    /// Its working directory, holding `server.log`.
    pub dir: tempfile::TempDir,
}

impl Server {
    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The last 20 lines of its log, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// SIGKILL and reap; the dir stays until drop.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `cmd(port, dir)` on `port` and waits until `ready(port)`.
///
/// # Errors
/// The process could not be spawned, exited first, or was not ready within `limit`; the
/// message quotes its log.
pub fn start_on(
    name: &str,
    port: u16,
    cmd: &mut dyn FnMut(u16, &Path) -> Command,
    ready: &mut dyn FnMut(u16) -> bool,
    limit: Duration,
) -> Result<Server, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("{name}: temp dir: {e}"))?;
    let log = std::fs::File::create(dir.path().join("server.log"))
        .map_err(|e| format!("{name}: log file: {e}"))?;
    let err = log
        .try_clone()
        .map_err(|e| format!("{name}: log file: {e}"))?;
    let mut command = cmd(port, dir.path());
    // why: the binaries refuse unknown UNDERMOON_* keys; the caller's environment must not leak.
    for (k, _) in std::env::vars() {
        if k.starts_with("UNDERMOON_") && !command.get_envs().any(|(set, _)| set == k.as_str()) {
            command.env_remove(k);
        }
    }
    command
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let mut server = Server {
        child: Some(child),
        port,
        name: name.to_string(),
        dir,
    };
    let start = Instant::now();
    loop {
        if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
            return Err(format!(
                "{name} on port {port} exited with {status}; its log:\n{}",
                server.log()
            ));
        }
        if ready(port) {
            return Ok(server);
        }
        if start.elapsed() > limit {
            return Err(format!(
                "{name} on port {port} not ready after {limit:?}; its log:\n{}",
                server.log()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Like [`start_on`] on a [`crate::free_port`], trying up to three fresh ports.
///
/// why: a port can still be lost between the probe in `free_port` and the server's own bind;
/// that is the harness' problem, not the server's, so it must not fail a test.
///
/// # Panics
/// When no attempt came up: the test cannot go on, and the message quotes every log.
#[allow(clippy::panic)] // why: test-only crate; a server that never starts fails the test.
pub fn start(
    name: &str,
    mut cmd: impl FnMut(u16, &Path) -> Command,
    mut ready: impl FnMut(u16) -> bool,
    limit: Duration,
) -> Server {
    let mut errors = Vec::new();
    for _ in 0..3 {
        match start_on(name, crate::free_port(), &mut cmd, &mut ready, limit) {
            Ok(s) => return s,
            Err(e) => errors.push(e),
        }
    }
    panic!("{name} did not start:\n{}", errors.join("\n---\n"))
}
