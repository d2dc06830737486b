//! UMCTL SETREPL / INFOREPL against a real proxy and real Redis nodes: the proxy makes its
//! replicas follow their masters, promotes on a new SETREPL, and brings a restarted Redis back
//! into its role without a new SETREPL.
mod support;
use std::time::{Duration, Instant};
use support::*;

fn setrepl(c: &mut Client, line: &str) -> Value {
    let mut args = vec!["UMCTL", "SETREPL"];
    args.extend(line.split(' '));
    c.cmd(&args)
}

fn replication(port: u16) -> String {
    Client::connect(port).cmd(&["INFO", "replication"]).text()
}

/// Polls until `port`'s `INFO replication` contains every one of `want`.
fn wait_repl(port: u16, want: &[&str]) {
    let start = Instant::now();
    loop {
        let info = replication(port);
        if want.iter().all(|w| info.contains(w)) {
            return;
        }
        assert!(
            start.elapsed() < READY_TIMEOUT,
            "redis {port} never showed {want:?}:\n{info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn setrepl_drives_replicaof_and_inforepl_reports_it() {
    let a = redis();
    let mut b = redis();
    let p = proxy();
    let mut c = Client::connect(p.port);
    let (ra, rb) = (a.addr(), b.addr());
    let px = p.addr();

    assert_eq!(c.cmd(&["UMCTL", "INFOREPL"]), Value::Array(vec![]));
    let line = format!("3 NOFLAG master db {ra} 1 {rb} {px} replica db {rb} 1 {ra} {px}");
    assert_eq!(setrepl(&mut c, &line), Value::ok());
    let master_port = format!("master_port:{}", a.port);
    wait_repl(
        b.port,
        &["role:slave", &master_port, "master_link_status:up"],
    );

    assert_eq!(
        c.cmd(&["UMCTL", "INFOREPL"]),
        Value::Array(vec![
            Value::Array(vec![
                Value::bulk("cluster:db\n"),
                Value::bulk("role:master\n"),
                Value::bulk(&format!("node_address:{ra}\n")),
                Value::bulk(&format!("replica:{rb}@{px}\n")),
            ]),
            Value::Array(vec![
                Value::bulk("cluster:db\n"),
                Value::bulk("role:replica\n"),
                Value::bulk(&format!("node_address:{rb}\n")),
                Value::bulk(&format!("master:{ra}@{px}\n")),
            ]),
        ])
    );

    // Epoch, host and grammar rules.
    assert_eq!(setrepl(&mut c, "3 NOFLAG"), Value::err("OLD_EPOCH"));
    let foreign = format!("4 NOFLAG master db localhost:{} 0", a.port);
    assert_eq!(setrepl(&mut c, &foreign), Value::err("ERR_NOT_MY_META"));
    assert_eq!(
        setrepl(&mut c, "4 NOFLAG master db"),
        Value::err("Invalid arguments")
    );
    assert_eq!(
        c.cmd(&["UMCTL", "GETEPOCH"]),
        Value::Int(0),
        "SETREPL keeps its own epoch"
    );

    // A Redis restarted empty comes back as a master; the periodic re-assert makes it follow
    // its master again and re-sync.
    Client::connect(a.port).cmd(&["SET", "k", "v"]);
    let port = b.port;
    b.kill();
    let b2 = redis_on(port);
    wait_repl(
        b2.port,
        &["role:slave", &master_port, "master_link_status:up"],
    );
    let start = Instant::now();
    while Client::connect(b2.port).cmd(&["GET", "k"]) != Value::bulk("v") {
        assert!(
            start.elapsed() < READY_TIMEOUT,
            "restarted replica never re-synced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Promotion: the replica is a master by the time SETREPL answers, so writes that the
    // SETCLUSTER right after routes there never get READONLY.
    let line = format!("5 NOFLAG master db {ra} 0 master db {rb} 0");
    assert_eq!(setrepl(&mut c, &line), Value::ok());
    assert!(replication(b2.port).contains("role:master"));
    assert_eq!(
        Client::connect(b2.port).cmd(&["SET", "k2", "v"]),
        Value::ok()
    );
    assert_eq!(setrepl(&mut c, "2 FORCE"), Value::ok());
    assert_eq!(c.cmd(&["UMCTL", "INFOREPL"]), Value::Array(vec![]));
}
