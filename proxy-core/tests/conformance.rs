//! Behaviour Redis's own test suite drove (issue #12, `scripts/redis-suite`), each checked
//! here on real redis-servers behind one proxy with two local backends: relay connections
//! (Pub/Sub, MONITOR, SYNC), INFO merged with the proxy's section, PING and scripts on the
//! backend (BUSY), node-wide fan-out (SAVE, CLIENT PAUSE), protocol errors in Redis' words.
// why: a test: a missing reply is a failed test.
#![allow(clippy::panic)]
mod support;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::*;

/// One proxy over two local backends: slots 0-8191 on `r1` ("b" lives there), 8192-16383 on
/// `r2` ("a" lives there).
struct Two {
    _r1: Proc,
    _r2: Proc,
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
    Two {
        _r1: r1,
        _r2: r2,
        p,
    }
}

fn arr(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::bulk(s)).collect())
}

#[test]
fn pubsub_runs_on_a_relay_and_ends_with_the_last_subscription() {
    let t = two_local();
    let mut sub = Client::connect(t.p.port);
    let mut other = Client::connect(t.p.port);
    let subscribed = sub.cmd(&["SUBSCRIBE", "news"]);
    assert_eq!(
        subscribed,
        Value::Array(vec![
            Value::bulk("subscribe"),
            Value::bulk("news"),
            Value::Int(1)
        ])
    );
    // A subscribed RESP2 client gets Redis' own refusal; other clients are untouched.
    assert!(sub
        .cmd(&["GET", "a"])
        .text()
        .contains("only (P|S)SUBSCRIBE"));
    assert_eq!(other.cmd(&["SET", "a", "1"]), Value::ok());
    assert_eq!(other.cmd(&["PUBLISH", "news", "hello"]), Value::Int(1));
    assert_eq!(sub.read().unwrap(), arr(&["message", "news", "hello"]));
    assert_eq!(sub.cmd(&["PING"]), arr(&["pong", ""]));
    // Pattern and shard channels (the shard channel "a" lives on the second backend).
    assert_eq!(
        sub.cmd(&["PSUBSCRIBE", "n*"]),
        Value::Array(vec![
            Value::bulk("psubscribe"),
            Value::bulk("n*"),
            Value::Int(2)
        ])
    );
    let mut ssub = Client::connect(t.p.port);
    assert_eq!(
        ssub.cmd(&["SSUBSCRIBE", "a"]),
        Value::Array(vec![
            Value::bulk("ssubscribe"),
            Value::bulk("a"),
            Value::Int(1)
        ])
    );
    assert_eq!(other.cmd(&["SPUBLISH", "a", "s1"]), Value::Int(1));
    assert_eq!(ssub.read().unwrap(), arr(&["smessage", "a", "s1"]));
    assert_eq!(other.cmd(&["PUBLISH", "news", "two"]), Value::Int(2));
    let mut got = vec![sub.read().unwrap(), sub.read().unwrap()];
    got.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(
        got,
        vec![
            arr(&["message", "news", "two"]),
            arr(&["pmessage", "n*", "news", "two"])
        ]
    );
    // The last unsubscription ends the relay: the client is an ordinary one again, and its
    // keys are routed (the key "a" is on the other backend than the relay's).
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE"]),
        Value::Array(vec![
            Value::bulk("unsubscribe"),
            Value::bulk("news"),
            Value::Int(1)
        ])
    );
    assert_eq!(
        sub.cmd(&["PUNSUBSCRIBE"]),
        Value::Array(vec![
            Value::bulk("punsubscribe"),
            Value::bulk("n*"),
            Value::Int(0)
        ])
    );
    assert_eq!(sub.cmd(&["GET", "a"]), Value::bulk("1"));
    assert_eq!(sub.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(other.cmd(&["PUBLISH", "news", "three"]), Value::Int(0));

    // RESP3: a subscribed client may run any command, routed as usual.
    let mut r3 = Client::connect(t.p.port);
    assert!(matches!(r3.cmd(&["HELLO", "3"]), Value::Map(_)));
    assert_eq!(
        r3.cmd(&["SUBSCRIBE", "news"]),
        Value::Array(vec![
            Value::bulk("subscribe"),
            Value::bulk("news"),
            Value::Int(1)
        ])
    );
    assert_eq!(r3.cmd(&["GET", "a"]), Value::bulk("1"));
    assert_eq!(other.cmd(&["PUBLISH", "news", "four"]), Value::Int(1));
    assert_eq!(r3.read().unwrap(), arr(&["message", "news", "four"]));
    // Keyspace notifications come from whichever backend holds the key: a channel or
    // pattern subscription listens on every local backend ("a" is on the second).
    assert_eq!(
        other.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KA"]),
        Value::ok()
    );
    let mut ks = Client::connect(t.p.port);
    assert_eq!(
        ks.cmd(&["PSUBSCRIBE", "__keyspace@0__:*"]),
        Value::Array(vec![
            Value::bulk("psubscribe"),
            Value::bulk("__keyspace@0__:*"),
            Value::Int(1)
        ])
    );
    assert_eq!(other.cmd(&["SET", "a", "2"]), Value::ok());
    assert_eq!(
        ks.read().unwrap(),
        arr(&["pmessage", "__keyspace@0__:*", "__keyspace@0__:a", "set"])
    );
    assert_eq!(other.cmd(&["SET", "b", "2"]), Value::ok());
    assert_eq!(
        ks.read().unwrap(),
        arr(&["pmessage", "__keyspace@0__:*", "__keyspace@0__:b", "set"])
    );
    // RESET leaves the relay.
    assert_eq!(r3.cmd(&["RESET"]), Value::Simple("RESET".into()));
    let start = Instant::now();
    while other.cmd(&["PUBLISH", "news", "five"]) != Value::Int(0) {
        assert!(start.elapsed() < READY_TIMEOUT, "the relay outlived RESET");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn monitor_and_sync_are_relayed_and_info_merges_the_backends() {
    let t = two_local();
    let mut mon = Client::connect(t.p.port);
    assert_eq!(mon.cmd(&["MONITOR"]), Value::ok());
    let mut c = Client::connect(t.p.port);
    assert_eq!(c.cmd(&["SET", "b", "monitored"]), Value::ok());
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("\"monitored\"")) {
        assert!(seen.len() < 50, "{seen:?}");
        seen.push(mon.read().unwrap().text());
    }
    // A key on the second backend is monitored too (one node's MONITOR sees its keyspace).
    assert_eq!(c.cmd(&["SET", "a", "second"]), Value::ok());
    while !seen.iter().any(|l: &String| l.contains("\"second\"")) {
        assert!(seen.len() < 100, "{seen:?}");
        seen.push(mon.read().unwrap().text());
    }
    assert_eq!(mon.cmd(&["RESET"]), Value::Simple("RESET".into()));
    assert_eq!(mon.cmd(&["GET", "b"]), Value::bulk("monitored"));

    // SYNC: the RDB payload comes through as Redis sends it (a bulk header, no CRLF after).
    let mut s = std::net::TcpStream::connect(("127.0.0.1", t.p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"SYNC\r\n").unwrap();
    let mut got = Vec::new();
    let start = Instant::now();
    while !got.windows(5).any(|w| w == b"REDIS") && start.elapsed() < READY_TIMEOUT {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "SYNC closed early");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let first = text.trim_start_matches('\n');
    assert!(first.starts_with('$'), "{text:?}");
    assert!(text.contains("REDIS"), "{text:?}");

    // INFO: the backends' sections, keyspace summed, then the proxy's own section.
    assert_eq!(c.cmd(&["SET", "a", "1"]), Value::ok());
    let info = c.cmd(&["INFO"]).text();
    assert!(info.contains("redis_version:"), "{info}");
    assert!(info.contains("db0:keys=2,"), "{info}");
    let pid = format!("proxy_process_id:{}\r\n", t.p.child.id());
    assert!(
        info.contains("# Proxy\r\n") && info.contains(&pid),
        "{info}"
    );
    let only = c.cmd(&["INFO", "proxy"]).text();
    assert!(only.starts_with("# Proxy\r\n") && !only.contains("redis_version"));
    let server = c.cmd(&["INFO", "server"]).text();
    assert!(server.contains("redis_version:") && !server.contains("# Proxy"));
}

#[test]
fn scripts_and_ping_show_the_backends_state() {
    let t = two_local();
    let mut c = Client::connect(t.p.port);
    // Node-wide commands reach every local backend.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        Value::ok()
    );
    assert_eq!(c.cmd(&["SAVE"]), Value::ok());
    assert_eq!(c.cmd(&["CLIENT", "PAUSE", "50", "WRITE"]), Value::ok());
    assert!(c
        .cmd(&["CONFIG", "NOSUCH"])
        .text()
        .contains("unknown subcommand"));
    // A script running longer than the backend timeout (default 3 s is not needed: the
    // script runs on the session's own connection, which never times out) is BUSY for
    // others, PING included, and SCRIPT KILL ends it.
    let mut runner = Client::connect(t.p.port);
    runner
        .send_raw(&Client::encode(&["EVAL", "while true do end", "0"]))
        .unwrap();
    let start = Instant::now();
    let mut busy = Client::connect(t.p.port);
    loop {
        let pong = busy.cmd(&["PING"]);
        if pong.text().starts_with("BUSY") {
            break;
        }
        assert!(start.elapsed() < READY_TIMEOUT, "never BUSY: {pong:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(busy.cmd(&["SCRIPT", "KILL"]), Value::ok());
    assert!(runner.read().unwrap().text().contains("killed"));
    assert_eq!(busy.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(runner.cmd(&["EVAL", "return 7", "0"]), Value::Int(7));
    assert_eq!(
        runner.cmd(&["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "a"]),
        Value::ok()
    );
    assert_eq!(c.cmd(&["GET", "a"]), Value::bulk("x"));
}

#[test]
fn protocol_errors_client_reply_and_client_info_as_redis() {
    let t = two_local();
    let mut c = Client::connect(t.p.port);
    c.send_raw(b"*3000000000\r\n").unwrap();
    assert_eq!(
        c.read().unwrap(),
        Value::err("ERR Protocol error: invalid multibulk length")
    );
    c.set_read_timeout(Duration::from_secs(5));
    assert!(c.is_closed());
    let mut c = Client::connect(t.p.port);
    c.send_raw(b"*1\r\n$3000000000\r\n").unwrap();
    assert_eq!(
        c.read().unwrap(),
        Value::err("ERR Protocol error: invalid bulk length")
    );
    // CLIENT REPLY: OFF and SKIP silence replies (not the Pub/Sub messages), ON restores.
    let mut c = Client::connect(t.p.port);
    let mut pipe = Client::encode(&["CLIENT", "REPLY", "OFF"]);
    pipe.extend(Client::encode(&["SET", "a", "1"]));
    pipe.extend(Client::encode(&["CLIENT", "REPLY", "ON"]));
    pipe.extend(Client::encode(&["CLIENT", "REPLY", "SKIP"]));
    pipe.extend(Client::encode(&["GET", "a"]));
    pipe.extend(Client::encode(&["INCR", "a"]));
    c.send_raw(&pipe).unwrap();
    assert_eq!(c.read().unwrap(), Value::ok());
    assert_eq!(c.read().unwrap(), Value::Int(2));
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    assert!(
        info.starts_with("id=")
            && info.contains(" laddr=127.0.0.1:")
            && info.contains(" flags=N db=0 "),
        "{info}"
    );
    assert!(
        info.contains(" cmd=client|info user=default redir=-1 resp=2"),
        "{info}"
    );

    let mut c = Client::connect(t.p.port);
    c.send_raw(b"set \"\"\"k\"\"\" v\r\n").unwrap();
    assert_eq!(
        c.read().unwrap(),
        Value::err("ERR Protocol error: unbalanced quotes in request")
    );
}

#[test]
fn tracking_runs_on_a_relay_and_redirect_names_proxy_clients() {
    let r = redis();
    let p = proxy();
    setcluster(&p, &format!("v2 1 NOFLAG db {} 1 0-16383", r.addr()));
    let mut writer = Client::connect(p.port);
    // RESP3: invalidations arrive as pushes on the tracking client's own connection.
    let mut t3 = Client::connect(p.port);
    assert!(matches!(t3.cmd(&["HELLO", "3"]), Value::Map(_)));
    assert_eq!(t3.cmd(&["CLIENT", "TRACKING", "ON"]), Value::ok());
    assert_eq!(t3.cmd(&["CLIENT", "GETREDIR"]), Value::Int(0));
    assert_eq!(t3.cmd(&["GET", "k"]), Value::Nil);
    assert_eq!(writer.cmd(&["SET", "k", "1"]), Value::ok());
    assert_eq!(
        t3.read().unwrap(),
        Value::Array(vec![Value::bulk("invalidate"), arr(&["k"])])
    );
    // RESP2: REDIRECT to another proxy client subscribed to __redis__:invalidate.
    let mut sink = Client::connect(p.port);
    let Value::Int(sink_id) = sink.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    assert_eq!(
        sink.cmd(&["SUBSCRIBE", "__redis__:invalidate"]),
        Value::Array(vec![
            Value::bulk("subscribe"),
            Value::bulk("__redis__:invalidate"),
            Value::Int(1)
        ])
    );
    let mut t2 = Client::connect(p.port);
    assert_eq!(
        t2.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]),
        Value::err("ERR The client ID you want redirect to does not exist")
    );
    track_with_redirect(&mut t2, sink_id);
    assert_eq!(t2.cmd(&["GET", "k2"]), Value::Nil);
    // The proxy's answers wait for the tracking connection's replies: order is kept.
    let mut pipe = Client::encode(&["SET", "k3", "v"]);
    pipe.extend(Client::encode(&["CLIENT", "GETNAME"]));
    pipe.extend(Client::encode(&["GET", "k3"]));
    t2.send_raw(&pipe).unwrap();
    assert_eq!(t2.read().unwrap(), Value::ok());
    assert_eq!(t2.read().unwrap(), Value::Nil);
    assert_eq!(t2.read().unwrap(), Value::bulk("v"));
    assert_eq!(writer.cmd(&["SET", "k2", "1"]), Value::ok());
    assert_eq!(
        sink.read().unwrap(),
        Value::Array(vec![
            Value::bulk("message"),
            Value::bulk("__redis__:invalidate"),
            arr(&["k2"])
        ])
    );
    assert_eq!(t2.cmd(&["CLIENT", "TRACKING", "OFF"]), Value::ok());
    assert_eq!(t2.cmd(&["CLIENT", "GETREDIR"]), Value::Int(-1));
}

/// Turns tracking on for `c` with `REDIRECT <sink_id>` and checks that `CLIENT GETREDIR` and
/// `CLIENT TRACKINGINFO` show the proxy id of the redirect client, not a backend's.
fn track_with_redirect(c: &mut Client, sink_id: i64) {
    let id = sink_id.to_string();
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]),
        Value::ok()
    );
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]), Value::Int(sink_id));
    let Value::Array(info) = c.cmd(&["CLIENT", "TRACKINGINFO"]) else {
        panic!("TRACKINGINFO")
    };
    assert_eq!(
        info.get(2..4),
        Some(&[Value::bulk("redirect"), Value::Int(sink_id)][..])
    );
}

