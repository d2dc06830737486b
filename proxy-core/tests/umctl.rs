//! UMCTL SETCLUSTER and friends against a real proxy: epochs, host check, exact errors.
mod support;
use support::*;

fn sc(c: &mut Client, line: &str) -> Value {
    let mut args = vec!["UMCTL", "SETCLUSTER"];
    args.extend(line.split(' '));
    c.cmd(&args)
}

#[test]
fn setcluster_rules_and_errors() {
    let r = redis();
    let p = proxy();
    let mut c = Client::connect(p.port);
    assert_eq!(c.cmd(&["UMCTL", "GETEPOCH"]), Value::Int(0));
    assert_eq!(
        c.cmd(&["UMCTL", "LISTCLUSTER"]),
        Value::Array(vec![Value::bulk("")])
    );
    assert_eq!(c.cmd(&["UMCTL", "READY"]), Value::Int(0));
    assert_eq!(c.cmd(&["GET", "a"]), Value::err("ERR_CLUSTER_NOT_FOUND"));
    let nodes = c.cmd(&["CLUSTER", "NODES"]).text();
    assert!(nodes.starts_with("________________________"), "{nodes}");
    assert!(nodes.ends_with(&format!(
        "{}@5299 myself,master - 0 0 0 connected\n",
        p.addr()
    )));
    assert_eq!(c.cmd(&["CLUSTER", "SLOTS"]), Value::Array(vec![]));

    let ra = r.addr();
    assert_eq!(
        sc(&mut c, &format!("v2 5 NOFLAG db {ra} 1 0-16383")),
        Value::ok()
    );
    assert_eq!(c.cmd(&["UMCTL", "GETEPOCH"]), Value::Int(5));
    assert_eq!(
        c.cmd(&["UMCTL", "LISTCLUSTER"]),
        Value::Array(vec![Value::bulk("db")])
    );
    assert_eq!(c.cmd(&["UMCTL", "READY"]), Value::Int(1));
    assert_eq!(c.cmd(&["SET", "a", "1"]), Value::ok());

    assert_eq!(
        sc(&mut c, &format!("v2 5 NOFLAG db {ra} 1 0-100")),
        Value::err("OLD_EPOCH")
    );
    assert_eq!(
        sc(&mut c, &format!("v2 4 NOFLAG db {ra} 1 0-100")),
        Value::err("OLD_EPOCH")
    );
    assert_eq!(
        sc(&mut c, &format!("v2 3 FORCE db {ra} 1 0-100")),
        Value::ok()
    );
    assert_eq!(c.cmd(&["UMCTL", "GETEPOCH"]), Value::Int(3));
    assert_eq!(c.cmd(&["GET", "a"]), Value::err("slot not covered 15495"));

    assert_eq!(
        sc(&mut c, "v2 9 NOFLAG db localhost:6379 1 0-100"),
        Value::err("ERR_NOT_MY_META")
    );
    assert_eq!(
        sc(&mut c, "v1 9 NOFLAG db"),
        Value::err("Failed to parse args: InvalidVersion")
    );
    assert_eq!(
        sc(&mut c, "v2 x NOFLAG db"),
        Value::err("Failed to parse args: InvalidArgs")
    );
    assert_eq!(
        sc(&mut c, &format!("v2 9 NOFLAG d/b {ra} 1 0-1")),
        Value::err("Failed to parse args: InvalidClusterName")
    );
    assert_eq!(
        sc(&mut c, &format!("v2 9 NOFLAG db {ra} 1 0-1 CONFIG bogus 1")),
        Value::err("Failed to parse args: InvalidArgs")
    );
    assert_eq!(
        sc(
            &mut c,
            &format!("v2 9 NOFLAG db {ra} 1 0-1 PEER 127.0.0.1:1 1 2-16383 CONFIG bogus 1")
        ),
        Value::Simple("WARNING: ignored invalid config".into())
    );
    assert_eq!(c.cmd(&["UMCTL", "GETEPOCH"]), Value::Int(9));
    assert_eq!(c.cmd(&["GET", "a"]), Value::err("MOVED 15495 127.0.0.1:1"));

    // The empty cluster name unconfigures.
    assert_eq!(
        c.cmd(&["UMCTL", "SETCLUSTER", "v2", "10", "NOFLAG", ""]),
        Value::ok()
    );
    assert_eq!(c.cmd(&["GET", "a"]), Value::err("ERR_CLUSTER_NOT_FOUND"));

    assert_eq!(c.cmd(&["UMCTL"]), Value::err("Missing sub command"));
    assert_eq!(c.cmd(&["UMCTL", "NOPE"]), Value::err("Invalid sub command"));
    assert_eq!(
        c.cmd(&["UMCTL", "SETREPL"]),
        Value::err("Invalid arguments")
    );
}

#[test]
fn compressed_setcluster_is_accepted() {
    let r = redis();
    let p = proxy();
    let text = format!(
        "v2 2 NOFLAG db {} 1 0-8191 PEER 127.0.0.1:7000 1 8192-16383",
        r.addr()
    );
    let args: Vec<&[u8]> = text.split(' ').map(str::as_bytes).collect();
    let decoded = control::umctl::SetCluster::decode(&args).unwrap();
    let encoded = decoded.encode(true);
    assert_eq!(encoded[4], "COMPRESS");
    let refs: Vec<&str> = encoded.iter().map(String::as_str).collect();
    let mut c = Client::connect(p.port);
    assert_eq!(c.cmd(&refs), Value::ok());
    assert_eq!(c.cmd(&["SET", "b", "1"]), Value::ok());
    assert_eq!(
        c.cmd(&["GET", "a"]),
        Value::err("MOVED 15495 127.0.0.1:7000")
    );
    let info = c.cmd(&["UMCTL", "INFO"]);
    let Value::Array(parts) = info else {
        panic!("{info:?}")
    };
    assert_eq!(parts[0], Value::bulk("Cluster"));
}

#[test]
fn default_redirection_and_shutdown() {
    let p = proxy_with(&[("UNDERMOON_DEFAULT_REDIRECTION_ADDRESS", "10.0.0.1:5299")]);
    let mut c = Client::connect(p.port);
    assert_eq!(
        c.cmd(&["GET", "a"]),
        Value::err("MOVED 15495 10.0.0.1:5299")
    );
    let mut p = p;
    assert_eq!(c.cmd(&["UMCTL", "SHUTDOWN"]), Value::ok());
    let status = p.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
