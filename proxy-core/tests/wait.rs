//! `WAIT` through the proxy counts the replicas that have the session's own earlier writes,
//! however the proxy spread them over shared connections, and never holds a shared one.
mod support;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

// why: a test helper: a failed kill is a failed test.
#[allow(clippy::unwrap_used)]
fn signal(p: &Proc, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &p.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn wait_counts_replicas_that_have_the_sessions_writes() {
    let master = redis();
    let replica = redis_with(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let start = Instant::now();
    while !Client::connect(replica.port)
        .cmd(&["INFO", "replication"])
        .text()
        .contains("master_link_status:up")
    {
        assert!(start.elapsed() < READY_TIMEOUT, "replica never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    let p = proxy();
    setcluster(&p, &format!("v2 1 NOFLAG db {} 1 0-16383", master.addr()));
    let mut c = Client::connect(p.port);
    assert!(c
        .cmd(&["WAIT", "1"])
        .text()
        .contains("wrong number of arguments"));

    // A pipelined write and WAIT: the replica acknowledges it.
    let t = Instant::now();
    c.send_raw(
        &[
            Client::encode(&["SET", "k", "v"]),
            Client::encode(&["WAIT", "1", "5000"]),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(c.read().unwrap(), Value::ok());
    assert_eq!(c.read().unwrap(), Value::Int(1));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());

    // A replica that cannot acknowledge: the write is not counted, after the timeout. (Had the
    // proxy's WAIT connection no offset of its own, the replica's old ack would count at once.)
    signal(&replica, "-STOP");
    assert_eq!(c.cmd(&["SET", "k", "v2"]), Value::ok());
    let t = Instant::now();
    assert_eq!(c.cmd(&["WAIT", "1", "300"]), Value::Int(0));
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );

    // A WAIT with no timeout blocks only its own client.
    let mut blocked = Client::connect(p.port);
    blocked
        .send_raw(&Client::encode(&["WAIT", "1", "0"]))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(c.cmd(&["GET", "k"]), Value::bulk("v2"));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    signal(&replica, "-CONT");
    blocked.set_read_timeout(Duration::from_secs(10));
    assert_eq!(blocked.read().unwrap(), Value::Int(1));
}