/// The keys of an invalidation (`invalidate` push, or a `__redis__:invalidate` message).
fn invalidated(v: Value) -> Vec<String> {
    let Value::Array(items) = v else {
        panic!("not an invalidation: {v:?}")
    };
    match items.last() {
        Some(Value::Array(keys)) => keys.iter().map(Value::text).collect(),
        other => panic!("not an invalidation: {other:?}"),
    }
}

#[test]
fn tracking_spans_every_local_backend() {
    let two = two_local();
    let port = two.p.port;
    let mut writer = Client::connect(port);
    // RESP3: a key on each backend; both backends' invalidations reach the client.
    let mut t3 = Client::connect(port);
    assert!(matches!(t3.cmd(&["HELLO", "3"]), Value::Map(_)));
    assert_eq!(t3.cmd(&["CLIENT", "TRACKING", "ON"]), Value::ok());
    assert_eq!(t3.cmd(&["GET", "a"]), Value::Nil);
    assert_eq!(t3.cmd(&["GET", "b"]), Value::Nil);
    assert_eq!(writer.cmd(&["SET", "a", "1"]), Value::ok());
    assert_eq!(writer.cmd(&["SET", "b", "1"]), Value::ok());
    let mut keys = invalidated(t3.read().unwrap());
    keys.extend(invalidated(t3.read().unwrap()));
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    // A transaction runs on its slot's tracking connection: its read is tracked too.
    assert_eq!(t3.cmd(&["MULTI"]), Value::ok());
    assert_eq!(t3.cmd(&["INCR", "a"]), Value::Simple("QUEUED".into()));
    assert_eq!(t3.cmd(&["GET", "a"]), Value::Simple("QUEUED".into()));
    assert_eq!(
        t3.cmd(&["EXEC"]),
        Value::Array(vec![Value::Int(2), Value::bulk("2")])
    );
    assert_eq!(writer.cmd(&["SET", "a", "9"]), Value::ok());
    assert_eq!(invalidated(t3.read().unwrap()), ["a"]);
    // RESP2: REDIRECT to a subscriber, which listens on both backends.
    let mut sink = Client::connect(port);
    let Value::Int(sink_id) = sink.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    assert!(matches!(
        sink.cmd(&["SUBSCRIBE", "__redis__:invalidate"]),
        Value::Array(_)
    ));
    let mut t2 = Client::connect(port);
    track_with_redirect(&mut t2, sink_id);
    assert_eq!(t2.cmd(&["MGET", "a"]), Value::Array(vec![Value::bulk("9")]));
    assert_eq!(t2.cmd(&["GET", "b"]), Value::bulk("1"));
    assert_eq!(writer.cmd(&["DEL", "a"]), Value::Int(1));
    assert_eq!(writer.cmd(&["DEL", "b"]), Value::Int(1));
    let mut keys = invalidated(sink.read().unwrap());
    keys.extend(invalidated(sink.read().unwrap()));
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(t2.cmd(&["CLIENT", "TRACKING", "OFF"]), Value::ok());
    assert_eq!(t2.cmd(&["CLIENT", "GETREDIR"]), Value::Int(-1));
}

