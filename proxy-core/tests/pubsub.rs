//! Pub/Sub through a cluster of three proxies (cluster mode, no active redirection), each
//! with one Redis owning a third of the slots: classic messages reach the subscribers of
//! every proxy, shard channels live with their slot's owner, and a lost backend closes its
//! subscribers with an error.
// why: test code: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod support;
use std::time::{Duration, Instant};
use support::*;

struct Three {
    redis: Vec<Proc>,
    proxies: Vec<Proc>,
}

const RANGES: [&str; 3] = ["0-5460", "5461-10922", "10923-16383"];

// why: a test fixture over fixed-size arrays.
fn three(env: &[(&str, &str)]) -> Three {
    three_with(env, 1)
}

/// Three proxies with `per` Redis each, splitting the proxy's third of the slots.
fn three_with(env: &[(&str, &str)], per: usize) -> Three {
    let redis: Vec<Proc> = (0..3 * per).map(|_| support::redis()).collect();
    let proxies: Vec<Proc> = (0..3).map(|_| proxy_with(env)).collect();
    let bounds: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];
    for i in 0..3 {
        let (lo, hi) = bounds[i];
        let step = (hi - lo + 1) / per as u16;
        let mut line = String::from("v2 1 NOFLAG db");
        for k in 0..per {
            let a = lo + step * k as u16;
            let b = if k + 1 == per { hi } else { a + step - 1 };
            line.push_str(&format!(" {} 1 {a}-{b}", redis[i * per + k].addr()));
        }
        line.push_str(" PEER");
        for j in (0..3).filter(|&j| j != i) {
            line.push_str(&format!(" {} 1 {}", proxies[j].addr(), RANGES[j]));
        }
        setcluster(&proxies[i], &line);
    }
    Three { redis, proxies }
}

fn bulks(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::bulk(s)).collect())
}

trait WithInt {
    fn with_int(self, n: i64) -> Value;
}

impl WithInt for Value {
    /// The array with an integer appended (a subscribe confirmation's count).
    fn with_int(self, n: i64) -> Value {
        match self {
            Value::Array(mut v) => {
                v.push(Value::Int(n));
                Value::Array(v)
            }
            other => other,
        }
    }
}

fn sub(port: u16, resp3: bool, cmd: &[&str]) -> Client {
    let mut c = Client::connect(port);
    c.set_read_timeout(Duration::from_secs(5));
    if resp3 {
        assert!(matches!(c.cmd(&["HELLO", "3"]), Value::Map(_)));
    }
    let Value::Array(confirm) = c.cmd(cmd) else {
        panic!("no subscribe confirmation")
    };
    assert_eq!(confirm.get(2), Some(&Value::Int(1)));
    c
}

#[test]
fn publish_reaches_subscribers_of_every_proxy() {
    let mut t = three(&[]);
    let (pa, pb, pc) = (t.proxies[0].port, t.proxies[1].port, t.proxies[2].port);
    let mut a = sub(pa, false, &["SUBSCRIBE", "news"]);
    let mut b = sub(pb, true, &["SUBSCRIBE", "news"]);
    let mut c = sub(pc, false, &["PSUBSCRIBE", "ne*"]);
    // PING in subscribed mode, RESP2: Redis' `pong` array.
    assert_eq!(a.cmd(&["PING"]), bulks(&["pong", ""]));

    let mut p = Client::connect(pc);
    assert_eq!(p.cmd(&["PUBLISH", "news", "hello"]), Value::Int(3));
    assert_eq!(a.read().unwrap(), bulks(&["message", "news", "hello"]));
    // RESP3: a push.
    assert_eq!(b.read().unwrap(), bulks(&["message", "news", "hello"]));
    assert_eq!(
        c.read().unwrap(),
        bulks(&["pmessage", "ne*", "news", "hello"])
    );
    // Through another proxy, same receivers; an unheard channel has none anywhere.
    assert_eq!(
        Client::connect(pa).cmd(&["PUBLISH", "news", "again"]),
        Value::Int(3)
    );
    assert_eq!(a.read().unwrap(), bulks(&["message", "news", "again"]));
    assert_eq!(
        c.read().unwrap(),
        bulks(&["pmessage", "ne*", "news", "again"])
    );
    assert_eq!(p.cmd(&["PUBLISH", "nobody", "x"]), Value::Int(0));
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "news"]),
        Value::Array(vec![Value::bulk("news"), Value::Int(0)])
    );

    // A dead peer costs its receivers, never the PUBLISH.
    t.proxies[1].kill();
    let start = Instant::now();
    assert_eq!(p.cmd(&["PUBLISH", "news", "after"]), Value::Int(2));
    assert!(start.elapsed() < Duration::from_secs(4));

    // The backend of a subscriber's proxy goes away: the subscriber is told and closed.
    t.redis[0].kill();
    match a.read() {
        Ok(Value::Array(m)) => {
            assert_eq!(m.first(), Some(&Value::bulk("message")));
            assert!(matches!(a.read(), Ok(Value::Error(e)) if e.contains("connection lost")));
        }
        Ok(Value::Error(e)) => assert!(e.contains("connection lost"), "{e}"),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(a.is_closed());
}

