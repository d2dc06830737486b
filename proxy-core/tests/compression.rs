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

/// `zstd -1` (the CLI; the original undermoon stored zstd level 1 frames) of
/// `{"k":"undermoon"},` twelve times.
const ORIGINAL_ZSTD: &[u8] = &[
    0x28, 0xb5, 0x2f, 0xfd, 0x24, 0xd8, 0xcd, 0x00, 0x00, 0x90, 0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22,
    0x75, 0x6e, 0x64, 0x65, 0x72, 0x6d, 0x6f, 0x6f, 0x6e, 0x22, 0x7d, 0x2c, 0x01, 0x00, 0x86, 0x45,
    0xcd, 0x30, 0xd4, 0xe6, 0xac, 0xfa,
];

#[test]
fn values_the_original_undermoon_compressed_read_back() {
    let r = redis();
    let p = proxy();
    // The frame lands in Redis byte for byte, as the original's proxy left it.
    let mut raw = Client::connect(r.port);
    let mut set = format!(
        "*3\r\n$3\r\nSET\r\n$4\r\nzold\r\n${}\r\n",
        ORIGINAL_ZSTD.len()
    )
    .into_bytes();
    set.extend_from_slice(ORIGINAL_ZSTD);
    set.extend_from_slice(b"\r\n");
    raw.send_raw(&set).unwrap();
    assert_eq!(raw.read().unwrap(), Value::ok());

    setcluster(
        &p,
        &format!(
            "v2 1 NOFLAG db {} 1 0-16383 CONFIG compression_strategy set_get_only",
            r.addr()
        ),
    );
    let want = r#"{"k":"undermoon"},"#.repeat(12);
    let mut c = Client::connect(p.port);
    assert_eq!(c.cmd(&["GET", "zold"]), Value::bulk(&want));
    assert_eq!(
        c.cmd(&["MGET", "zold", "nope"]),
        Value::Array(vec![Value::bulk(&want), Value::Nil])
    );
}