#[test]
fn a_paused_write_holds_only_its_own_client() {
    let env = [
        ("UNDERMOON_THREAD_NUMBER", "1"),
        ("UNDERMOON_BACKEND_CONN_NUM", "1"),
    ];
    // One core and one shared connection per backend: every client would share it.
    let r = redis();
    let p = proxy_with(&env);
    setcluster(&p, &format!("v2 1 NOFLAG db {} 1 0-16383", r.addr()));
    paused_write_waits_alone(p.port);
    // Two backends: the pause and INFO fan out to both while the pause holds them.
    let (r1, r2) = (redis(), redis());
    let p2 = proxy_with(&env);
    let line = format!(
        "v2 1 NOFLAG db {} 1 0-8191 {} 1 8192-16383",
        r1.addr(),
        r2.addr()
    );
    setcluster(&p2, &line);
    paused_write_waits_alone(p2.port);
}

fn paused_write_waits_alone(port: u16) {
    let (mut admin, mut writer, mut reader) = (
        Client::connect(port),
        Client::connect(port),
        Client::connect(port),
    );
    assert_eq!(reader.cmd(&["SET", "a", "v"]), Value::ok());
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]),
        Value::ok()
    );
    let sent = writer.send_raw(&Client::encode(&["SET", "a", "w"]));
    assert!(sent.is_ok(), "{sent:?}");
    // The paused write waits on a connection of its own; the reader is not held behind it
    // (on the shared connection it would wait for the pause, then fail BackendTimeout).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = admin.cmd(&["INFO", "clients"]).text();
        if info.contains("\r\nblocked_clients:1\r\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the paused write is not blocked: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.set_read_timeout(Duration::from_secs(2));
    assert_eq!(reader.cmd(&["GET", "a"]), Value::bulk("v"));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Value::ok());
    let Ok(unpaused) = writer.read() else {
        panic!("no reply to the paused write")
    };
    assert_eq!(unpaused, Value::ok());
    assert_eq!(reader.cmd(&["GET", "a"]), Value::bulk("w"));
}
