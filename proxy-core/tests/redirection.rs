//! Active redirection: three proxies, each owning a third of the slots; plain (non-cluster)
//! clients work through any of them.
mod support;
use std::process::Command;
use support::*;

struct Three {
    _redis: Vec<Proc>,
    proxies: Vec<Proc>,
}

const RANGES: [&str; 3] = ["0-5460", "5461-10922", "10923-16383"];

// why: a test fixture over fixed-size arrays.
#[allow(clippy::indexing_slicing)]
fn three(env: &[(&str, &str)]) -> Three {
    let redis: Vec<Proc> = (0..3).map(|_| redis()).collect();
    let mut full = vec![("UNDERMOON_ACTIVE_REDIRECTION", "true")];
    full.extend_from_slice(env);
    let proxies: Vec<Proc> = (0..3).map(|_| proxy_with(&full)).collect();
    for i in 0..3 {
        let mut line = format!("v2 1 NOFLAG db {} 1 {}", redis[i].addr(), RANGES[i]);
        line.push_str(" PEER");
        for j in (0..3).filter(|&j| j != i) {
            line.push_str(&format!(" {} 1 {}", proxies[j].addr(), RANGES[j]));
        }
        setcluster(&proxies[i], &line);
    }
    Three {
        _redis: redis,
        proxies,
    }
}

#[test]
fn plain_clients_work_through_any_proxy() {
    let t = three(&[]);
    let mut first = Client::connect(t.proxies[0].port);
    for i in 0..60 {
        let k = format!("k{i}");
        assert_eq!(first.cmd(&["SET", &k, &format!("v{i}")]), Value::ok());
    }
    for p in &t.proxies {
        let mut c = Client::connect(p.port);
        for i in 0..60 {
            assert_eq!(
                c.cmd(&["GET", &format!("k{i}")]),
                Value::bulk(&format!("v{i}"))
            );
        }
        // Cross-slot multi-key commands split across proxies, merged in key order.
        let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
        let mut mget = vec!["MGET"];
        mget.extend(keys.iter().map(String::as_str));
        let Value::Array(vals) = c.cmd(&mget) else {
            panic!()
        };
        for (i, v) in vals.iter().enumerate() {
            assert_eq!(v, &Value::bulk(&format!("v{i}")));
        }
        assert_eq!(c.cmd(&["EXISTS", "k1", "k2", "k3", "nope"]), Value::Int(3));
    }
    // A blocking pop on a foreign slot blocks on the owning proxy and wakes on a push made
    // through yet another proxy.
    let mut blocked = Client::connect(t.proxies[0].port);
    blocked
        .send_raw(&Client::encode(&["BLPOP", "a", "5"]))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let start = std::time::Instant::now();
    assert_eq!(
        Client::connect(t.proxies[1].port).cmd(&["RPUSH", "a", "x"]),
        Value::Int(1)
    );
    assert_eq!(
        blocked.read().unwrap(),
        Value::Array(vec![Value::bulk("a"), Value::bulk("x")])
    );
    assert!(start.elapsed() < std::time::Duration::from_millis(500));
    // redis-cli without -c.
    let out = Command::new("redis-cli")
        .args(["-p", &t.proxies[2].port.to_string(), "GET", "k7"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v7");
}

#[test]
fn redis_py_plain_client_through_each_of_three_proxies() {
    let t = three(&[("UNDERMOON_MAX_REDIRECTIONS", "3")]);
    let script = r#"
import sys, redis
ports = [int(p) for p in sys.argv[1:]]
for proto in (None, 2):
    kw = {} if proto is None else {"protocol": proto}
    for i, port in enumerate(ports):
        r = redis.Redis(host="127.0.0.1", port=port, **kw)
        keys = [f"user:{i}:{n}" for n in range(30)]
        for k in keys:
            assert r.set(k, k + "!") is True
        for other in ports:
            o = redis.Redis(host="127.0.0.1", port=other, **kw)
            assert [o.get(k) for k in keys] == [(k + "!").encode() for k in keys]
            assert o.mget(keys) == [(k + "!").encode() for k in keys]
            o.close()
        assert r.delete(*keys) == 30
        r.close()
print("redis-py plain ok")
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script);
    for p in &t.proxies {
        cmd.arg(p.port.to_string());
    }
    let out = cmd.output().expect("python3 must be installed");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn hop_limit_stops_a_forwarding_loop() {
    // Two proxies that each think the other owns every slot.
    let (a, b) = (
        proxy_with(&[("UNDERMOON_ACTIVE_REDIRECTION", "true")]),
        proxy_with(&[("UNDERMOON_ACTIVE_REDIRECTION", "true")]),
    );
    let r = redis();
    setcluster(
        &a,
        &format!(
            "v2 1 NOFLAG db {} 1 0-0 PEER {} 1 1-16383",
            r.addr(),
            b.addr()
        ),
    );
    setcluster(
        &b,
        &format!(
            "v2 1 NOFLAG db {} 1 0-0 PEER {} 1 1-16383",
            r.addr(),
            a.addr()
        ),
    );
    let mut c = Client::connect(a.port);
    assert_eq!(
        c.cmd(&["GET", "a"]),
        Value::err("ERR_TOO_MANY_REDIRECTIONS")
    );
    assert_eq!(
        c.cmd(&["UMFORWARD", "x", "GET", "a"]),
        Value::err("invalid redirection times")
    );
    assert_eq!(
        c.cmd(&["UMFORWARD", "1"]),
        Value::err("missing forwarded command")
    );
    // Slot 0 is local: UMFORWARD serves it here.
    assert_eq!(c.cmd(&["SET", "{06S}", "1"]), Value::ok());
    assert_eq!(c.cmd(&["UMFORWARD", "0", "GET", "{06S}"]), Value::bulk("1"));
}
