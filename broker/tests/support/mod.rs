//! Test harness: starts the real `mem_broker` binary on a free loopback port with a temp dir
//! for its metadata file, and talks HTTP to it. Drop kills the child.
#![allow(dead_code)]

pub mod etcd;
pub mod etcd_server;

use broker::http::client;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub use testkit::free_port;

pub struct BrokerProc {
    pub addr: String,
    pub child: Child,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
}

impl BrokerProc {
    /// Starts a broker with `UNDERMOON_*` overrides (keys without the prefix).
    pub fn start(env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut b = Self::spawn(&dir, &env);
        b._tmp = Some(tmp);
        b
    }

    fn spawn(dir: &Path, env: &[(String, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mem_broker"));
        for (k, _) in std::env::vars() {
            if k.starts_with("UNDERMOON_") {
                cmd.env_remove(k);
            }
        }
        // Port 0: the broker binds a port the OS picks and logs it; no race for a free port.
        cmd.env("UNDERMOON_ADDRESS", "127.0.0.1:0")
            .env("UNDERMOON_META_FILENAME", dir.join("metadata"))
            .env("RUST_LOG", "broker=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(format!("UNDERMOON_{}", k.to_uppercase()), v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(addr) = line.split("listening on ").nth(1) {
                        let _ = tx.send(Ok(addr.trim().to_string()));
                        sent = true;
                    } else {
                        seen.push_str(&line);
                        seen.push('\n');
                    }
                }
            }
            if !sent {
                let _ = tx.send(Err(seen));
            }
        });
        let addr = match rx.recv_timeout(TIMEOUT) {
            Ok(Ok(addr)) => addr,
            Ok(Err(stderr)) => panic!("mem_broker exited early: {stderr}"),
            Err(_) => panic!("mem_broker did not report its address"),
        };
        let b = Self {
            addr,
            child,
            dir: dir.to_path_buf(),
            env: env.to_vec(),
            _tmp: None,
        };
        assert_eq!(b.get("/api/v3/version").0, 200);
        b
    }

    /// SIGKILLs the broker and starts it again on the same directory (on a new port).
    pub fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let tmp = self._tmp.take();
        let mut next = Self::spawn(&self.dir, &self.env);
        next._tmp = tmp;
        std::mem::swap(self, &mut next);
        // `next` now holds the dead child; dropping it is harmless.
    }

    pub fn meta_file(&self) -> PathBuf {
        self.dir.join("metadata")
    }

    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> client::Response {
        client::request(method, &self.addr, path, headers, body, TIMEOUT).unwrap()
    }

    /// Sends a request (asking for gzip) and returns status and the decoded body as JSON
    /// (`Value::String` for non-JSON bodies, `Null` for empty ones).
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let headers = [
            ("Content-Type", "application/json"),
            ("Accept-Encoding", "gzip"),
        ];
        let r = self.raw(method, path, &headers, body.map(str::as_bytes));
        (r.status, decode(&r))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        match client::request("GET", &self.addr, path, &[], None, TIMEOUT) {
            Ok(r) => (r.status, decode(&r)),
            Err(_) => (0, Value::Null),
        }
    }
}

pub fn decode(r: &client::Response) -> Value {
    let body = if r.header("content-encoding") == Some("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(r.body.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        r.body.clone()
    };
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
}

impl Drop for BrokerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts an error reply: status and `{"error": code}`.
pub fn assert_err(reply: (u16, Value), status: u16, code: &str) {
    assert_eq!(reply.0, status, "body: {}", reply.1);
    assert_eq!(reply.1["error"], code, "body: {}", reply.1);
}

/// Registers a proxy `127.0.0.1:<port>` on `host` with nodes `127.0.0.1:<port+1000>`, `+2000`.
pub fn add_proxy(b: &BrokerProc, api: &str, port: u16, host: &str) -> (u16, Value) {
    let body = format!(
        r#"{{"proxy_address":"127.0.0.1:{port}","nodes":["127.0.0.1:{}","127.0.0.1:{}"],"host":"{host}"}}"#,
        u32::from(port) + 1000,
        u32::from(port) + 2000
    );
    b.call("POST", &format!("/api/{api}/proxies/meta"), Some(&body))
}

/// Masters of a cluster view: (proxy address, slots JSON).
pub fn masters(cluster: &Value) -> Vec<(String, Value)> {
    cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["repl"]["role"] == "master")
        .map(|n| {
            (
                n["proxy_address"].as_str().unwrap().to_string(),
                n["slots"].clone(),
            )
        })
        .collect()
}

/// Migration tasks visible in a cluster view (the Migrating side).
pub fn tasks(cluster: &Value) -> Vec<Value> {
    let name = cluster["name"].clone();
    cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["slots"].as_array().unwrap().clone())
        .filter(|s| s["tag"].get("Migrating").is_some())
        .map(|s| serde_json::json!({"cluster_name": name, "slot_range": s}))
        .collect()
}
