//! The coordinator's admin port (spec 5.2) against the real binary: PING, CONFIG GET/SET
//! brokers, CONFIG GET reporter_id, and the original's exact errors. Also makes
//! `cargo test --workspace` build the `coordinator` binary the e2e tests use.
// why: test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]
use control::client::resp::{call_once, Conn, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn admin_port_answers_config_and_ping() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let broker = format!("127.0.0.1:{}", free_port());
    let _c = Kill(
        Command::new(env!("CARGO_BIN_EXE_coordinator"))
            .env("UNDERMOON_ADDRESS", &addr)
            .env("UNDERMOON_BROKER_ADDRESS", &broker)
            .env("UNDERMOON_REPORTER_ID", "rep-1")
            .env("UNDERMOON_PROXY_TIMEOUT", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while call_once(&addr, &["PING"], Duration::from_secs(1)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "admin port up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Conn::connect(&addr, Duration::from_secs(5)).unwrap();
    let mut cmd = |args: &[&str]| c.call(args).unwrap();
    let err = |s: &str| Value::Error(s.to_string());
    assert_eq!(cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(
        cmd(&["CONFIG", "GET", "brokers"]),
        Value::Bulk(broker.clone().into_bytes())
    );
    assert_eq!(
        cmd(&["CONFIG", "GET", "reporter_id"]),
        Value::Bulk(b"rep-1".to_vec())
    );
    assert_eq!(
        cmd(&["CONFIG", "SET", "brokers", "127.0.0.1:1,127.0.0.1:2"]),
        Value::Simple("OK".into())
    );
    assert_eq!(
        cmd(&["config", "get", "brokers"]),
        Value::Bulk(b"127.0.0.1:1,127.0.0.1:2".to_vec())
    );
    assert_eq!(
        cmd(&["CONFIG", "GET", "nope"]),
        err("Invalid CONFIG field nope")
    );
    assert_eq!(
        cmd(&["CONFIG", "SET", "reporter_id", "x"]),
        err("Invalid CONFIG SET field reporter_id")
    );
    assert_eq!(
        cmd(&["CONFIG", "RESET", "x"]),
        err("Invalid config sub command: RESET")
    );
    assert_eq!(cmd(&["CONFIG"]), err("Missing sub argument"));
    assert_eq!(cmd(&["UMCTL", "X"]), err("Invalid sub command for UMCTL"));
    assert_eq!(cmd(&["GET", "a"]), err("ERR_COMMAND_NOT_SUPPORTED: GET"));
}
