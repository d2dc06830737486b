//! Test harness: real `redis-server` and `server_proxy` processes on free ports, killed by
//! Drop guards, and a tiny blocking RESP client.
// why: test harness: a failed unwrap here is a failed test, which is what we want.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: the CI machine has 2 noisy cores.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Proc {
    pub child: Child,
    pub port: u16,
}

impl Proc {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn redis_on(port: u16) -> Proc {
    redis_on_with(port, &[])
}

/// A redis-server with extra options (e.g. `--enable-debug-command yes`).
pub fn redis_with(extra: &[&str]) -> Proc {
    redis_on_with(free_port(), extra)
}

pub fn redis_on_with(port: u16, extra: &[&str]) -> Proc {
    // why: a replica writes the RDB it receives to `--dir/--dbfilename`, and a later
    // redis-server started there would load it; each port gets its own file, removed first.
    let dir = std::env::temp_dir();
    let rdb = format!("undermoon-proxy-test-{port}.rdb");
    let _ = std::fs::remove_file(dir.join(&rdb));
    let child = Command::new("redis-server")
        .arg("--dir")
        .arg(&dir)
        .args([
            "--dbfilename",
            &rdb,
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/test installs it)");
    let p = Proc { child, port };
    wait_ping(port, "PONG");
    p
}

pub fn redis() -> Proc {
    redis_on(free_port())
}

pub fn proxy_with(env: &[(&str, &str)]) -> Proc {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server_proxy"));
    cmd.env("UNDERMOON_ADDRESS", format!("127.0.0.1:{port}"))
        .env("UNDERMOON_THREAD_NUMBER", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let p = Proc { child, port };
    wait_ping(port, "PONG");
    p
}

pub fn proxy() -> Proc {
    proxy_with(&[])
}

fn wait_ping(port: u16, expect: &str) {
    let start = Instant::now();
    while start.elapsed() < READY_TIMEOUT {
        if let Ok(mut c) = Client::try_connect(port) {
            if c.cmd(&["PING"]) == Value::Simple(expect.to_string()) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("port {port} not ready");
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Value>),
    /// RESP3 map.
    Map(Vec<(Value, Value)>),
    /// RESP3 boolean.
    Bool(bool),
}

impl Value {
    pub fn ok() -> Value {
        Value::Simple("OK".into())
    }
    pub fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }
    pub fn err(s: &str) -> Value {
        Value::Error(s.into())
    }
    pub fn text(&self) -> String {
        match self {
            Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Simple(s) | Value::Error(s) => s.clone(),
            other => format!("{other:?}"),
        }
    }
}

pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn try_connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap()
    }

    pub fn encode(args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        out
    }

    pub fn set_read_timeout(&self, d: Duration) {
        self.w.set_read_timeout(Some(d)).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    pub fn cmd(&mut self, args: &[&str]) -> Value {
        self.send_raw(&Self::encode(args)).unwrap();
        self.read().unwrap()
    }

    pub fn read(&mut self) -> std::io::Result<Value> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches("\r\n");
        let (ty, rest) = line.split_at(1);
        Ok(match ty {
            "+" => Value::Simple(rest.into()),
            "-" => Value::Error(rest.into()),
            ":" => Value::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    Value::Nil
                } else {
                    let mut b = vec![0; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Value::Bulk(b)
                }
            }
            "_" => Value::Nil,
            "#" => Value::Bool(rest == "t"),
            "," | "(" => Value::Simple(rest.into()),
            "=" => {
                let n: usize = rest.parse().unwrap();
                let mut b = vec![0; n + 2];
                self.r.read_exact(&mut b)?;
                b.truncate(n);
                Value::Bulk(b[4..].to_vec())
            }
            "%" => {
                let n: usize = rest.parse().unwrap();
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push((self.read()?, self.read()?));
                }
                Value::Map(v)
            }
            "*" | "~" | ">" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    Value::Nil
                } else {
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(self.read()?);
                    }
                    Value::Array(v)
                }
            }
            other => panic!("bad reply type {other:?} in {line:?}"),
        })
    }

    /// True once the peer has closed (reads EOF or reset within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match self.r.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

/// Sends SETCLUSTER and asserts OK.
pub fn setcluster(proxy: &Proc, line: &str) {
    let mut c = Client::connect(proxy.port);
    let mut args = vec!["UMCTL", "SETCLUSTER"];
    args.extend(line.split(' '));
    assert_eq!(c.cmd(&args), Value::ok(), "SETCLUSTER {line}");
}

/// Two proxies as two halves of a cluster: A has 0-8191, B 8192-16383.
pub struct TwoHalves {
    pub redis_a: Proc,
    pub redis_b: Proc,
    pub a: Proc,
    pub b: Proc,
}

pub fn two_halves() -> TwoHalves {
    let (redis_a, redis_b) = (redis(), redis());
    let (a, b) = (proxy(), proxy());
    setcluster(
        &a,
        &format!(
            "v2 1 NOFLAG mydb {} 1 0-8191 PEER {} 1 8192-16383",
            redis_a.addr(),
            b.addr()
        ),
    );
    setcluster(
        &b,
        &format!(
            "v2 1 NOFLAG mydb {} 1 8192-16383 PEER {} 1 0-8191",
            redis_b.addr(),
            a.addr()
        ),
    );
    TwoHalves {
        redis_a,
        redis_b,
        a,
        b,
    }
}
