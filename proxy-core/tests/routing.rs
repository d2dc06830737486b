//! Two real proxies over two real Redis: local slots are served, peer slots redirected,
//! replies stay in order under pipelining, on every core.
mod support;
use support::*;

#[test]
fn two_halves_route_redirect_and_describe_the_cluster() {
    let t = two_halves();
    let mut a = Client::connect(t.a.port);
    assert_eq!(a.cmd(&["SET", "b", "1"]), Value::ok());
    assert_eq!(a.cmd(&["GET", "b"]), Value::bulk("1"));
    assert_eq!(
        a.cmd(&["GET", "a"]),
        Value::err(&format!("MOVED 15495 {}", t.b.addr()))
    );
    let mut b = Client::connect(t.b.port);
    assert_eq!(b.cmd(&["SET", "a", "2"]), Value::ok());
    assert_eq!(b.cmd(&["GET", "a"]), Value::bulk("2"));
    assert_eq!(
        b.cmd(&["GET", "b"]),
        Value::err(&format!("MOVED 3300 {}", t.a.addr()))
    );
    // The data really is in the owning Redis.
    let mut ra = Client::connect(t.redis_a.port);
    assert_eq!(ra.cmd(&["GET", "b"]), Value::bulk("1"));

    let nodes = a.cmd(&["CLUSTER", "NODES"]).text();
    let lines: Vec<&str> = nodes.lines().collect();
    assert_eq!(lines.len(), 2, "{nodes}");
    assert!(lines[0].contains(&format!(
        "{}@5299 myself,master - 0 0 1 connected 0-8191",
        t.a.addr()
    )));
    assert!(lines[1].contains(&format!(
        "{}@5299 master - 0 0 1 connected 8192-16383",
        t.b.addr()
    )));
    assert!(lines[0].starts_with("mydb____________________"));

    let Value::Array(slots) = a.cmd(&["CLUSTER", "SLOTS"]) else {
        panic!()
    };
    assert_eq!(slots.len(), 2);
    assert_eq!(
        &slots[0],
        &Value::Array(vec![
            Value::Int(0),
            Value::Int(8191),
            Value::Array(vec![
                Value::bulk("127.0.0.1"),
                Value::Int(i64::from(t.a.port)),
                Value::Bulk(lines[0].as_bytes()[..40].to_vec()),
            ])
        ])
    );
    assert_eq!(
        a.cmd(&["CLUSTER", "KEYSLOT", "{user1000}.following"]),
        Value::Int(3443)
    );
    assert_eq!(a.cmd(&["CLUSTER", "KEYSLOT", "a"]), Value::Int(15495));
    assert_eq!(a.cmd(&["CLUSTER", "KEYSLOT", "b"]), Value::Int(3300));
    assert_eq!(a.cmd(&["CLUSTER", "MYID"]).text(), &lines[0][..40]);
    assert!(a
        .cmd(&["CLUSTER", "INFO"])
        .text()
        .contains("cluster_state:ok"));
}

#[test]
fn keys_come_from_the_command_table() {
    let t = two_halves();
    let mut a = Client::connect(t.a.port);
    // EVAL routes by its first key (argument 3), not by the script.
    assert_eq!(
        a.cmd(&[
            "EVAL",
            "return redis.call('set', KEYS[1], ARGV[1])",
            "1",
            "b",
            "x"
        ]),
        Value::ok()
    );
    assert_eq!(
        a.cmd(&["EVAL", "return 1", "1", "a"]),
        Value::err(&format!("MOVED 15495 {}", t.b.addr()))
    );
    assert_eq!(a.cmd(&["OBJECT", "ENCODING", "b"]), Value::bulk("embstr"));
    assert_eq!(
        a.cmd(&["XREAD", "STREAMS", "a", "0"]),
        Value::err(&format!("MOVED 15495 {}", t.b.addr()))
    );
    // A keyless command is never routed by a random argument: KEYS answers for A's own
    // backend (which holds "b"), not for the owner of slot("*").
    a.cmd(&["SET", "b", "1"]);
    assert_eq!(a.cmd(&["KEYS", "*"]), Value::Array(vec![Value::bulk("b")]));
    // PUBLISH reaches this proxy's first backend (nobody subscribed there).
    assert_eq!(a.cmd(&["PUBLISH", "x", "y"]), Value::Int(0));
    // A blocking command on a foreign slot is redirected like any other.
    assert_eq!(
        a.cmd(&["BLPOP", "a", "0"]),
        Value::err(&format!("MOVED 15495 {}", t.b.addr()))
    );
    assert_eq!(
        a.cmd(&["MGET", "a", "b"]),
        Value::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        a.cmd(&["MGET", "{b}1", "{b}2"]),
        Value::Array(vec![Value::Nil, Value::Nil])
    );
    assert_eq!(
        a.cmd(&["NOSUCH"]),
        Value::err("ERR unknown command 'nosuch'")
    );
    assert_eq!(
        a.cmd(&["GET"]),
        Value::err("ERR wrong number of arguments for 'get' command")
    );
}

