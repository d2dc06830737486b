//! Multi-key commands across slots: split per slot over the local backends and merged in the
//! client's key order; keys owned by another proxy keep `-CROSSSLOT`.
mod support;
use support::*;

#[test]
fn cross_slot_commands_split_and_merge_in_order() {
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
    let mut c = Client::connect(p.port);
    let keys: Vec<String> = (0..100).map(|i| format!("key:{i}")).collect();
    let mut mset = vec!["MSET".to_string()];
    for (i, k) in keys.iter().enumerate() {
        mset.push(k.clone());
        mset.push(format!("value-{i}"));
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&mset), Value::ok());
    // Both backends hold some of the keys.
    let on = |r: &Proc| match Client::connect(r.port).cmd(&["DBSIZE"]) {
        Value::Int(n) => n,
        other => panic!("{other:?}"),
    };
    assert!(on(&r1) > 10 && on(&r2) > 10);
    assert_eq!(on(&r1) + on(&r2), 100);

    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    mget.push("missing");
    let Value::Array(vals) = c.cmd(&mget) else {
        panic!("MGET must give an array")
    };
    assert_eq!(vals.len(), 101);
    for (i, v) in vals.iter().take(100).enumerate() {
        assert_eq!(v, &Value::bulk(&format!("value-{i}")));
    }
    assert_eq!(vals[100], Value::Nil);

    let mut exists = vec!["EXISTS"];
    exists.extend(keys.iter().map(String::as_str));
    exists.extend(["key:0", "missing"]);
    assert_eq!(c.cmd(&exists), Value::Int(101));
    assert_eq!(c.cmd(&["TOUCH", "key:1", "key:2", "nope"]), Value::Int(2));
    assert_eq!(c.cmd(&["UNLINK", "key:1", "key:2"]), Value::Int(2));
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    assert_eq!(c.cmd(&del), Value::Int(98));
    assert_eq!(on(&r1) + on(&r2), 0);

    // MSETNX stays all-or-nothing: only within one slot.
    assert_eq!(
        c.cmd(&["MSETNX", "a", "1", "b", "2"]),
        Value::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    // A failing part reaches the client.
    assert_eq!(c.cmd(&["SET", "a", "1"]), Value::ok());
    assert_eq!(
        c.cmd(&["MGET", "a", "b"]),
        Value::Array(vec![Value::bulk("1"), Value::Nil])
    );
    // In RESP3 the merge keeps the backends' RESP3 elements.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["MGET", "b", "a"]),
        Value::Array(vec![Value::Nil, Value::bulk("1")])
    );
}

#[test]
fn keys_owned_by_a_peer_keep_crossslot() {
    let t = two_halves();
    let mut c = Client::connect(t.a.port);
    // "b" is on A, "a" on B.
    assert_eq!(
        c.cmd(&["MGET", "b", "a"]),
        Value::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        c.cmd(&["MGET", "b", "c"]),
        Value::Array(vec![Value::Nil, Value::Nil])
    );
}