/// The slot of `ch` is in proxy `i`'s range.
fn channel_of(i: usize) -> String {
    let lo: [u16; 3] = [0, 5461, 10923];
    let hi: [u16; 3] = [5460, 10922, 16383];
    (0..)
        .map(|n| format!("ch{n}"))
        .find(|c| {
            let s = slot_of(c.as_bytes());
            lo.get(i).is_some_and(|&l| s >= l) && hi.get(i).is_some_and(|&h| s <= h)
        })
        .unwrap_or_default()
}

/// The slot of a shard channel: the proxy's own key-slot function (Redis hashes shard
/// channels like keys).
fn slot_of(k: &[u8]) -> u16 {
    proxy_core::slot::key_slot(k)
}

#[test]
fn shard_channels_live_with_their_slot() {
    let t = three(&[]);
    let (pa, pb) = (t.proxies[0].port, t.proxies[1].port);
    let on_b = channel_of(1);
    let on_a = channel_of(0);
    let mut a = Client::connect(pa);
    // Not this proxy's slot: MOVED to the owner, not served locally.
    let moved = a.cmd(&["SSUBSCRIBE", &on_b]).text();
    assert!(
        moved.starts_with("MOVED ") && moved.ends_with(&t.proxies[1].addr()),
        "{moved}"
    );
    assert!(a
        .cmd(&["SPUBLISH", &on_b, "x"])
        .text()
        .starts_with("MOVED "));
    assert!(a
        .cmd(&["SSUBSCRIBE", &on_a, &on_b])
        .text()
        .starts_with("CROSSSLOT"));

    let mut s = sub(pb, true, &["SSUBSCRIBE", &on_b]);
    let mut p = Client::connect(pb);
    assert_eq!(p.cmd(&["SPUBLISH", &on_b, "m1"]), Value::Int(1));
    assert_eq!(s.read().unwrap(), bulks(&["smessage", &on_b, "m1"]));
    assert_eq!(
        p.cmd(&["PUBSUB", "SHARDNUMSUB", &on_b]),
        Value::Array(vec![Value::bulk(&on_b), Value::Int(1)])
    );
    assert_eq!(p.cmd(&["PUBSUB", "SHARDCHANNELS"]), bulks(&[&on_b]));
    // A subscribed client asking for another proxy's channel: MOVED too.
    assert!(s.cmd(&["SSUBSCRIBE", &on_a]).text().starts_with("MOVED "));
}

#[test]
fn shard_channels_forwarded_in_active_redirection() {
    let t = three(&[
        ("UNDERMOON_ACTIVE_REDIRECTION", "true"),
        ("UNDERMOON_PASSWORD", "pw"),
    ]);
    let on_b = channel_of(1);
    // Subscribed through A, published through C: both forwarded to B (which wants the
    // cluster's password from A's relay too).
    let mut s = Client::connect(t.proxies[0].port);
    s.set_read_timeout(Duration::from_secs(5));
    assert_eq!(s.cmd(&["AUTH", "pw"]), Value::ok());
    assert_eq!(
        s.cmd(&["SSUBSCRIBE", &on_b]),
        Value::Array(vec![
            Value::bulk("ssubscribe"),
            Value::bulk(&on_b),
            Value::Int(1)
        ])
    );
    let mut p = Client::connect(t.proxies[2].port);
    assert_eq!(p.cmd(&["AUTH", "pw"]), Value::ok());
    assert_eq!(p.cmd(&["SPUBLISH", &on_b, "m"]), Value::Int(1));
    assert_eq!(s.read().unwrap(), bulks(&["smessage", &on_b, "m"]));
}

