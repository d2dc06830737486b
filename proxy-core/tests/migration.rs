//! Slot migration between two real proxies (issue #6): half of A's slots move to B while a
//! writer does SET + INCR through a cluster client; every acknowledged write is there
//! afterwards (0 lost, 0 stale), the writer saw only redirects, and the preloaded keys moved
//! with their values. Both proxies report the finished task in `UMCTL INFOMGR` and counters in
//! `UMCTL STATS`.
// why: helpers of a test; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod support;
use control::client::resp::Value as CV;
use std::time::{Duration, Instant};
use support::*;
use testkit::cluster::{ClusterClient, Outcome};
use testkit::writer;

const META_FMT: &str = "{epoch} {src_p} {src_r} {dst_p} {dst_r}";
const PRELOAD: usize = 3000;

fn infomgr(p: &Proc) -> Vec<String> {
    let mut c = Client::connect(p.port);
    match c.cmd(&["UMCTL", "INFOMGR"]) {
        Value::Array(v) => v.iter().map(Value::text).collect(),
        other => panic!("INFOMGR: {other:?}"),
    }
}

fn flat(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![other.text()],
    }
}

#[test]
fn a_range_moves_under_concurrent_writes_without_losing_one() {
    let h = two_halves();
    let (a, b) = (&h.a, &h.b);
    let (ra, rb) = (h.redis_a.addr(), h.redis_b.addr());
    let mut client = ClusterClient::new(vec![a.addr(), b.addr()]);
    for i in 0..PRELOAD {
        let k = format!("pre:{i}");
        assert!(matches!(client.run(&["SET", &k, &k]), Outcome::Reply(_, _)));
    }
    let w = writer::start(vec![a.addr(), b.addr()], "w", 300, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(500));

    let meta = META_FMT
        .replace("{epoch}", "2")
        .replace("{src_p}", &a.addr())
        .replace("{src_r}", &ra)
        .replace("{dst_p}", &b.addr())
        .replace("{dst_r}", &rb);
    // The importing side first, as the coordinator does.
    setcluster(
        b,
        &format!(
            "v2 2 NOFLAG mydb {rb} 1 8192-16383 {rb} importing 1 4096-8191 {meta} \
             PEER {} 1 0-4095 {} migrating 1 4096-8191 {meta}",
            a.addr(),
            a.addr()
        ),
    );
    setcluster(
        a,
        &format!(
            "v2 2 NOFLAG mydb {ra} 1 0-4095 {ra} migrating 1 4096-8191 {meta} \
             PEER {} 1 8192-16383 {} importing 1 4096-8191 {meta}",
            b.addr(),
            b.addr()
        ),
    );
    let t0 = Instant::now();
    loop {
        let (ia, ib) = (infomgr(a), infomgr(b));
        if ia.len() == 1 && ib.len() == 1 {
            assert_eq!(ia[0], format!("mydb MIGRATING 1 4096-8191 {meta}"));
            assert_eq!(ib[0], format!("mydb IMPORTING 1 4096-8191 {meta}"));
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no finished task: {ia:?} {ib:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // While the task is reported, INFO shows its line.
    let mut c = Client::connect(b.port);
    let info = flat(&c.cmd(&["UMCTL", "INFO"])).join("\n");
    assert!(
        info.contains(&format!("4096-8191 {ra} -> {rb} SWITCH_COMMITTED")),
        "{info}"
    );
    // Commit: the range becomes B's, destination first.
    setcluster(
        b,
        &format!(
            "v2 3 NOFLAG mydb {rb} 2 4096-8191 8192-16383 PEER {} 1 0-4095",
            a.addr()
        ),
    );
    setcluster(
        a,
        &format!(
            "v2 3 NOFLAG mydb {ra} 1 0-4095 PEER {} 2 4096-8191 8192-16383",
            b.addr()
        ),
    );
    assert!(infomgr(a).is_empty() && infomgr(b).is_empty());
    std::thread::sleep(Duration::from_millis(300));
    let report = w.finish();
    assert!(
        report.acked > 1000,
        "writer made progress: {}",
        report.acked
    );
    assert!(
        report.errors.is_empty(),
        "errors: {:?}",
        &report.errors[..report.errors.len().min(5)]
    );
    assert_eq!(report.unknown, 0);
    assert!(report.incr_gaps.is_empty(), "{:?}", report.incr_gaps);
    let mut checker = ClusterClient::new(vec![a.addr(), b.addr()]);
    let v = writer::check(&mut checker, "w", &report);
    assert!(
        v.lost.is_empty() && v.stale.is_empty() && v.unreadable.is_empty(),
        "{v:?}"
    );
    for i in 0..PRELOAD {
        let k = format!("pre:{i}");
        match checker.run(&["GET", &k]) {
            Outcome::Reply(CV::Bulk(b), _) => assert_eq!(b, k.as_bytes()),
            other => panic!("{k}: {other:?}"),
        }
    }
    // Every moved key left A's Redis.
    let mut direct = Client::connect(h.redis_a.port);
    let Value::Int(left) = direct.cmd(&["DBSIZE"]) else {
        panic!()
    };
    let mut on_a = 0;
    for i in 0..PRELOAD {
        let s = proxy_core::slot::key_slot(format!("pre:{i}").as_bytes());
        on_a += usize::from(s < 4096);
    }
    assert!(left as usize >= on_a, "A keeps its own keys");
    let Value::Array(stats) = Client::connect(b.port).cmd(&["UMCTL", "STATS"]) else {
        panic!()
    };
    let stats: Vec<String> = stats.iter().map(Value::text).collect();
    assert_eq!(stats.len(), 23);
    assert_eq!(stats[0], "# Migration");
    // The destination did the copying: its progress counters show the keys and the range.
    let info = Client::connect(b.port).cmd(&["INFO"]).text();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from INFO: {info}"))
    };
    assert!(field("proxy_migration_keys_moved") > 0);
    assert_eq!(field("proxy_migration_ranges_done"), 1);
    println!(
        "writer: {} acked, {} redirects; B stats {stats:?}",
        report.acked, report.redirects
    );
}

/// A source whose destination never takes over holds the range's requests for at most
/// `migration_max_blocking_time`, then answers TRYAGAIN; it never serves them from its Redis.
/// The destination refuses switch commands for a task it does not have.
#[test]
fn the_hold_is_bounded_and_unknown_tasks_are_refused() {
    let h = two_halves();
    let (a, b) = (&h.a, &h.b);
    let ra = h.redis_a.addr();
    let meta = format!("2 {} {ra} {} {}", a.addr(), b.addr(), h.redis_b.addr());
    let mut c = Client::connect(b.port);
    let args = format!("mgr-0.2 mydb MIGRATING 1 4096-8191 {meta}");
    let mut cmd: Vec<&str> = vec!["UMCTL", "PRESWITCH"];
    cmd.extend(args.split(' '));
    assert_eq!(c.cmd(&cmd), Value::err("NOT_READY_FOR_SWITCHING"));
    setcluster(
        a,
        &format!(
            "v2 2 NOFLAG mydb {ra} 1 0-4095 {ra} migrating 1 4096-8191 {meta} \
             PEER {} 1 8192-16383 CONFIG migration_max_blocking_time 300",
            b.addr()
        ),
    );
    // `b` still has epoch 1: not ready; at epoch 2 without the task: not found.
    assert_eq!(c.cmd(&cmd), Value::err("NOT_READY_FOR_SWITCHING"));
    setcluster(
        b,
        &format!(
            "v2 2 NOFLAG mydb {} 1 8192-16383 PEER {} 1 0-8191",
            h.redis_b.addr(),
            a.addr()
        ),
    );
    assert_eq!(c.cmd(&cmd), Value::err("TASK_NOT_FOUND"));
    let v1 = args.replace("mgr-0.2", "mgr-0.1");
    let mut cmd1: Vec<&str> = vec!["UMCTL", "PRECHECK"];
    cmd1.extend(v1.split(' '));
    assert_eq!(
        c.cmd(&cmd1),
        Value::err("switch failed: IncompatibleVersion")
    );

    // `{a}` hashes to 15495, `{x}` to 16287: find a key in 4096-8191 instead.
    let key = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| (4096..=8191).contains(&proxy_core::slot::key_slot(k.as_bytes())))
        .unwrap();
    let mut ca = Client::connect(a.port);
    let t0 = Instant::now();
    let r = ca.cmd(&["SET", &key, "v"]);
    assert!(r.text().starts_with("TRYAGAIN"), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let mut direct = Client::connect(h.redis_a.port);
    assert_eq!(direct.cmd(&["EXISTS", &key]), Value::Int(0), "not served");
    // Still PRE_CHECK: the range is listed at the source (merged with its neighbour).
    let nodes = ca.cmd(&["CLUSTER", "NODES"]).text();
    assert!(
        nodes.lines().next().unwrap().ends_with(" 0-8191"),
        "{nodes}"
    );
}