#[test]
fn node_level_commands_cover_every_local_backend() {
    let debug = ["--enable-debug-command", "yes"];
    let (r1, r2) = (redis_with(&debug), redis_with(&debug));
    let p = proxy();
    setcluster(
        &p,
        &format!(
            "v2 1 NOFLAG db {} 1 0-8191 {} 1 8192-16383",
            r1.addr(),
            r2.addr()
        ),
    );
    let mut c = Client::connect(p.port);
    assert_eq!(c.cmd(&["RANDOMKEY"]), Value::Nil);
    for i in 0..50 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), Value::ok());
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Value::Int(50));
    let ks = c.cmd(&["INFO", "keyspace"]).text();
    assert!(ks.contains("db0:keys=50,expires=0,"), "{ks}");
    let Value::Array(keys) = c.cmd(&["KEYS", "k*"]) else {
        panic!()
    };
    assert_eq!(keys.len(), 50);
    assert!(matches!(c.cmd(&["RANDOMKEY"]), Value::Bulk(_)));
    // SCAN visits both backends; every key exactly once.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Value::Array(r) = c.cmd(&["SCAN", &cursor, "COUNT", "7"]) else {
            panic!()
        };
        let Value::Array(ks) = &r[1] else { panic!() };
        for k in ks {
            assert!(seen.insert(k.text()));
        }
        cursor = r[0].text();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 50);
    assert_eq!(c.cmd(&["SCAN", "7"]), Value::err("ERR invalid cursor"));
    assert!(matches!(c.cmd(&["TIME"]), Value::Array(_)));
    assert!(matches!(c.cmd(&["LASTSAVE"]), Value::Int(_)));

    // Scripts: SCRIPT LOAD reaches every backend, so EVALSHA works wherever the key lands.
    let Value::Bulk(sha) = c.cmd(&["SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"]) else {
        panic!()
    };
    let sha = String::from_utf8(sha).unwrap();
    assert_eq!(
        c.cmd(&["SCRIPT", "EXISTS", &sha, "nope"]),
        Value::Array(vec![Value::Int(1), Value::Int(0)])
    );
    for k in ["a", "b", "k1", "k2"] {
        c.cmd(&["SET", k, k]);
        assert_eq!(c.cmd(&["EVALSHA", &sha, "1", k]), Value::bulk(k));
    }
    assert_eq!(
        c.cmd(&["EVAL", "return ARGV[1]", "0", "x"]),
        Value::bulk("x")
    );
    assert_eq!(
        c.cmd(&["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "b"]),
        Value::bulk("b")
    );
    assert_eq!(
        c.cmd(&["EVAL", "return 1", "2", "a", "b"]),
        Value::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    let lib = "#!lua name=mylib\nredis.register_function('myget', function(keys) return redis.call('GET', keys[1]) end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]), Value::bulk("mylib"));
    assert_eq!(c.cmd(&["FCALL", "myget", "1", "a"]), Value::bulk("a"));
    assert_eq!(c.cmd(&["FCALL", "myget", "1", "b"]), Value::bulk("b"));
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), Value::ok());
    assert_eq!(c.cmd(&["SCRIPT", "FLUSH"]), Value::ok());
    assert_eq!(
        c.cmd(&["SCRIPT", "EXISTS", &sha]),
        Value::Array(vec![Value::Int(0)])
    );

    // DEBUG: keyless sub-commands on every backend, keyed ones on the key's owner.
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), Value::ok());
    for k in ["a", "b"] {
        assert!(c.cmd(&["DEBUG", "OBJECT", k]).text().contains("encoding:"));
    }
    // Inside a transaction a node-level command runs on the pinned backend.
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "a", "z"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["DBSIZE"]), Value::Simple("QUEUED".into()));
    let Value::Array(r) = c.cmd(&["EXEC"]) else {
        panic!()
    };
    assert_eq!(r[0], Value::ok());
    assert!(matches!(r[1], Value::Int(_)));
    assert_eq!(c.cmd(&["FLUSHALL"]), Value::ok());
    assert_eq!(c.cmd(&["DBSIZE"]), Value::Int(0));
    for r in [&r1, &r2] {
        assert_eq!(Client::connect(r.port).cmd(&["DBSIZE"]), Value::Int(0));
    }
}

#[test]
fn script_kill_reaches_a_busy_backend() {
    let r = redis();
    let p = proxy_with(&[("UNDERMOON_BACKEND_CONN_NUM", "1")]);
    setcluster(&p, &format!("v2 1 NOFLAG db {} 1 0-16383", r.addr()));
    let mut a = Client::connect(p.port);
    let mut b = Client::connect(p.port);
    assert_eq!(
        a.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        Value::ok()
    );
    assert_eq!(
        b.cmd(&["SCRIPT", "KILL"]).text().split(' ').next(),
        Some("NOTBUSY")
    );
    a.send_raw(&Client::encode(&["EVAL", "while true do end", "0"]))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    // One shared connection per core: B's KILL must not queue behind A's script.
    assert_eq!(b.cmd(&["SCRIPT", "KILL"]), Value::ok());
    assert!(a.read().unwrap().text().contains("killed"));
    assert_eq!(a.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(b.cmd(&["GET", "x"]), Value::Nil);
}