#[test]
fn redis_py_cluster_sharded_pubsub() {
    // Two backends per proxy, as deployed: a node's shard channels span both.
    let t = three_with(&[], 2);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/pubsub_cluster.py");
    let port = t.proxies.first().map(|p| p.port).unwrap_or_default();
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .output()
        .expect("python3 must be installed (scripts/test installs redis-py)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("redis-py pubsub ok"), "{stdout}");
}

#[test]
fn slot_moving_away_sunsubscribes_its_shard_channels() {
    let t = three(&[]);
    let on_a = channel_of(0);
    let slot = slot_of(on_a.as_bytes());
    // A channel of A whose slot stays at A: above the range given away.
    let stay = (0..)
        .map(|n| format!("stay{n}"))
        .find(|c| (slot + 1..=5460).contains(&slot_of(c.as_bytes())))
        .unwrap_or_default();
    let mut s = sub(t.proxies[0].port, true, &["SSUBSCRIBE", &on_a]);
    let mut kept = sub(t.proxies[0].port, false, &["SSUBSCRIBE", &stay]);
    // A's slots up to on_a's now belong to B.
    let line = format!(
        "v2 2 NOFLAG db {} 1 {}-5460 PEER {} 1 0-{slot} {} 1 {} {} 1 {}",
        t.redis[0].addr(),
        slot + 1,
        t.proxies[1].addr(),
        t.proxies[1].addr(),
        RANGES[1],
        t.proxies[2].addr(),
        RANGES[2]
    );
    setcluster(&t.proxies[0], &line);
    // Redis 7's push when a slot leaves the node: the client resubscribes at the owner.
    assert_eq!(
        s.read().unwrap(),
        Value::Array(vec![
            Value::bulk("sunsubscribe"),
            Value::bulk(&on_a),
            Value::Int(0)
        ])
    );
    // A channel whose slot stayed is untouched.
    assert_eq!(
        Client::connect(t.proxies[0].port).cmd(&["SPUBLISH", &stay, "m"]),
        Value::Int(1)
    );
    assert_eq!(kept.read().unwrap(), bulks(&["smessage", &stay, "m"]));
}

/// Peak resident memory of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(u64::MAX)
}

/// A subscriber that never reads while 128 MiB of messages are published: the relay pump
/// stops at `client_max_pending_replies`, so the messages back up in Redis (whose Pub/Sub
/// output limit then drops the relay, and the proxy closes the subscriber with an error),
/// not in the proxy.
#[test]
fn slow_subscriber_does_not_grow_proxy_memory() {
    const MSG: usize = 32 * 1024;
    const COUNT: usize = 4000;
    // why: the idle proxy is ~10 MiB; 64 pending messages of 32 KiB are 2 MiB more. A proxy
    // that buffered what the subscriber does not read would hold up to 128 MiB.
    const RSS_BOUND_KIB: u64 = 64 * 1024;
    let r = support::redis();
    let p = proxy_with(&[("UNDERMOON_CLIENT_MAX_PENDING_REPLIES", "64")]);
    setcluster(&p, &format!("v2 1 NOFLAG db {} 1 0-16383", r.addr()));
    let mut s = sub(p.port, false, &["SUBSCRIBE", "firehose"]);
    let mut publisher = Client::connect(p.port);
    let body = "x".repeat(MSG);
    for _ in 0..COUNT {
        let Value::Int(n) = publisher.cmd(&["PUBLISH", "firehose", &body]) else {
            panic!("PUBLISH failed")
        };
        assert!(n <= 1);
    }
    let rss = peak_rss_kib(p.child.id());
    assert!(rss < RSS_BOUND_KIB, "proxy peak RSS {rss} KiB");
    // The proxy still serves, and the subscriber learns it lost messages: read until the
    // error (Redis dropped the relay at its output limit) and the close.
    assert_eq!(publisher.cmd(&["PING"]), Value::Simple("PONG".into()));
    let mut read = 0;
    let end = loop {
        match s.read() {
            Ok(Value::Array(_)) => read += 1,
            other => break other,
        }
    };
    assert!(read < COUNT, "all {read} messages arrived");
    assert!(
        matches!(&end, Ok(Value::Error(e)) if e.contains("connection lost")),
        "{end:?}"
    );
}

