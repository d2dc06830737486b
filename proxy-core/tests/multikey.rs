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
