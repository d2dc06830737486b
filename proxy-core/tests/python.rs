//! redis-py 8 (the judge of "real clients with default settings") against the proxy: plain
//! `Redis()` and `RedisCluster()`, RESP3 by default and with `protocol=2`. A missing python3
//! or redis-py fails this test; `scripts/test` installs redis-py.
mod support;
use std::process::Command;
use support::*;

#[test]
fn redis_py_defaults_and_resp2() {
    let t = two_halves();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/redis_py_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(t.a.port.to_string())
        .arg(t.b.port.to_string())
        .output()
        .expect("python3 must be installed (scripts/test installs redis-py)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("redis-py ok"), "{stdout}");
}
