//! String value compression: values stored compressed in Redis, read back decoded, values
//! written before compression still readable, `set_get_only` refusing raw string commands.
mod support;
use support::*;

fn json(i: usize) -> String {
    format!(
        r#"{{"id":{i},"name":"user-{i}","email":"user{i}@example.com","tags":["alpha","beta","gamma"],"bio":"{}"}}"#,
        "lorem ipsum dolor sit amet ".repeat(30)
    )
}

// why: a test helper: an unexpected reply is a failed test.
#[allow(clippy::panic)]
fn stored_len(r: &Proc, key: &str) -> i64 {
    match Client::connect(r.port).cmd(&["STRLEN", key]) {
        Value::Int(n) => n,
        other => panic!("{other:?}"),
    }
}

#[test]
fn compressed_round_trips_and_old_values_stay_readable() {
    let r = redis();
    let p = proxy();
    let plain = format!("v2 1 NOFLAG db {} 1 0-16383", r.addr());
    setcluster(&p, &plain);
    let mut c = Client::connect(p.port);
    // Written while compression is off.
    assert_eq!(c.cmd(&["SET", "old", &json(0)]), Value::ok());

    setcluster(
        &p,
        &format!(
            "v2 2 NOFLAG db {} 1 0-16383 CONFIG compression_strategy set_get_only",
            r.addr()
        ),
    );
    let v = json(1);
    assert_eq!(c.cmd(&["SET", "new", &v, "EX", "100"]), Value::ok());
    assert!(
        stored_len(&r, "new") < v.len() as i64 / 2,
        "stored compressed"
    );
    assert_eq!(c.cmd(&["GET", "new"]), Value::bulk(&v));
    assert_eq!(c.cmd(&["GET", "old"]), Value::bulk(&json(0)));
    assert_eq!(c.cmd(&["SET", "small", "tiny"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "small"]), Value::bulk("tiny"));
    // Every SET-family writer and GET-family reader.
    assert_eq!(c.cmd(&["SETEX", "se", "100", &json(2)]), Value::ok());
    assert_eq!(c.cmd(&["GETEX", "se"]), Value::bulk(&json(2)));
    assert_eq!(c.cmd(&["GETSET", "se", &json(3)]), Value::bulk(&json(2)));
    assert_eq!(c.cmd(&["GETDEL", "se"]), Value::bulk(&json(3)));
    assert_eq!(c.cmd(&["SETNX", "nx", &json(4)]), Value::Int(1));
    assert_eq!(
        c.cmd(&["SET", "nx", &json(5), "GET"]),
        Value::bulk(&json(4))
    );
    assert_eq!(
        c.cmd(&["MSET", "m1", &json(6), "m2", &json(7), "m3", "short"]),
        Value::ok()
    );
    assert_eq!(
        c.cmd(&["MGET", "m1", "old", "m2", "m3", "none"]),
        Value::Array(vec![
            Value::bulk(&json(6)),
            Value::bulk(&json(0)),
            Value::bulk(&json(7)),
            Value::bulk("short"),
            Value::Nil
        ])
    );
    // Inside a transaction the EXEC reply is decoded too.
    assert_eq!(c.cmd(&["MULTI"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "m1"]), Value::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["EXEC"]), Value::Array(vec![Value::bulk(&json(6))]));
    // set_get_only refuses string commands that would see compressed bytes.
    for cmd in [
        vec!["APPEND", "new", "x"],
        vec!["STRLEN", "new"],
        vec!["INCR", "n"],
        vec!["GETRANGE", "new", "0", "3"],
    ] {
        assert_eq!(
            c.cmd(&cmd),
            Value::err("unsupported string command when compression is enabled")
        );
    }
    // allow_all lets them through; non-string commands are never touched.
    setcluster(
        &p,
        &format!(
            "v2 3 NOFLAG db {} 1 0-16383 CONFIG compression_strategy allow_all",
            r.addr()
        ),
    );
    assert_eq!(c.cmd(&["INCR", "n"]), Value::Int(1));
    assert_eq!(c.cmd(&["RPUSH", "l", &json(8)]), Value::Int(1));
    assert!(stored_len(&r, "new") < v.len() as i64 / 2);
    assert_eq!(
        Client::connect(r.port).cmd(&["LINDEX", "l", "0"]),
        Value::bulk(&json(8))
    );
    // Disabled again: values written compressed are no longer decoded by the proxy, but
    // nothing breaks for values written raw.
    setcluster(&p, &format!("v2 4 NOFLAG db {} 1 0-16383", r.addr()));
    assert_eq!(c.cmd(&["GET", "old"]), Value::bulk(&json(0)));
}