#[test]
fn pipelined_replies_stay_in_order_and_on_their_client() {
    let t = two_halves();
    let mut clients: Vec<Client> = (0..8).map(|_| Client::connect(t.a.port)).collect();
    let mut batches = Vec::new();
    for (ci, c) in clients.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for i in 0..300 {
            let key = format!("{{b}}c{ci}k{i}");
            batch.extend(Client::encode(&["SET", &key, &format!("v{ci}-{i}")]));
            batch.extend(Client::encode(&["GET", &key]));
            if i % 50 == 0 {
                batch.extend(Client::encode(&["PING"]));
                batch.extend(Client::encode(&["GET", "a"]));
            }
        }
        c.send_raw(&batch).unwrap();
        batches.push(batch);
    }
    for (ci, c) in clients.iter_mut().enumerate() {
        for i in 0..300 {
            assert_eq!(c.read().unwrap(), Value::ok());
            assert_eq!(c.read().unwrap(), Value::bulk(&format!("v{ci}-{i}")));
            if i % 50 == 0 {
                assert_eq!(c.read().unwrap(), Value::Simple("PONG".into()));
                assert!(c.read().unwrap().text().starts_with("MOVED 15495"));
            }
        }
    }
}

#[test]
fn every_core_gets_the_snapshot() {
    let t = two_halves();
    // Connections spread over both cores (SO_REUSEPORT); every one must route by the table.
    for _ in 0..16 {
        let mut c = Client::connect(t.a.port);
        assert_eq!(c.cmd(&["UMCTL", "GETEPOCH"]), Value::Int(1));
        assert_eq!(c.cmd(&["SET", "b", "x"]), Value::ok());
        assert!(c.cmd(&["GET", "a"]).text().starts_with("MOVED"));
    }
    let mut c = Client::connect(t.a.port);
    let info = c.cmd(&["INFO"]).text();
    assert!(info.contains("proxy_version:0.6.2"), "{info}");
    let total: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("proxy_total_connections_received:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(total >= 17, "{info}");
    assert!(info.contains("proxy_core1_total_commands_processed:"));
}

#[test]
fn keyslot_agrees_with_a_real_cluster_enabled_redis() {
    // why: through the harness, so a port taken meanwhile means a retry on a fresh one and a
    // start failure quotes the server's log (started by hand, it once timed out with no clue).
    let redis = redis_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]);
    let mut real = Client::connect(redis.port);
    let p = proxy();
    let mut c = Client::connect(p.port);
    let mut keys: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    keys.extend(
        [
            "",
            "{",
            "}",
            "{}",
            "{}{a}",
            "a{b}c",
            "{{a}}",
            "{a",
            "x{y}{z}",
            "{user1000}.following",
            "é{ü}",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    for k in &keys {
        assert_eq!(
            c.cmd(&["CLUSTER", "KEYSLOT", k]),
            real.cmd(&["CLUSTER", "KEYSLOT", k]),
            "key {k:?}"
        );
    }
}

#[test]
fn large_values_pass_through_intact_in_order() {
    let t = two_halves();
    let mut c = Client::connect(t.a.port);
    let big: String = (0..3 * 1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut batch = Client::encode(&["SET", "{b}big", &big]);
    batch.extend(Client::encode(&["GET", "{b}small"]));
    batch.extend(Client::encode(&["GET", "{b}big"]));
    batch.extend(Client::encode(&["PING"]));
    c.send_raw(&batch).unwrap();
    assert_eq!(c.read().unwrap(), Value::ok());
    assert_eq!(c.read().unwrap(), Value::Nil);
    assert_eq!(c.read().unwrap(), Value::Bulk(big.into_bytes()));
    assert_eq!(c.read().unwrap(), Value::Simple("PONG".into()));
}