/// One connection, shard channels on both backends of a proxy: each backend's channels on
/// a connection of their own, replies in command order, one SUNSUBSCRIBE ends them all.
#[test]
fn shard_channels_of_one_connection_span_the_backends() {
    let t = three_with(&[], 2);
    let find = |lo: u16, hi: u16| {
        (0..)
            .map(|n| format!("c{n}"))
            .find(|c| (lo..=hi).contains(&slot_of(c.as_bytes())))
            .unwrap_or_default()
    };
    let (x, y) = (find(0, 2729), find(2730, 5460));
    let port = t.proxies[0].port;
    let mut s = sub(port, false, &["SSUBSCRIBE", &x]);
    let mut req = Client::encode(&["SSUBSCRIBE", &y]);
    req.extend(Client::encode(&["PING"]));
    s.send_raw(&req).unwrap();
    // The count is the connection's, over both backends, as one Redis node would say.
    assert_eq!(s.read().unwrap(), bulks(&["ssubscribe", &y]).with_int(2));
    assert_eq!(s.read().unwrap(), bulks(&["pong", ""]));
    let mut p = Client::connect(port);
    assert_eq!(p.cmd(&["SPUBLISH", &y, "my"]), Value::Int(1));
    assert_eq!(p.cmd(&["SPUBLISH", &x, "mx"]), Value::Int(1));
    assert_eq!(s.read().unwrap(), bulks(&["smessage", &y, "my"]));
    assert_eq!(s.read().unwrap(), bulks(&["smessage", &x, "mx"]));
    // PUBSUB answers for both backends of the proxy.
    assert_eq!(
        p.cmd(&["PUBSUB", "SHARDNUMSUB", &x, &y, "none"]),
        Value::Array(vec![
            Value::bulk(&x),
            Value::Int(1),
            Value::bulk(&y),
            Value::Int(1),
            Value::bulk("none"),
            Value::Int(0)
        ])
    );
    let Value::Array(chans) = p.cmd(&["PUBSUB", "SHARDCHANNELS"]) else {
        panic!("SHARDCHANNELS")
    };
    let mut chans: Vec<String> = chans.iter().map(Value::text).collect();
    chans.sort();
    let mut want = vec![x.clone(), y.clone()];
    want.sort();
    assert_eq!(chans, want);
    s.send_raw(&Client::encode(&["SUNSUBSCRIBE"])).unwrap();
    let mut gone: Vec<String> = [1, 0]
        .iter()
        .map(|&left| match s.read().unwrap() {
            Value::Array(v) => {
                assert_eq!(v[0], Value::bulk("sunsubscribe"));
                assert_eq!(v[2], Value::Int(left));
                v[1].text()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    gone.sort();
    assert_eq!(gone, want);
    // Out of subscribed mode: a plain command runs.
    assert_eq!(s.cmd(&["SET", &x, "v"]), Value::ok());
}

/// A peer that accepts connections and never answers delays PUBLISH by `backend_timeout`
/// at most, and counts no receivers.
#[test]
fn a_silent_peer_delays_publish_by_the_backend_timeout_only() {
    let r = support::redis();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let p = proxy_with(&[("UNDERMOON_BACKEND_TIMEOUT", "300")]);
    setcluster(
        &p,
        &format!(
            "v2 1 NOFLAG db {} 1 0-8191 PEER {silent_addr} 1 8192-16383",
            r.addr()
        ),
    );
    let _s = sub(p.port, false, &["SUBSCRIBE", "c"]);
    let mut c = Client::connect(p.port);
    for _ in 0..2 {
        let start = Instant::now();
        assert_eq!(c.cmd(&["PUBLISH", "c", "m"]), Value::Int(1));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }
}

/// redis-py 8 follows a shard channel whose slot moves from A to B and gets what is
/// published after the move. (redis-py also re-routes on its own after a MOVED and a slot
/// refresh, so this passes without A's `sunsubscribe` push too; the push itself is asserted
/// by `slot_moving_away_sunsubscribes_its_shard_channels`.)
#[test]
fn redis_py_follows_a_shard_channel_across_a_slot_move() {
    let t = three(&[]);
    let ch = channel_of(0);
    let s = slot_of(ch.as_bytes());
    assert!(s < 5460);
    let (a, b, c) = (
        t.proxies[0].addr(),
        t.proxies[1].addr(),
        t.proxies[2].addr(),
    );
    let (ra, rb, rc) = (t.redis[0].addr(), t.redis[1].addr(), t.redis[2].addr());
    let hi = s + 1;
    let lines = [
        format!(
            "v2 2 NOFLAG db {ra} 1 {hi}-5460 PEER {b} 1 0-{s} {b} 1 5461-10922 {c} 1 10923-16383"
        ),
        format!(
            "v2 2 NOFLAG db {rb} 1 0-{s} {rb} 1 5461-10922 PEER {a} 1 {hi}-5460 {c} 1 10923-16383"
        ),
        format!(
            "v2 2 NOFLAG db {rc} 1 10923-16383 PEER {a} 1 {hi}-5460 {b} 1 0-{s} {b} 1 5461-10922"
        ),
    ];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/pubsub_migrate.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script).arg(&ch);
    for (p, l) in t.proxies.iter().zip(&lines) {
        cmd.arg(p.port.to_string()).arg(l);
    }
    let out = cmd
        .output()
        .expect("python3 must be installed (scripts/test installs redis-py)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("redis-py migrate ok"), "{stdout}");
}
