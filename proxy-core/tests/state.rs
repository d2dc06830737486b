//! Connection state through the proxy: HELLO/RESP3, CLIENT, RESET, transactions, WATCH and
//! blocking commands on connections the session owns.
mod support;
use std::time::{Duration, Instant};
use support::*;

/// One proxy over two local backends: slots 0-8191 on `r1` ("b" lives there), 8192-16383 on
/// `r2` ("a" lives there).
struct Two {
    r1: Proc,
    r2: Proc,
    p: Proc,
}

fn two_local() -> Two {
    let (r1, r2) = (redis(), redis());
    let p = proxy();
    setcluster(
        &p,
        &format!(
            "v2 1 NOFLAG db {} 1 0-8191 {} 1 8192-16383",
            r1.addr(),
            r2.addr()
        ),
    );
    Two { r1, r2, p }
}

// why: a test helper: a missing field is a failed test.
#[allow(clippy::panic)]
fn get(m: &Value, key: &str) -> Value {
    let Value::Map(kv) = m else {
        panic!("not a map: {m:?}")
    };
    kv.iter()
        .find(|(k, _)| k.text() == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{key} missing in {m:?}"))
}

#[test]
fn hello_switches_protocol_and_client_state() {
    let t = two_local();
    let mut c = Client::connect(t.p.port);
    assert_eq!(
        c.cmd(&["HELLO", "4"]),
        Value::err("NOPROTO unsupported protocol version")
    );
    let h = c.cmd(&["HELLO", "3", "SETNAME", "app1"]);
    assert_eq!(get(&h, "proto"), Value::Int(3));
    assert_eq!(get(&h, "server"), Value::bulk("redis"));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Value::bulk("app1"));
    // Backend replies now come from RESP3 connections: HGETALL is a map, a missing key `_`.
    assert_eq!(c.cmd(&["HSET", "h", "f", "v"]), Value::Int(1));
    assert_eq!(
        c.cmd(&["HGETALL", "h"]),
        Value::Map(vec![(Value::bulk("f"), Value::bulk("v"))])
    );
    assert_eq!(c.cmd(&["GET", "missing"]), Value::Nil);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "backend_conn_num"]),
        Value::Map(vec![(Value::bulk("backend_conn_num"), Value::bulk("2"))])
    );
    // A RESP2 client on the same core still gets RESP2 from the same backend.
    let mut c2 = Client::connect(t.p.port);
    assert_eq!(
        c2.cmd(&["HGETALL", "h"]),
        Value::Array(vec![Value::bulk("f"), Value::bulk("v")])
    );
    // Back to RESP2, then RESET clears the name.
    let Value::Array(h2) = c.cmd(&["HELLO", "2"]) else {
        panic!()
    };
    assert_eq!(h2[5], Value::Int(2));
    assert_eq!(
        c.cmd(&["HGETALL", "h"]),
        Value::Array(vec![Value::bulk("f"), Value::bulk("v")])
    );
    assert!(c
        .cmd(&["CLIENT", "SETNAME", "a b"])
        .text()
        .starts_with("ERR"));
    let Value::Int(id) = c.cmd(&["CLIENT", "ID"]) else {
        panic!()
    };
    assert!(c
        .cmd(&["CLIENT", "INFO"])
        .text()
        .contains(&format!("id={id} ")));
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "x"]), Value::ok());
    assert_eq!(c.cmd(&["RESET"]), Value::Simple("RESET".into()));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Value::Nil);
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
}

