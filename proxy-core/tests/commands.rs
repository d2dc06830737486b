//! Proxy-answered commands and config handling.
mod support;
use std::io::Write;
use support::*;

#[test]
fn connection_and_admin_commands() {
    let t = two_halves();
    let mut c = Client::connect(t.a.port);
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(c.cmd(&["PING", "x"]), Value::bulk("x"));
    assert_eq!(c.cmd(&["ECHO", "hi"]), Value::bulk("hi"));
    assert_eq!(c.cmd(&["ECHO"]), Value::err("Missing message"));
    assert_eq!(c.cmd(&["SELECT", "0"]), Value::ok());
    assert!(c.cmd(&["SELECT", "1"]).text().starts_with("ERR"));
    for cmd in ["ASKING", "READONLY", "READWRITE"] {
        assert_eq!(c.cmd(&[cmd]), Value::ok());
    }
    assert!(c
        .cmd(&["AUTH", "x"])
        .text()
        .starts_with("ERR AUTH <password> called without"));
    assert_eq!(c.cmd(&["CLUSTER"]), Value::err("Missing sub command"));
    assert_eq!(
        c.cmd(&["CLUSTER", "RESET"]),
        Value::err("Unsupported sub command")
    );
    assert_eq!(c.cmd(&["CLUSTER", "KEYSLOT"]), Value::err("Missing key"));

    assert_eq!(
        c.cmd(&["CONFIG", "GET", "announce_address"]),
        Value::Array(vec![
            Value::bulk("announce_address"),
            Value::Bulk(t.a.addr().into_bytes())
        ])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "max_redirections"]),
        Value::Array(vec![Value::bulk("max_redirections"), Value::bulk("none")])
    );
    // Not a proxy field: the backends' own parameters (none is called "password").
    assert_eq!(c.cmd(&["CONFIG", "GET", "password"]), Value::Array(vec![]));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory-policy"]),
        Value::Array(vec![
            Value::bulk("maxmemory-policy"),
            Value::bulk("noeviction")
        ])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]),
        Value::ok()
    );
    assert_eq!(
        Client::connect(t.redis_a.port).cmd(&["CONFIG", "GET", "maxmemory-policy"]),
        Value::Array(vec![
            Value::bulk("maxmemory-policy"),
            Value::bulk("allkeys-lru")
        ])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog_sample_rate", "1"]),
        Value::ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "slowlog_sample_rate"]),
        Value::Array(vec![Value::bulk("slowlog_sample_rate"), Value::bulk("1")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog_sample_rate", "x"]),
        Value::err("InvalidValue")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "thread_number", "3"]),
        Value::err("ReadonlyField")
    );
    assert!(c
        .cmd(&["CONFIG", "SET", "nope", "3"])
        .text()
        .starts_with("ERR Unknown option"));
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), Value::ok());
    // Redis' own answer to an unknown sub-command.
    assert!(c
        .cmd(&["CONFIG", "NOPE"])
        .text()
        .starts_with("ERR unknown subcommand 'NOPE'"));

    let Value::Array(cmds) = c.cmd(&["COMMAND"]) else {
        panic!()
    };
    let names: Vec<String> = cmds
        .iter()
        .map(|e| match e {
            Value::Array(parts) => parts[0].text(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(names.iter().any(|n| n == "get"));
    assert_eq!(c.cmd(&["COMMAND", "COUNT"]), Value::Int(names.len() as i64));
    let Value::Array(list) = c.cmd(&["COMMAND", "LIST"]) else {
        panic!()
    };
    // As Redis: COMMAND LIST names sub-commands too (`client|list`), COMMAND COUNT does not.
    let top = list.iter().filter(|n| !n.text().contains('|')).count();
    assert_eq!(top, names.len());
    assert!(list.contains(&Value::bulk("client|list")));
    assert!(!list.iter().any(|n| n.text().starts_with("acl|")));
    assert!(list.contains(&Value::bulk("blpop")));
    assert!(list.contains(&Value::bulk("subscribe")));
    assert!(!list.contains(&Value::bulk("shutdown")));
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        Value::Array(vec![Value::bulk("a"), Value::bulk("b")])
    );
    assert!(
        !names.iter().any(|n| n == "shutdown" || n == "acl"),
        "{names:?}"
    );
}

#[test]
fn password_gates_data_commands_only() {
    let r = redis();
    let p = proxy_with(&[("UNDERMOON_PASSWORD", "s3cret")]);
    setcluster(&p, &format!("v2 1 NOFLAG db {} 1 0-16383", r.addr()));
    let mut c = Client::connect(p.port);
    assert_eq!(
        c.cmd(&["GET", "a"]),
        Value::err("NOAUTH Authentication required.")
    );
    assert!(c.cmd(&["MULTI"]).text().starts_with("NOAUTH"));
    assert!(c
        .cmd(&["CONFIG", "SET", "maxmemory", "1"])
        .text()
        .starts_with("NOAUTH"));
    assert!(c.cmd(&["SLOWLOG", "GET"]).text().starts_with("NOAUTH"));
    assert!(c.cmd(&["DBSIZE"]).text().starts_with("NOAUTH"));
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(
        c.cmd(&["AUTH"]),
        Value::err("ERR wrong number of arguments for 'auth' command")
    );
    let wrongpass = Value::err("WRONGPASS invalid username-password pair or user is disabled.");
    assert_eq!(c.cmd(&["AUTH", "no"]), wrongpass);
    assert_eq!(c.cmd(&["AUTH", "bob", "s3cret"]), wrongpass);
    assert!(c
        .cmd(&["HELLO", "3"])
        .text()
        .starts_with("NOAUTH HELLO must be called"));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "a"]), Value::Nil);
    // Redis 6 form, and RESET forgets the authentication.
    assert_eq!(c.cmd(&["RESET"]), Value::Simple("RESET".into()));
    assert!(c.cmd(&["GET", "a"]).text().starts_with("NOAUTH"));
    assert_eq!(c.cmd(&["AUTH", "default", "s3cret"]), Value::ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]), Value::ok());
    // HELLO with AUTH authenticates and switches protocol in one step.
    let mut h = Client::connect(p.port);
    assert_eq!(h.cmd(&["HELLO", "2", "AUTH", "default", "no"]), wrongpass);
    let Value::Array(fields) = h.cmd(&["HELLO", "2", "AUTH", "default", "s3cret"]) else {
        panic!("HELLO 2 replies with an array")
    };
    assert_eq!(fields[4], Value::bulk("proto"));
    assert_eq!(fields[5], Value::Int(2));
    assert_eq!(h.cmd(&["GET", "a"]), Value::bulk("1"));
}

