//! A real single-node `etcd` for tests: its own temp data dir, client and peer ports picked
//! free on loopback, killed on Drop. A missing `etcd` binary fails the test (scripts/test
//! installs Debian's `etcd-server`). Shared by `broker/tests` and `e2e/tests` (which includes
//! this file by path): it needs only `super::free_port`, control's HTTP client and tempfile.

use super::free_port;
use control::client::http as client;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd may take to answer after start on a loaded 2-core machine.
const READY: Duration = Duration::from_secs(30);

pub struct EtcdProc {
    pub addr: String,
    peer_port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl EtcdProc {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Self {
            addr: format!("127.0.0.1:{}", free_port()),
            peer_port: free_port(),
            child: None,
            dir,
        };
        e.spawn();
        e
    }

    fn spawn(&mut self) {
        let client_url = format!("http://{}", self.addr);
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let data = self.dir.path().join("data");
        let child = Command::new("etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(Path::new(&data))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start etcd ({e}); scripts/test installs Debian's etcd-server")
            });
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        loop {
            let r = client::request(
                "POST",
                &self.addr,
                "/v3/kv/range",
                &[],
                Some(br#"{"key":"AA=="}"#),
                Duration::from_secs(2),
            );
            if matches!(r, Ok(ref r) if r.status == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "etcd did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs etcd (its data dir stays).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts etcd again on the same data dir and ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for EtcdProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