#[test]
fn transactions_pin_one_slot() {
    let t = two_local();
    let mut c = Client::connect(t.p.port);
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["PING"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["SET", "a", "1"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "{a}n"]), Value::Simple("QUEUED".into()));
    assert_eq!(
        c.cmd(&["MULTI"]),
        Value::err("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        Value::Array(vec![
            Value::Simple("PONG".into()),
            Value::ok(),
            Value::Int(1)
        ])
    );
    // The transaction ran on the backend that owns "a".
    assert_eq!(
        Client::connect(t.r2.port).cmd(&["GET", "a"]),
        Value::bulk("1")
    );

    // A key in another slot: CROSSSLOT, and EXEC aborts without running anything.
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "a", "2"]), Value::Simple("QUEUED".into()));
    assert_eq!(
        c.cmd(&["SET", "b", "2"]),
        Value::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        Value::err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd(&["GET", "a"]), Value::bulk("1"));
    assert_eq!(c.cmd(&["GET", "b"]), Value::Nil);

    // DISCARD, and EXEC/DISCARD outside a transaction.
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "a", "3"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["DISCARD"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "a"]), Value::bulk("1"));
    assert_eq!(c.cmd(&["EXEC"]), Value::err("ERR EXEC without MULTI"));
    assert_eq!(c.cmd(&["DISCARD"]), Value::err("ERR DISCARD without MULTI"));

    // Other clients on the same core are not inside the transaction.
    let mut other = Client::connect(t.p.port);
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "a", "9"]), Value::Simple("QUEUED".into()));
    assert_eq!(other.cmd(&["GET", "a"]), Value::bulk("1"));
    assert_eq!(c.cmd(&["EXEC"]), Value::Array(vec![Value::ok()]));
    assert_eq!(other.cmd(&["GET", "a"]), Value::bulk("9"));
    drop(t.r1);
}

#[test]
fn watch_aborts_on_concurrent_write() {
    let t = two_local();
    let mut c = Client::connect(t.p.port);
    let mut other = Client::connect(t.p.port);
    assert_eq!(c.cmd(&["SET", "a", "1"]), Value::ok());
    assert_eq!(
        c.cmd(&["WATCH", "a", "b"]).text(),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    assert_eq!(c.cmd(&["WATCH", "a"]), Value::ok());
    assert_eq!(other.cmd(&["SET", "a", "2"]), Value::ok());
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "a", "3"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Value::Nil);
    assert_eq!(c.cmd(&["GET", "a"]), Value::bulk("2"));
    // Unchanged watched key: the transaction runs.
    assert_eq!(c.cmd(&["WATCH", "a"]), Value::ok());
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["INCR", "a"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Value::Array(vec![Value::Int(3)]));
    assert_eq!(c.cmd(&["UNWATCH"]), Value::ok());
}

#[test]
fn blocking_pop_wakes_on_push_without_holding_others() {
    let t = two_local();
    let mut blocked = Client::connect(t.p.port);
    let mut pusher = Client::connect(t.p.port);
    // A pipeline: the SET must run before the BLPOP, the GET after it.
    let mut pipe = Client::encode(&["SET", "{q}k", "v"]);
    pipe.extend(Client::encode(&["BLPOP", "q", "0"]));
    pipe.extend(Client::encode(&["GET", "{q}k"]));
    blocked.send_raw(&pipe).unwrap();
    assert_eq!(blocked.read().unwrap(), Value::ok());
    std::thread::sleep(Duration::from_millis(200));
    let info = Client::connect(t.p.port).cmd(&["INFO"]).text();
    assert!(info.contains("proxy_blocked_clients:1\r\n"), "{info}");
    // Other clients (many, so every core and every shared connection) are not held up.
    for _ in 0..8 {
        let mut o = Client::connect(t.p.port);
        assert_eq!(o.cmd(&["SET", "x", "1"]), Value::ok());
        assert_eq!(o.cmd(&["GET", "{q}k"]), Value::bulk("v"));
    }
    let start = Instant::now();
    assert_eq!(pusher.cmd(&["RPUSH", "q", "hello"]), Value::Int(1));
    assert_eq!(
        blocked.read().unwrap(),
        Value::Array(vec![Value::bulk("q"), Value::bulk("hello")])
    );
    let waited = start.elapsed();
    assert!(waited < Duration::from_millis(100), "woke after {waited:?}");
    assert_eq!(blocked.read().unwrap(), Value::bulk("v"));
    let info = Client::connect(t.p.port).cmd(&["INFO"]).text();
    assert!(info.contains("proxy_blocked_clients:0\r\n"), "{info}");

    // Redis timeout semantics, fractional seconds included.
    let start = Instant::now();
    assert_eq!(blocked.cmd(&["BRPOP", "q", "0.2"]), Value::Nil);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(190) && waited < Duration::from_secs(2));
    // Other blocking commands: BLMOVE, BZPOPMIN, XREAD BLOCK.
    pusher.cmd(&["RPUSH", "src", "m"]);
    assert_eq!(
        blocked.cmd(&["BLMOVE", "src", "{src}d", "LEFT", "RIGHT", "1"]),
        Value::bulk("m")
    );
    pusher.cmd(&["ZADD", "z", "1", "one"]);
    assert_eq!(
        blocked.cmd(&["BZPOPMIN", "z", "1"]),
        Value::Array(vec![Value::bulk("z"), Value::bulk("one"), Value::bulk("1")])
    );
    blocked
        .send_raw(&Client::encode(&[
            "XREAD", "BLOCK", "5000", "STREAMS", "s", "$",
        ]))
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let start = Instant::now();
    assert!(matches!(
        pusher.cmd(&["XADD", "s", "*", "f", "v"]),
        Value::Bulk(_)
    ));
    let Value::Array(streams) = blocked.read().unwrap() else {
        panic!()
    };
    assert_eq!(streams.len(), 1);
    assert!(start.elapsed() < Duration::from_millis(100));
    drop(t.r1);
}