#[test]
fn control_password_gates_umctl_only() {
    let r = redis();
    let p = proxy_with(&[
        ("UNDERMOON_PASSWORD", "data"),
        ("UNDERMOON_CONTROL_PASSWORD", "ctl"),
    ]);
    let mut c = Client::connect(p.port);
    assert_eq!(
        c.cmd(&["UMCTL", "LISTCLUSTER"]),
        Value::err("NOAUTH Authentication required.")
    );
    // The broker's epoch probe carries no secret.
    assert_eq!(c.cmd(&["UMCTL", "GETEPOCH"]), Value::Int(0));
    // The data password does not unlock UMCTL, nor the control password data.
    assert_eq!(c.cmd(&["AUTH", "data"]), Value::ok());
    assert!(c
        .cmd(&["UMCTL", "LISTCLUSTER"])
        .text()
        .starts_with("NOAUTH"));
    let mut ctl = Client::connect(p.port);
    assert_eq!(ctl.cmd(&["AUTH", "ctl"]), Value::ok());
    assert_eq!(ctl.cmd(&["UMCTL", "GETEPOCH"]), Value::Int(0));
    let line = format!("v2 1 NOFLAG db {} 1 0-16383", r.addr());
    let mut args = vec!["UMCTL", "SETCLUSTER"];
    args.extend(line.split(' '));
    assert_eq!(ctl.cmd(&args), Value::ok());
    assert!(ctl.cmd(&["GET", "a"]).text().starts_with("NOAUTH"));
    assert_eq!(c.cmd(&["GET", "a"]), Value::Nil);
}

#[test]
fn unknown_config_keys_are_named() {
    let dir = std::env::temp_dir().join(format!("proxy-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "address = \"127.0.0.1:0\"\nthred_number = 2").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_server_proxy"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("thred_number"), "{err}");
}

#[test]
fn config_file_is_read() {
    let r = redis();
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("proxy-cfg-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ok.toml");
    std::fs::write(
        &path,
        format!(
            "address = \"127.0.0.1:{port}\"\nthread_number = 1\ncluster_nodes_version = \"v1\"\n"
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_server_proxy"))
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Proc {
        child,
        port,
        dir: None,
    };
    let start = std::time::Instant::now();
    let mut c = loop {
        if let Ok(c) = Client::try_connect(port) {
            break c;
        }
        assert!(start.elapsed() < READY_TIMEOUT);
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        c.cmd(&[
            "UMCTL",
            "SETCLUSTER",
            "v2",
            "1",
            "NOFLAG",
            "db",
            &r.addr(),
            "1",
            "0-16383"
        ]),
        Value::ok()
    );
    let nodes = c.cmd(&["CLUSTER", "NODES"]).text();
    assert!(
        nodes.contains(&format!("127.0.0.1:{port} myself,master")),
        "{nodes}"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "thread_number"]),
        Value::Array(vec![Value::bulk("thread_number"), Value::bulk("1")])
    );
}

#[test]
fn idle_sessions_time_out() {
    let p = proxy_with(&[("UNDERMOON_SESSION_TIMEOUT", "300")]);
    let mut idle = Client::connect(p.port);
    let mut busy = Client::connect(p.port);
    for _ in 0..8 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(busy.cmd(&["PING"]), Value::Simple("PONG".into()));
    }
    idle.set_read_timeout(std::time::Duration::from_secs(5));
    assert!(
        idle.is_closed(),
        "idle session must be closed after session_timeout"
    );
}
