//! Backend failures affect only the requests sent to that backend, give the documented error
//! replies, and heal once Redis is back.
mod support;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use support::*;

fn wait_for(c: &mut Client, args: &[&str], want: Value) {
    let start = Instant::now();
    loop {
        let got = c.cmd(args);
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < READY_TIMEOUT,
            "still {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dead_backend_errors_then_recovers() {
    let alive = redis();
    let dead_port = free_port();
    let p = proxy();
    setcluster(
        &p,
        &format!(
            "v2 1 NOFLAG db {} 1 0-8191 127.0.0.1:{dead_port} 1 8192-16383",
            alive.addr()
        ),
    );
    let mut c = Client::connect(p.port);
    let e = c.cmd(&["GET", "a"]).text();
    assert!(
        e == format!("failed to connect to 127.0.0.1:{dead_port}")
            || e == format!("ERR_BACKEND_CONNECTION: 127.0.0.1:{dead_port}"),
        "{e}"
    );
    // The other backend and the proxy itself are unaffected.
    assert_eq!(c.cmd(&["SET", "b", "1"]), Value::ok());
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    // Start Redis on the dead port: the proxy reconnects on its own.
    let mut back = redis_on(dead_port);
    wait_for(&mut c, &["SET", "a", "2"], Value::ok());
    assert_eq!(c.cmd(&["GET", "a"]), Value::bulk("2"));
    // Kill it under the proxy: errors, not a crash, and not another client's reply.
    back.kill();
    let e = c.cmd(&["GET", "a"]);
    assert!(matches!(e, Value::Error(_)), "{e:?}");
    assert_eq!(c.cmd(&["GET", "b"]), Value::bulk("1"));
    let _back = redis_on(dead_port);
    wait_for(&mut c, &["SET", "a", "3"], Value::ok());
}

#[test]
fn silent_backend_times_out_only_its_requests() {
    let alive = redis();
    // Accepts connections, never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let p = proxy_with(&[("UNDERMOON_BACKEND_TIMEOUT", "300")]);
    setcluster(
        &p,
        &format!(
            "v2 1 NOFLAG db {} 1 0-8191 {silent_addr} 1 8192-16383",
            alive.addr()
        ),
    );
    let mut slow = Client::connect(p.port);
    let mut fast = Client::connect(p.port);
    slow.send_raw(&Client::encode(&["GET", "a"])).unwrap();
    assert_eq!(fast.cmd(&["SET", "b", "x"]), Value::ok());
    let started = Instant::now();
    assert_eq!(
        slow.read().unwrap(),
        Value::err("Err cmd error BackendTimeout")
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(slow.cmd(&["GET", "b"]), Value::bulk("x"));
    drop(silent);
}