/// Backend connections blocked in BLPOP. why: counted by command, not in total: the proxy
/// keeps a spare connected dedicated connection per backend beside the ones in use.
fn blocked_on(r: &Proc) -> usize {
    Client::connect(r.port)
        .cmd(&["CLIENT", "LIST"])
        .text()
        .lines()
        .filter(|l| l.contains(" flags=b ") && l.contains(" cmd=blpop "))
        .count()
}

#[test]
fn blocked_client_disconnect_closes_its_connection() {
    let t = two_local();
    let mut c = Client::connect(t.p.port);
    assert_eq!(c.cmd(&["GET", "a"]), Value::Nil);
    let mut blocked = Client::connect(t.p.port);
    blocked
        .send_raw(&Client::encode(&["BLPOP", "a", "0"]))
        .unwrap();
    let deadline = Instant::now() + READY_TIMEOUT;
    while blocked_on(&t.r2) == 0 {
        assert!(
            Instant::now() < deadline,
            "no dedicated connection appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(blocked);
    while blocked_on(&t.r2) > 0 {
        assert!(Instant::now() < deadline, "dedicated connection leaked");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The pushed value is not eaten by a dead client's BLPOP.
    assert_eq!(c.cmd(&["RPUSH", "a", "x"]), Value::Int(1));
    assert_eq!(c.cmd(&["LPOP", "a"]), Value::bulk("x"));
    drop(t.r1);
}

#[test]
fn slow_log_records_slow_commands() {
    let t = two_local();
    let mut c = Client::connect(t.p.port);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog_sample_rate", "1"]),
        Value::ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog_log_slower_than", "100000"]),
        Value::ok()
    );
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Value::ok());
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "slowpoke"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "a"]), Value::Nil);
    assert_eq!(c.cmd(&["BLPOP", "q", "0.3"]), Value::Nil);
    assert_eq!(c.cmd(&["GET", "a"]), Value::Nil);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Value::Int(1));
    let Value::Array(entries) = c.cmd(&["SLOWLOG", "GET"]) else {
        panic!()
    };
    let Value::Array(e) = &entries[0] else {
        panic!()
    };
    assert_eq!(e.len(), 6);
    let Value::Int(micros) = e[2] else { panic!() };
    assert!(micros >= 290_000, "{micros}");
    assert_eq!(
        e[3],
        Value::Array(vec![
            Value::bulk("BLPOP"),
            Value::bulk("q"),
            Value::bulk("0.3")
        ])
    );
    assert_eq!(e[5], Value::bulk("slowpoke"));
    let Value::Array(um) = c.cmd(&["UMCTL", "SLOWLOG", "GET", "5"]) else {
        panic!()
    };
    let Value::Array(fields) = &um[0] else {
        panic!()
    };
    assert_eq!(fields.len(), 10);
    assert!(fields[9].text().starts_with("command: BLPOP q 0.3"));
    assert_eq!(c.cmd(&["UMCTL", "SLOWLOG", "RESET"]), Value::ok());
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Value::Int(0));
    // Negative threshold: disabled.
    c.cmd(&["CONFIG", "SET", "slowlog_log_slower_than", "-1"]);
    assert_eq!(c.cmd(&["BLPOP", "q", "0.15"]), Value::Nil);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Value::Int(0));
    drop(t.r1);
    drop(t.r2);
}
